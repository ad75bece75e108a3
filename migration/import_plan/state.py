"""Reading the inputs of `make import-plan`: an OpenTofu state (format version 4) and the stack
file (only to name hosts and to compare)."""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from offline.stackfile import StackFileError, read_config

BOUNCE_MX_RE = re.compile(r"^feedback-smtp\.([a-z0-9-]+)\.amazonses\.com\.?$")
TUNNEL_CNAME_RE = re.compile(r"^([0-9a-f-]{36})\.cfargotunnel\.com\.?$")


class PlanError(Exception):
    """A state (or stack file) this tool does not understand; the message is one line."""


@dataclass(frozen=True)
class Instance:
    """One resource instance of the state, with its OpenTofu address."""

    address: str
    type: str
    attributes: dict[str, Any]

    def attr(self, name: str) -> str:
        value = self.attributes.get(name)
        return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class StackSettings:
    """What the tool reads from the stack file (only to name hosts and to compare)."""

    domain: str
    webmail_label: str = "mail"
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def webmail_fqdn(self) -> str:
        return f"{self.webmail_label}.{self.domain}"


def load_state(path: Path) -> list[Instance]:
    """The managed resource instances of a v4 state file, with their addresses."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise PlanError(f"cannot read {path}: {err.strerror}") from err
    try:
        state = json.loads(_text(raw, path))
    except json.JSONDecodeError as err:
        raise PlanError(
            f"{path} is not JSON (line {err.lineno}, column {err.colno}: {err.msg}); "
            "give it the output of `tofu state pull`"
        ) from err
    except RecursionError:
        raise PlanError(f"{path} is nested too deeply to be an OpenTofu state") from None
    if not isinstance(state, dict) or "version" not in state:
        raise PlanError(f"{path} is not an OpenTofu state (no top-level `version`)")
    if state["version"] != 4:
        raise PlanError(
            f"{path} has state format version {state['version']!r}, expected 4 "
            "(`tofu state pull` of OpenTofu or Terraform >= 0.12)"
        )
    resources = state.get("resources")
    if not isinstance(resources, list) or not resources:
        raise PlanError(
            f"{path} has no resources: pull it in the OpenTofu directory that owns the "
            "Cloudflare records (`tofu state pull > state.json`)"
        )
    instances: list[Instance] = []
    for number, resource in enumerate(resources):
        if not isinstance(resource, dict):
            raise PlanError(f"{path}: resources[{number}] is not an object")
        if resource.get("mode", "managed") != "managed":
            continue
        typ, name = str(resource.get("type", "")), str(resource.get("name", ""))
        module = resource.get("module")
        base = f"{module}.{typ}.{name}" if module else f"{typ}.{name}"
        listed = resource.get("instances")
        if listed is None:
            continue
        if not isinstance(listed, list):
            raise PlanError(f"{path}: `instances` of {base} is not a list")
        for instance in listed:
            if not isinstance(instance, dict):
                raise PlanError(f"{path}: an instance of {base} is not an object")
            attributes = instance.get("attributes")
            address = base + _index(instance.get("index_key"))
            instances.append(
                Instance(address, typ, attributes if isinstance(attributes, dict) else {})
            )
    return instances


def _text(raw: bytes, path: Path) -> str:
    """UTF-8 (with or without a BOM) or UTF-16 with a BOM: what PowerShell's `>` writes."""
    try:
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return raw.decode("utf-16")
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PlanError(
            f"{path} is not UTF-8 or UTF-16 text; write it again with "
            f"`tofu state pull > {path.name}`"
        ) from None


def load_stack(path: Path, domain: str | None) -> StackSettings:
    config: dict[str, Any] = {}
    if path.exists():
        try:
            config = read_config(path)
        except StackFileError as err:
            raise PlanError(str(err)) from None
    elif domain is None:
        raise PlanError(f"no --domain given and there is no stack file {path}")
    chosen = domain or config.get("mailstack:domain")
    if not isinstance(chosen, str) or not chosen:
        raise PlanError(f"no --domain given and {path} has no mailstack:domain")
    label = config.get("mailstack:webmailHostname", "mail")
    return StackSettings(
        chosen.lower().rstrip("."), label if isinstance(label, str) else "mail", config
    )


def _index(key: Any) -> str:
    if key is None:
        return ""
    if isinstance(key, int):
        return f"[{key}]"
    return "[" + json.dumps(str(key)) + "]"


def content(record: Instance) -> str:
    content = record.attr("content") or record.attr("value")
    if len(content) >= 2 and content[0] == content[-1] == '"':
        content = content[1:-1]
    return content.strip()


def tunnel_id(config: Instance) -> str:
    # v5 stores `id` = `tunnel_id`; v4 had both as well.
    return config.attr("tunnel_id") or config.attr("id")
