"""A raw TCP stand-in on 127.0.0.1 for servers that misbehave below HTTP's niceties: it reads one
request head (and a body of the announced length) and hands the socket to a test's `behave`
function, which may drip bytes, lie about lengths or redirect. Every request head is recorded."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

Behave = Callable[[socket.socket, bytes], None]


class RawServer:
    def __init__(self, behave: Behave) -> None:
        self.behave = behave
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._listener.settimeout(0.05)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> RawServer:
        self._accept.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._accept.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def drip(self, conn: socket.socket, data: bytes, interval: float) -> None:
        """Sends `data` one byte per `interval` until done, the client hangs up or the test
        ends."""
        for byte in data:
            if self._stop.wait(interval):
                return
            conn.sendall(bytes([byte]))

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._one, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _one(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            head, _, body = head.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            while len(body) < length:
                body += conn.recv(4096)
            self.requests.append(head)
            self.behave(conn, head)
