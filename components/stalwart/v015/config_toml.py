"""Stalwart v0.15's config.toml, as pure functions (no Pulumi calls).

The rendered file carries no secret: the admin hash and the Resend API key are read by Stalwart
from files of a mounted Kubernetes Secret through its `%{file:...}%` macro, so the file can live
in a ConfigMap and every change to it is readable in `pulumi preview`.
"""

from __future__ import annotations

import fnmatch
from typing import Any

import tomlkit

from components.stalwart.endpoints import (
    ADMIN_USER,
    HTTP_PORT,
    IMAPS_PORT,
    METRICS_LISTENER,
    METRICS_PORT,
    METRICS_SECRET_FILE,
    METRICS_USER,
    SUBMISSION_PORT,
)
from settings.model import Relay

DATA_MOUNT = "/opt/stalwart"  # the image's base path (v0.11+); RocksDB lives below it
CONFIG_PATH = f"{DATA_MOUNT}/etc/config.toml"
SECRETS_MOUNT = "/run/secrets/mailstack"
ADMIN_SECRET_FILE = "admin-secret-hash"
RELAY_SECRET_FILE = "resend-api-key"

STORE_ID = "rocksdb"
METRICS_ELSEWHERE_V015 = f"starts_with(url_path, '/metrics') && listener != '{METRICS_LISTENER}'"
DIRECTORY_ID = "internal"


# Stalwart's own `config.local-keys` defaults (crates/common/src/manager/config.rs,
# Patterns::parse, v0.15.5). Setting any local key replaces this list, so it is re-included.
DEFAULT_LOCAL_KEYS = (
    "store.*",
    "directory.*",
    "tracer.*",
    "!server.blocked-ip.*",
    "!server.allowed-ip.*",
    "server.*",
    "certificate.*",
    "config.local-keys.*",
    "authentication.fallback-admin.*",
    "cluster.*",
    "storage.data",
    "storage.blob",
    "storage.lookup",
    "storage.fts",
    "storage.directory",
    "enterprise.license-key",
)
# What the program sets beyond those defaults. Local keys ignore database copies, so a stale
# `queue.strategy.route.0002.then` in RocksDB can no longer corrupt the file's list (the runbook's
# "delete DB keys and restart"). Plain `prefix.*` patterns only: mid-string globs on array keys
# are unreliable (stalwart#1926), and `queue.route.resend.*` rather than `queue.route.*` keeps
# the `local`/`mx` routes Stalwart writes on first boot out of the file.
PROGRAM_LOCAL_KEYS = (
    "http.use-x-forwarded",
    "http.allowed-endpoint.*",
    "metrics.prometheus.*",
    "session.auth.mechanisms.*",
    "session.data.add-headers.date",
    "session.data.add-headers.message-id",
    "queue.strategy.route.*",
    "queue.route.resend.*",
)


def is_local_key(key: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Stalwart's rule: local if some pattern includes the key and no `!pattern` excludes it.

    Forms: `*` (all), `prefix.*` (starts with `prefix.`), `*suffix`, other globs, exact.
    """
    included = False
    for raw in patterns:
        pattern = raw.strip().lower()
        exclude = pattern.startswith("!")
        if _matches(pattern.removeprefix("!"), key):
            if exclude:
                return False
            included = True
    return included


def _matches(pattern: str, key: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*") and "*" not in pattern[:-1]:
        return key.startswith(pattern[:-1])
    if pattern.startswith("*") and "*" not in pattern[1:]:
        return key.endswith(pattern[1:])
    if "*" in pattern:
        return fnmatch.fnmatchcase(key, pattern)
    return key == pattern


def flatten_keys(value: Any, prefix: str = "") -> dict[str, Any]:
    """The keys Stalwart sees in a TOML document: dotted, array items numbered 0000, 0001..."""
    flat: dict[str, Any] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            flat.update(flatten_keys(item, f"{prefix}.{key}" if prefix else key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            flat.update(flatten_keys(item, f"{prefix}.{index:04d}"))
    else:
        flat[prefix] = value
    return flat


def secret_file_macro(file_name: str) -> str:
    """Stalwart's macro that reads a value from a file of the mounted Secret at load time."""
    return f"%{{file:{SECRETS_MOUNT}/{file_name}}}%"


def render_config(relay: Relay, auth_mechanisms: tuple[str, ...], hostname: str) -> dict[str, Any]:
    """The config as a TOML-ready mapping; same keys and semantics as the runbook's snippets."""
    return {
        # Every key below is local: what this file says is what Stalwart runs after a restart.
        "config": {"local-keys": [*DEFAULT_LOCAL_KEYS, *PROGRAM_LOCAL_KEYS]},
        "server": {
            # Without it Stalwart names itself after the pod (crates/common/src/config/
            # network.rs falls back to the OS hostname) in EHLO to the relay, Message-ID and
            # Received:.
            "hostname": hostname,
            "listener": {
                "http": {"bind": f"[::]:{HTTP_PORT}", "protocol": "http"},
                # Cluster-internal submission without TLS. The runbook's `auth.require-tls = false`
                # here is not a Stalwart key (no reader in v0.15.5); PLAIN/LOGIN without TLS are
                # allowed by `session.auth.mechanisms` below, whose default requires `is_tls`.
                # No STARTTLS either (`tls.enable` defaults to true, listener.rs): offered, it
                # would present a self-signed certificate that changes at every start, which a
                # client that upgrades opportunistically (Grafana, Go's net/smtp) refuses.
                "submission": {
                    "bind": f"[::]:{SUBMISSION_PORT}",
                    "protocol": "smtp",
                    "tls": {"enable": False},
                },
                "imap": {
                    "bind": f"[::]:{IMAPS_PORT}",
                    "protocol": "imap",
                    "tls": {"implicit": True},
                },
                METRICS_LISTENER: {"bind": f"[::]:{METRICS_PORT}", "protocol": "http"},
            },
        },
        # Prometheus' endpoint (crates/common/src/config/telemetry.rs, v0.15.5): Basic auth only
        # when both username and secret are set, so both always are.
        "metrics": {
            "prometheus": {
                "enable": True,
                "auth": {
                    "username": METRICS_USER,
                    "secret": secret_file_macro(METRICS_SECRET_FILE),
                },
            }
        },
        # Web clients reach 8080 only through the ingress controllers (the NetworkPolicy), so
        # the address Stalwart bans or rate-limits is the one they forward, not the proxy's own
        # (one auto-ban of the proxy would lock every web user out). docs/explanation/security.md,
        # "Client addresses".
        "http": {
            "use-x-forwarded": True,
            # Every http listener serves every HTTP path; /metrics only on the metrics one
            # (variables `url_path`, `listener`: crates/common/src/config/network.rs HTTP_VARS).
            "allowed-endpoint": [
                {"if": METRICS_ELSEWHERE_V015, "then": "403"},
                {"else": "200"},
            ],
        },
        "session": {
            "auth": {
                # PLAIN/LOGIN on 587 without TLS; Stalwart's default offers them only when
                # `is_tls` (crates/common/src/config/smtp/session.rs), so without this block
                # in-cluster clients see "No suitable authentication method".
                "mechanisms": [
                    {"if": "local_port != 25", "then": f"[{', '.join(auth_mechanisms)}]"},
                    {"else": "false"},
                ],
            },
            # A submission that lacks Date or Message-ID gets them (RFC 6409 section 8.3, 8.4);
            # the default adds them on port 25 only, so mail from 587 left without (seen on the
            # real v0.15.5). Received: stays off: it would carry the cluster's pod addresses.
            "data": {"add-headers": {"date": True, "message-id": True}},
        },
        # Every store role must name a configured store: with one missing, Stalwart disables all
        # of them and /healthz/ready never turns 200 (crates/common/src/config/mod.rs,
        # Core::parse). The values are those of Stalwart's own quickstart config (boot.rs).
        "storage": {
            "data": STORE_ID,
            "blob": STORE_ID,
            "lookup": STORE_ID,
            "fts": STORE_ID,
            "directory": DIRECTORY_ID,
        },
        "store": {
            STORE_ID: {
                "type": "rocksdb",
                "path": f"{DATA_MOUNT}/data",
                # The quickstart's choice, so data written by a quickstart-born install reads
                # back; an lz4 store also reads blobs written without compression (blob.rs).
                "compression": "lz4",
            }
        },
        "directory": {DIRECTORY_ID: {"type": "internal", "store": STORE_ID}},
        # Without a tracer Stalwart logs to the console with ANSI colours; plain lines read better
        # in `kubectl logs`.
        "tracer": {"stdout": {"type": "stdout", "level": "info", "ansi": False, "enable": True}},
        "authentication": {
            "fallback-admin": {
                "user": ADMIN_USER,
                "secret": secret_file_macro(ADMIN_SECRET_FILE),
            },
        },
        "queue": {
            "strategy": {
                # Local domains are delivered to mailboxes; everything else goes to the relay.
                # Without this Stalwart tries direct MX delivery, which port 25 blocks.
                "route": [
                    {"if": "is_local_domain('', rcpt_domain)", "then": "'local'"},
                    {"else": "'resend'"},
                ],
            },
            "route": {
                "resend": {
                    "type": "relay",
                    "address": relay.host,
                    "port": relay.port,
                    "protocol": "smtp",
                    "tls": {"implicit": relay.implicit_tls},
                    "auth": {
                        "username": relay.username,
                        "secret": secret_file_macro(RELAY_SECRET_FILE),
                    },
                },
            },
        },
    }


def render_toml(config: dict[str, Any]) -> str:
    header = (
        "# Rendered by mailstack (Pulumi). Do not edit: the pod copies this file into place on\n"
        "# every start. Secrets are read from the mounted Secret through %{file:...}% macros.\n"
    )
    # tomlkit writes arrays of tables as `[[queue.strategy.route]]` blocks, the layout of the
    # runbook and of Stalwart's own examples (tomli-w would inline short ones).
    document = tomlkit.item(config)
    local_keys = document.get("config", {}).get("local-keys")
    if isinstance(local_keys, tomlkit.items.Array):
        local_keys.multiline(True)
    return header + tomlkit.dumps(document)
