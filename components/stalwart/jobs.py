"""The server's own Jobs (v0.16's apply and restore Jobs, the upgrade's gate): their labels,
their service account, and what their pods share (bounds, the pod and Job spec, the admin
password's volume)."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kube import object_name, standard_labels

ADMIN_PASSWORD_KEY = "admin-password"
CREDENTIALS_DIR = "/run/secrets/mailstack-admin"
NONROOT = 65532  # no user of the image: the scripts need none, and read their files by fsGroup
# Bounded below the provider's wait (customTimeouts): a Job that cannot finish fails the update.
APPLY_DEADLINE_SECONDS = 540
JOB_TIMEOUTS = pulumi.CustomTimeouts(create="15m", update="15m")
JOB_RESOURCES = k8s.core.v1.ResourceRequirementsArgs(
    requests={"cpu": "10m", "memory": "32Mi"}, limits={"memory": "128Mi"}
)


def job_labels(instance: str) -> dict[str, str]:
    """Labels of the server's own Jobs' pods and their service account (the NetworkPolicy lets
    the pods reach every listener). Their `app.kubernetes.io/instance` is not the server's: the
    Service, the NetworkPolicy, the disruption budget and the Jobs' own restarts select Stalwart's
    pods by name and instance, and a Job's pod must match none of them (it would be an endpoint
    of the Service, be held to Stalwart's egress rules, and delete itself)."""
    return standard_labels(f"{instance}-jobs", "apply")


def jobs_account(
    name: str,
    namespace: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    bootstrap_secret: pulumi.Input[str] | None = None,
) -> pulumi.Output[str]:
    """A service account that may get, list and delete pods in Stalwart's namespace, and get
    and patch the one bootstrap Secret, nothing more: the listener check restarts Stalwart, the
    gate waits for the v0.15 pod to be gone, the administrator step removes the recovery admin's
    key (components/stalwart/v016/admin.py)."""
    rules = [
        k8s.rbac.v1.PolicyRuleArgs(
            api_groups=[""], resources=["pods"], verbs=["get", "list", "delete"]
        )
    ]
    if bootstrap_secret is not None:
        rules.append(
            k8s.rbac.v1.PolicyRuleArgs(
                api_groups=[""],
                resources=["secrets"],
                resource_names=[bootstrap_secret],
                verbs=["get", "patch"],
            )
        )
    labels = job_labels(name)
    account = k8s.core.v1.ServiceAccount(
        f"{name}-jobs",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"{name}-jobs", namespace=namespace, labels=labels
        ),
        automount_service_account_token=False,
        opts=opts,
    )
    role = k8s.rbac.v1.Role(
        f"{name}-jobs",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"{name}-jobs", namespace=namespace, labels=labels
        ),
        rules=rules,
        opts=opts,
    )
    k8s.rbac.v1.RoleBinding(
        f"{name}-jobs",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"{name}-jobs", namespace=namespace, labels=labels
        ),
        role_ref=k8s.rbac.v1.RoleRefArgs(
            api_group="rbac.authorization.k8s.io",
            kind="Role",
            name=role.metadata.apply(object_name),
        ),
        subjects=[
            k8s.rbac.v1.SubjectArgs(
                kind="ServiceAccount",
                name=account.metadata.apply(object_name),
                namespace=namespace,
            )
        ],
        opts=opts,
    )
    return account.metadata.apply(object_name)


def job_spec(
    labels: dict[str, str],
    pod: k8s.core.v1.PodSpecArgs,
    deadline_seconds: int = APPLY_DEADLINE_SECONDS,
    backoff_limit: int = 2,
) -> k8s.batch.v1.JobSpecArgs:
    """A Job's spec around its pod: retried `backoff_limit` times, within `deadline_seconds`."""
    return k8s.batch.v1.JobSpecArgs(
        backoff_limit=backoff_limit,
        active_deadline_seconds=deadline_seconds,
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


def selector_text(selector: dict[str, str]) -> str:
    """A label selector as the Kubernetes API takes it in `labelSelector`; a key written `!key`
    selects the pods without that label."""
    return ",".join(
        key if key.startswith("!") else f"{key}={value}" for key, value in sorted(selector.items())
    )
