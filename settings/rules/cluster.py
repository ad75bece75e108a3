"""Rules of the Kubernetes side: names, labels, storage, namespaces, backups, helper images."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from settings import formats as f
from settings.model import BackupPolicy, TlsSettings
from settings.problems import NAMESPACE, Check

MIN_STORAGE_BYTES = 1024**3
# Far above any homelab disk; a typo (`10Ei`, `100000Gi`) would ask Longhorn for a volume no
# node can hold and leave the claim Pending.
MAX_STORAGE_BYTES = 64 * 1024**4
"""RocksDB, the spam-filter rules and the webadmin bundle need room before the first message."""


def label(what: str, host: bool = True) -> Callable[[str, Check], None]:
    """One DNS label: the first label of a host (`what`), or (host False) a namespace, whose fix
    is never another name than the default: consumers reach `stalwart.<namespace>.svc`."""

    def rule(value: str, check: Check) -> None:
        if "." in value:
            check.bad(
                f"'{value}' contains a dot; "
                + (f"give only the first label of the {what}" if host else "a namespace has none"),
                check.set_fix(value.split(".")[0].lower() if host else check.default),
            )
        elif value != value.lower():
            check.bad(f"'{value}' has uppercase letters", check.set_fix(value.lower()))
        elif not f.LABEL_RE.fullmatch(value):
            check.bad(
                f"'{value}' is not a DNS label (a-z, 0-9 and '-', at most 63 characters)",
                check.set_fix(check.default),
            )

    return rule


def kubernetes_name(value: str, check: Check) -> None:
    if len(value) > 253 or not f.SUBDOMAIN_RE.fullmatch(value):
        check.bad(
            f"'{value}' is not a Kubernetes name (lowercase a-z, 0-9, '-' and '.')",
            check.set_fix(check.default),
        )


def storage_size(value: str, check: Check) -> None:
    size = f.parse_quantity(value)
    if size is None:
        check.bad(f"'{value}' is not a Kubernetes quantity", check.set_fix(check.default))
    elif size < MIN_STORAGE_BYTES:
        check.bad(
            f"'{value}' is smaller than 1Gi, too small for the mail store",
            check.set_fix(check.default),
        )
    elif size > MAX_STORAGE_BYTES:
        check.bad(
            f"'{value}' is larger than 64Ti, more than a homelab volume holds (a typo?)",
            check.set_fix(check.default),
        )


def namespace_list(allow_empty: bool) -> Callable[[Any, Check], tuple[str, ...] | None]:
    def rule(value: Any, check: Check) -> tuple[str, ...] | None:
        if (
            not isinstance(value, list)
            or not all(isinstance(v, str) and f.LABEL_RE.fullmatch(v) for v in value)
            or (not value and not allow_empty)
        ):
            check.bad(
                "must be a list of namespace names" + ("" if allow_empty else " (not empty)"),
                f"set it in the stack file, e.g. {NAMESPACE}:{check.key}: [kube-system, tailscale]",
            )
            return None
        return tuple(value)

    return rule


def image_mirrors(value: Any, check: Check) -> tuple[str, ...] | None:
    """`mailstack:imageMirrors`: registries (with an optional path) that hold copies of the
    official images under their upstream paths, e.g. `registry.lan:5000` for
    `registry.lan:5000/stalwartlabs/stalwart`."""
    fix = (
        f"set it in the stack file, e.g. {NAMESPACE}:{check.key}: [registry.lan:5000] (a "
        "registry host, optionally with a path, without https://)"
    )
    if not isinstance(value, list) or len(value) > 10:
        check.bad("must be a list of at most 10 registries", fix)
        return None
    for mirror in value:
        if not isinstance(mirror, str) or not f.MIRROR_RE.fullmatch(mirror):
            check.bad(f"{mirror!r} is not a registry (host[:port][/path])", fix)
            return None
        if f.image_origin(mirror + "/x")[0] in ("docker.io", "ghcr.io"):
            check.bad(
                f"{mirror!r} is a public registry, not a mirror: every image there would pass",
                fix,
            )
            return None
    return tuple(m.lower() for m in value)


_BACKUP_FIELDS = {
    "groups": "groups",
    "longhornNamespace": "longhorn_namespace",
    "snapshotCron": "snapshot_cron",
    "snapshotRetain": "snapshot_retain",
    "backupEnabled": "backup_enabled",
    "backupCron": "backup_cron",
    "backupRetain": "backup_retain",
}


def backup(value: Any, check: Check) -> BackupPolicy | None:
    fix = (
        "e.g. mailstack:backup: {snapshotCron: '0 3 * * *', snapshotRetain: 7, "
        "backupEnabled: true, backupCron: '30 3 * * 0', backupRetain: 8}"
    )
    given = check.object_of(value, _BACKUP_FIELDS, "must be an object", fix)
    if given is None:
        return None
    merged = {**check.default, **given}
    for key in ("snapshotCron", "backupCron"):
        cron = merged[key]
        problem = f.cron_problem(cron) if isinstance(cron, str) else "is not a string"
        if problem:
            check.bad(f"{key} {cron!r} is not a five-field cron schedule: {problem}", fix)
            return None
    groups = merged["groups"]
    if not isinstance(groups, list) or not all(
        isinstance(g, str) and f.LABEL_RE.fullmatch(g) for g in groups
    ):
        check.bad(
            "groups must be a list of Longhorn recurring-job group names",
            "e.g. mailstack:backup: {groups: [default]} (the groups your off-cluster jobs use)",
        )
        return None
    merged["groups"] = tuple(groups)
    for key in ("snapshotRetain", "backupRetain"):
        retain = merged[key]
        if isinstance(retain, bool) or not isinstance(retain, int) or not 1 <= retain <= 100:
            check.bad(f"{key} must be a number from 1 to 100", fix)
            return None
    if not isinstance(merged["backupEnabled"], bool):
        check.bad("backupEnabled must be true or false", fix)
        return None
    namespace = merged["longhornNamespace"]
    if not isinstance(namespace, str) or not f.LABEL_RE.fullmatch(namespace):
        check.bad("longhornNamespace must be a namespace name", fix)
        return None
    return BackupPolicy(**{_BACKUP_FIELDS[key]: item for key, item in merged.items()})


def pinned_image(value: str, check: Check) -> bool:
    """True when `value` names one image for good: a tag other than latest, or a digest."""
    match = f.IMAGE_RE.fullmatch(value)
    tag = match["tag"] if match else None
    if match is None or (tag in (None, "latest") and match["digest"] is None):
        check.bad(
            f"'{value}' is not a pinned image (a tag other than latest, or a digest)",
            check.set_fix(check.default),
        )
        return False
    return True


_PYTHON_TAG_RE = re.compile(r"(?P<major>[0-9]+)\.(?P<minor>[0-9]+)(?:[.-].*)?")


def python_image(value: str, check: Check) -> None:
    """The Jobs run `python3 -m incluster...` with the standard library of Python 3.11+."""
    if not pinned_image(value, check):
        return
    match = f.IMAGE_RE.fullmatch(value)
    assert match is not None
    version = _PYTHON_TAG_RE.fullmatch(match["tag"] or "")
    if match["repo"].rsplit("/", 1)[-1] != "python" or version is None:
        check.bad(
            f"'{value}' is not a tag of the official python image, so the Jobs may have no "
            "Python 3.11+ (an image of repository python, tag 3.11 or newer, optionally with "
            "its digest)",
            check.set_fix(check.default),
        )
    elif (int(version["major"]), int(version["minor"])) < (3, 11):
        check.bad(
            f"'{value}' is Python {version['major']}.{version['minor']}; the Jobs need 3.11+",
            check.set_fix(check.default),
        )


_TLS_FIELDS = {"issuer", "issuerKind", "dnsNames"}
ISSUER_KINDS = ("ClusterIssuer", "Issuer")


def tls(value: Any, check: Check) -> TlsSettings | None:
    """`mailstack:tls`: `{issuer, issuerKind, dnsNames}`; the names default to the webmail host
    (settings/across.py fills them once the domain is known)."""
    fix = (
        "e.g. mailstack:tls: {issuer: letsencrypt} (a cert-manager ClusterIssuer; "
        "issuerKind: Issuer for one in the stack's namespace; dnsNames: the names mail clients "
        "use, default the webmail host)"
    )
    given = check.object_of(value, _TLS_FIELDS, "must be an object with at least issuer", fix)
    if given is None:
        return None
    issuer, kind = given.get("issuer"), given.get("issuerKind", "ClusterIssuer")
    names = given.get("dnsNames", [])
    if issuer is None:
        check.bad("has no issuer", fix)
    elif not isinstance(issuer, str) or not f.SUBDOMAIN_RE.fullmatch(issuer):
        check.bad(f"issuer {issuer!r} is not the name of a cert-manager issuer", fix)
    elif kind not in ISSUER_KINDS:
        check.bad(f"issuerKind {kind!r} is not ClusterIssuer or Issuer", fix)
    elif (
        not isinstance(names, list)
        or len(names) > 20
        or not all(isinstance(n, str) and f.DOMAIN_RE.fullmatch(n) for n in names)
        or len(set(names)) != len(names)
    ):
        check.bad("dnsNames must be a list of distinct lowercase host names (at most 20)", fix)
    else:
        return TlsSettings(issuer, kind, tuple(names))
    return None
