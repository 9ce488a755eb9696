"""The NUTS engine: a spec's PyMC graph sampled with the diagnostics gate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vfsynth.fits.engines import EngineRun


def run_nuts(spec, table, priors: Mapping[str, Any], settings, *, progress: bool = False,
             label: str = "fit") -> EngineRun:
    """Sample ``spec.pymc_model(table, priors)`` (:func:`vfsynth.fits.diagnostics.sample_gated`).

    The per-study log-likelihood is brought to one term per study (the LOO unit) with the
    spec's own rule (:func:`vfsynth.models.univariate.study_log_likelihood` for the arm-level
    binomial terms).
    """
    from vfsynth.fits import jaxenv

    jaxenv.configure()
    from vfsynth.fits.diagnostics import sample_gated

    model = spec.pymc_model(table, priors)
    dt, verdict = sample_gated(
        model,
        sampler=settings.sampler,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        seed=settings.seed,
        target_accept=settings.target_accept,
        max_treedepth=settings.max_treedepth,
        progress=progress,
        label=label,
    )
    if spec.needs == "counts":
        import xarray as xr

        from vfsynth.models.univariate import study_log_likelihood

        ll = study_log_likelihood(dt, table, spec.name)
        dt["log_likelihood"] = xr.DataTree(xr.Dataset({"y": ll}))
    dt.attrs["vfsynth_engine"] = "nuts"
    verdict["engine"] = "nuts"
    return EngineRun("nuts", dt, verdict)
