"""Longhorn snapshots (and backups, when the cluster has a backup target) of the mail volume."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kube import standard_labels
from settings.model import BackupPolicy

COMPONENT_TYPE = "mailstack:stalwart:MailBackups"
# Longhorn applies the recurring jobs of a group to every volume whose PVC carries these labels
# (Longhorn docs, "Recurring Snapshots and Backups": "with PersistentVolumeClaim labels").
SOURCE_LABEL = "recurring-job.longhorn.io/source"
GROUP_LABEL_PREFIX = "recurring-job-group.longhorn.io/"


def claim_labels(job_group: str, also: tuple[str, ...]) -> dict[str, str]:
    """Labels that put a claim's volume into the job group `job_group` and keep it in `also`.

    With the source label, Longhorn sets the volume's recurring-job labels from the claim's, so
    a volume labelled for one group leaves the `default` group (Longhorn docs, "Recurring
    Snapshots and Backups"); `also` keeps it in the groups the owner's other jobs use.
    """
    groups = (job_group, *also)
    return {SOURCE_LABEL: "enabled", **{f"{GROUP_LABEL_PREFIX}{g}": "enabled" for g in groups}}


def recurring_jobs(job_group: str, policy: BackupPolicy) -> list[dict[str, Any]]:
    """The `spec` of each Longhorn RecurringJob (CRD longhorn.io/v1beta2)."""
    tasks = [("snapshot", policy.snapshot_cron, policy.snapshot_retain)]
    if policy.backup_enabled:
        tasks.append(("backup", policy.backup_cron, policy.backup_retain))
    return [
        {
            "name": f"{job_group}-{task}",
            "task": task,
            "cron": cron,
            "retain": retain,
            "concurrency": 1,
            "groups": [job_group],
            "labels": {"app.kubernetes.io/name": "stalwart"},
        }
        for task, cron, retain in tasks
    ]


@dataclass(frozen=True)
class MailBackupsArgs:
    job_group: str
    """Longhorn job group (and prefix of the jobs' names); claims join it by `claim_labels`."""
    policy: BackupPolicy
    """Schedules and retention (`mailstack:backup`)."""


class MailBackups(pulumi.ComponentResource):
    """The recurring jobs of one job group."""

    job_names: list[str]
    """Names of the RecurringJobs, in `longhornNamespace`."""

    def __init__(
        self, name: str, args: MailBackupsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        self.job_names = []
        for spec in recurring_jobs(args.job_group, args.policy):
            k8s.apiextensions.CustomResource(
                f"{name}-{spec['task']}",
                api_version="longhorn.io/v1beta2",
                kind="RecurringJob",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=spec["name"],
                    namespace=args.policy.longhorn_namespace,
                    labels=standard_labels(name, "backup"),
                ),
                spec=spec,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.job_names.append(spec["name"])
        self.register_outputs({"job_names": self.job_names})
