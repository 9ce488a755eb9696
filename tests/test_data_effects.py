"""Effect sizes against pinned metafor values (tests/reference/metafor_escalc.json) and closed forms."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

from vfsynth.data import effects as es
from vfsynth.data import load_csv, load_review

HERE = Path(__file__).resolve().parent
FIX = HERE / "fixtures"
ESCALC = json.loads((HERE / "reference" / "metafor_escalc.json").read_text())["cases"]
TOL = 1e-6


def test_reference_records_call_and_version():
    blob = json.loads((HERE / "reference" / "metafor_escalc.json").read_text())
    assert blob["metafor_version"] == "3.8.1"
    assert all("call" in c for c in blob["cases"].values())


def test_hedges_g_matches_metafor_normand1999():
    rows = load_csv(FIX / "normand1999.csv").rows
    g, v = es.hedges_g(rows.n_t, rows.mean_t, rows.sd_t, rows.n_c, rows.mean_c, rows.sd_c)
    ref = ESCALC["normand1999_SMD"]
    np.testing.assert_allclose(g, ref["yi"], atol=TOL, rtol=0)
    np.testing.assert_allclose(v, ref["vi"], atol=TOL, rtol=0)


def test_mean_difference_matches_metafor():
    rows = load_csv(FIX / "normand1999.csv").rows
    md, v = es.mean_difference(rows.n_t, rows.mean_t, rows.sd_t, rows.n_c, rows.mean_c, rows.sd_c)
    np.testing.assert_allclose(md, ESCALC["normand1999_MD"]["yi"], atol=TOL, rtol=0)
    np.testing.assert_allclose(v, ESCALC["normand1999_MD"]["vi"], atol=TOL, rtol=0)


def test_log_or_matches_metafor_bcg():
    rows = load_csv(FIX / "bcg.csv").rows
    lor, v = es.log_odds_ratio(rows.events_t, rows.n_t, rows.events_c, rows.n_c)
    np.testing.assert_allclose(lor, ESCALC["bcg_OR"]["yi"], atol=TOL, rtol=0)
    np.testing.assert_allclose(v, ESCALC["bcg_OR"]["vi"], atol=TOL, rtol=0)


def test_log_or_zero_cells_match_metafor_only0():
    ref = ESCALC["zero_cells_OR"]
    lor, v = es.log_odds_ratio(ref["ai"], ref["n1i"], ref["ci"], ref["n2i"])
    np.testing.assert_allclose(lor, ref["yi"], atol=TOL, rtol=0)
    np.testing.assert_allclose(v, ref["vi"], atol=TOL, rtol=0)


def test_review_arm_rows_match_metafor():
    review = load_review()
    ref = ESCALC["cd012348_continuous_SMD"]
    assert len(ref["study"]) >= 1
    for study, outcome, tp, yi, vi in zip(
        ref["study"], ref["outcome"], ref["timepoint"], ref["yi"], ref["vi"], strict=True
    ):
        t = review.effects(outcome, tp).subset([study])
        assert t.estimate[0] == pytest.approx(yi, abs=TOL)
        assert t.variance[0] == pytest.approx(vi, abs=TOL)
    ref = ESCALC["cd012348_binary_OR"]
    t = review.effects(ref["outcome"][0], ref["timepoint"][0])
    # raw events are unfavourable (higher_is_better=false): benefit-scale log OR is the negative
    assert t.estimate[0] == pytest.approx(-ref["yi"][0], abs=TOL)
    assert t.variance[0] == pytest.approx(ref["vi"][0], abs=TOL)


def test_hedges_j_closed_form_and_limit():
    # J(m) exact at m = 2: Gamma(1) / (sqrt(1) Gamma(1/2)) = 1/sqrt(pi)
    assert es.hedges_j(2) == pytest.approx(1 / math.sqrt(math.pi), abs=1e-12)
    # Asymptotics: J = 1 - 3/(4m) - 7/(32 m^2) + O(m^-3), while Hedges' approximation
    # 1 - 3/(4m - 1) = 1 - 3/(4m) - 3/(16 m^2) + O(m^-3): the gap times m^2 tends to 1/32.
    m = np.array([1e2, 1e3, 1e4])
    gap = (1 - 3 / (4 * m - 1)) - es.hedges_j(m)
    np.testing.assert_allclose(gap * m**2, 1 / 32, rtol=0.05)
    assert es.hedges_j(4) == pytest.approx(
        math.exp(special.gammaln(2) - 0.5 * math.log(2) - special.gammaln(1.5))
    )


def test_revman_variance_formula():
    # RevMan 5: g = d (1 - 3/(4N - 9)), SE^2 = N/(n1 n2) + g^2 / (2 (N - 3.94))
    n1, n2, m1, m2, s1, s2 = 20, 25, 10.0, 8.0, 3.0, 4.0
    sp = math.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))
    d = (m1 - m2) / sp
    n = n1 + n2
    g_exp = d * (1 - 3 / (4 * n - 9))
    g, v = es.hedges_g(n1, m1, s1, n2, m2, s2, variance="revman")
    assert g == pytest.approx(g_exp, abs=1e-12)
    assert v == pytest.approx(n / (n1 * n2) + g_exp**2 / (2 * (n - 3.94)), abs=1e-12)
    with pytest.raises(ValueError):
        es.hedges_g(n1, m1, s1, n2, m2, s2, variance="other")


def test_se_from_ci_closed_form():
    assert es.se_from_ci(-1.96, 1.96) == pytest.approx(1.0, abs=1e-3)
    z = 1.959963984540054
    assert es.se_from_ci(0.02, 0.95) == pytest.approx(0.93 / (2 * z), abs=1e-12)
    assert es.se_from_ci(0.10, 0.73, log=True) == pytest.approx(
        (math.log(0.73) - math.log(0.10)) / (2 * z), abs=1e-12
    )
    assert es.se_from_ci(-1.0, 1.0, level=0.90) == pytest.approx(1 / 1.6448536269514722, abs=1e-12)


@given(st.floats(-3, 3), st.floats(0.001, 2))
def test_chinn_roundtrip(smd, var):
    lor, lv = es.smd_to_logor(smd, var)
    assert lor == pytest.approx(smd * math.pi / math.sqrt(3))
    assert lv == pytest.approx(var * math.pi**2 / 3)
    back, bv = es.logor_to_smd(lor, lv)
    assert back == pytest.approx(smd, abs=1e-12)
    assert bv == pytest.approx(var, rel=1e-12)


@settings(max_examples=50, deadline=None)
@given(
    st.integers(2, 200),
    st.integers(2, 200),
    st.floats(-10, 10),
    st.floats(-10, 10),
    st.floats(0.1, 5),
    st.floats(0.1, 5),
)
def test_swapping_arms_negates_g(n1, n2, m1, m2, s1, s2):
    g, v = es.hedges_g(n1, m1, s1, n2, m2, s2)
    g2, v2 = es.hedges_g(n2, m2, s2, n1, m1, s1)
    assert g2 == pytest.approx(-g, abs=1e-12)
    assert v2 == pytest.approx(v, rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(st.floats(-3, 3), st.floats(0.2, 5))
def test_g_tends_to_d_as_n_grows(delta, sd):
    ns = np.array([10, 100, 1000, 100000])
    g, _ = es.hedges_g(ns, delta * sd, sd, ns, 0.0, sd)
    gap = np.abs(g - delta)  # d = delta exactly here
    assert np.all(np.diff(gap) <= 1e-15)
    assert gap[-1] <= abs(delta) * 1e-5 + 1e-15


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.integers(0, 40), st.integers(0, 40))
def test_counting_non_events_negates_log_or(nt_extra, nc_extra, et, ec):
    nt, nc = et + nt_extra, ec + nc_extra
    lor, v = es.log_odds_ratio(et, nt, ec, nc)
    lor2, v2 = es.log_odds_ratio(nt - et, nt, nc - ec, nc)
    assert lor2 == pytest.approx(-lor, abs=1e-12)
    assert v2 == pytest.approx(v, rel=1e-12)


def test_smd_se_from_total_n_equals_even_split_formula():
    g, v = 0.78, None
    se = es.smd_se_from_total_n(g, 54)
    assert se == pytest.approx(math.sqrt(1 / 27 + 1 / 27 + g**2 / (2 * 54)), abs=1e-12)
    del v


SHARED_REVMAN = HERE.parents[1] / "shared" / "reference" / "revman" / "web-csv"
REVMAN_SMD_ANALYSES = [
    ("CD010861.pub3.csv", 1, 3),
    ("CD010861.pub3.csv", 1, 4),
    ("CD010861.pub3.csv", 2, 2),
    ("CD010861.pub3.csv", 2, 4),
    ("CD014914.pub2.csv", 5, 1),
    ("CD014914.pub2.csv", 12, 1),
    ("CD014914.pub2.csv", 13, 1),
]


@pytest.mark.skipif(not SHARED_REVMAN.exists(), reason="shared RevMan exports not available")
@pytest.mark.parametrize("fname,group,number", REVMAN_SMD_ANALYSES)
def test_revman_option_reproduces_revman_smd(fname, group, number):
    """RevMan's own per-study SMD and 95% CI (RevMan Web export, printed to 6 decimals)."""
    import pandas as pd

    d = pd.read_csv(SHARED_REVMAN / fname)
    a = d[(d["Analysis group"] == group) & (d["Analysis number"] == number)]
    args = (
        a["Experimental N"], a["Experimental mean"], a["Experimental SD"],
        a["Control N"], a["Control mean"], a["Control SD"],
    )  # fmt: skip
    g, v = es.hedges_g(*args, variance="revman")
    z = 1.959963984540054
    np.testing.assert_allclose(g, a["Mean"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(g - z * np.sqrt(v), a["CI start"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(g + z * np.sqrt(v), a["CI end"], atol=1e-6, rtol=0)
    # the metafor variance is a different formula: its CI misses RevMan's by more than rounding
    gm, vm = es.hedges_g(*args)
    assert np.max(np.abs(gm + z * np.sqrt(vm) - a["CI end"])) > 5e-6
