"""The coordinator of more than one Stalwart v0.16 pod (`mailstack:replicas` > 1): a NATS
cluster in the stack's namespace, and the plan's `x:Coordinator` that points Stalwart at it.

Stalwart's nodes share cache invalidations, push notifications and registry changes over the
coordinator (crates/services/src/broadcast: NATS subject `stwt.agora`; a node drops every batch
tagged with its own node id, so each pod needs its own node id: the StatefulSet's pod names,
components/stalwart/v016/pod.py). Core NATS is enough: Stalwart publishes and subscribes, it
keeps no stream, so no JetStream and no volume. Three servers, routed to each other, so that
one node's loss leaves a quorum of nothing to lose: any server serves every subscriber.

The upstream Helm chart is not used: its repository (nats-io.github.io) is not reachable from
`make e2e`'s machine, and the chart's defaults (JetStream, a config reloader sidecar) are what
this cluster does not need; five objects say the same.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kube import object_name, standard_labels

NAME = "stalwart-nats"
ROUTES_SERVICE = "stalwart-nats-routes"
CLIENT_PORT = 4222
ROUTE_PORT = 6222
MONITOR_PORT = 8222
SERVERS = 3
NATS_UID = 1000


def pod_labels(instance: str) -> dict[str, str]:
    return {**standard_labels(instance, "coordinator"), "app.kubernetes.io/name": "nats"}


def address() -> str:
    """What Stalwart connects to: the client Service, `host:port` as x:NatsCoordinator's
    `addresses` takes it (its default, `127.0.0.1:4444`, has no scheme)."""
    return f"{NAME}:{CLIENT_PORT}"


def plan_fragment(clustered: bool) -> list[dict[str, Any]]:
    """The plan's Coordinator singleton on PostgreSQL: the stack's NATS for more than one pod,
    else `Disabled`, declared so that a scale-down to one pod does not leave Stalwart pointing at
    the NATS the stack removed. Stalwart reads it only at start: the apply Job restarts the pods
    when it changes (incluster/jmap_jobs.py `RESTART_AFTER`)."""
    if not clustered:
        return [{"@type": "update", "object": "Coordinator", "value": {"@type": "Disabled"}}]
    return [
        {
            "@type": "update",
            "object": "Coordinator",
            "value": {
                "@type": "Nats",
                "addresses": {address(): True},
                # Reachable from Stalwart's pods only (the NetworkPolicy below).
                "authSecret": {"@type": "None"},
            },
        }
    ]


def _config(namespace: str) -> str:
    routes = "\n".join(
        f"    nats-route://{NAME}-{i}.{ROUTES_SERVICE}.{namespace}.svc.cluster.local:{ROUTE_PORT}"
        for i in range(SERVERS)
    )
    return (
        f"port: {CLIENT_PORT}\n"
        f"http_port: {MONITOR_PORT}\n"
        "cluster {\n"
        "  name: stalwart\n"
        f"  port: {ROUTE_PORT}\n"
        "  routes: [\n"
        f"{routes}\n"
        "  ]\n"
        "}\n"
    )


def nats_cluster(
    instance: str,
    namespace: str,
    stalwart_pods: dict[str, str],
    image: str,
    opts: pulumi.ResourceOptions,
) -> pulumi.Resource:
    """The NATS servers, their Services, disruption budget and NetworkPolicy; returns the
    StatefulSet (what Stalwart's pods wait for)."""
    labels = pod_labels(instance)
    meta = k8s.meta.v1.ObjectMetaArgs(namespace=namespace, labels=labels)
    config = k8s.core.v1.ConfigMap(
        f"{instance}-nats-config",
        metadata=meta,
        data={"nats.conf": _config(namespace)},
        opts=opts,
    )
    k8s.core.v1.Service(
        f"{instance}-nats",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, namespace=namespace, labels=labels),
        spec=k8s.core.v1.ServiceSpecArgs(
            selector=labels,
            ports=[k8s.core.v1.ServicePortArgs(name="client", port=CLIENT_PORT)],
        ),
        opts=opts,
    )
    routes = k8s.core.v1.Service(
        f"{instance}-nats-routes",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=ROUTES_SERVICE, namespace=namespace, labels=labels
        ),
        spec=k8s.core.v1.ServiceSpecArgs(
            cluster_ip="None",
            # The routes must resolve before the servers are ready: each waits for the others.
            publish_not_ready_addresses=True,
            selector=labels,
            ports=[k8s.core.v1.ServicePortArgs(name="route", port=ROUTE_PORT)],
        ),
        opts=opts,
    )
    servers = k8s.apps.v1.StatefulSet(
        f"{instance}-nats",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, namespace=namespace, labels=labels),
        spec=k8s.apps.v1.StatefulSetSpecArgs(
            replicas=SERVERS,
            service_name=routes.metadata.apply(object_name),
            pod_management_policy="Parallel",
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                spec=k8s.core.v1.PodSpecArgs(
                    automount_service_account_token=False,
                    security_context=k8s.core.v1.PodSecurityContextArgs(
                        run_as_non_root=True,
                        run_as_user=NATS_UID,
                        run_as_group=NATS_UID,
                        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                    ),
                    affinity=_spread(labels),
                    containers=[
                        k8s.core.v1.ContainerArgs(
                            name="nats",
                            image=image,
                            args=["--config", "/etc/nats/nats.conf"],
                            ports=[
                                k8s.core.v1.ContainerPortArgs(name=n, container_port=p)
                                for n, p in (
                                    ("client", CLIENT_PORT),
                                    ("route", ROUTE_PORT),
                                    ("monitor", MONITOR_PORT),
                                )
                            ],
                            readiness_probe=k8s.core.v1.ProbeArgs(
                                http_get=k8s.core.v1.HTTPGetActionArgs(
                                    path="/healthz", port="monitor"
                                ),
                                period_seconds=10,
                            ),
                            resources=k8s.core.v1.ResourceRequirementsArgs(
                                requests={"cpu": "10m", "memory": "32Mi"},
                                limits={"memory": "128Mi"},
                            ),
                            security_context=k8s.core.v1.SecurityContextArgs(
                                allow_privilege_escalation=False,
                                read_only_root_filesystem=True,
                                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                            ),
                            volume_mounts=[
                                k8s.core.v1.VolumeMountArgs(
                                    name="config", mount_path="/etc/nats", read_only=True
                                )
                            ],
                        )
                    ],
                    volumes=[
                        k8s.core.v1.VolumeArgs(
                            name="config",
                            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                name=config.metadata.apply(object_name)
                            ),
                        )
                    ],
                ),
            ),
        ),
        opts=opts,
    )
    k8s.policy.v1.PodDisruptionBudget(
        f"{instance}-nats",
        metadata=meta,
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels)
        ),
        opts=opts,
    )
    k8s.networking.v1.NetworkPolicy(
        f"{instance}-nats",
        metadata=meta,
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
            policy_types=["Ingress"],
            ingress=[
                # Stalwart's pods publish and subscribe; nothing else speaks to NATS.
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=stalwart_pods)
                        )
                    ],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=CLIENT_PORT)],
                ),
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                    from_=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels)
                        )
                    ],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=ROUTE_PORT)],
                ),
            ],
        ),
        opts=opts,
    )
    return servers


def _spread(labels: dict[str, str]) -> k8s.core.v1.AffinityArgs:
    """One pod per node where the cluster has the nodes (preferred, so a small cluster still
    runs them all)."""
    return k8s.core.v1.AffinityArgs(
        pod_anti_affinity=k8s.core.v1.PodAntiAffinityArgs(
            preferred_during_scheduling_ignored_during_execution=[
                k8s.core.v1.WeightedPodAffinityTermArgs(
                    weight=100,
                    pod_affinity_term=k8s.core.v1.PodAffinityTermArgs(
                        topology_key="kubernetes.io/hostname",
                        label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
                    ),
                )
            ]
        )
    )
