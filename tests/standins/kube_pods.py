"""A local stand-in of the two Kubernetes API calls the listeners Job makes, on 127.0.0.1 only:
``GET /api/v1/namespaces/<ns>/pods?labelSelector=...`` (a PodList) and
``DELETE /api/v1/namespaces/<ns>/pods/<name>``. Deleting a pod "restarts Stalwart": the stand-in
then starts accepting TCP connections on `restart_opens` (standing for 587 bound at start); with
`vanish_after`, the pods are gone after that many listings (a pod that finished terminating);
`on_restart` is called after each deletion (the new pod reading its environment again).
``GET`` and ``PATCH /api/v1/namespaces/<ns>/secrets/<name>`` for the names in `secrets` (name ->
data); a PATCH must be ``application/merge-patch+json`` and a null value removes the key (RFC
7386). Requests must carry `Authorization: Bearer <token>`; `requests` records (method, path).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

from tests.standins.local_http import LocalHTTPServer, reply


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PodsStandin(LocalHTTPServer):
    def __init__(
        self,
        token: str,
        pods: list[str],
        restart_opens: int | None = None,
        vanish_after: int | None = None,
        secrets: dict[str, dict[str, str]] | None = None,
        on_restart: Callable[[], None] | None = None,
    ) -> None:
        self.token = token
        self.secrets = secrets or {}
        self.on_restart = on_restart
        self.pods = list(pods)
        self.vanish_after = vanish_after
        self.restart_opens = restart_opens
        self.requests: list[tuple[str, str]] = []
        self.listening: socket.socket | None = None
        super().__init__(self._handler())

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        if self.listening is not None:
            self.listening.close()

    def _restart(self) -> None:
        if self.restart_opens is not None and self.listening is None:
            self.listening = socket.create_server(("127.0.0.1", self.restart_opens))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: object) -> None:
                reply(self, status, json.dumps(body).encode())

            def _allowed(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {standin.token}":
                    self._answer(401, {"kind": "Status", "code": 401})
                    return False
                return True

            def _secret(self) -> str | None:
                if "/secrets/" not in self.path:
                    return None
                name = self.path.rsplit("/", 1)[-1]
                if name not in standin.secrets:
                    self._answer(404, {"kind": "Status", "code": 404})
                    return None
                return name

            def do_PATCH(self) -> None:
                standin.requests.append(("PATCH", self.path))
                if not self._allowed() or (name := self._secret()) is None:
                    return
                if self.headers.get("Content-Type") != "application/merge-patch+json":
                    self._answer(415, {"kind": "Status", "code": 415})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                patch = json.loads(self.rfile.read(length))
                data = standin.secrets[name]
                for key, value in (patch.get("data") or {}).items():
                    if value is None:
                        data.pop(key, None)
                    else:
                        data[key] = value
                self._answer(200, {"kind": "Secret", "data": data})

            def do_GET(self) -> None:
                standin.requests.append(("GET", self.path))
                if "/secrets/" in self.path:
                    if self._allowed() and (name := self._secret()) is not None:
                        self._answer(200, {"kind": "Secret", "data": standin.secrets[name]})
                    return
                if self._allowed():
                    if standin.vanish_after is not None:
                        if standin.vanish_after <= 0:
                            standin.pods.clear()
                        standin.vanish_after -= 1
                    items = [{"metadata": {"name": name}} for name in standin.pods]
                    self._answer(200, {"kind": "PodList", "items": items})

            def do_DELETE(self) -> None:
                standin.requests.append(("DELETE", self.path))
                if self._allowed():
                    name = self.path.rsplit("/", 1)[-1]
                    standin.pods.remove(name)
                    standin._restart()
                    if standin.on_restart is not None:
                        standin.on_restart()
                    self._answer(200, {"kind": "Pod", "metadata": {"name": name}})

        return Handler
