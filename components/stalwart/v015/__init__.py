"""Stalwart v0.15, the running homelab's generation: its config.toml, its pod, and the runtime
that puts them on a data claim. Retiring v0.15 is deleting this package and its one call site
(`GENERATIONS` in components/stalwart/server.py)."""
