"""What the v0.16 Jobs' pods share: the stalwart-cli container, the pod and Job spec, bounds."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.incluster import job_container_security
from components.stalwart.runtime import RuntimeInputs

PLAN_DIR = "/plan"
ADMIN_PASSWORD_KEY = "admin-password"
NONROOT = 65532  # distroless `nonroot`, the stalwart-cli image's user
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


def cli_container(
    step: str,
    plan_file: str,
    inputs: RuntimeInputs,
    credentials: pulumi.Input[str],
    mount: str = "plan",
) -> k8s.core.v1.ContainerArgs:
    mount_path = PLAN_DIR if mount == "plan" else f"/{mount}"
    return k8s.core.v1.ContainerArgs(
        name=step,
        image=inputs.cli_image,
        args=["apply", "--file", plan_file],
        env=[
            k8s.core.v1.EnvVarArgs(name="STALWART_URL", value=inputs.http_url),
            k8s.core.v1.EnvVarArgs(name="STALWART_USER", value="admin"),
            k8s.core.v1.EnvVarArgs(
                name="STALWART_PASSWORD",
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                        name=credentials, key=ADMIN_PASSWORD_KEY
                    )
                ),
            ),
            # The CLI caches the server's schema under $XDG_CACHE_HOME (root fs is read-only).
            k8s.core.v1.EnvVarArgs(name="XDG_CACHE_HOME", value="/tmp/cache"),
            k8s.core.v1.EnvVarArgs(name="NO_COLOR", value="1"),
        ],
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name=mount, mount_path=mount_path, read_only=True),
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
