"""The monitoring objects, the alert rules (promtool) and the canary."""
