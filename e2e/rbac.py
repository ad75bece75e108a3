"""The deploy identity's RBAC held to what it actually asked the API server for.

The API server's audit log (e2e/cluster.py audits the deploy identity only) records each request:
verb, API group, resource, namespace and name. Each request is matched against the rules of the
rendered `deployer-rbac.yaml` as the RBAC authorizer matches them (a Role's rules in its
namespace through a RoleBinding, a ClusterRole's everywhere through a ClusterRoleBinding,
`resourceNames` only for requests that name an object). A rule that no request needed *alone*
is one whose removal would break nothing the scenarios did; a verb of a rule that no request
used is more than the scenarios can justify.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class Request:
    verb: str
    group: str
    resource: str
    namespace: str | None
    name: str | None
    code: int

    @property
    def label(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{self.verb} {what} {where}{self.name or '*'} ({self.code})"


@dataclass(frozen=True)
class Rule:
    role: str  # "Role <namespace>/<name>" or "ClusterRole <name>"
    namespace: str | None  # None: cluster-wide
    index: int
    groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def label(self) -> str:
        what = f"{', '.join(self.resources)}: {', '.join(self.verbs)}"
        return f"{self.role} rule {self.index + 1} ({what})"

    def allows(self, request: Request) -> bool:
        if self.namespace is not None and request.namespace != self.namespace:
            return False
        return (
            request.group in self.groups
            and request.resource in self.resources
            and request.verb in self.verbs
            and (not self.names or (request.name is not None and request.name in self.names))
        )


def requests(events: Iterable[dict[str, Any]]) -> list[Request]:
    found = []
    for event in events:
        ref = event.get("objectRef") or {}
        if not ref.get("resource") or ref.get("subresource"):
            continue  # discovery and non-resource URLs; subresources are not used by the stack
        found.append(
            Request(
                verb=event["verb"],
                group=ref.get("apiGroup", ""),
                resource=ref["resource"],
                namespace=ref.get("namespace"),
                name=ref.get("name"),
                code=int((event.get("responseStatus") or {}).get("code", 0)),
            )
        )
    return found


def rules(manifest: str, subject_namespace: str, subject: str) -> list[Rule]:
    documents = [d for d in yaml.safe_load_all(manifest) if d]
    bound = {
        (d["roleRef"]["kind"], d["metadata"].get("namespace"), d["roleRef"]["name"])
        for d in documents
        if d["kind"] in ("RoleBinding", "ClusterRoleBinding")
        and {"kind": "ServiceAccount", "name": subject, "namespace": subject_namespace}
        in d["subjects"]
    }
    found = []
    for document in documents:
        if document["kind"] not in ("Role", "ClusterRole"):
            continue
        namespace = document["metadata"].get("namespace")
        if (document["kind"], namespace, document["metadata"]["name"]) not in bound:
            continue
        role = (
            f"Role {namespace}/{document['metadata']['name']}"
            if namespace
            else f"ClusterRole {document['metadata']['name']}"
        )
        for index, rule in enumerate(document["rules"]):
            found.append(
                Rule(
                    role=role,
                    namespace=namespace,
                    index=index,
                    groups=tuple(rule["apiGroups"]),
                    resources=tuple(rule["resources"]),
                    verbs=tuple(rule["verbs"]),
                    names=tuple(rule.get("resourceNames") or ()),
                )
            )
    return found


@dataclass(frozen=True)
class Coverage:
    denied: list[Request]
    """Requests no rule allows (the API server answered 403)."""
    unneeded_rules: list[Rule]
    """Rules that no allowed request needed alone: removing one breaks nothing that ran."""
    unused_verbs: dict[str, list[str]]
    """Rule label -> verbs of it that no request used."""


def coverage(all_rules: list[Rule], seen: list[Request]) -> Coverage:
    denied = [r for r in seen if not any(rule.allows(r) for rule in all_rules)]
    needed: set[Rule] = set()
    used: dict[Rule, set[str]] = {rule: set() for rule in all_rules}
    for request in seen:
        matching = [rule for rule in all_rules if rule.allows(request)]
        for rule in matching:
            used[rule].add(request.verb)
        if len(matching) == 1:
            needed.add(matching[0])
    return Coverage(
        denied=denied,
        unneeded_rules=[rule for rule in all_rules if rule not in needed],
        unused_verbs={
            rule.label: [v for v in rule.verbs if v not in used[rule]]
            for rule in all_rules
            if set(rule.verbs) - used[rule]
        },
    )
