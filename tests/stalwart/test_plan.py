"""Stalwart v0.16's plan and config.json: what they say, and that they fit the server's schema."""

from __future__ import annotations

import copy
import json

import pytest

from components.stalwart.v016 import plan
from offline.stalwart_schema import load_schema, plan_problems
from settings.model import Relay
from tests.conftest import DEFAULT_MECHANISMS, DEFAULT_RELAY

INPUTS = plan.PlanInputs("example.com", "mail.example.com", DEFAULT_RELAY, DEFAULT_MECHANISMS)


def ops(inputs: plan.PlanInputs = INPUTS) -> list[dict]:
    return plan.render_plan(inputs)


def by_object(operations: list[dict]) -> dict[str, dict]:
    return {op["object"]: op for op in operations}


def test_the_plan_and_the_reload_fit_the_servers_schema():
    assert plan_problems(ops()) == []
    assert plan_problems(plan.RELOAD_PLAN) == []


def test_the_vendored_schema_is_the_servers_own():
    schema = load_schema()
    assert {"objects", "schemas", "fields", "enums"} <= set(schema)
    assert "x:NetworkListener" in schema["objects"]


@pytest.mark.parametrize(
    ("mutate", "says"),
    [
        (lambda p: p[0].update(object="Domian"), "unknown object type 'Domian'"),
        (lambda p: p[0]["value"]["domain"].update(nmae="x"), "unknown property 'nmae'"),
        (
            lambda p: p[0]["value"]["domain"].update(dkimManagement={"@type": "Manul"}),
            "@type 'Manul' is not one of",
        ),
        (
            lambda p: by_object(p)["NetworkListener"]["value"]["http"].update(protocol="https"),
            "'https' is not one of",
        ),
        (
            lambda p: by_object(p)["NetworkListener"]["value"]["http"].update(bind=["[::]:8080"]),
            "must be a JSON object",
        ),
        (
            lambda p: by_object(p)["MtaRoute"]["value"]["relay"].update(port=70000),
            "is outside 1..65535",
        ),
        (
            lambda p: by_object(p)["MtaStageAuth"]["value"].update(saslMechanisms="[plain]"),
            "must be an object",
        ),
        (lambda p: p[0].update(op="upsert"), "unknown plan key(s) ['op']"),
        (lambda p: p[0].pop("matchOn"), "needs matchOn"),
        (lambda p: p[1].update(**{"@type": "upsert"}), "use update"),
        (lambda p: p[0]["value"]["domain"].update(createdAt="2026"), "is set by the server"),
        (
            lambda p: by_object(p)["Http"]["value"].update(useXForwarded="yes"),
            "must be true or false",
        ),
    ],
)
def test_the_schema_check_fails_on_a_typo(mutate, says):
    broken = copy.deepcopy(ops())
    mutate(broken)
    problems = plan_problems(broken)
    assert problems and any(says in line for line in problems), problems


def test_config_json_is_rocksdb_on_the_claim():
    assert json.loads(plan.config_json()) == {"@type": "RocksDb", "path": "/var/lib/stalwart/data"}


def test_the_domain_is_signed_by_the_relay_not_by_stalwart():
    domain = by_object(ops())["Domain"]
    assert domain["@type"] == "upsert"
    assert domain["value"]["domain"] == {
        "name": "example.com",
        "dkimManagement": {"@type": "Manual"},
    }


def test_the_hostname_and_default_domain_are_set_together():
    settings = by_object(ops())["SystemSettings"]["value"]
    assert settings == {"defaultHostname": "mail.example.com", "defaultDomainId": "#domain"}


def test_listeners_are_owned_whole_submission_without_tls():
    listeners = by_object(ops())["NetworkListener"]
    assert listeners["@type"] == "reconcile" and listeners["matchOn"] == ["name"]
    value = listeners["value"]
    assert set(value) == {"submission", "imaps", "http", "metrics"}
    assert (value["metrics"]["protocol"], value["metrics"]["bind"]) == ("http", {"[::]:9090": True})
    assert value["submission"]["bind"] == {"[::]:587": True}
    assert (value["submission"]["useTls"], value["submission"]["protocol"]) == (False, "smtp")
    assert (value["imaps"]["tlsImplicit"], value["imaps"]["bind"]) == (True, {"[::]:993": True})
    assert value["http"]["bind"] == {"[::]:8080": True}


def test_plain_and_login_are_offered_on_587_without_tls():
    inputs = plan.PlanInputs("example.com", "m.example.com", DEFAULT_RELAY, ("plain", "login"))
    mechanisms = by_object(ops(inputs))["MtaStageAuth"]["value"]["saslMechanisms"]
    assert mechanisms == {
        "match": {"0": {"if": "local_port != 25", "then": "[plain, login]"}},
        "else": "false",
    }


def test_the_relay_route_reads_its_password_from_the_mounted_secret():
    routes = by_object(ops())["MtaRoute"]
    assert routes["@type"] == "reconcile"
    relay = routes["value"]["relay"]
    assert relay == {
        "@type": "Relay",
        "name": "relay",
        "address": "smtp.resend.com",
        "port": 465,
        "protocol": "smtp",
        "implicitTls": True,
        "authUsername": "resend",
        "authSecret": {"@type": "File", "filePath": "/run/secrets/mailstack/relay-password"},
    }
    assert routes["value"]["local"] == {"@type": "Local", "name": "local"}


def test_a_starttls_relay_on_587():
    inputs = plan.PlanInputs(
        "example.com", "m.example.com", Relay("smtp.example.net", 587, "u", False), ("plain",)
    )
    relay = by_object(ops(inputs))["MtaRoute"]["value"]["relay"]
    assert (relay["address"], relay["port"], relay["implicitTls"]) == (
        "smtp.example.net",
        587,
        False,
    )


def test_local_domains_are_local_everything_else_goes_to_the_relay():
    strategy = by_object(ops())["MtaOutboundStrategy"]["value"]["route"]
    assert strategy == {
        "match": {"0": {"if": "is_local_domain(rcpt_domain)", "then": "'local'"}},
        "else": "'relay'",
    }


def test_logs_go_to_stdout_only():
    tracer = by_object(ops())["Tracer"]
    assert tracer["@type"] == "reconcile"
    assert [body["@type"] for body in tracer["value"].values()] == ["Stdout"]


def test_the_first_start_downloads_are_decided():
    decided = by_object(ops())
    assert decided["Asn"]["value"] == {"@type": "Disabled"}
    assert decided["SpamSettings"]["value"] == {"enable": False, "spamFilterRulesUrl": None}
    assert decided["SpamPyzor"]["value"] == {"enable": False}
    assert "Application" not in decided  # the WebUI keeps its default: the ingresses serve it


def test_the_reload_is_its_own_plan():
    assert plan.RELOAD_PLAN == [
        {"@type": "create", "object": "Action", "value": {"reload": {"@type": "ReloadSettings"}}}
    ]


def test_the_plan_is_the_same_bytes_every_time():
    assert plan.to_ndjson(ops()) == plan.to_ndjson(ops())
    lines = plan.to_ndjson(ops()).splitlines()
    assert [json.loads(line) for line in lines] == ops()


def test_the_client_address_is_the_one_the_ingress_forwards_and_metrics_stay_on_9090():
    # Only the ingress controllers and the stack's Jobs reach 8080 (the NetworkPolicy), so the
    # forwarded address is trusted; otherwise one auto-ban of the proxy locks every web user out.
    http = by_object(ops())["Http"]["value"]
    assert http["useXForwarded"] is True
    assert http["allowedEndpoints"] == {
        "match": {
            "0": {
                "if": "starts_with(path, '/metrics') && listener != 'metrics'",
                "then": "403",
            },
            "1": {
                "if": "listener == 'metrics' && !starts_with(path, '/metrics')",
                "then": "403",
            },
        },
        "else": "200",
    }


def test_prometheus_is_enabled_behind_basic_auth_read_from_the_pods_secret():
    assert by_object(ops())["Metrics"]["value"] == {
        "prometheus": {
            "@type": "Enabled",
            "authUsername": "prometheus",
            "authSecret": {"@type": "File", "filePath": "/run/secrets/mailstack/metrics-password"},
        }
    }
