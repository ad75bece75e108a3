"""The Stalwart mail server on Kubernetes: namespace, data volume, config, Deployment, Service,
and the Tailscale and Traefik ingresses of the runbook's "Kubernetes resources"."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import stalwart_config as sc
from components.adoption import adopted
from components.backup import BackupPolicy, MailBackups, claim_labels
from components.labels import object_name, standard_labels
from components.network_policy import NetworkRules, network_policy_spec

COMPONENT_TYPE = "mailstack:stalwart:StalwartServer"

# Names other systems depend on: consumers use stalwart.stalwart.svc.cluster.local.
DEPLOYMENT_NAME = "stalwart"
SERVICE_NAME = "stalwart"
DATA_CLAIM_NAME = "stalwart-data"
TAILSCALE_INGRESS_NAME = "stalwart-tailscale"
PUBLIC_INGRESS_NAME = "stalwart-public"
TLS_SECRET_NAME = "stalwart-tls"

CLUSTER_ISSUER = "letsencrypt-production"
# Traefik sees plain HTTP from cloudflared, so the first middleware restores the https scheme;
# the second sends every request through Authentik's forward-auth outpost.
PUBLIC_MIDDLEWARES = (
    "kube-system-cloudflare-https-scheme@kubernetescrd,"
    "authentik-authentik-forward-auth@kubernetescrd"
)

CONFIG_SOURCE_DIR = "/etc/mailstack"
# v0.15's image runs as root and has no user of its own; Stalwart binds its ports as root and
# then switches to RUN_AS_USER/RUN_AS_GROUP (crates/common/src/listener/listen.rs). Any unused
# id works (numeric ids need no passwd entry); 2000 is what v0.16's image uses.
DEFAULT_RUN_AS = 2000
# Measured on a homelab this size (a handful of senders, spam filter on): ~200-350 MiB resident
# after the rules load. The request keeps the node's scheduler honest; the limit leaves room for
# RocksDB compactions and bursts without letting a leak take the node. No CPU limit: throttling
# only slows SMTP sessions, and the request gives Stalwart its share under contention.
RESOURCES = k8s.core.v1.ResourceRequirementsArgs(
    requests={"cpu": "100m", "memory": "256Mi"}, limits={"memory": "1Gi"}
)
# SIGTERM lets Stalwart finish the SMTP sessions and relay deliveries in flight; the queue itself
# is in RocksDB and survives. A minute covers a slow relay handshake with retries.
TERMINATION_GRACE_SECONDS = 60
# The provider would wait up to ten minutes for each Ingress's load-balancer status, which only
# the controller (Traefik, the Tailscale operator) publishes; nothing here depends on it, and an
# operator that is slow to join the tailnet must not fail the update. `tailnetUrl` shows the
# published host after the next `pulumi refresh`.
SKIP_AWAIT = {"pulumi.com/skipAwait": "true"}
CONFIG_FILE = "config.toml"


@dataclass(frozen=True)
class StalwartServerArgs:
    """Inputs of the StalwartServer component."""

    namespace: str
    """Namespace created for Stalwart (`stalwart`)."""
    image: str
    """Pinned `stalwartlabs/stalwart:v0.15.x` image."""
    storage_class: str
    storage_size: str
    webmail_fqdn: str
    """Public webmail host behind Traefik and Authentik, `mail.<domain>`."""
    tailnet_hostname: str
    """First label of the Tailscale ingress host."""
    resend_api_key: pulumi.Input[str]
    """Relay credential (secret)."""
    admin_password: pulumi.Input[str] | None = None
    """Fallback admin password (secret); None generates one with pulumi-random."""
    data_claim_name: str = DATA_CLAIM_NAME
    adopt_existing: bool = False
    """Import the namespace and the claim. The old Deployment, Service and Ingresses are deleted
    before the adopting update (MIGRATING.md): creating an object that exists fails, and taking it
    over by server-side apply would keep the fields only Flux set (the alpine init container, a
    selector key)."""
    relay: sc.RelayArgs = field(default_factory=sc.RelayArgs)
    auth_mechanisms: tuple[str, ...] = sc.AUTH_MECHANISMS
    """SASL mechanisms offered on submission (587) without TLS."""
    run_as_user: int = DEFAULT_RUN_AS
    """Uid/gid Stalwart drops to after binding its ports (RUN_AS_USER); 0 keeps root."""
    network: NetworkRules | None = None
    """The NetworkPolicy's rules; None creates no policy."""
    backup: BackupPolicy = field(default_factory=BackupPolicy)


class StalwartServer(pulumi.ComponentResource):
    """Stalwart v0.15 with its data volume, rendered config, Service and ingresses."""

    namespace: pulumi.Output[str]
    """Name of the namespace (consumers' SMTP host is `stalwart.<namespace>.svc.cluster.local`)."""
    smtp_host: pulumi.Output[str]
    """In-cluster SMTP submission host."""
    smtp_port: int
    admin_user: str
    admin_password: pulumi.Output[str]
    """Fallback admin password (secret)."""
    webmail_url: str
    tailnet_url: pulumi.Output[str | None]
    """https URL of the Tailscale ingress once the operator has published it."""
    http_url: pulumi.Output[str]
    """In-cluster URL of the HTTP listener (management API), for the accounts Job."""
    deployment: k8s.apps.v1.Deployment
    data_claim: k8s.core.v1.PersistentVolumeClaim

    def __init__(
        self, name: str, args: StalwartServerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Mail must survive any update and a mistaken `pulumi destroy`.
        keep = pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True)
        selector = {"app.kubernetes.io/name": "stalwart", "app.kubernetes.io/instance": name}

        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.namespace, labels=standard_labels(name, "namespace")
            ),
            opts=adopted(keep, args.namespace if args.adopt_existing else None, ["metadata"]),
        )
        namespace = ns.metadata.apply(object_name)

        data = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-data",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.data_claim_name,
                namespace=namespace,
                labels={**standard_labels(name, "data"), **claim_labels()},
            ),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                storage_class_name=args.storage_class,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                    requests={"storage": args.storage_size}
                ),
            ),
            opts=adopted(
                keep,
                f"{args.namespace}/{args.data_claim_name}" if args.adopt_existing else None,
                ["metadata", "spec"],
            ),
        )

        if args.admin_password is None:
            generated = random.RandomPassword(
                f"{name}-admin-password", length=32, special=False, opts=child
            )
            admin_password: pulumi.Output[str] = pulumi.Output.secret(generated.result)
        else:
            admin_password = pulumi.Output.secret(args.admin_password)

        # Kept in state so the hash (and so the Secret and the pod) only change with the password.
        salt = random.RandomString(
            f"{name}-admin-salt", length=sc.SALT_LENGTH, special=False, opts=child
        )
        admin_hash: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(admin_password, salt.result).apply(
                lambda pair: sc.hash_password(str(pair[0]), str(pair[1]))
            )
        )

        # Auto-named: a new value gives a new Secret/ConfigMap name, which changes the pod
        # template and rolls the pod (create-before-delete, so the old pod keeps its files).
        secrets = k8s.core.v1.Secret(
            f"{name}-secrets",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                namespace=namespace, labels=standard_labels(name, "secrets")
            ),
            type="Opaque",
            string_data={
                sc.ADMIN_SECRET_FILE: admin_hash,
                sc.RELAY_SECRET_FILE: pulumi.Output.secret(args.resend_api_key),
            },
            opts=child,
        )
        config = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                namespace=namespace, labels=standard_labels(name, "config")
            ),
            data={CONFIG_FILE: sc.render_toml(sc.render_config(args.relay, args.auth_mechanisms))},
            opts=child,
        )

        pod_spec = self._pod_spec(args, data, secrets, config)
        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=DEPLOYMENT_NAME,
                namespace=namespace,
                labels=standard_labels(name, "mail-server"),
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                # RocksDB holds an exclusive lock: a second pod next to the old one never starts.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**standard_labels(name, "mail-server"), **selector}
                    ),
                    spec=pod_spec,
                ),
            ),
            opts=child,
        )

        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SERVICE_NAME,
                namespace=namespace,
                labels=standard_labels(name, "mail-server"),
            ),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(name=port_name, port=port, target_port=port_name)
                    for port_name, port in _PORTS
                ],
            ),
            opts=child,
        )
        service_name = service.metadata.apply(object_name)
        if args.network is not None:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-network-policy",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name="stalwart", namespace=namespace, labels=standard_labels(name, "network")
                ),
                spec=network_policy_spec(selector, args.network),
                opts=child,
            )
        MailBackups(f"{name}-backups", args.backup, opts=child)
        http_backend = k8s.networking.v1.IngressBackendArgs(
            service=k8s.networking.v1.IngressServiceBackendArgs(
                name=service_name,
                port=k8s.networking.v1.ServiceBackendPortArgs(number=sc.HTTP_PORT),
            )
        )
        root_path = k8s.networking.v1.HTTPIngressPathArgs(
            path="/", path_type="Prefix", backend=http_backend
        )

        tailscale = k8s.networking.v1.Ingress(
            f"{name}-tailscale-ingress",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=TAILSCALE_INGRESS_NAME,
                namespace=namespace,
                labels=standard_labels(name, "webmail"),
                annotations=SKIP_AWAIT,
            ),
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name="tailscale",
                rules=[
                    k8s.networking.v1.IngressRuleArgs(
                        http=k8s.networking.v1.HTTPIngressRuleValueArgs(paths=[root_path])
                    )
                ],
                tls=[k8s.networking.v1.IngressTLSArgs(hosts=[args.tailnet_hostname])],
            ),
            opts=child,
        )
        k8s.networking.v1.Ingress(
            f"{name}-public-ingress",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=PUBLIC_INGRESS_NAME,
                namespace=namespace,
                labels=standard_labels(name, "webmail"),
                annotations={
                    "cert-manager.io/cluster-issuer": CLUSTER_ISSUER,
                    "traefik.ingress.kubernetes.io/router.middlewares": PUBLIC_MIDDLEWARES,
                    **SKIP_AWAIT,
                },
            ),
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name="traefik",
                rules=[
                    k8s.networking.v1.IngressRuleArgs(
                        host=args.webmail_fqdn,
                        http=k8s.networking.v1.HTTPIngressRuleValueArgs(paths=[root_path]),
                    )
                ],
                tls=[
                    k8s.networking.v1.IngressTLSArgs(
                        hosts=[args.webmail_fqdn], secret_name=TLS_SECRET_NAME
                    )
                ],
            ),
            opts=child,
        )

        self.namespace = namespace
        self.deployment = deployment
        self.data_claim = data
        self.http_url = service_name.apply(
            lambda svc: f"http://{svc}.{args.namespace}.svc.cluster.local:{sc.HTTP_PORT}"
        )
        self.smtp_host = service_name.apply(lambda svc: f"{svc}.{args.namespace}.svc.cluster.local")
        self.smtp_port = sc.SUBMISSION_PORT
        self.admin_user = sc.ADMIN_USER
        self.admin_password = admin_password
        self.webmail_url = f"https://{args.webmail_fqdn}"
        self.tailnet_url = tailscale.status.apply(_published_url)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "smtp_host": self.smtp_host,
                "smtp_port": self.smtp_port,
                "admin_user": self.admin_user,
                "admin_password": self.admin_password,
                "webmail_url": self.webmail_url,
                "tailnet_url": self.tailnet_url,
            }
        )

    @staticmethod
    def _pod_spec(
        args: StalwartServerArgs,
        data: k8s.core.v1.PersistentVolumeClaim,
        secrets: k8s.core.v1.Secret,
        config: k8s.core.v1.ConfigMap,
    ) -> k8s.core.v1.PodSpecArgs:
        etc_dir = f"{sc.DATA_MOUNT}/etc"
        config_source = k8s.core.v1.VolumeMountArgs(
            name="config-source", mount_path=CONFIG_SOURCE_DIR, read_only=True
        )
        config_dir = k8s.core.v1.VolumeMountArgs(name="config", mount_path=etc_dir)
        drops_privileges = args.run_as_user != 0
        return k8s.core.v1.PodSpecArgs(
            automount_service_account_token=False,
            termination_grace_period_seconds=TERMINATION_GRACE_SECONDS,
            security_context=k8s.core.v1.PodSecurityContextArgs(
                seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                # The volumes' group becomes Stalwart's group after the privilege drop: the
                # claim (data written by root under the old manifests included), the config
                # copy and the secret files. OnRootMismatch walks the volume only once.
                fs_group=args.run_as_user if drops_privileges else None,
                fs_group_change_policy="OnRootMismatch" if drops_privileges else None,
            ),
            # Stalwart rewrites config.toml when a local key is edited in the webadmin, so it gets
            # a writable copy (group-writable for the dropped user), made fresh on every pod start
            # by the Stalwart image itself (no package download at boot, unlike the runbook's
            # alpine init container).
            init_containers=[
                k8s.core.v1.ContainerArgs(
                    name="install-config",
                    image=args.image,
                    command=[
                        "install",
                        "-m",
                        "0664",
                        f"{CONFIG_SOURCE_DIR}/{CONFIG_FILE}",
                        sc.CONFIG_PATH,
                    ],
                    volume_mounts=[config_source, config_dir],
                    security_context=_container_security([]),
                    resources=k8s.core.v1.ResourceRequirementsArgs(
                        requests={"cpu": "10m", "memory": "16Mi"}, limits={"memory": "64Mi"}
                    ),
                )
            ],
            containers=[
                k8s.core.v1.ContainerArgs(
                    name="stalwart",
                    image=args.image,
                    env=(
                        [
                            k8s.core.v1.EnvVarArgs(name="RUN_AS_USER", value=str(args.run_as_user)),
                            k8s.core.v1.EnvVarArgs(
                                name="RUN_AS_GROUP", value=str(args.run_as_user)
                            ),
                        ]
                        if drops_privileges
                        else None
                    ),
                    # Root only until the listeners are bound: binding 587/993 needs
                    # NET_BIND_SERVICE, switching to RUN_AS_USER needs SETUID and SETGID. With
                    # runAsUser 0 Stalwart stays root and keeps the runtime's default
                    # capabilities: data written by uid 2000 needs DAC_OVERRIDE/FOWNER to reach.
                    security_context=(
                        _container_security(["NET_BIND_SERVICE", "SETUID", "SETGID"])
                        if drops_privileges
                        else k8s.core.v1.SecurityContextArgs(allow_privilege_escalation=False)
                    ),
                    resources=RESOURCES,
                    ports=[
                        k8s.core.v1.ContainerPortArgs(name=port_name, container_port=port)
                        for port_name, port in _PORTS
                    ],
                    volume_mounts=[
                        k8s.core.v1.VolumeMountArgs(name="data", mount_path=sc.DATA_MOUNT),
                        config_dir,
                        k8s.core.v1.VolumeMountArgs(
                            name="secrets", mount_path=sc.SECRETS_MOUNT, read_only=True
                        ),
                    ],
                    # v0.15 serves both anonymously on every http listener
                    # (crates/http/src/request.rs); ready turns 200 once the data store is up.
                    startup_probe=_http_probe("/healthz/live", period=10, failures=30),
                    liveness_probe=_http_probe("/healthz/live", period=30, failures=3),
                    readiness_probe=_http_probe("/healthz/ready", period=10, failures=3),
                )
            ],
            volumes=[
                k8s.core.v1.VolumeArgs(
                    name="data",
                    persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
                        claim_name=data.metadata.apply(object_name)
                    ),
                ),
                k8s.core.v1.VolumeArgs(
                    name="config-source",
                    config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                        name=config.metadata.apply(object_name)
                    ),
                ),
                k8s.core.v1.VolumeArgs(
                    name="config", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs()
                ),
                k8s.core.v1.VolumeArgs(
                    name="secrets",
                    secret=k8s.core.v1.SecretVolumeSourceArgs(
                        secret_name=secrets.metadata.apply(object_name),
                        # Read after the privilege drop (file macros): group-readable via fsGroup.
                        default_mode=0o440,
                    ),
                ),
            ],
        )


_PORTS = (("http", sc.HTTP_PORT), ("submission", sc.SUBMISSION_PORT), ("imaps", sc.IMAPS_PORT))


def _container_security(capabilities: list[str]) -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"], add=capabilities or None),
    )


def _http_probe(path: str, period: int, failures: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="http"),
        period_seconds=period,
        failure_threshold=failures,
        timeout_seconds=5,
    )


def _published_url(status: k8s.networking.v1.outputs.IngressStatus | None) -> str | None:
    balancer = status.load_balancer if status else None
    entries = (balancer.ingress if balancer else None) or []
    hostname = entries[0].hostname if entries else None
    return f"https://{hostname}" if hostname else None
