"""`make readme`: writes the generated tables of README.md between their markers."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.refused import readme_table

README = Path(__file__).resolve().parent.parent / "README.md"


def replace_between(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- {name}:begin -->\n", f"<!-- {name}:end -->"
    start, stop = text.index(begin) + len(begin), text.index(end)
    return text[:start] + body + text[stop:]


def main() -> int:
    text = README.read_text()
    updated = replace_between(text, "bad-settings", readme_table())
    if updated != text:
        README.write_text(updated)
        print("README.md: tables updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
