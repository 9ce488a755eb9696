"""Meta-regression, subgroup, PET-PEESE and selection models against independent references.

References: metafor 3.8.1 ``rma(mods=)`` pinned in tests/reference/metareg_metafor.json
(made by tests/reference/metareg_metafor.R), weighted least squares (statsmodels), direct
numerical integration (scipy.integrate.quad) and conjugate closed forms.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from vfsynth.data import load_csv
from vfsynth.data.effect_table import EffectTable
from vfsynth.fits.moderators import metareg_exact
from vfsynth.models import regression as R
from vfsynth.models.priors import flat_mu, half_normal, normal_mu

HERE = Path(__file__).resolve().parent
REF = json.loads((HERE / "reference" / "metareg_metafor.json").read_text())


@pytest.fixture(scope="module")
def bcg():
    rev = load_csv(HERE / "fixtures" / "bcg.csv", moderators=HERE / "fixtures" / "bcg_moderators.csv")
    return rev, rev.effects("tb_cases", "post")


def test_bcg_inputs_match_metafor(bcg):
    _, t = bcg
    assert t.study == tuple(REF["study"])
    np.testing.assert_allclose(t.estimate, REF["yi"], atol=1e-12)
    np.testing.assert_allclose(t.se**2, REF["vi"], atol=1e-12)


@pytest.mark.parametrize("key", ["ablat_fixed_tau2", "ablat_fe"])
def test_exact_regression_equals_metafor_at_fixed_tau(bcg, key):
    """Flat priors + tau fixed: the posterior is N(WLS estimate, (X'WX)^-1), metafor's fit exactly."""
    rev, t = bcg
    d = R.moderator_design(t, rev.moderators, "ablat", center=False, standardize=False)
    ref = REF[key]
    tau = np.sqrt(ref.get("tau2_fixed", 0.0))
    post = metareg_exact(d, None, flat_mu(), beta_sd=np.inf, tau_fixed=tau)
    for j in range(2):
        c = post.contrast(np.eye(2)[j])
        assert c["mean"] == pytest.approx(ref["beta"][j], abs=1e-9)
        assert c["sd"] == pytest.approx(ref["se"][j], rel=1e-9)


def test_exact_subgroup_equals_metafor_at_fixed_tau(bcg):
    rev, t = bcg
    d = R.moderator_design(t, rev.moderators, "alloc")
    assert d.levels == ("random", "alternate", "systematic")  # most common level is the reference
    ref = REF["alloc_fixed_tau2"]
    post = metareg_exact(d, None, flat_mu(), beta_sd=np.inf, tau_fixed=np.sqrt(ref["tau2_fixed"]))
    for j in range(3):
        c = post.contrast(np.eye(3)[j])
        assert c["mean"] == pytest.approx(ref["beta"][j], abs=1e-9)
        assert c["sd"] == pytest.approx(ref["se"][j], rel=1e-9)


def test_wide_prior_regression_close_to_reml(bcg):
    """With flat coefficient priors and a weakly informative tau prior the slope's posterior
    median lies within a small fraction of metafor's REML standard error of the REML slope."""
    rev, t = bcg
    d = R.moderator_design(t, rev.moderators, "ablat", center=False, standardize=False)
    post = metareg_exact(d, half_normal(1.0), flat_mu(), beta_sd=np.inf)
    c = post.contrast([0.0, 1.0])
    ref = REF["ablat_reml"]
    assert abs(c["median"] - ref["beta"][1]) < 0.2 * ref["se"][1]
    # tau uncertainty widens the interval relative to the plug-in REML SE, never narrows it
    assert c["sd"] > ref["se"][1]
    # REML tau lies inside the central 95% posterior interval of tau
    lo, _, hi = post.tau_quantiles()
    assert lo < np.sqrt(ref["tau2"]) < hi


def test_exact_regression_tau_integral_against_2d_quadrature(bcg):
    """Posterior mean of the slope with a proper prior: grid engine vs brute-force quadrature."""
    rev, t = bcg
    t = t.subset(np.arange(t.k) < 6)
    mods = rev.moderators
    d = R.moderator_design(t, mods, "ablat")
    tp, ip, bsd = half_normal(0.5), normal_mu(0.0, 2.0), 1.0
    post = metareg_exact(d, tp, ip, beta_sd=bsd)
    y, s2, X = t.estimate, t.se**2, d.X

    def marg_given_tau(tau):
        # y ~ N(X m0, Sigma + X V0 X') with m0 = 0 and V0 = diag(4, 1): beta integrated out
        cov = np.diag(s2 + tau**2) + X @ np.diag([4.0, bsd**2]) @ X.T
        return stats.multivariate_normal(np.zeros(len(y)), cov).pdf(y)

    def slope_mean_given_tau(tau):
        W = np.diag(1 / (s2 + tau**2))
        A = X.T @ W @ X + np.diag([1 / 4.0, 1 / bsd**2])
        return np.linalg.solve(A, X.T @ W @ y)[1]

    num = integrate.quad(lambda u: tp.pdf(u) * marg_given_tau(u) * slope_mean_given_tau(u), 0, 8, limit=200)[0]
    den = integrate.quad(lambda u: tp.pdf(u) * marg_given_tau(u), 0, 8, limit=200)[0]
    assert post.contrast([0.0, 1.0])["mean"] == pytest.approx(num / den, abs=1e-6)


def test_pet_peese_common_effect_is_wls():
    """PET with tau = 0 and flat priors is the WLS regression of y on se (Stanley & Doucouliagos)."""
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    se = rng.uniform(0.1, 0.5, 9)
    y = 0.2 + 1.5 * se + rng.normal(0, se)
    t = EffectTable("o", "post", "SMD", tuple(f"S{i}" for i in range(9)), y, se, np.full(9, np.nan),
                    np.full(9, np.nan), ("",) * 9, ("",) * 9)
    for kind, x in (("pet", se), ("peese", se**2)):
        d = R.small_study_design(t, kind)
        post = metareg_exact(d, None, flat_mu(), beta_sd=np.inf, tau_fixed=0.0)
        wls = sm.WLS(y, sm.add_constant(x), weights=1 / se**2).fit()
        # statsmodels scales the covariance by the residual variance; metafor/vfsynth do not
        cov = np.linalg.inv(sm.add_constant(x).T @ np.diag(1 / se**2) @ sm.add_constant(x))
        for j in range(2):
            c = post.contrast(np.eye(2)[j])
            assert c["mean"] == pytest.approx(wls.params[j], abs=1e-10)
            assert c["sd"] == pytest.approx(np.sqrt(cov[j, j]), rel=1e-10)


def test_missing_moderators_are_excluded_explicitly():
    t = EffectTable("o", "post", "SMD", ("A", "B", "C", "D", "E"), np.array([0.1, 0.2, 0.3, 0.4, 0.5]),
                    np.full(5, 0.2), np.full(5, np.nan), np.full(5, np.nan), ("",) * 5, ("",) * 5)
    mods = pd.DataFrame(
        {"sessions": [4.0, np.nan, 8.0, 6.0, 10.0], "family": ["VIPP", "other", "VIPP", None, "other"],
         "age": ["6 months", "12", "3", "9", "x"]},
        index=pd.Index(["A", "B", "C", "D", "F"], name="study"),
    )
    d = R.moderator_design(t, mods, "sessions")
    assert d.table.study == ("A", "C", "D")
    assert d.excluded == {"B": "sessions missing", "E": "no row in the moderators table"}
    d = R.moderator_design(t, mods, "family")
    assert d.table.study == ("A", "B", "C") and set(d.excluded) == {"D", "E"}
    assert "family missing" in d.excluded["D"]
    # free text asked as continuous: non-numbers are named, not dropped silently
    d = R.moderator_design(t, mods, "age", kind="continuous")
    assert d.excluded["A"].startswith("age = '6 months' is not a number")
    with pytest.raises(R.ModeratorError, match="own level"):
        R.moderator_design(t, mods, "age", kind="categorical")
    with pytest.raises(R.ModeratorError, match="unknown moderator"):
        R.moderator_design(t, mods, "nope")


# --------------------------------------------------------------------------- selection model


def _selection_density_by_quadrature(y, s, mu, tau, omega, cuts):
    sig = np.sqrt(tau**2 + s**2)

    def w(v):
        p = stats.norm.sf(v / s)
        return omega[np.searchsorted(cuts, p, side="right")]

    pts = sorted(s * stats.norm.isf(cuts))
    z = integrate.quad(lambda v: w(v) * stats.norm.pdf(v, mu, sig), mu - 12 * sig, mu + 12 * sig,
                       points=pts, epsabs=1e-14, limit=400)[0]
    return np.log(w(y) * stats.norm.pdf(y, mu, sig) / z)


def test_selection_likelihood_matches_numerical_integration():
    """The PyMC selection-model log density (normalised in closed form) equals the weighted
    normal density normalised by direct numerical integration."""
    cuts = np.array(R.DEFAULT_CUTPOINTS)
    y = np.array([0.5, 0.1, -0.2, 0.36, 0.05])
    se = np.array([0.2, 0.15, 0.3, 0.2, 0.02])
    t = EffectTable("o", "post", "SMD", tuple("ABCDE"), y, se, np.full(5, np.nan), np.full(5, np.nan),
                    ("",) * 5, ("",) * 5)
    # every interval is represented
    assert set(R.p_interval(y, se)) == {0, 1, 2, 3}
    model = R.build_selection_model(t, half_normal(0.5), normal_mu(0, 1))
    f = model.compile_fn(model.logp(vars=[model["y"]], sum=False)[0], inputs=model.value_vars, on_unused_input="ignore")
    for mu, tau, e in ((0.2, 0.15, [0.1, 0.2, 0.3, 0.4]), (-0.1, 0.4, [0.7, 0.1, 0.1, 0.1])):
        e = np.array(e)
        omega = np.cumsum(e[::-1])[::-1]
        point = {"mu": mu, "tau_log__": np.log(tau), "e_simplex__": model.rvs_to_transforms[model["e"]].forward(e).eval()}
        got = f(point)
        want = [_selection_density_by_quadrature(y[i], se[i], mu, tau, omega, cuts) for i in range(5)]
        np.testing.assert_allclose(got, want, atol=1e-8)
        np.testing.assert_allclose(R.selection_loglik_numpy(y, se, mu, tau, omega), want, atol=1e-8)


def test_selection_prior_predictive_sampler_matches_density():
    """Rejection draws from the selection model land in each p-value interval with probability
    omega_j P_j / sum(omega P) (chi-square goodness of fit)."""
    cuts = R.DEFAULT_CUTPOINTS
    zb = R._z_bounds(cuts)
    rnd = R._make_selection_random(zb)
    mu, tau, s = 0.1, 0.1, 0.2
    omega = np.array([1.0, 0.6, 0.3, 0.1])
    draws = rnd(mu, tau, omega, np.full(20000, s), rng=np.random.default_rng(0), size=(20000,))
    j = R.p_interval(draws, np.full(draws.shape, s), cuts)
    sig = np.hypot(tau, s)
    P = stats.norm.cdf((s * zb[:-1] - mu) / sig) - stats.norm.cdf((s * zb[1:] - mu) / sig)
    expect = omega * P / (omega * P).sum()
    obs = np.bincount(j, minlength=4)
    assert stats.chisquare(obs, expect * obs.sum()).pvalue > 1e-3


def test_selection_exact_published_draw_matches_rejection_sampling():
    """The exact draw used when rejection would take too long (interval, then truncated normal)
    has the law of the rejection sampler's published studies (two-sample KS), and it publishes
    studies whose publication probability is ~1e-6, where rejection alone gave up."""
    zb = R._z_bounds(R.DEFAULT_CUTPOINTS)
    n, mu, tau, s = 20000, 0.1, 0.1, 0.2
    omega = np.array([1.0, 0.6, 0.3, 0.1])
    rej = R._make_selection_random(zb)(mu, tau, omega, np.full(n, s), rng=np.random.default_rng(1), size=(n,))
    sig = np.full(n, np.hypot(tau, s))
    exact = R._published_draw(np.full(n, mu), sig, np.full(n, s), np.tile(omega, (n, 1)), zb[1:-1],
                              np.random.default_rng(2))
    assert stats.ks_2samp(rej, exact).pvalue > 1e-3
    # mu = -3: P(p < 0.5) ~ 1e-50, so a study is published only through omega_4 = 1e-6
    tiny = np.array([1.0, 1e-6, 1e-6, 1e-6])
    y = R._make_selection_random(zb)(-3.0, 0.0, tiny, np.full(5, s), rng=np.random.default_rng(3), size=(5,))
    assert np.all(np.isfinite(y)) and np.all(y < 0)


def test_mcmc_regression_with_known_tau_matches_conjugate_closed_form():
    """PyMC meta-regression, tau fixed, normal priors: posterior is exactly normal (conjugate)."""
    from vfsynth.fits.moderators import _coef_draws, _sample

    rng = np.random.default_rng(11)
    k = 8
    se = rng.uniform(0.15, 0.4, k)
    x = np.arange(k, dtype=float)
    y = 0.3 + 0.05 * x + rng.normal(0, np.sqrt(se**2 + 0.1**2))
    t = EffectTable("o", "post", "SMD", tuple(f"S{i}" for i in range(k)), y, se, np.full(k, np.nan),
                    np.full(k, np.nan), ("",) * k, ("",) * k)
    mods = pd.DataFrame({"x": x}, index=pd.Index(t.study, name="study"))
    d = R.moderator_design(t, mods, "x")
    model = R.build_metaregression(d, half_normal(0.5), normal_mu(0, 1), beta_sd=1.0, tau_fixed=0.1)
    dt = _sample(model, draws=1000, tune=500, chains=2, seed=5)
    B = _coef_draws(dt, d)
    # closed form
    W = np.diag(1 / (se**2 + 0.01))
    A = d.X.T @ W @ d.X + np.eye(2)
    V = np.linalg.inv(A)
    m = V @ (d.X.T @ W @ y)
    for j in range(2):
        sd = np.sqrt(V[j, j])
        assert abs(B[:, j].mean() - m[j]) < 0.15 * sd  # ~4-5 MCSE at ESS ~ 1000
        assert B[:, j].std() == pytest.approx(sd, rel=0.1)


def test_moderator_analysis_table(bcg):
    from vfsynth.fits.moderators import moderator_analysis

    rev, _ = bcg
    df = moderator_analysis(rev, "tb_cases", moderators=("ablat", "alloc", "absent"))
    slope = df[(df["moderator"] == "ablat") & df["term"].str.startswith("ablat")].iloc[0]
    # metafor REML: slope 0.0315 (SE 0.0063) on the benefit scale -> clearly positive
    assert slope["p_positive"] > 0.99 and slope["k_used"] == 13
    alloc = df[df["moderator"] == "alloc"]
    assert {"subgroup mean [random]", "subgroup mean [alternate]", "subgroup mean [systematic]"} <= set(alloc["term"])
    assert "[systematic] - [alternate]" in set(alloc["term"])
    bad = df[df["moderator"] == "absent"].iloc[0]
    assert bad["term"] == "not estimable" and "unknown moderator" in bad["excluded"]
