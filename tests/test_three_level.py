"""Three-level model (several estimates per study): REML / ML equal metafor ``rma.mv(yi, vi, mods,
random = ~ 1 | study/estimate)`` to 1e-6 (pinned by tests/reference/three_level_metafor.R on
metadat's dat.konstantopoulos2011 and dat.assink2016); the Sherman–Morrison algebra against the
dense covariance matrix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from vfsynth.fits.three_level_reml import fit_three_level
from vfsynth.models.three_level import ThreeLevelError, loglik_beta_fixed, three_level_data

REF = {r["label"]: r for r in json.loads((Path(__file__).parent / "reference" / "three_level_metafor.json").read_text())}


def _data(r):
    mods = None
    if r.get("moderator_names"):
        names = r["moderator_names"] if isinstance(r["moderator_names"], list) else [r["moderator_names"]]
        mods = dict(zip(names, r["moderators"], strict=True))
    return three_level_data(r["yi"], r["vi"], r["cluster"], mods)


@pytest.mark.parametrize("label", ["konstantopoulos2011", "assink2016_year"])
def test_reml_equals_metafor(label):
    r = REF[label]
    f = fit_three_level(_data(r))
    np.testing.assert_allclose(f.sigma2, r["sigma2"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(f.beta, np.atleast_1d(r["beta"]), rtol=0, atol=1e-6)
    np.testing.assert_allclose(f.se, np.atleast_1d(r["se"]), rtol=0, atol=1e-6)
    assert f.loglik == pytest.approx(r["logLik_reml"], abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("label", list(REF))
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_all_references(label, method):
    r = REF[label]
    f = fit_three_level(_data(r), method)
    s2, beta, ll = (r["sigma2"], r["beta"], r["logLik_reml"]) if method == "REML" else \
        (r["sigma2_ml"], r["beta_ml"], r["logLik_ml"])
    np.testing.assert_allclose(f.sigma2, s2, rtol=0, atol=1e-6)
    # year-moderator intercepts are ~ -10 (years ~ 1980): 1e-6 relative there
    np.testing.assert_allclose(f.beta, np.atleast_1d(beta), rtol=1e-6, atol=1e-6)
    assert f.loglik == pytest.approx(ll, abs=1e-6)


def test_sherman_morrison_equals_dense_covariance():
    r = REF["assink2016"]
    d = _data(r)
    t1, t2, beta = 0.19, 0.11, np.array([0.4])
    same = (d.cluster[:, None] == d.cluster[None, :]).astype(float)
    cov = np.diag(d.v + t2) + t1 * same
    dense = stats.multivariate_normal(d.X @ beta, cov).logpdf(d.y)
    assert float(loglik_beta_fixed(d, t1, t2, beta)[0]) == pytest.approx(dense, abs=1e-9)


def test_bad_three_level_input_names_the_estimate():
    with pytest.raises(ThreeLevelError, match=r"estimate 2 \(study b\)"):
        three_level_data([0.1, 0.2], [0.01, -1.0], ["a", "b"])
    with pytest.raises(ThreeLevelError, match="rank deficient"):
        three_level_data([0.1, 0.2, 0.3], [0.01, 0.01, 0.01], ["a", "a", "b"], {"x": [1.0, 1.0, 1.0]})


# ------------------------------------------------------------------ Bayesian, exact quadrature
_Y7 = np.array([0.3, 0.5, 0.1, 0.6, 0.2, -0.1, 0.4])
_V7 = np.array([0.04, 0.05, 0.03, 0.06, 0.02, 0.05, 0.04])
_C7 = ["a", "a", "b", "b", "b", "c", "c"]


_X7 = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0])  # an estimate-level moderator


def _dense_log_ml(tau1_on: bool, tau2_on: bool, mu_sd: float, n: int = 120, slope_sd: float = 0.0) -> float:
    """log p(y | M) by tensor Gauss–Legendre over (tau1, tau2) in [0, 3]^2 (half-normal(0.5) priors)
    of the dense marginal density N(y; 0, V + mu_sd^2 11' + slope_sd^2 x x'): the coefficients
    integrated by Gaussian marginalisation, no Sherman–Morrison."""
    x, w = np.polynomial.legendre.leggauss(n)
    t, wt = 1.5 * (x + 1.0), 1.5 * w
    pt = 2.0 * stats.norm.pdf(t, 0.0, 0.5)
    g1 = (t, wt * pt) if tau1_on else (np.zeros(1), np.ones(1))
    g2 = (t, wt * pt) if tau2_on else (np.zeros(1), np.ones(1))
    T1, T2 = np.meshgrid(g1[0], g2[0], indexing="ij")
    W = np.outer(g1[1], g2[1]).ravel()
    same = np.equal.outer(_C7, _C7).astype(float)
    cov = (np.diag(_V7)[None] + T2.ravel()[:, None, None] ** 2 * np.eye(7)[None] + T1.ravel()[:, None, None] ** 2
           * same[None] + mu_sd**2 + slope_sd**2 * np.outer(_X7, _X7)[None])
    _, logdet = np.linalg.slogdet(cov)
    quad = np.einsum("i,gij,j->g", _Y7, np.linalg.inv(cov), _Y7)
    logpdf = -0.5 * (7 * np.log(2 * np.pi) + logdet + quad)
    return float(np.log(np.sum(W * np.exp(logpdf - logpdf.max()))) + logpdf.max())


@pytest.mark.parametrize(("tau1_on", "tau2_on", "effect"), [(True, True, True), (True, True, False),
                                                             (True, False, True), (False, True, False)])
def test_three_level_marginal_likelihood_equals_dense_integration(tau1_on, tau2_on, effect):
    from vfsynth.fits.three_level_exact import three_level_exact
    from vfsynth.models.priors import parse_prior

    tp = parse_prior("half-normal:0.5", target="tau")
    mp = parse_prior("normal:0,1", target="mu")
    d = three_level_data(_Y7, _V7, _C7)
    got = three_level_exact(d, tp if tau1_on else None, tp if tau2_on else None, mp if effect else None)
    # 1e-6: the quadrature's documented accuracy (trapezoid ends, O(1e-8) flat region below tau_lo)
    assert got.log_marginal_likelihood == pytest.approx(_dense_log_ml(tau1_on, tau2_on, 1.0 if effect else 0.0),
                                                        abs=1e-6)


@pytest.mark.parametrize("effect", [True, False])
def test_three_level_with_moderator_equals_dense_integration(effect):
    from vfsynth.fits.three_level_exact import three_level_exact
    from vfsynth.models.priors import parse_prior

    tp = parse_prior("half-normal:0.5", target="tau")
    d = three_level_data(_Y7, _V7, _C7, {"x": _X7})
    got = three_level_exact(d, tp, tp, parse_prior("normal:0,1", target="mu") if effect else None, slope_sd=0.5)
    assert got.log_marginal_likelihood == pytest.approx(_dense_log_ml(True, True, 1.0 if effect else 0.0,
                                                                      slope_sd=0.5), abs=1e-6)


def test_three_level_ensemble_on_konstantopoulos():
    from vfsynth.fits.three_level_exact import average_three_level
    from vfsynth.models.priors import parse_prior

    r = REF["konstantopoulos2011"]
    tp = parse_prior("half-normal:0.5", target="tau")
    res = average_three_level(_data(r), tp, tp, parse_prior("normal:0,1", target="mu"))
    assert len(res.members) == 8
    assert res.post_prob.sum() == pytest.approx(1.0)
    inc = res.inclusion()
    assert set(inc) == {"effect", "heterogeneity", "within"}
    # both variance components are far from 0 in REML (0.065, 0.033 with 56 estimates): decisive BFs
    assert inc["heterogeneity"]["bf"] > 100 and inc["within"]["bf"] > 100
    # the averaged intercept given an effect sits near the REML estimate (0.185, se 0.085)
    assert abs(res.quantity("mu", conditional=True)["mean"] - r["beta"]) < 0.085
