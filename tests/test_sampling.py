"""Sampling, seeding and the diagnostics gate."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import xarray as xr

from vfsynth.data.effect_table import EffectTable
from vfsynth.fits import diagnostics, sampling
from vfsynth.models.priors import half_normal, normal_mu
from vfsynth.models.univariate import build_model

SCHOOLS_Y = np.array([28.0, 8, -3, 7, -1, 1, 18, 12])
SCHOOLS_SE = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])


def _schools():
    k = 8
    return EffectTable(
        outcome="sat", timepoint="post", measure="MD", study=tuple("ABCDEFGH"), estimate=SCHOOLS_Y,
        se=SCHOOLS_SE, n_total=np.full(k, np.nan), year=np.full(k, np.nan), derivation=("",) * k,
        source=("",) * k,
    )


def _fake_tree(chains=2, draws=100, div=None, depth=None, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(chains, draws))
    mu[0] += shift
    energy = rng.normal(size=(chains, draws))
    ss = {
        "diverging": (("chain", "draw"), np.zeros((chains, draws), bool) if div is None else div),
        "tree_depth": (("chain", "draw"), np.full((chains, draws), 3) if depth is None else depth),
        "energy": (("chain", "draw"), energy),
    }
    return xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset({"mu": (("chain", "draw"), mu)}),
            "sample_stats": xr.Dataset(ss),
        }
    )


def test_derive_seeds_is_deterministic_and_streams_differ():
    a = sampling.derive_seeds(7)
    assert a == sampling.derive_seeds(7)
    assert len(set(a.values())) == 3
    assert a != sampling.derive_seeds(8)
    with pytest.raises(ValueError):
        sampling.derive_seeds(-1)


def test_unknown_and_missing_samplers_give_clear_errors(monkeypatch):
    with pytest.raises(ValueError, match="choose one of numpyro, pymc, nutpie, blackjax"):
        sampling.check_sampler("stan")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "nutpie" else real(n, *a))
    with pytest.raises(sampling.SamplerUnavailableError, match="'nutpie'.*pip install nutpie"):
        sampling.check_sampler("nutpie")


def test_diagnose_counts_divergences_and_treedepth_per_chain():
    div = np.zeros((2, 100), bool)
    div[0, :3] = True
    div[1, 10] = True
    depth = np.full((2, 100), 3)
    depth[1, :5] = 10
    v = diagnostics.diagnose(_fake_tree(div=div, depth=depth), max_treedepth=10)
    assert v["divergences_per_chain"] == [3, 1]
    assert v["treedepth_per_chain"] == [0, 5]
    assert v["divergences"] == 4 and v["treedepth_hits"] == 5
    assert not v["passed"]
    text = diagnostics.format_warning(v)
    assert "chain 1: 3 of 100 (3.0%) divergent" in text
    assert "chain 2: 1 of 100 (1.0%) divergent; 5 of 100 (5.0%) hit max tree depth" in text


def test_diagnose_flags_rhat_of_shifted_chain_and_passes_iid():
    assert diagnostics.diagnose(_fake_tree(draws=400, shift=3.0))["max_rhat"] > 1.5
    good = diagnostics.diagnose(_fake_tree(draws=400))
    assert good["max_rhat"] < 1.01 and good["passed"], good["problems"]
    # iid normal energy: E-BFMI = Var(dE)/Var(E) = 2 in expectation
    assert all(1.5 < e < 2.5 for e in good["ebfmi"])


def test_same_seed_same_draws_and_all_groups():
    m = build_model("random-effects", _schools(), half_normal(10.0), normal_mu(0.0, 50.0))
    kw = dict(draws=100, tune=100, chains=2, progress=False, prior_draws=50)
    a = sampling.sample_model(m, seed=11, **kw)
    b = sampling.sample_model(m, seed=11, **kw)
    c = sampling.sample_model(m, seed=12, **kw)
    for group, var in (("posterior", "mu"), ("prior", "tau"), ("posterior_predictive", "y"), ("log_likelihood", "y")):
        np.testing.assert_array_equal(a[group][var].values, b[group][var].values)
    assert not np.array_equal(a["posterior"]["mu"].values, c["posterior"]["mu"].values)
    assert a["log_likelihood"]["y"].dims == ("chain", "draw", "study")
    assert a["posterior"]["theta"].dims == ("chain", "draw", "study")


def test_funnel_divergences_one_warning_with_per_chain_counts_and_bounded_reruns(caplog):
    """Centred eight schools with a short warm-up is the classic divergent funnel."""
    m = build_model("random-effects", _schools(), half_normal(10.0), normal_mu(0.0, 50.0), centered=True)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        dt, v = diagnostics.sample_gated(
            m, draws=150, tune=30, chains=2, seed=3, prior_draws=None, posterior_predictive=False,
            log_likelihood=False,
        )
    fw = [w for w in caught if issubclass(w.category, diagnostics.FitWarning)]
    assert v["divergences"] > 0
    assert len(fw) == 1
    msg = str(fw[0].message)
    for c, d in enumerate(v["divergences_per_chain"]):
        assert f"chain {c + 1}: {d} of 150" in msg
    # ladder 0.9 -> 0.95 -> 0.99, at most two re-runs, each logged
    assert [a["target_accept"] for a in v["attempts"]] == [0.9, 0.95, 0.99][: len(v["attempts"])]
    assert 1 <= len(v["attempts"]) <= 3
    assert sum("re-running at" in r.getMessage() for r in caplog.records) == len(v["attempts"]) - 1
    assert int(dt["sample_stats"]["diverging"].sum()) == v["divergences"]


@pytest.mark.parametrize("sampler", ["pymc", "nutpie", "blackjax"])
def test_alternative_samplers_run(sampler):
    pytest.importorskip(sampler)
    m = build_model("random-effects", _schools(), half_normal(10.0), normal_mu(0.0, 50.0))
    dt = sampling.sample_model(m, sampler=sampler, draws=50, tune=50, chains=2, seed=1, prior_draws=None,
                               posterior_predictive=False)
    assert dt["posterior"]["mu"].shape == (2, 50)
    assert dt["log_likelihood"]["y"].dims == ("chain", "draw", "study")
    v = diagnostics.diagnose(dt)
    assert len(v["divergences_per_chain"]) == 2


def test_diagnose_ignores_constant_components_but_not_nonfinite_ones():
    """An LKJ Cholesky factor has fixed entries (R-hat NaN); they must not fail the gate,
    while a genuinely non-mixing or non-finite component still must."""
    import warnings

    import arviz_base as azb

    from vfsynth.fits.diagnostics import diagnose

    rng = np.random.default_rng(0)
    chol = np.zeros((4, 500, 2, 2))
    chol[..., 0, 0] = 1.0
    chol[..., 1, 0] = 0.1 * rng.normal(size=(4, 500))
    chol[..., 1, 1] = np.sqrt(1 - chol[..., 1, 0] ** 2)
    stats = {
        "diverging": np.zeros((4, 500), bool),
        "tree_depth": np.full((4, 500), 3),
        "energy": rng.normal(size=(4, 500)),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ok = diagnose(azb.from_dict({"posterior": {"mu": rng.normal(size=(4, 500)), "corr_chol": chol},
                                     "sample_stats": stats}))
        assert ok["passed"] and ok["max_rhat"] < 1.01

        stuck = chol.copy()
        stuck[0, :, 1, 0] += 5.0  # chain 0 sits elsewhere: R-hat must flag it
        bad = diagnose(azb.from_dict({"posterior": {"mu": rng.normal(size=(4, 500)), "corr_chol": stuck},
                                      "sample_stats": stats}))
        assert not bad["passed"] and bad["max_rhat"] > 1.5

        nonfinite = chol.copy()
        nonfinite[1, 7, 1, 1] = np.nan
        worse = diagnose(azb.from_dict({"posterior": {"mu": rng.normal(size=(4, 500)), "corr_chol": nonfinite},
                                        "sample_stats": stats}))
        assert not worse["passed"]
