"""Knowing that mail works (`mailstack:monitoring`): the ServiceMonitor and alert rules for
kube-prometheus-stack, the Grafana dashboard, and the hourly outbound canary."""
