"""Where vfsynth writes: the user's cache directory, never the installed package.

An installed package directory may be read-only (a system or shared environment) and is
replaced on upgrade, so saved fits and JAX's compiled programs live under the per-user cache
directory that :mod:`platformdirs` picks for the platform (``$XDG_CACHE_HOME/vfsynth`` or
``~/.cache/vfsynth`` on Linux, ``~/Library/Caches/vfsynth`` on macOS,
``%LOCALAPPDATA%\\vfsynth\\Cache`` on Windows). Environment variables override each part.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "vfsynth"


def cache_base() -> Path:
    """The per-user cache directory of vfsynth (not created here).

    Read on every call, not at import, so that a changed ``XDG_CACHE_HOME`` (tests, a shell
    that sets it late) takes effect.
    """
    return platformdirs.user_cache_path(APP, appauthor=False)


def _override(var: str) -> Path | None:
    env = os.environ.get(var)
    return Path(env).expanduser() if env else None


def fit_dir() -> Path:
    """Directory of saved fits: ``$VFSYNTH_FIT_DIR``, else ``<user cache>/vfsynth/fits``."""
    return _override("VFSYNTH_FIT_DIR") or cache_base() / "fits"


def jax_cache_dir() -> Path:
    """JAX's persistent compilation cache: ``$VFSYNTH_CACHE_DIR``, else ``<user cache>/vfsynth/jax``."""
    return _override("VFSYNTH_CACHE_DIR") or cache_base() / "jax"
