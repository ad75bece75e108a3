"""The v0.16 Jobs' own code (incluster/jmap_jobs.py), really talking HTTP to local stand-ins of
Stalwart's JMAP endpoints and of the Kubernetes API on 127.0.0.1."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from passlib.hash import sha512_crypt

from components.credentials import hash_password
from incluster import jmap_jobs
from incluster.accounts_file import fingerprint as hash_fingerprint
from incluster.client import Client, Redactor, basic
from offline.stalwart_schema import plan_problems
from tests.standins.kube_pods import PodsStandin, free_port
from tests.standins.stalwart_v016 import JmapStandin, MetricsListenerStandin

HASH_1 = "$6$saltsaltsaltsalt$" + "A" * 86
HASH_2 = "$6$saltsaltsaltsalt$" + "B" * 86


def account(name="noreply", secret_hash=HASH_1, description="Authentik", email=None):
    return {
        "name": name,
        "email": email or f"{name}@example.com",
        "description": description,
        "secretHash": secret_hash,
    }


def run(standin: JmapStandin, tmp_path: Path, command: str, accounts=(), **env: str) -> int:
    (tmp_path / "admin").write_text(standin.admin_password + "\n")
    (tmp_path / "accounts.json").write_text(
        json.dumps({"domain": "example.com", "accounts": list(accounts)})
    )
    environment = {
        "STALWART_URL": standin.url,
        "ADMIN_PASSWORD_FILE": str(tmp_path / "admin"),
        "ACCOUNTS_FILE": str(tmp_path / "accounts.json"),
        "READY_TIMEOUT_SECONDS": "5",
        **env,
    }
    return jmap_jobs.main([command], environment, sleep=lambda _: None)


@pytest.fixture
def standin():
    with JmapStandin() as server:
        server.add("Domain", {"name": "example.com"})
        yield server


def sets(standin: JmapStandin) -> list[dict]:
    return [
        call[1]
        for r in standin.requests
        if r.path == "/jmap" and r.body
        for call in r.body["methodCalls"]
        if call[0] == "x:Account/set"
    ]


def test_creates_the_account_as_a_user_with_its_hash_and_the_marker(standin, tmp_path, capsys):
    assert run(standin, tmp_path, "accounts", [account()]) == 0
    created = standin.accounts()["noreply"]
    assert created["@type"] == "User"
    assert created["domainId"] == "1"
    assert created["roles"] == {"@type": "User"}
    assert created["credentials"] == {"0": {"@type": "Password", "secret": HASH_1}}
    fingerprint = hash_fingerprint(HASH_1)
    assert created["description"] == f"Authentik [managed by mailstack; credential {fingerprint}]"
    assert capsys.readouterr().out.splitlines()[-1].startswith("accounts ok: created=1")


def test_a_second_run_changes_nothing(standin, tmp_path, capsys):
    assert run(standin, tmp_path, "accounts", [account()]) == 0
    before = len(sets(standin))
    assert run(standin, tmp_path, "accounts", [account()]) == 0
    assert len(sets(standin)) == before
    assert "unchanged=1" in capsys.readouterr().out


def test_credentials_are_rewritten_only_when_the_password_changed(standin, tmp_path):
    assert run(standin, tmp_path, "accounts", [account()]) == 0
    assert run(standin, tmp_path, "accounts", [account(description="Authentik SSO")]) == 0
    (update,) = [s["update"] for s in sets(standin) if "update" in s]
    assert set(next(iter(update.values()))) == {"description"}
    assert run(standin, tmp_path, "accounts", [account(secret_hash=HASH_2)]) == 0
    update = [s["update"] for s in sets(standin) if "update" in s][-1]
    assert set(next(iter(update.values()))) == {"description", "credentials"}
    assert standin.accounts()["noreply"]["credentials"]["0"]["secret"] == HASH_2


def test_an_address_other_than_name_at_domain_becomes_an_alias(standin, tmp_path):
    alerts = account("alerts", email="monitoring@example.com")
    assert run(standin, tmp_path, "accounts", [alerts]) == 0
    stored = standin.accounts()["alerts"]["aliases"]["0"]
    assert (stored["name"], stored["domainId"]) == ("monitoring", "1")


def test_an_alias_the_server_filled_with_defaults_is_not_rewritten(standin, tmp_path):
    """The real server returns each alias with `enabled` and `description` added; the second
    run used to rewrite the account every time (seen against v0.16.18)."""
    alerts = account("alerts", email="monitoring@example.com")
    assert run(standin, tmp_path, "accounts", [alerts]) == 0
    before = len(sets(standin))
    assert run(standin, tmp_path, "accounts", [alerts]) == 0
    assert len(sets(standin)) == before


def test_only_managed_users_no_longer_listed_are_destroyed(standin, tmp_path):
    standin.add(
        "Account", {"@type": "User", "name": "owner", "domainId": "1", "description": "hand-made"}
    )
    standin.add(
        "Account",
        {
            "@type": "Group",
            "name": "team",
            "domainId": "1",
            "description": "[managed by mailstack]",
        },
    )
    assert run(standin, tmp_path, "accounts", [account(), account("alerts")]) == 0
    assert run(standin, tmp_path, "accounts", [account()]) == 0
    assert set(standin.accounts()) == {"noreply", "owner", "team"}


def test_names_compare_case_insensitively(standin, tmp_path):
    standin.add(
        "Account",
        {
            "@type": "User",
            "name": "NoReply",
            "domainId": "1",
            "description": "[managed by mailstack]",
        },
    )
    assert run(standin, tmp_path, "accounts", [account()]) == 0
    assert set(standin.accounts()) == {"NoReply"}  # adopted and updated, not destroyed


def test_a_name_held_by_a_group_is_not_touched(standin, tmp_path, capsys):
    standin.add("Account", {"@type": "Group", "name": "noreply", "domainId": "1"})
    assert run(standin, tmp_path, "accounts", [account()]) == 1
    assert "exists as a 'Group'; not touching it" in capsys.readouterr().err


def test_a_refused_create_fails_and_names_the_servers_error(standin, tmp_path, capsys):
    standin.set_error = {"type": "forbidden", "description": "Insufficient permissions"}
    assert run(standin, tmp_path, "accounts", [account()]) == 1
    err = capsys.readouterr().err
    assert "create account 'noreply': forbidden: Insufficient permissions" in err


def test_a_plaintext_secret_is_refused_before_any_request(standin, tmp_path, capsys):
    assert run(standin, tmp_path, "accounts", [account(secret_hash="hunter2-plaintext")]) == 1
    assert standin.requests == []
    assert "hunter2" not in capsys.readouterr().err


def test_wrong_admin_password_fails_after_a_few_401s(standin, tmp_path, capsys):
    real, standin.admin_password = standin.admin_password, "the-pods-password"
    (tmp_path / "accounts.json").write_text('{"domain": "example.com", "accounts": []}')
    (tmp_path / "admin").write_text(real)
    env = {
        "STALWART_URL": standin.url,
        "ADMIN_PASSWORD_FILE": str(tmp_path / "admin"),
        "ACCOUNTS_FILE": str(tmp_path / "accounts.json"),
    }
    assert jmap_jobs.main(["accounts"], env, sleep=lambda _: None) == 1
    assert "refused 5 times (HTTP 401)" in capsys.readouterr().err


def test_not_ready_then_ready_succeeds(tmp_path):
    with JmapStandin(not_ready_requests=3) as server:
        server.add("Domain", {"name": "example.com"})
        assert run(server, tmp_path, "accounts", [account()]) == 0


def test_output_never_holds_a_password_or_a_hash(standin, tmp_path, capsys):
    assert run(standin, tmp_path, "accounts", [account(), account("alerts", HASH_2)]) == 0
    assert run(standin, tmp_path, "accounts", [account(secret_hash=HASH_2)]) == 0
    captured = capsys.readouterr()
    for secret in (HASH_1, HASH_2, standin.admin_password):
        assert secret not in captured.out + captured.err


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "soon"])
def test_a_timeout_that_never_expires_is_refused(standin, tmp_path, capsys, value):
    assert run(standin, tmp_path, "accounts", [account()], READY_TIMEOUT_SECONDS=value) == 1
    assert "READY_TIMEOUT_SECONDS" in capsys.readouterr().err


# --- listeners -----------------------------------------------------------------------------


def listeners_env(tmp_path: Path, kube: PodsStandin, port: int) -> dict[str, str]:
    (tmp_path / "token").write_text(kube.token)
    return {
        "LISTENER_PORTS": str(port),
        "POD_NAMESPACE": "stalwart",
        "POD_SELECTOR": "app.kubernetes.io/name=stalwart",
        "KUBE_API_URL": kube.url,
        "KUBE_TOKEN_FILE": str(tmp_path / "token"),
    }


def test_bound_listeners_need_no_restart(standin, tmp_path, capsys):
    port = free_port()
    with PodsStandin("kube-token", ["stalwart-abc"], restart_opens=port) as kube:
        kube._restart()  # already bound
        assert run(standin, tmp_path, "listeners", **listeners_env(tmp_path, kube, port)) == 0
        assert kube.requests == []
    assert "listeners ok" in capsys.readouterr().out


def test_a_closed_listener_restarts_the_pod_which_then_binds_it(standin, tmp_path, capsys):
    port = free_port()
    with PodsStandin("kube-token", ["stalwart-abc"], restart_opens=port) as kube:
        assert run(standin, tmp_path, "listeners", **listeners_env(tmp_path, kube, port)) == 0
        assert [method for method, _ in kube.requests] == ["GET", "DELETE"]
        assert "labelSelector=app.kubernetes.io%2Fname%3Dstalwart" in kube.requests[0][1]
        assert kube.requests[1][1] == "/api/v1/namespaces/stalwart/pods/stalwart-abc"
    assert "after restarting stalwart-abc" in capsys.readouterr().out


def test_a_listener_still_closed_after_the_restart_fails(standin, tmp_path, capsys):
    port = free_port()
    with PodsStandin("kube-token", ["stalwart-abc"], restart_opens=None) as kube:
        env = listeners_env(tmp_path, kube, port)
        assert run(standin, tmp_path, "listeners", **env, READY_TIMEOUT_SECONDS="0.2") == 1
    assert "still refuse connections" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("password", "only_metrics", "says"),
    [
        ("metrics-password", True, None),
        (None, True, "serves the metrics without the password (GET /metrics/prometheus"),
        ("metrics-password", False, "serves other paths than the metrics (GET / without"),
    ],
)
def test_the_listener_check_reads_back_that_metrics_need_the_password_and_are_alone_on_9090(
    standin, tmp_path, capsys, password, only_metrics, says
):
    with (
        MetricsListenerStandin(password, only_metrics) as metrics,
        PodsStandin("kube-token", ["stalwart-abc"], restart_opens=metrics.port) as kube,
    ):
        env = listeners_env(tmp_path, kube, metrics.port)
        env.update(METRICS_PORT=str(metrics.port), METRICS_PATH="/metrics/prometheus")
        code = run(standin, tmp_path, "listeners", **env)
        assert all(path for path in metrics.paths)
    out = capsys.readouterr()
    if says is None:
        assert code == 0
        assert "metrics guarded: " in out.out
        assert metrics.paths == ["/metrics/prometheus", "/", "/jmap/session"]
        assert [r.path for r in standin.requests if r.path.startswith("/metrics")] == [
            "/metrics/prometheus"
        ]
    else:
        assert code == 1
        assert says in out.err, out.err
        assert "metrics-password" not in out.err + out.out


# --- the upgrade's gate -----------------------------------------------------------------------


def gate(tmp_path: Path, kube: PodsStandin, **env: str) -> int:
    (tmp_path / "token").write_text(kube.token)
    environment = {
        "POD_NAMESPACE": "stalwart",
        "POD_SELECTOR": "app.kubernetes.io/name=stalwart,!mailstack.pulumi.com/claim",
        "KUBE_API_URL": kube.url,
        "KUBE_TOKEN_FILE": str(tmp_path / "token"),
        **env,
    }
    return jmap_jobs.main(["pods-gone"], environment, sleep=lambda _: None)


def test_the_gate_waits_until_the_v015_pod_is_gone(tmp_path, capsys):
    with PodsStandin("kube-token", ["stalwart-old"], vanish_after=3) as kube:
        assert gate(tmp_path, kube) == 0
        assert "%21mailstack.pulumi.com%2Fclaim" in kube.requests[0][1]
        assert len(kube.requests) == 4
    assert "pods gone" in capsys.readouterr().out


def test_the_gate_fails_when_the_pod_never_goes(tmp_path, capsys):
    with PodsStandin("kube-token", ["stalwart-old"]) as kube:
        assert gate(tmp_path, kube, READY_TIMEOUT_SECONDS="0.05") == 1
    assert "still running" in capsys.readouterr().err


# --- the administrator and the recovery admin ----------------------------------------------

ADMIN = "mailstack-admin@example.com"


def admin_run(
    standin: JmapStandin, kube: PodsStandin, tmp_path: Path, command: str = "admin", **env: str
) -> int:
    (tmp_path / "token").write_text(kube.token)
    (tmp_path / "hash").write_text(hash_password(standin.admin_password, "saltsaltsalt") + "\n")
    return run(
        standin,
        tmp_path,
        command,
        STALWART_ADMIN_USER=ADMIN,
        FALLBACK_ADMIN_USER="admin",
        ADMIN_HASH_FILE=str(tmp_path / "hash"),
        BOOTSTRAP_SECRET="stalwart-bootstrap",
        BOOTSTRAP_KEY="recovery-admin",
        POD_NAMESPACE="stalwart",
        POD_SELECTOR="app.kubernetes.io/name=stalwart",
        KUBE_API_URL=kube.url,
        KUBE_TOKEN_FILE=str(tmp_path / "token"),
        **env,
    )


@pytest.fixture
def kube(standin):
    """The pod reads STALWART_RECOVERY_ADMIN from the bootstrap Secret's key, optionally, when
    it starts: the stack creates the Secret empty, so a fresh server starts without it; a
    restart after the Job wrote (removed) the key starts Stalwart with (without) it."""
    secrets: dict[str, dict[str, str]] = {"stalwart-bootstrap": {}}
    standin.recovery_admin = False

    def restart() -> None:
        standin.recovery_admin = "recovery-admin" in secrets["stalwart-bootstrap"]
        kube_pods.pods.append(f"stalwart-{len(kube_pods.requests)}")  # the Deployment's new pod

    with PodsStandin("kube-token", ["stalwart-abc"], secrets=secrets, on_restart=restart) as pods:
        kube_pods = pods
        yield pods


def first_deploy(standin: JmapStandin, kube: PodsStandin, tmp_path: Path) -> None:
    """What the apply Job does on a fresh server: door, (plan), administrator."""
    assert admin_run(standin, kube, tmp_path, "door") == 0
    assert admin_run(standin, kube, tmp_path) == 0


def login(standin: JmapStandin, user: str) -> int:
    client = Client(standin.url, basic(user, standin.admin_password), Redactor())
    return jmap_jobs.probe(jmap_jobs.Jmap(client))


def test_the_door_opens_the_recovery_admin_when_nobody_logs_in(standin, kube, tmp_path, capsys):
    assert login(standin, "admin") == 401 and login(standin, ADMIN) == 401
    assert admin_run(standin, kube, tmp_path, "door") == 0
    key = base64.b64decode(kube.secrets["stalwart-bootstrap"]["recovery-admin"]).decode()
    user, _, digest = key.partition(":")
    assert user == "admin" and sha512_crypt.verify(standin.admin_password, digest)
    assert login(standin, "admin") == 200
    assert capsys.readouterr().out.splitlines()[-1] == "recovery admin: open after the restart"


def test_first_run_creates_the_administrator_then_closes_the_recovery_admin(
    standin, kube, tmp_path, capsys
):
    first_deploy(standin, kube, tmp_path)
    admin = standin.accounts()["mailstack-admin"]
    assert admin["roles"] == {"@type": "Admin"}
    assert set(admin["permissions"]["disabledPermissions"]) >= {"impersonate", "emailSend"}
    assert kube.secrets["stalwart-bootstrap"] == {}
    assert ("DELETE", "/api/v1/namespaces/stalwart/pods/stalwart-abc") in kube.requests
    assert login(standin, "admin") == 401
    assert login(standin, ADMIN) == 200
    out = capsys.readouterr().out.splitlines()
    assert f"administrator {ADMIN}: created" in out
    assert out[-1] == "recovery admin: off after the restart"


def test_a_second_run_logs_in_as_the_administrator_and_changes_nothing(
    standin, kube, tmp_path, capsys
):
    first_deploy(standin, kube, tmp_path)
    requests = len(kube.requests)
    assert admin_run(standin, kube, tmp_path, "door") == 0
    assert admin_run(standin, kube, tmp_path) == 0
    assert [m for m, _ in kube.requests[requests:]] == ["GET"]  # the Secret, read only
    out = capsys.readouterr().out.splitlines()
    assert "recovery admin: not needed, the administrator is accepted" in out
    assert f"administrator {ADMIN}: unchanged" in out
    assert out[-1] == "recovery admin: off"


def test_the_recovery_admin_is_the_fallback_only(standin, kube, tmp_path):
    """Once the administrator exists, the Jobs log in as it: the recovery admin is tried only
    when the administrator is refused."""
    first_deploy(standin, kube, tmp_path)
    standin.recovery_admin = True  # e.g. a pod started before the key went
    standin.requests.clear()
    assert run(standin, tmp_path, "accounts", STALWART_ADMIN_USER=ADMIN) == 0
    assert all(r.authorized for r in standin.requests if r.method == "POST")


def test_a_new_password_opens_the_door_sets_the_new_hash_and_closes_it(
    standin, kube, tmp_path, capsys
):
    """mailstack:adminPassword changed: the stack's new, empty bootstrap Secret and a rolled pod;
    the Job opens the door with the new hash, sets it on the administrator and closes again."""
    first_deploy(standin, kube, tmp_path)
    standin.admin_password = "a-new-admin-password"
    assert login(standin, ADMIN) == 401 and login(standin, "admin") == 401
    first_deploy(standin, kube, tmp_path)
    assert login(standin, ADMIN) == 200
    assert login(standin, "admin") == 401
    assert kube.secrets["stalwart-bootstrap"] == {}
    assert f"administrator {ADMIN}: updated" in capsys.readouterr().out


def test_an_account_of_that_name_the_stack_did_not_make_is_not_taken_over(
    standin, kube, tmp_path, capsys
):
    standin.add("Account", {"@type": "User", "name": "mailstack-admin", "domainId": "1"})
    assert admin_run(standin, kube, tmp_path, "door") == 0
    assert admin_run(standin, kube, tmp_path) == 1
    assert "is not mailstack's administrator" in capsys.readouterr().err
    assert login(standin, "admin") == 200  # nothing closed: the door stays usable for recovery


def test_the_accounts_job_never_touches_the_administrator(standin, kube, tmp_path, capsys):
    first_deploy(standin, kube, tmp_path)
    assert run(standin, tmp_path, "accounts", STALWART_ADMIN_USER=ADMIN) == 0
    assert "mailstack-admin" in standin.accounts()
    listed = account(name="mailstack-admin")
    assert run(standin, tmp_path, "accounts", [listed], STALWART_ADMIN_USER=ADMIN) == 1
    assert "is the administrator; not touching it" in capsys.readouterr().err


def test_a_server_still_accepting_the_recovery_admin_after_the_restart_fails(
    standin, tmp_path, capsys
):
    secrets = {"stalwart-bootstrap": {"recovery-admin": "eA=="}}
    with PodsStandin("kube-token", ["stalwart-abc"], secrets=secrets) as kube:
        assert admin_run(standin, kube, tmp_path, READY_TIMEOUT_SECONDS="0.5") == 1
    assert "the recovery admin is still accepted" in capsys.readouterr().err


def test_a_pod_that_does_not_read_the_key_fails_the_door(standin, tmp_path, capsys):
    standin.recovery_admin = False
    with PodsStandin("kube-token", ["stalwart-abc"], secrets={"stalwart-bootstrap": {}}) as kube:
        assert admin_run(standin, kube, tmp_path, "door", READY_TIMEOUT_SECONDS="0.5") == 1
    assert "the recovery admin is still refused" in capsys.readouterr().err


def test_admin_output_never_holds_the_password_or_the_hash(standin, kube, tmp_path, capsys):
    first_deploy(standin, kube, tmp_path)
    out = capsys.readouterr()
    hashed = (tmp_path / "hash").read_text().strip()
    for text in (out.out, out.err):
        assert standin.admin_password not in text
        assert hashed not in text


def test_the_administrator_fits_the_servers_schema():
    body = jmap_jobs.admin_body("mailstack-admin", "1", HASH_1)
    assert plan_problems([{"@type": "create", "object": "Account", "value": {"admin": body}}]) == []
    broken = {**body, "permissions": {"@type": "Merge", "disabledPermissions": {"readMail": True}}}
    assert (
        plan_problems([{"@type": "create", "object": "Account", "value": {"admin": broken}}]) != []
    )


def test_a_password_changed_by_hand_is_set_back_by_the_next_apply_job(
    standin, kube, tmp_path, capsys
):
    """Someone changed the administrator's password in the WebUI: the Jobs are refused, the
    door opens with the stack's hash, and the administrator gets the stack's password back
    (its description's fingerprint alone would not show the change)."""
    first_deploy(standin, kube, tmp_path)
    admin = standin.accounts()["mailstack-admin"]
    admin["credentials"] = {"0": {"@type": "Password", "secret": hash_password("by-hand", "x")}}
    assert login(standin, ADMIN) == 401
    first_deploy(standin, kube, tmp_path)
    assert login(standin, ADMIN) == 200 and login(standin, "admin") == 401
    assert f"administrator {ADMIN}: updated" in capsys.readouterr().out
