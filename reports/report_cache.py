"""Content-addressed cache of a whole report build: a rerun with nothing changed re-uses it.

``vfsynth report`` fits (or reloads) every analysis, refits for comparison and sensitivity,
builds the living-review tables and draws every figure. When none of its inputs changed, all of
that gives the same report again, so :func:`build_report` stores what a build produced — the
rendered documents (:class:`~vfsynth.reports.html_report.Doc` / ``Section`` objects, figures
included), the run record, the key findings, ``summary.json``'s payload and the side files the
sections wrote under the output folder (living-review tables, exported priors) — under a key
that is a digest of everything the build reads:

* the review's rows and moderators (:meth:`Review.content_hash`), its published results and
  not-found list, its name and restriction;
* every build setting (seed, engine, control risk, MCIDs, minimum k, extras, interval kind,
  the regenerating command, the output folder as recorded in the report);
* the code: a digest of every file of the installed vfsynth package (sources, templates,
  bundled data, priors tables) — so any change of a model, prior, engine or section rebuilds;
* the versions of the numerical libraries (NumPy, SciPy, pandas, PyMC, PyTensor, JAX, NumPyro,
  BlackJAX, ArviZ, xarray, matplotlib).

A hit re-renders the stored documents with one more note at the top, saying that the report
was re-used whole from the cache and when it was first built (and ``summary.json``'s ``run``
record says the same), so the report never claims work this run did not do.

Where: ``$VFSYNTH_STEP_CACHE_DIR``, else ``steps/`` under ``$VFSYNTH_CACHE_DIR``, else
``<user cache>/vfsynth/steps`` (:func:`vfsynth.fits.userdirs.cache_base`): never inside the
repository or the package. Entries are Python pickles written by this user's own runs (the
directory is the user's private cache); delete the directory to clear it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import time
from importlib import metadata
from pathlib import Path
from typing import Any

#: Bump when the layout of a stored entry changes.
ENTRY_FORMAT = "vfsynth-report-cache/1"
_LIBRARIES = ("numpy", "scipy", "pandas", "pymc", "pytensor", "jax", "jaxlib", "numpyro", "blackjax", "arviz",
              "xarray", "matplotlib", "platformdirs")


def step_cache_dir() -> Path:
    """Directory of cached report builds (see the module docstring; not created here)."""
    from vfsynth.fits.userdirs import cache_base

    env = os.environ.get("VFSYNTH_STEP_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("VFSYNTH_CACHE_DIR")
    return Path(base).expanduser() / "steps" if base else cache_base() / "steps"


@functools.lru_cache(maxsize=1)
def package_digest() -> str:
    """SHA-256 of every file of the installed vfsynth package (path and bytes, sorted).

    The package's folders are found from the imported stage packages, so an editable install
    hashes the working tree; ``__pycache__`` is skipped (bytecode follows the sources).
    """
    import vfsynth
    import vfsynth.data
    import vfsynth.fits
    import vfsynth.models
    import vfsynth.reports

    h = hashlib.sha256()
    for pkg in (vfsynth, vfsynth.data, vfsynth.models, vfsynth.fits, vfsynth.reports):
        root = Path(pkg.__file__).parent
        for p in sorted(root.rglob("*")):
            if not p.is_file() or "__pycache__" in p.parts or p.suffix in (".pyc", ".png"):
                continue
            rel = p.relative_to(root)
            if rel.parts and rel.parts[0] == "bundled":  # the committed report is output, not input
                continue
            h.update(f"{pkg.__name__}/{rel.as_posix()}\0".encode())
            h.update(p.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in _LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _frame_text(df) -> str | None:
    return None if df is None else df.to_csv()


def build_key(review, settings: dict[str, Any]) -> str:
    """The cache key of a build: digest of the review, the settings, the code and the libraries."""
    from vfsynth.data.jsonable import to_jsonable

    meta = getattr(review, "meta", {}) or {}
    ident = {
        "format": ENTRY_FORMAT,
        "review": {
            "name": review.name,
            "content": review.content_hash(),
            "published": _frame_text(getattr(review, "published", None)),
            "not_found": _frame_text(getattr(review, "not_found", None)),
            "inclusion": to_jsonable(meta.get("inclusion")),
        },
        "settings": to_jsonable(settings),
        "code": package_digest(),
        "libraries": library_versions(),
    }
    text = json.dumps(ident, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _entry_path(key: str) -> Path:
    return step_cache_dir() / "report" / f"{key}.pkl"


def load(key: str) -> dict | None:
    """The stored entry of ``key``, or None (missing, unreadable or of another format)."""
    path = _entry_path(key)
    try:
        with open(path, "rb") as fh:
            entry = pickle.load(fh)
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - a damaged entry is rebuilt, never trusted
        return None
    if not isinstance(entry, dict) or entry.get("format") != ENTRY_FORMAT or entry.get("key") != key:
        return None
    return entry


def store(key: str, entry: dict) -> Path | None:
    """Write ``entry`` atomically; None (and no error) when the cache is not writable."""
    path = _entry_path(key)
    entry = {**entry, "format": ENTRY_FORMAT, "key": key, "built_at": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(entry, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        # a report that cannot be cached is still a report: the next run rebuilds it
        return None
    return path


def side_files(out: Path, since: float, exclude: set[str]) -> dict[str, bytes]:
    """Files the build wrote under ``out`` (modified at or after ``since``), relative path -> bytes."""
    found: dict[str, bytes] = {}
    for p in sorted(out.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(out).as_posix()
        if rel in exclude or rel.startswith("figures/"):
            continue
        try:
            if p.stat().st_mtime >= since:
                found[rel] = p.read_bytes()
        except OSError:
            continue
    return found


def restore_side_files(out: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
