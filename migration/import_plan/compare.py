"""Where the stack file differs from the state: what the second `pulumi up` would change."""

from __future__ import annotations

from typing import Any

from migration.import_plan.state import BOUNCE_MX_RE, Instance, StackSettings, content, tunnel_id


def compare_with_stack(
    stack: StackSettings,
    chosen: dict[str, Instance],
    ids: dict[str, str],
    routes: list[dict[str, Any]],
    cname_tunnel: str,
    destinations: list[str],
) -> list[str]:
    """Where Pulumi.prod.yaml differs from the state: the second `pulumi up` would change it."""
    config = stack.config
    warnings: list[str] = []
    tunnel = chosen["webmailTunnelConfig"]
    checks = [
        ("mailstack:cloudflareZoneId", ids["emailRoutingSettings"]),
        ("mailstack:cloudflareAccountId", tunnel.attr("account_id")),
        ("mailstack:tunnelId", tunnel_id(tunnel)),
    ]
    if destinations:
        checks.append(("mailstack:adminEmail", destinations[0]))
    region = BOUNCE_MX_RE.fullmatch(content(chosen["resendBounceMx"]))
    if region:
        checks.append(("mailstack:resendRegion", region.group(1)))
    defaults = {"mailstack:resendRegion": "us-east-1"}
    for key, value in checks:
        setting = config.get(key, defaults.get(key))
        if setting is None:
            warnings.append(f"{key} is not set in the stack file; the state has {value}")
        elif str(setting).lower() != value.lower():
            warnings.append(f"{key} is {setting} in the stack file but {value} in the state")
    if cname_tunnel and cname_tunnel != tunnel_id(tunnel).lower():
        warnings.append(
            f"the CNAME {chosen['webmailCname'].address} points at tunnel {cname_tunnel}, "
            f"the configuration is for {tunnel_id(tunnel)}"
        )

    def key_of(route: Any) -> tuple[str, str, str]:
        if not isinstance(route, dict):
            return ("", "", "")
        return (
            str(route.get("hostname", "")).lower(),
            str(route.get("service", "")),
            str(route.get("path") or ""),
        )

    configured = config.get("mailstack:tunnelRoutes") or []
    if not isinstance(configured, list) or [key_of(r) for r in configured] != [
        key_of(r) for r in routes
    ]:
        warnings.append(
            "mailstack:tunnelRoutes in the stack file differs from the tunnel's other routes in "
            "the state: set it to the list printed above, or those routes are removed from the "
            "tunnel by the second `pulumi up`"
        )
    return warnings
