"""Every setting, every kind of bad value: one line naming the key and the fix, exit 2.

Runs `make render`'s entry point on a stack file holding the bad value, so what is checked is
what a user sees: the exit status, stderr, and that no traceback and no file comes out.
README "Bad settings" lists this table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline import render
from settings import KEYS
from tests.conftest import BASE_CONFIG, SECRET_KEYS

README = Path(__file__).resolve().parents[2] / "README.md"
ROUTE = {"hostname": "auth.example.com", "service": "http://traefik:80"}
ACCOUNT = {"name": "noreply", "credentials": {"namespace": "authentik", "secretName": "creds"}}

# (key, bad value, what the one line says); a value of None removes the key. The format of an
# encrypted secret cannot reach the render (it never decrypts): tests/test_settings.py checks
# those in-process (resendApiKey not `re_...`, adminPassword shorter than 12 characters).
BAD: list[tuple[str, Any, str]] = [
    ("domain", None, "is required but not set"),
    ("domain", "", "is required but not set"),
    ("domain", "mail server", "is not a domain name"),
    ("domain", "Example.com", "has uppercase letters"),
    ("adminPassword", "PLAINTEXT", "is stored in plaintext in the stack file"),
    ("resendApiKey", None, "is required but not set"),
    ("resendApiKey", "PLAINTEXT", "is stored in plaintext in the stack file"),
    ("webmailHostname", "mail.example.com", "contains a dot"),
    ("webmailHostname", "MAIL", "has uppercase letters"),
    ("tailnetHostname", "mail_1", "is not a DNS label"),
    ("namespace", "-stalwart", "is not a DNS label"),
    ("image", "stalwartlabs/stalwart:latest", "is not a pinned Stalwart v0.15.x release"),
    ("image", "stalwartlabs/stalwart:v0.16.0", "v0.16 replaced config.toml"),
    ("image", "stalwartlabs/stalwart", "has no tag"),
    ("storageClass", "Longhorn", "is not a Kubernetes name"),
    ("storageSize", "ten", "is not a Kubernetes quantity"),
    ("storageSize", "100Mi", "smaller than 1Gi"),
    ("cloudflareAccountId", "12345", "is not a Cloudflare account ID"),
    ("cloudflareZoneId", None, "is required but not set"),
    ("tunnelId", "homelab", "is not a tunnel UUID"),
    ("tunnelOrigin", "traefik:80", "is not a cloudflared service URL"),
    ("tunnelRoutes", "auth.example.com", "must be a list"),
    ("tunnelRoutes", [{"service": "http://x:1"}], "is a catch-all"),
    ("tunnelRoutes", [{**ROUTE, "hostname": "auth.example.net"}], "outside the zone"),
    ("tunnelRoutes", [ROUTE, ROUTE], "repeats an earlier hostname"),
    ("adminEmail", "owner", "is not an email address"),
    ("adminEmail", "postmaster@example.com", "would forward every message to itself"),
    ("resendDkimRecord", "MIGf", "is not the DKIM record Resend shows"),
    ("resendRegion", "USEAST", "is not a sending region"),
    ("dmarc", "p=none", "is not a DMARC record"),
    ("dmarc", {"policy": "maybe"}, "policy must be one of"),
    ("dmarc", 5, "must be a string or an object"),
    ("serviceAccounts", {"name": "noreply"}, "must be a list of accounts"),
    ("serviceAccounts", [{**ACCOUNT, "name": "admin"}], "reserved 'admin'"),
    ("serviceAccounts", [ACCOUNT, ACCOUNT], "appears twice"),
    ("serviceAccounts", [{**ACCOUNT, "passwordVersion": -1}], "positive integer"),
    ("reconcilerImage", "python", "is not a pinned image"),
    ("relay", {"port": 25}, "port 25 is blocked"),
    ("relay", {"port": 99999}, "is not a TCP port"),
    ("relay", "smtp.resend.com", "must be an object"),
    ("authMechanisms", ["cram-md5"], "must be a non-empty list of distinct SASL mechanisms"),
    ("authMechanisms", ["oauthbearer"], "offers neither plain nor login"),
    ("dataClaimName", "Data", "is not a Kubernetes name"),
    ("adopt", {"cloudflare": {"resendDkim": "x"}}, "is not an import id"),
    ("adopt", {"kubernetes": "yes"}, "kubernetes must be true or false"),
    ("runAsUser", "root", "is not a numeric user id"),
    ("smtpClientNamespaces", "all", "must be a list of namespace names"),
    ("ingressNamespaces", [], "must be a list of namespace names (not empty)"),
    ("backup", {"snapshotRetain": 1000}, "must be a number from 1 to 100"),
    ("backup", {"snapshotCron": "@daily"}, "is not a five-field cron schedule"),
    ("storagesize", "10Gi", "did you mean 'mailstack:storageSize'?"),
]


def stack_file(tmp_path: Path, key: str, value: Any) -> None:
    config = {k: v for k, v in BASE_CONFIG.items() if k not in SECRET_KEYS}
    secure = {"mailstack:resendApiKey": {"secure": "AAABAKx0QzAAAA=="}}
    full_key = f"mailstack:{key}"
    if value == "PLAINTEXT":
        secure.pop(full_key, None)
        config[full_key] = "re_Plaintext0123456789" if key == "resendApiKey" else "a" * 20
    elif value is None:
        config.pop(full_key, None)
        secure.pop(full_key, None)
    else:
        config[full_key] = value
    document = {"config": {**config, **secure}}
    if value is None and key == "resendApiKey":
        # The render stands in for an absent required secret; `pulumi up` would not. Mark the
        # key as configured-but-empty the way the CLI hands it over.
        document["config"][full_key] = ""
    (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump(document))


@pytest.mark.parametrize(("key", "value", "expected"), BAD)
def test_bad_value_stops_with_one_line_naming_key_and_fix(tmp_path, capsys, key, value, expected):
    stack_file(tmp_path, key, value)
    out = tmp_path / "out"
    code = render.main(["--stack", "bad", "--config-dir", str(tmp_path), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: mailstack:{key}: "), lines[0]
    assert expected in lines[0]
    assert "Fix: " in lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert not out.exists()


def test_every_setting_has_a_bad_value_in_the_table():
    assert {key for key in KEYS} <= {key for key, _, _ in BAD}


def readme_keys(heading: str) -> set[str]:
    """The `mailstack:` keys of the first column of the README section under `heading`."""
    text = README.read_text()
    section = text[text.index(f"## {heading}") :]
    section = section[: section.index("\n## ", 3)]
    return set(re.findall(r"^\| `mailstack:([A-Za-z]+)`", section, flags=re.MULTILINE))


def test_readme_lists_every_setting_in_its_bad_settings_table():
    assert set(KEYS) <= readme_keys("Bad settings")


def test_readme_settings_table_lists_every_setting():
    assert readme_keys("Settings") == set(KEYS)
