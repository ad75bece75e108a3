"""What the server component hands a Stalwart generation's resources, and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from settings.model import Relay, TlsSettings


@dataclass(frozen=True)
class RuntimeInputs:
    instance: str
    """The server component's name: the pods' `app.kubernetes.io/instance` label."""
    prefix: str
    """Prefix of this runtime's logical names (`stalwart`, or `stalwart-v016` for the copy)."""
    deployment_name: str
    """The Deployment's Kubernetes name (`stalwart`, or `stalwart-v016` for the copy)."""
    replicas: int
    """1 when this runtime serves, 0 when it waits."""
    recovery: bool
    """v0.16 in recovery mode: the export is applied before anything else (the upgrade)."""
    export: pulumi.Output[str] | None
    """The converted v0.15 export (secret), for the recovery runtime."""
    jobs_account: pulumi.Input[str] | None
    """The service account of the Jobs that may restart Stalwart's pods (v0.16)."""
    namespace: pulumi.Input[str]
    """Stalwart's namespace."""
    selector: dict[str, str]
    """Labels that select the Stalwart pod (Service, NetworkPolicy, restarts)."""
    image: str
    """The pinned Stalwart image."""
    claim_name: pulumi.Input[str]
    """The data claim the pod mounts."""
    admin_hash: pulumi.Output[str]
    """SHA-512-crypt hash of the admin password (secret)."""
    admin_password: pulumi.Output[str]
    """The admin password itself (secret), for the Jobs that log in."""
    metrics_password: pulumi.Output[str]
    """The Basic-auth password of the Prometheus endpoint (secret)."""
    relay_password: pulumi.Input[str]
    """The relay's credential (secret)."""
    relay: Relay
    """The relay every non-local message goes through."""
    mechanisms: tuple[str, ...]
    """SASL mechanisms offered on submission without TLS."""
    run_as_user: int
    """v0.15: uid/gid Stalwart drops to after binding (0 keeps root)."""
    domain: str
    """The mail domain."""
    hostname: str
    """Stalwart's hostname (the public webmail host)."""
    http_url: pulumi.Output[str]
    """In-cluster URL of the HTTP listener."""
    jobs_image: str
    """The pinned Python image of the in-cluster scripts."""
    tls: TlsSettings | None = None
    """v0.16: the cert-manager certificate served on 993 (`mailstack:tls`)."""


@dataclass(frozen=True)
class Runtime:
    deployment: k8s.apps.v1.Deployment
    """The Stalwart Deployment."""
    ready: pulumi.Resource
    """What accounts wait for: the Deployment (v0.15) or the applied plan (v0.16)."""
    claim_name: pulumi.Input[str]
    """The claim it runs on."""
