"""Three-level data in the CSV schema (the ``es_id`` column) and on the command line: several
estimates of one study load, cluster and reach ``vfsynth fit --model three-level`` /
``vfsynth average --ensemble three-level``; ambiguous duplicates are one-line errors naming line,
study and column; two-level models refuse such tables. End to end through a CSV, the fit equals
metafor's pinned ``rma.mv(yi, vi, mods = ~ year, random = ~ 1 | district/school)`` on
dat.konstantopoulos2011 (tests/reference/three_level_metafor.R)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from vfsynth.data import DataValidationError, load_csv
from vfsynth.reports.cli import main

HEAD = "study,outcome,timepoint,measure,estimate,se,es_id\n"
REF_YEAR = next(r for r in json.loads((Path(__file__).parent / "reference" / "three_level_metafor.json").read_text())
                if r["label"] == "konstantopoulos2011_year")


def _write(tmp_path, text, name="d.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_es_id_rows_load_with_their_cluster(tmp_path):
    p = _write(tmp_path, HEAD + "A,x,post,SMD,0.3,0.2,m1\nA,x,post,SMD,0.5,0.2,m2\nB,x,post,SMD,0.1,0.2,\n"
               "C,x,post,SMD,0.2,0.3,\nC,x,followup,SMD,0.2,0.3,\n")
    t = load_csv(p).effects("x", "post")
    assert t.study == ("A", "A", "B", "C") and t.es_id == ("m1", "m2", "", "")
    assert t.multilevel and t.cluster.tolist() == [0, 0, 1, 2]
    assert t.drop("A").study == ("B", "C")
    # one estimate per study: the table is the two-level one it always was (no es_id, same hash)
    single = load_csv(p).effects("x", "followup")
    assert single.es_id is None and not single.multilevel


@pytest.mark.parametrize(("rows", "line", "column", "words"), [
    ("A,x,post,SMD,0.3,0.2\nA,x,post,SMD,0.5,0.2\n", 3, None, "add an es_id column"),
    ("A,x,post,SMD,0.3,0.2,1\nA,x,post,SMD,0.5,0.2,\n", 3, "es_id", "its own es_id"),
    ("A,x,post,SMD,0.3,0.2,\nA,x,post,SMD,0.5,0.2,2\n", 3, "es_id", "its own es_id"),
    ("A,x,post,SMD,0.3,0.2,1\nB,x,post,SMD,0.5,0.2,1\nA,x,post,SMD,0.5,0.2,1\n", 4, "es_id", "es_id '1' already"),
])
def test_ambiguous_duplicates_are_named(tmp_path, rows, line, column, words):
    head = HEAD if column else HEAD.replace(",es_id", "")
    with pytest.raises(DataValidationError) as e:
        load_csv(_write(tmp_path, head + rows))
    (prob,) = e.value.problems
    assert (prob.row, prob.study, prob.column) == (line, "A", column) and words in prob.message


def test_two_level_commands_refuse_several_estimates_per_study(tmp_path, capsys):
    p = _write(tmp_path, HEAD + "A,x,post,SMD,0.3,0.2,1\nA,x,post,SMD,0.5,0.2,2\nB,x,post,SMD,0.1,0.2,\n")
    assert main(["fit", "--data", str(p), "--outcome", "x", "--engine", "exact"]) == 2
    assert "study 'A' has 2 estimates" in capsys.readouterr().err
    assert main(["average", "--data", str(p), "--outcome", "x", "--mu-prior", "normal:0,1"]) == 2
    assert "three-level ensemble" in capsys.readouterr().err


def _year_csv(tmp_path):
    """metadat's dat.konstantopoulos2011 with year, an estimate-level moderator (it differs
    between the schools of one district), in the data CSV's own year column."""
    r = REF_YEAR
    with open(tmp_path / "k.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["study", "year", "outcome", "timepoint", "measure", "estimate", "se", "es_id"])
        for j, (s, x, y, v) in enumerate(zip(r["cluster"], r["moderators"][0], r["yi"], r["vi"], strict=True)):
            w.writerow([f"district {s}", int(x), "achievement", "post", "SMD", repr(y), repr(float(np.sqrt(v))), j])
    return r, np.asarray(r["moderators"][0], float), [
        "--data", str(tmp_path / "k.csv"), "--outcome", "achievement", "--moderator", "year",
        "--mu-prior", "normal:0,1", "--tau-prior", "half-normal:0.5", "--json"]


def test_cli_three_level_fit_equals_metafor_through_the_csv(tmp_path, capsys):
    r, years, args = _year_csv(tmp_path)
    assert main(["fit", "--model", "three-level", *args]) == 0
    out = json.loads(capsys.readouterr().out)
    f = out["frequentist"]
    b0, b1 = f["coefficients"]["intercept"]["estimate"], f["coefficients"]["year"]["estimate"]
    # the CLI centres year at its mean over the estimates; metafor's intercept is at year 0
    assert b0 == pytest.approx(r["beta"][0] + r["beta"][1] * years.mean(), abs=1e-6)
    assert b1 == pytest.approx(r["beta"][1], abs=1e-6)
    assert f["coefficients"]["year"]["se"] == pytest.approx(r["se"][1], abs=1e-6)
    np.testing.assert_allclose([f["tau2_study"], f["tau2_estimate"]], r["sigma2"], rtol=0, atol=1e-6)
    assert f["loglik"] == pytest.approx(r["logLik_reml"], abs=1e-6)
    assert out["analysis"]["n_estimates"] == 56 and out["analysis"]["k"] == 11


def test_cli_three_level_average(tmp_path, capsys):
    from test_report_averaging import _IJ, _Y

    rows = "".join(f"S{i},{2000 + i + j},x,post,SMD,{y},0.05,{j}\n" for (i, j), y in zip(_IJ, _Y, strict=True))
    p = _write(tmp_path, "study,year,outcome,timepoint,measure,estimate,se,es_id\n" + rows)
    assert main(["average", "--ensemble", "three-level", "--data", str(p), "--outcome", "x", "--moderator", "year",
                 "--mu-prior", "normal:0,1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["models"]) == 8 and sum(m["post_prob"] for m in out["models"]) == pytest.approx(1.0)
    assert set(out["inclusion"]) == {"effect", "heterogeneity", "within"}
    assert out["analysis"]["moderators"] == ["year"] and out["analysis"]["n_estimates"] == 12
    w = out["tau_within_conditional"]
    assert 0 < w["low"] < w["median"] < w["high"]
    assert main(["average", "--data", str(p), "--outcome", "x", "--moderator", "year"]) == 2  # nnhm4: no moderators
    assert "only apply to the three-level model" in capsys.readouterr().err


def test_data_command_pools_es_id_analyses_by_three_level_reml(tmp_path, capsys):
    r = next(x for x in json.loads((Path(__file__).parent / "reference" / "three_level_metafor.json").read_text())
             if x["label"] == "konstantopoulos2011")
    rows = "".join(f"d{s},ach,post,SMD,{y!r},{float(np.sqrt(v))!r},{j}\n"
                   for j, (s, y, v) in enumerate(zip(r["cluster"], r["yi"], r["vi"], strict=True)))
    p = _write(tmp_path, HEAD + rows)
    assert main(["data", "--data", str(p), "--json"]) == 0
    (a,) = json.loads(capsys.readouterr().out)["analyses"]
    assert a["reml"] is None and a["n_studies"] == 11 and a["k"] == 56  # never pooled as 56 independent studies
    t = a["three_level"]
    assert t["estimate"] == pytest.approx(r["beta"], abs=1e-6) and t["se"] == pytest.approx(r["se"], abs=1e-6)
    np.testing.assert_allclose([t["tau2_study"], t["tau2_estimate"]], r["sigma2"], rtol=0, atol=1e-6)
