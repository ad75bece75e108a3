"""Issue 26's move of a RocksDB store to PostgreSQL (docs/how-to/move-to-postgresql.md) on the
real engine, provider and API server: a v0.16 RocksDB stack copies (`mailstack:storageMove:
{phase: copy}`), goes back, copies again, and finishes as CI's deploy identity.

What only the real engine shows: the database, unprotected during the copy, is deleted by the
way back (a protected one would fail that update), whose RocksDB pod starts behind the abandon
step; the update that
finishes removes the copy Job and starts the StatefulSet after the release Job; the retention
and protection the next updates add are state only; the data claim keeps its UID throughout;
and each step reads back the `stalwartData` record the previous one wrote. Containers do not
run here (KWOK reports the Jobs' pods as succeeded); the Jobs' steps and guards ran against the
real Stalwart and PostgreSQL by hand
(docs/explanation/verified-against-the-real-servers.md#past-one-node)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from e2e import cnpg
from e2e.cluster import Cluster
from e2e.stack import Stack
from e2e.tests.conftest import StackFactory
from e2e.tests.test_fresh_stack import render, rendered_but_not_live

V016 = "stalwartlabs/stalwart:v0.16.18"
NAMESPACE = ("-n", "stalwart")


def claim_uid(cluster: Cluster) -> str:
    return str(cluster.get("pvc", "stalwart-data", *NAMESPACE)["metadata"]["uid"])


def record(stack: Stack) -> dict[str, Any]:
    found = stack.outputs()["stalwartData"]
    assert isinstance(found, dict)
    return found


def move_job(cluster: Cluster, step: str = "job") -> dict[str, Any] | None:
    jobs = cluster.get("jobs", *NAMESPACE)["items"]
    found = [j for j in jobs if j["metadata"]["name"].startswith(f"stalwart-move-{step}-")]
    assert len(found) <= 1, [j["metadata"]["name"] for j in found]
    return found[0] if found else None


def absent(cluster: Cluster, *what: str) -> bool:
    result = cluster.kubectl("get", *what, *NAMESPACE, check=False)
    return result.returncode != 0 and "NotFound" in result.stderr


def copy(stack: Stack, cluster: Cluster) -> dict[str, Any]:
    """M1: the copy; what it leaves is checked, and the copy Job returned."""
    stack.set("mailstack:storage", "postgresql")
    stack.set_path("mailstack:storageMove", {"phase": "copy"})
    stack.up()
    assert cluster.get("deployment", "stalwart", *NAMESPACE)["spec"]["replicas"] == 0
    assert absent(cluster, "statefulset", "stalwart")
    assert "stalwart-db" in cnpg.READIED
    job = move_job(cluster)
    assert job is not None and job["status"].get("succeeded") == 1
    steps = [c["name"] for c in job["spec"]["template"]["spec"]["initContainers"]]
    assert steps == ["export", "split", "clear", "import"]
    data = record(stack)
    assert data["movePhase"] == "copy" and "storage" not in data
    return job


def test_the_move_copies_goes_back_and_finishes(
    cluster: Cluster, new_stack: StackFactory, tmp_path: Path
) -> None:
    stack: Stack = new_stack("moved", settings={"mailstack:image": V016})
    stack.up()
    uid = claim_uid(cluster)
    assert "storage" not in record(stack)

    copy(stack, cluster)
    preview = stack.preview("--expect-no-changes", "--diff", check=False)
    assert preview.returncode == 0, preview.stdout[-6000:] + preview.stderr[-2000:]

    # Going back from the copy: RocksDB as it was; the copy database is deleted, not refused.
    stack.remove("mailstack:storageMove")
    stack.remove("mailstack:storage")
    stack.up()
    assert cluster.get("deployment", "stalwart", *NAMESPACE)["spec"]["replicas"] == 1
    assert absent(cluster, "clusters.postgresql.cnpg.io", "stalwart-db")
    assert move_job(cluster) is None
    template = cluster.get("deployment", "stalwart", *NAMESPACE)["spec"]["template"]["spec"]
    assert [c["name"] for c in template["initContainers"]] == ["abandon-the-copy"]
    assert "movePhase" not in record(stack) and "storage" not in record(stack)
    assert claim_uid(cluster) == uid

    copy(stack, cluster)
    template = cluster.get("deployment", "stalwart", *NAMESPACE)["spec"]["template"]["spec"]
    assert "initContainers" not in template

    # The finish, as CI's deploy identity with the RBAC a render of these settings writes.
    stack.remove("mailstack:storageMove")
    render(stack, tmp_path / "rbac")
    cluster.kubectl(
        "apply", "-f", "-", stdin=(tmp_path / "rbac" / "deployer-rbac.yaml").read_text()
    )
    identity = cluster.service_account_kubeconfig("stalwart", "mailstack-deployer", tmp_path)
    as_deployer = {"KUBECONFIG": str(identity)}
    stack.up("--refresh", env=as_deployer)
    assert move_job(cluster) is None  # nothing in the finish can clear the database
    release = move_job(cluster, "release")
    assert release is not None and release["status"].get("succeeded") == 1
    stalwart = cluster.get("statefulset", "stalwart", *NAMESPACE)
    assert stalwart["status"]["readyReplicas"] == 1
    assert absent(cluster, "deployment", "stalwart")
    assert record(stack)["storage"] == "postgresql" and "movePhase" not in record(stack)
    database = [
        r for r in stack.resources() if r.get("type") == "kubernetes:postgresql.cnpg.io/v1:Cluster"
    ]
    assert [(bool(r.get("protect")), bool(r.get("retainOnDelete"))) for r in database] == [
        (False, True)
    ]
    assert claim_uid(cluster) == uid

    # The next update removes the release Job and protects the database; nothing changes after.
    stack.up("--refresh", env=as_deployer)
    assert move_job(cluster, "release") is None
    database = [
        r for r in stack.resources() if r.get("type") == "kubernetes:postgresql.cnpg.io/v1:Cluster"
    ]
    assert [(bool(r.get("protect")), bool(r.get("retainOnDelete"))) for r in database] == [
        (True, True)
    ]
    assert rendered_but_not_live(cluster, stack, tmp_path) == []
    preview = stack.preview(
        "--refresh", "--expect-no-changes", "--diff", env=as_deployer, check=False
    )
    assert preview.returncode == 0, preview.stdout[-6000:] + preview.stderr[-2000:]
    # Back to RocksDB is refused now: the mail received since is in PostgreSQL only.
    stack.set("mailstack:storage", "rocksdb")
    refused = stack.preview(check=False)
    assert refused.returncode != 0
    assert (
        "mailstack:storage: this stack's mail is in PostgreSQL" in refused.stdout + refused.stderr
    )
    assert claim_uid(cluster) == uid
