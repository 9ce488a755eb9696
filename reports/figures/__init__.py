"""The report's figures, one module per figure family.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (see
:mod:`vfsynth.reports.figures._base`); :func:`to_png_bytes` / :func:`to_data_uri` encode it.
Names from users' data are escaped so that matplotlib never reads them as mathtext.
"""

from vfsynth.reports.figures._base import (
    BENEFIT,
    DPI,
    HARM,
    OBS,
    SHRUNK,
    axis_label,
    disp,
    new_figure,
    null,
    tex_safe,
    to_data_uri,
    to_png_bytes,
)
from vfsynth.reports.figures.comparison import comparison_plot, pareto_k_plot
from vfsynth.reports.figures.density import benefit_curve, density_plot
from vfsynth.reports.figures.forest import forest_plot
from vfsynth.reports.figures.living import plot_living
from vfsynth.reports.figures.mediation import mediation_diagram
from vfsynth.reports.figures.ppc import ppc_plot
from vfsynth.reports.figures.priors import prior_posterior_plot
from vfsynth.reports.figures.sensitivity import (
    influence_plot,
    moderator_plot,
    prior_grid_plot,
    small_study_plot,
)
from vfsynth.reports.figures.trace import rank_plot, trace_plot

__all__ = [
    "BENEFIT", "DPI", "HARM", "OBS", "SHRUNK", "axis_label", "benefit_curve", "comparison_plot", "density_plot",
    "disp", "forest_plot", "influence_plot", "mediation_diagram", "moderator_plot", "new_figure", "null",
    "pareto_k_plot", "plot_living", "ppc_plot", "prior_grid_plot", "prior_posterior_plot", "rank_plot",
    "small_study_plot", "tex_safe", "to_data_uri", "to_png_bytes", "trace_plot",
]
