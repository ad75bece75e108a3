"""Where Stalwart is reached, whatever its generation: ports, and the names other systems use
(consumers configure `stalwart.stalwart.svc.cluster.local:587`)."""

from __future__ import annotations

ADMIN_USER = "admin"
"""Stalwart's built-in admin login: v0.15's fallback admin, v0.16's recovery admin."""
ADMINISTRATOR_ACCOUNT = "mailstack-admin"
"""v0.16: the account, `<this>@<domain>`, the stack's Jobs log in as
(components/stalwart/v016/admin.py)."""

HTTP_PORT = 8080
SUBMISSION_PORT = 587
IMAPS_PORT = 993
# Prometheus scrapes a listener of its own: the NetworkPolicy opens it to the monitoring
# namespace only, and Stalwart refuses /metrics on every other listener (allowed endpoints).
METRICS_PORT = 9090
METRICS_LISTENER = "metrics"
METRICS_PATH = "/metrics/prometheus"
METRICS_USER = "prometheus"
METRICS_SECRET_FILE = "metrics-password"
"""The key of the pod's Secret holding the scrape password (Basic auth of METRICS_PATH)."""
PORTS = (
    ("http", HTTP_PORT),
    ("submission", SUBMISSION_PORT),
    ("imaps", IMAPS_PORT),
    (METRICS_LISTENER, METRICS_PORT),
)
"""(name, port) of every listener the Service and the pod expose."""

DEPLOYMENT_NAME = "stalwart"
SERVICE_NAME = "stalwart"
NETWORK_POLICY_NAME = "stalwart"
TAILSCALE_INGRESS_NAME = "stalwart-tailscale"
PUBLIC_INGRESS_NAME = "stalwart-public"
TLS_SECRET_NAME = "stalwart-tls"
