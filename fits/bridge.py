"""Monte-Carlo marginal likelihoods: bridge sampling and a Carlin–Chib product-space sampler.

These are the independent checks of the quadrature in :mod:`vfsynth.fits.psma_quadrature`
(and usable for any model whose unnormalised log posterior ``logpost(theta)`` on an
unconstrained vector is vectorised over rows of ``theta``):

Posterior draws
    :func:`metropolis` runs many independent random-walk Metropolis chains in lock-step
    (vectorised), proposal :math:`N(0, (2.38^2/d)\\,\\Sigma)` (Roberts, Gelman & Gilks 1997).
Bridge sampling (Meng & Wong 1996, *Stat Sinica* 6:831; Gronau et al. 2017, *J Math Psychol* 81:80)
    With posterior draws :math:`\\theta_i`, :math:`N_1` of them, and :math:`N_2` draws
    :math:`\\tilde\\theta_j` from a normal proposal :math:`g` matched to the posterior's mean and
    covariance, the optimal bridge function gives the fixed-point iteration

    .. math::

        \\hat Z^{(t+1)} = \\frac{N_2^{-1} \\sum_j l_{2j} / (s_1 l_{2j} + s_2 \\hat Z^{(t)})}
                            {N_1^{-1} \\sum_i 1 / (s_1 l_{1i} + s_2 \\hat Z^{(t)})},
        \\quad l = \\frac{q(\\theta)}{g(\\theta)}, \\quad s_k = \\frac{N_k}{N_1 + N_2}.

    Its Monte-Carlo error is measured, not modelled: the chains are split into ``n_rep``
    independent groups, each gives its own estimate (own proposal fit, own proposal draws),
    and the reported value is their mean with standard error ``sd / sqrt(n_rep)``.
Product space (Carlin & Chib 1995, *JRSS B* 57:473; Lodewyckx et al. 2011, *J Math Psychol* 55:331)
    Two models with parameters :math:`\\theta_A`, :math:`\\theta_B` and *pseudo-priors*
    :math:`g_A`, :math:`g_B`: the joint
    :math:`\\pi_m\\, q_m(\\theta_m) \\prod_{l \\ne m} g_l(\\theta_l)` over the model index
    :math:`m` has marginal :math:`P(m \\mid y)`. Gibbs: a Metropolis step for
    :math:`\\theta_m`, a fresh draw of the other from its pseudo-prior, then :math:`m` from its
    full conditional; the Rao–Blackwellised conditional probabilities are averaged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

__all__ = ["BridgeResult", "bridge_log_ml", "metropolis", "product_space"]

LogPost = Callable[[np.ndarray], np.ndarray]


def metropolis(logpost: LogPost, start: np.ndarray, cov: np.ndarray, n_chains: int, n_steps: int,
               rng: np.random.Generator, burn: int = 500, thin: int = 10) -> np.ndarray:
    """Draws (n_chains, n_kept, d) of independent random-walk Metropolis chains.

    Chains start at ``start`` + N(0, cov) (dispersed) and keep every ``thin``-th state after
    ``burn`` steps.
    """
    d = start.size
    L = np.linalg.cholesky(cov)
    x = start + rng.standard_normal((n_chains, d)) @ L.T
    lp = logpost(x)
    step = L * (2.38 / math.sqrt(d))
    kept = []
    for t in range(n_steps):
        prop = x + rng.standard_normal((n_chains, d)) @ step.T
        lq = logpost(prop)
        acc = np.log(rng.uniform(size=n_chains)) < lq - lp
        x = np.where(acc[:, None], prop, x)
        lp = np.where(acc, lq, lp)
        if t >= burn and (t - burn) % thin == 0:
            kept.append(x.copy())
    return np.stack(kept, axis=1)


def _bridge_once(logpost: LogPost, draws: np.ndarray, fit: np.ndarray, rng: np.random.Generator,
                 tol: float = 1e-10, maxit: int = 1000) -> float:
    """One bridge-sampling log Z from posterior ``draws`` with a normal proposal fitted to ``fit``."""
    g = stats.multivariate_normal(fit.mean(axis=0), np.atleast_2d(np.cov(fit, rowvar=False)))
    n1 = len(draws)
    prop = np.atleast_2d(g.rvs(size=n1, random_state=rng)).reshape(n1, -1)
    l1 = logpost(draws) - g.logpdf(draws)
    l2 = logpost(prop) - g.logpdf(prop)
    s1 = s2 = 0.5
    shift = float(np.median(l1))
    e1, e2 = np.exp(l1 - shift), np.exp(l2 - shift)
    r = 1.0
    for _ in range(maxit):
        new = np.mean(e2 / (s1 * e2 + s2 * r)) / np.mean(1.0 / (s1 * e1 + s2 * r))
        if abs(math.log(new) - math.log(r)) < tol:
            r = new
            break
        r = new
    return math.log(r) + shift


@dataclass(frozen=True)
class BridgeResult:
    """Bridge-sampling log marginal likelihood: mean of ``reps`` and its Monte-Carlo SE."""

    log_ml: float
    mcse: float
    reps: np.ndarray


def bridge_log_ml(logpost: LogPost, draws: np.ndarray, rng: np.random.Generator, n_rep: int = 10) -> BridgeResult:
    """Bridge sampling from ``draws`` (n_chains, n_kept, d) of :func:`metropolis` (module docstring).

    Each of ``n_rep`` groups of chains fits its proposal on its first half of draws (in chain
    order) and bridges with the second half.
    """
    groups = np.array_split(np.arange(draws.shape[0]), n_rep)
    reps = []
    for g in groups:
        sub = draws[g]
        half = sub.shape[1] // 2
        fit = sub[:, :half].reshape(-1, sub.shape[2])
        use = sub[:, half:].reshape(-1, sub.shape[2])
        reps.append(_bridge_once(logpost, use, fit, rng))
    reps = np.array(reps)
    return BridgeResult(float(reps.mean()), float(reps.std(ddof=1) / math.sqrt(n_rep)), reps)


def product_space(logpost_a: LogPost, logpost_b: LogPost, draws_a: np.ndarray, draws_b: np.ndarray,
                  rng: np.random.Generator, prior_b: float = 0.5, n_chains: int = 400, n_steps: int = 2000,
                  burn: int = 200, n_rep: int = 10) -> tuple[float, float]:
    """Carlin–Chib estimate of :math:`P(B \\mid y)` and its Monte-Carlo SE (module docstring).

    ``draws_a`` / ``draws_b`` (n, d) are posterior draws of each model, used only to set the
    normal pseudo-priors and the Metropolis scales. The SE is from ``n_rep`` independent
    groups of chains.
    """
    ga = stats.multivariate_normal(draws_a.mean(0), np.atleast_2d(np.cov(draws_a, rowvar=False)))
    gb = stats.multivariate_normal(draws_b.mean(0), np.atleast_2d(np.cov(draws_b, rowvar=False)))
    da, db = draws_a.shape[1], draws_b.shape[1]
    La = np.linalg.cholesky(np.atleast_2d(ga.cov)) * (2.38 / math.sqrt(da))
    Lb = np.linalg.cholesky(np.atleast_2d(gb.cov)) * (2.38 / math.sqrt(db))

    def draw(g, n, d):
        return np.atleast_2d(g.rvs(size=n, random_state=rng)).reshape(n, d)

    ta, tb = draw(ga, n_chains, da), draw(gb, n_chains, db)
    lpa, lpb = logpost_a(ta), logpost_b(tb)
    m_b = rng.uniform(size=n_chains) < prior_b
    lodds0 = math.log(prior_b) - math.log1p(-prior_b)
    rb = np.zeros(n_chains)
    n_used = 0
    for t in range(n_steps):
        # within-model Metropolis for the current model's parameters
        pa = ta + rng.standard_normal((n_chains, da)) @ La.T
        pb = tb + rng.standard_normal((n_chains, db)) @ Lb.T
        qa, qb = logpost_a(pa), logpost_b(pb)
        u = np.log(rng.uniform(size=n_chains))
        acc_a = ~m_b & (u < qa - lpa)
        acc_b = m_b & (u < qb - lpb)
        ta = np.where(acc_a[:, None], pa, ta)
        lpa = np.where(acc_a, qa, lpa)
        tb = np.where(acc_b[:, None], pb, tb)
        lpb = np.where(acc_b, qb, lpb)
        # the other model's parameters from their pseudo-prior
        fa, fb = draw(ga, n_chains, da), draw(gb, n_chains, db)
        ta = np.where(m_b[:, None], fa, ta)
        tb = np.where(m_b[:, None], tb, fb)
        lpa = np.where(m_b, logpost_a(ta), lpa)
        lpb = np.where(m_b, lpb, logpost_b(tb))
        # model index from its full conditional
        lodds = lodds0 + lpb + ga.logpdf(ta) - lpa - gb.logpdf(tb)
        p_b = special.expit(lodds)
        m_b = rng.uniform(size=n_chains) < p_b
        if t >= burn:
            rb += p_b
            n_used += 1
    per_chain = rb / n_used
    reps = np.array([per_chain[g].mean() for g in np.array_split(np.arange(n_chains), n_rep)])
    return float(reps.mean()), float(reps.std(ddof=1) / math.sqrt(n_rep))
