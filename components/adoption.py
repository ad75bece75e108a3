"""Adoption of the running system: which existing object each resource takes over, and how.

`mailstack:adopt` is set for the first `pulumi up` only (MIGRATING.md). An adopted resource gets
the `import` option with the provider's import id, and `ignore_changes` on the inputs that the
old system may have set differently (the program's record comment, labels): Pulumi refuses an
import whose inputs differ from the live object, so the adopting update changes nothing, and the
next update, without `mailstack:adopt`, applies the program's exact values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pulumi

_HEX32 = r"[0-9a-f]{32}"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

# `mailstack:adopt.cloudflare` key -> (logical name, import id pattern, what the id is made of).
# Import id formats: pulumi-cloudflare v6 docs, "Import" section of each resource.
CLOUDFLARE_RESOURCES: dict[str, tuple[str, str, str]] = {
    "webmailTunnelConfig": (
        "webmail-tunnel-config",
        rf"{_HEX32}/{_UUID}",
        "<account_id>/<tunnel_id>",
    ),
    "webmailCname": ("webmail-tunnel-cname", rf"{_HEX32}/{_HEX32}", "<zone_id>/<record_id>"),
    "emailRoutingSettings": ("email-routing-settings", _HEX32, "<zone_id>"),
    "emailRoutingDns": ("email-routing-dns", _HEX32, "<zone_id>"),
    "emailRoutingAddress": (
        "email-routing-admin-address",
        rf"{_HEX32}/{_HEX32}",
        "<account_id>/<address_id>",
    ),
    "emailRoutingCatchAll": ("email-routing-catch-all", _HEX32, "<zone_id>"),
    "resendDkim": ("resend-dns-dkim", rf"{_HEX32}/{_HEX32}", "<zone_id>/<record_id>"),
    "resendBounceMx": ("resend-dns-bounce-mx", rf"{_HEX32}/{_HEX32}", "<zone_id>/<record_id>"),
    "resendSpf": ("resend-dns-spf", rf"{_HEX32}/{_HEX32}", "<zone_id>/<record_id>"),
    "resendDmarc": ("resend-dns-dmarc", rf"{_HEX32}/{_HEX32}", "<zone_id>/<record_id>"),
}


def import_id_problem(key: str, import_id: object, account_id: str, zone_id: str) -> str | None:
    """Why an import id cannot be right, or None."""
    if key not in CLOUDFLARE_RESOURCES:
        return f"unknown resource '{key}' (known: {', '.join(CLOUDFLARE_RESOURCES)})"
    _, pattern, shape = CLOUDFLARE_RESOURCES[key]
    if not isinstance(import_id, str) or not re.fullmatch(pattern, import_id):
        return f"{key}: {import_id!r} is not an import id of the form {shape}"
    owner = import_id.split("/")[0]
    expected = account_id if shape.startswith("<account_id>") else zone_id
    if owner != expected:
        what = "account" if shape.startswith("<account_id>") else "zone"
        return f"{key}: {import_id} belongs to another {what} than the configured one"
    return None


@dataclass(frozen=True)
class Adoption:
    """What the first update takes over instead of creating."""

    kubernetes: bool = False
    """Import the namespace and the data claim (the rest is deleted and recreated)."""
    cloudflare: dict[str, str] = field(default_factory=dict)
    """`mailstack:adopt.cloudflare` key -> import id."""

    def cloudflare_id(self, logical_name: str) -> str | None:
        for key, (name, _, _) in CLOUDFLARE_RESOURCES.items():
            if name == logical_name:
                return self.cloudflare.get(key)
        return None


def adopted(
    opts: pulumi.ResourceOptions, import_id: str | None, ignore: list[str]
) -> pulumi.ResourceOptions:
    """`opts`, plus import and ignore_changes when the resource is being adopted."""
    if import_id is None:
        return opts
    return pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(import_=import_id, ignore_changes=ignore)
    )
