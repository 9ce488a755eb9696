"""Validation of the data and moderator CSVs: runs once, at load, and collects *every* problem.

Nothing is dropped or altered silently: a file either loads exactly as written (blank cells stay
blank / ``nan``) or :class:`~vfsynth.data.errors.DataValidationError` lists each problem with
its file line, study and column.
"""

from __future__ import annotations

import csv
import io
import math
import unicodedata
from collections.abc import Iterable

import numpy as np
import pandas as pd

from vfsynth.data import schema
from vfsynth.data.errors import DataValidationError, Problem
from vfsynth.data.numbers import parse_decimal
from vfsynth.data.row_forms import check_form
from vfsynth.data.text_safety import unescape_csv_cell


class FileLines(tuple):
    """File line numbers kept in ``DataFrame.attrs`` (immutable).

    pandas deep-copies ``attrs`` into the result of every operation on a frame (``__finalize__``),
    so a plain list of a large file's lines made each selection O(rows) and a review's
    ``effects`` O(rows^2). Being immutable, this tuple can be shared instead of copied.
    """

    __slots__ = ()

    def __deepcopy__(self, memo) -> FileLines:
        return self


def read_records(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Split CSV text into its header and ``(first file line, cells)`` records.

    Line numbers are 1-based as in an editor (header = line 1) and count physical lines, so a
    quoted cell holding a newline does not shift the numbers of later rows. Blank lines are skipped.
    """
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    records: list[tuple[int, list[str]]] = []
    prev_end = 0
    for cells in reader:
        start = prev_end + 1
        prev_end = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        if header is None:
            header = [c.strip() for c in cells]
            continue
        records.append((start, cells))
    return header or [], records


def _blank(cell: str | None) -> bool:
    return cell is None or cell.strip() in schema.BLANK_TOKENS


def _parse_bool(cell: str) -> bool | None:
    c = cell.strip().lower()
    if c in schema.TRUE_TOKENS:
        return True
    if c in schema.FALSE_TOKENS:
        return False
    return None


def validate_data(text: str, path: str | None = None) -> pd.DataFrame:
    """Parse and validate the data CSV text; return the typed rows or raise one error.

    The returned frame has every column of :data:`schema.ALL_COLUMNS` (numbers as float with
    ``nan`` for blank, ``higher_is_better`` as bool), plus ``line`` (file line), ``form``
    (``"continuous"``, ``"binary"``, ``"rate"``, ``"single"``, ``"estimate"`` or ``"none"``;
    :mod:`vfsynth.data.row_forms`) and ``not_estimable`` (the reason, ``""`` if estimable).
    """
    header, records = read_records(text)
    return _validate_records(header, _unescape_text(header, records, schema.TEXT_COLUMNS), path)


def _unescape_text(header: list[str], records: list[tuple[int, list[str]]], text_columns) -> list:
    """Undo vfsynth's own spreadsheet-formula guard (:mod:`vfsynth.data.text_safety`) in text
    columns of a CSV, so a file vfsynth wrote reads back exactly as it was before writing."""
    idx = [i for i, name in enumerate(header) if name in text_columns]
    for _, cells in records:
        for i in idx:
            if i < len(cells):
                cells[i] = unescape_csv_cell(cells[i].strip())
    return records


def validate_frame(frame: pd.DataFrame, path: str | None = None) -> pd.DataFrame:
    """Validate a data frame in the vfsynth schema exactly as :func:`validate_data` does a CSV.

    Each cell is turned back into the text a CSV would hold (blank for ``NaN`` / ``None``),
    so a frame and the CSV written from it give the same rows and the same problems. Problems
    name the *line the row would have in a CSV*: the header is line 1, so the frame's first
    row (position 0, whatever its index label) is line 2. A ``line`` column, as in
    :attr:`Review.rows <vfsynth.data.review.Review.rows>`, is used instead where present, so
    re-validating a loaded review keeps its file lines; a ``form`` column is recomputed.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    lines = None
    if "line" in frame.columns:
        numeric = pd.to_numeric(frame["line"], errors="coerce")
        if numeric.notna().all():
            lines = [int(v) for v in numeric]
    cols = [c for c in frame.columns if c not in ("line", "form")]
    header = [str(c).strip() for c in cols]
    records = [
        (lines[i] if lines is not None else i + 2, [_cell_text(v) for v in values])
        for i, values in enumerate(frame[cols].itertuples(index=False, name=None))
    ]
    out = _validate_records(header, records, path)
    if "direction_not_stated" in frame.attrs:  # a loaded review's rows: keep what the file said
        out.attrs["direction_not_stated"] = FileLines(frame.attrs["direction_not_stated"])
    return out


def _cell_text(value: object) -> str:
    """The CSV text of one frame cell (pandas' missing markers -> blank)."""
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):  # array-like cell: not missing, report it as written
        pass
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


def _validate_records(
    header: list[str], records: list[tuple[int, list[str]]], path: str | None
) -> pd.DataFrame:
    problems: list[Problem] = []
    if not header:
        raise DataValidationError(
            [Problem(None, None, None, "the file is empty (no header row)")], path
        )

    seen: set[str] = set()
    for name in header:
        if name in seen:
            problems.append(Problem(1, None, name, "column appears more than once in the header"))
        seen.add(name)
        if name not in schema.ALL_COLUMNS:
            problems.append(
                Problem(1, None, name, f"unknown column (allowed: {', '.join(schema.ALL_COLUMNS)})")
            )
    for name in schema.REQUIRED_COLUMNS:
        if name not in header:
            problems.append(Problem(1, None, name, "required column is missing from the header"))
    if not records:
        problems.append(Problem(None, None, None, "the file has a header but no data rows"))

    rows: list[dict] = []
    unstated: list[int] = []  # lines whose direction is the default, not the file's
    first_line: dict[tuple[str, str, str], list[tuple[int, str]]] = {}
    numbers = _parse_numeric_columns(header, records)
    for r, (line, cells) in enumerate(records):
        if len(cells) > len(header):
            extra = [c for c in cells[len(header) :] if c.strip()]
            if extra:
                problems.append(
                    Problem(
                        line,
                        None,
                        None,
                        f"row has {len(cells)} cells but the header has {len(header)}",
                    )
                )
        raw = {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(header)}
        row, row_problems = _validate_row(line, raw, has_timepoint="timepoint" in header,
                                          parsed={c: (v[r], ok[r]) for c, (v, ok) in numbers.items()})
        if _blank(raw.get("higher_is_better", "")):
            unstated.append(line)
        problems += row_problems
        problems += _duplicate(line, row, first_line, has_es_id="es_id" in header)
        rows.append(row)

    problems += near_duplicate_studies([(r["line"], r["study"]) for r in rows])
    if problems:
        raise DataValidationError(problems, path)
    frame = pd.DataFrame(rows, columns=[*schema.ALL_COLUMNS, "line", "form"])
    for col in schema.NUMERIC_COLUMNS:
        frame[col] = frame[col].astype(float)
    frame["higher_is_better"] = frame["higher_is_better"].astype(bool)
    # attrs, not a column: the rows (and so every content hash) stay as they were
    frame.attrs["direction_not_stated"] = FileLines(unstated)
    return frame


def _duplicate(line: int, row: dict, seen: dict, has_es_id: bool) -> list[Problem]:
    """Problems for a second row of one study/outcome/timepoint.

    Several rows of one study in one analysis are several estimates of it (three-level data)
    only when each carries its own ``es_id``; without one they are ambiguous (a copy? a second
    measure?) and are refused, naming the first row, so nothing is silently pooled twice.
    """
    key = (row["study"], row["outcome"], row["timepoint"])
    if not all(key):
        return []
    es = row["es_id"]
    earlier = seen.setdefault(key, [])
    earlier.append((line, es))
    if len(earlier) == 1:
        return []
    where = f"study/outcome/timepoint {key[1]!r}/{key[2]!r}"
    unnamed = [ln for ln, e in earlier[:-1] if not e]
    if not es or unnamed:
        first = earlier[0][0]
        hint = ("give each estimate of one study its own es_id" if has_es_id
                else "add an es_id column naming each estimate of one study")
        return [Problem(line, row["study"], "es_id" if has_es_id else None,
                        f"duplicate row: {where} already given on line {first} ({hint} to analyse several "
                        "estimates per study with the three-level model)")]
    same = [ln for ln, e in earlier[:-1] if e == es]
    if same:
        return [Problem(line, row["study"], "es_id",
                        f"duplicate row: {where} with es_id {es!r} already given on line {same[0]}")]
    return []


def _study_key(name: str) -> str:
    """Case-, width- and whitespace-insensitive form of a study label (NBSP counts as a space)."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def near_duplicate_studies(labelled: Iterable[tuple[int, str]]) -> list[Problem]:
    """Problems for study labels that differ only by case, repeated or non-breaking spaces.

    ``Smith 2001``, ``smith 2001``, ``Smith  2001`` and ``Smith\u00a02001`` would otherwise be
    four studies; the first spelling met is taken as the intended one.
    """
    first: dict[str, tuple[int, str]] = {}
    problems = []
    for line, study in labelled:
        if not study:
            continue
        key = _study_key(study)
        if key not in first:
            first[key] = (line, study)
        elif first[key][1] != study:
            problems.append(Problem(line, study, "study",
                                    f"study name differs from {first[key][1]!r} (line {first[key][0]}) only by "
                                    "case or spacing; spell one study the same way everywhere"))
    return problems


def _parse_numeric_columns(header: list[str], records: list[tuple[int, list[str]]]) -> dict:
    """Every numeric column of the file parsed in one :func:`parse_decimal` call per column.

    Returns ``column -> (values, ok)`` as Python lists over the records (a blank cell gives
    ``(nan, True)``; :func:`_validate_row` tests blankness on the text itself). Parsing whole
    columns at once instead of each row's cells in its own call is what makes loading linear
    and fast (one pandas string pass per column rather than one per row); the values and the
    problems reported are the same.
    """
    out = {}
    for i, col in enumerate(header):
        if col not in schema.NUMERIC_COLUMNS:
            continue
        cells = [cells[i] if i < len(cells) else "" for _, cells in records]
        filled = [j for j, cell in enumerate(cells) if not _blank(cell)]
        values, ok = [math.nan] * len(cells), [True] * len(cells)
        if filled:
            nums, good = parse_decimal([cells[j] for j in filled])
            for j, v, g in zip(filled, nums.tolist(), good.tolist(), strict=True):
                values[j], ok[j] = v, g
        out[col] = (values, ok)
    return out


def _validate_row(
    line: int, raw: dict[str, str], has_timepoint: bool, parsed: dict | None = None
) -> tuple[dict, list[Problem]]:
    problems: list[Problem] = []
    study = raw.get("study", "").strip()
    label = study or None

    def bad(column: str | None, message: str) -> None:
        problems.append(Problem(line, label, column, message))

    row: dict = {"line": line}
    for col in schema.TEXT_COLUMNS:
        cell = raw.get(col, "")
        row[col] = "" if _blank(cell) else cell.strip()
    if not has_timepoint:
        row["timepoint"] = schema.DEFAULT_TIMEPOINT
    for col in ("study", "outcome", "timepoint"):
        if not row[col]:
            bad(col, "required value is missing")

    filled = [c for c in schema.NUMERIC_COLUMNS if not _blank(raw.get(c, ""))]
    if parsed is None:  # one row on its own (the file path parses whole columns up front)
        parsed_numbers, parsed_ok = parse_decimal([raw[c] for c in filled])
        parsed = dict(zip(filled, zip(parsed_numbers.tolist(), parsed_ok.tolist(), strict=True), strict=True))
    else:
        parsed = {c: parsed[c] for c in filled}
    for col in schema.NUMERIC_COLUMNS:
        cell = raw.get(col, "")
        if col not in parsed:
            row[col] = math.nan
            continue
        val, ok = parsed[col]
        if not ok:
            bad(col, f"cannot read {cell.strip()!r} as a number (plain decimal notation only, e.g. 12.5 or 1.2e-3)")
            row[col] = math.nan
            continue
        if not math.isfinite(val):
            bad(col, f"{cell.strip()!r} is not a finite number")
            val = math.nan
        elif col in schema.COUNT_COLUMNS and val != round(val):
            bad(col, f"count must be a whole number, got {cell.strip()}")
        elif col == "year" and val != round(val):
            bad(col, f"year must be a whole number, got {cell.strip()}")
        elif col == "year" and not schema.YEAR_RANGE[0] <= val <= schema.YEAR_RANGE[1]:
            bad(col, f"implausible year {cell.strip()} (expected {schema.YEAR_RANGE[0]}-{schema.YEAR_RANGE[1]})")
        row[col] = val

    hib = raw.get("higher_is_better", "")
    if _blank(hib):
        row["higher_is_better"] = True
    else:
        parsed = _parse_bool(hib)
        if parsed is None:
            bad("higher_is_better", f"must be true or false, got {hib.strip()!r}")
            parsed = True
        row["higher_is_better"] = parsed

    measure = row["measure"]
    if measure and measure not in schema.ESTIMATE_MEASURES:
        bad(
            "measure",
            f"unknown measure {measure!r} (allowed: {', '.join(schema.ESTIMATE_MEASURES)})",
        )
        measure = ""

    def given(col: str) -> bool:
        v = row[col]
        return not (isinstance(v, float) and math.isnan(v)) and not _blank(raw.get(col, ""))

    check_form(row, raw, measure, given, lambda col: _unparseable(raw, col), bad)
    return row, problems


def _unparseable(raw: dict[str, str], col: str) -> bool:
    """True where the cell had text that failed to parse (already reported)."""
    return not _blank(raw.get(col, ""))


def validate_moderators(
    text: str, known_studies: Iterable[str], path: str | None = None
) -> pd.DataFrame:
    """Parse and validate a study-level moderators CSV (``study`` + any columns).

    Problems: no ``study`` column, blank or duplicate study, a study that is not in the data.
    Columns whose every non-blank cell is a number become float; others stay text.
    """
    header, records = read_records(text)
    text_cols = set(header)  # any moderator column may hold text
    return _validate_moderator_records(header, _unescape_text(header, records, text_cols), known_studies, path)


def validate_moderators_frame(
    frame: pd.DataFrame, known_studies: Iterable[str], path: str | None = None
) -> pd.DataFrame:
    """Validate a moderators frame as :func:`validate_moderators` does a CSV.

    ``study`` may be a column or the index (as in :attr:`Review.moderators
    <vfsynth.data.review.Review.moderators>`); lines are numbered as in a CSV (first row = 2).
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    if "study" not in frame.columns and frame.index.name == "study":
        frame = frame.reset_index()
    header = [str(c).strip() for c in frame.columns]
    records = [
        (i + 2, [_cell_text(v) for v in values])
        for i, values in enumerate(frame.itertuples(index=False, name=None))
    ]
    return _validate_moderator_records(header, records, known_studies, path)


def _validate_moderator_records(
    header: list[str],
    records: list[tuple[int, list[str]]],
    known_studies: Iterable[str],
    path: str | None,
) -> pd.DataFrame:
    problems: list[Problem] = []
    if "study" not in header:
        raise DataValidationError(
            [Problem(1, None, "study", "moderators file needs a 'study' column")], path
        )
    known = set(known_studies)
    seen: dict[str, int] = {}
    rows = []
    seen_cols: set[str] = set()
    for name in header:
        if name in seen_cols:
            problems.append(Problem(1, None, name, "column appears more than once in the header"))
        seen_cols.add(name)
    for line, cells in records:
        raw = {name: (cells[i].strip() if i < len(cells) else "") for i, name in enumerate(header)}
        study = raw["study"]
        if any(c.strip() for c in cells[len(header):]):
            problems.append(Problem(line, study or None, None,
                                    f"row has {len(cells)} cells but the header has {len(header)}"))
        if not study:
            problems.append(Problem(line, None, "study", "required value is missing"))
            continue
        if study in seen:
            problems.append(
                Problem(line, study, "study", f"duplicate study (first on line {seen[study]})")
            )
            continue
        seen[study] = line
        if study not in known:
            problems.append(Problem(line, study, "study", "study does not appear in the data file"))
        rows.append(raw)
    if problems:
        raise DataValidationError(problems, path)
    frame = pd.DataFrame(rows, columns=header)
    for col in header:
        if col == "study":
            continue
        vals = frame[col]
        blank = vals.map(_blank).to_numpy(bool)
        nums, ok = parse_decimal(vals[~blank])
        if not ok.all():  # a column with any non-number stays text, exactly as written
            frame[col] = vals.where(~blank, None)
            continue
        if len(nums):
            full = np.full(len(vals), np.nan)
            full[~blank] = nums
            frame[col] = full
        else:
            frame[col] = vals.where(~vals.map(_blank), None)
    return frame.set_index("study")
