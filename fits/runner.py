"""Fit a univariate meta-analysis end to end: table -> model -> gated NUTS -> saved fit.

:func:`fit_univariate` is the one entry point used by the CLI and the report layer. It
builds the configuration (model, priors, data hash, seed, sampler settings, package
versions), reuses a valid saved fit with exactly that configuration, and otherwise
samples with the diagnostics gate (:func:`vfsynth.fits.diagnostics.sample_gated`) and
saves the result atomically (:mod:`vfsynth.fits.store`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vfsynth.data.effect_table import EffectTable
from vfsynth.fits import jaxenv

jaxenv.configure()

log = logging.getLogger(__name__)

DEFAULT_SEED = 20190101
DEFAULTS = {"draws": 1000, "tune": 1000, "chains": 4, "target_accept": 0.9, "max_treedepth": 10}


@dataclass
class FitResult:
    """A finished (or reloaded) univariate fit.

    Attributes
    ----------
    dt : xarray.DataTree
        Posterior, sample_stats, log_likelihood (``y``, dims study), observed_data,
        prior / prior_predictive / posterior_predictive.
    table : EffectTable
    model : str
        Model kind.
    tau_prior, mu_prior : Prior
        ``tau_prior`` is None for the common-effect model.
    config : dict
        The stored configuration (:func:`vfsynth.fits.store.fit_config`).
    fit_id : str
    path : Path or None
        Saved file (None when ``save=False``).
    cached : bool
        True when loaded from a saved fit instead of sampled.
    verdict : dict
        Diagnostics gate verdict (:func:`vfsynth.fits.diagnostics.diagnose`).
    """

    dt: Any
    table: EffectTable
    model: str
    tau_prior: Any
    mu_prior: Any
    config: dict
    fit_id: str
    path: Path | None
    cached: bool
    verdict: dict
    notes: list[str] = field(default_factory=list)


def resolve_table(data, outcome: str | None, timepoint: str = "post") -> EffectTable:
    """An EffectTable from a Review (``outcome`` required) or an EffectTable (returned as is)."""
    if isinstance(data, EffectTable):
        return data
    if outcome is None:
        outs = sorted({o for o, _ in data.analyses()})
        raise ValueError(f"choose an outcome; this review has: {', '.join(outs)}")
    return data.effects(outcome, timepoint)


def default_model(table: EffectTable) -> str:
    """binomial-normal when the outcome has 2x2 counts, else random-effects."""
    return "binomial-normal" if table.has_counts.any() and table.measure == "logOR" else "random-effects"


def resolve_priors(table: EffectTable, model: str, tau_prior=None, mu_prior=None):
    """Parse spec strings / fill defaults: :func:`vfsynth.models.priors.resolve_priors`."""
    from vfsynth.models import priors as P

    return P.resolve_priors(table, model, tau_prior, mu_prior)


def build_config(
    table: EffectTable,
    model: str,
    tau_prior,
    mu_prior,
    *,
    seed: int,
    sampler: str,
    draws: int,
    tune: int,
    chains: int,
    target_accept: float,
    max_treedepth: int,
    model_options: dict | None = None,
) -> dict:
    """The store configuration for a univariate fit (identity of the saved file)."""
    from vfsynth.fits import store
    from vfsynth.models.univariate import describe

    desc = dict(describe(model, **(model_options or {})))
    priors = {"mu": mu_prior.to_dict()}
    if tau_prior is not None:
        priors["tau"] = tau_prior.to_dict()
    return store.fit_config(
        model=desc,
        priors=priors,
        data_hash=table.content_hash(),
        seed=seed,
        sampler={
            "name": sampler,
            "draws": int(draws),
            "tune": int(tune),
            "chains": int(chains),
            "target_accept": float(target_accept),
            "max_treedepth": int(max_treedepth),
        },
        analysis={
            "kind": "univariate",
            "outcome": table.outcome,
            "timepoint": table.timepoint,
            "measure": table.measure,
            "review": str(table.meta.get("review", "")),
            "k": table.k,
        },
    )


def fit_univariate(
    data,
    outcome: str | None = None,
    timepoint: str = "post",
    model: str | None = None,
    tau_prior=None,
    mu_prior=None,
    seed: int = DEFAULT_SEED,
    *,
    draws: int = DEFAULTS["draws"],
    tune: int = DEFAULTS["tune"],
    chains: int = DEFAULTS["chains"],
    sampler: str = "numpyro",
    target_accept: float = DEFAULTS["target_accept"],
    max_treedepth: int = DEFAULTS["max_treedepth"],
    refit: bool = False,
    save: bool = True,
    progress: bool = False,
    fit_dir: str | Path | None = None,
    model_options: dict | None = None,
    on_event=None,
) -> FitResult:
    """Fit (or reload) one univariate meta-analysis.

    Parameters
    ----------
    data : Review or EffectTable
    outcome, timepoint : str
        Which analysis of a Review (ignored for an EffectTable).
    model : {"random-effects", "common-effect", "binomial-normal", "t"}, optional
        Default :func:`default_model`.
    tau_prior, mu_prior : Prior or spec string, optional
        Default ``default_tau_prior(measure, outcome)`` / ``default_mu_prior(measure)``.
    seed : int
        One seed for the whole fit (prior predictive, posterior, posterior predictive).
    draws, tune, chains, sampler, target_accept, max_treedepth
        NUTS settings (see :func:`vfsynth.fits.sampling.sample_model`).
    refit : bool
        Ignore (and overwrite) a saved fit of the same configuration.
    save : bool
        Write the fit to the store.
    fit_dir : path, optional
        Store directory (default :func:`vfsynth.fits.store.fit_dir`).
    model_options : dict, optional
        Extra :func:`vfsynth.models.univariate.build_model` options (``nu``, ``alpha_sd``).
    on_event : callable(str), optional
        Receives progress messages ("reusing saved fit ...", "sampling ...").

    Returns
    -------
    FitResult
    """
    from vfsynth.fits import store
    from vfsynth.fits.diagnostics import sample_gated
    from vfsynth.models.univariate import build_model

    say = on_event or (lambda msg: log.info(msg))
    table = resolve_table(data, outcome, timepoint)
    model = model or default_model(table)
    tau_prior, mu_prior = resolve_priors(table, model, tau_prior, mu_prior)
    opts = dict(model_options or {})
    config = build_config(
        table, model, tau_prior, mu_prior, seed=seed, sampler=sampler, draws=draws, tune=tune,
        chains=chains, target_accept=target_accept, max_treedepth=max_treedepth, model_options=opts,
    )
    fid = store.fit_id(config)
    notes: list[str] = []
    if not refit and (got := store.reuse_cached(config, directory=fit_dir, notes=notes, say=say)) is not None:
        dt, cfg, verdict, path = got
        say(f"reusing saved fit {fid} ({path})")
        return FitResult(dt, table, model, tau_prior, mu_prior, cfg, fid, path, True, verdict, notes)
    say(f"sampling {model} model for {table.outcome}/{table.timepoint} (k={table.k}) with {sampler}: "
        f"{chains} chains x {draws} draws (+{tune} tune), seed {seed}")
    pm_model = build_model(model, table, tau_prior, mu_prior, **opts)
    dt, verdict = sample_gated(
        pm_model,
        sampler=sampler,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
        target_accept=target_accept,
        max_treedepth=max_treedepth,
        progress=progress,
        label=f"{table.outcome}/{table.timepoint} {model}",
    )
    if model == "binomial-normal":
        _unify_log_likelihood(dt, table)
    path = store.save_fit(dt, config, verdict, directory=fit_dir) if save else None
    return FitResult(dt, table, model, tau_prior, mu_prior, config, fid, path, False, verdict, notes)


def _unify_log_likelihood(dt, table: EffectTable) -> None:
    """Replace the arm-level log-likelihood by one term per study (LOO unit = study)."""
    import xarray as xr

    from vfsynth.models.univariate import study_log_likelihood

    ll = study_log_likelihood(dt, table, "binomial-normal")
    dt["log_likelihood"] = xr.DataTree(xr.Dataset({"y": ll}))
