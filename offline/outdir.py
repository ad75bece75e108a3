"""The render's output folder: it never deletes a file it did not write.

A render writes MARKER listing its files. The next render (or `make clean`) removes exactly
those, and only from a folder that holds the marker; a non-empty folder without one (`OUT=.`, the
checkout) is refused.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from settings import SettingsError

# Written into every render, listing its files: the next render removes those and nothing else.
MARKER = ".mailstack-render"


def clear_previous_render(out: Path) -> None:
    """Makes room in `out` without deleting anything the render did not write: an empty or new
    folder, or a previous render (its MARKER lists its files, and only those are removed)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise SettingsError([f"OUT={out}: is a file, not a folder. Fix: OUT=rendered."])
    marker = out / MARKER
    if not marker.is_file():
        if any(out.iterdir()):
            raise SettingsError(
                [
                    f"OUT={out}: the folder is not empty and holds no previous render "
                    f"({MARKER} is missing), so the render would overwrite files it did not "
                    "write. Fix: OUT=<a new or empty folder>, e.g. OUT=rendered."
                ]
            )
        return
    root = out.resolve()
    for line in marker.read_text(encoding="utf-8").splitlines():
        path = (out / line).resolve()
        # Only files the marker names below `out`: a hand-edited marker cannot reach elsewhere.
        if line and path.is_relative_to(root) and path.is_file() and not path.is_symlink():
            path.unlink()
    for folder in ("kubernetes", "stalwart"):
        with contextlib.suppress(OSError):
            (out / folder).rmdir()  # only when empty
    marker.unlink()


def clean(out: Path) -> int:
    """`make clean`: the files a render wrote, and its folders once empty; nothing else."""
    if not (out / MARKER).is_file():
        print(f"{out}: no render here ({MARKER} is missing); nothing removed", file=sys.stderr)
        return 0
    clear_previous_render(out)
    with contextlib.suppress(OSError):
        out.rmdir()
    return 0
