"""Model-comparison figures from :func:`vfsynth.fits.compare.compare_models`."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd

from vfsynth.reports.figures._base import BENEFIT, HARM, OBS, new_figure, tex_safe


def pareto_k_plot(pointwise: pd.DataFrame, title: str = "Pareto k per study (leave-one-study-out PSIS)"):
    """Pareto k of every study under every model, with the 0.5 / 0.7 reliability lines.

    Studies whose PSIS value was replaced by an exact refit are drawn as open markers at
    their original k.

    Parameters
    ----------
    pointwise : DataFrame
        Columns ``model``, ``study``, ``pareto_k``, ``refit``.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    models = list(dict.fromkeys(pointwise["model"]))
    studies = list(dict.fromkeys(pointwise["study"]))
    fig, ax = new_figure((max(6.0, 0.45 * len(studies) + 2), 3.6))
    x = np.arange(len(studies))
    width = 0.8 / max(len(models), 1)
    cmap = matplotlib.colormaps["tab10"]
    for m, model in enumerate(models):
        sub = pointwise[pointwise["model"] == model].set_index("study").reindex(studies)
        xs = x + (m - (len(models) - 1) / 2) * width
        refit = sub["refit"].fillna(False).to_numpy(bool)
        k = sub["pareto_k"].to_numpy(float)
        ax.scatter(xs[~refit], k[~refit], color=cmap(m), s=22, label=tex_safe(model))
        if refit.any():
            ax.scatter(xs[refit], k[refit], facecolors="none", edgecolors=cmap(m), s=30)
    ax.axhline(0.7, color=HARM, lw=0.8, ls="--")
    ax.axhline(0.5, color="#999999", lw=0.8, ls=":")
    ax.text(1.0, 0.7, " 0.7: exact refit", transform=ax.get_yaxis_transform(), fontsize=7, va="bottom", color=HARM)
    ax.set_xticks(x)
    ax.set_xticklabels([tex_safe(s) for s in studies], rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("Pareto k")
    ax.legend(fontsize=8, frameon=False, ncol=min(len(models), 4))
    ax.set_title(tex_safe(title), fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def comparison_plot(table: pd.DataFrame, title: str = "Leave-one-study-out elpd and stacking weights"):
    """elpd (± 2 se of the difference to the best model) and the stacking weight of each model.

    Parameters
    ----------
    table : DataFrame
        Indexed by model, columns ``elpd``, ``dse``, ``weight``.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, (a1, a2) = new_figure((8.4, 1.2 + 0.45 * len(table)), 1, 2, gridspec_kw={"width_ratios": [3, 2]})
    names = [tex_safe(n) for n in table.index]
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
    fig.suptitle(tex_safe(title), fontsize=10)
    return fig
