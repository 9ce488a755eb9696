"""Import Cochrane RevMan files: RevMan 5 ``.rm5`` (XML) and RevMan Web's CSV data export.

Both readers return a :class:`RevManReview` — every analysis (comparison × outcome) with its
subgroups, per-study data *and RevMan's own stored results* — and :func:`to_schema` turns it
into rows of the vfsynth CSV input schema. :func:`read_revman` does both and is what
:func:`vfsynth.data.load_data` calls for ``.rm5`` files and RevMan Web CSVs.

Why not pimeta's readers
------------------------
``pimeta`` 1.1 (installed) ships ``read_rm5`` and ``read_cdir``. On the real RevMan 5 file
(``CD000023``) ``read_rm5`` returns **0 rows**: it looks for ``OUTCOME``/``GROUP``/``DATA``
elements with ``E1``/``N1`` children, whereas RevMan 5 writes ``DICH_OUTCOME``/``DICH_DATA``
(``CONT_…``, ``IV_…``) with the numbers in attributes (``EVENTS_1``, ``TOTAL_1`` …). Its
``read_cdir`` also returns 0 rows on RevMan Web's CSV export (it expects ``@comparison``
sections). Neither reads study years or RevMan's stored results. So vfsynth parses the
files itself (``xml.etree`` and ``csv``; no new dependency).

Modules
-------
This module is the public entry (:func:`read_revman_file`, :func:`to_schema`,
:func:`read_revman`, :func:`load_revman`) and holds the mapping to the schema. The parts:

* :mod:`vfsynth.data.revman_common` -- the parsed-file classes (:class:`RevManReview`, …),
  the schema columns and small parsing helpers;
* :mod:`vfsynth.data.revman_rm5` -- RevMan 5 XML (:func:`read_rm5`);
* :mod:`vfsynth.data.revman_web` -- RevMan Web's CSV export (:func:`read_revman_web_csv`);
* :mod:`vfsynth.data.revman_results` -- reproducing RevMan's stored results
  (:func:`pool_analysis`, :func:`compare_with_revman`), on :mod:`vfsynth.data.revman_pooling`.

Mapping to the schema
---------------------
One schema ``outcome`` per RevMan analysis *and* one per subgroup (RevMan's own analyses: a
subgroup is analysed on its own and the overall analysis pools all its rows):
``a{comparison}-{outcome}-{slug of outcome name}`` and ``a{c}-{o}-s{subgroup}-{slug of subgroup
name}``. The full mapping (slug, comparison/outcome/subgroup names, RevMan data type, effect
measure, method, random, studies, schema measure, direction and why) is
:func:`outcome_mapping`'s table and ``DataFrame.attrs["revman_mapping"]`` of
:func:`read_revman`'s result; ``vfsynth import`` writes it next to the CSV.

Schema measures keep RevMan's own (issue 14): dichotomous rows become binary arm rows with
measure ``logRR`` (RevMan RR), ``logOR`` (OR; Peto OR too, pooled as the Woolf log OR) or ``RD``;
continuous rows become arm rows with ``SMD``, ``MD`` or ``ROM`` (RevMan RoM); generic
inverse-variance rows become estimate rows: MD/SMD/RD on the identity scale, OR/RR/IRR/RoM on the
log scale (``logOR``/``logRR``/``logIRR``/``ROM``), HR as ``GIV`` with ``scale = logHR``, and an
unlabelled RevMan Web "GIV" as ``GIV`` without a scale (no default mu prior: the file does not
say what it measures). O − E / variance outcomes are listed with ``importable = False`` and how
to enter them (log HR = (O − E)/V, se = 1/√V, as GIV rows). Rows RevMan marks not estimable get
``not_estimable = "RevMan: not estimable"`` and are kept, listed and left out of pooling.

Direction (``higher_is_better``): RevMan 5 stores the forest-plot labels; ``GRAPH_LABEL_1`` is the
left side (lower values). If it names the experimental group (``GROUP_LABEL_1``) or says
"favours experimental/intervention/treatment", lower values favour the intervention and
``higher_is_better = False``; if ``GRAPH_LABEL_2`` does, ``True``. Otherwise (and for RevMan Web
CSV, which has no labels) the direction is taken from ``higher_is_better=`` (a bool or a dict
slug -> bool) and, failing that, left blank in the schema rows: the loader applies the default
(``True``, events good) and records that the file did not state it, so every output (``vfsynth
data``, ``fit`` text and JSON, the report) flags the assumption; the mapping says so too
(``direction_stated``).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from vfsynth.data.errors import DataRequestError, DataValidationError, Problem
from vfsynth.data.revman_common import (
    RATIO_EFFECT_MEASURES,
    SCHEMA_COLUMNS,
    RevManAnalysis,
    RevManReview,
    RevManRow,
)
from vfsynth.data.revman_rm5 import read_rm5
from vfsynth.data.revman_web import is_revman_web_csv, read_revman_web_csv


def read_revman_file(path: str | Path, measure: str | dict | None = None) -> RevManReview:
    """Dispatch on content: RevMan 5 XML (``.rm5``) or RevMan Web CSV."""
    path = Path(path)
    if path.suffix.lower() == ".rm5":
        if measure is not None:
            raise DataRequestError("measure= applies to RevMan Web CSV only: a .rm5 file names its measures")
        return read_rm5(path)
    if is_revman_web_csv(path):
        return read_revman_web_csv(path, measure=measure)
    raise DataValidationError([Problem(None, None, None, "neither a RevMan 5 (.rm5) file nor a RevMan Web CSV export")],
                              str(path))


# --------------------------------------------------------------------------------------------
# To the vfsynth schema
# --------------------------------------------------------------------------------------------

_FAVOURS_EXP = re.compile(r"favou?rs?\s+(experimental|intervention|treatment|active)", re.I)


def _direction(a: RevManAnalysis, override) -> tuple[bool, str]:
    if isinstance(override, dict):
        for key in (a.slug, a.number):
            if key in override:
                return bool(override[key]), "given by the user"
    elif override is not None:
        return bool(override), "given by the user"
    left, right = (g.lower() for g in a.graph_labels)
    exp = a.group_labels[0].lower()

    def names_exp(label: str) -> bool:
        return bool(label) and ((exp and exp in label) or bool(_FAVOURS_EXP.search(label)))

    if names_exp(left) and not names_exp(right):
        return False, f"left forest-plot label {a.graph_labels[0]!r} favours the experimental arm: lower is better"
    if names_exp(right) and not names_exp(left):
        return True, f"right forest-plot label {a.graph_labels[1]!r} favours the experimental arm: higher is better"
    return True, _ASSUMED


#: The reason :func:`_direction` gives when the file does not say which way the events count.
_ASSUMED = "direction not recorded in the file: assumed higher is better (pass higher_is_better to change)"


#: RevMan dichotomous measures -> schema measures (RevMan's own scale kept; issue 14). Peto's
#: one-step OR has no arm-level schema measure of its own: its rows are pooled as Woolf log ORs.
_DICH_MEASURES = {"RR": "logRR", "OR": "logOR", "RD": "RD", "PETO_OR": "logOR", "": "logOR"}
#: RevMan generic inverse-variance measures on the log scale -> (schema measure, GIV scale label).
_GIV_RATIO = {"OR": ("logOR", ""), "RR": ("logRR", ""), "IRR": ("logIRR", ""), "RoM": ("ROM", ""),
              "ROM": ("ROM", ""), "HR": ("GIV", "logHR"), "PETO_OR": ("logOR", ""), "GIV-ratio": ("GIV", "log-ratio")}


def _schema_measure(a: RevManAnalysis) -> tuple[str | None, str]:
    m = a.effect_measure
    if a.data_type == "DICH":
        if m in _DICH_MEASURES:
            model = {True: "random effects", False: "fixed effect", None: "model unknown"}[a.random]
            peto = "; Peto OR pooled as the Woolf log OR" if m == "PETO_OR" else ""
            return _DICH_MEASURES[m], f"binary arms (RevMan {m or 'effect measure unknown'}, {a.method or 'method unknown'}, {model}){peto}"
        return None, f"dichotomous measure {m!r} not supported"
    if a.data_type == "CONT":
        if m in ("MD", "SMD"):
            return m, f"continuous arms (RevMan {m})"
        if m in ("RoM", "ROM"):
            return "ROM", "continuous arms (RevMan ratio of means, log scale)"
        if m == "":
            return None, (f"continuous analysis whose effect measure is unknown (no RevMan result to infer it "
                          f"from): pass --measure {a.number}=MD or {a.number}=SMD")
        return None, f"continuous measure {m!r} not supported by the schema"
    if a.data_type == "IV":
        ratio = a.log_data or m == "GIV-ratio" or m in RATIO_EFFECT_MEASURES
        if m in ("MD", "SMD", "RD") and not ratio:
            return m, f"estimate + SE (RevMan generic inverse variance, {m})"
        if m == "GIV" and not ratio:
            return "GIV", ("estimate + SE (RevMan generic inverse variance; the file does not say what it measures: "
                           "scale unlabelled, give priors or a scale)")
        if ratio and m in _GIV_RATIO:
            return _GIV_RATIO[m][0], f"log {m} + SE (RevMan generic inverse variance)"
        return None, f"generic inverse-variance measure {m or 'unknown'!r} not supported by the schema"
    if a.data_type in ("OE", "O_E", "IPD"):
        return None, (f"RevMan {a.data_type} outcome (O - E and variance): the file's rows are not read "
                      "by the importer; enter log HR = (O - E)/V with se = 1/sqrt(V) as GIV rows, scale logHR")
    return None, f"RevMan data type {a.data_type or 'unknown'!r} not supported (O-E / IPD / unknown measure)"


def outcome_mapping(review: RevManReview, higher_is_better=None) -> pd.DataFrame:
    """One row per schema outcome (analysis or subgroup) with everything needed to trace it."""
    recs = []
    for a in review.analyses:
        smeasure, how = _schema_measure(a)
        hib, why = _direction(a, higher_is_better)
        base = {
            "analysis": a.number, "comparison": a.comparison, "outcome_name": a.name,
            "data_type": a.data_type, "effect_measure": a.effect_measure, "method": a.method,
            "random": a.random, "schema_measure": smeasure, "importable": smeasure is not None,
            "how": how if not a.measure_note else f"{how}; {a.measure_note}",
            "higher_is_better": hib, "direction_reason": why, "direction_stated": why != _ASSUMED,
        }
        recs.append(base | {"outcome": a.slug, "subgroup": None, "subgroup_name": "",
                            "k": len(a.rows)})
        for sg in a.subgroups:
            recs.append(base | {"outcome": a.subgroup_slug(sg.no), "subgroup": sg.no, "subgroup_name": sg.name,
                                "k": sum(r.subgroup == sg.no for r in a.rows)})
    return pd.DataFrame.from_records(recs)


def _row_values(a: RevManAnalysis, r: RevManRow, smeasure: str) -> dict:
    d = r.data
    v: dict = {}
    if a.data_type == "DICH":
        e1, e2 = d["EVENTS_1"], d["EVENTS_2"]
        if a.swap_events:  # RevMan's "swap events and non-events"
            e1, e2 = d["TOTAL_1"] - e1, d["TOTAL_2"] - e2
        v.update(events_t=e1, n_t=d["TOTAL_1"], events_c=e2, n_c=d["TOTAL_2"])
    elif a.data_type == "CONT":
        v.update(mean_t=d["MEAN_1"], sd_t=d["SD_1"], n_t=d["TOTAL_1"], mean_c=d["MEAN_2"], sd_c=d["SD_2"],
                 n_c=d["TOTAL_2"])
    else:
        v.update(estimate=d["EFFECT_SIZE"], se=d["SE"], n_t=d.get("TOTAL_1", math.nan), n_c=d.get("TOTAL_2", math.nan))
    return v


def to_schema(review: RevManReview, *, timepoint: str = "post", higher_is_better=None) -> pd.DataFrame:
    """Schema rows (see module doc) for every importable analysis and subgroup.

    A study that appears more than once in one schema outcome (RevMan lets a study sit in two
    subgroups, e.g. a trial reporting two patient groups) gets its subgroup name appended so
    labels stay unique; the RevMan study id is kept in ``note``.
    """
    mapping = outcome_mapping(review, higher_is_better)
    out = []
    src = Path(review.path).name
    for a in review.analyses:
        smeasure, _ = _schema_measure(a)
        if smeasure is None:
            continue
        hib, why = _direction(a, higher_is_better)
        # a direction the file does not state is left blank, as in a user's CSV: the loader then
        # applies the default (true) *and records that it is the default*, so every output flags it
        hib_cell = hib if why != _ASSUMED else math.nan
        targets = [(a.slug, None)] + [(a.subgroup_slug(s.no), s.no) for s in a.subgroups]
        for slug, sg_no in targets:
            rows = [r for r in a.rows if sg_no is None or r.subgroup == sg_no]
            counts: dict[str, int] = {}
            for r in rows:
                counts[r.study] = counts.get(r.study, 0) + 1
            seen: dict[str, int] = {}
            for r in rows:
                label = r.study
                if counts[label] > 1:
                    sg = next((s.name for s in a.subgroups if s.no == r.subgroup), "")
                    label = f"{r.study} [{sg}]" if sg else r.study
                    seen[label] = seen.get(label, 0) + 1
                    if seen[label] > 1:
                        label = f"{label} ({seen[label]})"
                st = r.stored
                stored = ""
                if math.isfinite(st.get("EFFECT_SIZE", math.nan)) and r.estimable:
                    stored = (f"RevMan {a.effect_measure} {st['EFFECT_SIZE']:.4g} "
                              f"[{st.get('CI_START', math.nan):.4g}, {st.get('CI_END', math.nan):.4g}]")
                    if math.isfinite(st.get("WEIGHT", math.nan)):
                        stored += f", weight {st['WEIGHT']:.3g}%"
                elif not r.estimable:
                    stored = "RevMan: not estimable"
                note = "; ".join(x for x in (f"RevMan study id {r.study_id}" if review.format == "rm5" else "",
                                              stored) if x)
                rec = dict.fromkeys(SCHEMA_COLUMNS, math.nan)
                rec.update(study=label, year=r.year, outcome=slug, timepoint=timepoint, measure=smeasure,
                           higher_is_better=hib_cell, note=note,
                           source=f"{src}, analysis {a.number}" + (f".{r.subgroup}" if r.subgroup else ""))
                rec.update(_row_values(a, r, smeasure))
                if a.data_type == "IV" and _GIV_RATIO.get(a.effect_measure, ("", ""))[1]:
                    rec["scale"] = _GIV_RATIO[a.effect_measure][1]
                if not r.estimable:
                    rec["not_estimable"] = "RevMan: not estimable"
                if r.line is not None:
                    rec["revman_line"] = r.line
                out.append(rec)
    df = pd.DataFrame.from_records(out)
    if df.empty:
        df = pd.DataFrame(columns=list(SCHEMA_COLUMNS))
    cols = list(SCHEMA_COLUMNS) + [c for c in df.columns if c not in SCHEMA_COLUMNS]
    df = df[cols]
    df.attrs["revman_mapping"] = mapping
    df.attrs["revman_source"] = str(review.path)
    return df


def written_columns(df: pd.DataFrame) -> list[str]:
    """The schema columns of :func:`to_schema`'s frame, plus ``scale`` / ``not_estimable`` where
    an analysis uses them (a GIV scale label, RevMan's "not estimable" rows)."""
    return list(SCHEMA_COLUMNS) + [c for c in ("scale", "not_estimable") if c in df.columns]


def read_revman(path: str | Path, measure: str | dict | None = None, *, timepoint: str = "post",
                higher_is_better=None) -> pd.DataFrame:
    """Read a RevMan 5 ``.rm5`` file or RevMan Web CSV into the vfsynth input schema.

    Returns a DataFrame with the schema columns (plus ``revman_line`` for Web CSV rows: the
    line in the source file); ``df.attrs["revman_mapping"]`` is :func:`outcome_mapping`'s table.
    This is the entry point :func:`vfsynth.data.load_data` uses.
    """
    review = read_revman_file(path, measure=measure)
    return to_schema(review, timepoint=timepoint, higher_is_better=higher_is_better)


# --------------------------------------------------------------------------------------------
# Into a validated Review
# --------------------------------------------------------------------------------------------


def load_revman(path: str | Path, measure: str | dict | None = None, *, timepoint: str = "post",
                higher_is_better=None, name: str | None = None):
    """Read a RevMan file into a validated :class:`vfsynth.data.review.Review`.

    The schema rows of :func:`read_revman` go through the same validation as a user's CSV
    (:func:`vfsynth.data.validate.validate_data`), so a RevMan row that the schema cannot hold
    is reported with its study, schema column and RevMan location (``source``: file and
    analysis number). ``review.meta["revman_mapping"]`` is the outcome mapping table and
    ``review.meta["revman_skipped"]`` lists analyses that were not importable, with the reason.
    """
    import io

    from vfsynth.data.review import Review
    from vfsynth.data.text_safety import csv_safe_frame
    from vfsynth.data.validate import validate_data

    df = read_revman(path, measure=measure, timepoint=timepoint, higher_is_better=higher_is_better)
    mapping = df.attrs["revman_mapping"]
    buf = io.StringIO()
    # written exactly as `vfsynth import -o` writes it (formula guard included), then read back
    csv_safe_frame(df[written_columns(df)]).to_csv(buf, index=False)
    try:
        rows = validate_data(buf.getvalue(), str(path))
    except DataValidationError as exc:
        # Point each problem at the RevMan file (Web CSV line; .rm5: analysis) instead of the
        # intermediate schema CSV the validator saw.
        src_line = df["revman_line"].tolist() if "revman_line" in df.columns else [None] * len(df)
        fixed = []
        for pr in exc.problems:
            i = pr.row - 2 if pr.row is not None else None
            if i is not None and 0 <= i < len(df):
                line = src_line[i]
                line = int(line) if line is not None and line == line else None
                where = f"{df['source'].iloc[i]}, schema outcome {df['outcome'].iloc[i]!r}"
                fixed.append(Problem(line, pr.study, pr.column, f"{pr.message} ({where})"))
            else:
                fixed.append(pr)
        raise DataValidationError(fixed, str(path)) from None
    skipped = mapping[~mapping["importable"]][["analysis", "outcome", "how"]].to_dict("records")
    meta = {"path": str(path), "format": "revman", "revman_mapping": mapping, "revman_skipped": skipped}
    return Review._from_validated(name or Path(path).stem, rows, None, meta=meta)
