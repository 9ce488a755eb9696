"""Default priors of the measures of issue 14 state what their docstrings claim (closed forms)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from vfsynth.data import load_csv
from vfsynth.models.priors import PriorSpecError, resolve_priors
from vfsynth.reports.draws import display_scale, to_display_scale, to_model_scale

FIX = Path(__file__).resolve().parent / "fixtures" / "measures"


def _table(tmp_path, rows, header="study,outcome,measure,estimate,se,scale"):
    p = tmp_path / "g.csv"
    p.write_text(header + "\n" + "\n".join(rows) + "\n")
    return load_csv(p).effects("o")


@pytest.mark.parametrize("fixture,outcome,tau_sd,mu", [
    ("lee2004_rr.csv", "events_rr", 0.5, (0.0, 1.8138)),
    ("lee2004_rd.csv", "events_rd", 0.2, (0.0, 0.5)),
    ("hart1999.csv", "events_rate", 0.5, (0.0, 1.8138)),
    ("pritz1997_plo.csv", "recovery_plo", 1.0, (0.0, 1.8138)),
    ("pritz1997_pr.csv", "recovery_pr", 0.2, (0.5, 0.25)),
    ("molloy2014_zcor.csv", "adherence_zcor", 0.25, (0.0, 0.5)),
    ("molloy2014_cor.csv", "adherence_cor", 0.25, (0.0, 0.5)),
])
def test_family_defaults_have_the_documented_quantiles(fixture, outcome, tau_sd, mu):
    table = load_csv(FIX / fixture).effects(outcome)
    tau, mu_prior = resolve_priors(table, "random-effects")
    qs = (0.025, 0.5, 0.975)
    np.testing.assert_allclose(tau.quantiles(qs), stats.halfnorm(scale=tau_sd).ppf(qs), rtol=1e-9)
    np.testing.assert_allclose(mu_prior.quantiles(qs), stats.norm(*mu).ppf(qs), rtol=1e-9)


def test_bounded_priors_keep_their_mass_in_range():
    """The claims in models/priors/measure_defaults.py, from the normal CDF."""
    assert 2 * stats.norm.sf(0.5 / 0.2) == pytest.approx(0.0124, abs=1e-4)  # RD: P(tau > 0.5)
    assert stats.norm(0.5, 0.25).ppf([0.025, 0.975]) == pytest.approx([0.01, 0.99], abs=0.01)
    assert np.tanh(stats.norm(0, 0.5).ppf(0.975)) == pytest.approx(0.75, abs=0.01)  # |r| < 0.75


def test_giv_scale_picks_the_priors_and_no_scale_has_no_mu_default(tmp_path):
    hr = _table(tmp_path, ["A,o,GIV,-0.2,0.1,logHR", "B,o,GIV,-0.4,0.2,logHR"])
    assert hr.meta["scale"] == "logHR"
    tau, mu = resolve_priors(hr, "random-effects")
    assert tau.quantiles((0.5,))[0] == pytest.approx(stats.halfnorm(scale=0.5).ppf(0.5))
    assert mu.quantiles((0.975,))[0] == pytest.approx(stats.norm(0, 1.8138).ppf(0.975))
    bare = _table(tmp_path, ["A,o,GIV,-0.2,0.1,", "B,o,GIV,-0.4,0.2,"])
    with pytest.raises(PriorSpecError, match="without a known scale"):
        resolve_priors(bare, "random-effects")
    _, given = resolve_priors(bare, "random-effects", mu_prior="normal:0,2")
    assert given.quantiles((0.975,))[0] == pytest.approx(stats.norm(0, 2).ppf(0.975))


@pytest.mark.parametrize("measure,shown,model,value", [
    ("logRR", "RR", np.log(0.6), 0.6), ("logIRR", "IRR", np.log(1.3), 1.3), ("ROM", "ratio of means", np.log(2), 2.0),
    ("ZCOR", "r", np.arctanh(0.3), 0.3), ("PLO", "proportion", np.log(0.2 / 0.8), 0.2), ("RD", "RD", -0.1, -0.1),
])
def test_display_scales(measure, shown, model, value):
    assert display_scale(measure) == shown
    assert to_display_scale(measure, model) == pytest.approx(value)
    assert to_model_scale(measure, value) == pytest.approx(model)


def test_fit_text_shows_ratio_quantiles_and_direction():
    """Events counted as good, direction not stated: RR = exp(mu) by quantiles, and the default is
    named (P(benefit) = P(RR > 1) only if the events really are good)."""
    from vfsynth.reports.commands.fit_cmd import _measure_lines

    mu = {"median": np.log(0.6), "q2.5": np.log(0.4), "q97.5": np.log(0.9)}
    lines = _measure_lines({"analysis": {"measure": "logRR"}, "mu": mu, "p_benefit": 0.01,
                            "direction": {"higher_is_better": True, "stated": False}})
    assert lines[0].startswith("  RR 0.600 (95% CrI 0.400 to 0.900): favours control")
    assert lines[1] == "  P(benefit) = P(RR > 1) = 0.010"
    assert "DIRECTION NOT STATED" in lines[2] and "RR > 1 favours intervention" in lines[2]
    assert _measure_lines({"analysis": {"measure": "SMD"}, "mu": mu}) == []
    # a ratio that is not of events (ratio of means) keeps the benefit scale
    rom = _measure_lines({"analysis": {"measure": "ROM"}, "mu": mu,
                          "direction": {"higher_is_better": False, "stated": True}})
    assert rom[0] == "  mu as ratio of means: median 0.600 (95% CrI 0.400 to 0.900)"


def test_fit_text_gives_the_source_direction_when_events_are_bad():
    """RevMan's RR of a bad event is exp(-mu) of the benefit scale: median 1/1.25, CrI swapped."""
    from vfsynth.reports.commands.fit_cmd import _measure_lines

    mu = {"median": np.log(1.25), "q2.5": np.log(1.1), "q97.5": np.log(2.0)}
    lines = _measure_lines({"analysis": {"measure": "logRR"}, "mu": mu, "p_benefit": 0.99,
                            "direction": {"higher_is_better": False, "stated": True}})
    assert lines[0].startswith("  RR 0.800 (95% CrI 0.500 to 0.909): favours intervention")
    assert lines[1] == "  P(benefit) = P(RR < 1) = 0.990"
    assert "RR < 1 favours intervention" in lines[2] and "the data state this" in lines[2]
