"""Reconciles Stalwart v0.15 service accounts with a desired list (Python standard library only).

Runs as a Kubernetes Job after the Stalwart Deployment is ready. Environment:

- ``STALWART_URL``: base URL of the HTTP listener, e.g. ``http://stalwart.stalwart.svc.cluster.local:8080``
- ``STALWART_ADMIN_USER``: management user (default ``admin``)
- ``ADMIN_PASSWORD_FILE``: file holding that user's password (one trailing newline is stripped)
- ``ACCOUNTS_FILE``: JSON ``{"domain": "example.com", "accounts": [{"name": "noreply",
  "email": "noreply@example.com", "description": "Authentik", "secretHash": "$6$..."}]}``
- ``READY_TIMEOUT_SECONDS``: how long to wait for Stalwart to answer (default 300)
- optional tuning: ``RETRY_INITIAL_SECONDS`` (1), ``RETRY_MAX_SECONDS`` (10),
  ``REQUEST_TIMEOUT_SECONDS`` (10), ``AUTH_RETRIES`` (5)

Accounts this tool manages carry ``MARKER`` at the end of their description; a marked account that
is no longer desired is deleted, unmarked (hand-made) accounts are never touched unless desired.
Secrets (password, hashes, the Authorization header) are never printed, not even in errors.
Exit code 0 on success, 1 on failure; the last line of output summarises the run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from incluster.accounts_file import Account, Desired, parse_accounts
from incluster.client import (
    EXCERPT_CHARS,
    Client,
    ClientError,
    Redactor,
    Response,
    Unreachable,
    basic,
    positive_number,
    read_text,
)

MARKER = "[managed by mailstack]"
USER_ROLE = "user"
LIST_PAGE_SIZE = 100
MAX_PAGES = 1000

Sleep = Callable[[float], None]
Clock = Callable[[], float]
Log = Callable[[str], None]


# Failures are the bounded client's: ClientError (a message safe to print, naming the
# operation and never a secret) and its Unreachable (no answer yet: refused, timeout, 5xx, 429).


class AuthRefusedError(ClientError):
    """Stalwart answered 401 to the management credentials."""


@dataclass
class Summary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    domain_created: bool = False

    def counts(self) -> str:
        return (
            f"created={self.created} updated={self.updated} unchanged={self.unchanged} "
            f"deleted={self.deleted} domain_created={'yes' if self.domain_created else 'no'}"
        )


@dataclass(frozen=True)
class Timing:
    ready_timeout: float = 300.0
    retry_initial: float = 1.0
    retry_max: float = 10.0
    request_timeout: float = 10.0
    auth_retries: int = 5
    sleep: Sleep = time.sleep
    clock: Clock = time.monotonic


def _print(line: str) -> None:
    print(line, flush=True)


def managed_description(description: str) -> str:
    description = description.strip()
    if description.endswith(MARKER):
        return description
    return f"{description} {MARKER}" if description else MARKER


def is_managed(description: object) -> bool:
    return isinstance(description, str) and description.rstrip().endswith(MARKER)


class StalwartClient(Client):
    """The Stalwart v0.15 management API over the bounded client (incluster/client.py): Basic
    auth to the configured origin only, no redirect followed, every exchange bounded."""

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        request_timeout: float = 10.0,
        redactor: Redactor | None = None,
    ) -> None:
        redact = redactor or Redactor()
        redact.add(password)
        super().__init__(base_url, basic(user, password), redact, timeout=request_timeout)
        self.user = user

    def call(
        self,
        operation: str,
        method: str,
        path: str,
        body: object = None,
        *,
        allow_not_found: bool = False,
    ) -> dict[str, object] | None:
        """Calls the API and returns the JSON object, or None for an expected notFound.

        Any non-2xx status and any HTTP-200 body with an "error" tag is a ClientError whose
        message names `operation` (which names the account) and carries a redacted excerpt.
        """
        return self.check(operation, self.send(method, path, body), allow_not_found)

    def check(
        self, operation: str, response: Response, allow_not_found: bool = False
    ) -> dict[str, object] | None:
        if response.status == 401:
            raise AuthRefusedError(f"{operation}: HTTP 401, the admin credentials were refused")
        if not 200 <= response.status < 300:
            raise ClientError(
                f"{operation}: HTTP {response.status}: {self.excerpt(response.body) or '(empty)'}"
            )
        try:
            parsed: object = json.loads(response.body or b"null")
        except ValueError:
            raise ClientError(
                f"{operation}: HTTP {response.status} with a non-JSON body: "
                f"{self.excerpt(response.body)}"
            ) from None
        if not isinstance(parsed, dict):
            raise ClientError(f"{operation}: unexpected response {self.excerpt(response.body)}")
        reply: dict[str, object] = parsed
        if "error" in reply:
            if allow_not_found and reply.get("error") == "notFound":
                return None
            raise ClientError(
                f"{operation}: Stalwart answered error {reply.get('error')!r}: "
                f"{self.excerpt(response.body)}"
            )
        return reply


def _path(name: str) -> str:
    return "/api/principal/" + urllib.parse.quote(name, safe="")


def _data_object(reply: dict[str, object], operation: str) -> dict[str, object]:
    data = reply.get("data")
    if not isinstance(data, dict):
        raise ClientError(f"{operation}: response has no principal object in 'data'")
    return data


def _strings(value: object) -> list[str]:
    """Stalwart serialises multi-valued fields as lists; accept a bare string too."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _probe(client: StalwartClient, timeout: float) -> None:
    """Returns when Stalwart is ready; raises Unreachable, AuthRefusedError or ClientError."""
    health = client.send("GET", "/healthz/ready", auth=False, timeout=timeout)
    if health.status != 200:
        _raise_for_probe("GET /healthz/ready", health, client)
    listing = client.send("GET", "/api/principal?limit=1", timeout=timeout)
    if listing.status >= 500 or listing.status in (408, 429):
        _raise_for_probe("GET /api/principal?limit=1", listing, client)
    client.check("GET /api/principal?limit=1", listing)


def _raise_for_probe(what: str, response: Response, client: StalwartClient) -> None:
    if response.status >= 500 or response.status in (408, 429):
        raise Unreachable(f"{what}: HTTP {response.status}")
    raise ClientError(
        f"{what}: HTTP {response.status} (is STALWART_URL the Stalwart HTTP listener?): "
        f"{client.excerpt(response.body) or '(empty)'}"
    )


def wait_until_ready(client: StalwartClient, timing: Timing, log: Log = _print) -> None:
    """Polls /healthz/ready and an authenticated listing with backoff until the deadline."""
    deadline = timing.clock() + timing.ready_timeout
    delay = timing.retry_initial
    auth_failures = 0
    attempt = 0
    while True:
        attempt += 1
        remaining = deadline - timing.clock()
        try:
            _probe(client, max(0.05, min(timing.request_timeout, remaining)))
        except AuthRefusedError:
            auth_failures += 1
            if auth_failures >= timing.auth_retries:
                raise ClientError(
                    f"the admin password was refused: Stalwart answered HTTP 401 for user "
                    f"{client.user!r} {auth_failures} times (is the pod still running with the "
                    "old admin hash, or is ADMIN_PASSWORD_FILE stale?)"
                ) from None
            reason = "HTTP 401 for the admin credentials (pod may still be rolling)"
        except Unreachable as err:
            reason = str(err)
        else:
            log(f"stalwart ready at {client.origin} (attempt {attempt})")
            return
        remaining = deadline - timing.clock()
        if remaining <= 0:
            raise ClientError(
                f"Stalwart at {client.origin} not ready after {timing.ready_timeout:g}s "
                f"({attempt} attempts); last problem: {reason}"
            )
        log(f"waiting for stalwart: {reason}; retry in {min(delay, remaining):.2g}s")
        timing.sleep(min(delay, remaining))
        delay = min(delay * 2, timing.retry_max)


def ensure_domain(client: StalwartClient, domain: str, summary: Summary, log: Log) -> None:
    operation = f"get domain {domain!r}"
    reply = client.call(operation, "GET", _path(domain), allow_not_found=True)
    if reply is not None:
        typ = _data_object(reply, operation).get("type")
        if typ != "domain":
            raise ClientError(f"{operation}: principal exists but is a {typ!r}, not a domain")
        log(f"domain {domain}: exists")
        return
    client.call(
        f"create domain {domain!r}",
        "POST",
        "/api/principal",
        {"type": "domain", "name": domain},
    )
    summary.domain_created = True
    log(f"domain {domain}: created")


def _account_patch(account: Account) -> list[dict[str, object]]:
    return [
        {"action": "set", "field": "secrets", "value": [account.secret_hash]},
        {"action": "set", "field": "emails", "value": [account.email]},
        {
            "action": "set",
            "field": "description",
            "value": managed_description(account.description),
        },
    ]


def _in_desired_state(current: dict[str, object], account: Account) -> bool:
    return (
        _strings(current.get("secrets")) == [account.secret_hash]
        and [e.lower() for e in _strings(current.get("emails"))] == [account.email]
        and current.get("description") == managed_description(account.description)
    )


def ensure_account(client: StalwartClient, account: Account, summary: Summary, log: Log) -> None:
    operation = f"get account {account.name!r}"
    reply = client.call(operation, "GET", _path(account.name), allow_not_found=True)
    if reply is None:
        client.call(
            f"create account {account.name!r}",
            "POST",
            "/api/principal",
            {
                "type": "individual",
                "name": account.name,
                "description": managed_description(account.description),
                "secrets": [account.secret_hash],
                "emails": [account.email],
                "roles": [USER_ROLE],
            },
        )
        summary.created += 1
        log(f"account {account.name}: created ({account.email})")
        return
    current = _data_object(reply, operation)
    typ = current.get("type")
    if typ != "individual":
        raise ClientError(
            f"{operation}: principal exists but is a {typ!r}, not an individual; not touching it"
        )
    if _in_desired_state(current, account):
        summary.unchanged += 1
        log(f"account {account.name}: unchanged")
        return
    adopted = not is_managed(current.get("description"))
    client.call(
        f"update account {account.name!r}", "PATCH", _path(account.name), _account_patch(account)
    )
    summary.updated += 1
    log(f"account {account.name}: updated{' (adopted a hand-made account)' if adopted else ''}")


def list_individuals(client: StalwartClient) -> list[dict[str, object]]:
    """Every individual principal (name and description only), following the pages.

    A server's `total` is not trusted: the walk stops at MAX_PAGES, at an empty page, or at a page
    that adds no name not seen before (a server repeating page 1 forever)."""
    items: dict[str, dict[str, object]] = {}
    for page in range(1, MAX_PAGES + 1):
        operation = f"list accounts (page {page})"
        query = urllib.parse.urlencode(
            {
                "types": "individual",
                "fields": "name,description",
                "limit": LIST_PAGE_SIZE,
                "page": page,
            }
        )
        reply = client.call(operation, "GET", f"/api/principal?{query}")
        data = reply.get("data") if reply is not None else None
        if not isinstance(data, dict):
            raise ClientError(f"{operation}: response has no 'data' object")
        batch = data.get("items")
        total = data.get("total")
        if not isinstance(batch, list) or not isinstance(total, int):
            raise ClientError(f"{operation}: response lacks 'items' or 'total'")
        before = len(items)
        for item in batch:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                items.setdefault(str(item["name"]), item)
        if not batch or len(items) == before or len(items) >= total:
            return list(items.values())
    raise ClientError(
        f"list accounts: more than {MAX_PAGES} pages of {LIST_PAGE_SIZE}; refusing to prune "
        "from a listing that does not end"
    )


def prune_accounts(client: StalwartClient, desired: Desired, summary: Summary, log: Log) -> None:
    """Deletes a listed principal only if it is, on a fresh read, an individual whose description
    carries MARKER and whose name is not desired (names compared case-insensitively)."""
    wanted = {account.name.lower() for account in desired.accounts}
    for item in list_individuals(client):
        name = str(item.get("name"))
        if name.lower() in wanted or not is_managed(item.get("description")):
            continue
        operation = f"get account {name!r} before deleting it"
        reply = client.call(operation, "GET", _path(name), allow_not_found=True)
        if reply is None:
            continue
        current = _data_object(reply, operation)
        if current.get("type") != "individual" or not is_managed(current.get("description")):
            log(f"account {name}: not deleted (not a mailstack-managed individual on re-read)")
            continue
        client.call(f"delete account {name!r}", "DELETE", _path(name))
        summary.deleted += 1
        log(f"account {name}: deleted (managed by mailstack, no longer desired)")


def reconcile(
    client: StalwartClient,
    desired: Desired,
    summary: Summary | None = None,
    log: Log = _print,
) -> Summary:
    """Domain first, then every desired account, then removal of undesired managed accounts."""
    summary = summary if summary is not None else Summary()
    ensure_domain(client, desired.domain, summary, log)
    for account in desired.accounts:
        ensure_account(client, account, summary, log)
    prune_accounts(client, desired, summary, log)
    return summary


def _number(env: Mapping[str, str], key: str, default: float) -> float:
    return positive_number(env.get(key), default, key)


def main(
    argv: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> int:
    parser = argparse.ArgumentParser(
        description="Reconcile Stalwart service accounts (configuration via environment)."
    )
    parser.parse_args(list(argv) if argv is not None else None)
    env = os.environ if env is None else env
    redact = Redactor()
    summary = Summary()
    try:
        url = env.get("STALWART_URL", "").strip()
        if not url:
            raise ClientError("STALWART_URL is not set")
        password_file = env.get("ADMIN_PASSWORD_FILE", "").strip()
        accounts_file = env.get("ACCOUNTS_FILE", "").strip()
        if not password_file or not accounts_file:
            raise ClientError("ADMIN_PASSWORD_FILE and ACCOUNTS_FILE must both be set")
        password = read_text(password_file, "ADMIN_PASSWORD_FILE")
        password = password.removesuffix("\n").removesuffix("\r")
        if not password:
            raise ClientError("ADMIN_PASSWORD_FILE is empty")
        redact.add(password)
        try:
            document: object = json.loads(read_text(accounts_file, "ACCOUNTS_FILE"))
        except ValueError as err:
            raise ClientError(f"ACCOUNTS_FILE is not valid JSON ({type(err).__name__})") from None
        desired = parse_accounts(document)
        for account in desired.accounts:
            redact.add(account.secret_hash)
        timing = Timing(
            ready_timeout=_number(env, "READY_TIMEOUT_SECONDS", 300.0),
            retry_initial=_number(env, "RETRY_INITIAL_SECONDS", 1.0),
            retry_max=_number(env, "RETRY_MAX_SECONDS", 10.0),
            request_timeout=_number(env, "REQUEST_TIMEOUT_SECONDS", 10.0),
            auth_retries=max(1, int(_number(env, "AUTH_RETRIES", 5))),
            sleep=sleep,
            clock=clock,
        )
        client = StalwartClient(
            url,
            env.get("STALWART_ADMIN_USER", "").strip() or "admin",
            password,
            request_timeout=timing.request_timeout,
            redactor=redact,
        )
        _print(f"reconciling {len(desired.accounts)} account(s) in domain {desired.domain}")
        wait_until_ready(client, timing)
        reconcile(client, desired, summary)
    except ClientError as err:
        print(
            f"reconcile failed: {redact(str(err))}; {summary.counts()}", file=sys.stderr, flush=True
        )
        return 1
    except Exception as err:  # a bug must still end in one safe line and exit 1
        print(
            f"reconcile failed: unexpected {type(err).__name__}: "
            f"{redact(str(err))[:EXCERPT_CHARS]}; {summary.counts()}",
            file=sys.stderr,
            flush=True,
        )
        return 1
    _print(f"reconcile ok: {summary.counts()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
