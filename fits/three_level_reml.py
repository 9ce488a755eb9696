"""Frequentist three-level meta-analysis by (restricted) maximum likelihood.

The model is :mod:`vfsynth.models.three_level`'s (metafor's ``rma.mv(yi, vi, mods,
random = ~ 1 | study/estimate)``). For fixed :math:`\\theta = (\\tau_1^2, \\tau_2^2)` the
generalised least-squares estimate is :math:`\\hat\\beta = (X^\\top V^{-1}X)^{-1}X^\\top V^{-1}y`;
the profile log-likelihoods maximised over :math:`\\theta \\ge 0` are (Harville 1977, *JASA*
72:320; Viechtbauer 2010, *J Stat Softw* 36(3), metafor's definitions)

.. math::

    \\ell_{ML}(\\theta) = -\\tfrac12\\big[n\\log 2\\pi + \\log|V| + r^\\top V^{-1} r\\big],

    \\ell_{REML}(\\theta) = -\\tfrac12\\big[(n-p)\\log 2\\pi - \\log|X^\\top X| + \\log|V|
        + \\log|X^\\top V^{-1}X| + r^\\top V^{-1} r\\big],

with :math:`r = y - X\\hat\\beta`. Standard errors: :math:`\\sqrt{\\mathrm{diag}(X^\\top V^{-1}X)^{-1}}`
at the estimate. The optimum is found by L-BFGS-B on :math:`(\\tau_1, \\tau_2) \\ge 0` started
from a coarse grid, then polished by Newton steps on the log scale when it is interior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from vfsynth.models.three_level import ThreeLevelData, gls_pieces

__all__ = ["ThreeLevelFit", "fit_three_level"]

_LOG2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class ThreeLevelFit:
    """Result of :func:`fit_three_level`.

    Attributes
    ----------
    method : str
        ``"REML"`` or ``"ML"``.
    beta, se : ndarray, shape (p,)
        Coefficients (``names``) and standard errors.
    sigma2 : ndarray, shape (2,)
        :math:`(\\tau_1^2, \\tau_2^2)`: between-study and within-study variance (metafor's ``sigma2``).
    loglik : float
        Maximised (restricted) log-likelihood, as metafor's ``logLik``.
    names : tuple of str
    """

    method: str
    beta: np.ndarray
    se: np.ndarray
    sigma2: np.ndarray
    loglik: float
    names: tuple[str, ...]

    def summary_frame(self):
        """One row per coefficient and variance component."""
        import pandas as pd

        rows = [{"term": n, "estimate": float(b), "se": float(s)} for n, b, s in zip(self.names, self.beta, self.se,
                                                                                     strict=True)]
        rows += [{"term": "tau1^2 (study)", "estimate": float(self.sigma2[0]), "se": math.nan},
                 {"term": "tau2^2 (estimate)", "estimate": float(self.sigma2[1]), "se": math.nan}]
        return pd.DataFrame(rows).set_index("term")


def _profile(data: ThreeLevelData, t1, t2, method: str):
    logdet, xtx, xtr, rtr = gls_pieces(data, t1, t2)
    beta = np.linalg.solve(xtx, xtr[..., None])[..., 0]
    quad = rtr - np.einsum("ga,ga->g", xtr, beta)  # r'V^-1 r at beta-hat
    if method == "ML":
        ll = -0.5 * (data.n * _LOG2PI + logdet + quad)
    else:
        _, ld_xtx = np.linalg.slogdet(xtx)
        _, ld_x = np.linalg.slogdet(data.X.T @ data.X)
        ll = -0.5 * ((data.n - data.p) * _LOG2PI - ld_x + logdet + ld_xtx + quad)
    return ll, beta, xtx


def fit_three_level(data: ThreeLevelData, method: str = "REML") -> ThreeLevelFit:
    """Fit the three-level model by REML (default) or ML (module docstring)."""
    if method not in ("REML", "ML"):
        raise ValueError(f"method must be 'REML' or 'ML', got {method!r}")
    scale = float(np.var(data.y) + np.mean(data.v))
    grid = np.sqrt(scale) * np.array([0.0, 0.05, 0.2, 0.5, 1.0, 2.0])
    g1, g2 = np.meshgrid(grid, grid, indexing="ij")
    ll0, _, _ = _profile(data, g1.ravel() ** 2, g2.ravel() ** 2, method)
    start = np.array([g1.ravel()[np.argmax(ll0)], g2.ravel()[np.argmax(ll0)]])

    def nll(t):
        return -float(_profile(data, t[0] ** 2, t[1] ** 2, method)[0][0])

    res = optimize.minimize(nll, start, method="L-BFGS-B", bounds=[(0.0, None), (0.0, None)],
                            options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000})
    t = np.abs(res.x)
    if np.all(t > 1e-6 * math.sqrt(scale)):
        # Newton polish in log tau^2: the quasi-Newton stop leaves ~1e-6 relative error
        def f(z):
            return -float(_profile(data, math.exp(z[0]), math.exp(z[1]), method)[0][0])

        z = np.log(t**2)
        for _ in range(20):
            h = 1e-4
            e = np.eye(2) * h
            grad = np.array([(f(z + e[i]) - f(z - e[i])) / (2 * h) for i in range(2)])
            hess = np.array([[(f(z + e[i] + e[j]) - f(z + e[i] - e[j]) - f(z - e[i] + e[j]) + f(z - e[i] - e[j]))
                              / (4 * h * h) for j in range(2)] for i in range(2)])
            try:
                step = np.linalg.solve(hess, grad)
            except np.linalg.LinAlgError:
                break
            if not np.all(np.linalg.eigvalsh(hess) > 0):
                break
            z_new = z - step
            if f(z_new) > f(z) + 1e-12:
                break
            z = z_new
            if np.max(np.abs(step)) < 1e-10:
                break
        t = np.sqrt(np.exp(z))
    ll, beta, xtx = _profile(data, t[0] ** 2, t[1] ** 2, method)
    se = np.sqrt(np.diag(np.linalg.inv(xtx[0])))
    return ThreeLevelFit(method, beta[0], se, t**2, float(ll[0]), data.names)
