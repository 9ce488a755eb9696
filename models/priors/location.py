r"""Prior families on the pooled effect ``mu``, one class per family.

``normal`` (``loc``, ``scale``), ``student-t`` (``df``, ``loc``, ``scale``), the improper
``flat`` prior (density 1; no CDF, quantiles or draws) and

``normal-mixture`` (lists ``weights`` ``w_j``, ``locs`` ``m_j``, ``scales`` ``s_j``)
    :math:`p(\mu) = \sum_j w_j N(\mu; m_j, s_j^2)`, weights >= 0 summing to 1: the robust
    mixture priors of Schmidli, Gsteiger, Roychoudhury, O'Hagan, Spiegelhalter &
    Neuenschwander (2014), *Robust meta-analytic-predictive priors in clinical trials with
    historical control information*, *Biometrics* 70(4):1023–1032 (R package RBesT). Quantiles
    are found by root-finding on the mixture CDF, which is bracketed exactly by the
    components' own quantiles.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import optimize, special, stats

from vfsynth.models.priors.base import _LOG2PI, Prior, PriorSpecError, _fmt, _log_t

__all__ = ["WEIGHT_SUM_TOL", "Flat", "Normal", "NormalMixture", "StudentT"]

#: Tolerance on ``sum(weights) == 1`` for mixtures (as in the vfsynth-priors/1 file format).
WEIGHT_SUM_TOL = 1e-6


class Normal(Prior, family="normal", target="mu"):
    """Normal prior :math:`\\mu \\sim N(loc, scale^2)`."""

    param_names = ("loc", "scale")

    def _make_frozen(self):
        return stats.norm(loc=self.params["loc"], scale=self.params["scale"])

    def _logpdf(self, x):
        z = (x - self.params["loc"]) / self.params["scale"]
        return -0.5 * z**2 - 0.5 * _LOG2PI - math.log(self.params["scale"])

    def _to_pymc(self, pm, name):
        return pm.Normal(name, mu=self.params["loc"], sigma=self.params["scale"])


class StudentT(Prior, family="student-t", target="mu"):
    """Student-t prior :math:`\\mu \\sim t_{df}(loc, scale)`; the mean needs ``df > 1`` and
    the variance ``df > 2``."""

    param_names = ("df", "loc", "scale")

    def _make_frozen(self):
        p = self.params
        return stats.t(p["df"], loc=p["loc"], scale=p["scale"])

    def _logpdf(self, x):
        p = self.params
        return _log_t((x - p["loc"]) / p["scale"], p["df"]) - math.log(p["scale"])

    def _mean(self):
        return math.nan if self.params["df"] <= 1 else super()._mean()

    def _sd(self):
        df = self.params["df"]
        return math.nan if df <= 1 else (math.inf if df <= 2 else super()._sd())

    def _to_pymc(self, pm, name):
        p = self.params
        return pm.StudentT(name, nu=p["df"], mu=p["loc"], sigma=p["scale"])


class Flat(Prior, family="flat", target="mu"):
    """Improper uniform prior on mu (density 1): the posterior is proper whenever k >= 1 and
    tau's prior is proper. It has no CDF, quantiles, moments or draws."""

    param_names = ()

    @property
    def is_proper(self) -> bool:
        return False

    def _default_spec(self) -> str:
        return "flat"

    def _logpdf(self, x):
        return np.zeros_like(x)

    def _to_pymc(self, pm, name):
        return pm.Flat(name)


class NormalMixture(Prior, family="normal-mixture", target="mu"):
    """Normal mixture :math:`\\mu \\sim \\sum_j w_j N(m_j, s_j^2)` (Schmidli et al. 2014).

    Parameters are lists, kept exactly as given so that ``to_dict`` / ``from_dict`` and the
    spec round-trip; the distribution functions use the components with positive weight,
    renormalised (:meth:`_mix`).
    """

    param_names = ("weights", "locs", "scales")

    def _validated(self, raw: dict[str, Any]) -> dict[str, Any]:
        family = self.family
        out: dict[str, list[float]] = {}
        for k in self.param_names:
            v = raw[k]
            if isinstance(v, str | bytes) or not hasattr(v, "__len__"):
                raise PriorSpecError(f"{family} prior parameter {k} must be a list of numbers, got {v!r}")
            try:
                out[k] = [float(x) for x in v]
            except (TypeError, ValueError):
                raise PriorSpecError(f"{family} prior parameter {k} must be a list of numbers, got {v!r}") from None
        n = {len(v) for v in out.values()}
        if len(n) != 1 or 0 in n:
            raise PriorSpecError(f"{family} prior needs weights, locs and scales of one (non-zero) length, got "
                                 f"{ {k: len(v) for k, v in out.items()} }")
        for k, v in out.items():
            if not all(math.isfinite(x) for x in v):
                raise PriorSpecError(f"{family} prior parameter {k} must be finite, got {v}")
        if any(x <= 0 for x in out["scales"]):
            raise PriorSpecError(f"{family} prior scales must be > 0, got {out['scales']}")
        w = out["weights"]
        if any(x < 0 for x in w) or abs(math.fsum(w) - 1.0) > WEIGHT_SUM_TOL:
            raise PriorSpecError(f"{family} prior weights must be >= 0 and sum to 1 (within {WEIGHT_SUM_TOL:g}), got {w}")
        return out

    def _default_spec(self) -> str:
        comps = zip(self.params["weights"], self.params["locs"], self.params["scales"], strict=True)
        return f"{self.family}:" + ";".join(",".join(_fmt(v) for v in c) for c in comps)

    def _mix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Components with positive weight: (weights / sum, locs, scales), cached.

        Renormalising makes every density integrate to exactly 1 even when the stored weights
        sum to 1 only within :data:`WEIGHT_SUM_TOL` (e.g. after a JSON round trip of EM output).
        """
        cached = self.__dict__.get("_mixture")
        if cached is None:
            p = self.params
            w = np.asarray(p["weights"], dtype=float)
            keep = w > 0
            cached = (w[keep] / w[keep].sum(), np.asarray(p["locs"], dtype=float)[keep],
                      np.asarray(p["scales"], dtype=float)[keep])
            object.__setattr__(self, "_mixture", cached)  # not a field: ignored by eq / to_dict
        return cached

    def components(self) -> list[tuple[float, Prior]]:
        from vfsynth.models.priors.factories import normal_mu  # factories import this module

        p = self.params
        return [(w, normal_mu(m, s)) for w, m, s in zip(p["weights"], p["locs"], p["scales"], strict=True)]

    def _quantile(self, lower: float, upper: float) -> float:
        """The x with ``cdf(x) = lower`` (equivalently ``sf(x) = upper = 1 - lower``).

        Root-finding (Brent) on the log CDF when ``lower <= 1/2`` and on the log survival
        function otherwise, so tail quantiles keep full relative precision. The root is
        bracketed exactly: at ``min_j (m_j + s_j z)`` every component's CDF is ``<= lower``
        and at ``max_j (m_j + s_j z)`` every one is ``>= lower`` (``z`` the standard normal
        quantile), hence so is their weighted average.
        """
        if not (0.0 <= lower <= 1.0) or math.isnan(lower):
            return math.nan
        if lower == 0.0:
            return -math.inf
        if upper == 0.0:
            return math.inf
        w, m, s = self._mix()
        use_lower = lower <= 0.5
        z = float(special.ndtri(lower)) if use_lower else -float(special.ndtri(upper))
        lo, hi = float(np.min(m + s * z)), float(np.max(m + s * z))
        if use_lower:
            target = math.log(lower)

            def f(x: float) -> float:
                return float(special.logsumexp(special.log_ndtr((x - m) / s), b=w)) - target
        else:
            target = math.log(upper)

            def f(x: float) -> float:
                return target - float(special.logsumexp(special.log_ndtr((m - x) / s), b=w))
        if lo == hi:
            return lo
        flo, fhi = f(lo), f(hi)
        if flo >= 0.0:
            return lo
        if fhi <= 0.0:
            return hi
        return float(optimize.brentq(f, lo, hi, xtol=1e-14 * float(np.min(s)), maxiter=200))

    def _logpdf(self, x):
        w, m, s = self._mix()
        z = (x[..., None] - m) / s
        return special.logsumexp(-0.5 * z**2 - np.log(s), b=w, axis=-1) - 0.5 * _LOG2PI

    def _cdf(self, x):
        w, m, s = self._mix()
        return special.ndtr((x[..., None] - m) / s) @ w

    def _sf(self, x):
        w, m, s = self._mix()
        return special.ndtr((m - x[..., None]) / s) @ w

    def _ppf(self, q):
        out = [self._quantile(float(v), 1.0 - float(v)) for v in q.ravel()]
        return np.asarray(out, dtype=float).reshape(q.shape)

    def _isf(self, q):
        out = [self._quantile(1.0 - float(v), float(v)) for v in q.ravel()]
        return np.asarray(out, dtype=float).reshape(q.shape)

    def _mean(self):
        w, m, _ = self._mix()
        return float(w @ m)

    def _sd(self):
        """:math:`\\sqrt{\\sum_j w_j (s_j^2 + m_j^2) - \\bar m^2}`."""
        w, m, s = self._mix()
        mean = float(w @ m)
        return float(math.sqrt(max(float(w @ (s**2 + m**2)) - mean**2, 0.0)))

    def _rvs(self, size, rng):
        # component label, then a normal draw from that component
        w, m, s = self._mix()
        j = rng.choice(len(w), size=size, p=w)
        return rng.normal(m[j], s[j])

    def _to_pymc(self, pm, name):
        # pm.NormalMixture sums the density over components: no discrete label is sampled
        w, m, s = self._mix()
        if len(w) == 1:
            return pm.Normal(name, mu=float(m[0]), sigma=float(s[0]))
        return pm.NormalMixture(name, w=w, mu=m, sigma=s)
