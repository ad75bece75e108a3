"""DNS records as plain data, and the one way this program turns them into Cloudflare records."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare

from components.adoption import adopted

AUTOMATIC_TTL = 1  # Cloudflare's "automatic"; required by the v6 provider
RECORD_INPUTS = ["name", "type", "content", "ttl", "proxied", "priority", "comment", "tags"]


@dataclass(frozen=True)
class DnsRecordSpec:
    """One record, with a name relative to nothing: `name` is the full hostname."""

    key: str
    """Suffix of the resource's logical name; stable, so imports and state keep matching."""
    name: str
    type: str
    content: str
    proxied: bool = False
    priority: int | None = None
    ttl: int = AUTOMATIC_TTL


def managed_comment() -> str:
    """Shown next to the record in the dashboard, so nobody edits it there by hand."""
    return f"managed by Pulumi {pulumi.get_project()}/{pulumi.get_stack()}: edits are reverted"


def dns_record(
    resource_name: str,
    zone_id: pulumi.Input[str],
    spec: DnsRecordSpec,
    parent: pulumi.Resource,
    import_id: str | None,
) -> cloudflare.DnsRecord:
    return cloudflare.DnsRecord(
        resource_name,
        zone_id=zone_id,
        name=spec.name,
        type=spec.type,
        content=spec.content,
        ttl=spec.ttl,
        proxied=spec.proxied,
        priority=spec.priority,
        comment=managed_comment(),
        # Cloudflare refuses two records of different types under one name, so a replacement
        # must delete first (pulumi/pulumi-cloudflare#687).
        opts=adopted(
            pulumi.ResourceOptions(parent=parent, delete_before_replace=True),
            import_id,
            RECORD_INPUTS,
        ),
    )
