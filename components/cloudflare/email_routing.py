"""Inbound mail: Cloudflare Email Routing forwards everything for the domain to the owner."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare

from components.adoption import adopted
from components.cloudflare.resources import EMAIL_ROUTING, import_id_for
from settings.model import CloudflareSettings

CATCH_ALL_NAME = "Forward all to admin"


@dataclass(frozen=True)
class EmailRoutingArgs:
    cloudflare: CloudflareSettings
    """The account that holds the destination address, the mail domain's zone, and the
    destination of the catch-all (`adminEmail`, outside the domain)."""
    domain: str
    """The mail domain (Email Routing's MX/SPF records go on its apex)."""
    adopted_ids: dict[str, str]
    """`mailstack:adopt.cloudflare`: import ids of resources taken over on the first update."""


def unverified_warning(admin_email: str) -> str:
    return (
        f"Email Routing destination {admin_email} is not verified: Cloudflare drops inbound mail "
        "for the domain until the link in its verification email is clicked. After clicking, "
        "`pulumi refresh` (or `pulumi up --refresh`) records it."
    )


class EmailRouting(pulumi.ComponentResource):
    """Routing enabled on the zone with its MX/SPF records, the destination, the catch-all.

    Named `email-routing` always (components/cloudflare/resources.py): adoption and the import
    plan find its resources by that name."""

    admin_email_verified: pulumi.Output[bool]
    """False until the destination's verification link has been clicked (and state refreshed)."""

    def __init__(self, args: EmailRoutingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        name = EMAIL_ROUTING.name
        super().__init__(EMAIL_ROUTING.type, name, None, opts)
        cf = args.cloudflare
        child = pulumi.ResourceOptions(parent=self)

        def adopting(
            suffix: str, opts: pulumi.ResourceOptions, ignore: list[str]
        ) -> pulumi.ResourceOptions:
            return adopted(opts, import_id_for(args.adopted_ids, f"{name}-{suffix}"), ignore)

        settings = cloudflare.EmailRoutingSettings(
            f"{name}-settings",
            zone_id=cf.zone_id,
            opts=adopting("settings", child, ["supportSubaddress"]),
        )
        # Enabling routing through the settings resource uses the deprecated /enable endpoint;
        # EmailRoutingDns (POST /zones/{id}/email/routing/dns) is the documented call that
        # "adds and locks the necessary MX and SPF records", so a fresh zone receives mail
        # after one `pulumi up` (the runbook's "no MX needed" relied on the dashboard wizard).
        # `name` is ignored always, not only on adoption: the provider's Update is
        # EmailRouting.DNS.Edit, i.e. PATCH /zones/{id}/email/routing/dns, which Cloudflare's API
        # names "Unlock MX Records" (terraform-provider-cloudflare
        # internal/services/email_routing_dns/resource.go). A drift in `name` must never unlock
        # the records that keep mail arriving; the zone id (RequiresReplace) is what matters.
        routing_dns = cloudflare.EmailRoutingDns(
            f"{name}-dns",
            zone_id=cf.zone_id,
            name=args.domain,
            opts=adopting(
                "dns",
                pulumi.ResourceOptions(parent=self, depends_on=[settings], ignore_changes=["name"]),
                ["name"],
            ),
        )
        address = cloudflare.EmailRoutingAddress(
            f"{name}-admin-address",
            account_id=cf.account_id,
            email=cf.admin_email,
            opts=adopting("admin-address", child, ["email"]),
        )
        cloudflare.EmailRoutingCatchAll(
            f"{name}-catch-all",
            zone_id=cf.zone_id,
            name=CATCH_ALL_NAME,
            enabled=True,
            matchers=[cloudflare.EmailRoutingCatchAllMatcherArgs(type="all")],
            actions=[
                cloudflare.EmailRoutingCatchAllActionArgs(type="forward", values=[address.email])
            ],
            opts=adopting(
                "catch-all",
                pulumi.ResourceOptions(parent=self, depends_on=[settings, routing_dns]),
                ["name", "enabled", "matchers", "actions"],
            ),
        )

        def verified(timestamp: str | None) -> bool:
            if not timestamp:
                pulumi.log.warn(unverified_warning(cf.admin_email), resource=address)
            return bool(timestamp)

        self.admin_email_verified = address.verified.apply(verified)
        self.register_outputs({"admin_email_verified": self.admin_email_verified})
