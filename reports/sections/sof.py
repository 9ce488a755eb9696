"""Summary-of-findings section (the table of :mod:`vfsynth.reports.sof`)."""

from __future__ import annotations

from vfsynth.reports import sof as SOF
from vfsynth.reports.html_report import Doc


def sof_section(rows: list[SOF.SofRow]) -> Doc:
    d = Doc()
    d.para("Summary of findings from the posteriors (primary model per outcome). The columns on inconsistency, "
           "imprecision and risk of bias are the statistical inputs to a GRADE certainty rating, not the rating.")
    d.table(SOF.HEADER, [r.cells() for r in rows])
    return d
