"""Posterior summaries checked against closed forms on fake (exactly known) posteriors."""

from __future__ import annotations

import math

import arviz_base as azb
import numpy as np
import pytest
from scipy import stats

from vfsynth.data.effect_table import EffectTable
from vfsynth.reports import summaries as S


# ------------------------------------------------------------------ helpers shared by report tests
def make_table(y, se, *, measure="SMD", outcome="sensitivity", timepoint="post", counts=None, n=None):
    """A small EffectTable (not CD012348 data)."""
    k = len(y)
    study = tuple(f"S{i + 1}" for i in range(k))
    kw = {}
    if counts is not None:
        et, nt, ec, nc = (np.asarray(c, float) for c in counts)
        kw = dict(events_t=et, n_t=nt, events_c=ec, n_c=nc)
    return EffectTable(
        outcome=outcome,
        timepoint=timepoint,
        measure=measure,
        study=study,
        estimate=np.asarray(y, float),
        se=np.asarray(se, float),
        n_total=np.full(k, np.nan) if n is None else np.asarray(n, float),
        year=np.arange(2000, 2000 + k, dtype=float),
        derivation=("given",) * k,
        source=("",) * k,
        **kw,
    )


def exact_nnhm_posterior(table, *, tau_scale=0.5, mu_sd=10.0, chains=2, draws=1000, seed=1, prior=True):
    """Independent draws from the exact normal-normal hierarchical posterior (grid over tau).

    Half-normal(tau_scale) prior on tau, N(0, mu_sd²) prior on mu. Given tau, mu is normal
    (conjugate) and each theta_i | mu, tau is normal; tau is drawn from its marginal posterior
    on a fine grid (the bayesmeta method). These are real posterior draws with no MCMC error
    in their distribution, used as a "fake" fit.
    """
    rng = np.random.default_rng(seed)
    y, v = table.estimate, table.variance
    grid = np.linspace(1e-6, 6 * tau_scale, 1500)
    logp = np.empty_like(grid)
    for j, t in enumerate(grid):
        # marginal likelihood of y given tau, mu integrated against N(0, mu_sd²)
        cov = np.diag(v + t**2) + mu_sd**2
        logp[j] = stats.multivariate_normal(np.zeros(len(y)), cov).logpdf(y)
    logp += stats.halfnorm(scale=tau_scale).logpdf(grid)
    p = np.exp(logp - logp.max())
    p /= p.sum()
    n = chains * draws
    tau = rng.choice(grid, size=n, p=p)
    w = 1 / (v[None, :] + tau[:, None] ** 2)
    prec = w.sum(1) + 1 / mu_sd**2
    mu = rng.normal((w * y).sum(1) / prec, 1 / np.sqrt(prec))
    b = v[None, :] / (v[None, :] + tau[:, None] ** 2)
    th_mean = b * mu[:, None] + (1 - b) * y[None, :]
    th_sd = np.sqrt((1 - b) * v[None, :])
    theta = rng.normal(th_mean, th_sd)
    groups = {
        "posterior": {
            "mu": mu.reshape(chains, draws),
            "tau": tau.reshape(chains, draws),
            "theta": theta.reshape(chains, draws, -1),
        },
        "sample_stats": {"diverging": np.zeros((chains, draws), dtype=bool)},
        "observed_data": {"y": y},
    }
    yrep = rng.normal(theta, np.sqrt(v)[None, :])
    groups["posterior_predictive"] = {"y": yrep.reshape(chains, draws, -1)}
    if prior:
        pt = np.abs(rng.normal(0, tau_scale, n))
        pm_ = rng.normal(0, mu_sd, n)
        groups["prior"] = {"mu": pm_.reshape(1, n), "tau": pt.reshape(1, n)}
    return azb.from_dict(
        groups,
        dims={"theta": ["study"], "y": ["study"]},
        coords={"study": list(table.study)},
    )


def normal_posterior(m, s, *, chains=4, draws=5000, seed=0, tau=None):
    """Fake posterior with mu ~ N(m, s²) (independent draws) and optional tau draws."""
    rng = np.random.default_rng(seed)
    post = {"mu": rng.normal(m, s, (chains, draws))}
    if tau is not None:
        post["tau"] = np.asarray(tau)
    return azb.from_dict({"posterior": post})


# ------------------------------------------------------------------ closed-form checks
@pytest.mark.parametrize("m,s", [(0.3, 0.15), (-0.1, 0.2), (0.02, 0.5)])
def test_p_benefit_matches_normal_cdf(m, s):
    dt = normal_posterior(m, s, seed=11)
    e = S.summarize_effect(dt.posterior["mu"], "SMD")
    expected = stats.norm.cdf(m / s)
    # independent draws: MCSE is the binomial SE; 4 MCSE bound
    assert abs(e.p_benefit - expected) < 4 * math.sqrt(expected * (1 - expected) / 20000)
    assert e.p_benefit_mcse == pytest.approx(math.sqrt(expected * (1 - expected) / 20000), rel=0.15)
    for t in (0.2, 0.5):
        pt = stats.norm.sf(t, m, s)
        assert abs(e.p_mcid[t] - pt) < 4 * math.sqrt(max(pt * (1 - pt), 1e-6) / 20000) + 1e-4
    pr = stats.norm.cdf(0.1, m, s) - stats.norm.cdf(-0.1, m, s)
    assert abs(e.p_rope - pr) < 4 * math.sqrt(pr * (1 - pr) / 20000) + 1e-4


def test_intervals_match_normal_quantiles():
    m, s = 0.4, 0.1
    dt = normal_posterior(m, s, seed=3, draws=25000)
    e = S.summarize_effect(dt.posterior["mu"], "SMD")
    z = stats.norm.ppf(0.975)
    # quantile MC error ~ sqrt(p(1-p)/n)/f(q) = sqrt(.025*.975/1e5)/(pdf(z)/s) ≈ 0.0009
    assert e.ci_low == pytest.approx(m - z * s, abs=0.004)
    assert e.ci_high == pytest.approx(m + z * s, abs=0.004)
    assert e.median == pytest.approx(m, abs=0.002)
    # HDI of a symmetric unimodal distribution equals the ETI
    h = S.summarize_effect(dt.posterior["mu"], "SMD", ci_kind="hdi")
    assert h.ci_low == pytest.approx(m - z * s, abs=0.006)
    # HDI of an exponential starts at 0 and is shorter than the ETI
    x = np.random.default_rng(0).exponential(1.0, 50000)
    lo, hi = S.interval(x, 0.95, "hdi")
    assert lo == pytest.approx(0, abs=0.01)
    assert hi == pytest.approx(-math.log(0.05), abs=0.05)


def test_or_thresholds_on_log_scale():
    m, s = math.log(2.0), 0.4
    dt = normal_posterior(m, s, seed=5)
    e = S.summarize_effect(dt.posterior["mu"], "logOR")
    p = stats.norm.sf(math.log(1.25), m, s)
    assert abs(e.p_mcid[1.25] - p) < 4 * math.sqrt(p * (1 - p) / 20000)
    assert e.display()["median"] == pytest.approx(2.0, rel=0.02)
    pr = stats.norm.cdf(math.log(1.1), m, s) - stats.norm.cdf(-math.log(1.1), m, s)
    assert abs(e.p_rope - pr) < 4 * math.sqrt(pr * (1 - pr) / 20000) + 1e-4


def test_prediction_interval_normal_closed_form():
    # mu ~ N(m, s²) and fixed tau: new study ~ N(m, s² + tau²)
    m, s, tau = 0.3, 0.1, 0.2
    rng = np.random.default_rng(2)
    dt = normal_posterior(m, s, tau=np.full((4, 5000), tau), seed=2)
    pred = S.summarize_effect(S.prediction_draws(dt, seed=4), "SMD")
    sd = math.hypot(s, tau)
    z = stats.norm.ppf(0.975)
    assert pred.ci_low == pytest.approx(m - z * sd, abs=0.01)
    assert pred.ci_high == pytest.approx(m + z * sd, abs=0.01)
    p = stats.norm.cdf(m / sd)
    assert abs(pred.p_benefit - p) < 4 * math.sqrt(p * (1 - p) / 20000)
    del rng
    # reproducible with the same seed
    a = S.prediction_draws(dt, seed=4).values
    b = S.prediction_draws(dt, seed=4).values
    assert np.array_equal(a, b)


def test_absolute_effect_hand_computation():
    # a point-mass posterior at OR = 3.04 (CD012348 SoF) at control risk 341/1000 gives 612/1000
    dt = normal_posterior(math.log(3.04), 1e-9, chains=1, draws=1000)
    a = S.absolute_effect(dt.posterior["mu"], 0.341)
    odds = 0.341 / 0.659 * 3.04
    assert a.intervention_median == pytest.approx(1000 * odds / (1 + odds), abs=1e-4)
    # the review's own "612 per 1000"; its OR (3.04) and control risk (341) are printed rounded,
    # which moves the result by up to ~1 per 1000
    assert abs(a.intervention_median - 612) < 1
    assert a.difference_median == pytest.approx(1000 * odds / (1 + odds) - 341, abs=1e-4)
    rd = odds / (1 + odds) - 0.341
    assert a.nnt.startswith(f"NNTB {1 / rd:.1f}")
    # published CI limits 1.39 and 6.67 map to 419 and 776 per 1000 (review's SoF)
    for or_, per1000 in ((1.39, 419), (6.67, 776)):
        b = S.absolute_effect(np.full(10, math.log(or_)), 0.341)
        assert abs(b.intervention_median - per1000) < 1.5


def test_absolute_effect_intervals_are_per_draw_quantiles():
    rng = np.random.default_rng(9)
    lor = rng.normal(0.2, 0.5, 40000)
    a = S.absolute_effect(lor, 0.3)
    # monotone transform: quantiles of p_t are the transform of quantiles of the log OR
    q = np.quantile(lor, [0.025, 0.975])
    pt = lambda x: 0.3 / 0.7 * np.exp(x) / (1 + 0.3 / 0.7 * np.exp(x))  # noqa: E731
    assert a.intervention_low == pytest.approx(1000 * pt(q[0]), rel=1e-3)
    assert a.intervention_high == pytest.approx(1000 * pt(q[1]), rel=1e-3)
    assert a.difference_low < 0 < a.difference_high
    assert "∞" in a.nnt and "NNTH" in a.nnt and "NNTB" in a.nnt
    with pytest.raises(ValueError, match="control risk"):
        S.absolute_effect(lor, 1.2)


def test_typical_variance_and_i2_match_dersimonian_laird_i2():
    """I²-like share at a point-mass tau equals the frequentist I² (Higgins–Thompson)."""
    t = make_table([0.1, 0.3, 0.35, 0.65, 0.45, 0.15], [0.1, 0.12, 0.2, 0.15, 0.25, 0.08])
    y, v = t.estimate, t.variance
    w = 1 / v
    q = float((w * (y - (w * y).sum() / w.sum()) ** 2).sum())
    k = t.k
    c = w.sum() - (w**2).sum() / w.sum()
    tau2_dl = max(0.0, (q - (k - 1)) / c)
    i2 = max(0.0, (q - (k - 1)) / q)
    s2 = S.typical_within_variance(v)
    assert tau2_dl / (tau2_dl + s2) == pytest.approx(i2, rel=1e-10)
    dt = normal_posterior(0.3, 0.1, tau=np.full((4, 5000), math.sqrt(tau2_dl)))
    h = S.heterogeneity(dt, t)
    assert h.share_median == pytest.approx(i2, rel=1e-10)
    assert S.typical_within_variance(np.array([0.04])) == 0.04


def test_pooled_and_published_control_risk():
    t = make_table(
        [0.5, 0.7], [0.3, 0.4], measure="logOR", outcome="attachment_security",
        counts=([20, 30], [40, 50], [10, 18], [40, 50]),
    )
    r, label = S.pooled_control_risk(t)
    assert r == pytest.approx(28 / 90)
    assert "28/90" in label
    import pandas as pd

    pub = pd.DataFrame(
        {"outcome": ["Parental sensitivity", "Secure attachment (SSP)"], "notes": ["", "Assumed control risk 341 per 1000; ..."]}
    )
    assert S.published_control_risk(pub, "attachment_security") == pytest.approx(0.341)
    assert S.published_control_risk(None, "x") is None
    risks = S.control_risks(t, published=0.341, user=0.2)
    assert [x[1] for x in risks] == pytest.approx([28 / 90, 0.341, 0.2])


def test_shrunken_estimates_match_exact_conditional_means():
    t = make_table([0.1, 0.3, 0.35, 0.65, 0.45], [0.1, 0.12, 0.2, 0.15, 0.25])
    dt = exact_nnhm_posterior(t, draws=4000, seed=2)
    df = S.study_estimates(dt, t)
    post = dt.posterior
    # E[theta_i | y] = E[ B mu + (1-B) y_i ] computed directly from the (mu, tau) draws
    tau, mu = post["tau"].values.ravel(), post["mu"].values.ravel()
    b = t.variance[None, :] / (t.variance[None, :] + tau[:, None] ** 2)
    mean_exact = (b * mu[:, None] + (1 - b) * t.estimate[None, :]).mean(0)
    sd = post["theta"].std(("chain", "draw")).values
    assert np.all(np.abs(df["shrunk_median"].values - mean_exact) < 5 * sd / math.sqrt(8000) + 0.01)
    # shrinkage: each posterior study estimate lies between the observation and the pooled mean
    pooled = float(np.median(mu))
    for obs, sh in zip(df["estimate"], df["shrunk_median"], strict=True):
        assert min(obs, pooled) - 0.02 <= sh <= max(obs, pooled) + 0.02
    assert df["weight"].sum() == pytest.approx(100)
    assert np.all(df["obs_low"] < df["estimate"])


def test_diagnostics_flag_problems():
    t = make_table([0.1, 0.3, 0.35], [0.1, 0.12, 0.2])
    good = exact_nnhm_posterior(t, draws=500)
    d = S.diagnostics(good)
    assert d.ok, d.problems
    assert d.rhat_max < 1.01
    # two chains stuck in different places: R-hat must flag it
    rng = np.random.default_rng(0)
    bad = azb.from_dict(
        {
            "posterior": {"mu": np.stack([rng.normal(0, 0.1, 500), rng.normal(1, 0.1, 500)])},
            "sample_stats": {"diverging": np.r_[np.ones(3), np.zeros(997)].reshape(2, 500).astype(bool)},
        }
    )
    d = S.diagnostics(bad)
    assert not d.ok
    assert d.divergences == 3
    assert any("R-hat" in p for p in d.problems)


def test_summarize_analysis_end_to_end_exact_posterior():
    t = make_table([0.1, 0.3, 0.35, 0.65, 0.45], [0.1, 0.12, 0.2, 0.15, 0.25], n=[100, 80, 40, 60, 30])
    dt = exact_nnhm_posterior(t, draws=2000)
    a = S.summarize_analysis(dt, t)
    assert a.k == 5 and a.n_total == 310
    assert a.prediction.ci_high - a.prediction.ci_low > a.effect.ci_high - a.effect.ci_low
    assert 0 < a.effect.p_benefit <= 1
    assert a.heterogeneity is not None and 0 <= a.heterogeneity.share_median < 1
    d = a.to_dict()
    import json

    json.dumps(d, default=float)
