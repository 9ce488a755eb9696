"""Simulation-based calibration of the joint mediation model (slow; ``--run-slow``).

100 simulated reviews shaped like CD012348 (22 studies, ~1,900 dyads, bundled-like study
sizes) per design, parameters drawn from the registry default priors, each fitted with
BlackJAX NUTS vectorised over replicates (:mod:`vfsynth.fits.sbc`). Checks:

* rank uniformity of a, b, c', indirect, total, the three tau's and two between-study
  correlations: Pearson chi-square on 10 equal bins of the ranks (L = 99 thinned draws,
  100 possible ranks), family-wise alpha = 0.01 Bonferroni-corrected over the 10
  quantities (per-quantity alpha = 0.001);
* with every outcome observed in every study ("complete"), coverage of central 90 %
  intervals inside the binomial acceptance interval at the same per-quantity alpha, and
  recovery of a and the total effect (posterior means correlate with the truth).

Runtime is printed (run with ``-s``); it is measured, not asserted (about 100 s on 2 cores).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

ALPHA = 0.01
N_REP = 100
SEED = 20240601


@pytest.mark.slow
@pytest.mark.parametrize("pattern", ["review", "complete"])
def test_joint_sbc(pattern):
    from vfsynth.fits.sbc import run_sbc, sbc_report

    res = run_sbc(pattern, n_rep=N_REP, seed=SEED, n_warmup=500, n_draws=1000, thin=10, chunk=25)
    rep = sbc_report(res, alpha=ALPHA, bins=10)
    print(f"\nSBC {pattern}: {json.dumps(rep, indent=1)}")
    assert res["ranks"].shape == (N_REP, len(res["labels"]))
    assert res["design"]["studies"] == 22
    bad = {k: p for k, p in rep["p_values"].items() if not rep["uniform"][k]}
    assert not bad, f"ranks not uniform (p < {ALPHA}/{len(rep['p_values'])}): {bad}"
    if pattern == "complete":
        badc = {k: c for k, c in rep["coverage90"].items() if not rep["coverage_ok"][k]}
        assert not badc, f"90% coverage outside {rep['coverage_bounds']}: {badc}"
        labels = res["labels"]
        for q in ("a", "total"):
            j = labels.index(q)
            r = np.corrcoef(res["truth"][:, j], res["post_mean"][:, j])[0, 1]
            # posterior SD of a pooled SMD from 22 studies (~0.07) vs prior SD 1: r ~ 0.99
            assert r > 0.95, f"{q}: posterior means do not track the truth (r = {r:.3f})"
