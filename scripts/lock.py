"""The hash-pinned lock files (`uv pip compile --generate-hashes` output), read with the standard
library only, so it runs before any virtualenv exists.

    python3 scripts/lock.py pick uv requirements-dev.txt   # one entry, with its hashes
    python3 scripts/lock.py cli-pin e2e/tools/pulumi/go.mod .pulumi-version

`make venv` uses `pick` to install the locked `uv` (hash-checked by pip) that then installs the
rest of the lock; `make lock` uses `cli-pin` to keep the Pulumi CLI pin (`.pulumi-version`, what
every workflow installs) on the CLI that `make e2e` builds and proves, the version of
`github.com/pulumi/pulumi/pkg/v3` in e2e/tools/pulumi/go.mod; the tests use `read_lock` to hold
the locks to the declared requirements.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

_ENTRY_RE = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)(?P<marker> ;[^\\\n]*)?"
    r"(?P<hashes>(?: \\\n +--hash=sha256:[0-9a-f]{64})*)\n(?P<via>(?: +#.*\n)*)",
    re.MULTILINE,
)
_HASH_RE = re.compile(r"--hash=sha256:([0-9a-f]{64})")


@dataclass(frozen=True)
class Locked:
    name: str
    """Normalised (PEP 503): lowercase, runs of `-_.` as `-`."""
    version: str
    hashes: tuple[str, ...]
    via: tuple[str, ...]
    """What required it: `-r requirements.in`, `-c requirements.txt` or a package name."""
    text: str
    """The entry as written in the lock (a valid requirements file on its own)."""


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, Locked]:
    """Every `name==version` entry of a lock, by normalised name."""
    text = path.read_text(encoding="utf-8")
    entries: dict[str, Locked] = {}
    for match in _ENTRY_RE.finditer(text):
        via_lines = [line.strip().lstrip("#").strip() for line in match["via"].splitlines()]
        via = [item.removeprefix("via").strip() for item in via_lines]
        name = normalise(match["name"])
        entries[name] = Locked(
            name=name,
            version=match["version"],
            hashes=tuple(_HASH_RE.findall(match["hashes"])),
            via=tuple(item for item in via if item),
            text=match.group(0).split("\n    #")[0].rstrip("\n") + "\n",
        )
    return entries


def pick(name: str, lock: str) -> int:
    entry = read_lock(Path(lock)).get(normalise(name))
    if entry is None or not entry.hashes:
        print(f"lock.py: {lock} has no hashed entry for {name}; run `make lock`", file=sys.stderr)
        return 1
    sys.stdout.write(entry.text)
    return 0


_CLI_MODULE_RE = re.compile(
    r"^\s*github\.com/pulumi/pulumi/pkg/v3 v(\d+\.\d+\.\d+)(?:\s*// indirect)?\s*$", re.MULTILINE
)


def cli_version(gomod: Path) -> str | None:
    """The Pulumi CLI version a go.mod requires (`github.com/pulumi/pulumi/pkg/v3 vX.Y.Z`)."""
    match = _CLI_MODULE_RE.search(gomod.read_text(encoding="utf-8"))
    return match[1] if match else None


def cli_pin(gomod: str, out: str) -> int:
    version = cli_version(Path(gomod))
    if version is None:
        print(f"lock.py: {gomod} requires no github.com/pulumi/pulumi/pkg/v3", file=sys.stderr)
        return 1
    Path(out).write_text(version + "\n", encoding="utf-8")
    return 0


def main(argv: list[str]) -> int:
    commands = {"pick": pick, "cli-pin": cli_pin}
    if len(argv) != 3 or argv[0] not in commands:
        print(
            "usage: python3 scripts/lock.py pick NAME LOCKFILE | cli-pin GOMOD OUTFILE",
            file=sys.stderr,
        )
        return 2
    try:
        return commands[argv[0]](argv[1], argv[2])
    except OSError as err:
        print(f"lock.py: {err.filename}: {err.strerror}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
