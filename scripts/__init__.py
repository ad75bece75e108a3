"""Maintenance commands of the repository itself: make docs, the lock reader, actionlint, the
drift report."""
