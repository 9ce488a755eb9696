"""Exact posterior of the normal–normal hierarchical model (NNHM) by numerical integration.

The model (Röver 2020, *J Stat Softw* 93(6), the method of R ``bayesmeta``):

.. math::

    y_i \\mid \\theta_i \\sim N(\\theta_i, s_i^2), \\qquad
    \\theta_i \\mid \\mu, \\tau \\sim N(\\mu, \\tau^2), \\qquad
    \\mu \\sim N(m_0, v_0) \\text{ (or flat)}, \\qquad \\tau \\sim p(\\tau).

Given :math:`\\tau`, everything is Gaussian. With :math:`w_i = 1/(s_i^2+\\tau^2)`,
:math:`P = \\sum_i w_i + 1/v_0` and :math:`M = (\\sum_i w_i y_i + m_0/v_0)/P`:

* :math:`\\mu \\mid \\tau, y \\sim N(M, 1/P)`;
* the marginal likelihood of :math:`\\tau` with :math:`\\mu` integrated out is

  .. math::

      p(y\\mid\\tau) = (2\\pi)^{-k/2} \\Big(\\prod_i w_i\\Big)^{1/2} v_0^{-1/2} P^{-1/2}
      \\exp\\Big\\{-\\tfrac12\\Big[\\sum_i w_i (y_i - M)^2 + (M - m_0)^2/v_0\\Big]\\Big\\}

  (flat prior: drop :math:`1/v_0` terms and the factor :math:`v_0^{-1/2}` becomes
  :math:`(2\\pi)^{1/2}`, i.e. the flat density is taken to be 1);
* study effects: with shrinkage :math:`b_i = s_i^2/(s_i^2+\\tau^2)`,
  :math:`\\theta_i \\mid \\tau, y` is normal with mean :math:`(1-b_i)y_i + b_i M` and
  variance :math:`(1-b_i)s_i^2 + b_i^2/P`;
* a new study: :math:`\\theta_{new} \\mid \\tau, y \\sim N(M, 1/P + \\tau^2)`.

The marginal posterior :math:`p(\\tau\\mid y) \\propto p(\\tau)p(y\\mid\\tau)` is integrated
on a uniform grid in :math:`u = \\log\\tau` by the trapezoidal rule, which converges
geometrically for smooth integrands that decay at both ends (Trefethen & Weideman 2014,
*SIAM Rev* 56:385). The grid window is found adaptively (a coarse scan plus prior quantile
points, then two refinements to the region within :math:`e^{-40}` of the mode), so narrow
priors and concentrated likelihoods are both resolved. Every other posterior quantity is
a finite normal mixture over the grid nodes; quantiles are found by safeguarded Newton
iteration on the mixture CDF.

Student-t priors on :math:`\\mu` are handled exactly through their normal scale-mixture
representation, :math:`\\mu \\mid \\lambda \\sim N(m_0, s^2/\\lambda)`,
:math:`\\lambda \\sim \\mathrm{Gamma}(\\nu/2, \\mathrm{rate}\\ \\nu/2)`: a second trapezoidal
grid in :math:`\\log\\lambda`, with all Gaussian formulas above applied per node.

Normal-mixture priors on :math:`\\mu`, :math:`\\sum_j w_j N(m_j, v_j)` (robust MAP priors;
Schmidli et al. 2014, *Biometrics* 70:1023), are handled exactly the same way, with the
components as the nodes: given :math:`\\tau`, component :math:`j` is a conjugate normal prior,
so :math:`p(\\mu, \\tau \\mid y) \\propto p(\\tau) \\sum_j w_j\\, p_j(y \\mid \\tau)\\,
N(\\mu; M_j, 1/P_j)`: the posterior is the mixture of the per-component conjugate results,
weighted by prior weight times marginal likelihood :math:`w_j p_j(y \\mid \\tau)` at every
:math:`\\tau` node (integrated over :math:`\\tau`: weights :math:`w_j p_j(y) / \\sum_l w_l
p_l(y)`; Dallal & Hall 1983, *JRSS B* 45:278). No approximation beyond the tau quadrature.

The tau prior enters only through its log density on the grid, its CDF / survival function
(closed-form tail masses below and above the grid) and its quantiles (placing the grid), so
any proper :class:`~vfsynth.models.priors.Prior` on tau works (gamma included).

A number instead of a tau prior fixes :math:`\\tau` (a point mass; ``0`` gives the
common-effect model).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import integrate, interpolate, special, stats
from scipy.optimize import brentq

from vfsynth.models.priors import Prior

__all__ = ["ExactPosterior", "log_marginal_likelihood_given_tau", "nnhm_exact"]

_LOG2PI = math.log(2.0 * math.pi)
#: Posterior mass is kept where the log density is within this of the mode.
_DROP = 40.0
#: Fine-grid size in log tau (fewer nodes when a Student-t mu prior adds a lambda grid).
_N_FINE = 1025
_N_FINE_T = 385
_N_COARSE = 513
#: Trapezoid step in log lambda for Student-t mu priors.
_H_LAMBDA = 0.5


def _as_data(table_or_y, se, labels):
    if hasattr(table_or_y, "estimate") and hasattr(table_or_y, "se"):
        y = np.asarray(table_or_y.estimate, dtype=float)
        s = np.asarray(table_or_y.se, dtype=float)
        labels = tuple(table_or_y.study) if labels is None else tuple(labels)
    else:
        if se is None:
            raise ValueError("nnhm_exact: give an EffectTable or both y and se")
        y = np.atleast_1d(np.asarray(table_or_y, dtype=float))
        s = np.atleast_1d(np.asarray(se, dtype=float))
        labels = tuple(f"study {i + 1}" for i in range(len(y))) if labels is None else tuple(labels)
    if y.ndim != 1 or y.shape != s.shape or len(y) == 0:
        raise ValueError(f"nnhm_exact: y and se must be non-empty 1-D arrays of equal length, got {y.shape}, {s.shape}")
    if len(labels) != len(y):
        raise ValueError(f"nnhm_exact: {len(labels)} labels for {len(y)} studies")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(s)) and np.all(s > 0)):
        bad = [labels[i] for i in np.flatnonzero(~(np.isfinite(y) & np.isfinite(s) & (s > 0)))]
        raise ValueError(f"nnhm_exact: estimates must be finite and se > 0 (studies {bad})")
    return y, s, labels


def _mu_nodes(mu_prior: Prior | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prior means m0, prior variances v0, log weights) per node of the mu prior, shapes (L,).

    Normal: one node. Normal mixture: one node per component with positive weight (log of the
    normalised weight). Student-t: the normal scale-mixture nodes in log lambda (common m0).
    Flat: one node with ``v0 = inf``.
    """
    if mu_prior is None or mu_prior.family == "flat":
        return np.zeros(1), np.array([np.inf]), np.array([0.0])
    if mu_prior.target != "mu":
        raise ValueError(f"mu_prior must be a prior on mu, got target {mu_prior.target!r}")
    p = mu_prior.params
    if mu_prior.family == "normal":
        return np.array([p["loc"]]), np.array([p["scale"] ** 2]), np.array([0.0])
    if mu_prior.family == "normal-mixture":
        w = np.asarray(p["weights"], dtype=float)
        keep = w > 0
        return (np.asarray(p["locs"], dtype=float)[keep], np.asarray(p["scales"], dtype=float)[keep] ** 2,
                np.log(w[keep] / w[keep].sum()))
    if mu_prior.family == "student-t":
        a = p["df"] / 2.0
        gam = stats.gamma(a, scale=1.0 / a)
        lo, hi = np.log(gam.ppf(1e-13)), np.log(gam.isf(1e-13))
        # log-lambda density has width ~ 1/sqrt(a); h <= 0.5/sqrt(a) makes the trapezoid
        # error ~ exp(-2 pi^2 (sigma/h)^2) negligible
        h = min(_H_LAMBDA, 0.5 / math.sqrt(a))
        n = max(int(math.ceil((hi - lo) / h)), 16) + 1
        ll = np.linspace(lo, hi, n)
        # Gamma density in log lambda: lambda * g(lambda); trapezoid weights (ends negligible).
        logw = gam.logpdf(np.exp(ll)) + ll + math.log(ll[1] - ll[0])
        logw -= special.logsumexp(logw)
        return np.full(n, p["loc"]), p["scale"] ** 2 / np.exp(ll), logw
    raise ValueError(f"exact NNHM supports normal, normal-mixture, Student-t and flat mu priors, not {mu_prior.family!r}")


def _gauss(y, s2, tau, m0, v0):
    """Per (tau, mu-prior node) pair: log p(y | tau, node), conditional mean M and variance V of mu.

    ``tau`` shape (T,), ``m0`` and ``v0`` shape (L,) (the node's normal prior on mu); results
    shape (T, L).
    """
    k = len(y)
    w = 1.0 / (s2[None, :] + tau[:, None] ** 2)  # (T, k)
    sw = w.sum(1)[:, None]
    swy = (w * y).sum(1)[:, None]
    half_logdet = 0.5 * np.log(w).sum(1)[:, None]
    if np.isinf(v0[0]):
        prec = sw
        mean = swy / sw
        resid = (w[:, :, None] * (y[None, :, None] - mean[:, None, :]) ** 2).sum(1)
        logl = -0.5 * k * _LOG2PI + half_logdet + 0.5 * _LOG2PI - 0.5 * np.log(prec) - 0.5 * resid
        return logl, mean, 1.0 / prec
    iv0 = 1.0 / v0[None, :]
    prec = sw + iv0
    mean = (swy + m0 * iv0) / prec
    # sum_i w_i (y_i - M)^2 = Swyy - 2 M Swy + M^2 Sw: evaluated directly to avoid cancellation
    resid = (w[:, :, None] * (y[None, :, None] - mean[:, None, :]) ** 2).sum(1) + (mean - m0) ** 2 * iv0
    logl = -0.5 * k * _LOG2PI + half_logdet + 0.5 * np.log(iv0) - 0.5 * np.log(prec) - 0.5 * resid
    return logl, mean, 1.0 / prec


def log_marginal_likelihood_given_tau(y, se, tau, mu_prior: Prior | None = None) -> np.ndarray:
    """:math:`\\log p(y \\mid \\tau)` with :math:`\\mu` integrated out, for each ``tau``.

    Flat (``None``) mu prior: relative to the improper density 1 (only ratios between
    models sharing that prior are meaningful).
    """
    y = np.asarray(y, dtype=float)
    s2 = np.asarray(se, dtype=float) ** 2
    tau = np.atleast_1d(np.asarray(tau, dtype=float))
    m0, v0, logq = _mu_nodes(mu_prior)
    logl, _, _ = _gauss(y, s2, tau, m0, v0)
    return special.logsumexp(logl + logq[None, :], axis=1)


def _mixture_quantiles(means, sds, logw, qs, tol=1e-12, maxit=100):
    """Quantiles of :math:`\\sum_n w_n N(m_n, s_n^2)` by safeguarded Newton iteration.

    ``means`` / ``sds`` of shape (N,) give one mixture (result shape (Q,)); shape (N, B) gives
    B mixtures sharing the weights (result (B, Q)). Newton steps that leave the current
    bracket are replaced by bisection, so convergence is guaranteed.
    """
    qs = np.atleast_1d(np.asarray(qs, dtype=float))
    single = np.ndim(means) == 1
    means = np.asarray(means, dtype=float).reshape(len(logw), -1)
    sds = np.broadcast_to(np.asarray(sds, dtype=float).reshape(len(logw), -1), means.shape)
    keep = logw > logw.max() - 50.0
    means, sds = means[keep], sds[keep]
    w = np.exp(logw[keep] - special.logsumexp(logw[keep]))
    mean = w @ means  # (B,)
    sd = np.sqrt(np.maximum(w @ (sds**2 + means**2) - mean**2, 1e-300))
    lo = np.repeat(np.min(means - 40 * sds, axis=0)[:, None], len(qs), axis=1)  # (B, Q)
    hi = np.repeat(np.max(means + 40 * sds, axis=0)[:, None], len(qs), axis=1)
    x = np.clip(mean[:, None] + sd[:, None] * stats.norm.ppf(np.clip(qs, 1e-300, 1 - 1e-16))[None, :], lo, hi)
    mt, st = means.T[:, None, :], sds.T[:, None, :]  # (B, 1, N)
    for _ in range(maxit):
        z = (x[:, :, None] - mt) / st
        f = special.ndtr(z) @ w - qs[None, :]
        d = (np.exp(-0.5 * z**2) / (st * math.sqrt(2 * math.pi))) @ w
        lo = np.where(f < 0, x, lo)
        hi = np.where(f > 0, x, hi)
        conv = (np.abs(f) <= 1e-14) | (hi - lo <= tol * (1.0 + np.abs(x)))
        if np.all(conv):
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            xn = x - f / d
        # Newton where it stays inside the bracket, bisection otherwise
        xn = np.where(np.isfinite(xn) & (xn >= lo) & (xn <= hi), xn, 0.5 * (lo + hi))
        x = np.where(conv, x, xn)
    return x[0] if single else x


@dataclass(frozen=True)
class ExactPosterior:
    """Exact NNHM posterior (see module docstring for the maths).

    Attributes
    ----------
    y, se : ndarray
        The data.
    labels : tuple of str
        Study labels.
    tau_prior : Prior or float
        Heterogeneity prior (a float is a fixed tau).
    mu_prior : Prior or None
        Prior on mu (``None`` = flat).
    log_tau : ndarray
        Uniform grid in log tau (empty when tau is fixed).
    tau_density : ndarray
        Posterior density of log tau on ``log_tau`` (per unit of log tau).
    node_tau : ndarray, shape (T,)
        Tau at the quadrature nodes: the grid, preceded by one node standing for the
        lower tail ``tau < tau_lo`` when there is one.
    log_weights : ndarray, shape (T, L)
        Normalised log quadrature weights of the (tau, lambda) nodes.
    cond_mean, cond_var : ndarray, shape (T, L)
        Conditional posterior mean and variance of mu at each node.
    log_marginal_likelihood : float
        :math:`\\log p(y)` (flat mu prior: relative to density 1).
    log_bf_heterogeneity : float
        :math:`\\log p(y) - \\log p(y \\mid \\tau = 0)`: Bayes factor of the random-effects
        model against the common-effect model with the same mu prior.
    tau_lo, lower_mass : float
        Lower end of the grid and the posterior mass below it (computed in closed form).
    tau_hi, upper_mass : float
        Upper cut and the posterior mass above it (``inf`` / 0 unless the posterior reaches
        ``1e6 x`` the data scale: heavy-tailed priors with a single study).
    """

    y: np.ndarray
    se: np.ndarray
    labels: tuple[str, ...]
    tau_prior: Prior | float
    mu_prior: Prior | None
    log_tau: np.ndarray
    tau_density: np.ndarray
    node_tau: np.ndarray
    log_weights: np.ndarray
    cond_mean: np.ndarray
    cond_var: np.ndarray
    log_marginal_likelihood: float
    log_bf_heterogeneity: float
    tau_lo: float = 0.0
    lower_mass: float = 0.0
    tau_hi: float = math.inf
    upper_mass: float = 0.0
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # ----------------------------------------------------------------------------- basics
    @property
    def k(self) -> int:
        return len(self.y)

    @property
    def tau_nodes(self) -> np.ndarray:
        return self.node_tau

    def _flat(self):
        """Nodes with non-negligible weight (> e^-50 of the largest), flattened."""
        if "flat" not in self._cache:
            w = self.log_weights.ravel()
            tau = np.broadcast_to(self.tau_nodes[:, None], self.log_weights.shape).ravel()
            keep = w > np.max(w) - 50.0
            self._cache["flat"] = (w[keep], self.cond_mean.ravel()[keep], self.cond_var.ravel()[keep], tau[keep])
        return self._cache["flat"]

    # ----------------------------------------------------------------------------- mu
    @property
    def mu_mean(self) -> float:
        w, m, _, _ = self._flat()
        return float(np.sum(np.exp(w) * m))

    @property
    def mu_sd(self) -> float:
        w, m, v, _ = self._flat()
        pw = np.exp(w)
        return float(math.sqrt(np.sum(pw * (v + m**2)) - np.sum(pw * m) ** 2))

    def mu_cdf(self, x) -> np.ndarray:
        """Posterior CDF of mu."""
        w, m, v, _ = self._flat()
        x = np.atleast_1d(np.asarray(x, dtype=float))
        return special.ndtr((x[:, None] - m[None, :]) / np.sqrt(v)[None, :]) @ np.exp(w)

    def mu_quantiles(self, qs: Sequence[float] = (0.025, 0.5, 0.975)) -> np.ndarray:
        """Posterior quantiles of mu."""
        w, m, v, _ = self._flat()
        return _mixture_quantiles(m, np.sqrt(v), w, qs)

    def prob_mu_greater(self, x: float = 0.0) -> float:
        """:math:`P(\\mu > x \\mid y)`."""
        w, m, v, _ = self._flat()
        return float(special.ndtr((m - x) / np.sqrt(v)) @ np.exp(w))

    # ----------------------------------------------------------------------------- tau
    @property
    def tau_fixed(self) -> bool:
        return len(self.log_tau) == 0

    def _tau_marginal_weights(self) -> np.ndarray:
        return np.exp(special.logsumexp(self.log_weights, axis=1))

    @property
    def tau_mean(self) -> float:
        return float(np.sum(self._tau_marginal_weights() * self.tau_nodes))

    @property
    def tau_sd(self) -> float:
        pw = self._tau_marginal_weights()
        t = self.tau_nodes
        return float(math.sqrt(max(np.sum(pw * t**2) - np.sum(pw * t) ** 2, 0.0)))

    def _tau_spline(self):
        """Hermite spline of the tau CDF in log tau (nodes from cumulative Simpson; dF/du = f)."""
        if "tau_spline" not in self._cache:
            u, f = self.log_tau, self.tau_density
            cdf = self.lower_mass + integrate.cumulative_simpson(f, x=u, initial=0.0)
            cdf = np.minimum(np.maximum.accumulate(cdf), 1.0)
            self._cache["tau_spline"] = interpolate.CubicHermiteSpline(u, cdf, f, extrapolate=False)
            self._cache["tau_cdf_nodes"] = cdf
        return self._cache["tau_spline"]

    def _below(self, t):
        """CDF below the grid: P(tau < t | y) = lower_mass * P(tau < t) / P(tau < tau_lo) (prior shape)."""
        pc = float(self.tau_prior.cdf(self.tau_lo))
        return self.lower_mass * np.asarray(self.tau_prior.cdf(t)) / pc if pc > 0 else np.zeros_like(t)

    def tau_cdf(self, t) -> np.ndarray:
        """Posterior CDF of tau."""
        t = np.atleast_1d(np.asarray(t, dtype=float))
        if self.tau_fixed:
            return (t >= self.tau_nodes[0]).astype(float)
        sp = self._tau_spline()
        with np.errstate(divide="ignore"):
            u = np.log(np.where(t > 0, t, 0.0))
        inside = sp(np.clip(u, self.log_tau[0], self.log_tau[-1]))
        below = self._below(np.minimum(t, self.tau_lo)) if self.lower_mass > 0 else np.zeros_like(t)
        above = 1.0 - self.upper_mass * np.asarray(self.tau_prior.sf(np.maximum(t, self.tau_hi))) / float(
            self.tau_prior.sf(self.tau_hi)) if self.upper_mass > 0 else np.ones_like(t)
        out = np.where(u < self.log_tau[0], below, np.where(u > self.log_tau[-1], above, inside))
        return np.clip(out, 0.0, 1.0)

    def tau_quantiles(self, qs: Sequence[float] = (0.025, 0.5, 0.975)) -> np.ndarray:
        """Posterior quantiles of tau (CDF by cumulative Simpson + Hermite interpolation in log tau)."""
        qs = np.atleast_1d(np.asarray(qs, dtype=float))
        if self.tau_fixed:
            return np.full(qs.shape, self.tau_nodes[0])
        sp = self._tau_spline()
        cdf = self._cache["tau_cdf_nodes"]
        out = np.empty(qs.shape)
        for i, q in enumerate(qs):
            if q <= cdf[0]:
                # inside the closed-form lower tail: invert the prior's CDF
                pc = float(self.tau_prior.cdf(self.tau_lo))
                out[i] = float(self.tau_prior.ppf(q / cdf[0] * pc)) if cdf[0] > 0 else math.exp(self.log_tau[0])
                continue
            if q >= cdf[-1]:
                if self.upper_mass > 0:
                    # inside the closed-form upper tail: invert the prior's survival function
                    ps = float(self.tau_prior.sf(self.tau_hi))
                    out[i] = float(self.tau_prior.isf((1.0 - q) / self.upper_mass * ps))
                else:
                    out[i] = math.exp(self.log_tau[-1])
                continue
            j = int(np.clip(np.searchsorted(cdf, q), 1, len(cdf) - 1))
            a, b = self.log_tau[j - 1], self.log_tau[j]
            out[i] = math.exp(brentq(lambda uu, q=q: float(sp(uu)) - q, a, b, xtol=1e-13))
        return out

    # ----------------------------------------------------------------------------- prediction
    def predictive_quantiles(self, qs: Sequence[float] = (0.025, 0.5, 0.975)) -> np.ndarray:
        """Quantiles of the posterior predictive distribution of a new study's effect."""
        w, m, v, tau = self._flat()
        return _mixture_quantiles(m, np.sqrt(v + tau**2), w, qs)

    def prob_new_greater(self, x: float = 0.0) -> float:
        """:math:`P(\\theta_{new} > x \\mid y)` for a new study's effect."""
        w, m, v, tau = self._flat()
        return float(special.ndtr((m - x) / np.sqrt(v + tau**2)) @ np.exp(w))

    @property
    def predictive_mean(self) -> float:
        return self.mu_mean

    @property
    def predictive_sd(self) -> float:
        w, m, v, tau = self._flat()
        pw = np.exp(w)
        return float(math.sqrt(np.sum(pw * (v + tau**2 + m**2)) - np.sum(pw * m) ** 2))

    # ----------------------------------------------------------------------------- study effects
    def _theta_components(self):
        """Per node and study: conditional mean and variance of theta_i. Shapes (N, k)."""
        w, m, v, tau = self._flat()
        s2 = self.se**2
        b = s2[None, :] / (s2[None, :] + tau[:, None] ** 2)
        mean = (1.0 - b) * self.y[None, :] + b * m[:, None]
        var = (1.0 - b) * s2[None, :] + b**2 * v[:, None]
        return w, mean, var

    @property
    def theta_mean(self) -> np.ndarray:
        """Posterior means of the study effects (shrunken estimates)."""
        w, mean, _ = self._theta_components()
        return np.exp(w) @ mean

    @property
    def theta_sd(self) -> np.ndarray:
        """Posterior SDs of the study effects."""
        w, mean, var = self._theta_components()
        pw = np.exp(w)
        return np.sqrt(pw @ (var + mean**2) - (pw @ mean) ** 2)

    def theta_quantiles(self, qs: Sequence[float] = (0.025, 0.5, 0.975)) -> np.ndarray:
        """Posterior quantiles of each study effect, shape (k, len(qs))."""
        w, mean, var = self._theta_components()
        return _mixture_quantiles(mean, np.sqrt(var), w, qs)

    # ----------------------------------------------------------------------------- summary
    def summary(self, level: float = 0.95) -> dict:
        """Plain dict of the headline posterior quantities (JSON-serialisable)."""
        a = (1.0 - level) / 2.0
        qs = (a, 0.5, 1.0 - a)
        mq, tq, pq = self.mu_quantiles(qs), self.tau_quantiles(qs), self.predictive_quantiles(qs)
        thq = self.theta_quantiles(qs)
        return {
            "level": level,
            "mu": {"mean": self.mu_mean, "sd": self.mu_sd, "low": float(mq[0]), "median": float(mq[1]),
                   "high": float(mq[2]), "p_gt_0": self.prob_mu_greater(0.0)},
            "tau": {"mean": self.tau_mean, "sd": self.tau_sd, "low": float(tq[0]), "median": float(tq[1]),
                    "high": float(tq[2])},
            "prediction": {"mean": self.predictive_mean, "sd": self.predictive_sd, "low": float(pq[0]),
                           "median": float(pq[1]), "high": float(pq[2])},
            "theta": {lab: {"mean": float(m), "sd": float(s), "low": float(q[0]), "median": float(q[1]),
                            "high": float(q[2])}
                      for lab, m, s, q in zip(self.labels, self.theta_mean, self.theta_sd, thq, strict=True)},
            "log_marginal_likelihood": self.log_marginal_likelihood,
            "log_bf_heterogeneity": self.log_bf_heterogeneity,
        }


def _support_clip(tau_prior: Prior, tau: np.ndarray) -> np.ndarray:
    """Clip nodes to the prior's support, so that exp(log(edge)) rounding never drops an
    end node of a bounded prior (uniform) off its support."""
    with np.errstate(invalid="ignore"):
        a, b = float(tau_prior.ppf(0.0)), float(tau_prior.isf(0.0))
    if np.isfinite(b) or (np.isfinite(a) and a > 0):
        return np.clip(tau, a if np.isfinite(a) else 0.0, b if np.isfinite(b) else np.inf)
    return tau


def _tau_window(y, s2, tau_prior: Prior, m0, v0, logq, n_fine: int = _N_FINE):
    """Uniform log-tau grid holding the posterior mass, and the cuts ``(tau_lo, tau_hi)``.

    Below ``tau_lo = 1e-6 * min(se)`` the likelihood is constant to a relative
    :math:`O(\tau^2/s^2) = 10^{-12}`, so the mass there is ``P(tau < tau_lo) * p(y | 0)``
    in closed form (returned ``tau_lo``; ``None`` when the prior itself lives below it and
    the grid follows the prior's own range). Above, the grid covers the region where the
    log density is within ``_DROP`` of the mode, up to ``1e6 x`` the data's scale; when the
    posterior still has mass there (heavy-tailed priors with k = 1), ``tau_hi`` is returned
    and the mass above it is ``P(tau > tau_hi) * p(y | tau_hi)`` (exact when the likelihood is
    flat in tau, an upper bound otherwise, where it is negligible).
    """
    scale = float(np.max(np.sqrt(s2)) + np.ptp(y))
    tau_lo = 1e-6 * float(np.min(np.sqrt(s2)))
    data_hi = math.log(1e6 * scale)
    # the prior's range far into its tails: data in conflict with the prior can put the
    # posterior mass where the prior density is e^-100 below its mode
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        p_lo, p_hi = float(np.log(tau_prior.ppf(1e-300))), float(np.log(tau_prior.isf(1e-300)))
    if not np.isfinite(p_lo):
        p_lo = -np.inf
    if not np.isfinite(p_hi) or np.isnan(p_hi):
        p_hi = np.inf
    if p_hi <= math.log(tau_lo) + 2.0:  # prior lives where the likelihood is flat
        with np.errstate(divide="ignore"):
            lo, hi, cut = float(np.log(tau_prior.ppf(1e-15))), float(np.log(tau_prior.isf(1e-15))), None
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError(f"nnhm_exact: cannot place a grid for tau prior {tau_prior.spec}")
    else:
        lo = max(p_lo, math.log(tau_lo)) if np.isfinite(p_lo) else math.log(tau_lo)
        hi = min(p_hi, data_hi) if np.isfinite(p_hi) else data_hi
        cut = math.exp(lo)
    hi_is_cut = hi < p_hi
    u = np.linspace(lo, hi, _N_COARSE)
    # prior quantile points resolve narrow priors the uniform scan would step over
    with np.errstate(divide="ignore"):
        uq = np.log(tau_prior.ppf(np.linspace(1e-12, 1 - 1e-12, 129)))
    uq = uq[np.isfinite(uq) & (uq >= lo) & (uq <= hi)]
    u = np.unique(np.concatenate([u, uq]))

    def logpost(uu):
        tt = _support_clip(tau_prior, np.exp(uu))
        with np.errstate(divide="ignore"):
            lp = tau_prior.logpdf(tt) + uu
        logl, _, _ = _gauss(y, s2, tt, m0, v0)
        if logl.shape[1] == 1:
            return lp + logl[:, 0]
        return lp + special.logsumexp(logl + logq[None, :], axis=1)

    for _ in range(3):
        g = logpost(u)
        g = np.where(np.isfinite(g), g, -np.inf)
        top = np.max(g)
        if not np.isfinite(top):
            raise ValueError("nnhm_exact: posterior density of tau is zero everywhere on the grid")
        idx = np.flatnonzero(g > top - _DROP)
        a, b = u[max(idx[0] - 1, 0)], u[min(idx[-1] + 1, len(u) - 1)]
        u = np.linspace(a, b, n_fine)
    cut_hi = math.exp(hi) if (hi_is_cut and u[-1] >= hi) else None
    return u, cut, cut_hi


def _tau_prior_ok(tau_prior) -> Prior | float:
    if isinstance(tau_prior, int | float | np.floating | np.integer):
        t = float(tau_prior)
        if not (math.isfinite(t) and t >= 0):
            raise ValueError(f"fixed tau must be finite and >= 0, got {tau_prior}")
        return t
    if not isinstance(tau_prior, Prior) or tau_prior.target != "tau":
        raise ValueError("tau_prior must be a Prior on tau (vfsynth.models.priors) or a fixed number")
    return tau_prior


def nnhm_exact(table_or_y, se=None, tau_prior: Prior | float | None = None, mu_prior: Prior | None = None,
               labels: Sequence[str] | None = None) -> ExactPosterior:
    """Exact posterior of the normal–normal hierarchical model (bayesmeta's method).

    Parameters
    ----------
    table_or_y : EffectTable or array_like
        An :class:`~vfsynth.data.effect_table.EffectTable` (then ``se`` is ignored and labels
        are its studies) or the estimates ``y``.
    se : array_like, optional
        Standard errors (when ``y`` is an array).
    tau_prior : Prior or float
        Prior on tau, or a number to fix tau (0 = common-effect model).
    mu_prior : Prior or None
        Normal, normal-mixture, Student-t or flat (``None`` or a ``flat`` Prior) prior on mu.
    labels : sequence of str, optional

    Returns
    -------
    ExactPosterior
    """
    if tau_prior is None:
        raise ValueError("nnhm_exact: tau_prior is required (a Prior on tau, or a number to fix tau)")
    if hasattr(table_or_y, "estimate"):
        y, s, labels = _as_data(table_or_y, None, labels)
    else:
        y, s, labels = _as_data(table_or_y, se, labels)
    tau_prior = _tau_prior_ok(tau_prior)
    s2 = s**2
    m0, v0, logq = _mu_nodes(mu_prior)
    logl0, _, _ = _gauss(y, s2, np.zeros(1), m0, v0)
    log_ml0 = float(special.logsumexp(logl0[0] + logq))

    if isinstance(tau_prior, float):
        tau = np.array([tau_prior])
        logl, mean, var = _gauss(y, s2, tau, m0, v0)
        joint = logl + logq[None, :]
        log_ml = float(special.logsumexp(joint))
        return ExactPosterior(y, s, labels, tau_prior, mu_prior, np.empty(0), np.empty(0), tau, joint - log_ml,
                              mean, var, log_ml, log_ml - log_ml0, 0.0, 0.0)

    # fewer tau nodes only where a Student-t prior adds a lambda grid (tens of nodes); normal
    # mixtures have a handful of components and keep the full grid
    n_fine = _N_FINE_T if (mu_prior is not None and mu_prior.family == "student-t") else _N_FINE
    u, cut, cut_hi = _tau_window(y, s2, tau_prior, m0, v0, logq, n_fine)
    tau = _support_clip(tau_prior, np.exp(u))
    h = u[1] - u[0]
    logl, mean, var = _gauss(y, s2, tau, m0, v0)
    with np.errstate(divide="ignore"):
        lp = tau_prior.logpdf(tau) + u
    joint = lp[:, None] + logl + logq[None, :]
    joint = np.where(np.isfinite(joint), joint, -np.inf)
    # trapezoid weights with Gregory end corrections (3/8, 7/6, 23/24; all positive): the ends
    # either carry < e^-40 of the mode (then nothing changes) or sit at a cut / support edge
    # where the integrand is not negligible (uniform prior, lower atom), where they lift the
    # trapezoid's O(h^2) end error to O(h^3)
    tw = np.full(len(u), math.log(h))
    ends = np.log([3 / 8, 7 / 6, 23 / 24])
    tw[:3] += ends
    tw[-3:] += ends[::-1]
    joint_w = joint + tw[:, None]
    if cut is not None:
        # lower tail tau < cut as one node: mass P(tau < cut) * p(y | tau ~ 0)
        with np.errstate(divide="ignore"):
            log_pcut = float(np.log(tau_prior.cdf(cut)))
        t_atom = np.array([0.5 * cut])
        logl_a, mean_a, var_a = _gauss(y, s2, t_atom, m0, v0)
        atom = log_pcut + logl_a + logq[None, :]
        node_tau = np.concatenate([t_atom, tau])
        joint_w = np.vstack([atom, joint_w])
        mean = np.vstack([mean_a, mean])
        var = np.vstack([var_a, var])
    else:
        node_tau = tau
    if cut_hi is not None:
        # upper tail tau > cut_hi as one node at cut_hi: mass P(tau > cut_hi) * p(y | cut_hi)
        with np.errstate(divide="ignore"):
            log_phi = float(np.log(tau_prior.sf(cut_hi)))
        t_atom = np.array([cut_hi])
        logl_b, mean_b, var_b = _gauss(y, s2, t_atom, m0, v0)
        node_tau = np.concatenate([node_tau, t_atom])
        joint_w = np.vstack([joint_w, log_phi + logl_b + logq[None, :]])
        mean = np.vstack([mean, mean_b])
        var = np.vstack([var, var_b])
    log_ml = float(special.logsumexp(joint_w))
    lower_mass = float(np.exp(special.logsumexp(joint_w[0]) - log_ml)) if cut is not None else 0.0
    upper_mass = float(np.exp(special.logsumexp(joint_w[-1]) - log_ml)) if cut_hi is not None else 0.0
    dens = np.exp(special.logsumexp(joint, axis=1) - log_ml)
    return ExactPosterior(y, s, labels, tau_prior, mu_prior, u, dens, node_tau, joint_w - log_ml, mean, var,
                          log_ml, log_ml - log_ml0, cut if cut is not None else 0.0, lower_mass,
                          cut_hi if cut_hi is not None else math.inf, upper_mass)
