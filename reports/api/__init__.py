"""vfsynth — Bayesian evidence synthesis for randomised trials (the Python API).

A notebook session::

    import vfsynth as vf

    review = vf.load_review("mine.csv")          # a path, a pandas DataFrame, or None (bundled)
    fit = vf.fit(review, outcome="anxiety")       # engine "auto": exact where the model allows
    fit.summary_frame()                           # pandas: mu, tau, prediction, study effects
    fit.posterior                                 # ArviZ / xarray DataTree
    fig = vf.plot_forest(fit)                     # matplotlib Figure
    cmp = vf.compare(review, outcome="anxiety")   # leave-one-study-out elpd, stacking
    cmp.summary_frame()
    vf.export_priors(fit, "priors.json")          # posteriors as tomorrow's priors

Everything here is a thin wrapper over the stage packages (``vfsynth.data``,
``vfsynth.models``, ``vfsynth.fits``, ``vfsynth.reports``); heavy libraries (PyMC, JAX,
matplotlib) load only when a function that needs them runs. Input is always validated (a
:class:`~vfsynth.data.errors.DataValidationError` names line, study and column); every error
vfsynth raises on purpose is a :class:`~vfsynth.data.errors.VfsynthError`.

This package's source lives in ``reports/api/`` because the repository's top level holds only
the four stage folders; it sits above all stages and may import any of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vfsynth.data.errors import DataValidationError, VfsynthError

__all__ = [
    "DataValidationError", "EffectTable", "FitSettings", "Review", "VfsynthError", "average", "compare", "export_priors",
    "fit", "load_csv", "load_data", "load_review", "models", "plot_forest", "priors", "summarize",
]


_LAZY = {"FitSettings": "vfsynth.fits.settings", "EffectTable": "vfsynth.data.effect_table",
         "Review": "vfsynth.data.review", "load_csv": "vfsynth.data.loaders", "load_data": "vfsynth.data.loaders"}


def __getattr__(name: str):
    # ``import vfsynth`` (and so every ``import vfsynth.<stage>``) must stay cheap: pandas, SciPy
    # and the rest load when a name that needs them is first used
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vfsynth' has no attribute {name!r}")


def _review_types():
    from vfsynth.data.effect_table import EffectTable
    from vfsynth.data.review import Review

    return Review, EffectTable


def load_review(source=None, *, moderators=None, name: str | None = None):
    """A validated review from a CSV / RevMan path, a pandas DataFrame, or ``None`` (the bundled
    CD012348 reconstruction)."""
    import pandas as pd

    from vfsynth.data.loaders import load_csv, load_data

    if isinstance(source, pd.DataFrame):
        return load_csv(source, moderators, name)
    if source is None and name is None:
        return load_data(None, moderators=moderators) if moderators else load_data(None)
    return load_data(str(Path(source)), moderators=moderators) if moderators else load_data(str(Path(source)))


def models() -> dict[str, str]:
    """Registered models: name → one-line description (``model=`` in :func:`fit`)."""
    from vfsynth.models.spec import get_spec, model_names

    return {n: get_spec(n).title for n in model_names()}


def priors(target: str | None = None):
    """The prior registry (``target``: ``"tau"``, ``"mu"`` or ``None`` for both)."""
    from vfsynth.models.priors import list_priors

    return list_priors(target)


def fit(data, outcome: str | None = None, timepoint: str = "post", model: str | None = None, *,
        tau_prior=None, mu_prior=None, engine: str = "auto", settings=None, seed: int | None = None,
        save: bool = True, refit: bool = False, **options: Any):
    """Fit one meta-analysis (see :func:`vfsynth.fits.runner.fit_univariate`).

    Parameters
    ----------
    data : Review, EffectTable, DataFrame or path
    outcome, timepoint : str
        The analysis of a review.
    model : str, optional
        One of :func:`models`; default binomial–normal for 2×2 counts, else random effects.
    tau_prior, mu_prior : Prior or spec string, optional
        Default: the registry defaults for the measure (``vfsynth priors list``).
    engine : {"auto", "exact", "nuts", "batched"}
        ``auto``: exact integration where the model has it, NUTS otherwise.
    settings : FitSettings, optional
        Sampler, chains, draws, tune, target acceptance, seed.
    save, refit : bool
        Keep the fit in the user cache (reused when nothing changed); ignore a saved fit.
    **options
        Model options (``nu`` for ``t``, ``alpha_sd`` for ``binomial-normal``).

    Returns
    -------
    FitResult
        ``.posterior`` (DataTree), ``.summary_frame()`` (pandas), ``.summary()`` (dict),
        ``.engine``, ``.verdict``; renders as a table in a notebook.
    """
    from vfsynth.fits.runner import fit_univariate

    if not isinstance(data, _review_types()):
        data = load_review(data)
    if model == "joint":
        raise VfsynthError("the joint model: use vfsynth.fits.joint_runner.fit_joint(review) (or vfsynth fit --model joint)")
    return fit_univariate(data, outcome, timepoint, model, tau_prior, mu_prior, seed, settings=settings,
                          engine=engine, save=save, refit=refit, model_options=options or None)


def summarize(result) -> dict:
    """The summary object of a fit (as ``vfsynth fit --json``)."""
    return result.summary()


def compare(data, outcome: str | None = None, timepoint: str = "post", *, models=None, engine: str = "auto",
            tau_prior=None, mu_prior=None, **kwargs):
    """Compare models by leave-one-study-out elpd and stacking (:func:`vfsynth.fits.compare.compare_models`).

    Returns a :class:`~vfsynth.fits.compare.ComparisonResult` (``.summary_frame()``: one row per model).
    """
    from vfsynth.fits.compare import DEFAULT_MODELS, compare_models

    if not isinstance(data, _review_types()):
        data = load_review(data)
    chosen = tuple(models) if models is not None else tuple(m for m in DEFAULT_MODELS if m != "joint")
    return compare_models(data, outcome, timepoint, models=chosen, engine=engine, tau_prior=tau_prior,
                          mu_prior=mu_prior, **kwargs)


def average(data, outcome: str | None = None, timepoint: str = "post", *, ensemble: str = "nnhm4",
            tau_prior=None, mu_prior=None, prior_prob=None, level: float = 0.95):
    """Bayesian model averaging with inclusion Bayes factors (:func:`vfsynth.fits.averaging.average_table`).

    Returns an :class:`~vfsynth.fits.averaging.AveragedPosterior`: ``.model_frame()`` (prior and
    posterior model probabilities), ``.inclusion_frame()`` (inclusion Bayes factors),
    ``.summary_frame()`` (averaged mu and tau, marginal and conditional), ``.p_benefit``.
    ``ensemble="three-level"``: the eight-model three-level ensemble for several estimates per study.
    """
    from vfsynth.fits.averaging import average_table
    from vfsynth.fits.runner import resolve_table

    if not isinstance(data, _review_types()):
        data = load_review(data)
    table = resolve_table(data, outcome, timepoint)
    if ensemble == "three-level":  # several estimates per study (es_id): fits/three_level_averaging.py
        from vfsynth.fits.three_level_averaging import average_three_level_table

        return average_three_level_table(table, tau_prior=tau_prior, mu_prior=mu_prior, level=level)
    return average_table(table, tau_prior, mu_prior, ensemble, prior_prob=prior_prob, level=level)


def export_priors(result, path=None) -> dict:
    """A fit's posterior as a ``vfsynth-priors/1`` object (written to ``path`` if given; an existing
    file is never overwritten)."""
    from vfsynth.fits import prior_export as PE
    from vfsynth.fits import prior_files as PF

    if getattr(result, "exact", None) is not None:
        obj = PE.export_exact(result.exact, result.table)
    else:
        obj = PE.export_priors(result.dt, result.config, table=result.table)
    if path is not None:
        path = Path(path)
        if path.exists():
            raise VfsynthError(f"{path}: exists; choose a new file name (vfsynth never overwrites a file)")
        PF.write_priors(obj, path)
    return obj


def plot_forest(result, title: str | None = None):
    """Forest plot of a fit: studies' estimates, their shrunken effects, the pooled effect and the
    prediction interval (a matplotlib Figure)."""
    from vfsynth.reports.analysis_summary import summarize_analysis
    from vfsynth.reports.figures.forest import forest_plot

    return forest_plot(summarize_analysis(result.dt, result.table, model=result.model), title=title)
