"""The Python data API on DataFrames: ``load_csv(df)`` and direct ``Review(name, df)``.

Both must give exactly what loading the same data from a CSV gives, and refuse a bad row
with the same line / study / column a CSV user would see.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vfsynth.data import DataValidationError, Review, load_csv, load_data, load_review
from vfsynth.data import validate as V
from vfsynth.data.errors import DataRequestError, UnknownAnalysisError, VfsynthError

FIX = Path(__file__).resolve().parent / "fixtures"
EIGHT = FIX / "eight_schools.csv"
BCG = FIX / "bcg.csv"


def _frame(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)


@pytest.mark.parametrize("path", [EIGHT, BCG], ids=["estimates", "binary"])
def test_load_csv_accepts_a_dataframe(path):
    from_file = load_csv(path)
    from_frame = load_csv(_frame(path))
    pd.testing.assert_frame_equal(from_frame.rows, from_file.rows)
    assert from_frame.name == "review" and from_frame.meta["path"] is None
    outcome, timepoint = from_file.analyses()[0]
    a, b = from_file.effects(outcome, timepoint), from_frame.effects(outcome, timepoint)
    np.testing.assert_array_equal(a.estimate, b.estimate)
    assert load_data(_frame(path), None).rows.equals(from_file.rows)


def test_load_csv_dataframe_with_a_bad_row_names_line_study_and_column():
    df = _frame(EIGHT)
    df.loc[2, "se"] = -1.0  # third data row: line 4 of the equivalent CSV
    with pytest.raises(DataValidationError) as info:
        load_csv(df, name="mine")
    (problem,) = info.value.problems
    assert (problem.row, problem.study, problem.column) == (4, "School C", "se")
    assert "line 4, study 'School C', column 'se'" in str(info.value)
    assert str(info.value).startswith("mine (DataFrame): 1 problem(s)")


def test_dataframe_and_csv_report_the_same_problems(tmp_path):
    df = _frame(BCG)
    df.loc[0, "events_t"] = df.loc[0, "n_t"] + 1
    df["higher_is_better"] = df["higher_is_better"].astype(object)
    df.loc[3, "higher_is_better"] = "maybe"
    df.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataValidationError) as from_csv:
        load_csv(tmp_path / "bad.csv")
    with pytest.raises(DataValidationError) as from_frame:
        load_csv(df)
    assert from_frame.value.problems == from_csv.value.problems
    assert {p.row for p in from_frame.value.problems} == {2, 5}


def test_direct_review_construction_validates():
    df = _frame(EIGHT)
    r = Review("eight", df)
    assert {"line", "form"} <= set(r.rows.columns)
    assert list(r.rows["line"]) == list(range(2, 10))
    assert set(r.rows["form"]) == {"estimate"}
    df["estimate"] = df["estimate"].astype(object)
    df.loc[5, "estimate"] = "big"
    with pytest.raises(DataValidationError) as info:
        Review("eight", df)
    (problem,) = info.value.problems
    assert (problem.row, problem.study, problem.column) == (7, "School F", "estimate")


def test_review_from_loaded_rows_keeps_file_lines_and_moderators():
    bundled = load_review()
    again = Review(bundled.name, bundled.rows, bundled.moderators, bundled.published,
                   bundled.not_found, bundled.meta)
    pd.testing.assert_frame_equal(again.rows, bundled.rows)
    pd.testing.assert_frame_equal(again.moderators, bundled.moderators)
    assert again.content_hash() == bundled.content_hash()


def test_direct_review_moderators_are_validated():
    rows = _frame(EIGHT)
    mods = pd.DataFrame({"study": ["School A", "Nowhere 2000"], "x": [1, 2]})
    with pytest.raises(DataValidationError) as info:
        Review("eight", rows, mods)
    (problem,) = info.value.problems
    assert (problem.row, problem.study, problem.column) == (3, "Nowhere 2000", "study")


def test_loaders_and_restrict_do_not_validate_twice(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("already-validated rows were validated again")

    monkeypatch.setattr(V, "validate_frame", boom)
    monkeypatch.setattr(V, "validate_moderators_frame", boom)
    r = load_review()
    assert r.restrict(["confirmed"]).studies()
    assert load_csv(EIGHT).rows is not None


def test_data_request_errors_derive_from_the_root():
    r = load_review()
    with pytest.raises(DataRequestError) as info:
        r.restrict(["confirmd"])
    assert isinstance(info.value, VfsynthError) and isinstance(info.value, ValueError)
    with pytest.raises(UnknownAnalysisError) as missing:
        r.effects("nope")
    assert isinstance(missing.value, KeyError)
    assert str(missing.value).startswith("no rows for outcome 'nope'")  # not KeyError's repr
