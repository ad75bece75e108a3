"""Fixtures of `make e2e`: the tools built once per session, a control plane per test module,
stacks of the real program driven by the real CLI."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from e2e import build, certmanager, cnpg
from e2e.cluster import Cluster, running_cluster
from e2e.homelab import SECRETS, SETTINGS, seed_consumers
from e2e.stack import Stack

CRDS = Path(__file__).resolve().parent.parent / "crds"
STAGES = Path(__file__).resolve().parent.parent / "kwok"
VENDOR = Path(__file__).resolve().parents[2] / "vendor"


@pytest.fixture(scope="session")
def tools() -> str:
    """PATH entries of the built tools (built now if the cache lacks them)."""
    try:
        go = build.go_version()
        dirs = [
            build.build(tool, go, lambda line: print(line, file=sys.stderr)) for tool in build.TOOLS
        ]
    except build.BuildError as err:
        pytest.exit(f"make e2e: {err}", returncode=2)
    return os.pathsep.join(str(d) for d in dirs)


def kwok_stages(tools: str) -> list[Path]:
    """kwokctl's default stages (built with KWOK) and the project's own (e2e/kwok/)."""
    kwok = next(Path(d) for d in tools.split(os.pathsep) if (Path(d) / "kwok").exists())
    return sorted(kwok.glob("*.yaml")) + sorted(STAGES.glob("*.yaml"))


@pytest.fixture(scope="module")
def cluster(tools: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    with running_cluster(root, tools, kwok_stages(tools)) as running:
        install_crds(running)
        seed_consumers(running)
        running.background("cert-manager stand-in", lambda: certmanager.issue(running))
        running.background("CloudNativePG stand-in", lambda: cnpg.reconcile(running))
        yield running


def install_crds(cluster: Cluster) -> None:
    """The CRDs a homelab's cluster has before the stack: Longhorn's RecurringJob, the
    Prometheus Operator's ServiceMonitor and PrometheusRule (vendored from its release) and
    cert-manager's Certificate."""
    import gzip

    manifests = [
        (CRDS / "longhorn-recurringjob.yaml").read_text(),
        # CloudNativePG's Cluster (mailstack:storage: postgresql), written from its Go type.
        (CRDS / "cnpg-cluster.yaml").read_text(),
    ]
    for name in ("crd-servicemonitors.yaml.gz", "crd-prometheusrules.yaml.gz"):
        manifests.append(
            gzip.decompress((VENDOR / "prometheus-operator" / name).read_bytes()).decode()
        )
    # cert-manager's Certificate (mailstack:tls), vendored from its Go module.
    manifests.append(
        gzip.decompress(
            (VENDOR / "cert-manager" / "crd-certificates.yaml.gz").read_bytes()
        ).decode()
    )
    for manifest in manifests:
        cluster.kubectl(
            "apply", "--server-side", "--field-manager=crd-installer", "-f", "-", stdin=manifest
        )
    # Polled here rather than `kubectl wait --for=condition=Established crd --all`: that fails at
    # once ("status.conditions accessor error: <nil>") for a CRD the API server has not yet given
    # a status (seen in a cold `.ci/run`, one run in several with five CRDs).
    cluster.wait_for("the CRDs to be Established", lambda: _established(cluster), timeout=60)


def _established(cluster: Cluster) -> bool:
    items = cluster.get("crd")["items"]
    return bool(items) and all(
        any(
            c.get("type") == "Established" and c.get("status") == "True"
            for c in (item.get("status") or {}).get("conditions") or []
        )
        for item in items
    )


StackFactory = Callable[..., Stack]


@pytest.fixture
def new_stack(cluster: Cluster, tools: str, tmp_path: Path) -> StackFactory:
    """A configured stack of the example homelab; settings and secrets override the base."""

    def make(
        name: str = "e2e",
        settings: dict[str, object] | None = None,
        secrets: dict[str, str] | None = None,
        drop: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        kubeconfig: Path | None = None,
    ) -> Stack:
        stack = Stack.create(
            name, tmp_path / name, tools, kubeconfig or cluster.admin_kubeconfig, env
        )
        merged = {k: v for k, v in {**SETTINGS, **(settings or {})}.items() if k not in drop}
        stack.configure(merged, {**SECRETS, **(secrets or {})})
        return stack

    return make
