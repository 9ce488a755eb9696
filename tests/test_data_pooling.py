"""Frequentist pooling against pinned metafor rma / predict values (tests/reference/metafor_rma.json)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfsynth.data.pooling import pool

HERE = Path(__file__).resolve().parent
RMA = json.loads((HERE / "reference" / "metafor_rma.json").read_text())
CASES = {k: v for k, v in RMA["cases"].items() if "FE" in v}
KEYS = ("estimate", "se", "ci_low", "ci_high", "tau2", "i2", "q", "pi_low", "pi_high")
TOL = 1e-6


@pytest.mark.parametrize("method", ["FE", "DL", "REML"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_pool_matches_metafor(case, method):
    c = CASES[case]
    res = pool(c["yi"], c["vi"], method=method)
    ref = c[method]
    assert res.k == c["k"]
    for key in KEYS:
        assert getattr(res, key) == pytest.approx(ref[key], abs=TOL), (case, method, key)


def test_reml_default_close_to_converged_optimum():
    """metafor's default REML stops at a 1e-5 step; the fully converged tau2 is within 1e-4 of it."""
    for c in CASES.values():
        res = pool(c["yi"], c["vi"], method="REML")
        assert res.tau2 == pytest.approx(c["REML_tight"]["tau2"], abs=1e-4)


def test_level_90_matches_metafor():
    c = RMA["cases"]["normand1999_SMD_DL_level90"]
    res = pool(c["yi"], c["vi"], method="DL", level=0.90)
    for key in ("estimate", "se", "ci_low", "ci_high", "tau2", "pi_low", "pi_high"):
        assert getattr(res, key) == pytest.approx(c[key], abs=TOL), key


def test_dl_closed_form_independent():
    """DerSimonian & Laird (1986) written out, on eight schools with a shifted school (tau2 > 0)."""
    y = np.array([28, 8, -3, 7, -1, 1, 18, 62.0])
    v = np.array([15, 10, 16, 11, 9, 11, 10, 18.0]) ** 2
    w = 1 / v
    mu_fe = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - mu_fe) ** 2)
    tau2 = max(0.0, (q - (len(y) - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    ws = 1 / (v + tau2)
    mu = np.sum(ws * y) / ws.sum()
    res = pool(y, v, "DL")
    assert tau2 > 0
    assert res.tau2 == pytest.approx(tau2, rel=1e-12)
    assert res.estimate == pytest.approx(mu, rel=1e-12)
    assert res.se == pytest.approx(1 / math.sqrt(ws.sum()), rel=1e-12)
    assert res.q == pytest.approx(q, rel=1e-12)


def test_single_study_is_the_study():
    res = pool([0.5], [0.04], "REML")
    assert (res.estimate, res.se, res.tau2, res.i2) == (0.5, 0.2, 0.0, 0.0)
    assert res.pi_low == res.ci_low


@pytest.mark.parametrize("bad", [([], []), ([1.0], [0.0]), ([1.0, 2.0], [1.0]), ([np.nan], [1.0])])
def test_bad_input_raises(bad):
    with pytest.raises(ValueError):
        pool(*bad)


def test_unknown_method():
    with pytest.raises(ValueError):
        pool([1.0, 2.0], [1.0, 1.0], "PM")


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-3, 3), st.floats(0.01, 2)), min_size=2, max_size=12),
    st.floats(-5, 5),
)
def test_shift_and_sign_equivariance(rows, shift):
    y = np.array([r[0] for r in rows])
    v = np.array([r[1] for r in rows])
    for method in ("FE", "DL", "REML"):
        a = pool(y, v, method)
        b = pool(y + shift, v, method)
        c = pool(-y, v, method)
        assert b.estimate == pytest.approx(a.estimate + shift, abs=1e-6)
        assert b.tau2 == pytest.approx(a.tau2, abs=1e-6)
        assert c.estimate == pytest.approx(-a.estimate, abs=1e-6)
        assert c.ci_low == pytest.approx(-a.ci_high, abs=1e-6)
