"""How a bad setting is reported: one line per problem, naming the key, what is wrong and the fix.

The reader (`settings/__init__.py`) collects every line before it raises `SettingsError`, so an
owner sees all of them at once, and no resource is registered before that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

NAMESPACE = "mailstack"


class SettingsError(pulumi.RunError):
    """Bad stack settings; the message holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class Problems:
    """Collects one line per bad value."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.warnings: list[str] = []
        """Settings that do nothing as given: the update goes on, and says so."""

    def add(self, key: str, problem: str, fix: str) -> None:
        # One line, whatever a value quoted in it holds (a YAML block scalar ends in a newline).
        self.lines.append(_one_line(f"{NAMESPACE}:{key}: {problem}. Fix: {fix}."))

    def warn(self, key: str, problem: str, fix: str) -> None:
        self.warnings.append(_one_line(f"{NAMESPACE}:{key}: {problem}. Fix: {fix}."))


_CONTROL = {code: repr(chr(code))[1:-1] for code in (*range(32), 127)}


def _one_line(text: str) -> str:
    return text.translate(_CONTROL)


def set_command(key: str, example: str, secret: bool = False) -> str:
    """The `pulumi config set` command that gives `key` the value `example`."""
    flag = "--secret " if secret else ""
    return f"pulumi config set {flag}{NAMESPACE}:{key} {example}"


@dataclass(frozen=True)
class Check:
    """What a rule of one key works with: where to report, and the key's defaults."""

    key: str
    problems: Problems
    default: Any = None
    """The key's default as the stack file would write it (a rule may name it in a fix)."""
    item_defaults: Mapping[str, Any] = field(default_factory=dict)
    """For a list of objects: the default of each optional field of an item (`parent.field`)."""

    def defaults_under(self, prefix: str = "") -> dict[str, Any]:
        """The item defaults of the fields directly under `prefix` (`""`: the item itself)."""
        found: dict[str, Any] = {}
        for path, value in self.item_defaults.items():
            parent, _, name = path.rpartition(".")
            if parent == prefix:
                found[name] = value
        return found

    def bad(self, problem: str, fix: str) -> None:
        self.problems.add(self.key, problem, fix)

    def object_of(
        self, value: Any, fields: Iterable[str], shape: str, fix: str
    ) -> dict[str, Any] | None:
        """`value` when it is an object of known fields; else None and one line: `shape` (what
        the value must be) when it is no object, the unknown fields when it has some."""
        if not isinstance(value, dict):
            self.bad(shape, fix)
            return None
        unknown = sorted(set(value) - set(fields))
        if unknown:
            self.bad(f"unknown field(s) {', '.join(unknown)}", fix)
            return None
        return value

    def set_fix(self, example: str) -> str:
        return set_command(self.key, example)

    @property
    def count(self) -> int:
        return len(self.problems.lines)
