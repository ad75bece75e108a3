"""Issue 26 on the real engine, provider and API server: `mailstack:storage: postgresql` with
`mailstack:replicas: 2`. CloudNativePG's Cluster is accepted by its CRD (e2e/crds/
cnpg-cluster.yaml, written from the Go type) and waited for until Ready (a stand-in plays the
operator, e2e/cnpg.py); Stalwart runs as a StatefulSet of two pods (KWOK), NATS as a StatefulSet
of three; every rendered object is created with its rendered fields, and a second preview shows
no change."""

from __future__ import annotations

from pathlib import Path

from e2e import cnpg
from e2e.cluster import Cluster
from e2e.stack import Stack
from e2e.tests.conftest import StackFactory
from e2e.tests.test_fresh_stack import rendered_but_not_live

STORAGE: dict[str, object] = {"engine": "postgresql", "instances": 2, "size": "5Gi"}
SCALED: dict[str, object] = {"mailstack:storage": STORAGE, "mailstack:replicas": "2"}


def test_two_stalwart_pods_on_cloudnativepg_with_nats(
    cluster: Cluster, new_stack: StackFactory, tmp_path: Path
) -> None:
    stack: Stack = new_stack("scaled", settings=SCALED)
    stack.up()
    assert "stalwart-db" in cnpg.READIED
    database = cluster.get("clusters.postgresql.cnpg.io", "stalwart-db", "-n", "stalwart")
    assert database["spec"]["instances"] == 2
    assert database["spec"]["bootstrap"]["initdb"] == {"database": "stalwart", "owner": "stalwart"}
    stalwart = cluster.get("statefulset", "stalwart", "-n", "stalwart")
    assert stalwart["spec"]["replicas"] == 2
    assert stalwart["status"]["readyReplicas"] == 2
    nats = cluster.get("statefulset", "stalwart-nats", "-n", "stalwart")
    assert nats["status"]["readyReplicas"] == 3
    pods = cluster.get("pods", "-n", "stalwart", "-l", "app.kubernetes.io/component=mail-server")
    assert sorted(p["metadata"]["name"] for p in pods["items"]) == ["stalwart-0", "stalwart-1"]
    budgets = cluster.get("poddisruptionbudgets", "-n", "stalwart")["items"]
    assert sorted(b["spec"]["maxUnavailable"] for b in budgets) == [1, 1]
    assert cluster.kubectl(
        "get", "deployment", "stalwart", "-n", "stalwart", check=False
    ).returncode
    assert rendered_but_not_live(cluster, stack, tmp_path) == []
    preview = stack.preview("--expect-no-changes", "--diff", check=False)
    assert preview.returncode == 0, preview.stdout[-6000:] + preview.stderr[-2000:]

    # CI's deploy identity, with the RBAC this render writes (offline/deployer.py adds the
    # StatefulSet, PodDisruptionBudget and Cluster rules only for a PostgreSQL stack): a third
    # pod, one more database instance, and back, under the real authorizer and awaiters.
    manifest = (tmp_path / "rendered" / "deployer-rbac.yaml").read_text()
    cluster.kubectl("apply", "-f", "-", stdin=manifest)
    identity = cluster.service_account_kubeconfig("stalwart", "mailstack-deployer", tmp_path)
    as_deployer = {"KUBECONFIG": str(identity)}
    stack.set("mailstack:replicas", "3")
    stack.set_path("mailstack:storage", {**STORAGE, "instances": 3})
    stack.up("--refresh", env=as_deployer)
    assert cluster.get("statefulset", "stalwart", "-n", "stalwart")["status"]["readyReplicas"] == 3
    stack.set("mailstack:replicas", "1")  # one pod: NATS and both budgets go
    stack.up("--refresh", env=as_deployer)
    assert cluster.get("statefulset", "stalwart", "-n", "stalwart")["spec"]["replicas"] == 1
    gone = cluster.kubectl("get", "statefulset", "stalwart-nats", "-n", "stalwart", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    assert cluster.get("poddisruptionbudgets", "-n", "stalwart")["items"] == []
