"""The RoBMA-PSMA ensemble (``psma``): likelihoods and quadrature marginal likelihoods against
independent references -- the likelihood written out here from its definition (p-values,
publication probabilities by ``scipy.stats``) and integrated by tensor Gauss–Legendre rules; the
bias-free model against the exact NNHM integration. Monte-Carlo checks (bridge sampling,
product space) are in ``test_psma_bridge.py`` (slow tier)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from vfsynth.fits.exact import nnhm_exact
from vfsynth.fits.psma_quadrature import psma_quadrature
from vfsynth.models.priors import parse_prior
from vfsynth.models.psma import PSMA_BIAS, PsmaModel, psma_loglik
from vfsynth.models.spec import array_ops

TAU = parse_prior("inverse-gamma:1,0.15", target="tau")
MU = parse_prior("normal:0,1", target="mu")
# a made-up 3-study review with z = 2.5, 1.8, 0.4: studies in three p-value intervals
Y3 = np.array([0.50, 0.54, 0.10])
SE3 = np.array([0.20, 0.30, 0.25])


def _cdf(x, m, s):
    return special.ndtr((x - m) / s)


def _pdf(x, m, s):
    return np.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))


def _publication_prob(mu, sig, s, side, cuts, omega):
    """E[w(p(Y))], Y ~ N(mu, sig): sum_j omega_j P(p(Y) in interval j), from the p-value definition."""
    z_one = [math.inf] + [float(stats.norm.isf(c)) for c in cuts] + [-math.inf]
    z_two = [math.inf] + [float(stats.norm.isf(c / 2)) for c in cuts] + [0.0]
    total = 0.0
    for j in range(len(cuts) + 1):
        if side == "one-sided":  # p = 1 - Phi(y/s) in [c_j, c_j+1)  <=>  y/s in (z_{1-c_j+1}, z_{1-c_j}]
            a, b = z_one[j + 1] * s, z_one[j] * s
            pr = _cdf(b, mu, sig) - _cdf(a, mu, sig)
        else:  # p = 2(1 - Phi(|y|/s)) in [c_j, c_j+1)  <=>  |y|/s in (z_{1-c_j+1/2}, z_{1-c_j/2}]
            a, b = z_two[j + 1] * s, z_two[j] * s
            pr = _cdf(b, mu, sig) - _cdf(a, mu, sig) + _cdf(-a, mu, sig) - _cdf(-b, mu, sig)
        total = total + omega[j] * pr
    return total


def _lik(y, se, mu, tau, bias, omega=None, b=0.0):
    """prod_i p(y_i | ...) of a PSMA model, written from its definition (broadcasts over arrays)."""
    kind, side, cuts, _ = PSMA_BIAS[bias]
    out = 1.0
    for yi, si in zip(y, se, strict=True):
        sig = np.sqrt(tau**2 + si**2)
        if kind in ("pet", "peese"):
            out = out * _pdf(yi, mu + b * (si if kind == "pet" else si * si), sig)
            continue
        dens = _pdf(yi, mu, sig)
        if kind == "weightfunction":
            p = stats.norm.sf(yi / si) if side == "one-sided" else 2 * stats.norm.sf(abs(yi / si))
            j = int(np.searchsorted(cuts, p, side="right"))
            dens = dens * omega[j] / _publication_prob(mu, sig, si, side, cuts, omega)
        out = out * dens
    return out


def test_weight_functions_and_pet_peese_reduce_to_the_normal_model():
    """omega = 1 (no selection) and b = 0 (no small-study effect) give N(y; mu, tau^2 + s^2)."""
    ops = array_ops("numpy")
    mu, tau = np.array([[0.2], [-0.1]]), np.array([[0.0], [0.3]])
    ref = stats.norm.logpdf(Y3, mu, np.sqrt(tau**2 + SE3**2))
    for bias, (kind, _, cuts, _) in PSMA_BIAS.items():
        m = PsmaModel(True, True, bias)
        omega = np.ones((2, 1, len(cuts) + 1)) if kind == "weightfunction" else None
        b = np.zeros((2, 1)) if kind in ("pet", "peese") else None
        np.testing.assert_allclose(psma_loglik(ops, m, Y3, SE3, mu, tau, omega, b), ref, rtol=1e-12, atol=1e-12,
                                   err_msg=bias)


@pytest.mark.parametrize("bias", ["2s(.05,.1)", "1s(.025,.05,.5)", "PET"])
def test_likelihood_equals_its_definition(bias):
    kind, _, cuts, _ = PSMA_BIAS[bias]
    m = PsmaModel(True, True, bias)
    omega = np.array([1.0, 0.6, 0.35, 0.1])[: len(cuts) + 1] if kind == "weightfunction" else None
    got = psma_loglik(array_ops("numpy"), m, Y3, SE3, np.array([[0.15]]), np.array([[0.2]]),
                      None if omega is None else omega[None, None, :], np.array([[0.8]])).sum()
    assert got == pytest.approx(math.log(_lik(Y3, SE3, 0.15, 0.2, bias, omega, 0.8)), abs=1e-12)


def test_quadrature_of_the_bias_free_model_equals_the_exact_nnhm():
    """The AGHQ engine on (mu, log tau) against the NNHM's exact integration (bayesmeta's method)."""
    rng = np.random.default_rng(4)
    se = rng.uniform(0.1, 0.4, 12)
    y = rng.normal(0.25, 0.15, 12) + se * rng.standard_normal(12)
    q = psma_quadrature(PsmaModel(True, True, "none"), y, se, TAU, MU)
    ep = nnhm_exact(y, se, tau_prior=TAU, mu_prior=MU)
    assert q.log_ml_error < 1e-6
    assert q.log_ml == pytest.approx(ep.log_marginal_likelihood, abs=1e-6)
    assert q.posterior.mu_mean == pytest.approx(ep.mu_mean, abs=1e-6)
    assert q.posterior.tau_mean == pytest.approx(ep.tau_mean, abs=1e-6)
    x = ep.mu_quantiles((0.025, 0.5, 0.975))
    np.testing.assert_allclose(q.posterior.mu_cdf(x), [0.025, 0.5, 0.975], atol=2e-4)
    t = ep.tau_quantiles((0.1, 0.5, 0.9))
    np.testing.assert_allclose(q.posterior.tau_cdf(t), [0.1, 0.5, 0.9], atol=2e-4)


def _gl(n, lo=0.0, hi=1.0):
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (hi - lo) * x + 0.5 * (hi + lo), 0.5 * (hi - lo) * w


def reference_log_ml(model: PsmaModel, n: int, y=Y3, se=SE3) -> float:
    """log p(y | M) by tensor Gauss–Legendre over the natural parameters, the priors entering as
    inverse-CDF maps of the unit interval written from their definitions (so each prior is
    uniform there): tau = -0.15 / log u (InvGamma(1, 0.15): F(t) = exp(-0.15/t)),
    b = scale tan(pi u / 2) (half-Cauchy), the uniform Dirichlet by stick-breaking
    (v_1 = 1 - (1 - u_1)^(1/(J-1)), ...); mu by its N(0, 1) density on [-6, 6]."""
    kind, _, cuts, _ = PSMA_BIAS[model.bias]
    axes, jac = [], []
    if model.effect:
        x, w = _gl(n, -6.0, 6.0)
        axes.append(x)
        jac.append(w * _pdf(x, 0.0, 1.0))
    for _ in range(int(model.heterogeneity) + (len(cuts) if kind == "weightfunction" else 0)
                   + (kind in ("pet", "peese"))):
        axes.append(_gl(n)[0])
        jac.append(_gl(n)[1])
    grid = np.meshgrid(*axes, indexing="ij")
    weight = np.prod(np.meshgrid(*jac, indexing="ij"), axis=0)
    i = 0
    mu = tau = 0.0
    if model.effect:
        mu, i = grid[0], 1
    if model.heterogeneity:
        tau, i = -0.15 / np.log(grid[i]), i + 1
    omega, b = None, 0.0
    if kind == "weightfunction":
        J = len(cuts) + 1
        e, rest = [], 1.0
        for j in range(J - 1):
            v = 1.0 - (1.0 - grid[i + j]) ** (1.0 / (J - 1 - j))
            e.append(rest * v)
            rest = rest * (1.0 - v)
        e.append(rest)
        omega = [sum(e[j:]) for j in range(J)]  # cumulative: omega_1 = 1
    elif kind in ("pet", "peese"):
        b = (1.0 if kind == "pet" else 5.0) * np.tan(0.5 * math.pi * grid[i])
    return float(math.log(np.sum(weight * _lik(y, se, mu, tau, model.bias, omega, b))))


@pytest.mark.parametrize("model", [PsmaModel(True, False, "1s(.05)"), PsmaModel(False, True, "2s(.05)"),
                                   PsmaModel(True, False, "PEESE")], ids=lambda m: m.name)
def test_quadrature_equals_gauss_legendre_on_three_studies(model):
    q = psma_quadrature(model, Y3, SE3, TAU, MU)
    ref, ref2 = reference_log_ml(model, 120), reference_log_ml(model, 240)
    ref_err = abs(ref2 - ref)
    # both numerical errors are estimated (two orders each); agreement must be within them
    assert q.log_ml_error < 1e-3 and ref_err < 1e-6
    assert abs(q.log_ml - ref2) <= 3 * (q.log_ml_error + ref_err) + 1e-6
