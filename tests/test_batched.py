"""Batched (vmapped BlackJAX NUTS) refits against the exact NNHM posterior and 2-D quadrature."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from vfsynth.fits.batched import (
    U_HI,
    U_LO,
    U_N,
    loso_weights,
    marginal_loglik,
    run_batched,
    tabulate_tau_prior,
)
from vfsynth.fits.exact import nnhm_exact
from vfsynth.models.priors import (
    bartos_prior,
    half_cauchy,
    half_normal,
    normal_mu,
    rhodes_prior,
    turner_prior,
)

Y = np.array([0.78, 0.65, 0.86, 0.48, 0.41, 0.12, 0.3])
SE = np.array([0.28, 0.22, 0.38, 0.24, 0.14, 0.13, 0.2])


@pytest.mark.parametrize("prior", [half_normal(0.5), half_cauchy(0.5), turner_prior("mental-health", "non-pharmacological"),
                                   rhodes_prior("subjective", "non-pharmacological"), bartos_prior("developmental", "SMD")])
def test_tabulated_prior_matches_logpdf(prior):
    """Linear interpolation of the tabulated log density (u = log tau, Jacobian included)."""
    tab = tabulate_tau_prior(prior)
    u = np.random.default_rng(0).uniform(-8, 4, 500)
    got = np.interp(u, np.linspace(U_LO, U_HI, U_N), tab)
    want = prior.logpdf(np.exp(u)) + u
    ok = want > -50  # far tails: both are "negligible"
    assert np.max(np.abs(got - want)[ok]) < 2e-3


def test_batched_loso_and_priors_match_exact_engine():
    """One program: 2 priors x (all + each study left out). Each row's posterior of mu and tau
    agrees with the exact (quadrature) posterior of the same data and prior."""
    priors = [half_normal(0.5), turner_prior("mental-health", "non-pharmacological")]
    mp = normal_mu(0, 1)
    w1 = loso_weights(len(Y))
    W = np.vstack([w1, w1])
    taus = [p for p in priors for _ in range(len(w1))]
    r = run_batched("random-effects", Y, SE, W, taus, [mp] * len(W), draws=1000, tune=700, chains=2, seed=11)
    assert r.mu.shape == (len(W), 2, 1000)
    assert r.diverging.mean() < 0.01
    worst = 0.0
    for b in range(len(W)):
        keep = W[b] > 0
        ex = nnhm_exact(Y[keep], SE[keep], taus[b], mp)
        z = abs(r.mu[b].mean() - ex.mu_mean) / ex.mu_sd
        worst = max(worst, z)
        assert np.mean(r.mu[b] > 0) == pytest.approx(ex.prob_mu_greater(0.0), abs=0.02)
        assert np.median(r.tau[b]) == pytest.approx(ex.tau_quantiles([0.5])[0], abs=0.04)
    # MCSE of a mean at ESS ~ 1000 is ~0.03 sd; 16 rows -> max |z| below 0.15 comfortably
    assert worst < 0.15


def test_same_seed_same_draws():
    a = run_batched("random-effects", Y, SE, np.ones((1, len(Y))), [half_normal(0.5)], [normal_mu(0, 1)], draws=50, tune=50, chains=2, seed=3)
    b = run_batched("random-effects", Y, SE, np.ones((1, len(Y))), [half_normal(0.5)], [normal_mu(0, 1)], draws=50, tune=50, chains=2, seed=3)
    c = run_batched("random-effects", Y, SE, np.ones((1, len(Y))), [half_normal(0.5)], [normal_mu(0, 1)], draws=50, tune=50, chains=2, seed=4)
    np.testing.assert_array_equal(a.mu, b.mu)
    assert not np.array_equal(a.mu, c.mu)


@pytest.mark.slow  # ~35 s; the batched t program is also checked by SBC
def test_batched_t_model_against_2d_quadrature():
    """Student-t random effects (nu = 4): posterior mean of mu by NUTS vs a 2-D grid integral
    of prior x marginal likelihood (theta integrated by the scale-mixture quadrature)."""
    tp, mp, nu = half_normal(0.5), normal_mu(0, 1), 4.0
    y = np.append(Y, 2.0)  # an outlier, where t and normal differ
    se = np.append(SE, 0.2)
    r = run_batched("t", y, se, np.ones((1, len(y))), [tp], [mp], nu=nu, draws=1000, tune=700, chains=2, seed=5)
    mu = np.linspace(-1.5, 2.5, 321)
    tau = np.linspace(1e-4, 2.5, 320)
    M, T = np.meshgrid(mu, tau, indexing="ij")
    ll = np.stack([marginal_loglik("t", y, se, mu, np.full_like(mu, t), nu).sum(-1) for t in tau], axis=1)
    lp = ll + mp.logpdf(M) + tp.logpdf(T)
    w = np.exp(lp - special.logsumexp(lp))
    mean = float((w * M).sum())
    sd = float(np.sqrt((w * (M - mean) ** 2).sum()))
    assert abs(r.mu[0].mean() - mean) < 0.15 * sd
    # the t model discounts the outlier relative to the normal model
    ex = nnhm_exact(y, se, tp, mp)
    assert mean < ex.mu_mean


def test_common_effect_batch_is_conjugate_normal():
    """Common effect with a normal prior: the posterior is N(m, v) in closed form."""
    mp = normal_mu(0, 1)
    r = run_batched("common-effect", Y, SE, loso_weights(len(Y))[:3], [None] * 3, [mp] * 3, draws=1000, tune=500, chains=2, seed=2)
    for b, w in enumerate(loso_weights(len(Y))[:3]):
        prec = (w / SE**2).sum() + 1.0
        m = (w * Y / SE**2).sum() / prec
        sd = 1 / np.sqrt(prec)
        assert abs(r.mu[b].mean() - m) < 0.15 * sd
        assert r.mu[b].std() == pytest.approx(sd, rel=0.1)
        assert stats.kstest(r.mu[b].ravel()[::4], stats.norm(m, sd).cdf).pvalue > 1e-3


_DETERMINISM_SCRIPT = """
import sys
from vfsynth.fits.jaxenv import configure
configure()
if sys.argv[1] == "after-pymc":
    # PyTensor's JAX linker turns x64 on when it compiles a PyMC model
    import pymc as pm
    from vfsynth.fits.sampling import sample_model
    with pm.Model() as m:
        pm.Normal("x")
    sample_model(m, draws=20, tune=20, chains=1, seed=1, prior_draws=10, posterior_predictive=False,
                 log_likelihood=False)
import numpy as np
from vfsynth.fits.batched import loso_weights, run_batched
from vfsynth.models.priors import half_normal, normal_mu
y = np.array([0.78, 0.65, 0.86, 0.48, 0.41, 0.12]); se = np.array([0.28, 0.22, 0.38, 0.24, 0.14, 0.13])
r = run_batched("random-effects", y, se, loso_weights(6)[:2], [half_normal(0.5)] * 2, [normal_mu(0, 1)] * 2,
                draws=60, tune=60, chains=2, seed=5)
print(repr(float(r.mu.sum())), r.mu.dtype)
"""


def test_batched_draws_do_not_depend_on_an_earlier_pymc_fit(tmp_path):
    """Same seed, same draws, whether or not a PyMC model was compiled earlier in the process
    (which switches JAX to float64 unless vfsynth fixes the precision itself)."""
    import os
    import subprocess
    import sys

    script = tmp_path / "det.py"
    script.write_text(_DETERMINISM_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_ENABLE_X64",)}
    outs = [subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, env=env,
                           check=True).stdout.strip().splitlines()[-1] for mode in ("plain", "after-pymc")]
    assert outs[0] == outs[1]
    assert "float64" in outs[0]
