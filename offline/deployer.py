"""The deploy identity's RBAC (`deployer-rbac.yaml` of a render): what CI's `pulumi preview`,
`up` and `refresh` need in the cluster, and nothing else. The owner applies it once, with an admin
kubeconfig, after the first `pulumi up` from a laptop (docs/getting-started/ci.md).

The verbs are those pulumi-kubernetes v4 uses (provider/pkg/await, read at v4.32.0):
- create: POST (4.29+; earlier versions apply with PATCH); update: GET, then a server-side-apply
  PATCH (and a JSON PATCH moving old field managers); preview sends the same requests with dryRun,
  so it needs the same verbs. The `update` verb (PUT) is used only to replace a CRD
  (await.go, `clients.IsCRD`), which the stack never owns, so it is not granted; `make e2e`'s
  audit of the identity's requests saw none;
  refresh: GET; a `*Patch` resource (SecretPatch): apply PATCH only, GET to read.
- delete: DELETE, then it waits with a namespace-wide informer on the kind (list + watch,
  condition/deleted.go): without them the wait never ends (pulumi/pulumi-kubernetes#4580). A
  `resourceNames` rule cannot grant list or watch of a collection.
- awaiting readiness, informers (list + watch) on: Deployment: deployments, replicasets, pods,
  persistentvolumeclaims (deployment.go); Job: jobs, pods (job.go); Service: services,
  endpoints (service.go); Ingress: ingresses, services, endpoints (ingress.go); a claim's storage
  class is read once (awaiters.go); every operation also follows the namespace's events.
- a Role the stack creates may grant only what its creator holds (Kubernetes' escalation check).
- a `*Patch` resource of a consumer's object (its Secret's key, its workload's pod template):
  get and patch of that object, by name.

The stack's own namespace gets a fixed table covering every generation and upgrade phase (a
render shows one of them); other namespaces get what this render's settings touch: each consumer
Secret the stack patches (by name) or owns (the whole collection: deletion needs list + watch),
and Longhorn's recurring jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from offline.harness import Registration

NAME = "mailstack-deployer"
PREVIEWER = "mailstack-previewer"
OWN = ["create", "get", "list", "watch", "patch", "delete"]
READ = ["get", "list", "watch"]

# (API group, resources, verbs) in the stack's namespace, for every phase of both generations.
STACK_NAMESPACE_RULES: list[tuple[str, list[str], list[str]]] = [
    ("", ["configmaps", "persistentvolumeclaims", "secrets", "serviceaccounts", "services"], OWN),
    ("apps", ["deployments"], OWN),
    ("batch", ["cronjobs", "jobs"], OWN),
    ("networking.k8s.io", ["ingresses", "networkpolicies"], OWN),
    ("rbac.authorization.k8s.io", ["rolebindings", "roles"], OWN),
    # mailstack:monitoring (the Prometheus Operator's kinds; a rule may name a group whose CRDs
    # are not installed).
    ("monitoring.coreos.com", ["prometheusrules", "servicemonitors"], OWN),
    # mailstack:tls: the Certificate (its waitFor reads it back; cert-manager writes the Secret).
    ("cert-manager.io", ["certificates"], OWN),
    # The awaiters' informers; `delete` on pods because the Jobs' Role grants it (escalation).
    ("", ["pods"], [*READ, "delete"]),
    ("", ["endpoints", "events"], READ),
    ("apps", ["replicasets"], READ),
]
# mailstack:storage: postgresql, in the stack's namespace only for a PostgreSQL stack (the
# setting is fixed for a stack's life: a RocksDB stack never needs them, a PostgreSQL one always,
# all three whatever its replica count).
# The StatefulSet awaiter follows the StatefulSet and its pods (statefulset.go); the Cluster's
# waitFor reads it back.
STORAGE_RULES: dict[tuple[str, str], list[str]] = {
    ("apps", "statefulsets"): OWN,
    ("policy", "poddisruptionbudgets"): OWN,
    ("postgresql.cnpg.io", "clusters"): OWN,
}
PATCH_KINDS = {
    "SecretPatch": ("", "secrets"),
    "DeploymentPatch": ("apps", "deployments"),
    "StatefulSetPatch": ("apps", "statefulsets"),
}
"""Server-side-apply patches of objects the stack does not own: get and patch, by name."""
KIND_RESOURCE = {
    "ConfigMap": ("", "configmaps"),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims"),
    "Secret": ("", "secrets"),
    "ServiceAccount": ("", "serviceaccounts"),
    "Service": ("", "services"),
    "Deployment": ("apps", "deployments"),
    "CronJob": ("batch", "cronjobs"),
    "Job": ("batch", "jobs"),
    "Ingress": ("networking.k8s.io", "ingresses"),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
    "Role": ("rbac.authorization.k8s.io", "roles"),
    "RoleBinding": ("rbac.authorization.k8s.io", "rolebindings"),
    "RecurringJob": ("longhorn.io", "recurringjobs"),
    "ServiceMonitor": ("monitoring.coreos.com", "servicemonitors"),
    "PrometheusRule": ("monitoring.coreos.com", "prometheusrules"),
    "Certificate": ("cert-manager.io", "certificates"),
    "StatefulSet": ("apps", "statefulsets"),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
    "Cluster": ("postgresql.cnpg.io", "clusters"),
}
"""The kinds the program creates, and their API resource: a kind missing here is a render
error, so a new kind cannot reach CI without its permissions."""


class DeployerError(Exception):
    """The render holds an object whose deploy permissions are not known here."""


@dataclass(frozen=True)
class Touched:
    namespace: str
    storage_classes: tuple[str, ...]
    patched: dict[str, dict[tuple[str, str], list[str]]]
    """Namespace → (API group, resource) → names of objects the stack patches (a consumer
    Secret's key, a consumer workload's pod template annotation)."""
    owned_secret_namespaces: tuple[str, ...]
    """Namespaces outside the stack's where it owns (creates, replaces, deletes) a Secret."""
    other_namespaces: dict[str, set[tuple[str, str]]]
    """Namespace → (API group, resource) the stack owns there (Longhorn's recurring jobs)."""
    home_extra: tuple[tuple[str, str], ...] = ()
    """STORAGE_RULES' (API group, resource) the render has in the stack's namespace."""


def _kind(registration: Registration) -> str:
    return registration.type.rsplit(":", 1)[-1]


def _namespace(registration: Registration) -> str | None:
    metadata = registration.state.get("metadata") or registration.inputs.get("metadata") or {}
    namespace = metadata.get("namespace")
    return namespace if isinstance(namespace, str) else None


def touched(objects: list[Registration]) -> Touched:
    namespaces = [r for r in objects if _kind(r) == "Namespace"]
    if len(namespaces) != 1:
        raise DeployerError(f"expected the stack's one Namespace, found {len(namespaces)}")
    home = str((namespaces[0].state.get("metadata") or {}).get("name"))
    patched: dict[str, dict[tuple[str, str], list[str]]] = {}
    owned: set[str] = set()
    other: dict[str, set[tuple[str, str]]] = {}
    classes: set[str] = set()
    extra: set[tuple[str, str]] = set()
    for registration in objects:
        kind, namespace = _kind(registration), _namespace(registration)
        if kind == "Namespace":
            continue
        if kind in PATCH_KINDS:
            name = str((registration.inputs.get("metadata") or {}).get("name"))
            by_resource = patched.setdefault(str(namespace), {})
            by_resource.setdefault(PATCH_KINDS[kind], []).append(name)
            continue
        if kind not in KIND_RESOURCE:
            raise DeployerError(
                f"{registration.type} ({registration.name}): no deploy permission is known for "
                "this kind; add it to offline/deployer.py (and docs/getting-started/ci.md's RBAC)"
            )
        if kind == "PersistentVolumeClaim":
            storage_class = (registration.inputs.get("spec") or {}).get("storageClassName")
            if isinstance(storage_class, str):
                classes.add(storage_class)
        if namespace == home:
            if KIND_RESOURCE[kind] in STORAGE_RULES:
                extra.add(KIND_RESOURCE[kind])
            continue
        if kind == "Secret":
            owned.add(str(namespace))
        else:
            other.setdefault(str(namespace), set()).add(KIND_RESOURCE[kind])
    return Touched(
        home,
        tuple(sorted(classes)),
        {
            ns: {res: sorted(set(names)) for res, names in sorted(by.items())}
            for ns, by in sorted(patched.items())
        },
        tuple(sorted(owned)),
        other,
        # All of them once any is there: a PostgreSQL stack of one pod has no disruption
        # budget, but scaling it to two (or back) needs the rule before the render has it.
        tuple(sorted(STORAGE_RULES)) if extra else (),
    )


def _rule(
    group: str, resources: list[str], verbs: list[str], names: list[str] | None = None
) -> dict[str, Any]:
    # Copies: a list shared between rules would be written as a YAML alias.
    rule: dict[str, Any] = {
        "apiGroups": [group],
        "resources": list(resources),
        "verbs": list(verbs),
    }
    if names:
        rule["resourceNames"] = list(names)
    return rule


def _binding(kind: str, namespace: str | None, home: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": NAME}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": f"{kind}Binding",
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": NAME},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": home}],
    }


def _role(namespace: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": NAME, "namespace": namespace},
        "rules": rules,
    }


def deployer_manifests(objects: list[Registration]) -> list[dict[str, Any]]:
    """The ServiceAccount, its long-lived token Secret, and the (Cluster)Roles and bindings."""
    seen = touched(objects)
    home = seen.namespace
    documents: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": NAME, "namespace": home},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": f"{NAME}-token",
                "namespace": home,
                "annotations": {"kubernetes.io/service-account.name": NAME},
            },
            "type": "kubernetes.io/service-account-token",
        },
        _role(
            home,
            [_rule(group, res, verbs) for group, res, verbs in STACK_NAMESPACE_RULES]
            + [_rule(group, [res], STORAGE_RULES[(group, res)]) for group, res in seen.home_extra],
        ),
        _binding("Role", home, home),
    ]
    cluster_rules = [
        # The namespace is created by the first `up` from a laptop and never deleted (protected).
        _rule("", ["namespaces"], ["get", "patch"], [home]),
    ]
    if seen.storage_classes:
        cluster_rules.append(
            _rule("storage.k8s.io", ["storageclasses"], ["get"], list(seen.storage_classes))
        )
    documents += [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": NAME},
            "rules": cluster_rules,
        },
        _binding("ClusterRole", None, home),
    ]
    namespaces = sorted(
        {*seen.patched, *seen.owned_secret_namespaces, *seen.other_namespaces} - {home}
    )
    for namespace in namespaces:
        rules: list[dict[str, Any]] = []
        owns_secrets = namespace in seen.owned_secret_namespaces
        if owns_secrets:
            rules.append(_rule("", ["secrets"], OWN))
        for (group, resource), names in seen.patched.get(namespace, {}).items():
            if (group, resource) == ("", "secrets") and owns_secrets:
                continue  # the collection rule covers them
            rules.append(_rule(group, [resource], ["get", "patch"], names))
        for group, resource in sorted(seen.other_namespaces.get(namespace, set())):
            rules.append(_rule(group, [resource], OWN))
        documents += [_role(namespace, rules), _binding("Role", namespace, home)]
    return documents


def previewer_manifests(objects: list[Registration]) -> list[dict[str, Any]]:
    """The read-only identity of pull-request previews and the drift check: `get`, `list` and
    `watch` on what the deploy identity may change, nothing else. A preview's server-side
    dry-run (create, apply) is refused to it, and pulumi-kubernetes then computes that diff on
    the client (provider.go: a forbidden dry-run at preview "defaulting to client-side"), so
    the preview still runs, a little less exactly; a refresh only reads (`make e2e` runs both as
    this identity, and a deploy as it fails)."""
    deploy = deployer_manifests(objects)
    home = touched(objects).namespace
    documents: list[dict[str, Any]] = []
    for document in deploy:
        kind = document["kind"]
        metadata = dict(document["metadata"])
        metadata["name"] = metadata["name"].replace(NAME, PREVIEWER)
        if kind == "ServiceAccount":
            documents.append({**document, "metadata": metadata})
        elif kind == "Secret":
            annotations = {"kubernetes.io/service-account.name": PREVIEWER}
            documents.append({**document, "metadata": {**metadata, "annotations": annotations}})
        elif kind in ("Role", "ClusterRole"):
            rules = [
                {**rule, "verbs": [v for v in ("get", "list", "watch") if v in rule["verbs"]]}
                for rule in document["rules"]
            ]
            documents.append(
                {**document, "metadata": metadata, "rules": [r for r in rules if r["verbs"]]}
            )
        else:  # the bindings
            subjects = [{"kind": "ServiceAccount", "name": PREVIEWER, "namespace": home}]
            role_ref = {**document["roleRef"], "name": PREVIEWER}
            documents.append(
                {**document, "metadata": metadata, "roleRef": role_ref, "subjects": subjects}
            )
    return documents
