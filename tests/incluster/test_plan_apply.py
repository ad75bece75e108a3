"""The plan applier (incluster/plan_apply.py through `jmap_jobs apply`), really talking HTTP to the
v0.16 stand-in, which behaves as the real v0.16.18 server did in the rehearsal (first-start
listeners and tracer, immutable names, server-filled defaults, createdIds)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.stalwart.v016 import plan
from incluster import jmap_jobs
from settings.model import Relay
from tests.standins.stalwart_v016 import JmapStandin

EXPORT = [
    {"@type": "create", "object": "Domain", "value": {"create-0": {"name": "example.com"}}},
    {
        "@type": "create",
        "object": "Account",
        "value": {
            "restore-5": {
                "@type": "User",
                "name": "owner",
                "domainId": "#create-0",
                "credentials": {"0": {"@type": "Password", "secret": "$6$salt$" + "E" * 86}},
            }
        },
    },
    {"@type": "update", "object": "SystemSettings", "value": {"defaultDomainId": "#create-0"}},
]


def rendered_plan() -> list[dict[str, Any]]:
    relay = Relay(host="smtp.resend.com", port=465, username="resend", implicit_tls=True)
    inputs = plan.PlanInputs("example.com", "mail.example.com", relay, ("plain", "login"))
    return plan.render_plan(inputs)


def apply(
    standin: JmapStandin, tmp_path: Path, *plans: list[dict[str, Any]], recovery: bool = False
) -> tuple[int, str]:
    (tmp_path / "admin").write_text(standin.admin_password + "\n")
    files = []
    for index, operations in enumerate(plans):
        path = tmp_path / f"plan-{index}.ndjson"
        path.write_text(plan.to_ndjson(operations))
        files.append(str(path))
    env = {
        "STALWART_URL": standin.url,
        "ADMIN_PASSWORD_FILE": str(tmp_path / "admin"),
        "READY_TIMEOUT_SECONDS": "5",
    }
    lines: list[str] = []
    original = jmap_jobs._print
    jmap_jobs._print = lines.append  # type: ignore[assignment]
    try:
        flags = ["--recovery"] if recovery else []
        status = jmap_jobs.main(["apply", *flags, *files], env, sleep=lambda _: None)
    finally:
        jmap_jobs._print = original
    return status, "\n".join(lines)


def writes(standin: JmapStandin) -> list[tuple[str, str]]:
    """(method, kind) of every create/update/destroy sent."""
    found = []
    for request in standin.requests:
        for name, args, _ in (request.body or {}).get("methodCalls", []):
            if name.endswith("/set"):
                found += [
                    (name, kind) for kind in ("create", "update", "destroy") if args.get(kind)
                ]
    return found


@pytest.fixture
def server():
    with JmapStandin(first_start=True) as standin:
        yield standin


def names(standin: JmapStandin, object_type: str) -> set[str]:
    return {str(o.get("name")) for o in standin.objects[object_type].values()}


def test_the_rendered_plan_applies_on_a_first_started_server(server, tmp_path):
    status, output = apply(server, tmp_path, rendered_plan(), plan.RELOAD_PLAN)
    assert status == 0, output
    # The default listeners the plan does not declare are gone; the file tracer too.
    assert names(server, "NetworkListener") == {"http", "imaps", "submission", "metrics"}
    assert [t["@type"] for t in server.objects["Tracer"].values()] == ["Stdout"]
    (domain_id,) = server.objects["Domain"]
    assert server.objects["SystemSettings"]["singleton"]["defaultDomainId"] == domain_id
    assert names(server, "MtaRoute") == {"local", "relay"}
    assert output.splitlines()[-1].startswith("plan applied: created=")


def test_an_update_never_names_an_immutable_property(server, tmp_path):
    """The real server refuses `name` in an update even unchanged (invalidPatch); `http` and
    `imaps` exist at first start, so the plan updates them."""
    assert apply(server, tmp_path, rendered_plan())[0] == 0
    for request in server.requests:
        for name, args, _ in (request.body or {}).get("methodCalls", []):
            for patch in (args.get("update") or {}).values():
                if name in ("x:NetworkListener/set", "x:MtaRoute/set"):
                    assert "name" not in patch


def test_applying_the_plan_again_writes_nothing(server, tmp_path):
    assert apply(server, tmp_path, rendered_plan())[0] == 0
    before = len(writes(server))
    status, output = apply(server, tmp_path, rendered_plan())
    assert status == 0, output
    assert writes(server)[before:] == []
    assert "created=0 updated=0" in output and "destroyed=0" in output


def test_the_hourly_run_counts_its_reload_as_an_action_not_a_creation(server, tmp_path):
    """What the Job and the CronJob run: plan, then reload. The real v0.16.18 ended `created=1` on
    every rerun while the reload was counted as a creation (an Action is never stored)."""
    assert apply(server, tmp_path, rendered_plan(), plan.RELOAD_PLAN)[0] == 0
    status, output = apply(server, tmp_path, rendered_plan(), plan.RELOAD_PLAN)
    assert status == 0, output
    # 17 unchanged, as on the real server (docs/explanation/verified-against-the-real-servers.md)
    assert output.splitlines()[-1] == (
        "plan applied: created=0 updated=0 unchanged=17 reused=0 destroyed=0 actions=1"
    )
    assert writes(server)[-1] == ("x:Action/set", "create")


def test_in_recovery_mode_every_declared_singleton_is_written(tmp_path):
    """The real server in recovery mode answered the never-written Asn singleton as `Disabled`:
    "unchanged" would have let the first normal start store its default (ASN/GeoIP downloads)."""
    declared = [op for op in rendered_plan() if op["object"] == "Asn"]
    assert declared == [{"@type": "update", "object": "Asn", "value": {"@type": "Disabled"}}]
    with JmapStandin(recovery=True) as server:
        assert apply(server, tmp_path, declared)[1].endswith(
            "unchanged=1 reused=0 destroyed=0 actions=0"
        )
        assert "singleton" not in server.objects["Asn"]  # what went wrong on the real server
        status, output = apply(server, tmp_path, declared, recovery=True)
        assert status == 0, output
        assert "update Asn: @type" in output
        assert server.objects["Asn"]["singleton"]["@type"] == "Disabled"


def test_a_property_the_server_does_not_know_is_one_line_and_exit_1(server, tmp_path, capsys):
    bad = [{"@type": "update", "object": "Asn", "value": {"@type": "Disabled", "speed": 9}}]
    status, _ = apply(server, tmp_path, bad)
    assert status == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("apply failed: update Asn") and "Invalid key for object" in err
    assert "\n" not in err and "Traceback" not in err


def test_a_webui_edit_of_a_declared_property_is_undone_and_others_stay(server, tmp_path):
    assert apply(server, tmp_path, rendered_plan())[0] == 0
    relay = next(r for r in server.objects["MtaRoute"].values() if r["name"] == "relay")
    relay["port"] = 2525  # edited in the WebUI
    relay["description"] = "a note the plan does not declare"
    server.add("MtaRoute", {"@type": "Relay", "name": "added-in-webui", "address": "x", "port": 25})
    assert apply(server, tmp_path, rendered_plan())[0] == 0
    relay = next(r for r in server.objects["MtaRoute"].values() if r["name"] == "relay")
    assert relay["port"] == 465
    assert relay["description"] == "a note the plan does not declare"
    assert names(server, "MtaRoute") == {"local", "relay"}


def test_an_export_applied_twice_reuses_what_the_first_run_created(tmp_path):
    """A restore that stopped halfway is applied again as it is (UPGRADING/v0_16.md: what a
    partial run created is correct and reused); nothing is deleted to recover."""
    with JmapStandin() as server:
        server.set_error = None
        assert apply(server, tmp_path, EXPORT[:1])[0] == 0  # stopped after the domain
        status, output = apply(server, tmp_path, EXPORT)
        assert status == 0, output
        assert "Domain create-0: exists, reused" in output
        status, output = apply(server, tmp_path, EXPORT)
        assert status == 0, output
        assert "Account restore-5: exists, reused" in output
        assert len(server.objects["Domain"]) == 1 and len(server.objects["Account"]) == 1
        (account,) = server.objects["Account"].values()
        (domain_id,) = server.objects["Domain"]
        assert account["domainId"] == domain_id
        assert not any(kind == "destroy" for _, kind in writes(server))


def test_a_restore_client_id_reaches_the_server_as_given(tmp_path):
    with JmapStandin() as server:
        assert apply(server, tmp_path, EXPORT)[0] == 0
        creates = [
            args["create"]
            for request in server.requests
            for name, args, _ in (request.body or {}).get("methodCalls", [])
            if name == "x:Account/set" and args.get("create")
        ]
        assert [list(c) for c in creates] == [["restore-5"]]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json\n", "line 1: not JSON"),
        ('{"@type": "merge", "object": "Domain", "value": {}}\n', "line 1: not an operation"),
        ('{"@type": "update", "object": "Http"}\n', "line 1: no value object"),
    ],
)
def test_a_broken_plan_is_one_line_naming_the_file_and_line(server, tmp_path, text, says, capsys):
    path = tmp_path / "broken.ndjson"
    path.write_text(text)
    (tmp_path / "admin").write_text(server.admin_password)
    env = {"STALWART_URL": server.url, "ADMIN_PASSWORD_FILE": str(tmp_path / "admin")}
    assert jmap_jobs.main(["apply", str(path)], env, sleep=lambda _: None) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(path) in err and says in err
    assert writes(server) == []


def test_a_reference_to_nothing_is_refused_before_writing(server, tmp_path):
    bad = [{"@type": "update", "object": "Domain", "id": "#nowhere", "value": {"description": "x"}}]
    status, _ = apply(server, tmp_path, bad)
    assert status == 1
    assert writes(server) == []


def test_the_plan_never_holds_a_secret(tmp_path):
    text = plan.to_ndjson(rendered_plan())
    assert "re_" not in text
    assert all(
        secret.get("@type") == "File"
        for line in text.splitlines()
        for secret in _secrets(json.loads(line))
    )


def _secrets(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        found = [value[k] for k in ("authSecret", "secret") if isinstance(value.get(k), dict)]
        return found + [s for v in value.values() for s in _secrets(v)]
    return []
