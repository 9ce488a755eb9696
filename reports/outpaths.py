"""Checks on a file the command line is asked to write (``import -o``, ``priors export -o``).

A command must never destroy its own input (``vfsynth import X.rm5 -o X.rm5`` used to replace
the RevMan file by the CSV) nor silently replace any existing file. :func:`check_output_file`
runs before any work, so a bad path fails at once with one line.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from vfsynth.data.errors import VfsynthError


class OutputPathError(VfsynthError):
    """A requested output path would overwrite an input or an existing file, or cannot be written."""


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def check_output_file(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (),
                      force: bool = False, option: str = "-o") -> Path:
    """Return ``path`` if it may be written; else raise :class:`OutputPathError`.

    Refused: the same file as any of ``inputs`` (even with ``force``; hard links and symlinks
    included); an existing file unless ``force``; a directory; a missing or unwritable parent
    folder.
    """
    p = Path(path)
    for src in inputs:
        if _same_file(p, Path(src)) or p.resolve() == Path(src).resolve():
            raise OutputPathError(f"{option} {p}: is the input file {src}; refusing to overwrite an input")
    if p.is_dir():
        raise OutputPathError(f"{option} {p}: is a folder; give a file name")
    if p.exists() and not force:
        raise OutputPathError(f"{option} {p}: file exists; pass --force to replace it")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputPathError(f"{option} {p}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputPathError(f"{option} {p}: folder {parent} is not writable")
    return p
