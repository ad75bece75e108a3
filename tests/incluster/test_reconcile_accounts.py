"""The account reconciler against a local stand-in of the Stalwart v0.15 management API.

Every test really talks HTTP to tests/standins/stalwart_v015.py on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from incluster.accounts_file import Account, Desired
from incluster.client import ClientError
from incluster.reconcile_accounts import (
    MARKER,
    StalwartClient,
    main,
    reconcile,
)
from tests.standins.stalwart_v015 import StalwartStandin

ADMIN_PASSWORD = "s3cret-Admin-pass"
HASH_1 = "$6$saltsalt$" + "A" * 86
HASH_2 = "$6$rounds=10000$othersalt$" + "B" * 86
ALERTS_HASH = "$6$alertsalt$" + "C" * 86
DOMAIN = "example.com"
FAST = {
    "READY_TIMEOUT_SECONDS": "5",
    "RETRY_INITIAL_SECONDS": "0.01",
    "RETRY_MAX_SECONDS": "0.05",
    "REQUEST_TIMEOUT_SECONDS": "2",
    "AUTH_RETRIES": "3",
}


def account(name: str = "noreply", secret_hash: str = HASH_1, description: str = "Authentik"):
    return {
        "name": name,
        "email": f"{name}@{DOMAIN}",
        "description": description,
        "secretHash": secret_hash,
    }


def run_main(
    standin: StalwartStandin,
    tmp_path: Path,
    accounts: list[dict[str, Any]],
    password: str = ADMIN_PASSWORD,
    **env: str,
) -> int:
    password_file = tmp_path / "admin-password"
    password_file.write_text(password)
    accounts_file = tmp_path / "accounts.json"
    accounts_file.write_text(json.dumps({"domain": DOMAIN, "accounts": accounts}))
    environment = {
        "STALWART_URL": standin.url,
        "ADMIN_PASSWORD_FILE": str(password_file),
        "ACCOUNTS_FILE": str(accounts_file),
        **FAST,
        **env,
    }
    return main([], environment)


@pytest.fixture
def standin():
    with StalwartStandin(admin_password=ADMIN_PASSWORD) as server:
        yield server


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_creates_domain_then_account_with_exact_body(standin, tmp_path, capsys):
    assert run_main(standin, tmp_path, [account()]) == 0

    posts = standin.calls("POST", "/api/principal")
    assert [p.body for p in posts] == [
        {"type": "domain", "name": DOMAIN},
        {
            "type": "individual",
            "name": "noreply",
            "description": f"Authentik {MARKER}",
            "secrets": [HASH_1],
            "emails": [f"noreply@{DOMAIN}"],
            "roles": ["user"],
        },
    ]
    stored = standin.snapshot()["noreply"]
    assert stored["secrets"] == [HASH_1]
    assert stored["roles"] == ["user"]
    out = capsys.readouterr().out
    assert last_line(out).startswith("reconcile ok: created=1 updated=0 unchanged=0 deleted=0")


def test_second_run_is_idempotent_without_posting_the_account(standin, tmp_path, capsys):
    assert run_main(standin, tmp_path, [account()]) == 0
    state = standin.snapshot()
    before = len(standin.requests)

    assert run_main(standin, tmp_path, [account()]) == 0

    second = standin.requests[before:]
    assert standin.snapshot() == state
    assert [r for r in second if r.method in ("POST", "PATCH", "DELETE")] == []
    assert "created=0 updated=0 unchanged=1 deleted=0" in last_line(capsys.readouterr().out)


def test_password_rotation_patches_the_new_hash(standin, tmp_path, capsys):
    assert run_main(standin, tmp_path, [account(secret_hash=HASH_1)]) == 0
    assert run_main(standin, tmp_path, [account(secret_hash=HASH_2)]) == 0

    patches = standin.calls("PATCH", "/api/principal/noreply")
    assert [p.body for p in patches] == [
        [
            {"action": "set", "field": "secrets", "value": [HASH_2]},
            {"action": "set", "field": "emails", "value": [f"noreply@{DOMAIN}"]},
            {"action": "set", "field": "description", "value": f"Authentik {MARKER}"},
        ]
    ]
    assert standin.snapshot()["noreply"]["secrets"] == [HASH_2]
    assert "created=0 updated=1" in last_line(capsys.readouterr().out)


def test_removed_account_is_deleted_and_hand_made_accounts_survive(standin, tmp_path):
    standin.add_principal("individual", "alice", description="Alice (made by hand)")
    standin.add_principal("individual", "bob")
    assert run_main(standin, tmp_path, [account(), account("alerts", ALERTS_HASH, "Alerts")]) == 0
    assert {"noreply", "alerts", "alice", "bob"} <= set(standin.snapshot())

    assert run_main(standin, tmp_path, [account()]) == 0

    assert [d.path for d in standin.calls("DELETE")] == ["/api/principal/alerts"]
    assert set(standin.snapshot()) == {DOMAIN, "noreply", "alice", "bob"}


def test_prune_pages_through_the_listing(standin, tmp_path, capsys):
    for index in range(230):
        standin.add_principal("individual", f"old{index:03d}", description=f"x {MARKER}")
    assert run_main(standin, tmp_path, [account()]) == 0

    pages = [r.query["page"] for r in standin.calls("GET", "/api/principal") if "page" in r.query]
    assert pages == ["1", "2", "3"]
    assert set(standin.snapshot()) == {DOMAIN, "noreply"}
    assert "deleted=230" in last_line(capsys.readouterr().out)


def list_pages(server: StalwartStandin) -> list[str]:
    return [r.query["page"] for r in server.calls("GET", "/api/principal") if "page" in r.query]


def test_a_listing_whose_total_lies_ends_at_the_first_empty_page(tmp_path, capsys):
    def lying(query: dict[str, str], reply: dict[str, Any]) -> dict[str, Any]:
        return {"data": {"items": reply["data"]["items"], "total": 10**9}}

    with StalwartStandin(admin_password=ADMIN_PASSWORD, list_reply=lying) as server:
        server.add_principal("individual", "old", description=f"x {MARKER}")
        assert run_main(server, tmp_path, [account()]) == 0
        assert list_pages(server) == ["1", "2"]
        assert "old" not in server.snapshot()


def test_a_server_repeating_its_first_page_forever_is_walked_once(tmp_path):
    def repeating(query: dict[str, str], reply: dict[str, Any]) -> dict[str, Any]:
        return {"data": {"items": first, "total": 10**9}}

    first = [{"name": "noreply", "description": f"Authentik {MARKER}"}]
    with StalwartStandin(admin_password=ADMIN_PASSWORD, list_reply=repeating) as server:
        assert run_main(server, tmp_path, [account()]) == 0
        assert list_pages(server) == ["1", "2"]  # page 2 added no new name: the walk stopped


def test_names_compare_case_insensitively_and_a_managed_group_is_never_deleted(tmp_path):
    def hostile(query: dict[str, str], reply: dict[str, Any]) -> dict[str, Any]:
        # A listing that ignores `types` and spells the desired name in another case.
        items = [
            {**p, "name": "NoReply" if p["name"] == "noreply" else p["name"]}
            for p in server.snapshot().values()
        ]
        return {"data": {"items": items, "total": len(items)}}

    with StalwartStandin(admin_password=ADMIN_PASSWORD, list_reply=hostile) as server:
        server.add_principal("group", "team", description=f"shared {MARKER}")
        assert run_main(server, tmp_path, [account()]) == 0
        assert server.calls("DELETE") == []
        assert {"noreply", "team"} <= set(server.snapshot())


def test_hand_made_account_with_a_desired_name_is_adopted(standin, tmp_path):
    standin.add_principal("domain", DOMAIN)
    standin.add_principal(
        "individual", "noreply", description="by hand", secrets=["plain"], emails=["x@example.com"]
    )
    assert run_main(standin, tmp_path, [account()]) == 0

    stored = standin.snapshot()["noreply"]
    assert stored["description"] == f"Authentik {MARKER}"
    assert stored["secrets"] == [HASH_1]
    assert stored["emails"] == [f"noreply@{DOMAIN}"]
    assert standin.calls("POST") == []


def test_name_taken_by_a_non_individual_fails_without_touching_it(standin, tmp_path, capsys):
    standin.add_principal("group", "noreply", description="a group")
    assert run_main(standin, tmp_path, [account()]) == 1

    assert standin.snapshot()["noreply"]["type"] == "group"
    assert standin.calls("PATCH") == []
    assert "not an individual" in capsys.readouterr().err


def test_not_ready_then_ready_succeeds(tmp_path, capsys):
    with StalwartStandin(admin_password=ADMIN_PASSWORD, not_ready_requests=3) as server:
        assert run_main(server, tmp_path, [account()]) == 0
        assert [r.status for r in server.requests[:3]] == [503, 503, 503]
    assert "waiting for stalwart" in capsys.readouterr().out


def test_connection_refused_until_the_server_listens_then_succeeds(tmp_path, capsys):
    with StalwartStandin(admin_password=ADMIN_PASSWORD, listen_after=0.3) as server:
        assert run_main(server, tmp_path, [account()]) == 0
        assert "noreply" in server.snapshot()
    assert "connection failed (ConnectionRefusedError)" in capsys.readouterr().out


def test_never_ready_fails_within_the_timeout_with_a_clear_message(tmp_path, capsys):
    with StalwartStandin(admin_password=ADMIN_PASSWORD, not_ready_requests=10**9) as server:
        started = time.monotonic()
        code = run_main(server, tmp_path, [account()], READY_TIMEOUT_SECONDS="0.4")
        elapsed = time.monotonic() - started
    assert code == 1
    assert elapsed < 2.0
    err = capsys.readouterr().err
    assert "not ready after 0.4s" in err
    assert "HTTP 503" in err


def test_never_listening_fails_within_the_timeout(tmp_path, capsys):
    with StalwartStandin(admin_password=ADMIN_PASSWORD, listen_after=60) as server:
        started = time.monotonic()
        code = run_main(server, tmp_path, [account()], READY_TIMEOUT_SECONDS="0.3")
        elapsed = time.monotonic() - started
    assert code == 1
    assert elapsed < 2.0
    assert "not ready after 0.3s" in capsys.readouterr().err


def test_wrong_admin_password_fails_clearly_after_a_few_401s(standin, tmp_path, capsys):
    assert run_main(standin, tmp_path, [account()], password="wrong-password") == 1

    refused = [r for r in standin.calls("GET", "/api/principal") if r.status == 401]
    assert len(refused) == 3
    assert standin.calls("POST") == []
    err = capsys.readouterr().err
    assert "admin password was refused" in err
    assert "wrong-password" not in err


def test_401_while_the_pod_rolls_to_the_new_admin_hash_is_retried(tmp_path):
    with StalwartStandin(admin_password="old-password") as server:
        timer = threading.Timer(0.15, lambda: setattr(server, "admin_password", ADMIN_PASSWORD))
        timer.start()
        try:
            code = run_main(server, tmp_path, [account()], AUTH_RETRIES="50")
        finally:
            timer.join()
        assert code == 0
        assert any(r.status == 401 for r in server.requests)
        assert "noreply" in server.snapshot()


def test_http_200_error_body_fails_with_exit_1_and_names_the_error(tmp_path, capsys):
    with StalwartStandin(
        admin_password=ADMIN_PASSWORD, post_error={"error": "other", "details": "Disk full"}
    ) as server:
        server.add_principal("domain", DOMAIN)
        assert run_main(server, tmp_path, [account()]) == 1
        assert "noreply" not in server.snapshot()
    captured = capsys.readouterr()
    failure = last_line(captured.err)
    assert "create account 'noreply'" in failure
    assert "'other'" in failure and "Disk full" in failure
    assert "reconcile ok" not in captured.out


def test_unknown_email_domain_error_body_is_an_error(standin):
    # reconcile() driven directly: Stalwart refuses an email whose domain is not a principal.
    client = StalwartClient(standin.url, "admin", ADMIN_PASSWORD)
    desired = Desired(DOMAIN, (Account("noreply", "noreply@other.org", "x", HASH_1),))
    with pytest.raises(ClientError, match=r"create account 'noreply'.*notFound.*other\.org"):
        reconcile(client, desired, log=lambda line: None)


def test_output_never_contains_the_password_or_a_hash(tmp_path, capsys):
    secrets = [ADMIN_PASSWORD, HASH_1, HASH_2, ALERTS_HASH, "saltsalt", "othersalt"]
    with StalwartStandin(admin_password=ADMIN_PASSWORD) as server:
        assert run_main(server, tmp_path, [account(), account("alerts", ALERTS_HASH)]) == 0
        assert run_main(server, tmp_path, [account(secret_hash=HASH_2)]) == 0
        # A server error body that echoes a hash must be redacted, too.
        server.post_error = {"error": "fieldAlreadyExists", "field": "secrets", "value": HASH_2}
        assert run_main(server, tmp_path, [account(secret_hash=HASH_2), account("new")]) == 1
    gone = run_main(server, tmp_path, [account()], READY_TIMEOUT_SECONDS="0.2")  # server stopped
    assert gone == 1
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "<redacted>" in output
    for secret in secrets:
        assert secret not in output


def test_plaintext_secret_is_refused_before_any_request(standin, tmp_path, capsys):
    assert run_main(standin, tmp_path, [account(secret_hash="hunter2-plaintext")]) == 1
    assert standin.requests == []
    err = capsys.readouterr().err
    assert "not a password hash" in err
    assert "hunter2" not in err


def test_main_reads_env_and_files_end_to_end(standin, tmp_path, capsys):
    password_file = tmp_path / "pw"
    password_file.write_text(ADMIN_PASSWORD + "\n")  # one trailing newline is stripped
    accounts_file = tmp_path / "accounts.json"
    accounts_file.write_text(
        json.dumps(
            {
                "domain": DOMAIN,
                "accounts": [
                    {
                        "name": "noreply",
                        "email": "noreply@example.com",
                        "description": "Authentik",
                        "secretHash": HASH_1,
                    },
                    {"name": "alerts", "description": "Alerts", "secretHash": ALERTS_HASH},
                ],
            }
        )
    )
    env = {
        "STALWART_URL": standin.url + "/",
        "ADMIN_PASSWORD_FILE": str(password_file),
        "ACCOUNTS_FILE": str(accounts_file),
        "READY_TIMEOUT_SECONDS": "3",
    }  # STALWART_ADMIN_USER defaults to admin

    assert main([], env) == 0

    state = standin.snapshot()
    assert state[DOMAIN]["type"] == "domain"
    assert state["alerts"]["emails"] == ["alerts@example.com"]  # email defaults to name@domain
    assert state["noreply"]["description"] == f"Authentik {MARKER}"
    assert all(r.authorized for r in standin.requests if r.path.startswith("/api/"))
    out = capsys.readouterr().out
    assert len([line for line in out.splitlines() if line.startswith("account ")]) == 2
    assert last_line(out) == (
        "reconcile ok: created=2 updated=0 unchanged=0 deleted=0 domain_created=yes"
    )


def test_missing_configuration_fails_with_exit_1(capsys):
    assert main([], {}) == 1
    assert "STALWART_URL is not set" in capsys.readouterr().err


@pytest.mark.parametrize("content", [None, b"\xff\xfe not utf-8"])
def test_an_unreadable_password_file_is_one_line_without_a_request(
    standin, tmp_path, capsys, content
):
    accounts_file = tmp_path / "accounts.json"
    accounts_file.write_text(json.dumps({"domain": DOMAIN, "accounts": [account()]}))
    password_file = tmp_path / "admin-password"
    if content is not None:
        password_file.write_bytes(content)
    env = {
        "STALWART_URL": standin.url,
        "ADMIN_PASSWORD_FILE": str(password_file),
        "ACCOUNTS_FILE": str(accounts_file),
    }
    assert main([], env) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read ADMIN_PASSWORD_FILE" in err
    assert standin.requests == []
