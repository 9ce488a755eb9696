"""Simulation-based calibration (issue 13, item 13) and small-k posterior SDs (item 14).

Fast tier: the rank / coverage / Holm machinery against cases with a known answer, the
``vfsynth calibrate`` command end to end on a conjugate toy model whose posterior draws are
exact (no sampler: only the plumbing is under test), and the SD-reliability gate on draws
with known defects. Slow tier (``--run-slow``): 500-replicate SBC of each shipped
non-joint model through the vectorised NUTS programs, and NUTS on a 4-trial review against
the posterior integrated here with SciPy.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from vfsynth.fits.calibration import CALIBRATORS, CalibrationRun, SBCSettings, checks, summarise


def _toy(n_rep, seed, s: SBCSettings, shrink=1.0, name="toy"):
    """mu ~ N(0, 1), y ~ N(mu, 1): posterior N(y/2, 1/2), drawn exactly (``shrink`` < 1 breaks it)."""
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal(n_rep)
    y = mu + rng.standard_normal(n_rep)
    draws = y[:, None] / 2 + shrink * np.sqrt(0.5) * rng.standard_normal((n_rep, s.draws))
    r, L = checks.ranks(draws[..., None], mu[:, None], s.thin)
    return CalibrationRun(name, ["mu"], r, L, checks.covered95(draws[..., None], mu[:, None]),
                          np.zeros(n_rep, int), 0.0, seed, "exact draws", {"k": 1})


def test_holm_matches_hand_computation():
    # sorted p 0.01, 0.03, 0.04 -> 3*0.01, max(0.03, 2*0.03), max(0.06, 1*0.04)
    np.testing.assert_allclose(checks.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    # 2 * 0.5 = 1, and the step-down keeps adjusted p-values monotone
    np.testing.assert_allclose(checks.holm([0.5, 0.9]), [1.0, 1.0])
    assert checks.holm([0.6])[0] == 0.6


def test_ranks_and_coverage_detect_miscalibration():
    s = SBCSettings(draws=1000, thin=10)
    good = summarise([_toy(2000, 1, s)], s)[0]
    assert good["L"] == 99 and good["uniform"]
    # coverage SD at n = 2000 is 0.0049: 0.95 +- 0.02 is a 4-SD band
    assert abs(good["coverage95"] - 0.95) < 0.02
    narrow = summarise([_toy(2000, 1, s, shrink=0.7)], s)[0]
    # posterior SD 30% too small: P(|z| < 1.96 * 0.7) = 0.83, far outside 93-97%
    assert not narrow["uniform"] and narrow["coverage95"] < 0.88 and not narrow["passed"]


def test_calibrate_command_writes_table_and_histograms(tmp_path, monkeypatch, capsys):
    from vfsynth.reports.cli import main

    monkeypatch.setitem(CALIBRATORS, "toy", _toy)
    out = tmp_path / "sbc"
    rc = main(["calibrate", "--model", "toy", "--replicates", "1000", "--draws", "200", "--thin", "10",
               "--seed", "5", "--out", str(out)])
    assert rc == 0, capsys.readouterr()
    assert {p.name for p in out.iterdir()} == {"calibration.csv", "calibration.json", "sbc_toy.png"}
    doc = json.loads((out / "calibration.json").read_text())
    assert doc["format"] == "vfsynth-calibration/1" and doc["models"]["toy"]["seed"] == 5
    counts = doc["models"]["toy"]["rank_counts"]["mu"]
    assert len(counts) == 10 and sum(counts) == 1000
    import pandas as pd

    row = pd.read_csv(out / "calibration.csv").iloc[0]
    assert row["model"] == "toy" and row["replicates"] == 1000 and row["L"] == 19 and bool(row["passed"])
    assert (out / "sbc_toy.png").read_bytes()[:4] == b"\x89PNG"
    # a second model into the same folder: the first is kept, Holm is redone over both
    monkeypatch.setitem(CALIBRATORS, "toy-narrow", lambda n, seed, s: _toy(n, seed, s, shrink=0.7, name="toy-narrow"))
    rc = main(["calibrate", "--model", "toy-narrow", "--replicates", "1000", "--draws", "200", "--out", str(out)])
    assert rc == 1
    table = pd.read_csv(out / "calibration.csv").set_index("model")
    assert table.loc["toy", "passed"] and not table.loc["toy-narrow", "passed"]
    # Holm with two rows: the larger p-value is max(2 * smaller, itself)
    assert table.loc["toy", "chi2_p_holm"] == pytest.approx(table.loc["toy", "chi2_p"], rel=1e-5)
    assert table.loc["toy-narrow", "chi2_p_holm"] == pytest.approx(2 * table.loc["toy-narrow", "chi2_p"], rel=1e-5)
    assert (out / "sbc_toy-narrow.png").exists()


def test_calibrate_help_lists_every_registered_design():
    from vfsynth.reports.commands.calibrate_cmd import MODELS

    assert MODELS == tuple(CALIBRATORS)


def test_calibrate_command_refuses_bad_options(tmp_path):
    from vfsynth.reports.cli import main

    assert main(["calibrate", "--model", "toy", "--replicates", "5", "--out", str(tmp_path)]) == 2
    assert main(["calibrate", "--model", "no-such", "--replicates", "20", "--draws", "100", "--out", str(tmp_path)]) == 2


# ---------------------------------------------------------------------------------------------
# Item 14: the diagnostics gate says when a posterior SD cannot be trusted
# ---------------------------------------------------------------------------------------------


def _tree(mu):
    from arviz_base import from_dict

    return from_dict({"posterior": {"mu": mu}, "sample_stats": {"diverging": np.zeros(mu.shape, bool)}})


def test_sd_gate_passes_independent_draws():
    from vfsynth.fits.diagnostics import diagnose

    mu = np.random.default_rng(2).standard_normal((4, 1000))
    v = diagnose(_tree(mu))
    r = v["sd_reliability"]["mu"]
    # iid N(0, 1), n = 4000 draws: SD of the sample SD = 1/sqrt(2n) = 0.0112
    assert r["reliable"] and abs(r["mcse_sd"] - np.sqrt(0.5 / 4000)) < 0.003 and v["passed"]


def test_sd_gate_flags_chains_that_disagree_on_the_sd():
    from vfsynth.fits.diagnostics import diagnose

    rng = np.random.default_rng(3)
    # same centre, one chain 40% wider: the squared deviations mix badly across chains, so
    # the ESS behind the SD's MCSE collapses (0.057, 5.2% of the SD, where iid gives 1.1%)
    mu = rng.standard_normal((4, 1000)) * np.array([1.0, 1.0, 1.0, 1.4])[:, None]
    v = diagnose(_tree(mu))
    assert not v["sd_reliability"]["mu"]["reliable"]
    assert any(p.startswith("posterior SD of mu unreliable") for p in v["problems"])


def test_sd_gate_flags_heavy_tails_explored_by_rare_excursions():
    from vfsynth.fits.sd_check import sd_reliability

    rng = np.random.default_rng(4)
    # t_2.5 draws: the SD exists but its estimate rests on a few extreme draws
    mu = rng.standard_t(2.5, size=(4, 1000))
    r = sd_reliability(_tree(mu), ["mu"])["mu"]
    assert not r["reliable"] and r["rel_mcse"] > 0.05


# ---------------------------------------------------------------------------------------------
# Slow tier
# ---------------------------------------------------------------------------------------------

SLOW_MODELS = ("common-effect", "random-effects", "t", "meta-regression", "binomial-normal", "selection", "pet",
               "peese")


@pytest.mark.slow
@pytest.mark.parametrize("model", SLOW_MODELS)
def test_sbc_500_replicates(model):
    from vfsynth.fits.calibration import calibrate

    s = SBCSettings()
    rows = summarise(calibrate([model], 500, 20261202, s), s)
    bad = [r for r in rows if not r["passed"]]
    assert not bad, bad


def _bcg4():
    """First four BCG trials (metadat dat.bcg; Colditz et al. 1994), log risk ratio and its variance."""
    tpos = np.array([4, 6, 3, 62.0])
    tneg = np.array([119, 300, 228, 13536.0])
    cpos = np.array([11, 29, 11, 248.0])
    cneg = np.array([128, 274, 209, 12619.0])
    y = np.log(tpos / (tpos + tneg)) - np.log(cpos / (cpos + cneg))
    v = 1 / tpos - 1 / (tpos + tneg) + 1 / cpos - 1 / (cpos + cneg)
    return y, np.sqrt(v)


def _reference_mu_sd(y, se, tau_scale=0.5, mu_sd=1.0):
    """Posterior SD of mu in the NNHM, tau ~ HN(tau_scale), mu ~ N(0, mu_sd): mu | tau is normal
    (conjugate), tau integrated with adaptive quadrature."""
    from scipy import integrate, stats

    def parts(t):
        w = 1 / (se**2 + t**2)
        prec = w.sum() + 1 / mu_sd**2
        m = (w * y).sum() / prec
        # p(y | tau) up to a constant: the mu-integrated normal likelihood times the prior
        lml = 0.5 * np.log(w).sum() - 0.5 * np.log(prec * mu_sd**2) - 0.5 * ((w * y**2).sum() - prec * m**2)
        return np.exp(lml) * stats.halfnorm.pdf(t, scale=tau_scale), m, 1 / prec

    z = integrate.quad(lambda t: parts(t)[0], 0, 10, epsabs=0, epsrel=1e-10)[0]
    e1 = integrate.quad(lambda t: parts(t)[0] * parts(t)[1], 0, 10, epsabs=0, epsrel=1e-10)[0] / z
    e2 = integrate.quad(lambda t: parts(t)[0] * (parts(t)[1] ** 2 + parts(t)[2]), 0, 10, epsabs=0, epsrel=1e-10)[0] / z
    return float(np.sqrt(e2 - e1**2))


@pytest.mark.slow
def test_small_k_nuts_agrees_with_integration_or_gate_says_so():
    from vfsynth.data.effect_table import EffectTable
    from vfsynth.fits.runner import fit_univariate

    y, se = _bcg4()
    table = EffectTable(outcome="tb", timepoint="post", measure="SMD", study=("a", "b", "c", "d"), estimate=y,
                        se=se, n_total=np.full(4, np.nan), year=np.full(4, np.nan), derivation=("x",) * 4,
                        source=("",) * 4)
    ref = _reference_mu_sd(y, se)
    auto = fit_univariate(table, model="random-effects", tau_prior="half-normal:0.5", mu_prior="normal:0,1",
                          save=False)
    assert auto.engine == "exact"
    assert abs(auto.exact.mu_sd - ref) < 1e-3 * ref
    for seed in (1, 2):
        fit = fit_univariate(table, model="random-effects", tau_prior="half-normal:0.5", mu_prior="normal:0,1",
                             engine="nuts", seed=seed, save=False)
        r = fit.verdict["sd_reliability"]["mu"]
        if r["reliable"]:
            # 4 MCSE: a two-sided 6e-5 chance for a correct sampler and MCSE
            assert abs(r["sd"] - ref) < 4 * r["mcse_sd"], (seed, r, ref)
        else:
            assert not fit.verdict["passed"]
