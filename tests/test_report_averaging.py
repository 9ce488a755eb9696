"""The report's "Model averaging" section: every registered ensemble per analysis (the three-level
ensemble for an analysis with several estimates per study), in HTML, Markdown and summary.json,
stored and re-used whole by the report cache (slow tier: two report builds)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vfsynth.data import load_csv
from vfsynth.fits import averaging
from vfsynth.reports.analyses import AnalysisResult
from vfsynth.reports.html_report import Doc, Section, render_markdown
from vfsynth.reports.sections.averaging import averaging_section

FIX = Path(__file__).parent / "fixtures"
# 6 studies x 2 estimates, heterogeneous at both levels (a concentrated posterior: a fast test)
_Y = ("0.65", "0.40", "-0.50", "-0.20", "0.25", "0.05", "1.00", "0.75", "-0.20", "0.10", "0.50", "0.20")
_IJ = [(i, j) for i in range(6) for j in range(2)]


def _multilevel(tmp_path):
    rows = "".join(f"S{i},x,post,SMD,{y},0.05,{j}\n" for (i, j), y in zip(_IJ, _Y, strict=True))
    (tmp_path / "d.csv").write_text("study,outcome,timepoint,measure,estimate,se,es_id\n" + rows)
    return load_csv(tmp_path / "d.csv")


def test_section_has_every_registered_ensemble_and_three_level(tmp_path, monkeypatch):
    # the section follows the registry: a second (cheap) ensemble registered appears; psma's own
    # report rows are checked in the slow tier (its quadrature takes ~10 s per analysis)
    monkeypatch.setattr(averaging, "ENSEMBLES", {"nnhm4": averaging.ENSEMBLES["nnhm4"],
                                                 "nnhm4-again": averaging.ENSEMBLES["nnhm4"]})
    bcg = load_csv(FIX / "bcg.csv").effects("tb_cases", "post")
    ml = _multilevel(tmp_path).effects("x", "post")
    recs: list[dict] = []
    doc = averaging_section([AnalysisResult("tb_cases", "post", bcg), AnalysisResult("x", "post", ml),
                             AnalysisResult("gone", "post", None, error="effects could not be computed")], recs)
    md = render_markdown("t", "s", Doc(), [Section("averaging", "Model averaging", doc)], "f")
    assert [(r["label"], r["ensemble"]) for r in recs] == [("tb cases (post)", e) for e in averaging.ENSEMBLES] + [
        ("x (post)", "three-level8")]
    for r in recs:
        assert sum(m["post_prob"] for m in r["models"]) == pytest.approx(1.0)
        assert f"{r['models'][0]['log_ml']:.3f}" in md
    assert [m["prior_prob"] for m in recs[0]["models"]] == [0.25] * 4
    assert set(recs[-1]["inclusion"]) == {"effect", "heterogeneity", "within"}
    assert recs[-1]["analysis"]["n_estimates"] == 12 and recs[-1]["analysis"]["k"] == 6
    assert "Inclusion BF" in md and "estimate-level heterogeneity" in md and "P(benefit)" in md


@pytest.mark.slow
def test_report_section_and_the_report_cache(tmp_path, monkeypatch):
    from test_report import fake_fitter

    from vfsynth.reports import build

    monkeypatch.setenv("VFSYNTH_STEP_CACHE_DIR", str(tmp_path / "steps"))

    def fitter(review, table, model, seed, say):
        return fake_fitter(review, table, model, seed, say)

    fitter.cache_token = "test-fake-fitter/avg"
    review = load_csv(FIX / "bcg.csv", moderators=FIX / "bcg_moderators.csv")
    first = build.build_report(review, tmp_path / "rep", seed=3, progress=False, fitter=fitter, extras=False)
    html, md = first.html.read_text(), first.markdown.read_text()
    sec = html[html.index('<section id="averaging">'):].split("</section>")[0]
    assert "## Model averaging" in md and "Inclusion BF" in sec
    recs = json.loads(first.summary_json.read_text())["model_averaging"]
    assert [r["ensemble"] for r in recs] == list(averaging.ENSEMBLES)
    # a rebuild with nothing changed re-uses the section: averaging is not run again
    monkeypatch.setattr(averaging, "average_table", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    second = build.build_report(review, tmp_path / "rep", seed=3, progress=False, fitter=fitter, extras=False)
    html2 = second.html.read_text()
    assert "Re-used from the report cache" in html2
    assert html2[html2.index('<section id="averaging">'):].split("</section>")[0] == sec
    assert json.loads(second.summary_json.read_text())["model_averaging"] == recs
