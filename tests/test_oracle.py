"""MCMC posteriors against independent numerical integration.

* NNHM (random-effects, normal likelihood): ``vfsynth.fits.exact.nnhm_exact`` (bayesmeta's
  method: mu integrated analytically given tau, tau on a fine grid) — mu mean and SD,
  P(mu > 0), tau quantiles, agreeing within 4 Monte Carlo standard errors (ArviZ MCSE:
  ``mcse(method="mean" | "sd" | "quantile")``; for P(mu > 0) the MCSE of the indicator's
  mean with its ESS).
* Binomial–normal (exact 2x2 likelihood): a nested quadrature written here — alpha_i on a
  fine grid, theta_i by Gauss–Hermite given (mu, tau), (mu, tau) on a 2-D grid.
* Wide priors: the posterior mean of mu is close to the REML estimate (metafor-equal
  ``vfsynth.data.pooling``).

Fast tests use short chains with honestly computed MCSE; the full-length checks on the
review's sensitivity data, eight schools and normand1999 are ``@pytest.mark.slow``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import special, stats

from vfsynth.fits.exact import nnhm_exact
from vfsynth.models.priors import half_normal, normal_mu

FIXTURES = Path(__file__).parent / "fixtures"
Z = 4.0  # tolerance in Monte Carlo standard errors


def _mcse(dt, name, method, prob=None):
    import arviz_stats as azs

    kw = {"method": method}
    if prob is not None:
        kw["prob"] = prob
    return float(np.asarray(azs.mcse(dt, var_names=[name], **kw)[name].values))


def _mcse_indicator(x):
    """MCSE of mean(x > 0) for draws x (chain, draw): sqrt(p(1-p)/ESS) with ArviZ's ESS."""
    import arviz_stats as azs

    ind = (x > 0).astype(float)
    p = ind.mean()
    if p in (0.0, 1.0):
        return 0.0
    return float(np.sqrt(p * (1 - p) / float(azs.ess(ind, method="mean"))))


def _fit(table, tau_prior, mu_prior, *, draws, tune, chains, seed, model="random-effects"):
    from vfsynth.fits.runner import fit_univariate

    return fit_univariate(table, model=model, tau_prior=tau_prior, mu_prior=mu_prior, seed=seed, draws=draws,
                          tune=tune, chains=chains, save=False)


def _compare(fit, ref: dict, label: str) -> dict:
    """Deviation of each MCMC summary from its reference, in MCSE units (asserted <= Z)."""
    dt = fit.dt
    mu = dt["posterior"]["mu"].values
    tau = dt["posterior"]["tau"].values
    dev = {
        "mu_mean": (mu.mean() - ref["mu_mean"]) / _mcse(dt, "mu", "mean"),
        "mu_sd": (mu.std(ddof=1) - ref["mu_sd"]) / _mcse(dt, "mu", "sd"),
        "p_mu_pos": ((mu > 0).mean() - ref["p_mu_pos"]) / max(_mcse_indicator(mu), 1e-12),
    }
    for q, val in ref["tau_q"].items():
        dev[f"tau_q{q}"] = (np.quantile(tau, q) - val) / _mcse(dt, "tau", "quantile", q)
    print(label, {k: round(float(v), 2) for k, v in dev.items()})
    bad = {k: float(v) for k, v in dev.items() if not abs(v) <= Z}
    assert not bad, f"{label}: deviations beyond {Z} MCSE: {bad}"
    return dev


def _exact_ref(table, tau_prior, mu_prior):
    e = nnhm_exact(table, tau_prior=tau_prior, mu_prior=mu_prior)
    qs = (0.25, 0.5, 0.9)
    return {
        "mu_mean": e.mu_mean,
        "mu_sd": e.mu_sd,
        "p_mu_pos": e.prob_mu_greater(0.0),
        "tau_q": dict(zip(qs, np.asarray(e.tau_quantiles(qs)), strict=True)),
    }


def _schools():
    from vfsynth.data import load_csv

    return load_csv(FIXTURES / "eight_schools.csv").effects("sat_coaching")


def _normand():
    from vfsynth.data import load_csv

    return load_csv(FIXTURES / "normand1999.csv").effects("length_of_stay")


def _sensitivity():
    from vfsynth.data import load_review

    return load_review().effects("sensitivity")


# ----------------------------------------------------------------------------- fast


def test_fast_nnhm_eight_schools_matches_exact_within_mcse():
    """Short run (2 x 1000 draws), MCSE from the same short run: still a real check."""
    tp, mp = half_normal(10.0), normal_mu(0.0, 20.0)
    fit = _fit(_schools(), tp, mp, draws=1000, tune=500, chains=2, seed=101)
    assert fit.verdict["divergences"] == 0
    _compare(fit, _exact_ref(_schools(), tp, mp), "eight schools (fast)")


@pytest.mark.slow  # ~40 s; binomial-normal is also calibrated by SBC
def test_fast_binomial_normal_matches_quadrature():
    tp, mp = half_normal(0.5), normal_mu(0.0, 2.0)
    table = _small_binary()
    fit = _fit(table, tp, mp, draws=1000, tune=500, chains=2, seed=7, model="binomial-normal")
    assert fit.verdict["divergences"] == 0
    # one pointwise log-likelihood term per study (LOO unit = study): log Bin(r_T) + log Bin(r_C)
    ll = fit.dt["log_likelihood"]["y"]
    assert ll.dims == ("chain", "draw", "study") and list(ll["study"].values) == list(table.study)
    post = fit.dt["posterior"]
    th, al = post["theta"].values[0, 0], post["alpha"].values[0, 0]
    want = stats.binom.logpmf(table.events_t, table.n_t, special.expit(al + th / 2)) + stats.binom.logpmf(
        table.events_c, table.n_c, special.expit(al - th / 2)
    )
    np.testing.assert_allclose(ll.values[0, 0], want, rtol=1e-8)
    _compare(fit, _binomial_normal_quadrature(table, tp, mp), "binomial-normal k=3 (fast)")


# ----------------------------------------------------------------------------- binomial quadrature


def _small_binary():
    from vfsynth.data.effect_table import EffectTable

    e_t = np.array([25.0, 30, 12])
    n_t = np.array([40.0, 55, 30])
    e_c = np.array([18.0, 22, 14])
    n_c = np.array([42.0, 50, 33])
    lor = np.log(e_t / (n_t - e_t)) - np.log(e_c / (n_c - e_c))
    se = np.sqrt(1 / e_t + 1 / (n_t - e_t) + 1 / e_c + 1 / (n_c - e_c))
    return EffectTable(
        outcome="secure", timepoint="post", measure="logOR", study=("A", "B", "C"), estimate=lor, se=se,
        n_total=n_t + n_c, year=np.full(3, np.nan), derivation=("",) * 3, source=("",) * 3,
        events_t=e_t, n_t=n_t, events_c=e_c, n_c=n_c,
    )


def _binomial_normal_quadrature(table, tau_prior, mu_prior, alpha_sd=10.0):
    """Posterior summaries of the binomial–normal model by nested quadrature.

    f_i(theta) = int N(alpha; 0, alpha_sd^2) Bin(r_T | n_T, expit(alpha + theta/2))
                 Bin(r_C | n_C, expit(alpha - theta/2)) d alpha      (trapezoid, 3001 nodes)
    L_i(mu, tau) = int N(theta; mu, tau^2) f_i(theta) d theta          (80-node Gauss–Hermite,
                 log f_i interpolated on a 0.005 grid)
    p(mu, tau | data) ∝ p(mu) p(tau) prod_i L_i(mu, tau)                (2-D grid)
    """
    th = np.linspace(-6, 6, 2401)
    al = np.linspace(-15, 15, 3001)
    logf = []
    for i in range(table.k):
        a = al[None, :]
        t = th[:, None]
        ll = (
            stats.binom.logpmf(table.events_t[i], table.n_t[i], special.expit(a + t / 2))
            + stats.binom.logpmf(table.events_c[i], table.n_c[i], special.expit(a - t / 2))
            + stats.norm.logpdf(a, 0, alpha_sd)
        )
        logf.append(special.logsumexp(ll, axis=1) + np.log(al[1] - al[0]))
    x, w = np.polynomial.hermite.hermgauss(80)
    mu = np.linspace(-3, 4, 701)
    tau = np.linspace(1e-6, 2.5, 501)
    M, T = np.meshgrid(mu, tau, indexing="ij")
    logpost = mu_prior.logpdf(M) + tau_prior.logpdf(T)
    for lf in logf:
        nodes = M[..., None] + np.sqrt(2) * T[..., None] * x
        vals = np.interp(nodes, th, lf, left=-np.inf, right=-np.inf)
        logpost = logpost + special.logsumexp(vals + np.log(w / np.sqrt(np.pi)), axis=-1)
    return _grid_summaries(mu, tau, logpost)


def _grid_summaries(mu, tau, logpost, qs=(0.25, 0.5, 0.9)):
    """Moments, P(mu > 0) and tau quantiles from a log posterior on a uniform (mu, tau) grid.

    Each grid value stands for the mass of its cell, so the CDF at a cell's centre is the
    mass below it plus half its own (midpoint rule), interpolated linearly between centres.
    """
    post = np.exp(logpost - logpost.max())
    post /= post.sum()
    pm_ = post.sum(axis=1)
    pt = post.sum(axis=0)
    mean = float((pm_ * mu).sum())
    sd = float(np.sqrt((pm_ * (mu - mean) ** 2).sum()))
    cdf_mu = np.cumsum(pm_) - pm_ / 2
    cdf_tau = np.cumsum(pt) - pt / 2
    return {
        "mu_mean": mean,
        "mu_sd": sd,
        "p_mu_pos": float(1.0 - np.interp(0.0, mu, cdf_mu)),
        "tau_q": {q: float(np.interp(q, cdf_tau, tau)) for q in qs},
    }


def test_quadrature_oracle_reproduces_nnhm_exact_for_normal_case():
    """Self-check of the quadrature machinery: with the binomial factor replaced by a normal
    likelihood, the same (mu, tau) grid + Gauss–Hermite must reproduce nnhm_exact."""
    table = _small_binary()
    tp, mp = half_normal(0.5), normal_mu(0.0, 2.0)
    x, w = np.polynomial.hermite.hermgauss(80)
    mu = np.linspace(-3, 4, 701)
    tau = np.linspace(1e-6, 2.5, 501)
    M, T = np.meshgrid(mu, tau, indexing="ij")
    logpost = mp.logpdf(M) + tp.logpdf(T)
    for y, s in zip(table.estimate, table.se, strict=True):
        nodes = M[..., None] + np.sqrt(2) * T[..., None] * x
        logpost = logpost + special.logsumexp(stats.norm.logpdf(y, nodes, s) + np.log(w / np.sqrt(np.pi)), axis=-1)
    got = _grid_summaries(mu, tau, logpost)
    e = nnhm_exact(table, tau_prior=tp, mu_prior=mp)
    # grid error is far below the MCSEs the oracle is used with (~1e-2)
    assert got["mu_mean"] == pytest.approx(e.mu_mean, abs=1e-3)
    assert got["mu_sd"] == pytest.approx(e.mu_sd, abs=1e-3)
    assert got["p_mu_pos"] == pytest.approx(e.prob_mu_greater(0.0), abs=1e-3)
    for q, v in got["tau_q"].items():
        assert v == pytest.approx(float(e.tau_quantiles([q])[0]), abs=5e-3)


# ----------------------------------------------------------------------------- wide priors vs REML


def test_wide_prior_posterior_mean_near_reml():
    """With mu ~ N(0, 100^2), tau ~ HN(5) (SMD scale), E[mu | y] is within 0.25 REML SEs of the REML
    estimate: the Bayesian mean averages the tau-conditional GLS means over tau's posterior, so it
    is not equal to REML, but close (exact integration gives the gap; MCMC must match it)."""
    from vfsynth.data.pooling import pool

    table = _normand()
    tp, mp = half_normal(5.0), normal_mu(0.0, 100.0)
    r = pool(table.estimate, table.variance, method="REML")
    ex = nnhm_exact(table, tau_prior=tp, mu_prior=mp)
    assert abs(ex.mu_mean - r.estimate) < 0.25 * r.se
    fit = _fit(table, tp, mp, draws=1000, tune=500, chains=2, seed=5)
    mu = fit.dt["posterior"]["mu"].values
    assert abs(mu.mean() - r.estimate) < 0.25 * r.se + Z * _mcse(fit.dt, "mu", "mean")


# ----------------------------------------------------------------------------- slow, full length


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,loader,tau_spec,mu_spec",
    [
        ("sensitivity (CD012348)", _sensitivity, (0.5,), (0.0, 1.0)),
        ("eight schools", _schools, (10.0,), (0.0, 20.0)),
        ("normand1999", _normand, (0.5,), (0.0, 1.0)),
    ],
)
def test_slow_nnhm_matches_exact(name, loader, tau_spec, mu_spec):
    table = loader()
    tp, mp = half_normal(*tau_spec), normal_mu(*mu_spec)
    fit = _fit(table, tp, mp, draws=5000, tune=1000, chains=4, seed=2024)
    assert fit.verdict["divergences"] == 0 and fit.verdict["max_rhat"] <= 1.01
    _compare(fit, _exact_ref(table, tp, mp), name)
    # shrunken study effects too
    ex = nnhm_exact(table, tau_prior=tp, mu_prior=mp)
    th = fit.dt["posterior"]["theta"]
    import arviz_stats as azs

    mc = np.asarray(azs.mcse(fit.dt, var_names=["theta"], method="mean")["theta"].values)
    dev = (th.mean(("chain", "draw")).values - np.asarray(ex.theta_mean)) / mc
    assert np.all(np.abs(dev) <= Z), dev


@pytest.mark.slow
def test_slow_binomial_normal_matches_quadrature():
    tp, mp = half_normal(0.5), normal_mu(0.0, 2.0)
    table = _small_binary()
    fit = _fit(table, tp, mp, draws=5000, tune=1000, chains=4, seed=77, model="binomial-normal")
    assert fit.verdict["divergences"] == 0
    _compare(fit, _binomial_normal_quadrature(table, tp, mp), "binomial-normal k=3")


# ----------------------------------------------------------------------------- Student-t random effects


def _t_quadrature(table, tau_prior, mu_prior, nu: float) -> dict:
    """Posterior of (mu, tau) for Student-t random effects by a dense 2-D grid.

    Each study's theta is integrated out by ``vfsynth.fits.batched.marginal_loglik("t", ...)``
    (the t density as a normal scale mixture, checked against adaptive quadrature in
    tests/test_compare.py); mu and tau on a fine grid with the priors' own log densities.
    """
    from scipy import interpolate

    from vfsynth.fits.batched import marginal_loglik

    y, se = table.estimate, table.se
    mu = np.linspace(-3.0, 4.0, 701)
    tau = np.linspace(1e-5, 3.0, 600)
    ll = np.stack([marginal_loglik("t", y, se, mu, np.full_like(mu, t), nu).sum(-1) for t in tau], axis=1)
    M, T = np.meshgrid(mu, tau, indexing="ij")
    lp = ll + mu_prior.logpdf(M) + tau_prior.logpdf(T)
    w = np.exp(lp - special.logsumexp(lp))
    mean = float((w * M).sum())
    sd = float(np.sqrt((w * (M - mean) ** 2).sum()))
    p_pos = float(w[mu > 0].sum())
    wt = w.sum(axis=0)
    cdf = np.cumsum(wt) - wt / 2  # midpoint rule on the tau grid
    inv = interpolate.interp1d(cdf, tau)
    qs = (0.25, 0.5, 0.9)
    return {"mu_mean": mean, "mu_sd": sd, "p_mu_pos": p_pos, "tau_q": {q: float(inv(q)) for q in qs}}


@pytest.mark.slow  # ~40-75 s; the t model is also calibrated by SBC (vfsynth calibrate)
def test_t_random_effects_matches_quadrature_within_mcse():
    """The PyMC Student-t random-effects model (nu = 4, the engine's default) against a 2-D
    quadrature of the same posterior, on a review that is not CD012348 (normand1999)."""
    tp, mp = half_normal(0.5), normal_mu(0.0, 1.0)
    table = _normand()
    fit = _fit(table, tp, mp, draws=1500, tune=1000, chains=2, seed=31, model="t")
    assert fit.verdict["divergences"] == 0
    ref = _t_quadrature(table, tp, mp, nu=4.0)
    _compare(fit, ref, "Student-t RE normand1999")
    # and it is a different posterior from the normal model's, so the check has teeth
    assert abs(ref["mu_mean"] - nnhm_exact(table, tau_prior=tp, mu_prior=mp).mu_mean) > 0.01
