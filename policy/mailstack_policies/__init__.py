"""The policy pack's rules as plain functions: testable without the Pulumi engine.

Every check takes a `ResourceView` (what a policy sees of one resource: type token, logical name,
inputs with camelCase keys, options) and returns a list of violation messages, empty when the
resource complies. Each message names the resource and the fix, and never repeats a secret value
it found (policy output lands in CI logs and PR comments).

Inputs are read as `Mapping`/`Sequence`, never copied or walked whole: under the engine they are
pulumi-policy's proxies, which raise on a value still unknown at preview. Reading only the fields a
rule needs keeps a rule runnable when an unrelated field (e.g. an auto-named ConfigMap's name in a
Deployment's volumes) is unknown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .cloudflare import check_dns_in_zone, check_tunnel_catch_all, name_in_zone
from .secrets import check_no_secrets, secret_finding
from .view import (
    CONFIGMAP_TYPES,
    DEPLOYMENT_TYPE,
    DNS_RECORD_TYPE,
    NAMESPACE_TYPE,
    PVC_TYPE,
    TUNNEL_CONFIG_TYPE,
    ResourceView,
    from_render_record,
)
from .workloads import (
    KEPT_RESOURCES,
    check_kept,
    check_pinned_images,
    check_recreate,
    image_pin_problem,
    image_repository,
    runs_stalwart,
)

__all__ = [
    "CONFIGMAP_TYPES",
    "DEPLOYMENT_TYPE",
    "DNS_RECORD_TYPE",
    "KEPT_RESOURCES",
    "NAMESPACE_TYPE",
    "PVC_TYPE",
    "RULES",
    "TUNNEL_CONFIG_TYPE",
    "ResourceView",
    "Rule",
    "check_dns_in_zone",
    "check_kept",
    "check_no_secrets",
    "check_pinned_images",
    "check_recreate",
    "check_tunnel_catch_all",
    "from_render_record",
    "image_pin_problem",
    "image_repository",
    "name_in_zone",
    "runs_stalwart",
    "secret_finding",
    "violations",
]


# --- the pack's table ---


@dataclass(frozen=True)
class Rule:
    """One policy: its name in the pack, its description, and its check."""

    name: str
    description: str
    check: Callable[[ResourceView, str | None], list[str]]


RULES: tuple[Rule, ...] = (
    Rule(
        "stalwart-data-kept",
        "The Stalwart data PVC and namespace are protected and retained on delete.",
        lambda resource, _domain: check_kept(resource),
    ),
    Rule(
        "stalwart-deployment-recreate",
        "A Deployment running Stalwart uses the Recreate strategy (never two pods on the volume).",
        lambda resource, _domain: check_recreate(resource),
    ),
    Rule(
        "images-pinned",
        "Every container image has a tag other than latest, or a digest.",
        lambda resource, _domain: check_pinned_images(resource),
    ),
    Rule(
        "no-secrets-in-configmaps-or-metadata",
        "No ConfigMap data, label or annotation holds a secret value or a password hash.",
        lambda resource, _domain: check_no_secrets(resource),
    ),
    Rule(
        "dns-records-in-zone",
        "Every Cloudflare DNS record is inside the zone mailstack:domain.",
        check_dns_in_zone,
    ),
    Rule(
        "tunnel-final-catch-all",
        "The tunnel's ingress list ends with exactly one catch-all http_status rule.",
        lambda resource, _domain: check_tunnel_catch_all(resource),
    ),
)


def violations(resources: Sequence[ResourceView], domain: str | None) -> list[str]:
    """Every rule on every resource: `<rule>: <message>` lines, empty when all comply."""
    return [
        f"{rule.name}: {message}"
        for resource in resources
        for rule in RULES
        for message in rule.check(resource, domain)
    ]
