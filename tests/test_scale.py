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
