"""The HTTP session the laptop's tools talk to a server with: it ends on its own.

The vendored v0.15 export script (vendor/stalwart/migrate_v016.py) talks through a
`requests.Session`; this one takes its place. Every request goes to the one origin the owner
named (`--url`), never follows a redirect (the admin password would go with it), never reads the
environment's proxies or `.netrc`, and stops when an answer grows past `max_bytes` or when the
whole conversation outlasts `deadline` seconds, as the in-cluster client does
(incluster/client.py).
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import requests
from urllib3.exceptions import HTTPError

CHUNK = 64 * 1024


class BoundedError(Exception):
    """One line: what the server did that a Stalwart server does not."""


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


class BoundedSession(requests.Session):
    def __init__(
        self,
        url: str,
        max_bytes: int,
        deadline: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.trust_env = False  # no proxy, no .netrc: the credentials go to `url` only
        # No redirect is followed: every request sets allow_redirects=False. (max_redirects = 0
        # would not do: requests raises TooManyRedirects while merely preparing `response.next`.)
        self._origin = origin(url)
        self._max_bytes = max_bytes
        self._seconds = deadline
        self._clock = clock
        self._deadline = clock() + deadline

    def _remaining(self) -> float:
        remaining = self._deadline - self._clock()
        if remaining <= 0:
            raise BoundedError(f"the server took longer than {self._seconds:.0f} s in all")
        return remaining

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        target = url.decode() if isinstance(url, bytes) else url
        if origin(target) != self._origin:
            raise BoundedError("a request would leave the --url origin")
        remaining = self._remaining()
        asked = kwargs.get("timeout")
        kwargs["timeout"] = min(float(asked), remaining) if asked else remaining
        kwargs["allow_redirects"] = False
        kwargs["stream"] = True
        try:
            verb = method.decode() if isinstance(method, bytes) else method
            response = super().request(verb, target, *args, **kwargs)
        except requests.RequestException as err:
            raise BoundedError(f"{type(err).__name__}: could not reach the server") from None
        with response:
            if 300 <= response.status_code < 400:
                raise BoundedError(
                    f"the server answered HTTP {response.status_code} (a redirect); the "
                    "password goes to --url only, so point --url at Stalwart's own listener"
                )
            body = bytearray()
            try:
                # read1: whatever one read of the socket brings, so that a server dripping a
                # byte at a time meets the deadline too (iter_content waits for a whole chunk).
                while chunk := response.raw.read1(CHUNK, decode_content=True):
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise BoundedError(
                            f"an answer is larger than {self._max_bytes // 2**20} MiB, which no "
                            "Stalwart settings page is"
                        )
                    self._remaining()
            except (requests.RequestException, OSError, HTTPError) as err:
                raise BoundedError(f"{type(err).__name__} while reading an answer") from None
        response._content = bytes(body)  # what `.json()` and `.text` read
        return response
