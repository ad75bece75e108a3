"""What the Stalwart pod of either generation shares: the Deployment around it, its Secret and
ConfigMap of files, resources, probes, ports, a container's security context."""

from __future__ import annotations

from typing import TypedDict

import pulumi
import pulumi_kubernetes as k8s

from components.kube import object_name, standard_labels
from components.stalwart.endpoints import PORTS
from components.stalwart.runtime import RuntimeInputs

# Measured on a homelab this size (a handful of senders, spam filter on): ~200-350 MiB resident
# after the rules load. The request keeps the node's scheduler honest; the limit leaves room for
# RocksDB compactions and bursts without letting a leak take the node. No CPU limit: throttling
# only slows SMTP sessions, and the request gives Stalwart its share under contention.
RESOURCES = k8s.core.v1.ResourceRequirementsArgs(
    requests={"cpu": "100m", "memory": "256Mi"}, limits={"memory": "1Gi"}
)
# On SIGTERM Stalwart signals its listeners to stop and exits one second later
# (crates/main/src/main.rs, v0.15.5 and v0.16.18: a 1 s sleep); it does not drain SMTP
# sessions or deliveries in flight. Nothing is lost by that: an accepted message is in the
# RocksDB queue before 250 is answered, and a delivery cut short is retried from the queue on the
# next start. The grace period only bounds how long Kubernetes waits for that exit.
TERMINATION_GRACE_SECONDS = 60
# The provider waits 10 minutes for a Deployment by default. Stalwart's own worst case is longer:
# a clone of the data claim to bind (the upgrade's copy), the image pull, and the startup probe's
# 300 s (10 s x 30); so the wait is explicit, and below deploy.yml's job timeout. The probe's 300 s
# also cover the upgrade's first start, which migrates the v0.15 store before any listener opens:
# measured on the real v0.16.18 (a debug build) at 0.27 ms a message, 5.8 s for 20,600 messages
# (688 MB), so 300 s are reached only near a million messages.
DEPLOYMENT_TIMEOUTS = pulumi.CustomTimeouts(create="25m", update="25m")
# A node that stops answering is tainted `unreachable` (or `not-ready`) with NoExecute once it has
# missed heartbeats for node-monitor-grace-period (40 s before Kubernetes 1.32, 50 s since); a pod
# is then evicted after its toleration, 300 s by default (DefaultTolerationSeconds admission). The
# one mail pod waits 30 s instead, and Longhorn's node-down pod deletion policy then releases the
# volume (docs/how-to/survive-a-node-loss.md has the timeline).
NODE_LOSS_TOLERATION_SECONDS = 30


def node_loss_tolerations() -> list[k8s.core.v1.TolerationArgs]:
    return [
        k8s.core.v1.TolerationArgs(
            key=f"node.kubernetes.io/{condition}",
            operator="Exists",
            effect="NoExecute",
            toleration_seconds=NODE_LOSS_TOLERATION_SECONDS,
        )
        for condition in ("unreachable", "not-ready")
    ]


def container_ports() -> list[k8s.core.v1.ContainerPortArgs]:
    return [
        k8s.core.v1.ContainerPortArgs(name=port_name, container_port=port)
        for port_name, port in PORTS
    ]


def container_security(capabilities: list[str]) -> k8s.core.v1.SecurityContextArgs:
    """No privilege escalation, every capability dropped but `capabilities`."""
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"], add=capabilities or None),
    )


# The http listener trusts X-Forwarded-For (Traefik and the Tailscale operator forward the
# client's address), and logs `WARN http.x-forwarded-missing` for every request without one
# (crates/http/src/request.rs; seen on the real v0.15.5 and v0.16.18): the kubelet's probes
# alone would write one every few seconds. They name the node's own loopback, which is what the
# probe is in effect: the kubelet on the pod's node, never an address to ban.
PROBE_HEADERS = [k8s.core.v1.HTTPHeaderArgs(name="X-Forwarded-For", value="127.0.0.1")]


def http_probe(path: str, period: int, failures: int) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="http", http_headers=PROBE_HEADERS),
        period_seconds=period,
        failure_threshold=failures,
        timeout_seconds=5,
    )


class HealthProbes(TypedDict):
    startup_probe: k8s.core.v1.ProbeArgs
    liveness_probe: k8s.core.v1.ProbeArgs
    readiness_probe: k8s.core.v1.ProbeArgs


def health_probes() -> HealthProbes:
    """Startup, liveness and readiness, as keyword arguments of the container. Both generations
    serve `/healthz/live` and `/healthz/ready` anonymously on every http listener, recovery mode
    included (crates/http/src/request.rs); ready turns 200 once the data store is up."""
    return HealthProbes(
        startup_probe=http_probe("/healthz/live", period=10, failures=30),
        liveness_probe=http_probe("/healthz/live", period=30, failures=3),
        readiness_probe=http_probe("/healthz/ready", period=10, failures=3),
    )


def data_volume(claim_name: pulumi.Input[str]) -> k8s.core.v1.VolumeArgs:
    """The mail data claim, as the pod's `data` volume."""
    return k8s.core.v1.VolumeArgs(
        name="data",
        persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(
            claim_name=claim_name
        ),
    )


def stalwart_deployment(
    inputs: RuntimeInputs, spec: k8s.core.v1.PodSpecArgs, opts: pulumi.ResourceOptions
) -> k8s.apps.v1.Deployment:
    """The Deployment of either generation around its pod spec."""
    labels = standard_labels(inputs.server.instance, "mail-server")
    opts = pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(custom_timeouts=DEPLOYMENT_TIMEOUTS)
    )
    return k8s.apps.v1.Deployment(
        f"{inputs.prefix}-deployment",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=inputs.deployment_name, namespace=inputs.server.namespace, labels=labels
        ),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            replicas=inputs.claim.replicas,
            # RocksDB holds an exclusive lock: a second pod next to the old one never starts.
            strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=inputs.selector),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels={**labels, **inputs.selector}),
                spec=spec,
            ),
        ),
        opts=opts,
    )


NODES_SERVICE = "stalwart-nodes"
"""The StatefulSet's headless Service (its pods' stable DNS names)."""


def stalwart_statefulset(
    inputs: RuntimeInputs,
    spec: k8s.core.v1.PodSpecArgs,
    replicas: int,
    opts: pulumi.ResourceOptions,
) -> k8s.apps.v1.StatefulSet:
    """v0.16 on a shared store (`mailstack:storage: postgresql`): stable pod names, so stable
    node ids (each pod's `STALWART_HOSTNAME` is its name); more than one pod is spread over
    nodes and kept above all-but-one by a PodDisruptionBudget."""
    labels = standard_labels(inputs.server.instance, "mail-server")
    namespace = inputs.server.namespace
    nodes = k8s.core.v1.Service(
        f"{inputs.prefix}-nodes",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=NODES_SERVICE, namespace=namespace, labels=labels),
        spec=k8s.core.v1.ServiceSpecArgs(
            cluster_ip="None",
            selector=inputs.selector,
            ports=[k8s.core.v1.ServicePortArgs(name=n, port=p) for n, p in PORTS],
        ),
        opts=opts,
    )
    if replicas > 1:
        k8s.policy.v1.PodDisruptionBudget(
            f"{inputs.prefix}-disruption-budget",
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=namespace, labels=labels),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=inputs.selector),
            ),
            opts=opts,
        )
        spec = _spread(spec, inputs.selector)
    return k8s.apps.v1.StatefulSet(
        f"{inputs.prefix}-statefulset",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=inputs.deployment_name, namespace=namespace, labels=labels
        ),
        spec=k8s.apps.v1.StatefulSetSpecArgs(
            replicas=replicas,
            service_name=nodes.metadata.apply(object_name),
            # The pods share nothing but the database: start and replace them together.
            pod_management_policy="Parallel",
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=inputs.selector),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels={**labels, **inputs.selector}),
                spec=spec,
            ),
        ),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(custom_timeouts=DEPLOYMENT_TIMEOUTS)
        ),
    )


def _spread(spec: k8s.core.v1.PodSpecArgs, selector: dict[str, str]) -> k8s.core.v1.PodSpecArgs:
    """The pod spec with a preferred anti-affinity: one Stalwart pod per node where possible."""
    spec.affinity = k8s.core.v1.AffinityArgs(
        pod_anti_affinity=k8s.core.v1.PodAntiAffinityArgs(
            preferred_during_scheduling_ignored_during_execution=[
                k8s.core.v1.WeightedPodAffinityTermArgs(
                    weight=100,
                    pod_affinity_term=k8s.core.v1.PodAffinityTermArgs(
                        topology_key="kubernetes.io/hostname",
                        label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                    ),
                )
            ]
        )
    )
    return spec


def pod_files(
    inputs: RuntimeInputs,
    secret_data: dict[str, pulumi.Input[str]],
    config_data: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
    """The pod's secret files (a Secret) and its configuration (a ConfigMap); returns their names.

    Auto-named: a new value gives a new name, which changes the pod template and rolls the pod
    (create-before-delete, so the old pod keeps its files until it is gone)."""
    secrets = k8s.core.v1.Secret(
        f"{inputs.prefix}-secrets",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            namespace=inputs.server.namespace,
            labels=standard_labels(inputs.server.instance, "secrets"),
        ),
        type="Opaque",
        string_data=secret_data,
        opts=opts,
    )
    config = k8s.core.v1.ConfigMap(
        f"{inputs.prefix}-config",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            namespace=inputs.server.namespace,
            labels=standard_labels(inputs.server.instance, "config"),
        ),
        data=config_data,
        opts=opts,
    )
    return secrets.metadata.apply(object_name), config.metadata.apply(object_name)
