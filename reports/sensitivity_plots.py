"""Figures for model comparison and sensitivity analyses (matplotlib; one Figure per function).

Inputs are the DataFrames of :mod:`vfsynth.fits.compare`, :mod:`vfsynth.fits.sensitivity` and
:mod:`vfsynth.fits.moderators`; effects are drawn on the display scale of
:mod:`vfsynth.reports.plots` (odds ratios on a log axis for log-OR outcomes). Use
:func:`vfsynth.reports.plots.to_data_uri` / ``to_png_bytes`` to embed them.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vfsynth.reports.plots import BENEFIT, HARM, OBS, SHRUNK, _axis_label, _disp, _null  # noqa: E402


def _interval_rows(ax, labels, low, mid, high, measure, *, colors=None, ref=None):
    n = len(labels)
    ys = np.arange(n, 0, -1)
    lo, md, hi = (_disp(measure, v) for v in (low, mid, high))
    for i, y in enumerate(ys):
        c = colors[i] if colors is not None else OBS
        ax.plot([lo[i], hi[i]], [y, y], color=c, lw=1.4)
        ax.plot(md[i], y, "o", color=c, ms=4.5)
    ax.axvline(_null(measure), color="k", lw=0.8, ls="--")
    if ref is not None:
        ax.axvline(_disp(measure, ref), color=SHRUNK, lw=0.8, ls=":")
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_ylim(0.3, n + 0.7)
    if measure == "logOR":
        ax.set_xscale("log")
    ax.set_xlabel(_axis_label(measure))
    ax.spines[["top", "right"]].set_visible(False)
    return ys


def influence_plot(df: pd.DataFrame, measure: str = "SMD", title: str | None = None):
    """Leave-one-study-out pooled estimates (:func:`vfsynth.fits.sensitivity.influence`).

    One row per omitted study: posterior mean and 95% interval of mu; the dotted line is the
    all-studies estimate; right margin: P(benefit) without that study.
    """
    n = len(df)
    fig, ax = plt.subplots(figsize=(7.6, 1.2 + 0.32 * n))
    labels = ["all studies" if o == "(none)" else f"without {o}" for o in df["omitted"]]
    colors = [SHRUNK if o == "(none)" else OBS for o in df["omitted"]]
    ys = _interval_rows(ax, labels, df["mu_low"].to_numpy(), df["mu_mean"].to_numpy(), df["mu_high"].to_numpy(),
                        measure, colors=colors, ref=float(df["mu_mean"].iloc[0]))
    for y, p in zip(ys, df["p_benefit"], strict=True):
        ax.text(1.01, y, f"P(benefit) {p:.3f}", transform=ax.get_yaxis_transform(), va="center", fontsize=7.5)
    ax.set_title(title or f"Influence: {df.attrs.get('outcome', '')} ({df.attrs.get('timepoint', '')}) — leave one study out", fontsize=10)
    return fig


def prior_grid_plot(df: pd.DataFrame, measure: str = "SMD", title: str | None = None):
    """Pooled effect under each prior of the grid (:func:`vfsynth.fits.sensitivity.prior_grid`).

    Rows whose P(benefit) is on the other side of 0.95 or 0.5 than the default prior's are
    drawn in red (the conclusion depends on the prior); right margin: P(benefit) and the
    posterior median of tau.
    """
    n = len(df)
    p = df["p_benefit"].to_numpy(float)
    p0 = p[0]
    flip = np.zeros(n, dtype=bool)
    for t in (0.5, 0.95):
        flip |= (p > t) != (p0 > t)
    colors = [SHRUNK if v == "default" else (HARM if f else OBS) for v, f in zip(df["varies"], flip, strict=True)]
    fig, ax = plt.subplots(figsize=(8.4, 1.3 + 0.32 * n))
    ys = _interval_rows(ax, list(df["prior"]), df["mu_low"].to_numpy(), df["mu_median"].to_numpy(),
                        df["mu_high"].to_numpy(), measure, colors=colors)
    for y, pb, tm in zip(ys, p, df["tau_median"], strict=True):
        ax.text(1.01, y, f"P(benefit) {pb:.3f}  tau~{tm:.2f}", transform=ax.get_yaxis_transform(), va="center", fontsize=7.5)
    ax.set_title(title or f"Prior sensitivity: {df.attrs.get('outcome', '')} ({df.attrs.get('timepoint', '')})", fontsize=10)
    ax.plot([], [], "o-", color=HARM, label="P(benefit) crosses 0.5 or 0.95 vs default")
    ax.plot([], [], "o-", color=SHRUNK, label="default prior")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.5 / (1 + 0.1 * n) - 0.1), ncol=2, frameon=False, fontsize=8)
    return fig


def pareto_k_plot(pointwise: pd.DataFrame, title: str = "Pareto k per study (leave-one-study-out PSIS)"):
    """Pareto k of every study under every model, with the 0.5 / 0.7 reliability lines.

    Studies whose PSIS value was replaced by an exact refit are drawn as open markers at
    their original k.
    """
    models = list(dict.fromkeys(pointwise["model"]))
    studies = list(dict.fromkeys(pointwise["study"]))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(studies) + 2), 3.6))
    x = np.arange(len(studies))
    width = 0.8 / max(len(models), 1)
    cmap = plt.get_cmap("tab10")
    for m, model in enumerate(models):
        sub = pointwise[pointwise["model"] == model].set_index("study").reindex(studies)
        xs = x + (m - (len(models) - 1) / 2) * width
        refit = sub["refit"].fillna(False).to_numpy(bool)
        k = sub["pareto_k"].to_numpy(float)
        ax.scatter(xs[~refit], k[~refit], color=cmap(m), s=22, label=model)
        if refit.any():
            ax.scatter(xs[refit], k[refit], facecolors="none", edgecolors=cmap(m), s=30)
    ax.axhline(0.7, color=HARM, lw=0.8, ls="--")
    ax.axhline(0.5, color="#999999", lw=0.8, ls=":")
    ax.text(1.0, 0.7, " 0.7: exact refit", transform=ax.get_yaxis_transform(), fontsize=7, va="bottom", color=HARM)
    ax.set_xticks(x)
    ax.set_xticklabels(studies, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("Pareto k")
    ax.legend(fontsize=8, frameon=False, ncol=min(len(models), 4))
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def comparison_plot(table: pd.DataFrame, title: str = "Leave-one-study-out elpd and stacking weights"):
    """elpd (± 2 se of the difference to the best model) and the stacking weight of each model."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.4, 1.2 + 0.45 * len(table)), gridspec_kw={"width_ratios": [3, 2]})
    names = list(table.index)
    ys = np.arange(len(names), 0, -1)
    a1.errorbar(table["elpd"], ys, xerr=2 * table["dse"].fillna(0), fmt="o", color=OBS, capsize=3)
    a1.set_yticks(ys)
    a1.set_yticklabels(names, fontsize=8)
    a1.set_xlabel("elpd (LOSO); bars: ± 2 se of difference to best")
    a2.barh(ys, table["weight"], color=BENEFIT)
    a2.set_yticks(ys)
    a2.set_yticklabels([])
    a2.set_xlim(0, 1)
    a2.set_xlabel("stacking weight")
    for ax in (a1, a2):
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(title, fontsize=10)
    return fig


def small_study_plot(df: pd.DataFrame, measure: str = "SMD", title: str | None = None):
    """Pooled effect unadjusted and under PET, PEESE, PET-PEESE and the selection model."""
    fig, ax = plt.subplots(figsize=(7.6, 1.3 + 0.36 * len(df)))
    ys = _interval_rows(ax, list(df["model"]), df["low"].to_numpy(), df["mean"].to_numpy(), df["high"].to_numpy(), measure,
                        colors=[SHRUNK] + [OBS] * (len(df) - 1))
    for y, p in zip(ys, df["p_benefit"], strict=True):
        ax.text(1.01, y, f"P(benefit) {p:.3f}", transform=ax.get_yaxis_transform(), va="center", fontsize=7.5)
    ax.set_title(title or f"Small-study effects: {df.attrs.get('outcome', '')} ({df.attrs.get('timepoint', '')})", fontsize=10)
    return fig


def moderator_plot(df: pd.DataFrame, title: str | None = None):
    """Posterior (mean, 95% interval) of each meta-regression coefficient / subgroup difference.

    Subgroup means and tau rows are left out (differences and slopes only); x is on the model
    scale (difference in SMD / log OR).
    """
    sub = df[~df["term"].str.startswith(("subgroup mean", "tau", "intercept", "not estimable"))]
    fig, ax = plt.subplots(figsize=(8.4, 1.2 + 0.32 * max(len(sub), 1)))
    if sub.empty:
        ax.text(0.5, 0.5, "no estimable moderator", ha="center", va="center")
        ax.set_axis_off()
        return fig
    labels = [f"{m}: {t}" if not t.startswith(m) else t for m, t in zip(sub["moderator"], sub["term"], strict=True)]
    _interval_rows(ax, labels, sub["low"].to_numpy(), sub["mean"].to_numpy(), sub["high"].to_numpy(), "SMD")
    ax.set_xlabel("coefficient (difference in effect; model scale)")
    ax.set_title(title or f"Moderators: {df.attrs.get('outcome', '')} ({df.attrs.get('timepoint', '')})", fontsize=10)
    return fig
