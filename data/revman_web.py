"""RevMan Web CSV export parsing for the RevMan import (:mod:`vfsynth.data.revman`).

Holds :func:`is_revman_web_csv` (header sniff), :func:`read_revman_web_csv` (returns a
:class:`~vfsynth.data.revman_common.RevManReview`) and the inference of each analysis'
effect measure (:func:`_infer_web_measure`, :func:`web_csv_tolerance`) and pooling method
(:func:`_infer_web_method`) from the results RevMan stored in the export.

RevMan Web CSV
--------------
One row per study × analysis with columns ``Analysis group, Analysis number, Analysis name,
Subgroup, Applicability, Study, Study year, GIV Mean, GIV SE, Experimental mean/SD/cases/N,
Control mean/SD/cases/N, O-E, Variance, Weight, Mean, CI start, CI end, Footnotes``. The export
does not name the effect measure; :func:`read_revman_web_csv` infers it per analysis by
recomputing ``Mean``/``CI start``/``CI end`` under each candidate (RR, OR, RD, MD, SMD, GIV on
the identity or log scale) and keeping the one that reproduces every stored row (values are
printed to 6 decimals), unless the user names it (``measure=``).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from vfsynth.data.errors import DataValidationError, Problem
from vfsynth.data.inputfile import read_input_text
from vfsynth.data.revman_common import (
    _DATA_KEYS,
    WEB_CSV_COLUMNS,
    RevManAnalysis,
    RevManReview,
    RevManRow,
    RevManSubgroup,
    _f,
    _year,
)
from vfsynth.data.revman_results import pool_analysis


def is_revman_web_csv(path: str | Path) -> bool:
    """True when the file's header is RevMan Web's data export (cheap sniff of line 1)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError):
        return False
    return {"Analysis group", "Analysis number", "Study", "CI start"} <= {h.strip() for h in header}


def _web_candidates(rows: list[dict]) -> dict[str, dict[str, np.ndarray]]:
    """Per-study (Mean, CI) under each candidate measure, from the analysis' own columns."""
    from vfsynth.data import revman_pooling as rp

    col = {k: np.array([_f(r.get(k)) for r in rows]) for k in WEB_CSV_COLUMNS[6:]}
    out = {}
    for m in ("RR", "OR", "RD"):
        e = rp.dichotomous_effects(col["Experimental cases"], col["Experimental N"], col["Control cases"],
                                   col["Control N"], m)
        out[m] = {"mean": e.effect, "lo": e.ci_low, "hi": e.ci_high}
    for m in ("MD", "SMD"):
        e = rp.continuous_effects(col["Experimental mean"], col["Experimental SD"], col["Experimental N"],
                                  col["Control mean"], col["Control SD"], col["Control N"], m)
        out[m] = {"mean": e.effect, "lo": e.ci_low, "hi": e.ci_high}
    for name, ratio in (("GIV", False), ("GIV-ratio", True)):
        e = rp.generic_effects(col["GIV Mean"], col["GIV SE"], ratio=ratio)
        out[name] = {"mean": e.effect, "lo": e.ci_low, "hi": e.ci_high}
    return out


def web_csv_tolerance(x: np.ndarray) -> np.ndarray:
    """Agreement allowed with a RevMan Web CSV value: it is printed with 6 decimals (half a unit
    in the 6th decimal) and at most 7 significant digits, plus float slop."""
    x = np.abs(np.asarray(x, dtype=float))
    return 5e-7 + 5e-7 * x + 1e-9


def _infer_web_measure(rows: list[dict]) -> tuple[str, str, dict]:
    """Pick the measure that reproduces the stored Mean/CI of every row that has one."""
    stored = {k: np.array([_f(r.get(c)) for r in rows]) for k, c in (("mean", "Mean"), ("lo", "CI start"), ("hi", "CI end"))}
    has = np.isfinite(stored["mean"])
    cands = _web_candidates(rows)
    fits = {}
    for m, vals in cands.items():
        if not has.any():
            break
        ok = True
        worst = 0.0
        for k in ("mean", "lo", "hi"):
            s, c = stored[k][has], vals[k][has]
            if not np.all(np.isfinite(c)):
                ok = False
                break
            err = np.abs(s - c)
            worst = max(worst, float(np.max(err / web_csv_tolerance(s))))
            if np.any(err > web_csv_tolerance(s)):
                ok = False
        fits[m] = (ok, worst)
    matching = [m for m, (ok, _) in fits.items() if ok]
    return (matching[0] if len(matching) >= 1 else "", ", ".join(matching), fits)


_WEB_TYPE = {"RR": "DICH", "OR": "DICH", "RD": "DICH", "MD": "CONT", "SMD": "CONT", "GIV": "IV", "GIV-ratio": "IV"}


def read_revman_web_csv(path: str | Path, measure: str | dict | None = None) -> RevManReview:
    """Parse a RevMan Web "export data" CSV; infer each analysis' measure unless given.

    Parameters
    ----------
    measure : str or dict, optional
        One measure for every analysis, or ``{"1.2": "SMD", ...}`` by analysis number. Values:
        RR, OR, RD, MD, SMD, GIV (identity scale), GIV-ratio (entered on the log scale).
        Analyses not covered are inferred; an analysis whose stored results match no
        candidate and has no user measure is kept with ``effect_measure = ""`` (not importable).
    """
    path = Path(path)
    text = read_input_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in WEB_CSV_COLUMNS if c not in header]
    if missing:
        raise DataValidationError(
            [Problem(1, None, c, "column missing from RevMan Web CSV header") for c in missing], str(path))
    records = []
    for i, r in enumerate(reader, start=2):
        r = {k.strip(): (v.strip() if isinstance(v, str) else v) for k, v in r.items() if k is not None}
        r["_line"] = i
        records.append(r)
    problems = []
    groups: dict[tuple[int, int], list[dict]] = {}
    for r in records:
        try:
            key = (int(r["Analysis group"]), int(r["Analysis number"]))
        except ValueError:
            problems.append(Problem(r["_line"], r.get("Study"), "Analysis group",
                                    "analysis group/number must be integers"))
            continue
        if not r.get("Study"):
            problems.append(Problem(r["_line"], None, "Study", "empty study name"))
            continue
        groups.setdefault(key, []).append(r)
    if problems:
        raise DataValidationError(problems, str(path))
    studies: dict[str, dict] = {}
    analyses = []
    for (g, n), rows in groups.items():
        user = measure.get(f"{g}.{n}") if isinstance(measure, dict) else measure
        chosen, matching, fits = _infer_web_measure(rows)
        if user:
            if user not in _WEB_TYPE:
                raise DataValidationError([Problem(None, None, "measure",
                                                   f"analysis {g}.{n}: unknown measure {user!r}; use one of {sorted(_WEB_TYPE)}")], str(path))
            note = f"measure {user} given by the user"
            if fits and not fits.get(user, (False,))[0]:
                note += f" (it does not reproduce RevMan's stored results; those match: {matching or 'none'})"
            chosen = user
        elif not fits:
            note = "no row has RevMan results (Mean/CI): measure cannot be inferred; pass measure="
        elif chosen:
            note = f"inferred {chosen}: reproduces RevMan's Mean and CI of every row" + (
                f" (also matching: {matching})" if "," in matching else "")
        else:
            best = min(fits, key=lambda m: fits[m][1])
            note = f"no candidate measure reproduces RevMan's Mean/CI (closest: {best}); pass measure="
        sg_names: list[str] = []
        for r in rows:
            s = r.get("Subgroup") or ""
            if s and s not in sg_names:
                sg_names.append(s)
        a = RevManAnalysis(
            comparison_no=g, comparison=f"Analysis group {g}", outcome_no=n, name=rows[0].get("Analysis name") or f"{g}.{n}",
            data_type=_WEB_TYPE.get(chosen, ""), effect_measure=chosen, method="", random=None,
            subgroups=[RevManSubgroup(i + 1, s, {}) for i, s in enumerate(sg_names)], measure_note=note,
        )
        for r in rows:
            sid = r["Study"]
            yr = _year(r.get("Study year")) if r.get("Study year") else _year(sid)
            studies.setdefault(sid, {"name": sid, "year": yr})
            data = {
                "EVENTS_1": _f(r["Experimental cases"]), "TOTAL_1": _f(r["Experimental N"]),
                "EVENTS_2": _f(r["Control cases"]), "TOTAL_2": _f(r["Control N"]),
                "MEAN_1": _f(r["Experimental mean"]), "SD_1": _f(r["Experimental SD"]),
                "MEAN_2": _f(r["Control mean"]), "SD_2": _f(r["Control SD"]),
                "EFFECT_SIZE": _f(r["GIV Mean"]), "SE": _f(r["GIV SE"]),
            }
            keys = _DATA_KEYS.get(a.data_type, tuple(data))
            a.rows.append(RevManRow(
                study_id=sid, study=sid, year=yr,
                subgroup=(sg_names.index(r["Subgroup"]) + 1) if r.get("Subgroup") else None,
                data={k: data[k] for k in keys if k in data},
                stored={"EFFECT_SIZE": _f(r["Mean"]), "CI_START": _f(r["CI start"]), "CI_END": _f(r["CI end"]),
                        "WEIGHT": _f(r.get("Weight"))},
                estimable=math.isfinite(_f(r["Mean"])),
                line=r["_line"],
            ))
        if not a.data_type:  # no stored result to infer from: fall back on which columns hold data
            a.data_type = _web_type_from_columns(a.rows)
            if a.data_type:
                a.rows = [RevManRow(r.study_id, r.study, r.year, r.subgroup,
                                    {k: r.data[k] for k in _DATA_KEYS[a.data_type] if k in r.data}
                                    | ({"TOTAL_1": r.data.get("TOTAL_1", math.nan), "TOTAL_2": r.data.get("TOTAL_2", math.nan)}
                                       if a.data_type == "IV" else {}),
                                    r.stored, r.estimable, r.line) for r in a.rows]
        if a.effect_measure:
            _infer_web_method(a)
        analyses.append(a)
    return RevManReview(str(path), "revman-web-csv", path.stem, "", studies, analyses)


def _web_type_from_columns(rows: list[RevManRow]) -> str:
    def filled(k):
        return any(math.isfinite(r.data.get(k, math.nan)) for r in rows)

    if filled("EVENTS_1") and not filled("MEAN_1"):
        return "DICH"
    if filled("MEAN_1") and filled("SD_1") and not filled("EVENTS_1"):
        return "CONT"
    return ""


def _infer_web_method(a: RevManAnalysis) -> None:
    """Set ``method``/``random`` from RevMan's per-study ``Weight`` column: the pooling method
    (MH or IV; fixed or random) whose percentage weights reproduce it (to 1e-5, the export's
    precision). Weights in an analysis with subgroups are relative to the overall total."""
    w = np.array([r.stored.get("WEIGHT", math.nan) for r in a.rows])
    if len(a.rows) < 2 or not np.any(np.nan_to_num(w) > 0):
        a.measure_note += "; pooling method unknown (no weights stored)"
        return
    found = []
    for meth in ("MH", "IV") if a.data_type == "DICH" else ("IV",):
        for rnd in (True, False):
            a.method, a.random = meth, rnd
            try:
                pooled = pool_analysis(a)
            except (ValueError, ZeroDivisionError):
                continue
            if np.allclose(pooled.weights, np.nan_to_num(w), atol=1e-5, rtol=0):
                found.append((meth, rnd))
    if found:
        a.method, a.random = found[0]
        names = ", ".join(f"{m} {'random' if r else 'fixed'}" for m, r in found)
        a.measure_note += f"; RevMan's weights reproduced by: {names}" + (" (first taken)" if len(found) > 1 else "")
    else:
        a.method, a.random = "", None
        a.measure_note += "; no pooling method reproduces RevMan's weights"
