"""What every Kubernetes object of this program shares: the standard labels, object names, the
annotations that stop the provider from waiting on a status only a controller publishes and that
rerun a failed Job, and the metadata of a patch of someone else's object."""

from __future__ import annotations

import pulumi_kubernetes as k8s

# The provider would wait up to ten minutes for each Ingress's load-balancer status, which only
# the controller (Traefik, the Tailscale operator) publishes; nothing here depends on it, and an
# operator that is slow to join the tailnet must not fail the update.
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}
# Every Job of the stack: one that failed is replaced (run again) by the next `pulumi up` even
# when nothing else changed, instead of being waited on again (pulumi-kubernetes'
# `replaceUnready`; make e2e's test_failed_jobs.py shows it on the real engine).
RERUN_WHEN_FAILED = {"pulumi.com/replaceUnready": "true"}


def standard_labels(instance: str, component: str) -> dict[str, str]:
    """The `app.kubernetes.io/*` labels of an object of the component resource `instance`."""
    return {
        "app.kubernetes.io/name": "stalwart",
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def object_name(metadata: k8s.meta.v1.outputs.ObjectMeta) -> str:
    """The object's name, auto-named or not (the provider fills it in before the object exists)."""
    if metadata.name is None:
        raise ValueError("Kubernetes object without metadata.name")
    return metadata.name


def patch_metadata(
    name: str, namespace: str, field_manager: str, *, skip_await: bool = False
) -> k8s.meta.v1.ObjectMetaPatchArgs:
    """A server-side-apply patch under its own field manager: the object's owner (a Helm chart,
    Flux) keeps every other field; force takes over fields last set by hand (`kubectl patch`).
    `skip_await` for a patch of someone else's workload: see SKIP_AWAIT and consumers.py."""
    return k8s.meta.v1.ObjectMetaPatchArgs(
        name=name,
        namespace=namespace,
        annotations={
            "pulumi.com/patchFieldManager": field_manager,
            "pulumi.com/patchForce": "true",
            **(SKIP_AWAIT if skip_await else {}),
        },
    )
