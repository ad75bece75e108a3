"""Issue 20, scenario 4: rotations and the consumers that receive them, on objects another field
manager (a Helm release) created first."""

from __future__ import annotations

import json
from typing import Any

import pytest

from e2e.cluster import Cluster
from e2e.homelab import FIXTURE_MANAGER, SECRETS, SETTINGS
from e2e.stack import Stack

PATCH_MANAGER = "mailstack-account-noreply"
RESTART_MANAGER = "mailstack-restart-noreply"


@pytest.fixture(scope="module")
def stack(cluster: Cluster, tools: str, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    deployed = Stack.create(
        "consumers", tmp_path_factory.mktemp("consumers") / "c", tools, cluster.admin_kubeconfig
    )
    deployed.configure(dict(SETTINGS), SECRETS)
    deployed.up()
    return deployed


def live(cluster: Cluster, kind: str, name: str) -> dict[str, Any]:
    """The object with its managedFields (kubectl leaves them out unless asked)."""
    shown = cluster.kubectl(
        "get", kind, name, "-n", "authentik", "-o", "json", "--show-managed-fields"
    )
    return dict(json.loads(shown.stdout))


def accounts(**changes: Any) -> list[dict[str, Any]]:
    """The example's accounts, with `noreply`'s fields changed."""
    found = json.loads(json.dumps(SETTINGS["mailstack:serviceAccounts"]))
    found[0].update(changes)
    return list(found)


def owners(obj: dict[str, Any]) -> dict[str, set[str]]:
    """Field manager -> the leaf paths it owns (from managedFields)."""
    found: dict[str, set[str]] = {}
    for entry in obj["metadata"].get("managedFields", []):
        _leaves(entry.get("fieldsV1") or {}, "", found.setdefault(entry["manager"], set()))
    return found


def _leaves(node: dict[str, Any], prefix: str, into: set[str]) -> None:
    for key, child in node.items():
        if key == ".":
            continue
        path = f"{prefix}.{key[2:]}" if key.startswith("f:") else f"{prefix}.{key}"
        if child:
            _leaves(child, path, into)
        else:
            into.add(path.lstrip("."))


def test_a_rotation_changes_the_key_and_the_annotation_and_nothing_else_changes_owner(
    cluster: Cluster, stack: Stack
) -> None:
    secret_before = live(cluster, "secret", "authentik-credentials")
    server_before = live(cluster, "deployment", "authentik-server")
    stack.set_path("mailstack:serviceAccounts", accounts(passwordVersion=2))
    stack.up()
    secret = live(cluster, "secret", "authentik-credentials")
    server = live(cluster, "deployment", "authentik-server")

    assert secret["data"]["smtp-password"] != secret_before["data"]["smtp-password"]
    assert secret["data"]["secret-key"] == secret_before["data"]["secret-key"]
    annotation = "mailstack.pulumi.com/credential-noreply"
    template = server["spec"]["template"]["metadata"]["annotations"]
    assert (
        template[annotation]
        != server_before["spec"]["template"]["metadata"]["annotations"][annotation]
    )

    # Ours: the one key, the one annotation (and the patch's own bookkeeping annotations).
    ours = owners(secret)[PATCH_MANAGER]
    assert "data.smtp-password" in ours
    assert not any(p.startswith("data.") and p != "data.smtp-password" for p in ours)
    assert "data.secret-key" in owners(secret)[FIXTURE_MANAGER]
    restart = owners(server)[RESTART_MANAGER]
    assert f"spec.template.metadata.annotations.{annotation}" in restart
    assert not any(p.startswith("spec.") and "annotations" not in p for p in restart)
    # The chart keeps every field of the workload it set.
    assert owners(server)[FIXTURE_MANAGER] >= {
        p for p in owners(server_before)[FIXTURE_MANAGER] if p.startswith("spec.")
    }


def test_a_consumer_that_does_not_exist_stops_the_update_and_creates_no_stub(
    cluster: Cluster, stack: Stack
) -> None:
    missing = accounts(
        credentials={"namespace": "authentik", "secretName": "authentik-credentialz"}
    )
    stack.set_path("mailstack:serviceAccounts", missing)
    try:
        result = stack.up(check=False)
        preview = stack.preview(check=False)
    finally:
        stack.set_path("mailstack:serviceAccounts", accounts(passwordVersion=2))
    assert result.returncode != 0
    assert preview.returncode != 0
    text = result.stdout + result.stderr
    assert "authentik/authentik-credentialz" in text
    assert "not found" in text or "does not exist" in text
    assert (
        cluster.kubectl(
            "get", "secret", "authentik-credentialz", "-n", "authentik", check=False
        ).returncode
        != 0
    )
    stack.up()  # back to the real Secret


def test_a_restart_of_a_workload_that_does_not_exist_stops_the_update_and_creates_none(
    cluster: Cluster, stack: Stack
) -> None:
    restart = [{"kind": "Deployment", "name": "authentik-servr"}]
    missing = accounts(
        credentials={
            "namespace": "authentik",
            "secretName": "authentik-credentials",
            "key": "smtp-password",
            "restart": restart,
        }
    )
    stack.set_path("mailstack:serviceAccounts", missing)
    try:
        result = stack.up(check=False)
    finally:
        stack.set_path("mailstack:serviceAccounts", accounts(passwordVersion=2))
    assert result.returncode != 0
    assert "authentik-servr" in result.stdout + result.stderr
    gone = cluster.kubectl("get", "deployment", "authentik-servr", "-n", "authentik", check=False)
    assert gone.returncode != 0
    stack.up()


def test_a_chart_that_writes_the_key_back_is_undone_by_the_deploy_workflows_up(
    cluster: Cluster, stack: Stack
) -> None:
    """A `helm upgrade` whose chart renders the same key (an Update under the chart's manager)
    takes the field over with its own value; the deploy workflow's `up --refresh` sees the patch
    drifted and writes the stack's password back. (docs/how-to/connect-a-service.md: leave the
    chart's own value of that key unset.)"""
    ours = live(cluster, "secret", "authentik-credentials")["data"]["smtp-password"]
    chart_value = "Y2hhcnQtdmFsdWU="  # base64 of "chart-value"
    cluster.kubectl(
        "patch",
        "secret",
        "authentik-credentials",
        "-n",
        "authentik",
        "--type=merge",
        f"--field-manager={FIXTURE_MANAGER}",
        "-p",
        json.dumps({"data": {"smtp-password": chart_value}}),
    )
    assert live(cluster, "secret", "authentik-credentials")["data"]["smtp-password"] == chart_value
    preview = stack.preview("--refresh", "--expect-no-changes", check=False)
    assert preview.returncode != 0 and "~ 1 to update" in preview.stdout, preview.stdout
    stack.up("--refresh")
    secret = live(cluster, "secret", "authentik-credentials")
    assert secret["data"]["smtp-password"] == ours
    assert "data.smtp-password" in owners(secret)[PATCH_MANAGER]


def test_removing_an_account_removes_only_what_the_stack_added(
    cluster: Cluster, stack: Stack
) -> None:
    stack.set_path("mailstack:serviceAccounts", [SETTINGS["mailstack:serviceAccounts"][1]])  # type: ignore[index]
    stack.up()
    secret = live(cluster, "secret", "authentik-credentials")
    server = live(cluster, "deployment", "authentik-server")
    assert secret["data"]["secret-key"]  # the chart's key stays, and so does the Secret
    assert "smtp-password" not in secret["data"]  # the key the stack took over goes with it
    annotations = server["spec"]["template"]["metadata"].get("annotations") or {}
    assert "mailstack.pulumi.com/credential-noreply" not in annotations
    assert PATCH_MANAGER not in owners(secret)
    assert RESTART_MANAGER not in owners(server)
    assert (
        server["spec"]["template"]["spec"]["containers"][0]["image"]
        == "ghcr.io/goauthentik/server:2026.2.2"
    )
