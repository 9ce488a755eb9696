"""Bayes factor for mediation: is the proximal–distal correlation of true effects non-zero?

In the joint model ``b = rho * tau_A / tau_S`` with ``tau > 0``, so ``b = 0`` exactly when the
correlation ``rho`` of the mediator's and the final outcome's true effects is 0: one test serves
both. The Savage–Dickey density ratio (Dickey 1971; Wagenmakers et al. 2010, *Cogn Psychol*
60:158) gives the Bayes factor of H0: rho = 0 against the full model,

.. math::

    BF_{01} = \\frac{p(\\rho = 0 \\mid y)}{p(\\rho = 0)},

valid because H0's prior is the full model's prior conditioned on rho = 0 (the LKJ prior's other
entries and the means / SDs keep their conditional priors). The prior density of one
off-diagonal entry of an LKJ(eta) correlation matrix of dimension K is a Beta(a, a) on (-1, 1),
:math:`a = \\eta - 1 + K/2` (Lewandowski, Kurowicka & Joe 2009, *J Multivar Anal* 100:1989).
The posterior density at 0 is a Gaussian kernel density estimate of the draws; its Monte-Carlo
error comes from batches (each chain split in two), each density taken with the full-sample
bandwidth.

With the informative-b option the prior of rho is no longer LKJ (the Potential reweights it);
the Bayes factor is then not computed (``None`` with the reason).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats


def lkj_marginal_density(r: float, K: int, eta: float) -> float:
    """Density at ``r`` of one off-diagonal correlation of an LKJ(eta) K x K matrix."""
    a = eta - 1.0 + K / 2.0
    return float(stats.beta.pdf((r + 1.0) / 2.0, a, a) / 2.0)


def density_at(draws: np.ndarray, point: float = 0.0, batches: int | None = None) -> tuple[float, float]:
    """KDE density of ``draws`` (chain x draw, or flat) at ``point`` and its batch-means MC SE."""
    x = np.asarray(draws, dtype=float)
    flat = x.ravel()
    kde = stats.gaussian_kde(flat)
    est = float(kde(point)[0])
    bw = float(kde.factor * flat.std(ddof=1))
    if x.ndim == 2:
        parts = [half for chain in x for half in np.array_split(chain, 2)]
    else:
        parts = np.array_split(flat, batches or 8)
    vals = [float(np.mean(stats.norm.pdf((point - p) / bw)) / bw) for p in parts]
    se = float(np.std(vals, ddof=1) / np.sqrt(len(vals)))
    return est, se


def savage_dickey(rho_draws: np.ndarray, K: int, eta: float) -> dict[str, Any]:
    """BF10 (non-zero correlation) and BF01 with Monte-Carlo intervals from the density's SE."""
    prior = lkj_marginal_density(0.0, K, eta)
    post, se = density_at(rho_draws, 0.0)
    bf01 = post / prior
    lo, hi = max(post - 2 * se, 1e-300), post + 2 * se
    return {
        "bf10": 1.0 / bf01 if bf01 > 0 else float("inf"),
        "bf01": bf01,
        "log10_bf10": float(-np.log10(bf01)) if bf01 > 0 else float("inf"),
        "log10_bf10_mc_interval": [float(-np.log10(hi / prior)), float(-np.log10(lo / prior))],
        "posterior_density_at_0": post,
        "posterior_density_mcse": se,
        "prior_density_at_0": prior,
    }


def mediation_bayes_factor(res: Any) -> dict[str, Any]:
    """``summary["bayes_factor"]``: Savage–Dickey BF for rho(mediator, final) != 0 (equivalently b != 0)."""
    jd = res.data
    out: dict[str, Any] = {
        "hypothesis": f"H1: corr(theta_{jd.constructs[0]}, theta_{jd.final}) != 0 (equivalently b != 0) vs H0: = 0",
        "method": "Savage–Dickey density ratio; LKJ marginal prior density; kernel density of posterior draws",
    }
    if res.options.informative_b:
        return out | {"bf10": None, "reason": "not computed with --informative-b (the prior of rho is not LKJ)"}
    rho = np.asarray(res.dt["posterior"]["rho_m1_final"].values, dtype=float)
    return out | savage_dickey(rho, len(jd.constructs), float(res.options.lkj_eta))


def averaged_indirect(indirect_draws: np.ndarray, bf10: float | None, prior_h1: float = 0.5) -> dict[str, Any]:
    r"""Indirect effect averaged over H0 (no mediation) and H1 (the joint model), by quantiles.

    Under H0, :math:`\rho = 0` so :math:`b = 0` and the indirect effect :math:`a b` is exactly 0;
    under H1 its posterior is the joint fit's. With prior probability :math:`\pi_1` of H1 the
    posterior probability is :math:`P(H_1 \mid y) = \pi_1 BF_{10} / (\pi_1 BF_{10} + 1 - \pi_1)`
    (Hoeting et al. 1999, *Stat Sci* 14:382), and the averaged law is the mixture
    :math:`P(H_0 \mid y)\,\delta_0 + P(H_1 \mid y)\,p(ab \mid y, H_1)`. It is summarised by the
    mixture's quantiles (a point mass is not described by a mean and SD).
    """
    if bf10 is None or not np.isfinite(bf10):
        return {"computed": False, "reason": "no finite mediation Bayes factor"}
    x = np.sort(np.asarray(indirect_draws, dtype=float).ravel())
    p1 = prior_h1 * bf10 / (prior_h1 * bf10 + 1.0 - prior_h1)
    p0 = 1.0 - p1

    # the mixture CDF only jumps at the draws and at the atom 0
    cand = np.sort(np.concatenate([x, [0.0]]))
    cdf = p0 * (cand >= 0.0) + p1 * np.searchsorted(x, cand, side="right") / x.size

    def quantile(q: float) -> float:
        return float(cand[min(int(np.searchsorted(cdf, q, side="left")), cand.size - 1)])

    return {
        "computed": True,
        "prior_probability_mediation": prior_h1,
        "posterior_probability_mediation": p1,
        "median": quantile(0.5),
        "q2.5": quantile(0.025),
        "q97.5": quantile(0.975),
        "prob_positive": p1 * float(np.mean(x > 0)),
        "method": "mixture of a point mass at 0 (H0: rho = 0) and the joint posterior of a*b (H1), "
        "weighted by the Savage–Dickey posterior model probabilities",
    }
