"""Every row's effect at once: the vectorised form of :func:`vfsynth.data.review.row_effect`.

:meth:`Review.effects <vfsynth.data.review.Review.effects>` turns validated rows into effects
with these column operations instead of one Python call per row, so an analysis of a million
rows costs a few array passes. The formulas are the same functions of
:mod:`vfsynth.data.effects` (which broadcast over arrays), applied to all rows of a data form
together; the derivation strings are the ones :func:`~vfsynth.data.review.row_effect` writes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vfsynth.data import effects as es


@dataclass(frozen=True)
class RowEffects:
    """Effects of a block of rows on the benefit scale (before measure harmonisation).

    Attributes
    ----------
    measure : ndarray of str
        ``"SMD"``, ``"logOR"`` or ``"MD"`` per row.
    estimate, variance : ndarray of float
    derivation : list of str
    counts : ndarray, shape (n, 4)
        Benefit-oriented ``(events_t, n_t, events_c, n_c)``; ``nan`` for rows without counts.
    """

    measure: np.ndarray
    estimate: np.ndarray
    variance: np.ndarray
    derivation: list[str]
    counts: np.ndarray


def row_effects(rows: pd.DataFrame, smd_variance: str = "metafor") -> RowEffects:
    """Effects of validated rows (:mod:`vfsynth.data.validate` output), one per row, in order.

    Same rules as :func:`vfsynth.data.review.row_effect`: Hedges' *g* or MD from continuous
    arms, log OR from benefit-oriented 2×2 counts (0.5 added to a table with a zero cell),
    reported estimates as given (OR -> log OR; SE from the CI where no SE is given), negated
    where ``higher_is_better`` is false.
    """
    n = len(rows)
    form = rows["form"].to_numpy(dtype=object)
    hib = rows["higher_is_better"].to_numpy(dtype=bool)
    sign = np.where(hib, 1.0, -1.0)
    meas_in = rows["measure"].to_numpy(dtype=object)
    col = {c: rows[c].to_numpy(dtype=float) for c in (
        "n_t", "mean_t", "sd_t", "n_c", "mean_c", "sd_c", "events_t", "events_c", "estimate", "se",
        "ci_low", "ci_high")}
    measure = np.empty(n, dtype=object)
    est = np.full(n, np.nan)
    var = np.full(n, np.nan)
    how = np.empty(n, dtype=object)
    counts = np.full((n, 4), np.nan)
    flip = np.where(hib, "", "; sign flipped (higher_is_better=false)").astype(object)

    def take(mask, *names):
        return [col[c][mask] for c in names]

    cont = form == "continuous"
    md = cont & (meas_in == "MD")
    if md.any():
        e, v = es.mean_difference(*take(md, "n_t", "mean_t", "sd_t", "n_c", "mean_c", "sd_c"))
        measure[md], est[md], var[md] = "MD", sign[md] * e, v
        how[md] = "mean difference from arms" + flip[md]
    smd = cont & ~md
    if smd.any():
        g, v = es.hedges_g(*take(smd, "n_t", "mean_t", "sd_t", "n_c", "mean_c", "sd_c"), variance=smd_variance)
        measure[smd], est[smd], var[smd] = "SMD", sign[smd] * g, v
        how[smd] = f"hedges_g from arms ({smd_variance} variance)" + flip[smd]
    binary = form == "binary"
    if binary.any():
        et, nt, ec, nc = take(binary, "events_t", "n_t", "events_c", "n_c")
        h = hib[binary]
        et, ec = np.where(h, et, nt - et), np.where(h, ec, nc - ec)
        lor, v = es.log_odds_ratio(et, nt, ec, nc)
        measure[binary], est[binary], var[binary] = "logOR", np.atleast_1d(lor), np.atleast_1d(v)
        zero = np.minimum(np.minimum(et, nt - et), np.minimum(ec, nc - ec)) == 0
        text = np.where(zero, "log OR from 2x2 counts (0.5 added to each cell: a cell is zero)",
                        "log OR from 2x2 counts").astype(object)
        how[binary] = text + np.where(h, "", "; events counted as n - events (higher_is_better=false)")
        counts[binary] = np.column_stack([et, nt, ec, nc])
    estf = form == "estimate"
    if estf.any():
        m = meas_in[estf]
        is_or = m == "OR"
        e = col["estimate"][estf].copy()
        with np.errstate(divide="ignore", invalid="ignore"):
            e[is_or] = np.log(e[is_or])
        se = col["se"][estf].copy()
        from_ci = np.isnan(se)
        if from_ci.any():
            lo, hi = col["ci_low"][estf][from_ci], col["ci_high"][estf][from_ci]
            o = is_or[from_ci]
            se_lin = np.atleast_1d(es.se_from_ci(lo, hi, log=False))
            with np.errstate(divide="ignore", invalid="ignore"):
                se_log = np.atleast_1d(es.se_from_ci(lo, hi, log=True))
            se[from_ci] = np.where(o, se_log, se_lin)
        measure[estf] = np.where(np.isin(m, ("OR", "logOR")), "logOR", m)
        est[estf] = sign[estf] * e
        var[estf] = se**2
        text = np.where(from_ci, np.where(is_or, "se_from_ci (log scale)", "se_from_ci"),
                        "estimate with reported se").astype(object)
        text = np.where(is_or, "log of reported OR; " + text, text)
        how[estf] = text + flip[estf]
    bad = ~(cont | binary | estf)
    if bad.any():
        line = rows["line"].to_numpy()[np.flatnonzero(bad)[0]]
        raise ValueError(f"row on line {line} has no single data form")
    return RowEffects(measure.astype(str), est, var, list(how), counts)
