"""From an OpenTofu state to this program's Cloudflare import ids (`make import-plan`).

    python -m migration.import_plan --tfstate state.json --out import.json \
        [--adopt-out adopt.yaml] [--domain example.com] [--stack-file Pulumi.prod.yaml]

Reads a state file of format version 4 (what `tofu state pull` prints) and finds the runbook's
Cloudflare resources by what they are, never by their OpenTofu names (which differ between
homelabs): the webmail CNAME (`<webmailHostname>` → `<tunnel>.cfargotunnel.com`), the four
Resend records (DKIM TXT `resend._domainkey`, MX `send` → `feedback-smtp.<region>.amazonses.com`,
SPF TXT `send`, DMARC TXT `_dmarc`), the Email Routing settings, catch-all and destination (the
one the catch-all forwards to), and the tunnel configuration that routes the webmail host.
Provider v5 (`cloudflare_dns_record`, FQDN names) and v4 (`cloudflare_record`, relative names,
`cloudflare_tunnel_config`) states are both understood. `EmailRoutingDns` has no OpenTofu
counterpart; it is imported with the zone id of the settings resource.

It writes
- `--adopt-out` (default `adopt.yaml` next to `--out`): the `mailstack:adopt.cloudflare` mapping
  for Pulumi.prod.yaml. This is the primary path (MIGRATING.md): the program imports each listed
  resource with the `import` resource option on the first `pulumi up`, next to the namespace and
  the data PVC.
- `--out`: the same ids as a `pulumi import --file` JSON, the alternative for Cloudflare only.

Decision on parents in the import file: the program creates its Cloudflare resources as children
of three components (`webmail-tunnel`, `email-routing`, `resend-dns`), so their URNs carry the
component type (`...::mailstack:cloudflare:TunnelRoute$cloudflare:index/dnsRecord:DnsRecord::
webmail-tunnel-cname`). An entry without `parent` would be imported under a root URN that the
program never registers: the next `pulumi up` would create a second copy and delete the imported
one. So the file lists the three components first as `"component": true` entries (no id; the
engine creates them empty, Pulumi >= 3.94) and every resource names its component in `parent`
(a name of another entry, so no `nameTable` and no URN has to be known in advance). Run it with
`pulumi import --file import.json --protect=false --generate-code=false`: the program's code
already exists, and it does not protect its Cloudflare resources.

It prints what it found, what stays in OpenTofu (with addresses), the tunnel's other routes as
`mailstack:tunnelRoutes`, differences from the stack file, and the `tofu state rm` commands for
the moved resources (to run only after a successful `pulumi up`). A state it does not understand
gives one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DNS_TYPES = frozenset({"cloudflare_dns_record", "cloudflare_record"})
TUNNEL_CONFIG_TYPES = frozenset(
    {"cloudflare_zero_trust_tunnel_cloudflared_config", "cloudflare_tunnel_config"}
)
TUNNEL_TYPES = frozenset({"cloudflare_zero_trust_tunnel_cloudflared", "cloudflare_tunnel"})
SETTINGS_TYPE = "cloudflare_email_routing_settings"
ADDRESS_TYPE = "cloudflare_email_routing_address"
CATCH_ALL_TYPE = "cloudflare_email_routing_catch_all"

TUNNEL_COMPONENT = ("mailstack:cloudflare:TunnelRoute", "webmail-tunnel")
ROUTING_COMPONENT = ("mailstack:cloudflare:EmailRouting", "email-routing")
RESEND_COMPONENT = ("mailstack:cloudflare:ResendDns", "resend-dns")
COMPONENTS = (TUNNEL_COMPONENT, ROUTING_COMPONENT, RESEND_COMPONENT)

DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
BOUNCE_MX_RE = re.compile(r"^feedback-smtp\.([a-z0-9-]+)\.amazonses\.com\.?$")
TUNNEL_CNAME_RE = re.compile(r"^([0-9a-f-]{36})\.cfargotunnel\.com\.?$")

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
DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class PlanError(Exception):
    """A state (or stack file) this tool does not understand; the message is one line."""


@dataclass(frozen=True)
class Instance:
    """One resource instance of the state, with its OpenTofu address."""

    address: str
    type: str
    attributes: dict[str, Any]

    def attr(self, name: str) -> str:
        value = self.attributes.get(name)
        return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class Role:
    """One resource of this program, and how it is found in the state."""

    key: str
    """Key under `mailstack:adopt.cloudflare`."""
    type: str
    name: str
    parent: tuple[str, str]
    what: str
    """What the state must hold, for messages."""


ROLES = (
    Role(
        "webmailTunnelConfig",
        "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig",
        "webmail-tunnel-config",
        TUNNEL_COMPONENT,
        "the tunnel configuration with a route for {webmail}",
    ),
    Role(
        "webmailCname",
        DNS_RECORD,
        "webmail-tunnel-cname",
        TUNNEL_COMPONENT,
        "the CNAME {webmail} -> <tunnel>.cfargotunnel.com",
    ),
    Role(
        "emailRoutingSettings",
        "cloudflare:index/emailRoutingSettings:EmailRoutingSettings",
        "email-routing-settings",
        ROUTING_COMPONENT,
        "the Email Routing settings (cloudflare_email_routing_settings)",
    ),
    Role(
        "emailRoutingDns",
        "cloudflare:index/emailRoutingDns:EmailRoutingDns",
        "email-routing-dns",
        ROUTING_COMPONENT,
        "the Email Routing settings (their zone id)",
    ),
    Role(
        "emailRoutingAddress",
        "cloudflare:index/emailRoutingAddress:EmailRoutingAddress",
        "email-routing-admin-address",
        ROUTING_COMPONENT,
        "the Email Routing destination address of the catch-all",
    ),
    Role(
        "emailRoutingCatchAll",
        "cloudflare:index/emailRoutingCatchAll:EmailRoutingCatchAll",
        "email-routing-catch-all",
        ROUTING_COMPONENT,
        "the Email Routing catch-all (cloudflare_email_routing_catch_all)",
    ),
    Role(
        "resendDkim",
        DNS_RECORD,
        "resend-dns-dkim",
        RESEND_COMPONENT,
        "the TXT resend._domainkey.{domain}",
    ),
    Role(
        "resendBounceMx",
        DNS_RECORD,
        "resend-dns-bounce-mx",
        RESEND_COMPONENT,
        "the MX send.{domain} -> feedback-smtp.<region>.amazonses.com",
    ),
    Role(
        "resendSpf",
        DNS_RECORD,
        "resend-dns-spf",
        RESEND_COMPONENT,
        "the TXT send.{domain} v=spf1 include:amazonses.com",
    ),
    Role(
        "resendDmarc",
        DNS_RECORD,
        "resend-dns-dmarc",
        RESEND_COMPONENT,
        "the TXT _dmarc.{domain} v=DMARC1",
    ),
)
ROLE_BY_KEY = {role.key: role for role in ROLES}


@dataclass(frozen=True)
class StackSettings:
    """What the tool reads from the stack file (only to name hosts and to compare)."""

    domain: str
    webmail_label: str = "mail"
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def webmail_fqdn(self) -> str:
        return f"{self.webmail_label}.{self.domain}"


@dataclass
class Plan:
    import_ids: dict[str, str]
    """Role key → import id, in ROLES order."""
    moved: dict[str, str]
    """Role key → OpenTofu address (EmailRoutingDns has none)."""
    leftovers: list[tuple[str, str]]
    """(address, description) of every managed instance that stays in OpenTofu."""
    tunnel_routes: list[dict[str, Any]]
    """The tunnel's other routes, in `mailstack:tunnelRoutes` form."""
    warnings: list[str]

    def import_file(self) -> dict[str, Any]:
        resources: list[dict[str, Any]] = [
            {"type": typ, "name": name, "component": True} for typ, name in COMPONENTS
        ]
        for role in ROLES:
            resources.append(
                {
                    "type": role.type,
                    "name": role.name,
                    "id": self.import_ids[role.key],
                    "parent": role.parent[1],
                }
            )
        return {"resources": resources}

    def adopt_yaml(self, source: str) -> str:
        mapping = {"mailstack:adopt": {"kubernetes": True, "cloudflare": dict(self.import_ids)}}
        body = yaml.safe_dump(mapping, sort_keys=False, default_flow_style=False)
        return "\n".join(
            [
                f"# Written by `make import-plan` from {source}. Paste under `config:` in",
                "# Pulumi.prod.yaml (indented two spaces), with the existing claim's name:",
                "# mailstack:dataClaimName: <kubectl -n stalwart get pvc>",
                *body.splitlines(),
                "",
            ]
        )

    def state_rm_commands(self) -> list[str]:
        return [f"tofu state rm {_shell_quote(address)}" for address in self.moved.values()]


# --- reading ---------------------------------------------------------------------------------


def load_state(path: Path) -> list[Instance]:
    """The managed resource instances of a v4 state file, with their addresses."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise PlanError(f"cannot read {path}: {err.strerror}") from err
    try:
        state = json.loads(text)
    except json.JSONDecodeError as err:
        raise PlanError(
            f"{path} is not JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
            "give it the output of `tofu state pull`"
        ) from err
    if not isinstance(state, dict) or "version" not in state:
        raise PlanError(f"{path} is not an OpenTofu state (no top-level `version`)")
    if state["version"] != 4:
        raise PlanError(
            f"{path} has state format version {state['version']!r}, expected 4 "
            "(`tofu state pull` of OpenTofu or Terraform >= 0.12)"
        )
    resources = state.get("resources")
    if not isinstance(resources, list) or not resources:
        raise PlanError(
            f"{path} has no resources: pull it in the OpenTofu directory that owns the "
            "Cloudflare records (`tofu state pull > state.json`)"
        )
    instances: list[Instance] = []
    for resource in resources:
        if not isinstance(resource, dict) or resource.get("mode", "managed") != "managed":
            continue
        typ, name = str(resource.get("type", "")), str(resource.get("name", ""))
        module = resource.get("module")
        base = f"{module}.{typ}.{name}" if module else f"{typ}.{name}"
        for instance in resource.get("instances") or []:
            if not isinstance(instance, dict):
                continue
            attributes = instance.get("attributes")
            address = base + _index(instance.get("index_key"))
            instances.append(
                Instance(address, typ, attributes if isinstance(attributes, dict) else {})
            )
    return instances


def load_stack(path: Path, domain: str | None) -> StackSettings:
    config: dict[str, Any] = {}
    if path.exists():
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise PlanError(f"{path} is not YAML: {str(err).splitlines()[0]}") from err
        if isinstance(document, dict) and isinstance(document.get("config"), dict):
            config = document["config"]
    elif domain is None:
        raise PlanError(f"no --domain given and there is no stack file {path}")
    chosen = domain or config.get("mailstack:domain")
    if not isinstance(chosen, str) or not chosen:
        raise PlanError(f"no --domain given and {path} has no mailstack:domain")
    label = config.get("mailstack:webmailHostname", "mail")
    return StackSettings(
        chosen.lower().rstrip("."), label if isinstance(label, str) else "mail", config
    )


# --- recognising -----------------------------------------------------------------------------


def build_plan(instances: Sequence[Instance], stack: StackSettings) -> Plan:
    domain = stack.domain
    records = [i for i in instances if i.type in DNS_TYPES]

    def record_role(record: Instance) -> str | None:
        name, typ, content = _record_name(record, domain), record.attr("type"), _content(record)
        if typ == "CNAME" and name == stack.webmail_label and TUNNEL_CNAME_RE.match(content):
            return "webmailCname"
        if typ == "TXT" and name == "resend._domainkey":
            return "resendDkim"
        if typ == "MX" and name == "send" and BOUNCE_MX_RE.match(content):
            return "resendBounceMx"
        if typ == "TXT" and name == "send" and content.startswith("v=spf1"):
            return "resendSpf" if "include:amazonses.com" in content else None
        if typ == "TXT" and name == "_dmarc" and content.upper().startswith("V=DMARC1"):
            return "resendDmarc"
        return None

    found: dict[str, list[Instance]] = {role.key: [] for role in ROLES}
    for record in records:
        key = record_role(record)
        if key:
            found[key].append(record)
    found["emailRoutingSettings"] = [i for i in instances if i.type == SETTINGS_TYPE]
    found["emailRoutingCatchAll"] = [i for i in instances if i.type == CATCH_ALL_TYPE]

    catch_all = _one(found, "emailRoutingCatchAll", stack)
    destinations = _forward_destinations(catch_all) if catch_all else []
    addresses = [i for i in instances if i.type == ADDRESS_TYPE]
    if destinations:
        wanted = {d.lower() for d in destinations}
        found["emailRoutingAddress"] = [a for a in addresses if a.attr("email").lower() in wanted]
    else:
        found["emailRoutingAddress"] = addresses

    cname = _one(found, "webmailCname", stack)
    cname_tunnel = _cname_tunnel(cname) if cname else ""
    configs = [i for i in instances if i.type in TUNNEL_CONFIG_TYPES]
    routing_webmail = [c for c in configs if stack.webmail_fqdn in _route_hostnames(c)]
    found["webmailTunnelConfig"] = routing_webmail or [
        c for c in configs if cname_tunnel and _tunnel_id(c) == cname_tunnel
    ]

    missing: list[str] = []
    for role in ROLES:
        if role.key == "emailRoutingDns":
            continue
        if not found[role.key]:
            what = role.what.format(webmail=stack.webmail_fqdn, domain=domain)
            if role.key == "emailRoutingAddress" and destinations:
                what += f" ({', '.join(destinations)})"
            missing.append(what)
        elif len(found[role.key]) > 1:
            role_what = role.what.format(webmail=stack.webmail_fqdn, domain=domain)
            addresses_text = ", ".join(i.address for i in found[role.key])
            raise PlanError(f"two candidates for {role_what}: {addresses_text}")
    if missing:
        raise PlanError("missing from the state: " + "; ".join(missing))
    chosen = {key: items[0] for key, items in found.items() if items}

    zones: dict[str, list[str]] = {}
    for key, item in chosen.items():
        if key not in ("webmailTunnelConfig", "emailRoutingAddress"):
            zones.setdefault(item.attr("zone_id"), []).append(item.address)
    if len(zones) > 1:
        parts = [f"{zone or '(none)'} ({', '.join(addrs)})" for zone, addrs in zones.items()]
        raise PlanError("mixed zone ids: " + "; ".join(parts))
    accounts = {
        chosen["webmailTunnelConfig"].attr("account_id"),
        chosen["emailRoutingAddress"].attr("account_id"),
    }
    if len(accounts) > 1:
        raise PlanError(
            "mixed account ids: "
            + "; ".join(
                f"{chosen[key].attr('account_id') or '(none)'} ({chosen[key].address})"
                for key in ("webmailTunnelConfig", "emailRoutingAddress")
            )
        )
    zone_id = next(iter(zones))
    if not zone_id:
        raise PlanError(f"no zone_id in the state for {', '.join(next(iter(zones.values())))}")
    tunnel = chosen["webmailTunnelConfig"]
    address = chosen["emailRoutingAddress"]
    ids = {
        "webmailTunnelConfig": f"{_need(tunnel, 'account_id')}/{_need(tunnel, 'tunnel_id', 'id')}",
        "webmailCname": f"{zone_id}/{_need(chosen['webmailCname'], 'id')}",
        "emailRoutingSettings": zone_id,
        "emailRoutingDns": zone_id,
        "emailRoutingAddress": f"{_need(address, 'account_id')}/{_need(address, 'id', 'tag')}",
        "emailRoutingCatchAll": zone_id,
        **{
            key: f"{zone_id}/{_need(chosen[key], 'id')}"
            for key in ("resendDkim", "resendBounceMx", "resendSpf", "resendDmarc")
        },
    }
    moved = {role.key: chosen[role.key].address for role in ROLES if role.key in chosen}
    leftovers = [
        (i.address, _describe(i)) for i in instances if i.address not in set(moved.values())
    ]
    warnings: list[str] = []
    routes = _other_routes(tunnel, stack.webmail_fqdn, warnings)
    warnings += _compare_with_stack(stack, chosen, ids, routes, cname_tunnel, destinations)
    return Plan({role.key: ids[role.key] for role in ROLES}, moved, leftovers, routes, warnings)


def _one(found: dict[str, list[Instance]], key: str, stack: StackSettings) -> Instance | None:
    items = found[key]
    if len(items) > 1:
        what = ROLE_BY_KEY[key].what.format(webmail=stack.webmail_fqdn, domain=stack.domain)
        raise PlanError(f"two candidates for {what}: {', '.join(i.address for i in items)}")
    return items[0] if items else None


def _need(instance: Instance, *names: str) -> str:
    """The first non-empty attribute of `names` (e.g. v5 `id`, v4 `tag`)."""
    for name in names:
        if instance.attr(name):
            return instance.attr(name)
    raise PlanError(f"no {names[0]} in the state for {instance.address}")


def _index(key: Any) -> str:
    if key is None:
        return ""
    if isinstance(key, int):
        return f"[{key}]"
    return "[" + json.dumps(str(key)) + "]"


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _record_name(record: Instance, domain: str) -> str:
    """The record's name relative to the zone: `mail`, whether stored as `mail` or FQDN."""
    # Provider v4 keeps what the .tf said in `name` and the FQDN in `hostname`.
    name = (record.attr("hostname") or record.attr("name")).lower().rstrip(".")
    if name in (domain, "@"):
        return "@"
    suffix = "." + domain
    return name[: -len(suffix)] if name.endswith(suffix) else name


def _content(record: Instance) -> str:
    content = record.attr("content") or record.attr("value")
    if len(content) >= 2 and content[0] == content[-1] == '"':
        content = content[1:-1]
    return content.strip()


def _cname_tunnel(record: Instance) -> str:
    match = TUNNEL_CNAME_RE.match(_content(record).lower())
    return match.group(1) if match else ""


def _tunnel_id(config: Instance) -> str:
    # v5 stores `id` = `tunnel_id`; v4 had both as well.
    return config.attr("tunnel_id") or config.attr("id")


def _first(value: Any) -> dict[str, Any]:
    """A nested block: an object (provider v5) or a list of one object (provider v4)."""
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, dict) else {}


def _ingress(config: Instance) -> list[dict[str, Any]]:
    block = _first(config.attributes.get("config"))
    rules = block.get("ingress") or block.get("ingress_rule") or []
    return [rule for rule in rules if isinstance(rule, dict)]


def _route_hostnames(config: Instance) -> list[str]:
    return [str(rule.get("hostname") or "").lower() for rule in _ingress(config)]


def _forward_destinations(catch_all: Instance) -> list[str]:
    actions = catch_all.attributes.get("actions") or catch_all.attributes.get("action") or []
    emails: list[str] = []
    for action in actions:
        if isinstance(action, dict) and action.get("type") == "forward":
            emails += [v for v in action.get("value") or [] if isinstance(v, str)]
    return emails


def _describe(instance: Instance) -> str:
    if instance.type in DNS_TYPES:
        name = instance.attr("hostname") or instance.attr("name")
        return f"{instance.attr('type')} {name} -> {_content(instance)}"
    if instance.type in TUNNEL_CONFIG_TYPES:
        return f"configuration of another tunnel, {_tunnel_id(instance)}"
    if instance.type in TUNNEL_TYPES:
        return f"the tunnel {instance.attr('name')} itself: mailstack owns only its route list"
    if instance.type == ADDRESS_TYPE:
        return f"Email Routing destination {instance.attr('email')}"
    return instance.type


def _other_routes(tunnel: Instance, webmail: str, warnings: list[str]) -> list[dict[str, Any]]:
    routes: list[dict[str, Any]] = []
    for rule in _ingress(tunnel):
        hostname = str(rule.get("hostname") or "")
        if not hostname or hostname.lower() == webmail:
            continue
        route: dict[str, Any] = {"hostname": hostname, "service": rule.get("service")}
        if rule.get("path"):
            route["path"] = rule["path"]
        origin = _origin_request(_first(rule.get("origin_request")), hostname, warnings)
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
            access = _first(value)
            if not access.get("team_name") or not access.get("aud_tag"):
                continue
            value = {"aud_tags": list(access["aud_tag"]), "team_name": access["team_name"]}
            if access.get("required"):
                value["required"] = True
        origin[ORIGIN_KEYS[key]] = value
    return origin


def _seconds(duration: str) -> int | str:
    match = DURATION_RE.match(duration.strip())
    if not match or not any(match.groups()):
        return duration
    hours, minutes, seconds = (int(group or 0) for group in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _compare_with_stack(
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
        ("mailstack:tunnelId", _tunnel_id(tunnel)),
    ]
    if destinations:
        checks.append(("mailstack:adminEmail", destinations[0]))
    region = BOUNCE_MX_RE.match(_content(chosen["resendBounceMx"]))
    if region:
        checks.append(("mailstack:resendRegion", region.group(1)))
    defaults = {"mailstack:resendRegion": "us-east-1"}
    for key, value in checks:
        setting = config.get(key, defaults.get(key))
        if setting is None:
            warnings.append(f"{key} is not set in the stack file; the state has {value}")
        elif str(setting).lower() != value.lower():
            warnings.append(f"{key} is {setting} in the stack file but {value} in the state")
    if cname_tunnel and cname_tunnel != _tunnel_id(tunnel).lower():
        warnings.append(
            f"the CNAME {chosen['webmailCname'].address} points at tunnel {cname_tunnel}, "
            f"the configuration is for {_tunnel_id(tunnel)}"
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


# --- output ----------------------------------------------------------------------------------


def report(plan: Plan, stack: StackSettings, out: Path, adopt_out: Path) -> str:
    lines = [f"Found, for {stack.domain} (webmail {stack.webmail_fqdn}):"]
    for role in ROLES:
        source = plan.moved.get(role.key, "(no OpenTofu resource: zone id of the settings)")
        lines.append(f"  {role.name:<29} {plan.import_ids[role.key]:<70} <- {source}")
    lines.append("")
    lines.append("Stays in OpenTofu (not touched by mailstack):")
    lines += [f"  {address}  # {what}" for address, what in plan.leftovers] or ["  (nothing)"]
    lines.append("")
    lines.append("The tunnel's other routes, for mailstack:tunnelRoutes in Pulumi.prod.yaml:")
    if plan.tunnel_routes:
        block = yaml.safe_dump(
            {"mailstack:tunnelRoutes": plan.tunnel_routes}, sort_keys=False, width=1000
        )
        lines += ["  " + line for line in block.splitlines()]
    else:
        lines.append("  mailstack:tunnelRoutes: []")
    if plan.warnings:
        lines.append("")
        lines.append("Check before `pulumi preview`:")
        lines += [f"  - {warning}" for warning in plan.warnings]
    lines.append("")
    lines.append(
        f"Wrote {adopt_out} (mailstack:adopt.cloudflare) and {out} (pulumi import --file)."
    )
    lines.append("")
    lines.append("Only after a successful `pulumi up` has adopted them, drop them from OpenTofu:")
    lines += ["  " + command for command in plan.state_rm_commands()]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None, write: Callable[[str], Any] = sys.stdout.write) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m migration.import_plan",
        description="Map an OpenTofu state's Cloudflare resources to mailstack's import ids.",
    )
    parser.add_argument("--tfstate", required=True, type=Path, help="output of `tofu state pull`")
    parser.add_argument("--out", required=True, type=Path, help="pulumi import --file JSON")
    parser.add_argument("--adopt-out", type=Path, help="default: adopt.yaml next to --out")
    parser.add_argument("--domain", help="default: mailstack:domain of the stack file")
    parser.add_argument("--stack-file", type=Path, default=REPO_ROOT / "Pulumi.prod.yaml")
    args = parser.parse_args(argv)
    adopt_out: Path = args.adopt_out or args.out.with_name("adopt.yaml")
    try:
        stack = load_stack(args.stack_file, args.domain)
        plan = build_plan(load_state(args.tfstate), stack)
        args.out.write_text(json.dumps(plan.import_file(), indent=2) + "\n", encoding="utf-8")
        adopt_out.write_text(plan.adopt_yaml(args.tfstate.name), encoding="utf-8")
    except PlanError as err:
        sys.stderr.write(f"import-plan: error: {err}\n")
        return 2
    except OSError as err:
        sys.stderr.write(f"import-plan: error: cannot write {err.filename}: {err.strerror}\n")
        return 2
    write(report(plan, stack, args.out, adopt_out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
