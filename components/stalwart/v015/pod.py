"""Stalwart v0.15's pod: the config copy, the privilege drop after binding, probes, volumes."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.stalwart.pod import (
    RESOURCES,
    TERMINATION_GRACE_SECONDS,
    container_ports,
    container_security,
    data_volume,
    health_probes,
    node_loss_tolerations,
)
from components.stalwart.v015 import config_toml as toml

CONFIG_FILE = "config.toml"
CONFIG_SOURCE_DIR = "/etc/mailstack"


def pod_spec(
    image: str,
    run_as_user: int,
    claim_name: pulumi.Input[str],
    secret_name: pulumi.Input[str],
    config_name: pulumi.Input[str],
) -> k8s.core.v1.PodSpecArgs:
    """The Deployment's pod: `run_as_user` 0 keeps Stalwart root, as the old manifests did."""
    etc_dir = f"{toml.DATA_MOUNT}/etc"
    config_source = k8s.core.v1.VolumeMountArgs(
        name="config-source", mount_path=CONFIG_SOURCE_DIR, read_only=True
    )
    config_dir = k8s.core.v1.VolumeMountArgs(name="config", mount_path=etc_dir)
    drops_privileges = run_as_user != 0
    return k8s.core.v1.PodSpecArgs(
        tolerations=node_loss_tolerations(),
        automount_service_account_token=False,
        termination_grace_period_seconds=TERMINATION_GRACE_SECONDS,
        security_context=k8s.core.v1.PodSecurityContextArgs(
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
            # The volumes' group becomes Stalwart's group after the privilege drop: the
            # claim (data written by root under the old manifests included), the config
            # copy and the secret files. OnRootMismatch walks the volume only once.
            fs_group=run_as_user if drops_privileges else None,
            fs_group_change_policy="OnRootMismatch" if drops_privileges else None,
        ),
        # Stalwart rewrites config.toml when a local key is edited in the webadmin, so it gets
        # a writable copy (group-writable for the dropped user), made fresh on every pod start
        # by the Stalwart image itself (no package download at boot, unlike the runbook's
        # alpine init container).
        init_containers=[
            k8s.core.v1.ContainerArgs(
                name="install-config",
                image=image,
                command=[
                    "install",
                    "-m",
                    "0664",
                    f"{CONFIG_SOURCE_DIR}/{CONFIG_FILE}",
                    toml.CONFIG_PATH,
                ],
                volume_mounts=[config_source, config_dir],
                security_context=container_security([]),
                resources=k8s.core.v1.ResourceRequirementsArgs(
                    requests={"cpu": "10m", "memory": "16Mi"}, limits={"memory": "64Mi"}
                ),
            )
        ],
        containers=[
            k8s.core.v1.ContainerArgs(
                name="stalwart",
                image=image,
                env=(
                    [
                        k8s.core.v1.EnvVarArgs(name="RUN_AS_USER", value=str(run_as_user)),
                        k8s.core.v1.EnvVarArgs(name="RUN_AS_GROUP", value=str(run_as_user)),
                    ]
                    if drops_privileges
                    else None
                ),
                # Root only until the listeners are bound: binding 587/993 needs
                # NET_BIND_SERVICE, switching to RUN_AS_USER needs SETUID and SETGID. With
                # runAsUser 0 Stalwart stays root and keeps the runtime's default
                # capabilities: data written by uid 2000 needs DAC_OVERRIDE/FOWNER to reach.
                security_context=(
                    container_security(["NET_BIND_SERVICE", "SETUID", "SETGID"])
                    if drops_privileges
                    else k8s.core.v1.SecurityContextArgs(allow_privilege_escalation=False)
                ),
                resources=RESOURCES,
                ports=container_ports(),
                volume_mounts=[
                    k8s.core.v1.VolumeMountArgs(name="data", mount_path=toml.DATA_MOUNT),
                    config_dir,
                    k8s.core.v1.VolumeMountArgs(
                        name="secrets", mount_path=toml.SECRETS_MOUNT, read_only=True
                    ),
                ],
                **health_probes(),
            )
        ],
        volumes=[
            data_volume(claim_name),
            k8s.core.v1.VolumeArgs(
                name="config-source",
                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=config_name),
            ),
            k8s.core.v1.VolumeArgs(name="config", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs()),
            k8s.core.v1.VolumeArgs(
                name="secrets",
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=secret_name,
                    # Read after the privilege drop (file macros): group-readable via fsGroup.
                    default_mode=0o440,
                ),
            ),
        ],
    )
