"""The staged move of a RocksDB store to PostgreSQL (issue 26, `mailstack:storageMove`): the copy
stops the RocksDB server once the new database is Ready and copies its claim into it; the next
update starts Stalwart on PostgreSQL only after the release Job found a finished copy there;
removing both keys instead goes back to RocksDB behind the abandon step; everything else is
refused in one line. What the guards do in the database ran on PostgreSQL 15 by hand
(docs/explanation/verified-against-the-real-servers.md#past-one-node)."""

from __future__ import annotations

import json
import subprocess

import pytest

from components.stalwart.v016 import move
from incluster import store_move
from offline.secrets import reveal
from offline.stalwart_schema import plan_problems
from tests.conftest import V016_IMAGE, refusals, stack_run

V016 = {"mailstack:image": V016_IMAGE}
POSTGRESQL = {**V016, "mailstack:storage": "postgresql"}
COPY = {**POSTGRESQL, "mailstack:storageMove": {"phase": "copy"}}
ROCKSDB_RECORD = {"primary": {"claim": "stalwart-data", "generation": "0.16"}, "serving": "primary"}
COPIED_RECORD = {**ROCKSDB_RECORD, "movePhase": "copy"}
POSTGRESQL_RECORD = {**ROCKSDB_RECORD, "storage": "postgresql"}
UPGRADED_RECORD = {
    "primary": {"claim": "stalwart-data", "generation": "0.15"},
    "upgraded": {"claim": "stalwart-data-v016", "generation": "0.16"},
    "serving": "upgraded",
}
DEPLOYMENT = ("kubernetes:apps/v1:Deployment", "stalwart-deployment")
STATEFULSET = ("kubernetes:apps/v1:StatefulSet", "stalwart-statefulset")
CLUSTER = ("kubernetes:postgresql.cnpg.io/v1:Cluster", "stalwart-database")
MOVE_JOB = ("kubernetes:batch/v1:Job", "stalwart-move-job")
GATE = ("kubernetes:batch/v1:Job", "stalwart-move-stop-gate")
MOVE_PARTS = (
    MOVE_JOB,
    GATE,
    ("kubernetes:core/v1:ConfigMap", "stalwart-move-config"),
    ("kubernetes:core/v1:ConfigMap", "stalwart-move-scripts"),
    ("kubernetes:core/v1:ConfigMap", "stalwart-move-gate-scripts"),
)


def after(record, settings=COPY):
    return stack_run(settings, previous_outputs={"stalwartData": record})


@pytest.fixture(scope="module")
def copy():
    return after(ROCKSDB_RECORD)


@pytest.fixture(scope="module")
def finish():
    return after(COPIED_RECORD, POSTGRESQL)


def pod(job) -> dict:
    return job.inputs["spec"]["template"]["spec"]


def test_the_copy_stops_rocksdb_and_starts_nothing_on_postgresql(copy):
    deployment = copy.get(*DEPLOYMENT)
    assert deployment.inputs["spec"]["replicas"] == 0
    assert "kubernetes:apps/v1:StatefulSet" not in {r.type for r in copy.resources}
    names = {r.name for r in copy.by_type("kubernetes:batch/v1:Job")}
    assert names == {"stalwart-move-job", "stalwart-move-stop-gate"}  # no apply or accounts Job
    assert not copy.by_type("kubernetes:batch/v1:CronJob")
    # The record still says RocksDB holds the mail: the rollback is `storage: rocksdb`.
    record = copy.outputs["stalwartData"]
    assert record["movePhase"] == "copy" and "storage" not in record


def test_the_copy_runs_once_no_rocksdb_pod_is_left_and_the_database_is_ready(copy):
    job, gate, deployment, cluster = (copy.get(*k) for k in (MOVE_JOB, GATE, DEPLOYMENT, CLUSTER))
    assert gate.urn in job.depends_on and cluster.urn in job.depends_on
    assert deployment.urn in gate.depends_on
    (wait,) = pod(gate)["containers"]
    env = {e["name"]: e.get("value") for e in wait["env"]}
    assert wait["name"] == "wait-for-rocksdb-to-stop"
    selector = dict(pair.split("=") for pair in env["POD_SELECTOR"].split(","))
    assert selector.items() <= deployment.inputs["spec"]["template"]["metadata"]["labels"].items()


def test_the_database_holds_only_a_copy_until_the_move_finishes(copy, finish):
    after_it = after(POSTGRESQL_RECORD, POSTGRESQL)
    flags = [
        (r.get(*CLUSTER).protect, r.get(*CLUSTER).retain_on_delete)
        for r in (copy, finish, after_it)
    ]
    # Going back deletes the copy; from the finish on it is kept; protected once recorded.
    assert flags == [(False, False), (False, True), (True, True)]


def test_rocksdb_stops_only_once_the_database_is_ready(copy):
    assert copy.get(*CLUSTER).urn in copy.get(*DEPLOYMENT).depends_on


def test_the_steps_export_split_clear_import_then_load(copy):
    spec = pod(copy.get(*MOVE_JOB))
    steps = [c["name"] for c in spec["initContainers"]] + [c["name"] for c in spec["containers"]]
    assert steps == ["export", "split", "clear", "import", "load"]
    export, split, clear, imported = spec["initContainers"]
    (load,) = spec["containers"]
    assert export["image"] == imported["image"] == V016_IMAGE
    assert export["args"] == ["--config", "/etc/stalwart/config.json", "--export", move.EXPORT_DIR]
    assert imported["args"] == [
        "--config",
        f"{move.POSTGRESQL_CONFIG_DIR}/config.json",
        "--import",
        move.EXPORT_DIR,
    ]
    assert split["command"][-4:] == ["split", move.EXPORT_DIR, move.HELD_DIR, move.REGISTRY_SQL]
    assert clear["command"][-2:] == ["--command", store_move.CLEAR_SQL]
    assert load["command"][:2] == ["sh", "-c"] and load["command"][-2:] == [
        "--file",
        move.REGISTRY_SQL,
    ]
    # The export (all mail, the registry's secrets) is removed once the load succeeded.
    assert load["command"][2] == (
        'psql --no-psqlrc --set ON_ERROR_STOP=1 "$@" && '
        f"rm -rf {move.EXPORT_DIR} {move.HELD_DIR} {move.REGISTRY_SQL}"
    )
    assert "ON_ERROR_STOP=1" in clear["command"]
    # Only the export mounts the mail claim.
    mounts = {
        c["name"]: {m["name"] for m in c["volumeMounts"]} for c in [*spec["initContainers"], load]
    }
    assert [name for name, m in mounts.items() if "data" in m] == ["export"]
    claim = next(v for v in spec["volumes"] if v["name"] == "data")
    assert claim["persistentVolumeClaim"]["claimName"] == "stalwart-data"
    env = {e["name"]: e for e in imported["env"]}
    assert env["STALWART_HOSTNAME"]["value"] == "stalwart-0"  # the first pod's lease
    assert {e["name"]: e.get("value") for e in export["env"]}["STALWART_HOSTNAME"] == (
        copy.get(*DEPLOYMENT).inputs["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"]
    )


def test_the_database_password_comes_from_cloudnativepgs_secret_only(copy):
    spec = pod(copy.get(*MOVE_JOB))
    for container in [*spec["initContainers"], *spec["containers"]]:
        for env in container.get("env", []):
            if "PASSWORD" in env["name"]:
                assert "value" not in env
                assert env["valueFrom"]["secretKeyRef"] == {
                    "name": "stalwart-db-app",
                    "key": "password",
                }


def test_the_move_reads_rocksdb_and_writes_the_servers_postgresql_config(copy, finish):
    configs = copy.get("kubernetes:core/v1:ConfigMap", "stalwart-move-config").inputs["data"]
    server_rocksdb = copy.get("kubernetes:core/v1:ConfigMap", "stalwart-config").inputs["data"]
    server_postgresql = finish.get("kubernetes:core/v1:ConfigMap", "stalwart-config").inputs["data"]
    assert configs[move.ROCKSDB_CONFIG] == server_rocksdb["config.json"]
    assert configs[move.POSTGRESQL_CONFIG] == server_postgresql["config.json"]
    store = json.loads(configs[move.POSTGRESQL_CONFIG])
    assert plan_problems([{"@type": "update", "object": "DataStore", "value": store}]) == []


def test_the_finish_starts_postgresql_only_after_the_release(finish):
    release = finish.get("kubernetes:batch/v1:Job", "stalwart-move-release")
    assert release.urn in finish.get(*STATEFULSET).depends_on
    assert finish.get(*CLUSTER).urn in release.depends_on
    (step,) = pod(release)["containers"]
    assert step["command"][-2:] == ["--command", store_move.RELEASE_SQL]
    # The copy is not declared again: nothing in the finish can clear the database.
    assert not [k for k in MOVE_PARTS if any(r.name == k[1] for r in finish.resources)]
    assert "kubernetes:apps/v1:Deployment" not in {r.type for r in finish.resources}
    assert finish.outputs["stalwartData"]["storage"] == "postgresql"
    assert "movePhase" not in finish.outputs["stalwartData"]
    assert finish.get("kubernetes:core/v1:PersistentVolumeClaim", "stalwart-data").protect


def test_after_the_finish_the_move_is_gone():
    run = after(POSTGRESQL_RECORD, POSTGRESQL)
    assert not [k for k in MOVE_PARTS if any(r.name == k[1] for r in run.resources)]


def test_going_back_starts_rocksdb_as_it_was_behind_the_abandon_step():
    back = after(COPIED_RECORD, V016)
    fresh = after(ROCKSDB_RECORD, V016)
    spec = back.get(*DEPLOYMENT).inputs["spec"]["template"]["spec"]
    (step,) = spec.pop("initContainers")
    assert step["name"] == "abandon-the-copy"
    assert step["command"][:2] == ["sh", "-c"] and step["command"][-1] == store_move.ABANDON_SQL
    assert 'if [ -z "${PGPASSWORD:-}" ]; then' in step["command"][2]  # no database: nothing to do
    (password,) = [e for e in step["env"] if e["name"] == "PGPASSWORD"]
    assert password["valueFrom"]["secretKeyRef"]["optional"] is True
    # The step may reach the database; nothing else differs from RocksDB before the move.
    policy = ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "stalwart-network-policy")
    egress = back.get(*policy).inputs["spec"]["egress"]
    assert any(
        peer.get("podSelector", {}).get("matchLabels") == {"cnpg.io/cluster": "stalwart-db"}
        for rule in egress
        for peer in rule.get("to", [])
    )

    def rendered(run):
        return sorted(
            (r.type, r.name, json.dumps(reveal(r.inputs), sort_keys=True))
            for r in run.resources
            if (r.type, r.name) not in (DEPLOYMENT, policy)
        )

    assert rendered(back) == rendered(fresh)
    assert reveal(back.get(*DEPLOYMENT).inputs) == reveal(fresh.get(*DEPLOYMENT).inputs)
    assert back.outputs["stalwartData"] == fresh.outputs["stalwartData"]
    assert "initContainers" not in fresh.get(*DEPLOYMENT).inputs["spec"]["template"]["spec"]


def test_the_abandon_steps_shell_runs_psql_only_with_a_password(tmp_path):
    """The step's `sh -c` as a pod runs it, with a psql that records its arguments."""
    (step,) = (
        after(COPIED_RECORD, V016)
        .get(*DEPLOYMENT)
        .inputs["spec"]["template"]["spec"]["initContainers"]
    )
    fake = tmp_path / "psql"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$ARGS_FILE"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "ARGS_FILE": str(tmp_path / "args")}
    none = subprocess.run(step["command"], env=env, capture_output=True, text=True, check=True)
    assert none.stdout == "no copy database: nothing to do\n"
    assert not (tmp_path / "args").exists()
    subprocess.run(step["command"], env={**env, "PGPASSWORD": "x"}, check=True)
    assert (tmp_path / "args").read_text().splitlines() == [
        "--no-psqlrc",
        "--set",
        "ON_ERROR_STOP=1",
        "--command",
        store_move.ABANDON_SQL,
    ]


def test_after_the_v016_upgrade_the_move_copies_the_copy_claim():
    run = after(UPGRADED_RECORD)
    spec = pod(run.get("kubernetes:batch/v1:Job", "stalwart-v016-move-job"))
    claim = next(v for v in spec["volumes"] if v["name"] == "data")
    assert claim["persistentVolumeClaim"]["claimName"] == "stalwart-data-v016"
    imported = spec["initContainers"][3]
    env = {e["name"]: e.get("value") for e in imported["env"]}
    assert env["STALWART_HOSTNAME"] == "stalwart-v016-0"


@pytest.mark.parametrize(
    ("record", "overrides", "says"),
    [
        (None, COPY, "mailstack:storageMove: there is nothing to move: a fresh stack"),
        (POSTGRESQL_RECORD, COPY, "mailstack:storageMove: there is nothing to move: the mail"),
        (ROCKSDB_RECORD, {**COPY, "mailstack:replicas": "2"}, "mailstack:replicas: the copy stops"),
        (ROCKSDB_RECORD, POSTGRESQL, "mailstack:storage: this stack's mail is in RocksDB"),
        (
            COPIED_RECORD,
            {**POSTGRESQL, "mailstack:replicas": "2"},
            "mailstack:replicas: the update that finishes the move starts one pod",
        ),
        (
            COPIED_RECORD,
            {**V016, "mailstack:storageMove": {"phase": "copy"}},
            "mailstack:storageMove: moves the mail",
        ),
    ],
)
def test_a_move_that_cannot_be_is_one_line(record, overrides, says):
    outputs = {"stalwartData": record} if record else None
    (line,) = refusals(overrides, previous_outputs=outputs)
    assert line.startswith(says), line
    assert "Fix: " in line


def test_a_record_with_a_move_phase_it_never_writes_is_refused():
    (line,) = refusals(
        V016, previous_outputs={"stalwartData": {**ROCKSDB_RECORD, "movePhase": "import"}}
    )
    assert "movePhase is not copy" in line
