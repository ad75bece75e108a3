"""Knowing that mail works (docs/how-to/monitoring.md): with `mailstack:monitoring.enabled`, the
Prometheus Operator objects of kube-prometheus-stack (a ServiceMonitor scraping Stalwart's metrics
listener with Basic auth, a PrometheusRule of alerts), a Grafana dashboard for its sidecar, and the
hourly outbound canary. Off by default: the ServiceMonitor and PrometheusRule kinds exist only
where the operator's CRDs are installed."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.incluster import scripts_config_map
from components.kube import object_name, standard_labels
from components.monitoring.canary import CanaryArgs, canary_account, canary_cronjob, canary_labels
from components.monitoring.dashboard import dashboard
from components.monitoring.rules import RuleInputs, alert_rules
from components.stalwart.endpoints import METRICS_LISTENER, METRICS_PATH, METRICS_USER
from settings.model import MonitoringSettings, ServiceAccount

COMPONENT_TYPE = "mailstack:monitoring:MailMonitoring"
NAME = "stalwart"
DASHBOARD_LABEL = {"grafana_dashboard": "1"}
SCRAPE_INTERVAL = "30s"


@dataclass(frozen=True)
class MailMonitoringArgs:
    settings: MonitoringSettings
    """Which Prometheus (its `release` label and namespace), the canary's schedule."""
    namespace: pulumi.Input[str]
    """Stalwart's namespace: every object here lives in it."""
    service_labels: dict[str, str]
    """The labels of Stalwart's Service, which the ServiceMonitor selects."""
    metrics_password: pulumi.Output[str]
    """The scrape password (secret)."""
    rules: RuleInputs
    """What the alerts and the dashboard are about."""
    canary: CanaryArgs
    """The outbound canary's inputs."""


class MailMonitoring(pulumi.ComponentResource):
    """ServiceMonitor, PrometheusRule, dashboard, canary."""

    canary_schedule: str
    """When the canary runs."""

    def __init__(
        self, name: str, args: MailMonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        discovered = {**standard_labels(name, "monitoring"), "release": args.settings.release}
        # The ServiceMonitor's Basic-auth Secret must be in the ServiceMonitor's namespace
        # (prometheus-operator resource_selector.go: AddBasicAuth(sm.GetNamespace(), ...)).
        scrape = k8s.core.v1.Secret(
            f"{name}-scrape-auth",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                namespace=args.namespace, labels=standard_labels(name, "monitoring")
            ),
            type="Opaque",
            string_data={"username": METRICS_USER, "password": args.metrics_password},
            opts=child,
        )
        scrape_name = scrape.metadata.apply(object_name)
        k8s.apiextensions.CustomResource(
            f"{name}-service-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAME, namespace=args.namespace, labels=discovered
            ),
            spec={
                "selector": {"matchLabels": args.service_labels},
                "endpoints": [
                    {
                        "port": METRICS_LISTENER,
                        "path": METRICS_PATH,
                        "scheme": "http",
                        "interval": SCRAPE_INTERVAL,
                        "basicAuth": {
                            "username": {"name": scrape_name, "key": "username"},
                            "password": {"name": scrape_name, "key": "password"},
                        },
                    }
                ],
            },
            opts=child,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NAME, namespace=args.namespace, labels=discovered
            ),
            spec=alert_rules(args.rules),
            opts=child,
        )
        k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{NAME}-dashboard",
                namespace=args.namespace,
                labels={**standard_labels(name, "monitoring"), **DASHBOARD_LABEL},
            ),
            data={"stalwart.json": dashboard(args.rules)},
            opts=child,
        )
        scripts = scripts_config_map(
            f"{name}-scripts", args.namespace, standard_labels(name, "canary"), child
        )
        canary_cronjob(f"{name}-canary", args.canary, scripts.metadata.apply(object_name), child)
        self.canary_schedule = args.settings.canary_schedule
        self.register_outputs({"canary_schedule": self.canary_schedule})

    @staticmethod
    def canary_account(domain: str, namespace: str) -> ServiceAccount:
        """The canary's SMTP account, which the service accounts create (with the others) and
        deliver into a Secret of `namespace` before the canary runs."""
        return canary_account(domain, namespace)

    @staticmethod
    def canary_pod_labels() -> dict[str, str]:
        """The canary pods' labels, known before the component exists: Stalwart's
        NetworkPolicy lets them reach 587, 8080 and 9090."""
        return canary_labels()
