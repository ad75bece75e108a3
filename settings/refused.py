"""THE table of refused settings: every kind of bad value of every key, and what its one line
says. `tests/settings/test_refused.py` runs each row through `make render`'s entry point (exit 2,
one line naming the key and the fix, no traceback, no file), and `make docs` writes the reference
page docs/reference/bad-settings.md from it. The program itself never imports this module.

A value of `None` removes the key; `PLAINTEXT` stores a secret key unencrypted; `Encrypted()`
stores any key with `--secret`; a `Decrypted`
value is a secret the owner stored with `--secret`, which the offline render never decrypts, so
those rows run in-process under the mock runtime instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# The example ids of the stack the rows change (tests/conftest.py's BASE_CONFIG uses them too).
ACCOUNT_ID = "0123456789abcdef0123456789abcdef"
ZONE_ID = "fedcba9876543210fedcba9876543210"
TRAEFIK = "http://traefik.kube-system.svc.cluster.local:80"
ROUTE = {"hostname": "auth.example.com", "service": "http://traefik:80"}
CREDENTIALS: dict[str, Any] = {"namespace": "authentik", "secretName": "creds"}
ACCOUNT: dict[str, Any] = {"name": "noreply", "credentials": CREDENTIALS}
PLAINTEXT = "PLAINTEXT"


def authentik_account(**fields: Any) -> dict[str, Any]:
    """The example stack file's Authentik service account, with `fields` changed or added."""
    return {
        "name": "noreply",
        "description": "Authentik",
        "credentials": {"namespace": "authentik", "secretName": "authentik-credentials"},
        **fields,
    }


@dataclass(frozen=True)
class Encrypted:
    """A setting the owner stored with `--secret` (the render sees its ciphertext only)."""


@dataclass(frozen=True)
class Decrypted:
    """A secret setting's value as the program sees it after `--secret` decryption."""

    value: str


REFUSED: list[tuple[str, Any, str]] = [
    ("domain", "example.com\n", "is not a domain name"),
    ("domain", None, "is required but not set"),
    ("domain", "", "is required but not set"),
    ("domain", "mail server", "is not a domain name"),
    ("domain", "Example.com", "has uppercase letters"),
    ("domain", "not a domain", "is not a domain name"),
    ("domain", "localhost", "is not a domain name"),
    ("domain", "-bad.example.com", "is not a domain name"),
    ("domain", "example.c", "is not a domain name"),
    ("adminPassword", PLAINTEXT, "is stored in plaintext in the stack file"),
    ("adminPassword", Decrypted("hunter2"), "shorter than 12 characters"),
    ("resendApiKey", None, "is required but not set"),
    ("resendApiKey", PLAINTEXT, "is stored in plaintext in the stack file"),
    ("resendApiKey", Decrypted("sk_live_123456789"), "does not look like a Resend API key"),
    ("webmailHostname", "send", "already holds Resend's bounce MX and SPF records"),
    ("webmailHostname", "mail\n", "is not a DNS label"),
    ("webmailHostname", "mail.example.com", "contains a dot"),
    ("webmailHostname", "MAIL", "has uppercase letters"),
    ("webmailHostname", "Mail", "has uppercase letters"),
    ("webmailHostname", "mail_box", "is not a DNS label"),
    ("tailnetHostname", "mail_1", "is not a DNS label"),
    ("tailnetHostname", "mail.example.com", "contains a dot"),
    ("tailnetHostname", "Mail", "has uppercase letters"),
    ("namespace", "stalwart\n", "is not a DNS label"),
    ("namespace", "-stalwart", "is not a DNS label"),
    ("namespace", "mail.system", "contains a dot"),
    ("image", "stalwartlabs/stalwart:v0.16.18\n", "is not an image reference"),
    ("image", "stalwartlabs/stalwart:latest", "is not a pinned Stalwart release"),
    ("image", "stalwartlabs/stalwart", "has no tag"),
    ("image", "stalwartlabs/stalwart:v0.17.0", "which this program does not render"),
    ("image", "stalwartlabs/stalwart:v1.0.0", "which this program does not render"),
    ("image", "stalwartlabs/stalwart:v0.16", "moves with every v0.16 patch release"),
    ("image", f"stalwartlabs/stalwart@sha256:{'a' * 64}", "has a digest but no version tag"),
    ("image", "stalwartlabs/stalwart:v0.14.1", "older than v0.15"),
    ("image", "stalwartlabs/stalwart:v0.15", "moves with every v0.15 patch release"),
    ("image", "Not An Image", "is not an image reference"),
    ("storageClass", "Longhorn", "is not a Kubernetes name"),
    ("storageClass", "Longhorn Fast", "is not a Kubernetes name"),
    ("storageSize", "ten", "is not a Kubernetes quantity"),
    ("storageSize", "100Mi", "smaller than 1Gi"),
    ("storageSize", "ten gigs", "is not a Kubernetes quantity"),
    ("storageSize", "10GB", "is not a Kubernetes quantity"),
    ("storageSize", "512Mi", "smaller than 1Gi"),
    ("cloudflareAccountId", "12345", "is not a Cloudflare account ID"),
    ("cloudflareAccountId", "ABCDEF", "is not a Cloudflare account ID"),
    ("cloudflareZoneId", None, "is required but not set"),
    ("cloudflareZoneId", "0123456789ABCDEF0123456789ABCDEF", "is not a Cloudflare zone ID"),
    ("tunnelId", Encrypted(), "is stored as a secret, but the program writes it"),
    ("tunnelId", "homelab", "is not a tunnel UUID"),
    ("tunnelOrigin", "traefik:80", "is not a cloudflared service URL"),
    ("tunnelRoutes", [{**ROUTE, "path": "("}], "is not a regular expression"),
    ("tunnelRoutes", [{**ROUTE, "path": "^/(?!admin)"}], "which cloudflared (RE2) refuses"),
    ("tunnelRoutes", [{**ROUTE, "originRequest": {"noTlsVerify": "yes"}}], "must be true or false"),
    (
        "tunnelRoutes",
        [{**ROUTE, "originRequest": {"connectTimeout": "30s"}}],
        "must be a whole number",
    ),
    ("tunnelRoutes", [{**ROUTE, "originRequest": {"access": {"team": "x"}}}], "must be {audTags"),
    ("tunnelRoutes", "auth.example.com", "must be a list"),
    ("tunnelRoutes", [{"service": "http://x:1"}], "is a catch-all"),
    (
        "tunnelRoutes",
        [
            {"hostname": "auth.example.com", "service": "http://traefik:80"},
            {"hostname": "auth.example.com", "service": "http://traefik:80"},
        ],
        "repeats an earlier route",
    ),
    ("tunnelRoutes", {"hostname": "a.example.com"}, "must be a list"),
    (
        "tunnelRoutes",
        [{"service": "http://traefik.kube-system.svc.cluster.local:80"}],
        "route 1 has no hostname, so it is a catch-all",
    ),
    ("tunnelRoutes", [{"hostname": "*", "service": "http_status:404"}], "is a catch-all"),
    (
        "tunnelRoutes",
        [
            {
                "hostname": "mail.example.com",
                "service": "http://traefik.kube-system.svc.cluster.local:80",
            }
        ],
        "is the webmail host",
    ),
    (
        "tunnelRoutes",
        [
            {
                "hostname": "a.example.com",
                "service": "http://traefik.kube-system.svc.cluster.local:80",
            },
            {
                "hostname": "a.example.com",
                "service": "http://traefik.kube-system.svc.cluster.local:80",
            },
        ],
        "route 2 (a.example.com) repeats an earlier route",
    ),
    (
        "tunnelRoutes",
        [
            {
                "hostname": "*.example.com",
                "service": "http://traefik.kube-system.svc.cluster.local:80",
            }
        ],
        "would swallow mail.example.com",
    ),
    (
        "tunnelRoutes",
        [{"hostname": "a.example.com", "service": "traefik"}],
        "is not a cloudflared service",
    ),
    (
        "tunnelRoutes",
        [
            {
                "hostname": "a.example.com",
                "service": "http://traefik.kube-system.svc.cluster.local:80",
                "originRequest": {"noTLSVerify": True},
            }
        ],
        "unknown originRequest field 'noTLSVerify'",
    ),
    (
        "tunnelRoutes",
        [
            {
                "hostname": "A.example.com",
                "service": "http://traefik.kube-system.svc.cluster.local:80",
            }
        ],
        "is not a lowercase hostname",
    ),
    ("adminEmail", "owner@lists.example.com", "inside the zone"),
    ("adminEmail", "owner", "is not an email address"),
    ("adminEmail", "postmaster@example.com", "would forward every message to itself"),
    ("adminEmail", "owner-at-gmail", "is not an email address"),
    ("adminEmail", "admin@example.com", "the catch-all would forward every message to itself"),
    ("resendDkimRecord", "p=MIGfMA0GCSq\n", "is not the DKIM record Resend shows"),
    ("resendDkimRecord", "MIGf", "is not the DKIM record Resend shows"),
    ("resendDkimRecord", "MIGfMA0GCSq", "is not the DKIM record Resend shows"),
    ("resendRegion", "USEAST", "is not a sending region"),
    ("resendRegion", "us east", "is not a sending region"),
    ("dmarc", "v=DMARC1; p=none; p=reject;", "the tag p appears twice"),
    ("dmarc", "v=DMARC1; p=none; rua=dmarc@example.com", "must be mailto: URIs"),
    ("dmarc", "v=DMARC1; p=none;\n", "is not a DMARC record"),
    ("dmarc", "p=none", "is not a DMARC record"),
    ("dmarc", {"policy": "maybe"}, "policy must be one of"),
    ("dmarc", 5, "must be a string or an object"),
    ("dmarc", {"policy": "block"}, "policy must be one of none, quarantine, reject"),
    ("dmarc", {"policy": "none", "rua": "not-an-address"}, "rua must be an email address"),
    ("dmarc", {"policy": "none", "ruf": "x@example.net"}, "unknown field(s) ruf"),
    ("serviceAccounts", [{**ACCOUNT, "name": "example.com"}], "is named like the domain"),
    (
        "serviceAccounts",
        [
            ACCOUNT,
            {
                **ACCOUNT,
                "name": "alerts",
                "email": "NoReply@example.com",
                "credentials": {**CREDENTIALS, "key": "k2"},
            },
        ],
        "is another account's address",
    ),
    (
        "serviceAccounts",
        [
            {**ACCOUNT, "credentials": {**CREDENTIALS, "create": True}},
            {**ACCOUNT, "name": "alerts", "credentials": {**CREDENTIALS, "key": "k2"}},
        ],
        "is the Secret the stack creates for account noreply",
    ),
    (
        "serviceAccounts",
        [
            {
                **ACCOUNT,
                "credentials": {
                    "namespace": "stalwart",
                    "secretName": "stalwart-tls",
                    "key": "tls.key",
                },
            }
        ],
        "is a Secret the stack itself owns or uses",
    ),
    ("serviceAccounts", {"name": "noreply"}, "must be a list of accounts"),
    (
        "serviceAccounts",
        [{"name": "admin", "credentials": {"namespace": "authentik", "secretName": "creds"}}],
        "reserved 'admin'",
    ),
    (
        "serviceAccounts",
        [
            {"name": "noreply", "credentials": {"namespace": "authentik", "secretName": "creds"}},
            {"name": "noreply", "credentials": {"namespace": "authentik", "secretName": "creds"}},
        ],
        "appears twice",
    ),
    (
        "serviceAccounts",
        [
            {
                "name": "noreply",
                "credentials": {"namespace": "authentik", "secretName": "creds"},
                "passwordVersion": -1,
            }
        ],
        "positive integer",
    ),
    ("serviceAccounts", {"name": "noreply"}, "must be a list"),
    ("serviceAccounts", ["noreply"], "account 1 is not an object"),
    (
        "serviceAccounts",
        [authentik_account(name="No Reply")],
        "is not a lowercase account name",
    ),
    (
        "serviceAccounts",
        [authentik_account(name="admin")],
        "reserved 'admin'",
    ),
    (
        "serviceAccounts",
        [authentik_account(name="mailstack-admin")],
        "reserved 'admin' or 'mailstack-admin'",
    ),
    (
        "serviceAccounts",
        [authentik_account(email="noreply@example.net")],
        "is outside example.com",
    ),
    (
        "serviceAccounts",
        [authentik_account(email="not-an-address")],
        "is not an address",
    ),
    (
        "serviceAccounts",
        [authentik_account(passwordVersion=0)],
        "passwordVersion must be a positive integer",
    ),
    (
        "serviceAccounts",
        [authentik_account(credential={})],
        "unknown field(s) credential",
    ),
    ("serviceAccounts", [{"name": "noreply"}], "credentials must be an object"),
    (
        "serviceAccounts",
        [authentik_account(credentials={"namespace": "Auth", "secretName": "x"})],
        "is not a namespace",
    ),
    (
        "serviceAccounts",
        [authentik_account(credentials={"namespace": "a", "secretName": "X_Y"})],
        "is not a Secret name",
    ),
    (
        "serviceAccounts",
        [authentik_account(credentials={"namespace": "a", "secretName": "x", "key": "a/b"})],
        "is not a Secret key",
    ),
    (
        "serviceAccounts",
        [authentik_account(credentials={"namespace": "a", "secretName": "x", "create": "yes"})],
        "create must be true or false",
    ),
    (
        "serviceAccounts",
        [
            authentik_account(),
            authentik_account(),
        ],
        "appears twice",
    ),
    (
        "serviceAccounts",
        [
            authentik_account(),
            {
                "name": "alerts",
                "email": "noreply@example.com",
                "credentials": {
                    "namespace": "monitoring",
                    "secretName": "alertmanager-smtp",
                    "key": "password",
                    "create": True,
                },
            },
        ],
        "is another account's address",
    ),
    (
        "serviceAccounts",
        [
            authentik_account(),
            {
                "name": "alerts",
                "email": "monitoring@example.com",
                "credentials": {"namespace": "authentik", "secretName": "authentik-credentials"},
            },
        ],
        "already receives another account's password",
    ),
    ("reconcilerImage", "alpine:3.20", "is not a tag of the official python image"),
    ("reconcilerImage", "python:3.9-slim", "the Jobs need 3.11+"),
    ("reconcilerImage", "python", "is not a pinned image"),
    ("cliImage", "ghcr.io/stalwartlabs/cli:1.0.13", "is no longer used"),
    ("reconcilerImage", "python:latest", "is not a pinned image"),
    ("relay", {"username": "%{file:/etc/passwd}%"}, "holds Stalwart's macro syntax"),
    ("relay", {"host": "smtp.resend.com\n"}, "is not a hostname"),
    ("relay", {"port": 25}, "port 25 is blocked"),
    ("relay", {"port": 99999}, "is not a TCP port"),
    ("relay", "smtp.resend.com", "must be an object"),
    ("relay", {"host": "smtp resend"}, "is not a hostname"),
    ("relay", {"port": 70000}, "is not a TCP port"),
    ("relay", {"port": "465"}, "is not a TCP port"),
    ("relay", {"implicitTls": "yes"}, "implicitTls must be true or false"),
    ("relay", {"tls": True}, "unknown field(s) tls"),
    ("dataClaimName", "Data", "is not a Kubernetes name"),
    ("dataClaimName", "Stalwart Data", "is not a Kubernetes name"),
    ("adopt", {"cloudflare": {"resendDkim": "x"}}, "is not an import id"),
    ("adopt", {"kubernetes": "yes"}, "kubernetes must be true or false"),
    ("adopt", "yes", "must be an object"),
    ("adopt", {"flux": True}, "unknown field(s) flux"),
    (
        "adopt",
        {"cloudflare": {"resendDkm": f"{ZONE_ID}/{'0' * 31}1"}},
        "did you mean cloudflare.resendDkim?",
    ),
    (
        "adopt",
        {"cloudflare": {"resendDkim": "00000000000000000000000000000001"}},
        "is not an import id of the form <zone_id>/<record_id>",
    ),
    (
        "adopt",
        {
            "cloudflare": {
                "resendDkim": "99999999999999999999999999999999/00000000000000000000000000000001"
            }
        },
        "belongs to another zone",
    ),
    (
        "adopt",
        {"cloudflare": {"emailRoutingAddress": f"{ZONE_ID}/{'ab' * 16}"}},
        "belongs to another account",
    ),
    (
        "adopt",
        {"cloudflare": {"webmailTunnelConfig": f"{ACCOUNT_ID}/homelab"}},
        "<account_id>/<tunnel_id>",
    ),
    ("runAsUser", "root", "is not a numeric user id"),
    ("runAsUser", "nobody", "is not a numeric user id"),
    ("runAsUser", "-1", "is not a numeric user id"),
    ("smtpClientNamespaces", "all", "must be a list of namespace names"),
    ("smtpClientNamespaces", "authentik", "must be a list of namespace names"),
    ("smtpClientNamespaces", ["Auth"], "must be a list of namespace names"),
    ("ingressNamespaces", [], "must be a list of namespace names (not empty)"),
    ("ingressNamespaces", [], "(not empty)"),
    ("backup", {"snapshotCron": "a b c d e"}, "minute: 'a' is not in 0..59"),
    ("backup", {"snapshotCron": "0 3 * * *\n"}, "is not a five-field cron schedule"),
    ("backup", {"groups": "default"}, "groups must be a list"),
    ("backup", {"snapshotRetain": 1000}, "must be a number from 1 to 100"),
    ("backup", {"snapshotCron": "@daily"}, "is not a five-field cron schedule"),
    ("backup", {"snapshotCron": "daily"}, "is not a five-field cron schedule"),
    ("backup", {"snapshotRetain": 0}, "must be a number from 1 to 100"),
    ("backup", {"backupEnabled": "yes"}, "backupEnabled must be true or false"),
    ("backup", {"keep": 3}, "unknown field(s) keep"),
    ("backup", [], "must be an object"),
    ("upgrade", {"phase": "now"}, "phase 'now' is not one of stop, recover"),
    ("upgrade", "stop", "must be an object with phase"),
    ("upgrade", {"phase": "stop", "claim": "x"}, "unknown field(s) claim"),
    ("upgrade", {"phase": "stop", "claimName": "Data V16"}, "is not a Kubernetes name"),
    ("upgrade", {"phase": "stop"}, "there is nothing to upgrade"),
    ("upgradeExport", PLAINTEXT, "is stored in plaintext in the stack file"),
    ("upgradeExport", Decrypted("not json"), "line 1 of the export is not JSON"),
    ("upgradeExport", Decrypted('{"op": "x"}'), "is not a create or update operation"),
    ("monitoring", {"enabled": "yes"}, "enabled must be true or false"),
    ("monitoring", {"canarySchedule": "hourly"}, "is not a five-field cron schedule"),
    ("monitoring", {"canaryRecipient": "resend"}, "canaryRecipient 'resend' is not an address"),
    ("monitoring", {"namespace": "Monitoring"}, "is not a namespace name"),
    ("monitoring", {"release": "kube prometheus"}, "is not a Helm release name"),
    ("monitoring", {"scrape": "30s"}, "unknown field(s) scrape"),
    ("monitoring", True, "must be an object"),
    (
        "monitoring",
        {"runbookUrl": "http://x/docs/reference/alerts.md"},
        "is not an https URL of docs/reference/alerts.md",
    ),
    (
        "monitoring",
        {"runbookUrl": "https://github.com/o/mailstack/blob/main/RUNBOOK.md"},
        "is RUNBOOK.md, which moved to docs/reference/alerts.md",
    ),
    ("authentik", {"url": "http://auth.example.com"}, "is plain http: the API token travels"),
    ("authentik", {"outpost": "authentik Embedded Outpost"}, "url None is not a string"),
    ("authentik", "https://auth.example.com", "must be an object with at least url"),
    ("authentik", {"url": "https://ak:hunter2@auth.example.com"}, "url holds credentials"),
    (
        "authentik",
        {"url": "https://auth.example.com", "authorizationFlow": "default consent"},
        "is not an Authentik slug",
    ),
    ("authentik", {"url": "https://auth.example.com", "outpost": " "}, "outpost must be a non"),
    (
        "authentik",
        {"url": "https://auth.example.com", "groups": ["mail", "Mail"]},
        "groups must be a list of distinct Authentik group names",
    ),
    ("authentik", {"url": "https://auth.example.com", "flow": "x"}, "unknown field(s) flow"),
    ("adopt", {"authentik": {"provider": "abc"}}, "is not a provider number"),
    ("adopt", {"authentik": {"application": "Web Mail"}}, "is not an application slug"),
    (
        "serviceAccounts",
        [
            {
                **ACCOUNT,
                "credentials": {**CREDENTIALS, "restart": [{"kind": "DaemonSet", "name": "x"}]},
            }
        ],
        "is not one the stack rolls",
    ),
    (
        "serviceAccounts",
        [{**ACCOUNT, "credentials": {**CREDENTIALS, "restart": "authentik-server"}}],
        "credentials.restart must be a list of workloads",
    ),
    ("authMechanisms", ["cram-md5"], "must be a non-empty list of distinct SASL mechanisms"),
    ("authMechanisms", ["oauthbearer"], "offers neither plain nor login"),
    ("authMechanisms", ["plain", "cram-md5"], "must be a non-empty list"),
    ("authMechanisms", [], "must be a non-empty list"),
    ("authMechanisms", ["xoauth2"], "offers neither plain nor login"),
    ("storagesize", "10Gi", "did you mean 'mailstack:storageSize'?"),
    # Every value rule is exact (issue 24 class 5): ASCII digits, no invisible characters in a
    # display field, the precise URL refusal, valid Secret keys, IDN zones in their ASCII form.
    ("runAsUser", "²", "is not a numeric user id"),
    ("runAsUser", "\uff12\uff10\uff10\uff10", "is not a numeric user id"),
    ("runAsUser", "\u0662\u0660\u0660\u0660", "is not a numeric user id"),
    ("backup", {"snapshotCron": "0 ³ * * *"}, "hour: '³' is not in 0..23"),
    ("backup", {"backupCron": "*/\u0665 * * * *"}, "step '\u0665' is not a positive number"),
    ("dmarc", "v=DMARC1; p=none; pct=\u00b9\u2070\u2070", "pct must be a number from 0 to 100"),
    ("dmarc", "v=DMARC1; p=none; ri=8\u0666400", "ri must be a number of seconds"),
    ("image", "stalwartlabs/stalwart:v0.\uff11\uff16", "is not an image reference"),
    ("authentik", {"url": "https://auth.example.com/?next=/"}, "has a query (?...)"),
    ("authentik", {"url": "https://auth.example.com/#top"}, "has a fragment (#...)"),
    ("authentik", {"url": "ftp://auth.example.com"}, "has the scheme 'ftp'"),
    ("authentik", {"url": "auth.example.com"}, "is not a URL (https://auth.example.com)"),
    ("authentik", {"url": "https://auth.example.com:0"}, "has the port '0'"),
    ("authentik", {"url": "https://auth.example.com:\u0664\u0664\u0663"}, "has the port"),
    ("authentik", {"url": "https://Auth.Example.com"}, "has the host 'Auth.Example.com'"),
    ("authentik", {"url": "https://auth.example.com/\u202eevil"}, "invisible character"),
    ("authentik", {"url": "https://auth.example.com/a b"}, "holds a space"),
    (
        "authentik",
        {"url": "https://auth.example.com", "outpost": "authentik\u202e Outpost"},
        "outpost holds the invisible character U+202E",
    ),
    (
        "authentik",
        {"url": "https://auth.example.com", "name": "Webmail\nAdmin"},
        "name holds the invisible character U+000A",
    ),
    (
        "authentik",
        {"url": "https://auth.example.com", "name": "W" * 201},
        "name must be a non-empty name of at most 200 characters",
    ),
    (
        "authentik",
        {"url": "https://auth.example.com", "groups": ["mail\u200busers"]},
        "no invisible character",
    ),
    (
        "authentik",
        {"url": "https://auth.example.com", "groups": ["g" * 151]},
        "at most 150 characters",
    ),
    (
        "serviceAccounts",
        [authentik_account(description="Authentik\r\nBcc: someone")],
        "description holds the invisible character U+000D",
    ),
    (
        "serviceAccounts",
        [authentik_account(description="Authentik\u2066\u202e")],
        "description holds the invisible character U+2066",
    ),
    (
        "serviceAccounts",
        [authentik_account(description="x" * 201)],
        "description must be text of at most 200 characters",
    ),
    (
        "serviceAccounts",
        [authentik_account(credentials={**CREDENTIALS, "key": "."})],
        "credentials.key '.' is not a Secret key",
    ),
    (
        "serviceAccounts",
        [authentik_account(credentials={**CREDENTIALS, "key": ".."})],
        "credentials.key '..' is not a Secret key",
    ),
    (
        "serviceAccounts",
        [authentik_account(credentials={**CREDENTIALS, "key": "..password"})],
        "credentials.key '..password' is not a Secret key",
    ),
    (
        "serviceAccounts",
        [authentik_account(credentials={**CREDENTIALS, "key": "smtp password"})],
        "is not a Secret key",
    ),
    ("domain", "bücher.example", "is an internationalized name; DNS, Cloudflare and Stalwart"),
    ("domain", "example.рф", "is an internationalized name"),
    ("domain", "example.xn--", "is not a domain name"),
    ("domain", "ex\u200bample.com", "holds the invisible character U+200B"),
    # The stack's own objects are not a consumer's (issue 24 class 2).
    (
        "serviceAccounts",
        [
            {
                "name": "webmail",
                "credentials": {"namespace": "stalwart", "secretName": "stalwart-tls"},
            }
        ],
        "stalwart/stalwart-tls is a Secret the stack itself owns or uses",
    ),
    (
        "serviceAccounts",
        [
            {
                "name": "webmail",
                "credentials": {"namespace": "stalwart", "secretName": "mailstack-deployer-token"},
            }
        ],
        "is a Secret the stack itself owns or uses",
    ),
    (
        "serviceAccounts",
        [
            {
                "name": "webmail",
                "credentials": {
                    "namespace": "stalwart",
                    "secretName": "webmail-smtp",
                    "restart": [{"kind": "Deployment", "name": "stalwart"}],
                },
            }
        ],
        "credentials.restart names Deployment stalwart/stalwart, the stack's own workload",
    ),
    (
        "serviceAccounts",
        [
            {
                "name": "webmail",
                "credentials": {
                    "namespace": "stalwart",
                    "secretName": "webmail-smtp",
                    "restart": [{"kind": "Deployment", "name": "stalwart-v016"}],
                },
            }
        ],
        "the stack's own workload (a rotation would restart the mail server)",
    ),
    # Monitoring checks what it claims (issue 24 class 7).
    (
        "monitoring",
        {"enabled": True, "canaryRecipient": "postmaster@example.com"},
        "canaryRecipient 'postmaster@example.com' is inside the zone example.com",
    ),
    (
        "monitoring",
        {"enabled": True, "canaryRecipient": "probe@mail.example.com"},
        "the canary would test the zone's catch-all, not the relay",
    ),
    (
        "monitoring",
        {"enabled": True, "canaryRecipient": "probe@EXAMPLE.COM"},
        "is inside the zone example.com",
    ),
    # An image that receives credentials is the image it claims to be (issue 24 class 1).
    (
        "image",
        "evil.example/stalwartlabs/stalwart:v0.16.18",
        "is not ghcr.io/stalwartlabs/stalwart",
    ),
    ("image", "attacker/stalwart:v0.16.18", "but receives the stack's credentials"),
    ("image", "ghcr.io/attacker/stalwart:v0.16.18", "but receives the stack's credentials"),
    ("image", "stalwartlabs/stalwart-mail:v0.16.18", "but receives the stack's credentials"),
    ("image", "localhost:5000/stalwartlabs/stalwart:v0.16.18", "name your mirror registry"),
    ("image", "quay.io/stalwartlabs/stalwart:v0.16.18", "but receives the stack's credentials"),
    ("image", "stalwartlabs/stalwart:0.16.18", "tag '0.16.18' is not one Stalwart publishes"),
    ("image", "stalwartlabs/stalwart:V0.16.18", "is not a pinned Stalwart release"),
    ("reconcilerImage", "evil.example/python:3.13-slim", "is not python but receives"),
    ("reconcilerImage", "attacker/python:3.13-slim", "is not python but receives"),
    ("reconcilerImage", "ghcr.io/library/python:3.13-slim", "is not python but receives"),
    ("reconcilerImage", "python/python:3.13-slim", "is not python but receives"),
    ("reconcilerImage", "python:v3.13", "is not a tag of the official python image"),
    ("imageMirrors", "registry.lan:5000", "must be a list of at most 10 registries"),
    ("imageMirrors", ["https://registry.lan"], "is not a registry (host[:port][/path])"),
    ("imageMirrors", ["docker.io"], "is a public registry, not a mirror"),
    ("imageMirrors", ["ghcr.io"], "is a public registry, not a mirror"),
    ("imageMirrors", ["index.docker.io/library"], "is a public registry, not a mirror"),
    ("imageMirrors", ["registry.lan/"], "is not a registry"),
    ("imageMirrors", [f"r{n}.lan" for n in range(11)], "at most 10 registries"),
    # Sizes are bounded (issue 24 class 4).
    ("storageSize", "100Ti", "is larger than 64Ti"),
    ("storageSize", "1Ei", "is larger than 64Ti"),
    ("storageSize", "99999999999999999999", "is larger than 64Ti"),
    (
        "serviceAccounts",
        [authentik_account(credentials={**CREDENTIALS, "secretName": ".".join(["a" * 63] * 5)})],
        "is not a Secret name",
    ),
    ("dataClaimName", ".".join(["b" * 63] * 5), "is not"),
    (
        "dmarc",
        "v=DMARC1; p=none; rua=" + ",".join(["mailto:d@example.net"] * 120),
        "longer than 2048",
    ),
    ("adminEmail", "a" * 65 + "@gmail.com", "is not an email address"),
    ("adminEmail", "a@" + "b" * 250 + ".com", "is not an email address"),
    # mailstack:tls (issue 23 item 8); the base stack runs v0.15, which keeps its own certificate.
    ("tls", {"issuer": "letsencrypt"}, "is a Stalwart v0.16 feature here"),
    ("tls", "letsencrypt", "must be an object with at least issuer"),
    ("tls", {"issuer": "Lets Encrypt"}, "is not the name of a cert-manager issuer"),
    # The example stack runs v0.15 on a claim of v0.15 data.
    ("storage", "postgresql", "PostgreSQL storage is built for Stalwart v0.16 only"),
    ("storage", "mysql", "engine 'mysql' is not one of rocksdb, postgresql"),
    ("storage", ["postgresql"], "must be rocksdb, postgresql or an object"),
    ("storage", {"engine": "postgresql", "blobs": "s3"}, "unknown field(s) blobs"),
    ("storage", {"engine": "rocksdb", "size": "20Gi"}, "size apply to postgresql only"),
    ("storage", {"engine": "postgresql", "instances": 0}, "instances 0 is not from 1 to 5"),
    ("storage", {"engine": "postgresql", "instances": "2"}, "instances must be a whole number"),
    ("storage", {"engine": "postgresql", "size": "lots"}, "is not a Kubernetes quantity"),
    ("storage", {"engine": "postgresql", "storageClass": "Fast SSD"}, "is not a Kubernetes name"),
    ("replicas", "2", "2 Stalwart pods need a shared store; RocksDB is one pod's own"),
    ("replicas", "0", "'0' is not a whole number from 1 to 9"),
    ("replicas", "two", "'two' is not a whole number from 1 to 9"),
    ("replicas", "10", "'10' is not a whole number from 1 to 9"),
    ("storageMove", "copy", "must be an object with phase copy"),
    ("storageMove", {"phase": "export"}, "phase 'export' is not one of copy"),
    ("storageMove", {"phase": "copy", "to": "postgresql"}, "unknown field(s) to"),
    ("storageMove", {"phase": "copy"}, "moves the mail to PostgreSQL, but mailstack:storage is"),
]


def bad_settings_table() -> str:
    """The reference page's table as this table makes it (`make docs` writes it between markers)."""
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for key, value, says in REFUSED:
        examples, lines = groups.setdefault(key, ([], []))
        example = _example(value)
        if example and example not in examples and len(examples) < 3:
            examples.append(example)
        if not any(says in line for line in lines):
            lines[:] = [line for line in lines if line not in says] + [says]
    rows = ["| key | bad value (examples) | the line says |", "|---|---|---|"]
    for key, (examples, lines) in groups.items():
        shown = ", ".join(examples) or "(see settings/refused.py)"
        if key in UNKNOWN_KEYS:
            shown = f"any key this program does not know, e.g. {shown}"
        rows.append(f"| `mailstack:{key}` | {_cell(shown)} | {_cell(' / '.join(lines))} |")
    return "\n".join(rows) + "\n"


UNKNOWN_KEYS = {"storagesize"}


def _example(value: Any) -> str | None:
    if value is None:
        return "unset"
    if value == PLAINTEXT:
        return "set without `--secret`"
    if isinstance(value, Decrypted):
        return f"`{value.value}` (with `--secret`)"
    if isinstance(value, Encrypted):
        return "set with `--secret`"
    text = value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))
    if "\n" in text:
        return f"`{text.rstrip(chr(10))}` + a final newline"
    if len(text) > 48:
        return None
    return f"`{text}`" if text else "`''`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
