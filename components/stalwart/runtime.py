"""The hand-over between the server component and a Stalwart generation: what
components/stalwart/server.py hands the runtime of one data claim (v015/runtime.py or
v016/runtime.py), and what it gets back.

A runtime gets three things, each once: the server's own inputs as __main__.py gave them (the
settings: relay, domain, images, tls...), what the server made for every runtime (namespace,
passwords, the Jobs' account), and the claim it runs on (settings/generation.py's ClaimRuntime).
The names that differ between the serving claim and the upgrade's copy are derived here, in one
place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s

from components.stalwart.claims import UPGRADED_LABEL, UPGRADED_SUFFIX
from components.stalwart.endpoints import DEPLOYMENT_NAME
from settings.model import ClaimRuntime

if TYPE_CHECKING:
    from components.stalwart.server import StalwartServerArgs


@dataclass(frozen=True)
class ServerParts:
    """What the server component makes once and every runtime shares."""

    instance: str
    """The server component's name: the pods' `app.kubernetes.io/instance` label."""
    namespace: pulumi.Input[str]
    """Stalwart's namespace."""
    selector: dict[str, str]
    """The labels the Service selects Stalwart's pods by (both claims' pods)."""
    http_url: pulumi.Output[str]
    """In-cluster URL of the HTTP listener, through the Service."""
    jobs_account: pulumi.Input[str] | None
    """The service account of the Jobs that may restart Stalwart's pods (v0.16), or None."""
    admin_password: pulumi.Output[str]
    """The admin password (secret), for the Jobs that log in."""
    admin_hash: pulumi.Output[str]
    """Its SHA-512-crypt hash (secret), which the pod is given."""
    metrics_password: pulumi.Output[str]
    """The Basic-auth password of the Prometheus endpoint (secret)."""
    bootstrap_secret: pulumi.Output[str] | None
    """v0.16: the Secret the pod reads the recovery admin from until the administrator exists
    (components/stalwart/v016/admin.py)."""


@dataclass(frozen=True)
class RuntimeInputs:
    """What a generation's runtime is handed for one data claim."""

    args: StalwartServerArgs
    """The server's inputs (the settings), as given."""
    server: ServerParts
    """What the server made for every runtime."""
    claim: ClaimRuntime
    """The claim's role, generation, image, replicas and recovery mode."""
    claim_name: pulumi.Input[str]
    """The Kubernetes name of the registered claim the pod mounts."""

    @property
    def upgraded(self) -> bool:
        """The upgrade's v0.16 copy (`upgraded`), not the stack's first claim (`primary`)."""
        return self.claim.role == "upgraded"

    @property
    def prefix(self) -> str:
        """Prefix of this runtime's logical names (`stalwart`, or `stalwart-v016` for the copy)."""
        instance = self.server.instance
        return f"{instance}-{UPGRADED_SUFFIX}" if self.upgraded else instance

    @property
    def deployment_name(self) -> str:
        """The Deployment's Kubernetes name (`stalwart`, or `stalwart-v016` for the copy)."""
        return f"{DEPLOYMENT_NAME}-{UPGRADED_SUFFIX}" if self.upgraded else DEPLOYMENT_NAME

    @property
    def selector(self) -> dict[str, str]:
        """The labels of this runtime's pods: the copy's Deployment selects its own pods only
        (the Service selects both)."""
        selector = self.server.selector
        return {**selector, UPGRADED_LABEL: "upgraded"} if self.upgraded else selector


@dataclass(frozen=True)
class Runtime:
    """What a generation's runtime gives back to the server."""

    deployment: k8s.apps.v1.Deployment | k8s.apps.v1.StatefulSet
    """The Stalwart Deployment (RocksDB), or the StatefulSet (v0.16 on PostgreSQL)."""
    ready: pulumi.Resource
    """What accounts wait for: the Deployment (v0.15) or the applied plan (v0.16)."""
