"""Who may talk to Stalwart, and to whom Stalwart may talk (k3s enforces NetworkPolicies)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_kubernetes as k8s

from components.stalwart.endpoints import HTTP_PORT, IMAPS_PORT, METRICS_PORT, SUBMISSION_PORT

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by Kubernetes on every namespace
# IPv4 only: k3s is single-stack by default, and kube-router has aborted its whole policy sync
# on an IPv6 block in an IPv4 cluster (cloudnativelabs/kube-router#1245).
ANYWHERE = ("0.0.0.0/0",)
HTTPS_PORT = 443


@dataclass(frozen=True)
class NetworkRules:
    smtp_client_namespaces: tuple[str, ...]
    """Namespaces allowed to submit (587) and read mail (993); empty means every namespace."""
    ingress_namespaces: tuple[str, ...]
    """Namespaces of the ingress controllers that reach the webmail (8080)."""
    job_labels: tuple[dict[str, str], ...]
    """Labels of other components' Jobs' pods that call the management API on 8080 (the
    accounts Job); the server adds its own Jobs."""
    relay_port: int
    """The relay's port: the only SMTP port Stalwart may connect to."""
    monitoring_namespace: str
    """The namespace of the Prometheus that scrapes the metrics listener (9090)."""
    canary_labels: tuple[dict[str, str], ...] = ()
    """Labels of the outbound canary's pods: they submit on 587, read the queue on 8080 and
    the counters on 9090."""


def _namespaces(names: tuple[str, ...]) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    selector = (
        k8s.meta.v1.LabelSelectorArgs(
            match_expressions=[
                k8s.meta.v1.LabelSelectorRequirementArgs(
                    key=NAMESPACE_NAME_LABEL, operator="In", values=list(names)
                )
            ]
        )
        if names
        else k8s.meta.v1.LabelSelectorArgs()
    )
    return k8s.networking.v1.NetworkPolicyPeerArgs(namespace_selector=selector)


def _pods(selectors: tuple[dict[str, str], ...]) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
    """Pods of Stalwart's own namespace, by their labels."""
    return [
        k8s.networking.v1.NetworkPolicyPeerArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels)
        )
        for labels in selectors
    ]


def _tcp(*ports: int) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port) for port in ports]


def _internet() -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
    return [
        k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr))
        for cidr in ANYWHERE
    ]


def network_policy_spec(
    pod_labels: dict[str, str],
    rules: NetworkRules,
    own_jobs: tuple[dict[str, str], ...],
    stores: tuple[tuple[dict[str, str], int], ...] = (),
) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """`own_jobs`: labels of the server's own Jobs' pods (v0.16's apply Job), which call the
    management API and check that 587, 993 and 9090 accept. `stores`: (pod labels, port) of
    what Stalwart itself connects to in its namespace (PostgreSQL, NATS)."""
    return k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=pod_labels),
        policy_types=["Ingress", "Egress"],
        ingress=[
            # Submission and IMAPS are cluster-internal (ClusterIP only): the services that send
            # mail, and IMAP clients that reach in through a port-forward.
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[
                    _namespaces(rules.smtp_client_namespaces),
                    *_pods(own_jobs),
                    *_pods(rules.canary_labels),
                ],
                ports=_tcp(SUBMISSION_PORT, IMAPS_PORT),
            ),
            # Webmail and the admin API only through Traefik (public, behind Authentik) and the
            # Tailscale operator's proxies (private), plus the Jobs in this namespace and the
            # canary (JMAP, its own mailbox).
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[
                    _namespaces(rules.ingress_namespaces),
                    *_pods(rules.job_labels),
                    *_pods(own_jobs),
                    *_pods(rules.canary_labels),
                ],
                ports=_tcp(HTTP_PORT),
            ),
            # Prometheus' own listener: the monitoring namespace only (and the checks in this
            # one). Stalwart answers /metrics nowhere else.
            k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                from_=[
                    _namespaces((rules.monitoring_namespace,)),
                    *_pods(own_jobs),
                ],
                ports=_tcp(METRICS_PORT),
            ),
        ],
        egress=[
            # Name resolution: the relay's and the update servers' addresses.
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=[
                    k8s.networking.v1.NetworkPolicyPeerArgs(
                        namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                            match_labels={NAMESPACE_NAME_LABEL: "kube-system"}
                        ),
                        pod_selector=k8s.meta.v1.LabelSelectorArgs(
                            match_labels={"k8s-app": "kube-dns"}
                        ),
                    )
                ],
                ports=[
                    k8s.networking.v1.NetworkPolicyPortArgs(protocol="UDP", port=53),
                    k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=53),
                ],
            ),
            # All outbound mail goes to the relay (465); nothing else leaves on an SMTP port, so
            # a broken routing strategy fails loudly instead of trying direct MX delivery.
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                to=_internet(), ports=_tcp(rules.relay_port)
            ),
            # First boot fetches the spam-filter rules and the webadmin bundle over HTTPS
            # (boot.rs), and later boots check them for updates.
            k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=_internet(), ports=_tcp(HTTPS_PORT)),
            *(
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=_pods((labels,)), ports=_tcp(port))
                for labels, port in stores
            ),
        ],
    )
