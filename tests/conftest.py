"""Shared settings and helpers: every test runs the real program under the mock runtime."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from offline.harness import StackRun, run_program
from settings.model import Relay
from settings.refused import ACCOUNT_ID, ZONE_ID

RESEND_KEY = "re_TestKey0123456789abcdef"
ADMIN_PASSWORD = "correct-horse-battery-staple"

TUNNEL_ID = "c0ffee00-1234-4abc-8def-0123456789ab"
DKIM = "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDtestkey+/AB"

V015_IMAGE = "stalwartlabs/stalwart:v0.15.5"
V016_IMAGE = "stalwartlabs/stalwart:v0.16.18"

BASE_CONFIG: dict[str, Any] = {
    "mailstack:domain": "example.com",
    "mailstack:resendApiKey": RESEND_KEY,
    "mailstack:cloudflareAccountId": ACCOUNT_ID,
    "mailstack:cloudflareZoneId": ZONE_ID,
    "mailstack:tunnelId": TUNNEL_ID,
    "mailstack:adminEmail": "owner@gmail.com",
    "mailstack:resendDkimRecord": DKIM,
    # The running homelab's generation; tests of v0.16 remove the key (the default) or set it.
    "mailstack:image": V015_IMAGE,
}
# The defaults of `mailstack:relay` and `mailstack:authMechanisms` (settings/keys.py).
DEFAULT_RELAY = Relay("smtp.resend.com", 465, "resend", True)
DEFAULT_MECHANISMS = ("plain", "login", "oauthbearer", "xoauth2")
SECRET_KEYS = {"mailstack:resendApiKey", "mailstack:adminPassword", "mailstack:upgradeExport"}

RunStack = Callable[..., StackRun]


def stack_run(
    overrides: dict[str, Any] | None = None,
    remove: tuple[str, ...] = (),
    secret_keys: set[str] | None = None,
    check: bool = True,
    previous_outputs: dict[str, Any] | None = None,
) -> StackRun:
    """Runs __main__.py with the base settings changed by `overrides` (full keys), as the first
    update of a stack unless `previous_outputs` stand for an earlier one."""
    config = {**BASE_CONFIG, **(overrides or {})}
    for key in remove:
        config.pop(key, None)
    return run_program(
        config,
        secret_keys if secret_keys is not None else SECRET_KEYS,
        check=check,
        previous_outputs=previous_outputs,
    )


def refusals(overrides: dict[str, Any], **kwargs: Any) -> list[str]:
    """The problem lines of settings that must be refused before any resource is registered."""
    from settings import SettingsError

    run = stack_run(overrides, check=False, **kwargs)
    assert isinstance(run.error, SettingsError), run.error
    assert run.resources == [], "resources were registered before the settings were checked"
    return run.error.problems


def refusal(key: str, value: Any) -> str:
    """The one line that refuses `mailstack:<key>` = value: it names the key and the fix."""
    (line,) = refusals({f"mailstack:{key}": value})
    assert line.startswith(f"mailstack:{key}: "), line
    assert "Fix: " in line and "\n" not in line, line
    return line


@pytest.fixture(scope="session")
def default_run() -> StackRun:
    """The stack with only the required settings (shared: the program is deterministic)."""
    return stack_run()


@pytest.fixture
def run_stack() -> RunStack:
    return stack_run
