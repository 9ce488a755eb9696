"""Linear-memory paths of issue 12: blocked exact summaries, study draws on demand."""

from __future__ import annotations

import math

import numpy as np

from vfsynth.fits import exact as E
from vfsynth.models.priors.grammar import parse_prior

TAU = parse_prior("half-normal:0.5", "tau")
MU = parse_prior("normal:0,1", "mu")


def _sim(k, seed=3):
    rng = np.random.default_rng(seed)
    se = rng.uniform(0.1, 0.5, k)
    return rng.normal(0.3, 0.2, k) + se * rng.standard_normal(k), se


def test_thinned_tau_rule_for_study_quantiles_matches_full_rule(monkeypatch):
    # the full 1,025-node rule is checked against brute-force 2-D quadrature in test_exact.py
    y, se = _sim(400)
    ep = E.nnhm_exact(y, se, tau_prior=TAU, mu_prior=MU)
    monkeypatch.setattr(E, "THETA_THIN_K", 10**9)
    full = ep.theta_quantiles()
    monkeypatch.setattr(E, "THETA_THIN_K", 0)
    thin = ep.theta_quantiles()
    np.testing.assert_allclose(thin, full, atol=1e-10)


def test_blocked_study_moments_equal_one_pass(monkeypatch):
    y, se = _sim(300)
    ep = E.nnhm_exact(y, se, tau_prior=TAU, mu_prior=MU)
    w, mean, var = ep._theta_components()
    pw = np.exp(w)
    m1 = pw @ mean
    monkeypatch.setattr(E, "_BLOCK", 1000)  # forces many study blocks
    ep2 = E.nnhm_exact(y, se, tau_prior=TAU, mu_prior=MU)
    assert len(ep2._study_blocks()) > 1
    np.testing.assert_allclose(ep2.theta_mean, m1, rtol=0, atol=1e-14)
    np.testing.assert_allclose(ep2.theta_sd, np.sqrt(pw @ (var + mean**2) - m1**2), atol=1e-14)


def test_large_tree_omits_study_draws_and_blocks_match_exact(monkeypatch):
    import vfsynth.fits.engines.tree as T
    from vfsynth.data.effect_table import EffectTable
    from vfsynth.fits.engines.exact import exact_draws
    from vfsynth.models.spec import get_spec

    k = 40
    y, se = _sim(k, seed=7)
    table = EffectTable("o", "post", "SMD", tuple(f"s{i}" for i in range(k)), y, se, np.full(k, np.nan),
                        np.full(k, np.nan), ("",) * k, ("",) * k)
    spec = get_spec("random-effects")
    ep = E.nnhm_exact(y, se, tau_prior=TAU, mu_prior=MU)
    mu, tau = exact_draws(ep, 4000, 5)
    hyper = {"mu": mu.reshape(2, 2000), "tau": tau.reshape(2, 2000)}
    monkeypatch.setattr(T, "STUDY_DRAWS_LIMIT", 1000)
    dt = T.posterior_tree(spec, table, {"mu": MU, "tau": TAU}, hyper, seed=1)
    assert "theta" not in dt["posterior"].data_vars and "log_likelihood" not in dt.children
    assert "vfsynth_study_draws" in dt.attrs
    th = np.concatenate([b[1] for b in T.study_level_draws(spec, table, hyper, seed=1, block=16)], axis=-1)
    assert th.shape == (2, 2000, k)
    flat = th.reshape(-1, k)
    # independent draws: MCSE = sd / sqrt(n); 4.5 MCSE bounds all 40 studies jointly (Bonferroni ~1e-4)
    z = (flat.mean(0) - ep.theta_mean) / (ep.theta_sd / math.sqrt(flat.shape[0]))
    assert np.max(np.abs(z)) < 4.5


def test_benchmark_summary_lists_every_target_with_pass_or_miss():
    from vfsynth.fits import bench_targets as B
    from vfsynth.fits.benchmark import TARGETS, _mark_targets

    res = {"fit_k200000": {"seconds": 31.0, "rss_mb": 900.0}, "data_rows1000000": {"seconds": 12.0},
           "fit_cli_warm": {"seconds": 1.2}, "ess_per_s_t": {"error": "RuntimeError: boom"}}
    _mark_targets(res, 200_000, 1_000_000)
    res["batch"] = B.entry(650.0, B.BATCH_500_S, 65.0)
    rows = {r["name"]: r for r in B.summary(res)}
    assert set(rows) == {"fit_k200000", "fit_k200000_rss", "data_rows1000000", "fit_cli_warm", "ess_per_s_t", "batch"}
    assert rows["fit_k200000"]["target"] == TARGETS["fit_k200000_s"] and not rows["fit_k200000"]["passed"]
    assert rows["fit_k200000_rss"]["passed"] and rows["data_rows1000000"]["passed"] and rows["fit_cli_warm"]["passed"]
    assert rows["batch"]["ratio_to_floor"] == 10.0 and not rows["batch"]["passed"]
    assert rows["ess_per_s_t"]["error"] and not rows["ess_per_s_t"]["passed"]  # a failed measurement is a miss
    assert B.entry(0.9, 0.8, None, higher_is_better=True)["passed"]
