"""The pooled effect's posterior: density with P(benefit) shaded, and the exceedance curve."""

from __future__ import annotations

import numpy as np

from vfsynth.reports.draws import as_dataarray, flat, to_model_scale
from vfsynth.reports.figures._base import (
    BENEFIT,
    HARM,
    axis_label,
    disp,
    new_figure,
    null,
    tex_safe,
)


def density_plot(draws, measure: str, title: str = "Posterior of the pooled effect"):
    """Kernel density of the pooled effect with the benefit region (effect > 0) shaded.

    The density is ArviZ's (:func:`arviz_stats.kde`) on the model scale; the axis shows
    the display scale.

    Parameters
    ----------
    draws : DataArray or array of draws (model scale)
    measure : {"SMD", "logOR", "MD"}
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    import arviz_stats as azs

    da = as_dataarray(draws)
    kd = azs.kde(da)
    grid = np.asarray(kd.sel(plot_axis="x").values).ravel()
    dens = np.asarray(kd.sel(plot_axis="y").values).ravel()
    x = disp(measure, grid)
    p = float((flat(da) > 0).mean())
    fig, ax = new_figure((6.2, 3.0))
    ax.plot(x, dens, color="k", lw=1.2)
    ben = grid > 0
    ax.fill_between(x, 0, dens, where=ben, color=BENEFIT, alpha=0.35, label=f"P(benefit) = {p:.3f}")
    ax.fill_between(x, 0, dens, where=~ben, color=HARM, alpha=0.2, label=f"P(harm) = {1 - p:.3f}")
    ax.axvline(null(measure), color="k", lw=0.8, ls="--")
    if measure == "logOR":
        ax.set_xscale("log")
    ax.set_xlabel(axis_label(measure))
    ax.set_yticks([])
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(tex_safe(title), fontsize=10)
    ax.spines[["top", "right", "left"]].set_visible(False)
    return fig


def benefit_curve(draws, measure: str, mcid: tuple[float, ...] = (), prediction=None,
                  title: str = "Probability the effect exceeds a threshold"):
    """P(effect > t) against threshold t (display scale), with MCID thresholds marked.

    Parameters
    ----------
    draws : DataArray or array of draws of the pooled effect (model scale)
    measure : {"SMD", "logOR", "MD"}
    mcid : tuple of float
        Display-scale thresholds to mark.
    prediction : draws, optional
        Draws of the effect in a new study (dashed curve).
    title : str

    Returns
    -------
    matplotlib.figure.Figure
    """
    v = np.sort(flat(as_dataarray(draws)))
    lo, hi = np.quantile(v, [0.001, 0.999])
    if measure == "logOR":
        lo, hi = min(lo, -0.1), max(hi, 0.1)
    else:
        lo, hi = min(lo, -0.05), max(hi, 0.05)
    t = np.linspace(lo, hi, 300)
    p = 1 - np.searchsorted(v, t, side="right") / v.size
    fig, ax = new_figure((6.2, 3.0))
    ax.plot(disp(measure, t), p, color=BENEFIT, lw=1.6, label="pooled effect")
    if prediction is not None:
        w = np.sort(flat(as_dataarray(prediction)))
        ax.plot(disp(measure, t), 1 - np.searchsorted(w, t, side="right") / w.size, color="#7f7f7f", lw=1.2,
                ls="--", label="new study")
    for thr in (null(measure), *mcid):
        mt = to_model_scale(measure, thr)
        pv = float((v > mt).mean())
        ax.axvline(thr, color="k", lw=0.6, ls=":")
        ax.annotate(f"P(>{thr:g}) = {pv:.2f}", (thr, pv), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if measure == "logOR":
        ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(axis_label(measure).split(" (")[0] + " threshold")
    ax.set_ylabel("P(effect > threshold)")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(tex_safe(title), fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig
