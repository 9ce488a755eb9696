"""One validated row -> its effect and sampling variance on the benefit scale.

The formulas live in :mod:`vfsynth.data.effects` (SMD, MD, log OR, SE from a CI) and
:mod:`vfsynth.data.measures` (every other metafor measure). ``higher_is_better = false`` turns
a row round so that a positive value favours the intervention (see :func:`row_effect` for how
each measure is turned).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from vfsynth.data import effects as es
from vfsynth.data import measures as ms
from vfsynth.data import schema


@dataclass(frozen=True)
class RowEffect:
    """One row turned into an effect on the benefit scale (before measure harmonisation)."""

    measure: str  # a key of vfsynth.data.measures.MEASURES
    estimate: float
    variance: float
    derivation: str
    counts: (
        tuple[float, float, float, float] | None
    )  # benefit-oriented (events_t, n_t, events_c, n_c), log-OR rows only


def _turn(measure: str, est: float, hib: bool) -> float:
    """Benefit-scale value: negated when lower is better, except a raw proportion (``1 - p``:
    the proportion without the event, which keeps it a proportion)."""
    if hib:
        return est
    return 1.0 - est if measure == "PR" else -est


def row_effect(row: pd.Series | dict, smd_variance: str = "metafor") -> RowEffect:
    r"""Compute one row's effect and variance on the benefit scale.

    * continuous arms: Hedges' *g* (:func:`~vfsynth.data.effects.hedges_g`), the raw MD or the
      log ratio of means (:func:`~vfsynth.data.measures.log_ratio_of_means`); negated when
      ``higher_is_better`` is false;
    * binary arms: log OR (:func:`~vfsynth.data.effects.log_odds_ratio`) on benefit-oriented
      counts (``events -> n - events`` when ``higher_is_better`` is false, which negates the
      log OR exactly and keeps the 2×2 table for exact likelihoods); log RR and RD from the
      counts as given, negated when lower is better (the log RR of non-events is *not* minus
      the log RR of events, so the counts cannot be turned round for it);
    * events over person-time: log IRR, negated when lower is better;
    * one arm: logit proportion (negated = logit of the complement) or proportion (``1 - p``);
    * correlations: Fisher z or r with the variance from ``n_total``;
    * estimates: as given (``OR``/``RR``/``IRR`` -> log), SE from the CI where no SE is given
      (:func:`~vfsynth.data.effects.se_from_ci`, log scale for ratios).
    """
    form = row["form"]
    hib = bool(row["higher_is_better"])
    flip = "" if hib else "; sign flipped (higher_is_better=false)"
    measure = row["measure"] or None
    if form == "continuous":
        args = (row["n_t"], row["mean_t"], row["sd_t"], row["n_c"], row["mean_c"], row["sd_c"])
        if measure == "MD":
            est, var = es.mean_difference(*args)
            return RowEffect("MD", _turn("MD", est, hib), var, "mean difference from arms" + flip, None)
        if measure == "ROM":
            est, var = ms.log_ratio_of_means(*args)
            return RowEffect("ROM", _turn("ROM", est, hib), var, "log ratio of means from arms" + flip, None)
        est, var = es.hedges_g(*args, variance=smd_variance)
        return RowEffect(
            "SMD", _turn("SMD", est, hib), var, f"hedges_g from arms ({smd_variance} variance){flip}", None
        )
    if form == "binary":
        et, nt, ec, nc = row["events_t"], row["n_t"], row["events_c"], row["n_c"]
        zero = min(et, nt - et, ec, nc - ec) == 0
        if measure in ("logRR", "RR", "RD"):
            if measure == "RD":
                est, var = ms.risk_difference(et, nt, ec, nc)
                how = "risk difference from 2x2 counts" + (" (0.5 added to each cell: a cell is zero)" if zero else "")
                out = "RD"
            else:
                est, var = ms.log_risk_ratio(et, nt, ec, nc)
                how = "log RR from 2x2 counts" + (" (0.5 added to each cell: a cell is zero)" if zero else "")
                out = "logRR"
            return RowEffect(out, _turn(out, float(est), hib), float(var), how + flip, None)
        if not hib:
            et, ec = nt - et, nc - ec
        est, var = es.log_odds_ratio(et, nt, ec, nc)
        how = "log OR from 2x2 counts" + (
            " (0.5 added to each cell: a cell is zero)" if zero else ""
        )
        if not hib:
            how += "; events counted as n - events (higher_is_better=false)"
        return RowEffect("logOR", float(est), float(var), how, (et, nt, ec, nc))
    if form == "rate":
        est, var = ms.log_incidence_rate_ratio(row["events_t"], row["time_t"], row["events_c"], row["time_c"])
        zero = min(row["events_t"], row["events_c"]) == 0
        how = "log IRR from events and person-time" + (" (0.5 added to both counts: one is zero)" if zero else "")
        return RowEffect("logIRR", _turn("logIRR", float(est), hib), float(var), how + flip, None)
    if form == "single":
        if measure == "PR":
            est, var = ms.raw_proportion(row["events_t"], row["n_t"])
            zero = row["events_t"] in (0, row["n_t"])
            how = "proportion from one arm" + (" (0.5 added to both cells: one is zero)" if zero else "")
        else:
            est, var = ms.logit_proportion(row["events_t"], row["n_t"])
            zero = row["events_t"] in (0, row["n_t"])
            how = "logit proportion from one arm" + (" (0.5 added to both cells: one is zero)" if zero else "")
        m = measure or "PLO"
        return RowEffect(m, _turn(m, float(est), hib), float(var), how + flip, None)
    if form == "estimate":
        return _estimate_effect(row, measure, hib, flip)
    raise ValueError(f"row on line {row['line']} has no single data form")


def _estimate_effect(row, measure: str, hib: bool, flip: str) -> RowEffect:
    est = float(row["estimate"])
    if measure in schema.CORRELATION_MEASURES:
        fn = ms.fisher_z if measure == "ZCOR" else ms.raw_correlation
        y, v = fn(est, row["n_total"])
        how = ("Fisher z of r" if measure == "ZCOR" else "r") + " with variance from n_total"
        return RowEffect(measure, _turn(measure, float(y), hib), float(v), how + flip, None)
    ratio = measure in schema.RATIO_MEASURES
    out = schema.RATIO_MEASURES.get(measure, measure)
    if ratio:
        est = math.log(est)
    if not math.isnan(row["se"]):
        se = float(row["se"])
        how = "estimate with reported se"
    else:
        se = es.se_from_ci(row["ci_low"], row["ci_high"], log=ratio)
        how = "se_from_ci" + (" (log scale)" if ratio else "")
    if ratio:
        how = f"log of reported {measure}; " + how
    if measure == "GIV" and row.get("scale"):
        how += f" (scale {row['scale']})"
    return RowEffect(out, _turn(out, est, hib), se**2, how + flip, None)
