"""Shared value formats: DNS labels and names, Kubernetes names and quantities, images, cron.

Plain predicates and parsers; the rules in `settings/rules/` say what is wrong and the fix.
"""

from __future__ import annotations

import re

LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN_RE = re.compile(rf"^(?:{LABEL}\.)+[a-z]{{2,63}}$")
LABEL_RE = re.compile(rf"^{LABEL}$")
# A Kubernetes object name (RFC 1123 subdomain): storage classes, claims, Secrets.
SUBDOMAIN_RE = re.compile(rf"^{LABEL}(?:\.{LABEL})*$")
ROUTE_HOST_RE = re.compile(rf"^(?:\*\.)?(?:{LABEL}\.)+[a-z]{{2,63}}$")
HEX32_RE = re.compile(r"^[0-9a-f]{32}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@(?P<domain>[A-Za-z0-9.-]+\.[A-Za-z]{2,63})$"
)
# cloudflared's service forms (provider docs of ZeroTrustTunnelCloudflaredConfig ingresses).
ORIGIN_RE = re.compile(r"^(https?|tcp|unix|ssh|rdp|unix\+tls|smb)://\S+$")
STATUS_SERVICE_RE = re.compile(r"^http_status:[1-5][0-9]{2}$")
SECRET_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")
CRON_RE = re.compile(r"^(\S+\s+){4}\S+$")

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
IMAGE_RE = re.compile(
    r"^(?P<repo>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
VERSION_TAG_RE = re.compile(r"^v?(?P<major>\d+)\.(?P<minor>\d+)(?:\.(?P<patch>\d+))?$")


def parse_quantity(text: str) -> int | None:
    """Bytes of a Kubernetes quantity such as `10Gi`, or None when it is no quantity."""
    match = _QUANTITY_RE.match(text)
    if match is None:
        return None
    number = float(match["number"])
    return int(number * _QUANTITY_FACTORS[match["suffix"]])


def in_zone(hostname: str, domain: str) -> bool:
    """Whether `hostname` (a wildcard counts as its base) is `domain` or below it."""
    bare = hostname.removeprefix("*.")
    return bare == domain or bare.endswith(f".{domain}")
