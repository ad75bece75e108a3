"""The typed settings the program runs on, their defaults, and the error bad ones raise.

`components/settings.py` reads and validates them; `components/settings_checks.py` holds the
rules. Components receive these objects and never read configuration themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.adoption import Adoption
from components.backup import BackupPolicy

NAMESPACE = "mailstack"

# Stalwart v0.16 replaced config.toml with a JSON data-store file and JMAP settings objects and
# removed the /api endpoints this program renders for (UPGRADING/v0_16.md); only v0.15.x fits.
SUPPORTED_STALWART_MINOR = (0, 15)
DEFAULT_IMAGE = "stalwartlabs/stalwart:v0.15.5"
DEFAULT_STORAGE_SIZE = "10Gi"
DEFAULT_RECONCILER_IMAGE = "python:3.12.8-slim-bookworm"
DEFAULT_CREDENTIALS_KEY = "smtp-password"
DEFAULT_TUNNEL_ORIGIN = "http://traefik.kube-system.svc.cluster.local:80"
DEFAULT_DMARC = "v=DMARC1; p=none;"
# The zero-trust tunnel's origin settings, by the names `pulumi preview` shows (camelCase) and
# the provider's Python names (ZeroTrustTunnelCloudflaredConfigConfigIngressOriginRequestArgs).
ORIGIN_REQUEST_KEYS = {
    "access": "access",
    "caPool": "ca_pool",
    "connectTimeout": "connect_timeout",
    "disableChunkedEncoding": "disable_chunked_encoding",
    "http2Origin": "http2_origin",
    "httpHostHeader": "http_host_header",
    "keepAliveConnections": "keep_alive_connections",
    "keepAliveTimeout": "keep_alive_timeout",
    "matchSnItoHost": "match_sn_ito_host",
    "noHappyEyeballs": "no_happy_eyeballs",
    "noTlsVerify": "no_tls_verify",
    "originServerName": "origin_server_name",
    "proxyType": "proxy_type",
    "tcpKeepAlive": "tcp_keep_alive",
    "tlsTimeout": "tls_timeout",
}
# RocksDB, the spam-filter rules and the webadmin bundle need room before the first message.
MIN_STORAGE_BYTES = 1024**3


class SettingsError(pulumi.RunError):
    """Bad stack settings; the message holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class TunnelRouteSetting:
    """One of the tunnel's other routes (`mailstack:tunnelRoutes`), kept in its order."""

    hostname: str
    service: str
    path: str | None = None
    origin_request: dict[str, Any] | None = None
    """cloudflared origin settings, keyed by the provider's snake_case names."""


@dataclass(frozen=True)
class CredentialsTarget:
    """Where a service account's password is delivered for its consumer."""

    namespace: str
    secret_name: str
    key: str = "smtp-password"
    create: bool = False
    """True: the stack owns a dedicated Secret; False: one key is patched into an existing one."""


@dataclass(frozen=True)
class ServiceAccountSetting:
    """One entry of `mailstack:serviceAccounts`."""

    name: str
    """Short name: the SMTP username (Stalwart resolves AUTH by name, not by address)."""
    email: str
    description: str
    credentials: CredentialsTarget
    password_version: int = 1
    """Bump to rotate the generated password."""


@dataclass(frozen=True)
class RelaySetting:
    """`mailstack:relay`: the SMTP relay all outbound mail goes through."""

    host: str = "smtp.resend.com"
    port: int = 465
    username: str = "resend"
    implicit_tls: bool = True
    """465 is implicit TLS; a STARTTLS relay (587) needs false."""


@dataclass(frozen=True)
class CloudflareSettings:
    account_id: str
    zone_id: str
    tunnel_id: str
    tunnel_origin: str
    """Where cloudflared sends the webmail host (Traefik)."""
    tunnel_routes: tuple[TunnelRouteSetting, ...]
    admin_email: str
    """Email Routing destination of the catch-all rule."""
    resend_dkim_record: str
    resend_region: str
    dmarc: str
    """The DMARC TXT value, e.g. `v=DMARC1; p=none;`."""


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
    relay: RelaySetting
    auth_mechanisms: tuple[str, ...]
    """SASL mechanisms Stalwart offers on 587 (PLAIN/LOGIN are what in-cluster apps use)."""
    service_accounts: tuple[ServiceAccountSetting, ...]
    data_claim_name: str
    """Name of the data PersistentVolumeClaim (an adopted claim keeps its old name)."""
    adopt: Adoption
    """What the first update takes over from the old system (MIGRATING.md)."""
    run_as_user: int
    """Uid/gid Stalwart switches to after binding its ports; 0 keeps root."""
    smtp_client_namespaces: tuple[str, ...]
    """Namespaces allowed to reach 587/993; empty: every namespace."""
    ingress_namespaces: tuple[str, ...]
    """Namespaces of the ingress controllers allowed to reach the webmail (8080)."""
    backup: BackupPolicy
    reconciler_image: str
    """Image of the accounts Job: any pinned Python 3.11+ image (standard library only)."""

    @property
    def webmail_fqdn(self) -> str:
        return f"{self.webmail_hostname}.{self.domain}"
