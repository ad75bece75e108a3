"""The DNS records Resend needs to sign and send for the domain: DKIM, bounce MX, SPF, DMARC."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.cloudflare.dns import DnsRecordSpec, dns_record
from components.cloudflare.resources import RESEND_DNS, import_id_for
from settings.model import CloudflareSettings

SPF = "v=spf1 include:amazonses.com ~all"


def resend_records(domain: str, dkim: str, region: str, dmarc: str) -> list[DnsRecordSpec]:
    """The record table of the runbook's cloudflare.tf, for `domain`."""
    return [
        DnsRecordSpec("dkim", f"resend._domainkey.{domain}", "TXT", dkim),
        # Resend sends through Amazon SES; bounces come back to this MX of the `send` subdomain.
        DnsRecordSpec(
            "bounce-mx",
            f"send.{domain}",
            "MX",
            f"feedback-smtp.{region}.amazonses.com",
            priority=10,
        ),
        DnsRecordSpec("spf", f"send.{domain}", "TXT", SPF),
        DnsRecordSpec("dmarc", f"_dmarc.{domain}", "TXT", dmarc),
    ]


@dataclass(frozen=True)
class ResendDnsArgs:
    cloudflare: CloudflareSettings
    """The mail domain's zone, the `p=...` value Resend shows for resend._domainkey, Resend's
    sending region (the bounce MX's SES region) and the DMARC TXT value."""
    domain: str
    """The mail domain Resend sends for."""
    adopted_ids: dict[str, str]
    """`mailstack:adopt.cloudflare`: import ids of resources taken over on the first update."""


class ResendDns(pulumi.ComponentResource):
    """Resend's DKIM, SPF and DMARC records in the zone (all unproxied, automatic TTL).

    Named `resend-dns` always (components/cloudflare/resources.py): adoption and the import plan
    find its resources by that name."""

    record_names: list[str]
    """Hostnames of the records, in table order."""

    def __init__(self, args: ResendDnsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        name = RESEND_DNS.name
        super().__init__(RESEND_DNS.type, name, None, opts)
        cf = args.cloudflare
        specs = resend_records(args.domain, cf.resend_dkim_record, cf.resend_region, cf.dmarc)
        for spec in specs:
            resource_name = f"{name}-{spec.key}"
            dns_record(
                resource_name,
                cf.zone_id,
                spec,
                parent=self,
                import_id=import_id_for(args.adopted_ids, resource_name),
            )
        self.record_names = [spec.name for spec in specs]
        self.register_outputs({"record_names": self.record_names})
