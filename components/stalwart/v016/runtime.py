"""Stalwart v0.16 running on the claim: config.json (ConfigMap), its secrets (Secret), the
Deployment, and the Job that applies the plan (components/stalwart/v016/apply_job.py)."""

from __future__ import annotations

import pulumi

from components.stalwart.endpoints import METRICS_SECRET_FILE
from components.stalwart.pod import pod_files, stalwart_deployment
from components.stalwart.runtime import Runtime, RuntimeInputs
from components.stalwart.v016 import plan
from components.stalwart.v016.apply_job import apply_job, restore_job
from components.stalwart.v016.certificate import mail_certificate
from components.stalwart.v016.certificate import secret_name as tls_secret_name
from components.stalwart.v016.pod import RECOVERY_ADMIN_KEY, pod_spec


def deploy_v016(inputs: RuntimeInputs, opts: pulumi.ResourceOptions) -> Runtime:
    secret_name, config_name = pod_files(
        inputs,
        {
            RECOVERY_ADMIN_KEY: inputs.admin_hash.apply(lambda digest: f"admin:{digest}"),
            plan.RELAY_SECRET_FILE: pulumi.Output.secret(inputs.relay_password),
            METRICS_SECRET_FILE: inputs.metrics_password,
        },
        {plan.CONFIG_FILE: plan.config_json()},
        opts,
    )
    certificate = (
        mail_certificate(inputs.prefix, inputs.instance, inputs.namespace, inputs.tls, opts)
        if inputs.tls is not None
        else None
    )
    spec = pod_spec(
        inputs.image,
        inputs.hostname,
        claim_name=inputs.claim_name,
        secret_name=secret_name,
        config_name=config_name,
        uid=inputs.run_as_user,
        recovery=inputs.recovery,
        tls_secret=tls_secret_name(inputs.prefix) if certificate is not None else None,
    )
    deployment = stalwart_deployment(
        inputs,
        spec,
        opts
        if certificate is None
        else pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[certificate])),
    )
    if not inputs.replicas:
        # Waiting (a rollback to v0.15, or stopped): nothing to apply to.
        return Runtime(deployment=deployment, ready=deployment, claim_name=inputs.claim_name)
    first: pulumi.Resource = deployment
    if inputs.recovery and inputs.export is not None:
        first = restore_job(inputs, deployment, opts)
    job = apply_job(inputs, first, opts)
    return Runtime(deployment=deployment, ready=job, claim_name=inputs.claim_name)
