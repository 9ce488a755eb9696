"""Shared conventions of the report's figures: colours, display scale, PNG encoding.

Figures are plain :class:`matplotlib.figure.Figure` objects rendered through the Agg canvas,
so nothing here imports :mod:`matplotlib.pyplot` or selects a backend: importing a figure
module never changes a user's matplotlib state.
"""

from __future__ import annotations

import base64
import io
import sys

import numpy as np
from matplotlib.figure import Figure

BENEFIT = "#1b7837"
HARM = "#b2182b"
OBS = "#404040"
SHRUNK = "#2166ac"
DPI = 96


def new_figure(figsize: tuple[float, float], nrows: int = 1, ncols: int = 1, **subplot_kw):
    """A pyplot-free Figure and its Axes (``Figure.subplots`` semantics).

    Parameters
    ----------
    figsize : (float, float)
        Width and height in inches.
    nrows, ncols : int
        Grid of Axes.
    **subplot_kw
        Passed to :meth:`matplotlib.figure.Figure.subplots` (``sharex``, ``gridspec_kw``, ...).

    Returns
    -------
    (Figure, Axes or array of Axes)
    """
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **subplot_kw)


def tex_safe(text) -> str:
    """``text`` with every ``$`` escaped, so matplotlib never renders a name as mathtext.

    Study and outcome names come from users' CSVs; a name such as ``$x$`` must appear
    literally, not as an italic x.
    """
    return str(text).replace("\\$", "$").replace("$", "\\$")


def _release(fig) -> None:
    # Figures made by arviz_plots go through pyplot, which keeps a reference to them until
    # closed; ours never touch pyplot, and importing it here would defeat that.
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close(fig)


def to_png_bytes(fig, dpi: int = DPI) -> bytes:
    """PNG bytes of ``fig`` (for Markdown side files); releases the figure.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    dpi : int

    Returns
    -------
    bytes
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    _release(fig)
    return buf.getvalue()


def to_data_uri(fig, dpi: int = DPI) -> str:
    """``data:image/png;base64,...`` URI of ``fig`` (self-contained HTML); releases it."""
    return "data:image/png;base64," + base64.b64encode(to_png_bytes(fig, dpi)).decode("ascii")


def axis_label(measure: str) -> str:
    """x-axis label of an effect on the display scale."""
    return {"SMD": "Standardised mean difference (> 0 favours intervention)",
            "logOR": "Odds ratio (> 1 favours intervention)",
            "MD": "Mean difference (> 0 favours intervention)"}.get(measure, measure)


def disp(measure: str, x) -> np.ndarray:
    """Model-scale values -> display scale (odds ratios for log-OR outcomes)."""
    x = np.asarray(x, dtype=float)
    return np.exp(x) if measure == "logOR" else x


def null(measure: str) -> float:
    """The no-effect value on the display scale."""
    return 1.0 if measure == "logOR" else 0.0


def arviz_figure(plot_name: str, dt, var_names, figsize: tuple[float, float]):
    """A figure from ``arviz_plots.<plot_name>`` (matplotlib backend), for the chosen variables.

    arviz_plots draws through pyplot. When nothing has imported pyplot yet, the Agg backend
    is selected here, at render time, so that a report built without a display never tries
    an interactive one; a session that already chose a backend keeps it.
    """
    if "matplotlib.pyplot" not in sys.modules:
        import matplotlib

        matplotlib.use("Agg")
    import arviz_plots as azp

    pc = getattr(azp, plot_name)(dt, var_names=list(var_names), backend="matplotlib",
                                 figure_kwargs={"figsize": figsize})
    return pc.get_viz("figure")
