"""Forest plot of one pooled analysis."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.patches import Polygon

from vfsynth.reports.figures._base import (
    BENEFIT,
    HARM,
    OBS,
    SHRUNK,
    axis_label,
    disp,
    new_figure,
    null,
    tex_safe,
)


def forest_plot(summary, title: str | None = None):
    """Forest plot: observed estimate ± CI, shrunken estimate, weight, pooled diamond, PI.

    Observed intervals are estimate ± z·se (normal approximation); shrunken estimates are the
    posterior medians and intervals of theta_i; the diamond spans the pooled credible interval
    and the bar under it the prediction interval for a new study.

    Parameters
    ----------
    summary : vfsynth.reports.analysis_summary.AnalysisSummary
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    df = summary.studies
    m = summary.measure
    src = getattr(summary, "source", None)
    if src is not None and src.events:
        # event measures on the source's own scale and direction (RevMan's forest plot: RR of the
        # events as counted, "favours intervention" on the side where the intervention is better)
        def show(x):
            return np.atleast_1d(src.shown(np.asarray(x, dtype=float)))

        null_value, xlog, xlabel = src.null, src.ratio, src.axis_label
    else:
        def show(x):
            return disp(m, x)

        null_value, xlog, xlabel = null(m), m == "logOR", axis_label(m)
    k = len(df)
    h = 1.6 + 0.34 * (k + 3)
    fig, ax = new_figure((8.2, h))
    ys = np.arange(k, 0, -1) + 2.0
    for y, (_, r) in zip(ys, df.iterrows(), strict=True):
        lo, est, hi = show([r.obs_low, r.estimate, r.obs_high])
        ax.plot([lo, hi], [y + 0.12] * 2, color=OBS, lw=1.2)
        size = 4 + 10 * math.sqrt(max(r.weight, 0) / 100)
        ax.plot(est, y + 0.12, "s", color=OBS, ms=size, label="_obs")
        if np.isfinite(r.shrunk_median):
            slo, smed, shi = show([r.shrunk_low, r.shrunk_median, r.shrunk_high])
            ax.plot([slo, shi], [y - 0.14] * 2, color=SHRUNK, lw=1.2, alpha=0.9)
            ax.plot(smed, y - 0.14, "o", color=SHRUNK, ms=4)
    e = summary.effect
    lo, med, hi = sorted(show([e.ci_low, e.median, e.ci_high]))
    ax.add_patch(Polygon([[lo, 1.3], [med, 1.6], [hi, 1.3], [med, 1.0]], closed=True,
                         color=BENEFIT if e.p_benefit > 0.5 else HARM))
    p = summary.prediction
    plo, phi = sorted(show([p.ci_low, p.ci_high]))
    ax.plot([plo, phi], [0.45, 0.45], color="#7f7f7f", lw=3, solid_capstyle="butt")
    ax.axvline(null_value, color="k", lw=0.8, ls="--")
    labels = [tex_safe(f"{s}  ({w:.0f}%)") for s, w in zip(df["study"], df["weight"], strict=True)]
    ax.set_yticks(list(ys) + [1.3, 0.45])
    ax.set_yticklabels(labels + [f"Pooled ({e.prob:.0%} CrI)", "Prediction (new study)"])
    ax.set_ylim(0, k + 3)
    if xlog:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    if src is not None and src.events:
        left, right = ("intervention", "control") if src.flip else ("control", "intervention")
        for x, text, ha in ((0.0, f"← favours {left}", "left"), (1.0, f"favours {right} →", "right")):
            ax.text(x, 1.0, text, transform=ax.transAxes, ha=ha, va="bottom", fontsize=8, color="#444444")
    ax.plot([], [], "s-", color=OBS, label="observed (95% CI); box ∝ weight")
    ax.plot([], [], "o-", color=SHRUNK, label="shrunken (posterior)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.6 / h), ncol=2, frameon=False, fontsize=8)
    ax.set_title(tex_safe(title or f"{summary.outcome} ({summary.timepoint}) — {summary.model}"), fontsize=10,
                 pad=16 if src is not None and src.events else None)
    ax.text(1.01, 1.3, f"{med:.2f} [{lo:.2f}, {hi:.2f}]", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
    ax.text(1.01, 0.45, f"[{plo:.2f}, {phi:.2f}]", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig
