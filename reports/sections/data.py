"""Data section: what the data are, the published results, missing studies, each analysis's studies."""

from __future__ import annotations

import numpy as np

from vfsynth.reports import sof as SOF
from vfsynth.reports import summaries as S
from vfsynth.reports.html_report import Doc
from vfsynth.reports.sections._common import cell, is_reconstruction


def data_section(review, results, single) -> Doc:
    d = Doc()
    if is_reconstruction(review):
        d.callout(
            "warn",
            "What these data are",
            text=(
                "A partial reconstruction of CD012348 from public sources, not the review's data set (its RevMan "
                "file is not public and some trials' numbers came from unpublished author data). Most effects are "
                "standardised effects reported in trial abstracts, some covariate-adjusted; standard errors derived "
                "from a total N assume the split stated per row. Results will differ from the review's."
            ),
        )
    else:
        path = getattr(review, "meta", {}).get("path")
        d.para(f"Review '{review.name}'" + (f" read from {path}" if path else "") + f": {len(review.studies())} studies, {len(review.rows)} data rows.")
    pub = getattr(review, "published", None)
    if pub is not None and len(pub):
        d.heading("The review's published pooled results (for comparison)")
        cols = [c for c in ("label", "timepoint", "measure", "k", "n_participants", "estimate", "ci_low", "ci_high", "certainty") if c in pub.columns]
        d.table(cols, [[cell(v) for v in row] for row in pub[cols].itertuples(index=False)], wrap=True)
    nf = getattr(review, "not_found", None)
    if nf is not None and len(nf):
        d.heading("Studies whose numbers are missing (not in any analysis below)")
        cols = [c for c in ("study", "outcome", "timepoint", "what_is_known") if c in nf.columns]
        d.table(cols, [list(r) for r in nf[cols].itertuples(index=False)], wrap=True)
    for r in results:
        if r.table is None:
            continue
        t = r.table
        d.heading(f"{r.label}: {t.k} studies ({t.measure}, benefit scale)")
        d.table(
            ["Study", "Estimate", "SE", "N", "How derived", "Source"],
            [
                [s, f"{y:.3f}", f"{se:.3f}", "" if not np.isfinite(n) else f"{n:.0f}", dv, src]
                for s, y, se, n, dv, src in zip(t.study, t.estimate, t.se, t.n_total, t.derivation, t.source, strict=True)
            ],
            numeric={1, 2, 3},
            wrap=True,
        )
        _direction_and_not_estimable(d, t)
    if single:
        d.heading("Outcomes with a single study (not pooled)")
        z = 1.959963984540054
        d.table(
            ["Outcome", "Study", "Estimate (95% CI)", "Measure", "How derived"],
            [
                [r.label, r.table.study[0],
                 SOF.fmt_effect(r.table.measure, r.table.estimate[0], r.table.estimate[0] - z * r.table.se[0],
                                r.table.estimate[0] + z * r.table.se[0], label=False),
                 S.display_scale(r.table.measure), r.table.derivation[0]]
                for r in single
            ],
            wrap=True,
        )
    return d


def _direction_and_not_estimable(d: Doc, t) -> None:
    """Which way events count (binary / rate analyses) and the rows left out as not estimable."""
    way = t.meta.get("direction") or {}
    if t.measure in ("logOR", "logRR", "RD", "logIRR") and way:
        hib = way.get("higher_is_better")
        text = {True: "events are counted as good (higher_is_better = true)",
                False: "events are counted as bad (higher_is_better = false); effects are turned round so that "
                       "positive favours the intervention"}.get(hib, "rows differ in higher_is_better")
        # A stated direction is already in each row's "How derived"; only the default is flagged
        # (which also keeps reports of files that state it, such as the bundled one, as they were).
        if way.get("stated") is False:
            d.callout("warn", "Direction not stated in the data",
                      text=f"{text}: this is the default, not the file's; check which way the events count.")
    ne = t.meta.get("not_estimable") or []
    if ne:
        d.para(f"Not estimable ({len(ne)} row(s): kept, listed, left out of this analysis's pooling, as RevMan does):")
        d.table(["Study", "File line", "Reason"], [[e["study"], str(e["line"]), e["reason"]] for e in ne], wrap=True)
