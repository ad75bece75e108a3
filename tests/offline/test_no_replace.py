"""No setting change can replace or delete the mail volume or its namespace.

Every setting is changed to another valid value, one at a time. Only three settings touch the
identity of the claim or the namespace (their name, the storage class); for those the resources
are protected, so the engine refuses the replacement instead of doing it
(docs/explanation/security.md).
Everything else leaves their inputs alone, or changes only what Kubernetes updates in place.
"""

from __future__ import annotations

from typing import Any

import pytest

from settings import KEYS
from tests.conftest import ACCOUNT_ID, SECRET_KEYS, V016_IMAGE, ZONE_ID, stack_run

NAMESPACE = ("kubernetes:core/v1:Namespace", "stalwart-namespace")
CLAIM = ("kubernetes:core/v1:PersistentVolumeClaim", "stalwart-data")

OTHER_VALUES: dict[str, Any] = {
    "domain": "example.org",
    "adminPassword": "another-long-admin-password",
    "resendApiKey": "re_AnotherKey0123456789",
    "webmailHostname": "webmail",
    "tailnetHostname": "post",
    "namespace": "mail",
    "image": "stalwartlabs/stalwart:v0.15.4",
    "storageClass": "longhorn-ssd",
    "storageSize": "20Gi",
    "cloudflareAccountId": "1" * 32,
    "cloudflareZoneId": "2" * 32,
    "tunnelId": "00000000-0000-4000-8000-000000000000",
    "tunnelOrigin": "https://traefik.kube-system.svc:443",
    "tunnelRoutes": [{"hostname": "auth.example.com", "service": "http://traefik:80"}],
    "adminEmail": "someone@gmail.com",
    "resendDkimRecord": "p=AAAA",
    "resendRegion": "eu-west-1",
    "dmarc": {"policy": "reject"},
    "serviceAccounts": [
        {"name": "noreply", "credentials": {"namespace": "authentik", "secretName": "creds"}}
    ],
    "reconcilerImage": "python:3.13.1-slim-bookworm",
    "upgrade": {"phase": "stop"},
    "upgradeExport": '{"@type":"create","object":"Domain","value":{"d":{"name":"example.com"}}}',
    "relay": {"host": "smtp.example.net", "port": 587, "implicitTls": False},
    "authMechanisms": ["plain"],
    "dataClaimName": "mail-data",
    "adopt": {"kubernetes": True, "cloudflare": {"emailRoutingSettings": ZONE_ID}},
    "runAsUser": "0",
    "imageMirrors": ["registry.lan:5000"],
    "tls": {"issuer": "letsencrypt"},
    # On a deployed RocksDB stack every other storage or replica count is refused
    # (settings/refused.py, tests/settings/test_storage.py): the same values, written out.
    "storage": "rocksdb",
    "replicas": "1",
    "storageMove": {"phase": "copy"},
    "smtpClientNamespaces": ["authentik"],
    "ingressNamespaces": ["kube-system"],
    "backup": {"backupEnabled": True, "snapshotRetain": 3},
    "authentik": {"url": "https://auth.example.com", "groups": ["mail-users"]},
    "monitoring": {"enabled": True, "namespace": "observability"},
}
# Settings that name the claim or the namespace, or pick the claim's storage class: changing
# them after the first `pulumi up` would need a new volume, which protect refuses.
IDENTITY = {"namespace", "storageClass", "dataClaimName"}
# Updated in place by Kubernetes (volume expansion; Longhorn's storage class allows it).
IN_PLACE = {"storageSize": {("spec", "resources", "requests", "storage")}}


def changed_paths(before: Any, after: Any, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    if isinstance(before, dict) and isinstance(after, dict):
        paths: set[tuple[str, ...]] = set()
        for key in set(before) | set(after):
            paths |= changed_paths(before.get(key), after.get(key), (*path, key))
        return paths
    return set() if before == after else {path}


# The homelab as deployed: its claim holds v0.15 data (so the upgrade's stop phase is valid).
DEPLOYED = {"stalwartData": {"primary": {"claim": "stalwart-data", "generation": "0.15"}}}


@pytest.fixture(scope="module")
def baseline():
    return stack_run(previous_outputs=DEPLOYED)


def test_every_setting_is_tried():
    assert set(OTHER_VALUES) == set(KEYS)


@pytest.mark.parametrize("key", sorted(OTHER_VALUES))
def test_changing_a_setting_never_replaces_the_claim_or_namespace(baseline, key):
    overrides = {f"mailstack:{key}": OTHER_VALUES[key]}
    if key == "adopt":
        overrides["mailstack:cloudflareZoneId"] = ZONE_ID
        overrides["mailstack:cloudflareAccountId"] = ACCOUNT_ID
    secret_keys = set(SECRET_KEYS)
    if key == "authentik":
        overrides["authentik:token"] = "authentik-token-0123456789"
        secret_keys.add("authentik:token")
    previous, before = DEPLOYED, baseline
    if key in ("tls", "storageMove"):  # v0.16 settings: tried where the claim holds v0.16
        previous = {"stalwartData": {"primary": {"claim": "stalwart-data", "generation": "0.16"}}}
        overrides["mailstack:image"] = V016_IMAGE
        if key == "storageMove":  # the copy of the claim into PostgreSQL
            overrides["mailstack:storage"] = "postgresql"
        before = stack_run({"mailstack:image": V016_IMAGE}, previous_outputs=previous)
    changed = stack_run(overrides, secret_keys=secret_keys, previous_outputs=previous)
    baseline = before
    for resource in (NAMESPACE, CLAIM):
        registration = changed.get(*resource)
        assert registration.protect and registration.retain_on_delete
        paths = changed_paths(baseline.get(*resource).inputs, registration.inputs)
        if key in IDENTITY:
            continue  # a rename or a new class: protect makes the engine refuse the replace
        assert paths <= IN_PLACE.get(key, set()), (key, resource, paths)


@pytest.mark.parametrize("key", sorted(IDENTITY))
def test_identity_settings_do_touch_identity_and_are_guarded_by_protect(baseline, key):
    changed = stack_run({f"mailstack:{key}": OTHER_VALUES[key]}, previous_outputs=DEPLOYED)
    touched = [
        resource
        for resource in (NAMESPACE, CLAIM)
        if changed_paths(baseline.get(*resource).inputs, changed.get(*resource).inputs)
    ]
    assert touched
    assert all(changed.get(*resource).protect for resource in touched)
