"""Rules of `mailstack:serviceAccounts`: each account's shape and where its password goes."""

from __future__ import annotations

import re
from typing import Any

from components.stalwart.endpoints import ADMIN_USER, ADMINISTRATOR_ACCOUNT
from settings import formats as f
from settings.model import CredentialsTarget, ServiceAccount, Workload
from settings.problems import Check

RESERVED_ACCOUNTS = (ADMIN_USER, ADMINISTRATOR_ACCOUNT)
"""Names a service account may not take: Stalwart's built-in admin and the stack's administrator."""
_ACCOUNT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_FIELDS = {"name", "email", "description", "credentials", "passwordVersion"}
_CREDENTIALS_FIELDS = {"namespace", "secretName", "key", "create", "restart"}
WORKLOAD_KINDS = ("Deployment", "StatefulSet")
# Stalwart stores the description with the stack's marker appended; the WebUI shows one line.
MAX_DESCRIPTION = 200


def service_accounts(value: Any, check: Check) -> tuple[ServiceAccount, ...] | None:
    fix = (
        "see docs/how-to/connect-a-service.md; e.g. mailstack:serviceAccounts: [{name: noreply, "
        "credentials: {namespace: authentik, secretName: authentik-credentials}}]"
    )
    if not isinstance(value, list):
        check.bad("must be a list of accounts", fix)
        return None
    before = check.count
    accounts: list[ServiceAccount] = []
    for index, item in enumerate(value, start=1):
        where = f"account {index}"
        if not isinstance(item, dict):
            check.bad(f"{where} is not an object", fix)
            continue
        name = item.get("name")
        unknown = sorted(set(item) - _FIELDS)
        if unknown:
            check.bad(f"{where} has unknown field(s) {', '.join(unknown)}", fix)
            continue
        if (
            not isinstance(name, str)
            or not _ACCOUNT_NAME_RE.fullmatch(name)
            or name in RESERVED_ACCOUNTS
        ):
            check.bad(
                f"{where}: name {name!r} is not a lowercase account name (or is the reserved "
                f"{' or '.join(map(repr, RESERVED_ACCOUNTS))})",
                "use a short name such as noreply; it is the SMTP username",
            )
            continue
        where = f"account {index} ({name})"
        merged = {**check.defaults_under(), **item}
        email, description = merged["email"], merged["description"]
        version = merged["passwordVersion"]
        if not isinstance(email, str) or (email and not f.EMAIL_RE.fullmatch(email)):
            check.bad(f"{where}: email {email!r} is not an address", fix)
            continue
        if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
            check.bad(
                f"{where}: description must be text of at most {MAX_DESCRIPTION} characters", fix
            )
            continue
        if invisible := f.invisible_character(description):
            check.bad(
                f"{where}: description holds the invisible character "
                f"{invisible} (a line break, a bidirectional override)",
                "write it on one line of visible text",
            )
            continue
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            check.bad(
                f"{where}: passwordVersion must be a positive integer",
                "increase it by one to rotate the account's password",
            )
            continue
        target = _credentials(item.get("credentials"), where, check)
        if target is not None:
            accounts.append(ServiceAccount(name, email, description, target, version))
    if check.count != before:
        return None
    return tuple(accounts)


def _credentials(value: Any, where: str, check: Check) -> CredentialsTarget | None:
    fix = "give credentials: {namespace: <ns>, secretName: <secret>, key: smtp-password}"
    if not isinstance(value, dict):
        check.bad(f"{where}: credentials must be an object", fix)
        return None
    unknown = sorted(set(value) - _CREDENTIALS_FIELDS)
    merged = {**check.defaults_under("credentials"), **value}
    namespace, secret_name = merged.get("namespace"), merged.get("secretName")
    key, create = merged["key"], merged["create"]
    if unknown:
        check.bad(f"{where}: unknown credentials field(s) {', '.join(unknown)}", fix)
    elif not isinstance(namespace, str) or not f.LABEL_RE.fullmatch(namespace):
        check.bad(f"{where}: credentials.namespace {namespace!r} is not a namespace", fix)
    elif not isinstance(secret_name, str) or not f.SUBDOMAIN_RE.fullmatch(secret_name):
        check.bad(f"{where}: credentials.secretName {secret_name!r} is not a Secret name", fix)
    elif not isinstance(key, str) or not f.SECRET_KEY_RE.fullmatch(key):
        check.bad(f"{where}: credentials.key {key!r} is not a Secret key", fix)
    elif not isinstance(create, bool):
        check.bad(f"{where}: credentials.create must be true or false", fix)
    else:
        restart = _workloads(merged["restart"], where, check)
        if restart is not None:
            return CredentialsTarget(namespace, secret_name, key, create, restart)
    return None


def _workloads(value: Any, where: str, check: Check) -> tuple[Workload, ...] | None:
    """`credentials.restart`: the workloads, in the Secret's namespace, that read the password."""
    fix = (
        "give restart: [{kind: Deployment, name: authentik-server}] (Deployment or StatefulSet, "
        "in the Secret's namespace)"
    )
    if not isinstance(value, list):
        check.bad(f"{where}: credentials.restart must be a list of workloads", fix)
        return None
    workloads: list[Workload] = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"kind", "name"}:
            check.bad(f"{where}: each credentials.restart entry is {{kind, name}}", fix)
            return None
        kind, name = item["kind"], item["name"]
        if kind not in WORKLOAD_KINDS:
            check.bad(f"{where}: credentials.restart kind {kind!r} is not one the stack rolls", fix)
            return None
        if not isinstance(name, str) or not f.SUBDOMAIN_RE.fullmatch(name):
            check.bad(f"{where}: credentials.restart name {name!r} is not a workload name", fix)
            return None
        if Workload(kind, name) in workloads:
            check.bad(f"{where}: credentials.restart lists {kind} {name} twice", fix)
            return None
        workloads.append(Workload(kind, name))
    return tuple(workloads)
