"""The webmail's two ways in: a Tailscale ingress (private) and a Traefik ingress (public, behind
cert-manager and Authentik's forward-auth), both to the HTTP listener."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kube import SKIP_AWAIT, standard_labels
from components.stalwart.endpoints import (
    HTTP_PORT,
    PUBLIC_INGRESS_NAME,
    TAILSCALE_INGRESS_NAME,
    TLS_SECRET_NAME,
)

CLUSTER_ISSUER = "letsencrypt-production"
# Traefik sees plain HTTP from cloudflared, so the first middleware restores the https scheme;
# the second sends every request through Authentik's forward-auth outpost.
PUBLIC_MIDDLEWARES = (
    "kube-system-cloudflare-https-scheme@kubernetescrd,"
    "authentik-authentik-forward-auth@kubernetescrd"
)


def webmail_ingresses(
    name: str,
    namespace: pulumi.Input[str],
    service_name: pulumi.Input[str],
    webmail_fqdn: str,
    tailnet_hostname: str,
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.Ingress:
    """Registers both ingresses; returns the Tailscale one (its status names the tailnet host)."""
    root_path = k8s.networking.v1.HTTPIngressPathArgs(
        path="/",
        path_type="Prefix",
        backend=k8s.networking.v1.IngressBackendArgs(
            service=k8s.networking.v1.IngressServiceBackendArgs(
                name=service_name,
                port=k8s.networking.v1.ServiceBackendPortArgs(number=HTTP_PORT),
            )
        ),
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
            tls=[k8s.networking.v1.IngressTLSArgs(hosts=[tailnet_hostname])],
        ),
        opts=opts,
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
                    host=webmail_fqdn,
                    http=k8s.networking.v1.HTTPIngressRuleValueArgs(paths=[root_path]),
                )
            ],
            tls=[
                k8s.networking.v1.IngressTLSArgs(hosts=[webmail_fqdn], secret_name=TLS_SECRET_NAME)
            ],
        ),
        opts=opts,
    )
    return tailscale


def published_url(status: k8s.networking.v1.outputs.IngressStatus | None) -> str | None:
    """`https://<host>` once the controller has published the ingress, else None."""
    balancer = status.load_balancer if status else None
    entries = (balancer.ingress if balancer else None) or []
    hostname = entries[0].hostname if entries else None
    return f"https://{hostname}" if hostname else None
