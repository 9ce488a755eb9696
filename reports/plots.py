"""Former home of the report's figures; they live in :mod:`vfsynth.reports.figures`.

Kept so that ``vfsynth compare`` / ``vfsynth sensitivity`` and user code importing
``vfsynth.reports.plots`` keep working.
"""

from vfsynth.reports.figures import (
    BENEFIT,
    DPI,
    HARM,
    OBS,
    SHRUNK,
    benefit_curve,
    density_plot,
    forest_plot,
    mediation_diagram,
    ppc_plot,
    prior_posterior_plot,
    rank_plot,
    to_data_uri,
    to_png_bytes,
    trace_plot,
)

__all__ = [
    "BENEFIT", "DPI", "HARM", "OBS", "SHRUNK", "benefit_curve", "density_plot", "forest_plot", "mediation_diagram",
    "ppc_plot", "prior_posterior_plot", "rank_plot", "to_data_uri", "to_png_bytes", "trace_plot",
]
