"""The workflows, locks, Renovate and the e2e tool builds, checked offline."""
