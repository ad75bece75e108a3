"""`mailstack:tls`: a cert-manager Certificate, mounted whole into the v0.16 pod and served on 993
by the plan's one Certificate object, reloaded hourly without a restart (issue 23 item 8)."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from components.stalwart.v016 import plan
from offline.secrets import reveal
from offline.stalwart_schema import plan_problems
from tests.conftest import V016_IMAGE, refusals, stack_run
from tests.monitoring.test_monitoring import strict

VENDOR = Path(__file__).resolve().parents[2] / "vendor" / "cert-manager"
CERTIFICATE = ("kubernetes:cert-manager.io/v1:Certificate", "stalwart-certificate")
DEPLOYMENT = ("kubernetes:apps/v1:Deployment", "stalwart-deployment")
TLS = {"issuer": "letsencrypt-dns"}


@pytest.fixture(scope="module")
def with_tls():
    return stack_run({"mailstack:image": V016_IMAGE, "mailstack:tls": TLS})


def crd_schema() -> dict[str, Any]:
    crd = yaml.safe_load(gzip.decompress((VENDOR / "crd-certificates.yaml.gz").read_bytes()))
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return strict(version["schema"]["openAPIV3Schema"])


def test_the_vendored_crd_is_the_upstream_file():
    digest = hashlib.sha256((VENDOR / "crd-certificates.yaml.gz").read_bytes()).hexdigest()
    assert digest in (VENDOR / "PROVENANCE.md").read_text()


def test_the_certificate_fits_cert_managers_crd_and_covers_the_webmail_host(with_tls):
    body = reveal(with_tls.get(*CERTIFICATE).state)
    applied = {k: v for k, v in body.items() if k in ("apiVersion", "kind", "metadata", "spec")}
    jsonschema.Draft7Validator(crd_schema()).validate(applied)
    spec = applied["spec"]
    assert spec["dnsNames"] == ["mail.example.com"] and spec["commonName"] == "mail.example.com"
    assert spec["issuerRef"] == {
        "name": "letsencrypt-dns",
        "kind": "ClusterIssuer",
        "group": "cert-manager.io",
    }
    assert applied["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"


def test_a_wrong_field_is_refused_by_the_crd_check(with_tls):
    body = reveal(with_tls.get(*CERTIFICATE).state)
    body["spec"]["issuerRef"]["namespace"] = "elsewhere"
    applied = {k: v for k, v in body.items() if k in ("apiVersion", "kind", "metadata", "spec")}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(crd_schema()).validate(applied)


def test_the_pod_waits_for_the_certificate_and_mounts_its_secret_whole(with_tls):
    deployment = with_tls.get(*DEPLOYMENT)
    assert any(urn.endswith("::stalwart-certificate") for urn in deployment.depends_on)
    pod = deployment.inputs["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "tls"]
    assert volume["secret"]["secretName"] == "stalwart-mail-tls"
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "tls"]
    assert mount == {"name": "tls", "mountPath": plan.TLS_MOUNT, "readOnly": True}
    assert "subPath" not in mount  # a subPath mount never sees a renewal


def test_the_plan_serves_the_files_and_the_hourly_reload_rereads_them(with_tls):
    (config,) = [
        r
        for r in with_tls.resources
        if r.type == "kubernetes:core/v1:ConfigMap" and r.name == "stalwart-plan"
    ]
    data = config.inputs["data"]
    operations = [json.loads(line) for line in data["plan.ndjson"].splitlines()]
    (certificate,) = [op for op in operations if op.get("object") == "Certificate"]
    assert certificate["value"]["mail"]["certificate"] == {
        "@type": "File",
        "filePath": f"{plan.TLS_MOUNT}/tls.crt",
    }
    assert plan_problems(operations) == []
    reload = [json.loads(line) for line in data["reload.ndjson"].splitlines()]
    assert {"@type": "ReloadTlsCertificates"} in [
        value for op in reload for value in op["value"].values()
    ]


def test_unset_changes_nothing(default_run):
    assert not [r for r in default_run.resources if "cert-manager" in r.type]


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"issuer": "Lets Encrypt"}, "is not the name of a cert-manager issuer"),
        ({"issuer": "le", "issuerKind": "Vault"}, "issuerKind 'Vault' is not ClusterIssuer"),
        ({"issuer": "le", "dnsNames": ["mail.example.com", "mail.example.com"]}, "distinct"),
        ({"issuer": "le", "dnsNames": "mail.example.com"}, "must be a list"),
        ({"issuer": "le", "dnsNames": ["*.example.com"]}, "lowercase host names"),
        ({"dnsNames": ["mail.example.com"]}, "has no issuer"),
        ({}, "has no issuer"),
        ({"issuer": "le", "secret": "x"}, "unknown field(s) secret"),
        ("letsencrypt", "must be an object with at least issuer"),
    ],
)
def test_bad_values_are_refused(value, says):
    (line,) = refusals({"mailstack:image": V016_IMAGE, "mailstack:tls": value})
    assert line.startswith("mailstack:tls: ") and says in line, line


def test_v015_keeps_its_own_certificate():
    (line,) = refusals({"mailstack:tls": TLS})
    assert "Stalwart v0.16 feature here" in line


def test_a_name_longer_than_a_common_name_may_be_goes_without_one():
    long_name = ("a" * 60) + ".example.com"
    run = stack_run(
        {"mailstack:image": V016_IMAGE, "mailstack:tls": {**TLS, "dnsNames": [long_name]}}
    )
    spec = run.get(*CERTIFICATE).inputs["spec"]
    assert "commonName" not in spec and spec["dnsNames"] == [long_name]
