"""The batched engine for one fit: the spec's marginal likelihood in the vectorised BlackJAX
program of :mod:`vfsynth.fits.batched` (a batch of one), study effects drawn afterwards."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from vfsynth.fits.engines import EngineRun


def run_batched_single(spec, table, priors: Mapping[str, Any], settings) -> EngineRun:
    """Sample (mu[, tau]) with the study effects integrated out; diagnose as any NUTS fit."""
    from vfsynth.fits.batched import run_batched
    from vfsynth.fits.diagnostics import diagnose
    from vfsynth.fits.engines.tree import posterior_tree

    nu = getattr(spec, "nu", None)
    res = run_batched(spec.name, table.estimate, table.se, np.ones((1, table.k)), [priors.get("tau")],
                      [priors["mu"]], nu=nu, draws=settings.draws, tune=settings.tune, chains=settings.chains,
                      seed=settings.seed, target_accept=settings.target_accept)
    hyper = {"mu": res.mu[0]}
    if "tau" in spec.prior_roles:
        hyper["tau"] = res.tau[0]
    dt = posterior_tree(spec, table, priors, hyper, seed=settings.seed,
                        sample_stats={"diverging": res.diverging[0]})
    verdict = diagnose(dt, max_treedepth=settings.max_treedepth, var_names=list(hyper))
    verdict.update(engine="batched", target_accept=settings.target_accept, attempts=[])
    dt.attrs["vfsynth_engine"] = "batched"
    return EngineRun("batched", dt, verdict)
