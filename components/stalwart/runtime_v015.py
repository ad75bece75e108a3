"""Stalwart v0.15 running on the claim: its config.toml (ConfigMap), the secret files its macros
read (Secret), and the Deployment."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kube import object_name, standard_labels
from components.stalwart import config_toml as toml
from components.stalwart.pod import stalwart_deployment
from components.stalwart.pod_v015 import CONFIG_FILE, pod_spec
from components.stalwart.runtime import Runtime, RuntimeInputs


def deploy_v015(inputs: RuntimeInputs, opts: pulumi.ResourceOptions) -> Runtime:
    name, instance = inputs.prefix, inputs.instance
    # Auto-named: a new value gives a new Secret/ConfigMap name, which changes the pod template
    # and rolls the pod (create-before-delete, so the old pod keeps its files).
    secrets = k8s.core.v1.Secret(
        f"{name}-secrets",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            namespace=inputs.namespace, labels=standard_labels(instance, "secrets")
        ),
        type="Opaque",
        string_data={
            toml.ADMIN_SECRET_FILE: inputs.admin_hash,
            toml.RELAY_SECRET_FILE: pulumi.Output.secret(inputs.relay_password),
        },
        opts=opts,
    )
    config = k8s.core.v1.ConfigMap(
        f"{name}-config",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            namespace=inputs.namespace, labels=standard_labels(instance, "config")
        ),
        data={
            CONFIG_FILE: toml.render_toml(
                toml.render_config(inputs.relay, inputs.mechanisms, inputs.hostname)
            )
        },
        opts=opts,
    )
    spec = pod_spec(
        inputs.image,
        inputs.run_as_user,
        claim_name=inputs.claim_name,
        secret_name=secrets.metadata.apply(object_name),
        config_name=config.metadata.apply(object_name),
    )
    deployment = stalwart_deployment(inputs, spec, opts)
    return Runtime(deployment=deployment, ready=deployment, claim_name=inputs.claim_name)
