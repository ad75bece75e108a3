"""The outbound canary (Python standard library only): does mail leave through the relay?

    python3 -m incluster.canary

1. reads Stalwart's delivery counters (the Prometheus endpoint, Basic auth);
2. submits one message on 587 as the canary account (AUTH without TLS, as every in-cluster
   consumer), to Resend's test recipient with a unique label (`delivered+<token>@resend.dev`);
3. follows it in Stalwart's queue through the management API of the running generation
   (v0.15: `GET /api/queue/messages?text=...&values`, crates/http/src/management/queue.rs;
   v0.16: `x:QueuedMessage/query` + `/get`, crates/jmap/src/registry/mapping/queued_message.rs)
   until it is gone: a message leaves the queue once its recipient is completed or permanently
   failed, and both look alike from there;
4. reads the counters again: `delivery_delivered` went up and `delivery_dsn_perm_fail` did not
   means the relay accepted it (counter names: crates/trc, no `_total` suffix; a counter appears
   only after its first event, so a missing one counts as 0).

Environment: ``SMTP_HOST``, ``SMTP_PORT`` (587), ``CANARY_USER``, ``CANARY_PASSWORD_FILE``,
``CANARY_FROM``, ``CANARY_TO``, ``STALWART_URL``, ``STALWART_GENERATION`` (``0.15``/``0.16``),
``STALWART_ADMIN_USER``, ``ADMIN_PASSWORD_FILE``, ``METRICS_URL``, ``METRICS_USER``,
``METRICS_PASSWORD_FILE``; bounds ``DEADLINE_SECONDS`` (300), ``POLL_SECONDS`` (5),
``REQUEST_TIMEOUT_SECONDS`` (10).

Prints one line, `canary ok: ...` (exit 0) or `canary failed: ...` (exit 1; 2 for a bad
configuration), never a password.
"""

from __future__ import annotations

import os
import secrets
import smtplib
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

from incluster.client import Client, ClientError, Redactor, basic, positive_number, read_text
from incluster.jmap_jobs import Jmap

COUNTERS = ("delivery_delivered", "delivery_dsn_perm_fail", "delivery_auth_failed")

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class CanaryFailed(Exception):
    """What went wrong, in one line without a secret."""


class BadConfig(Exception):
    """The environment is incomplete or malformed."""


@dataclass(frozen=True)
class Settings:
    smtp_host: str
    smtp_port: int
    user: str
    password: str
    sender: str
    recipient: str
    generation: str
    deadline: float
    poll: float
    timeout: float


def labelled(recipient: str, token: str) -> str:
    """Resend's test addresses take a `+label`; any other recipient stays as given."""
    local, _, domain = recipient.partition("@")
    if domain.lower() == "resend.dev" and "+" not in local:
        return f"{local}+mailstack-{token}@{domain}"
    return recipient


def parse_counters(text: str) -> dict[str, float]:
    """The samples of the Prometheus text format that interest the canary (unlabelled)."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(" ")
        if name in COUNTERS:
            try:
                found[name] = float(rest.split()[0])
            except (IndexError, ValueError):
                continue
    return {name: found.get(name, 0.0) for name in COUNTERS}


def read_counters(metrics: Client) -> dict[str, float]:
    try:
        response = metrics.send("GET", "")
    except ClientError as err:
        raise CanaryFailed(f"cannot read Stalwart's counters: {err}") from None
    if response.status != 200:
        raise CanaryFailed(f"Stalwart's counters: HTTP {response.status} (the scrape password?)")
    return parse_counters(response.body.decode("utf-8", "replace"))


def submit(settings: Settings, recipient: str, token: str) -> None:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = recipient
    message["Subject"] = f"mailstack canary {token}"
    message["Message-ID"] = make_msgid(idstring=token, domain=settings.sender.partition("@")[2])
    message.set_content(f"Outbound canary {token}: if this arrived, mail leaves the homelab.\n")
    try:
        with smtplib.SMTP(
            settings.smtp_host,
            settings.smtp_port,
            local_hostname="mailstack-canary",  # no reverse lookup of the pod's own name
            timeout=settings.timeout,
        ) as smtp:
            smtp.ehlo()
            smtp.login(settings.user, settings.password)
            smtp.send_message(message, settings.sender, [recipient])
    except smtplib.SMTPAuthenticationError as err:
        raise CanaryFailed(
            f"Stalwart refused the canary's login ({err.smtp_code}): the account or its "
            "password is not what the stack set (a failed accounts Job?)"
        ) from None
    except smtplib.SMTPRecipientsRefused:
        raise CanaryFailed(f"Stalwart refused the recipient {recipient}") from None
    except smtplib.SMTPResponseException as err:
        raise CanaryFailed(f"submission failed: {err.smtp_code}") from None
    except (OSError, smtplib.SMTPException) as err:
        raise CanaryFailed(
            f"cannot submit on {settings.smtp_host}:{settings.smtp_port} ({type(err).__name__})"
        ) from None


class Queue:
    """The message in Stalwart's queue, through the running generation's management API."""

    def __init__(self, client: Client, generation: str) -> None:
        self.client = client
        self.generation = generation

    def statuses(self, recipient: str) -> list[str] | None:
        """The recipient's delivery status in each queued message for it; None: none queued."""
        try:
            if self.generation == "0.16":
                return self._v016(recipient)
            return self._v015(recipient)
        except ClientError as err:
            raise CanaryFailed(f"reading the queue: {err}") from None

    def _v015(self, recipient: str) -> list[str] | None:
        query = urllib.parse.urlencode({"text": recipient, "values": "1", "limit": "10"})
        answer = self.client.json(
            "GET /api/queue/messages", self.client.send("GET", f"/api/queue/messages?{query}")
        )
        data = answer.get("data") if isinstance(answer, dict) else None
        items = data.get("items") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise CanaryFailed("reading the queue: the answer has no items")
        found = [
            _v015_status(r.get("status"))
            for m in items
            if isinstance(m, dict)
            for r in m.get("recipients") or []
            if isinstance(r, dict) and str(r.get("address", "")).lower() == recipient.lower()
        ]
        return found or None

    def _v016(self, recipient: str) -> list[str] | None:
        jmap = Jmap(self.client)
        ids = jmap.query("QueuedMessage", {"text": recipient})
        if not ids:
            return None
        found = []
        for message in jmap.get("QueuedMessage", ids, ["recipients"]):
            recipients = message.get("recipients")
            if not isinstance(recipients, dict):
                continue
            for address, entry in recipients.items():
                if str(address).lower() == recipient.lower() and isinstance(entry, dict):
                    found.append(_v016_status(entry.get("status")))
        return found or None


def _v015_status(status: object) -> str:
    if isinstance(status, str):
        return status
    if isinstance(status, dict) and status:
        kind, detail = next(iter(status.items()))
        return f"{kind}: {detail}"
    return "unknown"


def _v016_status(status: object) -> str:
    if not isinstance(status, dict):
        return "unknown"
    kind = str(status.get("@type", "unknown"))
    detail = status.get("errorMessage") or status.get("responseMessage")
    return f"{kind}: {detail}" if detail else kind


def run(
    settings: Settings,
    queue: Queue,
    metrics: Client,
    redact: Redactor,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> str:
    token = secrets.token_hex(6)
    recipient = labelled(settings.recipient, token)
    before = read_counters(metrics)
    started = clock()
    submit(settings, recipient, token)
    last: list[str] | None = None
    while True:
        statuses = queue.statuses(recipient)
        if statuses is None:
            break
        last = statuses
        if clock() - started >= settings.deadline:
            raise CanaryFailed(
                f"still queued after {settings.deadline:g}s: {redact('; '.join(last))[:300]}"
            )
        sleep(min(settings.poll, max(0.01, settings.deadline - (clock() - started))))
    after = read_counters(metrics)
    elapsed = clock() - started
    if after["delivery_dsn_perm_fail"] > before["delivery_dsn_perm_fail"]:
        raise CanaryFailed(
            "the relay refused a message permanently (delivery_dsn_perm_fail went up): "
            "the domain not verified at Resend, or a revoked key?"
        )
    if after["delivery_delivered"] <= before["delivery_delivered"]:
        raise CanaryFailed(
            "the message left the queue but no delivery was counted "
            f"(delivery_delivered stayed at {after['delivery_delivered']:g})"
        )
    # A message waiting its first attempt is "Scheduled" (v0.15 "scheduled"); only another status
    # (a temporary failure) means it was retried (seen on the real server: 0 retries, Scheduled).
    failures = [status for status in last or [] if status.strip().lower() != "scheduled"]
    retried = f" after retries ({redact(failures[0])[:120]})" if failures else ""
    return f"message {token} to {recipient} accepted by the relay in {elapsed:.0f}s{retried}"


def settings_from(env: Mapping[str, str]) -> Settings:
    def need(key: str) -> str:
        value = env.get(key, "").strip()
        if not value:
            raise BadConfig(f"{key} is not set")
        return value

    try:
        password = read_text(need("CANARY_PASSWORD_FILE"), "CANARY_PASSWORD_FILE")
        generation = env.get("STALWART_GENERATION", "0.16").strip()
        if generation not in ("0.15", "0.16"):
            raise BadConfig(f"STALWART_GENERATION {generation!r} is not 0.15 or 0.16")
        return Settings(
            smtp_host=need("SMTP_HOST"),
            smtp_port=int(positive_number(env.get("SMTP_PORT"), 587, "SMTP_PORT")),
            user=need("CANARY_USER"),
            password=password.removesuffix("\n"),
            sender=need("CANARY_FROM"),
            recipient=need("CANARY_TO"),
            generation=generation,
            deadline=positive_number(env.get("DEADLINE_SECONDS"), 300, "DEADLINE_SECONDS"),
            poll=positive_number(env.get("POLL_SECONDS"), 5, "POLL_SECONDS"),
            timeout=positive_number(
                env.get("REQUEST_TIMEOUT_SECONDS"), 10, "REQUEST_TIMEOUT_SECONDS"
            ),
        )
    except ClientError as err:
        raise BadConfig(str(err)) from None


def main(
    env: Mapping[str, str] | None = None, sleep: Sleep = time.sleep, clock: Clock = time.monotonic
) -> int:
    env = os.environ if env is None else env
    redact = Redactor()
    try:
        settings = settings_from(env)
        redact.add(settings.password)
        admin = read_text(env.get("ADMIN_PASSWORD_FILE", ""), "ADMIN_PASSWORD_FILE")
        admin = admin.removesuffix("\n")
        scrape = read_text(env.get("METRICS_PASSWORD_FILE", ""), "METRICS_PASSWORD_FILE")
        scrape = scrape.removesuffix("\n")
        for secret in (admin, scrape):
            redact.add(secret)
        admin_user = env.get("STALWART_ADMIN_USER", "").strip() or "admin"
        management = Client(
            env.get("STALWART_URL", ""), basic(admin_user, admin), redact, timeout=settings.timeout
        )
        metrics = Client(
            env.get("METRICS_URL", ""),
            basic(env.get("METRICS_USER", "").strip() or "prometheus", scrape),
            redact,
            timeout=settings.timeout,
        )
        result = run(
            settings, Queue(management, settings.generation), metrics, redact, sleep, clock
        )
    except (BadConfig, ClientError) as err:
        print(f"canary failed: configuration: {redact(str(err))}", file=sys.stderr, flush=True)
        return 2
    except CanaryFailed as err:
        print(f"canary failed: {redact(str(err))}", file=sys.stderr, flush=True)
        return 1
    except Exception as err:  # a bug still ends in one safe line
        print(
            f"canary failed: unexpected {type(err).__name__}: {redact(str(err))[:200]}",
            file=sys.stderr,
            flush=True,
        )
        return 1
    print(f"canary ok: {result}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
