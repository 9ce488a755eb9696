"""RevMan import and RevMan's own statistics, checked against numbers RevMan itself stored.

* ``CD000023`` (real RevMan 5 file, shared/reference/revman): every per-study effect, CI, SE and
  weight and every pooled estimate, CI, tau², I², chi², Z and subgroup-difference test of all
  21 outcomes and 22 subgroups (risk ratios, Mantel–Haenszel, random effects).
* RevMan Web CSV exports (CD010861, CD014914): every row with a stored ``Mean`` reproduced at the
  export's printed precision; every analysis' stored weights reproduced by one pooling method.
* ``tests/fixtures/revman/cont_giv.rm5``: continuous (MD, SMD with subgroups) and generic
  inverse-variance outcomes, stored results written by metafor (make_revman_fixtures.R).
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vfsynth.data import load_csv, load_data, revman, revman_results, revman_rm5, revman_web
from vfsynth.data import revman_pooling as rp
from vfsynth.data.errors import DataValidationError

REPO = Path(__file__).resolve().parents[1]
SHARED_REVMAN = REPO.parent / "shared" / "reference" / "revman"
RM5 = SHARED_REVMAN / "CD000023-antibiotics-for-sore-throat.rm5"
WEB = [SHARED_REVMAN / "web-csv" / "CD010861.pub3.csv", SHARED_REVMAN / "web-csv" / "CD014914.pub2.csv"]
FIXTURE = REPO / "tests" / "fixtures" / "revman" / "cont_giv.rm5"

needs_shared = pytest.mark.skipif(not RM5.exists(), reason="shared/reference/revman not available")

P_VALUES = ("heterogeneity p", "p(Z)", "subgroup difference p")


@pytest.fixture(scope="module")
def cd000023():
    return revman_rm5.read_rm5(RM5)


@needs_shared
def test_rm5_reader_reads_every_analysis_subgroup_and_study(cd000023):
    rv = cd000023
    assert rv.title == "Antibiotics for sore throat"
    assert rv.doi == "10.1002/14651858.CD000023.pub4"
    assert len(rv.analyses) == 21
    assert sum(len(a.subgroups) for a in rv.analyses) == 22
    assert sum(len(a.rows) for a in rv.analyses) == 217  # <DICH_DATA> elements in the file
    assert {a.effect_measure for a in rv.analyses} == {"RR"}
    assert {a.method for a in rv.analyses} == {"MH"} and all(a.random for a in rv.analyses)
    # names and years come from STUDIES_AND_REFERENCES (XML-escaped ids decoded via NAME)
    assert rv.studies["STD-El_x002d_Daher-1991"] == {"name": "El-Daher 1991", "year": 1991.0, "data_source": "PUB"}
    a = rv.analysis("1.1")
    assert a.name == "Symptom of sore throat on day 3"
    assert a.rows[0].study == "Brink 1951" and a.rows[0].data == {
        "EVENTS_1": 119.0, "TOTAL_1": 277.0, "EVENTS_2": 129.0, "TOTAL_2": 198.0}
    # the number of stored STUDIES equals the distinct studies we read, per analysis
    for a in rv.analyses:
        assert len({r.study_id for r in a.rows}) == a.stored["STUDIES"], a.number


@needs_shared
def test_cd000023_every_stored_result_reproduced(cd000023):
    """Max abs and rel difference over all outcomes and subgroups, per quantity, <= 1e-6.

    RevMan's p-values are computed by RevMan with an approximation good to ~3e-7 absolute (the
    chi² and Z statistics themselves agree to 1e-13), so p-values are compared on the absolute
    scale only."""
    cmp = revman_results.compare_with_revman(cd000023)
    assert set(cmp["analysis"]) == {a.number for a in cd000023.analyses}
    assert np.isfinite(cmp.abs_diff).all()
    covered = {(r.analysis, r.subgroup) for r in cmp[cmp.quantity == "estimable"].itertuples()}
    # analysis 2.4 and subgroup 4.3.2 have no estimable study (no events at all): RevMan stores
    # ESTIMABLE="NO" and we agree
    est = cmp[cmp.quantity == "estimable"]
    assert {(r.analysis, r.subgroup if r.subgroup == r.subgroup else None) for r in est[est.stored == 0].itertuples()} == {
        ("2.4", None), ("4.3", 2.0)}
    assert est.abs_diff.max() == 0
    expected = {(a.number, None) for a in cd000023.analyses} | {
        (a.number, s.no) for a in cd000023.analyses for s in a.subgroups}
    assert {(a, None if (s is None or (isinstance(s, float) and math.isnan(s))) else int(s)) for a, s in covered} == expected
    for q in ("study effect", "study CI start", "study CI end", "study SE", "study weight %", "pooled effect",
              "pooled CI start", "pooled CI end", "tau2", "I2 %", "heterogeneity chi2", "Z",
              "subgroup difference chi2", "subgroup difference I2 %", "subgroup weight %"):
        sub = cmp[cmp.quantity == q]
        assert len(sub) > 0, q
        assert sub.abs_diff.max() <= 1e-6 and sub.rel_diff.max() <= 1e-6, (q, sub.abs_diff.max(), sub.rel_diff.max())
    for q in P_VALUES:
        assert cmp[cmp.quantity == q].abs_diff.max() <= 1e-6, q
    # every estimable study row was compared
    n_estimable = sum(r.estimable for a in cd000023.analyses for r in a.rows)
    assert (cmp.quantity == "study effect").sum() == n_estimable


@needs_shared
def test_uncorrected_mantel_haenszel_would_not_match(cd000023):
    """The zero-cell rule matters: MH sums on raw counts miss RevMan's stored tau² of analysis 4.1
    (the MH estimate enters Q and hence the DerSimonian–Laird tau²)."""
    a = cd000023.analysis("4.1")
    col = {k: np.array([r.data[k] for r in a.rows]) for k in ("EVENTS_1", "TOTAL_1", "EVENTS_2", "TOTAL_2")}
    ours = rp.mantel_haenszel(col["EVENTS_1"], col["TOTAL_1"], col["EVENTS_2"], col["TOTAL_2"], "RR", random=True)
    assert ours.tau2 == pytest.approx(a.stored["TAU2"], rel=1e-12)
    orig = rp._mh_cells
    try:
        rp._mh_cells = lambda a_, n1, c, n2, corrected, cc: (a_, n1 - a_, c, n2 - c)
        raw = rp.mantel_haenszel(col["EVENTS_1"], col["TOTAL_1"], col["EVENTS_2"], col["TOTAL_2"], "RR", random=True)
    finally:
        rp._mh_cells = orig
    assert abs(raw.tau2 - a.stored["TAU2"]) > 1e-3


def test_mantel_haenszel_fixed_matches_closed_form_and_iv_matches_dl():
    # two 2x2 tables, hand-computed MH RR and Greenland-Robins variance
    a, n1, c, n2 = np.array([10.0, 4.0]), np.array([50.0, 40.0]), np.array([20.0, 8.0]), np.array([50.0, 40.0])
    res = rp.mantel_haenszel(a, n1, c, n2, "RR", random=False)
    big_n = n1 + n2
    r, s = (a * n2 / big_n).sum(), (c * n1 / big_n).sum()
    p = ((n1 * n2 * (a + c) - a * c * big_n) / big_n**2).sum()
    assert res.effect == pytest.approx(r / s, rel=1e-12)
    assert res.se == pytest.approx(math.sqrt(p / (r * s)), rel=1e-12)


def test_mantel_haenszel_matches_pinned_metafor_rma_mh():
    """Fixed-effect MH RR / OR / RD with their SEs, CIs, Q and I² vs metafor 3.8.1 rma.mh on
    dat.bcg (tests/reference/revman_mh.R)."""
    import json

    ref = json.loads((REPO / "tests" / "reference" / "revman_mh.json").read_text())
    bcg = pd.read_csv(REPO / "tests" / "fixtures" / "bcg.csv")
    args = (bcg.events_t, bcg.n_t, bcg.events_c, bcg.n_c)
    for m in ("RR", "OR", "RD"):
        res = rp.mantel_haenszel(*args, m, random=False)
        r = ref[m]
        assert res.y == pytest.approx(r["estimate"], rel=1e-9), m
        if m != "RD":
            assert res.se == pytest.approx(r["se"], rel=1e-9), m
            lo, hi = np.log(res.ci_low), np.log(res.ci_high)
            assert lo == pytest.approx(r["ci_lb"], rel=1e-9) and hi == pytest.approx(r["ci_ub"], rel=1e-9), m
        assert res.q == pytest.approx(r["QE"], rel=1e-9), m
        assert res.i2 == pytest.approx(r["I2"], rel=1e-9), m
        assert res.k == r["k"]
    # RD variance: RevMan 5 documents Greenland & Robins (1985), J / K^2 (Deeks & Higgins 2010);
    # metafor (and R meta) use Sato, Greenland & Robins (1989), which is 0.75% larger here.
    a, n1, c, n2 = (np.asarray(v, float) for v in args)
    b, d, big_n = n1 - a, n2 - c, n1 + n2
    j = ((a * b * n2**3 + c * d * n1**3) / (n1 * n2 * big_n**2)).sum()
    k = (n1 * n2 / big_n).sum()
    rd = rp.mantel_haenszel(*args, "RD", random=False)
    assert rd.se == pytest.approx(math.sqrt(j) / k, rel=1e-12)
    assert rd.se / ref["RD"]["se"] == pytest.approx(0.9925, abs=5e-4)


def test_generic_and_continuous_fixture_reproduced():
    """Continuous (MD random, SMD fixed + subgroups) and GIV (log OR random, MD fixed) outcomes:
    RevMan-format file whose stored results were written by metafor (make_revman_fixtures.R)."""
    rv = revman_rm5.read_rm5(FIXTURE)
    assert "déjà vu" in rv.title  # ISO-8859-1 decoded
    assert [(a.data_type, a.effect_measure, a.random) for a in rv.analyses] == [
        ("CONT", "MD", True), ("CONT", "SMD", False), ("IV", "OR", True), ("IV", "MD", False)]
    cmp = revman_results.compare_with_revman(rv)
    assert set(cmp.analysis) == {"1.1", "1.2", "2.1", "2.2"}
    assert {"subgroup difference chi2", "tau2", "study weight %"} <= set(cmp.quantity)
    assert cmp.abs_diff.max() <= 1e-9 and cmp.rel_diff.max() <= 1e-9


def test_fixture_schema_rows_and_direction():
    df = revman.read_revman(FIXTURE)
    mapping = df.attrs["revman_mapping"]
    assert list(mapping.outcome) == [
        "a1-1-length-of-hospital-stay-days", "a1-2-length-of-hospital-stay-smd-by-trial-site",
        "a1-2-s1-orpington-trials", "a1-2-s2-other-trials", "a2-1-tuberculosis-bcg-vaccine",
        "a2-2-length-of-stay-entered-as-mean-differences"]
    assert not mapping.higher_is_better.any()  # "Favours specialist care" / "Favours BCG" on the left
    giv = df[df.outcome == "a2-1-tuberculosis-bcg-vaccine"]
    assert set(giv.measure) == {"logOR"} and giv.estimate.notna().all() and giv.se.notna().all()
    assert giv.year.tolist()[0] == 1948
    cont = df[df.outcome == "a1-2-length-of-hospital-stay-smd-by-trial-site"]
    assert set(cont.measure) == {"SMD"} and len(cont) == 9
    assert len(df[df.outcome == "a1-2-s1-orpington-trials"]) + len(df[df.outcome == "a1-2-s2-other-trials"]) == 9


@needs_shared
@pytest.mark.parametrize("path", WEB, ids=lambda p: p.stem)
def test_web_csv_rows_reproduced(path):
    rv = revman_web.read_revman_web_csv(path)
    raw = pd.read_csv(path)
    n_stored = int(raw["Mean"].notna().sum())
    checked = 0
    for a in rv.analyses:
        if not a.effect_measure:
            assert all(not math.isfinite(r.stored["EFFECT_SIZE"]) for r in a.rows), a.number
            continue
        eff = revman_results._study_effects(a, a.rows, 0.95)
        for i, r in enumerate(a.rows):
            for key, ours in (("EFFECT_SIZE", eff.effect[i]), ("CI_START", eff.ci_low[i]), ("CI_END", eff.ci_high[i])):
                s = r.stored[key]
                if math.isfinite(s):
                    assert abs(ours - s) <= revman_web.web_csv_tolerance(s), (a.number, r.study, key, s, ours)
            checked += math.isfinite(r.stored["EFFECT_SIZE"])
        # RevMan's per-study weights are reproduced by the pooling method recorded for the analysis
        w = np.array([r.stored["WEIGHT"] for r in a.rows])
        if len(a.rows) > 1 and np.nansum(w) > 0:
            assert a.method, (a.number, a.measure_note)
            assert np.allclose(revman_results.pool_analysis(a).weights, np.nan_to_num(w), atol=1e-5, rtol=0), a.number
    assert checked == n_stored  # every row with RevMan's Mean was reproduced


@needs_shared
def test_web_csv_measures_inferred_as_expected():
    rv = revman_web.read_revman_web_csv(WEB[0])
    got = {a.number: a.effect_measure for a in rv.analyses}
    assert got["1.1"] == "RR" and got["1.2"] == "MD" and got["1.3"] == "SMD" and got["7.1"] == "MD"
    # analyses with no stored result at all (zero events in every study) cannot be inferred
    assert {n for n, m in got.items() if not m} == {"2.1", "3.4", "6.4", "6.5"}
    assert all(rv.analysis(n).data_type == "DICH" for n in ("2.1", "3.4", "6.4", "6.5"))
    # a user measure overrides and is recorded
    rv2 = revman_web.read_revman_web_csv(WEB[0], measure={"1.1": "OR"})
    a = rv2.analysis("1.1")
    assert a.effect_measure == "OR" and "given by the user" in a.measure_note and "RR" in a.measure_note


@needs_shared
def test_web_csv_loads_through_load_data():
    review = load_data(WEB[1])
    assert review.meta["format"] == "revman"
    skipped = review.meta["revman_skipped"]
    assert [s["analysis"] for s in skipped] == ["13.11"]  # one continuous row, no result, no measure
    t = review.effects("a5-1-standardised-mean-global-symptom-severity", "post")
    assert t.measure == "SMD" and t.k == 2
    assert {"a9-3-s1-gt-85-mg-d", "a9-3-s2-lt-85-mg-d"} <= set(review.outcomes())
    # a Web CSV has no forest-plot labels: which way the events count is not stated, so the rows
    # are imported with higher_is_better blank and every output flags the default (issue 14)
    colds = review.effects("a1-1-proportion-of-participants-developing-colds", "post")
    assert colds.measure == "logRR" and colds.meta["direction"] == {"higher_is_better": True, "stated": False}
    assert not review.meta["revman_mapping"]["direction_stated"].any()


@needs_shared
def test_rm5_loads_through_load_data_and_gives_tables(cd000023):
    review = load_data(RM5)
    outcomes = review.outcomes()
    assert "a1-1-symptom-of-sore-throat-on-day-3" in outcomes
    assert len(outcomes) == 21 + 22
    t = review.effects("a1-1-symptom-of-sore-throat-on-day-3", "post")
    # RevMan pooled this analysis as RR: since issue 14 it stays a (log) RR, not a log OR of
    # non-events; events are unfavourable (sore throat), so the benefit scale is -log RR
    assert t.k == 15 and t.measure == "logRR"
    brink = t.study.index("Brink 1951")
    stored = next(r for r in cd000023.analysis("1.1").rows if r.study == "Brink 1951").stored
    assert math.exp(-t.estimate[brink]) == pytest.approx(stored["EFFECT_SIZE"], rel=1e-6)
    assert t.year[brink] == 1951
    # a study in two subgroups of one analysis keeps unique labels
    t4 = review.effects("a1-4-symptom-of-sore-throat-on-day-3-gabhs-positive", "post")
    assert t4.k == 20 and any("[" in s for s in t4.study)


def test_bad_files_raise_clear_errors(tmp_path):
    bad = tmp_path / "x.rm5"
    bad.write_text("<not xml")
    with pytest.raises(DataValidationError, match="not a RevMan 5 XML file"):
        revman_rm5.read_rm5(bad)
    other = tmp_path / "y.rm5"
    other.write_text("<?xml version='1.0'?><FOO/>")
    with pytest.raises(DataValidationError, match="expected <COCHRANE_REVIEW>"):
        revman_rm5.read_rm5(other)
    unknown = tmp_path / "z.rm5"
    unknown.write_text(FIXTURE.read_text(encoding="latin-1").replace('STUDY_ID="STD-Aronson-1948"', 'STUDY_ID="STD-Nobody"'),
                       encoding="latin-1")
    with pytest.raises(DataValidationError, match="STD-Nobody.*STUDY_ID|STUDY_ID.*not found"):
        revman_rm5.read_rm5(unknown)
    web = tmp_path / "w.csv"
    web.write_text('"Analysis group","Analysis number","Study","CI start"\n1,1,"A",1\n')
    with pytest.raises(DataValidationError, match="column 'Analysis name'"):
        revman_web.read_revman_web_csv(web)
    if WEB[0].exists():
        with pytest.raises(DataValidationError, match="unknown measure"):
            revman_web.read_revman_web_csv(WEB[0], measure="HR")
    if WEB[1].exists():
        # SD = 0 (Petrus 1998, RevMan line 163): RevMan lists it "not estimable"; since issue 14
        # so does vfsynth (it was an error that refused the whole file before)
        rev = revman.load_revman(WEB[1], measure={"13.11": "MD"})
        ne = [e for e in rev.not_estimable() if e["study"] == "Petrus 1998" and e["outcome"].startswith("a13-11")]
        assert ne and "RevMan: not estimable" in ne[0]["reason"] and "SD = 0 (sd_t)" in ne[0]["reason"]


def test_import_cli_round_trip(tmp_path, capsys):
    from vfsynth.reports.cli import main

    out = tmp_path / "fixture.csv"
    assert main(["import", str(FIXTURE), "-o", str(out), "--check"]) == 0
    printed = capsys.readouterr().out
    assert "a2-1-tuberculosis-bcg-vaccine" in printed and "tau2" in printed
    back = load_csv(out)
    assert set(back.outcomes()) == set(pd.read_csv(out.with_suffix(".mapping.csv")).outcome)
    t = back.effects("a1-1-length-of-hospital-stay-days", "post")
    assert t.measure == "MD" and t.k == 9
    # MD on the benefit scale: shorter stay under specialist care is positive
    edi = t.study.index("Edinburgh")
    assert t.estimate[edi] == pytest.approx(75 - 55)
    assert main(["import", str(tmp_path / "missing.rm5")]) == 2
    assert "file not found" in capsys.readouterr().err


@needs_shared
def test_import_cli_web_csv_check(tmp_path, capsys):
    from vfsynth.reports.cli import main

    assert main(["import", str(WEB[0]), "--check", "--json", "-o", str(tmp_path / "w.csv")]) == 0
    out = __import__("json").loads(capsys.readouterr().out)
    assert out["format"] == "revman-web-csv" and out["skipped"] == []
    # per-study effects at the export's printed precision (6 decimals); weights to 1e-5 (printed)
    for q in ("study effect", "study CI start", "study CI end"):
        assert out["check"][q]["max_abs_diff"] <= 5e-7
    assert out["check"]["study weight %"]["max_abs_diff"] <= 1e-5
    measures = {m["analysis"]: m["measure"] for m in out["measures"]}
    assert measures["1.3"] == "SMD" and measures["2.1"] == ""


def test_import_cli_is_registered_and_help_is_light():
    r = subprocess.run([sys.executable, "-c", "import sys; from vfsynth.reports.cli import main; main(['import', '--help'])"],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0 and "RevMan" in r.stdout
