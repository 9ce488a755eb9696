"""The averaged indirect effect (issue 15 item 5) against a mixture computed independently by sampling."""

from __future__ import annotations

import numpy as np

from vfsynth.fits.mediation_bf import averaged_indirect


def test_averaged_indirect_equals_sampled_mixture():
    rng = np.random.default_rng(4)
    draws = rng.normal(0.3, 0.1, 40_000)
    bf10 = 3.0  # prior odds 1 -> P(H1 | y) = 3/4
    out = averaged_indirect(draws, bf10)
    assert abs(out["posterior_probability_mediation"] - 0.75) < 1e-12
    # independent: sample the mixture directly (atom at 0 w.p. 1/4) and take empirical quantiles
    pick = rng.random(400_000) < 0.75
    mix = np.where(pick, rng.normal(0.3, 0.1, pick.size), 0.0)
    for key, q in (("median", 0.5), ("q97.5", 0.975)):
        ref = np.quantile(mix, q)
        # MC error of a quantile: sqrt(q(1-q)/n)/density; density of the normal part near there >= 1
        assert abs(out[key] - ref) < 0.01, (key, out[key], ref)
    # the lower 2.5% lies in the atom (P(0) = 0.25 > 0.025)
    assert out["q2.5"] == 0.0
    assert abs(out["prob_positive"] - np.mean(mix > 0)) < 4 * np.sqrt(0.75 * 0.25 / mix.size) + 1e-3


def test_no_evidence_means_half_the_mass_at_zero():
    draws = np.random.default_rng(1).normal(0.2, 0.05, 8000)
    out = averaged_indirect(draws, 1.0)
    assert out["posterior_probability_mediation"] == 0.5
    assert out["median"] == 0.0  # CDF at 0 is exactly 0.5 (the atom plus no negative draws)
    assert averaged_indirect(draws, None)["computed"] is False
