"""The CloudNativePG cluster Stalwart v0.16 keeps its data in with `mailstack:storage:
postgresql`, and the data store config.json names.

CloudNativePG (an operator the cluster already runs) makes the database `stalwart` owned by the
role `stalwart` at bootstrap (`spec.bootstrap.initdb`) and keeps the role's password in the Secret
`<cluster>-app` it generates (keys `username`, `password`, `host`, `port`, `dbname`, `uri`); the
read-write Service is `<cluster>-rw`. The password never passes through Pulumi: Stalwart's pod
reads it from that Secret into an environment variable, and config.json names the variable
(`x:SecretKeyEnvironmentVariable`, schema v0.16.18). Blobs, the search index and the in-memory
store stay in the same database (Stalwart's default when only the data store is set).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kube import standard_labels
from settings.model import StorageSettings

API_VERSION = "postgresql.cnpg.io/v1"
CLUSTER_NAME = "stalwart-db"
DATABASE = "stalwart"
OWNER = "stalwart"
PASSWORD_ENV = "STALWART_DB_PASSWORD"
PORT = 5432
# A first instance pulls its image, initialises the database and becomes primary; the others
# clone it. Longer than the provider's default for a custom resource.
READY_TIMEOUT = "20m"


def app_secret() -> str:
    """The Secret CloudNativePG generates for the owner (`<cluster>-app`)."""
    return f"{CLUSTER_NAME}-app"


def read_write_host() -> str:
    """The Service in front of the primary (`<cluster>-rw`)."""
    return f"{CLUSTER_NAME}-rw"


def data_store() -> dict[str, Any]:
    """config.json's `x:DataStore`, variant PostgreSql."""
    return {
        "@type": "PostgreSql",
        "host": read_write_host(),
        "port": PORT,
        "database": DATABASE,
        "authUsername": OWNER,
        "authSecret": {"@type": "EnvironmentVariable", "variableName": PASSWORD_ENV},
        # CloudNativePG serves TLS with its own CA; inside the namespace the NetworkPolicy is
        # what keeps the path private, so plain TCP as with the RocksDB claim's local disk.
        "useTls": False,
    }


def password_env() -> k8s.core.v1.EnvVarArgs:
    return k8s.core.v1.EnvVarArgs(
        name=PASSWORD_ENV,
        value_from=k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=app_secret(), key="password")
        ),
    )


def database_cluster(
    instance: str,
    namespace: pulumi.Input[str],
    storage: StorageSettings,
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """The `Cluster`: protected and retained like the data claim (it holds the mail), spread
    over nodes, waited for until Ready. During the move (mailstack:storageMove) it holds only a
    copy: the copy deletes it when going back (a protected resource would fail that update);
    the update that finishes the move retains it, and the next one, whose record says the mail
    is in PostgreSQL, protects it. The in-cluster guards (components/stalwart/v016/move.py)
    keep a database Stalwart ran on from being cleared or abandoned meanwhile."""
    retained = not storage.moving
    protected = storage.move is None
    return k8s.apiextensions.CustomResource(
        f"{instance}-database",
        api_version=API_VERSION,
        kind="Cluster",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=CLUSTER_NAME,
            namespace=namespace,
            labels=standard_labels(instance, "database"),
            annotations={"pulumi.com/waitFor": "condition=Ready"},
        ),
        spec={
            "instances": storage.instances,
            "storage": {"size": storage.size, "storageClass": storage.storage_class},
            "bootstrap": {"initdb": {"database": DATABASE, "owner": OWNER}},
            "affinity": {
                "enablePodAntiAffinity": True,
                "topologyKey": "kubernetes.io/hostname",
                "podAntiAffinityType": "preferred",
            },
        },
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                protect=protected,
                retain_on_delete=retained,
                custom_timeouts=pulumi.CustomTimeouts(create=READY_TIMEOUT, update=READY_TIMEOUT),
            ),
        ),
    )
