"""Runs the Pulumi program under the SDK's mock runtime and records what it registers.

Shared by the offline render (`make render`) and the tests. Each run happens in a fresh
`contextvars.Context`, because the SDK keeps its settings, config and root stack in context
variables: runs never see each other's state.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import runpy
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from offline.secrets import secret

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MAIN = PROJECT_ROOT / "__main__.py"
PROJECT = "mailstack"
ORGANIZATION = "homelab"
READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"


@dataclass
class Registration:
    """One resource as the program registered it."""

    urn: str
    type: str
    name: str
    parent_urn: str | None
    custom: bool
    inputs: dict[str, Any]
    """As registered, camelCase; secrets still wrapped (see `is_secret_value`)."""
    state: dict[str, Any]
    """What the mocks returned as the resource's outputs."""
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    depends_on: list[str]
    """URNs named in `depends_on` (explicit dependencies only)."""
    import_id: str | None
    ignore_changes: list[str] = field(default_factory=list)
    replace_on_changes: list[str] = field(default_factory=list)
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    """`customTimeouts` as given: create/update/delete durations such as `15m`."""


@dataclass(frozen=True)
class Read:
    """An existing object the program reads: its URN, type, logical name and id."""

    urn: str
    type: str
    name: str
    id: str


@dataclass
class StackRun:
    resources: list[Registration]
    outputs: dict[str, Any]
    """Stack outputs; secret ones wrapped like secret inputs."""
    reads: list[Read] = field(default_factory=list)
    """Existing objects the program reads (`Resource.get`), never created or changed."""
    logs: list[tuple[str, str]] = field(default_factory=list)
    """(level, message) of every engine log line the program wrote."""
    error: BaseException | None = None
    """What the program raised, when run with `check=False`."""

    def by_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_token]

    def get(self, type_token: str, name: str) -> Registration:
        for registration in self.resources:
            if registration.type == type_token and registration.name == name:
                return registration
        known = sorted(f"{r.type} {r.name}" for r in self.resources)
        raise KeyError(f"no {type_token} named {name}; registered: {known}")

    def name_of(self, urn: str | None) -> str | None:
        found = [r.name for r in self.resources if r.urn == urn]
        found += [r.name for r in self.reads if r.urn == urn]
        return found[0] if found else None


def _mock_string(seed: str, length: int, upper: bool = True) -> str:
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    if not upper:  # `upper: false`, as the real provider honours it
        alphabet = "".join(c for c in alphabet if not c.isupper())
    digest = hashlib.sha256(seed.encode()).digest()
    while len(digest) < length:
        digest += hashlib.sha256(digest).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


class ProgramMocks(pulumi.runtime.Mocks):
    """Stands in for the providers: returns the inputs as outputs plus what the provider adds.

    `provider_state` adds outputs per type token, e.g. a verified Email Routing destination;
    `previous_outputs` are the stack outputs the engine returns for this stack's last update.
    """

    def __init__(
        self,
        provider_state: Mapping[str, Mapping[str, Any]] | None = None,
        previous_outputs: Mapping[str, Any] | None = None,
    ) -> None:
        self.provider_state = provider_state or {}
        self.previous_outputs = dict(previous_outputs or {})

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        state = {**args.inputs, **self.provider_state.get(args.typ, {})}
        resource_id = args.resource_id or f"{args.name}-id"
        if args.typ == "random:index/randomPassword:RandomPassword":
            # The real provider marks `result` secret (additionalSecretOutputs); so do we.
            # A new `keepers` value replaces the password, as the real provider does.
            seed = f"password:{args.name}:{json.dumps(state.get('keepers'), sort_keys=True)}"
            state["result"] = secret(_mock_string(seed, int(state["length"])))
        elif args.typ == "random:index/randomString:RandomString":
            # A new `keepers` value replaces the string, as the real provider does.
            keepers = state.get("keepers")
            seed = f"string:{args.name}" + (
                f":{json.dumps(keepers, sort_keys=True)}" if keepers else ""
            )
            upper = state.get("upper") is not False
            state["result"] = _mock_string(seed, int(state["length"]), upper)
        elif args.typ == "pulumi-python:dynamic/authentik:ProxyProvider":
            # Authentik numbers its providers; the stand-in number is stable per name.
            state["pk"] = int(hashlib.sha256(args.name.encode()).hexdigest()[:4], 16)
        elif args.typ == "pulumi-python:dynamic/authentik:Application":
            state["uuid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"application:{args.name}"))
        elif args.typ.startswith("kubernetes:"):
            metadata = dict(state.get("metadata") or {})
            if args.resource_id and not metadata:  # a read: `<namespace>/<name>` names it
                read_namespace, _, object_name = args.resource_id.rpartition("/")
                metadata = {"name": object_name}
                if read_namespace:
                    metadata["namespace"] = read_namespace
            if not metadata.get("name"):
                # pulumi-kubernetes auto-names as `<logical name>-<8 random characters>`.
                metadata["name"] = f"{args.name}-{_mock_string(args.name, 8).lower()}"
            state["metadata"] = metadata
            namespace = metadata.get("namespace")
            resource_id = f"{namespace}/{metadata['name']}" if namespace else metadata["name"]
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
        if args.token == READ_STACK_OUTPUTS:
            # The builtin provider's answer (pkg/resource/deploy/builtins.go readStackReference).
            name = args.args.get("name")
            return {"name": name, "outputs": self.previous_outputs, "secretOutputNames": []}, []
        return {}, []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also keeping the resource options a test must see."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []
        self.reads: list[Read] = []

    def ReadResource(self, request: Any) -> Any:
        response = super().ReadResource(request)
        self.reads.append(Read(response.urn, request.type, request.name, request.id))
        return response

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        implicit: set[str] = set()
        for deps in request.propertyDependencies.values():
            implicit.update(deps.urns)
        parent = request.parent or None
        if parent is not None and parent.split("::")[2] == "pulumi:pulumi:Stack":
            parent = None
        registered = self.resources.get(response.urn)
        self.registrations.append(
            Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                parent_urn=parent,
                custom=bool(request.custom),
                inputs=dict(inputs),
                state=dict(registered.state) if registered else {},
                protect=bool(request.protect),
                retain_on_delete=bool(request.retainOnDelete),
                delete_before_replace=bool(request.deleteBeforeReplace),
                depends_on=sorted(set(request.dependencies) - implicit),
                import_id=request.importId or None,
                ignore_changes=list(request.ignoreChanges),
                replace_on_changes=list(request.replaceOnChanges),
                custom_timeouts={
                    op: getattr(request.customTimeouts, op)
                    for op in ("create", "update", "delete")
                    if request.HasField("customTimeouts") and getattr(request.customTimeouts, op)
                },
            )
        )
        return response


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.levelname.lower(), record.getMessage()))


def _config_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def run_program(
    config: Mapping[str, Any],
    secret_keys: Iterable[str] = (),
    program: Callable[[], Any] | None = None,
    *,
    stack: str = "prod",
    preview: bool = False,
    check: bool = True,
    provider_state: Mapping[str, Mapping[str, Any]] | None = None,
    previous_outputs: Mapping[str, Any] | None = None,
) -> StackRun:
    """Runs `program` (default: the project's __main__.py) under mocks with `config`.

    `config` maps full keys (`mailstack:domain`) to values; structured values are passed as
    JSON like the Pulumi CLI does; `previous_outputs` stand for the stack's last update (none:
    a stack that was never updated). Exceptions of the program (e.g. SettingsError) propagate,
    or with `check=False` are returned in `StackRun.error` next to what was registered.
    """
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    body = program or (lambda: runpy.run_path(str(MAIN), run_name="__main__"))

    def run() -> StackRun:
        pulumi.runtime.set_all_config(
            {key: _config_value(value) for key, value in config.items()}, list(secret_keys)
        )
        handler = _ListHandler()
        logger = logging.getLogger(f"mailstack.offline.{id(handler)}")
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
        mocks = ProgramMocks(provider_state, previous_outputs)
        monitor = RecordingMonitor(mocks)
        pulumi.runtime.set_mocks(
            mocks,
            project=PROJECT,
            stack=stack,
            preview=preview,
            logger=logger,
            monitor=monitor,
            organization=ORGANIZATION,
        )
        root = pulumi.runtime.settings.get_root_resource()

        def main() -> None:
            body()

        error: BaseException | None = None
        try:
            _sync_await(run_pulumi_func(main))
        except Exception as raised:
            if check:
                raise
            error = raised
        finally:
            logger.removeHandler(handler)
        outputs: dict[str, Any] = {}
        if error is None:
            for key, value in getattr(root, "outputs", {}).items():
                outputs[key] = _sync_await(_resolve(value))
        return StackRun(
            resources=monitor.registrations,
            reads=monitor.reads,
            outputs=outputs,
            logs=handler.records,
            error=error,
        )

    return contextvars.Context().run(run)


async def _resolve(value: Any) -> Any:
    output = pulumi.Output.from_input(value)
    resolved = await output.future()
    return secret(resolved) if await output.is_secret() else resolved
