"""The stack's settings: read once from `pulumi config`, validated into one typed object.

This package is the only code that reads configuration. Every bad value is reported as one line
that names the key and the fix, all of them at once, before any resource is registered; the
program raises `SettingsError` (a `pulumi.RunError`, which the Pulumi CLI prints without a
traceback). The key table is `settings/keys.py`, the rules `settings/rules/` and
`settings/across.py`, the typed result `settings/model.py`.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from typing import Any

import pulumi

from settings.across import check_across
from settings.generation import plan_data, stopped
from settings.history import read_history
from settings.keys import KEYS, NATS_IMAGE, PSQL_IMAGE, RETIRED, SECRET_PLACEHOLDERS
from settings.model import (
    AuthentikSettings,
    CloudflareSettings,
    ServiceAccount,
    Settings,
    TlsSettings,
)
from settings.problems import NAMESPACE, Check, Problems, SettingsError, set_command
from settings.rules.stalwart import generation_of
from settings.rules.storage import chosen_storage, storage_problems

AUTHENTIK_TOKEN_KEY = "authentik:token"
AUTHENTIK_TOKEN_ENV = "AUTHENTIK_TOKEN"

__all__ = ["KEYS", "NAMESPACE", "SECRET_PLACEHOLDERS", "SettingsError", "load_settings"]


def _configured_keys() -> set[str]:
    """Every config key the engine handed to this program, whatever its namespace."""
    return set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.get_config_env())


def _raw(key: str) -> Any:
    return pulumi.runtime.get_config(f"{NAMESPACE}:{key}")


def _unknown_keys(problems: Problems) -> None:
    for full_key in sorted(_configured_keys()):
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE or key in KEYS:
            continue
        if key in RETIRED:
            problems.add(key, RETIRED[key], f"remove it with: pulumi config rm {full_key}")
            continue
        close = difflib.get_close_matches(key, KEYS, n=1)
        hint = f"did you mean '{NAMESPACE}:{close[0]}'? " if close else ""
        problems.add(
            key,
            "is not a setting of this program",
            f"{hint}remove it with: pulumi config rm {full_key}",
        )


def _parse_keys(problems: Problems) -> dict[str, Any]:
    """Each key's parsed value; a key with a problem is left out."""
    values: dict[str, Any] = {}
    for key, spec in KEYS.items():
        raw = _raw(key)
        if raw is None or raw == "":
            if spec.required:
                problems.add(
                    key, "is required but not set", set_command(key, spec.example, spec.secret)
                )
                continue
            if spec.default is None:
                values[key] = None
                continue
            # Defaults go through the same rule, so every value below is the parsed one.
            value = spec.default
        elif spec.secret and not pulumi.runtime.is_config_secret(f"{NAMESPACE}:{key}"):
            problems.add(
                key,
                "is stored in plaintext in the stack file",
                f"{set_command(key, '<value>', secret=True)} (this replaces the plaintext value)",
            )
            continue
        elif not spec.secret and pulumi.runtime.is_config_secret(f"{NAMESPACE}:{key}"):
            # The program would put it into plain resources (DNS records, ConfigMaps, labels):
            # whoever encrypted it meant it to stay secret, so it is not used at all.
            problems.add(
                key,
                "is stored as a secret, but the program writes it into plain resources",
                f"pulumi config set {NAMESPACE}:{key} <value> (without --secret), or remove it",
            )
            continue
        else:
            value = _structured(raw) if spec.structured else raw
        check = Check(key, problems, spec.default, spec.item_defaults)
        before = check.count
        parsed = spec.rule(value, check)
        if spec.secret:
            _hide(problems, before, raw)
        if check.count == before:
            values[key] = value if parsed is None else parsed
    return values


def _hide(problems: Problems, since: int, raw: Any) -> None:
    """A rule never means to quote a secret; this makes sure of it, in every form it may take."""
    if not isinstance(raw, str) or not raw:
        return
    forms = {raw, repr(raw), json.dumps(raw), raw.strip()}
    for index in range(since, len(problems.lines)):
        for form in sorted((f for f in forms if f), key=len, reverse=True):
            problems.lines[index] = problems.lines[index].replace(form, "<secret>")


# Provider settings that hold credentials (docs/getting-started/first-deploy.md): they are secret
# too.
PROVIDER_SECRETS = {
    "cloudflare:apiToken": "CLOUDFLARE_API_TOKEN",
    "cloudflare:apiKey": "CLOUDFLARE_API_TOKEN",
    "cloudflare:apiUserServiceKey": "CLOUDFLARE_API_TOKEN",
    AUTHENTIK_TOKEN_KEY: AUTHENTIK_TOKEN_ENV,
}


def _provider_secrets(problems: Problems) -> None:
    for full_key, variable in PROVIDER_SECRETS.items():
        if full_key in _configured_keys() and not pulumi.runtime.is_config_secret(full_key):
            problems.lines.append(
                f"{full_key}: is stored in plaintext in the stack file. Fix: pulumi config set "
                f"--secret {full_key} <value> (this replaces the plaintext value), or remove it "
                f"and export {variable}."
            )


def _unused_secrets(values: dict[str, Any], phase: str | None, problems: Problems) -> None:
    """A secret setting without the setting that uses it: kept in the stack file for nothing."""
    if values["upgradeExport"] is not None and phase != "recover":
        problems.warn(
            "upgradeExport",
            "is set but only the upgrade's phase recover reads it; it holds every account's "
            "password hash" + (" and the upgrade is over" if phase is None else ""),
            f"pulumi config rm {NAMESPACE}:upgradeExport once the upgrade is done "
            f"(docs/how-to/upgrade-to-v016.md)",
        )
    if values["authentik"] is None and pulumi.runtime.get_config(AUTHENTIK_TOKEN_KEY):
        problems.warn(
            "authentik",
            f"is not set, so {AUTHENTIK_TOKEN_KEY} is not used",
            f"pulumi config rm {AUTHENTIK_TOKEN_KEY}, or set mailstack:authentik",
        )


def _authentik(values: dict[str, Any], problems: Problems) -> AuthentikSettings | None:
    """`mailstack:authentik` with its API token: `authentik:token` (secret), else the
    AUTHENTIK_TOKEN environment variable (CI passes its secret that way)."""
    parsed = values["authentik"]
    if parsed is None:
        return None
    token = pulumi.runtime.get_config(AUTHENTIK_TOKEN_KEY) or os.environ.get(AUTHENTIK_TOKEN_ENV)
    if not token or not str(token).strip():
        problems.add(
            "authentik",
            "is set, but there is no API token for Authentik",
            f"pulumi config set --secret {AUTHENTIK_TOKEN_KEY} (Pulumi asks for the value), or "
            f"export {AUTHENTIK_TOKEN_ENV} (docs/how-to/authentik.md lists the permissions it "
            f"needs)",
        )
        return None
    return AuthentikSettings(
        url=parsed["url"],
        token=pulumi.Output.secret(str(token).strip()),
        outpost=parsed["outpost"],
        authorization_flow=parsed["authorizationFlow"],
        invalidation_flow=parsed["invalidationFlow"],
        groups=parsed["groups"],
        slug=parsed["slug"],
        name=parsed["name"],
    )


def load_settings() -> Settings:
    """Read and validate every `mailstack:` key; raise SettingsError listing every bad value."""
    problems = Problems()
    _unknown_keys(problems)
    _provider_secrets(problems)
    values = _parse_keys(problems)
    if not problems.lines:
        values["serviceAccounts"] = _with_addresses(values["serviceAccounts"], values["domain"])
        check_across(values, problems)
    if problems.lines:
        raise SettingsError(problems.lines)
    authentik = _authentik(values, problems)
    if problems.lines:
        raise SettingsError(problems.lines)
    generation = generation_of(values["image"])
    history = read_history()
    data = plan_data(values, generation, history, problems)
    chosen = chosen_storage(
        values["storage"],
        values["replicas"],
        values["storageMove"],
        NATS_IMAGE,
        PSQL_IMAGE,
        history,
    )
    storage_problems(chosen, generation, values["upgrade"] is not None, history, problems)
    if data is None or problems.lines:
        raise SettingsError(problems.lines)
    if chosen.moving:
        # The copy runs with no Stalwart pod: the server that serves stops (its claim stays).
        data = stopped(data)
    _unused_secrets(values, data.phase, problems)
    for warning in problems.warnings:
        pulumi.log.warn(warning)

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
            tunnel_routes=values["tunnelRoutes"],
            admin_email=values["adminEmail"],
            resend_dkim_record=values["resendDkimRecord"],
            resend_region=values["resendRegion"],
            dmarc=values["dmarc"],
        ),
        relay=values["relay"],
        auth_mechanisms=values["authMechanisms"],
        service_accounts=values["serviceAccounts"],
        data_claim_name=values["dataClaimName"],
        run_as_user=values["runAsUser"],
        smtp_client_namespaces=values["smtpClientNamespaces"],
        ingress_namespaces=values["ingressNamespaces"],
        backup=values["backup"],
        adopt=values["adopt"],
        reconciler_image=values["reconcilerImage"],
        generation=generation,
        data=data,
        upgrade_export=_secret_or_none(values["upgradeExport"]),
        authentik=authentik,
        monitoring=values["monitoring"],
        tls=_with_default_names(values["tls"], f"{values['webmailHostname']}.{values['domain']}"),
        storage=chosen,
    )


def _with_default_names(tls: TlsSettings | None, webmail: str) -> TlsSettings | None:
    """`mailstack:tls` without dnsNames covers the webmail host, the name clients already use."""
    if tls is None or tls.dns_names:
        return tls
    return dataclasses.replace(tls, dns_names=(webmail,))


def _with_addresses(
    accounts: tuple[ServiceAccount, ...], domain: str
) -> tuple[ServiceAccount, ...]:
    """An account without `email` gets `<name>@<domain>` (a default that needs another key)."""
    return tuple(
        account if account.email else dataclasses.replace(account, email=f"{account.name}@{domain}")
        for account in accounts
    )


def _structured(raw: Any) -> Any:
    """A structured key arrives as JSON text from the CLI; a plain string stays a string."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _secret_or_none(value: str | None) -> pulumi.Output[str] | None:
    return None if value is None else pulumi.Output.secret(value)
