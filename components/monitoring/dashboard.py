"""The Grafana dashboard (JSON model), as pure data: sent, failed and queued over time, logins
and bans, and the outbound canary's last success. kube-prometheus-stack's dashboard sidecar
loads every ConfigMap labelled `grafana_dashboard: "1"` (all namespaces since chart 45.12)."""

from __future__ import annotations

import json
from typing import Any

from components.monitoring.rules import RuleInputs

UID = "mailstack-stalwart"


def _panel(
    index: int, title: str, targets: list[tuple[str, str]], kind: str = "timeseries", unit: str = ""
) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": kind,
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"x": (index % 2) * 12, "y": (index // 2) * 8, "w": 12, "h": 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + n), "expr": expr, "legendFormat": legend}
            for n, (legend, expr) in enumerate(targets)
        ],
    }


def panels(inputs: RuleInputs) -> list[dict[str, Any]]:
    scraped = f'job="{inputs.job}",namespace="{inputs.namespace}"'

    def increase(metric: str, window: str = "5m") -> str:
        return f"increase({metric}{{{scraped}}}[{window}])"

    canary = f'namespace="{inputs.namespace}",cronjob="{inputs.canary}"'
    specs: list[tuple[str, list[tuple[str, str]], str, str]] = [
        (
            "Sent: accepted by the relay",
            [("delivered", increase("delivery_delivered"))],
            "timeseries",
            "",
        ),
        (
            "Failed",
            [
                ("permanent (bounced)", increase("delivery_dsn_perm_fail")),
                ("delayed", increase("delivery_dsn_temp_fail")),
                ("relay login refused", increase("delivery_auth_failed")),
            ],
            "timeseries",
            "",
        ),
        (
            "Queued and retried",
            [
                # v0.16 names the counter queue_message_queued, v0.15 queue_queue_message.
                ("queued (v0.16)", increase("queue_authenticated_message_queued")),
                ("queued (v0.15)", increase("queue_queue_message_authenticated")),
                ("retries", increase("queue_rescheduled")),
                ("in queue (Enterprise only)", f"queue_count{{{scraped}}}"),
            ],
            "timeseries",
            "",
        ),
        (
            "Logins and bans",
            [
                ("failed logins", increase("auth_failed")),
                ("banned addresses", increase("security_authentication_ban")),
            ],
            "timeseries",
            "",
        ),
        (
            "Canary: since its last success",
            [("last success", f"time() - kube_cronjob_status_last_successful_time{{{canary}}}")],
            "stat",
            "s",
        ),
        ("Stalwart scraped", [("up", f"up{{{scraped}}}")], "stat", ""),
    ]
    return [
        _panel(i, title, targets, kind, unit)
        for i, (title, targets, kind, unit) in enumerate(specs)
    ]


def dashboard(inputs: RuleInputs) -> str:
    model = {
        "uid": UID,
        "title": "Stalwart mail (mailstack)",
        "tags": ["mailstack", "stalwart"],
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "time": {"from": "now-24h", "to": "now"},
        "refresh": "1m",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "type": "datasource",
                    "query": "prometheus",
                    "label": "Prometheus",
                }
            ]
        },
        "panels": panels(inputs),
    }
    return json.dumps(model, indent=2, sort_keys=True) + "\n"
