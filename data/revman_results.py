"""Reproducing RevMan's stored results for the RevMan import (:mod:`vfsynth.data.revman`).

Holds :func:`pool_analysis` (RevMan's pooled result of an analysis or subgroup, recomputed with
:mod:`vfsynth.data.revman_pooling`), :func:`_study_effects` (per-study effects on RevMan's
scale) and :func:`compare_with_revman` (every number RevMan stored next to ours).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from vfsynth.data.revman_common import (
    _DATA_KEYS,
    RATIO_EFFECT_MEASURES,
    RevManAnalysis,
    RevManReview,
    RevManRow,
)


def _study_effects(a: RevManAnalysis, rows: list[RevManRow], level: float):
    from vfsynth.data import revman_pooling as rp

    col = {k: np.array([r.data.get(k, math.nan) for r in rows]) for k in rows[0].data} if rows else {}
    m = a.effect_measure
    if a.data_type == "DICH":
        e1, e2 = col["EVENTS_1"], col["EVENTS_2"]
        if a.swap_events:
            e1, e2 = col["TOTAL_1"] - e1, col["TOTAL_2"] - e2
        return rp.dichotomous_effects(e1, col["TOTAL_1"], e2, col["TOTAL_2"], "OR" if m == "PETO_OR" else m, level=level)
    if a.data_type == "CONT":
        return rp.continuous_effects(col["MEAN_1"], col["SD_1"], col["TOTAL_1"], col["MEAN_2"], col["SD_2"],
                                     col["TOTAL_2"], m, level=level)
    ratio = a.log_data or m == "GIV-ratio" or m in RATIO_EFFECT_MEASURES
    return rp.generic_effects(col["EFFECT_SIZE"], col["SE"], ratio=ratio, level=level)


def pool_analysis(a: RevManAnalysis, subgroup: int | None = None):
    """Recompute RevMan's pooled result for an analysis (or one of its subgroups)."""
    from vfsynth.data import revman_pooling as rp

    rows = [r for r in a.rows if subgroup is None or r.subgroup == subgroup]
    level = (a.ci_total if math.isfinite(a.ci_total) else 95.0) / 100
    if a.data_type == "DICH" and a.method == "MH":
        col = {k: np.array([r.data[k] for r in rows]) for k in _DATA_KEYS["DICH"]}
        e1, e2 = col["EVENTS_1"], col["EVENTS_2"]
        if a.swap_events:
            e1, e2 = col["TOTAL_1"] - e1, col["TOTAL_2"] - e2
        return rp.mantel_haenszel(e1, col["TOTAL_1"], e2, col["TOTAL_2"], a.effect_measure, random=bool(a.random),
                                  level=level)
    if a.method == "PETO":
        raise NotImplementedError("Peto odds ratio pooling is not implemented")
    eff = _study_effects(a, rows, level)
    return rp.inverse_variance(eff.y, eff.se, a.effect_measure, random=bool(a.random), level=level)


def compare_with_revman(review: RevManReview) -> pd.DataFrame:
    """Every stored RevMan number next to ours: columns analysis, subgroup, study, quantity,
    stored, computed, abs_diff, rel_diff. Per-study effects/CI/SE/weights, pooled effect,
    CI, tau², I², Q (chi²), df, Z, p-values and the subgroup-difference test."""
    from vfsynth.data import revman_pooling as rp

    recs = []

    def add(a, sg, study, q, stored, computed):
        if not (isinstance(stored, float) and math.isnan(stored)):
            diff = abs(stored - computed)
            if math.isnan(diff):  # we failed to compute something RevMan has: never hide it
                diff = math.inf
            recs.append({"analysis": a.number, "subgroup": sg, "study": study, "quantity": q, "stored": stored,
                         "computed": computed, "abs_diff": diff,
                         "rel_diff": diff / abs(stored) if stored != 0 else diff})

    for a in review.analyses:
        if a.data_type not in ("DICH", "CONT", "IV") or not a.rows or a.method == "PETO" or not a.effect_measure:
            continue
        level_s = (a.ci_study if math.isfinite(a.ci_study) else 95.0) / 100
        eff = _study_effects(a, a.rows, level_s)
        overall = pool_analysis(a)
        for i, r in enumerate(a.rows):
            if not r.estimable:
                continue
            st = r.stored
            if a.data_type == "IV" and review.format == "rm5":
                pass  # IV_DATA's EFFECT_SIZE is the entered estimate itself (analysis scale)
            else:
                add(a, r.subgroup, r.study, "study effect", st["EFFECT_SIZE"], eff.effect[i])
            add(a, r.subgroup, r.study, "study CI start", st["CI_START"], eff.ci_low[i])
            add(a, r.subgroup, r.study, "study CI end", st["CI_END"], eff.ci_high[i])
            add(a, r.subgroup, r.study, "study SE", st.get("SE", math.nan), eff.se[i])
            if a.method:  # RevMan Web CSV: only when a pooling method reproduced the weights
                add(a, r.subgroup, r.study, "study weight %", st.get("WEIGHT", math.nan), overall.weights[i])
        targets = [(None, a.stored, overall)] + [(s.no, s.stored, pool_analysis(a, s.no)) for s in a.subgroups]
        for sg, st, res in targets:
            if not st:
                continue
            # RevMan marks a meta-analysis without any estimable study ESTIMABLE="NO" (all numbers 0)
            add(a, sg, None, "estimable", float(st.get("ESTIMABLE", True)), float(res.k > 0))
            if res.k == 0:
                continue
            add(a, sg, None, "pooled effect", st["EFFECT_SIZE"], res.effect)
            add(a, sg, None, "pooled CI start", st["CI_START"], res.ci_low)
            add(a, sg, None, "pooled CI end", st["CI_END"], res.ci_high)
            add(a, sg, None, "tau2", st["TAU2"], res.tau2)
            add(a, sg, None, "I2 %", st["I2"], res.i2)
            add(a, sg, None, "heterogeneity chi2", st["CHI2"], res.q)
            add(a, sg, None, "heterogeneity df", st["DF"], float(res.df))
            add(a, sg, None, "heterogeneity p", st["P_CHI2"], res.p_q)
            add(a, sg, None, "Z", st["Z"], abs(res.z))
            add(a, sg, None, "p(Z)", st["P_Z"], res.p_z)
            if sg is not None:
                add(a, sg, None, "subgroup weight %",
                    st["WEIGHT"], float(sum(overall.weights[i] for i, r in enumerate(a.rows) if r.subgroup == sg)))
        if a.subgroups and a.stored.get("SUBGROUPS"):
            q, df, p, i2 = rp.subgroup_differences([pool_analysis(a, s.no) for s in a.subgroups])
            add(a, None, None, "subgroup difference chi2", a.stored["Q"], q)
            add(a, None, None, "subgroup difference p", a.stored["P_Q"], p)
            add(a, None, None, "subgroup difference I2 %", a.stored["I2_Q"], i2)
    return pd.DataFrame.from_records(recs)
