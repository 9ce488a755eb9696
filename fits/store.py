"""Saved fits: NetCDF files keyed by a content-derived fit id, refused when stale.

A fit is identified by its *configuration*: model, priors (``Prior.to_dict``), data hash
(``EffectTable.content_hash``), seed, sampler settings and the versions of every package
that can change the draws (vfsynth, pymc, pytensor, jax, numpyro, arviz). The fit id is
the SHA-256 of the canonical JSON of that configuration (sorted keys, no whitespace),
so any change to data, priors, settings or versions gives a different id and the old
file is never silently reused.

Files live in ``$VFSYNTH_FIT_DIR`` or else the user cache directory
(``platformdirs.user_cache_path("vfsynth") / "fits"``, e.g. ``~/.cache/vfsynth/fits``). Each is the DataTree PyMC returned, written with
``DataTree.to_netcdf(engine="h5netcdf")``; root attrs hold the JSON config, the verdict
a SHA-256 digest of the posterior draws and one of every group plus the verdict
(:func:`tree_digest`). Writes are atomic: a temporary file in the
same directory, fsync, then :func:`os.replace`.

On load the id is recomputed from the stored config and compared with the file name
and, when given, with the caller's expected config; the draws digest is re-checked.
Mismatch raises :class:`StaleFitError`; an unreadable or tampered file raises
:class:`CorruptFitError`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from vfsynth.data.errors import VfsynthError
from vfsynth.fits import userdirs

VERSION_PACKAGES = ("vfsynth", "pymc", "pytensor", "jax", "numpyro", "arviz", "nutpie", "blackjax")
SCHEMA = 1


class FitStoreError(VfsynthError):
    """Base class for saved-fit problems."""


class StaleFitError(FitStoreError):
    """A saved fit does not match the requested configuration (data, priors, versions ...)."""


class CorruptFitError(FitStoreError):
    """A saved fit file cannot be read or fails its integrity check."""


def fit_dir() -> Path:
    """Directory of saved fits: ``$VFSYNTH_FIT_DIR``, else ``<user cache>/vfsynth/fits``.

    See :func:`vfsynth.fits.userdirs.fit_dir`; never the package directory, which may be
    read-only when vfsynth is installed.
    """
    return userdirs.fit_dir()


# Modules whose source decides the draws of a fit: the model builders, the sampler wrapper and
# its re-run ladder, and the runners that assemble data, priors and seeds. The package version
# alone does not change when this code is edited, so a digest of the source is part of a fit's
# identity: a fit saved by older code is refused rather than silently reused.
CODE_MODULES = (
    "vfsynth.models.spec",
    "vfsynth.models.univariate",
    "vfsynth.models.regression",
    "vfsynth.models.joint",
    "vfsynth.models.joint_data",
    "vfsynth.models.priors",
    "vfsynth.models.priors.base",
    "vfsynth.models.priors.scale",
    "vfsynth.models.priors.location",
    "vfsynth.models.priors.factories",
    "vfsynth.models.priors.tables",
    "vfsynth.models.priors.unit_information",
    "vfsynth.models.priors.grammar",
    "vfsynth.models.priors.defaults",
    "vfsynth.fits.sampling",
    "vfsynth.fits.jaxenv",
    "vfsynth.fits.diagnostics",
    "vfsynth.fits.runner",
    "vfsynth.fits.settings",
    "vfsynth.fits.exact",
    "vfsynth.fits.exact_quadrature",
    "vfsynth.fits.batched",
    "vfsynth.fits.engines",
    "vfsynth.fits.engines.exact",
    "vfsynth.fits.engines.nuts",
    "vfsynth.fits.engines.batched",
    "vfsynth.fits.engines.tree",
    "vfsynth.fits.joint_runner",
)


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 (first 16 hex digits) of the source of :data:`CODE_MODULES`.

    Read from the module files without importing them, so it costs no PyMC/JAX import.
    """
    h = hashlib.sha256()
    for name in CODE_MODULES:
        spec = importlib.util.find_spec(name)
        origin = getattr(spec, "origin", None) if spec is not None else None
        h.update(name.encode())
        h.update(Path(origin).read_bytes() if origin and Path(origin).is_file() else b"<missing>")
    return h.hexdigest()[:16]


def package_versions(sampler: str | None = None) -> dict[str, str | None]:
    """Installed versions of the packages that can change the draws, plus ``vfsynth-code``
    (:func:`code_digest`) for the project's own sampling code.

    ``nutpie`` / ``blackjax`` are included only when they are the sampler used, so
    upgrading an unused optional sampler does not invalidate every fit.
    """
    out: dict[str, str | None] = {"vfsynth-code": code_digest()}
    for pkg in VERSION_PACKAGES:
        if pkg in ("nutpie", "blackjax") and pkg != sampler:
            continue
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def canonical_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, compact separators, floats via repr (round-trip exact)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default, allow_nan=True)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    return str(o)


def fit_config(
    *,
    model: str | Mapping[str, Any],
    priors: Mapping[str, Any],
    data_hash: str,
    seed: int,
    sampler: Mapping[str, Any],
    analysis: Mapping[str, Any] | None = None,
    versions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble a fit configuration (the input of :func:`fit_id`).

    Parameters
    ----------
    model : str or mapping
        Model kind or its description (``vfsynth.models.univariate.describe``).
    priors : mapping
        Name -> ``Prior.to_dict()`` (e.g. ``{"tau": ..., "mu": ...}``).
    data_hash : str
        ``EffectTable.content_hash()`` (or ``Review.content_hash()`` for joint fits).
    seed : int
    sampler : mapping
        Sampler settings: name, draws, tune, chains, target_accept, max_treedepth ...
    analysis : mapping, optional
        Outcome, time point, data source label (not part of the numbers, but part of the
        identity so two outcomes with equal numbers do not share a file).
    versions : mapping, optional
        Package versions; default :func:`package_versions`.
    """
    sampler = dict(sampler)
    # canonical_json round-trip turns tuples into lists so equality after load holds
    cfg = {
        "schema": SCHEMA,
        "model": model,
        "priors": dict(priors),
        "data_hash": str(data_hash),
        "seed": int(seed),
        "sampler": sampler,
        "analysis": dict(analysis or {}),
        "versions": dict(versions if versions is not None else package_versions(sampler.get("name"))),
    }
    return json.loads(canonical_json(cfg))


def fit_id(config: Mapping[str, Any]) -> str:
    """SHA-256 (hex, first 20 characters) of the canonical JSON of ``config``."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:20]


def fit_path(config_or_id: Mapping[str, Any] | str, directory: str | Path | None = None) -> Path:
    """Where the fit with this config (or id) is stored."""
    fid = config_or_id if isinstance(config_or_id, str) else fit_id(config_or_id)
    return _path_for(fid, directory)


def _path_for(fid: str, directory: str | Path | None) -> Path:
    base = Path(directory) if directory is not None else fit_dir()
    return base / f"{fid}.nc"


def _nodes(dt):
    """``(path, {name: values})`` of every node of a DataTree (data variables and coordinates),
    or of a :class:`~vfsynth.fits.tree_parts.TreeParts`, which yields the same for the tree it makes."""
    if hasattr(dt, "nodes") and hasattr(dt, "to_datatree"):
        yield from dt.nodes()
        return
    for node in dt.subtree:
        ds = node.to_dataset(inherit=False)
        yield node.path, {str(name): np.asarray(ds[name].values) for name in [*ds.data_vars, *ds.coords]}


def draws_digest(dt) -> str:
    """SHA-256 over the posterior draws (names, shapes, float64 bytes), for integrity."""
    h = hashlib.sha256()
    if hasattr(dt, "to_datatree"):
        post = dt.groups["posterior"]
    else:
        ds = dt["posterior"].to_dataset()
        post = {str(name): ds[name].values for name in ds.data_vars}
    for name in sorted(post):
        arr = np.ascontiguousarray(np.asarray(post[name], dtype=np.float64))
        h.update(name.encode())
        h.update(repr(arr.shape).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def tree_digest(dt, verdict_json: str) -> str:
    """SHA-256 over every group's variables and coordinates, and the stored verdict.

    Every result vfsynth computes from a saved fit (posterior summaries, LOO from
    ``log_likelihood``, divergences from ``sample_stats``, prior and predictive checks,
    the diagnostics verdict) reads one of these, so a change to any of them is caught on load.
    Numbers are hashed as float64 bytes and labels as text, which both survive the NetCDF
    round trip exactly; group attributes (creation time, library names) are not results and
    change type on reading, so they are left out. ``dt`` is a DataTree or the
    :class:`~vfsynth.fits.tree_parts.TreeParts` of one (same digest).
    """
    h = hashlib.sha256()
    for path, variables in sorted(_nodes(dt), key=lambda n: n[0]):
        for name in sorted(variables):
            arr = variables[name]
            h.update(f"{path}/{name}{arr.shape}".encode())
            if arr.dtype.kind in "biuf":
                h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
            else:
                h.update("\x1f".join(map(str, arr.ravel().tolist())).encode())
    h.update(verdict_json.encode())
    return h.hexdigest()


def ensure_fit_dir(directory: str | Path | None = None) -> Path:
    """Create the fit directory if needed and check it can be written, before any sampling.

    Raises
    ------
    FitStoreError
        The path (e.g. ``$VFSYNTH_FIT_DIR``) is a file, cannot be created or is not writable.
    """
    base = Path(directory) if directory is not None else fit_dir()
    where = f"fit directory {base} (set by VFSYNTH_FIT_DIR or the user cache)"
    if base.exists() and not base.is_dir():
        raise FitStoreError(f"{where} is a file, not a folder")
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FitStoreError(f"{where} cannot be created ({exc.strerror or exc})") from None
    if not os.access(base, os.W_OK | os.X_OK):
        raise FitStoreError(f"{where} is not writable")
    return base


#: Temporary files older than this (seconds) are a killed save's leftovers, not a live writer's.
ORPHAN_TMP_AGE_S = 3600.0


def clean_orphan_tmp(directory: str | Path | None = None, max_age_s: float = ORPHAN_TMP_AGE_S) -> list[Path]:
    """Remove ``.<id>.*.nc.tmp`` files left by a save that was killed (SIGKILL, power cut).

    Only files older than ``max_age_s`` are removed, so a concurrent writer's file survives.
    Returns the removed paths.
    """
    import time

    base = Path(directory) if directory is not None else fit_dir()
    removed = []
    now = time.time()
    for tmp in base.glob(".*.nc.tmp"):
        try:
            if now - tmp.stat().st_mtime > max_age_s:
                tmp.unlink()
                removed.append(tmp)
        except OSError:  # already gone (another cleaner) or not ours to remove
            continue
    return removed


def save_fit(dt, config: Mapping[str, Any], verdict: Mapping[str, Any] | None = None, *, directory: str | Path | None = None) -> Path:
    """Write ``dt`` atomically as ``<fit_id>.nc`` with the config and verdict in root attrs.

    ``dt`` is a DataTree or a :class:`~vfsynth.fits.tree_parts.TreeParts` (written with
    h5netcdf directly; :func:`load_fit` reads either file the same way, digests included).

    Returns the final path. On any failure the temporary file is removed and no
    partial ``.nc`` file is left behind; an existing fit of the same id stays intact.
    """
    config = json.loads(canonical_json(dict(config)))
    fid = fit_id(config)
    path = _path_for(fid, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_orphan_tmp(path.parent)
    attrs = {k: v for k, v in dict(dt.attrs).items() if isinstance(v, (str, int, float))}
    verdict_json = canonical_json(dict(verdict or {}))
    attrs.update(
        vfsynth_fit_id=fid,
        vfsynth_config=canonical_json(config),
        vfsynth_verdict=verdict_json,
        vfsynth_tree_sha256=tree_digest(dt, verdict_json),
        vfsynth_draws_sha256=draws_digest(dt),
        vfsynth_model=canonical_json(config.get("model")),
        vfsynth_priors=canonical_json(config.get("priors")),
        vfsynth_data_hash=str(config.get("data_hash")),
        vfsynth_versions=canonical_json(config.get("versions")),
        vfsynth_seed=int(config.get("seed", -1)),
        vfsynth_sampler_settings=canonical_json(config.get("sampler")),
    )
    fd, tmp = tempfile.mkstemp(prefix=f".{fid}.", suffix=".nc.tmp", dir=path.parent)
    os.close(fd)
    try:
        if hasattr(dt, "write_netcdf"):  # TreeParts: the same file, without importing xarray
            dt.write_netcdf(tmp, attrs)
        else:
            out = dt.copy()
            out.attrs = attrs
            out.to_netcdf(tmp, engine="h5netcdf")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a fit is an ordinary file
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _diff(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    keys = sorted(set(stored) | set(wanted))
    out = []
    for k in keys:
        a, b = stored.get(k), wanted.get(k)
        if a == b:
            continue
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += [f"{k}.{d}" for d in _diff(a, b)]
        else:
            out.append(f"{k} (saved {_short(a)}, now {_short(b)})")
    return out


def _short(v: Any) -> str:
    s = canonical_json(v)
    return s if len(s) <= 70 else s[:67] + "..."


def read_config(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(config, verdict) stored in a fit file, without loading the draws."""
    dt = _open(Path(path))
    try:
        return _attrs_config(dt, Path(path))
    finally:
        dt.close()


def _open(path: Path):
    import xarray as xr

    if not path.exists():
        raise FileNotFoundError(f"no saved fit at {path}")
    try:
        return xr.open_datatree(path, engine="h5netcdf")
    except Exception as exc:  # noqa: BLE001 - any reader failure means the file is unusable
        raise CorruptFitError(f"saved fit {path} cannot be read ({type(exc).__name__}: {exc}); delete it or refit") from exc


def _attrs_config(dt, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        config = json.loads(dt.attrs["vfsynth_config"])
        verdict = json.loads(dt.attrs.get("vfsynth_verdict", "{}"))
    except (KeyError, ValueError, TypeError) as exc:
        raise CorruptFitError(f"saved fit {path} has no readable vfsynth configuration") from exc
    return config, verdict


def load_fit(path_or_id: str | Path, expected: Mapping[str, Any] | None = None, *, directory: str | Path | None = None):
    """Load a saved fit, verifying its identity and integrity.

    Parameters
    ----------
    path_or_id : str or Path
        A file path, or a fit id looked up in :func:`fit_dir` / ``directory``.
    expected : mapping, optional
        The configuration the caller wants (from :func:`fit_config`). If the stored
        configuration differs in anything (data hash, priors, versions, sampler
        settings, seed, model), :class:`StaleFitError` names the differences.

    Returns
    -------
    (DataTree, config, verdict)
        The fully loaded tree (file closed), stored config and stored verdict.

    Raises
    ------
    StaleFitError, CorruptFitError, FileNotFoundError
    """
    p = Path(path_or_id)
    if not p.suffix == ".nc" and not p.exists():
        p = _path_for(str(path_or_id), directory)
    dt = _open(p)
    try:
        try:
            dt = dt.load()
        except Exception as exc:  # noqa: BLE001
            raise CorruptFitError(f"saved fit {p} is damaged ({type(exc).__name__}: {exc}); delete it or refit") from exc
    finally:
        dt.close()
    config, verdict = _attrs_config(dt, p)
    stored_id = str(dt.attrs.get("vfsynth_fit_id", ""))
    recomputed = fit_id(config)
    renamed = len(p.stem) == len(recomputed) and p.stem != recomputed
    if stored_id != recomputed or renamed:
        raise CorruptFitError(
            f"saved fit {p}: its id ({stored_id or 'missing'}) does not match its own configuration "
            f"({recomputed}); the file was altered. Delete it or refit"
        )
    if "posterior" not in dt.children or dt.attrs.get("vfsynth_draws_sha256") != draws_digest(dt):
        raise CorruptFitError(f"saved fit {p}: posterior draws fail their checksum; delete it or refit")
    if dt.attrs.get("vfsynth_tree_sha256") != tree_digest(dt, str(dt.attrs.get("vfsynth_verdict", "{}"))):
        raise CorruptFitError(f"saved fit {p}: its data (log-likelihood, sample stats, prior, predictive "
                              "or verdict) fail their checksum; delete it or refit")
    if expected is not None:
        want = json.loads(canonical_json(dict(expected)))
        if fit_id(want) != recomputed:
            diffs = _diff(config, want)
            raise StaleFitError(
                f"saved fit {p.name} is stale: it was made with a different configuration: "
                + "; ".join(diffs)
                + ". Refit (vfsynth fit ... --refit) rather than reuse it"
            )
    return dt, config, verdict


def find_cached(config: Mapping[str, Any], *, directory: str | Path | None = None) -> Path | None:
    """Path of the saved fit with exactly this configuration, or None if there is none."""
    p = _path_for(fit_id(json.loads(canonical_json(dict(config)))), directory)
    return p if p.exists() else None


def reuse_cached(config: Mapping[str, Any], *, directory: str | Path | None = None,
                 notes: list[str] | None = None, say=None):
    """The saved fit with exactly this configuration, if there is a valid one.

    Returns ``(dt, config, verdict, path)`` or ``None`` when there is no saved fit or it is
    refused (stale, mismatched or corrupt: the reason is appended to ``notes`` and told to
    ``say``, and the caller samples again — a refused fit is never used).
    """
    path = find_cached(config, directory=directory)
    if path is None:
        return None
    try:
        dt, cfg, verdict = load_fit(path, expected=config)
    except FitStoreError as exc:
        if notes is not None:
            notes.append(f"saved fit refused and replaced: {exc}")
        if say is not None:
            say(f"saved fit refused ({exc}); sampling again")
        return None
    return dt, cfg, verdict, path


def list_fits(directory: str | Path | None = None) -> list[dict[str, Any]]:
    """Summaries (id, path, model, analysis, data hash) of the saved fits in a directory."""
    base = Path(directory) if directory is not None else fit_dir()
    out = []
    for p in sorted(base.glob("*.nc")):
        try:
            cfg, verdict = read_config(p)
        except (FitStoreError, OSError):
            out.append({"id": p.stem, "path": str(p), "readable": False})
            continue
        out.append(
            {
                "id": p.stem,
                "path": str(p),
                "readable": True,
                "model": cfg.get("model"),
                "analysis": cfg.get("analysis"),
                "data_hash": cfg.get("data_hash"),
                "passed": verdict.get("passed"),
            }
        )
    return out
