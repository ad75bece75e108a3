"""Issue 20, scenario 2: the staged v0.15 -> v0.16 upgrade on the real engine, with a rollback
from each phase, and the orders of settings an owner could type wrongly.

After every step: the v0.15 claim keeps its UID and spec, no v0.16 pod ever mounts it, the copy
is cloned from it, the Deployments run what the phase says, and the next run reads back the
`stalwartData` record the previous one exported (through the engine's readStackOutputs on the
file backend). Containers do not run here, so the Jobs (gate, restore, plan, accounts) succeed
as KWOK reports them; what they do is rehearsed against the real Stalwart by hand
(docs/explanation/verified-against-the-real-servers.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from e2e.cluster import Cluster
from e2e.homelab import SECRETS, SETTINGS
from e2e.stack import Stack

V015 = "stalwartlabs/stalwart:v0.15.5"
V016 = "stalwartlabs/stalwart:v0.16.18"
# The shape `make upgrade-export` stores (migrate_v016.py convert): create operations.
EXPORT = (
    '{"@type": "create", "object": "Domain", "value": {"create-0": {"name": "example.com"}}}\n'
    '{"@type": "create", "object": "Account", "value": {"restore-5": {"@type": "User", '
    '"name": "owner", "domainId": "#create-0", "credentials": {"0": {"@type": "Password", '
    '"secret": "$6$exportsalt$' + "E" * 86 + '"}}}}}\n'
)


def deployments(cluster: Cluster) -> dict[str, dict[str, Any]]:
    found = {}
    for item in cluster.get("deployments", "-n", "stalwart")["items"]:
        spec = item["spec"]["template"]["spec"]
        container = spec["containers"][0]
        found[item["metadata"]["name"]] = {
            "replicas": item["spec"]["replicas"],
            "image": container["image"],
            "claims": {
                v["persistentVolumeClaim"]["claimName"]
                for v in spec.get("volumes", [])
                if "persistentVolumeClaim" in v
            },
            "recovery": any(
                e["name"] == "STALWART_RECOVERY_MODE" for e in container.get("env", [])
            ),
        }
    return found


def no_v016_pod_on_the_v015_claim(cluster: Cluster) -> None:
    for pod in cluster.get("pods", "-n", "stalwart")["items"]:
        images = [c["image"] for c in pod["spec"]["containers"]]
        claims = {
            v["persistentVolumeClaim"]["claimName"]
            for v in pod["spec"].get("volumes", [])
            if "persistentVolumeClaim" in v
        }
        if any(":v0.16" in image for image in images):
            assert "stalwart-data" not in claims, pod["metadata"]["name"]


@pytest.fixture(scope="module")
def v015(cluster: Cluster, tools: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    stack = Stack.create(
        "upgrade", tmp_path_factory.mktemp("upgrade") / "u", tools, cluster.admin_kubeconfig
    )
    stack.configure({**SETTINGS, "mailstack:image": V015}, SECRETS)
    stack.up()
    claim = cluster.get("pvc", "stalwart-data", "-n", "stalwart")
    return {"stack": stack, "uid": claim["metadata"]["uid"], "spec": claim["spec"]}


def kept(cluster: Cluster, v015: dict[str, Any]) -> None:
    claim = cluster.get("pvc", "stalwart-data", "-n", "stalwart")
    assert claim["metadata"]["uid"] == v015["uid"]
    assert claim["spec"] == v015["spec"]
    no_v016_pod_on_the_v015_claim(cluster)


def record(stack: Stack) -> dict[str, Any]:
    written = stack.outputs()["stalwartData"]
    assert isinstance(written, dict)
    return written


def refused(stack: Stack, key: str) -> str:
    """A preview that the program stops: one line naming `key`, nothing registered."""
    result = stack.preview(check=False)
    text = result.stdout + result.stderr
    assert result.returncode != 0, text[-3000:]
    lines = [line.strip() for line in text.splitlines() if f"mailstack:{key}:" in line]
    assert lines, text[-3000:]
    assert "Traceback" not in text
    return lines[0]


def test_the_v016_image_on_v015_data_is_refused(cluster: Cluster, v015: dict[str, Any]) -> None:
    stack: Stack = v015["stack"]
    stack.set("mailstack:image", V016)
    try:
        assert "holds Stalwart v0.15 data" in refused(stack, "image")
        stack.remove("mailstack:image")  # the default is v0.16 too
        assert "holds Stalwart v0.15 data" in refused(stack, "image")
    finally:
        stack.set("mailstack:image", V015)
    kept(cluster, v015)


def test_u1_the_export_changes_nothing(cluster: Cluster, v015: dict[str, Any]) -> None:
    stack: Stack = v015["stack"]
    stack.set_secret_from_pipe("mailstack:upgradeExport", EXPORT)
    result = stack.preview("--expect-no-changes", check=False)
    assert result.returncode == 0, result.stdout[-3000:]


def test_recover_without_stop_and_a_v015_image_is_refused(v015: dict[str, Any]) -> None:
    stack: Stack = v015["stack"]
    stack.set_path("mailstack:upgrade", {"phase": "recover"})
    try:
        assert "the image is v0.15" in refused(stack, "upgrade")
    finally:
        stack.remove("mailstack:upgrade")


def test_u2_stop_scales_v015_to_zero_and_touches_no_claim(
    cluster: Cluster, v015: dict[str, Any]
) -> None:
    stack: Stack = v015["stack"]
    stack.set_path("mailstack:upgrade", {"phase": "stop"})
    # docs/how-to/upgrade-to-v016.md U2: the preview shows the v0.15 Deployment updated and the
    # accounts Job (with
    # what only it used) deleted, nothing else.
    steps = json.loads(stack.preview("--json").stdout)["steps"]
    changed = sorted(
        (s["op"], s["urn"].rsplit("::", 1)[-1]) for s in steps if s["op"] not in ("same", "read")
    )
    print("U2 preview:", changed)
    assert ("update", "stalwart-deployment") in changed
    assert {op for op, _ in changed} <= {"update", "delete"}
    assert not any("data" in name or "namespace" in name for _, name in changed)
    stack.up()
    found = deployments(cluster)
    assert found["stalwart"]["replicas"] == 0
    assert "stalwart-v016" not in found
    kept(cluster, v015)
    assert record(stack)["upgradePhase"] == "stop"


def test_rollback_from_stop_starts_v015_again(cluster: Cluster, v015: dict[str, Any]) -> None:
    stack: Stack = v015["stack"]
    stack.remove("mailstack:upgrade")
    stack.up()
    assert deployments(cluster)["stalwart"]["replicas"] == 1
    kept(cluster, v015)
    stack.set_path("mailstack:upgrade", {"phase": "stop"})
    stack.up()
    assert deployments(cluster)["stalwart"]["replicas"] == 0


def test_stop_with_the_v016_image_is_refused(v015: dict[str, Any]) -> None:
    stack: Stack = v015["stack"]
    stack.set("mailstack:image", V016)
    try:
        assert "phase stop" in refused(stack, "upgrade")
    finally:
        stack.set("mailstack:image", V015)


def test_u3_recover_runs_v016_on_a_copy_in_recovery_mode(
    cluster: Cluster, v015: dict[str, Any]
) -> None:
    stack: Stack = v015["stack"]
    stack.set("mailstack:image", V016)
    stack.set_path("mailstack:upgrade", {"phase": "recover"})
    stack.up()
    found = deployments(cluster)
    assert found["stalwart"]["replicas"] == 0
    assert found["stalwart-v016"] == {
        "replicas": 1,
        "image": V016,
        "claims": {"stalwart-data-v016"},
        "recovery": True,
    }
    copy = cluster.get("pvc", "stalwart-data-v016", "-n", "stalwart")
    source = copy["spec"]["dataSource"]
    assert (source["kind"], source["name"]) == ("PersistentVolumeClaim", "stalwart-data")
    kept(cluster, v015)
    written = record(stack)
    assert written["upgradePhase"] == "recover"
    assert written["upgraded"]["claim"] == "stalwart-data-v016"


def test_rollback_from_recover_is_v015_on_its_untouched_claim(
    cluster: Cluster, v015: dict[str, Any]
) -> None:
    stack: Stack = v015["stack"]
    copy_uid = cluster.get("pvc", "stalwart-data-v016", "-n", "stalwart")["metadata"]["uid"]
    stack.set("mailstack:image", V015)
    stack.remove("mailstack:upgrade")
    stack.up()
    found = deployments(cluster)
    assert (found["stalwart"]["replicas"], found["stalwart"]["claims"]) == (1, {"stalwart-data"})
    assert found["stalwart-v016"]["replicas"] == 0
    assert cluster.get("pvc", "stalwart-data-v016", "-n", "stalwart")["metadata"]["uid"] == copy_uid
    kept(cluster, v015)


def test_u3_again_then_u4_runs_v016_normally_on_the_copy(
    cluster: Cluster, v015: dict[str, Any]
) -> None:
    stack: Stack = v015["stack"]
    stack.set("mailstack:image", V016)
    stack.set_path("mailstack:upgrade", {"phase": "recover"})
    stack.up()
    stack.remove("mailstack:upgrade")
    stack.up()
    found = deployments(cluster)
    assert found["stalwart-v016"] == {
        "replicas": 1,
        "image": V016,
        "claims": {"stalwart-data-v016"},
        "recovery": False,
    }
    assert found["stalwart"]["replicas"] == 0
    kept(cluster, v015)
    written = record(stack)
    assert (written["serving"], written["upgradePhase"]) == ("upgraded", None)
    # The next run reads that record back: nothing to change.
    result = stack.preview("--expect-no-changes", check=False)
    assert result.returncode == 0, result.stdout[-3000:]


def test_after_the_upgrade_stop_and_a_foreign_claim_name_are_refused(v015: dict[str, Any]) -> None:
    stack: Stack = v015["stack"]
    for setting, key, says in (
        ({"phase": "stop"}, "upgrade", "already upgraded"),
        ({"phase": "recover", "claimName": "other-copy"}, "upgrade", "differs from the copy"),
    ):
        stack.set_path("mailstack:upgrade", setting)
        try:
            assert says in refused(stack, key)
        finally:
            stack.remove("mailstack:upgrade")


def test_rollback_after_the_upgrade_and_forward_again(
    cluster: Cluster, v015: dict[str, Any]
) -> None:
    stack: Stack = v015["stack"]
    stack.set("mailstack:image", V015)
    stack.up()
    found = deployments(cluster)
    assert (found["stalwart"]["replicas"], found["stalwart-v016"]["replicas"]) == (1, 0)
    kept(cluster, v015)
    stack.remove("mailstack:image")  # the default: v0.16, on the copy again, never on v0.15 data
    stack.up()
    found = deployments(cluster)
    assert (found["stalwart"]["replicas"], found["stalwart-v016"]["replicas"]) == (0, 1)
    assert found["stalwart-v016"]["claims"] == {"stalwart-data-v016"}
    kept(cluster, v015)
    assert json.dumps(record(stack)).count("stalwart-data") == 2
