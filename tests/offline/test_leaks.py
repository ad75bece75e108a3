"""Nothing leaks: known secrets, and hashes of them, appear only where they are marked secret."""

from __future__ import annotations

import base64
import json

import pytest

from offline import render
from offline.harness import run_program
from offline.secrets import is_secret_value, redact, reveal
from tests.conftest import BASE_CONFIG, SECRET_KEYS, V015_IMAGE, V016_IMAGE

RESEND_KEY = "re_LeakCanary0123456789abcdef"
ADMIN_PASSWORD = "leak-canary-admin-password-42"
ACCOUNTS = [
    {"name": "noreply", "credentials": {"namespace": "authentik", "secretName": "creds"}},
    {"name": "alerts", "credentials": {"namespace": "mon", "secretName": "smtp", "create": True}},
]


AUTHENTIK_TOKEN = "leak-canary-authentik-token-42"
# The third stack has everything that holds a secret: Authentik's objects and the monitoring.
EVERYTHING = {
    "mailstack:monitoring": {"enabled": True},
    "mailstack:authentik": {"url": "https://auth.example.com", "groups": ["mail-users"]},
    "authentik:token": AUTHENTIK_TOKEN,
}


@pytest.fixture(
    scope="module",
    params=[(V015_IMAGE, {}), (V016_IMAGE, {}), (V016_IMAGE, EVERYTHING)],
    ids=["v0.15", "v0.16", "v0.16-authentik-monitoring"],
)
def run(request):
    image, extra = request.param
    return run_program(
        {
            **BASE_CONFIG,
            "mailstack:image": image,
            "mailstack:resendApiKey": RESEND_KEY,
            "mailstack:adminPassword": ADMIN_PASSWORD,
            "mailstack:serviceAccounts": ACCOUNTS,
            **extra,
        },
        SECRET_KEYS | {"authentik:token"},
    )


@pytest.fixture(scope="module")
def secrets(run) -> set[str]:
    """The plaintexts: given secrets, generated passwords, and every hash made of them."""
    values = {RESEND_KEY, ADMIN_PASSWORD, AUTHENTIK_TOKEN}
    for registration in run.by_type("random:index/randomPassword:RandomPassword"):
        values.add(reveal(registration.state["result"]))
    for registration in run.by_type("kubernetes:core/v1:Secret"):
        for key, value in reveal(registration.inputs.get("stringData") or {}).items():
            if key == "username":  # the scrape user `prometheus`: a name, not a secret
                continue
            values.add(value)
            if value.startswith("{"):  # the accounts document: its hashes too
                values.update(a["secretHash"] for a in json.loads(value)["accounts"])
    values.update({base64.b64encode(v.encode()).decode() for v in list(values)})
    assert len(values) >= 10  # the canaries, 2 generated passwords, 3 hashes, base64 forms
    return values


def leaks(text: str, secrets: set[str]) -> list[str]:
    return sorted(secret[:6] + "…" for secret in secrets if secret in text)


def test_no_secret_in_any_non_secret_input(run, secrets):
    for registration in run.resources:
        visible = json.dumps(redact(registration.inputs))
        assert leaks(visible, secrets) == [], registration.name


SECRET_HOLDERS = {
    ("kubernetes:core/v1:Secret", "stringData"),
    ("kubernetes:core/v1:SecretPatch", "stringData"),
    # The admin password's hash keeps the bootstrap Secret's name suffix (encrypted in state,
    # never in the cluster): a new password, a new name (components/stalwart/v016/admin.py).
    ("random:index/randomString:RandomString", "keepers"),
    # The Authentik objects keep their API token in their (encrypted) state: refresh and delete
    # need it after the settings changed (components/authentik/dynamic.py).
    *(
        (f"pulumi-python:dynamic/authentik:{kind}", "token")
        for kind in ("ProxyProvider", "Application", "OutpostAttachment", "GroupBinding")
    ),
}


def test_secret_plaintext_lives_only_in_kubernetes_secrets(run, secrets):
    # Marked secret is not enough: a secret Output in an annotation or a ConfigMap is stored
    # encrypted by Pulumi but readable by anyone with `kubectl get` in the cluster.
    for registration in run.resources:
        for key, value in registration.inputs.items():
            if leaks(json.dumps(reveal(value)), secrets):
                assert (registration.type, key) in SECRET_HOLDERS, (registration.name, key)
                assert is_secret_value(value), (registration.name, key)


def test_the_admin_password_itself_reaches_only_the_jobs_secrets(run):
    holders = {
        r.name
        for r in run.resources
        if any(ADMIN_PASSWORD in json.dumps(reveal(v)) for v in r.inputs.values())
    }
    jobs = {"stalwart-accounts-desired"}
    if run.by_type("kubernetes:batch/v1:Job") and len(run.by_type("kubernetes:batch/v1:Job")) > 1:
        jobs.add("stalwart-apply-credentials")  # v0.16: the applier logs in with it
    # (The canary holds only its own password: it reads its own delivery report.)
    assert holders == jobs


def test_no_secret_in_a_stack_output_unless_it_is_secret(run, secrets):
    visible = json.dumps(redact(run.outputs))
    assert leaks(visible, secrets) == []
    assert is_secret_value(run.outputs["adminPassword"])
    assert is_secret_value(run.outputs["serviceAccountPasswords"])


def test_no_secret_in_any_log_line(run, secrets):
    assert run.logs
    assert leaks("\n".join(message for _, message in run.logs), secrets) == []


def test_no_secret_in_any_rendered_file(run, secrets, tmp_path):
    render.write_render(run, tmp_path / "rendered")
    files = [p for p in (tmp_path / "rendered").rglob("*") if p.is_file()]
    assert len(files) > 10
    for path in files:
        assert leaks(path.read_text(), secrets) == [], path
