"""`make render`: the whole stack rendered offline, as `pulumi up` would create it.

Runs __main__.py under the mock runtime with the settings of `Pulumi.<stack>.yaml`. Encrypted
(`secure:`) values are never decrypted: each secret setting, encrypted or absent, gets a
well-formed stand-in, and every secret value is written as `[secret]`.

Usage: python -m offline.render [--stack prod] [--out rendered] [--previous-outputs prev.json]
Exit codes: 0 rendered, 2 bad settings (one line per problem on stderr), 1 a v0.16 plan that
does not fit Stalwart's schema (a bug of this program).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from offline.deployer import DeployerError, deployer_manifests, previewer_manifests
from offline.harness import PROJECT_ROOT, Registration, StackRun, run_program
from offline.outdir import MARKER, clean, clear_previous_render
from offline.secrets import redact, reveal
from offline.stackfile import StackFileError, read_config
from offline.stalwart_schema import plan_problems
from offline.summary import SECRET_MARKER, summary
from settings import AUTHENTIK_TOKEN_KEY, KEYS, NAMESPACE, SECRET_PLACEHOLDERS, SettingsError
from settings.history import RECORD_OUTPUT, record_problem

# The server's own files, as it reads them: v0.15's config.toml; v0.16's config.json and the
# `stalwart-cli apply` plans.
STALWART_FILES = ("config.toml", "config.json", "plan.ndjson", "reload.ndjson")
# Order in which `kubectl apply` would want the objects (dependencies first).
DEPLOYER_FILE = "deployer-rbac.yaml"
PREVIEWER_FILE = "previewer-rbac.yaml"
KIND_ORDER = ["Namespace", "PersistentVolumeClaim", "Secret", "ConfigMap", "Deployment"]
# Pulumi's own rule for a stack name (pkg/backend/filestate/backend.go: stackNameRE).
STACK_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


def load_stack_config(stack: str, root: Path = PROJECT_ROOT) -> tuple[dict[str, Any], set[str]]:
    """The stack file's config with stand-ins for secrets, and the set of secret keys."""
    if not STACK_NAME_RE.fullmatch(stack):
        raise SettingsError(
            [
                f"STACK={stack!r}: is not a stack name (up to 100 letters, digits, '-', '_' "
                "and '.'). Fix: STACK=prod."
            ]
        )
    path = root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        raise SettingsError([f"{path.name}: no such stack file. Fix: pulumi stack init {stack}."])
    try:
        stack_config = read_config(path)
    except StackFileError as err:
        raise SettingsError([str(err)]) from None
    config: dict[str, Any] = {}
    secret_keys: set[str] = set()
    for key, value in stack_config.items():
        if not isinstance(key, str):
            raise SettingsError(
                [f"{path.name}: the config key {key!r} is not a name. Fix: namespace:name keys."]
            )
        full_key = key if ":" in key else f"{NAMESPACE}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[full_key] = SECRET_PLACEHOLDERS.get(full_key, "render-placeholder")
            secret_keys.add(full_key)
        else:
            config[full_key] = value
    for key, spec in KEYS.items():
        full_key = f"{NAMESPACE}:{key}"
        # A required secret that is absent gets a stand-in so the render shows the whole stack;
        # an optional one (adminPassword) stays absent so the render shows what is generated.
        if spec.secret and spec.required and full_key not in config:
            config[full_key] = SECRET_PLACEHOLDERS[full_key]
            secret_keys.add(full_key)
    # Authentik's token may live in the environment of `pulumi up` only: a stand-in here.
    if f"{NAMESPACE}:authentik" in config and AUTHENTIK_TOKEN_KEY not in config:
        config[AUTHENTIK_TOKEN_KEY] = "render-placeholder-authentik-token"
        secret_keys.add(AUTHENTIK_TOKEN_KEY)
    return config, secret_keys


def load_previous_outputs(path: Path | None) -> dict[str, Any]:
    """What `pulumi stack output --json` printed: the record of which generation each data claim
    holds (`stalwartData`), so that the render follows an upgrade like `pulumi up` would."""
    if path is None:
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise SettingsError(
            [f"{path}: cannot read it ({err.strerror}). Fix: PREVIOUS=<file>."]
        ) from None
    except ValueError as err:
        raise SettingsError(
            [f"{path}: not JSON ({err}). Fix: pulumi stack output --json > {path.name}."]
        ) from None
    if not isinstance(document, dict):
        raise SettingsError([f"{path}: not an object of outputs. Fix: pulumi stack output --json."])
    record = document.get(RECORD_OUTPUT)
    problem = None if record is None else record_problem(record)
    if problem:
        raise SettingsError(
            [
                f"{path}: {RECORD_OUTPUT} {problem}; it is not a record this program writes. "
                f"Fix: pulumi stack output --json > {path.name} (unedited)."
            ]
        )
    return document


def _plain_numbers(value: Any) -> Any:
    """Protobuf carries every number as a float; Kubernetes wants integers where they are."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _plain_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_numbers(v) for v in value]
    return value


def _sorted_keys(value: Any) -> Any:
    """Protobuf maps come back in no fixed order; sorting keeps two renders diffable."""
    if isinstance(value, dict):
        return {k: _sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_keys(v) for v in value]
    return value


def manifest(registration: Registration) -> dict[str, Any]:
    """The Kubernetes object as it would be applied (auto-names filled in), secrets masked."""
    state = _sorted_keys(_plain_numbers(redact(registration.state, SECRET_MARKER, keep_shape=True)))
    ordered = {key: state[key] for key in ("apiVersion", "kind", "metadata") if key in state}
    ordered.update({k: v for k, v in state.items() if k not in ordered})
    return ordered


def resource_record(run: StackRun, registration: Registration) -> dict[str, Any]:
    return {
        "type": registration.type,
        "name": registration.name,
        "parent": run.name_of(registration.parent_urn),
        "inputs": _plain_numbers(redact(registration.inputs, SECRET_MARKER)),
        "protect": registration.protect,
        "retainOnDelete": registration.retain_on_delete,
        "dependsOn": [run.name_of(urn) for urn in registration.depends_on],
        "import": registration.import_id,
    }


def _kubernetes_objects(run: StackRun) -> list[Registration]:
    objects = [r for r in run.resources if r.type.startswith("kubernetes:")]

    def order(registration: Registration) -> tuple[int, str, str]:
        kind = str(registration.state.get("kind", ""))
        rank = KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER)
        return rank, kind, registration.name

    return sorted(objects, key=order)


def write_render(run: StackRun, out: Path) -> list[str]:
    """Writes resources.json, kubernetes/, stalwart/ (the server's own files) and SUMMARY.md into
    `out`, and MARKER listing every file; returns what it wrote."""
    objects = _kubernetes_objects(run)
    deployer = deployer_manifests(objects)  # before any file is touched: it may refuse
    previewer = previewer_manifests(objects)
    clear_previous_render(out)
    (out / "kubernetes").mkdir(parents=True, exist_ok=True)
    (out / "stalwart").mkdir(exist_ok=True)
    files: list[str] = ["resources.json", "SUMMARY.md"]

    ordered = sorted(run.resources, key=lambda r: r.urn)
    records = [resource_record(run, r) for r in ordered]
    (out / "resources.json").write_text(json.dumps(records, indent=2, sort_keys=True) + "\n")

    for index, registration in enumerate(objects, start=1):
        body = manifest(registration)
        kind = str(body.get("kind", "object")).lower()
        # A patch of someone else's object (SecretPatch, DeploymentPatch) holds only its fields.
        kind += "-patch" if registration.type.endswith("Patch") else ""
        name = body.get("metadata", {}).get("name", registration.name)
        path = out / "kubernetes" / f"{index:02d}-{kind}-{name}.yaml"
        path.write_text(yaml.safe_dump(body, sort_keys=False))
        files.append(f"kubernetes/{path.name}")

    written = ["resources.json", "kubernetes/"]
    for registration in objects:
        data = reveal(registration.state.get("data")) or {}
        if registration.state.get("kind") != "ConfigMap":
            continue
        for file_name in STALWART_FILES:
            if file_name in data:
                (out / "stalwart" / file_name).write_text(data[file_name])
                written.append(f"stalwart/{file_name}")
                files.append(f"stalwart/{file_name}")

    # CI's identities for this stack (docs/getting-started/ci.md: KUBECONFIG for the deploy,
    # KUBECONFIG_PREVIEW for pull-request previews and the drift check).
    for name, documents in ((DEPLOYER_FILE, deployer), (PREVIEWER_FILE, previewer)):
        (out / name).write_text(yaml.safe_dump_all(documents, sort_keys=False))
        files.append(name)
        written.append(name)

    (out / "SUMMARY.md").write_text(summary(run, ordered))
    (out / MARKER).write_text("".join(f"{name}\n" for name in sorted(files)))
    return [*written, "SUMMARY.md"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--out", default="rendered")
    parser.add_argument(
        "--config-dir", default=PROJECT_ROOT, type=Path, help="where Pulumi.<stack>.yaml is"
    )
    parser.add_argument(
        "--clean", action="store_true", help="remove a previous render's files from --out, only"
    )
    parser.add_argument(
        "--previous-outputs",
        type=Path,
        help="the stack's last outputs (`pulumi stack output --json`); default: a new stack",
    )
    options = parser.parse_args(argv)
    if not options.out.strip():
        print("error: OUT is empty. Fix: OUT=rendered, or leave OUT unset.", file=sys.stderr)
        return 2
    out = Path(options.out)
    if options.clean:
        return clean(out)
    try:
        config, secret_keys = load_stack_config(options.stack, options.config_dir)
        previous = load_previous_outputs(options.previous_outputs)
        run = run_program(config, secret_keys, stack=options.stack, previous_outputs=previous)
    except SettingsError as error:
        for line in error.problems:
            print(f"error: {line}", file=sys.stderr)
        return 2
    problems = plan_problems_of(run)
    if problems:
        for line in problems:
            print(f"error: plan.ndjson {line} (against Stalwart's schema)", file=sys.stderr)
        return 1
    try:
        written = write_render(run, out)
    except SettingsError as error:
        for line in error.problems:
            print(f"error: {line}", file=sys.stderr)
        return 2
    except DeployerError as error:
        print(f"error: {DEPLOYER_FILE}: {error}", file=sys.stderr)
        return 1
    for level, message in run.logs:
        if level in ("warning", "error"):
            print(f"{level}: {message}")
    kubernetes = sum(1 for r in run.resources if r.type.startswith("kubernetes:"))
    print(
        f"rendered stack '{options.stack}': {len(run.resources)} resources, "
        f"{kubernetes} Kubernetes objects"
    )
    for item in written:
        print(f"  {out / item}")
    return 0


def plan_problems_of(run: StackRun) -> list[str]:
    """The v0.16 plans of the run, checked against the vendored schema (empty for v0.15)."""
    problems: list[str] = []
    for registration in run.resources:
        data = reveal(registration.state.get("data")) or {}
        for file_name in ("plan.ndjson", "reload.ndjson"):
            if registration.state.get("kind") == "ConfigMap" and file_name in data:
                operations = [json.loads(line) for line in data[file_name].splitlines() if line]
                problems += plan_problems(operations)
    return problems


if __name__ == "__main__":
    sys.exit(main())
