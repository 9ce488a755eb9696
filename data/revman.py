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
sections). Neither reads study years or RevMan's stored results. So this module parses the
files itself (``xml.etree`` and ``csv``; no new dependency).

RevMan 5 layout (``ANALYSES_AND_DATA``)
---------------------------------------
``COMPARISON NO=…`` > ``NAME`` and ``DICH_OUTCOME`` / ``CONT_OUTCOME`` / ``IV_OUTCOME`` (attributes:
``EFFECT_MEASURE`` (RR, OR, RD, MD, SMD, …), ``METHOD`` (MH, IV, PETO), ``RANDOM`` (YES/NO),
``CI_STUDY``/``CI_TOTAL`` (%), pooled ``EFFECT_SIZE, CI_START, CI_END, TAU2, I2, CHI2, DF, Z, …``,
subgroup-difference test ``Q, P_Q, I2_Q``; children ``NAME``, ``GROUP_LABEL_1/2``,
``GRAPH_LABEL_1/2``, ``*_SUBGROUP`` (same pooled attributes) and ``*_DATA`` rows (``STUDY_ID``,
``EVENTS_1, TOTAL_1, EVENTS_2, TOTAL_2`` or ``MEAN_1, SD_1, TOTAL_1, …`` or ``EFFECT_SIZE, SE``, plus
RevMan's per-study ``EFFECT_SIZE, SE, CI_START, CI_END, WEIGHT, ESTIMABLE``). Arm 1 is the
experimental arm. Study names and years come from ``STUDIES_AND_REFERENCES/STUDIES/*/STUDY``
(``ID``, ``NAME``, ``YEAR``). ``LOG_*`` attributes are base-10 logs and are not used.

RevMan Web CSV
--------------
One row per study × analysis with columns ``Analysis group, Analysis number, Analysis name,
Subgroup, Applicability, Study, Study year, GIV Mean, GIV SE, Experimental mean/SD/cases/N,
Control mean/SD/cases/N, O-E, Variance, Weight, Mean, CI start, CI end, Footnotes``. The export
does not name the effect measure; :func:`read_revman_web_csv` infers it per analysis by
recomputing ``Mean``/``CI start``/``CI end`` under each candidate (RR, OR, RD, MD, SMD, GIV on
the identity or log scale) and keeping the one that reproduces every stored row (values are
printed to 6 decimals), unless the user names it (``measure=``).

Mapping to the schema
---------------------
One schema ``outcome`` per RevMan analysis *and* one per subgroup (RevMan's own analyses: a
subgroup is analysed on its own and the overall analysis pools all its rows):
``a{comparison}-{outcome}-{slug of outcome name}`` and ``a{c}-{o}-s{subgroup}-{slug of subgroup
name}``. The full mapping (slug, comparison/outcome/subgroup names, RevMan data type, effect
measure, method, random, studies, schema measure, direction and why) is
:func:`outcome_mapping`'s table and ``DataFrame.attrs["revman_mapping"]`` of
:func:`read_revman`'s result; ``vfsynth import`` writes it next to the CSV.

Schema measures: dichotomous rows become binary arm rows (``events/n``; the RevMan measure, e.g.
RR with MH random effects, is recorded in the mapping — vfsynth's models work on log odds
ratios); continuous rows become arm rows with measure ``SMD`` or ``MD`` as RevMan analysed them;
generic inverse-variance rows become estimate rows for MD/SMD (identity scale) or OR (log
scale, schema measure ``logOR``). Other GIV measures (RR, HR, RD, …) have no schema measure:
those analyses are listed in the mapping with ``importable = False`` and the reason, and their
rows are not emitted (the CLI prints them).

Direction (``higher_is_better``): RevMan 5 stores the forest-plot labels; ``GRAPH_LABEL_1`` is the
left side (lower values). If it names the experimental group (``GROUP_LABEL_1``) or says
"favours experimental/intervention/treatment", lower values favour the intervention and
``higher_is_better = False``; if ``GRAPH_LABEL_2`` does, ``True``. Otherwise (and for RevMan Web
CSV, which has no labels) the direction is taken from ``higher_is_better=`` (a bool or a dict
slug -> bool) and, failing that, assumed ``True`` with the assumption recorded in the mapping.
"""

from __future__ import annotations

import csv
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from vfsynth.data.errors import DataRequestError, DataValidationError, Problem, UnknownAnalysisError

SCHEMA_COLUMNS = (
    "study", "year", "outcome", "timepoint", "measure", "n_t", "mean_t", "sd_t", "events_t",
    "n_c", "mean_c", "sd_c", "events_c", "estimate", "se", "ci_low", "ci_high",
    "higher_is_better", "source", "note",
)

WEB_CSV_COLUMNS = (
    "Analysis group", "Analysis number", "Analysis name", "Subgroup", "Study", "Study year",
    "GIV Mean", "GIV SE", "Experimental mean", "Experimental SD", "Experimental cases",
    "Experimental N", "Control mean", "Control SD", "Control cases", "Control N", "Mean",
    "CI start", "CI end",
)

# RevMan stored pooled attributes read as floats (outcome and subgroup level).
_POOLED_KEYS = ("EFFECT_SIZE", "CI_START", "CI_END", "TAU2", "I2", "CHI2", "DF", "P_CHI2", "Z", "P_Z",
                "Q", "P_Q", "I2_Q", "STUDIES", "WEIGHT", "TOTAL_1", "TOTAL_2", "EVENTS_1", "EVENTS_2")
_ROW_RESULT_KEYS = ("EFFECT_SIZE", "SE", "VAR", "CI_START", "CI_END", "WEIGHT")
_DATA_KEYS = {
    "DICH": ("EVENTS_1", "TOTAL_1", "EVENTS_2", "TOTAL_2"),
    "CONT": ("MEAN_1", "SD_1", "TOTAL_1", "MEAN_2", "SD_2", "TOTAL_2"),
    "IV": ("EFFECT_SIZE", "SE", "TOTAL_1", "TOTAL_2"),
}
RATIO_EFFECT_MEASURES = ("OR", "RR", "HR", "PETO_OR", "RoM", "ROM", "IRR")


@dataclass
class RevManRow:
    """One study row of one analysis (in one subgroup, or none)."""

    study_id: str
    study: str
    year: float
    subgroup: int | None
    data: dict[str, float]
    stored: dict[str, float]
    estimable: bool
    line: int | None = None  # file line (Web CSV) for error messages


@dataclass
class RevManSubgroup:
    no: int
    name: str
    stored: dict[str, float]


@dataclass
class RevManAnalysis:
    """One RevMan analysis: a comparison × outcome, with subgroups and study rows."""

    comparison_no: int
    comparison: str
    outcome_no: int
    name: str
    data_type: str  # "DICH" | "CONT" | "IV"
    effect_measure: str  # RR, OR, RD, MD, SMD, GIV, GIV-ratio, ...
    method: str  # MH | IV | PETO | "" (unknown, Web CSV)
    random: bool | None
    ci_study: float = 95.0
    ci_total: float = 95.0
    swap_events: bool = False
    log_data: bool = False
    group_labels: tuple[str, str] = ("", "")
    graph_labels: tuple[str, str] = ("", "")
    stored: dict[str, float] = field(default_factory=dict)
    subgroups: list[RevManSubgroup] = field(default_factory=list)
    rows: list[RevManRow] = field(default_factory=list)
    measure_note: str = ""

    @property
    def number(self) -> str:
        return f"{self.comparison_no}.{self.outcome_no}"

    @property
    def slug(self) -> str:
        return f"a{self.comparison_no}-{self.outcome_no}-{slugify(self.name)}"

    def subgroup_slug(self, no: int) -> str:
        sg = next(s for s in self.subgroups if s.no == no)
        return f"a{self.comparison_no}-{self.outcome_no}-s{no}-{slugify(sg.name)}"


@dataclass
class RevManReview:
    """A parsed RevMan file."""

    path: str
    format: str  # "rm5" | "revman-web-csv"
    title: str
    doi: str
    studies: dict[str, dict]
    analyses: list[RevManAnalysis]

    def analysis(self, number_or_slug: str) -> RevManAnalysis:
        for a in self.analyses:
            if number_or_slug in (a.number, a.slug):
                return a
        raise UnknownAnalysisError(f"no analysis {number_or_slug!r} in {self.path}")


def slugify(text: str, max_len: int = 48) -> str:
    """Lower-case ASCII slug (``[a-z0-9-]``), cut at a word boundary near ``max_len``."""
    for sym, word in (("≥", " ge "), ("≤", " le "), (">=", " ge "), ("<=", " le "), (">", " gt "), ("<", " lt ")):
        text = text.replace(sym, word)
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if len(s) > max_len:
        s = s[:max_len].rsplit("-", 1)[0]
    return s or "x"


def _f(value) -> float:
    if value is None:
        return math.nan
    s = str(value).strip()
    if s == "":
        return math.nan
    try:
        return float(s)
    except ValueError:
        return math.nan


def _year(text) -> float:
    m = re.search(r"(1[89]\d\d|20\d\d)", str(text or ""))
    return float(m.group(1)) if m else math.nan


# --------------------------------------------------------------------------------------------
# RevMan 5 (.rm5)
# --------------------------------------------------------------------------------------------


def read_rm5(path: str | Path) -> RevManReview:
    """Parse a RevMan 5 file (XML; the declared encoding, usually ISO-8859-1, is honoured).

    Raises
    ------
    DataValidationError
        If the file is not RevMan 5 XML or a data row names an unknown study.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # some tools gzip .rm5 files
        import gzip

        raw = gzip.decompress(raw)
    try:
        root = ET.fromstring(raw)  # bytes: the XML declaration's encoding is used
    except ET.ParseError as exc:
        raise DataValidationError([Problem(None, None, None, f"not a RevMan 5 XML file: {exc}")], str(path)) from exc
    if root.tag != "COCHRANE_REVIEW":
        raise DataValidationError(
            [Problem(None, None, None, f"root element is <{root.tag}>, expected <COCHRANE_REVIEW> (RevMan 5)")],
            str(path),
        )
    title_node = root.find("./COVER_SHEET/TITLE")
    title = (title_node.text or "").strip() if title_node is not None else ""
    studies: dict[str, dict] = {}
    for st in root.iterfind("./STUDIES_AND_REFERENCES/STUDIES//STUDY"):
        sid = st.get("ID", "")
        studies[sid] = {"name": st.get("NAME", sid).strip(), "year": _year(st.get("YEAR")),
                        "data_source": st.get("DATA_SOURCE", "")}
    problems: list[Problem] = []
    analyses: list[RevManAnalysis] = []
    for comp in root.iterfind("./ANALYSES_AND_DATA/COMPARISON"):
        cno = int(comp.get("NO", "0"))
        cname = (comp.findtext("NAME") or "").strip()
        for out in comp:
            dtype = {"DICH_OUTCOME": "DICH", "CONT_OUTCOME": "CONT", "IV_OUTCOME": "IV"}.get(out.tag)
            if dtype is None:
                if out.tag.endswith("_OUTCOME"):  # IPD / O-E outcomes: recorded, not imported
                    analyses.append(RevManAnalysis(cno, cname, int(out.get("NO", "0")), (out.findtext("NAME") or "").strip(),
                                                   out.tag.replace("_OUTCOME", ""), out.get("EFFECT_MEASURE", ""),
                                                   out.get("METHOD", ""), out.get("RANDOM") == "YES"))
                continue
            a = RevManAnalysis(
                comparison_no=cno,
                comparison=cname,
                outcome_no=int(out.get("NO", "0")),
                name=(out.findtext("NAME") or "").strip(),
                data_type=dtype,
                effect_measure=out.get("EFFECT_MEASURE", ""),
                method=out.get("METHOD", ""),
                random=out.get("RANDOM") == "YES",
                ci_study=_f(out.get("CI_STUDY", "95")),
                ci_total=_f(out.get("CI_TOTAL", "95")),
                swap_events=out.get("SWAP_EVENTS") == "YES",
                log_data=out.get("LOG_DATA") == "YES",
                group_labels=((out.findtext("GROUP_LABEL_1") or "").strip(), (out.findtext("GROUP_LABEL_2") or "").strip()),
                graph_labels=((out.findtext("GRAPH_LABEL_1") or "").strip(), (out.findtext("GRAPH_LABEL_2") or "").strip()),
                stored={k: _f(out.get(k)) for k in _POOLED_KEYS} | {"SUBGROUPS": out.get("SUBGROUPS") == "YES",
                                                                     "ESTIMABLE": out.get("ESTIMABLE", "YES") == "YES"},
            )
            row_tag = f"{dtype}_DATA"

            def add_rows(node, sg_no, a=a, row_tag=row_tag, dtype=dtype):
                for d in node.iterfind(row_tag):
                    sid = d.get("STUDY_ID", "")
                    if sid not in studies:
                        problems.append(Problem(None, sid, "STUDY_ID",
                                                f"analysis {a.number}: study id not found in STUDIES_AND_REFERENCES"))
                        continue
                    a.rows.append(RevManRow(
                        study_id=sid,
                        study=studies[sid]["name"],
                        year=studies[sid]["year"],
                        subgroup=sg_no,
                        data={k: _f(d.get(k)) for k in _DATA_KEYS[dtype]},
                        stored={k: _f(d.get(k)) for k in _ROW_RESULT_KEYS},
                        estimable=d.get("ESTIMABLE", "YES") == "YES",
                    ))

            add_rows(out, None)
            for sg in out.iterfind(f"{dtype}_SUBGROUP"):
                no = int(sg.get("NO", "0"))
                a.subgroups.append(RevManSubgroup(no, (sg.findtext("NAME") or "").strip(),
                                                  {k: _f(sg.get(k)) for k in _POOLED_KEYS}
                                                  | {"ESTIMABLE": sg.get("ESTIMABLE", "YES") == "YES"}))
                add_rows(sg, no)
            analyses.append(a)
    if problems:
        raise DataValidationError(problems, str(path))
    return RevManReview(str(path), "rm5", title, root.get("DOI", ""), studies, analyses)


# --------------------------------------------------------------------------------------------
# RevMan Web CSV
# --------------------------------------------------------------------------------------------


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
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
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
    return True, "direction not recorded in the file: assumed higher is better (pass higher_is_better to change)"


def _schema_measure(a: RevManAnalysis) -> tuple[str | None, str]:
    m = a.effect_measure
    if a.data_type == "DICH":
        if m in ("RR", "OR", "RD", "PETO_OR"):
            model = {True: "random effects", False: "fixed effect", None: "model unknown"}[a.random]
            return "logOR", f"binary arms (RevMan {m}, {a.method or 'method unknown'}, {model})"
        if m == "":
            return "logOR", "binary arms (RevMan effect measure unknown)"
        return None, f"dichotomous measure {m!r} not supported"
    if a.data_type == "CONT":
        if m in ("MD", "SMD"):
            return m, f"continuous arms (RevMan {m})"
        if m == "":
            return None, (f"continuous analysis whose effect measure is unknown (no RevMan result to infer it "
                          f"from): pass --measure {a.number}=MD or {a.number}=SMD")
        return None, f"continuous measure {m!r} (e.g. ratio of means) not supported by the schema"
    if a.data_type == "IV":
        ratio = a.log_data or m == "GIV-ratio" or m in RATIO_EFFECT_MEASURES
        if m in ("MD", "SMD") and not ratio:
            return m, f"estimate + SE (RevMan generic inverse variance, {m})"
        if m == "GIV":
            return "MD", "estimate + SE (RevMan Web generic inverse variance on the identity scale; assumed MD)"
        if m == "OR" and ratio:
            return "logOR", "log odds ratio + SE (RevMan generic inverse variance)"
        return None, f"generic inverse-variance measure {m or 'unknown'!r}: the schema has SMD, MD and (log) OR only"
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
            "higher_is_better": hib, "direction_reason": why,
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
        hib, _ = _direction(a, higher_is_better)
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
                           higher_is_better=hib, note=note,
                           source=f"{src}, analysis {a.number}" + (f".{r.subgroup}" if r.subgroup else ""))
                rec.update(_row_values(a, r, smeasure))
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
# Reproducing RevMan's stored results
# --------------------------------------------------------------------------------------------


def _study_effects(a: RevManAnalysis, rows: list[RevManRow], level: float):
    from vfsynth.data import revman_pooling as rp

    col = {k: np.array([r.data.get(k, math.nan) for r in rows]) for k in rows[0].data} if rows else {}
    m = a.effect_measure
    if a.data_type == "DICH":
        e1, e2 = col["EVENTS_1"], col["EVENTS_2"]
        if a.swap_events:
            e1, e2 = col["TOTAL_1"] - e1, col["TOTAL_2"] - e2
        return rp.dichotomous_effects(e1, col["TOTAL_1"], e2, col["TOTAL_2"], "OR" if m == "PETO_OR" else m, level=level)
    if a.data_type == "CONT":
        return rp.continuous_effects(col["MEAN_1"], col["SD_1"], col["TOTAL_1"], col["MEAN_2"], col["SD_2"],
                                     col["TOTAL_2"], m, level=level)
    ratio = a.log_data or m == "GIV-ratio" or m in RATIO_EFFECT_MEASURES
    return rp.generic_effects(col["EFFECT_SIZE"], col["SE"], ratio=ratio, level=level)


def pool_analysis(a: RevManAnalysis, subgroup: int | None = None):
    """Recompute RevMan's pooled result for an analysis (or one of its subgroups)."""
    from vfsynth.data import revman_pooling as rp

    rows = [r for r in a.rows if subgroup is None or r.subgroup == subgroup]
    level = (a.ci_total if math.isfinite(a.ci_total) else 95.0) / 100
    if a.data_type == "DICH" and a.method == "MH":
        col = {k: np.array([r.data[k] for r in rows]) for k in _DATA_KEYS["DICH"]}
        e1, e2 = col["EVENTS_1"], col["EVENTS_2"]
        if a.swap_events:
            e1, e2 = col["TOTAL_1"] - e1, col["TOTAL_2"] - e2
        return rp.mantel_haenszel(e1, col["TOTAL_1"], e2, col["TOTAL_2"], a.effect_measure, random=bool(a.random),
                                  level=level)
    if a.method == "PETO":
        raise NotImplementedError("Peto odds ratio pooling is not implemented")
    eff = _study_effects(a, rows, level)
    return rp.inverse_variance(eff.y, eff.se, a.effect_measure, random=bool(a.random), level=level)


def compare_with_revman(review: RevManReview) -> pd.DataFrame:
    """Every stored RevMan number next to ours: columns analysis, subgroup, study, quantity,
    stored, computed, abs_diff, rel_diff. Per-study effects/CI/SE/weights, pooled effect,
    CI, tau², I², Q (chi²), df, Z, p-values and the subgroup-difference test."""
    from vfsynth.data import revman_pooling as rp

    recs = []

    def add(a, sg, study, q, stored, computed):
        if not (isinstance(stored, float) and math.isnan(stored)):
            diff = abs(stored - computed)
            if math.isnan(diff):  # we failed to compute something RevMan has: never hide it
                diff = math.inf
            recs.append({"analysis": a.number, "subgroup": sg, "study": study, "quantity": q, "stored": stored,
                         "computed": computed, "abs_diff": diff,
                         "rel_diff": diff / abs(stored) if stored != 0 else diff})

    for a in review.analyses:
        if a.data_type not in ("DICH", "CONT", "IV") or not a.rows or a.method == "PETO" or not a.effect_measure:
            continue
        level_s = (a.ci_study if math.isfinite(a.ci_study) else 95.0) / 100
        eff = _study_effects(a, a.rows, level_s)
        overall = pool_analysis(a)
        for i, r in enumerate(a.rows):
            if not r.estimable:
                continue
            st = r.stored
            if a.data_type == "IV" and review.format == "rm5":
                pass  # IV_DATA's EFFECT_SIZE is the entered estimate itself (analysis scale)
            else:
                add(a, r.subgroup, r.study, "study effect", st["EFFECT_SIZE"], eff.effect[i])
            add(a, r.subgroup, r.study, "study CI start", st["CI_START"], eff.ci_low[i])
            add(a, r.subgroup, r.study, "study CI end", st["CI_END"], eff.ci_high[i])
            add(a, r.subgroup, r.study, "study SE", st.get("SE", math.nan), eff.se[i])
            if a.method:  # RevMan Web CSV: only when a pooling method reproduced the weights
                add(a, r.subgroup, r.study, "study weight %", st.get("WEIGHT", math.nan), overall.weights[i])
        targets = [(None, a.stored, overall)] + [(s.no, s.stored, pool_analysis(a, s.no)) for s in a.subgroups]
        for sg, st, res in targets:
            if not st:
                continue
            # RevMan marks a meta-analysis without any estimable study ESTIMABLE="NO" (all numbers 0)
            add(a, sg, None, "estimable", float(st.get("ESTIMABLE", True)), float(res.k > 0))
            if res.k == 0:
                continue
            add(a, sg, None, "pooled effect", st["EFFECT_SIZE"], res.effect)
            add(a, sg, None, "pooled CI start", st["CI_START"], res.ci_low)
            add(a, sg, None, "pooled CI end", st["CI_END"], res.ci_high)
            add(a, sg, None, "tau2", st["TAU2"], res.tau2)
            add(a, sg, None, "I2 %", st["I2"], res.i2)
            add(a, sg, None, "heterogeneity chi2", st["CHI2"], res.q)
            add(a, sg, None, "heterogeneity df", st["DF"], float(res.df))
            add(a, sg, None, "heterogeneity p", st["P_CHI2"], res.p_q)
            add(a, sg, None, "Z", st["Z"], abs(res.z))
            add(a, sg, None, "p(Z)", st["P_Z"], res.p_z)
            if sg is not None:
                add(a, sg, None, "subgroup weight %",
                    st["WEIGHT"], float(sum(overall.weights[i] for i, r in enumerate(a.rows) if r.subgroup == sg)))
        if a.subgroups and a.stored.get("SUBGROUPS"):
            q, df, p, i2 = rp.subgroup_differences([pool_analysis(a, s.no) for s in a.subgroups])
            add(a, None, None, "subgroup difference chi2", a.stored["Q"], q)
            add(a, None, None, "subgroup difference p", a.stored["P_Q"], p)
            add(a, None, None, "subgroup difference I2 %", a.stored["I2_Q"], i2)
    return pd.DataFrame.from_records(recs)


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
    from vfsynth.data.validate import validate_data

    df = read_revman(path, measure=measure, timepoint=timepoint, higher_is_better=higher_is_better)
    mapping = df.attrs["revman_mapping"]
    buf = io.StringIO()
    df[list(SCHEMA_COLUMNS)].to_csv(buf, index=False)
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
