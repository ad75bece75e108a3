"""The tunnel configuration in a state: its ingress rules, and its other routes in the form of
`mailstack:tunnelRoutes`."""

from __future__ import annotations

import re
from typing import Any

from migration.import_plan.state import Instance

# cloudflared origin settings: the provider's snake_case names (state) → mailstack:tunnelRoutes.
ORIGIN_KEYS = {
    "access": "access",
    "ca_pool": "caPool",
    "connect_timeout": "connectTimeout",
    "disable_chunked_encoding": "disableChunkedEncoding",
    "http2_origin": "http2Origin",
    "http_host_header": "httpHostHeader",
    "keep_alive_connections": "keepAliveConnections",
    "keep_alive_timeout": "keepAliveTimeout",
    "match_sn_ito_host": "matchSnItoHost",
    "no_happy_eyeballs": "noHappyEyeballs",
    "no_tls_verify": "noTlsVerify",
    "origin_server_name": "originServerName",
    "proxy_type": "proxyType",
    "tcp_keep_alive": "tcpKeepAlive",
    "tls_timeout": "tlsTimeout",
}
# Provider v4 stored these as Go durations ("30s"); v5/v6 take seconds.
DURATION_KEYS = frozenset(
    {"connect_timeout", "tls_timeout", "tcp_keep_alive", "keep_alive_timeout"}
)
DURATION_RE = re.compile(r"^(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$")


def first_block(value: Any) -> dict[str, Any]:
    """A nested block: an object (provider v5) or a list of one object (provider v4)."""
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, dict) else {}


def ingress_rules(config: Instance) -> list[dict[str, Any]]:
    block = first_block(config.attributes.get("config"))
    rules = block.get("ingress") or block.get("ingress_rule") or []
    return [rule for rule in rules if isinstance(rule, dict)]


def route_hostnames(config: Instance) -> list[str]:
    return [str(rule.get("hostname") or "").lower() for rule in ingress_rules(config)]


def other_routes(tunnel: Instance, webmail: str, warnings: list[str]) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = []
    for rule in ingress_rules(tunnel):
        hostname = str(rule.get("hostname") or "")
        if not hostname or hostname.lower() == webmail:
            continue
        route: dict[str, Any] = {"hostname": hostname, "service": rule.get("service")}
        if rule.get("path"):
            route["path"] = rule["path"]
        origin = _origin_request(first_block(rule.get("origin_request")), hostname, warnings)
        if origin:
            route["originRequest"] = origin
        routes.append(route)
    return routes


def _origin_request(block: dict[str, Any], hostname: str, warnings: list[str]) -> dict[str, Any]:
    origin: dict[str, Any] = {}
    for key, value in block.items():
        if value in (None, "", [], {}, False, 0):
            continue
        if key not in ORIGIN_KEYS:
            warnings.append(
                f"route {hostname}: origin setting {key}={value!r} has no equivalent in "
                "mailstack:tunnelRoutes (provider v6); left out"
            )
            continue
        if key in DURATION_KEYS and isinstance(value, str):
            value = _seconds(value)
        if key == "access":
            access = first_block(value)
            if not access.get("team_name") or not access.get("aud_tag"):
                continue
            # mailstack:tunnelRoutes spells it in camelCase (settings/rules/cloudflare.py).
            value = {"audTags": list(access["aud_tag"]), "teamName": access["team_name"]}
            if access.get("required"):
                value["required"] = True
        origin[ORIGIN_KEYS[key]] = value
    return origin


def _seconds(duration: str) -> int | str:
    match = DURATION_RE.fullmatch(duration.strip())
    if not match or not any(match.groups()):
        return duration
    hours, minutes, seconds = (int(group or 0) for group in match.groups())
    return hours * 3600 + minutes * 60 + seconds
