"""The report's output folder: never lose a user's file.

``vfsynth report --out DIR`` writes into a folder the user names. A folder that already holds
files is only used if a previous ``vfsynth report`` made it: the report leaves a manifest,
:data:`MANIFEST`, listing every file it wrote with its SHA-256. On the next build

* a non-empty folder without the manifest is refused (it is somebody's folder);
* a file in the report's own places (``report.html``, ``report.md``, ``summary.json``,
  ``figures/``, ``living/``, ``priors/``) that the manifest does not list is refused too, so
  the build can only ever replace files it made itself;
* files the previous build made and this one did not are removed only if unchanged since
  (same SHA-256); an edited one is kept and named.

Everything is checked in :func:`prepare` *before* any fitting, so a bad ``--out`` (an existing
file, a folder that cannot be written) fails in a second, not after the analyses.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from vfsynth.data.errors import VfsynthError

MANIFEST = ".vfsynth-report.json"
MANIFEST_FORMAT = "vfsynth-report-manifest/1"
#: Top-level files and folders the report writes; nothing else in the folder is touched.
OWNED_FILES = ("report.html", "report.md", "summary.json")
OWNED_DIRS = ("figures", "living", "priors")


class ReportFolderError(VfsynthError):
    """The output folder cannot be used without risking a user's files."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _owned_paths(out: Path) -> list[str]:
    """Relative paths of the files now in the report's own places."""
    found = [name for name in OWNED_FILES if (out / name).is_file()]
    for d in OWNED_DIRS:
        base = out / d
        if base.is_dir():
            found += sorted(p.relative_to(out).as_posix() for p in base.rglob("*") if p.is_file())
    return found


@dataclass
class ReportFolder:
    """A checked output folder and the manifest of the build that made it (if any)."""

    out: Path
    previous: dict[str, str] = field(default_factory=dict)
    #: (mtime_ns, ctime_ns, size) of each owned file when the build started: a file whose stamp
    #: is unchanged at the end was not written by this build (a leftover of the previous one).
    stamps: dict[str, tuple[int, int, int]] = field(default_factory=dict)

    def finish(self) -> list[str]:
        """After writing: drop the previous build's unchanged leftovers, write the manifest.

        Returns the relative paths of files kept because the user edited them.
        """
        now = set(_owned_paths(self.out))
        written_now = {rel: _sha256(self.out / rel) for rel in now}
        kept = []
        for rel, digest in self.previous.items():
            path = self.out / rel
            if rel not in now or _stamp(path) != self.stamps.get(rel):
                continue  # gone, or rewritten by this build
            if written_now[rel] != digest:
                kept.append(rel)  # edited by someone since the last build: not ours to delete
                written_now.pop(rel)
            else:
                path.unlink()
                written_now.pop(rel)
        manifest = {"format": MANIFEST_FORMAT, "files": dict(sorted(written_now.items()))}
        (self.out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        return kept


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_ctime_ns, st.st_size


def prepare(out: str | os.PathLike) -> ReportFolder:
    """Check (and create) the output folder before any work; see the module docstring.

    Raises
    ------
    ReportFolderError
        ``out`` is a file, cannot be created or written, is a non-empty folder that no
        vfsynth report made, or holds a file in the report's places that the report did not make.
    """
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise ReportFolderError(f"--out {p}: is an existing file, not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportFolderError(f"--out {p}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise ReportFolderError(f"--out {p}: the folder is not writable")
    manifest_path = p / MANIFEST
    previous: dict[str, str] = {}
    if manifest_path.is_file():
        try:
            obj = json.loads(manifest_path.read_text(encoding="utf-8"))
            previous = {str(k): str(v) for k, v in obj["files"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ReportFolderError(f"--out {p}: unreadable report manifest {MANIFEST} ({exc})") from None
    elif any(p.iterdir()):
        raise ReportFolderError(
            f"--out {p}: the folder is not empty and was not made by vfsynth report "
            f"(no {MANIFEST}); choose an empty or new folder so no file of yours is replaced")
    foreign = [rel for rel in _owned_paths(p) if rel not in previous]
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        raise ReportFolderError(
            f"--out {p}: {foreign[0]}{more} was not written by vfsynth report and would be replaced; "
            "move it away or choose another folder")
    return ReportFolder(p, previous, {rel: _stamp(p / rel) for rel in previous if (p / rel).is_file()})
