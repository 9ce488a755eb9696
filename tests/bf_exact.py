"""Direct computation for the mediation Bayes factor checks (used by test_mediation_bf.py).

A two-outcome joint model in which every study reports both outcomes (SMD rows, within-study
correlation rho_w): theta_i ~ N2(mu, Sigma(tau_S, tau_A, rho)), y_i ~ N2(theta_i, S_i), with
mu ~ N(0, I), tau ~ half-normal(0.5) each and rho ~ LKJ(eta) for K = 2, i.e. Beta(eta, eta) on
(-1, 1). mu is integrated analytically (normal-normal, 2 x 2 algebra per study); tau_S, tau_A and
rho by midpoint quadrature. Returns the exact BF01 = p(y | rho = 0) / p(y) and the marginal
posterior of rho on its grid.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def _inv2(a, b, d):
    det = a * d - b * b
    return d / det, -b / det, a / det, det


def log_marginal(y, se, tau_s, tau_a, rho, rho_w=0.0):
    """log p(y | tau_S, tau_A, rho) with mu ~ N(0, I) integrated out; broadcasts over the grid."""
    tau_s, tau_a, rho = np.broadcast_arrays(tau_s, tau_a, rho)
    p11 = np.ones(tau_s.shape)
    p12 = np.zeros(tau_s.shape)
    p22 = np.ones(tau_s.shape)
    b1 = np.zeros(tau_s.shape)
    b2 = np.zeros(tau_s.shape)
    out = np.zeros(tau_s.shape)
    for (ys, ya), (ss, sa) in zip(y, se, strict=True):
        v11 = tau_s**2 + ss**2
        v22 = tau_a**2 + sa**2
        v12 = rho * tau_s * tau_a + rho_w * ss * sa
        w11, w12, w22, det = _inv2(v11, v12, v22)
        out += -0.5 * (w11 * ys**2 + 2 * w12 * ys * ya + w22 * ya**2) - 0.5 * np.log(det) - np.log(2 * np.pi)
        p11, p12, p22 = p11 + w11, p12 + w12, p22 + w22
        b1 += w11 * ys + w12 * ya
        b2 += w12 * ys + w22 * ya
    q11, q12, q22, pdet = _inv2(p11, p12, p22)
    return out + 0.5 * (q11 * b1**2 + 2 * q12 * b1 * b2 + q22 * b2**2) - 0.5 * np.log(pdet)


def exact(y, se, eta=2.0, rho_w=0.0, n_tau=120, n_rho=160, tau_max=2.5):
    """(BF01, rho grid, posterior density of rho on the grid)."""
    t = (np.arange(n_tau) + 0.5) * tau_max / n_tau
    r = -1 + (np.arange(n_rho) + 0.5) * 2 / n_rho
    dt, dr = tau_max / n_tau, 2 / n_rho
    pt = stats.halfnorm.pdf(t, scale=0.5)
    pr = stats.beta.pdf((r + 1) / 2, eta, eta) / 2
    ll = log_marginal(y, se, t[:, None, None], t[None, :, None], r[None, None, :], rho_w)
    shift = ll.max()
    w = np.exp(ll - shift) * pt[:, None, None] * pt[None, :, None]
    m1 = float((w * pr[None, None, :]).sum() * dt * dt * dr)
    l0 = np.exp(log_marginal(y, se, t[:, None], t[None, :], 0.0, rho_w) - shift) * pt[:, None] * pt[None, :]
    m0 = float(l0.sum() * dt * dt)
    dens = (w * pr[None, None, :]).sum(axis=(0, 1)) * dt * dt / m1
    return m0 / m1, r, dens
