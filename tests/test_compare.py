"""Leave-one-study-out model comparison: PSIS-LOO vs exact LOSO, refit replacement, stacking.

Oracles: exact LOSO by the ratio of marginal likelihoods (bayesmeta-style integration,
itself checked against brute-force 2-D quadrature here) and adaptive quadrature for the
Student-t marginal likelihood.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from vfsynth.data import load_csv
from vfsynth.data.effect_table import EffectTable
from vfsynth.fits.batched import marginal_loglik, run_batched, t_marginal_loglik
from vfsynth.fits.compare import (
    compare_models,
    exact_loso_elpd,
    log_evidence,
    loso,
    make_refit,
    study_loglik,
)
from vfsynth.models.priors import flat_mu, half_normal, normal_mu

HERE = Path(__file__).resolve().parent


def _table(y, se, name="o", measure="SMD"):
    k = len(y)
    return EffectTable(name, "post", measure, tuple(f"S{i}" for i in range(k)), np.asarray(y, float),
                       np.asarray(se, float), np.full(k, np.nan), np.full(k, np.nan), ("",) * k, ("",) * k)


@pytest.fixture(scope="module")
def schools():
    rev = load_csv(HERE / "fixtures" / "eight_schools.csv")
    (outcome, tp), = rev.analyses()
    return rev.effects(outcome, tp)


@pytest.mark.parametrize(
    "y,s,mu,tau,nu",
    [(0.5, 0.2, 0.1, 0.3, 4.0), (0.5, 0.2, 0.1, 0.003, 4.0), (0.5, 0.2, 0.1, 0.02, 4.0),
     (2.0, 0.1, 0.0, 0.5, 2.5), (0.5, 0.2, 0.1, 0.05, 30.0), (3.0, 0.2, 0.1, 0.05, 1.0),
     (0.5, 0.2, 0.1, 0.3, 300.0)],
)
def test_t_marginal_likelihood_against_adaptive_quadrature(y, s, mu, tau, nu):
    want = integrate.quad(lambda th: stats.norm.pdf(y, th, s) * stats.t.pdf(th, nu, mu, tau), -60, 60,
                          points=sorted([mu, y]), limit=2000, epsabs=0, epsrel=1e-13)[0]
    got = t_marginal_loglik(np.array([y]), np.array([s]), mu, tau, nu)[0]
    assert got == pytest.approx(np.log(want), abs=1e-8)


def test_exact_loso_against_bruteforce_2d_quadrature():
    y = np.array([0.3, 0.8, -0.1])
    se = np.array([0.2, 0.3, 0.25])
    tp, mp = half_normal(0.5), normal_mu(0, 1)

    def z(yy, ss):
        f = lambda mu, tau: np.exp(tp.logpdf(tau) + mp.logpdf(mu) + stats.norm.logpdf(yy, mu, np.sqrt(tau**2 + ss**2)).sum())  # noqa: E731
        return integrate.dblquad(f, 0, 4, -4, 4, epsabs=1e-12, epsrel=1e-9)[0]

    assert log_evidence(y, se, tp, mp) == pytest.approx(np.log(z(y, se)), abs=1e-6)
    got = exact_loso_elpd(y, se, tp, mp)
    for i in range(3):
        keep = np.arange(3) != i
        assert got[i] == pytest.approx(np.log(z(y, se)) - np.log(z(y[keep], se[keep])), abs=1e-6)
    # common effect: log p(y_i | y_-i) is a normal predictive in closed form (flat mu prior)
    ce = exact_loso_elpd(y, se, tp, flat_mu(), kind="common-effect")
    for i in range(3):
        keep = np.arange(3) != i
        w = 1 / se[keep] ** 2
        m, v = (w * y[keep]).sum() / w.sum(), 1 / w.sum()
        assert ce[i] == pytest.approx(stats.norm.logpdf(y[i], m, np.sqrt(v + se[i] ** 2)), abs=1e-8)


@pytest.mark.parametrize("kind", ["random-effects", "common-effect"])
def test_psis_loso_agrees_with_exact_loso_where_k_is_small(schools, kind):
    """PSIS-LOO on the marginal likelihood reproduces exact leave-one-study-out elpd_i
    wherever Pareto k < 0.5 (4 x 1000 NUTS draws: MC error of elpd_i is ~0.01)."""
    t = schools
    tp, mp = half_normal(10.0), normal_mu(0.0, 50.0)
    r = run_batched(kind, t.estimate, t.se, np.ones((1, t.k)), [tp], [mp], draws=1000, tune=1000, chains=4, seed=3)
    res = loso(study_loglik(r.datatree(0), t, kind), model=kind)
    pw = res.pointwise
    ex = exact_loso_elpd(t.estimate, t.se, tp, mp, kind)
    good = pw["pareto_k"].to_numpy() < 0.5
    assert good.sum() >= 6
    diff = np.abs(pw["elpd_psis"].to_numpy() - ex)[good]
    assert diff.max() < 0.05
    # the comparison has power: the conditional (theta-dependent) error would be far larger
    assert abs(pw["elpd_psis"].sum() - ex.sum()) < 0.1


def test_refits_replace_flagged_studies_exactly(schools):
    """With k_threshold = -inf every study is 'flagged' and refitted: the result must be the exact LOSO."""
    t = schools
    tp, mp = half_normal(10.0), normal_mu(0.0, 50.0)
    r = run_batched("random-effects", t.estimate, t.se, np.ones((1, t.k)), [tp], [mp], draws=500, tune=500, chains=2, seed=1)
    ll = study_loglik(r.datatree(0), t, "random-effects")
    refit, eng = make_refit(t, "random-effects", tp, mp, engine="exact")
    res = loso(ll, model="re", refit=refit, k_threshold=-np.inf, refit_engine=eng)
    ex = exact_loso_elpd(t.estimate, t.se, tp, mp)
    np.testing.assert_allclose(res.pointwise["elpd"], ex, atol=1e-12)
    assert res.pointwise["refit"].all()
    assert res.elpd_loo.elpd == pytest.approx(ex.sum(), abs=1e-9)
    assert res.elpd_loo.se == pytest.approx(np.sqrt(t.k * np.var(ex, ddof=1)), rel=1e-9)
    assert (res.elpd_loo.pareto_k.values == 0).all()


def test_high_pareto_k_outlier_is_refitted():
    """A precise outlying study under the common-effect model has Pareto k > 0.7: PSIS fails
    and the exact refit value is used instead."""
    y = np.array([0.1, 0.15, 0.05, 0.12, 0.08, 1.5])
    se = np.array([0.1, 0.12, 0.1, 0.11, 0.1, 0.05])
    t = _table(y, se)
    mp = normal_mu(0, 1)
    r = run_batched("common-effect", y, se, np.ones((1, 6)), [None], [mp], draws=1000, tune=500, chains=2, seed=2)
    ll = study_loglik(r.datatree(0), t, "common-effect")
    refit, _ = make_refit(t, "common-effect", None, mp, engine="exact")
    res = loso(ll, model="ce", refit=refit)
    pw = res.pointwise.set_index("study")
    assert pw.loc["S5", "pareto_k"] > 0.7 and pw.loc["S5", "refit"]
    ex = exact_loso_elpd(y, se, None, mp, "common-effect")
    assert pw.loc["S5", "elpd"] == pytest.approx(ex[5], abs=1e-10)
    assert abs(pw.loc["S5", "elpd_psis"] - ex[5]) > 1.0  # PSIS alone would have been badly off


def test_compare_prefers_random_effects_under_heterogeneity(fit_dir):
    """Simulated SMDs with tau = 0.5 >> se: the random-effects model must beat the common-effect
    model in LOSO elpd and take most of the stacking weight."""
    rng = np.random.default_rng(7)
    k = 10
    se = rng.uniform(0.08, 0.15, k)
    y = 0.3 + rng.normal(0, 0.5, k) + rng.normal(0, se)
    t = _table(y, se)
    res = compare_models(t, models=("common-effect", "random-effects"), draws=500, tune=500, chains=2, seed=1)
    tab = res.table
    assert tab.index[0] == "random-effects"
    assert tab.loc["random-effects", "elpd"] > tab.loc["common-effect", "elpd"] + 5
    assert tab["weight"].sum() == pytest.approx(1.0, abs=1e-6)
    assert tab.loc["random-effects", "weight"] > 0.9
    assert set(res.pointwise["model"]) == {"common-effect", "random-effects"}
    assert len(res.pointwise) == 2 * k
    d = res.to_dict()
    assert d["models"][0]["model"] == "random-effects"


def test_marginal_loglik_t_reduces_to_normal_for_large_nu():
    mu = np.array([0.1, 0.3])
    tau = np.array([0.2, 0.4])
    y, se = np.array([0.0, 0.5, 1.0]), np.array([0.1, 0.2, 0.3])
    a = marginal_loglik("t", y, se, mu, tau, nu=1e6)
    b = marginal_loglik("random-effects", y, se, mu, tau)
    np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.slow
def test_mcmc_refits_agree_with_exact(schools):
    """Batched NUTS refits without each study give log p(y_i | y_-i) close to the exact value."""
    t = schools
    tp, mp = half_normal(10.0), normal_mu(0.0, 50.0)
    refit, eng = make_refit(t, "random-effects", tp, mp, engine="mcmc", draws=2000, tune=1000, chains=4, seed=4)
    assert eng == "mcmc"
    got = refit(range(t.k))
    ex = exact_loso_elpd(t.estimate, t.se, tp, mp)
    assert np.abs(got - ex).max() < 0.03


@pytest.mark.slow
def test_compare_three_models_on_eight_schools(fit_dir):
    t = load_csv(HERE / "fixtures" / "eight_schools.csv")
    (o, tp), = t.analyses()
    res = compare_models(t, o, tp, models=("common-effect", "random-effects", "t"),
                         tau_prior=half_normal(10.0), mu_prior=normal_mu(0, 50))
    assert res.table["weight"].sum() == pytest.approx(1.0, abs=1e-6)
    assert (res.table["elpd_diff"] <= 0).all()  # arviz convention: difference to the best model
    tab = t.effects(o, tp)
    for kind in ("common-effect", "random-effects"):
        ex = exact_loso_elpd(tab.estimate, tab.se, half_normal(10.0), normal_mu(0, 50), kind)
        assert res.table.loc[kind, "elpd"] == pytest.approx(ex.sum(), abs=0.1)
        pw = res.pointwise[res.pointwise["model"] == kind]
        np.testing.assert_allclose(pw["elpd_exact_check"], ex, atol=1e-12)


def test_compare_cli_json_and_errors(fit_dir, capsys):
    import json

    from vfsynth.reports.cli import main

    data = str(HERE / "fixtures" / "normand1999.csv")
    rc = main(["compare", "--data", data, "--models", "common-effect,random-effects", "--draws", "300", "--tune", "300",
               "--chains", "2", "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    (a,) = out["analyses"]
    assert {m["model"] for m in a["models"]} == {"common-effect", "random-effects"}
    assert sum(m["weight"] for m in a["models"]) == pytest.approx(1.0, abs=1e-6)
    assert len(a["pointwise"]) == 2 * 9
    # normand1999 length of stay is hugely heterogeneous: the random-effects model wins
    assert a["models"][0]["model"] == "random-effects"
    assert main(["compare", "--data", data, "--outcome", "nope"]) == 2
    assert "unknown outcome 'nope'" in capsys.readouterr().err
    assert main(["compare", "--data", data, "--models", "bogus"]) == 2


def test_exact_engine_uses_exact_loso_for_every_study(fit_dir):
    """With the exact engine the normal models' elpd is the exact LOSO value for every study
    (independent check: exact_loso_elpd), PSIS kept beside it; exact_all=False keeps PSIS
    wherever Pareto k <= 0.7."""
    from vfsynth.fits.compare import exact_loso_elpd
    from vfsynth.models.priors import half_normal, normal_mu

    rng = np.random.default_rng(3)
    k = 6
    se = rng.uniform(0.1, 0.3, k)
    y = 0.4 + rng.normal(0, 0.2, k) + rng.normal(0, se)
    t = _table(y, se)
    tau, mu = half_normal(0.5), normal_mu(0.0, 1.0)
    kw = dict(models=("common-effect", "random-effects"), tau_prior=tau, mu_prior=mu, draws=400, tune=400,
              chains=2, seed=2)
    res = compare_models(t, **kw)
    for kind in ("common-effect", "random-effects"):
        pw = res.pointwise[res.pointwise["model"] == kind]
        want = exact_loso_elpd(t.estimate, t.se, tau, mu, kind)
        np.testing.assert_allclose(pw["elpd"].to_numpy(), want, rtol=0, atol=1e-9)
        assert pw["refit"].all() and np.isfinite(pw["elpd_psis"]).all()
        assert res.table.loc[kind, "elpd"] == pytest.approx(want.sum(), abs=1e-9)
    plain = compare_models(t, exact_all=False, **kw)
    pw = plain.pointwise
    keep = pw["pareto_k"] <= 0.7
    np.testing.assert_array_equal(pw.loc[keep, "elpd"].to_numpy(), pw.loc[keep, "elpd_psis"].to_numpy())


def test_small_difference_note_follows_sivula_thresholds():
    import pandas as pd

    from vfsynth.fits.compare import small_difference_notes

    tab = pd.DataFrame({"elpd_diff": [0.0, -0.08, -12.0], "dse": [0.0, 0.04, 2.0]},
                       index=pd.Index(["joint", "random-effects", "common-effect"], name="model"))
    (note,) = small_difference_notes(tab)
    assert note.startswith("joint leads random-effects by less than 4")
    assert "common-effect" not in note
    wide = pd.DataFrame({"elpd_diff": [0.0, -6.0], "dse": [0.0, 4.0]}, index=["a", "b"])
    assert small_difference_notes(wide)  # |diff| 6 < 2 * dse = 8
    clear = pd.DataFrame({"elpd_diff": [0.0, -9.0], "dse": [0.0, 1.0]}, index=["a", "b"])
    assert small_difference_notes(clear) == []
