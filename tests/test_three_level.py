"""Three-level model (several estimates per study): REML / ML equal metafor ``rma.mv(yi, vi, mods,
random = ~ 1 | study/estimate)`` to 1e-6 (pinned by tests/reference/three_level_metafor.R on
metadat's dat.konstantopoulos2011 and dat.assink2016); the Sherman–Morrison algebra against the
dense covariance matrix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from vfsynth.fits.three_level_reml import fit_three_level
from vfsynth.models.three_level import ThreeLevelError, loglik_beta_fixed, three_level_data

REF = {r["label"]: r for r in json.loads((Path(__file__).parent / "reference" / "three_level_metafor.json").read_text())}


def _data(r):
    mods = None
    if r.get("moderator_names"):
        names = r["moderator_names"] if isinstance(r["moderator_names"], list) else [r["moderator_names"]]
        mods = dict(zip(names, r["moderators"], strict=True))
    return three_level_data(r["yi"], r["vi"], r["cluster"], mods)


@pytest.mark.parametrize("label", ["konstantopoulos2011", "assink2016_year"])
def test_reml_equals_metafor(label):
    r = REF[label]
    f = fit_three_level(_data(r))
    np.testing.assert_allclose(f.sigma2, r["sigma2"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(f.beta, np.atleast_1d(r["beta"]), rtol=0, atol=1e-6)
    np.testing.assert_allclose(f.se, np.atleast_1d(r["se"]), rtol=0, atol=1e-6)
    assert f.loglik == pytest.approx(r["logLik_reml"], abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("label", list(REF))
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_all_references(label, method):
    r = REF[label]
    f = fit_three_level(_data(r), method)
    s2, beta, ll = (r["sigma2"], r["beta"], r["logLik_reml"]) if method == "REML" else \
        (r["sigma2_ml"], r["beta_ml"], r["logLik_ml"])
    np.testing.assert_allclose(f.sigma2, s2, rtol=0, atol=1e-6)
    # year-moderator intercepts are ~ -10 (years ~ 1980): 1e-6 relative there
    np.testing.assert_allclose(f.beta, np.atleast_1d(beta), rtol=1e-6, atol=1e-6)
    assert f.loglik == pytest.approx(ll, abs=1e-6)


def test_sherman_morrison_equals_dense_covariance():
    r = REF["assink2016"]
    d = _data(r)
    t1, t2, beta = 0.19, 0.11, np.array([0.4])
    same = (d.cluster[:, None] == d.cluster[None, :]).astype(float)
    cov = np.diag(d.v + t2) + t1 * same
    dense = stats.multivariate_normal(d.X @ beta, cov).logpdf(d.y)
    assert float(loglik_beta_fixed(d, t1, t2, beta)[0]) == pytest.approx(dense, abs=1e-9)


def test_bad_three_level_input_names_the_estimate():
    with pytest.raises(ThreeLevelError, match=r"estimate 2 \(study b\)"):
        three_level_data([0.1, 0.2], [0.01, -1.0], ["a", "b"])
    with pytest.raises(ThreeLevelError, match="rank deficient"):
        three_level_data([0.1, 0.2, 0.3], [0.01, 0.01, 0.01], ["a", "a", "b"], {"x": [1.0, 1.0, 1.0]})
