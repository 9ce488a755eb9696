"""Sensitivity figures: influence, prior grid, small-study effects and moderators.

Inputs are the DataFrames of :mod:`vfsynth.fits.sensitivity` and :mod:`vfsynth.fits.moderators`;
effects are drawn on the display scale (odds ratios on a log axis for log-OR outcomes).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from vfsynth.reports.figures._base import (
    HARM,
    OBS,
    SHRUNK,
    axis_label,
    disp,
    new_figure,
    null,
    tex_safe,
)


def _interval_rows(ax, labels, low, mid, high, measure, *, colors=None, ref=None):
    """One horizontal interval per label, top to bottom; returns the rows' y positions."""
    n = len(labels)
    ys = np.arange(n, 0, -1)
    lo, md, hi = (disp(measure, v) for v in (low, mid, high))
    for i, y in enumerate(ys):
        c = colors[i] if colors is not None else OBS
        ax.plot([lo[i], hi[i]], [y, y], color=c, lw=1.4)
        ax.plot(md[i], y, "o", color=c, ms=4.5)
    ax.axvline(null(measure), color="k", lw=0.8, ls="--")
    if ref is not None:
        ax.axvline(disp(measure, ref), color=SHRUNK, lw=0.8, ls=":")
    ax.set_yticks(ys)
    ax.set_yticklabels([tex_safe(lbl) for lbl in labels], fontsize=8)
    ax.set_ylim(0.3, n + 0.7)
    if measure == "logOR":
        ax.set_xscale("log")
    ax.set_xlabel(axis_label(measure))
    ax.spines[["top", "right"]].set_visible(False)
    return ys


def _margin(ax, ys, texts) -> None:
    for y, text in zip(ys, texts, strict=True):
        ax.text(1.01, y, text, transform=ax.get_yaxis_transform(), va="center", fontsize=7.5)


def _title(ax, title: str | None, what: str, df: pd.DataFrame) -> None:
    default = f"{what}: {df.attrs.get('outcome', '')} ({df.attrs.get('timepoint', '')})"
    ax.set_title(tex_safe(title or default), fontsize=10)


def influence_plot(df: pd.DataFrame, measure: str = "SMD", title: str | None = None):
    """Leave-one-study-out pooled estimates (:func:`vfsynth.fits.sensitivity.influence`).

    One row per omitted study: posterior mean and 95% interval of mu; the dotted line is the
    all-studies estimate; right margin: P(benefit) without that study.

    Returns
    -------
    matplotlib.figure.Figure
    """
    n = len(df)
    fig, ax = new_figure((7.6, 1.2 + 0.32 * n))
    labels = ["all studies" if o == "(none)" else f"without {o}" for o in df["omitted"]]
    colors = [SHRUNK if o == "(none)" else OBS for o in df["omitted"]]
    ys = _interval_rows(ax, labels, df["mu_low"].to_numpy(), df["mu_mean"].to_numpy(), df["mu_high"].to_numpy(),
                        measure, colors=colors, ref=float(df["mu_mean"].iloc[0]))
    _margin(ax, ys, [f"P(benefit) {p:.3f}" for p in df["p_benefit"]])
    if title is None:
        title = (f"Influence: {df.attrs.get('outcome', '')} ({df.attrs.get('timepoint', '')}) "
                 "— leave one study out")
    _title(ax, title, "Influence", df)
    return fig


def prior_grid_plot(df: pd.DataFrame, measure: str = "SMD", title: str | None = None):
    """Pooled effect under each prior of the grid (:func:`vfsynth.fits.sensitivity.prior_grid`).

    Rows whose P(benefit) is on the other side of 0.95 or 0.5 than the default prior's are
    drawn in red (the conclusion depends on the prior); right margin: P(benefit) and the
    posterior median of tau.

    Returns
    -------
    matplotlib.figure.Figure
    """
    n = len(df)
    p = df["p_benefit"].to_numpy(float)
    flip = np.zeros(n, dtype=bool)
    for t in (0.5, 0.95):
        flip |= (p > t) != (p[0] > t)
    colors = [SHRUNK if v == "default" else (HARM if f else OBS) for v, f in zip(df["varies"], flip, strict=True)]
    fig, ax = new_figure((8.4, 1.3 + 0.32 * n))
    ys = _interval_rows(ax, list(df["prior"]), df["mu_low"].to_numpy(), df["mu_median"].to_numpy(),
                        df["mu_high"].to_numpy(), measure, colors=colors)
    _margin(ax, ys, [f"P(benefit) {pb:.3f}  tau~{tm:.2f}" for pb, tm in zip(p, df["tau_median"], strict=True)])
    _title(ax, title, "Prior sensitivity", df)
    ax.plot([], [], "o-", color=HARM, label="P(benefit) crosses 0.5 or 0.95 vs default")
    ax.plot([], [], "o-", color=SHRUNK, label="default prior")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.5 / (1 + 0.1 * n) - 0.1), ncol=2, frameon=False, fontsize=8)
    return fig


def small_study_plot(df: pd.DataFrame, measure: str = "SMD", title: str | None = None):
    """Pooled effect unadjusted and under PET, PEESE, PET-PEESE and the selection model.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = new_figure((7.6, 1.3 + 0.36 * len(df)))
    ys = _interval_rows(ax, list(df["model"]), df["low"].to_numpy(), df["mean"].to_numpy(), df["high"].to_numpy(),
                        measure, colors=[SHRUNK] + [OBS] * (len(df) - 1))
    _margin(ax, ys, [f"P(benefit) {p:.3f}" for p in df["p_benefit"]])
    _title(ax, title, "Small-study effects", df)
    return fig


def moderator_plot(df: pd.DataFrame, title: str | None = None):
    """Posterior (mean, 95% interval) of each meta-regression coefficient / subgroup difference.

    Subgroup means and tau rows are left out (differences and slopes only); x is on the model
    scale (difference in SMD / log OR).

    Returns
    -------
    matplotlib.figure.Figure
    """
    sub = df[~df["term"].str.startswith(("subgroup mean", "tau", "intercept", "not estimable"))]
    fig, ax = new_figure((8.4, 1.2 + 0.32 * max(len(sub), 1)))
    if sub.empty:
        ax.text(0.5, 0.5, "no estimable moderator", ha="center", va="center")
        ax.set_axis_off()
        return fig
    labels = [f"{m}: {t}" if not t.startswith(m) else t for m, t in zip(sub["moderator"], sub["term"], strict=True)]
    _interval_rows(ax, labels, sub["low"].to_numpy(), sub["mean"].to_numpy(), sub["high"].to_numpy(), "SMD")
    ax.set_xlabel("coefficient (difference in effect; model scale)")
    _title(ax, title, "Moderators", df)
    return fig
