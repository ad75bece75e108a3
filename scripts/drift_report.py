"""What the drift check found, from `pulumi preview --json` (standard library only).

    python scripts/drift_report.py drift.json --status $? --summary "$GITHUB_STEP_SUMMARY"

The JSON is the CLI's `PreviewDigest` (pulumi/pulumi sdk/go/common/display/json.go): `steps`,
each with `op`, `urn`, `diffReasons`/`replaceReasons` (property names), and `changeSummary`
(count per op). Each resource whose step is not `same` (or a `read`) is one row of the summary
and one `::error` annotation: its type, name, operation and the names of the changed
properties; never a value (a value may be a secret). Exit status: 0 when nothing drifted and the
preview succeeded; 1 when something drifted; otherwise the preview's own status (it failed
before it could compare: its errors are in the log above).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UNCHANGED = frozenset({"same", "read", "refresh"})
MAX_ROWS = 200


@dataclass(frozen=True)
class Drift:
    op: str
    type: str
    name: str
    properties: tuple[str, ...]


def drifts(digest: Any) -> list[Drift]:
    steps = digest.get("steps") if isinstance(digest, dict) else None
    found: list[Drift] = []
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict) or step.get("op") in UNCHANGED:
            continue
        urn = str(step.get("urn", ""))
        # urn:pulumi:<stack>::<project>::<parent types$>type::name
        parts = urn.split("::")
        typ = parts[2].rsplit("$", 1)[-1] if len(parts) > 3 else "?"
        name = "::".join(parts[3:]) if len(parts) > 3 else urn
        reasons = [*(step.get("diffReasons") or []), *(step.get("replaceReasons") or [])]
        properties = tuple(sorted({str(r) for r in reasons if isinstance(r, str)}))
        found.append(Drift(str(step.get("op", "?")), typ, name, properties))
    return found


def _escape(text: str) -> str:
    """A workflow command's data: `%`, CR and LF escaped, so no value can start a command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'")


def report(found: list[Drift], status: int) -> tuple[str, list[str]]:
    """The summary's markdown and the annotation lines."""
    if not found:
        if status:
            return (
                f"## Drift check failed\n\nThe preview ended with status {status} before it "
                "could compare; see the step's log.\n",
                [f"::error title=drift check::preview failed with status {status}"],
            )
        return "## No drift\n\nThe stack matches the cluster and Cloudflare.\n", []
    lines = [
        f"## Drift: {len(found)} resource(s) differ from the stack",
        "",
        "| operation | type | name | changed properties |",
        "|---|---|---|---|",
    ]
    annotations = []
    for drift in found[:MAX_ROWS]:
        props = ", ".join(drift.properties) or "(whole resource)"
        cells = (_cell(drift.op), f"`{_cell(drift.type)}`", f"`{_cell(drift.name)}`", _cell(props))
        lines.append("| " + " | ".join(cells) + " |")
        annotations.append(
            "::error title=drift::"
            + _escape(f"{drift.type} {drift.name}: {drift.op} ({props})").replace("::", ": :")
        )
    if len(found) > MAX_ROWS:
        lines.append(f"| … | | {len(found) - MAX_ROWS} more | |")
    lines += [
        "",
        "Someone changed these by hand, or the code changed without a deploy. Either run the "
        "deploy workflow to put the stack's values back, or put the change into code.",
        "",
    ]
    return "\n".join(lines), annotations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preview_json", type=Path)
    parser.add_argument("--status", type=int, default=0, help="the preview's exit status")
    parser.add_argument("--summary", type=Path, help="file to append the markdown to")
    args = parser.parse_args(argv)
    try:
        digest: Any = json.loads(args.preview_json.read_text(encoding="utf-8") or "null")
    except (OSError, ValueError, RecursionError):
        digest = None
    found = drifts(digest)
    # No JSON and no failure reported: the preview never ran, which is no "no drift".
    status = args.status or (2 if digest is None else 0)
    markdown, annotations = report(found, status)
    for line in annotations:
        print(line)
    if args.summary is not None:
        with args.summary.open("a", encoding="utf-8") as summary:
            summary.write(markdown)
    else:
        sys.stdout.write(markdown)
    return 1 if found else status


if __name__ == "__main__":
    sys.exit(main())
