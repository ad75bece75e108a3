"""What `.github/workflows/` runs, read from the workflow files, to be run against an e2e stack.

A `pulumi/actions` step becomes the CLI command the action runs (its inputs as flags, as the
action's automation-API call passes them); a `run:` step is run by bash as written, with the
variables it reads. So a flag added to a workflow is exercised here without a second copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = Path(__file__).resolve().parent.parent / ".github" / "workflows"
ACTION = "pulumi/actions@"


@dataclass(frozen=True)
class Step:
    workflow: str
    name: str
    uses: str | None
    inputs: dict[str, Any]
    run: str | None


def steps(workflow: str) -> list[Step]:
    document = yaml.safe_load((WORKFLOWS / workflow).read_text())
    found = []
    for job in document["jobs"].values():
        for step in job.get("steps", []):
            found.append(
                Step(
                    workflow=workflow,
                    name=step.get("name", ""),
                    uses=step.get("uses"),
                    inputs=dict(step.get("with") or {}),
                    run=step.get("run"),
                )
            )
    return found


def pulumi_steps(workflow: str) -> list[Step]:
    """The workflow's `pulumi/actions` steps that run a command (not the CLI-install one)."""
    return [
        s for s in steps(workflow) if (s.uses or "").startswith(ACTION) and "command" in s.inputs
    ]


def run_steps(workflow: str, containing: str) -> list[Step]:
    return [s for s in steps(workflow) if s.run and containing in s.run]


def action_arguments(step: Step, policy_pack: Path) -> list[str]:
    """The CLI arguments pulumi/actions v7 gives for the step's inputs (its `command`, then the
    options it maps to flags). Inputs that do not change what the engine does (the PR comment,
    the CLI version, the backend, the stack's name) are the harness's to supply."""
    inputs = step.inputs
    command = str(inputs["command"])
    args = [command]
    if command == "up":
        args += ["--yes", "--skip-preview"]
    if "policyPacks" in inputs:
        args += ["--policy-pack", str(policy_pack)]
    for flag in ("refresh", "diff", "expect-no-changes"):
        if str(inputs.get(flag, "")).lower() == "true":
            args.append(f"--{flag}")
    known = {
        "pulumi-version-file",
        "command",
        "stack-name",
        "policyPacks",
        "comment-on-pr",
        "github-token",
        "cloud-url",
        "refresh",
        "diff",
        "expect-no-changes",
    }
    unknown = set(inputs) - known
    if unknown:
        raise ValueError(
            f"{step.workflow} '{step.name}': inputs e2e does not map: {sorted(unknown)}"
        )
    return args
