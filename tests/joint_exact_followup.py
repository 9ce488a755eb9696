"""Exact posterior of mu for one construct observed at post and one follow-up time point.

The joint model's block for a construct whose only data are its own rows (other constructs
without data integrate out): theta_i ~ N(mu, tau^2); a follow-up row measures theta_i + delta_i,
delta_i ~ N(d, tau_delta^2); rows of one study have sampling correlation rho_w; priors
mu ~ N(0, mu_sd^2), d ~ N(0, d_sd^2), tau ~ half-normal(tau_scale), tau_delta ~
half-normal(tau_delta_scale). Given (tau, tau_delta) everything is Gaussian: (mu, d) are
integrated analytically (conjugate normal linear model), (tau, tau_delta) by midpoint
quadrature. Used by tests of the "joint = univariate" claim (independent of the package).
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def exact_mu(studies, y, se, is_follow, rho_w=0.3, mu_sd=1.0, d_sd=0.5, tau_scale=0.5,
             tau_delta_scale=0.25, n=160):
    """(posterior mean, posterior SD) of mu."""
    studies = np.asarray(studies)
    y, se, f = np.asarray(y, float), np.asarray(se, float), np.asarray(is_follow, float)
    same = (studies[:, None] == studies[None, :]).astype(float)
    W = (np.eye(len(y)) + rho_w * (same - np.eye(len(y)))) * np.outer(se, se)
    X = np.column_stack([np.ones(len(y)), f])
    P0inv = np.diag([1 / mu_sd**2, 1 / d_sd**2])
    has_f = f.any()
    t = (np.arange(n) + 0.5) * 5 * tau_scale / n
    td = (np.arange(n) + 0.5) * 5 * tau_delta_scale / n if has_f else np.array([0.0])
    A, B = np.meshgrid(t, td, indexing="ij")
    A, B = A.ravel(), B.ravel()
    C = W[None] + same[None] * (A[:, None, None] ** 2 + np.outer(f, f)[None] * B[:, None, None] ** 2)
    Ci = np.linalg.inv(C)
    P = P0inv[None] + np.einsum("ri,grs,sj->gij", X, Ci, X)
    Pi = np.linalg.inv(P)
    m = np.einsum("gij,rj,grs,s->gi", Pi, X, Ci, y)
    # log N(y; 0, C + X P0 X') via the conjugate identity
    ll = (-0.5 * (np.einsum("r,grs,s->g", y, Ci, y) - np.einsum("gi,gij,gj->g", m, P, m))
          - 0.5 * np.linalg.slogdet(C)[1] - 0.5 * np.linalg.slogdet(P)[1]
          + 0.5 * np.linalg.slogdet(P0inv)[1])
    lp = stats.halfnorm.logpdf(A, scale=tau_scale) + (stats.halfnorm.logpdf(B, scale=tau_delta_scale)
                                                       if has_f else 0.0)
    logw, means, vars_ = ll + lp, m[:, 0], Pi[:, 0, 0]
    w = np.exp(logw - logw.max())
    w /= w.sum()
    mean = float(w @ means)
    return mean, float(np.sqrt(w @ (vars_ + means**2) - mean**2))
