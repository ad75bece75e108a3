"""The StalwartServer component: exact inputs, secretness, protection, roll-outs."""

from __future__ import annotations

import pytest
from passlib.hash import sha512_crypt

from components import credentials
from components.stalwart.v015 import config_toml as sc
from offline.secrets import is_secret_value, reveal, secret_paths
from tests.conftest import ADMIN_PASSWORD, DEFAULT_MECHANISMS, DEFAULT_RELAY, RESEND_KEY, stack_run

DEPLOYMENT = ("kubernetes:apps/v1:Deployment", "stalwart-deployment")
NAMESPACE = ("kubernetes:core/v1:Namespace", "stalwart-namespace")
CLAIM = ("kubernetes:core/v1:PersistentVolumeClaim", "stalwart-data")
SECRET = ("kubernetes:core/v1:Secret", "stalwart-secrets")
CONFIG_MAP = ("kubernetes:core/v1:ConfigMap", "stalwart-config")
SERVICE = ("kubernetes:core/v1:Service", "stalwart-service")
TAILSCALE = ("kubernetes:networking.k8s.io/v1:Ingress", "stalwart-tailscale-ingress")
PUBLIC = ("kubernetes:networking.k8s.io/v1:Ingress", "stalwart-public-ingress")

# The probes name loopback so the http listener logs no x-forwarded-missing (pod.py).
XFF = [{"name": "X-Forwarded-For", "value": "127.0.0.1"}]


def pod_spec(run):
    return run.get(*DEPLOYMENT).inputs["spec"]["template"]["spec"]


def main_container(run):
    return pod_spec(run)["containers"][0]


def test_every_resource_hangs_off_the_component(default_run):
    component = default_run.get("mailstack:stalwart:StalwartServer", "stalwart")
    children = {r.name for r in default_run.resources if r.parent_urn == component.urn}
    assert children == {
        "stalwart-namespace",
        "stalwart-data",
        "stalwart-admin-password",
        "stalwart-admin-salt",
        "stalwart-metrics-password",
        "stalwart-secrets",
        "stalwart-config",
        "stalwart-deployment",
        "stalwart-service",
        "stalwart-tailscale-ingress",
        "stalwart-public-ingress",
        "stalwart-network-policy",
        "stalwart-backups",
    }


@pytest.mark.parametrize("resource", [NAMESPACE, CLAIM])
def test_mail_data_and_its_namespace_are_protected_and_retained(default_run, resource):
    registration = default_run.get(*resource)
    assert registration.protect
    assert registration.retain_on_delete


def test_nothing_else_is_protected(default_run):
    protected = {r.name for r in default_run.resources if r.protect}
    assert protected == {"stalwart-namespace", "stalwart-data"}


def test_namespace_is_named_explicitly(default_run):
    assert default_run.get(*NAMESPACE).inputs["metadata"]["name"] == "stalwart"


def test_data_claim_is_10gi_longhorn_read_write_once(default_run):
    claim = default_run.get(*CLAIM).inputs
    assert claim["metadata"]["name"] == "stalwart-data"
    assert claim["metadata"]["namespace"] == "stalwart"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "longhorn",
        "resources": {"requests": {"storage": "10Gi"}},
    }


def test_data_claim_is_mounted_at_the_stalwart_base_path(default_run):
    volumes = {v["name"]: v for v in pod_spec(default_run)["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"] == {"claimName": "stalwart-data"}
    mounts = {m["name"]: m["mountPath"] for m in main_container(default_run)["volumeMounts"]}
    assert mounts["data"] == "/opt/stalwart"


@pytest.mark.parametrize(
    "overrides",
    [
        {"mailstack:image": "stalwartlabs/stalwart:v0.15.4"},
        {"mailstack:adminPassword": ADMIN_PASSWORD},
        {"mailstack:resendApiKey": "re_AnotherKey0123456789"},
        {"mailstack:webmailHostname": "webmail"},
        {"mailstack:tailnetHostname": "post"},
        {"mailstack:domain": "example.org"},
    ],
)
def test_no_setting_but_their_own_changes_the_namespace_or_claim(default_run, overrides):
    changed = stack_run(overrides)
    for resource in (NAMESPACE, CLAIM):
        assert changed.get(*resource).inputs == default_run.get(*resource).inputs


def test_deployment_recreates_because_rocksdb_holds_a_lock(default_run):
    spec = default_run.get(*DEPLOYMENT).inputs["spec"]
    assert spec["strategy"] == {"type": "Recreate"}
    assert spec["replicas"] == 1


def test_deployment_and_service_keep_the_names_consumers_use(default_run):
    assert default_run.get(*DEPLOYMENT).inputs["metadata"]["name"] == "stalwart"
    service = default_run.get(*SERVICE).inputs
    assert (service["metadata"]["name"], service["metadata"]["namespace"]) == (
        "stalwart",
        "stalwart",
    )
    assert default_run.outputs["smtpHost"] == "stalwart.stalwart.svc.cluster.local"
    assert default_run.outputs["smtpPort"] == 587


def test_service_exposes_http_submission_and_imaps(default_run):
    service = default_run.get(*SERVICE).inputs["spec"]
    assert service["type"] == "ClusterIP"
    assert [(p["name"], p["port"], p["targetPort"]) for p in service["ports"]] == [
        ("http", 8080, "http"),
        ("submission", 587, "submission"),
        ("imaps", 993, "imaps"),
        ("metrics", 9090, "metrics"),
    ]
    selector = default_run.get(*DEPLOYMENT).inputs["spec"]["selector"]["matchLabels"]
    assert service["selector"] == selector


def test_container_ports_and_probes_use_v015_health_endpoints(default_run):
    container = main_container(default_run)
    assert [(p["name"], p["containerPort"]) for p in container["ports"]] == [
        ("http", 8080),
        ("submission", 587),
        ("imaps", 993),
        ("metrics", 9090),
    ]
    assert container["livenessProbe"]["httpGet"] == {
        "path": "/healthz/live",
        "port": "http",
        "httpHeaders": XFF,
    }
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/healthz/ready",
        "port": "http",
        "httpHeaders": XFF,
    }
    startup = container["startupProbe"]
    assert startup["httpGet"]["path"] == "/healthz/live"
    # First boot downloads the spam rules and the webadmin bundle: allow five minutes.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


def test_config_is_copied_fresh_by_the_stalwart_image_itself(default_run):
    spec = pod_spec(default_run)
    (init,) = spec["initContainers"]
    assert init["image"] == main_container(default_run)["image"]
    # Group-writable: Stalwart, after dropping to RUN_AS_USER, rewrites it on webadmin edits.
    assert init["command"] == [
        "install",
        "-m",
        "0664",
        "/etc/mailstack/config.toml",
        sc.CONFIG_PATH,
    ]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["config"] == {"name": "config", "emptyDir": {}}
    mounts = {m["name"]: m["mountPath"] for m in main_container(default_run)["volumeMounts"]}
    assert mounts["config"] == "/opt/stalwart/etc"


def test_config_map_holds_the_rendered_config_and_no_secret(default_run):
    config_map = default_run.get(*CONFIG_MAP)
    assert secret_paths(config_map.inputs) == []
    assert config_map.inputs["data"]["config.toml"] == sc.render_toml(
        sc.render_config(DEFAULT_RELAY, DEFAULT_MECHANISMS, "mail.example.com")
    )
    for value in (RESEND_KEY, "$6$"):
        assert value not in str(config_map.inputs)


def test_config_map_and_secret_are_auto_named_so_changes_roll_the_pod(default_run):
    # An auto-named object is replaced (new name) when its data changes; the pod template
    # references the name, so the Deployment rolls. The mocks cannot replace, so this checks
    # the two halves of that mechanism: no fixed name, and the template uses the provider's name.
    volumes = {v["name"]: v for v in pod_spec(default_run)["volumes"]}
    config_map = default_run.get(*CONFIG_MAP)
    secret = default_run.get(*SECRET)
    assert "name" not in config_map.inputs["metadata"]
    assert "name" not in secret.inputs["metadata"]
    assert volumes["config-source"]["configMap"]["name"] == config_map.state["metadata"]["name"]
    assert volumes["secrets"]["secret"]["secretName"] == secret.state["metadata"]["name"]


def test_secret_holds_the_relay_key_and_admin_hash_as_secrets(run_stack):
    run = run_stack({"mailstack:adminPassword": ADMIN_PASSWORD})
    secret = run.get(*SECRET).inputs
    assert is_secret_value(secret["stringData"])
    values = reveal(secret["stringData"])
    assert set(values) == {sc.ADMIN_SECRET_FILE, sc.RELAY_SECRET_FILE, "metrics-password"}
    assert values[sc.RELAY_SECRET_FILE] == RESEND_KEY
    scrape = run.get("random:index/randomPassword:RandomPassword", "stalwart-metrics-password")
    assert values["metrics-password"] == reveal(scrape.state["result"])
    assert sha512_crypt.verify(ADMIN_PASSWORD, values[sc.ADMIN_SECRET_FILE])
    # Stalwart keeps a trailing newline of a file macro: the values must not have one.
    assert not any(v.endswith("\n") for v in values.values())


def test_admin_hash_is_salted_by_a_random_resource_kept_in_state(run_stack):
    run = run_stack({"mailstack:adminPassword": ADMIN_PASSWORD})
    salt = run.get("random:index/randomString:RandomString", "stalwart-admin-salt")
    assert salt.inputs["length"] == 16
    assert salt.inputs["special"] is False
    digest = reveal(run.get(*SECRET).inputs["stringData"])[sc.ADMIN_SECRET_FILE]
    assert digest == credentials.hash_password(ADMIN_PASSWORD, salt.state["result"])


def test_secret_files_are_mounted_read_only_for_the_macros(default_run):
    volumes = {v["name"]: v for v in pod_spec(default_run)["volumes"]}
    # Group-readable: file macros are read after the drop to RUN_AS_USER (fsGroup).
    assert volumes["secrets"]["secret"]["defaultMode"] == 0o440
    mounts = {m["name"]: m for m in main_container(default_run)["volumeMounts"]}
    assert mounts["secrets"]["mountPath"] == sc.SECRETS_MOUNT
    assert mounts["secrets"]["readOnly"] is True


def test_generated_admin_password_when_none_is_set(default_run):
    password = default_run.get(
        "random:index/randomPassword:RandomPassword", "stalwart-admin-password"
    )
    assert password.inputs["length"] == 32
    assert is_secret_value(default_run.outputs["adminPassword"])
    assert reveal(default_run.outputs["adminPassword"]) == reveal(password.state["result"])


def test_given_admin_password_is_used_and_no_password_is_generated(run_stack):
    run = run_stack({"mailstack:adminPassword": ADMIN_PASSWORD})
    generated = {r.name for r in run.by_type("random:index/randomPassword:RandomPassword")}
    assert generated == {"stalwart-metrics-password"}  # the scrape password only
    assert is_secret_value(run.outputs["adminPassword"])
    assert reveal(run.outputs["adminPassword"]) == ADMIN_PASSWORD
    assert run.outputs["adminUser"] == "admin"


def test_rotating_the_admin_password_changes_only_the_secret(run_stack):
    before = run_stack({"mailstack:adminPassword": ADMIN_PASSWORD})
    after = run_stack({"mailstack:adminPassword": "another-long-password-2"})
    changed = {
        r.name
        for r in after.resources
        if reveal(r.inputs) != reveal(before.get(r.type, r.name).inputs)
    }
    # The pod's Secret (new hash) and the accounts Job's input (it logs in with the new password).
    assert changed == {"stalwart-secrets", "stalwart-accounts-desired"}


def test_tailscale_ingress_matches_the_runbook(default_run):
    ingress = default_run.get(*TAILSCALE).inputs
    assert ingress["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    assert ingress["spec"] == {
        "ingressClassName": "tailscale",
        "rules": [
            {
                "http": {
                    "paths": [
                        {
                            "path": "/",
                            "pathType": "Prefix",
                            "backend": {"service": {"name": "stalwart", "port": {"number": 8080}}},
                        }
                    ]
                }
            }
        ],
        "tls": [{"hosts": ["mail"]}],
    }


def test_public_ingress_goes_through_authentik_forward_auth(default_run):
    ingress = default_run.get(*PUBLIC).inputs
    assert ingress["metadata"]["annotations"] == {
        "cert-manager.io/cluster-issuer": "letsencrypt-production",
        "traefik.ingress.kubernetes.io/router.middlewares": (
            "kube-system-cloudflare-https-scheme@kubernetescrd,"
            "authentik-authentik-forward-auth@kubernetescrd"
        ),
        "pulumi.com/skipAwait": "true",
    }
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "traefik"
    assert [rule["host"] for rule in spec["rules"]] == ["mail.example.com"]
    assert spec["tls"] == [{"hosts": ["mail.example.com"], "secretName": "stalwart-tls"}]


def test_hostnames_follow_the_settings(run_stack):
    run = run_stack({"mailstack:webmailHostname": "webmail", "mailstack:tailnetHostname": "post"})
    assert run.get(*PUBLIC).inputs["spec"]["rules"][0]["host"] == "webmail.example.com"
    assert run.get(*TAILSCALE).inputs["spec"]["tls"] == [{"hosts": ["post"]}]
    assert run.outputs["webmailUrl"] == "https://webmail.example.com"


def test_standard_labels_on_every_kubernetes_object(default_run):
    for registration in default_run.resources:
        if registration.type.startswith("kubernetes:"):
            labels = registration.inputs["metadata"]["labels"]
            assert labels["app.kubernetes.io/managed-by"] == "pulumi", registration.name
            assert labels["app.kubernetes.io/name"] == "stalwart", registration.name


def test_two_runs_with_the_same_settings_register_identical_inputs(default_run):
    # Registration order varies between runs; what is registered, and how, must not.
    def inputs_by_resource(run):
        return {(r.type, r.name): r.inputs for r in run.resources}

    assert inputs_by_resource(stack_run()) == inputs_by_resource(default_run)
