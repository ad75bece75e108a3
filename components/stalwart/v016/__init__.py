"""Stalwart v0.16: config.json and the plan of its settings, its pod, the cert-manager
certificate it may serve, the Jobs that apply the plan (and, in the upgrade, the v0.15 export),
and the runtime that puts them on a data claim."""
