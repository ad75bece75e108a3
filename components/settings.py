"""The stack's settings: read once from `pulumi config`, validated into one typed object.

This is the only module that reads configuration. Every bad value is reported as one line that
names the key and the fix, all of them at once, before any resource is registered; the program
raises `SettingsError` (a `pulumi.RunError`, which the Pulumi CLI prints without a traceback).
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

NAMESPACE = "mailstack"

# Stalwart v0.16 replaced config.toml with a JSON data-store file and JMAP settings objects and
# removed the /api endpoints this program renders for (UPGRADING/v0_16.md); only v0.15.x fits.
SUPPORTED_STALWART_MINOR = (0, 15)
DEFAULT_IMAGE = "stalwartlabs/stalwart:v0.15.5"
DEFAULT_STORAGE_SIZE = "10Gi"
# RocksDB, the spam-filter rules and the webadmin bundle need room before the first message.
MIN_STORAGE_BYTES = 1024**3


class SettingsError(pulumi.RunError):
    """Bad stack settings; the message holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


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


_STRING_CHECKS: dict[str, Callable[[str, _Problems], None]] = {
    "domain": _check_domain,
    "webmailHostname": lambda v, p: _check_label("webmailHostname", v, p, "public webmail host"),
    "tailnetHostname": lambda v, p: _check_label("tailnetHostname", v, p, "Tailscale host"),
    "namespace": lambda v, p: _check_label("namespace", v, p, "namespace"),
    "image": _check_image,
    "storageClass": lambda v, p: _check_subdomain("storageClass", v, p, "longhorn"),
    "storageSize": _check_storage_size,
    "resendApiKey": _check_resend_api_key,
    "adminPassword": _check_admin_password,
}


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
                example = "re_..." if key == "resendApiKey" else "example.com"
                problems.add(key, "is required but not set", _set_cmd(key, example, spec.secret))
            values[key] = spec.default
            continue
        if not isinstance(raw, str):
            raw = json.dumps(raw)
        if spec.secret and not pulumi.runtime.is_config_secret(f"{NAMESPACE}:{key}"):
            problems.add(
                key,
                "is stored in plaintext in the stack file",
                f"{_set_cmd(key, '<value>', secret=True)} (this replaces the plaintext value)",
            )
            continue
        _STRING_CHECKS[key](raw, problems)
        values[key] = raw

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
    )


def _secret_or_none(value: str | None) -> pulumi.Output[str] | None:
    return None if value is None else pulumi.Output.secret(value)
