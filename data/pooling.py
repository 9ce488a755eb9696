"""Frequentist reference pooling: inverse-variance common effect and random effects (DL, REML).

This is the yardstick the Bayesian models are compared with, and the method the review itself
used (RevMan: inverse variance, DerSimonian–Laird random effects). It must equal metafor's
``rma`` (and ``predict.rma``) with default settings; ``tests/reference/metafor_rma.json`` pins
that to 1e-6.

Implementation: the fit is delegated to **pimeta** (``pimeta.rma``), a
pure-Python port of metafor whose results matched every pinned metafor case to < 1e-11 (FE, DL,
REML with metafor's default Fisher-scoring convergence; see ``data/README.md`` for the library
comparison: statsmodels' ``combine_effects`` does not truncate the DL tau² at zero and has no
REML; PyMARE's DL/REML tau² match but its standard errors do not). The one case pimeta does
not handle, a single study, is done here as metafor does it: tau² = 0, I² = 0, the estimate and
its SE are the study's own, and the prediction interval equals the CI. The prediction interval
is written out below (``pimeta.predict`` uses 95% whatever the fit's level).

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
import warnings
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

    import pimeta  # metafor port; imported lazily (it pulls in matplotlib)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = pimeta.rma(yi=y, vi=v, method=method, level=level)
    est = float(np.ravel(fit.b)[0])
    se = float(np.ravel(fit.se)[0])
    lo, hi = float(np.ravel(fit.ci_lb)[0]), float(np.ravel(fit.ci_ub)[0])
    tau2 = float(fit.tau2)
    if method == "FE":
        pi_lo, pi_hi = lo, hi
    else:
        # predict.rma's interval, written out because pimeta.predict ignores the fit's level.
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
        i2=float(fit.I2),
        q=float(fit.QE),
        pi_low=pi_lo,
        pi_high=pi_hi,
        level=level,
    )


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
