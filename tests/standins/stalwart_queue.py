"""Stalwart's queue and counters, as the outbound canary reads them, on 127.0.0.1:

- v0.15 `GET /api/queue/messages?text=..&values` (crates/http/src/management/queue.rs at
  v0.15.5): `{"data": {"items": [Message], "total": n, "status": true}}`, a Message's recipients
  `[{"address", "queue", "status": "scheduled" | {"temp_fail": ".."} | ..., "retry_num"}]`;
- v0.16 `POST /jmap` `x:QueuedMessage/query` (`filter.text`) and `/get` (registry mapping
  queued_message.rs at v0.16.18): recipients keyed by address, `status` `{"@type":
  "Scheduled" | "TemporaryFailure", "errorMessage"}`;
- `GET /metrics/prometheus` with Basic auth: unlabelled counters, a counter absent until its
  first event (crates/trc/src/ipc/metrics.rs).

A queued message's fate (`outcome`): `deliver` (gone after `polls` queue reads, delivery_delivered
+1), `bounce` (gone, delivery_dsn_perm_fail +1), `stuck` (a temporary failure every read, relay
authentication failing), `vanish` (gone, no counter moves).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.standins.local_http import LocalHTTPServer


class QueueStandin(LocalHTTPServer):
    def __init__(self, admin_password: str, metrics_password: str) -> None:
        self.admin_password = admin_password
        self.metrics_password = metrics_password
        self.outcome = "deliver"
        self.polls = 2
        self.counters: dict[str, int] = {}
        self.queue: dict[int, dict[str, Any]] = {}
        self.reads = 0
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()
        super().__init__(self._handler())

    def enqueue(self, sender: str, rcpts: list[str], _body: bytes) -> None:
        with self._lock:
            self.queue[next(self._ids)] = {"from": sender, "rcpts": rcpts, "reads": 0}

    def _bump(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def _advance(self) -> None:
        """One queue read: messages move towards their fate."""
        self.reads += 1
        for qid, message in list(self.queue.items()):
            message["reads"] += 1
            if self.outcome == "stuck":
                self._bump("delivery_auth_failed")
            elif message["reads"] >= self.polls:
                del self.queue[qid]
                if self.outcome == "deliver":
                    self._bump("delivery_delivered")
                    self._bump("delivery_completed")
                elif self.outcome == "bounce":
                    self._bump("delivery_dsn_perm_fail")

    def _status(self, message: dict[str, Any]) -> str:
        return "temp_fail" if self.outcome == "stuck" and message["reads"] else "scheduled"

    def matching(self, text: str) -> list[tuple[int, dict[str, Any]]]:
        return [
            (qid, m)
            for qid, m in sorted(self.queue.items())
            if any(text.lower() in r.lower() for r in m["rcpts"]) or text in m["from"]
        ]

    def v015(self, query: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            self._advance()
            items = [
                {
                    "id": qid,
                    "return_path": m["from"],
                    "created": "2026-11-27T10:00:00Z",
                    "size": 512,
                    "recipients": [
                        {
                            "address": rcpt,
                            "queue": "remote",
                            "retry_num": m["reads"],
                            "status": "scheduled"
                            if self._status(m) == "scheduled"
                            else {"temp_fail": "535 5.7.8 Authentication failed (smtp.resend.com)"},
                        }
                        for rcpt in m["rcpts"]
                    ],
                }
                for qid, m in self.matching(query.get("text", ""))
            ]
        return {"data": {"items": items, "total": len(items), "status": True}}

    def jmap(self, request: dict[str, Any]) -> dict[str, Any]:
        responses = []
        with self._lock:
            for name, args, call_id in request["methodCalls"]:
                if name == "x:QueuedMessage/query":
                    self._advance()
                    found = [str(qid) for qid, _ in self.matching(args["filter"]["text"])]
                    responses.append([name, {"ids": found, "position": 0}, call_id])
                elif name == "x:QueuedMessage/get":
                    listed: list[dict[str, Any]] = []
                    for qid in args["ids"]:
                        m = self.queue.get(int(qid))
                        if m is None:
                            continue
                        status = (
                            {"@type": "Scheduled"}
                            if self._status(m) == "scheduled"
                            else {
                                "@type": "TemporaryFailure",
                                "errorType": "unexpectedResponse",
                                "errorMessage": "535 5.7.8 Authentication failed",
                            }
                        )
                        listed.append(
                            {"id": qid, "recipients": {r: {"status": status} for r in m["rcpts"]}}
                        )
                    responses.append([name, {"list": listed, "notFound": []}, call_id])
                else:
                    responses.append(["error", {"type": "unknownMethod"}, call_id])
        return {"methodResponses": responses, "sessionState": "0"}

    def metrics(self) -> str:
        lines = []
        for name, value in sorted(self.counters.items()):
            lines += [f"# HELP {name} {name}", f"# TYPE {name} counter", f"{name} {value}"]
        return "\n".join(lines) + "\n"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        def basic(user: str, password: str) -> str:
            return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                auth = self.headers.get("Authorization")
                if parsed.path == "/metrics/prometheus":
                    if auth != basic("prometheus", standin.metrics_password):
                        self._answer(401, b"")
                        return
                    self._answer(200, standin.metrics().encode(), "text/plain; version=0.0.4")
                elif parsed.path == "/api/queue/messages":
                    if auth != basic("admin", standin.admin_password):
                        self._answer(401, b"{}")
                        return
                    query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
                    self._answer(200, json.dumps(standin.v015(query)).encode())
                else:
                    self._answer(404, b"{}")

            def do_POST(self) -> None:
                if self.headers.get("Authorization") != basic("admin", standin.admin_password):
                    self._answer(401, b"{}")
                    return
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length))
                self._answer(200, json.dumps(standin.jmap(request)).encode())

        return Handler
