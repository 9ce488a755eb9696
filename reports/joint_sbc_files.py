"""Files of a joint-model SBC run: the results table (CSV + JSON) and the rank histograms (PNG).

:func:`write_joint_sbc` writes, into a folder the user chooses, for one
:class:`vfsynth.fits.joint_sbc.JointSBCResult`:

* ``joint_sbc_<design>.csv`` — one row per quantity (uniformity p-values for kept and all
  replicates, verdict at the Bonferroni level, 95 % coverage with its acceptance interval, the
  learned IQR ratio);
* ``joint_sbc_<design>.json`` — the same table plus the run summary (replicates, kept, excluded
  for divergences, seed, settings, run time);
* ``joint_sbc_<design>_ranks.png`` — rank histograms (``bins`` bins) with the 99 % band of a
  uniform bin count (binomial quantiles), the display of Talts et al. (2018, fig. 2).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vfsynth.data.jsonable import to_jsonable


def rank_histograms(result, path: Path) -> Path:
    """Draw every quantity's rank histogram (kept replicates) to ``path``."""
    from matplotlib.figure import Figure
    from scipy.stats import binom

    keep = result.kept
    ranks = result.ranks[keep]
    n = int(keep.sum())
    width = (result.L + 1) // result.bins
    P = len(result.labels)
    cols = 3
    rows = int(np.ceil(P / cols))
    fig = Figure(figsize=(3.2 * cols, 2.4 * rows), layout="constrained")
    lo, hi = binom.ppf(0.005, n, 1 / result.bins), binom.isf(0.005, n, 1 / result.bins)
    for j, lab in enumerate(result.labels):
        ax = fig.add_subplot(rows, cols, j + 1)
        counts = np.bincount(ranks[:, j] // width, minlength=result.bins)
        ax.axhspan(lo, hi, color="0.85", zorder=0)
        ax.bar(np.arange(result.bins), counts, width=0.9, color="tab:blue", zorder=1)
        ax.set_title(lab, fontsize=9)
        ax.set_xticks([])
    fig.suptitle(f"joint model SBC, {result.design} design: {n} replicates (rank bins; grey: 99% band if uniform)",
                 fontsize=10)
    fig.savefig(path, dpi=110)
    return path


def write_joint_sbc(result, folder) -> dict[str, Path]:
    """Write the table, the JSON summary and the rank histograms of ``result`` into ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"joint_sbc_{result.design}"
    tab = result.table()
    csv = out / f"{stem}.csv"
    tab.to_csv(csv, index=False, float_format="%.4g")
    js = out / f"{stem}.json"
    js.write_text(json.dumps(to_jsonable({"summary": result.summary(), "table": tab.to_dict(orient="records")}),
                             indent=1))
    png = rank_histograms(result, out / f"{stem}_ranks.png")
    return {"csv": csv, "json": js, "png": png}
