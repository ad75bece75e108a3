"""The Stalwart mail server on Kubernetes: namespace, data volume, config, Deployment, Service,
NetworkPolicy, backups, and the Tailscale and Traefik ingresses of the runbook."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.adoption import adopted
from components.backup import MailBackups, MailBackupsArgs
from components.credentials import salted_hash
from components.kube import object_name, standard_labels
from components.stalwart.claims import UPGRADED_LABEL, UPGRADED_SUFFIX, data_claim
from components.stalwart.endpoints import (
    ADMIN_USER,
    DEPLOYMENT_NAME,
    HTTP_PORT,
    NETWORK_POLICY_NAME,
    PORTS,
    SERVICE_NAME,
    SUBMISSION_PORT,
)
from components.stalwart.ingress import published_url, webmail_ingresses
from components.stalwart.jobs import job_labels, jobs_account
from components.stalwart.network_policy import NetworkRules, network_policy_spec
from components.stalwart.runtime import Runtime, RuntimeInputs, ServerParts
from components.stalwart.upgrade import stop_gate
from components.stalwart.v015 import runtime as v015
from components.stalwart.v016 import coordinator as v016_coordinator
from components.stalwart.v016 import database as v016_database
from components.stalwart.v016 import runtime as v016
from components.stalwart.v016.admin import administrator, bootstrap_secret
from settings.model import (
    ROCKSDB,
    BackupPolicy,
    DataPlan,
    Relay,
    StorageSettings,
    TlsSettings,
)

COMPONENT_TYPE = "mailstack:stalwart:StalwartServer"
GENERATIONS: dict[str, Callable[[RuntimeInputs, pulumi.ResourceOptions], Runtime]] = {
    "0.15": v015.deploy,  # retiring v0.15: this line and components/stalwart/v015/
    "0.16": v016.deploy,
}
"""Each generation's runtime, by the generation a claim holds (settings/generation.py)."""


@dataclass(frozen=True)
class StalwartServerArgs:
    """Inputs of the StalwartServer component."""

    namespace: str
    """Namespace created for Stalwart (`stalwart`)."""
    data: DataPlan
    """The data claims, the Stalwart image of each, and which one serves."""
    upgrade_export: pulumi.Output[str] | None
    """The converted v0.15 export (secret), applied in the upgrade's recover phase."""
    jobs_image: str
    """Pinned Python image of the in-cluster scripts."""
    domain: str
    """The mail domain (v0.16: the Domain object and default domain of logins)."""
    storage_class: str
    """Storage class of the data claim (Longhorn)."""
    storage_size: str
    """Requested size of the data claim, a Kubernetes quantity."""
    webmail_fqdn: str
    """Public webmail host behind Traefik and Authentik, `mail.<domain>`."""
    tailnet_hostname: str
    """First label of the Tailscale ingress host."""
    resend_api_key: pulumi.Input[str]
    """Relay credential (secret)."""
    admin_password: pulumi.Input[str] | None
    """Fallback admin password (secret); None generates one with pulumi-random."""
    adopt_existing: bool
    """Import the namespace and the claim. The old Deployment, Service and Ingresses are deleted
    before the adopting update (docs/how-to/adopt-the-old-system.md): creating an object that exists
    fails, and taking it over by server-side apply would keep the fields only Flux set (the alpine
    init container, a selector key)."""
    relay: Relay
    """The outbound relay every non-local message goes through."""
    auth_mechanisms: tuple[str, ...]
    """SASL mechanisms offered on submission (587) without TLS."""
    run_as_user: int
    """Uid/gid Stalwart drops to after binding its ports (RUN_AS_USER); 0 keeps root."""
    network: NetworkRules
    """Who may reach Stalwart, and where it may connect (the NetworkPolicy)."""
    backup: BackupPolicy
    """Longhorn recurring jobs of the data volume."""
    tls: TlsSettings | None = None
    """A cert-manager certificate for 993 (v0.16); None: Stalwart's self-signed one."""
    storage: StorageSettings = ROCKSDB
    """v0.16's data store and pod count (mailstack:storage, mailstack:replicas)."""


class StalwartServer(pulumi.ComponentResource):
    """Stalwart (v0.15 or v0.16) with its data volume, config, Service and ingresses."""

    namespace: pulumi.Output[str]
    """Name of the namespace (consumers' SMTP host is `stalwart.<namespace>.svc.cluster.local`)."""
    smtp_host: pulumi.Output[str]
    """In-cluster SMTP submission host."""
    smtp_port: int
    """Submission port (587, no TLS inside the cluster)."""
    admin_user: str
    """The admin login of the serving Stalwart: v0.16's administrator account
    (`mailstack-admin@<domain>`), v0.15's fallback admin `admin`."""
    admin_password: pulumi.Output[str]
    """Fallback admin password (secret)."""
    metrics_password: pulumi.Output[str]
    """Basic-auth password of the Prometheus endpoint (secret; user `prometheus`)."""
    service_name: str
    """The Service's Kubernetes name (a ServiceMonitor names its scrape job after it)."""
    service_labels: dict[str, str]
    """The labels of the Service `stalwart` (what a ServiceMonitor selects)."""
    statefulset_names: tuple[str, ...]
    """The Kubernetes names of Stalwart's StatefulSets (v0.16 on PostgreSQL; else none)."""
    deployment_names: tuple[str, ...]
    """The Kubernetes names of Stalwart's Deployments, the upgrade's copy included whether it
    exists yet or not (what alerts watch)."""
    claim_names: tuple[str, ...]
    """The Kubernetes names of the data claims of this update."""
    webmail_url: str
    """Public webmail URL."""
    tailnet_url: pulumi.Output[str | None]
    """https URL of the Tailscale ingress once the operator has published it."""
    http_url: pulumi.Output[str]
    """In-cluster URL of the HTTP listener (management API), for the accounts Job."""
    ready: pulumi.Resource | None
    """What needs a configured Stalwart waits for: the Deployment (v0.15), the apply Job (v0.16);
    None while no Stalwart serves (the upgrade's stop phase)."""
    serving_generation: str | None
    """The generation of the Stalwart that serves, if one does."""
    data_claim: k8s.core.v1.PersistentVolumeClaim
    """The claim that serves, else the first."""
    data_claim_uid: pulumi.Output[str]
    """That claim's UID: a restored claim is a new object, which reruns the accounts Job."""

    def __init__(
        self, name: str, args: StalwartServerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        selector = {"app.kubernetes.io/name": "stalwart", "app.kubernetes.io/instance": name}

        ns = self._namespace(name, args)
        namespace = ns.metadata.apply(object_name)

        if args.admin_password is None:
            generated = random.RandomPassword(
                f"{name}-admin-password", length=32, special=False, opts=child
            )
            admin_password: pulumi.Output[str] = pulumi.Output.secret(generated.result)
        else:
            admin_password = pulumi.Output.secret(args.admin_password)
        # Kept in state so the hash (and so the Secret and the pod) only change with the password.
        admin_hash = salted_hash(f"{name}-admin", admin_password, child)
        # The Prometheus endpoint is always on and always behind Basic auth
        # (docs/how-to/monitoring.md).
        scrape = random.RandomPassword(
            f"{name}-metrics-password", length=32, special=False, opts=child
        )
        metrics_password: pulumi.Output[str] = pulumi.Output.secret(scrape.result)

        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SERVICE_NAME, namespace=namespace, labels=standard_labels(name, "mail-server")
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(name=port_name, port=port, target_port=port_name)
                    for port_name, port in PORTS
                ],
            ),
            opts=child,
        )
        service_name = service.metadata.apply(object_name)
        # Through the Service: the Jobs that reach Stalwart depend on it existing.
        http_url = service_name.apply(
            lambda svc: f"http://{svc}.{args.namespace}.svc.cluster.local:{HTTP_PORT}"
        )
        # v0.16's Jobs restart Stalwart's pods and check its listeners; the upgrade's gate waits.
        v016_claims = any(claim.generation == "0.16" for claim in args.data.claims)
        bootstrap = bootstrap_secret(name, namespace, admin_hash, child) if v016_claims else None
        account = jobs_account(name, namespace, child, bootstrap) if v016_claims else None
        own_jobs = (job_labels(name),) if v016_claims else ()
        parts = ServerParts(
            instance=name,
            namespace=namespace,
            selector=selector,
            http_url=http_url,
            jobs_account=account,
            admin_password=admin_password,
            admin_hash=admin_hash,
            metrics_password=metrics_password,
            bootstrap_secret=bootstrap,
        )
        claims, runtimes = _claims_and_runtimes(args, parts, child)
        serving = args.data.serving

        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=NETWORK_POLICY_NAME,
                namespace=namespace,
                labels=standard_labels(name, "network"),
            ),
            spec=network_policy_spec(selector, args.network, own_jobs, _stores(name, args)),
            opts=child,
        )
        MailBackups(
            f"{name}-backups",
            MailBackupsArgs(job_group=f"{name}-mail", policy=args.backup),
            child,
        )
        tailscale = webmail_ingresses(
            name, namespace, service_name, args.webmail_fqdn, args.tailnet_hostname, child
        )

        self.namespace = namespace
        self.ready = runtimes[serving.role].ready if serving else None
        self.serving_generation = serving.generation if serving else None
        self.data_claim = claims[serving.role if serving else "primary"]
        self.data_claim_uid = self.data_claim.metadata.apply(lambda meta: meta.uid or "")
        self.http_url = http_url
        self.smtp_host = service_name.apply(lambda svc: f"{svc}.{args.namespace}.svc.cluster.local")
        self.smtp_port = SUBMISSION_PORT
        # The login the stack's Jobs use on the serving generation (v0.16: the administrator;
        # `admin` stays the recovery admin, docs/explanation/security.md).
        self.admin_user = (
            administrator(args.domain) if self.serving_generation == "0.16" else ADMIN_USER
        )
        self.admin_password = admin_password
        self.metrics_password = metrics_password
        self.service_name = SERVICE_NAME
        self.service_labels = standard_labels(name, "mail-server")
        self.deployment_names = (DEPLOYMENT_NAME, f"{DEPLOYMENT_NAME}-{UPGRADED_SUFFIX}")
        self.statefulset_names = (
            (
                f"{DEPLOYMENT_NAME}-{UPGRADED_SUFFIX}"
                if serving.role == "upgraded"
                else DEPLOYMENT_NAME,
            )
            if args.storage.pods_on_postgresql and serving is not None
            else ()
        )
        self.claim_names = tuple(claim.claim for claim in args.data.claims)
        self.webmail_url = f"https://{args.webmail_fqdn}"
        self.tailnet_url = tailscale.status.apply(published_url)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "smtp_host": self.smtp_host,
                "smtp_port": self.smtp_port,
                "admin_user": self.admin_user,
                "admin_password": self.admin_password,
                "metrics_password": self.metrics_password,
                "service_name": self.service_name,
                "service_labels": self.service_labels,
                "deployment_names": list(self.deployment_names),
                "statefulset_names": list(self.statefulset_names),
                "claim_names": list(self.claim_names),
                "webmail_url": self.webmail_url,
                "tailnet_url": self.tailnet_url,
                "http_url": self.http_url,
                "ready": self.ready,
                "serving_generation": self.serving_generation,
                "data_claim": self.data_claim,
                "data_claim_uid": self.data_claim_uid,
            }
        )

    def _namespace(self, name: str, args: StalwartServerArgs) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace, labels=standard_labels(name, "namespace")
            ),
            opts=adopted(
                # Mail must survive any update and a mistaken `pulumi destroy`.
                pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
                args.namespace if args.adopt_existing else None,
                # Only the server-set finalizers: ignoring `metadata` made the adopting update
                # send the imported metadata back, managedFields included, which the API server
                # refuses ("metadata.managedFields must be nil", make e2e). The labels are added.
                ["spec"],
            ),
        )


def _claims_and_runtimes(
    args: StalwartServerArgs, parts: ServerParts, opts: pulumi.ResourceOptions
) -> tuple[dict[str, k8s.core.v1.PersistentVolumeClaim], dict[str, Runtime]]:
    """Every claim of the plan and the runtime of its generation on it, by role (`primary`, then
    `upgraded`): the one that serves, and the one that waits."""
    name = parts.instance
    claims: dict[str, k8s.core.v1.PersistentVolumeClaim] = {}
    runtimes: dict[str, Runtime] = {}
    for claim in args.data.claims:
        upgraded = claim.role == "upgraded"
        after: list[pulumi.Resource] = []
        if upgraded and claim.recovery and parts.jobs_account is not None:
            # The copy is taken only once the v0.15 pod is gone, even when phase stop was
            # skipped: this update scales v0.15 to zero first, and the gate waits for its pod.
            after.append(
                stop_gate(
                    name,
                    parts.namespace,
                    {**parts.selector, f"!{UPGRADED_LABEL}": ""},
                    parts.jobs_account,
                    args.jobs_image,
                    runtimes["primary"].deployment,
                    opts,
                )
            )
        claims[claim.role] = data_claim(
            f"{name}-data-{UPGRADED_SUFFIX}" if upgraded else f"{name}-data",
            name,
            claim.claim,
            parts.namespace,
            args.storage_class,
            args.storage_size,
            f"{name}-mail",
            args.backup.groups,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=after)),
            source=claim.source,
            import_id=(
                f"{args.namespace}/{claim.claim}" if args.adopt_existing and not upgraded else None
            ),
        )
        inputs = RuntimeInputs(
            args=args,
            server=parts,
            claim=claim,
            claim_name=claims[claim.role].metadata.apply(object_name),
        )
        runtimes[claim.role] = GENERATIONS[claim.generation](inputs, opts)
    return claims, runtimes


def _stores(name: str, args: StalwartServerArgs) -> tuple[tuple[dict[str, str], int], ...]:
    """What Stalwart connects to in its namespace on PostgreSQL: the database's instances
    (CloudNativePG labels them `cnpg.io/cluster`) and, for more than one pod, NATS. Going back
    to RocksDB after a copy, the pod's abandon step reaches the database too."""
    if not args.storage.postgresql and args.storage.move != "abandon":
        return ()
    database = ({"cnpg.io/cluster": v016_database.CLUSTER_NAME}, v016_database.PORT)
    if not args.storage.clustered:
        return (database,)
    return (database, (v016_coordinator.pod_labels(name), v016_coordinator.CLIENT_PORT))
