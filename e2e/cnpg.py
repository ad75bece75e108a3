"""CloudNativePG's operator as the API server sees it, for `mailstack:storage: postgresql` in
`make e2e`: for each Cluster in the stack's namespace, the owner's Secret `<cluster>-app`
(placeholder values: no container reads them here), then the Ready condition for the Cluster's
generation, which is what pulumi-kubernetes' `pulumi.com/waitFor: condition=Ready` waits for
(provider pkg/await/condition/custom.go). Names from CloudNativePG v1.30.0 (api/v1/
cluster_types.go: `ApplicationUserSecretSuffix = "-app"`, `ConditionClusterReady = "Ready"`)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from e2e.cluster import Cluster

READIED: list[str] = []
"""The Clusters made Ready so far, in order (what the tests read)."""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def reconcile(cluster: Cluster) -> None:
    """One pass of the operator: every Cluster not yet Ready for its generation."""
    items = cluster.get("clusters.postgresql.cnpg.io", "-n", "stalwart")["items"]
    for database in items:
        meta, spec = database["metadata"], database["spec"]
        conditions = (database.get("status") or {}).get("conditions") or []
        if any(
            c.get("type") == "Ready" and c.get("observedGeneration") == meta["generation"]
            for c in conditions
        ):
            continue
        owner = spec["bootstrap"]["initdb"]["owner"]
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/basic-auth",
            "metadata": {
                "name": f"{meta['name']}-app",
                "namespace": "stalwart",
                "labels": {"cnpg.io/cluster": meta["name"]},
            },
            "data": {"username": _b64(owner), "password": _b64("stand-in, read by no one")},
        }
        cluster.kubectl(
            "apply", "--server-side", "--field-manager=cloudnative-pg", "-f", "-",
            stdin=json.dumps(secret),
        )  # fmt: skip
        ready = {
            "type": "Ready",
            "status": "True",
            "reason": "ClusterIsReady",
            "message": "Cluster is Ready",
            "observedGeneration": meta["generation"],
            "lastTransitionTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        status = {"instances": spec["instances"], "conditions": [ready]}
        cluster.kubectl(
            "patch", "clusters.postgresql.cnpg.io", meta["name"], "-n", "stalwart",
            "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}),
        )  # fmt: skip
        READIED.append(meta["name"])
