"""Rank histograms of a simulation-based calibration run (Talts et al. 2018, fig. 2 style).

One panel per quantity: the counts of the binned ranks with the central 99% band of a bin
count under uniformity, :math:`\\mathrm{Bin}(n, 1/B)` quantiles 0.005 and 0.995 (pointwise,
not simultaneous: about one bin in a hundred leaves it by chance). A smile (too many extreme
ranks) means posteriors too narrow, a hump too wide, a slope a biased location.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom

from vfsynth.reports.figures._base import OBS, SHRUNK, new_figure, tex_safe


def rank_histograms(model: str, rank_counts: dict[str, list[int]], rows=None):
    """Figure of one model's rank histograms; ``rows`` (table rows) add p-values and coverage."""
    labels = list(rank_counts)
    fig, axes = new_figure((2.6 * len(labels) + 0.4, 2.5), ncols=len(labels), squeeze=False)
    info = {r["quantity"]: r for r in rows or [] if r["model"] == model}
    for ax, lab in zip(axes[0], labels, strict=True):
        counts = np.asarray(rank_counts[lab])
        n, b = int(counts.sum()), len(counts)
        lo, hi = binom.ppf(0.005, n, 1.0 / b), binom.ppf(0.995, n, 1.0 / b)
        ax.axhspan(lo, hi, color="0.85", zorder=0)
        ax.axhline(n / b, color=OBS, lw=0.8)
        ax.bar(np.arange(b), counts, width=0.9, color=SHRUNK, zorder=1)
        title = tex_safe(lab)
        if lab in info:
            r = info[lab]
            title += f"\nHolm p {r['chi2_p_holm']:.2g}, cover {100 * r['coverage95']:.1f}%"
        ax.set_title(title, fontsize=8)
        ax.set_xticks([0, b - 1], ["low", "high"])
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("replicates", fontsize=8)
    fig.suptitle(f"{tex_safe(model)}: SBC ranks ({n} simulated reviews)", fontsize=9)
    fig.tight_layout()
    return fig
