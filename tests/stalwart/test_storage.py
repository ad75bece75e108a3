"""`mailstack:storage` and `mailstack:replicas` (issue 26): RocksDB renders exactly what it did;
PostgreSQL renders the CloudNativePG cluster, the StatefulSet, and for more than one pod NATS,
the disruption budget and the plan's Coordinator; every combination that cannot be is refused."""

from __future__ import annotations

import json

import pytest

from components.stalwart.v016 import coordinator, database
from offline.secrets import reveal
from offline.stalwart_schema import plan_problems
from tests.conftest import V016_IMAGE, refusals, stack_run

V016 = {"mailstack:image": V016_IMAGE}
POSTGRESQL = {**V016, "mailstack:storage": {"engine": "postgresql", "instances": 3}}
CLUSTERED = {**POSTGRESQL, "mailstack:replicas": "2"}
ROCKSDB_RECORD = {"primary": {"claim": "stalwart-data", "generation": "0.16"}}
POSTGRESQL_RECORD = {**ROCKSDB_RECORD, "storage": "postgresql"}
STATEFULSET = ("kubernetes:apps/v1:StatefulSet", "stalwart-statefulset")
CLUSTER = ("kubernetes:postgresql.cnpg.io/v1:Cluster", "stalwart-database")


@pytest.fixture(scope="module")
def clustered():
    return stack_run(CLUSTERED)


@pytest.fixture(scope="module")
def single():
    return stack_run(POSTGRESQL)


def pod(run) -> dict:
    return run.get(*STATEFULSET).inputs["spec"]["template"]["spec"]


def plan_of(run) -> list[dict]:
    (plans,) = [r for r in run.by_type("kubernetes:core/v1:ConfigMap") if r.name == "stalwart-plan"]
    return [json.loads(line) for line in plans.inputs["data"]["plan.ndjson"].splitlines()]


def test_rocksdb_written_out_renders_exactly_the_default():
    default = stack_run(V016)
    explicit = stack_run({**V016, "mailstack:storage": "rocksdb", "mailstack:replicas": "1"})

    def rendered(run):
        return sorted(
            (r.type, r.name, json.dumps(reveal(r.inputs), sort_keys=True)) for r in run.resources
        )

    assert rendered(explicit) == rendered(default)
    assert explicit.outputs["stalwartData"] == default.outputs["stalwartData"]
    assert "storage" not in default.outputs["stalwartData"]  # records written before stay valid
    types = {r.type for r in default.resources}
    assert "kubernetes:apps/v1:StatefulSet" not in types
    assert "kubernetes:postgresql.cnpg.io/v1:Cluster" not in types


def test_the_database_is_a_protected_cloudnativepg_cluster_waited_for(clustered):
    cluster = clustered.get(*CLUSTER)
    assert cluster.protect and cluster.retain_on_delete
    assert cluster.inputs["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Ready"}
    assert cluster.inputs["spec"] == {
        "instances": 3,
        "storage": {"size": "10Gi", "storageClass": "longhorn"},
        "bootstrap": {"initdb": {"database": "stalwart", "owner": "stalwart"}},
        "affinity": {
            "enablePodAntiAffinity": True,
            "topologyKey": "kubernetes.io/hostname",
            "podAntiAffinityType": "preferred",
        },
    }
    assert cluster.urn in clustered.get(*STATEFULSET).depends_on


def test_stalwart_reads_the_password_cloudnativepg_generated_never_the_state(clustered):
    (container,) = pod(clustered)["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["STALWART_DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "stalwart-db-app",
        "key": "password",
    }
    config = json.loads(
        reveal(clustered.get("kubernetes:core/v1:ConfigMap", "stalwart-config").inputs)["data"][
            "config.json"
        ]
    )
    assert config["authSecret"] == {
        "@type": "EnvironmentVariable",
        "variableName": "STALWART_DB_PASSWORD",
    }
    assert config["host"] == "stalwart-db-rw"
    problems = plan_problems([{"@type": "update", "object": "DataStore", "value": config}])
    assert problems == []
    # Nothing the stack registers holds a database password: no Secret of its own for it.
    text = json.dumps([reveal(r.inputs) for r in clustered.resources])
    assert "stalwart-db-app" in text and '"password":' not in text


def test_each_pod_is_its_own_node_and_mounts_no_claim(clustered):
    statefulset = clustered.get(*STATEFULSET).inputs
    assert statefulset["spec"]["replicas"] == 2
    assert statefulset["spec"]["serviceName"].startswith("stalwart-nodes")
    (container,) = pod(clustered)["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["STALWART_HOSTNAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    volumes = {v["name"]: v for v in pod(clustered)["volumes"]}
    assert "persistentVolumeClaim" not in volumes["data"]
    assert not clustered.by_type("kubernetes:apps/v1:Deployment")
    anti = pod(clustered)["affinity"]["podAntiAffinity"]
    assert anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 100
    budget = clustered.get(
        "kubernetes:policy/v1:PodDisruptionBudget", "stalwart-disruption-budget"
    ).inputs
    assert budget["spec"]["maxUnavailable"] == 1


def test_nats_is_the_plans_coordinator_and_the_pods_restart_when_it_changes(clustered):
    operations = plan_of(clustered)
    assert operations[-1] == coordinator.plan_fragment(clustered=True)[0]
    assert operations[-1]["value"]["addresses"] == {"stalwart-nats:4222": True}
    assert plan_problems(operations) == []
    nats = clustered.get("kubernetes:apps/v1:StatefulSet", "stalwart-nats").inputs
    assert nats["spec"]["replicas"] == 3
    (container,) = nats["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("nats:")
    apply = clustered.get("kubernetes:batch/v1:Job", "stalwart-apply-job").inputs
    (step,) = [
        c for c in apply["spec"]["template"]["spec"]["initContainers"] if c["name"] == "apply-plan"
    ]
    env = {e["name"]: e.get("value") for e in step["env"]}
    assert env["RESTART_AFTER"] == "Coordinator"


def test_stalwart_may_reach_its_database_and_nats_and_nats_only_stalwart(clustered):
    policy = clustered.get(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy", "stalwart-network-policy"
    ).inputs
    egress = [
        (rule["to"][0].get("podSelector", {}).get("matchLabels"), rule["ports"][0]["port"])
        for rule in policy["spec"]["egress"]
    ]
    assert ({"cnpg.io/cluster": "stalwart-db"}, 5432) in egress
    assert (coordinator.pod_labels("stalwart"), 4222) in egress
    nats = clustered.get("kubernetes:networking.k8s.io/v1:NetworkPolicy", "stalwart-nats").inputs
    first = nats["spec"]["ingress"][0]
    assert first["from"][0]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "stalwart",
        "app.kubernetes.io/instance": "stalwart",
    }


def test_one_pod_on_postgresql_has_no_coordinator(single):
    assert single.get(*STATEFULSET).inputs["spec"]["replicas"] == 1
    names = {r.name for r in single.resources}
    assert "stalwart-nats" not in names and "stalwart-disruption-budget" not in names
    # Declared Disabled: a scale-down from two pods leaves no pointer to the removed NATS.
    assert plan_of(single)[-1] == {
        "@type": "update",
        "object": "Coordinator",
        "value": {"@type": "Disabled"},
    }
    assert plan_problems(plan_of(single)) == []
    apply = single.get("kubernetes:batch/v1:Job", "stalwart-apply-job").inputs
    (step,) = [
        c for c in apply["spec"]["template"]["spec"]["initContainers"] if c["name"] == "apply-plan"
    ]
    assert {e["name"]: e.get("value") for e in step["env"]}["RESTART_AFTER"] == "Coordinator"
    assert single.outputs["stalwartData"]["storage"] == "postgresql"


def test_a_postgresql_stack_stays_on_postgresql():
    run = stack_run(POSTGRESQL, previous_outputs={"stalwartData": POSTGRESQL_RECORD})
    assert run.get(*CLUSTER)
    (line,) = refusals(V016, previous_outputs={"stalwartData": POSTGRESQL_RECORD})
    assert line.startswith("mailstack:storage: this stack's mail is in PostgreSQL")


def test_a_rocksdb_stack_is_not_switched_to_an_empty_postgresql():
    (line,) = refusals(POSTGRESQL, previous_outputs={"stalwartData": ROCKSDB_RECORD})
    assert "a PostgreSQL server would start empty" in line
    assert "mailstack:storageMove.phase copy" in line
    assert line.startswith("mailstack:storage: ")


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (
            {**V016, "mailstack:replicas": "3"},
            "mailstack:replicas: 3 Stalwart pods need a shared store",
        ),
        (
            {**POSTGRESQL, "mailstack:upgrade": {"phase": "stop"}},
            "mailstack:storage: cannot change during the v0.16 upgrade",
        ),
    ],
)
def test_combinations_that_cannot_be_are_one_line_each(overrides, says):
    lines = refusals(overrides)
    assert any(line.startswith(says) for line in lines), lines


def test_the_data_store_fits_the_servers_schema():
    store = database.data_store()
    assert plan_problems([{"@type": "update", "object": "DataStore", "value": store}]) == []
