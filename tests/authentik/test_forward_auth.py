"""The webmail's forward-auth objects under the mock runtime: what `mailstack:authentik` makes,
and nothing when it is absent."""

from __future__ import annotations

import json

import pytest

from offline.secrets import is_secret_value, reveal
from settings import SettingsError
from tests.conftest import SECRET_KEYS, refusals, stack_run

TYPE = "pulumi-python:dynamic/authentik:"
PROVIDER = (TYPE + "ProxyProvider", "webmail-forward-auth-provider")
APPLICATION = (TYPE + "Application", "webmail-forward-auth-application")
ATTACHMENT = (TYPE + "OutpostAttachment", "webmail-forward-auth-outpost")
TOKEN = "ak-token-abcdef0123456789"
SETTING = {"url": "https://auth.example.com/", "groups": ["mail-users", "admins"]}


def run_with(setting=SETTING, token: str | None = TOKEN, extra: dict | None = None):
    config = {"mailstack:authentik": setting, **(extra or {})}
    secret_keys = set(SECRET_KEYS)
    if token is not None:
        config["authentik:token"] = token
        secret_keys.add("authentik:token")
    return stack_run(config, secret_keys=secret_keys)


@pytest.fixture(scope="module")
def forward_auth():
    return run_with(extra={"mailstack:webmailHostname": "webmail"})


def plain(registration) -> dict:
    return {k: v for k, v in registration.inputs.items() if k not in ("__provider", "token")}


def test_the_provider_forwards_for_the_webmail_host(forward_auth):
    provider = forward_auth.get(*PROVIDER)
    assert plain(provider) == {
        "url": "https://auth.example.com",
        "name": "Stalwart webmail",
        "externalHost": "https://webmail.example.com",
        "authorizationFlow": "default-provider-authorization-implicit-consent",
        "invalidationFlow": "default-provider-invalidation-flow",
    }


def test_the_application_links_the_provider_and_launches_the_webmail(forward_auth):
    pk = forward_auth.get(*PROVIDER).state["pk"]
    application = forward_auth.get(*APPLICATION)
    assert application.inputs["provider"] == pk
    assert application.inputs["launchUrl"] == "https://webmail.example.com"
    assert application.inputs["slug"] == "stalwart-webmail"


def test_the_attachment_names_the_outpost_and_the_provider_and_no_outpost_is_a_resource(
    forward_auth,
):
    attachment = forward_auth.get(*ATTACHMENT)
    assert plain(attachment) == {
        "url": "https://auth.example.com",
        "outpost": "authentik Embedded Outpost",
        "provider": forward_auth.get(*PROVIDER).state["pk"],
    }
    types = {r.type for r in forward_auth.resources}
    assert not any("outpost" in t.lower() and not t.endswith("OutpostAttachment") for t in types)


def test_each_group_is_bound_to_the_application(forward_auth):
    uuid = forward_auth.get(*APPLICATION).state["uuid"]
    # Registration order is the mock runtime's (asynchronous); the order input is what counts.
    bindings = sorted(forward_auth.by_type(TYPE + "GroupBinding"), key=lambda b: b.inputs["order"])
    assert [(b.inputs["group"], b.inputs["order"], b.inputs["application"]) for b in bindings] == [
        ("mail-users", 0, uuid),
        ("admins", 1, uuid),
    ]


def test_the_token_is_a_secret_input_and_a_secret_output_everywhere(forward_auth):
    for registration in forward_auth.resources:
        if registration.type.startswith(TYPE):
            assert is_secret_value(registration.inputs["token"]), registration.name
            assert reveal(registration.inputs["token"]) == TOKEN
            assert is_secret_value(registration.inputs["__provider"])


def test_nothing_of_authentik_is_registered_without_the_setting(default_run):
    assert [r.type for r in default_run.resources if "authentik" in r.type.lower()] == []
    assert "authentikProvider" not in default_run.outputs


def test_the_token_may_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("AUTHENTIK_TOKEN", "from-the-environment-123")
    run = run_with(token=None)
    assert reveal(run.get(*PROVIDER).inputs["token"]) == "from-the-environment-123"


def test_without_a_token_the_setting_is_refused_naming_both_ways(monkeypatch):
    monkeypatch.delenv("AUTHENTIK_TOKEN", raising=False)
    [line] = refusals({"mailstack:authentik": SETTING})
    assert line.startswith("mailstack:authentik: is set, but there is no API token")
    assert "authentik:token" in line and "AUTHENTIK_TOKEN" in line


def test_a_plaintext_token_is_refused_without_quoting_it():
    run = stack_run({"mailstack:authentik": SETTING, "authentik:token": TOKEN}, check=False)
    assert isinstance(run.error, SettingsError)
    lines = run.error.problems
    assert any(line.startswith("authentik:token: is stored in plaintext") for line in lines)
    assert TOKEN not in json.dumps(lines)
    assert run.resources == []


def test_a_url_with_a_password_is_refused_without_quoting_it():
    [line] = refusals({"mailstack:authentik": {"url": "https://ak:hunter2@auth.example.com"}})
    assert "hunter2" not in line


def test_adopted_objects_are_taken_over_in_create_not_imported():
    """The engine cannot import a dynamic resource (Read without `__provider`: KeyError, seen in
    make e2e); the object to take over is an input its create() finds and updates."""
    run = run_with(
        {**SETTING, "slug": "webmail"},
        extra={"mailstack:adopt": {"authentik": {"provider": 7, "application": "webmail"}}},
    )
    provider, application = run.get(*PROVIDER), run.get(*APPLICATION)
    assert (provider.import_id, application.import_id) == (None, None)
    assert (provider.inputs["adopt"], application.inputs["adopt"]) == ("7", "webmail")
    assert not provider.ignore_changes and not application.ignore_changes
    assert run.get(*ATTACHMENT).import_id is None  # attaching an attached provider is a no-op


def test_bindings_are_named_by_group(forward_auth):
    """Named by group, so removing the first group replaces no other binding (make e2e's
    e2e/tests/test_authentik.py walks every transition on the real engine)."""
    bindings = forward_auth.by_type(TYPE + "GroupBinding")
    assert {b.name for b in bindings} == {
        "webmail-forward-auth-group-mail-users",
        "webmail-forward-auth-group-admins",
    }


def test_adopting_an_application_under_another_slug_is_refused():
    [line] = refusals(
        {
            "mailstack:authentik": SETTING,
            "authentik:token": TOKEN,
            "mailstack:adopt": {"authentik": {"application": "webmail"}},
        },
        secret_keys=SECRET_KEYS | {"authentik:token"},
    )
    assert line.startswith("mailstack:authentik: slug 'stalwart-webmail' is not the adopted")
    assert "slug: webmail" in line


def test_adopting_without_the_setting_is_refused():
    [line] = refusals({"mailstack:adopt": {"authentik": {"provider": 7}}})
    assert "mailstack:authentik is not set" in line


def test_the_external_host_follows_the_domain_too():
    run = run_with(extra={"mailstack:domain": "example.org", "mailstack:webmailHostname": "post"})
    assert run.get(*PROVIDER).inputs["externalHost"] == "https://post.example.org"
    assert run.get(*APPLICATION).inputs["launchUrl"] == "https://post.example.org"
