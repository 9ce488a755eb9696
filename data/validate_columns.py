"""Column-wise validation of the data rows: every rule as one array operation over all rows.

:func:`vfsynth.data.validate.validate_data` checks each row with
:func:`~vfsynth.data.validate._validate_row`, one Python call per row. For large files this module
does the same work by columns: it parses each numeric column once (with the one number parser,
:func:`vfsynth.data.validate.parse_number`), evaluates every rule of the schema as a boolean
mask, and builds the typed frame from the columns. Rows that break, or might break, any rule
are handed to ``_validate_row`` itself, so every problem is reported with exactly the message,
line, study and column of the row-by-row validator, in the same order; the masks only decide
which rows need that closer look. A file without problems is never looked at row by row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vfsynth.data import schema
from vfsynth.data.errors import Problem


def _column(records: list[tuple[int, list[str]]], i: int | None) -> list[str]:
    if i is None:
        return [""] * len(records)
    return [cells[i] if i < len(cells) else "" for _, cells in records]


def validate_rows(header: list[str], records: list[tuple[int, list[str]]]) -> tuple[pd.DataFrame, list[Problem]]:
    """Typed rows and the row problems of ``records`` (see module docstring).

    Returns the frame :func:`vfsynth.data.validate.validate_data` returns (schema columns,
    ``line``, ``form``) and the list of row-level problems (row length, row rules, duplicate
    keys) in the order the row-by-row validator finds them.
    """
    from vfsynth.data.validate import _validate_row, parse_number

    n = len(records)
    pos = {name: i for i, name in enumerate(header)}
    has_timepoint = "timepoint" in header
    lines = np.array([line for line, _ in records], dtype=np.int64)
    blank_tokens = schema.BLANK_TOKENS
    suspect = np.zeros(n, dtype=bool)

    text: dict[str, np.ndarray] = {}
    for col in schema.TEXT_COLUMNS:
        vals = [c.strip() for c in _column(records, pos.get(col))]
        text[col] = np.array(["" if v in blank_tokens else v for v in vals], dtype=object)
    if not has_timepoint:
        text["timepoint"] = np.full(n, schema.DEFAULT_TIMEPOINT, dtype=object)
    for col in ("study", "outcome", "timepoint"):
        suspect |= text[col] == ""

    num: dict[str, np.ndarray] = {}
    for col in schema.NUMERIC_COLUMNS:
        vals = [c.strip() for c in _column(records, pos.get(col))]
        out = np.full(n, np.nan)
        for j, v in enumerate(vals):
            if v not in blank_tokens:
                x = parse_number(v)
                if x is None or not np.isfinite(x):
                    suspect[j] = True  # unreadable or not finite: reported by the row validator
                else:
                    out[j] = x
        if col in schema.COUNT_COLUMNS or col == "year":
            suspect |= np.isfinite(out) & (out != np.round(out))
        num[col] = out

    hib = np.ones(n, dtype=bool)
    for j, c in enumerate(c.strip() for c in _column(records, pos.get("higher_is_better"))):
        if c in blank_tokens:
            continue
        low = c.lower()
        if low in schema.FALSE_TOKENS:
            hib[j] = False
        elif low not in schema.TRUE_TOKENS:
            suspect[j] = True

    measure = text["measure"]
    known = np.isin(measure, ("", *schema.ESTIMATE_MEASURES))
    suspect |= ~known

    def given(col: str) -> np.ndarray:
        return np.isfinite(num[col])

    signals = {f: np.any([given(c) for c in cols], axis=0) for f, cols in schema.FORM_SIGNALS.items()}
    n_forms = sum(m.astype(int) for m in signals.values())
    suspect |= n_forms != 1
    form = np.full(n, "", dtype=object)
    for f, m in signals.items():
        form[m & (n_forms == 1)] = f
    for col in ("n_t", "n_c", "n_total"):
        suspect |= given(col) & (num[col] < 2)

    cont, binary, est = form == "continuous", form == "binary", form == "estimate"
    all_cont = np.all([given(c) for c in schema.CONTINUOUS_ARMS], axis=0)
    suspect |= cont & ~all_cont
    suspect |= cont & ((given("sd_t") & (num["sd_t"] <= 0)) | (given("sd_c") & (num["sd_c"] <= 0)))
    suspect |= cont & ~np.isin(measure, ("", *schema.CONTINUOUS_MEASURES))
    all_bin = np.all([given(c) for c in schema.BINARY_ARMS], axis=0)
    suspect |= binary & ~all_bin
    with np.errstate(invalid="ignore"):
        for ev, nn in (("events_t", "n_t"), ("events_c", "n_c")):
            suspect |= binary & given(ev) & ((num[ev] < 0) | (given(nn) & (num[ev] > num[nn])))
    suspect |= binary & ~np.isin(measure, ("", *schema.BINARY_MEASURES))
    has_se, has_lo, has_hi = given("se"), given("ci_low"), given("ci_high")
    e = num["estimate"]
    with np.errstate(invalid="ignore"):
        est_bad = ~given("estimate") | (measure == "") | ~(has_se | (has_lo & has_hi))
        est_bad |= has_se & (num["se"] <= 0)
        is_or = measure == "OR"
        est_bad |= is_or & ((e <= 0) | (has_lo & (num["ci_low"] <= 0)) | (has_hi & (num["ci_high"] <= 0)))
        both = has_lo & has_hi
        est_bad |= both & ((num["ci_low"] >= num["ci_high"]) | (e < num["ci_low"]) | (e > num["ci_high"]))
        est_bad |= (has_lo != has_hi) & ~has_se
    suspect |= est & est_bad

    # row-by-row checks, in the row validator's order: length, the row's rules, duplicate key
    width = len(header)
    long_rows = [j for j, (_, cells) in enumerate(records) if len(cells) > width]
    staged: list[tuple[int, int, list[Problem]]] = []
    for j in long_rows:
        cells = records[j][1]
        if any(c.strip() for c in cells[width:]):
            staged.append((j, 0, [Problem(int(lines[j]), None, None,
                                          f"row has {len(cells)} cells but the header has {width}")]))
    for j in np.flatnonzero(suspect):
        line, cells = records[j]
        raw = {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(header)}
        _, probs = _validate_row(line, raw, has_timepoint=has_timepoint)
        if probs:
            staged.append((int(j), 1, probs))
    keyed = pd.DataFrame({"s": text["study"], "o": text["outcome"], "t": text["timepoint"]})
    full_key = (keyed["s"] != "") & (keyed["o"] != "") & (keyed["t"] != "")
    dup = keyed.duplicated(keep="first").to_numpy() & full_key.to_numpy()
    if dup.any():
        first = {}
        for j in np.flatnonzero(full_key.to_numpy()):
            key = (text["study"][j], text["outcome"][j], text["timepoint"][j])
            if key in first:
                staged.append((int(j), 2, [Problem(
                    int(lines[j]), key[0], None,
                    f"duplicate row: study/outcome/timepoint {key[1]!r}/{key[2]!r} already given on "
                    f"line {first[key]}")]))
            else:
                first[key] = int(lines[j])
    staged.sort(key=lambda t: (t[0], t[1]))
    problems = [p for _, _, probs in staged for p in probs]

    data = {col: (text[col] if col in text else num[col]) for col in schema.ALL_COLUMNS if col != "higher_is_better"}
    data["higher_is_better"] = hib
    data["line"] = lines
    data["form"] = form
    frame = pd.DataFrame(data, columns=[*schema.ALL_COLUMNS, "line", "form"])
    for col in schema.TEXT_COLUMNS:
        frame[col] = frame[col].astype(object)
    return frame, problems
