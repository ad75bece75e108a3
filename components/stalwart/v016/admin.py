"""The stack's administrator on v0.16 and the recovery admin's short life.

Stalwart's recovery admin (`STALWART_RECOVERY_ADMIN`, `admin:<hash>`) is checked before the
directory in every mode and on every protocol (crates/common/src/auth/authentication.rs), so
kept forever it is a full-admin login on plaintext 587 too. The stack's Jobs log in as an account
of the directory instead: `mailstack-admin@<domain>`, Admin role, its password
mailstack:adminPassword (the account stores the hash only), impersonation, sending, receiving and
IMAP/POP3/Sieve logins disabled (incluster/jmap_jobs.py `admin_body`).

A fresh server has no account, so the pod reads the recovery admin, optionally, from the key of
one bootstrap Secret; the apply Job's `admin` step creates the administrator, removes that key
and restarts Stalwart until the recovery admin is refused. The stack ignores changes to the
Secret's live data, so the key stays removed. A new mailstack:adminPassword gives the Secret a
new name (a random suffix kept by the password's hash), hence the key again, a rollout and a new
apply Job, which logs in as the recovery admin (the administrator refuses the new password),
sets the new hash and closes the door again. The upgrade's recover phase keeps the recovery
admin from the pod's own Secret: the restore needs it before any account exists
(v016/runtime.py).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.kube import object_name, standard_labels
from settings.model import ADMINISTRATOR_ACCOUNT

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
    """The Secret whose key lets a fresh server be reached until the administrator exists. Its
    name ends in a `random.RandomString` kept by the admin password's hash (a secret in state),
    so a new password is a new name: a new Secret with the key, the pod rolls and the apply Job
    runs again. The Secret's own data cannot say so: pulumi-kubernetes folds `stringData` into
    `data`, which the stack must ignore (seen in `make e2e`: with `replaceOnChanges` on
    `stringData` and `data` ignored, a new password changed nothing)."""
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
        string_data={RECOVERY_ADMIN_KEY: recovery_admin_value(admin_hash)},
        opts=pulumi.ResourceOptions.merge(
            opts,
            # The apply Job removes the key once the administrator exists; neither the stack
            # nor a refresh (which reads the live Secret without it) may put it back.
            pulumi.ResourceOptions(ignore_changes=["data", "stringData"]),
        ),
    )
    return secret.metadata.apply(object_name)
