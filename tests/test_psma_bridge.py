"""Slow tier: the PSMA quadrature marginal likelihoods against Monte-Carlo estimators that share
nothing with it but the log posterior -- bridge sampling from random-walk Metropolis draws and
a Carlin–Chib product-space sampler -- with tolerances from the estimators' own measured
Monte-Carlo errors (replicate groups of independent chains) plus the quadrature's error
estimate; a 3-parameter case against tensor Gauss–Legendre; the whole ensemble on the command line."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from test_psma import MU, SE3, TAU, Y3, reference_log_ml

from vfsynth.fits.bridge import bridge_log_ml, metropolis, product_space
from vfsynth.fits.psma_quadrature import log_posterior_fn, psma_quadrature
from vfsynth.models.psma import PsmaModel

pytestmark = pytest.mark.slow


def _review(seed: int = 3, k: int = 20):
    rng = np.random.default_rng(seed)
    se = rng.uniform(0.1, 0.5, k)
    return rng.normal(0.3, 0.2, k) + se * rng.standard_normal(k), se


@pytest.mark.parametrize("bias", ["1s(.05)", "2s(.05,.1)", "1s(.025,.05,.5)", "PET", "PEESE"])
def test_bridge_sampling_agrees_with_quadrature(bias):
    y, se = _review()
    m = PsmaModel(True, True, bias)
    q = psma_quadrature(m, y, se, TAU, MU)
    lp, _ = log_posterior_fn(m, y, se, TAU, MU)
    rng = np.random.default_rng(20)
    # the Laplace covariance only scales the Metropolis proposals (efficiency, not the target)
    draws = metropolis(lp, q.mode, q.cov, n_chains=400, n_steps=2500, rng=rng)
    b = bridge_log_ml(lp, draws, rng, n_rep=20)
    err = math.hypot(b.mcse, q.log_ml_error)
    assert abs(b.log_ml - q.log_ml) <= 4 * err, (b.log_ml, b.mcse, q.log_ml, q.log_ml_error)


def test_product_space_model_probability_agrees_with_quadrature():
    """P(selection | y) for random-effects mu != 0 without bias vs with one-sided (.05) selection."""
    y, se = _review()
    a, bsel = PsmaModel(True, True, "none"), PsmaModel(True, True, "1s(.05)")
    qa, qb = (psma_quadrature(m, y, se, TAU, MU) for m in (a, bsel))
    la, _ = log_posterior_fn(a, y, se, TAU, MU)
    lb, _ = log_posterior_fn(bsel, y, se, TAU, MU)
    p_quad = 1.0 / (1.0 + math.exp(qa.log_ml - qb.log_ml))
    p_err = p_quad * (1 - p_quad) * math.hypot(qa.log_ml_error, qb.log_ml_error)
    rng = np.random.default_rng(7)
    da = metropolis(la, qa.mode, qa.cov, 200, 1500, rng).reshape(-1, 2)
    db = metropolis(lb, qb.mode, qb.cov, 200, 1500, rng).reshape(-1, 3)
    p, mcse = product_space(la, lb, da, db, rng)
    assert 0.05 < p_quad < 0.95  # an informative case
    assert abs(p - p_quad) <= 4 * math.hypot(mcse, p_err), (p, mcse, p_quad, p_err)


@pytest.mark.parametrize("model", [PsmaModel(False, True, "2s(.05,.1)"), PsmaModel(True, True, "1s(.05)")],
                         ids=lambda m: m.name)
def test_quadrature_equals_gauss_legendre_in_three_dimensions(model):
    q = psma_quadrature(model, Y3, SE3, TAU, MU)
    ref, ref2 = reference_log_ml(model, 100), reference_log_ml(model, 160)
    ref_err = abs(ref2 - ref)
    assert q.log_ml_error < 1e-2 and ref_err < 1e-4
    assert abs(q.log_ml - ref2) <= 3 * (q.log_ml_error + ref_err) + 1e-6


def test_cli_psma_on_the_bundled_review():
    out = subprocess.run([sys.executable, "-m", "vfsynth.reports.cli", "average", "--outcome", "sensitivity",
                          "--ensemble", "psma", "--json"], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    assert len(res["models"]) == 36
    assert sum(m["post_prob"] for m in res["models"]) == pytest.approx(1.0)
    assert set(res["inclusion"]) == {"effect", "heterogeneity", "bias", "selection", "pet_peese"}
    assert res["inclusion"]["bias"]["prior_prob"] == pytest.approx(0.5)  # RoBMA: 1/2 bias-free
    assert max(m["log_ml_error"] for m in res["models"]) < 0.05
