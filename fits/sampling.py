"""Run NUTS on a vfsynth model: one seed, one DataTree, any of four samplers.

The default backend is NumPyro's NUTS through PyMC's JAX bridge
(``pm.sample(nuts_sampler="numpyro")``), with chains run in parallel on the host CPU
devices set up by :func:`vfsynth.fits.jaxenv.configure`. ``"pymc"``, ``"nutpie"`` and
``"blackjax"`` are selectable (:data:`SAMPLERS`); a missing optional package raises
:class:`SamplerUnavailableError` naming it.

Reproducibility: one integer ``seed`` is split with :class:`numpy.random.SeedSequence`
into independent sub-seeds for prior predictive, posterior and posterior predictive
sampling (:func:`derive_seeds`), so the whole fit is reproduced by that one number.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from vfsynth.data.errors import VfsynthError
from vfsynth.fits import jaxenv
from vfsynth.fits.settings import DEFAULT_SEED

log = logging.getLogger(__name__)

SAMPLERS = ("numpyro", "pymc", "nutpie", "blackjax")
_PACKAGE = {"numpyro": "numpyro", "pymc": "pymc", "nutpie": "nutpie", "blackjax": "blackjax"}
SEED_STREAMS = ("prior", "posterior", "posterior_predictive")


class SamplerUnavailableError(VfsynthError, ImportError):
    """The requested sampler's package is not installed."""


def check_sampler(name: str) -> None:
    """Raise ``ValueError`` for an unknown sampler, :class:`SamplerUnavailableError` if absent."""
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")
    pkg = _PACKAGE[name]
    if importlib.util.find_spec(pkg) is None:
        raise SamplerUnavailableError(
            f"sampler {name!r} needs the Python package {pkg!r}, which is not installed "
            f"(pip install {pkg}, or pip install 'vfsynth[samplers]')"
        )


def derive_seeds(seed: int) -> dict[str, int]:
    """Independent 32-bit sub-seeds for each sampling stage, derived from one seed.

    Uses ``SeedSequence(seed).spawn`` so streams are statistically independent
    (O'Neill 2015, PCG) and stable across NumPy versions.
    """
    if seed is None or int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    children = np.random.SeedSequence(int(seed)).spawn(len(SEED_STREAMS))
    return {name: int(c.generate_state(1, dtype=np.uint32)[0]) for name, c in zip(SEED_STREAMS, children, strict=True)}


@contextlib.contextmanager
def _quiet(progress: bool):
    """Silence PyMC's own logging/warnings chatter unless a progress display was asked for."""
    pm_log = logging.getLogger("pymc")
    old = pm_log.level
    if not progress:
        pm_log.setLevel(logging.ERROR)
    with warnings.catch_warnings():
        # PyMC repeats convergence warnings that our diagnostics gate reports once, clearly.
        warnings.filterwarnings("ignore", message=".*divergen.*", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*There were .* divergences.*")
        warnings.filterwarnings("ignore", message=".*chains? fewer than.*")
        warnings.filterwarnings("ignore", message=".*There are not enough devices.*")
        warnings.filterwarnings("ignore", category=FutureWarning)
        try:
            yield
        finally:
            pm_log.setLevel(old)


def _improper(model) -> bool:
    """True if any free variable has an improper (Flat / HalfFlat) prior."""
    from pymc.distributions import Flat, HalfFlat

    for rv in model.free_RVs:
        op = rv.owner.op if rv.owner is not None else None
        if isinstance(op, (Flat, HalfFlat)) or type(op).__name__ in ("FlatRV", "HalfFlatRV"):
            return True
    return False


def _patch_pymc_blackjax() -> None:
    """Replace PyMC 6.4's blackjax inference loop, which does not run with blackjax >= 1.7.

    ``pymc.sampling.jax._blackjax_inference_loop`` (a) forwards ``progress_bar`` to
    ``blackjax.window_adaptation``, which hands it to the NUTS kernel (TypeError), and
    (b) calls ``blackjax.progress_bar.gen_scan_fn``, which blackjax 1.7 no longer has.
    This is the same algorithm (Stan-style window adaptation, then NUTS with the tuned step
    size and diagonal mass matrix, same statistics) with a plain ``jax.lax.scan``.
    """
    import pymc.sampling.jax as pj

    if getattr(pj._blackjax_inference_loop, "_vfsynth_patched", False):
        return

    def loop(seed, init_position, logp_fn, draws, tune, target_accept, **kw):
        import blackjax
        import jax
        from blackjax.adaptation.base import get_filter_adapt_info_fn

        kw.pop("progress_bar", None)
        algorithm = {"nuts": blackjax.nuts, "hmc": blackjax.hmc}[kw.pop("algorithm", "nuts")]
        adapt = blackjax.window_adaptation(
            algorithm=algorithm,
            logdensity_fn=logp_fn,
            target_acceptance_rate=target_accept,
            adaptation_info_fn=get_filter_adapt_info_fn(),
            **kw,
        )
        (last_state, tuned), _ = adapt.run(seed, init_position, num_steps=tune)
        kernel = algorithm(logp_fn, **tuned).step

        def one_step(state, key):
            state, info = kernel(key, state)
            stats = {
                "diverging": info.is_divergent,
                "energy": info.energy,
                "tree_depth": info.num_trajectory_expansions,
                "n_steps": info.num_integration_steps,
                "acceptance_rate": info.acceptance_rate,
                "lp": state.logdensity,
            }
            return state, (state.position, stats)

        keys = jax.random.split(seed, draws)
        _, (samples, stats) = jax.lax.scan(one_step, last_state, keys)
        return samples, stats

    loop._vfsynth_patched = True
    pj._blackjax_inference_loop = loop


def _has_observed(model) -> bool:
    return len(model.observed_RVs) > 0


def sample_prior_predictive(model, *, draws: int = 500, seed: int) -> Any:
    """Prior and prior predictive draws (DataTree with ``prior`` and ``prior_predictive``)."""
    jaxenv.configure()
    import pymc as pm

    if _improper(model):
        raise ValueError("prior predictive sampling needs proper priors; this model has a flat prior")
    with _quiet(False), model:
        return pm.sample_prior_predictive(draws=draws, random_seed=derive_seeds(seed)["prior"])


def sample_model(
    model,
    *,
    sampler: str = "numpyro",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = DEFAULT_SEED,
    target_accept: float = 0.9,
    max_treedepth: int = 10,
    progress: bool = False,
    prior_draws: int | None = 500,
    posterior_predictive: bool = True,
    log_likelihood: bool = True,
    var_names: Sequence[str] | None = None,
) -> Any:
    """Sample a (conditioned) PyMC model and return one DataTree.

    Parameters
    ----------
    model : pm.Model
        A model conditioned with ``pm.observe`` (see :mod:`vfsynth.models.univariate`).
    sampler : {"numpyro", "pymc", "nutpie", "blackjax"}
    draws, tune, chains : int
        Post-warm-up draws per chain, warm-up iterations, number of chains.
    seed : int
        The one seed of the fit; stage seeds come from :func:`derive_seeds`.
    target_accept : float
        NUTS step-size adaptation target (dual averaging, Hoffman & Gelman 2014).
    max_treedepth : int
        NUTS maximum tree depth (hits are reported by the diagnostics gate).
    progress : bool
        Show the sampler's progress bar (on stderr).
    prior_draws : int or None
        Prior / prior predictive draws added to the tree; ``None`` skips them.
    posterior_predictive, log_likelihood : bool
        Add the ``posterior_predictive`` / ``log_likelihood`` groups.

    Returns
    -------
    xarray.DataTree
        Groups ``posterior``, ``sample_stats``, ``observed_data``, ``constant_data``
        and, as requested, ``log_likelihood``, ``prior``, ``prior_predictive``,
        ``posterior_predictive``. Root attrs record ``vfsynth_sampler`` and the seeds.
    """
    jaxenv.configure()  # XLA flags must be set before JAX loads: here, not at import time
    import pymc as pm

    check_sampler(sampler)
    if draws < 1 or tune < 0 or chains < 1:
        raise ValueError(f"need draws >= 1, tune >= 0, chains >= 1 (got {draws}, {tune}, {chains})")
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept must be in (0, 1), got {target_accept}")
    seeds = derive_seeds(seed)
    kwargs: dict[str, Any] = dict(
        draws=draws,
        tune=tune,
        chains=chains,
        random_seed=seeds["posterior"],
        progressbar=progress,
        target_accept=target_accept,
        var_names=var_names,
        compute_convergence_checks=False,  # the vfsynth gate does this once, see diagnostics
    )
    jax_ll = log_likelihood and sampler in ("numpyro", "blackjax")
    if sampler in ("numpyro", "blackjax"):
        method = "parallel" if chains <= jaxenv.host_device_count() else "vectorized"
        kwargs["nuts_sampler_kwargs"] = {"chain_method": method}
        if sampler == "numpyro":
            kwargs["nuts_sampler_kwargs"]["max_tree_depth"] = max_treedepth
        # blackjax: PyMC's window adaptation keeps blackjax's default depth (10)
        kwargs["idata_kwargs"] = {"log_likelihood": jax_ll}
        if sampler == "blackjax":
            _patch_pymc_blackjax()
    elif sampler == "pymc":
        kwargs["cores"] = min(chains, jaxenv.cpu_count())
        kwargs["max_treedepth"] = max_treedepth
        # JAX is multithreaded: forking after it is loaded can deadlock the chain workers
        kwargs["mp_ctx"] = "forkserver"
        kwargs["quiet"] = not progress
    elif sampler == "nutpie":
        kwargs["nuts_sampler_kwargs"] = {"maxdepth": max_treedepth}
    log.info("sampling %s: %s draws x %s chains (tune %s, target_accept %s)", sampler, draws, chains, tune, target_accept)
    with _quiet(progress), model:
        dt = pm.sample(nuts_sampler=sampler, **kwargs)
        if log_likelihood and (not jax_ll or "log_likelihood" not in dt.children):
            pm.compute_log_likelihood(dt, extend_inferencedata=True, progressbar=False)
        if prior_draws:
            if _improper(model):
                # A flat prior has no draws; the posterior is still proper (k >= 1).
                dt.attrs["vfsynth_prior_predictive"] = "unavailable: improper (flat) prior"
            else:
                prior = pm.sample_prior_predictive(draws=prior_draws, random_seed=seeds["prior"])
                for group in ("prior", "prior_predictive"):
                    if group in prior.children:
                        dt[group] = prior[group]
        if posterior_predictive and _has_observed(model):
            pm.sample_posterior_predictive(
                dt, random_seed=seeds["posterior_predictive"], extend_inferencedata=True, progressbar=False
            )
    dt.attrs["vfsynth_sampler"] = sampler
    dt.attrs["vfsynth_seed"] = int(seed)
    dt.attrs["vfsynth_target_accept"] = float(target_accept)
    return dt
