"""Every bad setting stops the program with one line naming the key and the fix,
before any resource is registered."""

from __future__ import annotations

from typing import Any

import pytest

from settings import SettingsError
from settings.formats import parse_quantity
from tests.conftest import ADMIN_PASSWORD, RESEND_KEY, SECRET_KEYS, refusals, stack_run

problems_of = refusals


def single_problem(overrides: dict[str, Any], **kwargs: Any) -> str:
    problems = refusals(overrides, **kwargs)
    assert len(problems) == 1, problems
    assert "\n" not in problems[0]
    return problems[0]


def test_defaults_fill_every_optional_setting(default_run):
    deployment = default_run.get("kubernetes:apps/v1:Deployment", "stalwart-deployment")
    container = deployment.inputs["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "stalwartlabs/stalwart:v0.15.5"
    claim = default_run.get("kubernetes:core/v1:PersistentVolumeClaim", "stalwart-data")
    assert claim.inputs["spec"]["storageClassName"] == "longhorn"
    assert claim.inputs["spec"]["resources"]["requests"]["storage"] == "10Gi"
    namespace = default_run.get("kubernetes:core/v1:Namespace", "stalwart-namespace")
    assert namespace.inputs["metadata"]["name"] == "stalwart"


def test_missing_domain_names_the_key_and_the_command():
    run = stack_run(remove=("mailstack:domain",), check=False)
    assert isinstance(run.error, SettingsError)
    assert run.resources == []
    (problem,) = run.error.problems
    assert problem.startswith("mailstack:domain: is required but not set.")
    assert "pulumi config set mailstack:domain" in problem


def test_missing_resend_key_asks_for_a_secret():
    run = stack_run(remove=("mailstack:resendApiKey",), check=False)
    assert isinstance(run.error, SettingsError)
    (problem,) = run.error.problems
    assert problem.startswith("mailstack:resendApiKey: is required")
    assert "pulumi config set --secret mailstack:resendApiKey" in problem


@pytest.mark.parametrize("key", ["webmailHostname", "tailnetHostname"])
def test_an_empty_hostname_means_unset_and_takes_the_default(key):
    run = stack_run({f"mailstack:{key}": ""})
    assert run.error is None


def test_hostname_with_a_dot_suggests_its_first_label():
    problem = single_problem({"mailstack:webmailHostname": "webmail.example.com"})
    assert "pulumi config set mailstack:webmailHostname webmail" in problem


def test_a_refused_image_suggests_the_default_image():
    problem = single_problem({"mailstack:image": "stalwartlabs/stalwart:latest"})
    assert "pulumi config set mailstack:image stalwartlabs/stalwart:v0.16.18" in problem


@pytest.mark.parametrize(
    "value",
    [
        "stalwartlabs/stalwart:v0.15.3",
        "ghcr.io/stalwartlabs/stalwart:v0.15.5",
        "stalwartlabs/stalwart:v0.15@sha256:" + "a" * 64,
    ],
)
def test_pinned_v015_images_are_accepted(value):
    run = stack_run({"mailstack:image": value})
    deployment = run.get("kubernetes:apps/v1:Deployment", "stalwart-deployment")
    assert deployment.inputs["spec"]["template"]["spec"]["containers"][0]["image"] == value


def test_quantities_parse_to_bytes():
    assert parse_quantity("10Gi") == 10 * 2**30
    assert parse_quantity("1.5G") == 1_500_000_000
    assert parse_quantity("20") == 20
    assert parse_quantity("10GB") is None


def test_plaintext_resend_key_is_refused_without_echoing_it():
    problem = single_problem({}, secret_keys={"mailstack:adminPassword"})
    assert problem.startswith("mailstack:resendApiKey: is stored in plaintext")
    assert "pulumi config set --secret mailstack:resendApiKey" in problem
    assert RESEND_KEY not in problem


def test_plaintext_admin_password_is_refused():
    problem = single_problem(
        {"mailstack:adminPassword": ADMIN_PASSWORD}, secret_keys={"mailstack:resendApiKey"}
    )
    assert problem.startswith("mailstack:adminPassword: is stored in plaintext")
    assert ADMIN_PASSWORD not in problem


def test_unknown_key_suggests_the_close_match():
    problem = single_problem({"mailstack:storagesize": "10Gi"})
    assert problem.startswith("mailstack:storagesize: is not a setting of this program")
    assert "did you mean 'mailstack:storageSize'?" in problem
    assert "pulumi config rm mailstack:storagesize" in problem


def test_keys_of_other_namespaces_are_not_ours_to_judge():
    stack_run(
        {"kubernetes:context": "homelab", "cloudflare:apiToken": "x"},
        secret_keys={*SECRET_KEYS, "cloudflare:apiToken"},
    )


def test_a_plaintext_cloudflare_token_is_refused_without_echoing_it():
    problem = single_problem({"cloudflare:apiToken": "cf-token-in-plaintext"})
    assert problem.startswith("cloudflare:apiToken: is stored in plaintext")
    assert "cf-token-in-plaintext" not in problem


def test_a_setting_stored_as_a_secret_is_not_written_into_plain_resources():
    problem = single_problem(
        {"mailstack:tunnelId": "c0ffee00-1234-4abc-8def-0123456789ab"},
        secret_keys={*SECRET_KEYS, "mailstack:tunnelId"},
    )
    assert "is stored as a secret, but the program writes it into plain resources" in problem
    assert "c0ffee00" not in problem


def test_every_bad_value_is_reported_at_once():
    problems = problems_of(
        {"mailstack:domain": "EXAMPLE", "mailstack:image": "stalwartlabs/stalwart:latest"}
    )
    assert [p.split(":")[1] for p in problems] == ["domain", "image"]


def test_settings_error_is_a_pulumi_run_error():
    # The Pulumi CLI prints a RunError as its message alone, without a traceback.
    import pulumi

    assert issubclass(SettingsError, pulumi.RunError)


def rendered_config(run) -> dict:
    import tomllib

    config_map = run.get("kubernetes:core/v1:ConfigMap", "stalwart-config")
    return tomllib.loads(config_map.inputs["data"]["config.toml"])


def test_relay_setting_is_the_whole_procedure_to_change_the_relay(run_stack):
    run = run_stack(
        {"mailstack:relay": {"host": "smtp.eu.example.net", "port": 587, "implicitTls": False}}
    )
    relay = rendered_config(run)["queue"]["route"]["resend"]
    assert (relay["address"], relay["port"], relay["tls"]["implicit"]) == (
        "smtp.eu.example.net",
        587,
        False,
    )
    assert relay["auth"]["username"] == "resend"


def test_auth_mechanisms_setting_renders_the_if_block(run_stack):
    run = run_stack({"mailstack:authMechanisms": ["plain", "login"]})
    mechanisms = rendered_config(run)["session"]["auth"]["mechanisms"]
    assert mechanisms == [
        {"if": "local_port != 25", "then": "[plain, login]"},
        {"else": "false"},
    ]


ROUTE = {"hostname": "nas.example.com", "service": "http://traefik:80"}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("image", "ghcr.io/stalwartlabs/stalwart:v0.16.18"),
        ("image", "docker.io/stalwartlabs/stalwart:v0.16.18"),
        ("image", "index.docker.io/stalwartlabs/stalwart:v0.15.5"),
        ("image", "stalwartlabs/stalwart:v0.15.5@sha256:" + "a" * 64),
        ("reconcilerImage", "docker.io/library/python:3.13-slim"),
        ("reconcilerImage", "library/python:3.13-slim"),
        ("imageMirrors", ["registry.lan:5000", "harbor.lan/dockerhub"]),
        ("reconcilerImage", "python:3.12.8-slim-bookworm@sha256:" + "b" * 64),
        ("tunnelRoutes", [{**ROUTE, "path": "^/photos"}, {**ROUTE, "path": "^/files"}, ROUTE]),
        ("tunnelRoutes", [{"hostname": "grafana.other-zone.net", "service": "http://g:3000"}]),
        (
            "tunnelRoutes",
            [{**ROUTE, "originRequest": {"noTlsVerify": True, "connectTimeout": 30}}],
        ),
        ("backup", {"snapshotCron": "15 2 * * mon-fri", "groups": ["default", "offsite"]}),
        ("dmarc", "v=DMARC1; p=reject; rua=mailto:d@example.net,mailto:e@example.org;"),
        # Internationalized zones in their ASCII (punycode) form, the form DNS holds.
        ("domain", "xn--bcher-kva.example"),
        ("domain", "example.xn--p1ai"),
        ("tunnelRoutes", [{"hostname": "nas.example.xn--p1ai", "service": "http://nas:80"}]),
        ("adminEmail", "owner@xn--bcher-kva.example"),
    ],
)
def test_valid_values_are_accepted(key, value):
    run = stack_run({f"mailstack:{key}": value})
    assert run.error is None


def test_a_namespace_with_a_dot_suggests_the_default_not_its_first_label():
    problem = single_problem({"mailstack:namespace": "mail.system"})
    assert problem.endswith("Fix: pulumi config set mailstack:namespace stalwart.")


def test_a_webmail_host_longer_than_dns_allows_is_refused():
    domain = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 56]) + ".com"
    problem = single_problem({"mailstack:domain": domain, "mailstack:adminEmail": "o@gmail.com"})
    assert problem.startswith("mailstack:webmailHostname: ")
    assert "longer than the 253 characters DNS allows" in problem


def test_a_secret_setting_is_never_quoted_in_its_refusal():
    problem = single_problem({"mailstack:resendApiKey": "sk_live_abcdefgh\n"})
    assert "sk_live" not in problem


def test_an_authentik_url_on_an_internationalized_zone_is_accepted():
    from settings.rules.authentik import URL_RE

    assert URL_RE.fullmatch("https://auth.xn--bcher-kva.example/")
    assert URL_RE.fullmatch("https://auth.example.xn--p1ai:9443")


@pytest.mark.parametrize(
    ("image", "reconciler"),
    [
        ("registry.lan:5000/stalwartlabs/stalwart:v0.15.5", "registry.lan:5000/python:3.13-slim"),
        ("harbor.lan/ghcr/stalwartlabs/stalwart:v0.16.18", "harbor.lan/ghcr/library/python:3.12"),
        ("stalwartlabs/stalwart:v0.16.18", "REGISTRY.LAN:5000/library/python:3.13-slim"),
    ],
)
def test_images_from_a_mirror_the_owner_names_are_accepted(image, reconciler):
    mirrors = ["registry.lan:5000", "harbor.lan/ghcr"]
    run = stack_run(
        {
            "mailstack:imageMirrors": mirrors,
            "mailstack:image": image,
            "mailstack:reconcilerImage": reconciler,
        }
    )
    assert run.error is None
