"""What the v0.16 Jobs' pods share: the plan-applying container, the pod and Job spec, bounds."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.incluster import job_container_security, python_env, scripts_mount
from components.stalwart.runtime import RuntimeInputs

PLAN_DIR = "/plan"
ADMIN_PASSWORD_KEY = "admin-password"
CREDENTIALS_DIR = "/run/secrets/mailstack-admin"
NONROOT = 65532  # no user of the image: the scripts need none, and read their files by fsGroup
# Bounded below the provider's wait (customTimeouts): a Job that cannot finish fails the update.
APPLY_DEADLINE_SECONDS = 540
JOB_TIMEOUTS = pulumi.CustomTimeouts(create="15m", update="15m")
JOB_RESOURCES = k8s.core.v1.ResourceRequirementsArgs(
    requests={"cpu": "10m", "memory": "32Mi"}, limits={"memory": "128Mi"}
)


def job_spec(labels: dict[str, str], pod: k8s.core.v1.PodSpecArgs) -> k8s.batch.v1.JobSpecArgs:
    return k8s.batch.v1.JobSpecArgs(
        backoff_limit=2,
        active_deadline_seconds=APPLY_DEADLINE_SECONDS,
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels), spec=pod
        ),
    )


def job_pod(
    account: pulumi.Input[str] | None,
    steps: list[k8s.core.v1.ContainerArgs],
    containers: list[k8s.core.v1.ContainerArgs],
    volumes: list[k8s.core.v1.VolumeArgs],
) -> k8s.core.v1.PodSpecArgs:
    return k8s.core.v1.PodSpecArgs(
        restart_policy="Never",
        service_account_name=account,
        # Only the listener check talks to the Kubernetes API.
        automount_service_account_token=account is not None,
        security_context=k8s.core.v1.PodSecurityContextArgs(
            run_as_non_root=True,
            run_as_user=NONROOT,
            run_as_group=NONROOT,
            fs_group=NONROOT,
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        ),
        # Init containers run in order, each to success: the plan, then the reload.
        init_containers=steps or None,
        containers=containers,
        volumes=volumes,
    )


def tmp_volume() -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(
        name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi")
    )


def credentials_volume(secret_name: pulumi.Input[str]) -> k8s.core.v1.VolumeArgs:
    """The admin password as a file (never an environment variable: `kubectl describe` and
    /proc/<pid>/environ would show it)."""
    return k8s.core.v1.VolumeArgs(
        name="credentials",
        secret=k8s.core.v1.SecretVolumeSourceArgs(secret_name=secret_name, default_mode=0o440),
    )


def apply_container(
    step: str, plan_files: list[str], inputs: RuntimeInputs, mount: str = "plan"
) -> k8s.core.v1.ContainerArgs:
    """`python3 -m incluster.jmap_jobs apply <plans>` in the reconciler image: the plans in
    order, over JMAP (incluster/plan_apply.py); needs the `scripts` and `credentials` volumes.
    In recovery mode `--recovery` writes every declared singleton (plan_apply.py)."""
    mount_path = PLAN_DIR if mount == "plan" else f"/{mount}"
    return k8s.core.v1.ContainerArgs(
        name=step,
        image=inputs.args.jobs_image,
        command=[
            "python3",
            "-m",
            "incluster.jmap_jobs",
            "apply",
            *(["--recovery"] if inputs.claim.recovery else []),
            *plan_files,
        ],
        env=[
            *python_env(),
            k8s.core.v1.EnvVarArgs(name="STALWART_URL", value=inputs.server.http_url),
            k8s.core.v1.EnvVarArgs(
                name="ADMIN_PASSWORD_FILE", value=f"{CREDENTIALS_DIR}/{ADMIN_PASSWORD_KEY}"
            ),
        ],
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name=mount, mount_path=mount_path, read_only=True),
            scripts_mount(),
            k8s.core.v1.VolumeMountArgs(
                name="credentials", mount_path=CREDENTIALS_DIR, read_only=True
            ),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
        ],
        security_context=job_container_security(),
        resources=JOB_RESOURCES,
    )


def selector_text(selector: dict[str, str]) -> str:
    """A label selector as the Kubernetes API takes it in `labelSelector`; a key written `!key`
    selects the pods without that label."""
    return ",".join(
        key if key.startswith("!") else f"{key}={value}" for key, value in sorted(selector.items())
    )
