"""The stack's administrator on v0.16 and the recovery admin's short life.

Stalwart's recovery admin (`STALWART_RECOVERY_ADMIN`, `admin:<hash>`) is checked before the
directory in every mode and on every protocol (crates/common/src/auth/authentication.rs), so
kept forever it is a full-admin login on plaintext 587 too. The stack's Jobs log in as an account
of the directory instead: `mailstack-admin@<domain>`, Admin role, its password
mailstack:adminPassword (the account stores the hash only), impersonation, sending, receiving and
IMAP/POP3/Sieve logins disabled (incluster/jmap_jobs.py `admin_body`).

The pod reads the recovery admin, optionally, from the key of one bootstrap Secret, which the
stack creates empty. The apply Job, whose first step finds that neither the administrator nor the
recovery admin accepts the password (a fresh server, a new mailstack:adminPassword), writes the
key `admin:<hash>` and restarts Stalwart (`door`); it applies the plan, creates or updates the
administrator, removes the key and restarts Stalwart until the recovery admin is refused
(`administrator`). A new password gives the Secret a new name (a random suffix kept by the
password's hash): a new, empty Secret, a rollout and a new apply Job. The hourly re-application
does neither step. The upgrade's recover phase keeps the recovery admin from the pod's own Secret:
the restore needs it before any account exists (v016/runtime.py).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.kube import object_name, standard_labels
from components.stalwart.endpoints import ADMINISTRATOR_ACCOUNT

RECOVERY_ADMIN_KEY = "recovery-admin"
"""The key the pod reads `STALWART_RECOVERY_ADMIN` from (`admin:<sha512-crypt hash>`)."""


def administrator(domain: str) -> str:
    """The administrator's login: its full address (the bare name is not a login on v0.16.18
    before the plan has set the default domain; seen on the real server)."""
    return f"{ADMINISTRATOR_ACCOUNT}@{domain}"


def recovery_admin_value(admin_hash: pulumi.Output[str]) -> pulumi.Output[str]:
    return pulumi.Output.secret(admin_hash.apply(lambda digest: f"admin:{digest}"))


def bootstrap_secret(
    instance: str,
    namespace: pulumi.Input[str],
    admin_hash: pulumi.Output[str],
    opts: pulumi.ResourceOptions,
) -> pulumi.Output[str]:
    """The Secret the pod reads the recovery admin from, created empty: the apply Job writes
    the key when it can log in as nobody (a fresh server, a new password) and removes it once the
    administrator exists. The stack never holds its data: with `ignore_changes` a replaced
    Secret would be created with the old data, the old hash (Pulumi carries ignored inputs over
    to the replacement). Its name ends in a `random.RandomString` kept by the admin password's
    hash (encrypted in state), so a new password is a new Secret, a new pod and a new Job."""
    suffix = random.RandomString(
        f"{instance}-bootstrap-suffix",
        length=8,
        special=False,
        upper=False,
        keepers={"adminHash": admin_hash},
        opts=opts,
    )
    secret = k8s.core.v1.Secret(
        f"{instance}-bootstrap",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=suffix.result.apply(lambda value: f"{instance}-bootstrap-{value}"),
            namespace=namespace,
            labels=standard_labels(instance, "bootstrap"),
        ),
        type="Opaque",
        # The Job's key is not the stack's: a refresh reads it, the stack leaves it.
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(ignore_changes=["data", "stringData"])
        ),
    )
    return secret.metadata.apply(object_name)
