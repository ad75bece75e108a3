"""The stack's settings: read once from `pulumi config`, validated into one typed object.

This is the only module that reads configuration. Every bad value is reported as one line that
names the key and the fix, all of them at once, before any resource is registered; the program
raises `SettingsError` (a `pulumi.RunError`, which the Pulumi CLI prints without a traceback).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from components.adoption import CLOUDFLARE_RESOURCES, Adoption, import_id_problem
from components.backup import BackupPolicy

NAMESPACE = "mailstack"

# Stalwart v0.16 replaced config.toml with a JSON data-store file and JMAP settings objects and
# removed the /api endpoints this program renders for (UPGRADING/v0_16.md); only v0.15.x fits.
SUPPORTED_STALWART_MINOR = (0, 15)
DEFAULT_IMAGE = "stalwartlabs/stalwart:v0.15.5"
DEFAULT_STORAGE_SIZE = "10Gi"
# Stalwart's SASL mechanism names (crates/common/src/config/smtp/session.rs).
AUTH_MECHANISMS = ("plain", "login", "oauthbearer", "xoauth2")
DEFAULT_RECONCILER_IMAGE = "python:3.12.8-slim-bookworm"
DEFAULT_CREDENTIALS_KEY = "smtp-password"
DEFAULT_TUNNEL_ORIGIN = "http://traefik.kube-system.svc.cluster.local:80"
DEFAULT_DMARC = "v=DMARC1; p=none;"
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
# RocksDB, the spam-filter rules and the webadmin bundle need room before the first message.
MIN_STORAGE_BYTES = 1024**3


class SettingsError(pulumi.RunError):
    """Bad stack settings; the message holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class TunnelRouteSetting:
    """One of the tunnel's other routes (`mailstack:tunnelRoutes`), kept in its order."""

    hostname: str
    service: str
    path: str | None = None
    origin_request: dict[str, Any] | None = None
    """cloudflared origin settings, keyed by the provider's snake_case names."""


@dataclass(frozen=True)
class CredentialsTarget:
    """Where a service account's password is delivered for its consumer."""

    namespace: str
    secret_name: str
    key: str = "smtp-password"
    create: bool = False
    """True: the stack owns a dedicated Secret; False: one key is patched into an existing one."""


@dataclass(frozen=True)
class ServiceAccountSetting:
    """One entry of `mailstack:serviceAccounts`."""

    name: str
    """Short name: the SMTP username (Stalwart resolves AUTH by name, not by address)."""
    email: str
    description: str
    credentials: CredentialsTarget
    password_version: int = 1
    """Bump to rotate the generated password."""


@dataclass(frozen=True)
class RelaySetting:
    """`mailstack:relay`: the SMTP relay all outbound mail goes through."""

    host: str = "smtp.resend.com"
    port: int = 465
    username: str = "resend"
    implicit_tls: bool = True
    """465 is implicit TLS; a STARTTLS relay (587) needs false."""


@dataclass(frozen=True)
class CloudflareSettings:
    account_id: str
    zone_id: str
    tunnel_id: str
    tunnel_origin: str
    """Where cloudflared sends the webmail host (Traefik)."""
    tunnel_routes: tuple[TunnelRouteSetting, ...]
    admin_email: str
    """Email Routing destination of the catch-all rule."""
    resend_dkim_record: str
    resend_region: str
    dmarc: str
    """The DMARC TXT value, e.g. `v=DMARC1; p=none;`."""


@dataclass(frozen=True)
class Settings:
    """Everything the program needs from the stack configuration, validated."""

    domain: str
    """Mail domain and Cloudflare zone name, e.g. `example.com`."""
    admin_password: pulumi.Output[str] | None
    """Fallback admin password (secret); None means a pulumi-random password is generated."""
    resend_api_key: pulumi.Output[str]
    """Resend SMTP relay API key (secret)."""
    webmail_hostname: str
    """Label of the public webmail host: `<label>.<domain>`."""
    tailnet_hostname: str
    """Label of the Tailscale ingress host: `<label>.<tailnet>.ts.net`."""
    namespace: str
    image: str
    storage_class: str
    storage_size: str
    cloudflare: CloudflareSettings
    relay: RelaySetting
    auth_mechanisms: tuple[str, ...]
    """SASL mechanisms Stalwart offers on 587 (PLAIN/LOGIN are what in-cluster apps use)."""
    service_accounts: tuple[ServiceAccountSetting, ...]
    data_claim_name: str
    """Name of the data PersistentVolumeClaim (an adopted claim keeps its old name)."""
    adopt: Adoption
    """What the first update takes over from the old system (MIGRATING.md)."""
    run_as_user: int
    """Uid/gid Stalwart switches to after binding its ports; 0 keeps root."""
    smtp_client_namespaces: tuple[str, ...]
    """Namespaces allowed to reach 587/993; empty: every namespace."""
    ingress_namespaces: tuple[str, ...]
    """Namespaces of the ingress controllers allowed to reach the webmail (8080)."""
    backup: BackupPolicy
    reconciler_image: str
    """Image of the accounts Job: any pinned Python 3.11+ image (standard library only)."""

    @property
    def webmail_fqdn(self) -> str:
        return f"{self.webmail_hostname}.{self.domain}"


@dataclass(frozen=True)
class _Key:
    default: Any
    required: bool = False
    secret: bool = False
    # A well-formed stand-in used by the offline render for a secret it cannot decrypt.
    placeholder: str | None = None
    # Structured keys may hold YAML objects/lists (JSON on the wire); plain keys are strings.
    structured: bool = False


# Every `mailstack:` key the program understands. Defaults live here and nowhere else.
KEYS: dict[str, _Key] = {
    "domain": _Key(default=None, required=True),
    "adminPassword": _Key(default=None, secret=True, placeholder="render-placeholder-admin-pw"),
    "resendApiKey": _Key(
        default=None, required=True, secret=True, placeholder="re_renderPlaceholderKey"
    ),
    "webmailHostname": _Key(default="mail"),
    "tailnetHostname": _Key(default="mail"),
    "namespace": _Key(default="stalwart"),
    "image": _Key(default=DEFAULT_IMAGE),
    "storageClass": _Key(default="longhorn"),
    "storageSize": _Key(default=DEFAULT_STORAGE_SIZE),
    "cloudflareAccountId": _Key(default=None, required=True),
    "cloudflareZoneId": _Key(default=None, required=True),
    "tunnelId": _Key(default=None, required=True),
    "tunnelOrigin": _Key(default=DEFAULT_TUNNEL_ORIGIN),
    "tunnelRoutes": _Key(default=[], structured=True),
    "adminEmail": _Key(default=None, required=True),
    "resendDkimRecord": _Key(default=None, required=True),
    "resendRegion": _Key(default="us-east-1"),
    "dmarc": _Key(default=DEFAULT_DMARC, structured=True),
    "serviceAccounts": _Key(default=[], structured=True),
    "reconcilerImage": _Key(default=DEFAULT_RECONCILER_IMAGE),
    "relay": _Key(default={}, structured=True),
    "dataClaimName": _Key(default="stalwart-data"),
    "adopt": _Key(default={}, structured=True),
    "runAsUser": _Key(default="2000"),
    "smtpClientNamespaces": _Key(default=[], structured=True),
    "ingressNamespaces": _Key(default=["kube-system", "tailscale"], structured=True),
    "backup": _Key(default={}, structured=True),
    "authMechanisms": _Key(default=list(AUTH_MECHANISMS), structured=True),
}

SECRET_PLACEHOLDERS: dict[str, str] = {
    f"{NAMESPACE}:{key}": spec.placeholder
    for key, spec in KEYS.items()
    if spec.secret and spec.placeholder is not None
}
"""Full key -> stand-in value, for the offline render of secrets it must not decrypt."""

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN_RE = re.compile(rf"^(?:{_LABEL}\.)+[a-z]{{2,63}}$")
_LABEL_RE = re.compile(rf"^{_LABEL}$")
_SUBDOMAIN_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_QUANTITY_RE = re.compile(
    r"^(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
)
_QUANTITY_FACTORS = {
    None: 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
_IMAGE_RE = re.compile(
    r"^(?P<repo>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
_VERSION_TAG_RE = re.compile(r"^v?(?P<major>\d+)\.(?P<minor>\d+)(?:\.(?P<patch>\d+))?$")


class _Problems:
    """Collects one line per bad value."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, key: str, problem: str, fix: str) -> None:
        self.lines.append(f"{NAMESPACE}:{key}: {problem}. Fix: {fix}.")


def _set_cmd(key: str, example: str, secret: bool = False) -> str:
    flag = "--secret " if secret else ""
    return f"pulumi config set {flag}{NAMESPACE}:{key} {example}"


def parse_quantity(text: str) -> int | None:
    """Bytes of a Kubernetes quantity such as `10Gi`, or None when it is no quantity."""
    match = _QUANTITY_RE.match(text)
    if match is None:
        return None
    number = float(match["number"])
    return int(number * _QUANTITY_FACTORS[match["suffix"]])


def _check_domain(value: str, problems: _Problems) -> None:
    if value != value.lower():
        problems.add(
            "domain", f"'{value}' has uppercase letters", _set_cmd("domain", value.lower())
        )
    elif len(value) > 253 or not _DOMAIN_RE.match(value):
        problems.add(
            "domain",
            f"'{value}' is not a domain name (lowercase labels joined by dots)",
            _set_cmd("domain", "example.com"),
        )


def _check_label(key: str, value: str, problems: _Problems, what: str) -> None:
    if "." in value:
        problems.add(
            key,
            f"'{value}' contains a dot; give only the first label of the {what}",
            _set_cmd(key, value.split(".")[0].lower() or "mail"),
        )
    elif value != value.lower():
        problems.add(key, f"'{value}' has uppercase letters", _set_cmd(key, value.lower()))
    elif not _LABEL_RE.match(value):
        problems.add(
            key,
            f"'{value}' is not a DNS label (a-z, 0-9 and '-', at most 63 characters)",
            _set_cmd(key, "mail"),
        )


def _check_image(value: str, problems: _Problems) -> None:
    match = _IMAGE_RE.match(value)
    fix = _set_cmd("image", DEFAULT_IMAGE)
    if match is None:
        problems.add("image", f"'{value}' is not an image reference", fix)
        return
    tag = match["tag"]
    if tag is None:
        problems.add("image", f"'{value}' has no tag, which means 'latest' (Stalwart v0.16+)", fix)
        return
    version = _VERSION_TAG_RE.match(tag)
    if version is None:
        problems.add(
            "image",
            f"tag '{tag}' is not a pinned Stalwart v0.15.x release ('latest' is v0.16+, "
            "whose config model this program does not render)",
            fix,
        )
        return
    minor = (int(version["major"]), int(version["minor"]))
    if minor > SUPPORTED_STALWART_MINOR:
        problems.add(
            "image",
            f"tag '{tag}' is Stalwart {minor[0]}.{minor[1]}; v0.16 replaced config.toml and the "
            "/api endpoints this program relies on, so only v0.15.x is supported",
            fix,
        )
    elif minor < SUPPORTED_STALWART_MINOR:
        problems.add(
            "image",
            f"tag '{tag}' is older than v0.15; this program renders the v0.15 configuration",
            fix,
        )
    elif version["patch"] is None and match["digest"] is None:
        problems.add(
            "image",
            f"tag '{tag}' moves with every v0.15 patch release; pin a patch release",
            fix,
        )


def _check_storage_size(value: str, problems: _Problems) -> None:
    size = parse_quantity(value)
    if size is None:
        problems.add(
            "storageSize",
            f"'{value}' is not a Kubernetes quantity",
            _set_cmd("storageSize", DEFAULT_STORAGE_SIZE),
        )
    elif size < MIN_STORAGE_BYTES:
        problems.add(
            "storageSize",
            f"'{value}' is smaller than 1Gi, too small for the mail store",
            _set_cmd("storageSize", DEFAULT_STORAGE_SIZE),
        )


def _check_subdomain(key: str, value: str, problems: _Problems, example: str) -> None:
    if len(value) > 253 or not _SUBDOMAIN_RE.match(value):
        problems.add(
            key,
            f"'{value}' is not a Kubernetes name (lowercase a-z, 0-9, '-' and '.')",
            _set_cmd(key, example),
        )


def _check_resend_api_key(value: str, problems: _Problems) -> None:
    if not re.fullmatch(r"re_[A-Za-z0-9_]{8,}", value):
        problems.add(
            "resendApiKey",
            "the value does not look like a Resend API key (re_ followed by letters and digits)",
            "copy the key from the Resend dashboard, then "
            + _set_cmd("resendApiKey", "re_...", secret=True),
        )


def _check_admin_password(value: str, problems: _Problems) -> None:
    if len(value) < 12 or any(ch in value for ch in "\r\n"):
        problems.add(
            "adminPassword",
            "the password is shorter than 12 characters or spans lines",
            "choose a longer one, or unset the key to let the stack generate one: "
            f"pulumi config rm {NAMESPACE}:adminPassword",
        )


_HEX32_RE = re.compile(r"^[0-9a-f]{32}$")
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?P<domain>[A-Za-z0-9.-]+\.[A-Za-z]{2,63})$"
)
# cloudflared's service forms (provider docs of ZeroTrustTunnelCloudflaredConfig ingresses).
_ORIGIN_RE = re.compile(r"^(https?|tcp|unix|ssh|rdp|unix\+tls|smb)://\S+$")
_STATUS_SERVICE_RE = re.compile(r"^http_status:[1-5][0-9]{2}$")
_ROUTE_HOST_RE = re.compile(rf"^(?:\*\.)?(?:{_LABEL}\.)+[a-z]{{2,63}}$")
_DKIM_RE = re.compile(r"^p=[A-Za-z0-9+/]+={0,2}$")
_REGION_RE = re.compile(r"^[a-z]{2}-[a-z]+-[0-9]$")
_DMARC_POLICIES = ("none", "quarantine", "reject")


def _check_hex32(key: str, what: str) -> Callable[[str, _Problems], None]:
    def check(value: str, problems: _Problems) -> None:
        if not _HEX32_RE.match(value):
            problems.add(
                key,
                f"'{value}' is not a Cloudflare {what} (32 lowercase hex characters)",
                f"copy it from the Cloudflare dashboard ({what} in the zone's Overview), then "
                + _set_cmd(key, "<id>"),
            )

    return check


def _check_tunnel_id(value: str, problems: _Problems) -> None:
    if not _UUID_RE.match(value):
        problems.add(
            "tunnelId",
            f"'{value}' is not a tunnel UUID (lowercase, 8-4-4-4-12 hex)",
            "find it with `cloudflared tunnel list` (the homelab tunnel's ID), then "
            + _set_cmd("tunnelId", "<uuid>"),
        )


def _check_tunnel_origin(value: str, problems: _Problems) -> None:
    if not _ORIGIN_RE.match(value):
        problems.add(
            "tunnelOrigin",
            f"'{value}' is not a cloudflared service URL (http://host:port and the like)",
            _set_cmd("tunnelOrigin", DEFAULT_TUNNEL_ORIGIN),
        )


def _check_admin_email(value: str, problems: _Problems) -> None:
    if not _EMAIL_RE.match(value):
        problems.add(
            "adminEmail",
            f"'{value}' is not an email address",
            _set_cmd("adminEmail", "you@gmail.com"),
        )


def _check_dkim(value: str, problems: _Problems) -> None:
    if not _DKIM_RE.match(value):
        problems.add(
            "resendDkimRecord",
            "the value is not the DKIM record Resend shows ('p=' followed by base64)",
            "copy the TXT value of resend._domainkey from Resend's Domains page, then "
            + _set_cmd("resendDkimRecord", "'p=MIGfMA0...'"),
        )


def _check_region(value: str, problems: _Problems) -> None:
    if not _REGION_RE.match(value):
        problems.add(
            "resendRegion",
            f"'{value}' is not a sending region such as us-east-1",
            "use the region of the MX record Resend shows for send.<domain>: "
            + _set_cmd("resendRegion", "us-east-1"),
        )


def _check_dmarc(value: Any, problems: _Problems) -> str | None:
    fix = (
        f"{_set_cmd('dmarc', repr(DEFAULT_DMARC))}, or set the object form in the stack file: "
        "mailstack:dmarc: {policy: quarantine, rua: dmarc@example.com}"
    )
    if isinstance(value, str):
        if not re.match(r"^v=DMARC1;\s*p=(none|quarantine|reject);", value):
            problems.add("dmarc", f"'{value}' is not a DMARC record ('v=DMARC1; p=...;')", fix)
            return None
        return value
    if not isinstance(value, dict):
        problems.add("dmarc", "must be a string or an object with policy and rua", fix)
        return None
    unknown = sorted(set(value) - {"policy", "rua"})
    policy = value.get("policy")
    rua = value.get("rua")
    if unknown:
        problems.add("dmarc", f"unknown field(s) {', '.join(unknown)}", fix)
    elif policy not in _DMARC_POLICIES:
        problems.add("dmarc", f"policy must be one of {', '.join(_DMARC_POLICIES)}", fix)
    elif rua is not None and not (
        isinstance(rua, str) and _EMAIL_RE.match(rua.removeprefix("mailto:"))
    ):
        problems.add("dmarc", "rua must be an email address (or mailto: URI) for reports", fix)
    else:
        record = f"v=DMARC1; p={policy};"
        if rua:
            record += f" rua=mailto:{rua.removeprefix('mailto:')};"
        return record
    return None


def _check_tunnel_routes(value: Any, problems: _Problems) -> tuple[TunnelRouteSetting, ...] | None:
    fix = (
        "list the tunnel's other routes in the stack file, in their order, e.g. "
        "mailstack:tunnelRoutes: [{hostname: auth.example.com, service: http://traefik...:80}]"
    )
    if not isinstance(value, list):
        problems.add("tunnelRoutes", "must be a list of {hostname, service} objects", fix)
        return None
    routes: list[TunnelRouteSetting] = []
    before = len(problems.lines)
    for index, item in enumerate(value, start=1):
        where = f"route {index}"
        if not isinstance(item, dict):
            problems.add("tunnelRoutes", f"{where} is not an object", fix)
            continue
        unknown = sorted(set(item) - {"hostname", "service", "path", "originRequest"})
        hostname = item.get("hostname")
        service = item.get("service")
        if unknown:
            problems.add("tunnelRoutes", f"{where} has unknown field(s) {', '.join(unknown)}", fix)
        elif hostname in (None, "", "*"):
            problems.add(
                "tunnelRoutes",
                f"{where} has no hostname, so it is a catch-all; the program always adds the "
                "catch-all http_status:404 last",
                "remove that route from mailstack:tunnelRoutes",
            )
        elif not isinstance(hostname, str) or not _ROUTE_HOST_RE.match(hostname):
            problems.add("tunnelRoutes", f"{where}: '{hostname}' is not a lowercase hostname", fix)
        elif not isinstance(service, str) or not (
            _ORIGIN_RE.match(service) or _STATUS_SERVICE_RE.match(service)
        ):
            problems.add(
                "tunnelRoutes",
                f"{where} ({hostname}): service '{service}' is not a cloudflared service",
                "use a URL such as http://traefik.kube-system.svc.cluster.local:80 "
                "or http_status:404",
            )
        else:
            origin = _origin_request(item.get("originRequest"), where, hostname, problems)
            path = item.get("path")
            if path is not None and not isinstance(path, str):
                problems.add("tunnelRoutes", f"{where} ({hostname}): path must be a string", fix)
            routes.append(TunnelRouteSetting(hostname, service, path, origin))
    return tuple(routes) if len(problems.lines) == before else None


def _origin_request(
    value: Any, where: str, hostname: str, problems: _Problems
) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add(
            "tunnelRoutes",
            f"{where} ({hostname}): originRequest must be an object",
            "see cloudflared's origin configuration",
        )
        return None
    unknown = sorted(set(value) - set(ORIGIN_REQUEST_KEYS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], ORIGIN_REQUEST_KEYS, n=1)
        problems.add(
            "tunnelRoutes",
            f"{where} ({hostname}): unknown originRequest field '{unknown[0]}'",
            f"use '{close[0]}'" if close else "use " + ", ".join(sorted(ORIGIN_REQUEST_KEYS)),
        )
        return None
    return {ORIGIN_REQUEST_KEYS[key]: item for key, item in value.items()}


def _in_zone(hostname: str, domain: str) -> bool:
    bare = hostname.removeprefix("*.")
    return bare == domain or bare.endswith(f".{domain}")


def _check_across(values: dict[str, Any], problems: _Problems) -> None:
    """Rules that involve two settings: run only when each of them is valid on its own."""
    domain = values.get("domain")
    if not domain:
        return
    email = values.get("adminEmail")
    if email and email.rpartition("@")[2].lower() == domain:
        problems.add(
            "adminEmail",
            f"'{email}' is inside {domain}: the catch-all would forward every message to itself",
            _set_cmd("adminEmail", "you@gmail.com") + " (an address outside the zone)",
        )
    _check_accounts_across(values, domain, problems)
    adoption = values.get("adopt")
    if isinstance(adoption, Adoption):
        for key, import_id in adoption.cloudflare.items():
            problem = import_id_problem(
                key, import_id, values["cloudflareAccountId"], values["cloudflareZoneId"]
            )
            if problem:
                problems.add(
                    "adopt",
                    f"cloudflare.{problem}",
                    "run make import-plan again and paste its adopt.yaml",
                )
    routes = values.get("tunnelRoutes")
    webmail = f"{values.get('webmailHostname')}.{domain}"
    if not routes:
        return
    seen: set[str] = set()
    for index, route in enumerate(routes, start=1):
        where = f"route {index} ({route.hostname})"
        if not _in_zone(route.hostname, domain):
            problems.add(
                "tunnelRoutes",
                f"{where} is outside the zone {domain}",
                "keep only hostnames of the zone, or remove the route",
            )
        elif route.hostname in seen:
            problems.add(
                "tunnelRoutes", f"{where} repeats an earlier hostname", "remove the duplicate"
            )
        elif route.hostname == webmail:
            problems.add(
                "tunnelRoutes",
                f"{where} is the webmail host, which the program routes itself",
                "remove it from mailstack:tunnelRoutes",
            )
        elif route.hostname.startswith("*.") and webmail.endswith(route.hostname[1:]):
            problems.add(
                "tunnelRoutes",
                f"{where} comes before the webmail route and would swallow {webmail}",
                "replace the wildcard by the hostnames it serves",
            )
        seen.add(route.hostname)


_ACCOUNT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_SECRET_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")


def _check_service_accounts(
    value: Any, problems: _Problems
) -> tuple[ServiceAccountSetting, ...] | None:
    fix = (
        "see README 'Connecting a service'; e.g. mailstack:serviceAccounts: [{name: noreply, "
        "credentials: {namespace: authentik, secretName: authentik-credentials}}]"
    )
    if not isinstance(value, list):
        problems.add("serviceAccounts", "must be a list of accounts", fix)
        return None
    before = len(problems.lines)
    accounts: list[ServiceAccountSetting] = []
    for index, item in enumerate(value, start=1):
        where = f"account {index}"
        if not isinstance(item, dict):
            problems.add("serviceAccounts", f"{where} is not an object", fix)
            continue
        name = item.get("name")
        allowed = {"name", "email", "description", "credentials", "passwordVersion"}
        unknown = sorted(set(item) - allowed)
        if unknown:
            problems.add(
                "serviceAccounts", f"{where} has unknown field(s) {', '.join(unknown)}", fix
            )
            continue
        if not isinstance(name, str) or not _ACCOUNT_NAME_RE.match(name) or name == "admin":
            problems.add(
                "serviceAccounts",
                f"{where}: name {name!r} is not a lowercase account name (or is the reserved "
                "'admin')",
                "use a short name such as noreply; it is the SMTP username",
            )
            continue
        where = f"account {index} ({name})"
        email = item.get("email", "")
        description = item.get("description", "")
        version = item.get("passwordVersion", 1)
        if not isinstance(email, str) or (email and not _EMAIL_RE.match(email)):
            problems.add("serviceAccounts", f"{where}: email {email!r} is not an address", fix)
            continue
        if not isinstance(description, str):
            problems.add("serviceAccounts", f"{where}: description must be a string", fix)
            continue
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            problems.add(
                "serviceAccounts",
                f"{where}: passwordVersion must be a positive integer",
                "increase it by one to rotate the account's password",
            )
            continue
        target = _credentials(item.get("credentials"), where, problems)
        if target is not None:
            accounts.append(ServiceAccountSetting(name, email, description, target, version))
    if len(problems.lines) != before:
        return None
    return tuple(accounts)


def _credentials(value: Any, where: str, problems: _Problems) -> CredentialsTarget | None:
    fix = "give credentials: {namespace: <ns>, secretName: <secret>, key: smtp-password}"
    if not isinstance(value, dict):
        problems.add("serviceAccounts", f"{where}: credentials must be an object", fix)
        return None
    unknown = sorted(set(value) - {"namespace", "secretName", "key", "create"})
    namespace = value.get("namespace")
    secret_name = value.get("secretName")
    key = value.get("key", DEFAULT_CREDENTIALS_KEY)
    create = value.get("create", False)
    if unknown:
        problems.add(
            "serviceAccounts", f"{where}: unknown credentials field(s) {', '.join(unknown)}", fix
        )
    elif not isinstance(namespace, str) or not _LABEL_RE.match(namespace):
        problems.add(
            "serviceAccounts",
            f"{where}: credentials.namespace {namespace!r} is not a namespace",
            fix,
        )
    elif not isinstance(secret_name, str) or not _SUBDOMAIN_RE.match(secret_name):
        problems.add(
            "serviceAccounts",
            f"{where}: credentials.secretName {secret_name!r} is not a Secret name",
            fix,
        )
    elif not isinstance(key, str) or not _SECRET_KEY_RE.match(key):
        problems.add(
            "serviceAccounts", f"{where}: credentials.key {key!r} is not a Secret key", fix
        )
    elif not isinstance(create, bool):
        problems.add("serviceAccounts", f"{where}: credentials.create must be true or false", fix)
    else:
        return CredentialsTarget(namespace, secret_name, key, create)
    return None


def _check_relay(value: Any, problems: _Problems) -> RelaySetting | None:
    fix = (
        "set the object in the stack file, e.g. mailstack:relay: {host: smtp.resend.com, "
        "port: 465, username: resend, implicitTls: true}"
    )
    if not isinstance(value, dict):
        problems.add("relay", "must be an object with host, port, username, implicitTls", fix)
        return None
    unknown = sorted(set(value) - {"host", "port", "username", "implicitTls"})
    defaults = RelaySetting()
    host = value.get("host", defaults.host)
    port = value.get("port", defaults.port)
    username = value.get("username", defaults.username)
    implicit = value.get("implicitTls", defaults.implicit_tls)
    if unknown:
        problems.add("relay", f"unknown field(s) {', '.join(unknown)}", fix)
    elif not isinstance(host, str) or not _SUBDOMAIN_RE.match(host):
        problems.add("relay", f"host {host!r} is not a hostname", fix)
    elif isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        problems.add("relay", f"port {port!r} is not a TCP port", fix)
    elif port == 25:
        problems.add("relay", "port 25 is blocked on the cluster's network", "use 465 or 587")
    elif not isinstance(username, str) or not username:
        problems.add("relay", "username must be a non-empty string", fix)
    elif not isinstance(implicit, bool):
        problems.add("relay", "implicitTls must be true or false", fix)
    else:
        return RelaySetting(host, port, username, implicit)
    return None


def _check_auth_mechanisms(value: Any, problems: _Problems) -> tuple[str, ...] | None:
    fix = "mailstack:authMechanisms: [plain, login] (any of " + ", ".join(AUTH_MECHANISMS) + ")"
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(item, str) and item in AUTH_MECHANISMS for item in value)
        or len(set(value)) != len(value)
    ):
        problems.add("authMechanisms", "must be a non-empty list of distinct SASL mechanisms", fix)
        return None
    if not {"plain", "login"} & set(value):
        problems.add(
            "authMechanisms",
            "offers neither plain nor login, so no in-cluster app could authenticate",
            fix,
        )
        return None
    return tuple(value)


def _check_adopt(value: Any, problems: _Problems) -> Adoption | None:
    fix = (
        "see MIGRATING.md; e.g. mailstack:adopt: {kubernetes: true, cloudflare: "
        "{emailRoutingSettings: <zone_id>}} (make import-plan writes the cloudflare part)"
    )
    if not isinstance(value, dict):
        problems.add("adopt", "must be an object with kubernetes and cloudflare", fix)
        return None
    unknown = sorted(set(value) - {"kubernetes", "cloudflare"})
    kubernetes = value.get("kubernetes", False)
    cloudflare = value.get("cloudflare", {})
    if unknown:
        problems.add("adopt", f"unknown field(s) {', '.join(unknown)}", fix)
    elif not isinstance(kubernetes, bool):
        problems.add("adopt", "kubernetes must be true or false", fix)
    elif not isinstance(cloudflare, dict):
        problems.add("adopt", "cloudflare must map resource names to import ids", fix)
    else:
        unknown_resources = sorted(set(cloudflare) - set(CLOUDFLARE_RESOURCES))
        if unknown_resources:
            close = difflib.get_close_matches(unknown_resources[0], CLOUDFLARE_RESOURCES, n=1)
            problems.add(
                "adopt",
                f"cloudflare.{unknown_resources[0]} is not a resource of this program",
                f"did you mean cloudflare.{close[0]}?" if close else fix,
            )
            return None
        return Adoption(kubernetes=kubernetes, cloudflare=dict(cloudflare))
    return None


def _check_run_as_user(value: str, problems: _Problems) -> int | None:
    if not value.isdigit() or not 0 <= int(value) <= 2**31 - 1:
        problems.add(
            "runAsUser",
            f"'{value}' is not a numeric user id",
            _set_cmd("runAsUser", "2000") + " (or 0 to keep Stalwart running as root)",
        )
        return None
    return int(value)


def _check_namespace_list(key: str, allow_empty: bool) -> Callable[[Any, _Problems], Any]:
    def check(value: Any, problems: _Problems) -> tuple[str, ...] | None:
        example = "[kube-system, tailscale]"
        if (
            not isinstance(value, list)
            or not all(isinstance(v, str) and _LABEL_RE.match(v) for v in value)
            or (not value and not allow_empty)
        ):
            problems.add(
                key,
                "must be a list of namespace names" + ("" if allow_empty else " (not empty)"),
                f"set it in the stack file, e.g. {NAMESPACE}:{key}: {example}",
            )
            return None
        return tuple(value)

    return check


_CRON_RE = re.compile(r"^(\S+\s+){4}\S+$")


def _check_backup(value: Any, problems: _Problems) -> BackupPolicy | None:
    fix = (
        "e.g. mailstack:backup: {snapshotCron: '0 3 * * *', snapshotRetain: 7, "
        "backupEnabled: true, backupCron: '30 3 * * 0', backupRetain: 8}"
    )
    fields = {
        "longhornNamespace": "longhorn_namespace",
        "snapshotCron": "snapshot_cron",
        "snapshotRetain": "snapshot_retain",
        "backupEnabled": "backup_enabled",
        "backupCron": "backup_cron",
        "backupRetain": "backup_retain",
    }
    if not isinstance(value, dict):
        problems.add("backup", "must be an object", fix)
        return None
    unknown = sorted(set(value) - set(fields))
    if unknown:
        problems.add("backup", f"unknown field(s) {', '.join(unknown)}", fix)
        return None
    policy = BackupPolicy(**{fields[key]: item for key, item in value.items()})
    for key in ("snapshotCron", "backupCron"):
        cron = getattr(policy, fields[key])
        if not isinstance(cron, str) or not _CRON_RE.match(cron.strip()):
            problems.add("backup", f"{key} {cron!r} is not a five-field cron schedule", fix)
            return None
    for key in ("snapshotRetain", "backupRetain"):
        retain = getattr(policy, fields[key])
        if isinstance(retain, bool) or not isinstance(retain, int) or not 1 <= retain <= 100:
            problems.add("backup", f"{key} must be a number from 1 to 100", fix)
            return None
    if not isinstance(policy.backup_enabled, bool):
        problems.add("backup", "backupEnabled must be true or false", fix)
        return None
    if not isinstance(policy.longhorn_namespace, str) or not _LABEL_RE.match(
        policy.longhorn_namespace
    ):
        problems.add("backup", "longhornNamespace must be a namespace name", fix)
        return None
    return policy


def _check_pinned_image(key: str) -> Callable[[str, _Problems], None]:
    def check(value: str, problems: _Problems) -> None:
        match = _IMAGE_RE.match(value)
        tag = match["tag"] if match else None
        if match is None or (tag in (None, "latest") and match["digest"] is None):
            problems.add(
                key,
                f"'{value}' is not a pinned image (a tag other than latest, or a digest)",
                _set_cmd(key, DEFAULT_RECONCILER_IMAGE),
            )

    return check


def _check_accounts_across(values: dict[str, Any], domain: str, problems: _Problems) -> None:
    accounts: list[ServiceAccountSetting] = list(values.get("serviceAccounts") or [])
    resolved: list[ServiceAccountSetting] = []
    names: set[str] = set()
    emails: set[str] = set()
    targets: set[tuple[str, str, str]] = set()
    for account in accounts:
        email = account.email or f"{account.name}@{domain}"
        target = (
            account.credentials.namespace,
            account.credentials.secret_name,
            account.credentials.key,
        )
        where = f"account {account.name}"
        if email.rpartition("@")[2].lower() != domain:
            problems.add(
                "serviceAccounts",
                f"{where}: {email} is outside {domain}; Stalwart only accepts addresses of its "
                "domain principal",
                f"leave email unset (it defaults to {account.name}@{domain})",
            )
        elif account.name in names:
            problems.add("serviceAccounts", f"{where} appears twice", "remove the duplicate")
        elif email in emails:
            problems.add(
                "serviceAccounts",
                f"{where}: {email} is used by another account",
                "give each account its own address",
            )
        elif target in targets:
            problems.add(
                "serviceAccounts",
                f"{where}: {target[0]}/{target[1]} key {target[2]} already receives another "
                "account's password",
                "give each account its own Secret key",
            )
        names.add(account.name)
        emails.add(email)
        targets.add(target)
        resolved.append(dataclasses.replace(account, email=email))
    values["serviceAccounts"] = tuple(resolved)


_CHECKS: dict[str, Callable[[Any, _Problems], Any]] = {
    "domain": _check_domain,
    "webmailHostname": lambda v, p: _check_label("webmailHostname", v, p, "public webmail host"),
    "tailnetHostname": lambda v, p: _check_label("tailnetHostname", v, p, "Tailscale host"),
    "namespace": lambda v, p: _check_label("namespace", v, p, "namespace"),
    "image": _check_image,
    "storageClass": lambda v, p: _check_subdomain("storageClass", v, p, "longhorn"),
    "storageSize": _check_storage_size,
    "resendApiKey": _check_resend_api_key,
    "adminPassword": _check_admin_password,
    "cloudflareAccountId": _check_hex32("cloudflareAccountId", "account ID"),
    "cloudflareZoneId": _check_hex32("cloudflareZoneId", "zone ID"),
    "tunnelId": _check_tunnel_id,
    "tunnelOrigin": _check_tunnel_origin,
    "tunnelRoutes": _check_tunnel_routes,
    "adminEmail": _check_admin_email,
    "resendDkimRecord": _check_dkim,
    "resendRegion": _check_region,
    "dmarc": _check_dmarc,
    "serviceAccounts": _check_service_accounts,
    "reconcilerImage": _check_pinned_image("reconcilerImage"),
    "relay": _check_relay,
    "dataClaimName": lambda v, p: _check_subdomain("dataClaimName", v, p, "stalwart-data"),
    "adopt": _check_adopt,
    "runAsUser": _check_run_as_user,
    "smtpClientNamespaces": _check_namespace_list("smtpClientNamespaces", allow_empty=True),
    "ingressNamespaces": _check_namespace_list("ingressNamespaces", allow_empty=False),
    "backup": _check_backup,
    "authMechanisms": _check_auth_mechanisms,
}
"""Each check adds a problem line or returns the parsed value (None: the raw value is it)."""


def _configured_keys() -> set[str]:
    """Every config key the engine handed to this program, whatever its namespace."""
    return set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.get_config_env())


def _raw(key: str) -> Any:
    return pulumi.runtime.get_config(f"{NAMESPACE}:{key}")


def load_settings() -> Settings:
    """Read and validate every `mailstack:` key; raise SettingsError listing every bad value."""
    problems = _Problems()
    values: dict[str, Any] = {}

    for full_key in sorted(_configured_keys()):
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE or key in KEYS:
            continue
        close = difflib.get_close_matches(key, KEYS, n=1)
        hint = f"did you mean '{NAMESPACE}:{close[0]}'? " if close else ""
        problems.add(
            key,
            "is not a setting of this program",
            f"{hint}remove it with: pulumi config rm {full_key}",
        )

    for key, spec in KEYS.items():
        raw = _raw(key)
        if raw is None or raw == "":
            if spec.required:
                problems.add(
                    key, "is required but not set", _set_cmd(key, _EXAMPLES[key], spec.secret)
                )
            values[key] = spec.default
            continue
        if spec.secret and not pulumi.runtime.is_config_secret(f"{NAMESPACE}:{key}"):
            problems.add(
                key,
                "is stored in plaintext in the stack file",
                f"{_set_cmd(key, '<value>', secret=True)} (this replaces the plaintext value)",
            )
            continue
        value = _structured(raw) if spec.structured else raw
        if not spec.structured and not isinstance(value, str):
            problems.add(key, "must be a string", _set_cmd(key, _EXAMPLES.get(key, "<value>")))
            continue
        before = len(problems.lines)
        parsed = _CHECKS[key](value, problems)
        if len(problems.lines) == before:
            values[key] = value if parsed is None else parsed

    if not problems.lines:
        _check_across(values, problems)
    if problems.lines:
        raise SettingsError(problems.lines)

    return Settings(
        domain=values["domain"],
        admin_password=_secret_or_none(values["adminPassword"]),
        resend_api_key=pulumi.Output.secret(values["resendApiKey"]),
        webmail_hostname=values["webmailHostname"],
        tailnet_hostname=values["tailnetHostname"],
        namespace=values["namespace"],
        image=values["image"],
        storage_class=values["storageClass"],
        storage_size=values["storageSize"],
        cloudflare=CloudflareSettings(
            account_id=values["cloudflareAccountId"],
            zone_id=values["cloudflareZoneId"],
            tunnel_id=values["tunnelId"],
            tunnel_origin=values["tunnelOrigin"],
            tunnel_routes=tuple(values["tunnelRoutes"]),
            admin_email=values["adminEmail"],
            resend_dkim_record=values["resendDkimRecord"],
            resend_region=values["resendRegion"],
            dmarc=values["dmarc"],
        ),
        relay=values["relay"] if isinstance(values["relay"], RelaySetting) else RelaySetting(),
        auth_mechanisms=tuple(values["authMechanisms"]),
        service_accounts=tuple(values["serviceAccounts"]),
        data_claim_name=values["dataClaimName"],
        run_as_user=int(values["runAsUser"]),
        smtp_client_namespaces=tuple(values["smtpClientNamespaces"]),
        ingress_namespaces=tuple(values["ingressNamespaces"]),
        backup=values["backup"] if isinstance(values["backup"], BackupPolicy) else BackupPolicy(),
        adopt=values["adopt"] if isinstance(values["adopt"], Adoption) else Adoption(),
        reconciler_image=values["reconcilerImage"],
    )


def _structured(raw: Any) -> Any:
    """A structured key arrives as JSON text from the CLI; a plain string stays a string."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


_EXAMPLES = {
    "domain": "example.com",
    "resendApiKey": "re_...",
    "cloudflareAccountId": "<32-hex account id>",
    "cloudflareZoneId": "<32-hex zone id>",
    "tunnelId": "<tunnel uuid>",
    "adminEmail": "you@gmail.com",
    "resendDkimRecord": "'p=MIGfMA0...'",
}


def _secret_or_none(value: str | None) -> pulumi.Output[str] | None:
    return None if value is None else pulumi.Output.secret(value)
