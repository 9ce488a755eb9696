"""Fit a univariate meta-analysis end to end: table -> model spec -> engine -> saved fit.

:func:`fit_univariate` is the one entry point used by the Python API, the CLI and the report
layer. It resolves the model spec (:func:`vfsynth.models.spec.get_spec`), the priors and the
:class:`~vfsynth.fits.settings.FitSettings`, builds the configuration (model, priors, data
hash, engine, seed, sampler settings, package versions), reuses a valid saved fit with exactly
that configuration, and otherwise runs the chosen engine (:func:`vfsynth.fits.engines.run_engine`:
exact integration, NUTS with the diagnostics gate, or the batched program) and saves the result
atomically (:mod:`vfsynth.fits.store`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vfsynth.data.effect_table import EffectTable
from vfsynth.fits.settings import DEFAULT_SEED, FitSettings, settings_from

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_SEED", "FitResult", "build_config", "default_model", "fit_univariate", "resolve_priors",
           "resolve_table"]


class _TreeOnDemand:
    """Descriptor of ``FitResult.dt``: a :class:`~vfsynth.fits.tree_parts.TreeParts` given by
    the exact engine is turned into its DataTree on first access (and kept), so a process that
    only prints the exact summary never imports xarray / ArviZ."""

    def __set_name__(self, owner, name: str) -> None:
        self._slot = f"_{name}"

    def __get__(self, obj, owner=None):
        if obj is None:  # class access: tells dataclasses the field has no default
            raise AttributeError(self._slot[1:])
        value = obj.__dict__[self._slot]
        if hasattr(value, "to_datatree"):
            value = obj.__dict__[self._slot] = value.to_datatree()
        return value

    def __set__(self, obj, value) -> None:
        obj.__dict__[self._slot] = value


@dataclass
class FitResult:
    """A finished (or reloaded) univariate fit.

    Attributes
    ----------
    dt : xarray.DataTree
        Posterior (``mu``, ``tau``, ``theta`` dims study, ``theta_new``), sample_stats,
        log_likelihood (``y``, dims study), observed_data, prior / prior_predictive /
        posterior_predictive — the same groups whichever engine made it (built on first
        access when the engine handed over plain arrays).
    table : EffectTable
    model : str
        Model name (:func:`vfsynth.models.spec.model_names`).
    tau_prior, mu_prior : Prior
        ``tau_prior`` is None for the common-effect model.
    config : dict
        The stored configuration (:func:`vfsynth.fits.store.fit_config`).
    fit_id : str
    path : Path or None
        Saved file (None when ``save=False``).
    cached : bool
        True when loaded from a saved fit instead of fitted.
    verdict : dict
        Diagnostics verdict (:func:`vfsynth.fits.diagnostics.diagnose`; for the exact engine a
        verdict stating that no MCMC diagnostics apply).
    engine : str
        The engine that made it: ``"exact"``, ``"nuts"`` or ``"batched"``.
    exact : ExactPosterior or None
        The exact posterior (exact engine): summaries are computed from it.
    settings : FitSettings
    """

    dt: Any = _TreeOnDemand()
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
    engine: str = "nuts"
    exact: Any = None
    settings: FitSettings | None = None

    # -- the notebook face -------------------------------------------------------------------
    @property
    def posterior(self):
        """The ``posterior`` group (an ArviZ / xarray ``DataTree``)."""
        return self.dt["posterior"]

    def summary(self) -> dict[str, Any]:
        """The summary object (as ``vfsynth fit --json``; exact where the engine is exact)."""
        from vfsynth.fits.summary import summarize

        return summarize(self)

    def summary_frame(self, level: float = 0.95):
        """One row per quantity (mu, tau, prediction, each study's effect) as a pandas DataFrame.

        Columns: ``mean``, ``sd``, ``median``, the ``level`` equal-tailed interval, ``mcse_mean``
        (0 for exact results) and ``source`` (``"exact"`` or ``"draws"``).
        """
        from vfsynth.fits.summary import summary_frame

        return summary_frame(self, level=level)

    def _repr_html_(self) -> str:
        frame = self.summary_frame()
        head = (f"<p><b>{self.model}</b> meta-analysis of {self.table.outcome}/{self.table.timepoint} "
                f"({self.table.measure}, k = {self.table.k}); engine <b>{self.engine}</b>; "
                f"diagnostics {'passed' if self.verdict.get('passed') else 'FAILED'}</p>")
        return head + frame.to_html(float_format=lambda v: f"{v:.3f}")

    def __repr__(self) -> str:
        return (f"FitResult(model={self.model!r}, analysis={self.table.outcome}/{self.table.timepoint}, "
                f"k={self.table.k}, engine={self.engine!r}, fit_id={self.fit_id!r})")


def resolve_table(data, outcome: str | None, timepoint: str = "post") -> EffectTable:
    """An EffectTable from a Review (``outcome`` required) or an EffectTable (returned as is)."""
    from vfsynth.models.spec import ModelSpecError

    if isinstance(data, EffectTable):
        return data
    if outcome is None:
        outs = sorted({o for o, _ in data.analyses()})
        raise ModelSpecError(f"choose an outcome; this review has: {', '.join(outs)}")
    return data.effects(outcome, timepoint)


def default_model(table: EffectTable) -> str:
    """binomial-normal when the outcome has 2x2 counts, else random-effects."""
    return "binomial-normal" if table.has_counts.any() and table.measure == "logOR" else "random-effects"


def resolve_priors(table: EffectTable, model: str, tau_prior=None, mu_prior=None):
    """Parse spec strings / fill defaults: :func:`vfsynth.models.priors.resolve_priors`."""
    from vfsynth.models import priors as P

    return P.resolve_priors(table, model, tau_prior, mu_prior)


def build_config(table: EffectTable, spec, priors: dict, settings: FitSettings, engine: str) -> dict:
    """The store configuration for a univariate fit (identity of the saved file)."""
    from vfsynth.fits import store

    sampler = settings.sampler_dict()
    sampler["engine"] = engine
    if engine == "exact":
        # the sampler's settings do not enter an exact fit; only the number of draws does
        sampler = {"engine": "exact", "name": "exact", "draws": int(settings.draws), "chains": int(settings.chains)}
    return store.fit_config(
        model=dict(spec.describe()),
        priors={role: p.to_dict() for role, p in priors.items() if p is not None},
        data_hash=table.content_hash(),
        seed=settings.seed,
        sampler=sampler,
        analysis={
            "kind": "univariate",
            "outcome": table.outcome,
            "timepoint": table.timepoint,
            "measure": table.measure,
            "review": table.meta.get("review"),
        },
    )


def fit_univariate(
    data,
    outcome: str | None = None,
    timepoint: str = "post",
    model: str | None = None,
    tau_prior=None,
    mu_prior=None,
    seed: int | None = None,
    *,
    settings: FitSettings | None = None,
    engine: str | None = None,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    sampler: str | None = None,
    target_accept: float | None = None,
    max_treedepth: int | None = None,
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
    model : str, optional
        A registered model (:func:`vfsynth.models.spec.model_names`); default :func:`default_model`.
    tau_prior, mu_prior : Prior or spec string, optional
        Default: the registry defaults for the analysis's measure and outcome.
    seed : int, optional
        One seed for the whole fit (default :data:`~vfsynth.fits.settings.DEFAULT_SEED`).
    settings : FitSettings, optional
        Engine, sampler and run length; the keyword arguments ``engine``, ``draws``, ``tune``,
        ``chains``, ``sampler``, ``target_accept``, ``max_treedepth`` (and ``seed``) override it.
    refit : bool
        Ignore (and overwrite) a saved fit of the same configuration.
    save : bool
        Write the fit to the store.
    fit_dir : path, optional
        Store directory (default :func:`vfsynth.fits.store.fit_dir`).
    model_options : dict, optional
        Options of the model spec (``nu`` for ``t``, ``alpha_sd`` for ``binomial-normal``).
    on_event : callable(str), optional
        Receives progress messages ("reusing saved fit ...", "sampling ...").

    Returns
    -------
    FitResult
    """
    from vfsynth.fits import store
    from vfsynth.fits.engines import run_engine
    from vfsynth.models.spec import get_spec

    say = on_event or (lambda msg: log.info(msg))
    settings = settings_from(settings, engine=engine, draws=draws, tune=tune, chains=chains, sampler=sampler,
                             target_accept=target_accept, max_treedepth=max_treedepth, seed=seed)
    table = resolve_table(data, outcome, timepoint)
    model = model or default_model(table)
    spec = get_spec(model, **dict(model_options or {}))
    spec.check(table)
    eng = spec.resolve_engine(settings.engine)
    tau_prior, mu_prior = resolve_priors(table, model, tau_prior, mu_prior)
    priors = {"mu": mu_prior, "tau": tau_prior}
    spec.check_priors(priors)
    config = build_config(table, spec, priors, settings, eng)
    fid = store.fit_id(config)
    notes: list[str] = []

    def result(dt, cfg, verdict, path, cached, exact):
        return FitResult(dt, table, model, tau_prior, mu_prior, cfg, fid, path, cached, verdict, notes,
                         engine=eng, exact=exact, settings=settings)

    if not refit and (got := store.reuse_cached(config, directory=fit_dir, notes=notes, say=say)) is not None:
        dt, cfg, verdict, path = got
        say(f"reusing saved fit {fid} ({path})")
        exact = None
        if eng == "exact":
            from vfsynth.fits.engines.exact import exact_posterior

            exact = exact_posterior(spec, table, priors)  # milliseconds: recomputed, not stored
        return result(dt, cfg, verdict, path, True, exact)
    if save:
        store.ensure_fit_dir(fit_dir)  # a bad VFSYNTH_FIT_DIR fails now, not after sampling
    what = "integrating" if eng == "exact" else f"sampling ({eng}, {settings.sampler})" if eng == "nuts" \
        else "sampling (batched)"
    say(f"{what} {model} model for {table.outcome}/{table.timepoint} (k={table.k}): "
        f"{settings.chains} chains x {settings.draws} draws, seed {settings.seed}")
    run = run_engine(spec, table, priors, settings, progress=progress,
                     label=f"{table.outcome}/{table.timepoint} {model}")
    path = store.save_fit(run.dt, config, run.verdict, directory=fit_dir) if save else None
    return result(run.dt, config, run.verdict, path, False, run.exact)
