"""A small SMTP submission stand-in on 127.0.0.1: EHLO with AUTH PLAIN LOGIN (no TLS, as
Stalwart's 587 in the cluster), MAIL, RCPT, DATA, QUIT. It accepts one user and password, or
refuses every login with 535 (`refuse_login`), and hands each accepted message to `on_message`
with the MAIL parameters (`ENVID=…`). As Stalwart by default (MtaExtensions `dsn`:
`!is_empty(authenticated_as)`), DSN is offered only once the session is authenticated
(`offer_dsn` False: never); the RCPT parameters are kept in `rcpt_params`."""

from __future__ import annotations

import base64
import socketserver
import threading
from collections.abc import Callable
from typing import Any


class SmtpStandin:
    def __init__(
        self,
        user: str,
        password: str,
        on_message: Callable[[str, list[str], bytes, dict[str, str]], None] | None = None,
    ) -> None:
        self.user = user
        self.password = password
        self.on_message = on_message
        self.refuse_login = False
        self.offer_dsn = True
        self.rcpt_params: list[dict[str, str]] = []
        self.logins: list[str] = []
        self.messages: list[tuple[str, list[str], bytes]] = []
        standin = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                standin._session(self)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.port = self._server.server_address[1]

    def __enter__(self) -> SmtpStandin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _session(self, handler: Any) -> None:
        def say(line: str) -> None:
            handler.wfile.write(line.encode() + b"\r\n")

        def read() -> str:
            return handler.rfile.readline().decode("utf-8", "replace").rstrip("\r\n")

        say("220 standin ESMTP")
        sender, authed = "", False
        rcpts: list[str] = []
        params: dict[str, str] = {}
        while True:
            line = read()
            if not line:
                return
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                say("250-standin")
                if authed and self.offer_dsn:
                    say("250-DSN")
                say("250 AUTH PLAIN LOGIN")
            elif verb == "AUTH":
                parts = line.split()
                if parts[1].upper() == "PLAIN":
                    if len(parts) > 2:
                        raw = parts[2]
                    else:
                        say("334 ")
                        raw = read()
                    _, user, password = base64.b64decode(raw).decode().split("\0")
                else:
                    say("334 VXNlcm5hbWU6")
                    user = base64.b64decode(read()).decode()
                    say("334 UGFzc3dvcmQ6")
                    password = base64.b64decode(read()).decode()
                self.logins.append(user)
                if self.refuse_login or (user, password) != (self.user, self.password):
                    say("535 5.7.8 Authentication credentials invalid")
                else:
                    authed = True
                    say("235 2.7.0 Authentication succeeded")
            elif verb == "MAIL":
                if not authed:
                    say("530 5.7.0 Authentication required")
                    continue
                sender, rcpts = line.split(":", 1)[1].strip().strip("<>").split(">")[0], []
                params = _params(line)
                say("250 2.1.0 OK")
            elif verb == "RCPT":
                rcpts.append(line.split(":", 1)[1].strip().strip("<>").split(">")[0])
                self.rcpt_params.append(_params(line))
                say("250 2.1.5 OK")
            elif verb == "DATA":
                say("354 Start mail input")
                body = b""
                while (chunk := handler.rfile.readline()) not in (b".\r\n", b""):
                    body += chunk
                self.messages.append((sender, list(rcpts), body))
                if self.on_message is not None:
                    self.on_message(sender, list(rcpts), body, params)
                say("250 2.0.0 Message queued for delivery")
            elif verb == "QUIT":
                say("221 2.0.0 Bye")
                return
            else:
                say("250 2.0.0 OK")


def _params(line: str) -> dict[str, str]:
    """The ESMTP parameters after the address of a MAIL or RCPT command."""
    rest = line.split(">", 1)[1] if ">" in line else ""
    return dict(p.partition("=")[::2] for p in rest.split())
