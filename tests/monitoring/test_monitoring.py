"""mailstack:monitoring under the mock runtime: only the protected metrics endpoint when it is
off; with it on, a ServiceMonitor and a PrometheusRule that fit the Prometheus Operator's own CRDs
(vendored), a dashboard for Grafana's sidecar, and a canary CronJob that runs unprivileged."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from offline.secrets import reveal
from tests.conftest import stack_run
from tests.stalwart.test_upgrade import V015
from tests.stalwart.test_upgrade import run as upgrade_run

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "vendor" / "prometheus-operator"
MONITOR = ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "monitoring-service-monitor")
RULES = ("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-rules")
DASHBOARD = ("kubernetes:core/v1:ConfigMap", "monitoring-dashboard")
CRONJOB = ("kubernetes:batch/v1:CronJob", "monitoring-canary-cronjob")
SCRAPE = ("kubernetes:core/v1:Secret", "monitoring-scrape-auth")
SERVICE = ("kubernetes:core/v1:Service", "stalwart-service")
ON = {"mailstack:monitoring": {"enabled": True, "release": "kps", "canarySchedule": "5 * * * *"}}


@pytest.fixture(scope="module")
def monitored():
    return stack_run(ON)


def crd_schema(name: str) -> dict[str, Any]:
    crd = yaml.safe_load(gzip.decompress((VENDOR / f"crd-{name}.yaml.gz").read_bytes()))
    return strict(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def strict(schema: Any) -> Any:
    """Kubernetes prunes unknown fields; a test should refuse them (as kubeconform does)."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema.setdefault("additionalProperties", False)
        return schema
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


def as_applied(run, resource) -> dict[str, Any]:
    registration = run.get(*resource)
    body = reveal(registration.state)
    return {k: v for k, v in body.items() if k in ("apiVersion", "kind", "metadata", "spec")}


def test_the_vendored_crds_are_the_upstream_files():
    text = (VENDOR / "PROVENANCE.md").read_text()
    for name in ("servicemonitors", "prometheusrules"):
        digest = hashlib.sha256((VENDOR / f"crd-{name}.yaml.gz").read_bytes()).hexdigest()
        assert digest in text, name


def test_off_by_default_only_the_protected_endpoint_exists(default_run):
    kinds = {r.type for r in default_run.resources}
    assert not any("monitoring.coreos.com" in k for k in kinds)
    names = {r.name for r in default_run.resources}
    assert not {n for n in names if "canary" in n or n.startswith("monitoring")}
    assert "stalwart-metrics-password" in names  # the endpoint is on, behind Basic auth
    ports = {p["name"] for p in default_run.get(*SERVICE).inputs["spec"]["ports"]}
    assert "metrics" in ports


@pytest.mark.parametrize(
    ("resource", "crd"), [(MONITOR, "servicemonitors"), (RULES, "prometheusrules")]
)
def test_the_custom_resources_fit_the_operators_crds(monitored, resource, crd):
    # Not jsonschema.validate: it checks the schema first, and the CRD's Go regexes (`^(?i)...`)
    # are no Python ones; the patterns of fields the objects use compile fine.
    jsonschema.Draft7Validator(crd_schema(crd)).validate(as_applied(monitored, resource))


def test_a_wrong_field_is_refused_by_the_crd_check(monitored):
    monitor = as_applied(monitored, MONITOR)
    monitor["spec"]["endpoints"][0]["basicAuth"]["user"] = {"name": "x", "key": "y"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(crd_schema("servicemonitors")).validate(monitor)


def test_the_service_monitor_selects_stalwarts_service_and_carries_the_scrape_secret(monitored):
    monitor = monitored.get(*MONITOR).inputs
    service = monitored.get(*SERVICE)
    assert monitor["metadata"]["labels"]["release"] == "kps"
    assert monitor["spec"]["selector"] == {"matchLabels": service.inputs["metadata"]["labels"]}
    [endpoint] = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics/prometheus")
    scrape = monitored.get(*SCRAPE)
    name = scrape.state["metadata"]["name"]
    assert endpoint["basicAuth"] == {
        "username": {"name": name, "key": "username"},
        "password": {"name": name, "key": "password"},
    }
    data = reveal(scrape.inputs["stringData"])
    password = monitored.get(
        "random:index/randomPassword:RandomPassword", "stalwart-metrics-password"
    )
    assert data == {"username": "prometheus", "password": reveal(password.state["result"])}
    assert scrape.inputs["metadata"]["namespace"] == monitor["metadata"]["namespace"]


def test_the_rules_are_the_tested_rule_file(monitored):
    spec = monitored.get(*RULES).inputs["spec"]
    names = [rule["alert"] for rule in spec["groups"][0]["rules"]]
    assert "StalwartCanaryFailing" in names and len(names) == 10
    assert monitored.get(*RULES).inputs["metadata"]["labels"]["release"] == "kps"


def test_the_dashboard_is_a_configmap_for_the_grafana_sidecar(monitored):
    dashboard = monitored.get(*DASHBOARD).inputs
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    model = json.loads(dashboard["data"]["stalwart.json"])
    titles = [panel["title"] for panel in model["panels"]]
    assert titles[:4] == [
        "Sent: accepted by the relay",
        "Failed",
        "Queued and retried",
        "Logins and bans",
    ]
    assert "Canary: since its last success" in titles


def test_the_canary_runs_unprivileged_with_no_secret_in_its_spec(monitored):
    cronjob = monitored.get(*CRONJOB).inputs
    assert cronjob["spec"]["schedule"] == "5 * * * *" and cronjob["spec"]["suspend"] is False
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert (
        pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    )
    assert pod["automountServiceAccountToken"] is False
    [container] = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["CANARY_TO"] == "delivered@resend.dev" and env["CANARY_USER"] == "canary"
    secrets = [
        reveal(monitored.get("random:index/randomPassword:RandomPassword", name).state["result"])
        for name in (
            "stalwart-metrics-password",
            "stalwart-admin-password",
            "stalwart-accounts-canary-password",
        )
    ]
    text = json.dumps(reveal(cronjob))
    assert not any(secret in text for secret in secrets)
    assert all(
        value.endswith(("password", "smtp-password"))
        for key, value in env.items()
        if key.endswith("_FILE")
    )
    # Its own account's password and nothing else: no admin, no scrape password.
    assert [k for k in env if k.endswith("_FILE")] == ["CANARY_PASSWORD_FILE"]
    mounted = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert mounted == {"stalwart-canary-credentials"}


def test_the_canary_account_is_a_service_account_with_its_own_secret(monitored):
    credentials = monitored.get("kubernetes:core/v1:Secret", "stalwart-accounts-canary-credentials")
    assert credentials.inputs["metadata"]["name"] == "stalwart-canary-credentials"
    assert "canary" in reveal(monitored.outputs["serviceAccountPasswords"])


def test_the_canary_sleeps_while_no_stalwart_serves():
    stopped = upgrade_run(V015, upgrade={"phase": "stop"}, monitoring={"enabled": True})
    assert stopped.get(*CRONJOB).inputs["spec"]["suspend"] is True


def test_the_canary_reaches_submission_and_http_and_not_the_metrics_listener(monitored):
    policy = monitored.get(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy", "stalwart-network-policy"
    )
    labels = monitored.get(*CRONJOB).inputs["spec"]["jobTemplate"]["spec"]["template"]["metadata"][
        "labels"
    ]
    smtp, web, metrics = policy.inputs["spec"]["ingress"]
    for rule in (smtp, web):
        assert {"podSelector": {"matchLabels": labels}} in rule["from"]
    assert {"podSelector": {"matchLabels": labels}} not in metrics["from"]


def test_an_account_named_canary_is_refused_when_the_canary_runs():
    from tests.conftest import refusals

    [line] = refusals(
        {
            **ON,
            "mailstack:serviceAccounts": [
                {"name": "canary", "credentials": {"namespace": "apps", "secretName": "c"}}
            ],
        }
    )
    assert "the name mailstack:monitoring's outbound canary uses" in line
