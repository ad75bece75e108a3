"""A Job that failed is run again by the next `pulumi up`, with the same settings (the restore
Job's retry path in docs/how-to/upgrade-to-v016.md U3 rests on this): pulumi-kubernetes'
`replaceUnready` on the
real engine and provider, against Jobs the real Job controller marks Failed.

Every Job pod that lands on the node `kwok-node-failing` ends Failed (the project's KWOK stage
e2e/kwok/job-pod-fail.yaml); the test sends the new pods there by cordoning the other nodes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from e2e.cluster import NODES, Cluster
from e2e.homelab import SETTINGS
from e2e.stack import Stack
from e2e.tests.conftest import StackFactory

FAILING_NODE = "kwok-node-failing"
SERVICE_ACCOUNTS: list[Any] = list(SETTINGS["mailstack:serviceAccounts"])  # type: ignore[call-overload]


@pytest.fixture
def stack(new_stack: StackFactory) -> Stack:
    stack = new_stack("jobs")
    stack.up()
    return stack


def accounts_jobs(cluster: Cluster) -> list[dict[str, Any]]:
    jobs = cluster.get("jobs", "-n", "stalwart")["items"]
    return [j for j in jobs if j["metadata"]["name"].startswith("stalwart-accounts-job")]


def finished(job: dict[str, Any]) -> str:
    conditions = (job.get("status") or {}).get("conditions") or []
    return ",".join(c["type"] for c in conditions if c["status"] == "True")


@contextmanager
def failing_jobs(cluster: Cluster) -> Iterator[None]:
    """Every new Job pod fails inside the block; afterwards the nodes are as before."""
    cluster.add_node(FAILING_NODE)
    for node in NODES:
        cluster.kubectl("cordon", node)
    try:
        yield
    finally:
        for node in NODES:
            cluster.kubectl("uncordon", node)
        cluster.kubectl("cordon", FAILING_NODE)


def test_a_failed_job_runs_again_at_the_next_up_with_the_same_settings(
    cluster: Cluster, stack: Stack
) -> None:
    ci = {"namespace": "monitoring", "secretName": "ci-smtp", "create": True}
    accounts = [*SERVICE_ACCOUNTS, {"name": "ci", "description": "CI", "credentials": ci}]
    stack.set_path("mailstack:serviceAccounts", accounts)
    with failing_jobs(cluster):
        failed = stack.up(check=False)
    assert failed.returncode != 0
    assert "[BackoffLimitExceeded] Job has reached the specified backoff limit" in failed.stdout
    # The replacement failed, so the Job it replaces (complete) is still there beside it.
    [job] = [j for j in accounts_jobs(cluster) if "Failed" in finished(j)]

    again = stack.up()  # the same settings
    [rerun] = accounts_jobs(cluster)
    assert rerun["metadata"]["uid"] != job["metadata"]["uid"], again.stdout[-3000:]
    assert "Complete" in finished(rerun), rerun.get("status")
    result = stack.preview("--expect-no-changes", check=False)
    assert result.returncode == 0, result.stdout[-3000:]
