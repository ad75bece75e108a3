"""The canary's own mailbox on Stalwart, as the canary reads it over JMAP mail, on 127.0.0.1.

Shapes from RFC 8620/8621 and Stalwart (v0.16.18 source; the same in v0.15.5):

- ``GET /jmap/session`` (HTTP Basic as the account): ``primaryAccounts`` with the mail
  capability's account id, ``downloadUrl`` naming the server's *public* URL
  (``https://mail.example.com/jmap/download/{accountId}/{blobId}/{name}?accept={type}``,
  crates/jmap-proto/src/request/capability.rs);
- ``POST /jmap``: ``Email/query`` (``filter.after``, ``sort`` by ``receivedAt``, ``limit``),
  ``Email/get`` (``#ids`` back-reference, ``properties``; ``attachments`` lists the non-text
  parts with ``type`` and ``blobId``), ``Email/set`` (``destroy``);
- ``GET /jmap/download/...``: a part's content.

A delivery report is the message Stalwart's queue writes to the sender (crates/smtp/src/queue/
dsn.rs): subject by outcome, a `message/delivery-status` part with the per-message fields
(`Reporting-MTA`, `Arrival-Date`, `Original-Envelope-Id` when the submission gave an ENVID) and
one group per recipient (`Final-Recipient`, `Action`, `Status`, `Diagnostic-Code`/`Remote-MTA`).

``on_submission`` is what the SMTP stand-in calls for each accepted message; ``outcome`` decides
what comes back to the sender after ``delay_reads`` mailbox reads: ``delivered``, ``failed``,
``none`` (nothing: the message waits in the queue), ``other`` (a report of another message).
"""

from __future__ import annotations

import base64
import datetime
import itertools
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.standins.local_http import LocalHTTPServer, reply

ACCOUNT = "c"
SUBJECTS = {"delivered": "Successfully delivered message", "failed": "Failed to deliver message"}


@dataclass
class Stored:
    id: str
    received: str
    subject: str
    parts: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    """blob id -> (content type, content): the non-text parts."""


class MailboxStandin(LocalHTTPServer):
    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self.password = password
        self.outcome = "delivered"
        self.delay_reads = 2
        self.messages: dict[str, Stored] = {}
        self.pending: list[tuple[int, str, str]] = []
        """(reads left, envelope id, recipient) of reports still to arrive."""
        self.requests: list[tuple[str, str, str | None]] = []
        """(method, path, the Authorization header) of every request."""
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        super().__init__(self._handler())

    # --- what the SMTP side hands over ------------------------------------------------------

    def on_submission(
        self, sender: str, rcpts: list[str], _body: bytes, mail_params: dict[str, str]
    ) -> None:
        envelope_id = mail_params.get("ENVID", "")
        with self._lock:
            for rcpt in rcpts:
                envelope = "not-" + envelope_id if self.outcome == "other" else envelope_id
                if self.outcome != "none":
                    self.pending.append((self.delay_reads, envelope, rcpt))

    def report(self, envelope_id: str, recipient: str, action: str) -> None:
        """A report as Stalwart writes it (dsn.rs `build_dsn`, `write_dsn_*`)."""
        status, diagnostic = (
            ("2.0.0", "smtp;250 2.0.0 OK")
            if action == "delivered"
            else ("5.7.1", "smtp;550 5.7.1 The domain is not verified")
        )
        per_message = (
            "Reporting-MTA: dns;mail.example.com\r\n"
            "Arrival-Date: Fri, 4 Dec 2026 17:00:00 +0000\r\n"
            + (f"Original-Envelope-Id: {envelope_id}\r\n" if envelope_id else "")
        )
        per_recipient = (
            f"Final-Recipient: rfc822;{recipient}\r\n"
            f"Action: {action}\r\n"
            f"Status: {status}\r\n"
            f"Diagnostic-Code: {diagnostic}\r\n"
            "Remote-MTA: dns;smtp.resend.com\r\n"
        )
        with self._lock:
            number = next(self._ids)
            self.messages[f"m{number}"] = Stored(
                id=f"m{number}",
                received=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                subject=SUBJECTS.get(action, "Warning: Delay in message delivery"),
                parts={
                    f"b{number}s": (
                        "message/delivery-status",
                        (per_message + "\r\n" + per_recipient).encode(),
                    ),
                    f"b{number}h": ("message/rfc822-headers", b"Subject: mailstack canary\r\n"),
                },
            )

    def _read(self) -> None:
        """One mailbox read: reports due arrive."""
        still = []
        for left, envelope, rcpt in self.pending:
            if left <= 1:
                self.report(envelope, rcpt, "failed" if self.outcome == "failed" else "delivered")
            else:
                still.append((left - 1, envelope, rcpt))
        self.pending = still

    # --- JMAP -------------------------------------------------------------------------------

    def session(self) -> dict[str, Any]:
        return {
            "primaryAccounts": {"urn:ietf:params:jmap:mail": ACCOUNT},
            "apiUrl": "https://mail.example.com/jmap/",
            "downloadUrl": (
                "https://mail.example.com/jmap/download/{accountId}/{blobId}/{name}?accept={type}"
            ),
        }

    def jmap(self, request: dict[str, Any]) -> dict[str, Any]:
        results: dict[str, Any] = {}
        responses = []
        for name, args, call in request["methodCalls"]:
            if args.get("accountId") != ACCOUNT:
                responses.append(["error", {"type": "accountNotFound"}, call])
                continue
            if name == "Email/query":
                self._read()
                ordered = sorted(self.messages.values(), key=lambda m: m.received, reverse=True)
                after = (args.get("filter") or {}).get("after", "")
                ids = [m.id for m in ordered if m.received > after][: int(args.get("limit", 50))]
                answer: dict[str, Any] = {"accountId": ACCOUNT, "ids": ids, "position": 0}
            elif name == "Email/get":
                ref = args.get("#ids")
                ids = results[ref["resultOf"]]["ids"] if ref else args.get("ids", [])
                answer = {
                    "accountId": ACCOUNT,
                    "list": [
                        {
                            "id": i,
                            "attachments": [
                                {"type": kind, "blobId": blob, "size": len(data)}
                                for blob, (kind, data) in self.messages[i].parts.items()
                            ],
                        }
                        for i in ids
                        if i in self.messages
                    ],
                    "notFound": [i for i in ids if i not in self.messages],
                }
            elif name == "Email/set":
                gone = [i for i in args.get("destroy", []) if self.messages.pop(i, None)]
                answer = {"accountId": ACCOUNT, "destroyed": gone}
            else:
                responses.append(["error", {"type": "unknownMethod"}, call])
                continue
            results[call] = answer
            responses.append([name, answer, call])
        return {"methodResponses": responses, "sessionState": "0"}

    def blob(self, path: str) -> bytes | None:
        parts = urllib.parse.urlsplit(path).path.split("/")
        if len(parts) != 6 or parts[3] != ACCOUNT:
            return None
        for message in self.messages.values():
            if parts[4] in message.parts:
                return message.parts[parts[4]][1]
        return None

    # --- HTTP -------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
                reply(self, status, body, kind)

            def _authorized(self) -> bool:
                token = f"{standin.user}:{standin.password}".encode()
                return self.headers.get("Authorization") == (
                    "Basic " + base64.b64encode(token).decode()
                )

            def _record(self, method: str) -> bool:
                with standin._lock:
                    standin.requests.append((method, self.path, self.headers.get("Authorization")))
                if not self._authorized():
                    self._answer(401, b'{"status": 401}', "application/problem+json")
                    return False
                return True

            def do_GET(self) -> None:
                if not self._record("GET"):
                    return
                with standin._lock:
                    if self.path == "/jmap/session":
                        self._answer(200, json.dumps(standin.session()).encode())
                        return
                    data = standin.blob(self.path)
                if data is None:
                    self._answer(404, b'{"status": 404}', "application/problem+json")
                else:
                    self._answer(200, data, "message/delivery-status")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                if not self._record("POST"):
                    return
                if self.path != "/jmap":
                    self._answer(404, b'{"status": 404}', "application/problem+json")
                    return
                with standin._lock:
                    self._answer(200, json.dumps(standin.jmap(body)).encode())

        return Handler
