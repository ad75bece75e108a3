"""Cloudflare rules: DNS records stay in the zone, the tunnel ends with one catch-all."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .view import DNS_RECORD_TYPE, TUNNEL_CONFIG_TYPE, ResourceView, get, items

# --- 5. DNS records stay inside the zone ---


def name_in_zone(name: str, domain: str) -> bool:
    """True when a record name lies in the zone `domain`.

    Inside: the apex (`domain` or `@`), any name ending in `.domain`, and relative names, which
    Cloudflare completes with the zone: a single label (`mail`, `_dmarc`) or a name whose last
    label starts with `_` (`resend._domainkey`). Any other dotted name is taken as a full name, so
    `mail.example.org` in zone `example.com` is outside.
    """
    name = name.strip().lower().rstrip(".")
    domain = domain.strip().lower().rstrip(".")
    if name in ("@", domain) or name.endswith("." + domain):
        return True
    labels = name.split(".")
    return len(labels) == 1 or labels[-1].startswith("_")


def check_dns_in_zone(resource: ResourceView, domain: str | None) -> list[str]:
    """Every Cloudflare DNS record's name is inside the configured zone."""
    if resource.type != DNS_RECORD_TYPE:
        return []
    if not domain:
        return [
            f"{resource.label}: cannot tell whether the record is inside the zone, the stack has "
            "no mailstack:domain. Fix: pulumi config set mailstack:domain <zone>."
        ]
    name = get(resource.inputs, "name")
    if not isinstance(name, str) or not name.strip():
        return [f"{resource.label} has no name. Fix: set name to '<label>.{domain}'."]
    if name_in_zone(name, domain):
        return []
    return [
        f"{resource.label} is named '{name}', outside the zone '{domain}' "
        f"(mailstack:domain): Cloudflare would create it as '{name}.{domain}'. Fix: name it "
        f"'<label>.{domain}', or manage that zone's records in its own stack."
    ]


# --- 6. the tunnel's ingress list ends with exactly one catch-all ---


def _is_catch_all(rule: Mapping[str, Any]) -> bool:
    """A rule that matches every request: no hostname (or `*`) and no path."""
    return get(rule, "hostname") in (None, "", "*") and not get(rule, "path")


def check_tunnel_catch_all(resource: ResourceView) -> list[str]:
    """The tunnel config's ingresses end with one catch-all `http_status:...` and have no other."""
    if resource.type != TUNNEL_CONFIG_TYPE:
        return []
    rules = [
        r for r in items(get(resource.inputs, "config", "ingresses")) if isinstance(r, Mapping)
    ]
    fix = "Fix: end config.ingresses with exactly one {'service': 'http_status:404'}."
    if not rules:
        return [f"{resource.label} has no ingress rules. {fix}"]
    problems = []
    catch_alls = [i for i, rule in enumerate(rules) if _is_catch_all(rule)]
    last = len(rules) - 1
    if last not in catch_alls:
        problems.append(
            f"{resource.label}: the last ingress rule (#{last + 1}) has a hostname or path, so "
            f"cloudflared rejects the configuration. {fix}"
        )
    for index in catch_alls:
        if index != last:
            problems.append(
                f"{resource.label}: ingress rule #{index + 1} has no hostname, so it swallows "
                f"every rule after it. {fix}"
            )
    service = get(rules[last], "service")
    if last in catch_alls and not (isinstance(service, str) and service.startswith("http_status:")):
        problems.append(
            f"{resource.label}: the catch-all sends every other hostname to '{service}' instead "
            f"of an error status. {fix}"
        )
    return problems
