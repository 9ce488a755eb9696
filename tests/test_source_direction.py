"""A RevMan RR analysis reads as RR, in RevMan's direction, in every Bayesian output (issue 14).

The real review is CD000023 (*Antibiotics for sore throat*, RevMan 5 file in
``../shared/reference/revman``), analysis 1.1: sore throat on day 3, RR, Mantel–Haenszel random
effects, "Favours antibiotics" on the left (events are harmful). RevMan's stored pooled RR and CI
are the independent reference.

Why the Bayesian numbers must equal RevMan's: RevMan's random-effects RR is the DerSimonian–Laird
estimate ``m(tau) = sum w_i y_i / sum w_i`` with ``w_i = 1 / (v_i + tau^2)`` at its stored tau^2
and the Wald interval ``m ± 1.96 / sqrt(sum w_i)``. With tau fixed and a flat prior on mu, the
posterior of mu is exactly ``N(m(tau), 1 / sum w_i)``, so its median and 2.5% / 97.5% quantiles
*are* RevMan's numbers (up to quadrature error). With tau uniform on a narrow interval
``[a, b]`` the posterior of mu is a mixture of those normals; a quantile of a mixture lies
between the smallest and largest quantile of its components, so the tolerance is that range,
computed here in closed form.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import norm

from vfsynth.reports.cli import main

REPO = Path(__file__).resolve().parents[1]
RM5 = REPO.parent / "shared" / "reference" / "revman" / "CD000023-antibiotics-for-sore-throat.rm5"
needs_shared = pytest.mark.skipif(not RM5.exists(), reason="shared/reference/revman not available")
pytestmark = [needs_shared, pytest.mark.filterwarnings("ignore::vfsynth.fits.diagnostics.FitWarning")]

Q = (0.025, 0.5, 0.975)


@pytest.fixture(scope="module")
def analysis_1_1(tmp_path_factory):
    """RevMan's analysis 1.1 (stored results) and its rows as a schema CSV (as `vfsynth import`)."""
    from vfsynth.data.revman import to_schema, written_columns
    from vfsynth.data.revman_rm5 import read_rm5

    rv = read_rm5(RM5)
    a = rv.analysis("1.1")
    df = to_schema(rv)
    sub = df[df["outcome"] == a.slug]
    path = tmp_path_factory.mktemp("cd000023") / "a1_1.csv"
    sub[written_columns(sub)].to_csv(path, index=False)
    return a, path


def _mixture_bounds(table, tau_lo: float, tau_hi: float) -> np.ndarray:
    """For each of Q: (min, max) over tau in [tau_lo, tau_hi] of the q-quantile of N(m(tau), 1/sum w)
    on the benefit scale (a fine grid; m and the quantiles are smooth in tau)."""
    taus = np.linspace(tau_lo, tau_hi, 401)
    w = 1.0 / (table.se[None, :] ** 2 + taus[:, None] ** 2)
    m = (w * table.estimate).sum(1) / w.sum(1)
    sd = 1.0 / np.sqrt(w.sum(1))
    qs = m[:, None] + norm.ppf(Q)[None, :] * sd[:, None]
    return np.stack([qs.min(0), qs.max(0)], axis=1)


def test_exact_posterior_with_revman_tau_is_revmans_pooled_rr(analysis_1_1):
    from vfsynth.data import load_csv
    from vfsynth.data.source_scale import source_scale
    from vfsynth.fits.exact import nnhm_exact
    from vfsynth.models.priors.grammar import parse_prior

    a, path = analysis_1_1
    t = load_csv(path).effects(a.slug)
    assert t.measure == "logRR" and t.meta["direction"] == {"higher_is_better": False, "stated": True}
    ep = nnhm_exact(t, tau_prior=math.sqrt(a.stored["TAU2"]), mu_prior=parse_prior("flat", "mu"))
    src = source_scale(t.measure, t.meta["direction"])
    lo, med, hi = ep.mu_quantiles(Q)
    rr = src.interval(med, lo, hi)
    assert src.display == "RR" and src.favours_side == "RR < 1"
    assert rr == pytest.approx((a.stored["EFFECT_SIZE"], a.stored["CI_START"], a.stored["CI_END"]), rel=1e-6)
    # antibiotics reduce sore throat: P(benefit) = P(RR < 1) is near 1, not near 0
    assert ep.prob_mu_greater(0.0) > 0.999 and src.favours(med) == "favours intervention"


def test_fit_json_and_text_read_rr_in_revmans_direction(analysis_1_1, capsys, fit_dir):
    from vfsynth.data import load_csv

    a, path = analysis_1_1
    tau = math.sqrt(a.stored["TAU2"])
    tau_lo, tau_hi = 0.99 * tau, 1.01 * tau
    args = ["fit", "--data", str(path), "--outcome", a.slug, "--engine", "exact", "--mu-prior", "flat",
            "--tau-prior", f"uniform:{tau_lo:.6f},{tau_hi:.6f}"]
    assert main([*args, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    s = d["source"]
    assert s["measure"] == "RR" and s["favours"] == "favours intervention" and s["favours_intervention"] == "RR < 1"
    assert s["higher_is_better"] is False and s["stated"] is True and "the data state this" in s["note"]
    assert d["direction"] == {"higher_is_better": False, "stated": True}
    assert s["p_benefit"] == d["p_benefit"] > 0.999 and s["p_benefit_is"] == "P(RR < 1)"
    # each RR quantile within the derived mixture bounds (benefit scale b -> RR = exp(-b)), plus
    # quadrature error; RevMan's own numbers lie in the same bounds
    t = load_csv(path).effects(a.slug)
    bounds = np.exp(-_mixture_bounds(t, float(f"{tau_lo:.6f}"), float(f"{tau_hi:.6f}")))[::-1]  # RR order
    stored = (a.stored["CI_START"], a.stored["EFFECT_SIZE"], a.stored["CI_END"])
    for key, (b_hi, b_lo), ref in zip(("q2.5", "median", "q97.5"), bounds, stored, strict=True):
        assert b_lo * (1 - 1e-6) <= s[key] <= b_hi * (1 + 1e-6), key
        assert b_lo * (1 - 1e-6) <= ref <= b_hi * (1 + 1e-6), key
    assert s["q2.5"] < s["median"] < 1 and s["prediction"]["q2.5"] <= s["q2.5"]
    from vfsynth.reports.commands.fit_cmd import _text

    text = _text(d)  # what `vfsynth fit` without --json prints from the same object
    assert f"  RR {s['median']:.3f} (95% CrI {s['q2.5']:.3f} to {s['q97.5']:.3f}): favours intervention" in text
    assert f"P(benefit) = P(RR < 1) = {d['p_benefit']:.3f}" in text and "RR < 1 favours intervention" in text


def _summary(path, slug):
    """Report summary of an exact-engine fit (flat mu, default tau prior; draws kept for plots)."""
    from vfsynth import fit
    from vfsynth.reports.analysis_summary import summarize_analysis

    res = fit(str(path), slug, engine="exact", mu_prior="flat", save=False)
    return res, summarize_analysis(res.dt, res.table, model=res.model)


@pytest.fixture(scope="module")
def stated_fit(analysis_1_1):
    a, path = analysis_1_1
    return _summary(path, a.slug)


def _review(s):
    """The little of a Review that the key-findings box reads."""
    return SimpleNamespace(name="cd000023-1.1", studies=lambda: list(s.studies["study"]), rows=[0] * s.k,
                           published=None, meta={})


def test_report_sections_and_forest_plot_read_rr_in_revmans_direction(analysis_1_1, stated_fit):
    from vfsynth.reports import sof as SOF
    from vfsynth.reports.figures import forest_plot
    from vfsynth.reports.sections.key_findings import key_findings

    a, _ = analysis_1_1
    res, s = stated_fit
    src = s.source_effect()
    # the report's RR is the fit's RR (quantiles of exp(-mu) per draw), within Monte Carlo error of
    # the exact posterior quantiles: MCSE of a median of n iid draws is sqrt(pi/2) sd / sqrt(n)
    ex = res.summary()["source"]
    draws = res.dt["posterior"]["mu"].values.ravel()
    mcse = math.sqrt(math.pi / 2) * draws.std() / math.sqrt(draws.size)
    assert abs(math.log(src["median"]) - math.log(ex["median"])) < 4 * mcse
    assert src["measure"] == "RR" and src["median"] < 1 and src["favours"] == "favours intervention"
    row = SOF.sof_row(s)
    assert row.relative == f"RR {src['median']:.2f} ({src['ci_low']:.2f} to {src['ci_high']:.2f}); favours intervention"
    assert row.p_benefit > 0.999
    r = SimpleNamespace(outcome=s.outcome, timepoint=s.timepoint, label=a.slug, summary=s, error=None)
    doc, records = key_findings(_review(s), [r], [row])
    assert records[0]["effect"].startswith(f"RR {src['median']:.2f} (") and "favours intervention" in records[0]["effect"]
    assert records[0]["p_benefit_is"] == "P(RR < 1)" and "NOT STATED" not in "\n".join(doc.md)
    fig = forest_plot(s)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Risk ratio (RR < 1 favours intervention)" and ax.get_xscale() == "log"
    diamond = ax.patches[0].get_xy()[:, 0]
    assert diamond.min() == pytest.approx(src["ci_low"]) and diamond.max() == pytest.approx(src["ci_high"])
    assert {t.get_text() for t in ax.texts} >= {"← favours intervention", "favours control →"}


def test_unstated_direction_is_shown_in_every_output(analysis_1_1, stated_fit, tmp_path):
    """The same rows with higher_is_better blank (as a RevMan Web CSV imports): the default (events
    good) is used, so P(benefit) reads P(RR > 1) ~ 0, and every output says it was not stated."""
    import pandas as pd

    from vfsynth.reports import sof as SOF
    from vfsynth.reports.sections.key_findings import key_findings

    a, path = analysis_1_1
    df = pd.read_csv(path)
    df["higher_is_better"] = ""
    blank = tmp_path / "blank.csv"
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    blank.write_text(buf.getvalue())
    res, s = _summary(blank, a.slug)
    j = res.summary()["source"]
    assert j["stated"] is False and "DIRECTION NOT STATED" in j["note"] and j["p_benefit_is"] == "P(RR > 1)"
    assert j["p_benefit"] < 0.001 and j["favours"] == "favours control if the events are good (direction not stated)"
    # the RR of the events as counted does not depend on the direction: the likelihood and the
    # flat mu prior are mirrored (b -> -b) and the tau prior is the same, so the exact posterior
    # quantiles of the RR agree with the stated fit's to quadrature accuracy
    ref = stated_fit[0].summary()["source"]
    assert (j["median"], j["q2.5"], j["q97.5"]) == pytest.approx((ref["median"], ref["q2.5"], ref["q97.5"]), rel=1e-6)
    row = SOF.sof_row(s)
    r = SimpleNamespace(outcome=s.outcome, timepoint=s.timepoint, label=a.slug, summary=s, error=None)
    doc, records = key_findings(_review(s), [r], [row])
    md = "\n".join(doc.md)
    assert "NOT STATED" in md and "DIRECTION NOT STATED" in records[0]["direction"]


def test_living_table_reads_the_source_direction_by_the_median():
    """Cumulative-table rows of a harmful-event RR analysis: RR = exp(-b) of the benefit-scale
    posterior median and interval ends (swapped), not of the mean."""
    import pandas as pd

    from vfsynth.data.source_scale import source_scale
    from vfsynth.reports.sections.living import _living_table_rows

    df = pd.DataFrame({"year": [1951.0], "study": ["Brink 1951"], "k": [1], "mu_mean": [0.5], "mu_median": [0.4],
                       "mu_low": [0.1], "mu_high": [0.7], "p_benefit": [0.99], "tau_median": [0.2],
                       "dl_estimate": [0.3], "dl_low": [0.2], "dl_high": [0.4], "crossed": [""]})
    src = source_scale("logRR", {"higher_is_better": False, "stated": True})
    row = _living_table_rows(df, "logRR", src)[0]
    assert row[3] == f"{math.exp(-0.4):.2f} ({math.exp(-0.7):.2f} to {math.exp(-0.1):.2f})"
    assert row[6] == f"{math.exp(-0.3):.2f} ({math.exp(-0.4):.2f} to {math.exp(-0.2):.2f}) (FE)"


def test_batch_results_read_rr_in_revmans_direction(analysis_1_1, tmp_path):
    """`vfsynth batch` results.csv carries the analysis's own measure and direction: RR of the events
    as counted, its median inside RevMan's stored CI, the interval on the side RevMan's pooled RR is,
    "RR < 1" favouring the intervention, and P(benefit) = P(RR < 1) near 1 as RevMan's CI (0.59 to 0.79)
    implies."""
    from vfsynth.fits.corpus import read_results, run_batch

    a, path = analysis_1_1
    run_batch([path], tmp_path / "out")
    res, fail = read_results(tmp_path / "out")
    row = res[res["model"] == "random-effects"].iloc[0] if "model" in res else res.iloc[0]
    assert row["source_measure"] == "RR" and row["favours_intervention"] == "RR < 1"
    assert a.stored["CI_START"] < row["source_median"] < a.stored["CI_END"]
    assert row["source_q2.5"] < row["source_median"] < row["source_q97.5"] < 1.0
    # the benefit-scale columns are the same posterior turned round: exp(-mu) swaps the interval's ends
    # (results.csv keeps 10 significant digits, hence rel 1e-9)
    assert row["source_q2.5"] == pytest.approx(math.exp(-row["mu_q97.5"]), rel=1e-9)
    assert row["p_benefit"] > 0.99 and str(row["direction_stated"]).lower() == "true"
