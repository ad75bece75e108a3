"""The webmail host on the homelab's Cloudflare tunnel: its ingress rule and its CNAME."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare

from components.adoption import adopted
from components.cloudflare.dns import DnsRecordSpec, dns_record
from components.cloudflare.resources import TUNNEL_ROUTE, import_id_for
from settings.model import CloudflareSettings
from settings.model import TunnelRoute as TunnelRouteSetting

CATCH_ALL_SERVICE = "http_status:404"


@dataclass(frozen=True)
class IngressRule:
    service: str
    hostname: str | None = None
    path: str | None = None
    origin_request: dict[str, Any] | None = None


def tunnel_ingresses(
    other_routes: tuple[TunnelRouteSetting, ...], webmail_fqdn: str, origin: str
) -> list[IngressRule]:
    """The tunnel's whole ingress list: the other routes in order, webmail, then the 404.

    The config resource owns the entire list, so the routes of other services are part of the
    settings: whatever is not listed here is removed from the tunnel.
    """
    rules = [IngressRule(r.service, r.hostname, r.path, r.origin_request) for r in other_routes]
    rules.append(IngressRule(origin, webmail_fqdn))
    # cloudflared requires a last rule without hostname; it answers every unmatched request.
    rules.append(IngressRule(CATCH_ALL_SERVICE))
    return rules


def tunnel_cname(webmail_fqdn: str, tunnel_id: str) -> DnsRecordSpec:
    return DnsRecordSpec(
        "cname", webmail_fqdn, "CNAME", f"{tunnel_id}.cfargotunnel.com", proxied=True
    )


@dataclass(frozen=True)
class TunnelRouteArgs:
    cloudflare: CloudflareSettings
    """The account, the zone of the webmail CNAME, the existing tunnel whose ingress list the
    stack owns, where cloudflared sends the webmail host (`tunnelOrigin`) and the tunnel's other
    routes, kept in their order before the webmail's."""
    webmail_fqdn: str
    """The webmail host routed through the tunnel."""
    adopted_ids: dict[str, str]
    """`mailstack:adopt.cloudflare`: import ids of resources taken over on the first update."""


class TunnelRoute(pulumi.ComponentResource):
    """The tunnel's ingress configuration (webmail before the final 404) and the webmail CNAME.

    Named `webmail-tunnel` always (components/cloudflare/resources.py): adoption and the import
    plan find its resources by that name."""

    webmail_fqdn: str
    """The webmail host the tunnel routes."""
    ingress_hostnames: list[str | None]
    """Hostnames of the ingress rules in order; None is the final catch-all."""

    def __init__(self, args: TunnelRouteArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        name = TUNNEL_ROUTE.name
        super().__init__(TUNNEL_ROUTE.type, name, None, opts)
        cf = args.cloudflare
        rules = tunnel_ingresses(cf.tunnel_routes, args.webmail_fqdn, cf.tunnel_origin)
        cloudflare.ZeroTrustTunnelCloudflaredConfig(
            f"{name}-config",
            account_id=cf.account_id,
            tunnel_id=cf.tunnel_id,
            config=cloudflare.ZeroTrustTunnelCloudflaredConfigConfigArgs(
                ingresses=[_ingress_args(rule) for rule in rules]
            ),
            opts=adopted(
                pulumi.ResourceOptions(parent=self),
                import_id_for(args.adopted_ids, f"{name}-config"),
                ["config", "source"],
            ),
        )
        dns_record(
            f"{name}-cname",
            cf.zone_id,
            tunnel_cname(args.webmail_fqdn, cf.tunnel_id),
            self,
            import_id=import_id_for(args.adopted_ids, f"{name}-cname"),
        )
        self.webmail_fqdn = args.webmail_fqdn
        self.ingress_hostnames = [rule.hostname for rule in rules]
        self.register_outputs(
            {"webmail_fqdn": self.webmail_fqdn, "ingress_hostnames": self.ingress_hostnames}
        )


def _ingress_args(
    rule: IngressRule,
) -> cloudflare.ZeroTrustTunnelCloudflaredConfigConfigIngressArgs:
    origin = (
        cloudflare.ZeroTrustTunnelCloudflaredConfigConfigIngressOriginRequestArgs(
            **rule.origin_request
        )
        if rule.origin_request
        else None
    )
    return cloudflare.ZeroTrustTunnelCloudflaredConfigConfigIngressArgs(
        service=rule.service, hostname=rule.hostname, path=rule.path, origin_request=origin
    )
