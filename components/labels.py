"""The standard Kubernetes labels every object of this program carries."""

from __future__ import annotations


def standard_labels(instance: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "stalwart",
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "pulumi",
    }
