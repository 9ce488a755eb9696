"""Ranks, coverage and the calibration tests of a simulation-based calibration run.

Ranks (Talts, Betancourt, Simpson, Vehtari & Gelman 2018, arXiv:1804.06788): the draws of
each replicate are thinned by ``thin`` to :math:`L` = ``draws // thin - 1`` draws (thinning
makes them nearly independent, which the uniformity of ranks needs) and the rank of the true
value is :math:`r=\\#\\{l : \\tilde\\theta_l < \\theta\\} \\in \\{0,\\dots,L\\}`, uniform if the
posterior is right.

Uniformity: Pearson's chi-square on ``bins`` equal bins of the ranks (``bins - 1`` df, the
test :func:`vfsynth.fits.sbc.rank_uniformity` applies to the joint model; repeated here so
that this module does not load PyMC through the joint model's module); p-values of every (model, quantity) are adjusted
together by Holm's step-down method (Holm 1979, *Scand J Stat* 6:65), which controls the
family-wise error rate like Bonferroni with more power.

Coverage: the share of replicates whose true value lies strictly inside the central 95%
posterior interval (2.5% and 97.5% quantiles of all ``draws`` draws). For calibrated
posteriors it is 0.95 up to binomial noise, SD :math:`\\sqrt{0.95\\cdot0.05/n}`
(0.0069 at :math:`n=1000`, so the issue's 93–97% window is about ±2.9 SD).
"""

from __future__ import annotations

import numpy as np

COVERAGE_WINDOW = (0.93, 0.97)


def ranks(draws: np.ndarray, truth: np.ndarray, thin: int) -> tuple[np.ndarray, int]:
    """Ranks ``(n_rep, P)`` of ``truth`` (n_rep, P) among thinned ``draws`` (n_rep, n, P), and L."""
    kept = draws[:, thin - 1 :: thin][:, :-1]
    return np.sum(kept < truth[:, None, :], axis=1), int(kept.shape[1])


def rank_uniformity(ranks: np.ndarray, L: int, bins: int = 10) -> np.ndarray:
    """Pearson chi-square p-value of the binned ranks ``(n_rep, P)`` against uniform, per column."""
    from scipy.stats import chisquare

    if (L + 1) % bins:
        raise ValueError(f"L + 1 = {L + 1} rank values do not split into {bins} equal bins")
    width = (L + 1) // bins
    return np.asarray([chisquare(np.bincount(col // width, minlength=bins)).pvalue for col in np.atleast_2d(ranks.T)])


def covered95(draws: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Whether each true value lies inside its replicate's central 95% interval, ``(n_rep, P)``."""
    lo, hi = np.quantile(draws, [0.025, 0.975], axis=1)
    return (truth > lo) & (truth < hi)


def holm(pvalues) -> np.ndarray:
    """Holm step-down adjusted p-values (monotone, capped at 1)."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    order = np.argsort(p)
    adj = np.empty(m)
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, (m - i) * p[j])
        adj[j] = min(1.0, running)
    return adj


def coverage_pvalue(hits: int, n: int, p: float = 0.95) -> float:
    """Two-sided exact binomial test of coverage ``hits / n`` against ``p``."""
    from scipy.stats import binomtest

    return float(binomtest(int(hits), int(n), p).pvalue)
