"""Living-review figure: the cumulative pooled effect and P(benefit) as each study arrived.

Input is the table of :func:`vfsynth.fits.living.cumulative` (plain data).
"""

from __future__ import annotations

import numpy as np

from vfsynth.reports.figures._base import BENEFIT, OBS, SHRUNK, disp, new_figure, null, tex_safe


def plot_living(df, ax=None, *, measure: str | None = None, title: str | None = None, source=None):
    """Cumulative meta-analysis figure.

    Parameters
    ----------
    df : DataFrame
        :func:`vfsynth.fits.living.cumulative` output (``df.attrs["measure"]`` gives the scale).
    ax : matplotlib Axes or sequence of two Axes, optional
        ``None``: a new figure with two panels (pooled effect; P(benefit)). One Axes: the pooled
        effect panel with P(benefit) on a twin right-hand axis. Two Axes: the two panels.
    measure : str, optional
        Overrides ``df.attrs["measure"]``.
    source : SourceScale, optional
        Event measures: plot on the source's own measure and direction
        (:mod:`vfsynth.data.source_scale`; quantiles transform exactly, ends swap when turned round).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    measure = measure or df.attrs.get("measure", "")
    two_panels = ax is None or isinstance(ax, list | tuple | np.ndarray)
    if ax is None:
        fig, (ax_mu, ax_p) = new_figure((8, 6.5), 2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    elif two_panels:
        ax_mu, ax_p = ax[0], ax[1]
        fig = ax_mu.figure
    else:
        ax_mu, ax_p, fig = ax, ax.twinx(), ax.figure
    x = np.asarray(df["step"], dtype=float)
    labels = [tex_safe(f"{s} ({int(y)})" if np.isfinite(y) and str(int(y)) not in str(s) else s)
              for s, y in zip(df["study"], df["year"], strict=True)]
    events = source is not None and source.events

    def show(v):
        return np.asarray(source.shown(v), dtype=float) if events else disp(measure, v)

    lo, mid, hi = (show(df[c]) for c in ("mu_low", "mu_median", "mu_high"))
    if events:
        lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    ax_mu.fill_between(x, lo, hi, color=SHRUNK, alpha=0.2, lw=0, label="95% credible interval")
    ax_mu.plot(x, mid, color=SHRUNK, marker="o", ms=4, label="posterior median (exact NNHM)")
    dl, dlo, dhi = (show(df[c]) for c in ("dl_estimate", "dl_low", "dl_high"))
    if events:
        dlo, dhi = np.minimum(dlo, dhi), np.maximum(dlo, dhi)
    ax_mu.errorbar(x + 0.15, dl, yerr=[dl - dlo, dhi - dl], fmt="s", ms=3, color=OBS, lw=0.8, capsize=2,
                   label="DerSimonian–Laird 95% CI")
    ax_mu.axhline(source.null if events else null(measure), color="black", lw=0.8, ls=":")
    if (events and source.ratio) or (not events and measure == "logOR"):
        ax_mu.set_yscale("log")
    if events:
        ax_mu.set_ylabel(f"Pooled {source.display}\n({source.favours_side} favours intervention)")
    else:
        ax_mu.set_ylabel({"SMD": "Pooled SMD", "logOR": "Pooled odds ratio", "MD": "Pooled mean difference"}
                         .get(measure, "Pooled effect"))
    ax_mu.legend(loc="best", fontsize=8, frameon=False)
    ax_p.plot(x, df["p_benefit"], color=BENEFIT, marker=".", label="P(benefit)")
    for t in (0.5, 0.95):
        ax_p.axhline(t, color=BENEFIT, lw=0.6, ls="--")
    ax_p.set_ylim(0, 1)
    ax_p.set_ylabel("P(benefit)")
    bottom = ax_p if two_panels else ax_mu
    bottom.set_xticks(x)
    bottom.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    bottom.set_xlabel("Studies in order of publication (cumulative)")
    outcome = df.attrs.get("outcome", "")
    ax_mu.set_title(tex_safe(title or f"Cumulative meta-analysis{': ' + outcome if outcome else ''}"))
    fig.tight_layout()
    return fig
