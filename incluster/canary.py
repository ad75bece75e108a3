"""The outbound canary (Python standard library only): does mail leave through the relay?

    python3 -m incluster.canary

It sees only its own message, with its own identity (the canary account; no admin, no scrape
password):

1. submits one message on 587 as the canary account (AUTH without TLS, as every in-cluster
   consumer) to the recipient (Resend's test address gets a unique `+label`), asking for a
   delivery status notification of both outcomes (RFC 3461: `ENVID=<token>` on MAIL,
   `NOTIFY=SUCCESS,FAILURE` on RCPT); Stalwart offers DSN to authenticated sessions
   (MtaExtensions `dsn`, default `!is_empty(authenticated_as)`);
2. waits for Stalwart's report of that message in the canary's own mailbox, over JMAP mail
   (RFC 8621) on the HTTP port, as the canary: Stalwart writes one when the relay accepted the
   message (`Action: delivered`) or refused it for good (`Action: failed`), with the
   `Original-Envelope-Id` it was given (crates/smtp/src/queue/dsn.rs, both generations);
3. reads the report's `message/delivery-status` part (RFC 3464) and decides from its `Action`,
   `Status` and `Diagnostic-Code`; then deletes the report, so the mailbox stays empty.

No report within the deadline means the message still waits in the queue (a temporary failure
of the relay, retried) or never reached it.

Environment: ``SMTP_HOST``, ``SMTP_PORT`` (587), ``CANARY_USER``, ``CANARY_PASSWORD_FILE``,
``CANARY_FROM``, ``CANARY_TO``, ``STALWART_URL`` (Stalwart's HTTP port, for JMAP); bounds
``DEADLINE_SECONDS`` (300), ``POLL_SECONDS`` (5), ``REQUEST_TIMEOUT_SECONDS`` (10).

Prints one line, `canary ok: ...` (exit 0) or `canary failed: ...` (exit 1; 2 for a bad
configuration), never a password.
"""

from __future__ import annotations

import datetime
import email.parser
import email.policy
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

MAIL = "urn:ietf:params:jmap:mail"
USING = ["urn:ietf:params:jmap:core", MAIL]
# How many of the newest messages of the canary's mailbox are looked at each poll.
RECENT = 20
REPORT_TYPE = "message/delivery-status"

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
    deadline: float
    poll: float
    timeout: float


@dataclass(frozen=True)
class Report:
    """One recipient's entry of a delivery status notification (RFC 3464 section 2.3)."""

    action: str
    status: str
    diagnostic: str


def labelled(recipient: str, token: str) -> str:
    """Resend's test addresses take a `+label`; any other recipient stays as given."""
    local, _, domain = recipient.partition("@")
    if domain.lower() == "resend.dev" and "+" not in local:
        return f"{local}+mailstack-{token}@{domain}"
    return recipient


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
            smtp.ehlo()  # the extensions offered once authenticated
            if not smtp.has_extn("dsn"):
                raise CanaryFailed(
                    "Stalwart does not offer DSN to the canary after login, so no delivery "
                    "report can come back (MtaExtensions dsn / session.extensions.dsn)"
                )
            smtp.send_message(
                message,
                settings.sender,
                [recipient],
                mail_options=[f"ENVID={token}", "RET=HDRS"],
                rcpt_options=["NOTIFY=SUCCESS,FAILURE"],
            )
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


def parse_report(text: str, envelope_id: str) -> Report | None:
    """The first recipient entry of a `message/delivery-status` body whose per-message fields
    carry `Original-Envelope-Id: <envelope_id>`; None for a report of another message."""
    groups = [g for g in text.replace("\r\n", "\n").split("\n\n") if g.strip()]
    if not groups:
        return None
    parser = email.parser.HeaderParser(policy=email.policy.compat32)
    per_message = parser.parsestr(groups[0])
    if str(per_message.get("Original-Envelope-Id", "")).strip() != envelope_id:
        return None
    for group in groups[1:]:
        fields = parser.parsestr(group)
        action = str(fields.get("Action", "")).strip().lower()
        if action:
            return Report(
                action=action,
                status=str(fields.get("Status", "")).strip(),
                diagnostic=" ".join(str(fields.get("Diagnostic-Code", "")).split()),
            )
    return None


class Mailbox:
    """The canary's own mail over JMAP (RFC 8621), authenticated as the canary."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.account = ""
        self.download = ""

    def open(self) -> None:
        session = self.client.json("GET /jmap/session", self.client.send("GET", "/jmap/session"))
        accounts = session.get("primaryAccounts") if isinstance(session, dict) else None
        account = accounts.get(MAIL) if isinstance(accounts, dict) else None
        template = session.get("downloadUrl") if isinstance(session, dict) else None
        if not isinstance(account, str) or not isinstance(template, str):
            raise ClientError("GET /jmap/session: no mail account or download URL")
        # The template names the server's public URL; only its path is used, on this origin:
        # the canary's password goes to STALWART_URL and nowhere else.
        parts = urllib.parse.urlsplit(template)
        self.account = account
        self.download = parts.path + (f"?{parts.query}" if parts.query else "")

    def call(self, calls: list[list[object]]) -> list[dict[str, object]]:
        names = ", ".join(str(c[0]) for c in calls)
        document = self.client.json(
            f"POST /jmap ({names})",
            self.client.send("POST", "/jmap", {"using": USING, "methodCalls": calls}),
        )
        responses = document.get("methodResponses") if isinstance(document, dict) else None
        if not isinstance(responses, list) or len(responses) != len(calls):
            raise ClientError(f"POST /jmap ({names}): not a JMAP response")
        answers = []
        for response, call in zip(responses, calls, strict=True):
            if not (isinstance(response, list) and len(response) == 3):
                raise ClientError(f"{call[0]}: malformed method response")
            if response[0] == "error" or not isinstance(response[1], dict):
                detail = response[1] if isinstance(response[1], dict) else {}
                raise ClientError(f"{call[0]}: {detail.get('type', 'error')}")
            answers.append(response[1])
        return answers

    def reports(self, since: str) -> list[tuple[str, str]]:
        """(email id, blob id) of each delivery-status part of the newest messages received
        since `since` (UTC, RFC 3339)."""
        query = {
            "accountId": self.account,
            "filter": {"after": since},
            "sort": [{"property": "receivedAt", "isAscending": False}],
            "limit": RECENT,
        }
        get = {
            "accountId": self.account,
            "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
            "properties": ["id", "attachments"],
        }
        _, got = self.call([["Email/query", query, "q"], ["Email/get", get, "g"]])
        listed = got.get("list")
        found = []
        for message in listed if isinstance(listed, list) else []:
            parts = message.get("attachments") if isinstance(message, dict) else None
            for part in parts if isinstance(parts, list) else []:
                if isinstance(part, dict) and str(part.get("type", "")).lower() == REPORT_TYPE:
                    found.append((str(message.get("id")), str(part.get("blobId"))))
        return found

    def blob(self, blob_id: str) -> str:
        path = (
            self.download.replace("{accountId}", urllib.parse.quote(self.account, safe=""))
            .replace("{blobId}", urllib.parse.quote(blob_id, safe=""))
            .replace("{name}", "report.txt")
            .replace("{type}", urllib.parse.quote("text/plain", safe=""))
        )
        response = self.client.send("GET", path)
        if response.status != 200:
            raise ClientError(f"GET the delivery report: HTTP {response.status}")
        return response.body.decode("utf-8", "replace")

    def destroy(self, email_id: str) -> None:
        self.call([["Email/set", {"accountId": self.account, "destroy": [email_id]}, "d"]])


def run(
    settings: Settings,
    mailbox: Mailbox,
    redact: Redactor,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
) -> str:
    token = secrets.token_hex(6)
    recipient = labelled(settings.recipient, token)
    try:
        mailbox.open()
    except ClientError as err:
        raise CanaryFailed(f"the canary's mailbox: {err}") from None
    # A minute of slack for a clock that differs from the server's.
    since = (now() - datetime.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    started = clock()
    submit(settings, recipient, token)
    seen: set[str] = set()
    while True:
        try:
            for email_id, blob_id in mailbox.reports(since):
                if blob_id in seen:
                    continue
                seen.add(blob_id)
                report = parse_report(mailbox.blob(blob_id), token)
                if report is None:
                    continue
                mailbox.destroy(email_id)
                return _verdict(report, token, recipient, clock() - started, redact)
        except ClientError as err:
            raise CanaryFailed(f"the canary's mailbox: {err}") from None
        if clock() - started >= settings.deadline:
            raise CanaryFailed(
                f"no delivery report for message {token} within {settings.deadline:g}s: it "
                "still waits in Stalwart's queue (the relay refused it for now and it is "
                "retried: see the queue in the WebUI) or never reached it"
            )
        sleep(min(settings.poll, max(0.01, settings.deadline - (clock() - started))))


def _verdict(report: Report, token: str, recipient: str, elapsed: float, redact: Redactor) -> str:
    detail = redact(report.diagnostic)[:200] or report.status
    if report.action in ("delivered", "relayed", "expanded"):
        return (
            f"message {token} to {recipient} accepted by the relay in {elapsed:.0f}s "
            f"({report.status}{': ' + detail if detail != report.status else ''})"
        )
    if report.action == "failed":
        raise CanaryFailed(
            f"the relay refused message {token} for good ({report.status}: {detail}): the "
            "domain not verified at Resend, or a revoked key?"
        )
    raise CanaryFailed(f"message {token}: delivery report says {report.action} ({detail})")


def settings_from(env: Mapping[str, str]) -> Settings:
    def need(key: str) -> str:
        value = env.get(key, "").strip()
        if not value:
            raise BadConfig(f"{key} is not set")
        return value

    try:
        password = read_text(need("CANARY_PASSWORD_FILE"), "CANARY_PASSWORD_FILE")
        return Settings(
            smtp_host=need("SMTP_HOST"),
            smtp_port=int(positive_number(env.get("SMTP_PORT"), 587, "SMTP_PORT")),
            user=need("CANARY_USER"),
            password=password.removesuffix("\n"),
            sender=need("CANARY_FROM"),
            recipient=need("CANARY_TO"),
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
        own = Client(
            env.get("STALWART_URL", ""),
            basic(settings.user, settings.password),
            redact,
            timeout=settings.timeout,
        )
        result = run(settings, Mailbox(own), redact, sleep, clock)
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
