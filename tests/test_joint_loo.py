"""Joint leave-one-study-out: the study's full marginal likelihood and PSIS against exact batched refits.

* fast: the marginal likelihood of every study of a small simulated review (normal rows with
  within-study correlation, a follow-up cell, 2x2 count rows) equals an independent brute-force
  integral: Monte Carlo over the study's latent effects drawn from N(m, C), the count rows'
  baseline integrated by Gauss–Legendre quadrature, within 4 Monte-Carlo standard errors;
* slow: PSIS leave-one-study-out (ratios from the full study likelihood) equals exact refits
  without the study (one vmapped NUTS program) within Monte-Carlo error, for all rows and for the
  compared outcome's rows.
"""

from __future__ import annotations

import numpy as np
import pytest
from joint_loo_cases import small_review
from scipy.special import expit, logsumexp
from scipy.stats import binom, multivariate_normal, norm

from vfsynth.models import joint as J
from vfsynth.models import joint_marginal as JM

PARAMS = {"mu": np.array([0.4, 0.2]), "tau": np.array([0.3, 0.25]), "corr": np.array([[1.0, 0.5], [0.5, 1.0]]),
          "d_mean": np.array([-0.05]), "tau_delta": np.array([0.15]), "rho_w": 0.3}


def _brute_force(jd: J.JointData, i: int, p: dict, n_mc: int, rng) -> tuple[float, float]:
    """log p(y_i | h) by Monte Carlo over the latent slots; the count baseline by Gauss–Legendre."""
    K = len(jd.constructs)
    sig = p["corr"] * np.outer(p["tau"], p["tau"])
    lam_post = rng.multivariate_normal(p["mu"], sig, size=n_mc)
    cc = jd.cell_construct
    dev = rng.normal(p["d_mean"], p["tau_delta"], size=(n_mc, len(cc)))
    lam = np.concatenate([lam_post, lam_post[:, cc] + dev], axis=1)
    assert lam.shape[1] == K + len(cc)
    logf = np.zeros(n_mc)
    rows = np.flatnonzero(jd.row_study == i)
    if rows.size:
        se = jd.se[rows]
        W = np.outer(se, se) * (0.3 + 0.7 * np.eye(rows.size))
        mean = lam[:, jd.row_slot[rows]] * jd.factor[rows]
        logf += multivariate_normal(np.zeros(rows.size), W).logpdf(jd.y[rows] - mean).reshape(n_mc)
    x, w = np.polynomial.legendre.leggauss(200)
    for r in np.flatnonzero(jd.crow_study == i):
        alpha = 12.0 * x
        la = np.log(12.0 * w) + norm.logpdf(alpha, 0.0, 10.0)
        eta = J.CHINN * lam[:, jd.crow_slot[r]][:, None]
        lt = binom.logpmf(jd.events_t[r], jd.n_t[r], expit(alpha[None, :] + eta / 2))
        lc = binom.logpmf(jd.events_c[r], jd.n_c[r], expit(alpha[None, :] - eta / 2))
        logf += logsumexp(lt + lc + la[None, :], axis=1)
    top = logf.max()
    f = np.exp(logf - top)
    return float(top + np.log(f.mean())), float(f.std() / np.sqrt(n_mc) / f.mean())


def test_marginal_matches_brute_force_integral():
    jd = small_review()
    assert jd.n_count_rows == 2 and jd.cells and np.bincount(jd.row_study).max() >= 3
    got = JM.study_loglik(np, JM.layout(jd, 10.0), PARAMS)
    rng = np.random.default_rng(11)
    for i in range(len(jd.studies)):
        ref, se = _brute_force(jd, i, PARAMS, 40_000, rng)
        assert abs(got[i] - ref) < 4 * se + 2e-3, (jd.studies[i], got[i], ref, se)


def test_marginal_broadcasts_over_draws_and_leaves_padding_out():
    jd = small_review()
    lay = JM.layout(jd, 10.0)
    draws = {k: np.broadcast_to(np.asarray(v), (3, 2) + np.shape(v)) for k, v in PARAMS.items()}
    many = JM.study_loglik(np, lay, draws)
    assert many.shape == (3, 2, len(jd.studies))
    np.testing.assert_allclose(many[1, 1], JM.study_loglik(np, lay, PARAMS), rtol=0, atol=1e-12)
    # a study with no rows at all contributes log 1 = 0
    from vfsynth.fits.joint_loo import subset

    none = subset(jd, np.zeros(jd.n_rows, bool), np.zeros(jd.n_count_rows, bool))
    assert np.all(JM.study_loglik(np, JM.layout(none, 10.0), PARAMS) == 0.0)


def _point_posterior(jd, p, S=64, seed=0):
    """A posterior of S draws a hair apart at the hyper-parameters ``p`` (the PSIS weights are then uniform)."""
    import xarray as xr

    rng = np.random.default_rng(seed)
    K = len(jd.constructs)
    jit = 1e-9 * rng.standard_normal((1, S, K))
    ii, jj = np.tril_indices(K, -1)
    ds = {"mu": (("chain", "draw", "construct"), p["mu"][None, None] + jit),
          "tau": (("chain", "draw", "construct"), np.broadcast_to(p["tau"], (1, S, K))),
          "corr_pairs": (("chain", "draw", "pair"), np.broadcast_to(p["corr"][ii, jj], (1, S, len(ii)))),
          "d_mean": (("chain", "draw", "cell"), np.broadcast_to(p["d_mean"], (1, S, 1))),
          "tau_delta": (("chain", "draw", "cell"), np.broadcast_to(p["tau_delta"], (1, S, 1)))}
    return xr.DataTree.from_dict({"posterior": xr.Dataset(ds)})


def test_loo_pit_is_the_textbook_conditional_normal_of_the_marginal():
    """At a point-mass posterior, LOO-PIT of a row of a study without count rows is Phi of the Schur-complement
    conditional of y_r given the study's other rows, in the MVN with covariance F C F' + W built here."""
    from vfsynth.fits.joint_loo import loo_pit_marginal

    jd = small_review()
    pit = loo_pit_marginal(_point_posterior(jd, PARAMS), jd, J.JointOptions())
    assert list(pit.columns) == ["row", "outcome", "timepoint", "observed", "loo_pit", "pareto_k", "reliable"]
    sig = PARAMS["corr"] * np.outer(PARAMS["tau"], PARAMS["tau"])
    cc = jd.cell_construct
    m = np.concatenate([PARAMS["mu"], PARAMS["mu"][cc] + PARAMS["d_mean"]])
    C = np.block([[sig, sig[:, cc]], [sig[cc, :], sig[np.ix_(cc, cc)] + np.diag(PARAMS["tau_delta"] ** 2)]])
    checked = 0
    for i in range(len(jd.studies)):
        if np.any(jd.crow_study == i):
            continue
        rows = np.flatnonzero(jd.row_study == i)
        f, s = jd.factor[rows], jd.se[rows]
        V = np.outer(f, f) * C[np.ix_(jd.row_slot[rows], jd.row_slot[rows])] + np.outer(s, s) * (0.3 + 0.7 * np.eye(len(rows)))
        mean = f * m[jd.row_slot[rows]]
        for j, r in enumerate(rows):
            o = np.delete(np.arange(len(rows)), j)
            w = np.linalg.solve(V[np.ix_(o, o)], V[o, j]) if o.size else np.zeros(0)
            mu_c = mean[j] + w @ (jd.y[rows[o]] - mean[o])
            sd_c = np.sqrt(V[j, j] - V[j, o] @ w)
            assert pit["loo_pit"].iloc[r] == pytest.approx(norm.cdf(jd.y[r], mu_c, sd_c), abs=1e-6)
            checked += 1
    assert checked >= 10


@pytest.mark.slow
def test_psis_loso_equals_exact_refits_within_monte_carlo_error():
    """PSIS with the full-study ratios vs refits without the study (all its rows removed), one vmapped program:
    agreement within 4 combined Monte-Carlo SEs for every study whose Pareto k is at most 0.7, predicting all of the
    study's rows and predicting only its attachment rows."""
    from vfsynth.fits import joint_loo as L

    jd = small_review()
    k = len(jd.studies)
    w = np.vstack([np.ones(k), 1.0 - np.eye(k)])
    fit = L.refit_loso(jd, w, draws=1000, tune=500, chains=2, seed=3)
    assert fit["divergent"].sum() <= 0.01 * fit["divergent"].size
    full = {n: v[0] for n, v in fit["params"].items()}
    ll_f = JM.study_loglik(np, JM.layout(jd, 10.0), full)
    compared = 0
    for outcome in (None, "attachment_aqs"):
        lay_t = JM.layout(L.target_rows(jd, outcome), 10.0)
        ll_t = JM.study_loglik(np, lay_t, full)
        has = np.flatnonzero(lay_t.valid.any(axis=1))
        ps = L.psis_loso(ll_f[..., has], ll_t[..., has])
        for j, i in enumerate(has):
            if ps["pareto_k"][j] > 0.7:
                continue
            refit = {n: v[i + 1] for n, v in fit["params"].items()}
            ex, mc = L.mean_loglik_mcse(JM.study_loglik(np, lay_t, refit)[..., i : i + 1])
            tol = 4.0 * np.hypot(ps["mcse"][j], mc[0])
            assert abs(ps["elpd"][j] - ex[0]) < tol, (outcome, jd.studies[i], ps["elpd"][j], ex[0], tol)
            compared += 1
    assert compared >= 10
    # the comparison glue: the joint model's LosoResult for the attachment (AQS) table, PSIS only
    from types import SimpleNamespace

    import xarray as xr
    from joint_loo_cases import small_tables

    K = len(jd.constructs)
    ii, jj = np.tril_indices(K, -1)
    post = xr.Dataset({"mu": (("chain", "draw", "construct"), full["mu"]), "tau": (("chain", "draw", "construct"), full["tau"]),
                       "corr_pairs": (("chain", "draw", "pair"), full["corr"][..., ii, jj]),
                       "d_mean": (("chain", "draw", "cell"), full["d_mean"]),
                       "tau_delta": (("chain", "draw", "cell"), full["tau_delta"])})
    res = SimpleNamespace(dt=xr.DataTree.from_dict({"posterior": post}), data=jd, options=J.JointOptions(),
                          tau_priors={}, mu_priors={})
    table = next(t for t in small_tables() if t.outcome == "attachment_aqs")
    got = L.joint_loso_result(res, table, refit=False)
    lay_t = JM.layout(L.target_rows(jd, "attachment_aqs"), 10.0)
    ps = L.psis_loso(ll_f[..., :6], JM.study_loglik(np, lay_t, full)[..., :6])
    assert list(got.pointwise["study"]) == list(table.study) == ["s1", "s2", "s3", "s4", "s5", "s6"]
    np.testing.assert_allclose(got.pointwise["elpd"], ps["elpd"], rtol=0, atol=1e-10)
    assert got.elpd_loo.elpd == pytest.approx(ps["elpd"].sum(), abs=1e-9)
    assert (got.pointwise["rows_left_out"] >= got.pointwise["rows_predicted"]).all()


def test_psis_loso_with_full_study_ratios_matches_conjugate_closed_form():
    """Normal mean with a N(0, 10^2) prior, each 'study' two rows y_i1, y_i2 ~ N(theta, 1); exact posterior draws.
    PSIS with ratios from the study's two rows, predicting only its first row, vs the closed form
    p(y_i1 | y_-i) = N(y_i1; m_-i, sqrt(1 + v_-i)), with m_-i, v_-i the posterior without both rows of study i."""
    from vfsynth.fits.joint_loo import psis_loso

    rng = np.random.default_rng(5)
    n = 6
    y = rng.normal(0.3, 1.0, size=(n, 2))
    prec = 1 / 100.0 + 2 * n
    theta = rng.normal(y.sum() / prec, 1 / np.sqrt(prec), size=(4, 2000))
    ll_rows = norm.logpdf(y[None, None], theta[..., None, None], 1.0)       # (chain, draw, n, 2)
    got = psis_loso(ll_rows.sum(-1), ll_rows[..., 0])
    for i in range(n):
        p_i = 1 / 100.0 + 2 * (n - 1)
        m_i = (y.sum() - y[i].sum()) / p_i
        ref = norm.logpdf(y[i, 0], m_i, np.sqrt(1 + 1 / p_i))
        assert got["pareto_k"][i] < 0.7
        assert abs(got["elpd"][i] - ref) < 4 * got["mcse"][i], (i, got["elpd"][i], ref, got["mcse"][i])
