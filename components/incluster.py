"""The in-cluster scripts as a ConfigMap, mounted as the `incluster` package of a Job's Python.

The files are the repository's own (incluster/), standard library only, so a Job needs nothing
but a pinned Python image: no package download at start.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "incluster"
MOUNT = "/opt/mailstack"
FILES = (
    "__init__.py",
    "accounts_file.py",
    "canary.py",
    "client.py",
    "jmap_jobs.py",
    "plan_apply.py",
    "reconcile_accounts.py",
)
"""The modules the Jobs run: `python3 -m incluster.jmap_jobs` (v0.16) and
`python3 -m incluster.reconcile_accounts` (v0.15), both on the shared bounded client."""
MOVE_FILES = ("__init__.py", "lz4.py", "store_move.py")
"""The modules of the storage move's Job (`python3 -m incluster.store_move`), shipped in its own
ConfigMap so that the other Jobs' scripts do not change."""


def scripts_config_map(
    resource_name: str,
    namespace: pulumi.Input[str],
    labels: dict[str, str],
    opts: pulumi.ResourceOptions,
    files: tuple[str, ...] = FILES,
) -> k8s.core.v1.ConfigMap:
    """Auto-named: a change of the scripts gives the Jobs a new template, so they run again."""
    return k8s.core.v1.ConfigMap(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace=namespace, labels=labels),
        data={name: (PACKAGE_DIR / name).read_text() for name in files},
        opts=opts,
    )


def scripts_volume(
    config_map_name: pulumi.Input[str], files: tuple[str, ...] = FILES
) -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(
        name="scripts",
        config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
            name=config_map_name,
            items=[k8s.core.v1.KeyToPathArgs(key=name, path=f"incluster/{name}") for name in files],
        ),
    )


def scripts_mount() -> k8s.core.v1.VolumeMountArgs:
    return k8s.core.v1.VolumeMountArgs(name="scripts", mount_path=MOUNT, read_only=True)


def python_env() -> list[k8s.core.v1.EnvVarArgs]:
    """Imports from the mounted package, and no bytecode written to the read-only mount."""
    return [
        k8s.core.v1.EnvVarArgs(name="PYTHONPATH", value=MOUNT),
        k8s.core.v1.EnvVarArgs(name="PYTHONDONTWRITEBYTECODE", value="1"),
    ]


def job_container_security() -> k8s.core.v1.SecurityContextArgs:
    """A Job's container: no privilege, nothing written outside its emptyDir."""
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
    )


NOBODY = 65534
"""The user a script runs as when it needs no identity: its files are readable through fsGroup."""


def job_pod_security(
    uid: int = NOBODY, fs_group: bool = True
) -> k8s.core.v1.PodSecurityContextArgs:
    """A Job's pod: a fixed non-root user, the runtime's default seccomp profile."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid if fs_group else None,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )
