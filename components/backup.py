"""Longhorn snapshots (and backups, when the cluster has a backup target) of the mail volume."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.labels import standard_labels

COMPONENT_TYPE = "mailstack:stalwart:MailBackups"
JOB_GROUP = "stalwart-mail"
# Longhorn applies the recurring jobs of a group to every volume whose PVC carries these labels
# (Longhorn docs, "Recurring Snapshots and Backups": "with PersistentVolumeClaim labels").
SOURCE_LABEL = "recurring-job.longhorn.io/source"
GROUP_LABEL = f"recurring-job-group.longhorn.io/{JOB_GROUP}"


@dataclass(frozen=True)
class BackupPolicy:
    longhorn_namespace: str = "longhorn-system"
    snapshot_cron: str = "0 3 * * *"
    """Daily at 03:00: mail arrives around the clock; a day is what a homelab can lose."""
    snapshot_retain: int = 7
    backup_enabled: bool = False
    """Needs a backup target (NFS/S3) configured in Longhorn; snapshots live on the same disks."""
    backup_cron: str = "30 3 * * 0"
    """Weekly, Sunday 03:30, after that day's snapshot."""
    backup_retain: int = 8


def claim_labels() -> dict[str, str]:
    """Labels that put the data claim's volume into the job group."""
    return {SOURCE_LABEL: "enabled", GROUP_LABEL: "enabled"}


def _job(task: str, cron: str, retain: int) -> dict[str, Any]:
    return {
        "name": f"stalwart-mail-{task}",
        "task": task,
        "cron": cron,
        "retain": retain,
        "concurrency": 1,
        "groups": [JOB_GROUP],
        "labels": {"app.kubernetes.io/name": "stalwart"},
    }


def recurring_jobs(policy: BackupPolicy) -> list[dict[str, Any]]:
    """The `spec` of each Longhorn RecurringJob (CRD longhorn.io/v1beta2)."""
    jobs = [_job("snapshot", policy.snapshot_cron, policy.snapshot_retain)]
    if policy.backup_enabled:
        jobs.append(_job("backup", policy.backup_cron, policy.backup_retain))
    return jobs


class MailBackups(pulumi.ComponentResource):
    """The recurring jobs; the claim joins their group through `claim_labels()`."""

    job_names: list[str]

    def __init__(
        self, name: str, policy: BackupPolicy, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self.job_names = []
        for spec in recurring_jobs(policy):
            k8s.apiextensions.CustomResource(
                f"{name}-{spec['task']}",
                api_version="longhorn.io/v1beta2",
                kind="RecurringJob",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=spec["name"],
                    namespace=policy.longhorn_namespace,
                    labels=standard_labels(name, "backup"),
                ),
                spec=spec,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.job_names.append(spec["name"])
        self.register_outputs({"job_names": self.job_names})
