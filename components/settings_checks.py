"""The rules of every setting: each check adds one problem line (key, what is wrong, the fix)
or returns the parsed value. No Pulumi calls: `components/settings.py` feeds them raw values.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable
from typing import Any

from components.adoption import CLOUDFLARE_RESOURCES, Adoption, import_id_problem
from components.backup import BackupPolicy
from components.settings_model import (
    DEFAULT_CREDENTIALS_KEY,
    DEFAULT_DMARC,
    DEFAULT_IMAGE,
    DEFAULT_RECONCILER_IMAGE,
    DEFAULT_STORAGE_SIZE,
    DEFAULT_TUNNEL_ORIGIN,
    MIN_STORAGE_BYTES,
    NAMESPACE,
    ORIGIN_REQUEST_KEYS,
    SUPPORTED_STALWART_MINOR,
    CredentialsTarget,
    RelaySetting,
    ServiceAccountSetting,
    TunnelRouteSetting,
)
from components.stalwart_config import AUTH_MECHANISMS

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


class Problems:
    """Collects one line per bad value."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, key: str, problem: str, fix: str) -> None:
        self.lines.append(f"{NAMESPACE}:{key}: {problem}. Fix: {fix}.")


def set_command(key: str, example: str, secret: bool = False) -> str:
    flag = "--secret " if secret else ""
    return f"pulumi config set {flag}{NAMESPACE}:{key} {example}"


def parse_quantity(text: str) -> int | None:
    """Bytes of a Kubernetes quantity such as `10Gi`, or None when it is no quantity."""
    match = _QUANTITY_RE.match(text)
    if match is None:
        return None
    number = float(match["number"])
    return int(number * _QUANTITY_FACTORS[match["suffix"]])


def _check_domain(value: str, problems: Problems) -> None:
    if value != value.lower():
        problems.add(
            "domain", f"'{value}' has uppercase letters", set_command("domain", value.lower())
        )
    elif len(value) > 253 or not _DOMAIN_RE.match(value):
        problems.add(
            "domain",
            f"'{value}' is not a domain name (lowercase labels joined by dots)",
            set_command("domain", "example.com"),
        )


def _check_label(key: str, value: str, problems: Problems, what: str) -> None:
    if "." in value:
        problems.add(
            key,
            f"'{value}' contains a dot; give only the first label of the {what}",
            set_command(key, value.split(".")[0].lower() or "mail"),
        )
    elif value != value.lower():
        problems.add(key, f"'{value}' has uppercase letters", set_command(key, value.lower()))
    elif not _LABEL_RE.match(value):
        problems.add(
            key,
            f"'{value}' is not a DNS label (a-z, 0-9 and '-', at most 63 characters)",
            set_command(key, "mail"),
        )


def _check_image(value: str, problems: Problems) -> None:
    match = _IMAGE_RE.match(value)
    fix = set_command("image", DEFAULT_IMAGE)
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


def _check_storage_size(value: str, problems: Problems) -> None:
    size = parse_quantity(value)
    if size is None:
        problems.add(
            "storageSize",
            f"'{value}' is not a Kubernetes quantity",
            set_command("storageSize", DEFAULT_STORAGE_SIZE),
        )
    elif size < MIN_STORAGE_BYTES:
        problems.add(
            "storageSize",
            f"'{value}' is smaller than 1Gi, too small for the mail store",
            set_command("storageSize", DEFAULT_STORAGE_SIZE),
        )


def _check_subdomain(key: str, value: str, problems: Problems, example: str) -> None:
    if len(value) > 253 or not _SUBDOMAIN_RE.match(value):
        problems.add(
            key,
            f"'{value}' is not a Kubernetes name (lowercase a-z, 0-9, '-' and '.')",
            set_command(key, example),
        )


def _check_resend_api_key(value: str, problems: Problems) -> None:
    if not re.fullmatch(r"re_[A-Za-z0-9_]{8,}", value):
        problems.add(
            "resendApiKey",
            "the value does not look like a Resend API key (re_ followed by letters and digits)",
            "copy the key from the Resend dashboard, then "
            + set_command("resendApiKey", "re_...", secret=True),
        )


def _check_admin_password(value: str, problems: Problems) -> None:
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


def _check_hex32(key: str, what: str) -> Callable[[str, Problems], None]:
    def check(value: str, problems: Problems) -> None:
        if not _HEX32_RE.match(value):
            problems.add(
                key,
                f"'{value}' is not a Cloudflare {what} (32 lowercase hex characters)",
                f"copy it from the Cloudflare dashboard ({what} in the zone's Overview), then "
                + set_command(key, "<id>"),
            )

    return check


def _check_tunnel_id(value: str, problems: Problems) -> None:
    if not _UUID_RE.match(value):
        problems.add(
            "tunnelId",
            f"'{value}' is not a tunnel UUID (lowercase, 8-4-4-4-12 hex)",
            "find it with `cloudflared tunnel list` (the homelab tunnel's ID), then "
            + set_command("tunnelId", "<uuid>"),
        )


def _check_tunnel_origin(value: str, problems: Problems) -> None:
    if not _ORIGIN_RE.match(value):
        problems.add(
            "tunnelOrigin",
            f"'{value}' is not a cloudflared service URL (http://host:port and the like)",
            set_command("tunnelOrigin", DEFAULT_TUNNEL_ORIGIN),
        )


def _check_admin_email(value: str, problems: Problems) -> None:
    if not _EMAIL_RE.match(value):
        problems.add(
            "adminEmail",
            f"'{value}' is not an email address",
            set_command("adminEmail", "you@gmail.com"),
        )


def _check_dkim(value: str, problems: Problems) -> None:
    if not _DKIM_RE.match(value):
        problems.add(
            "resendDkimRecord",
            "the value is not the DKIM record Resend shows ('p=' followed by base64)",
            "copy the TXT value of resend._domainkey from Resend's Domains page, then "
            + set_command("resendDkimRecord", "'p=MIGfMA0...'"),
        )


def _check_region(value: str, problems: Problems) -> None:
    if not _REGION_RE.match(value):
        problems.add(
            "resendRegion",
            f"'{value}' is not a sending region such as us-east-1",
            "use the region of the MX record Resend shows for send.<domain>: "
            + set_command("resendRegion", "us-east-1"),
        )


def _check_dmarc(value: Any, problems: Problems) -> str | None:
    fix = (
        f"{set_command('dmarc', repr(DEFAULT_DMARC))}, or set the object form in the stack file: "
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


def _check_tunnel_routes(value: Any, problems: Problems) -> tuple[TunnelRouteSetting, ...] | None:
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
    value: Any, where: str, hostname: str, problems: Problems
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


def check_across(values: dict[str, Any], problems: Problems) -> None:
    """Rules that involve two settings: run only when each of them is valid on its own."""
    domain = values.get("domain")
    if not domain:
        return
    email = values.get("adminEmail")
    if email and email.rpartition("@")[2].lower() == domain:
        problems.add(
            "adminEmail",
            f"'{email}' is inside {domain}: the catch-all would forward every message to itself",
            set_command("adminEmail", "you@gmail.com") + " (an address outside the zone)",
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
    value: Any, problems: Problems
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


def _credentials(value: Any, where: str, problems: Problems) -> CredentialsTarget | None:
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


def _check_relay(value: Any, problems: Problems) -> RelaySetting | None:
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


def _check_auth_mechanisms(value: Any, problems: Problems) -> tuple[str, ...] | None:
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


def _check_adopt(value: Any, problems: Problems) -> Adoption | None:
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


def _check_run_as_user(value: str, problems: Problems) -> int | None:
    if not value.isdigit() or not 0 <= int(value) <= 2**31 - 1:
        problems.add(
            "runAsUser",
            f"'{value}' is not a numeric user id",
            set_command("runAsUser", "2000") + " (or 0 to keep Stalwart running as root)",
        )
        return None
    return int(value)


def _check_namespace_list(key: str, allow_empty: bool) -> Callable[[Any, Problems], Any]:
    def check(value: Any, problems: Problems) -> tuple[str, ...] | None:
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


def _check_backup(value: Any, problems: Problems) -> BackupPolicy | None:
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


def _check_pinned_image(key: str) -> Callable[[str, Problems], None]:
    def check(value: str, problems: Problems) -> None:
        match = _IMAGE_RE.match(value)
        tag = match["tag"] if match else None
        if match is None or (tag in (None, "latest") and match["digest"] is None):
            problems.add(
                key,
                f"'{value}' is not a pinned image (a tag other than latest, or a digest)",
                set_command(key, DEFAULT_RECONCILER_IMAGE),
            )

    return check


def _check_accounts_across(values: dict[str, Any], domain: str, problems: Problems) -> None:
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


CHECKS: dict[str, Callable[[Any, Problems], Any]] = {
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
