"""Quadrature helpers of the exact NNHM posterior (:mod:`vfsynth.fits.exact`).

Holds the pieces of the numerical integration that :func:`vfsynth.fits.exact.nnhm_exact`
assembles:

* :func:`_mu_nodes` -- the mu prior as nodes of normal priors (normal, normal mixture,
  Student-t scale mixture, flat);
* :func:`_gauss` -- per (tau, node) pair the Gaussian marginal likelihood and the conditional
  mean and variance of mu;
* :func:`log_marginal_likelihood_given_tau` -- :math:`\\log p(y \\mid \\tau)`;
* :func:`_mixture_quantiles` -- quantiles of normal mixtures by safeguarded Newton iteration;
* :func:`_support_clip` and :func:`_tau_window` -- the adaptive uniform grid in log tau.

The maths is in :mod:`vfsynth.fits.exact`'s docstring.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from vfsynth.models.priors import Prior

__all__ = ["log_marginal_likelihood_given_tau"]

_LOG2PI = math.log(2.0 * math.pi)
#: Posterior mass is kept where the log density is within this of the mode.
_DROP = 40.0
#: Fine-grid size in log tau (fewer nodes when a Student-t mu prior adds a lambda grid).
_N_FINE = 1025
_N_FINE_T = 385
_N_COARSE = 513
#: Trapezoid step in log lambda for Student-t mu priors.
_H_LAMBDA = 0.5


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


#: Largest (tau nodes x studies) block formed at once: bounds the memory of the quadrature at
#: O(k) (8 MB per block array) whatever the number of studies.
_BLOCK = 1 << 20


def _gauss(y, s2, tau, m0, v0):
    """Per (tau, mu-prior node) pair: log p(y | tau, node), conditional mean M and variance V of mu.

    ``tau`` shape (T,), ``m0`` and ``v0`` shape (L,) (the node's normal prior on mu); results
    shape (T, L). The tau nodes are processed in blocks of at most :data:`_BLOCK` (node, study)
    cells: every row's sums are the same as in one pass, so the result is identical and the
    memory is linear in k.
    """
    tau = np.asarray(tau, dtype=float)
    step = max(1, _BLOCK // max(len(y), 1))
    if len(tau) <= step:
        return _gauss_block(y, s2, tau, m0, v0)
    parts = [_gauss_block(y, s2, tau[i:i + step], m0, v0) for i in range(0, len(tau), step)]
    return tuple(np.concatenate([p[j] for p in parts]) for j in range(3))


def _gauss_block(y, s2, tau, m0, v0):
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
