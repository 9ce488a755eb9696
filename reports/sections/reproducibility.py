"""Reproducibility section: how to regenerate the report and what it was made from."""

from __future__ import annotations

from vfsynth.reports.html_report import Doc


def reproducibility_section(record: dict) -> Doc:
    """The regenerating command, data hash, seed, version, output folder and section outcomes.

    Parameters
    ----------
    record : dict
        :func:`vfsynth.reports.build.run_record` (also written to ``summary.json``).
    """
    d = Doc()
    d.para(f"Regenerate with: {record['command']}")
    items = [f"data content hash: {record['data_hash'][:16]}", f"seed: {record['seed']}", f"vfsynth {record['version']}",
             f"written to: {record['out']}",
             "fits are cached by configuration (fits/saved or $VFSYNTH_FIT_DIR); a rerun of unchanged data samples nothing"]
    failed = record.get("failed_sections") or []
    items.append("sections that failed: " + ("; ".join(f"{f['section']} ({f['error_type']}: {f['message']})"
                                                        for f in failed) if failed else "none"))
    d.bullets(items)
    return d
