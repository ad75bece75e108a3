"""The accounts Job's pod for each Stalwart generation: the v0.15 REST reconciler
(incluster/reconcile_accounts.py) or the v0.16 JMAP one (incluster/jmap_jobs.py), both standard
library only, run by a pinned Python image from a ConfigMap (no package download at start)."""

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
from components.stalwart.endpoints import ADMIN_USER

DESIRED_DIR = "/run/secrets/mailstack-accounts"
ACCOUNTS_FILE = "accounts.json"
ADMIN_PASSWORD_FILE = "admin-password"
# The script waits for Stalwart on its own (READY_TIMEOUT_SECONDS, 300 s); the Job's deadline
# bounds it below the provider's wait, so a stuck Job fails the update instead of outliving it.
JOB_DEADLINE_SECONDS = 540
JOB_TIMEOUTS = pulumi.CustomTimeouts(create="15m", update="15m")


@dataclass(frozen=True)
class JobPod:
    generation: str
    """`0.15` (REST reconciler) or `0.16` (JMAP)."""
    image: str
    """Pinned Python 3.11+ image."""
    stalwart_url: pulumi.Input[str]
    """In-cluster URL of Stalwart's HTTP listener."""
    admin_user: str
    """The admin the script logs in as."""
    desired_secret: pulumi.Input[str]
    """Name of the Secret with the accounts document and the admin password."""
    scripts: pulumi.Input[str]
    """Name of the ConfigMap with the script(s)."""


def accounts_pod_spec(pod: JobPod) -> k8s.core.v1.PodSpecArgs:
    env = [
        k8s.core.v1.EnvVarArgs(name="STALWART_URL", value=pod.stalwart_url),
        k8s.core.v1.EnvVarArgs(name="STALWART_ADMIN_USER", value=pod.admin_user),
        k8s.core.v1.EnvVarArgs(
            name="ADMIN_PASSWORD_FILE", value=f"{DESIRED_DIR}/{ADMIN_PASSWORD_FILE}"
        ),
        k8s.core.v1.EnvVarArgs(name="ACCOUNTS_FILE", value=f"{DESIRED_DIR}/{ACCOUNTS_FILE}"),
    ]
    if pod.generation == "0.16":
        # Until the apply Job has made the administrator (pod.admin_user), the recovery admin.
        env.append(k8s.core.v1.EnvVarArgs(name="FALLBACK_ADMIN_USER", value=ADMIN_USER))
    module = "incluster.jmap_jobs" if pod.generation == "0.16" else "incluster.reconcile_accounts"
    command = ["python3", "-m", module, *(["accounts"] if pod.generation == "0.16" else [])]
    env += python_env()
    script_mount, script_volume = scripts_mount(), scripts_volume(pod.scripts)
    return k8s.core.v1.PodSpecArgs(
        restart_policy="Never",
        automount_service_account_token=False,
        security_context=job_pod_security(),
        containers=[
            k8s.core.v1.ContainerArgs(
                name="reconcile-accounts",
                image=pod.image,
                command=command,
                env=env,
                volume_mounts=[
                    script_mount,
                    k8s.core.v1.VolumeMountArgs(
                        name="desired", mount_path=DESIRED_DIR, read_only=True
                    ),
                ],
                security_context=job_container_security(),
                resources=k8s.core.v1.ResourceRequirementsArgs(
                    requests={"cpu": "10m", "memory": "32Mi"},
                    limits={"memory": "128Mi"},
                ),
            )
        ],
        volumes=[
            script_volume,
            k8s.core.v1.VolumeArgs(
                name="desired",
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=pod.desired_secret, default_mode=0o440
                ),
            ),
        ],
    )
