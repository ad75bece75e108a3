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
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.credentials import salted_hash
from components.kube import object_name, standard_labels
from settings.model import ServiceAccount

COMPONENT_TYPE = "mailstack:stalwart:ServiceAccounts"
RECONCILER = Path(__file__).resolve().parent.parent / "incluster" / "reconcile_accounts.py"
SCRIPT_DIR = "/opt/mailstack"
DESIRED_DIR = "/run/secrets/mailstack-accounts"
ACCOUNTS_FILE = "accounts.json"
ADMIN_PASSWORD_FILE = "admin-password"
NOBODY = 65534  # the reconciler needs no identity; files are readable through fsGroup
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
    deployment: pulumi.Resource
    """The Stalwart Deployment: the Job starts once it is rolled out."""


def job_pod_labels(name: str) -> dict[str, str]:
    """Labels of the Job's pods (the NetworkPolicy lets them reach the management API)."""
    return standard_labels(name, "accounts")


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

        accounts = list(args.accounts)
        document: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(*hashes).apply(
                lambda values: desired_document(
                    args.domain, list(zip(accounts, values, strict=True))
                )
            )
        )

        labels = job_pod_labels(name)
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
            opts=child,
        )
        script = k8s.core.v1.ConfigMap(
            f"{name}-script",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=args.namespace, labels=labels),
            data={RECONCILER.name: RECONCILER.read_text()},
            opts=child,
        )
        job = k8s.batch.v1.Job(
            f"{name}-job",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                namespace=args.namespace,
                labels=labels,
                # A failed Job is replaced (rerun) by the next `pulumi up` even when nothing else
                # changed, instead of being waited on again.
                annotations={"pulumi.com/replaceUnready": "true"},
            ),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=2,
                # The script waits up to READY_TIMEOUT_SECONDS for Stalwart on its own.
                active_deadline_seconds=900,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=labels,
                        annotations={DATA_CLAIM_ANNOTATION: args.data_claim_uid},
                    ),
                    spec=_job_pod_spec(args, desired, script),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.deployment]),
        )

        self.smtp_settings = {}
        for account in args.accounts:
            self._deliver_credentials(name, account, passwords[account.name], job)
            self.smtp_settings[account.name] = pulumi.Output.from_input(args.smtp_host).apply(
                _smtp_settings(account, args.smtp_port)
            )
        self.passwords = pulumi.Output.secret(pulumi.Output.all(**passwords))
        self.register_outputs({"passwords": self.passwords, "smtp_settings": self.smtp_settings})

    def _deliver_credentials(
        self,
        name: str,
        account: ServiceAccount,
        password: pulumi.Output[str],
        job: k8s.batch.v1.Job,
    ) -> None:
        target = account.credentials
        # After the Job: a consumer never gets a password Stalwart does not know yet.
        opts = pulumi.ResourceOptions(parent=self, depends_on=[job])
        resource_name = f"{name}-{account.name}-credentials"
        if target.create:
            k8s.core.v1.Secret(
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
            return
        # Server-side apply of one key under its own field manager: the Secret's other keys and
        # its owner (a Helm chart, Flux) are left alone; force takes the key over from the
        # `kubectl patch` of the runbook's manual step.
        k8s.core.v1.SecretPatch(
            resource_name,
            metadata=k8s.meta.v1.ObjectMetaPatchArgs(
                name=target.secret_name,
                namespace=target.namespace,
                annotations={
                    "pulumi.com/patchFieldManager": f"mailstack-account-{account.name}",
                    "pulumi.com/patchForce": "true",
                },
            ),
            string_data={target.key: password},
            opts=opts,
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


def _job_pod_spec(
    args: ServiceAccountsArgs, desired: k8s.core.v1.Secret, script: k8s.core.v1.ConfigMap
) -> k8s.core.v1.PodSpecArgs:
    return k8s.core.v1.PodSpecArgs(
        restart_policy="Never",
        automount_service_account_token=False,
        security_context=k8s.core.v1.PodSecurityContextArgs(
            run_as_non_root=True,
            run_as_user=NOBODY,
            run_as_group=NOBODY,
            fs_group=NOBODY,
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        ),
        containers=[
            k8s.core.v1.ContainerArgs(
                name="reconcile-accounts",
                image=args.image,
                command=["python3", f"{SCRIPT_DIR}/{RECONCILER.name}"],
                env=[
                    k8s.core.v1.EnvVarArgs(name="STALWART_URL", value=args.stalwart_url),
                    k8s.core.v1.EnvVarArgs(name="STALWART_ADMIN_USER", value=args.admin_user),
                    k8s.core.v1.EnvVarArgs(
                        name="ADMIN_PASSWORD_FILE", value=f"{DESIRED_DIR}/{ADMIN_PASSWORD_FILE}"
                    ),
                    k8s.core.v1.EnvVarArgs(
                        name="ACCOUNTS_FILE", value=f"{DESIRED_DIR}/{ACCOUNTS_FILE}"
                    ),
                    k8s.core.v1.EnvVarArgs(name="PYTHONDONTWRITEBYTECODE", value="1"),
                ],
                volume_mounts=[
                    k8s.core.v1.VolumeMountArgs(
                        name="script", mount_path=SCRIPT_DIR, read_only=True
                    ),
                    k8s.core.v1.VolumeMountArgs(
                        name="desired", mount_path=DESIRED_DIR, read_only=True
                    ),
                ],
                security_context=k8s.core.v1.SecurityContextArgs(
                    allow_privilege_escalation=False,
                    read_only_root_filesystem=True,
                    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                ),
                resources=k8s.core.v1.ResourceRequirementsArgs(
                    requests={"cpu": "10m", "memory": "32Mi"},
                    limits={"memory": "128Mi"},
                ),
            )
        ],
        volumes=[
            k8s.core.v1.VolumeArgs(
                name="script",
                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                    name=script.metadata.apply(object_name)
                ),
            ),
            k8s.core.v1.VolumeArgs(
                name="desired",
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=desired.metadata.apply(object_name),
                    default_mode=0o440,
                ),
            ),
        ],
    )
