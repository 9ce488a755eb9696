"""Exact Bayesian three-level meta-analysis and its model-averaging ensemble.

Model: :mod:`vfsynth.models.three_level`, with priors :math:`\\tau_1 \\sim p_1`,
:math:`\\tau_2 \\sim p_2` (either may be fixed at 0) and independent normal priors on the
coefficients, :math:`\\beta \\sim N(m_0, V_0)` (the intercept :math:`\\mu` may be fixed at 0).
As for the two-level model (bayesmeta's method, Röver 2020), everything is Gaussian given
:math:`\\tau = (\\tau_1, \\tau_2)`: with :math:`r = y - X m_0`,
:math:`P = X^\\top V^{-1} X + V_0^{-1}` and :math:`b = X^\\top V^{-1} r`,

.. math::

    \\log p(y \\mid \\tau) = -\\tfrac12\\big[n \\log 2\\pi + \\log|V| + \\log|V_0| + \\log|P|
        + r^\\top V^{-1} r - b^\\top P^{-1} b\\big],
    \\qquad \\beta \\mid \\tau, y \\sim N(m_0 + P^{-1}b, P^{-1}),

so :math:`\\beta` is integrated analytically and only :math:`\\tau` numerically: a tensor
trapezoidal rule in :math:`(\\log\\tau_1, \\log\\tau_2)`, first on a wide 48 x 48 scan, then on
121 x 121 nodes over the box holding the posterior within :math:`e^{-30}` of its mode. Below
:math:`\\tau_{lo} = 10^{-4}\\min_i s_i` the likelihood is flat to :math:`O(10^{-8})`, so that
region is one node at :math:`\\tau = 0` of mass :math:`P(\\tau < \\tau_{lo})`. Posterior summaries
of the intercept are normal mixtures over the nodes (exact given the nodes); the CDF of
:math:`\\tau_1` is interpolated linearly in :math:`\\log\\tau_1` between nodes.

The ensemble ``three-level8`` crosses an effect (:math:`\\mu = 0` / :math:`\\mu \\ne 0`), study-level
heterogeneity (:math:`\\tau_1 = 0` / prior) and estimate-level heterogeneity (:math:`\\tau_2 = 0` /
prior), equal prior probabilities; moderators' slopes are in every model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import special

from vfsynth.fits.averaging import (
    AveragedPosterior,
    EnsembleMember,
    _require_proper_mu,
    posterior_model_probabilities,
)
from vfsynth.models.priors import Prior
from vfsynth.models.three_level import ThreeLevelData, gls_pieces

__all__ = ["ThreeLevelPosterior", "average_three_level", "three_level_exact"]

_LOG2PI = math.log(2.0 * math.pi)
_DROP = 30.0
_PRUNE = math.log(1e-16)


@dataclass(frozen=True)
class ThreeLevelPosterior:
    """Exact three-level posterior on a (tau1, tau2) node grid.

    Attributes
    ----------
    log_marginal_likelihood : float
    tau1, tau2 : ndarray, shape (G,)
        Node values.
    log_w : ndarray, shape (G,)
        Normalised log posterior weights of the nodes.
    beta_mean : ndarray, shape (G, p)
        Conditional posterior means of all coefficients (a fixed intercept is 0).
    beta_var0 : ndarray, shape (G,)
        Conditional posterior variance of the intercept (0 when fixed).
    names : tuple of str
    beta_var : ndarray, shape (G, p)
        Conditional posterior variances of all coefficients (0 for a fixed intercept).
    """

    log_marginal_likelihood: float
    tau1: np.ndarray
    tau2: np.ndarray
    log_w: np.ndarray
    beta_mean: np.ndarray
    beta_var0: np.ndarray
    names: tuple[str, ...]
    beta_var: np.ndarray | None = None

    def coef_mean_sd(self) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and SD of every coefficient: moments of the normal mixture over the nodes."""
        mean = self._w @ self.beta_mean
        second = self._w @ (self.beta_var + self.beta_mean**2)
        return mean, np.sqrt(np.maximum(second - mean**2, 0.0))

    def coef_cdf(self, j: int, x) -> np.ndarray:
        """Posterior CDF of coefficient ``j`` at ``x`` (a normal mixture; a point mass if fixed)."""
        x = np.atleast_1d(np.asarray(x, float))
        sd = np.sqrt(np.maximum(self.beta_var[:, j], 1e-300))
        return special.ndtr((x[:, None] - self.beta_mean[None, :, j]) / sd[None, :]) @ self._w

    @property
    def _w(self) -> np.ndarray:
        return np.exp(self.log_w)

    @property
    def mu_mean(self) -> float:
        return float(self._w @ self.beta_mean[:, 0])

    @property
    def mu_sd(self) -> float:
        m = self.beta_mean[:, 0]
        return float(math.sqrt(max(self._w @ (self.beta_var0 + m**2) - self.mu_mean**2, 0.0)))

    def mu_cdf(self, x) -> np.ndarray:
        x = np.atleast_1d(np.asarray(x, float))
        sd = np.sqrt(np.maximum(self.beta_var0, 1e-300))
        return special.ndtr((x[:, None] - self.beta_mean[None, :, 0]) / sd[None, :]) @ self._w

    def prob_mu_greater(self, x: float = 0.0) -> float:
        return float(1.0 - self.mu_cdf(x)[0])

    def _tau_marginal(self, which: int):
        t = self.tau1 if which == 1 else self.tau2
        order = np.argsort(t, kind="stable")
        ts, ws = t[order], self._w[order]
        uniq, idx = np.unique(ts, return_index=True)
        return uniq, np.add.reduceat(ws, idx)

    @property
    def tau_mean(self) -> float:
        return float(self._w @ self.tau1)

    @property
    def tau_sd(self) -> float:
        return float(math.sqrt(max(self._w @ self.tau1**2 - self.tau_mean**2, 0.0)))

    def tau_cdf(self, x, which: int = 1) -> np.ndarray:
        """CDF of tau1 (``which=2``: tau2), linear in log tau between nodes; a node at 0 is an atom.

        A trapezoid node's weight is the mass of the half-intervals on either side of it (one
        half-interval at the two ends), so the CDF at an interior node is the mass of the nodes
        below plus half its own; at the first node it is the mass below the grid, at the last 1.
        """
        t, w = self._tau_marginal(which)
        x = np.atleast_1d(np.asarray(x, float))
        atom = float(w[0]) if t[0] == 0.0 else 0.0
        pos, wp = (t[1:], w[1:]) if t[0] == 0.0 else (t, w)
        if len(pos) == 0:
            return np.where(x >= 0, 1.0, 0.0)
        own = wp / 2.0
        own[0], own[-1] = 0.0, wp[-1]
        cpos = atom + np.cumsum(wp) - wp + own
        with np.errstate(divide="ignore"):
            lx = np.log(np.where(x > 0, x, 1e-300))
        inside = np.interp(lx, np.log(pos), cpos, left=atom, right=1.0)
        return np.where(x < 0, 0.0, np.clip(inside, 0.0, 1.0))


def _axis(prior: Prior | None, lo: float, hi: float, n: int):
    """Nodes, log trapezoid weights (incl. prior density and Jacobian) on [lo, hi] in log tau."""
    if prior is None:
        return np.zeros(1), np.zeros(1)
    u = np.linspace(lo, hi, n)
    t = np.exp(u)
    with np.errstate(divide="ignore"):
        lw = prior.logpdf(t) + u + math.log(u[1] - u[0])
    lw[[0, -1]] += math.log(0.5)
    return t, lw


def _loglik_given_tau(data: ThreeLevelData, t1sq, t2sq, fixed_intercept: bool, m0, v0):
    X = data.X[:, 1:] if fixed_intercept else data.X
    sub = replace(data, X=X)
    if X.shape[1] == 0:
        logdet, _, _, rtr = gls_pieces(replace(data, X=data.X[:, :1]), t1sq, t2sq)
        ll = -0.5 * (data.n * _LOG2PI + logdet + rtr)
        return ll, np.zeros((len(ll), data.p)), np.zeros((len(ll), data.p))
    off = X @ m0
    logdet, xtx, xtr, rtr = gls_pieces(sub, t1sq, t2sq, offset=off)
    P = xtx + np.diag(1.0 / v0)[None, :, :]
    L = np.linalg.cholesky(P)
    z = np.linalg.solve(L, xtr[..., None])[..., 0]
    logdetP = 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(1)
    ll = -0.5 * (data.n * _LOG2PI + logdet + np.log(v0).sum() + logdetP + rtr - (z**2).sum(1))
    mean = m0[None, :] + np.linalg.solve(P, xtr[..., None])[..., 0]
    var = np.diagonal(np.linalg.inv(P), axis1=1, axis2=2)
    if fixed_intercept:
        mean = np.concatenate([np.zeros((len(ll), 1)), mean], axis=1)
        var = np.concatenate([np.zeros((len(ll), 1)), var], axis=1)
    return ll, mean, var


def three_level_exact(data: ThreeLevelData, tau1_prior: Prior | None, tau2_prior: Prior | None,
                      mu_prior: Prior | None, slope_sd: float = 1.0) -> ThreeLevelPosterior:
    """Exact posterior and marginal likelihood of a three-level model (module docstring).

    Parameters
    ----------
    data : ThreeLevelData
    tau1_prior, tau2_prior : Prior or None
        Priors on the study-level / estimate-level SD; ``None`` fixes it at 0.
    mu_prior : Prior or None
        Normal prior on the intercept; ``None`` fixes the intercept at 0.
    slope_sd : float
        SD of the N(0, slope_sd^2) priors on the moderators' slopes.
    """
    fixed = mu_prior is None
    if not fixed and mu_prior.family != "normal":
        raise ValueError("three_level_exact: the intercept prior must be normal (or None for mu = 0)")
    m0 = np.array(([] if fixed else [mu_prior.params["loc"]]) + [0.0] * (data.p - 1))
    v0 = np.array(([] if fixed else [mu_prior.params["scale"] ** 2]) + [slope_sd**2] * (data.p - 1))
    s = np.sqrt(data.v)
    lo = math.log(1e-4 * float(s.min()))
    hi = math.log(5.0 * (float(s.max()) + float(np.ptp(data.y)) + 1e-12))
    priors = (tau1_prior, tau2_prior)
    box = [(lo, hi), (lo, hi)]
    for n in (48, 121):
        axes = [_axis(p, a, b, n) for p, (a, b) in zip(priors, box, strict=True)]
        T1, T2 = np.meshgrid(axes[0][0], axes[1][0], indexing="ij")
        LW = axes[0][1][:, None] + axes[1][1][None, :]
        ll, mean, var = _loglik_given_tau(data, T1.ravel() ** 2, T2.ravel() ** 2, fixed, m0, v0)
        joint = (LW.ravel() + ll).reshape(T1.shape)
        if n == 121:
            break
        top = np.nanmax(joint)
        for d, p in enumerate(priors):
            if p is None:
                continue
            prof = np.nanmax(joint, axis=1 - d)
            u = np.log(axes[d][0])
            idx = np.flatnonzero(prof > top - _DROP)
            box[d] = (u[max(idx[0] - 1, 0)], u[min(idx[-1] + 1, len(u) - 1)])
    tau1, tau2 = T1.ravel(), T2.ravel()
    lw = joint.ravel()
    # the region below the grid in each dimension: one node at tau = 0 with the prior mass there
    extra = []
    for d, p in enumerate(priors):
        if p is not None and box[d][0] <= lo + 1e-12:
            extra.append(d)
    if extra:
        pieces = [(tau1, tau2, lw, mean, var)]
        for d in extra:
            a1 = np.zeros(1) if d == 0 else None
            a2 = np.zeros(1) if d == 1 else None
            ax = [_axis(p, a, b, 121) for p, (a, b) in zip(priors, box, strict=True)]
            mass = float(priors[d].cdf(math.exp(lo)))
            t_other, lw_other = ax[1 - d]
            t1n = np.zeros(len(t_other)) if a1 is not None else t_other
            t2n = np.zeros(len(t_other)) if a2 is not None else t_other
            lln, mn, vn = _loglik_given_tau(data, t1n**2, t2n**2, fixed, m0, v0)
            pieces.append((t1n, t2n, math.log(max(mass, 1e-300)) + lw_other + lln, mn, vn))
        if len(extra) == 2:
            lln, mn, vn = _loglik_given_tau(data, np.zeros(1), np.zeros(1), fixed, m0, v0)
            both = math.log(max(float(priors[0].cdf(math.exp(lo))) * float(priors[1].cdf(math.exp(lo))), 1e-300))
            pieces.append((np.zeros(1), np.zeros(1), both + lln, mn, vn))
        tau1, tau2, lw, mean, var = (np.concatenate([pc[i] for pc in pieces]) for i in range(5))
    good = np.isfinite(lw)
    tau1, tau2, lw, mean, var = tau1[good], tau2[good], lw[good], mean[good], var[good]
    log_ml = float(special.logsumexp(lw))
    # nodes below 1e-16 of the total (together < 1e-13) change no summary: dropping them makes
    # every CDF evaluation (quantiles of the averaged posterior) several times cheaper
    keep = lw - log_ml > _PRUNE
    lw = lw[keep] - special.logsumexp(lw[keep])
    return ThreeLevelPosterior(log_ml, tau1[keep], tau2[keep], lw, mean[keep], var[keep, 0], data.names, var[keep])


@dataclass(frozen=True)
class _Member(EnsembleMember):
    within: bool = False


def average_three_level(data: ThreeLevelData, tau1_prior: Prior, tau2_prior: Prior, mu_prior: Prior, *,
                        slope_sd: float = 1.0, analysis: dict | None = None, level: float = 0.95) -> AveragedPosterior:
    """The ``three-level8`` ensemble (module docstring), averaged.

    Inclusion Bayes factors: ``effect`` (mu != 0), ``heterogeneity`` (study level, tau1 > 0) and
    ``within`` (estimate level, tau2 > 0).
    """
    _require_proper_mu(mu_prior)
    members = []
    for eff in (False, True):
        for het in (False, True):
            for win in (False, True):
                name = (f"{'mu != 0' if eff else 'mu = 0'}, tau_study {'> 0' if het else '= 0'}, "
                        f"tau_estimate {'> 0' if win else '= 0'}")
                post = three_level_exact(data, tau1_prior if het else None, tau2_prior if win else None,
                                         mu_prior if eff else None, slope_sd)
                members.append(_Member(name, eff, het, False, 1.0 / 8, post.log_marginal_likelihood, 0.0, "exact",
                                       post, within=win))
    pp = posterior_model_probabilities([m.log_ml for m in members], [m.prior_prob for m in members])
    info = {"n_estimates": data.n, "k": data.m, "tau_prior": tau1_prior.spec, "tau_within_prior": tau2_prior.spec,
            "mu_prior": mu_prior.spec, "moderators": list(data.names[1:])}
    info.update(analysis or {})
    return AveragedPosterior("three-level8", tuple(members), pp, info, level, features=("effect", "heterogeneity",
                                                                                         "within"))
