"""Trial-level surrogacy from the joint mediation model (proximal outcome -> distal outcome).

The joint model already holds the trial-level surrogacy model of Daniels & Hughes (1997,
*Stat Med* 16:1965) and Buyse et al. (2000, *Biostatistics* 1:49) in its Bayesian form
(Bujkiewicz et al. 2019, *Stat Med* 38:5017): each trial's true effects on the proximal (S,
the headline mediator) and distal (A, the final outcome) endpoints are bivariate normal,
:math:`(\\theta_S, \\theta_A) \\sim N_2((\\mu_S, \\mu_A), \\Sigma)`, with
:math:`\\Sigma_{SS} = \\tau_S^2`, :math:`\\Sigma_{AA} = \\tau_A^2`,
:math:`\\Sigma_{SA} = \\rho\\,\\tau_S\\tau_A`.

Quantities (per posterior draw, then summarised by quantiles):

* :math:`R^2_{trial} = \\rho^2` — the squared correlation of the true effects (Buyse 2000).
* A new trial whose proximal effect is :math:`x` (its true effect, or an estimate with standard
  error :math:`s`, then :math:`\\theta_S` is replaced by the estimate :math:`x \\sim N(\\theta_S, s^2)`)
  has distal effect, by the bivariate normal conditional,

  .. math::

      \\theta_A \\mid x \\sim N\\Big(\\mu_A + \\frac{\\Sigma_{SA}}{\\Sigma_{SS} + s^2}(x - \\mu_S),\\;
      \\Sigma_{AA} - \\frac{\\Sigma_{SA}^2}{\\Sigma_{SS} + s^2}\\Big),

  and its posterior predictive distribution is the mixture of these normals over the posterior
  draws; its quantiles are found by solving the mixture CDF (no extra sampling).
* The surrogate threshold effect (Burzykowski & Buyse 2006, *Pharm Stat* 5:173): the smallest
  proximal effect :math:`x > 0` whose predicted distal effect has a central ``level`` prediction
  interval excluding zero, i.e. the lower limit :math:`l(x) = 0`. With fixed parameters and
  :math:`b = \\Sigma_{SA}/\\Sigma_{SS} > 0` this is
  :math:`x^* = \\mu_S + (z\\,\\tau_{A|S} - \\mu_A)/b` (``ste_fixed``); the Bayesian version solves
  :math:`l(x) = 0` on the predictive mixture, which carries the parameter uncertainty.

Effects are benefit-oriented (positive = better on both endpoints), so only thresholds above 0
are searched. Everything here takes arrays of draws; :func:`surrogacy_summary` reads them from a
joint fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize, stats


@dataclass(frozen=True)
class BivariateDraws:
    """Posterior draws (flattened) of the proximal/distal means, SDs and correlation."""

    mu_s: np.ndarray
    mu_a: np.ndarray
    tau_s: np.ndarray
    tau_a: np.ndarray
    rho: np.ndarray

    def __post_init__(self):
        for name in ("mu_s", "mu_a", "tau_s", "tau_a", "rho"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=float).ravel())


def conditional_moments(d: BivariateDraws, x: float, se_x: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Per draw, mean and SD of the new trial's distal true effect given proximal ``x`` (± ``se_x``)."""
    s_ss = d.tau_s**2 + se_x**2
    s_sa = d.rho * d.tau_s * d.tau_a
    mean = d.mu_a + s_sa / s_ss * (x - d.mu_s)
    var = np.maximum(d.tau_a**2 - s_sa**2 / s_ss, 0.0)
    return mean, np.sqrt(var)


def _mixture_cdf(t: float, mean: np.ndarray, sd: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sd > 0, (t - mean) / np.where(sd > 0, sd, 1.0), np.where(t >= mean, np.inf, -np.inf))
    return float(np.mean(stats.norm.cdf(z)))


def mixture_quantile(q: float, mean: np.ndarray, sd: np.ndarray) -> float:
    """Quantile ``q`` of the equal-weight normal mixture (Brent's root of the mixture CDF)."""
    lo = float(np.min(mean - 12 * sd)) - 1e-9
    hi = float(np.max(mean + 12 * sd)) + 1e-9
    return float(optimize.brentq(lambda t: _mixture_cdf(t, mean, sd) - q, lo, hi, xtol=1e-10))


def predict_distal(d: BivariateDraws, x: float, se_x: float = 0.0, level: float = 0.95) -> dict[str, float]:
    """Posterior predictive of a new trial's distal effect given its proximal effect ``x``."""
    mean, sd = conditional_moments(d, x, se_x)
    a = (1 - level) / 2
    return {
        "proximal": float(x),
        "proximal_se": float(se_x),
        "median": mixture_quantile(0.5, mean, sd),
        "low": mixture_quantile(a, mean, sd),
        "high": mixture_quantile(1 - a, mean, sd),
        "p_benefit": 1.0 - _mixture_cdf(0.0, mean, sd),
        "level": level,
    }


def ste_fixed(mu_s: float, mu_a: float, tau_s: float, tau_a: float, rho: float, level: float = 0.95) -> float | None:
    """Closed-form surrogate threshold effect for fixed parameters (None when b <= 0)."""
    b = rho * tau_a / tau_s
    if b <= 0:
        return None
    z = stats.norm.ppf(1 - (1 - level) / 2)
    resid = tau_a * np.sqrt(max(1 - rho**2, 0.0))
    return float(mu_s + (z * resid - mu_a) / b)


def surrogate_threshold_effect(d: BivariateDraws, level: float = 0.95, se_x: float = 0.0,
                               x_max: float | None = None, grid: int = 60) -> float | None:
    """Smallest ``x > 0`` with the predictive ``level`` interval's lower limit above 0 (None if none up to ``x_max``).

    The lower limit is not monotone in general (draws with b < 0 pull it down for large x), so a
    grid from 0 to ``x_max`` (default: 10 x the largest of |mu_S| and tau_S posterior medians)
    finds the first crossing, then Brent's method refines it.
    """
    a = (1 - level) / 2

    def lower(x: float) -> float:
        mean, sd = conditional_moments(d, x, se_x)
        return mixture_quantile(a, mean, sd)

    if x_max is None:
        x_max = 10.0 * max(abs(float(np.median(d.mu_s))), float(np.median(d.tau_s)), 1e-6)
    xs = np.linspace(0.0, x_max, grid)
    prev = lower(xs[0])
    if prev > 0:
        return 0.0
    for x0, x1 in zip(xs[:-1], xs[1:], strict=True):
        cur = lower(x1)
        if cur > 0:
            return float(optimize.brentq(lower, x0, x1, xtol=1e-8))
        prev = cur
    return None


def ste_per_draw(d: BivariateDraws, level: float = 0.95) -> np.ndarray:
    """Per-draw closed-form STE (NaN where that draw's b <= 0)."""
    b = d.rho * d.tau_a / d.tau_s
    z = stats.norm.ppf(1 - (1 - level) / 2)
    resid = d.tau_a * np.sqrt(np.maximum(1 - d.rho**2, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = d.mu_s + (z * resid - d.mu_a) / b
    return np.where(b > 0, out, np.nan)


def _q(x: np.ndarray) -> dict[str, float]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"median": None, "q2.5": None, "q97.5": None}
    q = np.quantile(x, [0.025, 0.5, 0.975])
    return {"median": float(q[1]), "q2.5": float(q[0]), "q97.5": float(q[2])}


def draws_from_fit(res: Any) -> BivariateDraws:
    """Headline mediator (proximal) and final outcome (distal) draws of a joint fit."""
    post = res.dt["posterior"]
    mu = np.asarray(post["mu"].values, dtype=float)
    tau = np.asarray(post["tau"].values, dtype=float)
    k = mu.shape[-1] - 1
    return BivariateDraws(mu[..., 0], mu[..., k], tau[..., 0], tau[..., k],
                          np.asarray(post["rho_m1_final"].values, dtype=float))


def surrogacy_summary(res: Any, proximal: Sequence[float] | None = None, level: float = 0.95,
                      max_draws: int = 1000) -> dict[str, Any]:
    """``summary["surrogacy"]`` of a joint fit: R²_trial, STE and predictions for new trials.

    ``proximal``: proximal effects of hypothetical new trials (default: the posterior median of
    ``a`` and half and twice it). At most ``max_draws`` evenly thinned draws enter the mixture
    (evenly thinned posterior draws are still posterior draws; the mixture quantiles are then
    exact for that sample, whose Monte-Carlo error dominates).
    """
    d = draws_from_fit(res)
    n = d.rho.size
    if n > max_draws:
        idx = np.linspace(0, n - 1, max_draws).round().astype(int)
        d = BivariateDraws(d.mu_s[idx], d.mu_a[idx], d.tau_s[idx], d.tau_a[idx], d.rho[idx])
    a_med = float(np.median(d.mu_s))
    xs = list(proximal) if proximal is not None else [0.5 * a_med, a_med, 2.0 * a_med]
    per = ste_per_draw(d, level)
    jd = res.data
    return {
        "proximal": jd.constructs[0],
        "distal": jd.final,
        "r2_trial": _q(d.rho**2),
        "surrogate_threshold_effect": surrogate_threshold_effect(d, level),
        "ste_per_draw": _q(per) | {"share_of_draws_with_b_positive": float(np.mean(np.isfinite(per)))},
        "predictions": [predict_distal(d, x, 0.0, level) for x in xs],
        "level": level,
        "method": ("bivariate-normal conditional of the true effects, mixed over posterior draws "
                   "(Daniels & Hughes 1997; Buyse et al. 2000; Burzykowski & Buyse 2006; Bujkiewicz et al. 2019)"),
        "note": ("R²_trial and the STE describe between-trial association of true effects; they inherit the "
                 "identification label of the proximal–distal correlation"),
    }
