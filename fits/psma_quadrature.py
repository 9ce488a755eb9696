"""Marginal likelihoods and posteriors of the PSMA models by adaptive Gauss–Hermite quadrature.

With the study effects integrated out (:mod:`vfsynth.models.psma`) a model has 1–5 parameters:
:math:`\\mu`, :math:`\\tau`, the :math:`J-1` free coordinates of the weights or a PET/PEESE
slope. They are mapped to an unconstrained vector :math:`\\theta`:

* :math:`\\tau = e^{t}` and :math:`b = e^{u}` (Jacobians :math:`\\tau`, :math:`b`);
* :math:`e = \\mathrm{softmax}(x_1, \\dots, x_{J-1}, 0)` (the additive log-ratio inverse), whose
  Jacobian is :math:`\\prod_{j=1}^J e_j`, so the uniform Dirichlet becomes
  :math:`\\log p(x) = \\log (J-1)! + \\sum_j \\log e_j`; :math:`\\omega_j = \\sum_{l \\ge j} e_l`.

The marginal likelihood :math:`Z = \\int p(y \\mid \\theta) p(\\theta)\\, d\\theta` is then found by
*adaptive* Gauss–Hermite quadrature (Naylor & Smith 1982, *Appl Stat* 31:214; Liu & Pierce 1994,
*Biometrika* 81:624): with the posterior mode :math:`\\hat\\theta`, the inverse Hessian
:math:`\\Sigma` of :math:`-\\log p(\\theta \\mid y)` there and its symmetric square root
:math:`\\Sigma^{1/2}`,

.. math::

    Z = |\\Sigma^{1/2}| \\int g(\\hat\\theta + \\Sigma^{1/2} Q z)\\, e^{\\|z\\|^2/2}\\, \\phi(z)\\, dz
      \\approx |\\Sigma^{1/2}| \\sum_{\\text{nodes}} w_z\\, g(\\theta_z)\\, e^{\\|z\\|^2/2},

a product rule of :math:`n` nodes per dimension, :math:`g` the unnormalised posterior. It is
exact when :math:`g` is Gaussian times a polynomial of degree :math:`< 2n` in :math:`z`, for any
fixed rotation :math:`Q` (a rotation preserves total degree): :math:`Q` is a fixed irrational
plane rotation so that the nodes take :math:`n^d` distinct values of every parameter, which
makes the weighted empirical CDF of :math:`\\mu` and :math:`\\tau` fine-grained. The error
estimate is the difference of :math:`\\log Z` between two orders :math:`n_{lo} < n_{hi}`
(reported per model; the finer value is used).

Posterior summaries of a model (mean, SD, CDF of :math:`\\mu`, :math:`\\tau` and the bias
parameters) are weighted sums over the finer rule's nodes: :class:`GridPosterior`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import interpolate, optimize, special

from vfsynth.models.priors import Prior
from vfsynth.models.psma import PEESE_SCALE, PET_SCALE, PsmaModel, log_half_cauchy, psma_loglik
from vfsynth.models.spec import array_ops

__all__ = ["GridPosterior", "QuadratureResult", "log_posterior_fn", "psma_quadrature"]

#: Gauss–Hermite orders (n_lo, n_hi) per number of parameters: n_hi^d <= ~2e5 nodes.
ORDERS = {1: (60, 90), 2: (40, 60), 3: (20, 30), 4: (12, 18), 5: (8, 11)}
_NP = array_ops("numpy")


@dataclass(frozen=True)
class Transform:
    """Maps unconstrained theta (..., d) to the model's parameters; names in theta order."""

    model: PsmaModel
    names: tuple[str, ...]

    @classmethod
    def of(cls, model: PsmaModel) -> Transform:
        names = (("mu",) if model.effect else ()) + (("log_tau",) if model.heterogeneity else ())
        if model.kind == "weightfunction":
            names += tuple(f"x{j}" for j in range(1, model.n_weights))
        elif model.kind in ("pet", "peese"):
            names += ("log_b",)
        return cls(model, names)

    @property
    def d(self) -> int:
        return len(self.names)

    def params(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Parameters at theta, shape (N,) each (omega (N, J)), and log Jacobian of the map."""
        theta = np.atleast_2d(theta)
        n = theta.shape[0]
        col = {nm: theta[:, i] for i, nm in enumerate(self.names)}
        out = {"mu": col.get("mu", np.zeros(n)), "tau": np.exp(col["log_tau"]) if "log_tau" in col else np.zeros(n),
               "log_jac": col.get("log_tau", np.zeros(n)).copy()}
        if self.model.kind == "weightfunction":
            x = np.column_stack([theta[:, [self.names.index(f"x{j}") for j in range(1, self.model.n_weights)]],
                                 np.zeros(n)])
            log_e = x - special.logsumexp(x, axis=1, keepdims=True)
            e = np.exp(log_e)
            out["omega"] = np.cumsum(e[:, ::-1], axis=1)[:, ::-1]
            out["log_jac"] = out["log_jac"] + log_e.sum(axis=1) + math.lgamma(self.model.n_weights)
        elif self.model.kind in ("pet", "peese"):
            out["b"] = np.exp(col["log_b"])
            out["log_jac"] = out["log_jac"] + col["log_b"]
        return out


def log_posterior_fn(model: PsmaModel, y, se, tau_prior: Prior, mu_prior: Prior):
    """theta (N, d) -> unnormalised log posterior in theta (likelihood x prior x Jacobian), and its Transform."""
    tr = Transform.of(model)
    y = np.asarray(y, float)
    se = np.asarray(se, float)
    scale = PET_SCALE if model.kind == "pet" else PEESE_SCALE

    def logpost(theta: np.ndarray) -> np.ndarray:
        p = tr.params(theta)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ll = psma_loglik(_NP, model, y, se, p["mu"][:, None], p["tau"][:, None],
                             p["omega"][:, None, :] if "omega" in p else None,
                             p["b"][:, None] if "b" in p else None).sum(axis=-1)
            lp = ll + p["log_jac"]
            if model.effect:
                lp = lp + mu_prior.logpdf(p["mu"])
            if model.heterogeneity:
                lp = lp + tau_prior.logpdf(p["tau"])
            if "b" in p:
                lp = lp + log_half_cauchy(p["b"], scale)
        return np.where(np.isfinite(lp), lp, -np.inf)

    return logpost, tr


def _start(tr: Transform, y, se) -> np.ndarray:
    w = 1.0 / np.asarray(se, float) ** 2
    guess = {"mu": float(np.sum(w * y) / np.sum(w)), "log_tau": math.log(0.1), "log_b": math.log(0.5)}
    return np.array([guess.get(nm, 0.0) for nm in tr.names])


def _hessian(f, x: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Central-difference Hessian of a vectorised scalar function (one batched call)."""
    d = x.size
    E = np.eye(d) * h
    pts = [x]
    for i in range(d):
        for j in range(i, d):
            pts += [x + E[i] + E[j], x + E[i] - E[j], x - E[i] + E[j], x - E[i] - E[j]]
    v = f(np.array(pts))
    H = np.empty((d, d))
    k = 1
    for i in range(d):
        for j in range(i, d):
            H[i, j] = H[j, i] = (v[k] - v[k + 1] - v[k + 2] + v[k + 3]) / (4 * h * h)
            k += 4
    return H


def _rotation(d: int) -> np.ndarray:
    """A fixed rotation with no axis-aligned columns (Givens rotations by irrational angles)."""
    Q = np.eye(d)
    for i in range(d):
        for j in range(i + 1, d):
            a = math.pi * (math.sqrt(2.0) - 1.0) * (1 + i + 2 * j)
            G = np.eye(d)
            G[[i, i, j, j], [i, j, i, j]] = [math.cos(a), -math.sin(a), math.sin(a), math.cos(a)]
            Q = Q @ G
    return Q


def _ghq_log_z(logpost, mode, root, log_det_root, n: int, chunk: int = 50_000):
    """log Z by the rotated product Gauss–Hermite rule of order n; also nodes and log weights."""
    d = mode.size
    z1, w1 = special.roots_hermitenorm(n)  # weight exp(-z^2/2)
    lw1 = np.log(w1)  # int f(z) exp(-|z|^2/2) dz ~ sum w f: so g = (g e^{|z|^2/2}) e^{-|z|^2/2}
    grids = np.meshgrid(*([z1] * d), indexing="ij")
    Z = np.column_stack([g.ravel() for g in grids])
    LW = sum(np.meshgrid(*([lw1] * d), indexing="ij")).ravel()
    theta = mode + Z @ root.T
    lp = np.concatenate([logpost(theta[i:i + chunk]) for i in range(0, len(theta), chunk)])
    lterm = LW + 0.5 * np.sum(Z * Z, axis=1) + lp
    log_z = float(special.logsumexp(lterm) + log_det_root)
    return log_z, theta, lterm


def _marginal_cdf(logpost, mode, cov, i: int, n_grid: int = 121, width: float = 10.0, max_nodes: int = 60_000):
    r"""Marginal posterior CDF of coordinate ``i`` on a uniform grid (``mode_i +- width`` SD).

    At each grid value the other coordinates are integrated by Gauss–Hermite quadrature
    centred on the Laplace conditional :math:`\theta_{-i} \mid \theta_i` (the Gaussian with the
    mode and covariance ``cov``); the density is then integrated by the trapezoidal rule,
    which converges geometrically for smooth, decaying integrands (Trefethen & Weideman 2014,
    *SIAM Rev* 56:385). Mass beyond the window is neglected (the CDF is normalised on it).
    Returns (grid, CDF at the grid).
    """
    d = mode.size
    sd_i = math.sqrt(cov[i, i])
    grid = mode[i] + np.linspace(-width, width, n_grid) * sd_i
    rest = [j for j in range(d) if j != i]
    if rest:
        S_ri = cov[rest, i]
        cond_cov = cov[np.ix_(rest, rest)] - np.outer(S_ri, S_ri) / cov[i, i]
        ev, V = np.linalg.eigh(0.5 * (cond_cov + cond_cov.T))
        ev = np.clip(ev, 1e-12, None)
        root = (V * np.sqrt(ev)) @ V.T
        n = min(40, max(3, int((max_nodes / n_grid) ** (1.0 / len(rest)))))
        z1, w1 = special.roots_hermitenorm(n)
        Z = np.column_stack([g.ravel() for g in np.meshgrid(*([z1] * len(rest)), indexing="ij")])
        LW = sum(np.meshgrid(*([np.log(w1)] * len(rest)), indexing="ij")).ravel() + 0.5 * np.sum(Z * Z, axis=1)
        centre = mode[rest][None, :] + np.outer(grid - mode[i], S_ri / cov[i, i])  # (n_grid, d-1)
        theta = np.empty((n_grid, Z.shape[0], d))
        theta[:, :, i] = grid[:, None]
        theta[:, :, rest] = centre[:, None, :] + (Z @ root.T)[None, :, :]
        lp = logpost(theta.reshape(-1, d)).reshape(n_grid, -1)
        logf = special.logsumexp(lp + LW[None, :], axis=1)
    else:
        logf = logpost(grid[:, None])
    f = np.exp(logf - np.max(logf))
    anti = interpolate.CubicSpline(grid, f).antiderivative()
    fine = np.linspace(grid[0], grid[-1], 8 * (n_grid - 1) + 1)
    F = np.maximum.accumulate(np.clip(anti(fine) - anti(grid[0]), 0.0, None))
    return fine, F / F[-1]


@dataclass(frozen=True)
class GridPosterior:
    """Posterior of one model from quadrature (the interface of ``ExactPosterior`` that
    :class:`~vfsynth.fits.averaging.AveragedPosterior` uses: ``mu_mean``, ``mu_sd``, ``mu_cdf``,
    ``prob_mu_greater``, ``tau_mean``, ``tau_sd``, ``tau_cdf``).

    Means and SDs are weighted sums over the Gauss–Hermite nodes (``values``, ``weights``); the
    CDFs of mu and tau come from their marginal densities on a fine grid (``cdf_grids``:
    name -> (grid of mu / log tau, CDF)), interpolated linearly.
    """

    values: dict[str, np.ndarray]
    weights: np.ndarray
    cdf_grids: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def mean(self, name: str) -> float:
        return float(self.weights @ self.values[name])

    def sd(self, name: str) -> float:
        m = self.mean(name)
        return float(math.sqrt(max(self.weights @ (self.values[name] - m) ** 2, 0.0)))

    def cdf(self, name: str, x) -> np.ndarray:
        """Posterior CDF of a parameter (grid-based for mu and tau, else the nodes' weighted ECDF)."""
        x = np.atleast_1d(np.asarray(x, float))
        if name in self.cdf_grids:
            g, F = self.cdf_grids[name]
            if name == "tau":  # the grid is in log tau; tau <= 0 has CDF 0
                with np.errstate(divide="ignore", invalid="ignore"):
                    x = np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), -np.inf)
            return np.interp(x, g, F, left=0.0, right=1.0)
        if name not in self._cache:
            v = self.values[name]
            o = np.argsort(v, kind="stable")
            cw = np.cumsum(self.weights[o])
            self._cache[name] = (v[o], cw - 0.5 * self.weights[o])
        xs, fs = self._cache[name]
        return np.interp(x, xs, fs, left=0.0, right=1.0)

    @property
    def mu_mean(self) -> float:
        return self.mean("mu")

    @property
    def mu_sd(self) -> float:
        return self.sd("mu")

    def mu_cdf(self, x) -> np.ndarray:
        return self.cdf("mu", x)

    def prob_mu_greater(self, x: float = 0.0) -> float:
        return float(1.0 - self.mu_cdf(x)[0])

    @property
    def tau_mean(self) -> float:
        return self.mean("tau")

    @property
    def tau_sd(self) -> float:
        return self.sd("tau")

    def tau_cdf(self, t) -> np.ndarray:
        return self.cdf("tau", t)


@dataclass(frozen=True)
class QuadratureResult:
    """log marginal likelihood of one model with its error estimate, and the model's posterior.

    ``log_ml_error`` = :math:`|\\log Z_{n_{hi}} - \\log Z_{n_{lo}}|`; ``mode`` / ``cov`` are the
    Laplace centre and scale in the unconstrained coordinates ``names``.
    """

    model: PsmaModel
    log_ml: float
    log_ml_error: float
    log_ml_lo: float
    orders: tuple[int, int]
    names: tuple[str, ...]
    mode: np.ndarray
    cov: np.ndarray
    posterior: GridPosterior | None


def psma_quadrature(model: PsmaModel, y, se, tau_prior: Prior, mu_prior: Prior,
                    orders: tuple[int, int] | None = None) -> QuadratureResult:
    """Marginal likelihood (and grid posterior) of one PSMA model by adaptive Gauss–Hermite quadrature.

    Parameters
    ----------
    model : PsmaModel
    y, se : array_like
        Benefit-scale estimates and standard errors.
    tau_prior, mu_prior : Prior
        Priors of tau (heterogeneity models) and mu (effect models; proper).
    orders : (int, int), optional
        Gauss–Hermite orders (coarse, fine); default :data:`ORDERS` by dimension.

    Returns
    -------
    QuadratureResult
    """
    y = np.asarray(y, float)
    se = np.asarray(se, float)
    logpost, tr = log_posterior_fn(model, y, se, tau_prior, mu_prior)
    d = tr.d
    if d == 0:
        ll = float(psma_loglik(_NP, model, y, se, np.zeros(1), np.zeros(1)).sum())
        return QuadratureResult(model, ll, 0.0, ll, (0, 0), (), np.zeros(0), np.zeros((0, 0)), None)

    def nlp(t):
        v = -logpost(np.atleast_2d(t))[0]
        return v if np.isfinite(v) else 1e300

    x0 = _start(tr, y, se)
    best = optimize.minimize(nlp, x0, method="BFGS")
    res2 = optimize.minimize(nlp, best.x, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10,
                                                                         "maxiter": 4000})
    mode = res2.x if res2.fun < best.fun else best.x
    H = -_hessian(logpost, mode)
    evals, evecs = np.linalg.eigh(0.5 * (H + H.T))
    evals = np.clip(evals, 1e-6, None)  # a flat or non-convex direction: keep a finite width
    cov = (evecs / evals) @ evecs.T
    root = (evecs / np.sqrt(evals)) @ evecs.T @ _rotation(d)
    log_det_root = -0.5 * float(np.sum(np.log(evals)))
    n_lo, n_hi = orders or ORDERS[d]
    lz_lo, _, _ = _ghq_log_z(logpost, mode, root, log_det_root, n_lo)
    lz_hi, theta, lterm = _ghq_log_z(logpost, mode, root, log_det_root, n_hi)
    w = np.exp(lterm - special.logsumexp(lterm))
    p = tr.params(theta)
    values = {"mu": p["mu"], "tau": p["tau"]}
    if "b" in p:
        values["b"] = p["b"]
    if "omega" in p:
        for j in range(1, p["omega"].shape[1]):
            values[f"omega{j + 1}"] = p["omega"][:, j]
    grids = {nm: _marginal_cdf(logpost, mode, cov, tr.names.index(key))
             for nm, key in (("mu", "mu"), ("tau", "log_tau")) if key in tr.names}
    return QuadratureResult(model, lz_hi, abs(lz_hi - lz_lo), lz_lo, (n_lo, n_hi), tr.names, mode, cov,
                            GridPosterior(values, w, grids))
