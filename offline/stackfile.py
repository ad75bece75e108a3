"""Reads a `Pulumi.<stack>.yaml` the way the Pulumi CLI does, or refuses it with one line.

The CLI reads stack files as YAML 1.2 (Go's yaml.v3) and refuses duplicate keys; PyYAML speaks
YAML 1.1, in which `yes`, `no`, `on`, `off` are booleans, `0755` is an octal number and `1:20` a
sexagesimal one. So the loader here resolves plain scalars by the YAML 1.2 core schema, refuses a
key given twice and a key without a value (`key:`), and reports a malformed file (a tab, an
unclosed quote, `config:` as a list) as `file:line: what, fix`: never a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml


class StackFileError(Exception):
    """One line: the file, the line, what is wrong, and the fix."""


# `pulumi config set` writes a few KiB; an encrypted upgrade export (512 KiB at most as text,
# settings/rules/upgrade.py) grows by a third in base64.
MAX_FILE_BYTES = 2 * 1024 * 1024


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 core schema's implicit types, no duplicate keys and no
    aliases: `pulumi config set` writes none, and a few nested aliases expand to gigabytes
    (the "billion laughs") before any rule could look at the value."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise StackFileError(
                f"line {event.start_mark.line + 1}: an alias (*{event.anchor}); stack files hold "
                "plain values. Fix: write the value out (`pulumi config set` does)"
            )
        return super().compose_node(parent, index)


_Yaml12Loader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
):
    _Yaml12Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text)  # YAML 1.2: `0755` is decimal 755, not octal


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in mapping:
            raise StackFileError(f"line {line}: the key {key!r} appears twice")
        if isinstance(value_node, yaml.ScalarNode) and value_node.tag == "tag:yaml.org,2002:null":
            raise StackFileError(
                f"line {line}: {key!r} has no value (the Pulumi CLI would not read it as text); "
                "give it one, or remove the line"
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Yaml12Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def read_config(path: Path) -> dict[str, Any]:
    """The `config:` mapping of a stack file (empty when the file has none)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise StackFileError(
                f"{path.name}: is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB, more than any "
                "stack file holds. Fix: restore it from git."
            )
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise StackFileError(f"{path.name}: is not UTF-8 text. Fix: save it as UTF-8.") from None
    except OSError as err:
        raise StackFileError(f"{path.name}: cannot read it ({err.strerror}).") from None
    try:
        document = yaml.load(text, Loader=_Yaml12Loader)
    except StackFileError as err:
        raise StackFileError(f"{path.name}: {err}.") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        what = (err.problem or err.context or "not YAML").strip()
        raise StackFileError(
            f"{path.name}: {where}{what}. Fix: indent with spaces only and close every quote "
            "(`pulumi config set` writes a valid file)."
        ) from None
    except yaml.YAMLError as err:
        raise StackFileError(f"{path.name}: not YAML ({str(err).splitlines()[0]}).") from None
    except RecursionError:
        raise StackFileError(
            f"{path.name}: nested too deeply to be a stack file. Fix: restore it from git."
        ) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise StackFileError(f"{path.name}: the file must be a mapping with a `config:` key.")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise StackFileError(
            f"{path.name}: `config:` must map keys to values, not be a "
            f"{type(config).__name__}. Fix: `config:` followed by `  mailstack:domain: ...` lines."
        )
    return config
