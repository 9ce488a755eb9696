"""The report: sections, key findings, self-containedness, provenance, failures, CLI."""

from __future__ import annotations

import base64
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_summaries import exact_nnhm_posterior

from vfsynth.data import load_csv, load_review
from vfsynth.models.priors import half_normal, normal_mu
from vfsynth.reports import analyses, build
from vfsynth.reports.cli import main as cli_main
from vfsynth.reports.html_report import Doc
from vfsynth.reports.sections import comparison, living
from vfsynth.reports.sections import moderators as mod_section
from vfsynth.reports.sections._common import fmt_p

FIX = Path(__file__).parent / "fixtures"
SECTIONS = ["data", "models", "diagnostics", "results", "sof", "comparison", "living", "reproduce"]


def fake_fitter(review, table, model, seed, say):
    """Exact NNHM posterior draws (no MCMC) with the info a runner fit reports."""
    scale = 0.5 if table.measure in ("SMD", "logOR") else float(2 * np.median(table.se))
    dt = exact_nnhm_posterior(table, tau_scale=scale, mu_sd=10.0, draws=400, seed=seed % 1000)
    return dt, {"model": "random-effects", "tau_prior": half_normal(scale), "mu_prior": normal_mu(0.0, 10.0),
                "fit_id": "fake", "cached": False, "sampler": "exact-grid", "chains": 2, "draws": 400, "tune": 0, "seed": seed}


def stuck_fitter(review, table, model, seed, say):
    """Two chains in different places: must be reported as a failed fit."""
    dt, info = fake_fitter(review, table, model, seed, say)
    post = dt["posterior"].dataset.copy()
    post["mu"] = post["mu"] + xr_chain_offset(post)
    dt["posterior"] = type(dt)(post)
    return dt, info


def xr_chain_offset(post):
    import xarray as xr

    return xr.DataArray([0.0, 5.0], dims=["chain"])


@pytest.fixture(scope="module")
def bcg_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bcg")
    review = load_csv(FIX / "bcg.csv", moderators=FIX / "bcg_moderators.csv")
    res = build.build_report(review, out, seed=3, progress=False, fitter=fake_fitter, extras=False)
    return review, res, res.html.read_text(), res.markdown.read_text()


def test_report_has_all_sections_and_key_findings_first(bcg_report):
    _, res, html, md = bcg_report
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in html
    kf = html.index('id="key-findings"')
    assert kf < html.index("<section")
    box = html[kf: html.index("<nav>")]
    a = res.analyses[0].summary
    # the first screen carries effect, P(benefit) and the certainty inputs
    assert "OR " in box and "P(benefit)" in box and "Certainty inputs" in box
    import html as H

    assert H.escape(fmt_p(a.effect.p_benefit)) in box
    for title in ("Data", "Models and priors", "Diagnostics", "Results", "Summary of findings",
                  "Sensitivity and model comparison", "Living review"):
        assert f"## {title}" in md


def test_report_is_self_contained(bcg_report):
    _, res, html, md = bcg_report
    assert "<script" not in html and "<link" not in html
    srcs = re.findall(r'<img src="([^"]+)"', html)
    assert len(srcs) >= 6
    for s in srcs:
        assert s.startswith("data:image/png;base64,")
        assert base64.b64decode(s.split(",", 1)[1])[:4] == b"\x89PNG"
    assert not re.search(r"(src|href)=\"https?://", html)
    # markdown figures exist on disk
    for f in re.findall(r"\]\((figures/[^)]+\.png)\)", md):
        assert (res.markdown.parent / f).is_file()
    assert "could not be drawn" not in html


def test_absolute_effect_uses_pooled_control_risk_from_the_counts(bcg_report):
    review, res, html, _ = bcg_report
    raw = pd.read_csv(FIX / "bcg.csv")
    # TB cases are unfavourable: the benefit-oriented control risk is P(no TB) in control arms
    risk = float((raw["n_c"] - raw["events_c"]).sum() / raw["n_c"].sum())
    a = res.analyses[0].summary
    assert a.absolute and a.absolute[0].control_risk == pytest.approx(risk)
    # the report shows the risks of the events as counted (TB cases per 1000), not of non-events
    events = float(raw["events_c"].sum() / raw["n_c"].sum())
    assert f"<td>{events * 1000:.0f}</td>" in html and "events as the source counts them" in html
    # intervention risk at the posterior median OR, by hand
    med_or = math.exp(a.effect.median)
    odds = risk / (1 - risk) * med_or
    assert a.absolute[0].intervention_median == pytest.approx(1000 * odds / (1 + odds), rel=0.01)


def test_summary_json_is_strict_json(bcg_report):
    import json

    _, res, _, _ = bcg_report
    data = json.loads(res.summary_json.read_text())
    assert data["key_findings"][0]["p_benefit"] == pytest.approx(res.analyses[0].summary.effect.p_benefit)


def test_failed_fit_is_shown_prominently(tmp_path):
    review = load_csv(FIX / "eight_schools.csv")
    res = build.build_report(review, tmp_path, seed=1, progress=False, fitter=stuck_fitter, extras=False)
    html = res.html.read_text()
    box = html[html.index('id="key-findings"'): html.index("<nav>")]
    assert "FAILED" in box and "R-hat" in box
    assert '<div class="callout fail">' in html[html.index('<section id="diagnostics">'):]


def test_fit_error_does_not_kill_the_report(tmp_path):
    def broken(review, table, model, seed, say):
        raise RuntimeError("sampler exploded")

    review = load_csv(FIX / "normand1999.csv")
    res = build.build_report(review, tmp_path, seed=1, progress=False, fitter=broken, extras=False)
    html = res.html.read_text()
    assert "sampler exploded" in html[: html.index("<nav>")]


def test_bundled_report_states_what_its_data_are(tmp_path):
    review = load_review()
    res = build.build_report(review, tmp_path, seed=2, progress=False, fitter=fake_fitter, extras=False)
    html = res.html.read_text()
    first = html[: html.index("<nav>")]
    assert "NOT the review's own data" in first and "reconstruction" in first
    # published pooled results beside ours
    assert "0.34 (0.20 to 0.49)" in first
    # every published number with no poolable data here is named (secure attachment OR 3.04)
    assert "3.04" in first
    # studies whose numbers are missing are listed
    for s in review.not_found["study"].unique():
        assert s in html
    # progress went to stderr only when asked (here: silent); sensitivity analysis is pooled
    assert any(r.outcome == "sensitivity" and r.summary is not None for r in res.analyses)


def test_cli_report_with_user_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(analyses, "runner_fitter", fake_fitter)
    rc = cli_main(["report", "--data", str(FIX / "eight_schools.csv"), "--out", str(tmp_path), "--seed", "5", "--no-extras"])
    assert rc == 0
    assert (tmp_path / "report.html").is_file() and (tmp_path / "report.md").is_file()
    err = capsys.readouterr().err
    assert "[vfsynth report" in err  # progress on stderr


@pytest.mark.parametrize(
    "argv,msg",
    [
        (["report", "--control-risk", "0"], "control-risk"),
        (["report", "--data", "no/such/file.csv"], "not found"),
        (["report", "--moderators", "x.csv"], "--moderators needs --data"),
    ],
)
def test_cli_bad_arguments_exit_2(argv, msg, capsys):
    assert cli_main(argv) == 2
    assert msg in capsys.readouterr().err


def test_real_tiny_fit_matches_engine_summary(tmp_path, fit_dir):
    """A real (tiny, fixed-seed) NUTS fit through the runner: the report's numbers are the
    engine's numbers for the same draws, and the fit is reused on a second build."""
    from vfsynth.fits.runner import fit_univariate
    from vfsynth.fits.summary import summarize

    def tiny(review, table, model, seed, say):
        fit = fit_univariate(table, model=model, seed=seed, draws=300, tune=300, chains=2, engine="nuts")
        tiny.fits.append(fit)
        return fit.dt, {"model": fit.model, "tau_prior": fit.tau_prior, "mu_prior": fit.mu_prior,
                        "fit_id": fit.fit_id, "cached": fit.cached, "seed": seed}

    tiny.fits = []
    review = load_csv(FIX / "normand1999.csv")
    res = build.build_report(review, tmp_path, seed=11, progress=False, fitter=tiny, extras=False)
    a = res.analyses[0].summary
    eng = summarize(tiny.fits[0])
    assert a.effect.p_benefit == pytest.approx(eng["p_benefit"] if "p_benefit" in eng else eng["mu"]["p_benefit"], abs=1e-12)
    res2 = build.build_report(review, tmp_path, seed=11, progress=False, fitter=tiny, extras=False)
    assert tiny.fits[-1].cached
    assert res2.analyses[0].summary.effect.median == a.effect.median


def test_living_section_exports_priors_and_updates(tmp_path):
    """Prior files written by the report are valid vfsynth-priors/1 files, and the
    retrospective update's early posterior matches the exact posterior of the early studies."""
    from vfsynth.fits.exact import nnhm_exact
    from vfsynth.fits.prior_files import read_priors
    from vfsynth.fits.update import split_by_year

    review = load_csv(FIX / "bcg.csv")
    results, _ = analyses.run_analyses(review, seed=1, fitter=fake_fitter, say=lambda m: None)
    doc, status = living.living_section(review, results, 1, lambda m: None, tmp_path)
    assert status == "ok", doc.md
    r = results[0]
    ps = read_priors(tmp_path / "priors" / f"{r.slug}.json")
    assert "tb_cases" in ps.labels("mu")
    md = "\n".join(doc.md)
    early, late, year = split_by_year(r.table)
    ep = nnhm_exact(early, tau_prior=r.info["tau_prior"], mu_prior=r.info["mu_prior"])
    row = next(line for line in doc.md[-1].splitlines() + md.splitlines() if line.startswith(f"| {r.label} | ≤"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == f"≤ {year:g}: {early.k}"
    med, lo, hi = (float(x) for x in re.findall(r"-?\d+\.\d+", cells[2]))
    probs = [0.025, 0.5, 0.975]
    q = ep.mu_quantiles(probs)
    # printed to 2 decimals (±0.005) from quantiles of 20,000 exact draws: allow 4 Monte Carlo
    # SEs of a sample quantile, sqrt(p(1-p)/n) / f(q), with f from a normal of the exact SD
    from scipy import stats

    for p, printed, exact in zip(probs, (lo, med, hi), q, strict=True):
        f = stats.norm.pdf(stats.norm.ppf(p)) / ep.mu_sd
        mc_se = math.sqrt(p * (1 - p) / 20000) / f
        assert abs(printed - exact) < 0.005 + 4 * mc_se
    # the last column is all studies at once, exact (no draws): printed to 2 / 3 decimals
    full = nnhm_exact(r.table, tau_prior=r.info["tau_prior"], mu_prior=r.info["mu_prior"])
    fq = full.mu_quantiles(probs)
    assert cells[8] == f"{fq[1]:.2f} ({fq[0]:.2f} to {fq[2]:.2f}); {full.prob_mu_greater(0.0):.3f}"
    # the report's copy of the prior file has no wall-clock stamp (rebuilds are byte-identical)
    # and names its fit and data instead
    import json

    raw = json.loads((tmp_path / "priors" / f"{r.slug}.json").read_text())
    assert "created" not in raw
    assert raw["source"]["fit_id"] == "fake" and raw["source"]["data_hash"] == r.table.content_hash()
    assert raw["source"]["priors"]["tau"] == r.info["tau_prior"].to_dict()
    first = (tmp_path / "priors" / f"{r.slug}.json").read_bytes()
    living.living_section(review, results, 1, lambda m: None, tmp_path)
    assert (tmp_path / "priors" / f"{r.slug}.json").read_bytes() == first
    # years present: the cumulative table follows publication order
    years = [int(c.split(" | ")[0].strip("| ")) for c in md.splitlines()
             if re.match(r"\| (19|20)\d\d \|", c)]
    assert len(years) == r.table.k and years == sorted(years)


def test_living_section_cumulative_table_and_figure(tmp_path, monkeypatch):
    """The cumulative (living-review) table and its figure appear in the report of a review
    that is not CD012348 (normand1999: no publication years, said and placed, none dropped);
    the last row is the exact all-studies posterior under the fit's priors."""
    from vfsynth.fits.exact import nnhm_exact

    # the other extras (model comparison, joint model) are not under test here: keep it fast
    monkeypatch.setattr(comparison, "comparison_section", lambda review, results, seed, say: (Doc(), "ok", {}))
    monkeypatch.setattr(analyses, "mediation_hook", lambda review, seed, say: None)
    review = load_csv(FIX / "normand1999.csv")
    res = build.build_report(review, tmp_path, seed=4, progress=False, fitter=fake_fitter, extras=True)
    html, md = res.html.read_text(), res.markdown.read_text()
    living = html[html.index('<section id="living">'): html.index('<section id="reproduce">')]
    assert "Cumulative analysis by publication year" in living
    imgs = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)"', living)
    assert [alt for _, alt in imgs] == ["Cumulative pooled effect and P(benefit) as each study arrived — length of stay (post)"]
    assert base64.b64decode(imgs[0][0])[:4] == b"\x89PNG"
    assert "(figures/living_length_of_stay_post.png)" in md
    assert (tmp_path / "figures" / "living_length_of_stay_post.png").is_file()
    assert "could not be drawn" not in living and "failed" not in living
    r = res.analyses[0]
    t = r.table
    # no study has a year: every one is named in the warning, and every one has a row
    warn = living[living.index("Studies without a publication year"):]
    warn = warn[: warn.index("</div>")]
    assert all(s in warn for s in t.study)
    df = r.living
    assert sorted(df["study"]) == sorted(t.study) and list(df["k"]) == list(range(1, t.k + 1))
    # last row = exact all-studies NNHM posterior under the fit's priors
    ep = nnhm_exact(t, tau_prior=r.info["tau_prior"], mu_prior=r.info["mu_prior"])
    last = df.iloc[-1]
    q = ep.mu_quantiles([0.025, 0.5, 0.975])
    tq = ep.tau_quantiles([0.025, 0.5, 0.975])
    for got, want in [(last.mu_mean, ep.mu_mean), (last.mu_sd, ep.mu_sd), (last.mu_low, q[0]), (last.mu_median, q[1]),
                      (last.mu_high, q[2]), (last.p_benefit, ep.prob_mu_greater(0.0)), (last.tau_low, tq[0]),
                      (last.tau_median, tq[1]), (last.tau_high, tq[2])]:
        assert got == pytest.approx(float(want), abs=1e-9)
    # ... and the DerSimonian-Laird estimate beside it is the all-studies DL fit
    from vfsynth.data.pooling import pool

    dl = pool(t.estimate, t.se**2, method="DL")
    assert last.dl_estimate == pytest.approx(dl.estimate, abs=1e-12)
    # the rendered last row carries those numbers
    row = next(line for line in md.splitlines() if line.startswith(f"| no year | {last.study} | {t.k} |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] == f"{ep.mu_mean:.2f} ({q[0]:.2f} to {q[2]:.2f})"
    assert cells[4] == fmt_p(ep.prob_mu_greater(0.0)) and cells[5] == f"{tq[1]:.2f}"
    assert cells[6] == f"{dl.estimate:.2f} ({dl.ci_low:.2f} to {dl.ci_high:.2f})"
    # the machine-readable table next to the report
    csv = pd.read_csv(tmp_path / "living" / f"{r.slug}.csv")
    assert csv["mu_mean"].iloc[-1] == pytest.approx(ep.mu_mean, rel=1e-9)


def test_mediation_hook_marks_prior_only_paths(monkeypatch):
    """The joint runner's prior_only flags reach the diagram and table (fake joint runner)."""
    import types

    q = {"median": 0.4, "q2.5": 0.2, "q97.5": 0.6, "prior_only": False, "label": "posterior", "learned_ratio": 0.3}
    qp = {"median": 0.1, "q2.5": -0.5, "q97.5": 0.7, "prior_only": True, "label": "prior only — no data on attachment",
          "learned_ratio": 1.0}
    fake = types.SimpleNamespace(
        fit_joint=lambda review, seed, on_event=None: types.SimpleNamespace(verdict={"problems": []}, notes=[]),
        summarize_joint=lambda fit: {"mediation": {"a": q, "b": qp, "c_prime": qp, "indirect": qp}, "scale": "SMD"},
    )
    monkeypatch.setattr(analyses, "optional_module", lambda name: fake if name.endswith("joint_runner") else None)
    med = analyses.mediation_hook(None, 1, lambda m: None)
    assert med["paths"]["a"] == (0.4, 0.2, 0.6)
    assert med["prior_only"] == {"b", "c_prime", "indirect"}
    from vfsynth.reports import plots as P

    fig = P.mediation_diagram(med["paths"], prior_only=med["prior_only"])
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "a = 0.40" in texts and texts.count("prior only") == 3
    P.to_data_uri(fig)


@pytest.mark.slow
def test_full_report_with_real_fits_and_extras(tmp_path, fit_dir):
    """End to end on a review that is not CD012348 (metafor dat.normand1999): real NUTS fits,
    model comparison, sensitivity, living review; every section filled, nothing failed."""
    review = load_csv(FIX / "normand1999.csv")
    res = build.build_report(review, tmp_path, seed=7, progress=False)
    html = res.html.read_text()
    comp = html[html.index('<section id="comparison">'): html.index('<section id="living">')]
    assert "elpd" in comp and "Prior sensitivity" in comp and "Leave-one-study-out" in comp
    living = html[html.index('<section id="living">'): html.index('<section id="reproduce">')]
    assert "vfsynth-priors/1" in living and "export failed" not in living
    assert "could not be drawn" not in html
    assert all(r.summary is not None and r.summary.diagnostics.ok for r in res.analyses)


def _summary_with(m, s, tau, *, k=5, measure="SMD"):
    """An AnalysisSummary from a normal posterior N(m, s²) of mu and a fixed tau (exact PI)."""
    from test_summaries import make_table, normal_posterior

    from vfsynth.reports import summaries as S

    t = make_table(np.full(k, m), np.full(k, 0.2), measure=measure)
    dt = normal_posterior(m, s, tau=np.full((4, 5000), tau), seed=3)
    post = dt["posterior"].dataset.copy()
    rng = np.random.default_rng(0)
    post["theta"] = (("chain", "draw", "study"), rng.normal(m, 0.1, (4, 5000, k)))
    post = post.assign_coords(study=list(t.study))
    import arviz_base as azb

    dt = azb.from_dict({"posterior": {v: post[v].values for v in post.data_vars},
                        "sample_stats": {"diverging": np.zeros((4, 5000), bool)}},
                       dims={"theta": ["study"]}, coords={"study": list(t.study)})
    return S.summarize_analysis(dt, t)


def test_sof_certainty_inputs_follow_the_intervals():
    from vfsynth.reports import sof as SOF

    # precise, homogeneous: CrI and PI exclude 0 -> no statistical flag
    a = _summary_with(0.5, 0.05, 0.05)
    r = SOF.sof_row(a)
    assert not r.concern_imprecision and not r.concern_inconsistency
    assert "excludes no effect" in r.imprecision and "excludes no effect" in r.inconsistency
    # imprecise: CrI (0.1 ± 1.96·0.15) includes 0 -> imprecision concern
    r = SOF.sof_row(_summary_with(0.1, 0.15, 0.01))
    assert r.concern_imprecision and "includes no effect" in r.imprecision
    # CrI excludes 0 but the PI (sd = sqrt(0.05² + 0.4²)) includes it -> inconsistency concern
    r = SOF.sof_row(_summary_with(0.5, 0.05, 0.4))
    assert r.concern_inconsistency and not r.concern_imprecision
    # CrI width relative to the first MCID (0.2): 2·1.96·0.05 / 0.2 ≈ 0.98
    assert "CrI width 1.0× MCID (0.2)" in SOF.sof_row(_summary_with(0.5, 0.05, 0.05)).imprecision


def test_sof_risk_of_bias_and_published_match():
    from vfsynth.reports import sof as SOF

    mods = pd.DataFrame({"rob_overall": ["low", "high", "low", None]}, index=["A", "B", "C", "D"])
    assert SOF.risk_of_bias(mods, ["A", "B", "C", "D"]) == "low 2; high 1; not recorded 1 [rob_overall]"
    assert SOF.risk_of_bias(pd.DataFrame({"x": [1]}, index=["A"]), ["A"]) == "not recorded"
    pub = load_review().published
    assert SOF.published_text(pub, "sensitivity", "post").startswith("SMD 0.34 (0.20 to 0.49)")
    assert SOF.published_text(pub, "attachment_security", "post").startswith("OR 3.04 (1.39 to 6.67)")
    assert SOF.published_text(None, "sensitivity", "post") == "—"


def test_cli_mcid_and_interval_options(tmp_path, monkeypatch):
    from vfsynth.reports.commands.report_cmd import parse_mcid

    assert parse_mcid(["SMD=0.3", "OR=1.5,2"]) == {"SMD": (0.3,), "logOR": (1.5, 2.0)}
    with pytest.raises(ValueError, match="MEASURE"):
        parse_mcid(["XYZ=1"])
    with pytest.raises(ValueError, match="> 0"):
        parse_mcid(["OR=-1"])
    monkeypatch.setattr(analyses, "runner_fitter", fake_fitter)
    rc = cli_main(["report", "--data", str(FIX / "bcg.csv"), "--out", str(tmp_path), "--no-extras", "--quiet",
                   "--mcid", "OR=1.5", "--interval", "hdi", "--control-risk", "250"])
    assert rc == 0
    import json

    js = json.loads((tmp_path / "summary.json").read_text())
    eff = js["analyses"][0]["effect"]
    assert list(eff["p_mcid"]) == ["1.5"] and eff["ci_kind"] == "hdi"
    assert [a["control_risk"] for a in js["analyses"][0]["absolute"]][-1] == pytest.approx(0.25)
    assert cli_main(["report", "--mcid", "OR=abc"]) == 2


def _fast_extras(monkeypatch):
    """Keep the comparison section's real analyses but fast: model comparison of the two exact
    (normal-normal) models only, and a short selection-model run; no joint model."""
    import functools

    from vfsynth.fits import compare, moderators

    monkeypatch.setattr(analyses, "mediation_hook", lambda review, seed, say: None)
    monkeypatch.setattr(compare, "compare_models",
                        functools.partial(compare.compare_models, models=("common-effect", "random-effects")))
    monkeypatch.setattr(moderators, "small_study_effects",
                        functools.partial(moderators.small_study_effects, draws=200, tune=200, chains=2))


def _bcg_with_a_missing_moderator(tmp_path):
    """dat.bcg with the latitude of one trial blanked out: that trial must be listed as excluded."""
    mods = pd.read_csv(FIX / "bcg_moderators.csv")
    mods.loc[mods["study"] == "Aronson 1948", "ablat"] = np.nan
    path = tmp_path / "bcg_moderators_missing.csv"
    mods.to_csv(path, index=False)
    return load_csv(FIX / "bcg.csv", moderators=path)


def test_comparison_section_has_plots_moderators_and_small_study_effects(tmp_path, monkeypatch):
    """Issue 6: model comparison, prior grid and influence come with their plots, and the
    moderator and small-study-effect analyses are in the report with their tables and plots
    (a review that is not CD012348: dat.bcg); excluded studies are named with the reason."""
    from vfsynth.fits import moderators

    _fast_extras(monkeypatch)
    review = _bcg_with_a_missing_moderator(tmp_path)
    res = build.build_report(review, tmp_path / "rep", seed=5, progress=False, fitter=fake_fitter, extras=True)
    html, md = res.html.read_text(), res.markdown.read_text()
    comp = html[html.index('<section id="comparison">'): html.index('<section id="living">')]
    assert "callout fail" not in comp and "could not be drawn" not in comp
    r = res.analyses[0]
    lab = r.label
    imgs = dict((alt, src) for src, alt in re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)"', comp))
    want = {"pareto_k": "Pareto k of each study", "comparison": "Leave-one-study-out elpd",
            "prior_grid": "Pooled effect (median, 95% CrI) under each prior", "influence": "with each study left out",
            "moderators": "Meta-regression coefficients and subgroup differences",
            "small_study": "Pooled effect unadjusted and under each small-study adjustment"}
    for stem, start in want.items():
        alt = next(a for a in imgs if start in a and a.endswith(lab))
        assert base64.b64decode(imgs[alt])[:4] == b"\x89PNG"
        assert f"(figures/{stem}_{r.slug}.png)" in md
        assert (res.markdown.parent / "figures" / f"{stem}_{r.slug}.png").is_file()
    # figures sit under their own table: Pareto k after the comparison table, moderators under their sub-heading
    assert comp.index("max_pareto_k") < comp.index("Pareto k of each study") < comp.index("Prior sensitivity (")
    i_mod, i_ss = comp.index(f"<h4>Moderators — {lab}</h4>"), comp.index(f"<h4>Small-study effects — {lab}</h4>")
    assert i_mod < comp.index("Meta-regression coefficients and subgroup") < i_ss
    mod_part, ss_part = comp[i_mod:i_ss], comp[i_ss:]

    # moderators: every estimable term of the analysis is a row, with its numbers
    mdf = moderators.moderator_analysis(review, r.outcome, r.timepoint, moderators=["ablat", "alloc"], engine="exact", seed=5)
    assert set(mdf["moderator"]) == {"ablat", "alloc"} and "not estimable" not in set(mdf["term"])
    for row in mdf.itertuples(index=False):
        if np.isfinite(row.mean):
            assert f"<td>{row.term}</td><td>{row.mean:.3f} ({row.low:.3f} to {row.high:.3f})</td>" in mod_part
    # the latitude regression used 12 of 13 trials and names the one left out, with the reason
    assert set(mdf.loc[mdf["moderator"] == "ablat", "k_used"]) == {12}
    assert "Studies excluded from moderator analyses" in mod_part
    assert "ablat: excluded Aronson 1948 (ablat missing)" in mod_part
    assert "alloc: excluded" not in mod_part

    # small-study effects: unadjusted, PET, PEESE, PET-PEESE and the selection model
    ss = moderators.small_study_effects(r.table, seed=5)  # the same (shortened) run as the report's
    assert [m.split(" (")[0] for m in ss["model"]] == ["random-effects", "PET", "PEESE", "PET-PEESE", "selection"]
    for row in ss.itertuples(index=False):
        assert f"<td>{row.model}</td><td>{row.mean:.3f} ({row.low:.3f} to {row.high:.3f})</td><td class=num>{row.p_benefit:.3f}</td>" in ss_part
    sentence = mod_section.small_study_sentence(ss, r.table.k)
    assert f"from {ss['p_benefit'].iloc[0]:.3f} (unadjusted)" in sentence and sentence in md
    # the unadjusted row is the exact posterior under the default priors (as in the prior grid)
    from vfsynth.fits.compare import _default_priors
    from vfsynth.fits.exact import nnhm_exact

    tp, mp = _default_priors(r.table, None, None)
    assert ss["p_benefit"].iloc[0] == pytest.approx(nnhm_exact(r.table, tau_prior=tp, mu_prior=mp).prob_mu_greater(0.0), abs=1e-12)


def test_comparison_section_failures_are_shown_in_red(tmp_path, monkeypatch):
    """A failing part of the section (model comparison, power-scaling, moderator analysis,
    selection model) is a red box naming the error; the other parts (PET/PEESE rows,
    influence) and the rest of the report are still built. A review without a moderators
    table says so."""
    from vfsynth.fits import compare, moderators, sensitivity

    def boom(exc):
        def f(*a, **k):
            raise exc
        return f

    monkeypatch.setattr(analyses, "mediation_hook", lambda review, seed, say: None)
    monkeypatch.setattr(compare, "compare_models", boom(RuntimeError("loo exploded")))
    monkeypatch.setattr(sensitivity, "power_scaling", boom(FloatingPointError("psense exploded")))
    monkeypatch.setattr(moderators, "moderator_analysis", boom(ValueError("bad design")))
    real = moderators.small_study_effects

    def no_selection(*a, selection=True, **k):
        if selection:
            raise RuntimeError("selection sampler exploded")
        return real(*a, selection=False, **k)

    monkeypatch.setattr(moderators, "small_study_effects", no_selection)
    res = build.build_report(load_csv(FIX / "bcg.csv", moderators=FIX / "bcg_moderators.csv"), tmp_path, seed=5,
                                progress=False, fitter=fake_fitter, extras=True)
    html = res.html.read_text()
    comp = html[html.index('<section id="comparison">'): html.index('<section id="living">')]
    for title, err in (("Model comparison failed", "RuntimeError: loo exploded"),
                       ("Power-scaling check failed", "FloatingPointError: psense exploded"),
                       ("Moderator analysis failed", "ValueError: bad design"),
                       ("Selection model for small-study effects failed", "RuntimeError: selection sampler exploded")):
        assert f'<div class="callout fail"><b class=t>{title}</b><span>{err}</span></div>' in comp
    # the exact small-study rows, the influence analysis and their figures are still there
    assert "<td>PET-PEESE</td>" in comp and "<td>selection" not in comp
    for stem in ("small_study", "influence", "prior_grid"):
        assert (tmp_path / "figures" / f"{stem}_tb_cases_post.png").is_file()
    assert not (tmp_path / "figures" / "moderators_tb_cases_post.png").exists()
    assert '<section id="living">' in html and "Cumulative analysis by publication year" in html

    # no moderators table: said, not silently skipped
    d = Doc()
    normand = load_csv(FIX / "normand1999.csv")
    r = analyses.AnalysisResult("length_of_stay", "post", normand.effects("length_of_stay", "post"))
    monkeypatch.undo()
    assert mod_section.moderator_block(d, moderators, normand, r, 5, lambda m: None) == "ok"
    assert any("This review has no moderators table" in h for h in d.html)


def test_robustness_text_includes_small_study_adjustments():
    from vfsynth.reports.sections.key_findings import robustness_text

    text = robustness_text({"prior": (0.986, 1.0, 11, False), "loso": (0.993, 0.999, 6, False),
                            "small_study": (0.392, 0.870, 4, True)})
    assert "0.99–1.00 over 11 priors" in text
    assert "0.39–0.87 over 4 small-study adjustments (conclusion changes)" in text
    assert robustness_text(None) == "not run"
