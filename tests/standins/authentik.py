"""A stand-in of the parts of Authentik's API (`/api/v3`) the webmail's forward-auth uses, on
127.0.0.1 only. Shapes from Authentik's OpenAPI schema (goauthentik/client-go v3.2026020.2
`schema.yml`, authentik 2026.2.2) and the server's behaviour (goauthentik/authentik):

- `Authorization: Bearer <token>`; anything else is 403 `{"detail": ...}` (TokenAuthentication
  has no authenticate_header, so DRF answers 403, not 401);
- lists are `{"pagination": {...}, "results": [...], "autocomplete": {}}`; unknown query
  parameters are ignored (django-filter), so `/outposts/instances/?name=x` lists every outpost;
- proxy providers have integer pks, names unique (400 `{"name": [...]}`), `mode` one of proxy,
  forward_single, forward_domain; applications are addressed by slug, with a uuid pk;
- PATCH of an outpost's `providers` replaces the whole list; each pk must exist (400); a
  non-embedded outpost's list may not be empty (400 "This list may not be empty.",
  outposts/api/outposts.py `validate_providers`);
- an application's provider is one-to-one: a second application on it is 400;
- lists are paginated (`page`, `page_size`; `pagination.next` is the next page number, 0 after
  the last); ``page_size`` here defaults to ``page_size_default`` so that tests can force paging;
- a policy binding's `order` may be PATCHed; ``binding_counts`` records, after every binding
  write, how many bindings the target has (Authentik lets everyone in with none);
- 404 is `{"detail": "Not found."}`; DELETE answers 204.
"""

from __future__ import annotations

import itertools
import json
import threading
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.standins.local_http import LocalHTTPServer, reply

PROXY_MODES = ("proxy", "forward_single", "forward_domain")
EMBEDDED = "goauthentik.io/outposts/embedded"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str | None


class AuthentikStandin(LocalHTTPServer):
    def __init__(self, token: str = "ak-token-0123456789") -> None:
        self.token = token
        self.requests: list[Seen] = []
        self.flows = {
            slug: str(uuid.uuid4())
            for slug in (
                "default-provider-authorization-implicit-consent",
                "default-provider-invalidation-flow",
            )
        }
        self.groups = {"mail-users": str(uuid.uuid4())}
        self.providers: dict[int, dict[str, Any]] = {}
        self.applications: dict[str, dict[str, Any]] = {}
        self.bindings: dict[str, dict[str, Any]] = {}
        self.outposts: dict[str, dict[str, Any]] = {}
        self._pks = itertools.count(1)
        self._lock = threading.RLock()
        self.page_size_default = 20
        self.binding_counts: list[int] = []
        self.after_outpost_patch: Callable[[dict[str, Any]], None] | None = None
        """Runs after an outpost PATCH: a test's concurrent writer."""
        self.error_body: dict[str, Any] | None = None
        """When set, every authenticated call answers 400 with it (a server that echoes)."""
        self.add_outpost("authentik Embedded Outpost", [], managed=EMBEDDED)
        super().__init__(self._handler())

    # -- seeding ---------------------------------------------------------------------------------
    def add_provider(self, name: str, mode: str = "forward_single", host: str = "") -> int:
        with self._lock:
            pk = next(self._pks)
            self.providers[pk] = {"pk": pk, "name": name, "mode": mode, "external_host": host}
            return pk

    def add_outpost(self, name: str, providers: list[int], managed: str | None = None) -> str:
        pk = str(uuid.uuid4())
        self.outposts[pk] = {
            "pk": pk,
            "name": name,
            "type": "proxy",
            "providers": list(providers),
            "managed": managed,
            "config": {},
        }
        return pk

    def outpost_named(self, name: str) -> dict[str, Any]:
        return next(o for o in self.outposts.values() if o["name"] == name)

    # -- handling --------------------------------------------------------------------------------
    def handle(self, method: str, raw: str, headers: Any, body: Any) -> tuple[int, Any]:
        parsed = urllib.parse.urlsplit(raw)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        self.requests.append(Seen(method, parsed.path, query, body, headers.get("Authorization")))
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 403, {"detail": "Token invalid/expired"}
        if self.error_body is not None:
            return 400, self.error_body
        path = parsed.path.removeprefix("/api/v3")
        parts = [p for p in path.split("/") if p]
        with self._lock:
            return self._route(method, parts, query, body)

    def _route(
        self, method: str, parts: list[str], query: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        match parts:
            case ["flows", "instances", slug] if method == "GET":
                pk = self.flows.get(urllib.parse.unquote(slug))
                return (200, {"pk": pk, "slug": slug}) if pk else _not_found()
            case ["core", "groups"] if method == "GET":
                name = query.get("name")
                found = [
                    {"pk": pk, "name": n} for n, pk in self.groups.items() if name in (None, n)
                ]
                return 200, self._page(found, query)
            case ["providers", "proxy"] if method == "POST":
                return self._create_provider(body)
            case ["providers", "proxy", pk]:
                return self._provider(method, int(pk), body)
            case ["core", "applications"] if method == "POST":
                return self._create_application(body)
            case ["core", "applications", slug]:
                return self._application(method, urllib.parse.unquote(slug), body)
            case ["outposts", "instances"] if method == "GET":
                wanted = query.get("name__iexact")
                found = [
                    o
                    for o in self.outposts.values()
                    if wanted is None or o["name"].lower() == wanted.lower()
                ]
                return 200, self._page(found, query)
            case ["outposts", "instances", pk]:
                return self._outpost(method, pk, body)
            case ["policies", "bindings"] if method == "GET":
                target = query.get("target")
                found = [b for b in self.bindings.values() if target in (None, b["target"])]
                return 200, self._page(found, query)
            case ["policies", "bindings"] if method == "POST":
                pk = str(uuid.uuid4())
                self.bindings[pk] = {"pk": pk, **body}
                self._count_bindings(body["target"])
                return 201, self.bindings[pk]
            case ["policies", "bindings", pk]:
                if pk not in self.bindings:
                    return _not_found()
                if method == "DELETE":
                    target = self.bindings.pop(pk)["target"]
                    self._count_bindings(target)
                    return 204, None
                if method == "PATCH":
                    self.bindings[pk].update(body)
                return 200, self.bindings[pk]
        return _not_found()

    def _create_provider(self, body: dict[str, Any]) -> tuple[int, Any]:
        required = ("name", "authorization_flow", "invalidation_flow", "external_host")
        missing = {field: ["This field is required."] for field in required if not body.get(field)}
        if missing:
            return 400, missing
        if body.get("mode", "proxy") not in PROXY_MODES:
            return 400, {"mode": [f'"{body["mode"]}" is not a valid choice.']}
        if any(p["name"] == body["name"] for p in self.providers.values()):
            return 400, {"name": ["Provider with this name already exists."]}
        pk = next(self._pks)
        self.providers[pk] = {"pk": pk, "mode": "proxy", **body}
        return 201, self.providers[pk]

    def _provider(self, method: str, pk: int, body: Any) -> tuple[int, Any]:
        if pk not in self.providers:
            return _not_found()
        if method == "DELETE":
            del self.providers[pk]
            for outpost in self.outposts.values():  # the M2M row goes with the provider
                outpost["providers"] = [p for p in outpost["providers"] if p != pk]
            return 204, None
        if method == "PATCH":
            self.providers[pk].update(body)
        return 200, self.providers[pk]

    def _count_bindings(self, target: str) -> None:
        self.binding_counts.append(sum(b["target"] == target for b in self.bindings.values()))

    def _page(self, results: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
        size = int(query.get("page_size") or self.page_size_default)
        page = int(query.get("page") or 1)
        chunk = results[(page - 1) * size : page * size]
        last = max(1, -(-len(results) // size))
        answer = _page(chunk)
        answer["pagination"].update(
            {"count": len(results), "current": page, "total_pages": last,
             "next": page + 1 if page < last else 0}
        )  # fmt: skip
        return answer

    def _create_application(self, body: dict[str, Any]) -> tuple[int, Any]:
        if body["slug"] in self.applications:
            return 400, {"slug": ["Application with this slug already exists."]}
        if body.get("provider") is not None and any(
            a.get("provider") == body["provider"] for a in self.applications.values()
        ):
            return 400, {"provider": ["application with this provider already exists."]}
        self.applications[body["slug"]] = {"pk": str(uuid.uuid4()), **body}
        return 201, self.applications[body["slug"]]

    def _application(self, method: str, slug: str, body: Any) -> tuple[int, Any]:
        if slug not in self.applications:
            return _not_found()
        if method == "DELETE":
            del self.applications[slug]
            return 204, None
        if method == "PATCH":
            self.applications[slug].update(body)
        return 200, self.applications[slug]

    def _outpost(self, method: str, pk: str, body: Any) -> tuple[int, Any]:
        outpost = self.outposts.get(pk)
        if outpost is None:
            return _not_found()
        if method == "PATCH":
            unknown = [p for p in body.get("providers", []) if p not in self.providers]
            if unknown:
                return 400, {"providers": [f'Invalid pk "{unknown[0]}" - object does not exist.']}
            if "providers" in body and not body["providers"] and outpost["managed"] != EMBEDDED:
                return 400, {"providers": ["This list may not be empty."]}
            outpost.update(body)
            if self.after_outpost_patch is not None:
                self.after_outpost_patch(outpost)
        return 200, outpost

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                status, answer = standin.handle(self.command, self.path, self.headers, body)
                reply(self, status, b"" if answer is None else json.dumps(answer).encode())

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def _page(results: list[dict[str, Any]]) -> dict[str, Any]:
    count = len(results)
    return {
        "pagination": {
            "next": 0,
            "previous": 0,
            "count": count,
            "current": 1,
            "total_pages": 1,
            "start_index": 1 if count else 0,
            "end_index": count,
        },
        "results": results,
        "autocomplete": {},
    }


def _not_found() -> tuple[int, Any]:
    return 404, {"detail": "Not found."}
