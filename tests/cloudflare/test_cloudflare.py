"""Tunnel route, Email Routing and Resend DNS: exact inputs, order, dependencies, bad settings."""

from __future__ import annotations

import json

import pulumi._types
import pulumi_cloudflare as cloudflare
import pytest

from components.cloudflare.email_routing import unverified_warning
from components.cloudflare.resend_dns import resend_records
from components.cloudflare.tunnel_route import IngressRule, tunnel_ingresses
from settings import SettingsError
from settings.model import TunnelRoute as TunnelRouteSetting
from settings.rules.cloudflare import ORIGIN_REQUEST_KEYS
from tests.conftest import ACCOUNT_ID, DKIM, TUNNEL_ID, ZONE_ID, refusals, stack_run

DNS = "cloudflare:index/dnsRecord:DnsRecord"
TUNNEL_CONFIG = (
    "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig",
    "webmail-tunnel-config",
)
SETTINGS = ("cloudflare:index/emailRoutingSettings:EmailRoutingSettings", "email-routing-settings")
ROUTING_DNS = ("cloudflare:index/emailRoutingDns:EmailRoutingDns", "email-routing-dns")
ADDRESS = (
    "cloudflare:index/emailRoutingAddress:EmailRoutingAddress",
    "email-routing-admin-address",
)
CATCH_ALL = (
    "cloudflare:index/emailRoutingCatchAll:EmailRoutingCatchAll",
    "email-routing-catch-all",
)
TRAEFIK = "http://traefik.kube-system.svc.cluster.local:80"
COMMENT = "managed by Pulumi mailstack/prod: edits are reverted"

OTHER_ROUTES = [
    {"hostname": "auth.example.com", "service": TRAEFIK},
    {
        "hostname": "nas.example.com",
        "service": "https://10.0.0.5:5001",
        "path": "/photos",
        "originRequest": {"noTlsVerify": True, "httpHostHeader": "nas.local"},
    },
]


# --- pure record table and ingress list -------------------------------------------------------


def test_resend_record_table_matches_the_runbook():
    records = resend_records("example.com", DKIM, "us-east-1", "v=DMARC1; p=none;")
    assert [(r.key, r.name, r.type, r.content, r.priority, r.ttl, r.proxied) for r in records] == [
        ("dkim", "resend._domainkey.example.com", "TXT", DKIM, None, 1, False),
        (
            "bounce-mx",
            "send.example.com",
            "MX",
            "feedback-smtp.us-east-1.amazonses.com",
            10,
            1,
            False,
        ),
        ("spf", "send.example.com", "TXT", "v=spf1 include:amazonses.com ~all", None, 1, False),
        ("dmarc", "_dmarc.example.com", "TXT", "v=DMARC1; p=none;", None, 1, False),
    ]


def test_resend_region_picks_the_bounce_host():
    mx = resend_records("example.org", DKIM, "eu-west-1", "v=DMARC1; p=none;")[1]
    assert mx.content == "feedback-smtp.eu-west-1.amazonses.com"


def test_ingress_list_keeps_other_routes_then_webmail_then_one_final_404():
    others = (
        TunnelRouteSetting("a.example.com", TRAEFIK, None, None),
        TunnelRouteSetting("b.example.com", "http://b:1", None, None),
    )
    rules = tunnel_ingresses(others, "mail.example.com", TRAEFIK)
    assert rules == [
        IngressRule(TRAEFIK, "a.example.com"),
        IngressRule("http://b:1", "b.example.com"),
        IngressRule(TRAEFIK, "mail.example.com"),
        IngressRule("http_status:404"),
    ]


def test_ingress_list_without_other_routes_is_webmail_and_404():
    rules = tunnel_ingresses((), "mail.example.com", TRAEFIK)
    assert [r.hostname for r in rules] == ["mail.example.com", None]


def test_origin_request_names_follow_the_provider():
    # A provider upgrade that renames a field must fail here, not at `pulumi up`.
    names = pulumi._types.input_type_py_to_pulumi_names(
        cloudflare.ZeroTrustTunnelCloudflaredConfigConfigIngressOriginRequestArgs
    )
    assert {camel: snake for snake, camel in names.items()} == ORIGIN_REQUEST_KEYS


# --- the components under the mock runtime ----------------------------------------------------


def test_tunnel_config_owns_the_whole_ingress_list_in_order(run_stack):
    run = run_stack({"mailstack:tunnelRoutes": OTHER_ROUTES})
    config = run.get(*TUNNEL_CONFIG).inputs
    assert (config["accountId"], config["tunnelId"]) == (ACCOUNT_ID, TUNNEL_ID)
    assert config["config"] == {
        "ingresses": [
            {"hostname": "auth.example.com", "service": TRAEFIK},
            {
                "hostname": "nas.example.com",
                "service": "https://10.0.0.5:5001",
                "path": "/photos",
                "originRequest": {"noTlsVerify": True, "httpHostHeader": "nas.local"},
            },
            {"hostname": "mail.example.com", "service": TRAEFIK},
            {"service": "http_status:404"},
        ]
    }


def test_tunnel_origin_setting_is_the_webmail_service(run_stack):
    run = run_stack({"mailstack:tunnelOrigin": "https://traefik.kube-system.svc:443"})
    ingresses = run.get(*TUNNEL_CONFIG).inputs["config"]["ingresses"]
    assert ingresses[0] == {
        "hostname": "mail.example.com",
        "service": "https://traefik.kube-system.svc:443",
    }


def test_webmail_cname_points_at_the_tunnel_proxied(default_run):
    cname = default_run.get(DNS, "webmail-tunnel-cname")
    assert cname.inputs == {
        "zoneId": ZONE_ID,
        "name": "mail.example.com",
        "type": "CNAME",
        "content": f"{TUNNEL_ID}.cfargotunnel.com",
        "ttl": 1,
        "proxied": True,
        "comment": COMMENT,
    }
    assert cname.delete_before_replace


@pytest.mark.parametrize(
    ("name", "record_name", "record_type", "content", "priority"),
    [
        ("resend-dns-dkim", "resend._domainkey.example.com", "TXT", DKIM, None),
        (
            "resend-dns-bounce-mx",
            "send.example.com",
            "MX",
            "feedback-smtp.us-east-1.amazonses.com",
            10,
        ),
        ("resend-dns-spf", "send.example.com", "TXT", "v=spf1 include:amazonses.com ~all", None),
        ("resend-dns-dmarc", "_dmarc.example.com", "TXT", "v=DMARC1; p=none;", None),
    ],
)
def test_resend_records_are_unproxied_automatic_ttl_and_commented(
    default_run, name, record_name, record_type, content, priority
):
    record = default_run.get(DNS, name)
    expected = {
        "zoneId": ZONE_ID,
        "name": record_name,
        "type": record_type,
        "content": content,
        "ttl": 1,
        "proxied": False,
        "comment": COMMENT,
    }
    if priority is not None:
        expected["priority"] = priority
    assert record.inputs == expected
    assert record.delete_before_replace


def test_all_dns_records_are_exactly_these_five(default_run):
    assert sorted(r.name for r in default_run.by_type(DNS)) == [
        "resend-dns-bounce-mx",
        "resend-dns-dkim",
        "resend-dns-dmarc",
        "resend-dns-spf",
        "webmail-tunnel-cname",
    ]


def test_structured_dmarc_is_rendered_to_the_record(run_stack):
    run = run_stack({"mailstack:dmarc": {"policy": "quarantine", "rua": "dmarc@example.net"}})
    assert run.get(DNS, "resend-dns-dmarc").inputs["content"] == (
        "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.net;"
    )


def test_dmarc_string_from_the_cli_is_kept(run_stack):
    run = run_stack({"mailstack:dmarc": "v=DMARC1; p=reject; rua=mailto:d@example.net;"})
    assert run.get(DNS, "resend-dns-dmarc").inputs["content"] == (
        "v=DMARC1; p=reject; rua=mailto:d@example.net;"
    )


def test_email_routing_settings_dns_and_destination(default_run):
    assert default_run.get(*SETTINGS).inputs == {"zoneId": ZONE_ID}
    assert default_run.get(*ROUTING_DNS).inputs == {"zoneId": ZONE_ID, "name": "example.com"}
    assert default_run.get(*ADDRESS).inputs == {"accountId": ACCOUNT_ID, "email": "owner@gmail.com"}


def test_catch_all_forwards_everything_to_the_destination_after_the_settings(default_run):
    catch_all = default_run.get(*CATCH_ALL)
    assert catch_all.inputs == {
        "zoneId": ZONE_ID,
        "name": "Forward all to admin",
        "enabled": True,
        "matchers": [{"type": "all"}],
        "actions": [{"type": "forward", "values": ["owner@gmail.com"]}],
    }
    depends = {default_run.name_of(urn) for urn in catch_all.depends_on}
    assert depends == {"email-routing-settings", "email-routing-dns"}
    assert {default_run.name_of(u) for u in default_run.get(*ROUTING_DNS).depends_on} == {
        "email-routing-settings"
    }


def test_the_routing_records_are_never_unlocked_by_an_update_of_the_name(default_run):
    # The provider's Update of EmailRoutingDns is Cloudflare's "Unlock MX Records" call.
    assert default_run.get(*ROUTING_DNS).ignore_changes == ["name"]


def test_unverified_destination_is_an_output_and_a_warning(default_run):
    assert default_run.outputs["adminEmailVerified"] is False
    assert ("warning", unverified_warning("owner@gmail.com")) in default_run.logs


def test_verified_destination_gives_no_warning():
    from offline.harness import run_program
    from tests.conftest import BASE_CONFIG, SECRET_KEYS

    run = run_program(
        BASE_CONFIG,
        SECRET_KEYS,
        provider_state={ADDRESS[0]: {"verified": "2026-11-20T10:00:00Z"}},
    )
    assert run.outputs["adminEmailVerified"] is True
    assert not [message for level, message in run.logs if level == "warning"]


def test_every_cloudflare_resource_has_a_stable_logical_name(default_run):
    names = {r.name for r in default_run.resources if r.type.startswith("cloudflare:")}
    assert names == {
        "webmail-tunnel-config",
        "webmail-tunnel-cname",
        "email-routing-settings",
        "email-routing-dns",
        "email-routing-admin-address",
        "email-routing-catch-all",
        "resend-dns-dkim",
        "resend-dns-bounce-mx",
        "resend-dns-spf",
        "resend-dns-dmarc",
    }


# --- bad settings -----------------------------------------------------------------------------


def test_origin_request_typo_suggests_the_provider_name():
    (problem,) = refusals(
        {
            "mailstack:tunnelRoutes": [
                {
                    "hostname": "a.example.com",
                    "service": TRAEFIK,
                    "originRequest": {"noTLSVerify": True},
                }
            ]
        }
    )
    assert "use 'noTlsVerify'" in problem


@pytest.mark.parametrize(
    "key",
    ["cloudflareAccountId", "cloudflareZoneId", "tunnelId", "adminEmail", "resendDkimRecord"],
)
def test_required_cloudflare_settings(key):
    run = stack_run(remove=(f"mailstack:{key}",), check=False)
    assert isinstance(run.error, SettingsError)
    (problem,) = run.error.problems
    assert problem.startswith(f"mailstack:{key}: is required but not set.")


def test_tunnel_routes_given_as_json_text_like_the_cli_writes(run_stack):
    run = run_stack({"mailstack:tunnelRoutes": json.dumps(OTHER_ROUTES[:1])})
    hosts = [i.get("hostname") for i in run.get(*TUNNEL_CONFIG).inputs["config"]["ingresses"]]
    assert hosts == ["auth.example.com", "mail.example.com", None]
