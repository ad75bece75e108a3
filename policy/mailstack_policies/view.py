"""What a policy sees of one resource, the type tokens the rules look at, and safe readers of
inputs that may be pulumi-policy's proxies (never copied or walked whole)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PVC_TYPE = "kubernetes:core/v1:PersistentVolumeClaim"
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
DEPLOYMENT_TYPE = "kubernetes:apps/v1:Deployment"
CONFIGMAP_TYPES = ("kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:ConfigMapPatch")
DNS_RECORD_TYPE = "cloudflare:index/dnsRecord:DnsRecord"
TUNNEL_CONFIG_TYPE = (
    "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig"
)


@dataclass(frozen=True)
class ResourceView:
    """What a policy sees of one resource.

    `retain_on_delete` is None when it is not known: pulumi-policy does not pass that option to
    policies (its `PolicyResourceOptions` has `protect` but no `retain_on_delete`), so under the
    engine the retain half of the keep rule cannot be checked; the offline render records it.
    """

    type: str
    name: str
    inputs: Mapping[str, Any]
    protect: bool = False
    retain_on_delete: bool | None = None

    @property
    def label(self) -> str:
        return f"{self.type} '{self.name}'"


def from_render_record(record: Mapping[str, Any]) -> ResourceView:
    """A view of one object of `rendered/resources.json` (type, name, inputs, options)."""
    return ResourceView(
        type=record["type"],
        name=record["name"],
        inputs=record.get("inputs") or {},
        protect=bool(record.get("protect")),
        retain_on_delete=record.get("retainOnDelete"),
    )


def get(value: Any, *path: str) -> Any:
    """value[path[0]][path[1]]..., or None as soon as a step is missing or not a mapping."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def items(value: Any) -> list[Any]:
    """The elements of a list input (not of a string), or [] when it is absent."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return []
