"""Model structure and log-densities of vfsynth.models.univariate, checked against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from vfsynth.data.effect_table import EffectTable
from vfsynth.models.priors import half_normal, normal_mu
from vfsynth.models.univariate import (
    KINDS,
    ModelSpecError,
    build_generative,
    build_model,
    observed_values,
    study_log_likelihood,
)

TAU = half_normal(0.5)
MU = normal_mu(0.0, 1.0)


def _table(k=4, counts=False, mixed=False):
    rng = np.random.default_rng(3)
    labels = tuple(f"S{i}" for i in range(k))
    est = rng.normal(0.3, 0.3, k)
    se = rng.uniform(0.1, 0.4, k)
    kw = {}
    measure = "SMD"
    if counts:
        measure = "logOR"
        n_t = np.array([40, 55, 30, 80, 25][:k], dtype=float)
        n_c = np.array([42, 50, 33, 75, 27][:k], dtype=float)
        e_t = np.array([25, 30, 20, 50, 12][:k], dtype=float)
        e_c = np.array([20, 22, 14, 40, 10][:k], dtype=float)
        if mixed:
            for a in (n_t, n_c, e_t, e_c):
                a[-1] = np.nan
        kw = dict(events_t=e_t, n_t=n_t, events_c=e_c, n_c=n_c)
    return EffectTable(
        outcome="o", timepoint="post", measure=measure, study=labels, estimate=est, se=se,
        n_total=np.full(k, np.nan), year=np.full(k, np.nan), derivation=("",) * k, source=("",) * k, **kw,
    )


@pytest.mark.parametrize("kind", ["random-effects", "common-effect", "t"])
def test_normal_models_have_named_study_dims_and_observed_y(kind):
    t = _table()
    m = build_model(kind, t, TAU, MU)
    assert list(m.coords["study"]) == list(t.study)
    assert m.named_vars_to_dims["theta"] == ("study",)
    assert m.named_vars_to_dims["y"] == ("study",)
    assert [v.name for v in m.observed_RVs] == ["y"]
    np.testing.assert_array_equal(m.rvs_to_values[m["y"]].data, t.estimate)
    for name in ("mu", "theta", "theta_new"):
        assert name in m.named_vars
    assert ("tau" in m.named_vars) == (kind != "common-effect")


def test_generative_model_has_no_data_and_observe_is_the_only_conditioning():
    t = _table()
    gen = build_generative("random-effects", t, TAU, MU)
    assert gen.observed_RVs == []
    assert "y" in [v.name for v in gen.free_RVs]


def test_random_effects_logp_equals_closed_form():
    """Joint log density at a point = N(y|mu+tau z, se) + N(z|0,1) + priors (+ log-Jacobian of log tau)."""
    t = _table()
    m = build_model("random-effects", t, TAU, MU)
    z = np.array([0.3, -1.0, 0.5, 2.0])
    mu, tau, z_new = 0.2, 0.35, -0.4
    point = {"mu": mu, "tau_log__": np.log(tau), "z": z, "z_new": z_new}
    got = m.compile_logp()(point)
    want = (
        stats.norm.logpdf(t.estimate, mu + tau * z, t.se).sum()
        + stats.norm.logpdf(z).sum()
        + stats.norm.logpdf(z_new)
        + stats.norm.logpdf(mu, 0, 1)
        + stats.halfnorm.logpdf(tau, scale=0.5)
        + np.log(tau)  # Jacobian of the log transform PyMC samples on
    )
    assert got == pytest.approx(want, rel=1e-10)


def test_t_model_uses_student_t_study_effects():
    t = _table()
    m = build_model("t", t, TAU, MU, nu=4.0)
    z = np.array([0.3, -1.0, 0.5, 2.0])
    point = {"mu": 0.1, "tau_log__": np.log(0.2), "z": z, "z_new": 0.0}
    got = m.compile_logp()(point)
    want = (
        stats.norm.logpdf(t.estimate, 0.1 + 0.2 * z, t.se).sum()
        + stats.t.logpdf(z, 4).sum()
        + stats.t.logpdf(0.0, 4)
        + stats.norm.logpdf(0.1)
        + stats.halfnorm.logpdf(0.2, scale=0.5)
        + np.log(0.2)
    )
    assert got == pytest.approx(want, rel=1e-10)
    m2 = build_model("t", t, TAU, MU, nu=None)
    assert "nu" in m2.named_vars


def test_binomial_normal_logp_matches_scipy_with_mixed_studies():
    """Symmetric parametrisation: logit p_c = alpha - theta/2, logit p_t = alpha + theta/2."""
    t = _table(k=4, counts=True, mixed=True)
    m = build_model("binomial-normal", t, TAU, MU)
    assert list(m.coords["study_counts"]) == ["S0", "S1", "S2"]
    assert list(m.coords["study_estimate"]) == ["S3"]
    assert m.named_vars_to_dims["theta"] == ("study",)
    mu, tau = 0.4, 0.3
    z = np.array([0.5, -0.2, 1.1, -0.7])
    alpha = np.array([0.2, 0.1, 0.4])
    point = {"mu": mu, "tau_log__": np.log(tau), "z": z, "z_new": 0.0, "alpha": alpha}
    theta = mu + tau * z
    c = slice(0, 3)
    want = (
        stats.binom.logpmf(t.events_t[c], t.n_t[c], special.expit(alpha + theta[c] / 2)).sum()
        + stats.binom.logpmf(t.events_c[c], t.n_c[c], special.expit(alpha - theta[c] / 2)).sum()
        + stats.norm.logpdf(t.estimate[3], theta[3], t.se[3])
        + stats.norm.logpdf(alpha, 0, 10).sum()
        + stats.norm.logpdf(z).sum()
        + stats.norm.logpdf(0.0)
        + stats.norm.logpdf(mu)
        + stats.halfnorm.logpdf(tau, scale=0.5)
        + np.log(tau)
    )
    # logit-parametrised binomial uses log1p(exp(.)) forms: agree to floating-point noise
    assert m.compile_logp()(point) == pytest.approx(want, abs=1e-6)
    obs = observed_values("binomial-normal", t)
    assert set(obs) == {"events_t", "events_c", "y"}


def test_binomial_normal_needs_counts_and_log_or():
    with pytest.raises(ModelSpecError, match="2x2 counts"):
        build_model("binomial-normal", EffectTable(**{**_table().__dict__, "measure": "logOR"}), TAU, MU)
    with pytest.raises(ModelSpecError, match="unknown model"):
        build_model("fixed", _table(), TAU, MU)
    with pytest.raises(ModelSpecError, match="tau prior"):
        build_model("random-effects", _table(), None, MU)


def test_study_log_likelihood_sums_arms_per_study():
    import xarray as xr

    t = _table(k=4, counts=True, mixed=True)
    rng = np.random.default_rng(0)
    et = rng.normal(size=(2, 5, 3))
    ec = rng.normal(size=(2, 5, 3))
    yy = rng.normal(size=(2, 5, 1))
    ll = xr.Dataset(
        {
            "events_t": (("chain", "draw", "study_counts"), et),
            "events_c": (("chain", "draw", "study_counts"), ec),
            "y": (("chain", "draw", "study_estimate"), yy),
        },
        coords={"study_counts": ["S0", "S1", "S2"], "study_estimate": ["S3"]},
    )
    dt = xr.DataTree.from_dict({"log_likelihood": ll})
    out = study_log_likelihood(dt, t, "binomial-normal")
    assert out.dims == ("chain", "draw", "study")
    assert list(out["study"].values) == list(t.study)
    np.testing.assert_allclose(out.values[..., :3], et + ec)
    np.testing.assert_allclose(out.values[..., 3], yy[..., 0])


def test_prior_predictive_variance_matches_closed_form():
    """Under mu~N(0,1), tau~HN(0.5): Var(y_i) = 1 + E[tau^2] + se_i^2 = 1 + 0.25 + se_i^2."""
    from vfsynth.fits.sampling import sample_prior_predictive

    t = _table()
    m = build_model("random-effects", t, TAU, MU)
    pp = sample_prior_predictive(m, draws=4000, seed=5)
    y = pp["prior_predictive"]["y"].values.reshape(-1, t.k)
    want = 1.0 + 0.25 + t.se**2
    var = y.var(axis=0, ddof=1)
    # standard error of the sample variance estimated from the draws themselves (y is a scale
    # mixture, so the normal-theory formula would understate it): SD of (y - ybar)^2 / sqrt(n)
    dev2 = (y - y.mean(axis=0)) ** 2
    tol = 4 * dev2.std(axis=0, ddof=1) / np.sqrt(y.shape[0])
    assert np.all(np.abs(var - want) < tol), (var, want)
    assert set(pp["prior"].data_vars) >= {"mu", "tau", "theta", "theta_new"}


@pytest.mark.parametrize("kind", KINDS)
def test_prior_predictive_available_for_every_model(kind):
    from vfsynth.fits.sampling import sample_prior_predictive

    t = _table(counts=(kind == "binomial-normal"), mixed=True)
    m = build_model(kind, t, TAU, MU)
    pp = sample_prior_predictive(m, draws=20, seed=1)
    assert "prior_predictive" in pp.children
    assert pp["prior"]["theta"].dims[-1] == "study"
