"""A local stand-in of Stalwart v0.16's JMAP management endpoints, bound to 127.0.0.1 only.

Shapes from the v0.16.18 source (crates/http/src/request.rs, crates/jmap-proto/src/{request,
response,method,error}, crates/jmap/src/registry/{query,get,set}.rs and mapping/principal.rs):

- ``GET /healthz/ready``: no auth, 200 (503 for the first ``not_ready_requests`` requests).
- ``POST /jmap``: HTTP Basic (401 problem+json otherwise); body ``{"using", "methodCalls"}``;
  answer ``{"methodResponses": [[name, args, callId]], "sessionState"}``; an unknown method is
  ``["error", {"type": "unknownMethod"}, callId]``.
- every object type of the server's schema (vendor/stalwart/schema-v0.16.18.json.gz):
  ``x:<T>/query`` (equality filters; ``position``/``limit`` paging), ``x:<T>/get`` (``ids``,
  ``properties``; no ``ids``: all; password secrets masked as ``****``), ``x:<T>/set`` (create,
  update with top-level properties or JSON pointers ``a/b``, destroy); singletons under the id
  ``singleton``; request-level ``createdIds`` resolve ``#clientId`` references.
- what a run of the real v0.16.18 server showed (make e2e's rehearsal,
docs/explanation/verified-against-the-real-servers.md, "Verified against
  the real server"): an update naming a property the schema marks ``immutable`` is refused even
  when unchanged (``invalidPatch``, "Cannot modify read-only property"); the first start holds
  the seven default listeners and a file Tracer (crates/common/src/manager/defaults.rs); a
  created Stdout Tracer gets ``lossy``, ``events`` and ``eventsPolicy``, an account alias gets
  ``enabled`` and ``description`` (the server's defaults, returned by every get).
- a property the type does not have, created or updated, is refused: ``invalidPatch``, "Invalid
  key for object", ``properties: [""]`` (verbatim from the real server,
  crates/registry/src/jmap/patch.rs).
- ``recovery=True``: a singleton never written is answered with its first variant only
  (``{"@type": "Disabled", "id": "singleton"}`` for Asn), as the real server in recovery mode
  did (crates/common/src/manager/defaults.rs stores no defaults in recovery mode).
- Account: unique (name, domainId) else ``primaryKeyViolation``; a secret that is not a
  ``$``-hash is ``invalidProperties``; a whole ``credentials`` value replaces the list.

- authentication (crates/common/src/auth/authentication.rs): the recovery admin ``admin`` first
  while ``recovery_admin`` is on (the pod's ``STALWART_RECOVERY_ADMIN``, read at start only), then
  the directory: an account with the Admin role, logged in as its full address (the bare name
  was refused on the real v0.16.18 before the plan), its password checked against the stored
  ``$6$`` hash.

Knobs: ``not_ready_requests``, ``admin_password``, ``recovery_admin``, ``set_error`` (every
create/update/destroy fails with that SetError); ``requests`` records (method, path, body).
"""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import threading
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from passlib.hash import sha512_crypt

from tests.standins.local_http import LocalHTTPServer, reply

SCHEMA = Path(__file__).resolve().parents[2] / "vendor" / "stalwart" / "schema-v0.16.18.json.gz"
SINGLETON = "singleton"
UNKNOWN_KEY = {"type": "invalidPatch", "description": "Invalid key for object", "properties": [""]}
# What the server adds to a created object of these variants (seen on the real server).
CREATED_DEFAULTS: dict[tuple[str, str | None], dict[str, Any]] = {
    ("Tracer", "Stdout"): {"lossy": False, "events": {}, "eventsPolicy": "exclude"},
}


@cache
def _schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(gzip.decompress(SCHEMA.read_bytes()))
    return loaded


def immutable(object_type: str) -> set[str]:
    """The properties of a type the schema marks `immutable` (in any of its variants: a type of
    several variants names each variant's field set in `schemas`)."""
    schema = _schema()
    spec = schema["schemas"].get(f"x:{object_type}") or {}
    variants = spec.get("variants") or []
    names = [v["schemaName"] for v in variants if v.get("schemaName")] or [f"x:{object_type}"]
    found: set[str] = set()
    for name in names:
        for prop, field in ((schema["fields"].get(name) or {}).get("properties") or {}).items():
            if isinstance(field, dict) and field.get("update") == "immutable":
                found.add(prop)
    return found


@cache
def properties(object_type: str) -> frozenset[str]:
    """Every property any variant of a type has (the schema's `fields`), with `@type` and `id`."""
    schema = _schema()
    spec = schema["schemas"].get(f"x:{object_type}") or {}
    variants = spec.get("variants") or []
    names = [v["schemaName"] for v in variants if v.get("schemaName")] or [f"x:{object_type}"]
    found = {"@type", "id"}
    for name in names:
        found.update((schema["fields"].get(name) or {}).get("properties") or {})
    return frozenset(found)


def first_variant(object_type: str) -> str | None:
    variants = (_schema()["schemas"].get(f"x:{object_type}") or {}).get("variants") or []
    return str(variants[0]["name"]) if variants else None


def known_types() -> set[str]:
    return {name.removeprefix("x:") for name in _schema()["objects"]}


def singletons() -> set[str]:
    return {
        name.removeprefix("x:")
        for name, spec in _schema()["objects"].items()
        if isinstance(spec, dict) and spec.get("type") == "singleton"
    }


def _first_start() -> dict[str, dict[str, dict[str, Any]]]:
    listeners = [
        ("smtp", "smtp", 25, False),
        ("submissions", "smtp", 465, True),
        ("imaps", "imap", 993, True),
        ("pop3s", "pop3", 995, True),
        ("sieve", "manageSieve", 4190, False),
        ("https", "http", 443, True),
        ("http", "http", 8080, False),
    ]
    return {
        "NetworkListener": {
            f"l{index}": {
                "id": f"l{index}",
                "name": name,
                "protocol": protocol,
                "bind": {f"[::]:{port}": True},
                "useTls": True,
                "tlsImplicit": implicit,
            }
            for index, (name, protocol, port, implicit) in enumerate(listeners)
        },
        "Tracer": {
            "t0": {
                "id": "t0",
                "@type": "Log",
                "enable": True,
                "ansi": False,
                "prefix": "stalwart.log",
                "path": "/var/log/stalwart",
            }
        },
    }


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    body: Any
    authorized: bool


class JmapStandin(LocalHTTPServer):
    def __init__(
        self,
        admin_password: str = "admin-password",
        not_ready_requests: int = 0,
        first_start: bool = False,
        recovery: bool = False,
    ):
        self.recovery = recovery
        self.admin_password = admin_password
        self.recovery_admin = True
        self.not_ready_requests = not_ready_requests
        self.set_error: dict[str, Any] | None = None
        self.types = known_types()
        self.singletons = singletons()
        self.objects: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in self.types}
        if first_start:
            self.objects.update(json.loads(json.dumps(_first_start())))
        self.requests: list[Recorded] = []
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        super().__init__(self._handler())

    # --- lifecycle ---------------------------------------------------------------------------
    # --- data ----------------------------------------------------------------------------------
    def add(self, object_type: str, body: dict[str, Any]) -> str:
        with self._lock:
            object_id = format(next(self._ids), "x")
            defaults = CREATED_DEFAULTS.get((object_type, body.get("@type")), {})
            stored = {"id": object_id, **json.loads(json.dumps(defaults)), **body}
            for alias in (stored.get("aliases") or {}).values() if object_type == "Account" else ():
                alias.setdefault("enabled", True)
                alias.setdefault("description", None)
            self.objects[object_type][object_id] = stored
            return object_id

    def accounts(self) -> dict[str, dict[str, Any]]:
        """Account name -> stored object (secrets unmasked, as the server keeps them)."""
        return {a["name"]: a for a in self.objects["Account"].values()}

    def directory_admin(self, address: str, password: str) -> bool:
        name, _, domain = address.partition("@")
        domains = {i for i, d in self.objects["Domain"].items() if d.get("name") == domain}
        for account in self.objects["Account"].values():
            if account.get("name") != name or account.get("domainId") not in domains:
                continue
            if account.get("roles") != {"@type": "Admin"}:
                return False
            secrets = [c.get("secret") for c in (account.get("credentials") or {}).values()]
            return any(sha512_crypt.verify(password, s) for s in secrets if s)
        return False

    # --- JMAP ----------------------------------------------------------------------------------
    def jmap(self, request: Any) -> dict[str, Any]:
        responses = []
        created = dict(request.get("createdIds") or {})
        for name, args, call_id in request["methodCalls"]:
            object_type, _, method = name.removeprefix("x:").partition("/")
            if object_type not in self.objects or method not in ("query", "get", "set"):
                responses.append(["error", {"type": "unknownMethod"}, call_id])
                continue
            if method == "set":
                args = _references(args, created)
                answer = self._set(object_type, args)
                for client_id, entry in (answer.get("created") or {}).items():
                    created[client_id] = entry["id"]
            else:
                answer = getattr(self, f"_{method}")(object_type, args)
            responses.append([name, answer, call_id])
        return {"methodResponses": responses, "sessionState": "0"}

    def _query(self, object_type: str, args: dict[str, Any]) -> dict[str, Any]:
        condition = args.get("filter") or {}
        ids = [
            object_id
            for object_id, body in sorted(self.objects[object_type].items())
            if all(body.get(key) == value for key, value in condition.items())
        ]
        position, limit = int(args.get("position", 0)), int(args.get("limit", 1000))
        return {
            "accountId": "a",
            "queryState": "0",
            "position": position,
            "ids": ids[position : position + limit],
        }

    def _get(self, object_type: str, args: dict[str, Any]) -> dict[str, Any]:
        found, missing = [], []
        for object_id in args.get("ids") or list(self.objects[object_type]):
            body = self.objects[object_type].get(object_id)
            if body is None and object_type in self.singletons and object_id == SINGLETON:
                variant = first_variant(object_type) if self.recovery else None
                body = {"id": SINGLETON, **({"@type": variant} if variant else {})}
            if body is None:
                missing.append(object_id)
                continue
            shown = json.loads(json.dumps(body))
            for credential in (shown.get("credentials") or {}).values():
                credential["secret"] = "****"
            properties = args.get("properties")
            if properties:
                shown = {k: v for k, v in shown.items() if k in properties or k == "id"}
            found.append(shown)
        return {"accountId": "a", "state": "0", "list": found, "notFound": missing}

    def _set(self, object_type: str, args: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {"accountId": "a"}
        for client_id, body in (args.get("create") or {}).items():
            unknown = set(body) - properties(object_type)
            error = UNKNOWN_KEY if unknown else self._invalid(object_type, body, None)
            if error:
                result.setdefault("notCreated", {})[client_id] = error
            else:
                result.setdefault("created", {})[client_id] = {"id": self.add(object_type, body)}
        for object_id, patch in (args.get("update") or {}).items():
            if object_type in self.singletons and object_id == SINGLETON:
                self.objects[object_type].setdefault(SINGLETON, {"id": SINGLETON})
            current = self.objects[object_type].get(object_id)
            if current is None:
                result.setdefault("notUpdated", {})[object_id] = {"type": "notFound"}
                continue
            if {p.split("/")[0] for p in patch} - properties(object_type):
                result.setdefault("notUpdated", {})[object_id] = UNKNOWN_KEY
                continue
            read_only = sorted({p.split("/")[0] for p in patch} & immutable(object_type))
            if read_only:
                result.setdefault("notUpdated", {})[object_id] = {
                    "type": "invalidPatch",
                    "description": "Cannot modify read-only property",
                    "properties": read_only,
                }
                continue
            updated = json.loads(json.dumps(current))
            for pointer, value in patch.items():
                *parents, leaf = pointer.split("/")
                target = updated
                for part in parents:
                    target = target.setdefault(part, {})
                target[leaf] = value
            error = self._invalid(object_type, updated, object_id)
            if error:
                result.setdefault("notUpdated", {})[object_id] = error
            else:
                self.objects[object_type][object_id] = updated
                result.setdefault("updated", {})[object_id] = None
        for object_id in args.get("destroy") or []:
            if self.objects[object_type].pop(object_id, None) is None:
                result.setdefault("notDestroyed", {})[object_id] = {"type": "notFound"}
            else:
                result.setdefault("destroyed", []).append(object_id)
        return result

    def _invalid(self, object_type: str, body: dict[str, Any], own_id: str | None) -> Any:
        if self.set_error is not None:
            return self.set_error
        if object_type != "Account":
            return None
        for object_id, other in self.objects["Account"].items():
            if object_id != own_id and (other["name"], other.get("domainId")) == (
                body.get("name"),
                body.get("domainId"),
            ):
                return {"type": "primaryKeyViolation", "objectId": object_id}
        for credential in (body.get("credentials") or {}).values():
            if not str(credential.get("secret", "")).startswith("$"):
                return {
                    "type": "invalidProperties",
                    "properties": ["secret"],
                    "description": "Password is too weak",
                }
        return None

    # --- HTTP ----------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: Any, kind: str = "application/json") -> None:
                reply(self, status, json.dumps(body).encode(), kind)

            def _authorized(self) -> bool:
                scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
                if scheme != "Basic":
                    return False
                user, _, password = base64.b64decode(token).decode().partition(":")
                with standin._lock:
                    if user == "admin" and standin.recovery_admin:
                        return password == standin.admin_password
                    return standin.directory_admin(user, password)

            def do_GET(self) -> None:
                with standin._lock:
                    standin.requests.append(Recorded("GET", self.path, None, False))
                    if standin.not_ready_requests > 0:
                        standin.not_ready_requests -= 1
                        self._answer(503, {"status": 503})
                        return
                if self.path == "/healthz/ready":
                    self._answer(200, {"status": 200, "title": "OK"}, "application/problem+json")
                elif self.path.startswith("/metrics"):
                    # The plan's allowedEndpoints: /metrics is the metrics listener's only.
                    self._answer(403, {"status": 403}, "application/problem+json")
                else:
                    self._answer(404, {"status": 404}, "application/problem+json")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                authorized = self._authorized()
                with standin._lock:
                    standin.requests.append(Recorded("POST", self.path, body, authorized))
                    if not authorized:
                        self._answer(
                            401,
                            {"status": 401, "title": "Unauthorized"},
                            "application/problem+json",
                        )
                    elif self.path != "/jmap":
                        self._answer(404, {"status": 404}, "application/problem+json")
                    else:
                        self._answer(200, standin.jmap(body))

        return Handler


def _references(value: Any, created: dict[str, str]) -> Any:
    """`#clientId` strings (and keys) replaced by the ids created under them (RFC 8620 3.3)."""
    if isinstance(value, str) and value.startswith("#") and value[1:] in created:
        return created[value[1:]]
    if isinstance(value, dict):
        return {_references(k, created): _references(v, created) for k, v in value.items()}
    if isinstance(value, list):
        return [_references(item, created) for item in value]
    return value


class MetricsListenerStandin(LocalHTTPServer):
    """Stalwart's metrics listener (9090) as the plan configures it, as seen by a client that is
    not on loopback (the listeners Job's pod; Stalwart lets a loopback client past
    allowedEndpoints, http/src/request.rs `parse_http_request`, so a stand-in on 127.0.0.1
    plays the pod's view). `/metrics/prometheus` answers 401 without the Basic credentials
    (request.rs, `prometheus.auth`) or, when `password` is None (the secret file was unreadable
    at start, so no auth is configured), 200; with `only_metrics` every other path answers 403
    (the plan's allowedEndpoints), else 404."""

    def __init__(self, password: str | None = "metrics-password", only_metrics: bool = True):
        standin = self
        self.password = password
        self.only_metrics = only_metrics
        self.paths: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                standin.paths.append(self.path)
                expected = base64.b64encode(f"prometheus:{standin.password}".encode()).decode()
                if not self.path.startswith("/metrics"):
                    status = 403 if standin.only_metrics else 404
                elif self.path != "/metrics/prometheus":
                    status = 404
                elif standin.password is None or (
                    self.headers.get("Authorization") == f"Basic {expected}"
                ):
                    status = 200
                else:
                    status = 401
                body = json.dumps({"status": status}).encode()
                reply(self, status, body, "application/problem+json")

        super().__init__(Handler)

    @property
    def port(self) -> int:
        return int(self.url.rpartition(":")[2])
