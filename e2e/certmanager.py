"""cert-manager's controller as the API server sees it, for `mailstack:tls` in `make e2e`: for
each Certificate in the stack's namespace, a Secret with a key pair (placeholder bytes: no
container reads them here), then the Ready condition for the Certificate's generation, which is
what pulumi-kubernetes' `pulumi.com/waitFor: condition=Ready` waits for
(provider pkg/await/condition/custom.go; an older observedGeneration does not count)."""

from __future__ import annotations

import base64
import json

from e2e.cluster import Cluster

ISSUED: list[str] = []
"""The Certificates issued so far, in order (what the tests read)."""


def issue(cluster: Cluster) -> None:
    """One pass of the controller: every Certificate not yet Ready for its generation."""
    items = cluster.get("certificates.cert-manager.io", "-n", "stalwart")["items"]
    for certificate in items:
        meta, spec = certificate["metadata"], certificate["spec"]
        conditions = (certificate.get("status") or {}).get("conditions") or []
        if any(c.get("observedGeneration") == meta["generation"] for c in conditions):
            continue
        pem = base64.b64encode(b"stand-in PEM (no container reads it here)").decode()
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": spec["secretName"], "namespace": "stalwart"},
            "data": {"tls.crt": pem, "tls.key": pem},
        }
        cluster.kubectl(
            "apply",
            "--server-side",
            "--field-manager=cert-manager",
            "-f",
            "-",
            stdin=json.dumps(secret),
        )
        ready = {
            "type": "Ready",
            "status": "True",
            "reason": "Ready",
            "message": "Certificate is up to date and has not expired",
            "observedGeneration": meta["generation"],
        }
        cluster.kubectl(
            "patch",
            "certificate.cert-manager.io",
            meta["name"],
            "-n",
            "stalwart",
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": {"conditions": [ready]}}),
        )
        ISSUED.append(meta["name"])
