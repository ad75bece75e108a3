"""Stalwart v0.15 running on the claim: its config.toml (ConfigMap), the secret files its macros
read (Secret), and the Deployment."""

from __future__ import annotations

import pulumi

from components.stalwart.endpoints import METRICS_SECRET_FILE
from components.stalwart.pod import pod_files, stalwart_deployment
from components.stalwart.runtime import Runtime, RuntimeInputs
from components.stalwart.v015 import config_toml as toml
from components.stalwart.v015.pod import CONFIG_FILE, pod_spec


def deploy(inputs: RuntimeInputs, opts: pulumi.ResourceOptions) -> Runtime:
    args, server = inputs.args, inputs.server
    secret_name, config_name = pod_files(
        inputs,
        {
            toml.ADMIN_SECRET_FILE: server.admin_hash,
            toml.RELAY_SECRET_FILE: pulumi.Output.secret(args.resend_api_key),
            METRICS_SECRET_FILE: server.metrics_password,
        },
        {
            CONFIG_FILE: toml.render_toml(
                toml.render_config(args.relay, args.auth_mechanisms, args.webmail_fqdn)
            )
        },
        opts,
    )
    spec = pod_spec(
        inputs.claim.image,
        args.run_as_user,
        claim_name=inputs.claim_name,
        secret_name=secret_name,
        config_name=config_name,
    )
    deployment = stalwart_deployment(inputs, spec, opts)
    return Runtime(deployment=deployment, ready=deployment)
