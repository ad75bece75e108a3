"""Rules of `mailstack:authentik` (the webmail's forward-auth objects) and of the Authentik part
of `mailstack:adopt`."""

from __future__ import annotations

import re
from typing import Any

from settings import formats as f
from settings.problems import Check

_FIELDS = {"url", "outpost", "authorizationFlow", "invalidationFlow", "groups", "slug", "name"}
# Authentik's slugs are Django SlugFields (`^[-a-zA-Z0-9_]+$`), 50 characters at most.
SLUG_RE = re.compile(r"^[-a-zA-Z0-9_]{1,50}$")
_HOST = rf"(?:{f.LABEL}\.)+{f.TLD}|[0-9]{{1,3}}(?:\.[0-9]{{1,3}}){{3}}"
# https only (the token goes with every request), no user:password@, query or fragment.
URL_RE = re.compile(rf"^https://(?P<host>{_HOST})(?::(?P<port>[0-9]{{1,5}}))?(?P<path>/[^\s?#]*)?$")
FIX = (
    "e.g. mailstack:authentik: {url: https://auth.example.com} (docs/how-to/authentik.md; the "
    "other "
    "fields are optional)"
)


def authentik(value: Any, check: Check) -> dict[str, Any] | None:
    given = check.object_of(value, _FIELDS, "must be an object with at least url", FIX)
    if given is None:
        return None
    merged = {**check.defaults_under(), **given}
    before = check.count
    url = merged.get("url")
    match = (
        URL_RE.fullmatch(url) if isinstance(url, str) and not f.invisible_character(url) else None
    )
    if isinstance(url, str) and "@" in url.partition("//")[2].partition("/")[0]:
        # Not quoted: what stands before the @ is a password.
        check.bad(
            "url holds credentials (user:password@); the API token goes in authentik:token",
            FIX,
        )
    elif match is None or (match["port"] and not 0 < int(match["port"]) < 65536):
        check.bad(f"url {url!r} {_url_problem(url)}", FIX)
    for field in ("authorizationFlow", "invalidationFlow", "slug"):
        slug = merged[field]
        if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
            check.bad(
                f"{field} {slug!r} is not an Authentik slug (letters, digits, - and _, at most 50)",
                f"e.g. {field}: {check.defaults_under()[field]}",
            )
    for field in ("outpost", "name"):
        text = merged[field]
        if not isinstance(text, str) or not text.strip() or len(text) > 200:
            check.bad(
                f"{field} must be a non-empty name of at most 200 characters",
                f"e.g. {field}: {check.defaults_under()[field]!r}",
            )
        elif invisible := f.invisible_character(text):
            check.bad(
                f"{field} holds the invisible character {invisible}",
                f"type the name again, e.g. {field}: {check.defaults_under()[field]!r}",
            )
    groups = merged["groups"]
    if (
        not isinstance(groups, list)
        or not all(
            isinstance(g, str) and g.strip() and len(g) <= 150 and not f.invisible_character(g)
            for g in groups
        )
        or len({g.lower() for g in groups}) != len(groups)
    ):
        check.bad(
            "groups must be a list of distinct Authentik group names (at most 150 characters, "
            "no invisible character)",
            "e.g. groups: [mail-users]; [] lets in everyone Authentik lets in",
        )
    if check.count != before or match is None:
        return None
    return {**merged, "url": str(url).rstrip("/"), "groups": tuple(groups)}


def _url_problem(url: object) -> str:
    """What exactly is wrong with a url URL_RE refused."""
    if not isinstance(url, str):
        return "is not a string"
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "is not a URL (https://auth.example.com)"
    if scheme.lower() == "http":
        return "is plain http: the API token travels with every request, so https only"
    if scheme.lower() != "https":
        return f"has the scheme {scheme!r}; Authentik's API is https"
    if f.invisible_character(url) or any(ch.isspace() for ch in url):
        return "holds a space or an invisible character"
    if "#" in rest:
        return "has a fragment (#...), which no API path has"
    if "?" in rest:
        return "has a query (?...); give the address of Authentik only"
    authority = rest.partition("/")[0]
    host, _, port = authority.rpartition(":") if authority.count(":") == 1 else (authority, "", "")
    if port and not (f.digits(port) and 0 < int(port) < 65536):
        return f"has the port {port!r}, not one from 1 to 65535"
    if not re.fullmatch(_HOST, host or authority):
        return f"has the host {(host or authority)!r}, not a lowercase DNS name or an IPv4 address"
    return "is not an https URL of Authentik"


def adopted_ids(value: Any, where: str, check: Check, fix: str) -> dict[str, str] | None:
    """`mailstack:adopt.authentik`: the provider's number and the application's slug."""
    if not isinstance(value, dict) or set(value) - {"provider", "application"}:
        check.bad(f"{where} must be {{provider: <number>, application: <slug>}}", fix)
        return None
    ids: dict[str, str] = {}
    provider = value.get("provider")
    if provider is not None:
        if isinstance(provider, bool) or not re.fullmatch(r"[1-9][0-9]{0,9}", str(provider)):
            check.bad(f"{where}.provider {provider!r} is not a provider number", fix)
            return None
        ids["provider"] = str(provider)
    application = value.get("application")
    if application is not None:
        if not isinstance(application, str) or not SLUG_RE.fullmatch(application):
            check.bad(f"{where}.application {application!r} is not an application slug", fix)
            return None
        ids["application"] = application
    return ids
