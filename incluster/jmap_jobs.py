"""The in-cluster Jobs of Stalwart v0.16 (Python standard library only), over JMAP.

    python3 -m incluster.jmap_jobs apply PLAN...  # NDJSON plans, in order (incluster/plan_apply.py)
    python3 -m incluster.jmap_jobs accounts    # the service accounts (the accounts Job)
    python3 -m incluster.jmap_jobs listeners   # after the plan: are 587/993 bound?
    python3 -m incluster.jmap_jobs door        # the recovery admin on, when nobody logs in
    python3 -m incluster.jmap_jobs admin       # the administrator; then the recovery admin off
    python3 -m incluster.jmap_jobs pods-gone   # the upgrade's gate: no v0.15 pod left

Management is `POST /jmap` with `x:<Type>/query|get|set` (crates/jmap/src/registry at v0.16.18),
HTTP Basic as the stack's administrator (an account with the Admin role), or, until that account
exists (a fresh server, the upgrade's recover phase), as Stalwart's recovery admin, which the
server checks before its directory in every mode (crates/common/src/auth/authentication.rs).
Environment:

- ``STALWART_URL`` (the HTTP listener), ``STALWART_ADMIN_USER`` (the administrator's address,
  or ``admin``), ``FALLBACK_ADMIN_USER`` (optional: ``admin``, the recovery admin, tried when the
  first is refused), ``ADMIN_PASSWORD_FILE`` (one trailing newline is stripped; both users
  share the password)
- ``apply``: ``RESTART_AFTER`` (optional: object types Stalwart reads only at start, e.g.
  ``Coordinator``; when the plan wrote one, the pods of ``POD_SELECTOR`` are deleted)
- ``door`` and ``admin``: ``ADMIN_HASH_FILE`` (the password's hash, which the account stores),
  ``BOOTSTRAP_SECRET`` and ``BOOTSTRAP_KEY`` (the Secret key the pod reads
  ``STALWART_RECOVERY_ADMIN`` from, optionally), ``POD_SELECTOR``, ``POD_NAMESPACE``
- ``accounts``: ``ACCOUNTS_FILE``, JSON ``{"domain": "example.com", "accounts": [{"name",
  "email", "description", "secretHash"}]}``
- ``listeners``: ``LISTENER_PORTS`` (``587,993``), ``POD_SELECTOR`` (the Deployment's pods),
  ``POD_NAMESPACE``; the Kubernetes API from the pod's service account (or ``KUBE_API_URL``,
  ``KUBE_TOKEN_FILE``, ``KUBE_CA_FILE``)
- bounds: ``READY_TIMEOUT_SECONDS`` (300), ``REQUEST_TIMEOUT_SECONDS`` (10), ``AUTH_RETRIES`` (5)

Accounts this tool manages carry ``[managed by mailstack; credential <fingerprint>]`` at the end
of their description; the fingerprint (16 hex of SHA-256 of the stored hash) tells whether the
password changed, so credentials are rewritten only then (a rewrite replaces the whole credential
list, app passwords included). Only managed `User` accounts of the domain that are no longer
listed are destroyed (destroying an account destroys its mail); names compare case-insensitively.
Exit 0 on success, 1 on failure; the last line summarises the run and never holds a secret.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import socket
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from incluster.accounts_file import Account, fingerprint, parse_accounts
from incluster.client import (
    Client,
    ClientError,
    Redactor,
    Unreachable,
    basic,
    positive_number,
    read_text,
)
from incluster.plan_apply import Applier, Server, parse_plan

USING = ["urn:ietf:params:jmap:core", "urn:stalwart:jmap"]
MARKER = "managed by mailstack"
_MANAGED_RE = re.compile(r"\[managed by mailstack(?:; credential ([0-9a-f]{16}))?\]\s*$")
ADMIN_MARKER = "mailstack administrator"
_ADMIN_RE = re.compile(r"\[mailstack administrator; credential ([0-9a-f]{16})\]\s*$")
# What the administrator never needs: the Jobs speak JMAP management only. Disabled even though
# the Admin role grants them (x:PermissionsList.disabledPermissions takes precedence), so a
# leaked password neither reads nor sends mail, nor acts as another user.
ADMIN_DISABLED = (
    "impersonate",
    "emailSend",
    "emailReceive",
    "imapAuthenticate",
    "pop3Authenticate",
    "sieveAuthenticate",
)
PAGE = 100
MAX_OBJECTS = 10_000
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

Log = Callable[[str], None]
Sleep = Callable[[float], None]


def _print(line: str) -> None:
    print(line, flush=True)


def managed_description(description: str, secret_hash: str) -> str:
    tag = f"[{MARKER}; credential {fingerprint(secret_hash)}]"
    description = _MANAGED_RE.sub("", description).strip()
    return f"{description} {tag}" if description else tag


def managed_fingerprint(description: object) -> str | None:
    """`""` for a managed account without a fingerprint, None for one this tool did not make."""
    if not isinstance(description, str):
        return None
    match = _MANAGED_RE.search(description)
    return None if match is None else (match.group(1) or "")


@dataclass
class Summary:
    created: int = 0
    updated: int = 0
    credentials: int = 0
    unchanged: int = 0
    deleted: int = 0

    def counts(self) -> str:
        return (
            f"created={self.created} updated={self.updated} credentials={self.credentials} "
            f"unchanged={self.unchanged} deleted={self.deleted}"
        )


class Jmap(Server):
    """`x:` method calls, bounded in count and time; JMAP errors become ClientErrors."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def call(
        self, calls: list[list[object]], created: Mapping[str, str] | None = None
    ) -> list[list[object]]:
        """`created`: client id -> server id, sent as the request's `createdIds` so that
        `#clientId` references in the arguments resolve (RFC 8620 section 3.3)."""
        names = ", ".join(str(call[0]) for call in calls)
        request: dict[str, object] = {"using": USING, "methodCalls": calls}
        if created:
            request["createdIds"] = dict(created)
        document = self.client.json(
            f"POST /jmap ({names})", self.client.send("POST", "/jmap", request)
        )
        responses = document.get("methodResponses") if isinstance(document, dict) else None
        if not isinstance(responses, list) or len(responses) != len(calls):
            raise ClientError(f"POST /jmap ({names}): not a JMAP response")
        for response, call in zip(responses, calls, strict=True):
            if not isinstance(response, list) or len(response) != 3:
                raise ClientError(f"{call[0]}: malformed method response")
            if response[0] == "error":
                detail = response[1] if isinstance(response[1], dict) else {}
                raise ClientError(
                    f"{call[0]}: {detail.get('type')}: "
                    f"{self.client.redact(str(detail.get('description', '')))[:200]}"
                )
        return responses

    def query(self, object_type: str, condition: dict[str, object]) -> list[str]:
        """Every id the filter selects, page by page, at most MAX_OBJECTS."""
        ids: list[str] = []
        while len(ids) < MAX_OBJECTS:
            args = {"filter": condition, "position": len(ids), "limit": PAGE}
            ((_, result, _),) = self.call([[f"x:{object_type}/query", args, "q"]])
            page = result.get("ids") if isinstance(result, dict) else None
            if not isinstance(page, list) or not all(isinstance(i, str) for i in page):
                raise ClientError(f"x:{object_type}/query: no id list")
            ids += page
            if len(page) < PAGE:
                return ids
        raise ClientError(f"x:{object_type}/query: more than {MAX_OBJECTS} objects")

    def get(
        self, object_type: str, ids: list[str], properties: list[str]
    ) -> list[dict[str, object]]:
        found: list[dict[str, object]] = []
        for start in range(0, len(ids), PAGE):
            args = {"ids": ids[start : start + PAGE], "properties": properties}
            ((_, result, _),) = self.call([[f"x:{object_type}/get", args, "g"]])
            items = result.get("list") if isinstance(result, dict) else None
            if not isinstance(items, list):
                raise ClientError(f"x:{object_type}/get: no list")
            found += [item for item in items if isinstance(item, dict)]
        return found

    def get_all(self, object_type: str, ids: list[str]) -> list[dict[str, object]]:
        """Every property of the objects (no `properties`: the server returns them all)."""
        found: list[dict[str, object]] = []
        for start in range(0, len(ids), PAGE):
            args = {"ids": ids[start : start + PAGE]}
            ((_, result, _),) = self.call([[f"x:{object_type}/get", args, "g"]])
            items = result.get("list") if isinstance(result, dict) else None
            if not isinstance(items, list):
                raise ClientError(f"x:{object_type}/get: no list")
            found += [item for item in items if isinstance(item, dict)]
        return found

    def set(
        self,
        object_type: str,
        what: str,
        args: dict[str, object],
        created: Mapping[str, str] | None = None,
    ) -> dict[str, object]:
        ((_, result, _),) = self.call([[f"x:{object_type}/set", args, "s"]], created)
        if not isinstance(result, dict):
            raise ClientError(f"{what}: malformed answer")
        for failed in ("notCreated", "notUpdated", "notDestroyed"):
            errors = result.get(failed)
            if isinstance(errors, dict) and errors:
                error = next(iter(errors.values()))
                kind = error.get("type") if isinstance(error, dict) else error
                text = error.get("description", "") if isinstance(error, dict) else ""
                raise ClientError(f"{what}: {kind}: {self.client.redact(str(text))[:200]}")
        return result


def probe(jmap: Jmap) -> int:
    """The status Stalwart answers this client's credentials with (200 or 401)."""
    response = jmap.client.send(
        "POST", "/jmap", {"using": USING, "methodCalls": [["x:Domain/query", {}, "p"]]}
    )
    if response.status != 401:
        jmap.client.json("POST /jmap", response)
    return response.status


def wait_until_ready(
    admins: Sequence[Jmap], timeout: float, auth_retries: int, sleep: Sleep, log: Log
) -> Jmap:
    """Until `/healthz/ready` answers and one of `admins` (tried in order) is accepted, with
    backoff; returns that one."""
    deadline = time.monotonic() + timeout
    delay, refused, attempt = 1.0, 0, 0
    while True:
        attempt += 1
        try:
            health = admins[0].client.send("GET", "/healthz/ready", auth=False)
            if health.status != 200:
                raise Unreachable(f"GET /healthz/ready: HTTP {health.status}")
            for jmap in admins:
                if probe(jmap) != 401:
                    log(f"stalwart ready at {jmap.client.origin} (attempt {attempt})")
                    return jmap
            refused += 1
            if refused >= auth_retries:
                raise ClientError(
                    f"the admin credentials were refused {refused} times (HTTP 401): does "
                    "mailstack:adminPassword still match the administrator's password? "
                    "(docs/how-to/troubleshoot.md)"
                )
            raise Unreachable("HTTP 401 for the admin credentials (pod may still be rolling)")
        except Unreachable as err:
            reason = str(err)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ClientError(f"Stalwart not ready after {timeout:g}s; last problem: {reason}")
        log(f"waiting for stalwart: {reason}")
        sleep(min(delay, remaining))
        delay = min(delay * 2, 10.0)


def domain_id(jmap: Jmap, domain: str) -> str:
    ids = jmap.query("Domain", {"name": domain})
    if len(ids) != 1:
        raise ClientError(f"domain {domain!r}: {len(ids)} found (the apply Job creates it)")
    return ids[0]


def _user_body(account: Account, domain_ref: str, domain: str) -> dict[str, object]:
    body: dict[str, object] = {
        "@type": "User",
        "name": account.name,
        "domainId": domain_ref,
        "description": managed_description(account.description, account.secret_hash),
        "roles": {"@type": "User"},
        "credentials": {"0": {"@type": "Password", "secret": account.secret_hash}},
    }
    local = account.email.rpartition("@")[0]
    if local and local != account.name and account.email.endswith("@" + domain):
        # The sender must be the account's address or an alias (MtaStageAuth.mustMatchSender).
        body["aliases"] = {"0": {"name": local, "domainId": domain_ref}}
    return body


def _alias_names(aliases: object) -> set[tuple[object, object]]:
    """The (name, domainId) pairs of an alias list: the server adds `enabled` and
    `description` to each alias it stores (seen on the real v0.16.18), which must not make
    every run rewrite the account."""
    items = aliases.values() if isinstance(aliases, dict) else []
    return {(a.get("name"), a.get("domainId")) for a in items if isinstance(a, dict)}


def sync_accounts(
    jmap: Jmap, domain: str, accounts: Sequence[Account], summary: Summary, log: Log
) -> None:
    """Creates and updates the listed accounts, then destroys managed ones no longer listed."""
    domain_ref = domain_id(jmap, domain)
    ids = jmap.query("Account", {"domainId": domain_ref})
    existing = jmap.get("Account", ids, ["name", "@type", "description", "aliases"])
    by_name = {str(item.get("name", "")).lower(): item for item in existing}
    for account in accounts:
        body = _user_body(account, domain_ref, domain)
        current = by_name.get(account.name.lower())
        if current is None:
            jmap.set("Account", f"create account {account.name!r}", {"create": {"new": body}})
            summary.created += 1
            log(f"account {account.name}: created")
            continue
        if current.get("@type") != "User":
            raise ClientError(
                f"account {account.name!r} exists as a {current.get('@type')!r}; not touching it"
            )
        if _ADMIN_RE.search(str(current.get("description") or "")):
            raise ClientError(f"account {account.name!r} is the administrator; not touching it")
        patch: dict[str, object] = {}
        if current.get("description") != body["description"]:
            patch["description"] = body["description"]
        if managed_fingerprint(current.get("description")) != fingerprint(account.secret_hash):
            patch["credentials"] = body["credentials"]
        if "aliases" in body and _alias_names(current.get("aliases")) != _alias_names(
            body["aliases"]
        ):
            patch["aliases"] = body["aliases"]
        if not patch:
            summary.unchanged += 1
            log(f"account {account.name}: unchanged")
            continue
        jmap.set("Account", f"update account {account.name!r}", {"update": {current["id"]: patch}})
        summary.updated += 1
        summary.credentials += "credentials" in patch
        log(f"account {account.name}: updated ({', '.join(sorted(patch))})")
    wanted = {account.name.lower() for account in accounts}
    for item in existing:
        name = str(item.get("name", ""))
        if (
            item.get("@type") != "User"
            or name.lower() in wanted
            or managed_fingerprint(item.get("description")) is None
        ):
            continue
        jmap.set("Account", f"destroy account {name!r}", {"destroy": [item["id"]]})
        summary.deleted += 1
        log(f"account {name}: destroyed (managed by mailstack, no longer listed)")


def admin_body(name: str, domain_ref: str, secret_hash: str) -> dict[str, object]:
    """The stack's administrator: the Admin role, less what the Jobs never need."""
    return {
        "@type": "User",
        "name": name,
        "domainId": domain_ref,
        "description": (
            f"mailstack's Jobs [{ADMIN_MARKER}; credential {fingerprint(secret_hash)}]"
        ),
        "roles": {"@type": "Admin"},
        "permissions": {
            "@type": "Merge",
            "enabledPermissions": {},
            "disabledPermissions": {permission: True for permission in ADMIN_DISABLED},
        },
        "credentials": {"0": {"@type": "Password", "secret": secret_hash}},
    }


def _disabled(permissions: object) -> tuple[object, set[str]]:
    if not isinstance(permissions, dict):
        return None, set()
    disabled = permissions.get("disabledPermissions")
    return permissions.get("@type"), set(disabled) if isinstance(disabled, dict) else set()


def ensure_admin(jmap: Jmap, address: str, secret_hash: str, log: Log, reset: bool = False) -> str:
    """Creates the administrator `address` or brings it to `admin_body`; its credentials are
    rewritten when the password changed (the fingerprint in its description) or with `reset`
    (the administrator refused the stack's password: changed by hand in the WebUI)."""
    name, _, domain = address.partition("@")
    domain_ref = domain_id(jmap, domain)
    body = admin_body(name, domain_ref, secret_hash)
    ids = jmap.query("Account", {"domainId": domain_ref})
    existing = jmap.get("Account", ids, ["name", "@type", "description", "roles", "permissions"])
    current = next(
        (item for item in existing if str(item.get("name", "")).lower() == name.lower()), None
    )
    if current is None:
        jmap.set("Account", f"create the administrator {name!r}", {"create": {"admin": body}})
        return f"administrator {address}: created"
    match = _ADMIN_RE.search(str(current.get("description") or ""))
    if current.get("@type") != "User" or match is None:
        raise ClientError(
            f"account {address!r} exists and is not mailstack's administrator; rename or "
            "remove it (it was not made by this stack)"
        )
    patch: dict[str, object] = {}
    if current.get("description") != body["description"]:
        patch["description"] = body["description"]
    if reset or match.group(1) != fingerprint(secret_hash):
        patch["credentials"] = body["credentials"]
    if current.get("roles") != body["roles"]:
        patch["roles"] = body["roles"]
    if _disabled(current.get("permissions")) != _disabled(body["permissions"]):
        patch["permissions"] = body["permissions"]
    if not patch:
        return f"administrator {address}: unchanged"
    jmap.set("Account", f"update the administrator {name!r}", {"update": {current["id"]: patch}})
    log(f"administrator {address}: updated ({', '.join(sorted(patch))})")
    return f"administrator {address}: updated"


def port_open(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def status_without_credentials(host: str, port: int, path: str, timeout: float) -> int:
    """The status Stalwart answers a GET of `path` that carries no credentials and no forwarded
    address (a forwarded loopback address would pass allowedEndpoints, http/src/request.rs)."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        reply = connection.getresponse()
        reply.read(4096)
        return reply.status
    except (OSError, http.client.HTTPException) as err:
        raise ClientError(f"GET {path} on port {port}: {type(err).__name__}") from None
    finally:
        connection.close()


def check_metrics_guard(
    host: str, metrics_port: int, metrics_path: str, http_port: int, timeout: float
) -> str:
    """The metrics listener serves only `metrics_path`, and only with the password; the web
    listener never serves it. Stalwart serves /metrics unauthenticated when the password file
    was unreadable at start (crates/common/src/config/telemetry.rs), so this is read back."""
    expected = (
        (metrics_port, metrics_path, 401, "serves the metrics without the password"),
        (metrics_port, "/", 403, "serves other paths than the metrics"),
        (metrics_port, "/jmap/session", 403, "serves other paths than the metrics"),
        (http_port, metrics_path, 403, "serves the metrics on the web listener"),
    )
    for port, path, status, problem in expected:
        got = status_without_credentials(host, port, path, timeout)
        if got != status:
            raise ClientError(
                f"port {port} {problem} (GET {path} without credentials: HTTP {got}, not "
                f"{status}); check the pod's Secret has its metrics key and the Http object's "
                "allowedEndpoints"
            )
    return f"metrics guarded: {metrics_port} answers 401 without the password and 403 elsewhere"


def kube_client(env: Mapping[str, str], redact: Redactor, timeout: float) -> Client:
    """The Kubernetes API as the pod's service account (or ``KUBE_API_URL``,
    ``KUBE_TOKEN_FILE``, ``KUBE_CA_FILE``)."""
    token_file = env.get("KUBE_TOKEN_FILE", f"{SERVICE_ACCOUNT_DIR}/token")
    url = env.get("KUBE_API_URL") or (
        f"https://{env.get('KUBERNETES_SERVICE_HOST', '')}:"
        f"{env.get('KUBERNETES_SERVICE_PORT', '443')}"
    )
    token = read_text(token_file, "the service account token").strip()
    return Client(
        url,
        f"Bearer {token}",
        redact,
        timeout=timeout,
        ca_file=env.get("KUBE_CA_FILE", f"{SERVICE_ACCOUNT_DIR}/ca.crt"),
    )


class Pods:
    """The Deployment's pods through the Kubernetes API (list and delete in one namespace)."""

    def __init__(self, env: Mapping[str, str], redact: Redactor, timeout: float) -> None:
        self.client = kube_client(env, redact, timeout)
        self.namespace = env.get("POD_NAMESPACE", "")
        self.selector = env.get("POD_SELECTOR", "")
        if not self.namespace or not self.selector:
            raise ClientError("POD_NAMESPACE and POD_SELECTOR must both be set")

    def _base(self) -> str:
        return f"/api/v1/namespaces/{urllib.parse.quote(self.namespace)}/pods"

    def names(self) -> list[str]:
        """The pods the selector matches, terminating ones included."""
        query = urllib.parse.urlencode({"labelSelector": self.selector})
        listing = self.client.json("list pods", self.client.send("GET", f"{self._base()}?{query}"))
        items = listing.get("items") if isinstance(listing, dict) else None
        if not isinstance(items, list):
            raise ClientError("list pods: no item list")
        return [
            str(item["metadata"]["name"])
            for item in items
            if isinstance(item, dict) and isinstance(item.get("metadata"), dict)
        ]

    def restart(self) -> list[str]:
        base = self._base()
        names = self.names()
        for name in names:
            self.client.json(
                f"delete pod {name}",
                self.client.send("DELETE", f"{base}/{urllib.parse.quote(name)}"),
            )
        return names


class BootstrapKey:
    """The one key of the one Secret the pod reads `STALWART_RECOVERY_ADMIN` from (optional:
    without it the recovery admin is off). The Job's Role grants get and patch on that Secret
    alone; the stack ignores changes to its data, so a removed key stays removed."""

    def __init__(self, env: Mapping[str, str], redact: Redactor, timeout: float) -> None:
        self.client = kube_client(env, redact, timeout)
        namespace, name = env.get("POD_NAMESPACE", ""), env.get("BOOTSTRAP_SECRET", "")
        self.key = env.get("BOOTSTRAP_KEY", "")
        if not namespace or not name or not self.key:
            raise ClientError("POD_NAMESPACE, BOOTSTRAP_SECRET and BOOTSTRAP_KEY must be set")
        self.name = name
        self.path = (
            f"/api/v1/namespaces/{urllib.parse.quote(namespace)}/secrets/{urllib.parse.quote(name)}"
        )

    def present(self) -> bool:
        response = self.client.send("GET", self.path)
        if response.status == 404:
            return False
        secret = self.client.json(f"get secret {self.name}", response)
        data = secret.get("data") if isinstance(secret, dict) else None
        return isinstance(data, dict) and self.key in data

    def open(self, value: str) -> None:
        """Writes the key (a JSON merge patch, RFC 7386)."""
        encoded = base64.b64encode(value.encode()).decode()
        self.client.json(
            f"patch secret {self.name}",
            self.client.send(
                "PATCH",
                self.path,
                {"data": {self.key: encoded}},
                content_type="application/merge-patch+json",
            ),
        )

    def remove(self) -> None:
        """A JSON merge patch (RFC 7386) that drops the key: idempotent."""
        self.client.json(
            f"patch secret {self.name}",
            self.client.send(
                "PATCH",
                self.path,
                {"data": {self.key: None}},
                content_type="application/merge-patch+json",
            ),
        )


def wait_healthy(jmap: Jmap, timeout: float, sleep: Sleep, log: Log) -> None:
    """Until `/healthz/ready` answers 200 (no credentials)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            health = jmap.client.send("GET", "/healthz/ready", auth=False)
            if health.status == 200:
                return
            reason = f"GET /healthz/ready: HTTP {health.status}"
        except Unreachable as err:
            reason = str(err)
        if time.monotonic() >= deadline:
            raise ClientError(f"Stalwart not ready after {timeout:g}s; last problem: {reason}")
        log(f"waiting for stalwart: {reason}")
        sleep(2.0)


def open_recovery_admin(
    admin: Jmap,
    recovery: Jmap,
    key: BootstrapKey,
    secret_hash: str,
    pods: Callable[[], Pods],
    timeout: float,
    sleep: Sleep,
    log: Log,
) -> str:
    """When the password is accepted by neither the administrator nor the recovery admin (a
    fresh server, a new password): the key `admin:<hash>`, and Stalwart restarted on it."""
    wait_healthy(admin, timeout, sleep, log)
    if probe(admin) == 200:
        return "recovery admin: not needed, the administrator is accepted"
    if probe(recovery) == 200:
        return "recovery admin: open"
    key.open(f"admin:{secret_hash}")
    restarted = pods().restart()
    log(f"recovery admin: key written, restarting {', '.join(restarted) or 'nothing'} on it")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sleep(2.0)
        try:
            if probe(recovery) == 200:
                return "recovery admin: open after the restart"
        except Unreachable as err:
            log(f"waiting for stalwart: {err}")
    raise ClientError(
        f"the recovery admin is still refused {timeout:g}s after the restart: does the pod read "
        f"STALWART_RECOVERY_ADMIN from {key.name}?"
    )


def close_recovery_admin(
    admin: Jmap,
    recovery: Jmap,
    key: BootstrapKey,
    pods: Callable[[], Pods],
    timeout: float,
    sleep: Sleep,
    log: Log,
) -> str:
    """Once the administrator is accepted: the bootstrap key is removed and, while the running
    server still accepts the recovery admin (it reads the variable only at start), Stalwart is
    restarted; then the recovery admin must be refused."""
    if probe(admin) != 200:
        raise ClientError("the administrator's credentials are refused; the recovery admin stays")
    if key.present():
        key.remove()
        log(f"recovery admin: key {key.key} removed from secret {key.name}")
    if probe(recovery) == 401:
        return "recovery admin: off"
    restarted = pods().restart()
    log(f"recovery admin: restarting {', '.join(restarted) or 'nothing'} without it")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sleep(2.0)
        try:
            if probe(recovery) == 401 and probe(admin) == 200:
                return "recovery admin: off after the restart"
        except Unreachable as err:
            log(f"waiting for stalwart: {err}")
    raise ClientError(
        f"the recovery admin is still accepted {timeout:g}s after the restart: does the pod "
        f"still read {key.key} from another Secret?"
    )


def ensure_listeners(
    jmap: Jmap, pods: Callable[[], Pods], ports: list[int], timeout: float, sleep: Sleep, log: Log
) -> str:
    """Stalwart binds listener sockets only at start: restart it when a declared one is closed."""
    host = urllib.parse.urlsplit(jmap.client.origin).hostname or ""
    closed = [port for port in ports if not port_open(host, port, jmap.client.timeout)]
    if not closed:
        return "listeners ok: " + ", ".join(map(str, ports)) + " accepting"
    log(f"not accepting on {closed}: restarting Stalwart so that it binds the new listeners")
    restarted = pods().restart()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sleep(2.0)
        if all(port_open(host, port, jmap.client.timeout) for port in ports):
            return f"listeners ok after restarting {', '.join(restarted) or 'nothing'}"
    raise ClientError(f"after a restart, port(s) {closed} still refuse connections")


def wait_pods_gone(pods: Pods, timeout: float, sleep: Sleep, log: Log) -> str:
    """Until no pod matches: a pod is listed until its containers have exited."""
    deadline = time.monotonic() + timeout
    while True:
        left = pods.names()
        if not left:
            return "pods gone: none matches " + pods.selector
        if time.monotonic() >= deadline:
            raise ClientError(f"still running after {timeout:g}s: {', '.join(left)}")
        log(f"waiting for {', '.join(left)} to stop")
        sleep(2.0)


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    sleep: Sleep = time.sleep,
) -> int:
    parser = argparse.ArgumentParser(description="Stalwart v0.16 in-cluster jobs")
    parser.add_argument(
        "command", choices=["apply", "accounts", "door", "admin", "listeners", "pods-gone"]
    )
    parser.add_argument("plans", nargs="*", help="apply: NDJSON plan files, applied in order")
    parser.add_argument(
        "--recovery",
        action="store_true",
        help="apply: the server runs in recovery mode; write every declared singleton whole",
    )
    parsed = parser.parse_intermixed_args(argv)
    command = parsed.command
    env = os.environ if env is None else env
    redact = Redactor()
    summary = Summary()
    try:
        if command == "pods-gone":
            timeout = positive_number(
                env.get("READY_TIMEOUT_SECONDS"), 480.0, "READY_TIMEOUT_SECONDS"
            )
            _print(wait_pods_gone(Pods(env, redact, 10.0), timeout, sleep, _print))
            return 0
        password = read_text(env.get("ADMIN_PASSWORD_FILE", ""), "ADMIN_PASSWORD_FILE")
        password = password.removesuffix("\n").removesuffix("\r")
        if not password:
            raise ClientError("ADMIN_PASSWORD_FILE is empty")
        redact.add(password)
        ready = positive_number(env.get("READY_TIMEOUT_SECONDS"), 300.0, "READY_TIMEOUT_SECONDS")
        request = positive_number(
            env.get("REQUEST_TIMEOUT_SECONDS"), 10.0, "REQUEST_TIMEOUT_SECONDS"
        )
        retries = int(positive_number(env.get("AUTH_RETRIES"), 5.0, "AUTH_RETRIES"))
        url = env.get("STALWART_URL", "")
        users = [env.get("STALWART_ADMIN_USER", "").strip() or "admin"]
        fallback = env.get("FALLBACK_ADMIN_USER", "").strip()
        if fallback and fallback != users[0]:
            users.append(fallback)
        admins = [Jmap(Client(url, basic(u, password), redact, timeout=request)) for u in users]
        client = admins[0].client
        if command == "apply":
            plans = [(path, parse_plan(read_text(path, path), path)) for path in parsed.plans]
            if not plans:
                raise ClientError("apply needs at least one plan file")
            jmap = wait_until_ready(admins, ready, retries, sleep, _print)
            applier = Applier(jmap, _print, recovery=parsed.recovery)
            for path, operations in plans:
                _print(f"applying {path} ({len(operations)} operations)")
                applier.apply(operations)
            result = f"plan applied: {applier.tally.counts()}"
            boot_only = {t for t in env.get("RESTART_AFTER", "").split(",") if t.strip()}
            if boot_only & applier.tally.written:
                # Read only at start (the Coordinator, crates/common/src/manager/boot.rs):
                # every pod starts again on what the plan now says.
                _print(result)
                names = Pods(env, redact, request).restart()
                written = ", ".join(sorted(boot_only & applier.tally.written))
                result = f"restarted {', '.join(names) or 'nothing'}: {written} changed"
        elif command == "accounts":
            desired = parse_accounts(
                _json(read_text(env.get("ACCOUNTS_FILE", ""), "ACCOUNTS_FILE"))
            )
            for account in desired.accounts:
                redact.add(account.secret_hash)
            jmap = wait_until_ready(admins, ready, retries, sleep, _print)
            sync_accounts(jmap, desired.domain, desired.accounts, summary, _print)
            result = f"accounts ok: {summary.counts()}"
        elif command in ("door", "admin"):
            if len(admins) != 2 or "@" not in users[0]:
                raise ClientError(
                    "admin needs STALWART_ADMIN_USER (the administrator's address) and "
                    "FALLBACK_ADMIN_USER (the recovery admin)"
                )
            secret_hash = read_text(env.get("ADMIN_HASH_FILE", ""), "ADMIN_HASH_FILE").strip()
            if not secret_hash.startswith("$"):
                raise ClientError("ADMIN_HASH_FILE does not hold a crypt(3) hash")
            redact.add(secret_hash)
            key = BootstrapKey(env, redact, request)
            if command == "door":
                result = open_recovery_admin(
                    admins[0],
                    admins[1],
                    key,
                    secret_hash,
                    lambda: Pods(env, redact, request),
                    ready,
                    sleep,
                    _print,
                )
                _print(result)
                return 0
            jmap = wait_until_ready(admins, ready, retries, sleep, _print)
            # Logged in as the recovery admin: the administrator refused the stack's password.
            reset = jmap is not admins[0]
            _print(ensure_admin(jmap, users[0], secret_hash, _print, reset=reset))
            result = close_recovery_admin(
                admins[0], admins[1], key, lambda: Pods(env, redact, request), ready, sleep, _print
            )
        else:
            ports = [int(p) for p in env.get("LISTENER_PORTS", "").split(",") if p.strip()]
            jmap = wait_until_ready(admins, ready, retries, sleep, _print)
            result = ensure_listeners(
                jmap, lambda: Pods(env, redact, request), ports, ready, sleep, _print
            )
            if env.get("METRICS_PORT"):
                _print(result)
                origin = urllib.parse.urlsplit(client.origin)
                result = check_metrics_guard(
                    origin.hostname or "",
                    int(env["METRICS_PORT"]),
                    env.get("METRICS_PATH", "/metrics/prometheus"),
                    origin.port or 80,
                    request,
                )
    except (ClientError, ValueError) as err:
        counts = f"; {summary.counts()}" if command == "accounts" else ""
        print(f"{command} failed: {redact(str(err))}{counts}", file=sys.stderr)
        return 1
    except Exception as err:  # a bug must still end in one safe line and exit 1
        print(
            f"{command} failed: unexpected {type(err).__name__}: {redact(str(err))[:200]}",
            file=sys.stderr,
        )
        return 1
    _print(result)
    return 0


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        raise ClientError("ACCOUNTS_FILE is not valid JSON") from None


if __name__ == "__main__":
    sys.exit(main())
