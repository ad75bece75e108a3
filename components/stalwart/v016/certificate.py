"""The cert-manager certificate Stalwart v0.16 serves on 993 (`mailstack:tls`).

cert-manager keeps the key pair in a Secret (`tls.crt`, `tls.key`); the pod mounts it whole (not
by subPath, so that a renewal reaches the running pod), and the plan's one Certificate object
reads the files (components/stalwart/v016/plan.py `certificate_plan`). The Deployment waits for
the Certificate to be Ready (pulumi-kubernetes' `pulumi.com/waitFor`, provider pkg/metadata
overrides.go), so the first pod starts with the files in place and an issuer that cannot issue
fails the update instead of serving the self-signed certificate unnoticed.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.kube import standard_labels
from settings.model import TlsSettings

API_VERSION = "cert-manager.io/v1"
# Issuance through an ACME DNS-01 or HTTP-01 challenge takes minutes; ten is the provider's own
# default for a create, said here so that it is a decision.
READY_TIMEOUT = "10m"


def secret_name(prefix: str) -> str:
    """The Secret cert-manager writes: named as the stack's own (settings.across.stack_owned)."""
    return f"{prefix}-mail-tls"


def mail_certificate(
    prefix: str,
    instance: str,
    namespace: pulumi.Input[str],
    tls: TlsSettings,
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    name = secret_name(prefix)
    return k8s.apiextensions.CustomResource(
        f"{prefix}-certificate",
        api_version=API_VERSION,
        kind="Certificate",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name,
            namespace=namespace,
            labels=standard_labels(instance, "mail-server"),
            annotations={"pulumi.com/waitFor": "condition=Ready"},
        ),
        spec={
            "secretName": name,
            # X.509 bounds a common name to 64 characters (cert-manager refuses a longer one);
            # clients match the dnsNames, so a long first name simply goes without one.
            **({"commonName": tls.dns_names[0]} if len(tls.dns_names[0]) <= 64 else {}),
            "dnsNames": list(tls.dns_names),
            "issuerRef": {"name": tls.issuer, "kind": tls.issuer_kind, "group": "cert-manager.io"},
            # A new key with every renewal: the old one is never served again.
            "privateKey": {"rotationPolicy": "Always"},
        },
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create=READY_TIMEOUT)),
        ),
    )
