"""Issue 19, scenarios 4 and 5: what the workflows run, with their flags, on an e2e stack; the
policy pack on the real engine."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from e2e.cluster import Cluster
from e2e.stack import EXCLUDE_CLOUDFLARE, ROOT, Stack
from e2e.workflows import action_arguments, pulumi_steps, run_steps

POLICY = ROOT / "policy"


@pytest.fixture(scope="module")
def ci_stack(cluster: Cluster, tools: str, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    from e2e.homelab import SECRETS, SETTINGS

    stack = Stack.create(
        "ci", tmp_path_factory.mktemp("ci") / "ci", tools, cluster.admin_kubeconfig
    )
    stack.configure(dict(SETTINGS), SECRETS)
    return stack


def run_action(stack: Stack, workflow: str) -> subprocess.CompletedProcess[str]:
    (step,) = pulumi_steps(workflow)
    args = action_arguments(step, POLICY)
    return stack.run(*args, "--stack", stack.name, *EXCLUDE_CLOUDFLARE, check=False)


def test_deploy_workflow_up_then_preview_workflow_shows_no_changes(ci_stack: Stack) -> None:
    up = run_action(ci_stack, "deploy.yml")
    assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-2000:]
    assert "mailstack policies" in up.stdout or "Policies:" in up.stdout or "policy" in up.stdout
    preview = run_action(ci_stack, "preview.yml")
    assert preview.returncode == 0, preview.stdout[-4000:] + preview.stderr[-2000:]
    assert "to create" not in preview.stdout and "to update" not in preview.stdout


def _drift(stack: Stack, tmp_path: Path) -> tuple[int, str, str]:
    """The drift workflow's own script, run by bash as the runner would."""
    (step,) = run_steps("drift.yml", "drift_report.py")
    assert step.run is not None
    summary = tmp_path / "summary.md"
    env = {
        **stack.env,
        "BACKEND_URL": stack.env["PULUMI_BACKEND_URL"],
        "STACK": f"organization/mailstack/{stack.name}",
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    # Cloudflare resources are excluded here as in every e2e command (pulumi-cloudflare cannot be
    # built): the one argument e2e adds to the workflow's script.
    script = step.run.replace(
        "--expect-no-changes",
        "--expect-no-changes " + " ".join(f"'{a}'" for a in EXCLUDE_CLOUDFLARE),
    )
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=stack.workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    return (
        result.returncode,
        result.stdout + result.stderr,
        summary.read_text() if summary.exists() else "",
    )


def test_the_drift_job_passes_on_an_untouched_stack(ci_stack: Stack, tmp_path: Path) -> None:
    status, output, _summary = _drift(ci_stack, tmp_path)
    assert status == 0, output[-4000:]


def test_the_drift_job_fails_and_names_what_was_edited_by_hand(
    cluster: Cluster, ci_stack: Stack, tmp_path: Path
) -> None:
    # A field the stack sets, changed behind its back (kubectl takes the field over).
    cluster.kubectl(
        "label",
        "--overwrite",
        "deployment/stalwart",
        "-n",
        "stalwart",
        "app.kubernetes.io/component=edited-by-hand",
    )
    cluster.kubectl(
        "annotate",
        "--overwrite",
        "networkpolicy/stalwart",
        "-n",
        "stalwart",
        "mailstack.example/note=edited",
    )
    status, output, summary = _drift(ci_stack, tmp_path)
    assert status == 1, output[-4000:]
    assert "stalwart-deployment" in summary
    # An annotation the stack never set, added by hand, is not the stack's: pulumi-kubernetes
    # reads a server-side-applied object as the fields its own field manager holds, so neither
    # the refresh nor the diff sees it (docs/getting-started/ci.md, drift.yml).
    assert "stalwart-network-policy" not in summary
    assert "edited-by-hand" not in summary + output  # names, never values


def test_the_deploy_workflow_puts_the_drift_back(
    cluster: Cluster, ci_stack: Stack, tmp_path: Path
) -> None:
    up = run_action(ci_stack, "deploy.yml")
    assert up.returncode == 0, up.stdout[-4000:]
    labels = cluster.get("deployment", "stalwart", "-n", "stalwart")["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] != "edited-by-hand"


def test_a_program_that_breaks_a_policy_fails_the_preview_with_the_rule(ci_stack: Stack) -> None:
    """The policy pack on the real engine: a copy of the program whose Deployment rolls (two
    pods on one RocksDB volume) is stopped by `stalwart-deployment-recreate`."""
    pod = ci_stack.workdir / "components" / "stalwart" / "pod.py"
    original = pod.read_text()
    assert 'type="Recreate"' in original
    pod.write_text(original.replace('type="Recreate"', 'type="RollingUpdate"'))
    try:
        (step,) = pulumi_steps("preview.yml")
        result = ci_stack.run(
            *action_arguments(step, POLICY),
            "--stack",
            ci_stack.name,
            *EXCLUDE_CLOUDFLARE,
            check=False,
        )
    finally:
        pod.write_text(original)
    assert result.returncode != 0
    assert "stalwart-deployment-recreate" in result.stdout + result.stderr
    assert "Recreate" in result.stdout + result.stderr
