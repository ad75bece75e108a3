"""Service accounts as settings: passwords, hashes, the reconcile Job, the consumers' Secrets."""

from __future__ import annotations

import json

import pytest
from passlib.hash import sha512_crypt

from components import accounts_job as sa
from components import service_accounts
from components.incluster import FILES, PACKAGE_DIR
from offline.secrets import is_secret_value, reveal
from settings.keys import RECONCILER_IMAGE
from tests.conftest import stack_run

JOB = ("kubernetes:batch/v1:Job", "stalwart-accounts-job")
DESIRED = ("kubernetes:core/v1:Secret", "stalwart-accounts-desired")
SCRIPT = ("kubernetes:core/v1:ConfigMap", "stalwart-accounts-script")
PATCH = "kubernetes:core/v1:SecretPatch"
PASSWORD = "random:index/randomPassword:RandomPassword"
SALT = "random:index/randomString:RandomString"

NOREPLY = {
    "name": "noreply",
    "description": "Authentik",
    "credentials": {"namespace": "authentik", "secretName": "authentik-credentials"},
}
ALERTS = {
    "name": "alerts",
    "email": "monitoring@example.com",
    "credentials": {
        "namespace": "monitoring",
        "secretName": "alertmanager-smtp",
        "key": "password",
        "create": True,
    },
}


@pytest.fixture(scope="module")
def accounts_run():
    return stack_run({"mailstack:serviceAccounts": [NOREPLY, ALERTS]})


def desired(run):
    return json.loads(reveal(run.get(*DESIRED).inputs["stringData"])[sa.ACCOUNTS_FILE])


def test_each_account_gets_a_generated_password_and_salt(accounts_run):
    password = accounts_run.get(PASSWORD, "stalwart-accounts-noreply-password")
    assert password.inputs["length"] == 32
    assert password.inputs["keepers"] == {"version": "1"}
    assert accounts_run.get(SALT, "stalwart-accounts-noreply-salt").inputs["length"] == 16
    assert accounts_run.get(PASSWORD, "stalwart-accounts-alerts-password")


def test_stalwart_gets_only_sha512_crypt_hashes_of_the_passwords(accounts_run):
    secret = accounts_run.get(*DESIRED).inputs["stringData"]
    assert is_secret_value(secret)
    document = desired(accounts_run)
    passwords = reveal(accounts_run.outputs["serviceAccountPasswords"])
    assert document["domain"] == "example.com"
    by_name = {a["name"]: a for a in document["accounts"]}
    assert set(by_name) == {"noreply", "alerts"}
    for name, account in by_name.items():
        assert account["secretHash"].startswith("$6$")
        assert sha512_crypt.verify(passwords[name], account["secretHash"])
        assert passwords[name] not in json.dumps(document)


def test_accounts_carry_email_and_description(accounts_run):
    by_name = {a["name"]: a for a in desired(accounts_run)["accounts"]}
    assert by_name["noreply"]["email"] == "noreply@example.com"  # default <name>@<domain>
    assert by_name["noreply"]["description"] == "Authentik"
    assert by_name["alerts"]["email"] == "monitoring@example.com"


def test_job_input_holds_the_admin_password_for_the_management_api(run_stack):
    from tests.conftest import ADMIN_PASSWORD

    run = run_stack({"mailstack:adminPassword": ADMIN_PASSWORD})
    assert reveal(run.get(*DESIRED).inputs["stringData"])[sa.ADMIN_PASSWORD_FILE] == ADMIN_PASSWORD


def test_job_runs_the_shipped_reconciler_after_the_deployment(accounts_run):
    job = accounts_run.get(*JOB)
    assert {accounts_run.name_of(u) for u in job.depends_on} == {"stalwart-deployment"}
    spec = job.inputs["spec"]
    assert spec["backoffLimit"] == 2
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["image"] == RECONCILER_IMAGE
    assert container["command"] == ["python3", "-m", "incluster.reconcile_accounts"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["STALWART_URL"] == "http://stalwart.stalwart.svc.cluster.local:8080"
    assert env["STALWART_ADMIN_USER"] == "admin"
    assert env["ACCOUNTS_FILE"] == "/run/secrets/mailstack-accounts/accounts.json"
    assert env["ADMIN_PASSWORD_FILE"] == "/run/secrets/mailstack-accounts/admin-password"


def test_job_runs_unprivileged(accounts_run):
    pod = accounts_run.get(*JOB).inputs["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = pod["containers"][0]["securityContext"]
    assert container["allowPrivilegeEscalation"] is False
    assert container["readOnlyRootFilesystem"] is True
    assert container["capabilities"] == {"drop": ["ALL"]}


def test_job_mounts_the_script_and_its_secret_input(accounts_run):
    job = accounts_run.get(*JOB)
    volumes = {v["name"]: v for v in job.inputs["spec"]["template"]["spec"]["volumes"]}
    script = accounts_run.get(*SCRIPT)
    desired_secret = accounts_run.get(*DESIRED)
    assert volumes["scripts"]["configMap"]["name"] == script.state["metadata"]["name"]
    assert volumes["desired"]["secret"]["secretName"] == desired_secret.state["metadata"]["name"]
    assert "name" not in script.inputs["metadata"]  # auto-named: a change reruns the Job
    assert "name" not in desired_secret.inputs["metadata"]


def test_script_config_map_is_the_tested_reconciler_and_holds_no_secret(accounts_run):
    data = accounts_run.get(*SCRIPT).inputs["data"]
    assert data == {name: (PACKAGE_DIR / name).read_text() for name in FILES}
    container = accounts_run.get(*JOB).inputs["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python3", "-m", "incluster.reconcile_accounts"]


def test_job_reruns_when_the_data_claim_is_replaced(accounts_run):
    template = accounts_run.get(*JOB).inputs["spec"]["template"]
    assert service_accounts.DATA_CLAIM_ANNOTATION in template["metadata"]["annotations"]


def test_existing_consumer_secret_gets_one_key_by_server_side_apply(accounts_run):
    patch = accounts_run.get(PATCH, "stalwart-accounts-noreply-credentials")
    assert patch.inputs["metadata"] == {
        "name": "authentik-credentials",
        "namespace": "authentik",
        "annotations": {
            "pulumi.com/patchFieldManager": "mailstack-account-noreply",
            "pulumi.com/patchForce": "true",
        },
    }
    assert is_secret_value(patch.inputs["stringData"])
    passwords = reveal(accounts_run.outputs["serviceAccountPasswords"])
    assert reveal(patch.inputs["stringData"]) == {"smtp-password": passwords["noreply"]}
    assert {accounts_run.name_of(u) for u in patch.depends_on} == {
        "stalwart-accounts-job",
        "stalwart-accounts-noreply-credentials-target",  # the Secret, read first
    }
    assert not patch.protect


def test_create_true_gets_a_dedicated_secret(accounts_run):
    secret = accounts_run.get("kubernetes:core/v1:Secret", "stalwart-accounts-alerts-credentials")
    assert secret.inputs["metadata"]["name"] == "alertmanager-smtp"
    assert secret.inputs["metadata"]["namespace"] == "monitoring"
    passwords = reveal(accounts_run.outputs["serviceAccountPasswords"])
    assert reveal(secret.inputs["stringData"]) == {"password": passwords["alerts"]}
    assert is_secret_value(secret.inputs["stringData"])
    assert accounts_run.by_type(PATCH) == [
        accounts_run.get(PATCH, "stalwart-accounts-noreply-credentials")
    ]


def test_consumers_get_smtp_settings_and_passwords_only_as_secrets(accounts_run):
    assert accounts_run.outputs["serviceAccounts"]["noreply"] == {
        "host": "stalwart.stalwart.svc.cluster.local",
        "port": 587,
        "username": "noreply",
        "from": "noreply@example.com",
        "passwordSecret": "authentik/authentik-credentials",
        "passwordKey": "smtp-password",
    }
    assert is_secret_value(accounts_run.outputs["serviceAccountPasswords"])


def test_bumping_password_version_changes_the_random_keepers():
    rotated = stack_run({"mailstack:serviceAccounts": [{**NOREPLY, "passwordVersion": 2}]})
    password = rotated.get(PASSWORD, "stalwart-accounts-noreply-password")
    assert password.inputs["keepers"] == {"version": "2"}


def test_removed_account_leaves_the_desired_list_so_the_job_deletes_it(accounts_run):
    fewer = stack_run({"mailstack:serviceAccounts": [NOREPLY]})
    assert [a["name"] for a in desired(fewer)["accounts"]] == ["noreply"]
    assert not [r for r in fewer.resources if "alerts" in r.name]


def test_without_accounts_the_job_still_reconciles_an_empty_list(default_run):
    assert desired(default_run) == {"accounts": [], "domain": "example.com"}
    assert default_run.outputs["serviceAccounts"] == {}
