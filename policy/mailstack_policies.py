"""The policy pack's rules as plain functions: testable without the Pulumi engine.

Every check takes a `ResourceView` (what a policy sees of one resource: type token, logical name,
inputs with camelCase keys, options) and returns a list of violation messages, empty when the
resource complies. Each message names the resource and the fix, and never repeats a secret value
it found (policy output lands in CI logs and PR comments).

Inputs are read as `Mapping`/`Sequence`, never copied or walked whole: under the engine they are
pulumi-policy's proxies, which raise on a value still unknown at preview. Reading only the fields a
rule needs keeps a rule runnable when an unrelated field (e.g. an auto-named ConfigMap's name in a
Deployment's volumes) is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PVC_TYPE = "kubernetes:core/v1:PersistentVolumeClaim"
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
DEPLOYMENT_TYPE = "kubernetes:apps/v1:Deployment"
CONFIGMAP_TYPES = ("kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:ConfigMapPatch")
DNS_RECORD_TYPE = "cloudflare:index/dnsRecord:DnsRecord"
TUNNEL_CONFIG_TYPE = (
    "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig"
)

# (type, logical name) of the resources whose loss loses the mailboxes.
KEPT_RESOURCES = {(PVC_TYPE, "stalwart-data"), (NAMESPACE_TYPE, "stalwart-namespace")}

STALWART_REPOSITORY = "stalwartlabs/stalwart"

# Workload type token -> path from the inputs to the pod spec. `*Patch` variants are checked too,
# but a patch may leave a container's image out (it is merged by container name).
_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

# Where a Kubernetes object (or an object it stamps out) carries labels and annotations.
_METADATA_PATHS: tuple[tuple[str, ...], ...] = (
    ("metadata",),
    ("spec", "template", "metadata"),
    ("spec", "jobTemplate", "metadata"),
    ("spec", "jobTemplate", "spec", "template", "metadata"),
)

# Password hashes in modular crypt format: md5/bcrypt/sha256/sha512-crypt, yescrypt, argon2,
# pbkdf2, scrypt (what Stalwart accepts as a `secret`). The `$6$` sha512-crypt hash is the one the
# runbook's init container produced.
_CRYPT_HASH = re.compile(
    r"\$(?:1|2[abxy]?|5|6|7|y|gy|argon2(?:i|d|id)|pbkdf2(?:-sha(?:1|256|512))?|scrypt)"
    r"\$[./A-Za-z0-9$=,+-]{8,}"
)
# Resend API keys (`re_` and at least 8 more characters), not inside a longer word.
_RESEND_KEY = re.compile(r"(?<![A-Za-z0-9_])re_[A-Za-z0-9_]{8,}")
# A key whose name says its value is a credential.
_SECRET_KEY_NAME = re.compile(r"password|passwd|secret|token|api[-_]?key", re.IGNORECASE)
# `key = value` (TOML, INI, env files) or `key: value` (YAML) lines inside a ConfigMap value.
_KEY_VALUE_LINE = re.compile(r"^\s*[\"']?([A-Za-z0-9_.\-]+)[\"']?\s*[=:]\s*(.*?)\s*$")
# Values that fetch the secret at run time instead of holding it: Stalwart macros (one or more),
# shell-style variable references, file paths.
_REFERENCE = re.compile(
    r"^(?:(?:%\{(?:file|env):[^}]+\}%)+|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|/[\w./-]*)$"
)
# Values that cannot be a credential: booleans, numbers, durations (e.g. a token lifetime `1h`).
_HARMLESS = re.compile(r"^(?:|true|false|\d+(?:\.\d+)?(?:ms|s|m|h|d|w)?)$", re.IGNORECASE)
# A literal in a `key = value` line: one quoted string, or one bare word (no spaces, calls,
# brackets or commas, which make it an expression of a script rather than a configured value).
_LITERAL = re.compile(r"""^(?:"([^"]*)"|'([^']*)'|([^\s"'(){}\[\],;]+))$""")
# ConfigMap entries that are programs, not configuration: their `name = expr` lines are code.
_SCRIPT_SUFFIXES = (".py", ".sh", ".bash", ".js", ".mjs", ".ts", ".rb", ".pl", ".lua")


@dataclass(frozen=True)
class ResourceView:
    """What a policy sees of one resource.

    `retain_on_delete` is None when it is not known: pulumi-policy does not pass that option to
    policies (its `PolicyResourceOptions` has `protect` but no `retain_on_delete`), so under the
    engine the retain half of the keep rule cannot be checked; the offline render records it.
    """

    type: str
    name: str
    inputs: Mapping[str, Any]
    protect: bool = False
    retain_on_delete: bool | None = None

    @property
    def label(self) -> str:
        return f"{self.type} '{self.name}'"


def from_render_record(record: Mapping[str, Any]) -> ResourceView:
    """A view of one object of `rendered/resources.json` (type, name, inputs, options)."""
    return ResourceView(
        type=record["type"],
        name=record["name"],
        inputs=record.get("inputs") or {},
        protect=bool(record.get("protect")),
        retain_on_delete=record.get("retainOnDelete"),
    )


def _get(value: Any, *path: str) -> Any:
    """value[path[0]][path[1]]..., or None as soon as a step is missing or not a mapping."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _items(value: Any) -> list[Any]:
    """The elements of a list input (not of a string), or [] when it is absent."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return []


# --- 1. the data volume and the namespace are protected and retained ---


def check_kept(resource: ResourceView) -> list[str]:
    """The data PVC and the namespace carry `protect` and `retainOnDelete`."""
    if (resource.type, resource.name) not in KEPT_RESOURCES:
        return []
    problems = []
    if not resource.protect:
        problems.append(
            f"{resource.label} is not protected: a `pulumi destroy` or a replacement would "
            "delete the mailboxes. Fix: give it opts=ResourceOptions(protect=True)."
        )
    if resource.retain_on_delete is False:
        problems.append(
            f"{resource.label} is not retained on delete: removing it from the program would "
            "delete it from the cluster. Fix: give it opts=ResourceOptions(retain_on_delete=True)."
        )
    return problems


# --- 2. the Stalwart Deployment is never rolled ---


def image_repository(image: str) -> str:
    """`registry/path` of an image reference without tag or digest, docker.io's prefix dropped."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    for prefix in ("docker.io/library/", "index.docker.io/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _containers(resource: ResourceView) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(list name, container) of every container of a workload's pod spec."""
    kind = resource.type.removesuffix("Patch")
    path = _POD_SPEC_PATHS.get(kind)
    if path is None:
        return
    pod_spec = _get(resource.inputs, *path)
    for list_name in _CONTAINER_LISTS:
        for container in _items(_get(pod_spec, list_name)):
            if isinstance(container, Mapping):
                yield list_name, container


def runs_stalwart(resource: ResourceView) -> bool:
    """True when one of the workload's containers runs a stalwartlabs/stalwart image."""
    return any(
        isinstance(c.get("image"), str) and image_repository(c["image"]) == STALWART_REPOSITORY
        for _, c in _containers(resource)
    )


def check_recreate(resource: ResourceView) -> list[str]:
    """A Deployment that runs Stalwart uses the `Recreate` strategy."""
    if resource.type != DEPLOYMENT_TYPE or not runs_stalwart(resource):
        return []
    strategy = _get(resource.inputs, "spec", "strategy", "type") or "RollingUpdate (the default)"
    if strategy == "Recreate":
        return []
    return [
        f"{resource.label} runs Stalwart with strategy {strategy}: two pods would open the same "
        "RocksDB volume (RWO) during a rollout. Fix: set spec.strategy.type to 'Recreate'."
    ]


# --- 3. images are pinned ---


def image_pin_problem(image: str) -> str | None:
    """Why an image reference is not pinned, or None when it has a digest or a non-latest tag."""
    if "@" in image:
        digest = image.split("@", 1)[1]
        return None if re.fullmatch(r"[a-z0-9]+:[A-Fa-f0-9]{32,}", digest) else "a malformed digest"
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return "no tag (Kubernetes pulls ':latest')"
    tag = name.rsplit(":", 1)[1]
    if tag == "":
        return "an empty tag"
    if tag.lower() == "latest":
        return "the tag 'latest'"
    return None


def check_pinned_images(resource: ResourceView) -> list[str]:
    """Every container of a workload names an image with a tag that is not `latest`, or a digest."""
    problems = []
    is_patch = resource.type.endswith("Patch")
    for list_name, container in _containers(resource):
        where = f"{list_name[:-1]} '{container.get('name', '?')}'"
        image = container.get("image")
        if not isinstance(image, str) or not image:
            if not is_patch:
                problems.append(
                    f"{resource.label}: {where} has no image. Fix: name a pinned image, "
                    "e.g. 'repo/name:v1.2.3' or 'repo/name@sha256:...'."
                )
            continue
        problem = image_pin_problem(image)
        if problem:
            problems.append(
                f"{resource.label}: {where} uses image '{image}' with {problem}, so a restart can "
                "run a different version. Fix: pin a release tag (e.g. "
                f"'{image_repository(image)}:v1.2.3') or a digest ('@sha256:...')."
            )
    return problems


# --- 4. no secret in ConfigMaps, labels or annotations ---


def secret_finding(value: str) -> str | None:
    """What secret-looking thing a string holds (never the value itself), or None."""
    if _CRYPT_HASH.search(value):
        return "a password hash (crypt format, e.g. $6$...)"
    if _RESEND_KEY.search(value):
        return "a Resend API key (re_...)"
    return None


def _credential_value(value: str) -> bool:
    """True when the value of a credential-named key is a literal credential: not a macro,
    variable or path, not a boolean, number or duration."""
    value = value.strip().strip("\"'").strip()
    return not (_REFERENCE.match(value) or _HARMLESS.match(value))


def _credential_lines(text: str) -> Iterator[str]:
    """Keys of `key = "literal"` / `key: literal` lines whose key names a credential and whose
    value is a literal credential (comments skipped)."""
    for line in text.splitlines():
        if line.lstrip().startswith(("#", ";", "//")):
            continue
        match = _KEY_VALUE_LINE.match(line)
        if not match or not _SECRET_KEY_NAME.search(match.group(1)):
            continue
        literal = _LITERAL.match(match.group(2).rstrip(","))
        if literal and _credential_value(next(g for g in literal.groups() if g is not None)):
            yield match.group(1)


def check_no_secrets(resource: ResourceView) -> list[str]:
    """No ConfigMap data, label or annotation of a Kubernetes object holds a secret or a hash."""
    if not resource.type.startswith("kubernetes:"):
        return []
    problems = []
    for path in _METADATA_PATHS:
        metadata = _get(resource.inputs, *path)
        for field in ("labels", "annotations"):
            entries = _get(metadata, field)
            if not isinstance(entries, Mapping):
                continue
            for key in entries:
                value = entries[key]
                finding = secret_finding(value) if isinstance(value, str) else None
                if finding:
                    place = ".".join((*path, field))
                    problems.append(
                        f"{resource.label}: {place} '{key}' holds {finding}. Labels and "
                        "annotations are readable by anyone who can list the object. Fix: keep it "
                        "in a Secret (or in the stack config with --secret) and reference it."
                    )
    if resource.type in CONFIGMAP_TYPES:
        data = _get(resource.inputs, "data")
        if isinstance(data, Mapping):
            for key in data:
                problems.extend(_configmap_entry_problems(resource, key, data[key]))
    return problems


def _configmap_entry_problems(resource: ResourceView, key: str, value: Any) -> list[str]:
    if not isinstance(value, str):
        return []
    fix = (
        "Fix: put the value in the Secret and read it with a %{file:/run/secrets/...}% or "
        "%{env:...}% macro."
    )
    where = f"{resource.label}: data '{key}'"
    problems = []
    finding = secret_finding(value)
    if finding:
        problems.append(f"{where} holds {finding}; a ConfigMap is not secret. {fix}")
    if _SECRET_KEY_NAME.search(key) and "\n" not in value.strip() and _credential_value(value):
        problems.append(f"{where} is named like a credential and holds a literal value. {fix}")
    if key.lower().endswith(_SCRIPT_SUFFIXES):
        return problems
    for name in _credential_lines(value):
        problems.append(
            f"{where} sets '{name}' to a literal value instead of a Stalwart macro. {fix}"
        )
    return problems


# --- 5. DNS records stay inside the zone ---


def name_in_zone(name: str, domain: str) -> bool:
    """True when a record name lies in the zone `domain`.

    Inside: the apex (`domain` or `@`), any name ending in `.domain`, and relative names, which
    Cloudflare completes with the zone: a single label (`mail`, `_dmarc`) or a name whose last
    label starts with `_` (`resend._domainkey`). Any other dotted name is taken as a full name, so
    `mail.example.org` in zone `example.com` is outside.
    """
    name = name.strip().lower().rstrip(".")
    domain = domain.strip().lower().rstrip(".")
    if name in ("@", domain) or name.endswith("." + domain):
        return True
    labels = name.split(".")
    return len(labels) == 1 or labels[-1].startswith("_")


def check_dns_in_zone(resource: ResourceView, domain: str | None) -> list[str]:
    """Every Cloudflare DNS record's name is inside the configured zone."""
    if resource.type != DNS_RECORD_TYPE:
        return []
    if not domain:
        return [
            f"{resource.label}: cannot tell whether the record is inside the zone, the stack has "
            "no mailstack:domain. Fix: pulumi config set mailstack:domain <zone>."
        ]
    name = _get(resource.inputs, "name")
    if not isinstance(name, str) or not name.strip():
        return [f"{resource.label} has no name. Fix: set name to '<label>.{domain}'."]
    if name_in_zone(name, domain):
        return []
    return [
        f"{resource.label} is named '{name}', outside the zone '{domain}' "
        f"(mailstack:domain): Cloudflare would create it as '{name}.{domain}'. Fix: name it "
        f"'<label>.{domain}', or manage that zone's records in its own stack."
    ]


# --- 6. the tunnel's ingress list ends with exactly one catch-all ---


def _is_catch_all(rule: Mapping[str, Any]) -> bool:
    """A rule that matches every request: no hostname (or `*`) and no path."""
    return _get(rule, "hostname") in (None, "", "*") and not _get(rule, "path")


def check_tunnel_catch_all(resource: ResourceView) -> list[str]:
    """The tunnel config's ingresses end with one catch-all `http_status:...` and have no other."""
    if resource.type != TUNNEL_CONFIG_TYPE:
        return []
    rules = [
        r for r in _items(_get(resource.inputs, "config", "ingresses")) if isinstance(r, Mapping)
    ]
    fix = "Fix: end config.ingresses with exactly one {'service': 'http_status:404'}."
    if not rules:
        return [f"{resource.label} has no ingress rules. {fix}"]
    problems = []
    catch_alls = [i for i, rule in enumerate(rules) if _is_catch_all(rule)]
    last = len(rules) - 1
    if last not in catch_alls:
        problems.append(
            f"{resource.label}: the last ingress rule (#{last + 1}) has a hostname or path, so "
            f"cloudflared rejects the configuration. {fix}"
        )
    for index in catch_alls:
        if index != last:
            problems.append(
                f"{resource.label}: ingress rule #{index + 1} has no hostname, so it swallows "
                f"every rule after it. {fix}"
            )
    service = _get(rules[last], "service")
    if last in catch_alls and not (isinstance(service, str) and service.startswith("http_status:")):
        problems.append(
            f"{resource.label}: the catch-all sends every other hostname to '{service}' instead "
            f"of an error status. {fix}"
        )
    return problems


# --- the pack's table ---


@dataclass(frozen=True)
class Rule:
    """One policy: its name in the pack, its description, and its check."""

    name: str
    description: str
    check: Callable[[ResourceView, str | None], list[str]]


RULES: tuple[Rule, ...] = (
    Rule(
        "stalwart-data-kept",
        "The Stalwart data PVC and namespace are protected and retained on delete.",
        lambda resource, _domain: check_kept(resource),
    ),
    Rule(
        "stalwart-deployment-recreate",
        "A Deployment running Stalwart uses the Recreate strategy (never two pods on the volume).",
        lambda resource, _domain: check_recreate(resource),
    ),
    Rule(
        "images-pinned",
        "Every container image has a tag other than latest, or a digest.",
        lambda resource, _domain: check_pinned_images(resource),
    ),
    Rule(
        "no-secrets-in-configmaps-or-metadata",
        "No ConfigMap data, label or annotation holds a secret value or a password hash.",
        lambda resource, _domain: check_no_secrets(resource),
    ),
    Rule(
        "dns-records-in-zone",
        "Every Cloudflare DNS record is inside the zone mailstack:domain.",
        check_dns_in_zone,
    ),
    Rule(
        "tunnel-final-catch-all",
        "The tunnel's ingress list ends with exactly one catch-all http_status rule.",
        lambda resource, _domain: check_tunnel_catch_all(resource),
    ),
)


def violations(resources: Sequence[ResourceView], domain: str | None) -> list[str]:
    """Every rule on every resource: `<rule>: <message>` lines, empty when all comply."""
    return [
        f"{rule.name}: {message}"
        for resource in resources
        for rule in RULES
        for message in rule.check(resource, domain)
    ]
