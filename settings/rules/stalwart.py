"""Rules of the Stalwart server's own settings: image, credentials, relay, SASL, identity."""

from __future__ import annotations

import re
from typing import Any

from settings import formats as f
from settings.model import Relay
from settings.problems import NAMESPACE, Check, set_command

AUTH_MECHANISMS = ("plain", "login", "oauthbearer", "xoauth2")
"""What Stalwart accepts in `session.auth.mechanisms` (crates/common/src/config/smtp/session.rs)."""
GENERATIONS = ("0.15", "0.16")
"""The Stalwart generations this program renders: v0.15 (config.toml, /api) and v0.16 (config.json,
JMAP objects applied by the apply Job, incluster/plan_apply.py)."""


def generation_of(image: str) -> str:
    """`0.15` or `0.16` for an image the image rule accepted."""
    match = f.IMAGE_RE.fullmatch(image)
    version = f.VERSION_TAG_RE.fullmatch(match["tag"]) if match and match["tag"] else None
    if version is None:
        raise ValueError(f"not a checked Stalwart image: {image}")
    return f"{int(version['major'])}.{int(version['minor'])}"


def image(value: str, check: Check) -> None:
    match = f.IMAGE_RE.fullmatch(value)
    fix = check.set_fix(check.default)
    if match is None:
        check.bad(f"'{value}' is not an image reference", fix)
        return
    tag, digest = match["tag"], match["digest"]
    if tag is None and digest is not None:
        check.bad(
            f"'{value}' has a digest but no version tag, so the program cannot tell which "
            "Stalwart generation it renders for",
            f"keep the digest and add the release: {match['repo']}:v0.16.N@{digest}",
        )
        return
    if tag is None:
        check.bad(f"'{value}' has no tag, which means 'latest'", fix)
        return
    version = f.VERSION_TAG_RE.fullmatch(tag)
    if version is None:
        check.bad(
            f"tag '{tag}' is not a pinned Stalwart release (v0.15.x or v0.16.x); "
            "'latest' moves to every new release",
            fix,
        )
        return
    generation = f"{int(version['major'])}.{int(version['minor'])}"
    if not tag.startswith("v"):
        # .github/workflows/ci.yml upstream: the image tags are the git tags (`v0.16.18`) and
        # `v{major}.{minor}`; no tag without the v is published.
        check.bad(
            f"tag '{tag}' is not one Stalwart publishes: its release tags begin with v",
            check.set_fix(f"{match['repo']}:v{tag}" + (f"@{digest}" if digest else "")),
        )
    elif generation not in GENERATIONS:
        older = (int(version["major"]), int(version["minor"])) < (0, 15)
        check.bad(
            f"tag '{tag}' is Stalwart {generation}, "
            + (
                "older than v0.15; upgrade it to v0.15 first (UPGRADING/v0_15.md upstream)"
                if older
                else "which this program does not render (it renders v0.15.x and v0.16.x)"
            ),
            fix,
        )
    elif version["patch"] is None and digest is None:
        check.bad(
            f"tag '{tag}' moves with every v{generation} patch release; pin a patch release",
            check.set_fix(f"{match['repo']}:v{generation}.N"),
        )


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
    shape = "must be an object with host, port, username, implicitTls"
    given = check.object_of(value, check.default, shape, fix)
    if given is None:
        return None
    # Any field may be given alone: the others keep their defaults.
    merged = {**check.default, **given}
    host, port = merged["host"], merged["port"]
    username, implicit = merged["username"], merged["implicitTls"]
    if not isinstance(host, str) or not f.SUBDOMAIN_RE.fullmatch(host):
        check.bad(f"host {host!r} is not a hostname", fix)
    elif isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        check.bad(f"port {port!r} is not a TCP port", fix)
    elif port == 25:
        check.bad("port 25 is blocked on the cluster's network", "use 465 or 587")
    elif not isinstance(username, str) or not username:
        check.bad("username must be a non-empty string", fix)
    elif "%{" in username or any(ch < " " or ch == "\x7f" for ch in username):
        # Stalwart v0.15 expands %{file:...}% and %{env:...}% in every config value: a macro in
        # the username would send a file of the pod to the relay host.
        check.bad(
            "username holds Stalwart's macro syntax '%{' or a control character",
            "give the relay's plain username (the password is mailstack:resendApiKey)",
        )
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
    if not f.digits(value) or not 0 <= int(value) <= 2**31 - 1:
        check.bad(
            f"'{value}' is not a numeric user id",
            check.set_fix("2000") + " (or 0 to keep Stalwart running as root)",
        )
        return None
    return int(value)
