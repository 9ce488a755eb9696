"""Three-level meta-regression: REML / ML equal metafor ``rma.mv(yi, vi, mods = ~ x, random = ~ 1 |
study/obs)`` to 1e-6 on metadat's dat.bornmann2007 (pinned by tests/reference/three_level_mods_metafor.R,
a dataset no other test uses), and the exact Bayesian coefficients against dense brute-force
integration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vfsynth.fits.three_level_reml import fit_three_level
from vfsynth.models.three_level import three_level_data

REF = {r["label"]: r for r in
       json.loads((Path(__file__).parent / "reference" / "three_level_mods_metafor.json").read_text())}


def _data(r):
    names = r["moderator_names"]
    names = [names] if isinstance(names, str) else names
    return three_level_data(r["yi"], r["vi"], r["cluster"], dict(zip(names, r["moderators"], strict=True)) or None)


def _check(f, beta, se, sigma2, loglik):
    np.testing.assert_allclose(f.sigma2, sigma2, rtol=0, atol=1e-6)
    np.testing.assert_allclose(f.beta, np.atleast_1d(beta), rtol=0, atol=1e-6)
    np.testing.assert_allclose(f.se, np.atleast_1d(se), rtol=0, atol=1e-6)
    assert f.loglik == pytest.approx(loglik, abs=1e-6)


@pytest.mark.parametrize("label", ["bornmann2007_year_type", "bornmann2007_type"])
def test_meta_regression_reml_equals_metafor(label):
    r = REF[label]
    f = fit_three_level(_data(r))
    assert f.names[1:] == tuple(np.atleast_1d(r["moderator_names"]))
    _check(f, r["beta"], r["se"], r["sigma2"], r["logLik_reml"])


@pytest.mark.slow
@pytest.mark.parametrize("label", list(REF))
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_meta_regression_all_references(label, method):
    r = REF[label]
    f = fit_three_level(_data(r), method)
    if method == "REML":
        _check(f, r["beta"], r["se"], r["sigma2"], r["logLik_reml"])
    else:
        _check(f, r["beta_ml"], r["se_ml"], r["sigma2_ml"], r["logLik_ml"])


# ------------------------------------------------------------------ Bayesian, exact quadrature
_Y = np.array([0.3, 0.5, 0.1, 0.6, 0.2, -0.1, 0.4, 0.25])
_V = np.array([0.04, 0.05, 0.03, 0.06, 0.02, 0.05, 0.04, 0.03])
_C = ["a", "a", "b", "b", "b", "c", "c", "d"]
_X = np.array([-1.0, 1.0, -0.5, 0.5, 1.5, -1.0, 1.0, 0.0])  # an estimate-level moderator


def _dense_coefficients(prior_sd: np.ndarray, n: int = 60):
    """Posterior mean, SD and P(> 0) of (intercept, slope) by brute force: tensor Gauss–Legendre
    over (tau1, tau2) in [0, 3]^2 (half-normal(0.5) priors); at each node the dense covariance
    V, the conjugate normal update of beta ~ N(0, diag(prior_sd^2)) and the weight
    N(y; 0, V + X V0 X') (no Sherman–Morrison, no log-scale trapezoid)."""
    from scipy import stats

    x, w = np.polynomial.legendre.leggauss(n)
    t, wt = 1.5 * (x + 1.0), 1.5 * w * 2.0 * stats.norm.pdf(1.5 * (x + 1.0), 0.0, 0.5)
    T1, T2 = (a.ravel() for a in np.meshgrid(t, t, indexing="ij"))
    W = np.outer(wt, wt).ravel()
    X = np.column_stack([np.ones(len(_Y)), _X])
    same = np.equal.outer(_C, _C).astype(float)
    cov = np.diag(_V)[None] + T2[:, None, None] ** 2 * np.eye(len(_Y))[None] + T1[:, None, None] ** 2 * same[None]
    V0 = np.diag(prior_sd**2)
    marg = cov + (X @ V0 @ X.T)[None]
    _, logdet = np.linalg.slogdet(marg)
    logpdf = -0.5 * (len(_Y) * np.log(2 * np.pi) + logdet + np.einsum("i,gij,j->g", _Y, np.linalg.inv(marg), _Y))
    lw = np.log(W) + logpdf
    wn = np.exp(lw - lw.max())
    wn /= wn.sum()
    Vi = np.linalg.inv(cov)
    P = np.einsum("ia,gij,jb->gab", X, Vi, X) + np.linalg.inv(V0)[None]
    S = np.linalg.inv(P)
    m = np.einsum("gab,ia,gij,j->gb", S, X, Vi, _Y)
    s = np.sqrt(np.diagonal(S, axis1=1, axis2=2))
    mean = wn @ m
    sd = np.sqrt(wn @ (s**2 + m**2) - mean**2)
    from scipy.special import ndtr

    return mean, sd, wn @ ndtr(m / s)


def test_three_level_coefficients_equal_dense_integration():
    from vfsynth.fits.three_level_exact import three_level_exact
    from vfsynth.models.priors import parse_prior

    tp = parse_prior("half-normal:0.5", target="tau")
    d = three_level_data(_Y, _V, _C, {"x": _X})
    got = three_level_exact(d, tp, tp, parse_prior("normal:0,1", target="mu"), slope_sd=0.5)
    mean, sd, p_pos = _dense_coefficients(np.array([1.0, 0.5]))
    m, s = got.coef_mean_sd()
    # 1e-6: the quadrature's accuracy (trapezoid in log tau, O(1e-8) flat region below tau_lo)
    np.testing.assert_allclose(m, mean, rtol=0, atol=1e-6)
    np.testing.assert_allclose(s, sd, rtol=0, atol=1e-6)
    np.testing.assert_allclose([1 - got.coef_cdf(j, 0.0)[0] for j in range(2)], p_pos, rtol=0, atol=1e-6)


def _dense_tau1_cdf(upper: float, n: int = 40) -> float:
    """P(tau1 <= upper | y) by brute force (dense covariances, Gauss–Legendre on [0, upper] and
    [upper, 3] for tau1, [0, 3] for tau2; beta ~ N(0, diag(1, 0.5^2)) integrated out)."""
    from scipy import stats

    x, w = np.polynomial.legendre.leggauss(n)

    def nodes(lo, hi):
        t = lo + (hi - lo) * (x + 1.0) / 2.0
        return t, (hi - lo) / 2.0 * w * 2.0 * stats.norm.pdf(t, 0.0, 0.5)

    X = np.column_stack([np.ones(len(_Y)), _X])
    same = np.equal.outer(_C, _C).astype(float)
    t2, w2 = nodes(0.0, 3.0)
    mass = []
    for lo, hi in ((0.0, upper), (upper, 3.0)):
        t1, w1 = nodes(lo, hi)
        T1, T2 = (a.ravel() for a in np.meshgrid(t1, t2, indexing="ij"))
        cov = (np.diag(_V)[None] + T2[:, None, None] ** 2 * np.eye(len(_Y))[None] + T1[:, None, None] ** 2 * same[None]
               + (X @ np.diag([1.0, 0.25]) @ X.T)[None])
        _, logdet = np.linalg.slogdet(cov)
        logpdf = -0.5 * (logdet + np.einsum("i,gij,j->g", _Y, np.linalg.inv(cov), _Y))
        mass.append(np.sum(np.outer(w1, w2).ravel() * np.exp(logpdf)))
    return float(mass[0] / sum(mass))


def test_single_fit_summary_tau_quantiles_against_dense_integration():
    from vfsynth.fits.three_level_averaging import posterior_summary
    from vfsynth.fits.three_level_exact import three_level_exact
    from vfsynth.models.priors import parse_prior

    tp = parse_prior("half-normal:0.5", target="tau")
    d = three_level_data(_Y, _V, _C, {"x": _X})
    s = posterior_summary(three_level_exact(d, tp, tp, parse_prior("normal:0,1", target="mu"), slope_sd=0.5))
    t = s["tau_study"]
    for q, value in ((0.025, t["low"]), (0.5, t["median"]), (0.975, t["high"])):
        # the CDF is interpolated linearly in log tau between nodes 0.1 apart: 1e-3 covers that
        assert _dense_tau1_cdf(value) == pytest.approx(q, abs=1e-3)
