"""Mediation diagram: video feedback → parental sensitivity → attachment security."""

from __future__ import annotations

from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from vfsynth.reports.figures._base import new_figure, tex_safe


def mediation_diagram(
    paths: dict[str, tuple[float, float, float] | None],
    *,
    prior_only=(),
    labels: dict[str, str] | None = None,
    note: str = "",
):
    """Mediation diagram VF → sensitivity → attachment, annotated with posterior estimates.

    Parameters
    ----------
    paths : dict
        Maps "a" (VF → sensitivity), "b" (sensitivity → attachment), "c_prime" (direct
        VF → attachment) and "indirect" (a·b) to (median, low, high), or None where the path
        was not estimated.
    prior_only : iterable of str
        Keys whose quantity depends on an outcome without data: their numbers are the
        prior's, labelled "prior only", and their arrows are dashed.
    labels : dict, optional
        Box labels for "x", "m" and "y".
    note : str
        Small print under the diagram.

    Returns
    -------
    matplotlib.figure.Figure
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

    fig, ax = new_figure((7.4, 3.9))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6)
    ax.axis("off")
    boxes = {"x": (0.3, 0.9), "m": (3.9, 3.0), "y": (7.5, 0.9)}
    for key, (x0, y0) in boxes.items():
        ax.add_patch(FancyBboxPatch((x0, y0), 2.2, 1.1, boxstyle="round,pad=0.1", fc="#f0f0f0", ec="k"))
        ax.text(x0 + 1.1, y0 + 0.55, tex_safe(labels[key]), ha="center", va="center", fontsize=9)

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
        ax.text(5.0, 0.0, tex_safe(note), ha="center", va="bottom", fontsize=7, color="#555555")
    return fig
