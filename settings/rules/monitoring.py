"""Rules of `mailstack:monitoring`: the kube-prometheus-stack objects and the outbound canary."""

from __future__ import annotations

from typing import Any

from settings import formats as f
from settings.model import MonitoringSettings
from settings.problems import Check

_FIELDS = {
    "enabled": "enabled",
    "namespace": "namespace",
    "release": "release",
    "canarySchedule": "canary_schedule",
    "canaryRecipient": "canary_recipient",
    "runbookUrl": "runbook_url",
}
FIX = (
    "e.g. mailstack:monitoring: {enabled: true, release: kube-prometheus-stack} "
    "(docs/how-to/monitoring.md; the other fields are optional)"
)


def monitoring(value: Any, check: Check) -> MonitoringSettings | None:
    given = check.object_of(value, _FIELDS, "must be an object", FIX)
    if given is None:
        return None
    merged = {**check.default, **given}
    before = check.count
    if not isinstance(merged["enabled"], bool):
        check.bad("enabled must be true or false", FIX)
    namespace = merged["namespace"]
    if not isinstance(namespace, str) or not f.LABEL_RE.fullmatch(namespace):
        check.bad(f"namespace {namespace!r} is not a namespace name", FIX)
    release = merged["release"]
    if not isinstance(release, str) or not f.LABEL_RE.fullmatch(release):
        check.bad(
            f"release {release!r} is not a Helm release name",
            "the `release` label your Prometheus selects: kubectl get prometheus -A "
            "-o jsonpath='{.items[*].spec.serviceMonitorSelector}'",
        )
    cron = merged["canarySchedule"]
    problem = f.cron_problem(cron) if isinstance(cron, str) else "is not a string"
    if problem:
        check.bad(f"canarySchedule {cron!r} is not a five-field cron schedule: {problem}", FIX)
    recipient = merged["canaryRecipient"]
    if not isinstance(recipient, str) or not f.EMAIL_RE.fullmatch(recipient):
        check.bad(
            f"canaryRecipient {recipient!r} is not an address",
            "keep delivered@resend.dev, Resend's test recipient (no real mailbox, no reputation)",
        )
    runbook = merged["runbookUrl"]
    page = f"https://github.com/<you>/mailstack/blob/main/{f.ALERTS_PAGE}"
    if isinstance(runbook, str) and runbook.rstrip("/").endswith("RUNBOOK.md"):
        check.bad(
            f"runbookUrl {runbook!r} is RUNBOOK.md, which moved to {f.ALERTS_PAGE} (the alerts' "
            "sections keep their anchors)",
            f"e.g. runbookUrl: {page}",
        )
    elif not isinstance(runbook, str) or not (
        runbook == f.ALERTS_PAGE or f.RUNBOOK_URL_RE.fullmatch(runbook)
    ):
        check.bad(
            f"runbookUrl {runbook!r} is not an https URL of {f.ALERTS_PAGE}",
            f"e.g. runbookUrl: {page}",
        )
    if check.count != before:
        return None
    return MonitoringSettings(**{_FIELDS[key]: item for key, item in merged.items()})
