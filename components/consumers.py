"""Consumers that read a service account's password only at start (Authentik reads it into an
environment variable) are rolled when it changes, and only then: a server-side-apply patch of
their pod template's annotation, whose value changes with the password and reveals nothing of it.

The patch is not awaited. pulumi-kubernetes runs a patched workload's rollout awaiter on create,
update and every refresh (provider/pkg/await/await.go Read: informers listing and watching the
namespace's deployments, replicasets, pods, claims and events), which the deploy identity, that
may only get and patch the consumer's workload by name, is refused: `make e2e` saw CI's
`pulumi up --refresh` wait until its timeout. The consumer's rollout is its own chart's business
(`kubectl rollout status` shows it); the annotation also lands on the workload, harmlessly.

The value is the first 16 hex digits of SHA-256 over the account's SHA-512-crypt hash, itself
salted with a secret random string kept in state: no password and no unsalted hash of one. A
`pulumi up` with the same password gives the same value, so the patch has no diff and nothing
restarts.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kube import patch_metadata
from incluster.accounts_file import fingerprint as hash_fingerprint
from settings.model import ServiceAccount

ANNOTATION_PREFIX = "mailstack.pulumi.com/credential-"


def fingerprint(salted_hash: pulumi.Output[str]) -> pulumi.Output[str]:
    """Not secret on purpose: a digest of a hash salted with a secret is no credential, and the
    annotation has to be readable in `pulumi preview` to show why a workload will restart."""
    digest = salted_hash.apply(hash_fingerprint)
    return pulumi.Output.unsecret(digest)


def consumer_secret(
    resource_name: str, namespace: str, name: str, parent: pulumi.Resource
) -> pulumi.Resource:
    """The consumer's Secret as it is, read (never created, never changed): its patch depends on
    it, so a missing one fails the read, in preview too, before anything is patched (a patch of
    a missing Secret would create one). The read keeps nothing the patch's own state does not
    already hold (a patch records the whole object)."""
    opts = pulumi.ResourceOptions(parent=parent)
    return k8s.core.v1.Secret.get(resource_name, f"{namespace}/{name}", opts=opts)


def restart_consumers(
    name: str,
    account: ServiceAccount,
    value: pulumi.Output[str],
    parent: pulumi.Resource,
    opts: pulumi.ResourceOptions,
) -> None:
    target = account.credentials
    template = k8s.core.v1.PodTemplateSpecPatchArgs(
        metadata=k8s.meta.v1.ObjectMetaPatchArgs(
            annotations={f"{ANNOTATION_PREFIX}{account.name}": value}
        )
    )
    for workload in target.restart:
        metadata = patch_metadata(
            workload.name, target.namespace, f"mailstack-restart-{account.name}", skip_await=True
        )
        resource_name = f"{name}-restart-{workload.kind.lower()}-{workload.name}"
        # Not read first as the Secret is: reading a workload runs the provider's rollout
        # awaiter, which lists the namespace's pods (refused to the deploy identity, seen in
        # make e2e). A patch of a missing workload cannot create one either: the API server
        # refuses a Deployment without selector and containers, naming the workload.
        after = opts
        if workload.kind == "Deployment":
            k8s.apps.v1.DeploymentPatch(
                resource_name,
                metadata=metadata,
                spec=k8s.apps.v1.DeploymentSpecPatchArgs(template=template),
                opts=after,
            )
        else:
            k8s.apps.v1.StatefulSetPatch(
                resource_name,
                metadata=metadata,
                spec=k8s.apps.v1.StatefulSetSpecPatchArgs(template=template),
                opts=after,
            )
