"""Stalwart v0.16's pod, as its image expects it (Dockerfile.build at v0.16.18): uid/gid 2000,
`/etc/stalwart/config.json` and the data under `/var/lib/stalwart`."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.stalwart.pod import (
    RESOURCES,
    TERMINATION_GRACE_SECONDS,
    container_ports,
    data_volume,
    health_probes,
    node_loss_tolerations,
)
from components.stalwart.v016 import database, plan
from components.stalwart.v016.admin import RECOVERY_ADMIN_KEY

STALWART_UID = 2000


def pod_security(uid: int, low_ports: bool = True) -> k8s.core.v1.PodSecurityContextArgs:
    """A pod of Stalwart's image run as `uid`, its files by fsGroup; `low_ports` lets the
    non-root process bind 587 and 993."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_user=uid,
        run_as_group=uid,
        run_as_non_root=True,
        fs_group=uid,
        fs_group_change_policy="OnRootMismatch",
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        # A non-root process may bind 587 and 993: the binary's file capability
        # (cap_net_bind_service+ep) is not granted under no_new_privs, which
        # allowPrivilegeEscalation: false sets. A safe, namespaced sysctl (Kubernetes 1.22+).
        sysctls=[k8s.core.v1.SysctlArgs(name="net.ipv4.ip_unprivileged_port_start", value="0")]
        if low_ports
        else None,
    )


def pod_spec(
    image: str,
    hostname: str,
    claim_name: pulumi.Input[str],
    secret_name: pulumi.Input[str],
    config_name: pulumi.Input[str],
    bootstrap_secret: pulumi.Input[str],
    uid: int = STALWART_UID,
    recovery: bool = False,
    tls_secret: str | None = None,
    postgresql: bool = False,
) -> k8s.core.v1.PodSpecArgs:
    """The Deployment's pod, run as `uid` (mailstack:runAsUser; never 0, the settings refuse it
    for v0.16); `recovery` starts Stalwart in recovery mode (HTTP on 8080 only)."""
    env = [
        # The break-glass admin, honoured in every mode before the directory
        # (crates/common/src/auth/authentication.rs): `admin:<sha512-crypt hash>`. Recovery
        # mode needs it (the restore runs before any account exists); otherwise it is read
        # from the bootstrap Secret's key, which the apply Job removes once the stack's
        # administrator exists (components/stalwart/v016/admin.py): optional, so the pod starts
        # without it.
        k8s.core.v1.EnvVarArgs(
            name="STALWART_RECOVERY_ADMIN",
            value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                    name=secret_name, key=RECOVERY_ADMIN_KEY
                )
                if recovery
                else k8s.core.v1.SecretKeySelectorArgs(
                    name=bootstrap_secret, key=RECOVERY_ADMIN_KEY, optional=True
                )
            ),
        ),
        # A stable node id across pod restarts (the lease key is the hostname). On a shared
        # store each pod needs its own: a node ignores every coordinator message tagged with its
        # own node id (crates/services/src/broadcast/subscriber.rs), so the StatefulSet's pod
        # name, stable across restarts, is the hostname.
        k8s.core.v1.EnvVarArgs(
            name="STALWART_HOSTNAME",
            value_from=k8s.core.v1.EnvVarSourceArgs(
                field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="metadata.name")
            ),
        )
        if postgresql
        else k8s.core.v1.EnvVarArgs(name="STALWART_HOSTNAME", value=hostname),
        *([database.password_env()] if postgresql else []),
    ]
    if recovery:
        env.append(k8s.core.v1.EnvVarArgs(name="STALWART_RECOVERY_MODE", value="1"))
    # cert-manager's Secret, whole (a subPath mount would never see a renewal).
    tls_mounts = (
        [k8s.core.v1.VolumeMountArgs(name="tls", mount_path=plan.TLS_MOUNT, read_only=True)]
        if tls_secret
        else []
    )
    tls_volumes = (
        [
            k8s.core.v1.VolumeArgs(
                name="tls",
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=tls_secret,
                    items=[
                        k8s.core.v1.KeyToPathArgs(key="tls.crt", path="tls.crt"),
                        k8s.core.v1.KeyToPathArgs(key="tls.key", path="tls.key"),
                    ],
                    default_mode=0o440,
                ),
            )
        ]
        if tls_secret
        else []
    )
    return k8s.core.v1.PodSpecArgs(
        tolerations=node_loss_tolerations(),
        automount_service_account_token=False,
        termination_grace_period_seconds=TERMINATION_GRACE_SECONDS,
        security_context=pod_security(uid),
        containers=[
            k8s.core.v1.ContainerArgs(
                name="stalwart",
                image=image,
                args=["--config", f"{plan.CONFIG_DIR}/{plan.CONFIG_FILE}"],
                env=env,
                # NET_BIND_SERVICE stays in the bounding set: exec of a binary whose file
                # capabilities are not all in it fails with EPERM, whatever the ports.
                security_context=k8s.core.v1.SecurityContextArgs(
                    allow_privilege_escalation=False,
                    read_only_root_filesystem=True,
                    capabilities=k8s.core.v1.CapabilitiesArgs(
                        drop=["ALL"], add=["NET_BIND_SERVICE"]
                    ),
                ),
                resources=RESOURCES,
                ports=container_ports(),
                volume_mounts=[
                    k8s.core.v1.VolumeMountArgs(name="data", mount_path=plan.DATA_MOUNT),
                    k8s.core.v1.VolumeMountArgs(
                        name="config", mount_path=plan.CONFIG_DIR, read_only=True
                    ),
                    k8s.core.v1.VolumeMountArgs(
                        name="secrets", mount_path=plan.SECRETS_MOUNT, read_only=True
                    ),
                    # The WebUI bundle unpacks to the temp dir; the first start's default
                    # tracer writes /var/log/stalwart until the plan replaces it.
                    k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                    k8s.core.v1.VolumeMountArgs(name="logs", mount_path="/var/log/stalwart"),
                    *tls_mounts,
                ],
                **health_probes(),
            )
        ],
        volumes=[
            # On PostgreSQL the pod keeps nothing of its own: a scratch directory for what
            # Stalwart writes under its data path.
            k8s.core.v1.VolumeArgs(
                name="data", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi")
            )
            if postgresql
            else data_volume(claim_name),
            # Projected by key: a ConfigMap without config.json fails the mount instead of
            # starting Stalwart's interactive bootstrap mode.
            k8s.core.v1.VolumeArgs(
                name="config",
                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                    name=config_name,
                    items=[k8s.core.v1.KeyToPathArgs(key=plan.CONFIG_FILE, path=plan.CONFIG_FILE)],
                ),
            ),
            k8s.core.v1.VolumeArgs(
                name="secrets",
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=secret_name,
                    items=[
                        k8s.core.v1.KeyToPathArgs(key=name, path=name) for name in plan.SECRET_FILES
                    ],
                    default_mode=0o440,
                ),
            ),
            k8s.core.v1.VolumeArgs(
                name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi")
            ),
            k8s.core.v1.VolumeArgs(
                name="logs", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi")
            ),
            *tls_volumes,
        ],
    )
