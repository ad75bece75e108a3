"""THE key table: every `mailstack:` setting with its default, whether it is required or secret,
an example for the fix of a missing value, and the rule that checks and parses it.

Defaults live here and nowhere else (README "Settings" lists them). A default goes through its
rule like a given value, so the program only ever sees parsed values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from settings.problems import NAMESPACE, Check
from settings.rules import (
    accounts,
    adopt,
    authentik,
    cloudflare,
    cluster,
    monitoring,
    stalwart,
    upgrade,
)

Rule = Callable[[Any, Check], Any]
"""Adds problem lines to the Check, or returns the parsed value (None: the raw value is it)."""


@dataclass(frozen=True)
class Key:
    rule: Rule
    default: Any = None
    """As the stack file would write it; None with `required` False: unset is a valid value."""
    required: bool = False
    secret: bool = False
    structured: bool = False
    """Holds a YAML object or list (JSON on the wire); plain keys are strings."""
    example: str = ""
    """The value shown in the fix of a missing required key."""
    placeholder: str | None = None
    """A well-formed stand-in used by the offline render for a secret it cannot decrypt."""
    item_defaults: Mapping[str, Any] = field(default_factory=dict)
    """For a list of objects: the default of each optional field of an item (nested fields as
    `parent.field`)."""


# Defaults Renovate keeps current (renovate.json, "image defaults"): whole references, one line
# each. The reconciler's by digest: a tag of the official python image is rebuilt in place when
# Debian moves, the digest is the one image every Job pulls. (Stalwart's image is a setting the
# owner pins with the upgrade stages; its tags are not rebuilt.)
STALWART_IMAGE = "stalwartlabs/stalwart:v0.16.18"
RECONCILER_IMAGE = "python:3.12.8-slim-bookworm@sha256:2199a62885a12290dc9c5be3ca0681d367576ab7bf037da120e564723292a2f0"  # noqa: E501

KEYS: dict[str, Key] = {
    "domain": Key(cloudflare.domain, required=True, example="example.com"),
    "adminPassword": Key(
        stalwart.admin_password, secret=True, placeholder="render-placeholder-admin-pw"
    ),
    "resendApiKey": Key(
        stalwart.resend_api_key,
        required=True,
        secret=True,
        example="re_...",
        placeholder="re_renderPlaceholderKey",
    ),
    "webmailHostname": Key(cluster.label("public webmail host"), default="mail"),
    "tailnetHostname": Key(cluster.label("Tailscale host"), default="mail"),
    "namespace": Key(cluster.label("namespace", host=False), default="stalwart"),
    "image": Key(stalwart.image, default=STALWART_IMAGE),
    "storageClass": Key(cluster.kubernetes_name, default="longhorn"),
    "storageSize": Key(cluster.storage_size, default="10Gi"),
    "cloudflareAccountId": Key(
        cloudflare.hex32("account ID"), required=True, example="<32-hex account id>"
    ),
    "cloudflareZoneId": Key(cloudflare.hex32("zone ID"), required=True, example="<32-hex zone id>"),
    "tunnelId": Key(cloudflare.tunnel_id, required=True, example="<tunnel uuid>"),
    "tunnelOrigin": Key(
        cloudflare.tunnel_origin, default="http://traefik.kube-system.svc.cluster.local:80"
    ),
    "tunnelRoutes": Key(cloudflare.tunnel_routes, default=[], structured=True),
    "adminEmail": Key(cloudflare.admin_email, required=True, example="you@gmail.com"),
    "resendDkimRecord": Key(cloudflare.dkim_record, required=True, example="'p=MIGfMA0...'"),
    "resendRegion": Key(cloudflare.resend_region, default="us-east-1"),
    "dmarc": Key(cloudflare.dmarc, default="v=DMARC1; p=none;", structured=True),
    "serviceAccounts": Key(
        accounts.service_accounts,
        default=[],
        structured=True,
        item_defaults={
            "email": "",
            "description": "",
            "passwordVersion": 1,
            "credentials.key": "smtp-password",
            "credentials.create": False,
            "credentials.restart": [],
        },
    ),
    "reconcilerImage": Key(cluster.python_image, default=RECONCILER_IMAGE),
    "relay": Key(
        stalwart.relay,
        default={"host": "smtp.resend.com", "port": 465, "username": "resend", "implicitTls": True},
        structured=True,
    ),
    "dataClaimName": Key(cluster.kubernetes_name, default="stalwart-data"),
    "adopt": Key(adopt.adopt, default={"kubernetes": False, "cloudflare": {}}, structured=True),
    "runAsUser": Key(stalwart.run_as_user, default="2000"),
    "imageMirrors": Key(cluster.image_mirrors, default=[], structured=True),
    "smtpClientNamespaces": Key(
        cluster.namespace_list(allow_empty=True), default=[], structured=True
    ),
    "ingressNamespaces": Key(
        cluster.namespace_list(allow_empty=False),
        default=["kube-system", "tailscale"],
        structured=True,
    ),
    "backup": Key(
        cluster.backup,
        default={
            # Longhorn's PVC labels take a volume out of the `default` group (which off-cluster
            # backup jobs commonly use); the volume stays in these besides its own.
            "groups": ["default"],
            "longhornNamespace": "longhorn-system",
            "snapshotCron": "0 3 * * *",
            "snapshotRetain": 7,
            "backupEnabled": False,
            "backupCron": "30 3 * * 0",
            "backupRetain": 8,
        },
        structured=True,
    ),
    # The staged upgrade from v0.15 (MIGRATING.md "Upgrade to v0.16"): unset outside it.
    "upgrade": Key(upgrade.upgrade, structured=True),
    "upgradeExport": Key(
        upgrade.export,
        secret=True,
        placeholder='{"@type":"create","object":"Domain","value":{"create-0":{"name":"example.com"}}}',
    ),
    # kube-prometheus-stack objects and the outbound canary (README "Monitoring"); the
    # Prometheus endpoint itself is always on, behind Basic auth.
    "monitoring": Key(
        monitoring.monitoring,
        default={
            "enabled": False,
            "namespace": "monitoring",
            "release": "kube-prometheus-stack",
            "canarySchedule": "17 * * * *",
            "canaryRecipient": "delivered@resend.dev",
            "runbookUrl": "RUNBOOK.md",
        },
        structured=True,
    ),
    # The webmail's forward-auth objects in Authentik (README "Authentik"): unset, none.
    "authentik": Key(
        authentik.authentik,
        structured=True,
        item_defaults={
            "outpost": "authentik Embedded Outpost",
            "authorizationFlow": "default-provider-authorization-implicit-consent",
            "invalidationFlow": "default-provider-invalidation-flow",
            "groups": [],
            "slug": "stalwart-webmail",
            "name": "Stalwart webmail",
        },
    ),
    "authMechanisms": Key(
        stalwart.auth_mechanisms, default=list(stalwart.AUTH_MECHANISMS), structured=True
    ),
    "tls": Key(cluster.tls, structured=True),
}

RETIRED: dict[str, str] = {
    "cliImage": (
        "is no longer used: the v0.16 plan is applied by the stack's own Job script over JMAP "
        "(incluster/plan_apply.py), in the reconciler image, not by stalwart-cli"
    ),
}
"""Keys an earlier version of the program read: what replaced them (the fix is to remove them)."""

SECRET_PLACEHOLDERS: dict[str, str] = {
    f"{NAMESPACE}:{key}": spec.placeholder
    for key, spec in KEYS.items()
    if spec.secret and spec.placeholder is not None
}
"""Full key -> stand-in value, for the offline render of secrets it must not decrypt."""
