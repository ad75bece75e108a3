"""Shared value formats: DNS labels and names, Kubernetes names and quantities, images, cron.

Plain predicates and parsers; the rules in `settings/rules/` say what is wrong and the fix.
"""

from __future__ import annotations

import re
import unicodedata

LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# A top-level label: letters, or an internationalized one in its ASCII form (`xn--p1ai` is .рф).
TLD = r"(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
DOMAIN_RE = re.compile(rf"^(?:{LABEL}\.)+{TLD}$")
LABEL_RE = re.compile(rf"^{LABEL}$")
# A Kubernetes object name (RFC 1123 subdomain): storage classes, claims, Secrets.
SUBDOMAIN_RE = re.compile(rf"^(?=.{{1,253}}$){LABEL}(?:\.{LABEL})*$")
ROUTE_HOST_RE = re.compile(rf"^(?:\*\.)?(?:{LABEL}\.)+{TLD}$")
HEX32_RE = re.compile(r"^[0-9a-f]{32}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# RFC 5321 4.5.3.1: a local part of 64 octets at most, a path of 256 (254 without the <>).
EMAIL_RE = re.compile(
    r"^(?=.{1,254}$)(?=[^@]{1,64}@)[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?P<domain>[A-Za-z0-9.-]+\.(?:[A-Za-z]{2,63}|xn--[a-z0-9-]{1,59}))$"
)
# cloudflared's service forms (provider docs of ZeroTrustTunnelCloudflaredConfig ingresses).
ORIGIN_RE = re.compile(r"^(https?|tcp|unix|ssh|rdp|unix\+tls|smb)://\S+$")
STATUS_SERVICE_RE = re.compile(r"^http_status:[1-5][0-9]{2}$")
# A Secret's data key (apimachinery IsConfigMapKey): not `.`, `..` or anything starting `..`.
SECRET_KEY_RE = re.compile(r"^(?!\.\.)(?!\.$)[-._a-zA-Z0-9]{1,253}$")
CRON_RE = re.compile(r"^(\S+\s+){4}\S+$")
# The alerts reference page that each alert's runbook_url links: on GitHub (the Markdown file) or
# on the built docs site (mkdocs' directory URL). RUNBOOK.md was folded into it.
ALERTS_PAGE = "docs/reference/alerts.md"
RUNBOOK_URL_RE = re.compile(r"^https://[^\s#?]+/(docs/reference/alerts\.md|reference/alerts/)$")

_QUANTITY_RE = re.compile(
    r"^(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$"
)
_QUANTITY_FACTORS = {
    None: 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}
# An image reference (distribution/reference grammar): [host[:port]/]path[:tag][@digest].
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_REGISTRY = rf"(?:{_HOST_LABEL}(?:\.{_HOST_LABEL})*(?::[0-9]{{1,5}})?/)"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_RE = re.compile(
    rf"(?P<repo>{_REGISTRY}?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)
# A registry (host[:port]) with an optional path below it, as `mailstack:imageMirrors` names one.
MIRROR_RE = re.compile(
    rf"^{_HOST_LABEL}(?:\.{_HOST_LABEL})*(?::[0-9]{{1,5}})?(?:/{_PATH_COMPONENT})*$"
)
# Docker Hub's names for itself (distribution/reference normalize.go: docker.io is the default
# domain, index.docker.io its legacy name; a one-component path is under library/).
_DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")


def image_origin(repo: str, mirrors: tuple[str, ...] = ()) -> tuple[str, str]:
    """(`registry`, `path`) of an image repository: Docker Hub as `docker.io` with `library/`
    for official images; an image under one of `mirrors` as (`mirror`, the path below it, read
    as a Docker Hub path)."""
    for mirror in mirrors:
        if repo.startswith(mirror + "/"):
            rest = repo[len(mirror) + 1 :]
            return mirror, rest if "/" in rest else f"library/{rest}"
    first, _, rest = repo.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first.lower(), rest
    else:
        registry, path = "docker.io", repo
    if registry in _DOCKER_HUB:
        return "docker.io", path if "/" in path else f"library/{path}"
    return registry, path


VERSION_TAG_RE = re.compile(r"^v?(?P<major>[0-9]+)\.(?P<minor>[0-9]+)(?:\.(?P<patch>[0-9]+))?$")


def digits(text: str) -> bool:
    """ASCII digits only (`str.isdigit` is true of `²` and `٣`, which `int` refuses or reads)."""
    return bool(text) and text.isascii() and text.isdigit()


# Control, format (bidirectional overrides, zero-width), and line or paragraph separators.
_INVISIBLE_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")


def invisible_character(text: str) -> str | None:
    """The first character of `text` a display field must not hold, as `U+XXXX`, or None."""
    for ch in text:
        if unicodedata.category(ch) in _INVISIBLE_CATEGORIES:
            return f"U+{ord(ch):04X}"
    return None


def punycode(domain: str) -> str | None:
    """The ASCII (IDNA) form of an internationalized domain name, or None when it has none."""
    try:
        return domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None


def parse_quantity(text: str) -> int | None:
    """Bytes of a Kubernetes quantity such as `10Gi`, or None when it is no quantity."""
    match = _QUANTITY_RE.fullmatch(text)
    if match is None:
        return None
    number = float(match["number"])
    return int(number * _QUANTITY_FACTORS[match["suffix"]])


def in_zone(hostname: str, domain: str) -> bool:
    """Whether `hostname` (a wildcard counts as its base) is `domain` or below it."""
    bare = hostname.removeprefix("*.")
    return bare == domain or bare.endswith(f".{domain}")


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {m: i for i, m in enumerate(_MONTHS, 1)}),
    ("day of week", 0, 7, {d: i for i, d in enumerate(_DAYS)}),
)


def cron_problem(text: str) -> str | None:
    """Why `text` is not a five-field cron schedule (robfig/cron, what Longhorn runs), or None."""
    fields = text.split(" ")
    if len(fields) != 5 or any(not field for field in fields):
        return "is not five fields separated by single spaces"
    for field, (what, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for item in field.split(","):
            base, _, step = item.partition("/")
            if step and (not digits(step) or int(step) == 0):
                return f"{what}: step {step!r} is not a positive number"
            if base == "*":
                continue
            ends = base.split("-")
            if len(ends) > 2:
                return f"{what}: {item!r} is not a value, a range or *"
            numbers = []
            for end in ends:
                value = names.get(end.lower()) if not digits(end) else int(end)
                if value is None or not low <= value <= high:
                    return f"{what}: {end!r} is not in {low}..{high}"
                numbers.append(value)
            if len(numbers) == 2 and numbers[0] > numbers[1]:
                return f"{what}: the range {item!r} runs backwards"
    return None


_DMARC_POLICY = ("none", "quarantine", "reject")
_DMARC_TAGS = {"v", "p", "sp", "adkim", "aspf", "pct", "fo", "rf", "ri", "rua", "ruf"}


# A bound on a TXT record the stack publishes: 2,048 characters, Cloudflare's stated limit on a
# TXT record's content (not verified against the API here); a DMARC record is well under 200.
TXT_MAX = 2048


def dmarc_problem(record: str) -> str | None:
    """Why `record` is not a DMARC record a receiver would apply (RFC 7489 6.3), or None."""
    if any(ch < " " or ch == "\x7f" for ch in record):
        return "it holds a control character (a line break from a YAML block scalar?)"
    if len(record) > TXT_MAX:
        return f"it is longer than {TXT_MAX} characters, more than one TXT record holds"
    tags: dict[str, str] = {}
    for part in record.split(";"):
        part = part.strip()
        if not part:
            continue
        name, equals, value = part.partition("=")
        name, value = name.strip().lower(), value.strip()
        if not equals or name not in _DMARC_TAGS:
            return f"'{part}' is not a DMARC tag ({', '.join(sorted(_DMARC_TAGS))})"
        if name in tags:
            return f"the tag {name} appears twice"
        tags[name] = value
    if next(iter(tags), None) != "v" or tags.get("v") != "DMARC1":
        return "it does not start with v=DMARC1"
    if tags.get("p") not in _DMARC_POLICY:
        return f"p must be one of {', '.join(_DMARC_POLICY)}"
    if "sp" in tags and tags["sp"] not in _DMARC_POLICY:
        return f"sp must be one of {', '.join(_DMARC_POLICY)}"
    for name in ("adkim", "aspf"):
        if name in tags and tags[name] not in ("r", "s"):
            return f"{name} must be r or s"
    if "pct" in tags and not (digits(tags["pct"]) and int(tags["pct"]) <= 100):
        return "pct must be a number from 0 to 100"
    if "ri" in tags and not digits(tags["ri"]):
        return "ri must be a number of seconds"
    for name in ("rua", "ruf"):
        for uri in tags.get(name, "").split(",") if name in tags else []:
            address = uri.strip().removeprefix("mailto:").split("!")[0]
            if not uri.strip().startswith("mailto:") or not EMAIL_RE.fullmatch(address):
                return f"{name} must be mailto: URIs of email addresses, not {uri.strip()!r}"
    return None
