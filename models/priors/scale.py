r"""Prior families on the heterogeneity SD ``tau > 0``, one class per family.

``half-normal`` (scale ``s``)
    :math:`p(\tau) = \frac{2}{s\sqrt{2\pi}} e^{-\tau^2 / 2s^2}`.
``half-cauchy`` (scale ``s``)
    :math:`p(\tau) = \frac{2}{\pi s (1 + \tau^2/s^2)}`.
``lognormal`` (``m``, ``s``)
    :math:`\log\tau \sim N(m, s^2)`. Turner et al. (2015) priors, stated for ``tau^2 ~
    LogNormal(m, s^2)``, become ``tau ~ LogNormal(m/2, (s/2)^2)``.
``log-t`` (``df``, ``m``, ``s``)
    :math:`\log\tau \sim t_{df}(m, s)`; density on the tau scale
    :math:`p(\tau) = t_{df}((\log\tau - m)/s) / (s\,\tau)` (Jacobian ``1/tau``).
    Rhodes et al. (2015) priors, stated as ``log(tau^2) ~ t_5(m, s)``, become
    ``log(tau) ~ t_5(m/2, s/2)``.
``inverse-gamma`` (shape ``a``, scale ``b``)
    :math:`p(\tau) = \frac{b^a}{\Gamma(a)} \tau^{-a-1} e^{-b/\tau}` (on tau itself,
    as in Bartoš et al.'s empirical priors).
``uniform`` (``low``, ``high``)
    :math:`\tau \sim U(low, high)`.
``gamma`` (``shape`` ``a``, ``rate`` ``r``)
    :math:`p(\tau) = \frac{r^a}{\Gamma(a)} \tau^{a-1} e^{-r\tau}` (mean ``a/r``; positive
    density at 0 when ``a = 1``, zero when ``a > 1``). Exported tau posteriors with mass near
    0 are matched far better by a gamma than by a log-normal (:mod:`vfsynth.fits.prior_export`).

Log densities are written out with :mod:`scipy.special` rather than taken from the frozen
SciPy distributions because the exact quadrature evaluates them many times per fit; CDFs,
quantiles, moments and draws come from the frozen distributions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special, stats

from vfsynth.models.priors.base import _LOG2PI, Prior, PriorSpecError, _log_t

__all__ = ["Gamma", "HalfCauchy", "HalfNormal", "InverseGamma", "LogNormal", "LogT", "Uniform"]


def _quiet():
    # log(0) and x / 0 outside the support are masked afterwards; their warnings are noise
    return np.errstate(divide="ignore", invalid="ignore", over="ignore")


def _positive_part(x: np.ndarray) -> np.ndarray:
    """``x`` where ``x > 0``, else 1 (so logs stay finite before the support mask)."""
    return np.where(x > 0, x, 1.0)


class HalfNormal(Prior, family="half-normal", target="tau"):
    """Half-normal prior :math:`\\tau \\sim HN(s)`; support includes tau = 0."""

    param_names = ("scale",)

    def _make_frozen(self):
        return stats.halfnorm(scale=self.params["scale"])

    def _logpdf(self, x):
        s = self.params["scale"]
        with _quiet():
            out = math.log(2.0) - 0.5 * _LOG2PI - math.log(s) - 0.5 * (x / s) ** 2
        return np.where(x >= 0, out, -np.inf)

    def _to_pymc(self, pm, name):
        return pm.HalfNormal(name, sigma=self.params["scale"])


class HalfCauchy(Prior, family="half-cauchy", target="tau"):
    """Half-Cauchy prior :math:`\\tau \\sim HC(s)` (Gelman 2006); no mean or variance."""

    param_names = ("scale",)

    def _make_frozen(self):
        return stats.halfcauchy(scale=self.params["scale"])

    def _logpdf(self, x):
        s = self.params["scale"]
        with _quiet():
            out = math.log(2.0 / math.pi) - math.log(s) - np.log1p((x / s) ** 2)
        return np.where(x >= 0, out, -np.inf)

    def _mean(self):
        return math.inf

    def _sd(self):
        return math.inf

    def _to_pymc(self, pm, name):
        return pm.HalfCauchy(name, beta=self.params["scale"])


class LogNormal(Prior, family="lognormal", target="tau"):
    """Log-normal prior :math:`\\log\\tau \\sim N(m, s^2)` (Turner et al. 2015 rows)."""

    param_names = ("m", "s")

    def _make_frozen(self):
        return stats.lognorm(s=self.params["s"], scale=math.exp(self.params["m"]))

    def _logpdf(self, x):
        m, s = self.params["m"], self.params["s"]
        with _quiet():
            lx = np.log(_positive_part(x))
            out = -lx - math.log(s) - 0.5 * _LOG2PI - 0.5 * ((lx - m) / s) ** 2
        return np.where(x > 0, out, -np.inf)

    def _to_pymc(self, pm, name):
        return pm.LogNormal(name, mu=self.params["m"], sigma=self.params["s"])


class LogT(Prior, family="log-t", target="tau"):
    """Log-t prior :math:`\\log\\tau \\sim t_{df}(m, s)` (Rhodes et al. 2015 rows).

    SciPy has no log-t distribution, so every function maps to the Student-t of log tau;
    the mean and variance do not exist (infinite).
    """

    param_names = ("df", "m", "s")

    def _logpdf(self, x):
        p = self.params
        with _quiet():
            lx = np.log(_positive_part(x))
            out = _log_t((lx - p["m"]) / p["s"], p["df"]) - math.log(p["s"]) - lx
        return np.where(x > 0, out, -np.inf)

    def _on_log_scale(self, fn, x, outside: float):
        p = self.params
        with np.errstate(divide="ignore", invalid="ignore"):
            lx = np.log(np.where(x > 0, x, np.nan))
            out = fn((lx - p["m"]) / p["s"], p["df"])
        return np.where(x > 0, out, outside)

    def _cdf(self, x):
        return self._on_log_scale(stats.t.cdf, x, 0.0)

    def _sf(self, x):
        return self._on_log_scale(stats.t.sf, x, 1.0)

    def _ppf(self, q):
        p = self.params
        return np.exp(p["m"] + p["s"] * stats.t.ppf(q, p["df"]))

    def _isf(self, q):
        p = self.params
        return np.exp(p["m"] + p["s"] * stats.t.isf(q, p["df"]))

    def _mean(self):
        return math.inf

    def _sd(self):
        return math.inf

    def _rvs(self, size, rng):
        p = self.params
        return np.exp(p["m"] + p["s"] * rng.standard_t(p["df"], size=size))

    def _to_pymc(self, pm, name):
        p = self.params
        latent = pm.StudentT(f"{name}_log", nu=p["df"], mu=p["m"], sigma=p["s"])
        return pm.Deterministic(name, pm.math.exp(latent))


class InverseGamma(Prior, family="inverse-gamma", target="tau"):
    """Inverse-gamma prior :math:`\\tau \\sim IG(a, b)` on tau itself (Bartoš et al.);
    the mean exists for ``a > 1``, the variance for ``a > 2``."""

    param_names = ("shape", "scale")

    def _make_frozen(self):
        return stats.invgamma(self.params["shape"], scale=self.params["scale"])

    def _logpdf(self, x):
        a, b = self.params["shape"], self.params["scale"]
        with _quiet():
            xs = _positive_part(x)
            out = a * math.log(b) - special.gammaln(a) - (a + 1.0) * np.log(xs) - b / xs
        return np.where(x > 0, out, -np.inf)

    def _mean(self):
        return math.inf if self.params["shape"] <= 1 else super()._mean()

    def _sd(self):
        return math.inf if self.params["shape"] <= 2 else super()._sd()

    def _to_pymc(self, pm, name):
        return pm.InverseGamma(name, alpha=self.params["shape"], beta=self.params["scale"])


class Uniform(Prior, family="uniform", target="tau"):
    """Uniform prior :math:`\\tau \\sim U(low, high)`, ``0 <= low < high``."""

    param_names = ("low", "high")

    def _validated(self, raw: dict[str, Any]) -> dict[str, Any]:
        params = super()._validated(raw)
        if not (0 <= params["low"] < params["high"]):
            raise PriorSpecError(f"uniform tau prior needs 0 <= low < high, got {params}")
        return params

    def _make_frozen(self):
        lo, hi = self.params["low"], self.params["high"]
        return stats.uniform(loc=lo, scale=hi - lo)

    def _logpdf(self, x):
        lo, hi = self.params["low"], self.params["high"]
        return np.where((x >= lo) & (x <= hi), np.full(x.shape, -math.log(hi - lo)), -np.inf)

    def _to_pymc(self, pm, name):
        return pm.Uniform(name, lower=self.params["low"], upper=self.params["high"])


class Gamma(Prior, family="gamma", target="tau"):
    """Gamma prior (shape ``a``, rate ``r``): SciPy ``gamma(a, scale=1/r)``, PyMC
    ``Gamma(alpha=a, beta=r)``."""

    param_names = ("shape", "rate")

    def _make_frozen(self):
        return stats.gamma(self.params["shape"], scale=1.0 / self.params["rate"])

    def _logpdf(self, x):
        a, r = self.params["shape"], self.params["rate"]
        pos = x >= 0  # density at 0: r (a = 1), 0 (a > 1), +inf (a < 1); xlogy gets all three
        with _quiet():
            x0 = np.where(pos, x, 0.0)
            out = a * math.log(r) - special.gammaln(a) + special.xlogy(a - 1.0, x0) - r * x0
        return np.where(pos, out, -np.inf)

    def _to_pymc(self, pm, name):
        return pm.Gamma(name, alpha=self.params["shape"], beta=self.params["rate"])
