"""`mailstack:tls` on the real engine, provider and API server: the Certificate is accepted by
cert-manager's CRD as the API server validates it (v1.21.2, vendored), the update waits until
it is Ready (`pulumi.com/waitFor` in the real pulumi-kubernetes), the v0.16 Deployment mounts its
Secret, and a second preview shows no change. cert-manager's controller does not run here: a
stand-in plays it as the API server sees it (e2e/certmanager.py)."""

from __future__ import annotations

from typing import Any

from e2e import certmanager
from e2e.cluster import Cluster
from e2e.stack import Stack
from e2e.tests.conftest import StackFactory

TLS = {"issuer": "letsencrypt-dns"}


def test_the_deployment_waits_for_the_certificate_and_serves_its_secret_until_it_is_unset(
    cluster: Cluster, new_stack: StackFactory
) -> None:
    stack: Stack = new_stack("tls", settings={"mailstack:tls": TLS})
    stack.up()
    assert "stalwart-mail-tls" in certmanager.ISSUED
    certificate: dict[str, Any] = cluster.get(
        "certificate.cert-manager.io", "stalwart-mail-tls", "-n", "stalwart"
    )
    assert certificate["spec"]["dnsNames"] == ["mail.example.com"]
    assert certificate["spec"]["issuerRef"]["name"] == "letsencrypt-dns"
    deployment = cluster.get("deployment", "stalwart", "-n", "stalwart")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == "stalwart-mail-tls"
    preview = stack.preview("--expect-no-changes", "--diff", check=False)
    assert preview.returncode == 0, preview.stdout[-3000:]

    stack.remove("mailstack:tls")  # back to Stalwart's own certificate
    stack.up()
    assert cluster.get("certificates.cert-manager.io", "-n", "stalwart")["items"] == []
    deployment = cluster.get("deployment", "stalwart", "-n", "stalwart")
    assert "tls" not in {v["name"] for v in deployment["spec"]["template"]["spec"]["volumes"]}
