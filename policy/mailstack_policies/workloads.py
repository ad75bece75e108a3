"""Workload rules: the mail volume is kept, Stalwart is never rolled, images are pinned."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from .view import DEPLOYMENT_TYPE, NAMESPACE_TYPE, PVC_TYPE, ResourceView, get, items

# (type, logical name) of the resources whose loss loses the mailboxes.
KEPT_RESOURCES = {(PVC_TYPE, "stalwart-data"), (NAMESPACE_TYPE, "stalwart-namespace")}

STALWART_REPOSITORY = "stalwartlabs/stalwart"

# Workload type token -> path from the inputs to the pod spec. `*Patch` variants are checked too,
# but a patch may leave a container's image out (it is merged by container name).
_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

# --- 1. the data volume and the namespace are protected and retained ---


def check_kept(resource: ResourceView) -> list[str]:
    """The data PVC and the namespace carry `protect` and `retainOnDelete`."""
    if (resource.type, resource.name) not in KEPT_RESOURCES:
        return []
    problems = []
    if not resource.protect:
        problems.append(
            f"{resource.label} is not protected: a `pulumi destroy` or a replacement would "
            "delete the mailboxes. Fix: give it opts=ResourceOptions(protect=True)."
        )
    if resource.retain_on_delete is False:
        problems.append(
            f"{resource.label} is not retained on delete: removing it from the program would "
            "delete it from the cluster. Fix: give it opts=ResourceOptions(retain_on_delete=True)."
        )
    return problems


# --- 2. the Stalwart Deployment is never rolled ---


def image_repository(image: str) -> str:
    """`registry/path` of an image reference without tag or digest, docker.io's prefix dropped."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    for prefix in ("docker.io/library/", "index.docker.io/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _containers(resource: ResourceView) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(list name, container) of every container of a workload's pod spec."""
    kind = resource.type.removesuffix("Patch")
    path = _POD_SPEC_PATHS.get(kind)
    if path is None:
        return
    pod_spec = get(resource.inputs, *path)
    for list_name in _CONTAINER_LISTS:
        for container in items(get(pod_spec, list_name)):
            if isinstance(container, Mapping):
                yield list_name, container


def runs_stalwart(resource: ResourceView) -> bool:
    """True when one of the workload's containers runs a stalwartlabs/stalwart image."""
    return any(
        isinstance(c.get("image"), str) and image_repository(c["image"]) == STALWART_REPOSITORY
        for _, c in _containers(resource)
    )


def check_recreate(resource: ResourceView) -> list[str]:
    """A Deployment that runs Stalwart uses the `Recreate` strategy."""
    if resource.type != DEPLOYMENT_TYPE or not runs_stalwart(resource):
        return []
    strategy = get(resource.inputs, "spec", "strategy", "type") or "RollingUpdate (the default)"
    if strategy == "Recreate":
        return []
    return [
        f"{resource.label} runs Stalwart with strategy {strategy}: two pods would open the same "
        "RocksDB volume (RWO) during a rollout. Fix: set spec.strategy.type to 'Recreate'."
    ]


# --- 3. images are pinned ---


def image_pin_problem(image: str) -> str | None:
    """Why an image reference is not pinned, or None when it has a digest or a non-latest tag."""
    if "@" in image:
        digest = image.split("@", 1)[1]
        return None if re.fullmatch(r"[a-z0-9]+:[A-Fa-f0-9]{32,}", digest) else "a malformed digest"
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return "no tag (Kubernetes pulls ':latest')"
    tag = name.rsplit(":", 1)[1]
    if tag == "":
        return "an empty tag"
    if tag.lower() == "latest":
        return "the tag 'latest'"
    return None


def check_pinned_images(resource: ResourceView) -> list[str]:
    """Every container of a workload names an image with a tag that is not `latest`, or a digest."""
    problems = []
    is_patch = resource.type.endswith("Patch")
    for list_name, container in _containers(resource):
        where = f"{list_name[:-1]} '{container.get('name', '?')}'"
        image = container.get("image")
        if not isinstance(image, str) or not image:
            if not is_patch:
                problems.append(
                    f"{resource.label}: {where} has no image. Fix: name a pinned image, "
                    "e.g. 'repo/name:v1.2.3' or 'repo/name@sha256:...'."
                )
            continue
        problem = image_pin_problem(image)
        if problem:
            problems.append(
                f"{resource.label}: {where} uses image '{image}' with {problem}, so a restart can "
                "run a different version. Fix: pin a release tag (e.g. "
                f"'{image_repository(image)}:v1.2.3') or a digest ('@sha256:...')."
            )
    return problems
