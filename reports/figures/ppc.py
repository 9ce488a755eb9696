"""Posterior predictive check of the study estimates."""

from __future__ import annotations

import numpy as np

from vfsynth.reports.draws import SAMPLE_DIMS
from vfsynth.reports.figures._base import HARM, SHRUNK, new_figure, tex_safe


def ppc_plot(dt, var: str = "y"):
    """Posterior predictive check: observed study estimates against replicated ones.

    For each study, the 50% and 95% intervals of the replicated estimate y_rep (posterior
    predictive) and the observed value; an observation outside its 95% band is flagged red.

    Parameters
    ----------
    dt : xarray.DataTree
        With ``posterior_predictive`` and ``observed_data`` groups holding ``var``.
    var : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    pp = dt["posterior_predictive"].dataset[var]
    obs = dt["observed_data"].dataset[var]
    dim = [d for d in pp.dims if d not in SAMPLE_DIMS][0]
    q = pp.quantile([0.025, 0.25, 0.5, 0.75, 0.975], dim=SAMPLE_DIMS)
    labels = [tex_safe(s) for s in pp.coords[dim].values]
    k = len(labels)
    fig, ax = new_figure((7.0, 0.9 + 0.3 * k))
    ys = np.arange(k)[::-1]
    for i, y in enumerate(ys):
        qq = q.isel({dim: i}).values
        ax.plot([qq[0], qq[4]], [y, y], color="#9ecae1", lw=2)
        ax.plot([qq[1], qq[3]], [y, y], color=SHRUNK, lw=4)
        o = float(obs.isel({dim: i}))
        ax.plot(o, y, "D", color=HARM if (o < qq[0] or o > qq[4]) else "k", ms=5)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("study estimate (model scale): replicated 50% / 95% and observed ◆")
    ax.set_title("Posterior predictive check", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig
