"""Per-study marginal likelihood of the joint model: every row of a study, study effects integrated out.

Leave-one-study-out for the joint model must remove *all* of a study's rows (every outcome and
time point), and its importance ratios must not depend on the study's own latent effects
(conditional ratios are heavy-tailed: Vehtari, Gelman & Gabry 2017, sec. 4; Merkle, Furr &
Rabe-Hesketh 2019). This module gives :math:`\\log p(\\mathbf y_i \\mid h)` for the hyper-parameters
:math:`h = (\\mu, \\tau, R, d, \\tau_\\delta, \\rho_w)` of :mod:`vfsynth.models.joint`, written once
against an array namespace (NumPy or ``jax.numpy``) so PSIS (NumPy, over posterior draws) and the
batched exact refits (JAX) evaluate the same code.

Latent slots
------------
Study :math:`i`'s latent vector :math:`\\lambda_i` (one slot per construct post-intervention, one per
follow-up cell) is Gaussian given :math:`h`:

.. math::

    \\lambda_i \\sim N(m, C),\\quad m = (\\mu, \\mu_{c(t)} + d_t),\\quad
    C = \\begin{pmatrix}\\Sigma & \\Sigma_{\\cdot c}\\\\ \\Sigma_{c \\cdot} & \\Sigma_{cc} +
    \\mathrm{diag}(\\tau_\\delta^2)\\end{pmatrix},\\quad \\Sigma = \\mathrm{diag}(\\tau) R\\,\\mathrm{diag}(\\tau).

Normal rows (SMD, log OR) are :math:`y_r = f_r \\lambda_{s(r)} + \\epsilon_r` with the within-study
error covariance :math:`s_r s_q (\\delta_{rq} + \\rho_w (1-\\delta_{rq}))`, so their marginal is one
multivariate normal per study, :math:`N(F m_{s}, F C_{ss} F + W_i)` (Riley 2009).

Count rows
----------
A 2x2 row enters through :math:`g_r(\\eta) = \\int \\mathrm{Bin}(e_t \\mid n_t, \\mathrm{expit}(\\alpha +
\\eta/2))\\,\\mathrm{Bin}(e_c \\mid n_c, \\mathrm{expit}(\\alpha - \\eta/2))\\,N(\\alpha \\mid 0,
\\sigma_\\alpha)\\,d\\alpha` with :math:`\\eta = \\pi/\\sqrt3\\,\\lambda_{s(r)}` (Chinn 2000; Jackson et al. 2018).
:math:`g_r` does not depend on :math:`h`; it is tabulated once (trapezoid rule over
:math:`\\alpha`) and written :math:`g_r(\\eta) = c_r\\, N(\\hat\\eta_r \\mid \\eta, \\hat s_r)\\, r_r(\\eta)` with
:math:`\\hat\\eta_r, \\hat s_r` the continuity-corrected log odds ratio and its Woolf SE. The Gaussian
factor is an extra "pseudo row" of the study's multivariate normal (exact algebra); the smooth
remainder :math:`r_r` is integrated against the conditional normal of the count rows' latent values
given all the study's (pseudo-)rows by tensor Gauss–Hermite quadrature (adaptive in the sense of
Liu & Pierce 1994: centred and scaled on that conditional).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vfsynth.models.joint_data import CHINN, JointData

#: Tabulation of log r_r(eta): eta_hat +- H_HALF * s_hat on H_N points.
H_HALF, H_N = 25.0, 1001
#: Trapezoid nodes over the count-row baseline alpha.
ALPHA_N = 1201
#: Gauss–Hermite nodes per count dimension.
GH_N = 20


@dataclass(frozen=True)
class StudyLayout:
    """A study-major padded layout of a :class:`JointData` (every array ``(n_studies, A)``).

    The first ``n_normal`` columns of a study hold its normal rows, the following its count
    pseudo rows; ``valid`` marks real entries. ``count_col`` ``(n_studies, C)`` indexes the
    pseudo rows among the ``A`` columns (``count_valid`` marks real ones).
    """

    y: np.ndarray
    se: np.ndarray
    factor: np.ndarray
    slot: np.ndarray
    valid: np.ndarray
    is_normal: np.ndarray
    count_col: np.ndarray
    count_valid: np.ndarray
    logr_table: np.ndarray   # (n_studies, C, H_N)
    logr_lo: np.ndarray      # (n_studies, C)
    logr_step: np.ndarray    # (n_studies, C)
    log_const: np.ndarray    # (n_studies,) sum over the study's count rows of log c_r
    n_slots: int
    cell_construct: np.ndarray
    normal_rows: tuple       # per study: indices into the JointData normal rows
    count_rows: tuple        # per study: indices into the JointData count rows

    @property
    def n_studies(self) -> int:
        return self.y.shape[0]


def count_row_factor(et, nt, ec, nc, alpha_sd: float):
    """``(eta_hat, s_hat, log c, eta grid, log r on grid)`` of one 2x2 row (see module docstring)."""
    from scipy.special import logsumexp
    from scipy.stats import binom, norm

    a, b, c, d = et + 0.5, nt - et + 0.5, ec + 0.5, nc - ec + 0.5
    eta_hat = float(np.log(a / b) - np.log(c / d))
    s_hat = float(np.sqrt(1 / a + 1 / b + 1 / c + 1 / d))
    eta = eta_hat + s_hat * np.linspace(-H_HALF, H_HALF, H_N)
    p0 = (et + ec + 1.0) / (nt + nc + 2.0)
    a_sd = 1.0 / np.sqrt((nt + nc) * p0 * (1 - p0))
    centre = np.log(p0 / (1 - p0))
    half = 30.0 * a_sd + 0.5 * np.max(np.abs(eta)) + 1.0
    alpha = np.linspace(centre - half, centre + half, ALPHA_N)
    da = alpha[1] - alpha[0]
    lp = (binom.logpmf(et, nt, 1 / (1 + np.exp(-(alpha[None, :] + eta[:, None] / 2))))
          + binom.logpmf(ec, nc, 1 / (1 + np.exp(-(alpha[None, :] - eta[:, None] / 2))))
          + norm.logpdf(alpha, 0.0, alpha_sd)[None, :])
    w = np.full(ALPHA_N, np.log(da))
    w[[0, -1]] += np.log(0.5)
    logg = logsumexp(lp + w[None, :], axis=1)
    lognorm = norm.logpdf(eta_hat, eta, s_hat)
    mid = H_N // 2
    log_c = float(logg[mid] - lognorm[mid])
    return eta_hat, s_hat, log_c, eta, logg - lognorm - log_c


def layout(jd: JointData, alpha_sd: float) -> StudyLayout:
    """Pad ``jd`` study by study (normal rows, then count pseudo rows) and tabulate the count factors."""
    n_st = len(jd.studies)
    nrows = [np.flatnonzero(jd.row_study == i) if jd.n_rows else np.zeros(0, int) for i in range(n_st)]
    crows = [np.flatnonzero(jd.crow_study == i) if jd.n_count_rows else np.zeros(0, int) for i in range(n_st)]
    A = max(1, max(len(a) + len(b) for a, b in zip(nrows, crows, strict=True)))
    C = max(1, max(len(b) for b in crows))
    y = np.zeros((n_st, A))
    se = np.ones((n_st, A))
    fac = np.zeros((n_st, A))
    slot = np.zeros((n_st, A), int)
    valid = np.zeros((n_st, A), bool)
    is_normal = np.zeros((n_st, A), bool)
    ccol = np.zeros((n_st, C), int)
    cvalid = np.zeros((n_st, C), bool)
    tab = np.zeros((n_st, C, H_N))
    tlo = np.zeros((n_st, C))
    tstep = np.ones((n_st, C))
    lconst = np.zeros(n_st)
    for i in range(n_st):
        for j, r in enumerate(nrows[i]):
            y[i, j], se[i, j], fac[i, j], slot[i, j] = jd.y[r], jd.se[r], jd.factor[r], jd.row_slot[r]
            valid[i, j] = is_normal[i, j] = True
        for j, r in enumerate(crows[i]):
            col = len(nrows[i]) + j
            eh, sh, lc, eta, logr = count_row_factor(float(jd.events_t[r]), float(jd.n_t[r]), float(jd.events_c[r]),
                                                     float(jd.n_c[r]), alpha_sd)
            y[i, col], se[i, col], fac[i, col], slot[i, col] = eh, sh, CHINN, jd.crow_slot[r]
            valid[i, col] = True
            ccol[i, j], cvalid[i, j] = col, True
            tab[i, j], tlo[i, j], tstep[i, j] = logr, eta[0], eta[1] - eta[0]
            lconst[i] += lc
    return StudyLayout(y, se, fac, slot, valid, is_normal, ccol, cvalid, tab, tlo, tstep, lconst,
                       len(jd.slots), np.asarray(jd.cell_construct, int), tuple(nrows), tuple(crows))


def latent_moments(xp, mu, tau, corr, d_mean=None, tau_delta=None, cell_construct=()):
    """Mean ``(..., S)`` and covariance ``(..., S, S)`` of a study's latent slots (module docstring)."""
    sigma = corr * tau[..., :, None] * tau[..., None, :]
    if len(cell_construct) == 0:
        return mu, sigma
    cc = np.asarray(cell_construct)
    m = xp.concatenate([mu, mu[..., cc] + d_mean], axis=-1)
    top = xp.concatenate([sigma, sigma[..., :, cc]], axis=-1)
    eye = np.eye(len(cc))
    bot = xp.concatenate([sigma[..., cc, :], sigma[..., cc, :][..., :, cc] + eye * (tau_delta**2)[..., None, :]], axis=-1)
    return m, xp.concatenate([top, bot], axis=-2)


def _interp(xp, x, lo, step, table):
    """Linear interpolation of ``table`` (..., G) on ``lo + step * arange(G)``, linear beyond both ends."""
    G = table.shape[-1]
    t = (x - lo[..., None]) / step[..., None]
    i = xp.clip(xp.floor(t), 0, G - 2).astype(np.int32)
    frac = t - i
    f0 = xp.take_along_axis(table, i, axis=-1)
    f1 = xp.take_along_axis(table, i + 1, axis=-1)
    return f0 + frac * (f1 - f0)


def gh_grid(dims: int, n: int = GH_N) -> tuple[np.ndarray, np.ndarray]:
    """Tensor Gauss–Hermite nodes ``(n**dims, dims)`` and log weights for E over N(0, I)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / w.sum()
    grids = np.meshgrid(*([x] * dims), indexing="ij")
    lw = sum(np.meshgrid(*([np.log(w)] * dims), indexing="ij"))
    return np.stack([g.ravel() for g in grids], axis=-1), lw.ravel()


def study_moments(xp, lay: StudyLayout, params: dict[str, Any]):
    """Latent mean ``m``, latent covariance ``C``, each study's (pseudo-)row covariance ``K`` ``(..., n, A, A)``
    (identity on padding) and residuals ``y - E[y]`` ``(..., n, A)`` (zero on padding)."""
    m, C = latent_moments(xp, params["mu"], params["tau"], params["corr"], params.get("d_mean"),
                          params.get("tau_delta"), lay.cell_construct)
    rho = xp.asarray(params["rho_w"])[..., None, None, None]
    slot = lay.slot
    m_r = m[..., slot] * lay.factor                                   # (..., n, A)
    Cs = C[..., slot[:, :, None], slot[:, None, :]]                   # (..., n, A, A)
    F = lay.factor[:, :, None] * lay.factor[:, None, :]
    vv = lay.valid[:, :, None] & lay.valid[:, None, :]
    nn = lay.is_normal[:, :, None] & lay.is_normal[:, None, :]
    A = lay.y.shape[1]
    eye = np.eye(A, dtype=bool)[None]
    sese = lay.se[:, :, None] * lay.se[:, None, :]
    W = np.where(eye, sese, 0.0) + rho * np.where(nn & ~eye, sese, 0.0)
    K = xp.where(vv, F * Cs + W, np.where(eye, 1.0, 0.0))
    resid = xp.where(lay.valid, lay.y - m_r, 0.0)
    return m, C, K, resid


def study_loglik(xp, lay: StudyLayout, params: dict[str, Any]):
    """:math:`\\log p(\\mathbf y_i \\mid h)` for every study, shape ``(..., n_studies)``.

    Parameters
    ----------
    xp : module
        ``numpy`` or ``jax.numpy``.
    lay : StudyLayout
    params : dict
        ``mu``, ``tau`` ``(..., K)``; ``corr`` ``(..., K, K)``; ``rho_w`` (scalar or ``(...)``);
        with follow-up cells ``d_mean``, ``tau_delta`` ``(..., n_cells)``.
    """
    m, C, K, resid = study_moments(xp, lay, params)
    slot = lay.slot
    Kinv_r = xp.linalg.solve(K, resid[..., None])[..., 0]
    _, logdet = xp.linalg.slogdet(K)
    n_valid = lay.valid.sum(axis=1)
    ll = -0.5 * xp.sum(resid * Kinv_r, axis=-1) - 0.5 * logdet - 0.5 * n_valid * np.log(2 * np.pi)
    if not lay.count_valid.any():
        return ll
    # conditional of the count rows' latent values given every (pseudo-)row of the study
    cc = lay.count_col                                                # (n, Cn)
    scc = np.take_along_axis(slot, cc, axis=1)                        # (n, Cn)
    cov_cy = C[..., scc[:, :, None], slot[:, None, :]] * lay.factor[:, None, :]  # (..., n, Cn, A)
    cov_cy = xp.where(lay.valid[:, None, :], cov_cy, 0.0)
    Kinv_cy = xp.linalg.solve(K, xp.swapaxes(cov_cy, -1, -2))        # (..., n, A, Cn)
    mc = m[..., scc] + xp.einsum("...ca,...a->...c", cov_cy, Kinv_r)
    Vc = C[..., scc[:, :, None], scc[:, None, :]] - xp.einsum("...ca,...ad->...cd", cov_cy, Kinv_cy)
    Cn = cc.shape[1]
    ceye = np.eye(Cn)[None]
    cv2 = lay.count_valid[:, :, None] & lay.count_valid[:, None, :]
    Vc = xp.where(cv2, Vc, ceye) + 1e-12 * ceye
    Lc = xp.linalg.cholesky(Vc)
    nodes, lw = gh_grid(Cn)                                           # (G, Cn)
    lam = mc[..., None, :] + xp.einsum("...cd,gd->...gc", Lc, nodes)  # (..., n, G, Cn)
    eta = CHINN * xp.swapaxes(lam, -1, -2)                            # (..., n, Cn, G)
    tab = xp.asarray(lay.logr_table)
    shape = eta.shape
    tab_b = xp.broadcast_to(tab[..., :], shape[:-1] + (tab.shape[-1],))
    lo = xp.broadcast_to(xp.asarray(lay.logr_lo), shape[:-1])
    st = xp.broadcast_to(xp.asarray(lay.logr_step), shape[:-1])
    logr = _interp(xp, eta, lo, st, tab_b)
    logr = xp.where(lay.count_valid[..., None], logr, 0.0)
    from_gh = _logsumexp(xp, xp.sum(logr, axis=-2) + lw, axis=-1)
    return ll + lay.log_const + from_gh


def _logsumexp(xp, x, axis):
    top = xp.max(x, axis=axis, keepdims=True)
    return xp.log(xp.sum(xp.exp(x - top), axis=axis)) + xp.squeeze(top, axis=axis)


def corr_from_pairs(xp, pairs, K: int):
    """Correlation matrix ``(..., K, K)`` from its below-diagonal entries in ``np.tril_indices`` order."""
    ii, jj = np.tril_indices(K, -1)
    lower = np.zeros((K, K, len(ii)))
    lower[ii, jj, np.arange(len(ii))] = 1.0
    lower[jj, ii, np.arange(len(ii))] = 1.0
    return np.eye(K) + xp.einsum("...p,klp->...kl", pairs, lower)
