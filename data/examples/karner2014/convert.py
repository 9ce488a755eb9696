"""Convert Karner 2014 (metadat ``dat.karner2014``, wide: one row per trial) to the vfsynth long schema.

Run from the repository root::

    python data/examples/karner2014/convert.py ../shared/reference/examples/karner2014_tiotropium_copd.csv

Writes ``data/examples/karner2014/study_outcomes.csv``: per trial

* ``fev1`` — trough FEV1 mean difference tiotropium − placebo in mL (``fev1.md``, ``fev1.se``),
  measure MD, higher is better;
* ``exacerbation`` — patients with at least one exacerbation per arm (``*.exa`` of ``*.total``),
  binary arm counts (log OR), lower is better (``higher_is_better = false``);
* ``sgrq`` — St George's Respiratory Questionnaire total score MD (``sgrq.md``, ``sgrq.se``),
  lower is better, where reported.

A blank source cell stays missing (no row); nothing is imputed.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "study_outcomes.csv"
COLUMNS = ("study,year,outcome,timepoint,measure,n_t,mean_t,sd_t,events_t,n_c,mean_c,sd_c,events_c,"
           "estimate,se,ci_low,ci_high,higher_is_better,source").split(",")
SOURCE = ("Karner C, Chong J, Poole P. Cochrane Database Syst Rev 2014;7:CD009285, via metadat dat.karner2014 "
          "(commit 0cb96ce4ff16586a9dbc8a9b0f9bc617538d2738)")


def _num(v: str) -> str:
    """'1989.0' -> '1989'; '' stays ''."""
    if v.strip() == "":
        return ""
    x = float(v)
    return str(int(x)) if math.isfinite(x) and x == int(x) else repr(x)


def convert(src: Path) -> list[dict[str, str]]:
    rows = []
    with open(src, newline="") as fh:
        for r in csv.DictReader(fh):
            base = {c: "" for c in COLUMNS} | {"study": r["study"], "year": _num(r["year"]), "timepoint": "post"}
            if r["fev1.md"].strip():
                rows.append(base | {"outcome": "fev1", "measure": "MD", "estimate": _num(r["fev1.md"]),
                                    "se": _num(r["fev1.se"]), "higher_is_better": "true",
                                    "source": f"{SOURCE}: fev1.md, fev1.se (trough FEV1, mL)"})
            if r["tiotropium.exa"].strip() and r["placebo.exa"].strip():
                rows.append(base | {"outcome": "exacerbation", "n_t": _num(r["tiotropium.total"]),
                                    "events_t": _num(r["tiotropium.exa"]), "n_c": _num(r["placebo.total"]),
                                    "events_c": _num(r["placebo.exa"]), "higher_is_better": "false",
                                    "source": f"{SOURCE}: tiotropium.exa/total, placebo.exa/total "
                                              "(patients with >= 1 exacerbation)"})
            if r["sgrq.md"].strip():
                rows.append(base | {"outcome": "sgrq", "measure": "MD", "estimate": _num(r["sgrq.md"]),
                                    "se": _num(r["sgrq.se"]), "higher_is_better": "false",
                                    "source": f"{SOURCE}: sgrq.md, sgrq.se (SGRQ total score)"})
    return rows


def main(argv: list[str]) -> None:
    rows = convert(Path(argv[1]))
    with open(OUT, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} rows to {OUT}")


if __name__ == "__main__":
    main(sys.argv)
