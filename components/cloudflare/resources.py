"""Every Cloudflare resource of the stack, once: how adoption, the import plan and the
components name it. Pure data (no Pulumi calls), so settings rules and tools may read it.

Import id formats: pulumi-cloudflare v6 docs, "Import" section of each resource.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEX32 = r"[0-9a-f]{32}"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
TUNNEL_CONFIG = "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig"
ROUTING_SETTINGS = "cloudflare:index/emailRoutingSettings:EmailRoutingSettings"
ROUTING_DNS = "cloudflare:index/emailRoutingDns:EmailRoutingDns"
ROUTING_ADDRESS = "cloudflare:index/emailRoutingAddress:EmailRoutingAddress"
ROUTING_CATCH_ALL = "cloudflare:index/emailRoutingCatchAll:EmailRoutingCatchAll"


@dataclass(frozen=True)
class Component:
    """A component that parents Cloudflare resources: its type token and its instance name."""

    type: str
    name: str


TUNNEL_ROUTE = Component("mailstack:cloudflare:TunnelRoute", "webmail-tunnel")
EMAIL_ROUTING = Component("mailstack:cloudflare:EmailRouting", "email-routing")
RESEND_DNS = Component("mailstack:cloudflare:ResendDns", "resend-dns")
COMPONENTS = (TUNNEL_ROUTE, EMAIL_ROUTING, RESEND_DNS)


@dataclass(frozen=True)
class CloudflareResource:
    adopt_key: str
    """Key under `mailstack:adopt.cloudflare` (and in the import plan)."""
    type: str
    """Pulumi type token."""
    suffix: str
    """The logical name is `<component name>-<suffix>`."""
    component: Component
    import_id: str
    """Pattern of the provider's import id."""
    import_shape: str
    """What the import id is made of, for messages."""

    @property
    def name(self) -> str:
        """The logical name (part of the URN: it never changes)."""
        return f"{self.component.name}-{self.suffix}"

    @property
    def owner(self) -> str:
        """Which configured id the import id must start with: `account` or `zone`."""
        return "account" if self.import_shape.startswith("<account_id>") else "zone"


_RECORD_ID = (rf"{_HEX32}/{_HEX32}", "<zone_id>/<record_id>")

RESOURCES: tuple[CloudflareResource, ...] = (
    CloudflareResource(
        "webmailTunnelConfig",
        TUNNEL_CONFIG,
        "config",
        TUNNEL_ROUTE,
        rf"{_HEX32}/{_UUID}",
        "<account_id>/<tunnel_id>",
    ),
    CloudflareResource("webmailCname", DNS_RECORD, "cname", TUNNEL_ROUTE, *_RECORD_ID),
    CloudflareResource(
        "emailRoutingSettings", ROUTING_SETTINGS, "settings", EMAIL_ROUTING, _HEX32, "<zone_id>"
    ),
    CloudflareResource("emailRoutingDns", ROUTING_DNS, "dns", EMAIL_ROUTING, _HEX32, "<zone_id>"),
    CloudflareResource(
        "emailRoutingAddress",
        ROUTING_ADDRESS,
        "admin-address",
        EMAIL_ROUTING,
        rf"{_HEX32}/{_HEX32}",
        "<account_id>/<address_id>",
    ),
    CloudflareResource(
        "emailRoutingCatchAll", ROUTING_CATCH_ALL, "catch-all", EMAIL_ROUTING, _HEX32, "<zone_id>"
    ),
    CloudflareResource("resendDkim", DNS_RECORD, "dkim", RESEND_DNS, *_RECORD_ID),
    CloudflareResource("resendBounceMx", DNS_RECORD, "bounce-mx", RESEND_DNS, *_RECORD_ID),
    CloudflareResource("resendSpf", DNS_RECORD, "spf", RESEND_DNS, *_RECORD_ID),
    CloudflareResource("resendDmarc", DNS_RECORD, "dmarc", RESEND_DNS, *_RECORD_ID),
)
BY_ADOPT_KEY = {resource.adopt_key: resource for resource in RESOURCES}
BY_NAME = {resource.name: resource for resource in RESOURCES}


def import_id_problem(key: str, import_id: object, account_id: str, zone_id: str) -> str | None:
    """Why `import_id` cannot be the import id of the resource `key`, or None."""
    resource = BY_ADOPT_KEY.get(key)
    if resource is None:
        return f"unknown resource '{key}' (known: {', '.join(BY_ADOPT_KEY)})"
    if not isinstance(import_id, str) or not re.fullmatch(resource.import_id, import_id):
        return f"{key}: {import_id!r} is not an import id of the form {resource.import_shape}"
    expected = account_id if resource.owner == "account" else zone_id
    if import_id.split("/")[0] != expected:
        return f"{key}: {import_id} belongs to another {resource.owner} than the configured one"
    return None


def import_id_for(adopted: dict[str, str], logical_name: str) -> str | None:
    """The import id `mailstack:adopt.cloudflare` gives the resource `logical_name`, if any."""
    resource = BY_NAME.get(logical_name)
    return adopted.get(resource.adopt_key) if resource else None
