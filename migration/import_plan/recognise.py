"""Recognising the runbook's Cloudflare resources in a state by what they are, never by their
OpenTofu names (which differ between homelabs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from components.cloudflare.resources import RESOURCES, CloudflareResource
from migration.import_plan.compare import compare_with_stack
from migration.import_plan.report import Plan
from migration.import_plan.state import (
    BOUNCE_MX_RE,
    TUNNEL_CNAME_RE,
    Instance,
    PlanError,
    StackSettings,
    content,
    tunnel_id,
)
from migration.import_plan.tunnel import other_routes, route_hostnames

DNS_TYPES = frozenset({"cloudflare_dns_record", "cloudflare_record"})
TUNNEL_CONFIG_TYPES = frozenset(
    {"cloudflare_zero_trust_tunnel_cloudflared_config", "cloudflare_tunnel_config"}
)
TUNNEL_TYPES = frozenset({"cloudflare_zero_trust_tunnel_cloudflared", "cloudflare_tunnel"})
SETTINGS_TYPE = "cloudflare_email_routing_settings"
ADDRESS_TYPE = "cloudflare_email_routing_address"
CATCH_ALL_TYPE = "cloudflare_email_routing_catch_all"


@dataclass(frozen=True)
class Role:
    """One resource of this program (its identity), and what the state must hold for it."""

    resource: CloudflareResource
    what: str
    """What the state must hold, for messages."""

    @property
    def key(self) -> str:
        return self.resource.adopt_key

    @property
    def name(self) -> str:
        return self.resource.name


_WHAT = {
    "webmailTunnelConfig": "the tunnel configuration with a route for {webmail}",
    "webmailCname": "the CNAME {webmail} -> <tunnel>.cfargotunnel.com",
    "emailRoutingSettings": "the Email Routing settings (cloudflare_email_routing_settings)",
    "emailRoutingDns": "the Email Routing settings (their zone id)",
    "emailRoutingAddress": "the Email Routing destination address of the catch-all",
    "emailRoutingCatchAll": "the Email Routing catch-all (cloudflare_email_routing_catch_all)",
    "resendDkim": "the TXT resend._domainkey.{domain}",
    "resendBounceMx": "the MX send.{domain} -> feedback-smtp.<region>.amazonses.com",
    "resendSpf": "the TXT send.{domain} v=spf1 include:amazonses.com",
    "resendDmarc": "the TXT _dmarc.{domain} v=DMARC1",
}
ROLES = tuple(Role(resource, _WHAT[resource.adopt_key]) for resource in RESOURCES)
ROLE_BY_KEY = {role.key: role for role in ROLES}


def build_plan(instances: Sequence[Instance], stack: StackSettings) -> Plan:
    domain = stack.domain
    records = [i for i in instances if i.type in DNS_TYPES]

    def record_role(record: Instance) -> str | None:
        name, typ = _record_name(record, domain), record.attr("type")
        value = content(record)
        if typ == "CNAME" and name == stack.webmail_label and TUNNEL_CNAME_RE.fullmatch(value):
            return "webmailCname"
        if typ == "TXT" and name == "resend._domainkey":
            return "resendDkim"
        if typ == "MX" and name == "send" and BOUNCE_MX_RE.fullmatch(value):
            return "resendBounceMx"
        if typ == "TXT" and name == "send" and value.startswith("v=spf1"):
            return "resendSpf" if "include:amazonses.com" in value else None
        if typ == "TXT" and name == "_dmarc" and value.upper().startswith("V=DMARC1"):
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
    routing_webmail = [c for c in configs if stack.webmail_fqdn in route_hostnames(c)]
    found["webmailTunnelConfig"] = routing_webmail or [
        c for c in configs if cname_tunnel and tunnel_id(c) == cname_tunnel
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
    routes = other_routes(tunnel, stack.webmail_fqdn, warnings)
    warnings += compare_with_stack(stack, chosen, ids, routes, cname_tunnel, destinations)
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


def _record_name(record: Instance, domain: str) -> str:
    """The record's name relative to the zone: `mail`, whether stored as `mail` or FQDN."""
    # Provider v4 keeps what the .tf said in `name` and the FQDN in `hostname`.
    name = (record.attr("hostname") or record.attr("name")).lower().rstrip(".")
    if name in (domain, "@"):
        return "@"
    suffix = "." + domain
    return name[: -len(suffix)] if name.endswith(suffix) else name


def _cname_tunnel(record: Instance) -> str:
    match = TUNNEL_CNAME_RE.fullmatch(content(record).lower())
    return match.group(1) if match else ""


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
        return f"{instance.attr('type')} {name} -> {content(instance)}"
    if instance.type in TUNNEL_CONFIG_TYPES:
        return f"configuration of another tunnel, {tunnel_id(instance)}"
    if instance.type in TUNNEL_TYPES:
        return f"the tunnel {instance.attr('name')} itself: mailstack owns only its route list"
    if instance.type == ADDRESS_TYPE:
        return f"Email Routing destination {instance.attr('email')}"
    return instance.type
