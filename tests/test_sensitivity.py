"""Prior grid, prior-dependence flags, influence (LOSO) and power-scaling diagnostics."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vfsynth.data import load_csv
from vfsynth.data.effect_table import EffectTable
from vfsynth.fits.exact import nnhm_exact
from vfsynth.fits.sensitivity import (
    LOG_SMD_PER_LOGOR,
    PriorChoice,
    influence,
    power_scaling,
    prior_dependence,
    prior_grid,
    prior_set,
)
from vfsynth.models.priors import half_normal, normal_mu, turner_prior

HERE = Path(__file__).resolve().parent


def _table(y, se, measure="SMD", outcome="o"):
    k = len(y)
    return EffectTable(outcome, "post", measure, tuple(f"S{i}" for i in range(k)), np.asarray(y, float),
                       np.asarray(se, float), np.full(k, 60.0), np.full(k, np.nan), ("",) * k, ("",) * k)


def test_prior_set_smd_and_logor():
    t = _table([0.3, 0.5, 0.1, 0.4], [0.2, 0.25, 0.15, 0.3])
    ps = prior_set(t)
    assert ps[0].varies == "default"
    labels = [p.label for p in ps]
    for want in ("half-normal:0.25", "half-normal:1", "half-cauchy:0.5", "turner", "rhodes:subjective", "bartos", "unit-information"):
        assert any(want in lab for lab in labels), want
    # default HN(0.5) is not repeated as a separate row
    assert sum("half-normal:0.5" in lab for lab in labels) == 1
    # Turner (published for log OR) carried to SMD: every tau quantile scales by sqrt(3)/pi
    tu = next(p.tau_prior for p in ps if "turner" in p.label)
    raw = turner_prior("mental-health", "non-pharmacological")
    np.testing.assert_allclose(tu.quantiles(), raw.quantiles() * math.sqrt(3) / math.pi, rtol=1e-10)
    assert LOG_SMD_PER_LOGOR == pytest.approx(math.log(math.sqrt(3) / math.pi))
    tl = _table([0.3, 0.5, 0.1, 0.4], [0.2, 0.25, 0.15, 0.3], measure="logOR", outcome="attachment_security")
    labels = [p.label for p in prior_set(tl)]
    assert any("rhodes:subjective (SMD -> log OR)" in lab for lab in labels)
    assert labels[0].startswith("default: tau turner")


def test_prior_grid_exact_rows_equal_direct_computation():
    t = _table([0.3, 0.5, 0.1, 0.4, 0.2], [0.2, 0.25, 0.15, 0.3, 0.1])
    g = prior_grid(t)
    assert len(g) == len(prior_set(t))
    for choice, (_, row) in zip(prior_set(t), g.iterrows(), strict=True):
        ex = nnhm_exact(t.estimate, t.se, choice.tau_prior, choice.mu_prior)
        assert row["mu_mean"] == pytest.approx(ex.mu_mean, rel=1e-12)
        assert row["p_benefit"] == pytest.approx(ex.prob_mu_greater(0.0), rel=1e-12)
    # a more concentrated tau prior gives a narrower interval for mu (HN(0.25) vs HN(1))
    w = g.set_index("prior")
    width = w["mu_high"] - w["mu_low"]
    assert width["tau half-normal:0.25"] < width["tau half-normal:1"]


def test_prior_dependence_flags_crossings():
    df = pd.DataFrame({"prior": ["default", "a", "b"], "varies": ["default", "tau", "mu"], "p_benefit": [0.97, 0.93, 0.99]})
    flags = prior_dependence(df)
    assert len(flags) == 1 and "crosses 0.95" in flags[0] and "a" in flags[0] and ", b" not in flags[0]
    df["p_benefit"] = [0.96, 0.97, 0.99]
    assert prior_dependence(df) == []
    df["p_benefit"] = [0.6, 0.4, 0.97]
    flags = prior_dependence(df)
    assert len(flags) == 2
    # Monte Carlo estimates: 0.497 vs 0.51 from 600 draws is noise (2 MCSE = 0.058), 0.3 vs 0.7 is not
    df["p_benefit"] = [0.497, 0.51, 0.5]
    assert prior_dependence(df, n_draws=600) == []
    assert len(prior_dependence(df)) == 1
    df["p_benefit"] = [0.3, 0.7, 0.5]
    assert len(prior_dependence(df, n_draws=600)) == 1


def test_borderline_data_are_flagged_and_clear_data_are_not():
    # Borderline: a small positive effect with wide SEs; the mu prior scale moves P(mu > 0) across 0.95
    t = _table([0.35, 0.05, 0.4, 0.1], [0.2, 0.2, 0.25, 0.22])
    g = prior_grid(t)
    p = g["p_benefit"]
    crosses = (p > 0.95).any() and (p <= 0.95).any()
    assert bool(g.attrs["flags"]) == crosses
    assert crosses  # this data set was built to be prior-dependent
    clear = _table([0.8, 0.9, 0.7, 1.0, 0.85], [0.1, 0.12, 0.1, 0.15, 0.1])
    assert prior_grid(clear).attrs["flags"] == []


def test_influence_exact_is_leave_one_out(fit_dir):
    rev = load_csv(HERE / "fixtures" / "normand1999.csv")
    (o, tp), = rev.analyses()
    t = rev.effects(o, tp)
    df = influence(rev, o, tp)
    assert list(df["omitted"]) == ["(none)"] + list(t.study)
    full = nnhm_exact(t.estimate, t.se, half_normal(0.5), normal_mu(0, 1))
    assert df.loc[0, "mu_mean"] == pytest.approx(full.mu_mean, rel=1e-12)
    for i, s in enumerate(t.study):
        ex = nnhm_exact(t.drop(s).estimate, t.drop(s).se, half_normal(0.5), normal_mu(0, 1))
        assert df.loc[i + 1, "mu_mean"] == pytest.approx(ex.mu_mean, rel=1e-12)
        assert df.loc[i + 1, "delta_mu"] == pytest.approx(ex.mu_mean - full.mu_mean, abs=1e-12)


def test_influence_mcmc_batched_agrees_with_exact():
    t = _table([0.78, 0.65, 0.86, 0.48, 0.41, 0.12], [0.28, 0.22, 0.38, 0.24, 0.14, 0.13])
    ex = influence(t)
    mc = influence(t, engine="mcmc", draws=1000, tune=500, chains=2, seed=1)
    assert mc["engine"].iloc[0] == "mcmc (batched)"
    z = (mc["mu_mean"] - ex["mu_mean"]).abs() / ex["mu_sd"]
    assert z.max() < 0.15
    assert (mc["p_benefit"] - ex["p_benefit"]).abs().max() < 0.02


def test_prior_grid_mcmc_t_model_runs_as_one_batch():
    t = _table([0.78, 0.65, 0.86, 0.48, 0.41, 0.12], [0.28, 0.22, 0.38, 0.24, 0.14, 0.13])
    choices = [PriorChoice("hn0.25", half_normal(0.25), normal_mu(0, 1), "default"),
               PriorChoice("hn1", half_normal(1.0), normal_mu(0, 1), "tau")]
    g = prior_grid(t, model="t", priors=choices, draws=500, tune=500, chains=2)
    assert g["engine"].unique().tolist() == ["mcmc (batched)"]
    # a wider tau prior widens the interval for mu in the t model too
    assert (g["mu_high"] - g["mu_low"]).iloc[1] > (g["mu_high"] - g["mu_low"]).iloc[0]


def test_power_scaling_detects_prior_data_conflict():
    """A mu prior as precise as the data (sd 0.1 vs a pooled sd ~0.05-0.07) but centred 8 of its
    SDs away is a prior-data conflict: both power-scalings move the posterior (Kallioinen et al.
    2023, sec. 3). A weak prior shows low prior sensitivity for mu."""
    t = _table([0.8, 0.9, 0.7, 1.0, 0.85, 0.75], [0.1, 0.12, 0.1, 0.15, 0.1, 0.1])
    weak = power_scaling(t, tau_prior=half_normal(0.5), mu_prior=normal_mu(0, 10), draws=1000, tune=500, chains=2)
    conflict = power_scaling(t, tau_prior=half_normal(0.5), mu_prior=normal_mu(0.0, 0.1), draws=1000, tune=500, chains=2)
    assert weak.loc["mu", "prior"] < 0.05
    assert conflict.loc["mu", "prior"] > 0.05 and conflict.loc["mu", "likelihood"] > 0.05
    assert "conflict" in conflict.loc["mu", "diagnosis"]


def test_sensitivity_cli_json(fit_dir, capsys, tmp_path):
    import json

    from vfsynth.reports.cli import main

    data = str(HERE / "fixtures" / "bcg.csv")
    mods = str(HERE / "fixtures" / "bcg_moderators.csv")
    rc = main(["sensitivity", "--data", data, "--moderators", mods, "--sections", "priors,influence,moderators",
               "--json", "--plots", str(tmp_path)])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    (a,) = out["analyses"]
    assert a["measure"] == "logOR"
    assert a["prior_grid"]["rows"][0]["varies"] == "default"
    assert len(a["influence"]["rows"]) == 14
    terms = {(r["moderator"], r["term"]) for r in a["moderators"]["rows"]}
    assert any(m == "ablat" for m, _ in terms) and any(m == "alloc" for m, _ in terms)
    pngs = sorted(p.name for p in tmp_path.iterdir())
    assert len(pngs) == 3 and all(p.endswith(".png") and (tmp_path / p).stat().st_size > 1000 for p in pngs)
    assert main(["sensitivity", "--data", data, "--sections", "nope"]) == 2


def test_plots_render():
    import matplotlib.pyplot as plt

    from vfsynth.reports import sensitivity_plots as SP

    t = _table([0.78, 0.65, 0.86, 0.48, 0.41, 0.12], [0.28, 0.22, 0.38, 0.24, 0.14, 0.13])
    for fig in (SP.influence_plot(influence(t)), SP.prior_grid_plot(prior_grid(t))):
        assert len(fig.axes) == 1 and len(fig.axes[0].get_yticklabels()) >= 6
        plt.close(fig)
    pw = pd.DataFrame({"model": ["a", "a", "b", "b"], "study": ["x", "y", "x", "y"], "pareto_k": [0.1, 0.8, 0.2, 0.3],
                       "refit": [False, True, False, False]})
    plt.close(SP.pareto_k_plot(pw))
    tab = pd.DataFrame({"elpd": [-2.0, -3.0], "dse": [0.0, 0.5], "weight": [0.8, 0.2]}, index=["a", "b"])
    plt.close(SP.comparison_plot(tab))
