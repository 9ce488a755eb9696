"""Figures for the report (matplotlib, Agg backend; ArviZ's arviz_plots where it fits).

Every function returns a :class:`matplotlib.figure.Figure`; :func:`to_data_uri` turns it into a
``data:image/png;base64,...`` URI so the HTML report is self-contained, and closes it.
Effects are drawn on the display scale (odds ratios on a log axis for binary outcomes).
"""

from __future__ import annotations

import base64
import io
import math

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Polygon  # noqa: E402

from vfsynth.reports import summaries as S  # noqa: E402

BENEFIT = "#1b7837"
HARM = "#b2182b"
OBS = "#404040"
SHRUNK = "#2166ac"
DPI = 96


def to_data_uri(fig, dpi: int = DPI) -> str:
    """PNG-encode ``fig`` as a base64 data URI and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def to_png_bytes(fig, dpi: int = DPI) -> bytes:
    """PNG bytes of ``fig`` (for Markdown side files); closes it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _axis_label(measure: str) -> str:
    return {"SMD": "Standardised mean difference (> 0 favours intervention)",
            "logOR": "Odds ratio (> 1 favours intervention)",
            "MD": "Mean difference (> 0 favours intervention)"}.get(measure, measure)


def _disp(measure, x):
    return S.to_display_scale(measure, np.asarray(x, dtype=float))


def _null(measure) -> float:
    return 1.0 if measure == "logOR" else 0.0


# ----------------------------------------------------------------------------------------------
def forest_plot(summary: S.AnalysisSummary, title: str | None = None):
    """Forest plot: observed estimate ± CI, shrunken estimate, weight, pooled diamond, PI.

    Observed intervals are estimate ± z·se (normal approximation); shrunken estimates are the
    posterior medians and intervals of theta_i; the diamond spans the pooled credible interval
    and the bar under it the prediction interval for a new study.
    """
    df = summary.studies
    m = summary.measure
    k = len(df)
    h = 1.6 + 0.34 * (k + 3)
    fig, ax = plt.subplots(figsize=(8.2, h))
    ys = np.arange(k, 0, -1) + 2.0
    for y, (_, r) in zip(ys, df.iterrows(), strict=True):
        lo, est, hi = _disp(m, [r.obs_low, r.estimate, r.obs_high])
        ax.plot([lo, hi], [y + 0.12] * 2, color=OBS, lw=1.2)
        size = 4 + 10 * math.sqrt(max(r.weight, 0) / 100)
        ax.plot(est, y + 0.12, "s", color=OBS, ms=size, label="_obs")
        if np.isfinite(r.shrunk_median):
            slo, smed, shi = _disp(m, [r.shrunk_low, r.shrunk_median, r.shrunk_high])
            ax.plot([slo, shi], [y - 0.14] * 2, color=SHRUNK, lw=1.2, alpha=0.9)
            ax.plot(smed, y - 0.14, "o", color=SHRUNK, ms=4)
    e = summary.effect
    lo, med, hi = _disp(m, [e.ci_low, e.median, e.ci_high])
    ax.add_patch(Polygon([[lo, 1.3], [med, 1.6], [hi, 1.3], [med, 1.0]], closed=True, color=BENEFIT if e.p_benefit > 0.5 else HARM))
    p = summary.prediction
    plo, phi = _disp(m, [p.ci_low, p.ci_high])
    ax.plot([plo, phi], [0.45, 0.45], color="#7f7f7f", lw=3, solid_capstyle="butt")
    ax.axvline(_null(m), color="k", lw=0.8, ls="--")
    labels = [f"{s}  ({w:.0f}%)" for s, w in zip(df["study"], df["weight"], strict=True)]
    ax.set_yticks(list(ys) + [1.3, 0.45])
    ax.set_yticklabels(labels + [f"Pooled ({e.prob:.0%} CrI)", "Prediction (new study)"])
    ax.set_ylim(0, k + 3)
    if m == "logOR":
        ax.set_xscale("log")
    ax.set_xlabel(_axis_label(m))
    ax.plot([], [], "s-", color=OBS, label="observed (95% CI); box ∝ weight")
    ax.plot([], [], "o-", color=SHRUNK, label="shrunken (posterior)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.6 / h), ncol=2, frameon=False, fontsize=8)
    ax.set_title(title or f"{summary.outcome} ({summary.timepoint}) — {summary.model}", fontsize=10)
    ax.text(1.01, 1.3, f"{med:.2f} [{lo:.2f}, {hi:.2f}]", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
    ax.text(1.01, 0.45, f"[{plo:.2f}, {phi:.2f}]", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def density_plot(draws, measure: str, title: str = "Posterior of the pooled effect"):
    """Kernel density of the pooled effect with the benefit region (effect > 0) shaded.

    The density is ArviZ's (:func:`arviz_stats.kde`) on the model scale; the axis shows
    the display scale.
    """
    import arviz_stats as azs

    da = S.as_dataarray(draws)
    kd = azs.kde(da)
    grid = np.asarray(kd.sel(plot_axis="x").values).ravel()
    dens = np.asarray(kd.sel(plot_axis="y").values).ravel()
    x = _disp(measure, grid)
    p = float((S.flat(da) > 0).mean())
    fig, ax = plt.subplots(figsize=(6.2, 3.0))
    ax.plot(x, dens, color="k", lw=1.2)
    ben = grid > 0
    ax.fill_between(x, 0, dens, where=ben, color=BENEFIT, alpha=0.35, label=f"P(benefit) = {p:.3f}")
    ax.fill_between(x, 0, dens, where=~ben, color=HARM, alpha=0.2, label=f"P(harm) = {1 - p:.3f}")
    ax.axvline(_null(measure), color="k", lw=0.8, ls="--")
    if measure == "logOR":
        ax.set_xscale("log")
    ax.set_xlabel(_axis_label(measure))
    ax.set_yticks([])
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right", "left"]].set_visible(False)
    return fig


def benefit_curve(draws, measure: str, mcid: tuple[float, ...] = (), prediction=None, title: str = "Probability the effect exceeds a threshold"):
    """P(effect > t) against threshold t (display scale), with MCID thresholds marked."""
    v = np.sort(S.flat(S.as_dataarray(draws)))
    lo, hi = np.quantile(v, [0.001, 0.999])
    if measure == "logOR":
        lo, hi = min(lo, -0.1), max(hi, 0.1)
    else:
        lo, hi = min(lo, -0.05), max(hi, 0.05)
    t = np.linspace(lo, hi, 300)
    p = 1 - np.searchsorted(v, t, side="right") / v.size
    fig, ax = plt.subplots(figsize=(6.2, 3.0))
    ax.plot(_disp(measure, t), p, color=BENEFIT, lw=1.6, label="pooled effect")
    if prediction is not None:
        w = np.sort(S.flat(S.as_dataarray(prediction)))
        ax.plot(_disp(measure, t), 1 - np.searchsorted(w, t, side="right") / w.size, color="#7f7f7f", lw=1.2, ls="--", label="new study")
    for thr in (_null(measure), *mcid):
        mt = S.to_model_scale(measure, thr)
        pv = float((v > mt).mean())
        ax.axvline(thr, color="k", lw=0.6, ls=":")
        ax.annotate(f"P(>{thr:g}) = {pv:.2f}", (thr, pv), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if measure == "logOR":
        ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(_axis_label(measure).split(" (")[0] + " threshold")
    ax.set_ylabel("P(effect > threshold)")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def mediation_diagram(
    paths: dict[str, tuple[float, float, float] | None],
    *,
    prior_only=(),
    labels: dict[str, str] | None = None,
    note: str = "",
):
    """Mediation diagram VF → sensitivity → attachment, annotated with posterior estimates.

    ``paths`` maps "a" (VF → sensitivity), "b" (sensitivity → attachment), "c_prime"
    (direct VF → attachment) and "indirect" (a·b) to (median, low, high), or None where the
    path was not estimated. Keys in ``prior_only`` depend on an outcome without data: their
    numbers are the prior's, labelled "prior only", and their arrows are dashed.
    """
    labels = {"x": "Video feedback", "m": "Parental\nsensitivity", "y": "Attachment\nsecurity", **(labels or {})}
    prior_only = set(prior_only)

    def txt(key, name):
        v = paths.get(key)
        if v is None:
            return f"{name}: prior only"
        if key in prior_only:
            return f"{name}: prior only\n(prior [{v[1]:.2f}, {v[2]:.2f}])"
        return f"{name} = {v[0]:.2f}\n[{v[1]:.2f}, {v[2]:.2f}]"

    fig, ax = plt.subplots(figsize=(7.4, 3.9))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6)
    ax.axis("off")
    boxes = {"x": (0.3, 0.9), "m": (3.9, 3.0), "y": (7.5, 0.9)}
    for key, (x0, y0) in boxes.items():
        ax.add_patch(FancyBboxPatch((x0, y0), 2.2, 1.1, boxstyle="round,pad=0.1", fc="#f0f0f0", ec="k"))
        ax.text(x0 + 1.1, y0 + 0.55, labels[key], ha="center", va="center", fontsize=9)

    def arrow(p0, p1, key, name, off):
        dashed = paths.get(key) is None or key in prior_only
        ax.add_patch(FancyArrowPatch(p0, p1, arrowstyle="-|>", mutation_scale=14, lw=1.3,
                                     ls="--" if dashed else "-", color="#777777" if dashed else "k"))
        ax.text((p0[0] + p1[0]) / 2 + off[0], (p0[1] + p1[1]) / 2 + off[1], txt(key, name), ha="center", va="center",
                fontsize=8, color="#555555" if dashed else "k")

    arrow((1.6, 2.1), (4.3, 3.0), "a", "a", (-1.1, 0.35))
    arrow((6.1, 3.0), (8.6, 2.1), "b", "b", (1.1, 0.35))
    arrow((2.6, 1.45), (7.4, 1.45), "c_prime", "c′ (direct)", (0, -0.6))
    ind_dashed = paths.get("indirect") is None or "indirect" in prior_only
    ax.text(5.0, 5.95, txt("indirect", "indirect a·b"), ha="center", va="top", fontsize=9,
            color="#555555" if ind_dashed else "k", bbox=dict(boxstyle="round", fc="#fff7e6", ec="#d08c00"))
    if note:
        ax.text(5.0, 0.0, note, ha="center", va="bottom", fontsize=7, color="#555555")
    return fig


def ppc_plot(dt: xr.DataTree, var: str = "y"):
    """Posterior predictive check: observed study estimates against replicated ones.

    For each study, the 50% and 95% intervals of the replicated estimate y_rep (posterior
    predictive) and the observed value; an observation outside its 95% band is flagged red.
    """
    pp = dt["posterior_predictive"].dataset[var]
    obs = dt["observed_data"].dataset[var]
    dim = [d for d in pp.dims if d not in S.SAMPLE_DIMS][0]
    q = pp.quantile([0.025, 0.25, 0.5, 0.75, 0.975], dim=S.SAMPLE_DIMS)
    labels = [str(s) for s in pp.coords[dim].values]
    k = len(labels)
    fig, ax = plt.subplots(figsize=(7.0, 0.9 + 0.3 * k))
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


def rank_plot(dt: xr.DataTree, var_names=("mu", "tau")):
    """Rank (fractional-rank ECDF) plot per chain, from arviz_plots.plot_rank."""
    import arviz_plots as azp

    names = [v for v in var_names if v in dt["posterior"].dataset.data_vars]
    pc = azp.plot_rank(dt, var_names=names, backend="matplotlib", figure_kwargs={"figsize": (7.0, 2.6)})
    return pc.get_viz("figure")


def trace_plot(dt: xr.DataTree, var_names=("mu", "tau")):
    """Trace plot per chain, from arviz_plots.plot_trace."""
    import arviz_plots as azp

    names = [v for v in var_names if v in dt["posterior"].dataset.data_vars]
    pc = azp.plot_trace(dt, var_names=names, backend="matplotlib", figure_kwargs={"figsize": (7.0, 1.0 + 1.4 * len(names))})
    return pc.get_viz("figure")


def prior_posterior_plot(dt: xr.DataTree, var_names=("mu", "tau")):
    """Prior against posterior densities, from arviz_plots.plot_prior_posterior (needs a prior group)."""
    import arviz_plots as azp

    names = [v for v in var_names if v in dt["posterior"].dataset.data_vars and v in dt["prior"].dataset.data_vars]
    pc = azp.plot_prior_posterior(dt, var_names=names, backend="matplotlib", figure_kwargs={"figsize": (7.0, 2.6)})
    return pc.get_viz("figure")
