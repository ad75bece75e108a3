"""Stalwart v0.16's desired state: `config.json` (the data store only) and the plan (NDJSON in
`stalwart-cli apply`'s format) of the server's settings, as pure functions (no Pulumi calls).

The plan holds no secret: the relay password is read by the server from a file of the mounted
Secret (`SecretKeyOptional` variant `File`). Accounts are not in it: `apply` rewrites an account's
whole credential list on every run (dropping its app passwords) and cannot remove only the
accounts the stack created; the accounts Job does both (incluster/jmap_jobs.py).

Shapes: the plan format (op discriminator `@type`; `upsert`/`reconcile` match on `matchOn`,
reconcile destroys the unmatched objects of the type; applied by incluster/plan_apply.py, whose
docstring gives the semantics) and the server's object schema at v0.16.18
(lists and sets as JSON objects, expressions as `{"match": {"0": {"if", "then"}}, "else"}`);
tests/stalwart/test_plan.py checks every op against the vendored schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from components.stalwart.endpoints import (
    HTTP_PORT,
    IMAPS_PORT,
    METRICS_LISTENER,
    METRICS_PORT,
    METRICS_SECRET_FILE,
    METRICS_USER,
    SUBMISSION_PORT,
)
from components.stalwart.v016 import coordinator
from settings.model import Relay

DATA_MOUNT = "/var/lib/stalwart"  # the image's data volume (Dockerfile VOLUME, uid 2000)
# RocksDB lives in `data/` below the claim's root, where v0.15 kept it (/opt/stalwart/data): a
# fresh claim and an upgraded copy of a v0.15 claim have the same layout.
DATA_PATH = f"{DATA_MOUNT}/data"
CONFIG_DIR = "/etc/stalwart"
CONFIG_FILE = "config.json"
SECRETS_MOUNT = "/run/secrets/mailstack"
RELAY_SECRET_FILE = "relay-password"
SECRET_FILES = (RELAY_SECRET_FILE, METRICS_SECRET_FILE)
"""The files of the pod's Secret the plan reads (`{"@type": "File"}` secrets): the pod mounts
exactly these. A file Stalwart cannot read is no error for every object: the Metrics endpoint
would then be served without authentication (crates/common/src/config/telemetry.rs)."""
METRICS_ELSEWHERE = f"starts_with(path, '/metrics') && listener != '{METRICS_LISTENER}'"
ONLY_METRICS = f"listener == '{METRICS_LISTENER}' && !starts_with(path, '/metrics')"
TLS_MOUNT = "/run/tls"
"""Where the pod mounts the cert-manager Secret (`tls.crt`, `tls.key`) with `mailstack:tls`."""
RELAY_ROUTE = "relay"
LOCAL_ROUTE = "local"


def config_json(data_store: dict[str, Any] | None = None) -> str:
    """The data store: single-node RocksDB on the claim (crates/store/src/registry/local.rs),
    or `data_store` (PostgreSQL: components/stalwart/v016/database.py)."""
    store = data_store or {"@type": "RocksDb", "path": DATA_PATH}
    return json.dumps(store, indent=2) + "\n"


@dataclass(frozen=True)
class PlanInputs:
    domain: str
    """The mail domain (Domain object, default domain of bare logins)."""
    hostname: str
    """`SystemSettings.defaultHostname`: EHLO, Message-ID and Received: carry it."""
    relay: Relay
    """The relay every non-local message goes through."""
    auth_mechanisms: tuple[str, ...]
    """SASL mechanisms offered on submission without TLS."""
    certificate: bool = False
    """Serve the mounted cert-manager certificate (`mailstack:tls`) on the TLS listener."""
    coordinator: str | None = None
    """PostgreSQL: `nats` (more than one pod: the stack's NATS, v016/coordinator.py) or
    `disabled` (one pod, also after a scale-down); RocksDB: None, the plan leaves it alone."""


def expression(*pairs: tuple[str, str], otherwise: str) -> dict[str, Any]:
    """An expression: `if`/`then` pairs in order, then `else` (lists are objects keyed 0, 1...)."""
    return {
        "match": {str(i): {"if": cond, "then": then} for i, (cond, then) in enumerate(pairs)},
        "else": otherwise,
    }


def _listener(name: str, protocol: str, port: int, tls: bool, implicit: bool) -> dict[str, Any]:
    return {
        "name": name,
        "protocol": protocol,
        "bind": {f"[::]:{port}": True},
        "useTls": tls,
        "tlsImplicit": implicit,
    }


LISTENERS = {
    # Submission is cluster-internal without TLS (the runbook's design): 587 offers no
    # STARTTLS, so a consumer must not require it (docs/how-to/connect-a-service.md).
    "submission": _listener("submission", "smtp", SUBMISSION_PORT, False, False),
    "imaps": _listener("imaps", "imap", IMAPS_PORT, True, True),
    "http": _listener("http", "http", HTTP_PORT, False, False),
    METRICS_LISTENER: _listener(METRICS_LISTENER, "http", METRICS_PORT, False, False),
}
"""The listeners the stack owns, by name; their ports must accept after a restart."""


def render_plan(inputs: PlanInputs) -> list[dict[str, Any]]:
    """The plan's operations in order (incluster/plan_apply.py applies them in this order)."""
    extras = (certificate_plan() if inputs.certificate else []) + (
        coordinator.plan_fragment(inputs.coordinator == "nats") if inputs.coordinator else []
    )
    return _settings_plan(inputs) + extras


def _settings_plan(inputs: PlanInputs) -> list[dict[str, Any]]:
    relay = inputs.relay
    return [
        # Resend signs (DKIM record resend._domainkey); Automatic would make Stalwart sign too.
        {
            "@type": "upsert",
            "object": "Domain",
            "matchOn": ["name"],
            "value": {"domain": {"name": inputs.domain, "dkimManagement": {"@type": "Manual"}}},
        },
        # Both are required together (SystemSettings validation); without a hostname Stalwart
        # puts the pod's name into EHLO and Message-ID.
        {
            "@type": "update",
            "object": "SystemSettings",
            "value": {"defaultHostname": inputs.hostname, "defaultDomainId": "#domain"},
        },
        # Web clients reach 8080 only through the ingress controllers (the NetworkPolicy), so
        # the client address is the one they forward; without it one auto-ban of the proxy's
        # address locks every web user out. There is no trusted-proxy list for HTTP
        # (crates/http/src/request.rs): the NetworkPolicy is what makes the header trustworthy.
        # Every http listener serves every path: /metrics only on the metrics listener, and
        # nothing else there (HTTP_VARIABLE in crates/registry/src/schema/enums.rs: `path`,
        # `listener`). A request whose client address is loopback passes whatever this says
        # (http/src/request.rs parse_http_request), and with useXForwarded that address is the
        # first X-Forwarded-For entry: the NetworkPolicy keeps 9090 to Prometheus, and 8080's
        # guard holds only while the ingress controllers overwrite a client's X-Forwarded-For.
        {
            "@type": "update",
            "object": "Http",
            "value": {
                "useXForwarded": True,
                "allowedEndpoints": expression(
                    (METRICS_ELSEWHERE, "403"), (ONLY_METRICS, "403"), otherwise="200"
                ),
            },
        },
        # Prometheus, behind Basic auth. The secret must resolve: one Stalwart cannot read is
        # served without authentication (crates/common/src/config/telemetry.rs); the file is a
        # key of the pod's Secret, so the pod does not start without it.
        {
            "@type": "update",
            "object": "Metrics",
            "value": {
                "prometheus": {
                    "@type": "Enabled",
                    "authUsername": METRICS_USER,
                    "authSecret": {
                        "@type": "File",
                        "filePath": f"{SECRETS_MOUNT}/{METRICS_SECRET_FILE}",
                    },
                }
            },
        },
        # Owned whole: the first normal start creates smtp 25, submissions 465, imaps 993, pop3s
        # 995, sieve 4190, https 443 and http 8080; only what the Service exposes stays.
        {
            "@type": "reconcile",
            "object": "NetworkListener",
            "matchOn": ["name"],
            "value": LISTENERS,
        },
        # The default offers PLAIN/LOGIN only with TLS (`local_port != 25 && is_tls`).
        {
            "@type": "update",
            "object": "MtaStageAuth",
            "value": {
                "saslMechanisms": expression(
                    ("local_port != 25", f"[{', '.join(inputs.auth_mechanisms)}]"),
                    otherwise="false",
                )
            },
        },
        # Owned whole: local delivery and the relay; the default `mx` route goes (port 25 is
        # blocked, so direct delivery could only fail).
        {
            "@type": "reconcile",
            "object": "MtaRoute",
            "matchOn": ["name"],
            "value": {
                LOCAL_ROUTE: {"@type": "Local", "name": LOCAL_ROUTE},
                RELAY_ROUTE: {
                    "@type": "Relay",
                    "name": RELAY_ROUTE,
                    "address": relay.host,
                    "port": relay.port,
                    "protocol": "smtp",
                    "implicitTls": relay.implicit_tls,
                    "authUsername": relay.username,
                    "authSecret": {
                        "@type": "File",
                        "filePath": f"{SECRETS_MOUNT}/{RELAY_SECRET_FILE}",
                    },
                },
            },
        },
        {
            "@type": "update",
            "object": "MtaOutboundStrategy",
            "value": {
                "route": expression(
                    ("is_local_domain(rcpt_domain)", f"'{LOCAL_ROUTE}'"),
                    otherwise=f"'{RELAY_ROUTE}'",
                )
            },
        },
        # The default tracer writes files to /var/log/stalwart; `kubectl logs` is where logs go.
        # Matched on every property, so every property of the variant is declared, including
        # those the server would fill in (lossy, events, eventsPolicy): an applier that compares
        # whole objects finds it again instead of recreating it every hour.
        {
            "@type": "reconcile",
            "object": "Tracer",
            "matchOn": "*",
            "value": {
                "stdout": {
                    "@type": "Stdout",
                    "level": "info",
                    "ansi": False,
                    "multiline": False,
                    "buffered": False,
                    "enable": True,
                    "lossy": False,
                    "events": {},
                    "eventsPolicy": "exclude",
                }
            },
        },
        # A submission that lacks Date or Message-ID gets them (RFC 6409 section 8.3, 8.4; the
        # default adds them on port 25 only, so mail from 587 went out without, seen on the
        # real server). Received: stays off: it would carry the cluster's pod addresses.
        {
            "@type": "update",
            "object": "MtaStageData",
            "value": {
                "addDateHeader": expression(otherwise="true"),
                "addMessageIdHeader": expression(otherwise="true"),
            },
        },
        # First-start downloads, decided (docs/explanation/stalwart-versions.md): this server relays
        # authenticated in-cluster submissions only, so no ASN/GeoIP data, no spam filter and
        # no Pyzor (UDP to public.pyzor.org, which the NetworkPolicy blocks anyway). The WebUI
        # (x:Application) keeps its default: it is what the two ingresses serve.
        {"@type": "update", "object": "Asn", "value": {"@type": "Disabled"}},
        {
            "@type": "update",
            "object": "SpamSettings",
            "value": {"enable": False, "spamFilterRulesUrl": None},
        },
        {"@type": "update", "object": "SpamPyzor", "value": {"enable": False}},
    ]


def certificate_plan() -> list[dict[str, Any]]:
    """The cert-manager certificate as Stalwart's one Certificate, read from the mounted files.

    File-backed certificates are read again on every Certificate reload (common/src/config/
    server/tls.rs `parse_certificates`, common/src/cache/reload.rs), so a renewal, which the
    kubelet writes into the mount, is served after the next `ReloadTlsCertificates` (the hourly
    re-application requests one) without a restart. `issuer`, the validity dates and the names
    are the server's to fill; the match is on the file paths alone. Reconciled: a certificate
    added in the WebUI would compete for the same names.
    """
    return [
        {
            "@type": "reconcile",
            "object": "Certificate",
            "matchOn": ["certificate", "privateKey"],
            "value": {
                "mail": {
                    "certificate": {"@type": "File", "filePath": f"{TLS_MOUNT}/tls.crt"},
                    "privateKey": {"@type": "File", "filePath": f"{TLS_MOUNT}/tls.key"},
                }
            },
        }
    ]


RELOAD_TLS = {
    "@type": "create",
    "object": "Action",
    "value": {"reloadTls": {"@type": "ReloadTlsCertificates"}},
}


RELOAD_PLAN: list[dict[str, Any]] = [
    # Settings objects take effect on a reload (crates/jmap/src/registry/mapping/action.rs);
    # `apply` never reloads and runs reconcile removals after every other op, so this is its own
    # plan, applied second. Listener sockets are only bound at start (common/src/cache/reload.rs).
    {"@type": "create", "object": "Action", "value": {"reload": {"@type": "ReloadSettings"}}},
]


def to_ndjson(operations: list[dict[str, Any]]) -> str:
    """One operation a line, keys sorted: the same plan gives the same bytes on every run."""
    return "".join(
        json.dumps(op, sort_keys=True, separators=(",", ":")) + "\n" for op in operations
    )
