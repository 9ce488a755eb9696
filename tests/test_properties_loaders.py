"""Property-based tests (hypothesis) of loading, validation and effect sizes (issue 13, item 15).

* any table with one injected fault raises the package's error, and one of its problems names
  exactly the faulty file line, study and column;
* CSV -> Review -> CSV (as vfsynth writes it, formula guard included) -> Review is lossless,
  for hostile but valid names and any finite numbers;
* effect sizes agree with their closed forms written out here (MD and its variance; log OR =
  log(ad/bc) with the 0.5 correction only for a zero cell), and reversing the arms negates them.

Fast tier: ``max_examples`` modest; the slow tier reruns each property with many more examples.
"""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vfsynth.data import load_csv
from vfsynth.data.errors import DataValidationError
from vfsynth.data.text_safety import csv_safe_frame

COLS = ["study", "year", "outcome", "timepoint", "measure", "n_t", "mean_t", "sd_t", "n_c", "mean_c", "sd_c"]
FAST = settings(max_examples=8, deadline=None, derandomize=True,  # the same examples in every CI run
                suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Names a user could type, including ones that look like formulas or markup (all valid).
name_chars = st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp", "Zs"))
names = st.builds(lambda head, tail: head + tail,
                  st.sampled_from(["", "=", "+", "-", "@", "'", "<b>", "$"]),
                  st.text(name_chars, min_size=1, max_size=12)).filter(
    lambda s: s.strip() == s and s.upper() not in ("NA", "N/A", "NAN", ".") and s.strip())
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False).map(lambda v: float(f"{v:.6g}"))
positive = st.floats(0.01, 1e4, allow_nan=False).map(lambda v: float(f"{v:.6g}"))


@st.composite
def tables(draw, min_rows=2, max_rows=6):
    """A valid continuous-arm table: list of dict rows with distinct (case-folded) studies."""
    n = draw(st.integers(min_rows, max_rows))
    studies = draw(st.lists(names, min_size=n, max_size=n,
                            unique_by=lambda s: " ".join(s.casefold().split())))
    outcome = draw(st.sampled_from(["sensitivity", "x", "anx/dep"]))
    rows = []
    for s in studies:
        rows.append({"study": s, "year": draw(st.integers(1900, 2030)), "outcome": outcome, "timepoint": "post",
                     "measure": draw(st.sampled_from(["SMD", "MD"])), "n_t": draw(st.integers(2, 500)),
                     "mean_t": draw(finite), "sd_t": draw(positive), "n_c": draw(st.integers(2, 500)),
                     "mean_c": draw(finite), "sd_c": draw(positive)})
    # one measure per outcome (MD and SMD cannot be pooled; that is a separate check)
    for r in rows:
        r["measure"] = rows[0]["measure"]
    # SDs far below the means are flagged as implausible: keep them above that limit
    for r in rows:
        floor = 1e-5 * max(1.0, abs(r["mean_t"]), abs(r["mean_c"]))
        r["sd_t"], r["sd_c"] = max(r["sd_t"], floor), max(r["sd_c"], floor)
    return rows


def _to_csv(rows: list[dict]) -> str:
    import pandas as pd

    buf = io.StringIO()
    csv_safe_frame(pd.DataFrame(rows, columns=COLS)).to_csv(buf, index=False)
    return buf.getvalue()


FAULTS = {
    # column: (bad cell, words the message must contain)
    # (n = 0 or 1 is valid since RevMan's not-estimable rule: listed, not an error)
    "n_t": ("-1", "sample size must be >= 0"),
    "sd_t": ("-1", "> 0"),
    "mean_c": ("0_5", "cannot read"),
    "n_c": ("2.5", "whole number"),
    "year": ("99999", "implausible year"),
    "measure": ("HR", "unknown measure"),  # RR is a measure now (binary arms)
    "mean_t": ("１", "cannot read"),
    "sd_c": ("inf", "not a finite number"),
}


@st.composite
def faulty(draw):
    rows = draw(tables())
    i = draw(st.integers(0, len(rows) - 1))
    col = draw(st.sampled_from(sorted(FAULTS)))
    return rows, i, col


def _check_fault(tmp_path, case) -> None:
    rows, i, col = case
    text = _to_csv(rows)
    records = list(csv.reader(io.StringIO(text)))
    records[i + 1][COLS.index(col)] = FAULTS[col][0]
    buf = io.StringIO()
    csv.writer(buf).writerows(records)
    path = tmp_path / "t.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    with pytest.raises(DataValidationError) as info:
        load_csv(path)
    hits = [p for p in info.value.problems if p.row == i + 2 and p.column == col]
    assert hits, info.value.problems
    assert hits[0].study == rows[i]["study"]
    assert FAULTS[col][1] in hits[0].message


@FAST
@given(case=faulty())
def test_one_fault_is_named_by_line_study_and_column(tmp_path_factory, case):
    _check_fault(tmp_path_factory.mktemp("f"), case)


@pytest.mark.slow
@SLOW
@given(case=faulty())
def test_one_fault_is_named_by_line_study_and_column_many(tmp_path_factory, case):
    _check_fault(tmp_path_factory.mktemp("f"), case)


def _check_roundtrip(tmp_path, rows) -> None:
    p1 = tmp_path / "a.csv"
    p1.write_text(_to_csv(rows), encoding="utf-8")
    first = load_csv(p1)
    # the objects hold exactly what was written: names unaltered, numbers exact
    assert list(first.rows["study"]) == [r["study"] for r in rows]
    for col in ("n_t", "mean_t", "sd_t", "n_c", "mean_c", "sd_c", "year"):
        assert list(first.rows[col]) == [float(r[col]) for r in rows]
    again = first.rows[COLS].copy()
    p2 = tmp_path / "b.csv"
    buf = io.StringIO()
    csv_safe_frame(again).to_csv(buf, index=False, float_format="%.17g")
    p2.write_text(buf.getvalue(), encoding="utf-8")
    second = load_csv(p2)
    assert second.rows[COLS].equals(first.rows[COLS])


@FAST
@given(rows=tables())
def test_csv_to_objects_to_csv_is_lossless(tmp_path_factory, rows):
    _check_roundtrip(tmp_path_factory.mktemp("r"), rows)


@pytest.mark.slow
@SLOW
@given(rows=tables())
def test_csv_to_objects_to_csv_is_lossless_many(tmp_path_factory, rows):
    _check_roundtrip(tmp_path_factory.mktemp("r"), rows)


# --- effect sizes against closed forms ----------------------------------------------------------
# SDs below 1e-6 x max(1, |means|) are refused as implausible: draw them above that limit
arms = st.tuples(st.integers(2, 300), finite, positive, st.integers(2, 300), finite, positive).filter(
    lambda a: min(a[2], a[5]) > 1e-5 * max(1.0, abs(a[1]), abs(a[4])))


def _review(rows: list[dict]):
    import pandas as pd

    return load_csv(pd.DataFrame(rows))


@FAST
@given(a=arms)
def test_md_matches_its_closed_form_and_flips_with_the_arms(a):
    n_t, m_t, s_t, n_c, m_c, s_c = a
    base = {"outcome": "x", "timepoint": "post", "measure": "MD"}
    rows = [dict(base, study="A", n_t=n_t, mean_t=m_t, sd_t=s_t, n_c=n_c, mean_c=m_c, sd_c=s_c),
            dict(base, study="B", n_t=n_c, mean_t=m_c, sd_t=s_c, n_c=n_t, mean_c=m_t, sd_c=s_t)]
    t = _review(rows).effects("x")
    var = s_t**2 / n_t + s_c**2 / n_c
    assert t.estimate[0] == pytest.approx(m_t - m_c, rel=1e-12, abs=1e-9)
    assert t.se[0] == pytest.approx(math.sqrt(var), rel=1e-12)
    assert t.estimate[1] == pytest.approx(-t.estimate[0], rel=1e-12, abs=1e-9)


@FAST
@given(n_t=st.integers(2, 400), n_c=st.integers(2, 400), data=st.data())
def test_log_odds_ratio_matches_log_ad_over_bc(n_t, n_c, data):
    e_t = data.draw(st.integers(0, n_t))
    e_c = data.draw(st.integers(0, n_c))
    base = {"outcome": "y", "timepoint": "post", "measure": "logOR"}
    rows = [dict(base, study="A", n_t=n_t, events_t=e_t, n_c=n_c, events_c=e_c),
            dict(base, study="B", n_t=n_t, events_t=e_t, n_c=n_c, events_c=e_c, higher_is_better=False)]
    review = _review(rows)
    listed = review.not_estimable()
    if listed:
        # RevMan's rule: a table with no events in either arm gives no odds ratio; it is listed,
        # with its reason, and nothing else may be
        assert e_t == 0 and e_c == 0 or e_t == n_t and e_c == n_c, listed
        assert {r["study"] for r in listed} <= {"A", "B"} and all(r["reason"] for r in listed)
        return
    t = review.effects("y")
    a, b, c, d = e_t, n_t - e_t, e_c, n_c - e_c
    if 0 in (a, b, c, d):  # metafor add=1/2, to="only0"
        a, b, c, d = a + 0.5, b + 0.5, c + 0.5, d + 0.5
    assert t.estimate[0] == pytest.approx(np.log(a * d / (b * c)), rel=1e-12, abs=1e-12)
    assert t.se[0] == pytest.approx(math.sqrt(1 / a + 1 / b + 1 / c + 1 / d), rel=1e-12)
    assert t.estimate[1] == pytest.approx(-t.estimate[0], rel=1e-12, abs=1e-12)  # non-events counted
