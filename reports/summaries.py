"""Posterior summaries for the report, computed from the draws of a fitted model.

Everything here takes an ArviZ :class:`xarray.DataTree` (the ``posterior`` group holding
``mu`` (pooled effect), ``tau`` (between-study SD) and ``theta`` (study effects, dim
``study``)) and, where study data are needed, the :class:`~vfsynth.data.effect_table.EffectTable`
the model was fitted to. Estimates are on the benefit scale (positive favours the intervention).

This module gathers, under one name, what lives in four modules by what it holds:
:mod:`vfsynth.reports.draws` (draws, intervals, probabilities, scales),
:mod:`vfsynth.reports.effects` (pooled effect, prediction, heterogeneity, study estimates),
:mod:`vfsynth.reports.absolute` (absolute effects of binary outcomes) and
:mod:`vfsynth.reports.analysis_summary` (one analysis: :func:`summarize_analysis`, diagnostics).
"""

from vfsynth.reports.absolute import (
    PUBLISHED_CONTROL_RISK_CD012348,
    AbsoluteEffect,
    absolute_effect,
    control_risks,
    pooled_control_risk,
    published_control_risk,
)
from vfsynth.reports.analysis_summary import (
    AnalysisSummary,
    Diagnostics,
    diagnostics,
    summarize_analysis,
)
from vfsynth.reports.draws import (
    SAMPLE_DIMS,
    as_dataarray,
    display_scale,
    flat,
    interval,
    posterior_var,
    probability,
    to_display_scale,
    to_model_scale,
)
from vfsynth.reports.effects import (
    DEFAULT_MCID,
    DEFAULT_ROPE,
    EffectSummary,
    Heterogeneity,
    heterogeneity,
    prediction_draws,
    study_estimates,
    summarize_effect,
    typical_within_variance,
)

__all__ = [
    "DEFAULT_MCID", "DEFAULT_ROPE", "PUBLISHED_CONTROL_RISK_CD012348", "SAMPLE_DIMS", "AbsoluteEffect",
    "AnalysisSummary", "Diagnostics", "EffectSummary", "Heterogeneity", "absolute_effect", "as_dataarray",
    "control_risks", "diagnostics", "display_scale", "flat", "heterogeneity", "interval", "pooled_control_risk",
    "posterior_var", "prediction_draws", "probability", "published_control_risk", "study_estimates",
    "summarize_analysis", "summarize_effect", "to_display_scale", "to_model_scale", "typical_within_variance",
]
