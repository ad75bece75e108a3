"""A Kubernetes control plane on loopback for e2e: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and KWOK standing in for the kubelets, with the stand-ins a homelab's cluster
would have (Longhorn's provisioner and its StorageClass, the CRDs the stack's custom resources
need). Every process listens on 127.0.0.1 only, runs in its own directory under the run's
temporary folder, and is stopped when the cluster is, also on failure or Ctrl-C.

Authentication is by client certificate (an admin in `system:masters`, one identity per
controller) and ServiceAccount tokens; authorization is RBAC, so the deploy identity's Role is
held to a real authorizer.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NODES = ("kwok-node-0", "kwok-node-1", "kwok-node-2")
# The API server records every request of these users (the deploy identity's RBAC is held to
# what it actually asks for, e2e/rbac.py); nobody else's.
AUDITED_USERS = ("system:serviceaccount:stalwart:mailstack-deployer",)
# The API server records every request of these users (the deploy identity's RBAC is held to
# what it actually asks for, e2e/rbac.py); nobody else's.
AUDITED_USERS = ("system:serviceaccount:stalwart:mailstack-deployer",)
STORAGE_CLASS = "longhorn"
SERVICE_CIDR = "10.96.0.0/16"
STARTUP_TIMEOUT = 90.0


class ClusterError(Exception):
    """One line: which process or port, and what went wrong."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ClusterError(f"openssl {args[0]}: {result.stderr.strip().splitlines()[-1:]}")


def _key(name: str, cwd: Path) -> None:
    _openssl(
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        f"{name}.key",
        cwd=cwd,
    )


def _certificate(name: str, subject: str, cwd: Path, extensions: str = "") -> None:
    """A certificate for `name`.key signed by the run's CA (ca.crt, ca.key), valid two days."""
    _key(name, cwd)
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=cwd)
    ext = cwd / f"{name}.ext"
    ext.write_text(extensions or "basicConstraints=CA:FALSE\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        str(ext),
        "-out",
        f"{name}.crt",
        cwd=cwd,
    )


def make_pki(pki: Path) -> None:
    pki.mkdir(parents=True, exist_ok=True)
    _key("ca", pki)
    _openssl(
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-subj",
        "/CN=mailstack-e2e-ca",
        "-days",
        "2",
        "-out",
        "ca.crt",
        cwd=pki,
    )
    _certificate(
        "apiserver",
        "/CN=kube-apiserver",
        pki,
        "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc,"
        "IP:10.96.0.1\n",
    )
    for name, subject in (
        ("admin", "/O=system:masters/CN=mailstack-e2e-admin"),
        ("controller-manager", "/CN=system:kube-controller-manager"),
        ("scheduler", "/CN=system:kube-scheduler"),
        ("kwok", "/O=system:masters/CN=kwok"),
    ):
        _certificate(name, subject, pki, "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    _key("service-account", pki)
    _openssl(
        "pkey", "-in", "service-account.key", "-pubout", "-out", "service-account.pub", cwd=pki
    )


def kubeconfig(server: str, ca: Path, user: dict[str, str]) -> str:
    """A kubeconfig (JSON is YAML) for one identity: a client certificate or a bearer token."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "e2e", "cluster": {"server": server, "certificate-authority": str(ca)}}
            ],
            "users": [{"name": "e2e", "user": user}],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "e2e"}}],
            "current-context": "e2e",
        },
        indent=1,
    )


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""


@dataclass
class Cluster:
    root: Path
    tools: str  # PATH entries holding the built binaries
    server: str = ""
    processes: list[Process] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    @property
    def audit_log(self) -> Path:
        return self.root / "kube-apiserver" / "audit.log"

    def audit_events(self) -> list[dict[str, Any]]:
        """The audited requests so far (see AUDITED_USERS), oldest first."""
        if not self.audit_log.exists():
            return []
        return [json.loads(line) for line in self.audit_log.read_text().splitlines() if line]

    def service_account_kubeconfig(self, namespace: str, name: str, into: Path) -> Path:
        """A kubeconfig for a ServiceAccount from its token Secret `<name>-token`, as
        docs/getting-started/ci.md
        tells the owner to build CI's (the token controller fills the Secret in)."""
        secret = f"{name}-token"
        self.wait_for(
            f"the token of {namespace}/{secret}",
            lambda: bool(
                (self.get("secret", secret, "-n", namespace).get("data") or {}).get("token")
            ),
        )
        token = base64.b64decode(
            self.get("secret", secret, "-n", namespace)["data"]["token"]
        ).decode()
        path = into / f"{namespace}-{name}.kubeconfig"
        path.write_text(kubeconfig(self.server, self.pki / "ca.crt", {"token": token}))
        path.chmod(0o600)
        return path

    def env(self, kubeconfig: Path | None = None) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": self.tools + os.pathsep + os.environ.get("PATH", ""),
            "KUBECONFIG": str(kubeconfig or self.admin_kubeconfig),
        }

    def kubectl(
        self,
        *args: str,
        stdin: str | None = None,
        kubeconfig: Path | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["kubectl", *args],
            input=stdin,
            env=self.env(kubeconfig),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result

    def get(self, *args: str) -> Any:
        """`kubectl get … -o json`, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def apply(self, manifest: str) -> None:
        self.kubectl(
            "apply", "--server-side", "--field-manager=e2e-fixture", "-f", "-", stdin=manifest
        )

    # --- processes -------------------------------------------------------------------------

    def spawn(self, name: str, *argv: str) -> Process:
        workdir = self.root / name
        workdir.mkdir(parents=True, exist_ok=True)
        log = workdir / "output.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env(),
                start_new_session=True,
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def wait_for(
        self, what: str, ready: Callable[[], bool], timeout: float = STARTUP_TIMEOUT
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.popen.poll() is not None:
                    raise ClusterError(
                        f"{process.name} exited ({process.popen.returncode}) while waiting for "
                        f"{what}: {process.tail()} (log: {process.log})"
                    )
            if ready():
                return
            time.sleep(0.5)
        raise ClusterError(f"{what} not ready after {timeout:.0f}s")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        for process in reversed(self.processes):
            if process.popen.poll() is None:
                try:
                    os.killpg(process.popen.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for process in reversed(self.processes):
            try:
                process.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.popen.pid, signal.SIGKILL)
                process.popen.wait(timeout=5)

    # --- readiness -------------------------------------------------------------------------

    def _healthy(self, path: str) -> bool:
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        try:
            with urllib.request.urlopen(self.server + path, context=context, timeout=5) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    # --- start -----------------------------------------------------------------------------

    def start(self, kwok_stages: list[Path]) -> None:
        make_pki(self.pki)
        pki = self.pki
        etcd_client, etcd_peer, api_port = free_port(), free_port(), free_port()
        self.server = f"https://127.0.0.1:{api_port}"
        etcd_url = f"http://127.0.0.1:{etcd_client}"
        self.spawn(
            "etcd",
            "etcd",
            "--name=e2e",
            f"--data-dir={self.root / 'etcd' / 'data'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
            f"--initial-cluster=e2e=http://127.0.0.1:{etcd_peer}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        )
        audit_policy = self.root / "audit-policy.json"
        audit_policy.write_text(
            json.dumps(
                {
                    "apiVersion": "audit.k8s.io/v1",
                    "kind": "Policy",
                    "omitStages": ["RequestReceived"],
                    "rules": [
                        {"level": "Metadata", "users": list(AUDITED_USERS)},
                        {"level": "None"},
                    ],
                }
            )
        )
        self.spawn(
            "kube-apiserver",
            "kube-apiserver",
            f"--etcd-servers={etcd_url}",
            f"--audit-policy-file={audit_policy}",
            f"--audit-log-path={self.audit_log}",
            "--audit-log-format=json",
            "--audit-log-mode=blocking",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={api_port}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'service-account.pub'}",
            f"--service-account-signing-key-file={pki / 'service-account.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",
            f"--cert-dir={self.root / 'kube-apiserver'}",
            "--v=1",
        )
        self.admin_kubeconfig.write_text(
            kubeconfig(
                self.server,
                pki / "ca.crt",
                {
                    "client-certificate": str(pki / "admin.crt"),
                    "client-key": str(pki / "admin.key"),
                },
            )
        )
        self.wait_for(f"kube-apiserver on 127.0.0.1:{api_port}", lambda: self._healthy("/readyz"))

        for name in ("controller-manager", "scheduler", "kwok"):
            (self.root / f"{name}.kubeconfig").write_text(
                kubeconfig(
                    self.server,
                    pki / "ca.crt",
                    {
                        "client-certificate": str(pki / f"{name}.crt"),
                        "client-key": str(pki / f"{name}.key"),
                    },
                )
            )
        self.spawn(
            "kube-controller-manager",
            "kube-controller-manager",
            f"--kubeconfig={self.root / 'controller-manager.kubeconfig'}",
            f"--authentication-kubeconfig={self.root / 'controller-manager.kubeconfig'}",
            f"--authorization-kubeconfig={self.root / 'controller-manager.kubeconfig'}",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            f"--cert-dir={self.root / 'kube-controller-manager'}",
            f"--service-account-private-key-file={pki / 'service-account.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            "--use-service-account-credentials=true",
            "--leader-elect=false",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--v=1",
        )
        self.spawn(
            "kube-scheduler",
            "kube-scheduler",
            f"--kubeconfig={self.root / 'scheduler.kubeconfig'}",
            f"--authentication-kubeconfig={self.root / 'scheduler.kubeconfig'}",
            f"--authorization-kubeconfig={self.root / 'scheduler.kubeconfig'}",
            "--bind-address=127.0.0.1",
            f"--secure-port={free_port()}",
            f"--cert-dir={self.root / 'kube-scheduler'}",
            "--leader-elect=false",
            "--v=1",
        )
        self.spawn(
            "kwok",
            "kwok",
            f"--kubeconfig={self.root / 'kwok.kubeconfig'}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--cidr=10.244.0.1/16",
            "--node-ip=10.0.0.1",
            "--node-lease-duration-seconds=40",
            f"--server-address=127.0.0.1:{free_port()}",
            *(f"--config={stage}" for stage in kwok_stages),
        )
        self.apply("\n---\n".join(_node(name) for name in NODES))
        self.wait_for("the kwok nodes", self._nodes_ready)
        self.wait_for(
            "the default ServiceAccount",
            lambda: self.kubectl("get", "serviceaccount", "default", check=False).returncode == 0,
        )
        self.apply(_STORAGE_CLASS)
        self.background("longhorn stand-in", self._provision_claims)

    def _nodes_ready(self, names: tuple[str, ...] = NODES) -> bool:
        nodes = self.get("nodes")["items"]
        ready = [
            n
            for n in nodes
            if n["metadata"]["name"] in names
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in n.get("status", {}).get("conditions", [])
            )
        ]
        return len(ready) == len(names)

    def add_node(self, name: str) -> None:
        """One more KWOK node, Ready when this returns."""
        self.apply(_node(name))
        self.wait_for(f"node {name}", lambda: self._nodes_ready((name,)))

    def background(self, name: str, step: Callable[[], None]) -> None:
        """`step` every second until the cluster stops; a failure is logged and retried."""

        def loop() -> None:
            while not self._stop.wait(1.0):
                try:
                    step()
                except Exception as err:  # a stand-in's hiccup is retried next second
                    (self.root / "standins.log").open("a").write(f"{name}: {err}\n")

        thread = threading.Thread(target=loop, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _provision_claims(self) -> None:
        """Longhorn's provisioner, as far as the API server sees it: a pending claim of the
        Longhorn class gets a PersistentVolume of its size bound to it (a clone's dataSource is
        kept on the claim; no data is copied, no container mounts anything)."""
        claims = self.get("persistentvolumeclaims", "--all-namespaces")["items"]
        for claim in claims:
            spec, meta = claim["spec"], claim["metadata"]
            if (
                claim.get("status", {}).get("phase") != "Pending"
                or spec.get("storageClassName") != STORAGE_CLASS
            ):
                continue
            if spec.get("volumeName"):
                continue
            name = f"pvc-{meta['uid']}"
            self.apply(
                json.dumps(
                    {
                        "apiVersion": "v1",
                        "kind": "PersistentVolume",
                        "metadata": {
                            "name": name,
                            "annotations": {
                                "pv.kubernetes.io/provisioned-by": "driver.longhorn.io"
                            },
                        },
                        "spec": {
                            "capacity": {"storage": spec["resources"]["requests"]["storage"]},
                            "accessModes": spec["accessModes"],
                            "persistentVolumeReclaimPolicy": "Delete",
                            "storageClassName": STORAGE_CLASS,
                            "claimRef": {
                                "namespace": meta["namespace"],
                                "name": meta["name"],
                                "uid": meta["uid"],
                            },
                            "csi": {"driver": "driver.longhorn.io", "volumeHandle": name},
                        },
                    }
                )
            )


def _node(name: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                "labels": {
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                },
            },
        }
    )


# What the Longhorn chart creates (longhorn/chart storageclass.yaml: Immediate binding,
# expansion allowed, the CSI driver's name).
_STORAGE_CLASS = json.dumps(
    {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS},
        "provisioner": "driver.longhorn.io",
        "allowVolumeExpansion": True,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }
)


def _interrupt_on_sigterm(signum: int, frame: object) -> None:
    # pytest reports a SystemExit inside a test as that test's failure and goes on; an interrupt
    # ends the session and runs every fixture's teardown.
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def running_cluster(root: Path, tools: str, kwok_stages: list[Path]) -> Iterator[Cluster]:
    """The control plane's processes run in sessions of their own, so a SIGTERM to pytest (a CI
    job cancelled, `kill` by hand) does not reach them: it is turned into an interrupt here,
    which ends the session and runs `stop()`, instead of leaving etcd, kube-apiserver and kwok
    running."""
    cluster = Cluster(root=root, tools=tools)
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    try:
        cluster.start(kwok_stages)
        yield cluster
    finally:
        cluster.stop()
        if previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
