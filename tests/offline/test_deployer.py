"""The deploy identity's RBAC (deployer-rbac.yaml) against what each render needs.

The needs are derived here, independently of offline/deployer.py's table: for every Kubernetes
object of a render, the verbs pulumi-kubernetes v4 uses on it (create POST; update GET + apply
PATCH; refresh GET; delete DELETE + a list/watch informer on the kind, condition/deleted.go) and
the informers its awaiters open (deployment.go, job.go, service.go, ingress.go), with the kind's
resource name guessed as Kubernetes guesses it (apimachinery meta.UnsafeGuessKindToResource).
Then the manifest is evaluated as the RBAC authorizer would: roles bound to the ServiceAccount,
rules matching group, resource, verb and, where given, the object's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import kubernetes_validate
import pytest

from offline.deployer import NAME, deployer_manifests
from offline.harness import Registration, StackRun
from tests.conftest import stack_run
from tests.stalwart.test_upgrade import COPIED, EXPORT, V015, V016_IMAGE
from tests.stalwart.test_upgrade import run as upgrade_run

RESTARTED = [
    {"kind": "Deployment", "name": "authentik-server"},
    {"kind": "StatefulSet", "name": "authentik-worker"},
]
OWNED = {
    "name": "alerts",
    "credentials": {"namespace": "monitoring", "secretName": "am-smtp", "create": True},
}
PATCHED = {
    "name": "noreply",
    "credentials": {"namespace": "authentik", "secretName": "ak-creds", "restart": RESTARTED},
}


def scenarios() -> dict[str, StackRun]:
    accounts = {"mailstack:serviceAccounts": [PATCHED, OWNED]}
    return {
        "v0.15 with both kinds of consumer Secret": stack_run(accounts),
        "v0.16 with backups and monitoring on": stack_run(
            {
                **accounts,
                "mailstack:image": V016_IMAGE,
                "mailstack:backup": {"backupEnabled": True},
                "mailstack:monitoring": {"enabled": True},
            }
        ),
        "upgrade: stop": upgrade_run(V015, upgrade={"phase": "stop"}),
        "upgrade: recover": upgrade_run(
            V015, upgrade={"phase": "recover"}, image=V016_IMAGE, upgradeExport=EXPORT
        ),
        "upgrade: done": upgrade_run(COPIED, image=V016_IMAGE),
        "v0.16 on PostgreSQL with one pod": stack_run(
            {"mailstack:image": V016_IMAGE, "mailstack:storage": "postgresql"}
        ),
        "v0.16 on PostgreSQL with two pods": stack_run(
            {
                "mailstack:image": V016_IMAGE,
                "mailstack:storage": "postgresql",
                "mailstack:replicas": "2",
            }
        ),
    }


RUNS = scenarios()


def plural(kind: str) -> str:
    """apimachinery's guess: lowercase; `s` ending → `es`, `y` ending → `ies`, else `s`."""
    lower = kind.lower()
    if lower.endswith("s"):
        return lower + "es"
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + "s"


@dataclass(frozen=True)
class Need:
    namespace: str | None
    group: str
    resource: str
    verb: str
    name: str | None = None


def objects(run: StackRun) -> list[Registration]:
    return [r for r in run.resources if r.type.startswith("kubernetes:")]


# The informers each awaiter opens (pulumi-kubernetes provider/pkg/await: deployment.go,
# statefulset.go, job.go, service.go, ingress.go), on create, update and refresh alike, for the
# kind and for a `*Patch` of it; every awaited operation also follows the namespace's events.
AWAITER_INFORMERS: dict[str, list[tuple[str, str]]] = {
    "Deployment": [
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("", "pods"),
        ("", "persistentvolumeclaims"),
    ],
    "StatefulSet": [("apps", "statefulsets"), ("", "pods")],
    "Job": [("batch", "jobs"), ("", "pods")],
    "Service": [("", "services"), ("", "endpoints")],
    "Ingress": [("networking.k8s.io", "ingresses"), ("", "services"), ("", "endpoints")],
}


def awaited(registration: Registration, kind: str) -> list[tuple[str, str]]:
    """The informers the provider's awaiter opens for this object, none with skipAwait."""
    annotations = (registration.inputs.get("metadata") or {}).get("annotations") or {}
    if annotations.get("pulumi.com/skipAwait") == "true":
        return []
    informers = AWAITER_INFORMERS.get(kind.removesuffix("Patch"), [])
    return [*informers, ("", "events")] if informers else []


def needs(run: StackRun) -> set[Need]:
    found: set[Need] = set()
    for registration in objects(run):
        api_version = str(registration.state["apiVersion"])
        group = api_version.split("/")[0] if "/" in api_version else ""
        kind = registration.type.rsplit(":", 1)[-1]
        metadata = registration.state.get("metadata") or {}
        namespace, name = metadata.get("namespace"), metadata.get("name")
        for informer_group, informer_resource in awaited(registration, kind):
            found |= {
                Need(namespace, informer_group, informer_resource, v) for v in ("list", "watch")
            }
        if kind.endswith("Patch"):  # apply PATCH to create, update and relinquish; GET to read
            patched = plural(kind.removesuffix("Patch"))
            found |= {Need(namespace, group, patched, verb, name) for verb in ("get", "patch")}
            continue
        resource = plural(kind)
        if kind == "Namespace":  # created by the first `up` from a laptop; protected
            assert registration.protect
            found |= {Need(None, "", "namespaces", verb, name) for verb in ("get", "patch")}
            continue
        found |= {Need(namespace, group, resource, verb) for verb in ("create", "patch")}
        found.add(Need(namespace, group, resource, "get", name))
        if not registration.protect:  # delete, then wait on an informer of the kind
            found |= {Need(namespace, group, resource, v) for v in ("delete", "list", "watch")}
        if kind == "PersistentVolumeClaim":
            storage_class = registration.state["spec"]["storageClassName"]
            found.add(Need(None, "storage.k8s.io", "storageclasses", "get", storage_class))
        if kind == "Role":  # the escalation check: grant only what the creator holds
            for rule in registration.state["rules"]:
                for rule_group in rule["apiGroups"]:
                    for rule_resource in rule["resources"]:
                        found |= {
                            Need(namespace, rule_group, rule_resource, verb)
                            for verb in rule["verbs"]
                        }
    return found


def _matches(rule: dict[str, Any], need: Need) -> bool:
    names = rule.get("resourceNames")
    return (
        need.group in rule["apiGroups"]
        and need.resource in rule["resources"]
        and need.verb in rule["verbs"]
        and (not names or need.name in names)
    )


def allows(manifest: list[dict[str, Any]], need: Need) -> bool:
    roles = {
        (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in manifest
    }
    for binding in manifest:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        subject = {"kind": "ServiceAccount", "name": NAME, "namespace": "stalwart"}
        if subject not in binding["subjects"]:
            continue
        scope = binding["metadata"].get("namespace")  # None: cluster-wide
        if scope is not None and scope != need.namespace:
            continue
        ref = binding["roleRef"]
        role = roles.get((ref["kind"], scope if ref["kind"] == "Role" else None, ref["name"]))
        if role and any(_matches(rule, need) for rule in role["rules"]):
            return True
    return False


@pytest.mark.parametrize("scenario", list(RUNS))
def test_the_deploy_identity_may_do_all_that_the_stack_needs(scenario):
    run = RUNS[scenario]
    manifest = deployer_manifests(objects(run))
    missing = sorted((n for n in needs(run) if not allows(manifest, n)), key=str)
    assert missing == []


@pytest.mark.parametrize("scenario", list(RUNS))
def test_the_manifest_is_valid_kubernetes(scenario):
    for document in deployer_manifests(objects(RUNS[scenario])):
        kubernetes_validate.validate(document, "1.31.0", strict=True)


def test_and_not_more_than_that():
    manifest = deployer_manifests(objects(RUNS["v0.15 with both kinds of consumer Secret"]))
    refused = [
        Need(None, "", "namespaces", "create"),
        Need(None, "", "namespaces", "delete", "stalwart"),
        Need(None, "", "namespaces", "get", "kube-system"),
        Need("kube-system", "", "secrets", "get", "anything"),
        Need("authentik", "", "secrets", "list"),  # a patched consumer: its one Secret only
        Need("authentik", "", "secrets", "get", "authentik-secret-key"),
        Need("authentik", "apps", "deployments", "patch", "some-other-app"),
        Need("authentik", "apps", "deployments", "delete", "authentik-server"),
        Need("stalwart", "", "pods", "create"),
        Need("stalwart", "", "pods/exec", "create"),
        Need("longhorn-system", "longhorn.io", "volumes", "delete"),
        Need(None, "rbac.authorization.k8s.io", "clusterroles", "create"),
        # PostgreSQL's kinds only where the render has them (offline/deployer.py STORAGE_RULES).
        Need("stalwart", "apps", "statefulsets", "create"),
        Need("stalwart", "postgresql.cnpg.io", "clusters", "create"),
        Need("stalwart", "policy", "poddisruptionbudgets", "create"),
    ]
    assert [need for need in refused if allows(manifest, need)] == []


def test_a_kind_without_known_permissions_stops_the_render(monkeypatch):
    from offline import deployer

    monkeypatch.delitem(deployer.KIND_RESOURCE, "NetworkPolicy")
    with pytest.raises(
        deployer.DeployerError, match=r"NetworkPolicy.*add it to offline/deployer\.py"
    ):
        deployer_manifests(objects(RUNS["v0.15 with both kinds of consumer Secret"]))


def test_a_delete_without_watch_would_be_caught():
    # The test's own model, broken on purpose the way pulumi-kubernetes#4580 describes.
    run = RUNS["v0.15 with both kinds of consumer Secret"]
    manifest = deployer_manifests(objects(run))
    for document in manifest:
        if document["kind"] == "Role" and document["metadata"]["namespace"] == "monitoring":
            document["rules"][0]["verbs"].remove("watch")
    assert Need("monitoring", "", "secrets", "watch") in needs(run)
    assert not allows(manifest, Need("monitoring", "", "secrets", "watch"))


def test_a_postgresql_stack_of_one_pod_may_already_make_a_disruption_budget():
    """Scaling from one pod to two adds PodDisruptionBudgets: the RBAC of the one-pod render
    must allow them, or the scale-up fails with 403 (the owner re-applies the RBAC after the
    render, not before)."""
    one = deployer_manifests(objects(RUNS["v0.16 on PostgreSQL with one pod"]))
    for verb in ("create", "delete", "list", "watch"):
        assert allows(one, Need("stalwart", "policy", "poddisruptionbudgets", verb, "x")), verb
