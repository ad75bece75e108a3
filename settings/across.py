"""Rules that involve two settings. They run once every key is valid on its own, report a
problem line, and never rewrite a value (the email default is resolved by the reader)."""

from __future__ import annotations

from typing import Any

from components.cloudflare.resources import import_id_problem
from settings.formats import in_zone
from settings.model import Adoption, ServiceAccount, TunnelRoute
from settings.problems import Problems, set_command


def check_across(values: dict[str, Any], problems: Problems) -> None:
    domain: str = values["domain"]
    email = values["adminEmail"]
    if email.rpartition("@")[2].lower() == domain:
        problems.add(
            "adminEmail",
            f"'{email}' is inside {domain}: the catch-all would forward every message to itself",
            set_command("adminEmail", "you@gmail.com") + " (an address outside the zone)",
        )
    _accounts(values["serviceAccounts"], domain, problems)
    _adopt_ids(values, problems)
    _tunnel_routes(
        values["tunnelRoutes"], f"{values['webmailHostname']}.{domain}", domain, problems
    )


def _accounts(accounts: tuple[ServiceAccount, ...], domain: str, problems: Problems) -> None:
    names: set[str] = set()
    emails: set[str] = set()
    targets: set[tuple[str, str, str]] = set()
    for account in accounts:
        target = (
            account.credentials.namespace,
            account.credentials.secret_name,
            account.credentials.key,
        )
        where = f"account {account.name}"
        if account.email.rpartition("@")[2].lower() != domain:
            problems.add(
                "serviceAccounts",
                f"{where}: {account.email} is outside {domain}; Stalwart only accepts addresses "
                "of its domain principal",
                f"leave email unset (it defaults to {account.name}@{domain})",
            )
        elif account.name in names:
            problems.add("serviceAccounts", f"{where} appears twice", "remove the duplicate")
        elif account.email in emails:
            problems.add(
                "serviceAccounts",
                f"{where}: {account.email} is used by another account",
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
        emails.add(account.email)
        targets.add(target)


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


def _tunnel_routes(
    routes: tuple[TunnelRoute, ...], webmail: str, domain: str, problems: Problems
) -> None:
    seen: set[str] = set()
    for index, route in enumerate(routes, start=1):
        where = f"route {index} ({route.hostname})"
        if not in_zone(route.hostname, domain):
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
