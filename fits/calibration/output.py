"""The calibration table on disk: ``calibration.csv`` (one row per model and quantity) and
``calibration.json`` (the same rows, each model's run settings and design, and every
quantity's binned rank counts, from which the rank histograms are drawn).

A folder accumulates: models calibrated by an earlier run into the same folder (or read
from another folder's ``calibration.json``) are kept, and the Holm adjustment is redone
over every row.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "vfsynth-calibration/1"
COLUMNS = ("model", "quantity", "replicates", "L", "chi2_p", "chi2_p_holm", "uniform", "coverage95", "coverage_p",
           "coverage_ok", "divergences", "replicates_with_divergences", "passed", "seconds", "engine")
#: Columns recomputed whenever rows are combined.
DERIVED = ("chi2_p_holm", "uniform", "coverage_ok", "passed")


def rank_counts(run, bins: int) -> dict[str, list[int]]:
    """Binned rank counts per quantity (``L + 1`` rank values in ``bins`` equal bins)."""
    width = (run.L + 1) // bins
    return {lab: np.bincount(run.ranks[:, j] // width, minlength=bins).astype(int).tolist()
            for j, lab in enumerate(run.labels)}


def model_entry(run, settings) -> dict[str, Any]:
    """What ``calibration.json`` keeps of one model's run."""
    return {"engine": run.engine, "design": run.design, "replicates": run.n_rep, "L": run.L, "seed": run.seed,
            "seconds": run.seconds, "settings": asdict(settings), "rank_counts": rank_counts(run, settings.bins)}


def read_table(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Model entries and raw rows (derived columns dropped) of ``folder/calibration.json``; empty if none."""
    from vfsynth.data.errors import VfsynthError

    path = Path(folder) / "calibration.json"
    if not path.is_file():
        return {}, []
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise VfsynthError(f"{path}: not a readable calibration table ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise VfsynthError(f"{path}: not a {FORMAT} file")
    rows = [{k: v for k, v in r.items() if k not in DERIVED} for r in doc.get("rows", [])]
    return dict(doc.get("models", {})), rows


def write_table(models: dict[str, Any], rows: list[dict[str, Any]], out: Path, *, alpha: float) -> dict[str, Path]:
    """Write ``calibration.csv`` and ``calibration.json`` into ``out``; return their paths."""
    import pandas as pd

    from vfsynth.data.jsonable import to_jsonable

    out.mkdir(parents=True, exist_ok=True)
    csv = out / "calibration.csv"
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(csv, index=False, float_format="%.6g")
    doc = {
        "format": FORMAT,
        "method": "simulation-based calibration (Talts et al. 2018); chi-square on binned ranks, "
                  f"Holm-adjusted over every (model, quantity), family-wise alpha {alpha}; "
                  "95% coverage window 0.93-0.97",
        "rows": rows,
        "models": models,
    }
    js = out / "calibration.json"
    js.write_text(json.dumps(to_jsonable(doc), indent=1) + "\n")
    return {"csv": csv, "json": js}
