"""What the v0.15 -> v0.16 upgrade adds: the gate that lets the copy of the claim be taken only
once no v0.15 pod is left (UPGRADING/v0_16.md step 2)."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.incluster import (
    job_container_security,
    job_pod_security,
    python_env,
    scripts_config_map,
    scripts_mount,
    scripts_volume,
)
from components.kube import RERUN_WHEN_FAILED, object_name
from components.stalwart.jobs import (
    JOB_RESOURCES,
    JOB_TIMEOUTS,
    NONROOT,
    job_labels,
    job_spec,
    selector_text,
)

GATE_DEADLINE_SECONDS = 540


def stop_gate(
    name: str,
    namespace: pulumi.Input[str],
    selector: dict[str, str],
    account: pulumi.Input[str],
    image: str,
    stopped: pulumi.Resource,
    opts: pulumi.ResourceOptions,
    instance: str | None = None,
    container: str = "wait-for-v015-to-stop",
) -> k8s.batch.v1.Job:
    """Completes once no pod matches `selector`: the v0.15 Deployment at zero replicas has no pod
    left, terminating ones included, so RocksDB is closed and the volume unmounted. `name`
    prefixes its resources; `instance` (default `name`) is the server its pods' labels name.
    The storage move's copy waits for the same (components/stalwart/v016/move.py)."""
    labels = job_labels(instance or name)
    scripts = scripts_config_map(f"{name}-gate-scripts", namespace, labels, opts)
    pod = k8s.core.v1.PodSpecArgs(
        restart_policy="Never",
        service_account_name=account,
        automount_service_account_token=True,
        security_context=job_pod_security(NONROOT, fs_group=False),
        containers=[
            k8s.core.v1.ContainerArgs(
                name=container,
                image=image,
                command=["python3", "-m", "incluster.jmap_jobs", "pods-gone"],
                env=[
                    *python_env(),
                    k8s.core.v1.EnvVarArgs(name="POD_SELECTOR", value=selector_text(selector)),
                    k8s.core.v1.EnvVarArgs(
                        name="POD_NAMESPACE",
                        value_from=k8s.core.v1.EnvVarSourceArgs(
                            field_ref=k8s.core.v1.ObjectFieldSelectorArgs(
                                field_path="metadata.namespace"
                            )
                        ),
                    ),
                ],
                volume_mounts=[scripts_mount()],
                security_context=job_container_security(),
                resources=JOB_RESOURCES,
            )
        ],
        volumes=[scripts_volume(scripts.metadata.apply(object_name))],
    )
    return k8s.batch.v1.Job(
        f"{name}-stop-gate",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            namespace=namespace, labels=labels, annotations=RERUN_WHEN_FAILED
        ),
        spec=job_spec(labels, pod, GATE_DEADLINE_SECONDS),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[stopped], custom_timeouts=JOB_TIMEOUTS)
        ),
    )
