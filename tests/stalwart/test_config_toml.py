"""config.toml and the admin hash, checked against real references: tomllib, openssl, passlib."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from passlib.hash import sha512_crypt

from components import credentials
from components.stalwart.v015 import config_toml as sc
from settings.model import Relay
from tests.conftest import DEFAULT_MECHANISMS, DEFAULT_RELAY

RUNBOOK_CONFIG = Path(__file__).resolve().parents[1] / "fixtures" / "runbook-config.toml"
# Not a Stalwart key: v0.15.5 has no reader for it (docs/explanation/design-notes.md); the program
# drops it.
DEAD_RUNBOOK_KEYS = {"server.listener.submission.auth.require-tls"}
# What the runbook's snippets left out but Stalwart cannot start without (every store role must
# name a store; Core::parse), as Stalwart's quickstart writes them, plus a plain stdout tracer.
REQUIRED_BEYOND_RUNBOOK = {
    "storage.data": "rocksdb",
    "storage.blob": "rocksdb",
    "storage.lookup": "rocksdb",
    "storage.fts": "rocksdb",
    "storage.directory": "internal",
    "directory.internal.type": "internal",
    "directory.internal.store": "rocksdb",
    "store.rocksdb.compression": "lz4",
    "tracer.stdout.type": "stdout",
    "tracer.stdout.level": "info",
    "tracer.stdout.ansi": False,
    "tracer.stdout.enable": True,
}
# What the runbook got wrong for a server behind proxies with in-cluster clients (issue 13, read in
# v0.15.5's source): the pod name as hostname, a self-signed STARTTLS on 587, the proxy's address.
FIXED_BEYOND_RUNBOOK = {
    "server.hostname": "mail.example.com",
    "server.listener.submission.tls.enable": False,
    "http.use-x-forwarded": True,
    # Seen on the real v0.15.5: a 587 submission left without Date and Message-ID.
    "session.data.add-headers.date": True,
    "session.data.add-headers.message-id": True,
}
# Prometheus on a listener of its own, behind Basic auth, and /metrics refused elsewhere
# (issue 16; keys read in v0.15.5's telemetry.rs and network.rs).
METRICS_BEYOND_RUNBOOK = {
    "server.listener.metrics.bind": "[::]:9090",
    "server.listener.metrics.protocol": "http",
    "metrics.prometheus.enable": True,
    "metrics.prometheus.auth.username": "prometheus",
    "metrics.prometheus.auth.secret": "%{file:/run/secrets/mailstack/metrics-password}%",
    "http.allowed-endpoint.0000.if": "starts_with(url_path, '/metrics') && listener != 'metrics'",
    "http.allowed-endpoint.0000.then": "403",
    "http.allowed-endpoint.0001.else": "200",
}
SECRET_KEYS = {"authentication.fallback-admin.secret", "queue.route.resend.auth.secret"}


flatten = sc.flatten_keys

# Written into the database by Stalwart's first boot (boot.rs), never set by the program: if one
# of them were local, Stalwart would write it into config.toml instead.
FIRST_BOOT_KEYS = [
    "queue.route.local.type",
    "queue.route.mx.type",
    "queue.route.mx.limits.mx",
    "queue.schedule.default.retry.0000",
    "queue.tls.default.starttls",
    "queue.tls.invalid-tls.allow-invalid-certs",
    "queue.virtual.local.threads-per-node",
    "queue.quota.size.messages",
    "queue.limiter.inbound.ip.rate",
    "queue.connection.default.timeout.connect",
    "report.analysis.addresses",
    "oauth.key",
]


@pytest.fixture(scope="module")
def rendered() -> dict[str, Any]:
    return tomllib.loads(
        sc.render_toml(sc.render_config(DEFAULT_RELAY, DEFAULT_MECHANISMS, "mail.example.com"))
    )


def test_rendered_toml_parses_back_to_the_rendered_mapping(rendered):
    assert rendered == sc.render_config(DEFAULT_RELAY, DEFAULT_MECHANISMS, "mail.example.com")


def test_rendered_keys_equal_the_runbooks_but_its_dead_key_plus_local_keys(rendered):
    runbook = flatten(tomllib.loads(RUNBOOK_CONFIG.read_text()))
    ours = {k for k in flatten(rendered) if not k.startswith("config.local-keys.")}
    assert ours == (set(runbook) - DEAD_RUNBOOK_KEYS) | set(REQUIRED_BEYOND_RUNBOOK) | set(
        FIXED_BEYOND_RUNBOOK
    ) | set(METRICS_BEYOND_RUNBOOK)


def test_every_store_role_names_a_configured_store(rendered):
    # With one role missing or dangling Stalwart disables every store and never gets ready.
    flat = flatten(rendered)
    for role in ("data", "blob", "lookup", "fts"):
        assert flat[f"storage.{role}"] in rendered["store"], role
    assert flat["storage.directory"] in rendered["directory"]
    assert rendered["directory"]["internal"]["store"] in rendered["store"]


def test_keys_beyond_the_runbook_have_the_quickstart_values(rendered):
    flat = flatten(rendered)
    assert {key: flat[key] for key in REQUIRED_BEYOND_RUNBOOK} == REQUIRED_BEYOND_RUNBOOK
    assert {key: flat[key] for key in FIXED_BEYOND_RUNBOOK} == FIXED_BEYOND_RUNBOOK
    assert {key: flat[key] for key in METRICS_BEYOND_RUNBOOK} == METRICS_BEYOND_RUNBOOK


def test_every_rendered_key_is_local(rendered):
    patterns = rendered["config"]["local-keys"]
    not_local = [key for key in flatten(rendered) if not sc.is_local_key(key, patterns)]
    assert not_local == []


def test_local_keys_reinclude_all_of_stalwarts_defaults(rendered):
    assert set(sc.DEFAULT_LOCAL_KEYS) <= set(rendered["config"]["local-keys"])


@pytest.mark.parametrize("key", FIRST_BOOT_KEYS)
def test_no_first_boot_default_key_is_made_local(rendered, key):
    assert not sc.is_local_key(key, rendered["config"]["local-keys"])


def test_blocked_and_allowed_ips_stay_in_the_database(rendered):
    patterns = rendered["config"]["local-keys"]
    assert not sc.is_local_key("server.blocked-ip.10.0.0.1", patterns)
    assert not sc.is_local_key("server.allowed-ip.10.0.0.2", patterns)
    assert sc.is_local_key("server.listener.http.bind", patterns)


@pytest.mark.parametrize(
    ("key", "patterns", "expected"),
    [
        ("anything.at.all", ["*"], True),
        ("queue.route.resend.port", ["queue.route.resend.*"], True),
        ("queue.route.resendx.port", ["queue.route.resend.*"], False),
        ("queue.route.resend", ["queue.route.resend.*"], False),
        ("tracer.log.level", ["*.level"], True),
        ("storage.data", ["storage.data"], True),
        ("storage.database", ["storage.data"], False),
        ("server.blocked-ip.1", ["server.*", "!server.blocked-ip.*"], False),
        ("server.blocked-ip.1", ["!server.blocked-ip.*", "server.*"], False),
        ("a.b.c", ["a.*.c"], True),
        ("STORE.X", ["Store.*"], False),
        ("store.x", [" Store.* "], True),
    ],
)
def test_local_key_patterns_follow_stalwart_semantics(key, patterns, expected):
    assert sc.is_local_key(key, patterns) is expected


def test_rendered_values_equal_the_runbooks_but_the_secrets(rendered):
    runbook = flatten(tomllib.loads(RUNBOOK_CONFIG.read_text()))
    ours = {k: v for k, v in flatten(rendered).items() if not k.startswith("config.local-keys.")}
    beyond = {*REQUIRED_BEYOND_RUNBOOK, *FIXED_BEYOND_RUNBOOK, *METRICS_BEYOND_RUNBOOK}
    for key in set(ours) - SECRET_KEYS - beyond:
        assert ours[key] == runbook[key], key


def test_secrets_are_file_macros_of_the_mounted_secret(rendered):
    flat = flatten(rendered)
    assert flat["authentication.fallback-admin.secret"] == (
        "%{file:/run/secrets/mailstack/admin-secret-hash}%"
    )
    assert flat["queue.route.resend.auth.secret"] == (
        "%{file:/run/secrets/mailstack/resend-api-key}%"
    )


def test_relay_uses_implicit_tls_on_465(rendered):
    relay = rendered["queue"]["route"]["resend"]
    assert (relay["address"], relay["port"], relay["tls"]["implicit"]) == (
        "smtp.resend.com",
        465,
        True,
    )


def test_arrays_of_tables_keep_the_runbook_layout():
    text = sc.render_toml(sc.render_config(DEFAULT_RELAY, DEFAULT_MECHANISMS, "mail.example.com"))
    assert text.count("[[queue.strategy.route]]") == 2
    assert text.count("[[session.auth.mechanisms]]") == 2


def test_relay_settings_are_rendered_from_their_arguments():
    custom = sc.render_config(
        Relay("relay.example.net", 2465, "u", True), DEFAULT_MECHANISMS, "mail.example.com"
    )
    relay = custom["queue"]["route"]["resend"]
    assert (relay["address"], relay["port"], relay["auth"]["username"]) == (
        "relay.example.net",
        2465,
        "u",
    )


@pytest.mark.parametrize(
    ("password", "salt"),
    [("correct-horse-battery-staple", "abcdefgh12345678"), ("p@ss w0rd$!", "Zz09")],
)
def test_admin_hash_equals_openssl_passwd_6(password, salt):
    expected = subprocess.run(
        ["openssl", "passwd", "-6", "-salt", salt, "-stdin"],
        input=password,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert credentials.hash_password(password, salt) == expected


def test_admin_hash_verifies_with_passlib_and_rejects_other_passwords():
    digest = credentials.hash_password("correct-horse-battery-staple", "abcdefgh12345678")
    assert sha512_crypt.verify("correct-horse-battery-staple", digest)
    assert not sha512_crypt.verify("correct-horse-battery-stapler", digest)


def test_admin_hash_uses_the_chosen_rounds():
    digest = credentials.hash_password("pw", "abcdefgh12345678")
    assert digest.startswith("$6$abcdefgh12345678$")  # 5,000 rounds is the implicit default
    assert credentials.hash_password("pw", "salt", rounds=10_000).startswith(
        "$6$rounds=10000$salt$"
    )


def test_admin_hash_refuses_an_overlong_salt():
    with pytest.raises(ValueError, match="salt"):
        credentials.hash_password("pw", "x" * 17)
