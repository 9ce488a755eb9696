"""The vfsynth CSV input schema (public, documented in ``data/README.md``; keep it stable).

One row = one study × outcome × time point. A row carries exactly one of three *data forms*:

* continuous arm data: ``n_t, mean_t, sd_t, n_c, mean_c, sd_c`` (measure ``SMD`` (default) or ``MD``);
* binary arm data: ``n_t, events_t, n_c, events_c`` (measure ``logOR`` (default) or ``OR``);
* a precomputed estimate: ``estimate`` with ``measure`` in {SMD, logOR, OR, MD} and either ``se``
  or both ``ci_low`` and ``ci_high`` (``OR`` estimates and CIs are on the odds-ratio scale).

``t`` is the video-feedback (treatment) arm, ``c`` the control arm. ``higher_is_better``
(default true) says whether a larger value of the *raw* outcome is good; ``false`` rows are
turned round on loading so that every estimate is on the benefit scale (see
:mod:`vfsynth.data.effect_table`).
"""

from __future__ import annotations

#: Every column the data CSV may carry, in the documented order.
COLUMNS: tuple[str, ...] = (
    "study",
    "year",
    "outcome",
    "timepoint",
    "measure",
    "n_t",
    "mean_t",
    "sd_t",
    "events_t",
    "n_c",
    "mean_c",
    "sd_c",
    "events_c",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "higher_is_better",
    "source",
)
#: Optional extra columns: a free-text note (how a number was derived) and the total number
#: analysed for estimate rows that report no per-arm sizes (used for n_total / unit-information).
#: ``time_t``/``time_c`` (person-time for incidence-rate rows), ``scale`` (what a GIV estimate
#: measures, e.g. ``logHR``; picks its default priors) and ``not_estimable`` (a reason: the row is
#: kept, listed and left out of pooling, as RevMan's "not estimable" studies). ``es_id`` names one
#: of several estimates of one study in one analysis (measures, time points, comparisons of the
#: same trial): such rows are clustered by study for the three-level model, not refused as duplicates.
OPTIONAL_COLUMNS: tuple[str, ...] = ("note", "n_total", "time_t", "time_c", "scale", "not_estimable", "es_id")
ALL_COLUMNS: tuple[str, ...] = COLUMNS + OPTIONAL_COLUMNS

#: Columns that must be present in the header.
REQUIRED_COLUMNS: tuple[str, ...] = ("study", "outcome")
#: Default time point when the file has no ``timepoint`` column at all (documented).
DEFAULT_TIMEPOINT = "post"

NUMERIC_COLUMNS: tuple[str, ...] = (
    "year",
    "n_t",
    "mean_t",
    "sd_t",
    "events_t",
    "n_c",
    "mean_c",
    "sd_c",
    "events_c",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "n_total",
    "time_t",
    "time_c",
)
COUNT_COLUMNS: tuple[str, ...] = ("n_t", "n_c", "events_t", "events_c", "n_total")
TEXT_COLUMNS: tuple[str, ...] = (
    "study", "outcome", "timepoint", "measure", "source", "note", "scale", "not_estimable", "es_id",
)

CONTINUOUS_ARMS: tuple[str, ...] = ("n_t", "mean_t", "sd_t", "n_c", "mean_c", "sd_c")
BINARY_ARMS: tuple[str, ...] = ("n_t", "events_t", "n_c", "events_c")
RATE_ARMS: tuple[str, ...] = ("events_t", "time_t", "events_c", "time_c")
SINGLE_ARM: tuple[str, ...] = ("n_t", "events_t")
#: Columns whose presence *signals* a data form (n_t / n_c alone do not: an estimate row may carry them).
FORM_SIGNALS: dict[str, tuple[str, ...]] = {
    "continuous": ("mean_t", "sd_t", "mean_c", "sd_c"),
    "binary": ("events_t", "events_c"),
    "rate": ("time_t", "time_c"),
    "estimate": ("estimate", "se", "ci_low", "ci_high"),
}

#: Measures an estimate row may state; ``OR``/``RR``/``IRR`` estimates and CIs are on the ratio
#: scale (logged on loading), ``ZCOR``/``COR`` rows give ``estimate`` = r with ``n_total``.
ESTIMATE_MEASURES: tuple[str, ...] = (
    "SMD", "MD", "ROM", "logOR", "OR", "logRR", "RR", "RD", "logIRR", "IRR", "PLO", "PR",
    "ZCOR", "COR", "GIV",
)
RATIO_MEASURES: dict[str, str] = {"OR": "logOR", "RR": "logRR", "IRR": "logIRR"}
CORRELATION_MEASURES: tuple[str, ...] = ("ZCOR", "COR")
CONTINUOUS_MEASURES: tuple[str, ...] = ("SMD", "MD", "ROM")
BINARY_MEASURES: tuple[str, ...] = ("logOR", "OR", "logRR", "RR", "RD")
RATE_MEASURES: tuple[str, ...] = ("logIRR", "IRR")
SINGLE_ARM_MEASURES: tuple[str, ...] = ("PLO", "PR")

#: Cells read as blank ("not reported"), besides the empty string.
BLANK_TOKENS: frozenset[str] = frozenset({"", "NA", "N/A", "na", "n/a", "NaN", "nan", "."})
TRUE_TOKENS: frozenset[str] = frozenset({"true", "t", "yes", "y", "1"})
FALSE_TOKENS: frozenset[str] = frozenset({"false", "f", "no", "n", "0"})

#: Outcome and time-point names used by the bundled review (users may use any names).
BUNDLED_OUTCOMES: tuple[str, ...] = (
    "sensitivity",
    "reflective_functioning",
    "attachment_security",
    "attachment_aqs",
    "attachment_disorganised",
)
TIMEPOINTS: tuple[str, ...] = ("post", "followup", "followup_long")

#: Inclusion statuses of the bundled review's studies, most to least certain.
INCLUSION_LEVELS: tuple[str, ...] = ("confirmed", "inferred", "candidate", "doubtful")


#: Plausible publication years (a year outside is a data-entry error, e.g. -5 or 99999).
YEAR_RANGE = (1800, 2100)

#: Smallest SD accepted, relative to max(1, |arm means|): an SD of 1e-12 is a typo, not a
#: measurement, and would give that study almost all the weight.
MIN_RELATIVE_SD = 1e-6
