"""Stalwart v0.16 running on the claim: config.json (ConfigMap), its secrets (Secret), the
Deployment, and the Job that applies the plan (components/stalwart/apply_job.py)."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kube import object_name, standard_labels
from components.stalwart import plan
from components.stalwart.apply_job import apply_job, restore_job
from components.stalwart.pod import stalwart_deployment
from components.stalwart.pod_v016 import RECOVERY_ADMIN_KEY, pod_spec
from components.stalwart.runtime import Runtime, RuntimeInputs


def deploy_v016(inputs: RuntimeInputs, opts: pulumi.ResourceOptions) -> Runtime:
    name, instance = inputs.prefix, inputs.instance
    secrets = k8s.core.v1.Secret(
        f"{name}-secrets",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            namespace=inputs.namespace, labels=standard_labels(instance, "secrets")
        ),
        type="Opaque",
        string_data={
            RECOVERY_ADMIN_KEY: inputs.admin_hash.apply(lambda digest: f"admin:{digest}"),
            plan.RELAY_SECRET_FILE: pulumi.Output.secret(inputs.relay_password),
        },
        opts=opts,
    )
    config = k8s.core.v1.ConfigMap(
        f"{name}-config",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            namespace=inputs.namespace, labels=standard_labels(instance, "config")
        ),
        data={plan.CONFIG_FILE: plan.config_json()},
        opts=opts,
    )
    spec = pod_spec(
        inputs.image,
        inputs.hostname,
        claim_name=inputs.claim_name,
        secret_name=secrets.metadata.apply(object_name),
        config_name=config.metadata.apply(object_name),
        recovery=inputs.recovery,
    )
    deployment = stalwart_deployment(inputs, spec, opts)
    if not inputs.replicas:
        # Waiting (a rollback to v0.15, or stopped): nothing to apply to.
        return Runtime(deployment=deployment, ready=deployment, claim_name=inputs.claim_name)
    first: pulumi.Resource = deployment
    if inputs.recovery and inputs.export is not None:
        first = restore_job(inputs, deployment, opts)
    job = apply_job(inputs, first, opts)
    return Runtime(deployment=deployment, ready=job, claim_name=inputs.claim_name)
