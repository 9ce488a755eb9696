"""RevMan 5 ``.rm5`` (XML) parsing for the RevMan import (:mod:`vfsynth.data.revman`).

Holds :func:`read_rm5`, which returns a :class:`~vfsynth.data.revman_common.RevManReview`.

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
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from vfsynth.data.errors import DataValidationError, Problem
from vfsynth.data.inputfile import gunzip_capped, read_input_bytes
from vfsynth.data.revman_common import (
    _DATA_KEYS,
    _POOLED_KEYS,
    _ROW_RESULT_KEYS,
    RevManAnalysis,
    RevManReview,
    RevManRow,
    RevManSubgroup,
    _f,
    _year,
    int_attr,
)


def read_rm5(path: str | Path) -> RevManReview:
    """Parse a RevMan 5 file (XML; the declared encoding, usually ISO-8859-1, is honoured).

    Raises
    ------
    DataValidationError
        If the file is not RevMan 5 XML or a data row names an unknown study.
    """
    path = Path(path)
    raw = read_input_bytes(path)
    if raw[:2] == b"\x1f\x8b":  # some tools gzip .rm5 files; capped against gzip bombs
        raw = gunzip_capped(raw, path)
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
        cno = int_attr(comp, "NO", str(path))
        cname = (comp.findtext("NAME") or "").strip()
        for out in comp:
            dtype = {"DICH_OUTCOME": "DICH", "CONT_OUTCOME": "CONT", "IV_OUTCOME": "IV"}.get(out.tag)
            if dtype is None:
                if out.tag.endswith("_OUTCOME"):  # IPD / O-E outcomes: recorded, not imported
                    analyses.append(RevManAnalysis(cno, cname, int_attr(out, "NO", str(path)), (out.findtext("NAME") or "").strip(),
                                                   out.tag.replace("_OUTCOME", ""), out.get("EFFECT_MEASURE", ""),
                                                   out.get("METHOD", ""), out.get("RANDOM") == "YES"))
                continue
            a = RevManAnalysis(
                comparison_no=cno,
                comparison=cname,
                outcome_no=int_attr(out, "NO", str(path)),
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
                no = int_attr(sg, "NO", str(path))
                a.subgroups.append(RevManSubgroup(no, (sg.findtext("NAME") or "").strip(),
                                                  {k: _f(sg.get(k)) for k in _POOLED_KEYS}
                                                  | {"ESTIMABLE": sg.get("ESTIMABLE", "YES") == "YES"}))
                add_rows(sg, no)
            analyses.append(a)
    if problems:
        raise DataValidationError(problems, str(path))
    return RevManReview(str(path), "rm5", title, root.get("DOI", ""), studies, analyses)
