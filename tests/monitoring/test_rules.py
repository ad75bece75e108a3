"""The alert rules through promtool: the rule file parses, and unit tests make each alert fire
on the series that mean trouble and stay quiet on healthy ones."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.monitoring.rules import RuleInputs, alert_rules
from tests.monitoring.promtool import run

ROOT = Path(__file__).resolve().parents[2]
INPUTS = RuleInputs(
    namespace="stalwart",
    job="stalwart",
    deployments=("stalwart", "stalwart-v016"),
    claims=("stalwart-data", "stalwart-data-v016"),
    canary="stalwart-canary",
    runbook="https://github.com/owner/mailstack/blob/main/docs/reference/alerts.md",
)
RULES = alert_rules(INPUTS)
BY_NAME = {rule["alert"]: rule for rule in RULES["groups"][0]["rules"]}
SCRAPED = 'job="stalwart",namespace="stalwart"'
KSM = 'job="kube-state-metrics",namespace="stalwart"'
# The labels an alert on a scraped series fires with.
FIRED_ON_STALWART = {"job": "stalwart", "namespace": "stalwart"}


def series(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{labels}}}", "values": values}


def volume(used: str, capacity: str) -> list[dict[str, str]]:
    labels = 'namespace="stalwart",persistentvolumeclaim="stalwart-data"'
    return [
        series("kubelet_volume_stats_used_bytes", labels, used),
        series("kubelet_volume_stats_capacity_bytes", labels, capacity),
    ]


def canary_runs(scheduled: str, succeeded: str | None) -> list[dict[str, str]]:
    labels = f'{KSM},cronjob="stalwart-canary"'
    runs = [series("kube_cronjob_status_last_schedule_time", labels, scheduled)]
    if succeeded is not None:
        runs.append(series("kube_cronjob_status_last_successful_time", labels, succeeded))
    return runs


def expected(alert: str, **labels: str) -> dict[str, Any]:
    rule = BY_NAME[alert]
    annotations = dict(rule["annotations"])
    for key, value in labels.items():
        annotations["summary"] = annotations["summary"].replace(f"{{{{ $labels.{key} }}}}", value)
    return {
        "exp_labels": {"severity": rule["labels"]["severity"], **labels},
        "exp_annotations": annotations,
    }


# (alert, input series, eval time, labels of the firing alert or None for quiet)
CASES: list[tuple[str, list[dict[str, str]], str, dict[str, str] | None]] = [
    (
        "StalwartDown",
        [series("up", SCRAPED, "0x20")],
        "10m",
        FIRED_ON_STALWART,
    ),
    ("StalwartDown", [], "10m", FIRED_ON_STALWART),  # absent
    ("StalwartDown", [series("up", SCRAPED, "1x20")], "10m", None),
    (
        "StalwartNotReady",
        [
            series(
                "kube_deployment_status_replicas_available", f'{KSM},deployment="stalwart"', "0x20"
            ),
            series("kube_deployment_spec_replicas", f'{KSM},deployment="stalwart"', "1x20"),
        ],
        "15m",
        {"job": "kube-state-metrics", "namespace": "stalwart", "deployment": "stalwart"},
    ),
    (
        "StalwartNotReady",  # the waiting v0.15 Deployment of the upgrade, scaled to zero
        [
            series(
                "kube_deployment_status_replicas_available", f'{KSM},deployment="stalwart"', "0x20"
            ),
            series("kube_deployment_spec_replicas", f'{KSM},deployment="stalwart"', "0x20"),
        ],
        "15m",
        None,
    ),
    (
        "StalwartRelayAuthFailing",
        [series("delivery_auth_failed", SCRAPED, "1+1x10")],
        "5m",
        FIRED_ON_STALWART,
    ),
    # The first failure after a restart: the counter appears at 1; increase() alone misses it.
    (
        "StalwartRelayAuthFailing",
        [series("delivery_auth_failed", SCRAPED, "_x5 1x10")],
        "7m",
        FIRED_ON_STALWART,
    ),
    ("StalwartRelayAuthFailing", [series("delivery_auth_failed", SCRAPED, "3x40")], "35m", None),
    (
        "StalwartDeliveriesFailing",
        [series("delivery_dsn_perm_fail", SCRAPED, "0+1x10")],
        "5m",
        FIRED_ON_STALWART,
    ),
    (
        "StalwartDeliveriesFailing",
        [series("delivery_dsn_perm_fail", SCRAPED, "2x100")],
        "90m",
        None,
    ),
    (
        "StalwartDeliveriesDelayed",
        [series("delivery_dsn_temp_fail", SCRAPED, "0+1x10")],
        "5m",
        FIRED_ON_STALWART,
    ),
    ("StalwartDeliveriesDelayed", [], "5m", None),
    (
        "StalwartQueueStuck",
        [series("queue_rescheduled", SCRAPED, "0+1x100")],
        "80m",
        FIRED_ON_STALWART,
    ),
    ("StalwartQueueStuck", [series("queue_rescheduled", SCRAPED, "0+1x5 6x100")], "80m", None),
    (
        "StalwartQueueStuck",
        [series("queue_count", SCRAPED, "80x100")],
        "80m",
        FIRED_ON_STALWART,
    ),
    (
        "StalwartAuthFailures",
        [series("auth_failed", SCRAPED, "0+5x20")],
        "15m",
        FIRED_ON_STALWART,
    ),
    ("StalwartAuthFailures", [series("auth_failed", SCRAPED, "0+1x20")], "15m", None),
    (
        "StalwartAutoBan",
        [series("security_authentication_ban", SCRAPED, "_x5 1x10")],
        "7m",
        FIRED_ON_STALWART,
    ),
    ("StalwartAutoBan", [], "7m", None),
    (
        "StalwartVolumeFilling",
        volume(used="9x30", capacity="10x30"),
        "20m",
        {"namespace": "stalwart", "persistentvolumeclaim": "stalwart-data"},
    ),
    (
        "StalwartVolumeFilling",
        volume(used="5x30", capacity="10x30"),
        "20m",
        None,
    ),
    (
        "StalwartCanaryFailing",  # the last run was scheduled after the last success
        canary_runs(scheduled="7200x60", succeeded="3600x60"),
        "40m",
        {"job": "kube-state-metrics", "namespace": "stalwart", "cronjob": "stalwart-canary"},
    ),
    (
        "StalwartCanaryFailing",  # never succeeded
        canary_runs(scheduled="7200x60", succeeded=None),
        "40m",
        {"job": "kube-state-metrics", "namespace": "stalwart", "cronjob": "stalwart-canary"},
    ),
    (
        "StalwartCanaryFailing",
        canary_runs(scheduled="7200x60", succeeded="7260x60"),
        "40m",
        None,
    ),
]


@pytest.fixture(scope="module")
def rule_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    path.write_text(yaml.safe_dump(RULES, sort_keys=False))
    return path


def test_the_rule_file_is_valid_for_promtool(rule_file):
    result = run("check", "rules", rule_file)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(BY_NAME)} rules found" in result.stdout


def test_promtool_refuses_a_broken_rule(tmp_path):
    # Proof that the check above can fail.
    broken = {"groups": [{"name": "x", "rules": [{"alert": "X", "expr": "up{ == 0"}]}]}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(broken))
    assert run("check", "rules", tmp_path / "bad.yaml").returncode != 0


@pytest.mark.parametrize(
    ("alert", "inputs", "at", "labels"),
    CASES,
    ids=[f"{c[0]}-{'fires' if c[3] else 'quiet'}-{i}" for i, c in enumerate(CASES)],
)
def test_each_alert_fires_on_trouble_and_stays_quiet_when_healthy(
    rule_file, tmp_path, alert, inputs, at, labels
):
    test = {
        "rule_files": [str(rule_file)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": inputs,
                "alert_rule_test": [
                    {
                        "eval_time": at,
                        "alertname": alert,
                        "exp_alerts": [expected(alert, **labels)] if labels else [],
                    }
                ],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    result = run("test", "rules", tmp_path / "test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_case_that_fires_and_one_that_stays_quiet():
    fires = {c[0] for c in CASES if c[3]}
    quiet = {c[0] for c in CASES if not c[3]}
    assert fires == set(BY_NAME) == quiet


def github_anchors(markdown: str) -> set[str]:
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_every_alert_links_a_runbook_section_that_exists():
    anchors = github_anchors((ROOT / "docs" / "reference" / "alerts.md").read_text())
    for name, rule in BY_NAME.items():
        url = rule["annotations"]["runbook_url"]
        assert url.startswith(INPUTS.runbook + "#"), name
        assert url.partition("#")[2] in anchors, (
            f"{name}: no section of docs/reference/alerts.md for {url}"
        )


def test_every_dashboard_query_is_promql_promtool_accepts(tmp_path):
    from components.monitoring.dashboard import panels

    records = [
        {
            "record": f"mailstack:panel_{panel['id']}_{target['refId'].lower()}",
            "expr": target["expr"],
        }
        for panel in panels(INPUTS)
        for target in panel["targets"]
    ]
    (tmp_path / "panels.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "p", "rules": records}]})
    )
    result = run("check", "rules", tmp_path / "panels.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(records)} rules found" in result.stdout


@pytest.mark.parametrize(("ready", "fires"), [("1x20", True), ("2x20", False)])
def test_not_ready_watches_the_statefulset_on_postgresql(tmp_path, ready, fires):
    """mailstack:storage: postgresql runs a StatefulSet: one of two pods not ready fires."""
    inputs = dataclasses.replace(INPUTS, statefulsets=("stalwart",))
    rules = alert_rules(inputs)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    rule = next(r for r in rules["groups"][0]["rules"] if r["alert"] == "StalwartNotReady")
    labels = f'{KSM},statefulset="stalwart"'
    summary = rule["annotations"]["summary"].replace("{{ $labels.statefulset }}", "stalwart")
    alert = {
        "exp_labels": {
            "severity": "critical",
            "job": "kube-state-metrics",
            "namespace": "stalwart",
            "statefulset": "stalwart",
        },
        "exp_annotations": {**rule["annotations"], "summary": summary},
    }
    test = {
        "rule_files": [str(tmp_path / "rules.yaml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    series("kube_statefulset_status_replicas_ready", labels, ready),
                    series("kube_statefulset_replicas", labels, "2x20"),
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "15m",
                        "alertname": "StalwartNotReady",
                        "exp_alerts": [alert] if fires else [],
                    }
                ],
            }
        ],
    }
    (tmp_path / "test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    result = run("test", "rules", tmp_path / "test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
