"""Stalwart v0.16 as the stack's model: the pod, its secrets, config.json, the plan and the Job
that applies it, the accounts Job, and the outputs (under the mock runtime)."""

from __future__ import annotations

import json

import pytest
from passlib.hash import sha512_crypt

from components.stalwart.v016 import plan
from offline.secrets import is_secret_value, reveal, secret_paths
from offline.stalwart_schema import plan_problems
from settings.keys import RECONCILER_IMAGE
from tests.conftest import ADMIN_PASSWORD, RESEND_KEY, V016_IMAGE, stack_run

DEPLOYMENT = ("kubernetes:apps/v1:Deployment", "stalwart-deployment")
SECRET = ("kubernetes:core/v1:Secret", "stalwart-secrets")
CONFIG = ("kubernetes:core/v1:ConfigMap", "stalwart-config")
PLAN = ("kubernetes:core/v1:ConfigMap", "stalwart-plan")
APPLY = ("kubernetes:batch/v1:Job", "stalwart-apply-job")
ACCOUNTS_JOB = ("kubernetes:batch/v1:Job", "stalwart-accounts-job")
ACCOUNTS = [{"name": "noreply", "credentials": {"namespace": "authentik", "secretName": "c"}}]

# The probes name loopback so the http listener logs no x-forwarded-missing (pod.py).
XFF = [{"name": "X-Forwarded-For", "value": "127.0.0.1"}]


@pytest.fixture(scope="module")
def v016():
    """A fresh stack with only the required settings: the default image is v0.16."""
    return stack_run(
        {"mailstack:serviceAccounts": ACCOUNTS, "mailstack:adminPassword": ADMIN_PASSWORD},
        remove=("mailstack:image",),
    )


def pod(run) -> dict:
    return run.get(*DEPLOYMENT).inputs["spec"]["template"]["spec"]


def test_a_fresh_stack_runs_the_newest_verified_v016(v016):
    (container,) = pod(v016)["containers"]
    assert container["image"] == V016_IMAGE
    assert container["args"] == ["--config", "/etc/stalwart/config.json"]


def test_the_pod_runs_as_the_images_user_2000(v016):
    context = pod(v016)["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (2000, 2000, 2000)
    assert context["runAsNonRoot"] is True
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    # A non-root process under no_new_privs gets no file capability: the sysctl lets it bind.
    assert context["sysctls"] == [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]
    (container,) = pod(v016)["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
    }


def test_the_claim_is_mounted_at_var_lib_stalwart_and_config_json_read_only(v016):
    (container,) = pod(v016)["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["data"]["mountPath"] == "/var/lib/stalwart"
    assert (mounts["config"]["mountPath"], mounts["config"]["readOnly"]) == ("/etc/stalwart", True)
    volumes = {v["name"]: v for v in pod(v016)["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"] == {"claimName": "stalwart-data"}
    # Projected by key: a missing config.json fails the mount instead of starting bootstrap mode.
    assert volumes["config"]["configMap"]["items"] == [
        {"key": "config.json", "path": "config.json"}
    ]


def test_config_json_is_the_rocksdb_store_and_holds_no_secret(v016):
    config = v016.get(*CONFIG)
    assert secret_paths(config.inputs) == []
    assert json.loads(config.inputs["data"]["config.json"]) == {
        "@type": "RocksDb",
        "path": "/var/lib/stalwart/data",
    }


def test_probes_on_8080_health_endpoints(v016):
    (container,) = pod(v016)["containers"]
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/healthz/ready",
        "port": "http",
        "httpHeaders": XFF,
    }
    assert container["livenessProbe"]["httpGet"] == {
        "path": "/healthz/live",
        "port": "http",
        "httpHeaders": XFF,
    }
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "http": 8080,
        "submission": 587,
        "imaps": 993,
        "metrics": 9090,
    }


BOOTSTRAP = ("kubernetes:core/v1:Secret", "stalwart-bootstrap")


def test_the_recovery_admin_is_read_optionally_from_the_bootstrap_secret(v016):
    (container,) = pod(v016)["containers"]
    env = {e["name"]: e for e in container["env"]}
    source = env["STALWART_RECOVERY_ADMIN"]["valueFrom"]["secretKeyRef"]
    bootstrap = v016.get(*BOOTSTRAP)
    assert source == {
        "name": bootstrap.state["metadata"]["name"],
        "key": "recovery-admin",
        "optional": True,  # the key comes and goes with the apply Job: the pod starts without it
    }
    assert "value" not in env["STALWART_RECOVERY_ADMIN"]
    assert "STALWART_RECOVERY_MODE" not in env
    # Created empty: the apply Job writes and removes the key; the stack never holds it (a
    # replaced Secret would otherwise be created with the old, ignored data).
    assert "stringData" not in bootstrap.inputs and "data" not in bootstrap.inputs
    # A new password is a new Secret: its name's suffix is kept by the password's hash.
    suffix = v016.get("random:index/randomString:RandomString", "stalwart-bootstrap-suffix")
    assert source["name"] == f"stalwart-bootstrap-{suffix.state['result']}"
    assert is_secret_value(suffix.inputs["keepers"])
    digest = reveal(suffix.inputs["keepers"])["adminHash"]
    assert sha512_crypt.verify(ADMIN_PASSWORD, digest)
    assert bootstrap.ignore_changes == ["data", "stringData"]
    # Outside recovery the pod's own Secret has no recovery admin.
    values = reveal(v016.get(*SECRET).inputs["stringData"])
    assert "recovery-admin" not in values
    assert values["relay-password"] == RESEND_KEY
    assert ADMIN_PASSWORD not in json.dumps(reveal(v016.get(*DEPLOYMENT).inputs))


def test_only_the_files_the_plan_reads_are_mounted(v016):
    # The recovery admin's hash reaches the pod as an environment variable, never as a file.
    volumes = {v["name"]: v for v in pod(v016)["volumes"]}
    assert volumes["secrets"]["secret"]["items"] == [
        {"key": "relay-password", "path": "relay-password"},
        {"key": "metrics-password", "path": "metrics-password"},
    ]


def file_secrets(value: object) -> list[str]:
    """Every `{"@type": "File", "filePath": ...}` a plan names."""
    if isinstance(value, dict):
        own = [value["filePath"]] if value.get("@type") == "File" else []
        return own + [path for item in value.values() for path in file_secrets(item)]
    if isinstance(value, list):
        return [path for item in value for path in file_secrets(item)]
    return []


def test_every_file_the_plan_reads_is_mounted_and_holds_its_secret(v016):
    # A Metrics secret Stalwart cannot read would serve /metrics without authentication.
    data = v016.get(*PLAN).inputs["data"]
    paths = file_secrets([json.loads(line) for line in data["plan.ndjson"].splitlines()])
    assert len(paths) == 2
    [container] = pod(v016)["containers"]
    mount = next(m["mountPath"] for m in container["volumeMounts"] if m["name"] == "secrets")
    volumes = {v["name"]: v for v in pod(v016)["volumes"]}
    mounted = {
        f"{mount}/{item['path']}": item["key"] for item in volumes["secrets"]["secret"]["items"]
    }
    stored = reveal(v016.get(*SECRET).inputs["stringData"])
    for path in paths:
        assert path in mounted, path
        assert stored[mounted[path]], path


def test_the_plan_fits_the_schema_and_is_the_settings(v016):
    data = v016.get(*PLAN).inputs["data"]
    assert secret_paths(v016.get(*PLAN).inputs) == []
    operations = [json.loads(line) for line in data["plan.ndjson"].splitlines()]
    assert plan_problems(operations) == []
    by_object = {op["object"]: op for op in operations}
    assert by_object["Domain"]["value"]["domain"]["name"] == "example.com"
    assert by_object["SystemSettings"]["value"]["defaultHostname"] == "mail.example.com"
    assert RESEND_KEY not in data["plan.ndjson"] and "$6$" not in data["plan.ndjson"]
    assert data["reload.ndjson"] == plan.to_ndjson(plan.RELOAD_PLAN)


def test_the_apply_job_applies_the_plan_then_the_reload_then_checks_the_listeners(v016):
    job = v016.get(*APPLY)
    assert job.depends_on == [v016.get(*DEPLOYMENT).urn]
    spec = job.inputs["spec"]["template"]["spec"]
    door, step, admin = spec["initContainers"]
    assert door["command"] == ["python3", "-m", "incluster.jmap_jobs", "door"]
    assert (step["name"], step["image"]) == ("apply-plan", RECONCILER_IMAGE)
    assert admin["command"] == ["python3", "-m", "incluster.jmap_jobs", "admin"]
    # The hourly re-application applies the plan only (no admin step in a CronJob pod that
    # may have started before a password change).
    (cron,) = v016.by_type("kubernetes:batch/v1:CronJob")
    hourly = cron.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert [c["name"] for c in hourly["initContainers"]] == ["apply-plan"]
    assert step["command"] == [
        "python3",
        "-m",
        "incluster.jmap_jobs",
        "apply",
        "/plan/plan.ndjson",
        "/plan/reload.ndjson",
    ]
    (check,) = spec["containers"]
    assert check["command"] == ["python3", "-m", "incluster.jmap_jobs", "listeners"]
    env = {e["name"]: e.get("value") for e in check["env"]}
    assert (
        env["LISTENER_PORTS"] == "587,993,9090"
    )  # every listener but the http one the Job talks through
    # The admin password reaches the applier as a mounted file, never in its environment.
    step_env = {e["name"]: e for e in step["env"]}
    assert step_env["ADMIN_PASSWORD_FILE"]["value"] == "/run/secrets/mailstack-admin/admin-password"
    assert not any("valueFrom" in e for e in step["env"])
    # The administrator first, the recovery admin only while the administrator does not exist.
    assert step_env["STALWART_ADMIN_USER"]["value"] == "mailstack-admin@example.com"
    assert step_env["FALLBACK_ADMIN_USER"]["value"] == "admin"
    admin_env = {e["name"]: e.get("value") for e in admin["env"]}
    assert admin_env["ADMIN_HASH_FILE"] == "/run/secrets/mailstack-admin/admin-hash"
    assert admin_env["BOOTSTRAP_KEY"] == "recovery-admin"
    assert admin_env["BOOTSTRAP_SECRET"] == v016.get(*BOOTSTRAP).state["metadata"]["name"]


def test_the_apply_job_may_restart_only_pods_of_its_namespace(v016):
    role = v016.get("kubernetes:rbac.authorization.k8s.io/v1:Role", "stalwart-jobs")
    bootstrap = v016.get(*BOOTSTRAP).state["metadata"]["name"]
    assert role.inputs["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "delete"]},
        # The one Secret whose key the administrator step removes, and nothing else.
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "resourceNames": [bootstrap],
            "verbs": ["get", "patch"],
        },
    ]
    spec = v016.get(*APPLY).inputs["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "stalwart-jobs"
    assert spec["automountServiceAccountToken"] is True


def test_accounts_are_reconciled_over_jmap_after_the_plan(v016):
    job = v016.get(*ACCOUNTS_JOB)
    assert job.depends_on == [v016.get(*APPLY).urn]
    (container,) = job.inputs["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python3", "-m", "incluster.jmap_jobs", "accounts"]


def test_the_outputs_are_todays_and_record_the_generation(v016):
    assert v016.outputs["smtpHost"] == "stalwart.stalwart.svc.cluster.local"
    assert v016.outputs["smtpPort"] == 587
    assert is_secret_value(v016.outputs["adminPassword"])
    assert v016.outputs["stalwartData"] == {
        "primary": {"claim": "stalwart-data", "generation": "0.16", "image": V016_IMAGE},
        "serving": "primary",
        "upgradePhase": None,
    }


def test_a_v015_image_still_gives_todays_resources(default_run):
    names = {(r.type, r.name) for r in default_run.resources}
    assert ("kubernetes:core/v1:ConfigMap", "stalwart-config") in names
    assert not {n for n in names if n[1].startswith("stalwart-apply")}
    config = default_run.get("kubernetes:core/v1:ConfigMap", "stalwart-config")
    assert "config.toml" in config.inputs["data"]
    assert default_run.outputs["stalwartData"]["primary"]["generation"] == "0.15"


def test_the_plan_is_reapplied_hourly_so_hand_edits_do_not_last(v016):
    cron = v016.get("kubernetes:batch/v1:CronJob", "stalwart-reapply")
    assert cron.inputs["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron.inputs["spec"]["schedule"] == "23 * * * *"
    once = v016.get(*APPLY).inputs["spec"]["template"]["spec"]
    hourly = cron.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    # The same plan and checks, without the admin steps (the update's own Job does those).
    plan_steps = [c for c in once["initContainers"] if c["name"] == "apply-plan"]
    assert hourly == {**once, "initContainers": plan_steps}


def test_the_same_settings_give_the_same_inputs(v016):
    again = stack_run(
        {"mailstack:serviceAccounts": ACCOUNTS, "mailstack:adminPassword": ADMIN_PASSWORD},
        remove=("mailstack:image",),
    )
    assert sorted((r.urn, json.dumps(reveal(r.inputs))) for r in again.resources) == sorted(
        (r.urn, json.dumps(reveal(r.inputs))) for r in v016.resources
    )


def test_the_jobs_and_the_output_name_the_administrator_not_the_recovery_admin(v016):
    assert v016.outputs["adminUser"] == "mailstack-admin@example.com"
    job = v016.get("kubernetes:batch/v1:Job", "stalwart-accounts-job")
    (container,) = job.inputs["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["STALWART_ADMIN_USER"] == "mailstack-admin@example.com"
    assert env["FALLBACK_ADMIN_USER"] == "admin"
