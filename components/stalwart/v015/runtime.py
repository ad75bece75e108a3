"""Stalwart v0.15 running on the claim: its config.toml (ConfigMap), the secret files its macros
read (Secret), and the Deployment."""

from __future__ import annotations

import pulumi

from components.stalwart.endpoints import METRICS_SECRET_FILE
from components.stalwart.pod import pod_files, stalwart_deployment
from components.stalwart.runtime import Runtime, RuntimeInputs
from components.stalwart.v015 import config_toml as toml
from components.stalwart.v015.pod import CONFIG_FILE, pod_spec


def deploy_v015(inputs: RuntimeInputs, opts: pulumi.ResourceOptions) -> Runtime:
    secret_name, config_name = pod_files(
        inputs,
        {
            toml.ADMIN_SECRET_FILE: inputs.admin_hash,
            toml.RELAY_SECRET_FILE: pulumi.Output.secret(inputs.relay_password),
            METRICS_SECRET_FILE: inputs.metrics_password,
        },
        {
            CONFIG_FILE: toml.render_toml(
                toml.render_config(inputs.relay, inputs.mechanisms, inputs.hostname)
            )
        },
        opts,
    )
    spec = pod_spec(
        inputs.image,
        inputs.run_as_user,
        claim_name=inputs.claim_name,
        secret_name=secret_name,
        config_name=config_name,
    )
    deployment = stalwart_deployment(inputs, spec, opts)
    return Runtime(deployment=deployment, ready=deployment, claim_name=inputs.claim_name)
