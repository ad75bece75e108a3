"""A bounded HTTP client for the in-cluster Jobs (Python standard library only).

Every exchange ends by itself and sends credentials to the configured origin only:
- no redirect is followed (a 3xx is an error that names the status), so `Authorization` never
  reaches another host;
- each exchange has a deadline for the whole of it (connect, headers and body), checked between
  reads, so a server that sends one byte a second cannot hold a Job past its deadline;
- a body is read up to a size limit and refused beyond it, never read whole into memory first;
- every message that may quote a server is passed through a `Redactor`, which also knows the
  JSON-escaped, URL-encoded and base64 forms of the secrets it was given, and anything shaped like
  a password hash.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import math
import re
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

EXCERPT_CHARS = 200
MAX_BODY_BYTES = 4 * 1024 * 1024
READ_CHUNK = 64 * 1024
# Modular-crypt hashes ($6$..., $argon2id$...), also when a JSON encoder escaped the `$`.
_CRYPT_LIKE = re.compile(r"(?:\$|\\u0024)[0-9a-z]+(?:\$|\\u0024)[^\s\"',\]}]*", re.IGNORECASE)

Clock = Callable[[], float]


class ClientError(Exception):
    """A failure whose message is safe to print (it names the exchange, never a secret)."""


class Unreachable(ClientError):
    """No answer (yet): refused, reset, timed out, or a 5xx/429 the caller may retry."""


class Redactor:
    """Removes known secrets, in every encoding a server might echo them, and crypt hashes."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        if not secret:
            return
        forms = {
            secret,
            json.dumps(secret)[1:-1],
            json.dumps(secret, ensure_ascii=True)[1:-1],
            urllib.parse.quote(secret, safe=""),
            urllib.parse.quote_plus(secret),
            base64.b64encode(secret.encode()).decode("ascii"),
        }
        self._forms = sorted({*self._forms, *(f for f in forms if len(f) >= 4)}, key=len)[::-1]

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, "<redacted>")
        return _CRYPT_LIKE.sub("<redacted>", text)


def positive_number(raw: str | None, default: float, name: str) -> float:
    """A finite number > 0 from the environment (`nan`, `inf`, 0 and negatives are refused)."""
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ClientError(f"{name} must be a number, got {raw[:20]!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ClientError(f"{name} must be a finite number above 0")
    return value


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class Client:
    """HTTP(S) to one origin: `base_url`'s scheme, host and port, and nowhere else."""

    def __init__(
        self,
        base_url: str,
        authorization: str | None,
        redactor: Redactor,
        *,
        timeout: float = 10.0,
        max_body: int = MAX_BODY_BYTES,
        ca_file: str | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ClientError(f"{base_url!r} is not an http(s) URL")
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self._scheme, self._host = parts.scheme, parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")
        self._authorization = authorization
        self.redact = redactor
        self.timeout = timeout
        self.max_body = max_body
        self._ca_file = ca_file
        self._clock = clock
        if authorization:
            redactor.add(authorization)
            redactor.add(authorization.partition(" ")[2])

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._scheme == "https":
            context = ssl.create_default_context(cafile=self._ca_file)
            return http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout, context=context
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def send(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        auth: bool = True,
        timeout: float | None = None,
        content_type: str = "application/json",
    ) -> Response:
        """One exchange, bounded in time and size. Raises Unreachable on transport failures and
        ClientError on a redirect or an oversized body; never raises on other statuses."""
        what = f"{method} {path.split('?')[0]}"
        budget = timeout or self.timeout
        deadline = self._clock() + budget
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", "Connection": "close"}
        if data is not None:
            headers["Content-Type"] = content_type
        if auth and self._authorization:
            headers["Authorization"] = self._authorization
        connection = self._connection(budget)
        # The socket timeout bounds each read; the watchdog bounds the whole exchange, headers
        # included (a server may drip them a byte at a time): it shuts the socket at the deadline.
        watchdog = threading.Timer(budget, _shut, [connection])
        watchdog.daemon = True
        watchdog.start()
        try:
            connection.request(method, self._prefix + path, body=data, headers=headers)
            reply = connection.getresponse()
            if 300 <= reply.status < 400:
                raise ClientError(
                    f"{what}: HTTP {reply.status} redirect to another location refused "
                    f"(credentials are sent to {self.origin} only)"
                )
            payload = self._read(reply, deadline, what)
            return Response(reply.status, payload, {k.lower(): v for k, v in reply.getheaders()})
        except ClientError:
            raise
        except TimeoutError:
            raise Unreachable(f"{what}: timed out") from None
        except (OSError, http.client.HTTPException) as err:
            if self._clock() >= deadline:
                raise Unreachable(f"{what}: no complete answer within {budget:g}s") from None
            raise Unreachable(f"{what}: connection failed ({type(err).__name__})") from None
        finally:
            watchdog.cancel()
            connection.close()

    def _read(self, reply: http.client.HTTPResponse, deadline: float, what: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            if self._clock() > deadline:
                raise Unreachable(f"{what}: the body took longer than {self.timeout:g}s")
            remaining = reply.length  # bytes still announced by Content-Length, if any
            chunk = reply.read1(READ_CHUNK)
            if not chunk:
                # An end before the announced length, or one forced by the watchdog, is no
                # answer: a truncated body must never pass for a whole one.
                if remaining or self._clock() >= deadline:
                    raise Unreachable(f"{what}: the body ended early (incomplete answer)")
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_body:
                raise ClientError(f"{what}: the body is larger than {self.max_body} bytes")
            chunks.append(chunk)

    def excerpt(self, body: bytes) -> str:
        text = self.redact(body.decode("utf-8", errors="replace").replace("\n", " ").strip())
        return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."

    def json(self, what: str, response: Response) -> object:
        """The JSON of a 2xx response; anything else is a ClientError naming `what`."""
        if response.status >= 500 or response.status in (408, 429):
            raise Unreachable(f"{what}: HTTP {response.status}")
        if not 200 <= response.status < 300:
            raise ClientError(
                f"{what}: HTTP {response.status}: {self.excerpt(response.body) or '(empty)'}"
            )
        try:
            return json.loads(response.body or b"null")
        except ValueError:
            raise ClientError(
                f"{what}: HTTP {response.status} with a non-JSON body: "
                f"{self.excerpt(response.body)}"
            ) from None


def _shut(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def read_text(path: str, what: str, limit: int = 1024 * 1024) -> str:
    """A mounted file (a Secret's key), read up to `limit` characters; an unreadable file is a
    ClientError naming `what` and the path, never its content."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(limit)
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or "not UTF-8 text"
        raise ClientError(f"cannot read {what} {path!r}: {reason}") from None


def basic(user: str, password: str) -> str:
    """The `Authorization` value of HTTP Basic credentials."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
