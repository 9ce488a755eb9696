"""The three-level meta-analysis model: several estimates within one study.

Estimate :math:`j` of study (cluster) :math:`i` (several measures or time points of one trial):

.. math::

    y_{ij} = x_{ij}^\\top\\beta + u_i + e_{ij} + \\varepsilon_{ij}, \\qquad
    u_i \\sim N(0, \\tau_1^2), \\quad e_{ij} \\sim N(0, \\tau_2^2), \\quad
    \\varepsilon_{ij} \\sim N(0, v_{ij}),

with :math:`\\tau_1` the between-study and :math:`\\tau_2` the within-study (estimate-level)
heterogeneity (Konstantopoulos 2011, *Res Synth Methods* 2:61; Cheung 2014, *Psychol Methods*
19:211); this is metafor's ``rma.mv(yi, vi, mods, random = ~ 1 | study/estimate)``.
Marginally :math:`y_i \\sim N(X_i\\beta, V_i)` with
:math:`V_i = D_i + \\tau_1^2 \\mathbf{1}\\mathbf{1}^\\top`, :math:`D_i = \\mathrm{diag}(v_{ij} + \\tau_2^2)`.
By the Sherman–Morrison formula, with :math:`d_{ij} = v_{ij} + \\tau_2^2` and
:math:`c_i = 1 + \\tau_1^2 \\sum_j 1/d_{ij}`,

.. math::

    a^\\top V_i^{-1} b = \\sum_j \\frac{a_j b_j}{d_{ij}}
        - \\frac{\\tau_1^2}{c_i} \\Big(\\sum_j \\frac{a_j}{d_{ij}}\\Big)\\Big(\\sum_j \\frac{b_j}{d_{ij}}\\Big),
    \\qquad \\log|V_i| = \\sum_j \\log d_{ij} + \\log c_i,

so every quadratic form costs :math:`O(n)` and is vectorised over many :math:`(\\tau_1, \\tau_2)`
pairs at once (the quadrature grids of :mod:`vfsynth.fits.three_level_exact`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vfsynth.data.errors import VfsynthError

__all__ = ["ThreeLevelData", "ThreeLevelError", "gls_pieces", "three_level_data"]

_LOG2PI = math.log(2.0 * math.pi)


class ThreeLevelError(VfsynthError, ValueError):
    """Three-level data that cannot be analysed (non-finite values, a rank-deficient design)."""


@dataclass(frozen=True)
class ThreeLevelData:
    """Estimates grouped by study.

    Attributes
    ----------
    y, v : ndarray, shape (n,)
        Estimates and their sampling variances.
    cluster : ndarray of int, shape (n,)
        Study index 0..m-1 of each estimate.
    labels : tuple of str
        Study labels (length m).
    X : ndarray, shape (n, p)
        Design matrix (first column the intercept).
    names : tuple of str
        Coefficient names (``"intercept"`` and the moderators).
    """

    y: np.ndarray
    v: np.ndarray
    cluster: np.ndarray
    labels: tuple[str, ...]
    X: np.ndarray
    names: tuple[str, ...]

    @property
    def n(self) -> int:
        return len(self.y)

    @property
    def m(self) -> int:
        return len(self.labels)

    @property
    def p(self) -> int:
        return self.X.shape[1]


def three_level_data(y, v, cluster: Sequence, moderators: dict[str, Sequence[float]] | None = None) -> ThreeLevelData:
    """Validate and group three-level data.

    Parameters
    ----------
    y, v : array_like
        Estimates and sampling variances (v > 0).
    cluster : sequence
        Study of each estimate (any hashable labels; order of first appearance kept).
    moderators : dict of name -> sequence of float, optional
        Estimate-level or study-level moderators (columns of X after the intercept).
    """
    y = np.asarray(y, float)
    v = np.asarray(v, float)
    cl = [str(c) for c in cluster]
    if y.ndim != 1 or y.shape != v.shape or len(cl) != len(y) or len(y) == 0:
        raise ThreeLevelError(f"three-level data: y, v and cluster must have one entry per estimate "
                              f"(got {y.shape}, {v.shape}, {len(cl)})")
    bad = np.flatnonzero(~(np.isfinite(y) & np.isfinite(v) & (v > 0)))
    if len(bad):
        i = int(bad[0])
        raise ThreeLevelError(f"three-level data: estimate {i + 1} (study {cl[i]}): y must be finite and v > 0, "
                              f"got y = {y[i]}, v = {v[i]}")
    labels = tuple(dict.fromkeys(cl))
    index = {c: i for i, c in enumerate(labels)}
    cols, names = [np.ones(len(y))], ["intercept"]
    for name, col in (moderators or {}).items():
        x = np.asarray(col, float)
        if x.shape != y.shape or not np.all(np.isfinite(x)):
            raise ThreeLevelError(f"three-level data: moderator {name!r} must be finite, one value per estimate")
        cols.append(x)
        names.append(str(name))
    X = np.column_stack(cols)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ThreeLevelError(f"three-level data: the design (intercept + {', '.join(names[1:])}) is rank deficient")
    return ThreeLevelData(y, v, np.array([index[c] for c in cl]), labels, X, tuple(names))


def gls_pieces(data: ThreeLevelData, tau1_sq, tau2_sq, offset=None):
    """Per :math:`(\\tau_1^2, \\tau_2^2)` pair: :math:`\\log|V|`, :math:`X^\\top V^{-1}X`,
    :math:`X^\\top V^{-1}r` and :math:`r^\\top V^{-1}r` for :math:`r = y - \\text{offset}`.

    ``tau1_sq`` and ``tau2_sq`` broadcast to shape (G,); results have shapes (G,), (G, p, p),
    (G, p), (G,).
    """
    t1, t2 = np.broadcast_arrays(np.atleast_1d(np.asarray(tau1_sq, float)),
                                 np.atleast_1d(np.asarray(tau2_sq, float)))
    r = data.y if offset is None else data.y - offset
    X = data.X
    m = data.m
    inv_d = 1.0 / (data.v[None, :] + t2[:, None])  # (G, n)
    onehot = np.zeros((data.n, m))
    onehot[np.arange(data.n), data.cluster] = 1.0

    def per_cluster(a):  # sum over estimates within each study: (G, n) -> (G, m)
        return a @ onehot

    s1 = per_cluster(inv_d)  # sum_j 1/d
    c = 1.0 + t1[:, None] * s1
    logdet = -np.log(inv_d).sum(1) + np.log(c).sum(1)
    g = t1[:, None] / c  # (G, m)
    sx = np.stack([per_cluster(inv_d * X[None, :, k]) for k in range(data.p)], axis=-1)  # (G, m, p)
    sr = per_cluster(inv_d * r[None, :])  # (G, m)
    xtx = np.einsum("gn,na,nb->gab", inv_d, X, X) - np.einsum("gm,gma,gmb->gab", g, sx, sx)
    xtr = np.einsum("gn,na,n->ga", inv_d, X, r) - np.einsum("gm,gma,gm->ga", g, sx, sr)
    rtr = (inv_d * r[None, :] ** 2).sum(1) - (g * sr**2).sum(1)
    return logdet, xtx, xtr, rtr


def loglik_beta_fixed(data: ThreeLevelData, tau1_sq, tau2_sq, beta) -> np.ndarray:
    """:math:`\\log N(y; X\\beta, V)` for fixed coefficients (e.g. :math:`\\beta = 0`), per pair."""
    logdet, _, _, rtr = gls_pieces(data, tau1_sq, tau2_sq, offset=data.X @ np.asarray(beta, float))
    return -0.5 * (data.n * _LOG2PI + logdet + rtr)
