"""``vfsynth data`` on the measures of issue 14: labelled estimator columns, not-estimable rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vfsynth.reports.cli import main

HERE = Path(__file__).resolve().parent
REF = json.loads((HERE / "reference" / "metafor_measures.json").read_text())["cases"]


def _tau2_columns(capsys, fixture: str, outcome: str):
    assert main(["data", "--data", str(HERE / "fixtures" / "measures" / fixture)]) == 0
    text = capsys.readouterr().out
    head = next(line for line in text.splitlines() if "DL tau2" in line)
    row = next(line for line in text.splitlines() if line.strip().startswith(outcome))
    assert "REML tau2" in head and "DL I2%" in head and "REML I2%" in head
    return tuple(float(x) for x in row.split()[-4:])


def _check(values, ref):
    dl_tau2, dl_i2, reml_tau2, reml_i2 = values
    assert dl_tau2 == pytest.approx(ref["DL"]["tau2"], abs=5e-4)
    assert reml_tau2 == pytest.approx(ref["REML"]["tau2"], abs=5e-4)
    assert dl_i2 == pytest.approx(ref["DL"]["i2"], abs=0.05)
    assert reml_i2 == pytest.approx(ref["REML"]["i2"], abs=0.05)


def test_text_table_labels_dl_and_reml_heterogeneity(capsys):
    """collins1985b RR: metafor DL tau2 0.156 / I2 72.0% and REML 0.199 / 76.7%, each under its label."""
    _check(_tau2_columns(capsys, "collins1985b_rr.csv", "events_rr"), REF["collins1985b_RR"])


@pytest.mark.slow
def test_curtis1998_reml_tau2_is_not_the_dl_one(capsys):
    """The issue's example: curtis1998 MD printed DL tau2 0.290 where REML tau2 is 35.1."""
    _check(_tau2_columns(capsys, "curtis1998_md.csv", "biomass_md"), REF["curtis1998_MD"])


def test_not_estimable_rows_in_text_and_json(tmp_path, capsys):
    p = tmp_path / "ne.csv"
    p.write_text(
        "study,outcome,measure,n_t,events_t,n_c,events_c,not_estimable\n"
        "A,o,logRR,20,3,20,6,\n"
        "B,o,logRR,15,0,14,0,\n"
        "C,o,logRR,30,9,31,12,\n"
        "D,p,,,,,,not reported\n"
    )
    assert main(["data", "--data", str(p)]) == 0
    text = capsys.readouterr().out
    assert "Not estimable (2 row(s)" in text
    assert "line    3  B" in text and "no events in either arm" in text and "not reported" in text
    assert main(["data", "--data", str(p), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    o = next(a for a in out["analyses"] if a["outcome"] == "o")
    assert o["k"] == 2 and [e["study"] for e in o["not_estimable"]] == ["B"]
    pa = next(a for a in out["analyses"] if a["outcome"] == "p")
    assert pa["k"] == 0 and pa["dl"] is None and pa["not_estimable"][0]["reason"] == "not reported"
    assert [e["study"] for e in out["not_estimable"]] == ["B", "D"]


def test_report_data_section_lists_not_estimable_rows_and_direction(tmp_path):
    from types import SimpleNamespace

    from vfsynth.data import load_csv
    from vfsynth.reports.sections.data import data_section

    p = tmp_path / "r.csv"
    p.write_text(
        "study,outcome,measure,n_t,events_t,n_c,events_c\n"
        "A,o,logRR,20,3,20,6\nB,o,logRR,15,0,14,0\nC,o,logRR,30,9,31,12\n"
    )
    review = load_csv(p)
    t = review.effects("o")
    md = "\n".join(data_section(review, [SimpleNamespace(table=t, label="o")], []).md)
    assert "Not estimable (1 row(s)" in md and "| B | 3 | no events in either arm |" in md
    assert "Direction not stated in the data" in md
