"""Trial-level surrogacy (fits/surrogacy.py) against closed forms and simulation.

Independent references: the bivariate-normal conditional distribution written out by hand, and
the empirical conditional distribution of simulated bivariate-normal true effects near the
conditioning value.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from vfsynth.fits import surrogacy as SU

MU_S, MU_A, TAU_S, TAU_A, RHO = 0.5, 0.3, 0.3, 0.4, 0.8


def _fixed(n=50):
    f = lambda v: np.full(n, v)  # noqa: E731
    return SU.BivariateDraws(f(MU_S), f(MU_A), f(TAU_S), f(TAU_A), f(RHO))


def test_fixed_parameters_match_the_textbook_conditional():
    d = _fixed()
    for x, se in ((0.7, 0.0), (0.1, 0.0), (0.7, 0.15)):
        # theta_A | y_S = x with y_S ~ N(theta_S, se^2): regression on the noisy proximal estimate
        cov = np.array([[TAU_S**2 + se**2, RHO * TAU_S * TAU_A], [RHO * TAU_S * TAU_A, TAU_A**2]])
        m = MU_A + cov[0, 1] / cov[0, 0] * (x - MU_S)
        s = np.sqrt(cov[1, 1] - cov[0, 1] ** 2 / cov[0, 0])
        p = SU.predict_distal(d, x, se)
        assert abs(p["median"] - m) < 1e-8
        assert abs(p["low"] - (m - stats.norm.ppf(0.975) * s)) < 1e-8
        assert abs(p["high"] - (m + stats.norm.ppf(0.975) * s)) < 1e-8
        assert abs(p["p_benefit"] - stats.norm.sf(0, m, s)) < 1e-10
    # STE: lower limit mu_A + b (x - mu_S) - z * tau_A sqrt(1 - rho^2) = 0
    b = RHO * TAU_A / TAU_S
    ste = MU_S + (1.959963984540054 * TAU_A * np.sqrt(1 - RHO**2) - MU_A) / b
    assert abs(SU.surrogate_threshold_effect(d) - ste) < 1e-6
    assert abs(SU.ste_fixed(MU_S, MU_A, TAU_S, TAU_A, RHO) - ste) < 1e-10
    assert SU.ste_fixed(MU_S, MU_A, TAU_S, TAU_A, -0.3) is None


def test_conditional_matches_simulated_bivariate_normal():
    """Empirical quantiles of theta_A among simulated trials with theta_S near x."""
    rng = np.random.default_rng(7)
    cov = np.array([[TAU_S**2, RHO * TAU_S * TAU_A], [RHO * TAU_S * TAU_A, TAU_A**2]])
    th = rng.multivariate_normal([MU_S, MU_A], cov, size=500_000)
    x = 0.7
    sel = th[np.abs(th[:, 0] - x) < 0.01, 1]
    n = sel.size
    p = SU.predict_distal(_fixed(), x)
    s = TAU_A * np.sqrt(1 - RHO**2)
    for q, key in ((0.5, "median"), (0.025, "low"), (0.975, "high")):
        # SE of an empirical quantile: sqrt(q(1-q)/n) / density at the quantile
        se_q = np.sqrt(q * (1 - q) / n) / stats.norm.pdf(stats.norm.ppf(q)) * s
        assert abs(np.quantile(sel, q) - p[key]) < 4 * se_q + 0.002, key  # 0.002: window bias bound
    assert abs(np.corrcoef(th.T)[0, 1] ** 2 - RHO**2) < 0.002


def test_mixture_prediction_matches_sampling_over_draws():
    """With uncertain parameters the predictive is the mixture: compare with one draw per component."""
    rng = np.random.default_rng(3)
    n = 1000
    d = SU.BivariateDraws(rng.normal(0.5, 0.1, n), rng.normal(0.3, 0.1, n), np.abs(rng.normal(0.3, 0.05, n)),
                          np.abs(rng.normal(0.4, 0.05, n)), np.tanh(rng.normal(1.0, 0.3, n)))
    mean, sd = SU.conditional_moments(d, 0.7)
    sims = rng.normal(mean[None, :], sd[None, :], size=(200, n)).ravel()
    p = SU.predict_distal(d, 0.7)
    for q, key in ((0.5, "median"), (0.025, "low"), (0.975, "high")):
        f = stats.gaussian_kde(sims[::40])(p[key])[0]
        se_q = np.sqrt(q * (1 - q) / n) / f  # conservative: components, not the 100x resamples, are independent
        assert abs(np.quantile(sims, q) - p[key]) < 4 * se_q, key
    ste = SU.surrogate_threshold_effect(d)
    assert ste is not None and abs(SU.predict_distal(d, ste)["low"]) < 1e-6
