"""The policy pack (policy/): its rules on the offline render, and how the pack registers them.

The pass case is the real render (`offline.render`, as `make render` writes it); each fail case is
a copy of one real record with one field changed.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from types import ModuleType
from typing import Any

import pytest
from pulumi.runtime.config import CONFIG
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from offline import render
from offline.harness import PROJECT_ROOT
from policy import mailstack_policies as mp

POLICY_DIR = PROJECT_ROOT / "policy"
DOMAIN = render.load_stack_config("prod")[0]["mailstack:domain"]
WEBMAIL_CNAME = "webmail-tunnel-cname"
TUNNEL_CONFIG = "webmail-tunnel-config"
HASH = "$6$rounds=5000$saltsalt$" + "A" * 86
RESEND_KEY = "re_Leaked123456789abcdef"


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> list[dict[str, Any]]:
    out = tmp_path_factory.mktemp("policy") / "rendered"
    assert render.main(["--out", str(out)]) == 0
    return json.loads((out / "resources.json").read_text())


@pytest.fixture
def record(records):
    """A deep copy of the real record of (type, logical name), free to change."""

    def pick(type_: str, name: str) -> dict[str, Any]:
        matches = [r for r in records if (r["type"], r["name"]) == (type_, name)]
        assert len(matches) == 1, (type_, name)
        return copy.deepcopy(matches[0])

    return pick


@pytest.fixture
def deployment(record) -> dict[str, Any]:
    return record(mp.DEPLOYMENT_TYPE, "stalwart-deployment")


@pytest.fixture
def configmap(record) -> dict[str, Any]:
    return record(mp.CONFIGMAP_TYPES[0], "stalwart-config")


@pytest.fixture
def tunnel(record) -> dict[str, Any]:
    return record(mp.TUNNEL_CONFIG_TYPE, TUNNEL_CONFIG)


def violations(*records: dict[str, Any], domain: str | None = DOMAIN) -> list[str]:
    return mp.violations([mp.from_render_record(r) for r in records], domain)


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["inputs"]["spec"]["template"]["spec"]


def ingresses(tunnel: dict[str, Any]) -> list[dict[str, Any]]:
    return tunnel["inputs"]["config"]["ingresses"]


def config_toml(configmap: dict[str, Any]) -> str:
    return configmap["inputs"]["data"]["config.toml"]


# --- the pass case: the real render ---


def test_the_real_render_violates_no_policy(records):
    assert violations(*records) == []


def test_the_render_holds_every_resource_the_policies_look_at(records):
    # Without these the pass case above would pass vacuously.
    present = {(r["type"], r["name"]) for r in records}
    assert present >= mp.KEPT_RESOURCES
    assert (mp.TUNNEL_CONFIG_TYPE, TUNNEL_CONFIG) in present
    assert sum(r["type"] == mp.DNS_RECORD_TYPE for r in records) == 5
    stalwart = [r for r in records if mp.runs_stalwart(mp.from_render_record(r))]
    assert [r["name"] for r in stalwart] == ["stalwart-deployment"]
    config = next(r for r in records if r["name"] == "stalwart-config")
    assert 'secret = "%{file:' in config_toml(config)


# --- 1. data PVC and namespace kept ---


def test_an_unprotected_data_pvc_is_refused(record):
    claim = record(mp.PVC_TYPE, "stalwart-data")
    claim["protect"] = False
    [message] = violations(claim)
    assert "'stalwart-data' is not protected" in message
    assert "protect=True" in message


def test_a_data_pvc_not_retained_on_delete_is_refused(record):
    claim = record(mp.PVC_TYPE, "stalwart-data")
    claim["retainOnDelete"] = False
    [message] = violations(claim)
    assert "not retained on delete" in message
    assert "retain_on_delete=True" in message


def test_an_unprotected_namespace_is_refused(record):
    namespace = record(mp.NAMESPACE_TYPE, "stalwart-namespace")
    namespace["protect"] = False
    [message] = violations(namespace)
    assert "'stalwart-namespace' is not protected" in message


def test_an_unknown_retain_on_delete_is_not_reported(record):
    # Under the engine retain-on-delete is not exposed to policies: None, never a violation.
    claim = record(mp.PVC_TYPE, "stalwart-data")
    claim["retainOnDelete"] = None
    assert violations(claim) == []


# --- 2. Recreate ---


def test_a_rolling_update_stalwart_deployment_is_refused(deployment):
    deployment["inputs"]["spec"]["strategy"] = {"type": "RollingUpdate"}
    [message] = violations(deployment)
    assert "strategy RollingUpdate" in message
    assert "'Recreate'" in message


def test_a_stalwart_deployment_without_a_strategy_is_refused(deployment):
    del deployment["inputs"]["spec"]["strategy"]
    [message] = violations(deployment)
    assert "RollingUpdate (the default)" in message


def test_a_rolling_update_deployment_of_another_image_is_accepted(deployment):
    deployment["inputs"]["spec"]["strategy"] = {"type": "RollingUpdate"}
    for container in pod_spec(deployment)["containers"] + pod_spec(deployment)["initContainers"]:
        container["image"] = "docker.io/library/nginx:1.27.3"
    assert violations(deployment) == []


def test_a_stalwart_image_from_docker_hub_by_full_name_is_recognised(deployment):
    pod_spec(deployment)["containers"][0]["image"] = "docker.io/stalwartlabs/stalwart:v0.15.5"
    deployment["inputs"]["spec"]["strategy"] = {"type": "RollingUpdate"}
    assert len(violations(deployment)) == 1


# --- 3. pinned images ---


def test_a_latest_image_is_refused(deployment):
    pod_spec(deployment)["containers"][0]["image"] = "stalwartlabs/stalwart:latest"
    [message] = violations(deployment)
    assert "container 'stalwart'" in message
    assert "the tag 'latest'" in message


def test_an_untagged_init_container_image_is_refused(deployment):
    pod_spec(deployment)["initContainers"][0]["image"] = "stalwartlabs/stalwart"
    [message] = violations(deployment)
    assert "initContainer 'install-config'" in message
    assert "no tag" in message


def test_a_container_without_an_image_is_refused(deployment):
    del pod_spec(deployment)["containers"][0]["image"]
    assert any("has no image" in m for m in violations(deployment))


def test_an_unpinned_cronjob_image_is_refused():
    cronjob = {
        "type": "kubernetes:batch/v1:CronJob",
        "name": "backup",
        "inputs": {
            "spec": {
                "jobTemplate": {
                    "spec": {"template": {"spec": {"containers": [{"name": "b", "image": "x"}]}}}
                }
            }
        },
    }
    [message] = violations(cronjob)
    assert "kubernetes:batch/v1:CronJob 'backup'" in message


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("stalwartlabs/stalwart:v0.15.5", True),
        ("stalwartlabs/stalwart@sha256:" + "ab" * 32, True),
        ("stalwartlabs/stalwart:latest@sha256:" + "ab" * 32, True),
        ("registry.local:5000/stalwart:v0.15.5", True),
        ("registry.local:5000/stalwart", False),
        ("stalwartlabs/stalwart:", False),
        ("stalwartlabs/stalwart:LATEST", False),
        ("stalwartlabs/stalwart@sha256:nothex", False),
    ],
)
def test_image_references_are_read_as_pinned_or_not(image, pinned):
    assert (mp.image_pin_problem(image) is None) is pinned


# --- 4. no secrets in ConfigMaps, labels, annotations ---


def test_a_sha512_crypt_hash_in_a_label_is_refused(record):
    claim = record(mp.PVC_TYPE, "stalwart-data")
    claim["inputs"]["metadata"]["labels"]["admin-hash"] = HASH
    [message] = violations(claim)
    assert "metadata.labels 'admin-hash'" in message
    assert "password hash" in message


def test_a_hash_in_a_pod_template_annotation_is_refused(deployment):
    template = deployment["inputs"]["spec"]["template"]["metadata"]
    template["annotations"] = {"checksum/admin": HASH}
    [message] = violations(deployment)
    assert "spec.template.metadata.annotations 'checksum/admin'" in message


def test_a_resend_key_in_a_configmap_is_refused(configmap):
    configmap["inputs"]["data"]["relay.env"] = f"RELAY_USER=resend\nRELAY_KEY={RESEND_KEY}\n"
    [message] = violations(configmap)
    assert "data 'relay.env' holds a Resend API key" in message


def test_a_literal_secret_in_the_stalwart_config_is_refused(configmap):
    data = configmap["inputs"]["data"]
    data["config.toml"] = data["config.toml"].replace(
        '"%{file:/run/secrets/mailstack/admin-secret-hash}%"', '"hunter2-but-longer"'
    )
    [message] = violations(configmap)
    assert "sets 'secret' to a literal value" in message


def test_a_credential_named_configmap_key_is_refused(configmap):
    configmap["inputs"]["data"]["ADMIN_PASSWORD"] = "correct-horse-battery-staple"
    [message] = violations(configmap)
    assert "data 'ADMIN_PASSWORD' is named like a credential" in message


def test_violation_messages_never_repeat_the_secret(configmap):
    configmap["inputs"]["data"]["api-key"] = RESEND_KEY
    configmap["inputs"]["metadata"]["labels"]["h"] = HASH
    found = violations(configmap)
    assert len(found) == 3
    assert not any(RESEND_KEY in m or HASH in m for m in found)


def test_macros_and_harmless_values_of_credential_keys_are_accepted(configmap):
    configmap["inputs"]["data"]["extra.toml"] = (
        "# the token lifetime, not a token\n"
        '[oauth.expiry]\ntoken = "1h"\nrefresh-token = "30d"\n'
        'secret = "%{env:ADMIN_SECRET}%"\nsmtp-password = ""\nrequire-token = true\n'
        'password-file = "/run/secrets/smtp"\napi_key = "${RELAY_API_KEY}"\n'
    )
    assert violations(configmap) == []


def test_expressions_of_a_credential_key_are_not_literals(configmap):
    configmap["inputs"]["data"]["settings.toml"] = "token = base64(user, password)\n"
    assert violations(configmap) == []


def test_credential_named_lines_of_a_script_are_not_reported(configmap):
    # A script's `password = ...` lines are code (the reconcile job reads its password from a file).
    configmap["inputs"]["data"]["job.py"] = 'password = "hunter2-but-longer"\n'
    assert violations(configmap) == []


def test_a_resend_key_in_a_script_is_refused(configmap):
    configmap["inputs"]["data"]["job.py"] = f'KEY = "{RESEND_KEY}"\n'
    [message] = violations(configmap)
    assert "data 'job.py' holds a Resend API key" in message


# --- 5. DNS records inside the zone ---


def test_a_record_outside_the_zone_is_refused(record):
    cname = record(mp.DNS_RECORD_TYPE, WEBMAIL_CNAME)
    cname["inputs"]["name"] = "mail.example.org"
    [message] = violations(cname)
    assert f"'{WEBMAIL_CNAME}' is named 'mail.example.org', outside the zone '{DOMAIN}'" in message


def test_a_lookalike_domain_is_outside_the_zone(record):
    cname = record(mp.DNS_RECORD_TYPE, WEBMAIL_CNAME)
    cname["inputs"]["name"] = f"mail.not{DOMAIN}"
    assert len(violations(cname)) == 1


@pytest.mark.parametrize(
    "name",
    ["example.com", "EXAMPLE.com.", "@", "mail", "_dmarc", "resend._domainkey", "*.example.com"],
)
def test_apex_relative_and_subdomain_names_are_inside(name):
    assert mp.name_in_zone(name, "example.com")


def test_records_cannot_be_checked_without_the_domain_setting(record):
    cname = record(mp.DNS_RECORD_TYPE, WEBMAIL_CNAME)
    [message] = violations(cname, domain=None)
    assert "pulumi config set mailstack:domain" in message


# --- 6. tunnel catch-all ---


def test_a_tunnel_without_a_catch_all_is_refused(tunnel):
    ingresses(tunnel).pop()
    [message] = violations(tunnel)
    assert "the last ingress rule (#3) has a hostname or path" in message


def test_a_tunnel_with_two_catch_alls_is_refused(tunnel):
    ingresses(tunnel).insert(1, {"service": "http_status:404"})
    [message] = violations(tunnel)
    assert "ingress rule #2 has no hostname" in message


def test_a_tunnel_with_the_catch_all_not_last_is_refused(tunnel):
    rules = ingresses(tunnel)
    rules.insert(0, rules.pop())
    found = "\n".join(violations(tunnel))
    assert "ingress rule #1 has no hostname" in found
    assert "the last ingress rule (#4) has a hostname or path" in found


def test_a_catch_all_to_an_origin_is_refused(tunnel):
    ingresses(tunnel)[-1]["service"] = "http://traefik.kube-system.svc.cluster.local:80"
    [message] = violations(tunnel)
    assert "instead of an error status" in message


def test_a_tunnel_without_ingress_rules_is_refused(tunnel):
    tunnel["inputs"]["config"] = {}
    [message] = violations(tunnel)
    assert "has no ingress rules" in message


# --- the pack: policy/__main__.py, without starting it ---


@pytest.fixture
def pack(monkeypatch) -> ModuleType:
    """policy/__main__.py imported as a module: its guard keeps PolicyPack (a gRPC server that
    serves forever) from starting. The engine runs it with policy/ on sys.path."""
    monkeypatch.syspath_prepend(str(POLICY_DIR))
    monkeypatch.delitem(sys.modules, "mailstack_policies", raising=False)
    spec = importlib.util.spec_from_file_location(
        "mailstack_policy_pack", POLICY_DIR / "__main__.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def engine_args(record: dict[str, Any]) -> ResourceValidationArgs:
    """What pulumi-policy builds for a resource: inputs behind its unknown-checking proxy."""
    options = PolicyResourceOptions(
        record["protect"], [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None
    )
    props = unknown_checking_proxy(copy.deepcopy(record["inputs"]))
    return ResourceValidationArgs(
        record["type"], props, "urn:pulumi:prod::mailstack::x", record["name"], options, None
    )


def run_pack(pack: ModuleType, record: dict[str, Any]) -> list[str]:
    reported: list[str] = []
    for policy in pack.POLICIES:
        policy.validate(engine_args(record), lambda message, _urn: reported.append(message))
    return reported


@pytest.fixture
def stack_config():
    """Sets the runtime's stack config, as pulumi-policy does from PULUMI_CONFIG."""
    token = CONFIG.set({"mailstack:domain": DOMAIN})
    yield
    CONFIG.reset(token)


def test_the_pack_registers_every_rule_as_a_mandatory_resource_policy(pack):
    assert [p.name for p in pack.POLICIES] == [
        "stalwart-data-kept",
        "stalwart-deployment-recreate",
        "images-pinned",
        "no-secrets-in-configmaps-or-metadata",
        "dns-records-in-zone",
        "tunnel-final-catch-all",
    ]
    assert all(isinstance(p, ResourceValidationPolicy) for p in pack.POLICIES)
    assert {p.enforcement_level for p in pack.POLICIES} == {EnforcementLevel.MANDATORY}


def test_the_pack_passes_the_real_render(pack, records, stack_config):
    assert [m for r in records for m in run_pack(pack, r)] == []


def test_the_pack_reports_an_unprotected_pvc_from_engine_options(pack, record, stack_config):
    claim = record(mp.PVC_TYPE, "stalwart-data")
    claim["protect"] = False
    [message] = run_pack(pack, claim)
    assert "'stalwart-data' is not protected" in message


def test_the_pack_reads_the_zone_from_the_stack_config(pack, record):
    token = CONFIG.set({"mailstack:domain": "example.org"})
    try:
        [message] = run_pack(pack, record(mp.DNS_RECORD_TYPE, WEBMAIL_CNAME))
    finally:
        CONFIG.reset(token)
    assert "outside the zone 'example.org'" in message


def test_a_resource_left_out_of_the_update_and_not_created_yet_is_not_judged(pack, tunnel):
    """The engine analyzes such a resource with its old inputs, which are none (make e2e's
    `--exclude` runs were refused by tunnel-final-catch-all before the pack skipped it)."""
    tunnel["inputs"] = {}
    assert run_pack(pack, tunnel) == []
    tunnel["inputs"] = {"config": {}}
    assert run_pack(pack, tunnel) != []


def test_an_unknown_unrelated_input_does_not_stop_the_image_rule(pack, deployment, stack_config):
    # At preview a replaced ConfigMap's auto-name is unknown in the Deployment's volumes.
    pod_spec(deployment)["volumes"][1]["configMap"]["name"] = UNKNOWN_STRING_VALUE
    pod_spec(deployment)["containers"][0]["image"] = "stalwartlabs/stalwart:latest"
    [message] = run_pack(pack, deployment)
    assert "the tag 'latest'" in message
