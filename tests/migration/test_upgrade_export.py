"""`make upgrade-export` against the local stand-in of Stalwart v0.15's management API (with
`/api/settings/list`), running the vendored migrate_v016.py in-process on 127.0.0.1."""

from __future__ import annotations

import io
import json
import os
import stat
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from migration import upgrade_export
from offline.stalwart_schema import plan_problems
from tests.standins.local_http import LocalHTTPServer, reply
from tests.standins.stalwart_v015 import StalwartStandin

HASH = "$6$v015saltsalt$" + "H" * 86
SETTINGS = {
    "storage.data": "rocksdb",
    "storage.blob": "rocksdb",
    "storage.lookup": "rocksdb",
    "storage.fts": "rocksdb",
    "storage.directory": "internal",
    "store.rocksdb.type": "rocksdb",
    "store.rocksdb.path": "/opt/stalwart/data",
    "directory.internal.type": "internal",
    "directory.internal.store": "rocksdb",
}


@pytest.fixture
def v015():
    with StalwartStandin(admin_password="the-admin-password") as server:
        server.settings.update(SETTINGS)
        server.add_principal("domain", "example.com")
        server.add_principal(
            "individual",
            "noreply",
            secrets=[HASH],
            emails=["noreply@example.com"],
            description="Authentik [managed by mailstack]",
        )
        yield server


def run(monkeypatch, capsys, url: str, password: str = "the-admin-password", *extra: str):
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    code = upgrade_export.main(["--url", url, *extra])
    return code, capsys.readouterr()


def test_the_export_re_links_the_accounts_and_fits_the_schema(monkeypatch, capsys, v015):
    code, out = run(monkeypatch, capsys, v015.url)
    assert code == 0, out.err
    operations = [json.loads(line) for line in out.out.splitlines()]
    assert plan_problems(operations) == []
    accounts = next(op for op in operations if op["object"] == "Account")
    ((client_id, user),) = accounts["value"].items()
    assert client_id.startswith("restore-")  # the old id: the mailboxes are re-linked
    assert user["name"] == "noreply" and user["credentials"]["0"]["secret"] == HASH
    assert not [op for op in operations if op["object"] == "SystemSettings"]
    assert "/opt/stalwart" not in out.out


def test_nothing_is_written_to_disk_and_no_secret_to_stderr(monkeypatch, capsys, v015, tmp_path):
    monkeypatch.chdir(tmp_path)
    code, out = run(monkeypatch, capsys, v015.url)
    assert code == 0
    assert list(tmp_path.iterdir()) == []
    assert HASH not in out.err and "the-admin-password" not in out.err
    assert "create Account (1)" in out.err


def test_store_hands_the_export_to_pulumi_config_set_on_stdin(monkeypatch, capsys, v015, tmp_path):
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" > {tmp_path}/args\ncat > {tmp_path}/stdin\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    code, out = run(monkeypatch, capsys, v015.url, "the-admin-password", "--store")
    assert code == 0, out.err
    assert out.out == ""  # the export went to pulumi only
    args = (tmp_path / "args").read_text().split()
    assert args == ["config", "set", "--secret", "--stack", "prod", "mailstack:upgradeExport"]
    assert HASH in (tmp_path / "stdin").read_text()


def test_a_wrong_password_fails_without_echoing_it(monkeypatch, capsys, v015):
    code, out = run(monkeypatch, capsys, v015.url, "wrong-password")
    assert code == 2
    assert "401" in out.err and "wrong-password" not in out.err
    assert "Traceback" not in out.err


def test_no_password_on_stdin_is_refused(monkeypatch, capsys, v015):
    code, out = run(monkeypatch, capsys, v015.url, "")
    assert code == 2
    assert "no admin password on stdin" in out.err


def test_a_redirect_is_refused_and_the_password_goes_nowhere_else(monkeypatch, capsys):
    seen: list[str | None] = []

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.end_headers()

    with LocalHTTPServer(Redirect) as server:
        code, out = run(monkeypatch, capsys, server.url)
    assert code == 2
    assert "answered HTTP 302 (a redirect)" in out.err
    assert len(seen) == 1


def test_the_make_target_pipes_the_password_and_stores_the_export():
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    recipe = makefile[makefile.index("upgrade-export: venv") :].split("\n\n")[0]
    assert "pulumi stack output adminPassword --show-secrets" in recipe
    assert "| $(BIN)/python -m migration.upgrade_export" in recipe
    assert "--store" in recipe


def test_what_the_upgrade_loses_is_counted_before_it_happens(monkeypatch, capsys, v015):
    """The converter keeps each account's main password only (migrate_v016.py
    `_build_credentials`) and no principal of another type: the owner reads that first."""
    v015.add_principal(
        "individual",
        "owner",
        secrets=[HASH, "$app$phone$" + HASH, "$app$laptop$" + HASH, "otpauth://totp/x"],
        emails=["owner@example.com"],
    )
    v015.add_principal("apiKey", "backup-script", secrets=["$6$x$" + "k" * 86])
    code, out = run(monkeypatch, capsys, v015.url)
    assert code == 0, out.err
    [line] = [x for x in out.err.splitlines() if "will NOT survive" in x]
    assert "2 app password(s) of 1 account(s)" in line
    assert "1 principal(s) of type apiKey" in line
    assert HASH not in out.err


def test_an_export_that_loses_nothing_says_so(monkeypatch, capsys, v015):
    code, out = run(monkeypatch, capsys, v015.url)
    assert code == 0
    assert "will NOT survive the upgrade: no app password" in out.err


def test_dkim_keys_stay_behind_and_domains_are_manual(monkeypatch, capsys, v015):
    """v0.16 signs with every active DkimSignature whatever the domain's DKIM management (seen
    on the real server after an upgrade: two old signatures beside Resend's)."""
    v015.settings.update(
        {
            "signature.rsa.algorithm": "rsa-sha256",
            "signature.rsa.domain": "example.com",
            "signature.rsa.selector": "v15rsa",
            "signature.rsa.private-key": "\n".join(
                ["-----BEGIN PRIVATE KEY-----", "AAAA", "-----END PRIVATE KEY-----"]
            ),
        }
    )
    code, out = run(monkeypatch, capsys, v015.url)
    assert code == 0, out.err
    operations = [json.loads(line) for line in out.out.splitlines()]
    assert not [op for op in operations if op["object"] == "DkimSignature"]
    domains = next(op for op in operations if op["object"] == "Domain")["value"].values()
    assert all(d["dkimManagement"] == {"@type": "Manual"} for d in domains)
    assert "1 DKIM key(s)" in out.err and "PRIVATE KEY" not in out.err


class Hostile(BaseHTTPRequestHandler):
    """A server on 127.0.0.1 that answers every request the way `answer` says."""

    answer = "json-int"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        kind = self.answer
        if kind == "endless":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"[" * 65536)
            except OSError:
                return
        if kind == "drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    threading.Event().wait(0.05)
            except OSError:
                return
        bodies = {
            "json-int": b'{"data": 5}',
            "json-list": b'{"data": ["a", 1, null]}',
            "html": b"<html><body>Welcome to nginx!</body></html>",
            "items-string": b'{"data": {"items": "everything", "total": "many"}}',
            "null": b"null",
        }
        reply(self, 200, bodies[kind])


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ("json-int", "are not Stalwart v0.15's"),
        ("json-list", "are not Stalwart v0.15's"),
        ("html", "Non-JSON response"),
        ("items-string", "are not Stalwart v0.15's"),
        ("null", "are not Stalwart v0.15's"),
        ("endless", "an answer is larger than 1 MiB"),
        ("drip", "the server took longer than 1 s in all"),
    ],
)
def test_a_lying_or_endless_server_ends_the_export_with_one_line(monkeypatch, capsys, answer, says):
    monkeypatch.setattr(upgrade_export, "MAX_ANSWER_BYTES", 2**20)
    monkeypatch.setattr(upgrade_export, "DEADLINE_SECONDS", 1.0)
    with LocalHTTPServer(type("Answer", (Hostile,), {"answer": answer})) as server:
        code, out = run(monkeypatch, capsys, server.url)
    assert code == 2
    lines = out.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("upgrade-export: error: "), lines
    assert says in lines[0], lines[0]
    assert "the-admin-password" not in out.err + out.out
    assert "Traceback" not in out.err


def test_a_request_to_another_origin_is_refused_before_it_is_sent():
    from migration.bounded_http import BoundedError, BoundedSession

    session = BoundedSession("http://127.0.0.1:18080", max_bytes=1024, deadline=5)
    for elsewhere in (
        "http://127.0.0.1:18081/api",
        "https://127.0.0.1:18080/api",
        "http://attacker.example/api",
        "http://127.0.0.1:18080@attacker.example/api",
    ):
        with pytest.raises(BoundedError, match="would leave the --url origin"):
            session.get(elsewhere)
