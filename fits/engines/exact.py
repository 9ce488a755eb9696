"""The exact engine: numerical integration of the normal–normal posterior, and exact draws.

For the random-effects and common-effect models the posterior is integrated by
:func:`vfsynth.fits.exact.nnhm_exact` (mu analytically given tau, tau by quadrature; Röver
2020, the method of R ``bayesmeta``; the common-effect model is tau fixed at 0). Summaries are
computed from that integral. For plots, LOO and everything that works on draws, the engine also
returns ``chains × draws`` *independent* draws from the exact posterior (:func:`exact_draws`),
in a DataTree of the same shape as a NUTS fit (:func:`vfsynth.fits.engines.tree.posterior_tree`;
held as :class:`~vfsynth.fits.tree_parts.TreeParts` until something reads it).
Being independent, they need no convergence diagnostics: the verdict says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from vfsynth.fits.engines import EngineRun


def exact_draws(ep, n: int, seed: int | np.random.Generator = 1) -> tuple[np.ndarray, np.ndarray]:
    """Independent draws of (mu, tau) from an exact NNHM posterior.

    A quadrature node is drawn with its weight; tau is jittered uniformly within its log-tau
    cell (the lower-tail node uniformly on (0, tau_lo)); mu given the node is normal with the
    node's conditional mean and variance (exact given the node).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    lw = ep.log_weights
    w = np.exp(lw - lw.max()).ravel()
    w /= w.sum()
    idx = rng.choice(w.size, size=n, p=w)
    it, il = np.unravel_index(idx, lw.shape)
    mu = rng.normal(ep.cond_mean[it, il], np.sqrt(ep.cond_var[it, il]))
    tau = ep.node_tau[it].astype(float)
    if len(ep.log_tau) > 1:
        h = ep.log_tau[1] - ep.log_tau[0]
        grid = np.ones_like(tau, dtype=bool)
        if ep.tau_lo > 0:
            low = it == 0
            tau[low] = rng.uniform(0, ep.tau_lo, size=int(low.sum()))
            grid = ~low
        tau[grid] = tau[grid] * np.exp(rng.uniform(-h / 2, h / 2, size=int(grid.sum())))
    return mu, tau


def exact_posterior(spec, table, priors: Mapping[str, Any]):
    """The :class:`~vfsynth.fits.exact.ExactPosterior` of ``spec`` (random or common effect)."""
    from vfsynth.fits.exact import nnhm_exact

    tau = 0.0 if "tau" not in spec.prior_roles else priors["tau"]
    return nnhm_exact(table, tau_prior=tau, mu_prior=priors["mu"])


def exact_verdict(chains: int, draws: int) -> dict:
    """The diagnostics verdict of independent exact draws (nothing to diagnose)."""
    return {
        "engine": "exact", "passed": True, "problems": [], "max_rhat": None, "worst": None,
        "min_ess_bulk": float(chains * draws), "min_ess_tail": float(chains * draws), "divergences": 0,
        "divergences_per_chain": [0] * chains, "treedepth_hits": 0, "treedepth_per_chain": [0] * chains,
        "ebfmi": [], "ebfmi_min": None, "chains": chains, "n_draws": draws, "target_accept": None,
        "attempts": [], "note": "exact numerical integration; the draws are independent, so no MCMC diagnostics apply",
    }


def run_exact(spec, table, priors: Mapping[str, Any], settings) -> EngineRun:
    """Integrate, then draw ``settings.chains × settings.draws`` independent posterior draws."""
    from vfsynth.fits.engines.tree import posterior_parts

    ep = exact_posterior(spec, table, priors)
    c, d = settings.chains, settings.draws
    rng = np.random.default_rng(np.random.SeedSequence([int(settings.seed), 11]))
    mu, tau = exact_draws(ep, c * d, rng)
    hyper = {"mu": mu.reshape(c, d)}
    if "tau" in spec.prior_roles:
        hyper["tau"] = tau.reshape(c, d)
    # plain arrays: the DataTree is built only if something reads it (the CLI's summary does
    # not), and the store writes these arrays without xarray (vfsynth.fits.tree_parts)
    parts = posterior_parts(spec, table, priors, hyper, seed=settings.seed)
    parts.attrs["vfsynth_engine"] = "exact"
    return EngineRun("exact", parts, exact_verdict(c, d), exact=ep)
