"""The report's sections, one module each, in report order.

Each module turns analysis results (:mod:`vfsynth.reports.analyses`) into text, tables and
figures through :class:`vfsynth.reports.html_report.Doc`; :mod:`vfsynth.reports.build` runs
every section through :func:`vfsynth.reports.sections.runner.run_section`, so a section that
fails is shown as failed with its reason and the others are still built.

key_findings, data, models, diagnostics, results, averaging (model averaging), sof, comparison
(with sensitivity and moderators), living (with export_update), reproducibility.
"""
