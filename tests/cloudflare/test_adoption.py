"""Adopting the running system: import ids, ignore_changes, protection, server-side takeover."""

from __future__ import annotations

import pytest

from components.cloudflare.resources import BY_ADOPT_KEY, RESOURCES
from tests.conftest import ACCOUNT_ID, TUNNEL_ID, ZONE_ID, stack_run

RECORD = "0" * 31 + "1"
ADDRESS_ID = "ab" * 16
ADOPT_CLOUDFLARE = {
    "webmailTunnelConfig": f"{ACCOUNT_ID}/{TUNNEL_ID}",
    "webmailCname": f"{ZONE_ID}/{'c' * 32}",
    "emailRoutingSettings": ZONE_ID,
    "emailRoutingDns": ZONE_ID,
    "emailRoutingAddress": f"{ACCOUNT_ID}/{ADDRESS_ID}",
    "emailRoutingCatchAll": ZONE_ID,
    "resendDkim": f"{ZONE_ID}/{'d' * 32}",
    "resendBounceMx": f"{ZONE_ID}/{'e' * 32}",
    "resendSpf": f"{ZONE_ID}/{'f' * 32}",
    "resendDmarc": f"{ZONE_ID}/{RECORD}",
}
ADOPT = {"kubernetes": True, "cloudflare": ADOPT_CLOUDFLARE}
NAMESPACE = ("kubernetes:core/v1:Namespace", "stalwart-namespace")
CLAIM = ("kubernetes:core/v1:PersistentVolumeClaim", "stalwart-data")


@pytest.fixture(scope="module")
def adopting():
    return stack_run({"mailstack:adopt": ADOPT, "mailstack:dataClaimName": "stalwart-pvc"})


def by_name(run):
    return {r.name: r for r in run.resources}


def test_namespace_and_claim_are_imported_and_stay_protected(adopting):
    namespace = adopting.get(*NAMESPACE)
    claim = adopting.get(*CLAIM)
    assert namespace.import_id == "stalwart"
    assert claim.import_id == "stalwart/stalwart-pvc"
    for registration in (namespace, claim):
        assert registration.protect and registration.retain_on_delete


def test_adopted_claim_keeps_its_existing_name(adopting):
    assert adopting.get(*CLAIM).inputs["metadata"]["name"] == "stalwart-pvc"
    volumes = adopting.get("kubernetes:apps/v1:Deployment", "stalwart-deployment").inputs["spec"][
        "template"
    ]["spec"]["volumes"]
    assert volumes[0]["persistentVolumeClaim"] == {"claimName": "stalwart-pvc"}


@pytest.mark.parametrize("key", sorted(BY_ADOPT_KEY))
def test_every_cloudflare_resource_carries_its_import_id(adopting, key):
    logical_name = BY_ADOPT_KEY[key].name
    assert by_name(adopting)[logical_name].import_id == ADOPT_CLOUDFLARE[key]


def test_only_the_adopted_resources_are_imported(adopting):
    imported = {r.name for r in adopting.resources if r.import_id}
    assert imported == {resource.name for resource in RESOURCES} | {
        "stalwart-namespace",
        "stalwart-data",
    }


def test_nothing_is_taken_over_by_server_side_apply(adopting):
    # docs/how-to/adopt-the-old-system.md (step 5) deletes the Flux Deployment, Service and
    # Ingresses before the adopting
    # update: creating an existing object fails, and a forced apply would keep the fields only
    # Flux set (a selector key that leaves the new Service without endpoints).
    for registration in adopting.resources:
        annotations = (registration.inputs.get("metadata") or {}).get("annotations") or {}
        assert "pulumi.com/patchForce" not in annotations, registration.name


def test_without_adopt_nothing_is_imported(default_run):
    assert [r.name for r in default_run.resources if r.import_id] == []


def test_adopting_changes_no_input_of_the_claim_or_namespace_but_the_claim_name(
    adopting, default_run
):
    assert adopting.get(*NAMESPACE).inputs == default_run.get(*NAMESPACE).inputs
    adopted_claim = adopting.get(*CLAIM).inputs
    assert adopted_claim["spec"] == default_run.get(*CLAIM).inputs["spec"]


def test_partial_cloudflare_adoption_imports_only_what_is_listed():
    run = stack_run({"mailstack:adopt": {"cloudflare": {"emailRoutingSettings": ZONE_ID}}})
    assert {r.name: r.import_id for r in run.resources if r.import_id} == {
        "email-routing-settings": ZONE_ID
    }


def test_imports_ignore_the_inputs_the_old_system_set_differently(adopting):
    resources = by_name(adopting)
    # Not metadata: the adopting update would send the imported metadata (managedFields) back.
    assert resources["stalwart-namespace"].ignore_changes == ["spec"]
    assert resources["stalwart-data"].ignore_changes == [
        "spec.volumeName",
        "spec.volumeMode",
        "metadata",
        "spec",
    ]
    assert "comment" in resources["resend-dns-dmarc"].ignore_changes
    assert "content" in resources["webmail-tunnel-cname"].ignore_changes
    assert resources["webmail-tunnel-config"].ignore_changes == ["config", "source"]
    assert "actions" in resources["email-routing-catch-all"].ignore_changes


def test_without_adopt_only_the_routing_records_and_the_claims_server_fields_are_ignored(
    default_run,
):
    # EmailRoutingDns ignores `name` always: its Update would unlock the MX records. A claim
    # ignores what the API server writes into its spec: after an adoption the state holds them
    # (the import read the live claim) and a claim's spec change is a replace (make e2e).
    ignoring = {r.name: r.ignore_changes for r in default_run.resources if r.ignore_changes}
    assert ignoring == {
        "email-routing-dns": ["name"],
        "stalwart-data": ["spec.volumeName", "spec.volumeMode"],
    }
