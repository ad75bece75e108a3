"""Consumers restart on a rotation, and only then: a patch of their pod template's annotation
whose value follows the password without revealing it."""

from __future__ import annotations

import hashlib

import pytest

from offline.secrets import is_secret_value, reveal
from tests.conftest import stack_run

RESTART = [
    {"kind": "Deployment", "name": "authentik-server"},
    {"kind": "StatefulSet", "name": "authentik-worker"},
]
DEPLOYMENT = (
    "kubernetes:apps/v1:DeploymentPatch",
    "stalwart-accounts-noreply-restart-deployment-authentik-server",
)
STATEFULSET = (
    "kubernetes:apps/v1:StatefulSetPatch",
    "stalwart-accounts-noreply-restart-statefulset-authentik-worker",
)
ANNOTATION = "mailstack.pulumi.com/credential-noreply"


def run(version: int = 1, restart=RESTART):
    credentials = {
        "namespace": "authentik",
        "secretName": "authentik-credentials",
        "restart": restart,
    }
    account = {"name": "noreply", "credentials": credentials, "passwordVersion": version}
    return stack_run({"mailstack:serviceAccounts": [account]})


def value(run_, patch=DEPLOYMENT) -> str:
    annotations = run_.get(*patch).inputs["spec"]["template"]["metadata"]["annotations"]
    return annotations[ANNOTATION]


@pytest.fixture(scope="module")
def first():
    return run()


def test_each_named_workload_gets_the_annotation_under_its_own_field_manager(first):
    for patch in (DEPLOYMENT, STATEFULSET):
        registration = first.get(*patch)
        metadata = registration.inputs["metadata"]
        assert metadata["namespace"] == "authentik"
        assert (
            metadata["annotations"]["pulumi.com/patchFieldManager"] == "mailstack-restart-noreply"
        )
        assert set(registration.inputs["spec"]) == {"template"}  # nothing else of the workload
        assert not is_secret_value(value(first, patch))
    assert value(first, DEPLOYMENT) == value(first, STATEFULSET)


def test_the_workloads_roll_after_the_password_reached_their_secret(first):
    depends = {first.name_of(urn) for urn in first.get(*DEPLOYMENT).depends_on}
    assert depends == {"stalwart-accounts-noreply-credentials"}


def test_the_consumer_secret_is_read_first_so_a_missing_one_is_no_created_stub(first):
    """A patch upserts (server-side apply): without the read, a typo in the Secret's name
    would create a stub Secret; the read fails instead (make e2e, test_consumers.py). A
    workload is not read: reading one runs the rollout awaiter (the pods of the namespace), and
    the API server refuses a Deployment made of a pod-template annotation anyway."""
    reads = {read.name: (read.type, read.id) for read in first.reads}
    assert set(reads) == {"stalwart-accounts-noreply-credentials-target"}
    secret_patch = first.get(
        "kubernetes:core/v1:SecretPatch", "stalwart-accounts-noreply-credentials"
    )
    assert "stalwart-accounts-noreply-credentials-target" in {
        first.name_of(urn) for urn in secret_patch.depends_on
    }
    assert reads["stalwart-accounts-noreply-credentials-target"] == (
        "kubernetes:core/v1:Secret",
        "authentik/authentik-credentials",
    )


def test_an_update_without_a_new_password_patches_nothing(first):
    assert value(run()) == value(first)


def test_a_new_password_version_rolls_them(first):
    rotated = run(version=2)
    old = reveal(first.outputs["serviceAccountPasswords"])["noreply"]
    new = reveal(rotated.outputs["serviceAccountPasswords"])["noreply"]
    assert old != new
    assert value(rotated) != value(first)


def test_the_value_is_neither_the_password_nor_an_unsalted_hash_of_it(first):
    password = reveal(first.outputs["serviceAccountPasswords"])["noreply"]
    shown = value(first)
    assert len(shown) == 16 and int(shown, 16) >= 0
    for algorithm in ("md5", "sha1", "sha256", "sha512"):
        assert shown not in hashlib.new(algorithm, password.encode()).hexdigest()
    assert password not in shown and shown not in password


def test_without_restart_no_workload_is_touched():
    names = {r.type for r in run(restart=[]).resources}
    assert not {"kubernetes:apps/v1:DeploymentPatch", "kubernetes:apps/v1:StatefulSetPatch"} & names
