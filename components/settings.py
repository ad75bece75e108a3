"""The stack's settings: read once from `pulumi config`, validated into one typed object.

This is the only module that reads configuration. Every bad value is reported as one line that
names the key and the fix, all of them at once, before any resource is registered; the program
raises `SettingsError` (a `pulumi.RunError`, which the Pulumi CLI prints without a traceback).
The rules are in `components/settings_checks.py`, the typed result in `settings_model.py`.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

import pulumi

from components.settings_checks import CHECKS, Problems, check_across, parse_quantity, set_command
from components.settings_model import (
    DEFAULT_DMARC,
    DEFAULT_IMAGE,
    DEFAULT_RECONCILER_IMAGE,
    DEFAULT_STORAGE_SIZE,
    DEFAULT_TUNNEL_ORIGIN,
    NAMESPACE,
    ORIGIN_REQUEST_KEYS,
    CloudflareSettings,
    CredentialsTarget,
    RelaySetting,
    ServiceAccountSetting,
    Settings,
    SettingsError,
    TunnelRouteSetting,
)
from components.stalwart_config import AUTH_MECHANISMS

__all__ = [
    "KEYS",
    "NAMESPACE",
    "ORIGIN_REQUEST_KEYS",
    "SECRET_PLACEHOLDERS",
    "CloudflareSettings",
    "CredentialsTarget",
    "RelaySetting",
    "ServiceAccountSetting",
    "Settings",
    "SettingsError",
    "TunnelRouteSetting",
    "load_settings",
    "parse_quantity",
]


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


def _configured_keys() -> set[str]:
    """Every config key the engine handed to this program, whatever its namespace."""
    return set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.get_config_env())


def _raw(key: str) -> Any:
    return pulumi.runtime.get_config(f"{NAMESPACE}:{key}")


def load_settings() -> Settings:
    """Read and validate every `mailstack:` key; raise SettingsError listing every bad value."""
    problems = Problems()
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
                    key, "is required but not set", set_command(key, _EXAMPLES[key], spec.secret)
                )
                continue
            if spec.default is None:
                values[key] = None
                continue
            # Defaults go through the same check, so every value below is the parsed one.
            value = spec.default
        elif spec.secret and not pulumi.runtime.is_config_secret(f"{NAMESPACE}:{key}"):
            problems.add(
                key,
                "is stored in plaintext in the stack file",
                f"{set_command(key, '<value>', secret=True)} (this replaces the plaintext value)",
            )
            continue
        else:
            value = _structured(raw) if spec.structured else raw
        before = len(problems.lines)
        parsed = CHECKS[key](value, problems)
        if len(problems.lines) == before:
            values[key] = value if parsed is None else parsed

    if not problems.lines:
        check_across(values, problems)
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
