"""Pod hardening, the NetworkPolicy and the Longhorn backups of the mail volume."""

from __future__ import annotations

import pytest

from components.backup import GROUP_LABEL_PREFIX, SOURCE_LABEL
from tests.conftest import V015_IMAGE, V016_IMAGE

DEPLOYMENT = ("kubernetes:apps/v1:Deployment", "stalwart-deployment")
POLICY = ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "stalwart-network-policy")
CLAIM = ("kubernetes:core/v1:PersistentVolumeClaim", "stalwart-data")
RECURRING = "kubernetes:longhorn.io/v1beta2:RecurringJob"


def pod(run):
    return run.get(*DEPLOYMENT).inputs["spec"]["template"]["spec"]


def test_pod_runs_with_runtime_default_seccomp_and_no_token(default_run):
    spec = pod(default_run)
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False


def test_stalwart_drops_to_an_unprivileged_user_after_binding(default_run):
    spec = pod(default_run)
    container = spec["containers"][0]
    assert {e["name"]: e["value"] for e in container["env"]} == {
        "RUN_AS_USER": "2000",
        "RUN_AS_GROUP": "2000",
    }
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE", "SETUID", "SETGID"]},
    }
    assert spec["securityContext"]["fsGroup"] == 2000
    assert spec["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"


def test_init_container_keeps_no_capability(default_run):
    (init,) = pod(default_run)["initContainers"]
    assert init["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }


def test_run_as_user_zero_keeps_root_with_its_default_capabilities(run_stack):
    # The fallback must still open data that uid 2000 wrote: root needs DAC_OVERRIDE/FOWNER.
    spec = pod(run_stack({"mailstack:runAsUser": "0"}))
    container = spec["containers"][0]
    assert "env" not in container
    assert container["securityContext"] == {"allowPrivilegeEscalation": False}
    assert "fsGroup" not in spec["securityContext"]


def test_resources_and_grace_period_are_set(default_run):
    spec = pod(default_run)
    assert spec["containers"][0]["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"memory": "1Gi"},
    }
    assert spec["terminationGracePeriodSeconds"] == 60


def test_network_policy_selects_only_the_stalwart_pods(default_run):
    spec = default_run.get(*POLICY).inputs["spec"]
    selector = default_run.get(*DEPLOYMENT).inputs["spec"]["selector"]["matchLabels"]
    assert spec["podSelector"] == {"matchLabels": selector}
    assert spec["policyTypes"] == ["Ingress", "Egress"]


def test_submission_and_imaps_are_open_to_every_namespace_by_default(default_run):
    smtp, _, _ = default_run.get(*POLICY).inputs["spec"]["ingress"]
    assert smtp == {
        "from": [{"namespaceSelector": {}}],
        "ports": [{"protocol": "TCP", "port": 587}, {"protocol": "TCP", "port": 993}],
    }


def test_smtp_clients_can_be_limited_to_listed_namespaces(run_stack):
    run = run_stack({"mailstack:smtpClientNamespaces": ["authentik", "monitoring"]})
    smtp, _, _ = run.get(*POLICY).inputs["spec"]["ingress"]
    assert smtp["from"] == [
        {
            "namespaceSelector": {
                "matchExpressions": [
                    {
                        "key": "kubernetes.io/metadata.name",
                        "operator": "In",
                        "values": ["authentik", "monitoring"],
                    }
                ]
            }
        }
    ]


def test_webmail_port_only_from_ingress_controllers_and_the_accounts_job(default_run):
    _, web, _ = default_run.get(*POLICY).inputs["spec"]["ingress"]
    assert web["ports"] == [{"protocol": "TCP", "port": 8080}]
    controllers, job = web["from"]
    assert controllers["namespaceSelector"]["matchExpressions"][0]["values"] == [
        "kube-system",
        "tailscale",
    ]
    job_labels = default_run.get("kubernetes:batch/v1:Job", "stalwart-accounts-job").inputs["spec"][
        "template"
    ]["metadata"]["labels"]
    assert job["podSelector"]["matchLabels"] == job_labels


def test_the_metrics_listener_only_from_the_monitoring_namespace(default_run):
    _, _, metrics = default_run.get(*POLICY).inputs["spec"]["ingress"]
    assert metrics == {
        "from": [
            {
                "namespaceSelector": {
                    "matchExpressions": [
                        {
                            "key": "kubernetes.io/metadata.name",
                            "operator": "In",
                            "values": ["monitoring"],
                        }
                    ]
                }
            }
        ],
        "ports": [{"protocol": "TCP", "port": 9090}],
    }


def test_egress_is_dns_the_relay_and_https_only(default_run):
    dns, relay, https = default_run.get(*POLICY).inputs["spec"]["egress"]
    assert dns["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ]
    assert dns["ports"] == [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert relay["ports"] == [{"protocol": "TCP", "port": 465}]
    assert https["ports"] == [{"protocol": "TCP", "port": 443}]
    for rule in (relay, https):
        assert rule["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0"}}]


def test_egress_follows_the_relay_port(run_stack):
    run = run_stack({"mailstack:relay": {"port": 587, "implicitTls": False}})
    _, relay, _ = run.get(*POLICY).inputs["spec"]["egress"]
    assert relay["ports"] == [{"protocol": "TCP", "port": 587}]


def test_daily_snapshots_are_kept_a_week(default_run):
    (job,) = default_run.by_type(RECURRING)
    assert job.inputs["metadata"]["namespace"] == "longhorn-system"
    assert job.inputs["spec"] == {
        "name": "stalwart-mail-snapshot",
        "task": "snapshot",
        "cron": "0 3 * * *",
        "retain": 7,
        "concurrency": 1,
        "groups": ["stalwart-mail"],
        "labels": {"app.kubernetes.io/name": "stalwart"},
    }


def test_weekly_backups_when_the_cluster_has_a_backup_target(run_stack):
    run = run_stack({"mailstack:backup": {"backupEnabled": True, "backupRetain": 12}})
    specs = {job.inputs["spec"]["task"]: job.inputs["spec"] for job in run.by_type(RECURRING)}
    assert set(specs) == {"snapshot", "backup"}
    assert specs["backup"]["cron"] == "30 3 * * 0"
    assert specs["backup"]["retain"] == 12
    assert specs["backup"]["groups"] == ["stalwart-mail"]


def test_data_claim_joins_the_job_group_by_label(default_run):
    labels = default_run.get(*CLAIM).inputs["metadata"]["labels"]
    assert labels[SOURCE_LABEL] == "enabled"
    assert labels[f"{GROUP_LABEL_PREFIX}stalwart-mail"] == "enabled"


@pytest.mark.parametrize("image", [V015_IMAGE, V016_IMAGE])
def test_the_pod_leaves_a_lost_node_after_30_seconds_not_300(run_stack, image):
    """docs/how-to/survive-a-node-loss.md: Kubernetes' default toleration is 300 s."""
    spec = pod(run_stack({"mailstack:image": image}))
    assert spec["tolerations"] == [
        {
            "key": f"node.kubernetes.io/{condition}",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 30,
        }
        for condition in ("unreachable", "not-ready")
    ]


def _templates(run):
    """(kind, name, pod template labels) of every workload the render has."""
    for registration in run.resources:
        kind = registration.type.rsplit(":", 1)[-1]
        spec = registration.inputs.get("spec") or {}
        if kind == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if kind in ("Deployment", "StatefulSet", "Job", "CronJob"):
            labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            yield kind, registration.name, labels


@pytest.mark.parametrize(
    "overrides",
    [
        {"mailstack:image": V016_IMAGE, "mailstack:monitoring": {"enabled": True}},
        {
            "mailstack:image": V016_IMAGE,
            "mailstack:storage": "postgresql",
            "mailstack:replicas": "2",
        },
    ],
    ids=["v0.16", "v0.16-postgresql"],
)
def test_only_stalwarts_own_pods_match_its_selector(run_stack, overrides):
    """The Service, the NetworkPolicy, the disruption budget and the Jobs' restarts select
    Stalwart's pods: a Job's pod among them would receive mail traffic, lose its egress and
    delete itself."""
    run = run_stack(overrides)
    selector = run.get("kubernetes:core/v1:Service", "stalwart-service").inputs["spec"]["selector"]
    matching = {
        (kind, name) for kind, name, labels in _templates(run) if selector.items() <= labels.items()
    }
    assert matching and {kind for kind, _ in matching} <= {"Deployment", "StatefulSet"}
    assert all(name.startswith("stalwart-") and "nats" not in name for _, name in matching)
