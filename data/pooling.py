"""Frequentist reference pooling: inverse-variance common effect and random effects (DL, REML).

This is the yardstick the Bayesian models are compared with, and the method the review itself
used (RevMan: inverse variance, DerSimonian–Laird random effects). It must equal metafor's
``rma`` (and ``predict.rma``) with default settings; ``tests/reference/metafor_rma.json`` pins
that to 1e-6.

Implementation: metafor's own algorithm for the intercept-only model, written with sums so that
time and memory are O(k) (a general-purpose port such as **pimeta**, which matched every pinned
case to < 1e-11, builds k × k weight and projection matrices: 6.4 GB at k = 20,000, and a
7 TiB request at a million rows). With :math:`w_i = 1/(v_i + \\tau^2)` and :math:`S_r = \\sum w_i^r`
the projection :math:`P = W - w w^\\top / S_1` of metafor's Fisher scoring has
:math:`P y = w \\circ (y - \\hat\\mu)`, :math:`\\operatorname{tr} P = S_1 - S_2/S_1` and
:math:`\\operatorname{tr} P^2 = S_2 - 2 S_3/S_1 + S_2^2/S_1^2`, so every step is a few sums.
The REML loop is metafor's exactly (``rma.uni``: Hedges start value, update
:math:`(y^\\top P P y - \\operatorname{tr} P)/\\operatorname{tr} P^2`, step halving at zero,
threshold 1e-5, at most 100 steps, and the ``ll0check`` that prefers tau² = 0 when its
restricted likelihood is larger). A single study is done as metafor does it: tau² = 0, I² = 0,
the estimate and its SE are the study's own, and the prediction interval equals the CI. See
``data/README.md`` for the library comparison (statsmodels' ``combine_effects`` does not
truncate the DL tau² at zero and has no REML; PyMARE's standard errors differ).

Definitions (metafor 3.8-1; Viechtbauer 2010):

* weights :math:`w_i = 1/(v_i + \\hat\\tau^2)`; :math:`\\hat\\mu = \\sum w_i y_i / \\sum w_i`,
  :math:`SE = (\\sum w_i)^{-1/2}`, CI :math:`\\hat\\mu \\pm z_{1-\\alpha/2} SE`;
* Cochran's :math:`Q = \\sum (y_i - \\hat\\mu_{FE})^2 / v_i`;
* DL: :math:`\\hat\\tau^2 = \\max\\{0, (Q - (k-1)) / (\\sum w - \\sum w^2/\\sum w)\\}` (fixed-effect weights);
* REML: Fisher scoring on the restricted likelihood (metafor defaults: start at the Hedges
  estimate, threshold 1e-5, step halving), truncated at zero;
* :math:`I^2 = 100\\,\\hat\\tau^2 / (\\hat\\tau^2 + s^2)` with the typical within-study variance
  :math:`s^2 = (k-1)\\sum w / ((\\sum w)^2 - \\sum w^2)`; for the common-effect model
  :math:`I^2 = 100 \\max\\{0, (Q-(k-1))/Q\\}`;
* prediction interval (``predict.rma`` default, ``test="z"``): :math:`\\hat\\mu \\pm z\\sqrt{SE^2 + \\hat\\tau^2}`;
  for the common-effect model it equals the CI.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

METHODS = ("FE", "DL", "REML")


@dataclass(frozen=True)
class PoolResult:
    """Pooled estimate of one meta-analysis (scale of the inputs)."""

    method: str
    k: int
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    tau2: float
    i2: float  # percent, as metafor
    q: float
    pi_low: float
    pi_high: float
    level: float = 0.95

    def to_dict(self) -> dict:
        return asdict(self)


def pool(yi, vi, method: str = "REML", level: float = 0.95) -> PoolResult:
    """Inverse-variance meta-analysis of estimates ``yi`` with sampling variances ``vi``.

    Parameters
    ----------
    yi, vi : array-like
        Study estimates and their variances (``vi > 0``).
    method : {"FE", "DL", "REML"}
        Common effect (metafor ``method="FE"``/``"EE"``), DerSimonian–Laird or REML random effects.
    level : float
        Confidence level of the CI and prediction interval.
    """
    method = {"CE": "FE", "EE": "FE", "common": "FE"}.get(method, method)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    y = np.asarray(yi, dtype=float).ravel()
    v = np.asarray(vi, dtype=float).ravel()
    if y.shape != v.shape or y.size == 0:
        raise ValueError("yi and vi must be non-empty and of equal length")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v)) and np.all(v > 0)):
        raise ValueError("yi must be finite and vi finite and > 0")
    k = y.size
    z = stats.norm.ppf(0.5 + level / 2)
    if k == 1:
        se = math.sqrt(v[0])
        lo, hi = y[0] - z * se, y[0] + z * se
        return PoolResult(method, 1, float(y[0]), se, lo, hi, 0.0, 0.0, 0.0, lo, hi, level)

    tau2 = 0.0 if method == "FE" else (_tau2_dl(y, v) if method == "DL" else _tau2_reml(y, v))
    w = 1.0 / (v + tau2)
    sw = float(w.sum())
    est = float(np.dot(w, y) / sw)
    se = 1.0 / math.sqrt(sw)
    lo, hi = est - z * se, est + z * se
    q, tr_fe = _q_and_trace(y, v)
    if method == "FE":
        i2 = max(0.0, 100.0 * (q - (k - 1)) / q) if q > 0 else 0.0
    else:
        vt = (k - 1) / tr_fe if tr_fe > 0 else 0.0  # metafor's "typical" within-study variance
        i2 = 100.0 * tau2 / (vt + tau2) if vt > 0 else 0.0
    if method == "FE":
        pi_lo, pi_hi = lo, hi
    else:
        # predict.rma's interval (test = "z")
        half = z * math.sqrt(se**2 + tau2)
        pi_lo, pi_hi = est - half, est + half
    return PoolResult(
        method=method,
        k=k,
        estimate=est,
        se=se,
        ci_low=lo,
        ci_high=hi,
        tau2=tau2,
        i2=float(i2),
        q=float(q),
        pi_low=pi_lo,
        pi_high=pi_hi,
        level=level,
    )


def _q_and_trace(y: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """Cochran's Q and tr(P) with the common-effect weights 1/v."""
    w = 1.0 / v
    sw = float(w.sum())
    mu = float(np.dot(w, y) / sw)
    q = max(0.0, float(np.dot(w, (y - mu) ** 2)))
    return q, sw - float(np.dot(w, w)) / sw


def _tau2_dl(y: np.ndarray, v: np.ndarray) -> float:
    """DerSimonian–Laird: max(0, (Q - (k - 1)) / tr P) with the common-effect weights."""
    q, tr = _q_and_trace(y, v)
    return max(0.0, (q - (y.size - 1)) / tr)


def _reml_ll_diff(y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    """Restricted log-likelihood at ``tau2`` up to a constant that does not depend on tau²."""
    w = 1.0 / (v + tau2)
    sw = float(w.sum())
    mu = float(np.dot(w, y) / sw)
    return -0.5 * (float(np.log(v + tau2).sum()) + math.log(sw) + float(np.dot(w, (y - mu) ** 2)))


def _tau2_reml(y: np.ndarray, v: np.ndarray, threshold: float = 1e-5, maxiter: int = 100) -> float:
    """metafor's REML Fisher scoring for the intercept-only model, in O(k) (see the module notes)."""
    k = y.size
    ymc = y - y.mean()  # metafor centres y before the loop
    tau2 = max(0.0, (float(np.dot(ymc, ymc)) - float(v.sum()) * (1.0 - 1.0 / k)) / (k - 1))  # Hedges start
    for _ in range(maxiter):
        w = 1.0 / (v + tau2)
        s1, s2, s3 = float(w.sum()), float(np.dot(w, w)), float(np.dot(w * w, w))
        py = w * (ymc - float(np.dot(w, ymc)) / s1)
        tr_p = s1 - s2 / s1
        tr_pp = s2 - 2.0 * s3 / s1 + (s2 / s1) ** 2
        adj = (float(np.dot(py, py)) - tr_p) / tr_pp
        while tau2 + adj < 0.0:  # step halving at the boundary
            adj /= 2.0
        change = abs(adj)
        tau2 += adj
        if change < threshold:
            break
    # metafor's ll0check: a larger restricted likelihood at tau² = 0 wins
    if tau2 > threshold and _reml_ll_diff(y, v, 0.0) - _reml_ll_diff(y, v, tau2) > np.finfo(float).eps ** 0.25:
        tau2 = 0.0
    return float(tau2)


def pool_table(table, method: str = "REML", level: float = 0.95) -> PoolResult:
    """:func:`pool` applied to an :class:`~vfsynth.data.effect_table.EffectTable`."""
    return pool(table.estimate, table.variance, method=method, level=level)


def pool_all(table, level: float = 0.95) -> dict[str, PoolResult]:
    """Common-effect, DL and REML results for one table, keyed ``"common"``, ``"dl"``, ``"reml"``."""
    return {
        "common": pool_table(table, "FE", level),
        "dl": pool_table(table, "DL", level),
        "reml": pool_table(table, "REML", level),
    }
