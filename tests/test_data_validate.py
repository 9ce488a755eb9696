"""Validation: one DataValidationError naming every broken row (line, study, column)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vfsynth.data import DataValidationError, load_csv

FIX = Path(__file__).resolve().parent / "fixtures"
HEADER = (
    "study,year,outcome,timepoint,measure,n_t,mean_t,sd_t,events_t,n_c,mean_c,sd_c,events_c,"
    "estimate,se,ci_low,ci_high,higher_is_better,source"
)

# (line, study, column, words in the message) for every broken row of tests/fixtures/broken.csv
EXPECTED = [
    (1, None, "colour", "unknown column"),
    # SD = 0 and n = 1 rows are "not estimable" (kept, not errors) since issue 14: negative ones stay errors
    (3, "Negative SD 2002", "sd_t", "must be > 0"),
    (4, "Negative N 2003", "n_c", "must be >= 0"),
    (5, "Too Many Events 2004", "events_t", "exceed"),
    (6, "Fractional N 2005", "n_t", "whole number"),
    (7, "No Data 2006", None, "no data"),
    (8, "Two Forms 2007", None, "mixes 2 data forms"),
    (9, "Bad Measure 2008", "measure", "unknown measure"),
    (10, "Good 2001", None, "duplicate row"),
    (11, None, "study", "missing"),
    (12, "No SE 2010", "se", "standard error"),
    (13, "Unparseable 2011", "mean_t", "cannot read 'abc'"),
    (14, "Bad Direction 2012", "higher_is_better", "true or false"),
    (15, "CI Outside 2013", "estimate", "outside its confidence interval"),
    (16, "Zero OR 2014", "estimate", "odds ratio must be > 0"),
    (17, "Negative Events 2015", "events_t", ">= 0"),
    (18, "Partial Arms 2016", "sd_c", "missing"),
]


def load_broken():
    with pytest.raises(DataValidationError) as info:
        load_csv(FIX / "broken.csv")
    return info.value


@pytest.mark.parametrize("line,study,column,words", EXPECTED)
def test_broken_file_names_every_problem(line, study, column, words):
    err = load_broken()
    hits = [p for p in err.problems if p.row == line and p.study == study and p.column == column]
    assert hits, f"no problem reported for line {line} / {column}"
    assert any(words in p.message for p in hits)
    text = str(err)
    assert f"line {line}" in text
    if column:
        assert f"column '{column}'" in text


def test_good_row_not_reported():
    err = load_broken()
    assert not [p for p in err.problems if p.row == 2]
    assert str(FIX / "broken.csv") in str(err)


def write(tmp_path, *rows, header=HEADER, name="d.csv"):
    p = tmp_path / name
    p.write_text("\n".join([header, *rows]) + "\n")
    return p


def problems(path, **kw):
    with pytest.raises(DataValidationError) as info:
        load_csv(path, **kw)
    return info.value.problems


def test_valid_minimal_file_loads_unchanged(tmp_path):
    p = write(
        tmp_path,
        "A,2001,o,post,,10,1.5,1,,12,1.0,1.2,,,,,,,src a",
        "B,,o,post,OR,,,,,,,,,2.0,,1.1,3.9,false,",
        "C,,o,post,,30,,,5,30,,,9,,,,,true,",
    )
    r = load_csv(p)
    assert list(r.rows["study"]) == ["A", "B", "C"]
    assert list(r.rows["line"]) == [2, 3, 4]
    assert list(r.rows["form"]) == ["continuous", "estimate", "binary"]
    assert r.rows.loc[1, "estimate"] == 2.0 and not r.rows.loc[1, "higher_is_better"]
    assert r.rows.loc[0, "source"] == "src a" and r.rows.loc[1, "source"] == ""


def test_line_numbers_survive_quoted_newlines_and_blank_lines(tmp_path):
    p = write(
        tmp_path,
        'A,,o,post,SMD,,,,,,,,,0.5,0.1,,,,"two\nlines"',
        "",
        "B,,o,post,SMD,,,,,,,,,0.5,-1,,,,",
    )
    (prob,) = problems(p)
    assert prob.row == 5 and prob.study == "B" and prob.column == "se"


def test_timepoint_column_optional_but_cells_required(tmp_path):
    header = "study,outcome,estimate,se,measure"
    r = load_csv(write(tmp_path, "A,o,0.2,0.1,SMD", header=header))
    assert r.rows.loc[0, "timepoint"] == "post"
    probs = problems(write(tmp_path, "A,,o,,SMD,,,,,,,,,0.2,0.1,,,,"))
    assert any(p.column == "timepoint" for p in probs)


def test_na_tokens_are_blank(tmp_path):
    r = load_csv(write(tmp_path, "A,NA,o,post,SMD,NA,NA,NA,NA,NA,NA,NA,NA,0.2,0.1,NA,NA,NA,NA"))
    assert r.rows.loc[0, "form"] == "estimate"


@pytest.mark.parametrize(
    "row,column,words",
    [
        ("A,,o,post,SMD,,,,,,,,,0.2,,0.1,,,", "ci_high", "only one confidence limit"),
        ("A,,o,post,,,,,,,,,,0.2,0.1,,,,", "measure", "needs its measure"),
        ("A,,o,post,SMD,,,,,,,,,,0.1,,,,", "estimate", "missing"),
        ("A,,o,post,OR,,,,,,,,,2,,0,3,,", "ci_low", "> 0"),
        ("A,,o,post,SMD,,,,,,,,,0.2,,0.5,0.1,,", "ci_low", "below ci_high"),
        ("A,,o,post,SMD,10,1,1,,10,1,1,,,,,,,", "measure", None),
        ("A,,o,post,MD,10,,,3,10,,,4,,,,,,", "measure", "binary"),
        ("A,,o,post,SMD,,,,,,,,,inf,0.1,,,,", "estimate", "finite"),
        ("A,1999.5,o,post,SMD,,,,,,,,,0.2,0.1,,,,", "year", "whole number"),
        ("A,,,post,SMD,,,,,,,,,0.2,0.1,,,,", "outcome", "missing"),
    ],
)
def test_single_problems(tmp_path, row, column, words):
    if words is None:  # SMD on continuous arms is fine: control case that must load
        load_csv(write(tmp_path, row))
        return
    probs = problems(write(tmp_path, row))
    assert any(p.column == column and words in p.message for p in probs), probs


def test_missing_required_column_and_empty_file(tmp_path):
    probs = problems(write(tmp_path, "0.2,0.1", header="estimate,se"))
    assert {p.column for p in probs} >= {"study", "outcome"}
    empty = tmp_path / "e.csv"
    empty.write_text("")
    assert "empty" in str(problems(empty)[0])
    assert "not found" in str(problems(tmp_path / "nope.csv")[0])


def test_moderators_validated(tmp_path):
    data = write(tmp_path, "A,,o,post,SMD,,,,,,,,,0.2,0.1,,,,", "B,,o,post,SMD,,,,,,,,,0.3,0.1,,,,")
    mods = tmp_path / "m.csv"
    mods.write_text("study,dose\nA,1\nA,2\nZ,3\n,4\n")
    probs = problems(data, moderators=mods)
    msgs = {(p.row, p.column, p.message.split(" (")[0]) for p in probs}
    assert (3, "study", "duplicate study") in msgs
    assert (4, "study", "study does not appear in the data file") in msgs
    assert (5, "study", "required value is missing") in msgs
    mods.write_text("study,dose,arm\nA,1,x\nB,,y\n")
    r = load_csv(data, moderators=mods)
    assert r.moderators.loc["A", "dose"] == 1.0 and r.moderators.loc["B", "arm"] == "y"
    mods.write_text("name,dose\nA,1\n")
    assert problems(data, moderators=mods)[0].column == "study"
