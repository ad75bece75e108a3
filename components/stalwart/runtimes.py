"""The data claims of the DataPlan, and the Stalwart runtime of each (components/stalwart/
v015/runtime.py or v016/runtime.py): the one that serves, and the one that waits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_kubernetes as k8s

from components.kube import object_name
from components.stalwart.claims import UPGRADED_SUFFIX, data_claim
from components.stalwart.endpoints import DEPLOYMENT_NAME
from components.stalwart.runtime import Runtime, RuntimeInputs
from components.stalwart.upgrade import stop_gate
from components.stalwart.v015.runtime import deploy_v015
from components.stalwart.v016.runtime import deploy_v016
from settings.model import ClaimRuntime

if TYPE_CHECKING:
    from components.stalwart.server import StalwartServerArgs

UPGRADED_LABEL = "mailstack.pulumi.com/claim"


@dataclass(frozen=True)
class BuildContext:
    name: str
    """The server component's name."""
    args: StalwartServerArgs
    """The server's inputs."""
    selector: dict[str, str]
    """The labels the Service selects Stalwart's pods by."""
    namespace: pulumi.Input[str]
    """Stalwart's namespace."""
    http_url: pulumi.Output[str]
    """In-cluster URL of the HTTP listener, through the Service."""
    account: pulumi.Input[str] | None
    """The Jobs' service account (v0.16), or None."""
    admin_password: pulumi.Output[str]
    """The admin password (secret)."""
    admin_hash: pulumi.Output[str]
    """Its SHA-512-crypt hash (secret)."""
    metrics_password: pulumi.Output[str]
    """The Prometheus endpoint's Basic-auth password (secret)."""
    opts: pulumi.ResourceOptions
    """Options of every child (parent: the server)."""


def build_claims(
    context: BuildContext,
) -> tuple[dict[str, k8s.core.v1.PersistentVolumeClaim], dict[str, Runtime]]:
    """Every claim of the plan and its runtime, by role (`primary`, `upgraded`)."""
    name, args = context.name, context.args
    claims: dict[str, k8s.core.v1.PersistentVolumeClaim] = {}
    runtimes: dict[str, Runtime] = {}
    for claim in args.data.claims:
        upgraded = claim.role == "upgraded"
        after: list[pulumi.Resource] = []
        if upgraded and claim.recovery and context.account is not None:
            # The copy is taken only once the v0.15 pod is gone, even when phase stop was
            # skipped: this update scales v0.15 to zero first, and the gate waits for its pod.
            after.append(
                stop_gate(
                    name,
                    context.namespace,
                    {**context.selector, f"!{UPGRADED_LABEL}": ""},
                    context.account,
                    args.jobs_image,
                    runtimes["primary"].deployment,
                    context.opts,
                )
            )
        claims[claim.role] = data_claim(
            f"{name}-data-{UPGRADED_SUFFIX}" if upgraded else f"{name}-data",
            name,
            claim.claim,
            context.namespace,
            args.storage_class,
            args.storage_size,
            f"{name}-mail",
            args.backup.groups,
            pulumi.ResourceOptions.merge(context.opts, pulumi.ResourceOptions(depends_on=after)),
            source=claim.source,
            import_id=(
                f"{args.namespace}/{claim.claim}" if args.adopt_existing and not upgraded else None
            ),
        )
        runtimes[claim.role] = _runtime(context, claim, claims[claim.role])
    return claims, runtimes


def _runtime(
    context: BuildContext, claim: ClaimRuntime, volume: k8s.core.v1.PersistentVolumeClaim
) -> Runtime:
    args, name = context.args, context.name
    upgraded = claim.role == "upgraded"
    inputs = RuntimeInputs(
        instance=name,
        prefix=f"{name}-{UPGRADED_SUFFIX}" if upgraded else name,
        deployment_name=f"{DEPLOYMENT_NAME}-{UPGRADED_SUFFIX}" if upgraded else DEPLOYMENT_NAME,
        replicas=claim.replicas,
        recovery=claim.recovery,
        export=args.upgrade_export,
        jobs_account=context.account,
        namespace=context.namespace,
        # The copy's Deployment selects its own pods only (the Service selects both).
        selector={**context.selector, UPGRADED_LABEL: "upgraded"} if upgraded else context.selector,
        image=claim.image,
        claim_name=volume.metadata.apply(object_name),
        admin_hash=context.admin_hash,
        admin_password=context.admin_password,
        metrics_password=context.metrics_password,
        relay_password=args.resend_api_key,
        relay=args.relay,
        mechanisms=args.auth_mechanisms,
        run_as_user=args.run_as_user,
        domain=args.domain,
        hostname=args.webmail_fqdn,
        http_url=context.http_url,
        jobs_image=args.jobs_image,
        tls=args.tls,
    )
    return (deploy_v016 if claim.generation == "0.16" else deploy_v015)(inputs, context.opts)
