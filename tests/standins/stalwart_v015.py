"""A local stand-in of the Stalwart v0.15 management API, bound to 127.0.0.1 only.

It follows the shapes in ../shared/reference/stalwart-v0.15-facts.md ("Management REST API") as
verified in the v0.15.5 source (crates/http/src/management/{mod,principal}.rs,
crates/directory/src/backend/internal/manage.rs):

- ``/healthz/ready`` and ``/healthz/live``: no auth, 200 problem+json.
- ``/api/*``: HTTP Basic; bad or missing credentials give 401 with WWW-Authenticate.
- Management failures are HTTP **200** with ``{"error": "<camelCase tag>", ...}``.
- ``POST /api/principal`` -> ``{"data": <id>}``; names and emails are lowercased; a taken name or
  email -> ``fieldAlreadyExists``; an email whose domain is not a domain principal ->
  ``{"error":"notFound","item":"<domain>"}``; secrets are stored verbatim.
- ``GET /api/principal/<name>`` -> ``{"data": {...}}`` (multi-valued fields as lists) or notFound.
- ``PATCH /api/principal/<name>`` with ``[{"action":"set","field":...,"value":...}]`` ->
  ``{"data": null}``; ``DELETE /api/principal/<name>`` -> ``{"data": null}``.
- ``GET /api/principal?types=&limit=&page=&fields=`` -> ``{"data":{"items":[...],"total":N}}``,
  sorted by name, pages 1-based (page 0 is the first page, limit 0 is unlimited).
- ``GET /api/settings/list?prefix=&page=&limit=`` -> ``{"data":{"items":{key: value},"total":N}}``
  (the ``settings`` dict; what migrate_v016.py's dump reads).

- a listing whose ``types`` include ``tenant`` is refused with ``{"error": "unsupported",
  "details": "Enterprise feature"}`` unless ``licensed`` (principal.rs: the official image is
  built with the enterprise feature, and an unlicensed one refuses; seen on the real v0.15.5).

Knobs: ``licensed``, ``not_ready_requests`` (the first N requests get 503), ``post_error``
(every POST answers 200 with that body), ``listen_after`` (the port is bound at once but only
accepts connections after that many seconds: earlier connections are refused),
``admin_password`` (changeable).
``requests`` logs every request as a ``Recorded``.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

INTERNAL_ROLES = {"user", "admin", "tenant-admin"}
TYPES = {
    "individual",
    "group",
    "resource",
    "location",
    "list",
    "tenant",
    "role",
    "domain",
    "apiKey",
    "oauthClient",
}
MULTI_FIELDS = {"secrets", "emails", "roles", "memberOf", "members", "lists", "urls"}


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    authorized: bool


class StalwartStandin:
    def __init__(
        self,
        admin_user: str = "admin",
        admin_password: str = "admin-password",
        *,
        not_ready_requests: int = 0,
        post_error: dict[str, Any] | None = None,
        listen_after: float | None = None,
        list_reply: Callable[[dict[str, str], dict[str, Any]], dict[str, Any]] | None = None,
        licensed: bool = False,
    ) -> None:
        self.licensed = licensed
        self.admin_user = admin_user
        self.admin_password = admin_password
        self.not_ready_requests = not_ready_requests
        self.post_error = post_error
        self.listen_after = listen_after
        self.list_reply = list_reply
        """A test's rewrite of each principal listing (query, honest reply) -> reply sent."""
        self.principals: dict[str, dict[str, Any]] = {}
        self.settings: dict[str, str] = {}
        self.requests: list[Recorded] = []
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._seen = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._stopped = threading.Event()

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "stand-in not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> StalwartStandin:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self), bind_and_activate=False)
        server.daemon_threads = True
        try:
            server.server_bind()  # port reserved now; connections are refused until listen()
        except BaseException:
            server.server_close()
            raise
        self._server = server
        if self.listen_after:
            self._timer = threading.Timer(self.listen_after, self._activate)
            self._timer.daemon = True
            self._timer.start()
        else:
            self._activate()
        return self

    def _activate(self) -> None:
        server = self._server
        if server is None or self._stopped.is_set():
            return
        server.server_activate()
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
                self._thread.join(timeout=5)
            self._server.server_close()

    def __enter__(self) -> StalwartStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state helpers for tests -----------------------------------------------------------
    def add_principal(self, typ: str, name: str, **fields: Any) -> dict[str, Any]:
        """Seeds a principal directly (as if made by hand in the webadmin)."""
        with self._lock:
            principal: dict[str, Any] = {"id": next(self._ids), "type": typ, "name": name.lower()}
            principal.update(fields)
            self.principals[principal["name"]] = principal
            return principal

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return json.loads(json.dumps(self.principals))

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (path is None or r.path == path)
            ]

    # -- request handling (called with the lock held) --------------------------------------
    def handle(
        self, method: str, raw_path: str, headers: Any, raw_body: bytes
    ) -> tuple[int, dict[str, str], bytes, Any, bool]:
        parsed = urllib.parse.urlsplit(raw_path)
        path = parsed.path
        self._seen += 1
        body: Any = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                body = raw_body.decode("utf-8", "replace")
        authorized = self._authorized(headers.get("Authorization"))
        if self._seen <= self.not_ready_requests:
            return (*_problem(503, "Service Unavailable"), body, authorized)
        if path in ("/healthz/ready", "/healthz/live"):
            return (*_problem(200, "OK"), body, authorized)
        if not path.startswith("/api/"):
            return (*_problem(404, "Not Found"), body, authorized)
        if not authorized:
            status, hdrs, payload = _problem(401, "Unauthorized")
            hdrs["WWW-Authenticate"] = 'Basic realm="Stalwart Server"'
            return status, hdrs, payload, body, authorized
        if isinstance(body, str):
            return (*_problem(400, "Invalid parameters"), body, authorized)
        query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        result = self._principal_api(method, path, query, body)
        if result is None:
            return (*_problem(404, "Not Found"), body, authorized)
        return 200, {"Content-Type": "application/json"}, json.dumps(result).encode(), body, True

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.admin_user and password == self.admin_password

    def _principal_api(
        self, method: str, path: str, query: dict[str, str], body: Any
    ) -> dict[str, Any] | None:
        if path == "/api/settings/list" and method == "GET":
            return self._settings(query)
        if path == "/api/principal":
            if method == "POST":
                if self.post_error is not None:
                    return self.post_error
                return self._create(body)
            if method == "GET":
                listing = self._list(query)
                return self.list_reply(query, listing) if self.list_reply else listing
            return None
        if not path.startswith("/api/principal/"):
            return None
        name = urllib.parse.unquote(path.removeprefix("/api/principal/"))
        principal = self.principals.get(name.lower())
        if principal is None:
            return {"error": "notFound", "item": name}
        if method == "GET":
            return {"data": principal}
        if method == "DELETE":
            del self.principals[principal["name"]]
            return {"data": None}
        if method == "PATCH":
            return self._patch(principal, body)
        return None

    def _create(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or body.get("type") not in TYPES:
            return {"error": "other", "details": "Invalid principal", "reason": None}
        name = str(body.get("name") or "").lower()
        if not name:
            return {"error": "fieldMissing", "field": "name"}
        if name in self.principals:
            return {"error": "fieldAlreadyExists", "field": "name", "value": name}
        principal: dict[str, Any] = {"id": next(self._ids), "type": body["type"], "name": name}
        if body.get("description"):
            principal["description"] = body["description"]
        secrets = _as_list(body.get("secrets"))
        if secrets:
            principal["secrets"] = secrets[:1]  # the first secret, verbatim
        emails = [e.lower() for e in _as_list(body.get("emails"))]
        error = self._validate_emails(emails, owner=None)
        if error:
            return error
        if emails:
            principal["emails"] = emails
        roles = _as_list(body.get("roles"))
        error = self._validate_roles(roles)
        if error:
            return error
        if roles:
            principal["roles"] = roles
        self.principals[name] = principal
        return {"data": principal["id"]}

    def _validate_emails(self, emails: list[str], owner: str | None) -> dict[str, Any] | None:
        for email in emails:
            for other in self.principals.values():
                if other["name"] != owner and email in other.get("emails", []):
                    return {"error": "fieldAlreadyExists", "field": "emails", "value": email}
            domain = email.rpartition("@")[2]
            if self.principals.get(domain, {}).get("type") != "domain":
                return {"error": "notFound", "item": domain}
        return None

    def _validate_roles(self, roles: list[str]) -> dict[str, Any] | None:
        for role in roles:
            if role not in INTERNAL_ROLES and self.principals.get(role, {}).get("type") != "role":
                return {"error": "notFound", "item": role}
        return None

    def _patch(self, principal: dict[str, Any], body: Any) -> dict[str, Any]:
        if not isinstance(body, list):
            return {"error": "other", "details": "Invalid patch", "reason": None}
        updated = dict(principal)
        for change in body:
            field, value = change.get("field"), change.get("value")
            if change.get("action") != "set":
                return {"error": "unsupported", "details": "stand-in supports 'set' only"}
            if field == "secrets":
                updated["secrets"] = _as_list(value)[:1]
            elif field == "emails":
                emails = [e.lower() for e in _as_list(value)]
                error = self._validate_emails(emails, owner=principal["name"])
                if error:
                    return error
                updated["emails"] = emails
            elif field == "description":
                if value:
                    updated["description"] = value
                else:
                    updated.pop("description", None)
            elif field == "roles":
                roles = _as_list(value)
                error = self._validate_roles(roles)
                if error:
                    return error
                updated["roles"] = roles
            else:
                return {"error": "unsupported", "details": f"stand-in cannot set {field}"}
        for key in MULTI_FIELDS:
            if key in updated and not updated[key]:
                del updated[key]
        self.principals[principal["name"]] = updated
        return {"data": None}

    def _settings(self, query: dict[str, str]) -> dict[str, Any]:
        # crates/http/src/management/settings.rs (v0.15.5): the database keys and the local
        # config.toml keys merged, offset = (page - 1) * limit; an empty prefix means all.
        prefix = query.get("prefix", "")
        limit = int(query.get("limit") or 0)
        page = int(query.get("page") or 1)
        matching = sorted(k for k in self.settings if k.startswith(prefix))
        offset = max(page - 1, 0) * limit
        chosen = matching[offset : offset + limit] if limit else matching[offset:]
        return {"data": {"items": {k: self.settings[k] for k in chosen}, "total": len(matching)}}

    def _list(self, query: dict[str, str]) -> dict[str, Any]:
        types = {t for t in query.get("types", query.get("type", "")).split(",") if t in TYPES}
        if "tenant" in types and not self.licensed:
            return {"error": "unsupported", "details": "Enterprise feature"}
        fields = [f for f in query.get("fields", "").split(",") if f]
        limit = int(query.get("limit") or 0)
        page = int(query.get("page") or 0)
        matching = [
            p for _, p in sorted(self.principals.items()) if not types or p["type"] in types
        ]
        offset = max(page - 1, 0) * limit
        chosen = matching[offset : offset + limit] if limit else matching[offset:]
        items = [
            {k: v for k, v in p.items() if k in ("id", "type") or not fields or k in fields}
            for p in chosen
        ]
        return {"data": {"items": items, "total": len(matching)}}


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _problem(status: int, title: str) -> tuple[int, dict[str, str], bytes]:
    body = {"type": "about:blank", "title": title, "status": status, "detail": title}
    return status, {"Content-Type": "application/problem+json"}, json.dumps(body).encode()


def _handler(standin: StalwartStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            with standin._lock:
                status, headers, payload, body, authorized = standin.handle(
                    self.command, self.path, self.headers, raw_body
                )
                parsed = urllib.parse.urlsplit(self.path)
                standin.requests.append(
                    Recorded(
                        method=self.command,
                        path=parsed.path,
                        query=dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)),
                        body=body,
                        status=status,
                        authorized=authorized,
                    )
                )
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

    return Handler
