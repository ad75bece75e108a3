"""Rules of the Cloudflare side: the zone, its ids, the tunnel's routes, Email Routing, Resend."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any

from settings import formats as f
from settings.model import TunnelRoute
from settings.problems import Check

# The zero-trust tunnel's origin settings, by the names `pulumi preview` shows (camelCase) and
# the provider's Python names (ZeroTrustTunnelCloudflaredConfigConfigIngressOriginRequestArgs).
ORIGIN_REQUEST_KEYS = {
    "access": "access",
    "caPool": "ca_pool",
    "connectTimeout": "connect_timeout",
    "disableChunkedEncoding": "disable_chunked_encoding",
    "http2Origin": "http2_origin",
    "httpHostHeader": "http_host_header",
    "keepAliveConnections": "keep_alive_connections",
    "keepAliveTimeout": "keep_alive_timeout",
    "matchSnItoHost": "match_sn_ito_host",
    "noHappyEyeballs": "no_happy_eyeballs",
    "noTlsVerify": "no_tls_verify",
    "originServerName": "origin_server_name",
    "proxyType": "proxy_type",
    "tcpKeepAlive": "tcp_keep_alive",
    "tlsTimeout": "tls_timeout",
}
_DKIM_RE = re.compile(r"^p=[A-Za-z0-9+/]+={0,2}$")
_REGION_RE = re.compile(r"^[a-z]{2}-[a-z]+-[0-9]$")
_DMARC_POLICIES = ("none", "quarantine", "reject")


def domain(value: str, check: Check) -> None:
    invisible = f.invisible_character(value)
    ascii_form = None if value.isascii() or invisible else f.punycode(value)
    if invisible:
        check.bad(
            f"{value!r} is not a domain name: it holds the invisible character {invisible}",
            "type the name again",
        )
    elif ascii_form is not None and f.DOMAIN_RE.fullmatch(ascii_form):
        check.bad(
            f"'{value}' is an internationalized name; DNS, Cloudflare and Stalwart take its "
            "ASCII form",
            check.set_fix(ascii_form),
        )
    elif value != value.lower():
        check.bad(f"'{value}' has uppercase letters", check.set_fix(value.lower()))
    elif len(value) > 253 or not f.DOMAIN_RE.fullmatch(value):
        check.bad(
            f"'{value}' is not a domain name (lowercase labels joined by dots)",
            check.set_fix("example.com"),
        )


def hex32(what: str) -> Callable[[str, Check], None]:
    def rule(value: str, check: Check) -> None:
        if not f.HEX32_RE.fullmatch(value):
            check.bad(
                f"'{value}' is not a Cloudflare {what} (32 lowercase hex characters)",
                f"copy it from the Cloudflare dashboard ({what} in the zone's Overview), then "
                + check.set_fix("<id>"),
            )

    return rule


def tunnel_id(value: str, check: Check) -> None:
    if not f.UUID_RE.fullmatch(value):
        check.bad(
            f"'{value}' is not a tunnel UUID (lowercase, 8-4-4-4-12 hex)",
            "find it with `cloudflared tunnel list` (the homelab tunnel's ID), then "
            + check.set_fix("<uuid>"),
        )


def tunnel_origin(value: str, check: Check) -> None:
    if not f.ORIGIN_RE.fullmatch(value):
        check.bad(
            f"'{value}' is not a cloudflared service URL (http://host:port and the like)",
            check.set_fix(check.default),
        )


def admin_email(value: str, check: Check) -> None:
    if not f.EMAIL_RE.fullmatch(value):
        check.bad(f"'{value}' is not an email address", check.set_fix("you@gmail.com"))


def dkim_record(value: str, check: Check) -> None:
    if not _DKIM_RE.fullmatch(value):
        check.bad(
            "the value is not the DKIM record Resend shows ('p=' followed by base64)",
            "copy the TXT value of resend._domainkey from Resend's Domains page, then "
            + check.set_fix("'p=MIGfMA0...'"),
        )


def resend_region(value: str, check: Check) -> None:
    if not _REGION_RE.fullmatch(value):
        check.bad(
            f"'{value}' is not a sending region such as us-east-1",
            "use the region of the MX record Resend shows for send.<domain>: "
            + check.set_fix("us-east-1"),
        )


def dmarc(value: Any, check: Check) -> str | None:
    fix = (
        f"{check.set_fix(repr(check.default))}, or set the object form in the stack file: "
        "mailstack:dmarc: {policy: quarantine, rua: dmarc@example.com}"
    )
    if isinstance(value, str):
        problem = f.dmarc_problem(value)
        if problem:
            check.bad(f"'{value}' is not a DMARC record: {problem}", fix)
            return None
        return value
    given = check.object_of(
        value, {"policy", "rua"}, "must be a string or an object with policy and rua", fix
    )
    if given is None:
        return None
    policy, rua = given.get("policy"), given.get("rua")
    if policy not in _DMARC_POLICIES:
        check.bad(f"policy must be one of {', '.join(_DMARC_POLICIES)}", fix)
    elif rua is not None and not (
        isinstance(rua, str) and f.EMAIL_RE.fullmatch(rua.removeprefix("mailto:"))
    ):
        check.bad("rua must be an email address (or mailto: URI) for reports", fix)
    else:
        record = f"v=DMARC1; p={policy};"
        if rua:
            record += f" rua=mailto:{rua.removeprefix('mailto:')};"
        return record
    return None


def tunnel_routes(value: Any, check: Check) -> tuple[TunnelRoute, ...] | None:
    fix = (
        "list the tunnel's other routes in the stack file, in their order, e.g. "
        "mailstack:tunnelRoutes: [{hostname: auth.example.com, service: http://traefik...:80}]"
    )
    if not isinstance(value, list):
        check.bad("must be a list of {hostname, service} objects", fix)
        return None
    routes: list[TunnelRoute] = []
    before = check.count
    for index, item in enumerate(value, start=1):
        where = f"route {index}"
        if not isinstance(item, dict):
            check.bad(f"{where} is not an object", fix)
            continue
        unknown = sorted(set(item) - {"hostname", "service", "path", "originRequest"})
        hostname = item.get("hostname")
        service = item.get("service")
        if unknown:
            check.bad(f"{where} has unknown field(s) {', '.join(unknown)}", fix)
        elif hostname in (None, "", "*"):
            check.bad(
                f"{where} has no hostname, so it is a catch-all; the program always adds the "
                "catch-all http_status:404 last",
                "remove that route from mailstack:tunnelRoutes",
            )
        elif not isinstance(hostname, str) or not f.ROUTE_HOST_RE.fullmatch(hostname):
            check.bad(f"{where}: '{hostname}' is not a lowercase hostname", fix)
        elif not isinstance(service, str) or not (
            f.ORIGIN_RE.fullmatch(service) or f.STATUS_SERVICE_RE.fullmatch(service)
        ):
            check.bad(
                f"{where} ({hostname}): service '{service}' is not a cloudflared service",
                "use a URL such as http://traefik.kube-system.svc.cluster.local:80 "
                "or http_status:404",
            )
        else:
            origin = _origin_request(item.get("originRequest"), f"{where} ({hostname})", check)
            path = item.get("path")
            problem = _path_problem(path)
            if problem:
                check.bad(f"{where} ({hostname}): path {problem}", fix)
            routes.append(TunnelRoute(hostname, service, path, origin))
    return tuple(routes) if check.count == before else None


# cloudflared matches `path` as a Go (RE2) regular expression: no look-around, no back-reference.
_NOT_RE2 = re.compile(r"\(\?<?[=!]|\\[1-9]")


def _path_problem(path: object) -> str | None:
    if path is None:
        return None
    if not isinstance(path, str) or not path:
        return "must be a non-empty string"
    try:
        re.compile(path)
    except re.error as err:
        return f"{path!r} is not a regular expression ({err.msg})"
    if _NOT_RE2.search(path):
        return f"{path!r} uses look-around or a back-reference, which cloudflared (RE2) refuses"
    return None


# The provider's types (ZeroTrustTunnelCloudflaredConfigConfigIngressOriginRequestArgs).
_ORIGIN_TYPES: dict[str, type] = {
    "caPool": str,
    "connectTimeout": int,
    "disableChunkedEncoding": bool,
    "http2Origin": bool,
    "httpHostHeader": str,
    "keepAliveConnections": int,
    "keepAliveTimeout": int,
    "matchSnItoHost": bool,
    "noHappyEyeballs": bool,
    "noTlsVerify": bool,
    "originServerName": str,
    "proxyType": str,
    "tcpKeepAlive": int,
    "tlsTimeout": int,
}


def _origin_value_problem(key: str, value: Any) -> str | None:
    if key == "access":
        if (
            not isinstance(value, dict)
            or set(value) - {"audTags", "teamName", "required"}
            or not isinstance(value.get("teamName"), str)
            or not isinstance(value.get("audTags"), list)
            or not all(isinstance(tag, str) for tag in value["audTags"])
            or not isinstance(value.get("required", False), bool)
        ):
            return "must be {audTags: [<tag>], teamName: <team>, required: true|false}"
        return None
    kind = _ORIGIN_TYPES[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        return "must be a whole number (seconds, or a count) of at least 0"
    if kind is not int and not isinstance(value, kind):
        return f"must be {'true or false' if kind is bool else 'a string'}"
    return None


def _origin_request(value: Any, where: str, check: Check) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        check.bad(
            f"{where}: originRequest must be an object", "see cloudflared's origin configuration"
        )
        return None
    unknown = sorted(set(value) - set(ORIGIN_REQUEST_KEYS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], ORIGIN_REQUEST_KEYS, n=1)
        check.bad(
            f"{where}: unknown originRequest field '{unknown[0]}'",
            f"use '{close[0]}'" if close else "use " + ", ".join(sorted(ORIGIN_REQUEST_KEYS)),
        )
        return None
    for key, item in value.items():
        problem = _origin_value_problem(key, item)
        if problem:
            check.bad(
                f"{where}: originRequest.{key} {problem}", "see cloudflared's origin configuration"
            )
            return None
    return {
        ORIGIN_REQUEST_KEYS[key]: (
            {
                "aud_tags": item["audTags"],
                "team_name": item["teamName"],
                "required": item.get("required"),
            }
            if key == "access"
            else item
        )
        for key, item in value.items()
    }
