"""The typed settings the program runs on: frozen value types with no defaults of their own.

`settings/keys.py` holds every default, `settings/rules/` turns raw values into these types.
Components receive them and never read configuration themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi


@dataclass(frozen=True)
class TunnelRoute:
    """One of the tunnel's other routes (`mailstack:tunnelRoutes`), kept in its order."""

    hostname: str
    service: str
    path: str | None
    origin_request: dict[str, Any] | None
    """cloudflared origin settings, keyed by the provider's snake_case names."""


@dataclass(frozen=True)
class CredentialsTarget:
    """Where a service account's password is delivered for its consumer."""

    namespace: str
    secret_name: str
    key: str
    create: bool
    """True: the stack owns a dedicated Secret; False: one key is patched into an existing one."""
    restart: tuple[Workload, ...] = ()
    """Rolled (pod template annotation) when the password changes, and only then."""


@dataclass(frozen=True)
class Workload:
    """A consumer workload that reads a service account's password at start."""

    kind: str
    """`Deployment` or `StatefulSet`."""
    name: str
    """Its name, in the credentials Secret's namespace."""


@dataclass(frozen=True)
class ServiceAccount:
    """One entry of `mailstack:serviceAccounts`."""

    name: str
    """Short name: the SMTP username (Stalwart resolves AUTH by name, not by address)."""
    email: str
    description: str
    credentials: CredentialsTarget
    password_version: int
    """Bump to rotate the generated password."""


@dataclass(frozen=True)
class Relay:
    """`mailstack:relay`: the SMTP relay all outbound mail goes through (port 25 is blocked)."""

    host: str
    port: int
    username: str
    implicit_tls: bool
    """465 is implicit TLS; a STARTTLS relay (587) needs false."""


@dataclass(frozen=True)
class BackupPolicy:
    """`mailstack:backup`: Longhorn recurring jobs of the mail volume."""

    groups: tuple[str, ...]
    """Longhorn recurring-job groups the volume stays in besides its own (`default`)."""
    longhorn_namespace: str
    snapshot_cron: str
    snapshot_retain: int
    backup_enabled: bool
    """Needs a backup target (NFS/S3) configured in Longhorn; snapshots live on the same disks."""
    backup_cron: str
    backup_retain: int


@dataclass(frozen=True)
class MonitoringSettings:
    """`mailstack:monitoring`: Prometheus Operator objects and the outbound canary."""

    enabled: bool
    """Off by default: the ServiceMonitor and PrometheusRule need the Prometheus Operator's CRDs."""
    namespace: str
    """Prometheus' namespace: the only one the metrics listener accepts."""
    release: str
    """The `release` label kube-prometheus-stack selects ServiceMonitors and rules by."""
    canary_schedule: str
    """Cron schedule of the outbound canary."""
    canary_recipient: str
    """Where the canary sends (Resend's test recipient by default)."""
    runbook_url: str
    """The alerts reference page's address (docs/reference/alerts.md); each alert's `runbook_url`
    links its section."""


@dataclass(frozen=True)
class Adoption:
    """`mailstack:adopt`: what the first update takes over instead of creating."""

    kubernetes: bool
    """Import the namespace and the data claim (the rest is deleted and recreated)."""
    cloudflare: dict[str, str]
    """`mailstack:adopt.cloudflare` key -> import id."""
    authentik: dict[str, str] = field(default_factory=dict)
    """`mailstack:adopt.authentik`: `provider` (its number) and/or `application` (its slug)."""


@dataclass(frozen=True)
class Upgrade:
    """`mailstack:upgrade`: the stage of the v0.15 -> v0.16 upgrade "
    "(docs/how-to/upgrade-to-v016.md)."""

    phase: str
    """`stop` (v0.15 scaled to zero) or `recover` (v0.16 on a copy of the claim, recovery mode)."""
    claim_name: str | None
    """Name of the copy; None: `<dataClaimName>-v016`."""


@dataclass(frozen=True)
class ClaimRuntime:
    """One data claim and the Stalwart that runs (or waits) on it."""

    role: str
    """`primary` (the stack's first claim) or `upgraded` (its v0.16 copy)."""
    claim: str
    """The claim's Kubernetes name."""
    generation: str
    """The Stalwart generation of its data and of the runtime on it."""
    image: str
    """The Stalwart image of that runtime."""
    replicas: int
    """1 when it serves, 0 when it waits (rollback) or is stopped."""
    recovery: bool
    """v0.16 started with STALWART_RECOVERY_MODE (the upgrade's recover phase)."""
    source: str | None
    """The claim this one is a copy of (CSI clone, `spec.dataSource`), or None."""


@dataclass(frozen=True)
class DataPlan:
    """Which claims exist after this update, and which of them serves."""

    claims: tuple[ClaimRuntime, ...]
    """The primary first, then the upgraded copy when there is one."""
    phase: str | None
    """The upgrade phase of this update, if any."""

    @property
    def serving(self) -> ClaimRuntime | None:
        return next((claim for claim in self.claims if claim.replicas), None)


@dataclass(frozen=True)
class CloudflareSettings:
    account_id: str
    zone_id: str
    tunnel_id: str
    tunnel_origin: str
    """Where cloudflared sends the webmail host (Traefik)."""
    tunnel_routes: tuple[TunnelRoute, ...]
    admin_email: str
    """Email Routing destination of the catch-all rule."""
    resend_dkim_record: str
    resend_region: str
    dmarc: str
    """The DMARC TXT value, e.g. `v=DMARC1; p=none;`."""


@dataclass(frozen=True)
class AuthentikSettings:
    """`mailstack:authentik`: the webmail's forward-auth objects in Authentik."""

    url: str
    """Authentik's base URL, https, e.g. `https://auth.example.com`."""
    token: pulumi.Output[str]
    """API token (secret): `authentik:token`, or AUTHENTIK_TOKEN in the environment."""
    outpost: str
    """The outpost the provider is attached to (its other providers are left alone)."""
    authorization_flow: str
    """Slug of the provider's authorization flow."""
    invalidation_flow: str
    """Slug of the provider's invalidation (logout) flow."""
    groups: tuple[str, ...]
    """Groups allowed to open the webmail; empty: every user Authentik lets in."""
    slug: str
    """The Application's slug."""
    name: str
    """Name of the Application and of the provider."""


@dataclass(frozen=True)
class StorageSettings:
    """`mailstack:storage` and `mailstack:replicas`: where Stalwart v0.16 keeps its data, and
    how many Stalwart pods share it."""

    engine: str
    """`rocksdb` (the data claim, one pod) or `postgresql` (a CloudNativePG cluster)."""
    instances: int
    """PostgreSQL: the CloudNativePG cluster's instances (one primary, the rest replicas)."""
    size: str
    """PostgreSQL: each instance's volume (a Kubernetes quantity)."""
    storage_class: str
    """PostgreSQL: the instances' storage class."""
    replicas: int
    """Stalwart pods: 1, or more on PostgreSQL with the NATS coordinator."""
    nats_image: str = ""
    """The coordinator's image (settings/keys.py `NATS_IMAGE`, which Renovate keeps current)."""
    psql_image: str = ""
    """psql for the move's Job (settings/keys.py `PSQL_IMAGE`)."""
    move: str | None = None
    """The move of a RocksDB store to PostgreSQL (docs/how-to/move-to-postgresql.md): `copy`
    (`mailstack:storageMove: {phase: copy}`: the RocksDB server is stopped and its store copied
    into the new database; nothing serves from PostgreSQL yet), `finish` (the update after a
    copy: the first on PostgreSQL, whose pods wait for the copy's release), `abandon` (the update
    after a copy that goes back to RocksDB), or None."""

    @property
    def moving(self) -> bool:
        """This update copies the RocksDB store: RocksDB still holds the mail."""
        return self.move == "copy"

    @property
    def postgresql(self) -> bool:
        return self.engine == "postgresql"

    @property
    def pods_on_postgresql(self) -> bool:
        """Stalwart's pods run on PostgreSQL (a StatefulSet): PostgreSQL, and not mid-move."""
        return self.postgresql and not self.moving

    @property
    def clustered(self) -> bool:
        """More than one Stalwart pod: a StatefulSet, NATS and the plan's Coordinator."""
        return self.replicas > 1


ROCKSDB = StorageSettings("rocksdb", 2, "10Gi", "longhorn", replicas=1)
"""Today's store: RocksDB on the data claim, one pod (the PostgreSQL fields unused)."""


@dataclass(frozen=True)
class TlsSettings:
    """`mailstack:tls`: a cert-manager certificate Stalwart serves on its TLS listener (993)."""

    issuer: str
    """The cert-manager issuer's name."""
    issuer_kind: str
    """`ClusterIssuer` or `Issuer` (in the stack's namespace)."""
    dns_names: tuple[str, ...]
    """The names the certificate covers; the first is its common name."""


@dataclass(frozen=True)
class Settings:
    """Everything the program needs from the stack configuration, validated."""

    domain: str
    """Mail domain and Cloudflare zone name, e.g. `example.com`."""
    admin_password: pulumi.Output[str] | None
    """Fallback admin password (secret); None means a pulumi-random password is generated."""
    resend_api_key: pulumi.Output[str]
    """Resend SMTP relay API key (secret)."""
    webmail_hostname: str
    """Label of the public webmail host: `<label>.<domain>`."""
    tailnet_hostname: str
    """Label of the Tailscale ingress host: `<label>.<tailnet>.ts.net`."""
    namespace: str
    image: str
    storage_class: str
    storage_size: str
    cloudflare: CloudflareSettings
    relay: Relay
    auth_mechanisms: tuple[str, ...]
    """SASL mechanisms Stalwart offers on 587 (PLAIN/LOGIN are what in-cluster apps use)."""
    service_accounts: tuple[ServiceAccount, ...]
    data_claim_name: str
    """Name of the data PersistentVolumeClaim (an adopted claim keeps its old name)."""
    adopt: Adoption
    """What the first update takes over from the old system "
    "(docs/how-to/adopt-the-old-system.md)."""
    run_as_user: int
    """Uid/gid Stalwart switches to after binding its ports; 0 keeps root."""
    smtp_client_namespaces: tuple[str, ...]
    """Namespaces allowed to reach 587/993; empty: every namespace."""
    ingress_namespaces: tuple[str, ...]
    """Namespaces of the ingress controllers allowed to reach the webmail (8080)."""
    backup: BackupPolicy
    reconciler_image: str
    """Image of the in-cluster Jobs' scripts: any pinned Python 3.11+ image (standard library)."""
    generation: str
    """The Stalwart generation of the image: `0.15` or `0.16` (from its tag)."""
    data: DataPlan
    """The data claims and which one serves (settings/generation.py)."""
    upgrade_export: pulumi.Output[str] | None
    """The converted v0.15 export (secret), applied in the recover phase."""
    monitoring: MonitoringSettings
    """Metrics scraping, alerts, dashboard and the outbound canary."""
    authentik: AuthentikSettings | None = None
    """The webmail's forward-auth objects in Authentik; None: the stack leaves Authentik alone."""
    tls: TlsSettings | None = None
    """A cert-manager certificate for 993; None: Stalwart's own self-signed one."""
    storage: StorageSettings = ROCKSDB
    """Where v0.16 keeps its data; RocksDB on the data claim by default."""

    @property
    def webmail_fqdn(self) -> str:
        return f"{self.webmail_hostname}.{self.domain}"
