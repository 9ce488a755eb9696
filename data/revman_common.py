"""Shared parts of the RevMan import (:mod:`vfsynth.data.revman`).

Holds the classes a parsed RevMan file is made of (:class:`RevManReview` >
:class:`RevManAnalysis` > :class:`RevManSubgroup` / :class:`RevManRow`), the vfsynth schema
columns (:data:`SCHEMA_COLUMNS`), the RevMan Web CSV header (:data:`WEB_CSV_COLUMNS`), the
RevMan attribute names read per analysis, subgroup and row, and the small value parsers
(:func:`slugify`, :func:`_f`, :func:`_year`) that both readers use.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from vfsynth.data.errors import DataValidationError, Problem, UnknownAnalysisError
from vfsynth.data.numbers import DECIMAL_PATTERN

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
    # float() alone would read "0_1" as 1.0 and full-width digits: plain decimals only.
    if not re.fullmatch(DECIMAL_PATTERN, s) and not re.fullmatch(r"[+-]?(inf|infinity|nan)", s, re.I):
        return math.nan
    return float(s)


def int_attr(node, name: str, path: str, default: str = "0") -> int:
    """An integer XML attribute (``NO``), or a DataValidationError naming element and value."""
    value = node.get(name, default)
    if re.fullmatch(r"\s*[0-9]+\s*", value or ""):
        return int(value)
    label = (node.findtext("NAME") or "").strip()
    raise DataValidationError(
        [Problem(None, None, f"{node.tag} {name}",
                 f"{name}={value!r} is not a whole number" + (f" (in {node.tag} {label!r})" if label else ""))],
        path,
    )


def _year(text) -> float:
    m = re.search(r"(1[89]\d\d|20\d\d)", str(text or ""))
    return float(m.group(1)) if m else math.nan
