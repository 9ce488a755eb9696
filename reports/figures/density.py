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


def _axis(measure: str, source):
    """(model -> axis values, null, log axis, label): the source's own reading for event measures
    (:class:`vfsynth.data.source_scale.SourceScale`), else the measure's display scale."""
    if source is not None and source.events:
        return (lambda v: np.asarray(source.shown(v), dtype=float)), source.null, source.ratio, source.axis_label
    return (lambda v: disp(measure, v)), null(measure), measure == "logOR", axis_label(measure)


def density_plot(draws, measure: str, title: str = "Posterior of the pooled effect", source=None):
    """Kernel density of the pooled effect with the benefit region (effect > 0) shaded.

    The density is ArviZ's (:func:`arviz_stats.kde`) on the model scale; the axis shows
    the display scale (for event measures the source's own, ``source``).

    Parameters
    ----------
    draws : DataArray or array of draws (model scale)
    measure : {"SMD", "logOR", "MD", ...}
    title : str
    source : SourceScale, optional
        The analysis's source reading (event measures: RR of the events as counted).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import arviz_stats as azs

    da = as_dataarray(draws)
    kd = azs.kde(da)
    grid = np.asarray(kd.sel(plot_axis="x").values).ravel()
    dens = np.asarray(kd.sel(plot_axis="y").values).ravel()
    show, null_value, xlog, xlabel = _axis(measure, source)
    x = show(grid)
    p = float((flat(da) > 0).mean())
    fig, ax = new_figure((6.2, 3.0))
    ax.plot(x, dens, color="k", lw=1.2)
    ben = grid > 0
    ax.fill_between(x, 0, dens, where=ben, color=BENEFIT, alpha=0.35, label=f"P(benefit) = {p:.3f}")
    ax.fill_between(x, 0, dens, where=~ben, color=HARM, alpha=0.2, label=f"P(harm) = {1 - p:.3f}")
    ax.axvline(null_value, color="k", lw=0.8, ls="--")
    if xlog:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_yticks([])
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(tex_safe(title), fontsize=10)
    ax.spines[["top", "right", "left"]].set_visible(False)
    return fig


def benefit_curve(draws, measure: str, mcid: tuple[float, ...] = (), prediction=None,
                  title: str = "Probability the effect exceeds a threshold", source=None):
    """P(effect > t) against threshold t (display scale), with MCID thresholds marked.

    For an event measure whose rows were turned round (``source.flip``: harmful events) the axis
    is the source's (RR of the events) and the curve is P(RR < t), the probability that the
    intervention is better than t: P(RR < t) = P(b > -log t) on the benefit scale b.

    Parameters
    ----------
    draws : DataArray or array of draws of the pooled effect (model scale)
    measure : {"SMD", "logOR", "MD"}
    mcid : tuple of float
        Display-scale thresholds to mark.
    prediction : draws, optional
        Draws of the effect in a new study (dashed curve).
    title : str
    source : SourceScale, optional
        The analysis's source reading (event measures).

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
    show, null_value, xlog, xlabel = _axis(measure, source)
    flip = source is not None and source.events and source.flip
    sign = "<" if flip else ">"
    fig, ax = new_figure((6.2, 3.0))
    ax.plot(show(t), p, color=BENEFIT, lw=1.6, label="pooled effect")
    if prediction is not None:
        w = np.sort(flat(as_dataarray(prediction)))
        ax.plot(show(t), 1 - np.searchsorted(w, t, side="right") / w.size, color="#7f7f7f", lw=1.2,
                ls="--", label="new study")
    for thr in (None, *mcid):
        mt = 0.0 if thr is None else to_model_scale(measure, thr)  # benefit-scale threshold
        at = float(show(mt))
        pv = float((v > mt).mean())
        ax.axvline(at, color="k", lw=0.6, ls=":")
        ax.annotate(f"P({sign}{at:.3g}) = {pv:.2f}", (at, pv), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if xlog:
        ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(xlabel.split(" (")[0] + " threshold")
    ax.set_ylabel(f"P(effect {sign} threshold)")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(tex_safe(title), fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig
