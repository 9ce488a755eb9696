"""The summary of one fitted analysis (outcome × time point × model) and its convergence checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from vfsynth.data.source_scale import SourceScale, source_scale
from vfsynth.reports.absolute import AbsoluteEffect, absolute_effect, control_risks
from vfsynth.reports.draws import posterior_var
from vfsynth.reports.effects import (
    EffectSummary,
    Heterogeneity,
    heterogeneity,
    prediction_draws,
    study_estimates,
    summarize_effect,
)


# ----------------------------------------------------------------------------------------------
# diagnostics
# ----------------------------------------------------------------------------------------------
@dataclass
class Diagnostics:
    """Convergence summary: worst R-hat, smallest bulk/tail ESS, divergences."""

    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    divergences: int
    chains: int
    draws: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["ok"] = self.ok
        return d


def diagnostics(dt: xr.DataTree) -> Diagnostics:
    """Convergence verdict of :func:`vfsynth.fits.diagnostics.diagnose` (the engine's gate:
    rank-normalised R-hat, bulk/tail ESS per chain, divergences, tree depth, E-BFMI;
    Vehtari et al. 2021), reduced to what the report shows."""
    from vfsynth.fits.diagnostics import diagnose

    v = diagnose(dt)
    return Diagnostics(
        rhat_max=v["max_rhat"],
        ess_bulk_min=v["min_ess_bulk"],
        ess_tail_min=v["min_ess_tail"],
        divergences=v["divergences"],
        chains=v["chains"],
        draws=v["n_draws"],
        problems=list(v["problems"]),
    )


# ----------------------------------------------------------------------------------------------
# one analysis
# ----------------------------------------------------------------------------------------------
@dataclass
class AnalysisSummary:
    """Everything the report shows for one outcome × time point × model."""

    outcome: str
    timepoint: str
    model: str
    measure: str
    k: int
    n_total: float
    effect: EffectSummary
    prediction: EffectSummary
    heterogeneity: Heterogeneity | None
    studies: pd.DataFrame
    absolute: list[AbsoluteEffect]
    diagnostics: Diagnostics
    #: how the analysis reads in its source's measure and direction (event measures: RR, OR, RD, IRR)
    source: SourceScale | None = None

    def source_effect(self) -> dict[str, Any] | None:
        """Pooled effect and prediction on the source's display scale (event measures only):
        transformed posterior medians and interval ends (monotone maps; ends swap when the
        events were turned round), RevMan's "favours" words and what P(benefit) is."""
        src = self.source
        if src is None or not src.events:
            return None
        e, p = self.effect, self.prediction
        med, lo, hi = src.interval(e.median, e.ci_low, e.ci_high)
        pm, plo, phi = src.interval(p.median, p.ci_low, p.ci_high)
        return {**src.to_dict(), "median": med, "ci_low": lo, "ci_high": hi, "favours": src.favours(e.median),
                "p_benefit": e.p_benefit, "p_benefit_is": f"P({src.favours_side})",
                "prediction": {"median": pm, "ci_low": plo, "ci_high": phi}}

    def to_dict(self) -> dict[str, Any]:
        src = self.source_effect()
        # only event analyses carry "source": other reports' JSON stays as it was
        out = {
            "outcome": self.outcome,
            "timepoint": self.timepoint,
            "model": self.model,
            "measure": self.measure,
            "k": self.k,
            "n_total": None if not np.isfinite(self.n_total) else self.n_total,
            "effect": self.effect.to_dict(),
            "prediction": self.prediction.to_dict(),
            "heterogeneity": None if self.heterogeneity is None else self.heterogeneity.to_dict(),
            "absolute": [a.to_dict() for a in self.absolute],
            "diagnostics": self.diagnostics.to_dict(),
            "studies": self.studies.to_dict(orient="records"),
        }
        if src is not None:
            out["source"] = src
            # "display" is the source's reading too (not exp of the turned-round benefit scale)
            out["effect"]["display"] = {"median": src["median"], "ci_low": src["ci_low"], "ci_high": src["ci_high"]}
            out["prediction"]["display"] = dict(src["prediction"])
        return out


def summarize_analysis(
    dt: xr.DataTree,
    table,
    *,
    model: str = "random-effects",
    prob: float = 0.95,
    ci_kind: str = "eti",
    mcid: tuple[float, ...] | None = None,
    rope: tuple[float, float] | None | str = "default",
    published_risk: float | None = None,
    user_risk: float | None = None,
    seed: int = 0,
) -> AnalysisSummary:
    """Summarise one fit: pooled effect, prediction, heterogeneity, studies, absolute effects."""
    mu = posterior_var(dt, "mu")
    eff = summarize_effect(mu, table.measure, label="pooled effect", prob=prob, ci_kind=ci_kind, mcid=mcid, rope=rope)
    pred = summarize_effect(
        prediction_draws(dt, seed=seed), table.measure, label="new study", prob=prob, ci_kind=ci_kind, mcid=mcid, rope=rope
    )
    absolute: list[AbsoluteEffect] = []
    if table.measure == "logOR":
        for label, risk in control_risks(table, published=published_risk, user=user_risk):
            absolute.append(absolute_effect(mu, risk, label=label, prob=prob, ci_kind=ci_kind))
    n = table.n_total
    return AnalysisSummary(
        outcome=table.outcome,
        timepoint=table.timepoint,
        model=model,
        measure=table.measure,
        k=table.k,
        n_total=float(np.nansum(n)) if np.isfinite(n).any() else float("nan"),
        effect=eff,
        prediction=pred,
        heterogeneity=heterogeneity(dt, table, prob, ci_kind),
        studies=study_estimates(dt, table, prob, ci_kind),
        absolute=absolute,
        diagnostics=diagnostics(dt),
        source=source_scale(table.measure, table.meta.get("direction")),
    )
