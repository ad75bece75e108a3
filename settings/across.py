"""Rules that involve two settings. They run once every key is valid on its own, report a
problem line, and never rewrite a value (the email default is resolved by the reader)."""

from __future__ import annotations

from typing import Any

from components.cloudflare.resources import import_id_problem
from components.stalwart.endpoints import TLS_SECRET_NAME
from settings.formats import IMAGE_RE, image_origin, in_zone
from settings.model import Adoption, ServiceAccount, TunnelRoute
from settings.problems import Problems, set_command
from settings.rules.stalwart import generation_of

# Every Secret and workload the stack creates in its namespace (all of them are there) is named
# with one of these prefixes or is the Deployment; tests/settings/test_stack_owned.py holds every
# rendered object of every phase to it.
STACK_PREFIXES = ("stalwart-", "mailstack-", "monitoring-")
STACK_WORKLOADS = ("stalwart",)


def stack_owned(name: str) -> bool:
    """Whether an object name in the stack's namespace is one of the stack's own."""
    return name in STACK_WORKLOADS or name == TLS_SECRET_NAME or name.startswith(STACK_PREFIXES)


# Names the stack publishes itself below the domain (Resend's records): a CNAME there collides.
PUBLISHED_LABELS = {"send": "Resend's bounce MX and SPF records"}


# Images that receive credentials (the admin password, the account passwords) and where their
# publishers push them: Stalwart's CI pushes to index.docker.io and ghcr.io (.github/workflows/
# ci.yml upstream); the official python image is Docker Hub's library/python.
OFFICIAL_IMAGES = {
    "image": ({"docker.io", "ghcr.io"}, "stalwartlabs/stalwart"),
    "reconcilerImage": ({"docker.io"}, "library/python"),
}


def _images(values: dict[str, Any], problems: Problems) -> None:
    mirrors: tuple[str, ...] = values["imageMirrors"]
    for key, (registries, path) in OFFICIAL_IMAGES.items():
        match = IMAGE_RE.fullmatch(values[key])
        assert match is not None  # the key's own rule accepted it
        registry, found = image_origin(match["repo"], mirrors)
        if found == path and (registry in registries or registry in mirrors):
            continue
        official = " or ".join(
            sorted(
                f"{r}/{path}".removeprefix("docker.io/").removeprefix("library/")
                for r in registries
            )
        )
        problems.add(
            key,
            f"'{values[key]}' is not {official} but receives the stack's credentials",
            f"use the official image ({official}), or name your mirror registry in "
            "mailstack:imageMirrors: [registry.lan:5000] and pull "
            f"registry.lan:5000/{path.removeprefix('library/')}",
        )


def check_across(values: dict[str, Any], problems: Problems) -> None:
    _images(values, problems)
    generation = generation_of(values["image"])
    if values["runAsUser"] == 0 and generation == "0.16":
        problems.add(
            "runAsUser",
            "0 would run Stalwart v0.16 as root; its image starts as a non-root user and its "
            "pod must (runAsNonRoot), so root is a v0.15 setting only",
            "pulumi config rm mailstack:runAsUser (the v0.16 image's uid 2000), or give "
            "another non-root uid",
        )
    domain: str = values["domain"]
    email = values["adminEmail"]
    mailbox_domain = email.rpartition("@")[2].lower()
    if in_zone(mailbox_domain, domain):
        problems.add(
            "adminEmail",
            f"'{email}' is inside the zone {domain}: the catch-all would forward every message "
            "to itself",
            set_command("adminEmail", "you@gmail.com") + " (an address outside the zone)",
        )
    webmail = f"{values['webmailHostname']}.{domain}"
    if values["webmailHostname"] in PUBLISHED_LABELS:
        problems.add(
            "webmailHostname",
            f"'{webmail}' already holds {PUBLISHED_LABELS[values['webmailHostname']]}, which a "
            "CNAME cannot share",
            set_command("webmailHostname", "mail"),
        )
    elif len(webmail) > 253:
        problems.add(
            "webmailHostname",
            f"'{webmail}' is longer than the 253 characters DNS allows",
            set_command("webmailHostname", "mail"),
        )
    tls = values["tls"]
    if tls is not None and generation != "0.16":
        problems.add(
            "tls",
            "a cert-manager certificate on 993 is a Stalwart v0.16 feature here (a Certificate "
            "object reading the mounted files); v0.15 keeps its own",
            "pulumi config rm mailstack:tls until the upgrade to v0.16 "
            "(docs/how-to/upgrade-to-v016.md)",
        )
    canary = values["monitoring"].canary_recipient
    if values["monitoring"].enabled and in_zone(canary.rpartition("@")[2].lower(), domain):
        problems.add(
            "monitoring",
            f"canaryRecipient '{canary}' is inside the zone {domain}: the canary would test "
            "the zone's catch-all, not the relay",
            "leave canaryRecipient unset (delivered@resend.dev, Resend's test address) or give "
            "an address outside the zone",
        )
    _accounts(values, domain, problems)
    if values["monitoring"].enabled and any(a.name == "canary" for a in values["serviceAccounts"]):
        problems.add(
            "serviceAccounts",
            "an account is named canary, the name mailstack:monitoring's outbound canary uses",
            "rename that account",
        )
    _adopt_ids(values, problems)
    _tunnel_routes(values["tunnelRoutes"], webmail, problems)


def _accounts(values: dict[str, Any], domain: str, problems: Problems) -> None:
    accounts: tuple[ServiceAccount, ...] = values["serviceAccounts"]
    owned_namespaces = {values["namespace"]}
    names: set[str] = set()
    addresses: set[str] = set()
    targets: set[tuple[str, str, str]] = set()
    created = {
        (a.credentials.namespace, a.credentials.secret_name): a.name
        for a in accounts
        if a.credentials.create
    }
    for account in accounts:
        target = account.credentials
        key = (target.namespace, target.secret_name, target.key)
        where = f"account {account.name}"
        address = account.email.lower()
        owner = created.get((target.namespace, target.secret_name))
        if address.rpartition("@")[2] != domain:
            problems.add(
                "serviceAccounts",
                f"{where}: {account.email} is outside {domain}; Stalwart only accepts addresses "
                "of its domain",
                f"leave email unset (it defaults to {account.name}@{domain})",
            )
        elif account.name == domain:
            problems.add(
                "serviceAccounts",
                f"{where} is named like the domain, whose principal has that name",
                "use a short name such as noreply",
            )
        elif len(address) > 254 or len(address.partition("@")[0]) > 64:
            problems.add(
                "serviceAccounts",
                f"{where}: {address} is longer than an address may be (64 + @ + domain, 254)",
                "use a shorter name",
            )
        elif account.name in names:
            problems.add("serviceAccounts", f"{where} appears twice", "remove the duplicate")
        elif address in addresses or f"{address.partition('@')[0]}" in names - {account.name}:
            problems.add(
                "serviceAccounts",
                f"{where}: {address} is another account's address (case does not count)",
                "give each account its own address",
            )
        elif key in targets:
            problems.add(
                "serviceAccounts",
                f"{where}: {key[0]}/{key[1]} key {key[2]} already receives another account's "
                "password",
                "give each account its own Secret key",
            )
        elif owner is not None and owner != account.name:
            problems.add(
                "serviceAccounts",
                f"{where}: {key[0]}/{key[1]} is the Secret the stack creates for account {owner}",
                "deliver to another Secret, or let that account's Secret hold both keys by "
                "giving both create: false and creating the Secret yourself",
            )
        elif key[0] in owned_namespaces and stack_owned(key[1]):
            problems.add(
                "serviceAccounts",
                f"{where}: {key[0]}/{key[1]} is a Secret the stack itself owns or uses",
                "deliver the password to the consumer's own Secret",
            )
        elif key[0] in owned_namespaces and any(stack_owned(w.name) for w in target.restart):
            workload = next(w for w in target.restart if stack_owned(w.name))
            problems.add(
                "serviceAccounts",
                f"{where}: credentials.restart names {workload.kind} {key[0]}/{workload.name}, "
                "the stack's own workload (a rotation would restart the mail server)",
                "name the consumer's workloads only",
            )
        names.add(account.name)
        addresses.add(address)
        targets.add(key)


def _adopt_ids(values: dict[str, Any], problems: Problems) -> None:
    adoption: Adoption = values["adopt"]
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
    authentik = values["authentik"]
    if adoption.authentik and authentik is None:
        problems.add(
            "adopt",
            "authentik names objects to take over, but mailstack:authentik is not set",
            "set mailstack:authentik: {url: https://auth.example.com}, or remove adopt.authentik",
        )
    elif (
        authentik is not None
        and adoption.authentik.get("application", authentik["slug"]) != (authentik["slug"])
    ):
        # A slug change replaces the application: the adopted one would be deleted after.
        slug = adoption.authentik["application"]
        problems.add(
            "authentik",
            f"slug {authentik['slug']!r} is not the adopted application's {slug!r}",
            f"add slug: {slug} to mailstack:authentik (the application keeps its address)",
        )


def _tunnel_routes(routes: tuple[TunnelRoute, ...], webmail: str, problems: Problems) -> None:
    # Routes of other zones are normal on a shared tunnel: the configuration owns them all.
    seen: set[tuple[str, str | None]] = set()
    for index, route in enumerate(routes, start=1):
        where = f"route {index} ({route.hostname}{route.path or ''})"
        if (route.hostname, route.path) in seen:
            problems.add(
                "tunnelRoutes",
                f"{where} repeats an earlier route (same hostname and path)",
                "remove the duplicate",
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
        seen.add((route.hostname, route.path))
