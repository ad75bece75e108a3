"""The outbound canary: its account (a service account like any consumer's) and the CronJob that
runs incluster/canary.py (standard library only, from the scripts ConfigMap). It holds only its
own account's password: it submits on 587 and reads Stalwart's delivery report of its message in
its own mailbox over JMAP on the HTTP port; no admin, no scrape password."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.incluster import (
    job_container_security,
    job_pod_security,
    python_env,
    scripts_mount,
    scripts_volume,
)
from components.kube import standard_labels
from settings.model import CredentialsTarget, ServiceAccount

CRONJOB_NAME = "stalwart-canary"
ACCOUNT = "canary"
CREDENTIALS_SECRET = "stalwart-canary-credentials"
CREDENTIALS_KEY = "smtp-password"
SECRETS_DIR = "/run/secrets/mailstack-canary"
# The script waits up to DEADLINE for the delivery report; the Job ends before the next hourly run
# whatever happens.
DEADLINE_SECONDS = 300
JOB_DEADLINE_SECONDS = 600


def canary_account(domain: str, namespace: str) -> ServiceAccount:
    """The canary's SMTP account: its password reaches a Secret the stack owns."""
    return ServiceAccount(
        name=ACCOUNT,
        email=f"{ACCOUNT}@{domain}",
        description="Outbound canary (mailstack:monitoring)",
        credentials=CredentialsTarget(namespace, CREDENTIALS_SECRET, CREDENTIALS_KEY, True),
        password_version=1,
    )


def canary_labels() -> dict[str, str]:
    """The canary pods' labels (the NetworkPolicy lets them reach 587 and 8080)."""
    return standard_labels(CRONJOB_NAME, "canary")


@dataclass(frozen=True)
class CanaryArgs:
    namespace: pulumi.Input[str]
    """Stalwart's namespace."""
    schedule: str
    """Cron schedule."""
    recipient: str
    """Where the canary sends."""
    domain: str
    """The mail domain (the canary's address is canary@<domain>)."""
    image: str
    """The pinned Python 3.11+ image of the in-cluster scripts."""
    smtp_host: pulumi.Input[str]
    """Stalwart's in-cluster SMTP host."""
    smtp_port: int
    """Submission port."""
    stalwart_url: pulumi.Input[str]
    """Stalwart's in-cluster HTTP URL (JMAP: the canary's own mailbox)."""
    generation: str | None
    """The Stalwart generation that serves; None suspends the canary (nothing to test)."""


def canary_cronjob(
    name: str, args: CanaryArgs, scripts: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> k8s.batch.v1.CronJob:
    """The CronJob; `scripts` names the ConfigMap of the incluster package."""
    labels = canary_labels()
    env: dict[str, pulumi.Input[str]] = {
        "SMTP_HOST": args.smtp_host,
        "SMTP_PORT": str(args.smtp_port),
        "CANARY_USER": ACCOUNT,
        "CANARY_PASSWORD_FILE": f"{SECRETS_DIR}/credentials/{CREDENTIALS_KEY}",
        "CANARY_FROM": f"{ACCOUNT}@{args.domain}",
        "CANARY_TO": args.recipient,
        "STALWART_URL": args.stalwart_url,
        "DEADLINE_SECONDS": str(DEADLINE_SECONDS),
    }
    pod = k8s.core.v1.PodSpecArgs(
        restart_policy="Never",
        automount_service_account_token=False,
        security_context=job_pod_security(),
        containers=[
            k8s.core.v1.ContainerArgs(
                name="canary",
                image=args.image,
                command=["python3", "-m", "incluster.canary"],
                env=[k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in env.items()]
                + python_env(),
                volume_mounts=[
                    scripts_mount(),
                    k8s.core.v1.VolumeMountArgs(
                        name="credentials", mount_path=f"{SECRETS_DIR}/credentials", read_only=True
                    ),
                ],
                security_context=job_container_security(),
                resources=k8s.core.v1.ResourceRequirementsArgs(
                    requests={"cpu": "10m", "memory": "32Mi"}, limits={"memory": "128Mi"}
                ),
            )
        ],
        volumes=[
            scripts_volume(scripts),
            k8s.core.v1.VolumeArgs(
                name="credentials",
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=CREDENTIALS_SECRET, default_mode=0o440
                ),
            ),
        ],
    )
    return k8s.batch.v1.CronJob(
        f"{name}-cronjob",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=CRONJOB_NAME, namespace=args.namespace, labels=labels
        ),
        spec=k8s.batch.v1.CronJobSpecArgs(
            schedule=args.schedule,
            suspend=args.generation is None,
            concurrency_policy="Forbid",
            starting_deadline_seconds=600,
            successful_jobs_history_limit=3,
            failed_jobs_history_limit=3,
            job_template=k8s.batch.v1.JobTemplateSpecArgs(
                spec=k8s.batch.v1.JobSpecArgs(
                    backoff_limit=0,
                    active_deadline_seconds=JOB_DEADLINE_SECONDS,
                    template=k8s.core.v1.PodTemplateSpecArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels), spec=pod
                    ),
                )
            ),
        ),
        opts=opts,
    )
