"""Issue 20, scenario 3: CI's deploy identity (`deployer-rbac.yaml`) under the real authorizer.

As docs/getting-started/ci.md has the owner do it: the first `pulumi up` from a laptop (admin),
then the rendered
RBAC applied, a kubeconfig from the ServiceAccount's token Secret, and from then on every
workflow's command as that identity: preview, deploy (`up --refresh`), the drift job, a password
rotation, an update touching every kind, monitoring switched on and off. The API server's audit
log then says what the identity asked for, and the RBAC is held to it (e2e/rbac.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from e2e.cluster import Cluster
from e2e.homelab import SECRETS, SETTINGS
from e2e.rbac import coverage, requests, rules
from e2e.stack import EXCLUDE_CLOUDFLARE, ROOT, Stack
from e2e.tests.test_ci import POLICY, run_action
from e2e.workflows import action_arguments, pulumi_steps

IDENTITY = ("stalwart", "mailstack-deployer")
# The provider lists a namespace's events to show them during an operation; in a consumer's
# namespace the identity may not, which costs nothing but those lines of the log.
HARMLESS_DENIALS = {("list", "", "events")}


@pytest.fixture(scope="module")
def ci(cluster: Cluster, tools: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("deploy-identity")
    stack = Stack.create("identity", workdir / "identity", tools, cluster.admin_kubeconfig)
    stack.configure(dict(SETTINGS), SECRETS)
    stack.up()  # the first update, from the owner's laptop: it creates the namespace
    render = workdir / "rendered"
    subprocess.run(
        [sys.executable, "-m", "offline.render", "--stack", stack.name,
         "--config-dir", str(stack.workdir), "--out", str(render)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )  # fmt: skip
    manifest = (render / "deployer-rbac.yaml").read_text()
    cluster.kubectl("apply", "-f", "-", stdin=manifest)
    cluster.kubectl("apply", "-f", "-", stdin=(render / "previewer-rbac.yaml").read_text())
    stack.env["KUBECONFIG"] = str(cluster.service_account_kubeconfig(*IDENTITY, workdir))
    return {"stack": stack, "manifest": manifest, "workdir": workdir}


def deploy(stack: Stack) -> subprocess.CompletedProcess[str]:
    result = run_action(stack, "deploy.yml")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    return result


def test_preview_as_the_deploy_identity(ci: dict[str, Any]) -> None:
    result = run_action(ci["stack"], "preview.yml")
    assert result.returncode == 0, result.stdout[-5000:]


def test_deploy_without_changes_as_the_deploy_identity(ci: dict[str, Any]) -> None:
    deploy(ci["stack"])


JOBS = "system:serviceaccount:stalwart:stalwart-jobs"


def _bootstrap(cluster: Cluster) -> str:
    """The Secret the pod reads STALWART_RECOVERY_ADMIN from (optionally)."""
    deployment = cluster.get("deployment", "stalwart", "-n", "stalwart")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    source = env["STALWART_RECOVERY_ADMIN"]["valueFrom"]["secretKeyRef"]
    assert source["optional"] is True
    return str(source["name"])


def _key(cluster: Cluster, name: str) -> bool:
    return "recovery-admin" in (cluster.get("secret", name, "-n", "stalwart").get("data") or {})


def test_the_recovery_admin_key_is_the_jobs_alone_and_a_new_password_is_a_new_secret(
    cluster: Cluster, ci: dict[str, Any]
) -> None:
    """components/stalwart/v016/admin.py under the real authorizer and the real provider: the
    stack creates the bootstrap Secret empty; the Jobs' account may write and remove its key on
    that one Secret and read no other; the deploy workflow (`up --refresh`) leaves the key as the
    Job left it and shows no change; a new admin password is a new, empty Secret that the pod and
    the Jobs' Role follow (not the old one's data carried over)."""
    stack: Stack = ci["stack"]
    name = _bootstrap(cluster)
    assert not _key(cluster, name)
    patch = ["patch", "secret", "-n", "stalwart", "--type", "merge", "--as", JOBS]
    cluster.kubectl(*patch, name, "-p", '{"data": {"recovery-admin": "YWRtaW46eA=="}}')  # door
    deploy(stack)
    assert _key(cluster, name)  # the stack leaves the Job's key alone
    cluster.kubectl(*patch, name, "-p", '{"data": {"recovery-admin": null}}')  # administrator
    pod_secret = next(
        item["metadata"]["name"]
        for item in cluster.get("secrets", "-n", "stalwart")["items"]
        if item["metadata"]["name"].startswith("stalwart-secrets")
    )
    for verb in (["get", "secret", pod_secret], [*patch[:-2], pod_secret, "-p", '{"data": {}}']):
        denied = cluster.kubectl(*verb, "-n", "stalwart", "--as", JOBS, check=False)
        assert denied.returncode != 0 and "forbidden" in denied.stderr, verb

    deploy(stack)
    assert not _key(cluster, name)
    result = stack.preview("--refresh", "--expect-no-changes", "--diff", check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]

    stack.set("mailstack:adminPassword", "a-new-admin-password-for-e2e", secret=True)
    deploy(stack)
    renamed = _bootstrap(cluster)
    assert renamed != name
    assert not _key(cluster, renamed)  # empty: the apply Job writes the new hash itself
    gone = cluster.kubectl("get", "secret", name, "-n", "stalwart", check=False)
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    role = cluster.get("role", "stalwart-jobs", "-n", "stalwart")
    assert {"resourceNames": [renamed], "verbs": ["get", "patch"]}.items() <= role["rules"][
        1
    ].items()


def test_a_rotation_as_the_deploy_identity_reaches_the_consumer(
    cluster: Cluster, ci: dict[str, Any]
) -> None:
    stack: Stack = ci["stack"]
    before = cluster.get("secret", "authentik-credentials", "-n", "authentik")["data"]
    accounts = json.loads(json.dumps(SETTINGS["mailstack:serviceAccounts"]))
    accounts[0]["passwordVersion"] = 2
    stack.set_path("mailstack:serviceAccounts", accounts)
    deploy(stack)
    after = cluster.get("secret", "authentik-credentials", "-n", "authentik")["data"]
    assert after["smtp-password"] != before["smtp-password"]
    assert after["secret-key"] == before["secret-key"]


def test_an_update_of_every_kind_as_the_deploy_identity(
    cluster: Cluster, ci: dict[str, Any]
) -> None:
    stack: Stack = ci["stack"]
    stack.set_path("mailstack:monitoring", {"enabled": True})
    stack.set_path("mailstack:backup", {"snapshotRetain": 8})
    stack.set_path("mailstack:smtpClientNamespaces", ["apps"])
    stack.set("mailstack:tailnetHostname", "webmail")
    stack.set("mailstack:storageSize", "12Gi")
    stack.set("mailstack:image", "stalwartlabs/stalwart:v0.16.17")
    stack.set_path("mailstack:tls", {"issuer": "letsencrypt-dns"})  # e2e/certmanager.py issues
    deploy(stack)
    claim = cluster.get("pvc", "stalwart-data", "-n", "stalwart")
    assert claim["spec"]["resources"]["requests"]["storage"] == "12Gi"
    image = cluster.get("deployment", "stalwart", "-n", "stalwart")["spec"]["template"]["spec"][
        "containers"
    ][0]["image"]
    assert image == "stalwartlabs/stalwart:v0.16.17"


def test_the_drift_job_as_the_deploy_identity(ci: dict[str, Any], tmp_path: Path) -> None:
    from e2e.tests.test_ci import _drift

    status, output, _summary = _drift(ci["stack"], tmp_path)
    assert status == 0, output[-5000:]


def test_switching_monitoring_off_deletes_as_the_deploy_identity(
    cluster: Cluster, ci: dict[str, Any]
) -> None:
    stack: Stack = ci["stack"]
    stack.remove("mailstack:monitoring")
    deploy(stack)
    assert cluster.get("servicemonitors.monitoring.coreos.com", "-n", "stalwart")["items"] == []


def test_the_rbac_is_what_the_identity_asked_for(cluster: Cluster, ci: dict[str, Any]) -> None:
    """Every rule was the only grant of some request (removing it breaks something that ran);
    nothing was refused but the event lists of consumer namespaces."""
    found = coverage(rules(ci["manifest"], *IDENTITY), requests(cluster.audit_events()))
    refused = {
        r.label for r in found.denied if (r.verb, r.group, r.resource) not in HARMLESS_DENIALS
    }
    assert refused == set()
    assert [rule.label for rule in found.unneeded_rules] == []
    # Verbs of a rule no request used are reported, not refused: pulumi-kubernetes 4.29+ (the
    # owner's) creates with POST where the 4.25.0 built here applies, and the upgrade's phases
    # (tests/test_upgrade.py) run as the owner. (docs/reference/end-to-end-test.md lists them.)
    for rule, verbs in sorted(found.unused_verbs.items()):
        print(f"unused here: {rule}: {', '.join(verbs)}")


def test_without_a_rule_it_needs_the_deploy_fails_at_once(
    cluster: Cluster, ci: dict[str, Any]
) -> None:
    """The other half of the analysis, for real: take away the rule the audit says the
    monitoring namespace's Secret needs, and the deploy that creates it is refused."""
    stack: Stack = ci["stack"]
    cluster.kubectl("delete", "role", "mailstack-deployer", "-n", "monitoring")
    accounts = json.loads(json.dumps(SETTINGS["mailstack:serviceAccounts"]))
    accounts[1]["passwordVersion"] = 2  # replaces monitoring/alertmanager-smtp
    stack.set_path("mailstack:serviceAccounts", accounts)
    try:
        (step,) = pulumi_steps("deploy.yml")
        result = stack.run(
            *action_arguments(step, POLICY), "--stack", stack.name, *EXCLUDE_CLOUDFLARE,
            check=False, timeout=300,
        )  # fmt: skip
    finally:
        cluster.kubectl("apply", "-f", "-", stdin=ci["manifest"])
    assert result.returncode != 0
    assert "forbidden" in result.stdout + result.stderr


def test_the_read_only_identity_previews_and_checks_drift_but_cannot_deploy(
    cluster: Cluster, ci: dict[str, Any], tmp_path: Path
) -> None:
    """previewer-rbac.yaml: pull-request previews and the drift check run; a deploy is refused."""
    from e2e.tests.test_ci import _drift

    stack: Stack = ci["stack"]
    deploy(stack)  # the last one was refused: in sync again first, as the deploy identity
    deployer = stack.env["KUBECONFIG"]
    stack.env["KUBECONFIG"] = str(
        cluster.service_account_kubeconfig("stalwart", "mailstack-previewer", ci["workdir"])
    )
    try:
        preview = run_action(stack, "preview.yml")
        assert preview.returncode == 0, preview.stdout[-5000:]
        status, output, _summary = _drift(stack, tmp_path)
        assert status == 0, output[-5000:]
        stack.set_path("mailstack:backup", {"snapshotRetain": 9})
        refused = run_action(stack, "deploy.yml")
        assert refused.returncode != 0
        assert "forbidden" in refused.stdout + refused.stderr
    finally:
        stack.env["KUBECONFIG"] = deployer
