"""JAX process configuration: parallel CPU chains and a persistent compilation cache.

XLA reads ``XLA_FLAGS`` once, when JAX's CPU backend is first initialised, so the
number of host "devices" (one per parallel NUTS chain, ``chain_method="parallel"``)
must be set *before* ``import jax``. :func:`configure` does that, and points JAX's
persistent compilation cache at a user cache directory so that a second ``vfsynth fit``
of the same model shape skips XLA compilation.

Call :func:`configure` at the top of every ``vfsynth.fits`` module that imports JAX
(or PyMC's JAX samplers). It is idempotent and cheap: it only touches ``os.environ``
and never imports JAX itself.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path

from vfsynth.fits import userdirs

log = logging.getLogger(__name__)

_DEVICE_FLAG = "--xla_force_host_platform_device_count"
_configured = False


def cache_dir() -> Path:
    """The user cache directory for JAX's compiled programs.

    ``$VFSYNTH_CACHE_DIR`` if set, else ``<user cache>/vfsynth/jax`` beside the saved fits
    (:func:`vfsynth.fits.userdirs.jax_cache_dir`; ``$XDG_CACHE_HOME`` is honoured on Linux).
    """
    return userdirs.jax_cache_dir()


def cpu_count() -> int:
    """CPU cores this process may use (affinity-aware where the OS exposes it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def configure(n_devices: int | None = None) -> dict:
    """Set XLA host device count and the persistent compilation cache (before JAX loads).

    Parameters
    ----------
    n_devices : int, optional
        Number of host devices for parallel chains; default: the CPU core count, at least 4.
        An ``XLA_FLAGS`` device count already set by the user (or a test harness)
        is respected, never overwritten.

    Returns
    -------
    dict
        ``{"xla_flags", "cache_dir", "jax_already_imported"}`` for logging.
    """
    global _configured
    jax_loaded = "jax" in sys.modules
    # At least 4 so the default 4 chains always run in parallel (pmap): XLA host devices are
    # threads, and on a 2-core machine 4 parallel chains beat "vectorized" chains
    # (sensitivity NNHM, 4 x 1000 draws: 2.0-2.5 s vs 3.4-3.9 s, bulk-ESS/s ~1.7x).
    n = int(n_devices or max(cpu_count(), 4))
    flags = os.environ.get("XLA_FLAGS", "")
    if not re.search(re.escape(_DEVICE_FLAG) + r"=\d+", flags):
        if jax_loaded:
            # Too late for XLA to see it: chains will fall back to sequential.
            log.debug("jax already imported; XLA host device count left unchanged")
        else:
            os.environ["XLA_FLAGS"] = f"{flags} {_DEVICE_FLAG}={n}".strip()
    # Every vfsynth JAX program runs in float64. PyTensor's JAX linker switches x64 on when a
    # PyMC model is compiled, so without this a batched BlackJAX refit would run in float32 or
    # float64 depending on whether a PyMC fit happened earlier in the process (e.g. reused from
    # the fit store or not) and the same seed would give different draws.
    os.environ["JAX_ENABLE_X64"] = "1"
    if jax_loaded:
        import jax

        jax.config.update("jax_enable_x64", True)
    cdir = cache_dir()
    try:
        cdir.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(cdir))
        # vfsynth models compile in well under JAX's default 1 s threshold; cache them anyway.
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        if jax_loaded:
            import jax

            if jax.config.jax_compilation_cache_dir is None:
                jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
                jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    except OSError as exc:  # read-only home: run without the cache rather than fail
        log.warning("JAX compilation cache disabled (%s): %s", cdir, exc)
    _configured = True
    return {
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "cache_dir": os.environ.get("JAX_COMPILATION_CACHE_DIR"),
        "jax_already_imported": jax_loaded,
    }


def host_device_count() -> int:
    """Number of host devices XLA was (or will be) given: the parallel-chain limit.

    Once JAX is loaded this asks JAX itself. Before, it reads ``XLA_FLAGS``, where the
    *last* device-count flag wins (``import pymc.sampling.jax`` prepends its own
    ``=100``, which XLA then overrides with ours).
    """
    if "jax" in sys.modules:
        import jax

        return int(jax.local_device_count())
    found = re.findall(re.escape(_DEVICE_FLAG) + r"=(\d+)", os.environ.get("XLA_FLAGS", ""))
    return int(found[-1]) if found else 1
