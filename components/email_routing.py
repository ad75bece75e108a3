"""Inbound mail: Cloudflare Email Routing forwards everything for the domain to the owner."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare

COMPONENT_TYPE = "mailstack:cloudflare:EmailRouting"
CATCH_ALL_NAME = "Forward all to admin"


@dataclass(frozen=True)
class EmailRoutingArgs:
    account_id: str
    zone_id: str
    domain: str
    admin_email: str
    """Destination of the catch-all (outside the domain)."""


def unverified_warning(admin_email: str) -> str:
    return (
        f"Email Routing destination {admin_email} is not verified: Cloudflare drops inbound mail "
        "for the domain until the link in its verification email is clicked. After clicking, "
        "`pulumi refresh` (or `pulumi up --refresh`) records it."
    )


class EmailRouting(pulumi.ComponentResource):
    """Routing enabled on the zone with its MX/SPF records, the destination, the catch-all."""

    admin_email_verified: pulumi.Output[bool]
    """False until the destination's verification link has been clicked (and state refreshed)."""

    def __init__(
        self, name: str, args: EmailRoutingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = cloudflare.EmailRoutingSettings(
            f"{name}-settings", zone_id=args.zone_id, opts=child
        )
        # Enabling routing through the settings resource uses the deprecated /enable endpoint;
        # EmailRoutingDns (POST /zones/{id}/email/routing/dns) is the documented call that
        # "adds and locks the necessary MX and SPF records", so a fresh zone receives mail
        # after one `pulumi up` (the runbook's "no MX needed" relied on the dashboard wizard).
        routing_dns = cloudflare.EmailRoutingDns(
            f"{name}-dns",
            zone_id=args.zone_id,
            name=args.domain,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[settings]),
        )
        address = cloudflare.EmailRoutingAddress(
            f"{name}-admin-address", account_id=args.account_id, email=args.admin_email, opts=child
        )
        cloudflare.EmailRoutingCatchAll(
            f"{name}-catch-all",
            zone_id=args.zone_id,
            name=CATCH_ALL_NAME,
            enabled=True,
            matchers=[cloudflare.EmailRoutingCatchAllMatcherArgs(type="all")],
            actions=[
                cloudflare.EmailRoutingCatchAllActionArgs(type="forward", values=[address.email])
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[settings, routing_dns]),
        )

        def verified(timestamp: str | None) -> bool:
            if not timestamp:
                pulumi.log.warn(unverified_warning(args.admin_email), resource=address)
            return bool(timestamp)

        self.admin_email_verified = address.verified.apply(verified)
        self.register_outputs({"admin_email_verified": self.admin_email_verified})
