"""The stand-ins against what the real servers answered.

`recorded/real-servers.jsonl` holds exchanges recorded from the real Stalwart binaries (v0.16.18
and v0.15.5, built from source and run by hand beside the project; secrets redacted): each one
the stand-in was corrected to match. Each test puts the stand-in in the same state, sends the
recorded request and compares the part of the answer the project relies on.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from pathlib import Path
from typing import Any

from tests.standins.stalwart_v015 import StalwartStandin
from tests.standins.stalwart_v016 import JmapStandin

RECORDINGS = Path(__file__).parent / "recorded" / "real-servers.jsonl"
RECORDED = {record["id"]: record for record in map(json.loads, RECORDINGS.read_text().splitlines())}


def jmap(standin: JmapStandin, request: dict[str, Any]) -> list[Any]:
    token = base64.b64encode(f"admin:{standin.admin_password}".encode()).decode()
    sent = urllib.request.Request(
        f"{standin.url}/jmap",
        data=json.dumps(request).encode(),
        headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(sent, timeout=5) as answer:
        responses: list[Any] = json.load(answer)["methodResponses"]
    return responses


def recorded_answer(key: str) -> dict[str, Any]:
    ((_, answer, _),) = RECORDED[key]["response"]["methodResponses"][-1:]
    return dict(answer)


def test_a_first_start_holds_the_seven_real_listeners() -> None:
    def shape(listener: dict[str, Any]) -> tuple[object, ...]:
        return tuple(
            json.dumps(listener.get(k), sort_keys=True)
            for k in ("name", "protocol", "bind", "useTls", "tlsImplicit")
        )

    real = {shape(listener) for listener in recorded_answer("first-start-listeners")["list"]}
    with JmapStandin(first_start=True) as standin:
        [(_, answer, _)] = jmap(
            standin, {"using": [], "methodCalls": [["x:NetworkListener/get", {}, "g"]]}
        )
    assert {shape(listener) for listener in answer["list"]} == real
    assert len(real) == 7


def test_an_immutable_property_in_an_update_is_refused_as_the_real_server_does() -> None:
    request = RECORDED["immutable-in-update"]["request"]
    [[name, args, call]] = request["methodCalls"]
    [(real_id, patch)] = args["update"].items()
    with JmapStandin(first_start=True) as standin:
        [http_id] = [
            i for i, o in standin.objects["NetworkListener"].items() if o["name"] == patch["name"]
        ]
        [(_, answer, _)] = jmap(
            standin, {**request, "methodCalls": [[name, {"update": {http_id: patch}}, call]]}
        )
    assert (
        answer["notUpdated"][http_id]
        == recorded_answer("immutable-in-update")["notUpdated"][real_id]
    )


def test_a_property_the_type_lacks_is_refused_as_the_real_server_does() -> None:
    request = RECORDED["unknown-property"]["request"]
    [[name, args, call]] = request["methodCalls"]
    with JmapStandin() as standin:
        domain = standin.add("Domain", {"name": "example.com"})
        [(_, answer, _)] = jmap(
            standin,
            {
                "using": request["using"],
                "methodCalls": [[name, args, call]],
                "createdIds": {"create-0": domain},
            },
        )
    assert answer["notCreated"] == recorded_answer("unknown-property")["notCreated"]


def test_recovery_mode_answers_a_never_written_singleton_with_its_first_variant() -> None:
    request = RECORDED["recovery-unwritten-singleton"]["request"]
    with JmapStandin(recovery=True) as standin:
        [(_, answer, _)] = jmap(standin, request)
    assert answer["list"] == recorded_answer("recovery-unwritten-singleton")["list"]


def test_a_created_stdout_tracer_reads_back_with_the_real_servers_defaults() -> None:
    [real] = recorded_answer("stdout-tracer-defaults")["list"]
    declared = {k: v for k, v in real.items() if k not in ("id", "lossy", "events", "eventsPolicy")}
    with JmapStandin() as standin:
        tracer = standin.add("Tracer", declared)
        [(_, answer, _)] = jmap(
            standin, {"using": [], "methodCalls": [["x:Tracer/get", {"ids": [tracer]}, "g"]]}
        )
    [read] = answer["list"]
    assert {**read, "id": real["id"]} == real


def test_an_unlicensed_v015_refuses_to_list_tenants_as_the_real_server_does() -> None:
    record = RECORDED["v015-tenant-listing"]
    with StalwartStandin() as standin:
        token = base64.b64encode(f"admin:{standin.admin_password}".encode()).decode()
        sent = urllib.request.Request(
            standin.url + record["path"], headers={"Authorization": f"Basic {token}"}
        )
        with urllib.request.urlopen(sent, timeout=5) as answer:
            assert (answer.status, json.load(answer)) == (record["status"], record["response"])


def test_every_recording_is_checked_and_holds_no_secret() -> None:
    checked = {
        "first-start-listeners",
        "immutable-in-update",
        "unknown-property",
        "recovery-unwritten-singleton",
        "stdout-tracer-defaults",
        "v015-tenant-listing",
    }
    assert set(RECORDED) == checked
    text = RECORDINGS.read_text()
    for marker in ("$6$", "$argon2", "PRIVATE KEY", "otpauth://", "$app$"):
        assert marker not in text
