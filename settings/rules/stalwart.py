"""Rules of the Stalwart server's own settings: image, credentials, relay, SASL, identity."""

from __future__ import annotations

import re
from typing import Any

from settings import formats as f
from settings.model import Relay
from settings.problems import NAMESPACE, Check, set_command

# Stalwart v0.16 replaced config.toml with a JSON data-store file and JMAP settings objects and
# removed the /api endpoints this program renders for (UPGRADING/v0_16.md); only v0.15.x fits.
SUPPORTED_STALWART_MINOR = (0, 15)
AUTH_MECHANISMS = ("plain", "login", "oauthbearer", "xoauth2")
"""What Stalwart accepts in `session.auth.mechanisms` (crates/common/src/config/smtp/session.rs)."""


def image(value: str, check: Check) -> None:
    match = f.IMAGE_RE.match(value)
    fix = check.set_fix(check.default)
    if match is None:
        check.bad(f"'{value}' is not an image reference", fix)
        return
    tag = match["tag"]
    if tag is None:
        check.bad(f"'{value}' has no tag, which means 'latest' (Stalwart v0.16+)", fix)
        return
    version = f.VERSION_TAG_RE.match(tag)
    if version is None:
        check.bad(
            f"tag '{tag}' is not a pinned Stalwart v0.15.x release ('latest' is v0.16+, "
            "whose config model this program does not render)",
            fix,
        )
        return
    minor = (int(version["major"]), int(version["minor"]))
    if minor > SUPPORTED_STALWART_MINOR:
        check.bad(
            f"tag '{tag}' is Stalwart {minor[0]}.{minor[1]}; v0.16 replaced config.toml and the "
            "/api endpoints this program relies on, so only v0.15.x is supported",
            fix,
        )
    elif minor < SUPPORTED_STALWART_MINOR:
        check.bad(
            f"tag '{tag}' is older than v0.15; this program renders the v0.15 configuration", fix
        )
    elif version["patch"] is None and match["digest"] is None:
        check.bad(f"tag '{tag}' moves with every v0.15 patch release; pin a patch release", fix)


def resend_api_key(value: str, check: Check) -> None:
    if not re.fullmatch(r"re_[A-Za-z0-9_]{8,}", value):
        check.bad(
            "the value does not look like a Resend API key (re_ followed by letters and digits)",
            "copy the key from the Resend dashboard, then "
            + set_command(check.key, "re_...", secret=True),
        )


def admin_password(value: str, check: Check) -> None:
    if len(value) < 12 or any(ch in value for ch in "\r\n"):
        check.bad(
            "the password is shorter than 12 characters or spans lines",
            "choose a longer one, or unset the key to let the stack generate one: "
            f"pulumi config rm {NAMESPACE}:{check.key}",
        )


def relay(value: Any, check: Check) -> Relay | None:
    fix = (
        "set the object in the stack file, e.g. mailstack:relay: {host: smtp.resend.com, "
        "port: 465, username: resend, implicitTls: true}"
    )
    if not isinstance(value, dict):
        check.bad("must be an object with host, port, username, implicitTls", fix)
        return None
    unknown = sorted(set(value) - set(check.default))
    # Any field may be given alone: the others keep their defaults.
    merged = {**check.default, **value}
    host, port = merged["host"], merged["port"]
    username, implicit = merged["username"], merged["implicitTls"]
    if unknown:
        check.bad(f"unknown field(s) {', '.join(unknown)}", fix)
    elif not isinstance(host, str) or not f.SUBDOMAIN_RE.match(host):
        check.bad(f"host {host!r} is not a hostname", fix)
    elif isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        check.bad(f"port {port!r} is not a TCP port", fix)
    elif port == 25:
        check.bad("port 25 is blocked on the cluster's network", "use 465 or 587")
    elif not isinstance(username, str) or not username:
        check.bad("username must be a non-empty string", fix)
    elif not isinstance(implicit, bool):
        check.bad("implicitTls must be true or false", fix)
    else:
        return Relay(host, port, username, implicit)
    return None


def auth_mechanisms(value: Any, check: Check) -> tuple[str, ...] | None:
    fix = "mailstack:authMechanisms: [plain, login] (any of " + ", ".join(AUTH_MECHANISMS) + ")"
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(item, str) and item in AUTH_MECHANISMS for item in value)
        or len(set(value)) != len(value)
    ):
        check.bad("must be a non-empty list of distinct SASL mechanisms", fix)
        return None
    if not {"plain", "login"} & set(value):
        check.bad("offers neither plain nor login, so no in-cluster app could authenticate", fix)
        return None
    return tuple(value)


def run_as_user(value: str, check: Check) -> int | None:
    if not value.isdigit() or not 0 <= int(value) <= 2**31 - 1:
        check.bad(
            f"'{value}' is not a numeric user id",
            check.set_fix("2000") + " (or 0 to keep Stalwart running as root)",
        )
        return None
    return int(value)
