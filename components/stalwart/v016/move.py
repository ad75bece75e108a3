"""The move of a RocksDB store to PostgreSQL (`mailstack:storageMove`,
docs/how-to/move-to-postgresql.md): the Job that copies the stopped server's data claim into the
empty CloudNativePG database.

Stalwart's own `--export` and `--import` do the copy (crates/common/src/manager/boot.rs at
v0.16.18: a process that opens the store named by `--config`, writes or reads one file per
subspace, and exits). The import cannot take the registry's primary keys (subspace `g`, upstream
#3273, not fixed in v0.16.18), so incluster/store_move.py takes them out of the export and psql
loads them after the import, then checks the registry's and directory's rows against the export.
The steps, in order, each to success:

1. `export`: Stalwart on the data claim (RocksDB, config.json of the stopped server) writes the
   export to the pod's scratch volume. It opens the claim read-write (RocksDB's lock, its own
   node-id lease under the server's own hostname), and changes no mail.
2. `split`: `python3 -m incluster.store_move split`.
3. `clear`: psql drops the tables of the database's owner, so that a retried copy starts from
   an empty database (the import refuses a subspace that holds data), and refuses a database
   that was released to Stalwart (below).
4. `import`: Stalwart with the PostgreSQL config.json imports the rest, under the hostname of the
   StatefulSet's first pod, so the lease the importer writes is the one that pod takes over.
5. `load`: psql loads the registry keys, checks the registry and directory against the export
   (rows and their MD5), writes the move's marker `copied`, and removes the export from the
   scratch volume.

The stack's record cannot guard the mail: an update that fails is not recorded, so after one
the next update may see a copy phase that already went further. The guard is the marker in the
database itself (incluster/store_move.py): the update that finishes the move runs the release
Job, which refuses a database without a finished copy and marks it `released`, and only then
does the StatefulSet start; going back to RocksDB starts the RocksDB pod with an abandon step
first, which refuses a released database and otherwise marks the copy stale; `clear` refuses a
released database.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.incluster import (
    MOVE_FILES,
    job_container_security,
    job_pod_security,
    python_env,
    scripts_config_map,
    scripts_mount,
    scripts_volume,
)
from components.kube import RERUN_WHEN_FAILED, object_name
from components.stalwart.jobs import job_labels, job_spec
from components.stalwart.pod import RESOURCES, data_volume
from components.stalwart.runtime import RuntimeInputs
from components.stalwart.upgrade import stop_gate
from components.stalwart.v016 import database, plan
from components.stalwart.v016.pod import pod_security
from incluster import store_move

WORK = "/move"
EXPORT_DIR = f"{WORK}/export"
HELD_DIR = f"{WORK}/held"
REGISTRY_SQL = f"{WORK}/registry.sql"
POSTGRESQL_CONFIG_DIR = "/etc/stalwart-postgresql"
# Hours, not minutes: the export and import read and write every message of the store. The
# provider's wait is longer than the Job's own deadline, so a copy that cannot finish fails
# the update with the Job's reason.
MOVE_DEADLINE_SECONDS = 4 * 3600
MOVE_TIMEOUTS = pulumi.CustomTimeouts(create="245m", update="245m")
PSQL_RESOURCES = k8s.core.v1.ResourceRequirementsArgs(
    requests={"cpu": "10m", "memory": "32Mi"}, limits={"memory": "256Mi"}
)
# The registry and directory are decoded whole (incluster/store_move.py); the mail is not read.
SPLIT_RESOURCES = k8s.core.v1.ResourceRequirementsArgs(
    requests={"cpu": "10m", "memory": "64Mi"}, limits={"memory": "512Mi"}
)
GUARD_DEADLINE_SECONDS = 300
GUARD_TIMEOUTS = pulumi.CustomTimeouts(create="10m", update="10m")


def importer_hostname(inputs: RuntimeInputs) -> str:
    """The StatefulSet's first pod (`<name>-0`): the importer's node-id lease is the one it
    takes over when it starts."""
    return f"{inputs.deployment_name}-0"


ROCKSDB_CONFIG = "rocksdb.json"
POSTGRESQL_CONFIG = "postgresql.json"


def copy_store(
    inputs: RuntimeInputs,
    database_cluster: pulumi.Resource,
    stopped: pulumi.Resource,
    opts: pulumi.ResourceOptions,
) -> k8s.batch.v1.Job:
    """The gate that waits until no pod of the RocksDB server is left (`stopped`, its
    Deployment scaled to zero), then the copy Job."""
    server = inputs.server
    if server.jobs_account is None:
        raise ValueError("the storage move needs the server's Jobs account")
    gate = stop_gate(
        f"{inputs.prefix}-move",
        server.namespace,
        inputs.selector,
        server.jobs_account,
        inputs.args.jobs_image,
        stopped,
        opts,
        instance=server.instance,
        container="wait-for-rocksdb-to-stop",
    )
    return move_job(inputs, [database_cluster, gate], opts)


def move_job(
    inputs: RuntimeInputs, after: list[pulumi.Resource], opts: pulumi.ResourceOptions
) -> k8s.batch.v1.Job:
    """The copy Job, after `after` (the database, the gate)."""
    args, server = inputs.args, inputs.server
    labels = job_labels(server.instance)
    scripts = scripts_config_map(
        f"{inputs.prefix}-move-scripts", server.namespace, labels, opts, MOVE_FILES
    )
    # Both config.json files of the move's own: the server's ConfigMap changes when the move
    # finishes, and the Job must not.
    configs = k8s.core.v1.ConfigMap(
        f"{inputs.prefix}-move-config",
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace=server.namespace, labels=labels),
        data={
            ROCKSDB_CONFIG: plan.config_json(None),
            POSTGRESQL_CONFIG: plan.config_json(database.data_store()),
        },
        opts=opts,
    )
    configs_name = configs.metadata.apply(object_name)
    work = k8s.core.v1.VolumeMountArgs(name="work", mount_path=WORK)
    tmp = k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")

    def stalwart(
        name: str, config_dir: str, operation: list[str], env: list[k8s.core.v1.EnvVarArgs]
    ) -> k8s.core.v1.ContainerArgs:
        # Only the export reads the claim; the import writes nothing but the database.
        data = (
            [k8s.core.v1.VolumeMountArgs(name="data", mount_path=plan.DATA_MOUNT)]
            if name == "export"
            else []
        )
        return k8s.core.v1.ContainerArgs(
            name=name,
            image=inputs.claim.image,
            args=["--config", f"{config_dir}/{plan.CONFIG_FILE}", *operation],
            env=env,
            # The process opens the store, then binds the registry's listeners and goes on when
            # a bind fails (crates/common/src/network/listen.rs `bind_and_drop_priv` records a
            # build error; seen by hand: an export next to a server on the same ports ended 0),
            # so no capability: a refused bind of 25 or 587 changes nothing.
            security_context=job_container_security(),
            resources=RESOURCES,
            volume_mounts=[
                *data,
                k8s.core.v1.VolumeMountArgs(name=name, mount_path=config_dir, read_only=True),
                work,
                tmp,
            ],
        )

    steps = [
        stalwart(
            "export",
            plan.CONFIG_DIR,
            ["--export", EXPORT_DIR],
            # The stopped server's own hostname: the export reuses its lease.
            [k8s.core.v1.EnvVarArgs(name="STALWART_HOSTNAME", value=args.webmail_fqdn)],
        ),
        k8s.core.v1.ContainerArgs(
            name="split",
            image=args.jobs_image,
            command=[
                "python3",
                "-m",
                "incluster.store_move",
                "split",
                EXPORT_DIR,
                HELD_DIR,
                REGISTRY_SQL,
            ],
            env=python_env(),
            security_context=job_container_security(),
            resources=SPLIT_RESOURCES,
            volume_mounts=[scripts_mount(), work],
        ),
        _psql(args.storage.psql_image, "clear", ["--command", store_move.CLEAR_SQL], [work, tmp]),
        stalwart(
            "import",
            POSTGRESQL_CONFIG_DIR,
            ["--import", EXPORT_DIR],
            [
                k8s.core.v1.EnvVarArgs(name="STALWART_HOSTNAME", value=importer_hostname(inputs)),
                database.password_env(),
            ],
        ),
    ]
    pod = k8s.core.v1.PodSpecArgs(
        restart_policy="Never",
        automount_service_account_token=False,
        # Stalwart's own pod's, without the low ports: a refused bind changes nothing here.
        security_context=pod_security(args.run_as_user, low_ports=False),
        init_containers=steps,
        containers=[
            _psql(
                args.storage.psql_image,
                "load",
                ["--file", REGISTRY_SQL],
                [work, tmp],
                # The export holds every message and the registry's secrets: not left behind.
                then=f"rm -rf {EXPORT_DIR} {HELD_DIR} {REGISTRY_SQL}",
            )
        ],
        volumes=[
            data_volume(inputs.claim_name),
            _config_volume("export", configs_name, ROCKSDB_CONFIG),
            _config_volume("import", configs_name, POSTGRESQL_CONFIG),
            scripts_volume(scripts.metadata.apply(object_name), MOVE_FILES),
            # The export: at most the size of the store it comes from.
            k8s.core.v1.VolumeArgs(
                name="work",
                empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=args.storage_size),
            ),
            k8s.core.v1.VolumeArgs(
                name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi")
            ),
        ],
    )
    return k8s.batch.v1.Job(
        f"{inputs.prefix}-move-job",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            namespace=server.namespace, labels=labels, annotations=RERUN_WHEN_FAILED
        ),
        # A failed copy leaves nothing to keep: the next try starts over (step 3).
        spec=job_spec(labels, pod, MOVE_DEADLINE_SECONDS, backoff_limit=1),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=after, custom_timeouts=MOVE_TIMEOUTS)
        ),
    )


def release_job(
    inputs: RuntimeInputs, database_cluster: pulumi.Resource, opts: pulumi.ResourceOptions
) -> k8s.batch.v1.Job:
    """The update that finishes the move: Stalwart may start on the database only if a copy
    finished there and was not abandoned since; it is marked released (the StatefulSet waits
    for this Job)."""
    server = inputs.server
    labels = job_labels(server.instance)
    tmp = k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")
    pod = k8s.core.v1.PodSpecArgs(
        restart_policy="Never",
        automount_service_account_token=False,
        security_context=job_pod_security(inputs.args.run_as_user),
        containers=[
            _psql(
                inputs.args.storage.psql_image,
                "release",
                ["--command", store_move.RELEASE_SQL],
                [tmp],
            )
        ],
        volumes=[
            k8s.core.v1.VolumeArgs(
                name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="16Mi")
            )
        ],
    )
    return k8s.batch.v1.Job(
        f"{inputs.prefix}-move-release",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            namespace=server.namespace, labels=labels, annotations=RERUN_WHEN_FAILED
        ),
        spec=job_spec(labels, pod, GUARD_DEADLINE_SECONDS),
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(depends_on=[database_cluster], custom_timeouts=GUARD_TIMEOUTS),
        ),
    )


def abandon_step(inputs: RuntimeInputs) -> k8s.core.v1.ContainerArgs:
    """Going back to RocksDB after a copy: the first container of the RocksDB pod while the
    update that goes back declares it. It refuses a database released to Stalwart, so RocksDB
    never starts next to it; otherwise it marks the copy stale. A container of the pod, not a
    Job: an unchanged Job that succeeded in an earlier, failed update would not run again (a
    review's finding), a pod's init container runs at each start of the pod. Without the
    database's Secret (the copy never got that far, or the database is gone) there is nothing
    to abandon."""
    return _psql(
        inputs.args.storage.psql_image,
        "abandon-the-copy",
        ["--command", store_move.ABANDON_SQL],
        [],
        optional=True,
    )


def _psql(
    image: str,
    name: str,
    arguments: list[str],
    mounts: list[k8s.core.v1.VolumeMountArgs],
    then: str | None = None,
    optional: bool = False,
) -> k8s.core.v1.ContainerArgs:
    """psql as the database's owner, through the read-write Service, stopping at the first
    error; the password from the Secret CloudNativePG generates. `then` runs after a success;
    `optional`: no Secret (no database) is success, with a line saying so."""
    command = ["psql", "--no-psqlrc", "--set", "ON_ERROR_STOP=1", *arguments]
    if then or optional:
        script = 'psql --no-psqlrc --set ON_ERROR_STOP=1 "$@"' + (f" && {then}" if then else "")
        if optional:
            script = (
                'if [ -z "${PGPASSWORD:-}" ]; then echo "no copy database: nothing to do"; '
                "exit 0; fi; " + script
            )
        command = ["sh", "-c", script, name, *arguments]
    return k8s.core.v1.ContainerArgs(
        name=name,
        image=image,
        command=command,
        env=[
            k8s.core.v1.EnvVarArgs(name="PGHOST", value=database.read_write_host()),
            k8s.core.v1.EnvVarArgs(name="PGPORT", value=str(database.PORT)),
            k8s.core.v1.EnvVarArgs(name="PGDATABASE", value=database.DATABASE),
            k8s.core.v1.EnvVarArgs(name="PGUSER", value=database.OWNER),
            k8s.core.v1.EnvVarArgs(name="PGCONNECT_TIMEOUT", value="10"),
            k8s.core.v1.EnvVarArgs(
                name="PGPASSWORD",
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                        name=database.app_secret(), key="password", optional=optional or None
                    )
                ),
            ),
        ],
        security_context=job_container_security(),
        resources=PSQL_RESOURCES,
        volume_mounts=mounts,
    )


def _config_volume(name: str, config_map: pulumi.Input[str], key: str) -> k8s.core.v1.VolumeArgs:
    """One of the move's config.json files, by key (a missing key fails the mount, never
    Stalwart's bootstrap mode)."""
    return k8s.core.v1.VolumeArgs(
        name=name,
        config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
            name=config_map,
            items=[k8s.core.v1.KeyToPathArgs(key=key, path=plan.CONFIG_FILE)],
        ),
    )
