"""Joint-model SBC for every data design with the shipped priors (:mod:`vfsynth.fits.joint_sbc`).

Fast tier: the designs are what they claim (who reports what), the 95 % coverage probability of
the default L = 199 ranks is exactly 0.95, and the verdicts work on ranks whose distribution is
known (uniform draws pass; ranks of an over-confident posterior fail) — no sampling.
Slow tier (``--run-slow``): 500 replicates per design through the vectorised NUTS program; rank
uniformity (Bonferroni over quantities), 95 % coverage and the excluded-for-divergence fraction are
asserted; in the no-pairs design the sensitivity–attachment correlation must not learn.
"""

from __future__ import annotations

import numpy as np
import pytest

from vfsynth.fits import joint_sbc as JS


def test_designs_report_what_they_claim():
    comp, nop, fol = (JS.design(d) for d in JS.DESIGNS)
    assert JS.pairs_informing(comp) == 22
    assert JS.pairs_informing(nop) == 0 and not nop.cells
    assert JS.pairs_informing(fol) == 0 and fol.cells == ("attachment@6 months",)
    # follow-up-only: every attachment row is at follow-up
    assert set(fol.row_timepoint[i] for i in np.flatnonzero(np.asarray(fol.row_outcome) != "sensitivity")) == {"6 months"}
    assert nop.n_count_rows > 0 and comp.n_count_rows > 0
    with pytest.raises(ValueError):
        JS.design("review-ish")


def test_coverage_of_199_ranks_is_exactly_95_percent():
    p, lo, hi = JS.coverage95_bounds(500, 199, 0.01 / 9)
    assert p == 190 / 200 and lo < 0.95 < hi


def _result(ranks, divergences=None):
    n, P = ranks.shape
    return JS.JointSBCResult(design="complete", labels=[f"q{j}" for j in range(P)], ranks=ranks, L=199,
                             truth=np.zeros((n, P)), post_median=np.zeros((n, P)), post_iqr=np.ones((n, P)),
                             prior_iqr=np.ones(P), divergences=np.zeros(n, int) if divergences is None else divergences,
                             seed=0, seconds=0.0, pairs=22)


def test_verdicts_on_ranks_of_known_distribution(tmp_path):
    rng = np.random.default_rng(3)
    good = _result(rng.integers(0, 200, size=(500, 4)))
    assert JS.check(good) == []
    # an over-confident posterior puts the truth in the tails: U-shaped ranks
    bad_ranks = rng.integers(0, 200, size=(500, 4))
    bad_ranks[:, 1] = np.where(rng.random(500) < 0.5, rng.integers(0, 15, 500), rng.integers(185, 200, 500))
    fails = JS.check(_result(bad_ranks))
    assert any(f.startswith("q1: ranks not uniform") for f in fails)
    assert any(f.startswith("q1: 95% coverage") for f in fails)
    assert not any(f.startswith(("q0", "q2", "q3")) for f in fails)
    div = np.zeros(500, int)
    div[:40] = 3
    res = _result(rng.integers(0, 200, size=(500, 4)), div)
    assert res.summary()["excluded_divergent"] == 40 and res.table()["coverage95"].notna().all()
    assert any("divergent" in f for f in JS.check(res))
    from vfsynth.reports.joint_sbc_files import write_joint_sbc

    files = write_joint_sbc(good, tmp_path / "sbc")
    assert all(p.stat().st_size > 0 for p in files.values())


@pytest.mark.slow
@pytest.mark.parametrize("design", JS.DESIGNS)
def test_joint_sbc_500_replicates(design, tmp_path):
    res = JS.run_joint_sbc(design, replicates=500, seed=20240601)
    print(res.summary())
    print(res.table().to_string())
    assert res.replicates == 500
    assert JS.check(res) == []
    if design == "no-pairs":
        ratio = res.table().set_index("quantity").loc["corr[sensitivity~attachment]", "learned_iqr_ratio"]
        assert ratio > 0.9, f"the sensitivity-attachment correlation learned (IQR ratio {ratio:.2f}) with no pairs"
