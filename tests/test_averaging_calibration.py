"""Calibration of model averaging (``nnhm4``, exact): inclusion Bayes factors move the right way
as k grows, and simulation-based calibration (SBC) of the averaged posterior of mu."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from vfsynth.fits.averaging import average_models
from vfsynth.models.priors import parse_prior

TAU_PRIOR = parse_prior("half-normal:0.5", target="tau")
MU_PRIOR = parse_prior("normal:0,1", target="mu")


def _review(rng, k, mu, tau):
    se = rng.uniform(0.1, 0.4, k)
    return rng.normal(rng.normal(mu, tau, k), se), se


def _mean_log_bf(rng, k, mu, reps):
    return float(np.mean([np.log(average_models(*_review(rng, k, mu, 0.1), TAU_PRIOR, MU_PRIOR).inclusion_bf("effect"))
                          for _ in range(reps)]))


def test_effect_bf_grows_with_k_under_an_effect_and_shrinks_under_none():
    rng = np.random.default_rng(15)
    grow = [_mean_log_bf(rng, k, 0.3, 8) for k in (5, 20, 80)]
    assert grow[0] < grow[1] < grow[2]
    assert grow[2] > np.log(1e3)
    # under mu = 0 the log BF drifts down like -0.5 log k (Bayes-factor consistency): from k = 5 to
    # 80 by ~ 1.4, while the mean of 12 replicates has an SD of ~ 0.7 / sqrt(12) = 0.2 per k
    null5, null80 = _mean_log_bf(rng, 5, 0.0, 12), _mean_log_bf(rng, 80, 0.0, 12)
    assert null80 < null5 - 0.4
    assert null80 < 0


@pytest.mark.slow
def test_sbc_of_the_averaged_posterior_of_mu():
    """Draw a model from its prior, then (mu, tau) from that model's priors, then data; the
    randomised PIT of the true mu under the averaged posterior CDF (a jump at 0 from the mu = 0
    models) is U(0, 1) when the averaging is correct; and the mean posterior probability of an
    effect equals its prior probability (0.5) up to Monte-Carlo error."""
    rng = np.random.default_rng(2015)
    n, k = 400, 5
    pit, p_eff = np.empty(n), np.empty(n)
    for r in range(n):
        model = rng.integers(4)  # order: common/null, common/effect, random/null, random/effect
        effect, het = model in (1, 3), model in (2, 3)
        mu = MU_PRIOR.rvs(rng=rng)[()] if effect else 0.0
        tau = TAU_PRIOR.rvs(rng=rng)[()] if het else 0.0
        y, se = _review(rng, k, mu, tau)
        res = average_models(y, se, TAU_PRIOR, MU_PRIOR)
        lo, hi = res.cdf("mu", mu, left=True)[0], res.cdf("mu", mu)[0]
        pit[r] = lo + rng.uniform() * (hi - lo)
        p_eff[r] = res.post_prob[[1, 3]].sum()
    counts = np.histogram(pit, bins=10, range=(0, 1))[0]
    assert stats.chisquare(counts).pvalue > 1e-3
    # E[P(effect | y)] = P(effect) = 0.5 exactly under the prior predictive
    assert abs(p_eff.mean() - 0.5) < 4 * p_eff.std(ddof=1) / np.sqrt(n)
