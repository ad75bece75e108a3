"""THE key table: every `mailstack:` setting with its default, whether it is required or secret,
an example for the fix of a missing value, and the rule that checks and parses it.

Defaults live here and nowhere else (`make docs` generates docs/reference/settings.md from this
table). A default goes through its rule like a given value, so the program only ever sees parsed
values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from settings.problems import NAMESPACE, Check
from settings.rules import (
    accounts,
    adopt,
    authentik,
    cloudflare,
    cluster,
    monitoring,
    stalwart,
    storage,
    upgrade,
)

Rule = Callable[[Any, Check], Any]
"""Adds problem lines to the Check, or returns the parsed value (None: the raw value is it)."""


@dataclass(frozen=True)
class Key:
    rule: Rule
    default: Any = None
    """As the stack file would write it; None with `required` False: unset is a valid value."""
    required: bool = False
    secret: bool = False
    structured: bool = False
    """Holds a YAML object or list (JSON on the wire); plain keys are strings."""
    example: str = ""
    """The value shown in the fix of a missing required key."""
    placeholder: str | None = None
    """A well-formed stand-in used by the offline render for a secret it cannot decrypt."""
    generated: bool = False
    """Unset, the program generates the value (once, kept in state)."""
    item_defaults: Mapping[str, Any] = field(default_factory=dict)
    """For a list of objects: the default of each optional field of an item (nested fields as
    `parent.field`)."""
    doc: str = ""
    """What the key does, for the settings reference (`make docs` writes
    docs/reference/settings.md from this table; the default and secrecy come from the fields
    above, so the text never restates them). Markdown; links are relative to docs/reference/."""


# Defaults Renovate keeps current (renovate.json, "image defaults"): whole references, one line
# each. The reconciler's by digest: a tag of the official python image is rebuilt in place when
# Debian moves, the digest is the one image every Job pulls. (Stalwart's image is a setting the
# owner pins with the upgrade stages; its tags are not rebuilt.)
STALWART_IMAGE = "stalwartlabs/stalwart:v0.16.18"
# The coordinator of more than one Stalwart pod (mailstack:replicas), core NATS without JetStream.
NATS_IMAGE = "nats:2.10.22-alpine"
# psql for the storage move's Job (mailstack:storageMove): it clears the target database and
# loads the registry keys Stalwart's import cannot take.
PSQL_IMAGE = "postgres:18.1-alpine"
RECONCILER_IMAGE = "python:3.12.8-slim-bookworm@sha256:2199a62885a12290dc9c5be3ca0681d367576ab7bf037da120e564723292a2f0"  # noqa: E501

KEYS: dict[str, Key] = {
    "domain": Key(
        cloudflare.domain,
        doc=(
            "Mail domain, which is also the Cloudflare zone, e.g. `example.com`. Lowercase "
            "domain name."
        ),
        required=True,
        example="example.com",
    ),
    "adminPassword": Key(
        stalwart.admin_password,
        doc=(
            "The admin password: on v0.16, of the stack's administrator account "
            "`mailstack-admin@<domain>` (and of the recovery admin `admin` until that account "
            "exists, [Security](../explanation/security.md#the-administrator)); on v0.15, of the "
            "fallback admin `admin`. When unset, a 32-character pulumi-random password is "
            "generated once and kept in state. At least 12 characters. Exported as the secret "
            "output `adminPassword`."
        ),
        secret=True,
        generated=True,
        placeholder="render-placeholder-admin-pw",
    ),
    "resendApiKey": Key(
        stalwart.resend_api_key,
        doc=(
            "Resend API key (`re_…`) for the outbound relay (`relay`, by default "
            "`smtp.resend.com:465`)."
        ),
        required=True,
        secret=True,
        example="re_...",
        placeholder="re_renderPlaceholderKey",
    ),
    "webmailHostname": Key(
        cluster.label("public webmail host"),
        doc=(
            "First label of the public webmail host `<label>.<domain>` (Traefik ingress; the "
            "tunnel route). One lowercase DNS label, no dot."
        ),
        default="mail",
    ),
    "tailnetHostname": Key(
        cluster.label("Tailscale host"),
        doc=(
            "First label of the Tailscale ingress host `<label>.<tailnet>.ts.net`. One lowercase "
            "DNS label."
        ),
        default="mail",
    ),
    "namespace": Key(
        cluster.label("namespace", host=False),
        doc="Namespace for Stalwart. Consumers use `stalwart.<namespace>.svc.cluster.local`.",
        default="stalwart",
    ),
    "image": Key(
        stalwart.image,
        doc=(
            "Stalwart image: `[registry[:port]/]repository:vX.Y.Z` with an optional "
            "`@sha256:<digest>`, for a v0.15.x or v0.16.x release (the tag says which model the "
            "program renders, see [Stalwart v0.15 and "
            "v0.16](../explanation/stalwart-versions.md)). `latest`, tag-less, digest-only, "
            "minor-only (`v0.16`) and other versions are refused, and so is an image whose "
            "generation cannot run on what the data claim holds (v0.16 on v0.15 data needs "
            "`mailstack:upgrade`)."
        ),
        default=STALWART_IMAGE,
    ),
    "storageClass": Key(
        cluster.kubernetes_name, doc="Storage class of the data volume.", default="longhorn"
    ),
    "storageSize": Key(
        cluster.storage_size,
        doc="Size of the data volume, a Kubernetes quantity of at least `1Gi`.",
        default="10Gi",
    ),
    "cloudflareAccountId": Key(
        cloudflare.hex32("account ID"),
        doc=(
            "Cloudflare account ID (32 lowercase hex): the tunnel and the Email Routing "
            "destination live there."
        ),
        required=True,
        example="<32-hex account id>",
    ),
    "cloudflareZoneId": Key(
        cloudflare.hex32("zone ID"),
        doc="Zone ID of `domain` (32 lowercase hex).",
        required=True,
        example="<32-hex zone id>",
    ),
    "tunnelId": Key(
        cloudflare.tunnel_id,
        doc="UUID of the existing `homelab` tunnel (`cloudflared tunnel list`).",
        required=True,
        example="<tunnel uuid>",
    ),
    "tunnelOrigin": Key(
        cloudflare.tunnel_origin,
        doc="Where cloudflared sends `mail.<domain>`.",
        default="http://traefik.kube-system.svc.cluster.local:80",
    ),
    "tunnelRoutes": Key(
        cloudflare.tunnel_routes,
        doc=(
            "The tunnel's **other** routes, in order: a list of `{hostname, service}` with "
            "optional `path` and `originRequest` (cloudflared origin settings by the provider's "
            "names, e.g. `noTlsVerify`). The tunnel configuration is one object, so a route "
            "missing here is removed from the tunnel. Hostnames must be inside the zone, unique, "
            "not the webmail host, not a catch-all (the program adds the final "
            "`http_status:404`), and no wildcard may swallow the webmail host."
        ),
        default=[],
        structured=True,
    ),
    "adminEmail": Key(
        cloudflare.admin_email,
        doc=(
            "Email Routing destination of the catch-all (e.g. the owner's Gmail). Must be "
            "outside `domain`: a catch-all forwarding into its own domain would loop."
        ),
        required=True,
        example="you@gmail.com",
    ),
    "resendDkimRecord": Key(
        cloudflare.dkim_record,
        doc="The `p=…` TXT value of `resend._domainkey` from Resend's Domains page.",
        required=True,
        example="'p=MIGfMA0...'",
    ),
    "resendRegion": Key(
        cloudflare.resend_region,
        doc="Resend's sending region: the bounce MX is `feedback-smtp.<region>.amazonses.com`.",
        default="us-east-1",
    ),
    "dmarc": Key(
        cloudflare.dmarc,
        doc=(
            "The DMARC TXT value, or the object `{policy: none|quarantine|reject, rua: "
            "reports@…}` rendered to `v=DMARC1; p=<policy>; rua=mailto:<rua>;`."
        ),
        default="v=DMARC1; p=none;",
        structured=True,
    ),
    "serviceAccounts": Key(
        accounts.service_accounts,
        doc=(
            "Stalwart accounts for in-cluster senders: a list of `{name, email, description, "
            "credentials: {namespace, secretName, key, create, restart}, passwordVersion}`. "
            "`email` must be in the domain (empty: `<name>@<domain>`); `create: false` patches "
            "that one key into an existing Secret, `true` makes the stack own a dedicated Secret "
            "of that name; `restart: [{kind: Deployment|StatefulSet, name}]` (in the Secret's "
            "namespace) names the workloads that read the password at start, which the stack "
            "rolls when it changes; bump `passwordVersion` to rotate the generated password. "
            "Passwords are generated, never set. See [Connect a "
            "service](../how-to/connect-a-service.md)."
        ),
        default=[],
        structured=True,
        item_defaults={
            "email": "",
            "description": "",
            "passwordVersion": 1,
            "credentials.key": "smtp-password",
            "credentials.create": False,
            "credentials.restart": [],
        },
    ),
    "reconcilerImage": Key(
        cluster.python_image,
        doc=(
            "Image of the in-cluster Jobs' scripts (accounts; v0.16's plan, listener check and "
            "stop gate; the canary): a pinned tag of the official `python` image (any registry "
            "or mirror path ending in `/python`), Python 3.11 or newer, optionally with "
            "`@sha256:<digest>` (the scripts use the standard library only)."
        ),
        default=RECONCILER_IMAGE,
    ),
    "relay": Key(
        stalwart.relay,
        doc=(
            "The outbound relay (every non-local message; port 25 is blocked). Any field may be "
            "given alone; port 25 is refused; a STARTTLS relay on 587 needs `implicitTls: "
            "false`. The password is `resendApiKey`."
        ),
        default={"host": "smtp.resend.com", "port": 465, "username": "resend", "implicitTls": True},
        structured=True,
    ),
    "dataClaimName": Key(
        cluster.kubernetes_name,
        doc=(
            "Name of the data PVC. An adopted claim keeps its old name ([Adopt the old "
            "system](../how-to/adopt-the-old-system.md)); it cannot change after the first "
            "`pulumi up` (the claim is protected, so a rename is refused rather than replacing "
            "the volume)."
        ),
        default="stalwart-data",
    ),
    "adopt": Key(
        adopt.adopt,
        doc=(
            "For the first `pulumi up` of a homelab that runs the old system only: `{kubernetes: "
            "true, cloudflare: {<resource>: <import id>, …}}` imports the namespace, the data "
            "claim and the listed Cloudflare resources instead of creating them (`make "
            "import-plan` writes the `cloudflare` part from the OpenTofu state). Import ids are "
            "checked against `cloudflareZoneId`/`cloudflareAccountId`. `authentik: {provider: "
            "<number>, application: <slug>}` takes over the webmail's provider and application "
            "clicked together in Authentik (see [Authentik](../how-to/authentik.md)). Remove it "
            "after that update."
        ),
        default={"kubernetes": False, "cloudflare": {}},
        structured=True,
    ),
    "runAsUser": Key(
        stalwart.run_as_user,
        doc=(
            "Uid and gid Stalwart switches to right after binding its ports "
            "(`RUN_AS_USER`/`RUN_AS_GROUP`; the pod's `fsGroup` makes the volume, the config "
            "copy and the secret files its group's). `0` keeps Stalwart running as root, as the "
            "old manifests did. On v0.16 the pod itself runs as this uid and gid (`runAsUser`, "
            "`runAsGroup`, `fsGroup`; the image's own is 2000), and `0` is refused: the v0.16 "
            "pod runs as non-root."
        ),
        default="2000",
    ),
    "imageMirrors": Key(
        cluster.image_mirrors,
        doc=(
            "Registries (host[:port], optionally with a path) that hold copies of the official "
            "images under their upstream paths, e.g. `[registry.lan:5000]` for "
            "`registry.lan:5000/stalwartlabs/stalwart` and `registry.lan:5000/library/python`. "
            "`image` and `reconcilerImage` receive the stack's credentials, so they must be the "
            "official repositories (Docker Hub or ghcr.io for Stalwart, Docker Hub's `python`) "
            "or those paths under a mirror named here."
        ),
        default=[],
        structured=True,
    ),
    "smtpClientNamespaces": Key(
        cluster.namespace_list(allow_empty=True),
        doc=(
            "Namespaces the NetworkPolicy lets reach 587 and 993; empty means every namespace of "
            "the cluster."
        ),
        default=[],
        structured=True,
    ),
    "ingressNamespaces": Key(
        cluster.namespace_list(allow_empty=False),
        doc=(
            "Namespaces of the ingress controllers (Traefik, the Tailscale operator's proxies) "
            "that may reach the webmail on 8080. Stalwart trusts the client address they forward "
            "(see [Client addresses](../explanation/security.md#client-addresses)), so list only "
            "ingress controllers' namespaces; it cannot be empty."
        ),
        default=["kube-system", "tailscale"],
        structured=True,
    ),
    "backup": Key(
        cluster.backup,
        doc=(
            "Longhorn recurring jobs for the mail volume: a daily snapshot kept a week, and, "
            "once the cluster has a Longhorn backup target, a weekly backup kept two months "
            "(`backupEnabled: true`). `groups`: the Longhorn recurring-job groups the volume "
            "stays in besides the stack's own (a PVC label for a group takes the volume out of "
            "Longhorn's implicit `default` group, so a homelab whose off-cluster backups run as "
            "a `default`-group job keeps them only through this list; `[]` leaves the stack's "
            "jobs alone in charge)."
        ),
        default={
            # Longhorn's PVC labels take a volume out of the `default` group (which off-cluster
            # backup jobs commonly use); the volume stays in these besides its own.
            "groups": ["default"],
            "longhornNamespace": "longhorn-system",
            "snapshotCron": "0 3 * * *",
            "snapshotRetain": 7,
            "backupEnabled": False,
            "backupCron": "30 3 * * 0",
            "backupRetain": 8,
        },
        structured=True,
    ),
    # The staged upgrade from v0.15 (docs/how-to/upgrade-to-v016.md): unset outside it.
    "upgrade": Key(
        upgrade.upgrade,
        doc=(
            "The staged upgrade of a v0.15 claim to v0.16 ([Upgrade to "
            "v0.16](../how-to/upgrade-to-v016.md)): `{phase: stop}` scales v0.15 to zero; "
            "`{phase: recover}` with a v0.16 image copies the claim (CSI clone) once no v0.15 "
            "pod is left, starts v0.16 on the copy in recovery mode, applies the export, then "
            "the plan. Optional `claimName` (default `<dataClaimName>-v016`). Remove it "
            "afterwards: v0.16 then runs normally on the copy; the v0.15 claim is never written."
        ),
        structured=True,
    ),
    "upgradeExport": Key(
        upgrade.export,
        doc=(
            "The converted v0.15 export (`migrate_v016.py convert`'s NDJSON), needed by phase "
            "`recover`; `make upgrade-export` stores it."
        ),
        secret=True,
        placeholder='{"@type":"create","object":"Domain","value":{"create-0":{"name":"example.com"}}}',
    ),
    # kube-prometheus-stack objects and the outbound canary (docs/how-to/monitoring.md); the
    # Prometheus endpoint itself is always on, behind Basic auth.
    "monitoring": Key(
        monitoring.monitoring,
        doc=(
            "See [Monitoring](../how-to/monitoring.md). `enabled: true` makes the "
            "ServiceMonitor, PrometheusRule, Grafana dashboard and outbound canary (the "
            "Prometheus Operator's CRDs must exist); `namespace` is Prometheus' (the only one "
            "the metrics listener admits), `release` the label your Prometheus selects, "
            "`runbookUrl` the https address of this repository's `docs/reference/alerts.md` that "
            "each alert links. The metrics endpoint itself is always on, behind Basic auth."
        ),
        default={
            "enabled": False,
            "namespace": "monitoring",
            "release": "kube-prometheus-stack",
            "canarySchedule": "17 * * * *",
            "canaryRecipient": "delivered@resend.dev",
            "runbookUrl": "docs/reference/alerts.md",
        },
        structured=True,
    ),
    # The webmail's forward-auth objects in Authentik (docs/how-to/authentik.md): unset, none.
    "authentik": Key(
        authentik.authentik,
        doc=(
            "The webmail's forward-auth objects in Authentik (see "
            "[Authentik](../how-to/authentik.md)): `{url: https://auth.example.com}`, plus "
            "optional `outpost`, `authorizationFlow`, `invalidationFlow`, `groups` (`[]`: "
            "everyone Authentik lets in), `slug` and `name`. Needs the API token: "
            "`authentik:token` (secret) or `AUTHENTIK_TOKEN`. Unset, the stack leaves Authentik "
            "alone."
        ),
        structured=True,
        item_defaults={
            "outpost": "authentik Embedded Outpost",
            "authorizationFlow": "default-provider-authorization-implicit-consent",
            "invalidationFlow": "default-provider-invalidation-flow",
            "groups": [],
            "slug": "stalwart-webmail",
            "name": "Stalwart webmail",
        },
    ),
    "authMechanisms": Key(
        stalwart.auth_mechanisms,
        doc=(
            "SASL mechanisms offered on 587 without TLS (`session.auth.mechanisms`); must "
            "include `plain` or `login`."
        ),
        default=list(stalwart.AUTH_MECHANISMS),
        structured=True,
    ),
    "storage": Key(
        storage.storage,
        doc=(
            "Stalwart v0.16's data store. `rocksdb`: on the data claim, one pod, as before. "
            "`postgresql` (a fresh stack, or a RocksDB one through `mailstack:storageMove`): "
            "a CloudNativePG "
            "`Cluster` `stalwart-db` in the stack's namespace (the CloudNativePG operator must "
            "be installed), its owner's password read by Stalwart from the Secret CloudNativePG "
            "generates; blobs, search and the in-memory store in the same database. The object "
            "form sets the cluster: `instances` (1 to 5), `size` and `storageClass` of each "
            "instance's volume."
        ),
        default={
            "engine": "rocksdb",
            "instances": 2,
            "size": "10Gi",
            "storageClass": "longhorn",
        },
        structured=True,
    ),
    # The staged move of a RocksDB store to PostgreSQL (docs/how-to/move-to-postgresql.md).
    "storageMove": Key(
        storage.storage_move,
        doc=(
            "The move of a RocksDB store to PostgreSQL ([Move to "
            "PostgreSQL](../how-to/move-to-postgresql.md)), with `mailstack:storage: "
            "postgresql`: `{phase: copy}` creates the CloudNativePG cluster, stops the RocksDB "
            "pod, and copies its store into the empty database (export, import, the node "
            "registry by SQL). Remove it afterwards: the next update starts Stalwart on "
            "PostgreSQL once a release Job finds the finished copy. The data claim is only "
            "read, so removing both keys instead goes back to RocksDB as it was (refused by "
            "the RocksDB pod's abandon step once an update released the copy)."
        ),
        structured=True,
    ),
    "replicas": Key(
        storage.replicas,
        doc=(
            "Stalwart pods. More than 1 needs `mailstack:storage: postgresql`: the pods run as "
            "a StatefulSet (each pod's name is its node's hostname, so its node id), with a "
            "PodDisruptionBudget, spread over nodes, and a NATS cluster the plan declares as "
            "Stalwart's coordinator."
        ),
        default="1",
    ),
    "tls": Key(
        cluster.tls,
        doc=(
            "v0.16 only: `{issuer: <cert-manager ClusterIssuer>}` (optionally `issuerKind: "
            "Issuer`, `dnsNames: [...]`, default the webmail host) requests a cert-manager "
            "Certificate, mounts its Secret into the pod and serves it on 993 through the plan's "
            "one Certificate object; a renewal is served after the next hourly re-application "
            "(`ReloadTlsCertificates`), without a restart. Unset: Stalwart's own self-signed "
            "certificate."
        ),
        structured=True,
    ),
}

RETIRED: dict[str, str] = {
    "cliImage": (
        "is no longer used: the v0.16 plan is applied by the stack's own Job script over JMAP "
        "(incluster/plan_apply.py), in the reconciler image, not by stalwart-cli"
    ),
}
"""Keys an earlier version of the program read: what replaced them (the fix is to remove them)."""

SECRET_PLACEHOLDERS: dict[str, str] = {
    f"{NAMESPACE}:{key}": spec.placeholder
    for key, spec in KEYS.items()
    if spec.secret and spec.placeholder is not None
}
"""Full key -> stand-in value, for the offline render of secrets it must not decrypt."""


@dataclass(frozen=True)
class ProviderKey:
    """A provider's own setting that the stack reads too (settings/__init__.py's
    PROVIDER_SECRETS refuses it in plaintext)."""

    env: str
    """The environment variable that can hold it instead."""
    doc: str
    """What it is, for the settings reference."""


PROVIDER_KEYS: dict[str, ProviderKey] = {
    "cloudflare:apiToken": ProviderKey(
        "CLOUDFLARE_API_TOKEN",
        "The Cloudflare provider's own setting (see "
        "[Cloudflare API token](../getting-started/first-deploy.md#cloudflare-api-token)).",
    ),
    "authentik:token": ProviderKey(
        "AUTHENTIK_TOKEN",
        "Authentik API token for `mailstack:authentik` (see [Authentik](../how-to/authentik.md)).",
    ),
}
"""The provider settings the settings reference lists after the `mailstack:` keys."""
