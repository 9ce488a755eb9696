"""Which data form a row carries, whether it fits its measure, and whether it is estimable.

Called by :mod:`vfsynth.data.validate` for each row, after the cells are parsed. A problem
(something the user must fix) goes to ``bad(column, message)``; a row that is well formed but
*cannot give an effect* is not a problem: it is kept with the reason in ``row["not_estimable"]``
and left out of pooling, as RevMan lists "not estimable" studies (Deeks & Higgins 2010,
"Statistical algorithms in Review Manager 5": zero-total arms, no events in either arm for
OR/RR/IRR, SD = 0). The user can also mark a row with a reason of their own (column
``not_estimable``, e.g. ``not reported``); such a row needs no data form.

Forms: ``continuous`` (arm means/SDs), ``binary`` (2×2 counts), ``rate`` (events over
person-time), ``single`` (one arm's events and n: PLO / PR), ``estimate`` (precomputed effect,
correlation r with ``n_total``, or GIV), and ``none`` (an explicitly not-estimable row without
numbers).
"""

from __future__ import annotations

from collections.abc import Callable

from vfsynth.data import schema

_HINT = (
    "give continuous arms (n_t, mean_t, sd_t, n_c, mean_c, sd_c), binary arms "
    "(n_t, events_t, n_c, events_c), events with person-time (events_t, time_t, events_c, "
    "time_c), one arm (n_t, events_t; measure PLO or PR), an estimate with se or "
    "ci_low/ci_high, or a reason in not_estimable"
)


def detect_forms(given: Callable[[str], bool]) -> list[str]:
    """Forms signalled by the filled cells (events with person-time are one ``rate`` form; events
    of the treatment arm only are the ``single`` form)."""
    forms = [f for f, cols in schema.FORM_SIGNALS.items() if any(given(c) for c in cols)]
    if "rate" in forms and "binary" in forms:
        forms.remove("binary")
    if forms == ["binary"] and not (given("events_c") or given("n_c")):
        forms = ["single"]
    return forms


def check_form(row: dict, raw: dict, measure: str, given, unparseable, bad) -> None:
    """Set ``row["form"]`` and ``row["not_estimable"]`` and report every problem of the form.

    Parameters
    ----------
    row : dict
        Parsed cells (numbers as float, ``nan`` blank); updated in place.
    raw : dict
        The cells as text.
    measure : str
        The row's measure ("" if blank or unknown).
    given, unparseable : callables ``column -> bool``
        A cell holds a parsed value / holds text that failed to parse (already reported).
    bad : callable ``(column, message)``
        Records a problem.
    """
    reasons: list[str] = []
    user_reason = row.get("not_estimable", "")
    forms = detect_forms(given)
    if not forms and user_reason:
        forms = ["none"]
    row["form"] = forms[0] if len(forms) == 1 else ""
    if not forms:
        bad(None, "no data: " + _HINT)
    elif len(forms) > 1:
        bad(None, f"row mixes {len(forms)} data forms ({' and '.join(forms)}); give exactly one")

    for col in ("n_t", "n_c"):
        if given(col) and row[col] < 0:
            bad(col, f"sample size must be >= 0 (0 marks the arm not estimable), got {row[col]:g}")
    if given("n_total") and row["n_total"] < 2:
        bad("n_total", f"sample size must be at least 2, got {row['n_total']:g}")

    def need(cols, what) -> None:
        if user_reason:  # a row already marked not estimable may lack numbers
            return
        for col in cols:
            if not given(col) and not unparseable(col):
                bad(col, f"required for {what} but missing")

    def fits(allowed, what) -> None:
        if measure and measure not in allowed:
            bad("measure", f"measure {measure!r} does not fit {what} (use {' or '.join(allowed)})")

    def events_ok(pairs) -> None:
        for ev, n in pairs:
            if given(ev):
                if row[ev] < 0:
                    bad(ev, f"events must be >= 0, got {row[ev]:g}")
                elif n and given(n) and row[ev] > row[n]:
                    bad(ev, f"events ({row[ev]:g}) exceed the arm size {n} ({row[n]:g})")

    form = row["form"]
    if form == "continuous":
        fits(schema.CONTINUOUS_MEASURES, "continuous arm data")
        empty_arm = [c for c in ("n_t", "n_c") if given(c) and row[c] == 0]
        if empty_arm:
            reasons.append(f"arm with n = 0 ({', '.join(empty_arm)})")
        else:
            need(schema.CONTINUOUS_ARMS, "continuous arm data")
            for col in ("n_t", "n_c"):
                if given(col) and row[col] == 1:
                    reasons.append(f"arm with n = 1 ({col}): no SD within the arm")
            for col in ("sd_t", "sd_c"):
                if given(col) and row[col] < 0:
                    bad(col, f"standard deviation must be > 0 (0 marks the row not estimable), got {row[col]:g}")
                elif given(col) and row[col] == 0:
                    reasons.append(f"SD = 0 ({col})")
                elif given(col) and row[col] < schema.MIN_RELATIVE_SD * max(
                    [1.0, *(abs(row[m]) for m in ("mean_t", "mean_c") if given(m))]
                ):
                    bad(col, f"implausibly small standard deviation {row[col]:g} (a data-entry error? "
                             "it would make this study's SMD and weight enormous)")
            if measure == "ROM" and given("mean_t") and given("mean_c"):
                if row["mean_t"] * row["mean_c"] <= 0:
                    reasons.append("ratio of means needs two means of the same sign, neither 0")
    elif form == "binary":
        fits(schema.BINARY_MEASURES, "binary arm data")
        need(schema.BINARY_ARMS, "binary arm data")
        events_ok((("events_t", "n_t"), ("events_c", "n_c")))
        if all(given(c) for c in schema.BINARY_ARMS) and not _problem_counts(row):
            reasons += _binary_reasons(row, measure)
    elif form == "rate":
        fits(schema.RATE_MEASURES, "events with person-time")
        need(schema.RATE_ARMS, "events with person-time")
        events_ok((("events_t", ""), ("events_c", "")))
        for col in ("time_t", "time_c"):
            if given(col) and row[col] < 0:
                bad(col, f"person-time must be >= 0, got {row[col]:g}")
            elif given(col) and row[col] == 0:
                reasons.append(f"no person-time ({col} = 0)")
        if given("events_t") and given("events_c") and row["events_t"] == row["events_c"] == 0:
            reasons.append("no events in either arm")
    elif form == "single":
        if not measure:
            bad("measure", "one-arm data need measure PLO or PR")
        fits(schema.SINGLE_ARM_MEASURES, "one-arm data")
        need(schema.SINGLE_ARM, "one-arm data")
        events_ok((("events_t", "n_t"),))
        if given("n_t") and row["n_t"] == 0:
            reasons.append("arm with n = 0 (n_t)")
    elif form == "estimate":
        _check_estimate(row, raw, measure, given, unparseable, bad)
    # A re-validated frame (Review(name, rows)) carries the computed reasons in this column;
    # de-duplicating keeps them from doubling.
    parts = [p for p in user_reason.split("; ") if p] + reasons
    row["not_estimable"] = "; ".join(dict.fromkeys(parts))


def _problem_counts(row: dict) -> bool:
    return any(row[e] < 0 or row[e] > row[n] for e, n in (("events_t", "n_t"), ("events_c", "n_c")))


def _binary_reasons(row: dict, measure: str) -> list[str]:
    """RevMan's not-estimable 2×2 tables: an empty arm; for OR/RR no events in either arm (the
    table says nothing about a ratio). RD stays estimable then (it is 0), and so does a table
    with every participant an event in both arms: RevMan Web reports RR 1.00 (0.91 to 1.10)
    for 20/20 vs 20/20 (CD010861 analysis 6.2), the 0.5-corrected table metafor gives too."""
    empty = [c for c in ("n_t", "n_c") if row[c] == 0]
    if empty:
        return [f"arm with n = 0 ({', '.join(empty)})"]
    if measure != "RD" and row["events_t"] == 0 and row["events_c"] == 0:
        return ["no events in either arm"]
    return []


def _check_estimate(row, raw, measure, given, unparseable, bad) -> None:
    if not given("estimate"):
        if not unparseable("estimate"):
            bad("estimate", "se/ci given but the estimate itself is missing")
        return
    if not row["measure"]:
        bad("measure", "an estimate needs its measure (e.g. SMD, MD, logOR, OR, logRR, RR, GIV)")
    est = row["estimate"]
    has_se, has_lo, has_hi = given("se"), given("ci_low"), given("ci_high")
    if measure in schema.CORRELATION_MEASURES:
        if has_se or has_lo or has_hi:
            bad("se", f"a correlation ({measure}) takes its variance from n_total; leave se/CI blank")
        if not given("n_total") and not unparseable("n_total"):
            bad("n_total", f"a correlation ({measure}) needs n_total (the N it was computed on)")
        elif given("n_total") and row["n_total"] < 5:
            bad("n_total", f"a correlation needs n_total >= 5 (its variance divides by n - 3 or n - 1), got {row['n_total']:g}")
        if not -1 < est < 1:
            bad("estimate", f"a correlation r must lie strictly between -1 and 1, got {est:g}")
        return
    if row.get("scale") and measure != "GIV":
        bad("scale", f"scale labels GIV estimates only (measure here is {measure!r})")
    if not (has_se or has_lo or has_hi):
        if not any(unparseable(c) for c in ("se", "ci_low", "ci_high")):
            bad(
                "se",
                "an estimate needs its standard error (se) or a confidence interval (ci_low, ci_high)",
            )
    if has_lo != has_hi and not has_se:
        bad(
            "ci_high" if has_lo else "ci_low",
            "only one confidence limit given; give both or give se",
        )
    if has_se and row["se"] <= 0:
        bad("se", f"standard error must be > 0, got {row['se']:g}")
    if measure in schema.RATIO_MEASURES:
        what = {"OR": "an odds ratio", "RR": "a risk ratio", "IRR": "a rate ratio"}[measure]
        if est <= 0:
            bad("estimate", f"{what} must be > 0, got {est:g}")
        for col in ("ci_low", "ci_high"):
            if given(col) and row[col] <= 0:
                bad(col, f"{what} confidence limit must be > 0, got {row[col]:g}")
    if has_lo and has_hi:
        lo, hi = row["ci_low"], row["ci_high"]
        if lo >= hi:
            bad("ci_low", f"ci_low ({lo:g}) must be below ci_high ({hi:g})")
        elif not (lo <= est <= hi):
            bad(
                "estimate",
                f"estimate {est:g} lies outside its confidence interval ({lo:g}, {hi:g})",
            )
