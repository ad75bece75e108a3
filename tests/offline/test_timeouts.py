"""Every wait of an update is bounded, and all of them together end before the deploy job's
timeout: the provider's defaults (10 min for a Deployment or a Job, 5 min for a claim) never
decide, and a job killed by GitHub never leaves an update half-applied for lack of time.

Jobs: the provider's Job awaiter restarts its timer on every informer event (job.go), so the
bound is the Job's own activeDeadlineSeconds, which ends it Failed; customTimeouts above it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.offline.test_deployer import RUNS

ROOT = Path(__file__).resolve().parents[2]


def minutes(duration: str) -> float:
    match = re.fullmatch(r"(\d+)([smh])", duration)
    assert match, duration
    return int(match[1]) * {"s": 1 / 60, "m": 1, "h": 60}[match[2]]


def deploy_timeout() -> int:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yml").read_text())
    return int(workflow["jobs"]["deploy"]["timeout-minutes"])


@pytest.mark.parametrize("scenario", list(RUNS))
def test_every_job_ends_itself_before_the_provider_stops_waiting(scenario):
    for job in (r for r in RUNS[scenario].resources if r.type == "kubernetes:batch/v1:Job"):
        deadline = job.inputs["spec"]["activeDeadlineSeconds"] / 60
        assert {"create", "update"} <= set(job.custom_timeouts), job.name
        for op in ("create", "update"):
            assert minutes(job.custom_timeouts[op]) > deadline, (job.name, op)


@pytest.mark.parametrize("scenario", list(RUNS))
def test_every_job_that_failed_runs_again_at_the_next_up(scenario):
    """A Job ended Failed (its deadline, a refusal) is not waited on again: the next `pulumi up`
    replaces it (shown on the real engine by make e2e's test_failed_jobs.py)."""
    for job in (r for r in RUNS[scenario].resources if r.type == "kubernetes:batch/v1:Job"):
        annotations = job.inputs["metadata"].get("annotations") or {}
        assert annotations.get("pulumi.com/replaceUnready") == "true", job.name


@pytest.mark.parametrize("scenario", list(RUNS))
def test_every_deployment_waits_longer_than_stalwart_may_take_to_start(scenario):
    for deployment in (
        r for r in RUNS[scenario].resources if r.type == "kubernetes:apps/v1:Deployment"
    ):
        probe = deployment.inputs["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
        startup = probe["periodSeconds"] * probe["failureThreshold"] / 60
        for op in ("create", "update"):
            assert minutes(deployment.custom_timeouts[op]) > startup + 10, deployment.name


@pytest.mark.parametrize("scenario", list(RUNS))
def test_a_clone_of_the_data_claim_is_not_held_to_the_providers_five_minutes(scenario):
    for claim in (
        r for r in RUNS[scenario].resources if r.type == "kubernetes:core/v1:PersistentVolumeClaim"
    ):
        annotations = claim.inputs["metadata"].get("annotations") or {}
        cloned = bool(claim.inputs["spec"].get("dataSource"))
        assert (annotations.get("pulumi.com/skipAwait") == "true") is cloned, claim.name


@pytest.mark.parametrize("scenario", list(RUNS))
def test_all_waits_together_end_before_the_deploy_job_is_killed(scenario):
    total = 0.0
    for resource in RUNS[scenario].resources:
        if resource.type == "kubernetes:batch/v1:Job":
            total += resource.inputs["spec"]["activeDeadlineSeconds"] / 60
        elif resource.type == "kubernetes:apps/v1:Deployment":
            spec = resource.inputs["spec"]
            if spec["replicas"]:
                total += minutes(resource.custom_timeouts["update"])
            else:  # scaled to zero: done once its pod has ended, within the grace period
                total += spec["template"]["spec"]["terminationGracePeriodSeconds"] / 60
    setup = 10  # checkout, locks, tailnet, CLI and plugins
    assert total + setup < deploy_timeout(), (scenario, total)
