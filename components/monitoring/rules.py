"""The alert rules (a Prometheus rule file: what a PrometheusRule's `spec` holds), as pure data.

Metric names are Stalwart's own (crates/trc, read at v0.15.5 and v0.16.18): the event id with
every non-alphanumeric character as `_`, no `_total` suffix, no labels. A counter is exported
only after its first event and restarts at zero with the pod, so "went up" is written as
`increase(x[w]) > 0 or (x unless x offset w)`: the second half catches the first event after a
restart, which `increase()` cannot see (it needs two samples). The community edition exports no
queue length or message age (`queue_count` is Enterprise-only): a queue that keeps retrying for
an hour is what "messages older than an hour" can be seen as.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.monitoring.canary import CRONJOB_NAME

GROUP = "mailstack-stalwart"


@dataclass(frozen=True)
class RuleInputs:
    namespace: str
    """Stalwart's namespace (the `namespace` label Prometheus gives the scraped series)."""
    job: str
    """The scrape job: the Service's name, what a ServiceMonitor names its job by default."""
    deployments: tuple[str, ...]
    """The Stalwart Deployments (both during the upgrade)."""
    claims: tuple[str, ...]
    """The data claims."""
    runbook: str
    """The alerts reference page's address (docs/reference/alerts.md); each alert links its
    section."""
    canary: str = CRONJOB_NAME
    """The canary CronJob's name: the monitoring component's own."""
    statefulsets: tuple[str, ...] = ()
    """The Stalwart StatefulSets (v0.16 on PostgreSQL); none on RocksDB."""


def went_up(metric: str, window: str) -> str:
    return f"increase({metric}[{window}]) > 0 or ({metric} unless {metric} offset {window})"


def _alert(
    name: str, expr: str, duration: str, severity: str, summary: str, inputs: RuleInputs
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "runbook_url": f"{inputs.runbook}#{name.lower()}",
        },
    }


def alert_rules(inputs: RuleInputs) -> dict[str, Any]:
    """`{"groups": [...]}`: a rule file (`promtool check rules`) and a PrometheusRule's spec."""
    scraped = f'job="{inputs.job}",namespace="{inputs.namespace}"'

    def metric(name: str) -> str:
        return f"{name}{{{scraped}}}"

    deployments = "|".join(inputs.deployments)
    on_deployments = f'namespace="{inputs.namespace}",deployment=~"{deployments}"'
    statefulsets = "|".join(inputs.statefulsets)
    on_statefulsets = f'namespace="{inputs.namespace}",statefulset=~"{statefulsets}"'
    claims = "|".join(inputs.claims)
    on_claims = f'namespace="{inputs.namespace}",persistentvolumeclaim=~"{claims}"'
    cronjob = f'namespace="{inputs.namespace}",cronjob="{inputs.canary}"'
    last_success = f"kube_cronjob_status_last_successful_time{{{cronjob}}}"
    last_schedule = f"kube_cronjob_status_last_schedule_time{{{cronjob}}}"
    rules = [
        _alert(
            "StalwartDown",
            f"up{{{scraped}}} == 0 or absent(up{{{scraped}}})",
            "5m",
            "critical",
            "Prometheus cannot scrape Stalwart: the server is down or its metrics are not reached.",
            inputs,
        ),
        _alert(
            "StalwartNotReady",
            f"kube_deployment_status_replicas_available{{{on_deployments}}}"
            f" < kube_deployment_spec_replicas{{{on_deployments}}}"
            + (
                f" or kube_statefulset_status_replicas_ready{{{on_statefulsets}}}"
                f" < kube_statefulset_replicas{{{on_statefulsets}}}"
                if inputs.statefulsets
                else ""
            ),
            "10m",
            "critical",
            "Stalwart's StatefulSet {{ $labels.statefulset }} has fewer ready pods than asked."
            if inputs.statefulsets
            else "Stalwart's Deployment {{ $labels.deployment }} has no ready pod.",
            inputs,
        ),
        _alert(
            "StalwartRelayAuthFailing",
            went_up(metric("delivery_auth_failed"), "15m"),
            "0m",
            "critical",
            "The relay refuses Stalwart's login: no outbound mail leaves.",
            inputs,
        ),
        _alert(
            "StalwartDeliveriesFailing",
            went_up(metric("delivery_dsn_perm_fail"), "1h"),
            "0m",
            "warning",
            "Outbound messages failed permanently (bounces were generated).",
            inputs,
        ),
        _alert(
            "StalwartDeliveriesDelayed",
            went_up(metric("delivery_dsn_temp_fail"), "1h"),
            "0m",
            "warning",
            "Outbound messages are delayed (delay notifications were generated).",
            inputs,
        ),
        _alert(
            "StalwartQueueStuck",
            f"increase({metric('queue_rescheduled')}[15m]) > 0 or {metric('queue_count')} > 50",
            "1h",
            "warning",
            "Messages keep waiting in Stalwart's queue for over an hour.",
            inputs,
        ),
        _alert(
            "StalwartAuthFailures",
            f"increase({metric('auth_failed')}[15m]) > 20",
            "0m",
            "warning",
            "Many failed logins: someone guessing, or a consumer with a stale password.",
            inputs,
        ),
        _alert(
            "StalwartAutoBan",
            went_up(metric("security_authentication_ban"), "1h"),
            "0m",
            "warning",
            "Stalwart banned an address after failed logins.",
            inputs,
        ),
        _alert(
            "StalwartVolumeFilling",
            f"kubelet_volume_stats_used_bytes{{{on_claims}}}"
            f" / kubelet_volume_stats_capacity_bytes{{{on_claims}}} > 0.8",
            "15m",
            "warning",
            "The mail volume {{ $labels.persistentvolumeclaim }} is more than 80 % full.",
            inputs,
        ),
        _alert(
            "StalwartCanaryFailing",
            f"({last_schedule} > {last_success}) or ({last_schedule} unless {last_success})",
            "30m",
            "critical",
            "The outbound canary's last run did not get a message through the relay.",
            inputs,
        ),
    ]
    return {"groups": [{"name": GROUP, "rules": rules}]}
