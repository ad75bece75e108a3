"""The staged upgrade of the running v0.15 homelab to v0.16 (mailstack:upgrade), phase by phase,
under the mock runtime: the v0.15 claim is never written, the copy is taken only once v0.15 is
gone, the export only travels as a secret, and one setting rolls back from every stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offline.secrets import is_secret_value, reveal
from settings import SettingsError
from tests.conftest import V015_IMAGE, V016_IMAGE, stack_run

CLAIM = ("kubernetes:core/v1:PersistentVolumeClaim", "stalwart-data")
COPY = ("kubernetes:core/v1:PersistentVolumeClaim", "stalwart-data-v016")
V015_DEPLOYMENT = ("kubernetes:apps/v1:Deployment", "stalwart-deployment")
V016_DEPLOYMENT = ("kubernetes:apps/v1:Deployment", "stalwart-v016-deployment")
GATE = ("kubernetes:batch/v1:Job", "stalwart-stop-gate")
RESTORE = ("kubernetes:batch/v1:Job", "stalwart-v016-restore-job")
APPLY = ("kubernetes:batch/v1:Job", "stalwart-v016-apply-job")
ACCOUNTS_JOB = ("kubernetes:batch/v1:Job", "stalwart-accounts-job")
EXPORT = (
    '{"@type": "create", "object": "Domain", "value": {"create-0": {"name": "example.com"}}}\n'
    '{"@type": "create", "object": "Account", "value": {"restore-5": {"@type": "User", '
    '"name": "noreply", "domainId": "#create-0", "credentials": {"0": {"@type": "Password", '
    '"secret": "$6$exportsalt$' + "E" * 86 + '"}}}}}\n'
)
ACCOUNTS = [{"name": "noreply", "credentials": {"namespace": "authentik", "secretName": "c"}}]

V015 = {"primary": {"claim": "stalwart-data", "generation": "0.15", "image": V015_IMAGE}}
COPIED = {
    **V015,
    "upgraded": {"claim": "stalwart-data-v016", "generation": "0.16", "image": V016_IMAGE},
}


def run(record, **settings):
    overrides = {"mailstack:serviceAccounts": ACCOUNTS}
    overrides.update({f"mailstack:{key}": value for key, value in settings.items()})
    return stack_run(overrides, previous_outputs={"stalwartData": record, "smtpPort": 587})


@pytest.fixture(scope="module")
def stopped():
    return run(V015, upgrade={"phase": "stop"})


@pytest.fixture(scope="module")
def recovering():
    return run(V015, upgrade={"phase": "recover"}, image=V016_IMAGE, upgradeExport=EXPORT)


@pytest.fixture(scope="module")
def upgraded():
    return run(COPIED, image=V016_IMAGE)


def replicas(run_, deployment) -> int:
    return int(run_.get(*deployment).inputs["spec"]["replicas"])


def pod(run_, deployment) -> dict:
    return run_.get(*deployment).inputs["spec"]["template"]["spec"]


def claim_of(run_, deployment) -> str:
    volumes = {v["name"]: v for v in pod(run_, deployment)["volumes"]}
    return volumes["data"]["persistentVolumeClaim"]["claimName"]


def test_stop_scales_v015_to_zero_and_changes_nothing_else(stopped, default_run):
    assert replicas(stopped, V015_DEPLOYMENT) == 0
    assert pod(stopped, V015_DEPLOYMENT) == pod(default_run, V015_DEPLOYMENT)
    assert stopped.get(*CLAIM).inputs == default_run.get(*CLAIM).inputs
    names = {r.name for r in stopped.resources}
    assert "stalwart-data-v016" not in names
    assert "stalwart-accounts-job" not in names  # nothing serves: no accounts to reconcile
    assert stopped.outputs["stalwartData"]["upgradePhase"] == "stop"


def test_recover_copies_the_v015_claim_into_a_new_one(recovering):
    copy = recovering.get(*COPY)
    assert copy.inputs["metadata"]["name"] == "stalwart-data-v016"
    assert copy.inputs["spec"]["dataSource"] == {
        "kind": "PersistentVolumeClaim",
        "name": "stalwart-data",
    }
    assert copy.protect and copy.retain_on_delete


def test_the_v015_claim_stays_untouched_protected_and_unmounted_by_v016(recovering, stopped):
    claim = recovering.get(*CLAIM)
    assert claim.inputs == stopped.get(*CLAIM).inputs
    assert claim.protect and claim.retain_on_delete
    assert claim_of(recovering, V016_DEPLOYMENT) == "stalwart-data-v016"
    assert claim_of(recovering, V015_DEPLOYMENT) == "stalwart-data"
    assert replicas(recovering, V015_DEPLOYMENT) == 0


def test_the_copy_is_taken_only_after_the_v015_pod_is_gone(recovering):
    gate = recovering.get(*GATE)
    assert gate.depends_on == [recovering.get(*V015_DEPLOYMENT).urn]
    assert recovering.get(*COPY).depends_on == [gate.urn]
    (container,) = gate.inputs["spec"]["template"]["spec"]["containers"]
    assert container["command"][-1] == "pods-gone"
    selector = {e["name"]: e.get("value") for e in container["env"]}["POD_SELECTOR"]
    assert selector == (
        "!mailstack.pulumi.com/claim,app.kubernetes.io/instance=stalwart,"
        "app.kubernetes.io/name=stalwart"
    )


def test_v016_starts_on_the_copy_in_recovery_mode(recovering):
    assert replicas(recovering, V016_DEPLOYMENT) == 1
    (container,) = pod(recovering, V016_DEPLOYMENT)["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["STALWART_RECOVERY_MODE"] == "1"
    assert container["image"] == V016_IMAGE
    deployment = recovering.get(*V016_DEPLOYMENT).inputs
    assert deployment["metadata"]["name"] == "stalwart-v016"
    assert deployment["spec"]["selector"]["matchLabels"]["mailstack.pulumi.com/claim"] == "upgraded"


def test_the_export_is_applied_first_then_the_plan_then_the_accounts(recovering):
    restore = recovering.get(*RESTORE)
    assert restore.depends_on == [recovering.get(*V016_DEPLOYMENT).urn]
    (step,) = restore.inputs["spec"]["template"]["spec"]["containers"]
    # --recovery: every declared singleton is written (plan_apply.py; seen on the real server)
    assert step["command"][-3:] == ["apply", "--recovery", "/restore/export.ndjson"]
    apply = recovering.get(*APPLY)
    assert apply.depends_on == [restore.urn]
    spec = apply.inputs["spec"]["template"]["spec"]
    assert [c["command"][-3:] for c in spec["containers"]] == [
        ["apply", "--recovery", "/plan/plan.ndjson"]
    ]
    assert "initContainers" not in spec  # no reload, no listener check: HTTP only in recovery
    assert recovering.get(*ACCOUNTS_JOB).depends_on == [apply.urn]
    assert not recovering.by_type("kubernetes:batch/v1:CronJob")


def test_the_export_reaches_only_a_secret_input(recovering):
    holders = [
        (r.name, key)
        for r in recovering.resources
        for key, value in r.inputs.items()
        if "exportsalt" in json.dumps(reveal(value))
    ]
    assert holders == [("stalwart-v016-restore", "stringData")]
    secret = recovering.get("kubernetes:core/v1:Secret", "stalwart-v016-restore")
    assert is_secret_value(secret.inputs["stringData"])
    assert "exportsalt" not in json.dumps(recovering.outputs)


def test_removing_the_setting_runs_v016_normally_on_the_copy(upgraded):
    assert replicas(upgraded, V016_DEPLOYMENT) == 1
    assert replicas(upgraded, V015_DEPLOYMENT) == 0
    (container,) = pod(upgraded, V016_DEPLOYMENT)["containers"]
    assert "STALWART_RECOVERY_MODE" not in {e["name"] for e in container["env"]}
    assert claim_of(upgraded, V016_DEPLOYMENT) == "stalwart-data-v016"
    names = {r.name for r in upgraded.resources}
    assert {"stalwart-stop-gate", "stalwart-v016-restore-job"}.isdisjoint(names)
    assert "stalwart-v016-reapply" in names
    # The v0.15 runtime waits with the image it last ran, ready for a rollback.
    (idle,) = pod(upgraded, V015_DEPLOYMENT)["containers"]
    assert idle["image"] == V015_IMAGE
    assert upgraded.outputs["stalwartData"]["serving"] == "upgraded"


@pytest.mark.parametrize(
    ("record", "upgrade"),
    [
        (V015, {"phase": "stop"}),
        (COPIED, {"phase": "recover"}),
        (COPIED, None),
    ],
    ids=["from-stop", "from-recover", "after-the-upgrade"],
)
def test_rolling_back_is_the_v015_image_on_the_original_claim(record, upgrade):
    rolled = run(record, image=V015_IMAGE)  # the upgrade setting removed
    assert replicas(rolled, V015_DEPLOYMENT) == 1
    assert claim_of(rolled, V015_DEPLOYMENT) == "stalwart-data"
    (container,) = pod(rolled, V015_DEPLOYMENT)["containers"]
    assert container["image"] == V015_IMAGE
    if "upgraded" in record:
        assert replicas(rolled, V016_DEPLOYMENT) == 0
        assert rolled.get(*COPY).protect  # the copy stays, protected


@pytest.mark.parametrize(
    ("record", "settings", "says"),
    [
        (
            V015,
            {"upgrade": {"phase": "recover"}, "upgradeExport": EXPORT},
            "but the image is v0.15",
        ),
        (V015, {"upgrade": {"phase": "stop"}, "image": V016_IMAGE}, "keeps its image"),
        (V015, {"upgrade": {"phase": "recover"}, "image": V016_IMAGE}, "needs the converted"),
        (V015, {"image": V016_IMAGE}, "holds Stalwart v0.15 data"),
        (
            V015,
            {
                "upgrade": {"phase": "recover", "claimName": "stalwart-data"},
                "image": V016_IMAGE,
                "upgradeExport": EXPORT,
            },
            "is the v0.15 claim itself",
        ),
        (
            COPIED,
            {"upgrade": {"phase": "recover", "claimName": "other"}, "image": V016_IMAGE},
            "differs from the copy",
        ),
        (COPIED, {"upgrade": {"phase": "stop"}, "image": V016_IMAGE}, "already upgraded"),
    ],
)
def test_illegal_combinations_are_refused_before_any_resource(record, settings, says):
    overrides = {f"mailstack:{k}": v for k, v in settings.items()}
    result = stack_run(overrides, check=False, previous_outputs={"stalwartData": record})
    assert isinstance(result.error, SettingsError), result.error
    assert result.resources == []
    (line,) = result.error.problems
    assert says in line and "Fix: " in line
    assert "exportsalt" not in line


def test_recover_on_a_fresh_stack_is_refused():
    overrides = {
        "mailstack:upgrade": {"phase": "recover"},
        "mailstack:image": V016_IMAGE,
        "mailstack:upgradeExport": EXPORT,
    }
    result = stack_run(overrides, check=False)
    assert isinstance(result.error, SettingsError)
    assert "nothing to upgrade: a fresh stack" in result.error.problems[0]


def test_the_summary_of_the_render_says_the_phase(recovering, tmp_path):
    from offline import render

    render.write_render(recovering, tmp_path / "out")
    summary = (tmp_path / "out" / "SUMMARY.md").read_text()
    assert "- Upgrade phase: **recover** (docs/how-to/upgrade-to-v016.md)." in summary
    assert "- The upgraded claim `stalwart-data-v016` holds v0.16 data" in summary
    assert "- The primary claim `stalwart-data` holds v0.15 data" in summary


def test_make_render_follows_the_previous_outputs(tmp_path):
    from offline import render

    stack = (Path(__file__).resolve().parents[2] / "Pulumi.prod.yaml").read_text()
    stack += "  mailstack:upgrade: {phase: stop}\n"
    (tmp_path / "Pulumi.up.yaml").write_text(stack)
    (tmp_path / "prev.json").write_text(json.dumps({"stalwartData": V015}))
    arguments = ["--stack", "up", "--config-dir", str(tmp_path), "--out", str(tmp_path / "o")]
    assert render.main([*arguments, "--previous-outputs", str(tmp_path / "prev.json")]) == 0
    assert "**stop**" in (tmp_path / "o" / "SUMMARY.md").read_text()
    assert render.main(arguments) == 2  # as a new stack: nothing to upgrade


def test_recovery_mode_keeps_the_recovery_admin_from_the_pods_own_secret(recovering):
    """The restore runs before any account exists: the recovery admin is required there (not
    optional, not the bootstrap Secret the administrator step empties)."""
    (container,) = pod(recovering, V016_DEPLOYMENT)["containers"]
    env = {e["name"]: e for e in container["env"]}
    source = env["STALWART_RECOVERY_ADMIN"]["valueFrom"]["secretKeyRef"]
    assert source["key"] == "recovery-admin" and "optional" not in source
    secret = next(
        r
        for r in recovering.by_type("kubernetes:core/v1:Secret")
        if r.state["metadata"]["name"] == source["name"]
    )
    assert "recovery-admin" in reveal(secret.inputs["stringData"])
    apply = recovering.get(*APPLY).inputs["spec"]["template"]["spec"]
    assert all(c["command"][3] != "admin" for c in apply["containers"])
