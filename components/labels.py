"""The standard Kubernetes labels every object of this program carries, and object names."""

from __future__ import annotations

import pulumi_kubernetes as k8s


def standard_labels(instance: str, component: str) -> dict[str, str]:
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
