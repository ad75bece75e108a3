"""What the e2e cluster holds before the owner's first `pulumi up`, and the stack settings the
scenarios start from: the example homelab of Pulumi.prod.yaml, on the default v0.16 image.

The consumers of the service accounts (Authentik's Secret and Deployments, the monitoring
namespace) exist first, created by another field manager, as a Helm release would have made them.
"""

from __future__ import annotations

import base64
import json
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from e2e.cluster import Cluster
from tests.standins.authentik import AuthentikStandin

SETTINGS: dict[str, object] = {
    "mailstack:domain": "example.com",
    "mailstack:cloudflareAccountId": "0123456789abcdef0123456789abcdef",
    "mailstack:cloudflareZoneId": "fedcba9876543210fedcba9876543210",
    "mailstack:tunnelId": "6ff42ae2-765d-4adf-8112-31c55c1551ef",
    "mailstack:adminEmail": "homelab.owner@gmail.com",
    "mailstack:resendDkimRecord": "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCe2eDkimKeyAB",
    "mailstack:serviceAccounts": [
        {
            "name": "noreply",
            "description": "Authentik",
            "credentials": {
                "namespace": "authentik",
                "secretName": "authentik-credentials",
                "key": "smtp-password",
                "restart": [
                    {"kind": "Deployment", "name": "authentik-server"},
                    {"kind": "Deployment", "name": "authentik-worker"},
                ],
            },
        },
        {
            "name": "alerts",
            "description": "Alertmanager",
            "credentials": {
                "namespace": "monitoring",
                "secretName": "alertmanager-smtp",
                "create": True,
            },
        },
    ],
}
SECRETS: dict[str, str] = {"mailstack:resendApiKey": "re_e2eResendKeyThatMustNotLeak0123"}
AUTHENTIK_TOKEN = "ak-e2e-token-that-must-not-leak-4567"

FIXTURE_MANAGER = "helm"


def _deployment(name: str) -> dict[str, object]:
    labels = {"app.kubernetes.io/name": "authentik", "app.kubernetes.io/component": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "authentik", "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "authentik",
                            "image": "ghcr.io/goauthentik/server:2026.2.2",
                            "env": [
                                {
                                    "name": "AUTHENTIK_EMAIL__PASSWORD",
                                    "valueFrom": {
                                        "secretKeyRef": {
                                            "name": "authentik-credentials",
                                            "key": "smtp-password",
                                        }
                                    },
                                }
                            ],
                        }
                    ]
                },
            },
        },
    }


CONSUMERS: tuple[dict[str, object], ...] = (
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "authentik"}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "longhorn-system"}},
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "authentik-credentials", "namespace": "authentik"},
        "type": "Opaque",
        # As Helm renders a Secret: base64 `data`.
        "data": {
            "secret-key": base64.b64encode(b"the-chart-owns-this-key").decode(),
            "smtp-password": base64.b64encode(b"set-by-hand-before").decode(),
        },
    },
    _deployment("authentik-server"),
    _deployment("authentik-worker"),
)


def seed_consumers(cluster: Cluster) -> None:
    """Apply the consumers as their own field manager (a Helm release's), before the stack runs."""
    for manifest in CONSUMERS:
        cluster.kubectl(
            "apply",
            "--server-side",
            f"--field-manager={FIXTURE_MANAGER}",
            "-f",
            "-",
            stdin=json.dumps(manifest),
        )
    for name in ("authentik-server", "authentik-worker"):
        cluster.kubectl(
            "rollout", "status", f"deployment/{name}", "-n", "authentik", "--timeout=90s"
        )


@contextmanager
def authentik_over_tls(
    cluster: Cluster, groups: tuple[str, ...] = ("mail-users",)
) -> Iterator[AuthentikStandin]:
    """The Authentik stand-in on https://127.0.0.1 with a certificate of the run's CA (the
    program refuses plain http for Authentik); SSL_CERT_FILE lets the provider trust it."""
    pki = cluster.pki
    standin = AuthentikStandin(token=AUTHENTIK_TOKEN)
    for group in groups:
        standin.groups.setdefault(group, str(uuid.uuid4()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(pki / "apiserver.crt"), str(pki / "apiserver.key"))
    server = standin._server
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with standin:
        yield standin


def https_url(standin: AuthentikStandin) -> str:
    return standin.url.replace("http://", "https://")


def ca_bundle(cluster: Cluster, into: Path) -> Path:
    """The system's CAs and the run's CA in one file, for SSL_CERT_FILE."""
    system = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
    bundle = into / "ca-bundle.pem"
    parts = [system.read_text()] if system.exists() else []
    bundle.write_text("".join(parts) + (cluster.pki / "ca.crt").read_text())
    return bundle
