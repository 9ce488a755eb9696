"""RevMan 5's own frequentist computations: per-study effects, Mantel–Haenszel and DerSimonian–Laird.

This module reproduces the numbers that Review Manager 5 stores in a ``.rm5`` file and shows in
its forest plots, so that an imported review can be checked against RevMan itself. The formulas
are those of Deeks & Higgins, *Statistical algorithms in Review Manager 5* (Cochrane Statistical
Methods Group, 2010), summarised here:

Per-study effects (2×2 table ``a/n1`` experimental, ``c/n2`` control, ``b = n1 - a``, ``d = n2 - c``)

* risk ratio: ``ln RR = ln(a/n1) - ln(c/n2)``, ``SE = sqrt(1/a + 1/c - 1/n1 - 1/n2)``;
* odds ratio: ``ln OR = ln(a d / b c)``, ``SE = sqrt(1/a + 1/b + 1/c + 1/d)``;
* risk difference: ``RD = a/n1 - c/n2``, ``SE = sqrt(a b / n1^3 + c d / n2^3)``.

Zero cells: when any of ``a, b, c, d`` is 0, 0.5 is added to all four cells of that study for its
own estimate and standard error (and therefore for the heterogeneity statistic and the
inverse-variance/random-effects weights). For RR and OR a study with no events in both arms
is *not estimable* and excluded from every computation (for OR also one with only events in
both arms; for RR that study is estimable, RR = 1, as RevMan Web's stored results show); for RD
every study is kept.

Continuous: mean difference ``MD = m1 - m2``, ``SE = sqrt(s1^2/n1 + s2^2/n2)``; standardised mean
difference (Hedges' adjusted g) ``g = (m1 - m2)/s * (1 - 3/(4N - 9))`` with the pooled SD
``s``, ``SE = sqrt(N/(n1 n2) + g^2 / (2 (N - 3.94)))``. Generic inverse variance: the entered
estimate and SE (on the log scale for ratio measures).

Mantel–Haenszel pooled estimates (fixed effect; Greenland & Robins 1985 / Robins, Breslow &
Greenland 1986 variances) are computed from the estimable studies' cells, *with* the 0.5
correction for studies that have a zero cell (that is what RevMan 5 stores: the uncorrected
variant misses the stored CD000023 results by up to 1e-2, the corrected one matches to 1e-14;
``tests/test_revman.py``).

Heterogeneity for MH analyses uses the *MH* pooled estimate (not the inverse-variance one):
``Q = sum w_i (y_i - y_MH)^2`` with ``w_i = 1/SE_i^2``, ``I^2 = max(0, (Q - df)/Q)``. The
DerSimonian–Laird between-study variance is ``tau^2 = max(0, (Q - df) / (sum w - sum w^2/sum w))``
with that ``Q``, and the random-effects estimate is the inverse-variance mean with weights
``1/(SE_i^2 + tau^2)`` (the same estimator as :func:`vfsynth.data.pooling.pool` with fixed tau²).
Confidence intervals are Wald intervals ``y ± z_{1-α/2} SE`` on the analysis scale (log for
ratios), back-transformed.

The test for subgroup differences (RevMan 5, random or fixed): the subgroup estimates are
treated as independent estimates with their own SEs and tested for heterogeneity,
``Q_between = sum (y_g - ybar)^2 / SE_g^2`` on ``G - 1`` df, with ``I^2`` as above.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

RATIO_MEASURES = ("RR", "OR")
DICHOTOMOUS_MEASURES = ("RR", "OR", "RD")
CONTINUOUS_MEASURES = ("MD", "SMD")


def _z(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2.0))


@dataclass(frozen=True)
class StudyEffects:
    """Per-study effects as RevMan computes them (arrays of equal length).

    ``y`` and ``se`` are on the analysis scale (natural log for RR/OR); ``effect``, ``ci_low`` and
    ``ci_high`` are on the reporting scale (ratios exponentiated). ``estimable`` is False for
    studies RevMan excludes (RR/OR with no events, or all events, in both arms; missing data);
    their values are ``nan``. ``corrected`` marks studies whose cells had 0.5 added.
    """

    measure: str
    y: np.ndarray
    se: np.ndarray
    effect: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    estimable: np.ndarray
    corrected: np.ndarray


def _report(measure: str, y: np.ndarray, se: np.ndarray, level: float):
    z = _z(level)
    lo, hi = y - z * se, y + z * se
    if measure in RATIO_MEASURES or measure == "GIV-ratio":
        return np.exp(y), np.exp(lo), np.exp(hi)
    return y, lo, hi


def dichotomous_effects(
    e1, n1, e2, n2, measure: str, *, level: float = 0.95, cc: float = 0.5
) -> StudyEffects:
    """Per-study RR / OR / RD from 2×2 counts with RevMan's zero-cell rule (see module doc)."""
    if measure not in DICHOTOMOUS_MEASURES:
        raise ValueError(f"measure must be one of {DICHOTOMOUS_MEASURES}, got {measure!r}")
    a, n1, c, n2 = (np.asarray(v, dtype=float) for v in (e1, n1, e2, n2))
    b, d = n1 - a, n2 - c
    ok = np.isfinite(a) & np.isfinite(c) & np.isfinite(n1) & np.isfinite(n2) & (n1 > 0) & (n2 > 0)
    if measure == "RR":
        # No events in both arms: not estimable. All events in both arms *is* estimable for RR
        # (RR = 1 after the 0.5 correction; RevMan Web's stored results for CD010861 1.7 say so).
        estimable = ok & ~((a == 0) & (c == 0))
    elif measure == "OR":
        # For the odds ratio the two cases are symmetric (no events / no non-events in both arms).
        estimable = ok & ~((a == 0) & (c == 0)) & ~((b == 0) & (d == 0))
    else:
        estimable = ok.copy()
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    corrected = estimable & zero
    add = np.where(corrected, cc, 0.0)
    ac, bc, cc_, dc = a + add, b + add, c + add, d + add
    n1c, n2c = ac + bc, cc_ + dc
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "RR":
            # All events in both arms: RevMan reports RR = 1 (the raw ratio) with the corrected
            # variance (RevMan Web, CD010861 1.7: 6/6 vs 7/7 -> RR 1, CI 0.7615-1.3132); any other
            # zero cell corrects the ratio as well (45/45 vs 38/45 -> 1.181818 = (45.5/46)/(38.5/46)).
            all_both = (b == 0) & (d == 0)
            y = np.where(all_both, 0.0, np.log(ac / n1c) - np.log(cc_ / n2c))
            var = 1 / ac + 1 / cc_ - 1 / n1c - 1 / n2c
        elif measure == "OR":
            y = np.log(ac * dc / (bc * cc_))
            var = 1 / ac + 1 / bc + 1 / cc_ + 1 / dc
        else:
            y = ac / n1c - cc_ / n2c
            var = ac * bc / n1c**3 + cc_ * dc / n2c**3
    y = np.where(estimable, y, np.nan)
    se = np.where(estimable, np.sqrt(var), np.nan)
    eff, lo, hi = _report(measure, y, se, level)
    return StudyEffects(measure, y, se, eff, lo, hi, estimable, corrected)


def continuous_effects(m1, sd1, n1, m2, sd2, n2, measure: str, *, level: float = 0.95) -> StudyEffects:
    """Per-study MD or SMD (Hedges' adjusted g with RevMan 5's approximate J and variance)."""
    if measure not in CONTINUOUS_MEASURES:
        raise ValueError(f"measure must be one of {CONTINUOUS_MEASURES}, got {measure!r}")
    m1, s1, n1, m2, s2, n2 = (np.asarray(v, dtype=float) for v in (m1, sd1, n1, m2, sd2, n2))
    estimable = np.isfinite(m1 + s1 + n1 + m2 + s2 + n2) & (s1 > 0) & (s2 > 0) & (n1 > 0) & (n2 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "MD":
            y = m1 - m2
            var = s1**2 / n1 + s2**2 / n2
        else:
            big_n = n1 + n2
            s = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (big_n - 2))
            y = (m1 - m2) / s * (1 - 3 / (4 * big_n - 9))
            var = big_n / (n1 * n2) + y**2 / (2 * (big_n - 3.94))
    y = np.where(estimable, y, np.nan)
    se = np.where(estimable, np.sqrt(var), np.nan)
    eff, lo, hi = _report(measure, y, se, level)
    return StudyEffects(measure, y, se, eff, lo, hi, estimable, np.zeros_like(estimable))


def generic_effects(estimate, se, *, ratio: bool, level: float = 0.95) -> StudyEffects:
    """Generic inverse variance: ``estimate`` and ``se`` on the analysis scale (log for ratios)."""
    y, s = np.asarray(estimate, dtype=float), np.asarray(se, dtype=float)
    estimable = np.isfinite(y) & np.isfinite(s) & (s > 0)
    y = np.where(estimable, y, np.nan)
    s = np.where(estimable, s, np.nan)
    eff, lo, hi = _report("GIV-ratio" if ratio else "GIV", y, s, level)
    return StudyEffects("GIV-ratio" if ratio else "GIV", y, s, eff, lo, hi, estimable, np.zeros_like(estimable))


@dataclass(frozen=True)
class RevManPooled:
    """One RevMan meta-analysis (an outcome or a subgroup).

    ``y``/``se`` on the analysis scale; ``effect``/``ci_low``/``ci_high`` on the reporting scale.
    ``q``/``df``/``p_q`` are RevMan's heterogeneity chi² (``CHI2``, ``DF``, ``P_CHI2``); ``i2`` is in
    percent like RevMan's ``I2``. ``weights`` are percentage weights of every input study (0 for
    non-estimable ones). ``k`` counts estimable studies.
    """

    measure: str
    method: str
    random: bool
    y: float
    se: float
    effect: float
    ci_low: float
    ci_high: float
    z: float
    p_z: float
    q: float
    df: int
    p_q: float
    i2: float
    tau2: float
    k: int
    weights: np.ndarray = field(repr=False)


def _finish(measure, method, random, y, se, q, df, tau2, k, weights, level) -> RevManPooled:
    ratio = measure in RATIO_MEASURES or measure == "GIV-ratio"
    z = _z(level)
    eff = np.exp(y) if ratio else y
    lo = np.exp(y - z * se) if ratio else y - z * se
    hi = np.exp(y + z * se) if ratio else y + z * se
    zstat = y / se
    p_z = float(2 * stats.norm.sf(abs(zstat)))
    p_q = float(stats.chi2.sf(q, df)) if df > 0 else 1.0  # RevMan stores P_CHI2 = 1 for df = 0
    i2 = float(max(0.0, (q - df) / q) * 100) if q > 0 and df > 0 else 0.0
    return RevManPooled(measure, method, random, float(y), float(se), float(eff), float(lo), float(hi),
                        float(zstat), p_z, float(q), int(df), p_q, i2, float(tau2), int(k), weights)


def _dl_given_q(q: float, df: int, w: np.ndarray) -> float:
    """DerSimonian–Laird moment estimator for a given Q (RevMan passes the MH-based Q)."""
    if df <= 0:
        return 0.0
    c = w.sum() - (w**2).sum() / w.sum()
    return float(max(0.0, (q - df) / c))


def _random_given_tau2(y, v, tau2):
    """Inverse-variance mean with weights 1/(v + tau2), via the shared pooling code."""
    from vfsynth.data.pooling import pool

    res = pool(y, v + tau2, method="FE")
    return float(res.estimate), float(res.se)


def mantel_haenszel(
    e1, n1, e2, n2, measure: str, *, random: bool, level: float = 0.95, cc: float = 0.5
) -> RevManPooled:
    """RevMan 5's Mantel–Haenszel analysis (fixed) or MH-Q DerSimonian–Laird (``random=True``).

    Parameters
    ----------
    e1, n1, e2, n2 : array-like
        Events and totals in the experimental (1) and control (2) arms.
    measure : {"RR", "OR", "RD"}
    random : bool
        RevMan's ``RANDOM="YES"``: DerSimonian–Laird random effects whose Q is computed around
        the MH pooled estimate (Deeks & Higgins 2010, section "Mantel–Haenszel methods").

    Notes
    -----
    Fixed-effect MH estimators and variances (``N = n1 + n2``):

    * RR: ``sum(a n2/N) / sum(c n1/N)``; ``Var ln RR = P / (R S)``, ``P = sum (n1 n2 (a+c) - a c N)/N^2``,
      ``R = sum a n2/N``, ``S = sum c n1/N`` (Greenland & Robins 1985).
    * OR: ``sum(a d/N) / sum(b c/N)``; Robins–Breslow–Greenland variance
      ``(E/R^2 + (F+G)/(R S) + H/S^2) / 2``.
    * RD: ``sum (a n2 - c n1)/N / sum n1 n2/N``; ``Var = J / K^2``, ``J = sum (a b n2^3 + c d n1^3)/(n1 n2 N^2)``
      (Greenland & Robins 1985, the formula documented for RevMan 5; metafor and R meta use the
      Sato, Greenland & Robins (1989) variance instead. The reference files hold no RD analysis,
      so this one choice is not checked against RevMan's own numbers).
    """
    eff = dichotomous_effects(e1, n1, e2, n2, measure, level=level, cc=cc)
    m = eff.estimable
    a, n1a, c, n2a = (np.asarray(v, dtype=float)[m] for v in (e1, n1, e2, n2))
    corr = eff.corrected[m]
    k = int(m.sum())
    n_in = len(eff.y)
    if k == 0:
        nan = float("nan")
        return RevManPooled(measure, "MH", random, nan, nan, nan, nan, nan, nan, nan, 0.0, 0, nan, 0.0, 0.0,
                            0, np.zeros(n_in))
    # RevMan 5 feeds the 0.5-corrected cells of zero-cell studies into the MH sums too.
    a, b, c, d = _mh_cells(a, n1a, c, n2a, corr, cc)
    n1a, n2a = a + b, c + d
    big_n = n1a + n2a
    if measure == "RR":
        r = (a * n2a / big_n).sum()
        s = (c * n1a / big_n).sum()
        p = ((n1a * n2a * (a + c) - a * c * big_n) / big_n**2).sum()
        y_mh = np.log(r / s)
        var_mh = p / (r * s)
        w_mh = c * n1a / big_n
    elif measure == "OR":
        r = (a * d / big_n).sum()
        s = (b * c / big_n).sum()
        e_ = ((a + d) * a * d / big_n**2).sum()
        f_ = ((a + d) * b * c / big_n**2).sum()
        g_ = ((b + c) * a * d / big_n**2).sum()
        h_ = ((b + c) * b * c / big_n**2).sum()
        y_mh = np.log(r / s)
        var_mh = 0.5 * (e_ / r**2 + (f_ + g_) / (r * s) + h_ / s**2)
        w_mh = b * c / big_n
    else:
        kk = (n1a * n2a / big_n).sum()
        y_mh = ((a * n2a - c * n1a) / big_n).sum() / kk
        j = ((a * b * n2a**3 + c * d * n1a**3) / (n1a * n2a * big_n**2)).sum()
        var_mh = j / kk**2
        w_mh = n1a * n2a / big_n
    y_i, v_i = eff.y[m], eff.se[m] ** 2
    w_iv = 1 / v_i
    q = float((w_iv * (y_i - y_mh) ** 2).sum())
    df = k - 1
    weights = np.zeros(n_in)
    if random:
        tau2 = _dl_given_q(q, df, w_iv)
        y, se = _random_given_tau2(y_i, v_i, tau2)
        w = 1 / (v_i + tau2)
    else:
        tau2 = 0.0
        y, se = float(y_mh), float(np.sqrt(var_mh))
        w = w_mh
    weights[m] = 100 * w / w.sum()
    return _finish(measure, "MH", random, y, se, q, df, tau2, k, weights, level)


def _mh_cells(a, n1, c, n2, corrected, cc):
    """Cells entering the MH sums: RevMan 5 uses the 0.5-corrected cells of every study with a
    zero cell in the MH sums as well (reproduces the stored CD000023 results to 1e-14; the raw
    counts do not, e.g. analysis 4.8 where the raw MH numerator is 0)."""
    add = np.where(corrected, cc, 0.0)
    return a + add, n1 - a + add, c + add, n2 - c + add


def inverse_variance(y, se, measure: str, *, random: bool, level: float = 0.95) -> RevManPooled:
    """Inverse-variance fixed effect or DerSimonian–Laird random effects (RevMan ``METHOD="IV"``).

    ``y``/``se`` are per-study effects on the analysis scale (log for ratios; ``nan`` = not
    estimable). Delegates the estimator to :func:`vfsynth.data.pooling.pool` (DL / FE), so the
    numbers equal metafor's ``rma(method="DL")`` / ``rma(method="FE")``.
    """
    from vfsynth.data.pooling import pool

    y, se = np.asarray(y, dtype=float), np.asarray(se, dtype=float)
    m = np.isfinite(y) & np.isfinite(se) & (se > 0)
    k = int(m.sum())
    weights = np.zeros(len(y))
    if k == 0:
        nan = float("nan")
        return RevManPooled(measure, "IV", random, nan, nan, nan, nan, nan, nan, nan, 0.0, 0, nan, 0.0, 0.0,
                            0, weights)
    res = pool(y[m], se[m] ** 2, method="DL" if (random and k > 1) else "FE", level=level)
    tau2 = float(res.tau2) if random and k > 1 else 0.0
    w = 1 / (se[m] ** 2 + tau2)
    weights[m] = 100 * w / w.sum()
    q = float(res.q) if k > 1 else 0.0
    return _finish(measure, "IV", random, float(res.estimate), float(res.se), q, k - 1, tau2, k, weights, level)


def subgroup_differences(pooled: list[RevManPooled]) -> tuple[float, int, float, float]:
    """RevMan 5's test for subgroup differences: ``(Q, df, p, I2 %)`` over estimable subgroups."""
    ys = np.array([p.y for p in pooled if p.k > 0 and np.isfinite(p.se)])
    ses = np.array([p.se for p in pooled if p.k > 0 and np.isfinite(p.se)])
    if len(ys) < 2:
        return 0.0, 0, 1.0, 0.0  # RevMan: Q = 0, P_Q = 1 with fewer than two estimable subgroups
    w = 1 / ses**2
    ybar = (w * ys).sum() / w.sum()
    q = float((w * (ys - ybar) ** 2).sum())
    df = len(ys) - 1
    i2 = max(0.0, (q - df) / q) * 100 if q > 0 else 0.0
    return q, df, float(stats.chi2.sf(q, df)), float(i2)
