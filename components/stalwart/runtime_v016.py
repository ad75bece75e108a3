"""Stalwart v0.16 running on the claim: config.json (ConfigMap), its secrets (Secret), the
Deployment, and the Job that applies the plan (components/stalwart/apply_job.py)."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kube import object_name, standard_labels
from components.stalwart import plan
from components.stalwart.apply_job import apply_job
from components.stalwart.pod import stalwart_deployment
from components.stalwart.pod_v016 import RECOVERY_ADMIN_KEY, pod_spec
from components.stalwart.runtime import Runtime, RuntimeInputs


def deploy_v016(inputs: RuntimeInputs, opts: pulumi.ResourceOptions) -> Runtime:
    name = inputs.name
    secrets = k8s.core.v1.Secret(
        f"{name}-secrets",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            namespace=inputs.namespace, labels=standard_labels(name, "secrets")
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
            namespace=inputs.namespace, labels=standard_labels(name, "config")
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
    )
    deployment = stalwart_deployment(name, inputs.namespace, inputs.selector, spec, opts)
    job = apply_job(inputs, deployment, opts)
    return Runtime(deployment=deployment, ready=job)
