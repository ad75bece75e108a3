"""Service accounts as code: Stalwart accounts for in-cluster senders, and their credentials.

Each account's password comes from pulumi-random and reaches Stalwart only as a SHA-512-crypt
hash. A Kubernetes Job, run after the Stalwart Deployment is ready, reconciles the accounts
through the management API (incluster/reconcile_accounts.py, standard library only,
tested against a local stand-in of the API). Why a Job and not a dynamic provider: it reaches
Stalwart inside the cluster, so a laptop and CI need nothing but the Kubernetes API; Pulumi waits
for it and fails the update when it fails; and it reruns whenever its inputs change.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.accounts_job import (
    ACCOUNTS_FILE,
    ADMIN_PASSWORD_FILE,
    JOB_DEADLINE_SECONDS,
    JOB_TIMEOUTS,
    JobPod,
    accounts_pod_spec,
)
from components.consumers import consumer_secret, fingerprint, restart_consumers
from components.credentials import salted_hash
from components.incluster import scripts_config_map
from components.kube import RERUN_WHEN_FAILED, object_name, patch_metadata, standard_labels
from settings.model import ServiceAccount

COMPONENT_TYPE = "mailstack:stalwart:ServiceAccounts"
# Annotation on the Job's pod template: a replaced data claim (restore, new volume) gives a new
# template, so the Job runs again and recreates the accounts.
DATA_CLAIM_ANNOTATION = "mailstack.pulumi.com/data-claim-uid"


@dataclass(frozen=True)
class ServiceAccountsArgs:
    namespace: pulumi.Input[str]
    """Stalwart's namespace: the Job, its script and its inputs live there."""
    domain: str
    """The mail domain; Stalwart's domain principal, made before any account."""
    accounts: tuple[ServiceAccount, ...]
    """The accounts the stack owns (`mailstack:serviceAccounts`)."""
    admin_user: str
    """Stalwart's fallback admin, whom the Job authenticates as."""
    admin_password: pulumi.Input[str]
    """That admin's password (secret)."""
    stalwart_url: pulumi.Input[str]
    """In-cluster URL of Stalwart's HTTP listener."""
    smtp_host: pulumi.Input[str]
    """In-cluster SMTP host, for the consumers' settings."""
    smtp_port: int
    """Submission port, for the consumers' settings."""
    image: str
    """Pinned Python 3.11+ image for the Job."""
    data_claim_uid: pulumi.Input[str]
    """UID of the data claim: a new claim (restore) reruns the Job."""
    ready: pulumi.Resource | None
    """What the Job waits for: the Deployment (v0.15) or the applied plan (v0.16); None while no
    Stalwart serves (the upgrade's stop phase): no Job then, the passwords do not change."""
    generation: str | None
    """The serving Stalwart's generation: the v0.15 REST reconciler or the v0.16 JMAP one."""


def desired_document(domain: str, accounts: list[tuple[ServiceAccount, str]]) -> str:
    """The reconciler's ACCOUNTS_FILE: the domain and each account with its password hash."""
    return json.dumps(
        {
            "domain": domain,
            "accounts": [
                {
                    "name": account.name,
                    "email": account.email,
                    "description": account.description,
                    "secretHash": secret_hash,
                }
                for account, secret_hash in accounts
            ],
        },
        indent=2,
        sort_keys=True,
    )


class ServiceAccounts(pulumi.ComponentResource):
    """The accounts Job and, per account, its password and its consumer's Secret key."""

    passwords: pulumi.Output[dict[str, str]]
    """Account name -> password (secret)."""
    smtp_settings: dict[str, pulumi.Output[dict[str, object]]]
    """Account name -> what a consumer configures (no password)."""

    def __init__(
        self, name: str, args: ServiceAccountsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        passwords: dict[str, pulumi.Output[str]] = {}
        hashes: list[pulumi.Output[str]] = []
        fingerprints: dict[str, pulumi.Output[str]] = {}
        for account in args.accounts:
            password = random.RandomPassword(
                f"{name}-{account.name}-password",
                length=32,
                special=False,
                keepers={"version": str(account.password_version)},
                opts=child,
            )
            passwords[account.name] = pulumi.Output.secret(password.result)
            hashes.append(salted_hash(f"{name}-{account.name}", password.result, child))
            fingerprints[account.name] = fingerprint(hashes[-1])

        accounts = list(args.accounts)
        document: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(*hashes).apply(
                lambda values: desired_document(
                    args.domain, list(zip(accounts, values, strict=True))
                )
            )
        )

        job = (
            None
            if args.ready is None or args.generation is None
            else self._job(name, args, args.ready, args.generation, document)
        )

        self.smtp_settings = {}
        for account in args.accounts:
            delivered = self._deliver_credentials(name, account, passwords[account.name], job)
            restart_consumers(
                f"{name}-{account.name}",
                account,
                fingerprints[account.name],
                self,
                pulumi.ResourceOptions(parent=self, depends_on=[delivered]),
            )
            self.smtp_settings[account.name] = pulumi.Output.from_input(args.smtp_host).apply(
                _smtp_settings(account, args.smtp_port)
            )
        self.passwords = pulumi.Output.secret(pulumi.Output.all(**passwords))
        self.register_outputs({"passwords": self.passwords, "smtp_settings": self.smtp_settings})

    @staticmethod
    def pod_labels(name: str) -> dict[str, str]:
        """Labels of the Job's pods of the component `name`, known before it exists: Stalwart's
        NetworkPolicy lets them reach the management API."""
        return standard_labels(name, "accounts")

    def _job(
        self,
        name: str,
        args: ServiceAccountsArgs,
        ready: pulumi.Resource,
        generation: str,
        document: pulumi.Output[str],
    ) -> k8s.batch.v1.Job:
        labels = self.pod_labels(name)
        # Auto-named: new accounts, hashes or admin password give a new Secret name, hence a new
        # Job template; Kubernetes Jobs are immutable, so Pulumi replaces the Job and it reruns.
        desired = k8s.core.v1.Secret(
            f"{name}-desired",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=args.namespace, labels=labels),
            type="Opaque",
            string_data={
                ACCOUNTS_FILE: document,
                ADMIN_PASSWORD_FILE: pulumi.Output.secret(args.admin_password),
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        script = scripts_config_map(
            f"{name}-script",
            args.namespace,
            labels,
            pulumi.ResourceOptions(parent=self),
        )
        return k8s.batch.v1.Job(
            f"{name}-job",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                namespace=args.namespace,
                labels=labels,
                annotations=RERUN_WHEN_FAILED,
            ),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=2,
                # The script waits up to READY_TIMEOUT_SECONDS for Stalwart on its own; the
                # deadline stays below the provider's wait (JOB_TIMEOUTS).
                active_deadline_seconds=JOB_DEADLINE_SECONDS,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels,
                        annotations={DATA_CLAIM_ANNOTATION: args.data_claim_uid},
                    ),
                    spec=accounts_pod_spec(
                        JobPod(
                            generation=generation,
                            image=args.image,
                            stalwart_url=args.stalwart_url,
                            admin_user=args.admin_user,
                            desired_secret=desired.metadata.apply(object_name),
                            scripts=script.metadata.apply(object_name),
                        )
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[ready], custom_timeouts=JOB_TIMEOUTS
            ),
        )

    def _deliver_credentials(
        self,
        name: str,
        account: ServiceAccount,
        password: pulumi.Output[str],
        job: k8s.batch.v1.Job | None,
    ) -> pulumi.Resource:
        target = account.credentials
        # After the Job: a consumer never gets a password Stalwart does not know yet.
        opts = pulumi.ResourceOptions(parent=self, depends_on=[job] if job else [])
        resource_name = f"{name}-{account.name}-credentials"
        if target.create:
            return k8s.core.v1.Secret(
                resource_name,
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=target.secret_name,
                    namespace=target.namespace,
                    labels=standard_labels(name, "credentials"),
                ),
                type="Opaque",
                string_data={target.key: password},
                opts=opts,
            )
        # One key; force takes it over from the `kubectl patch` of the runbook's manual step.
        # A patch creates what it patches when it is missing (server-side apply upserts, in every
        # pulumi-kubernetes release), so the Secret is read first: a typo in secretName stops
        # the update with the read's "not found" instead of leaving a stray Secret behind.
        existing = consumer_secret(
            f"{resource_name}-target", target.namespace, target.secret_name, self
        )
        return k8s.core.v1.SecretPatch(
            resource_name,
            metadata=patch_metadata(
                target.secret_name, target.namespace, f"mailstack-account-{account.name}"
            ),
            string_data={target.key: password},
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[existing])),
        )


def _smtp_settings(account: ServiceAccount, port: int) -> Callable[[str], dict[str, object]]:
    """What a consumer configures: short name as username (AUTH resolves by name), no password."""

    def settings(host: str) -> dict[str, object]:
        target = account.credentials
        return {
            "host": host,
            "port": port,
            "username": account.name,
            "from": account.email,
            "passwordSecret": f"{target.namespace}/{target.secret_name}",
            "passwordKey": target.key,
        }

    return settings
