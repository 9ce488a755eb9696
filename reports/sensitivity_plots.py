"""Former home of the comparison and sensitivity figures; they live in
:mod:`vfsynth.reports.figures.comparison` and :mod:`vfsynth.reports.figures.sensitivity`.

Kept so that ``vfsynth compare`` / ``vfsynth sensitivity`` keep their imports.
"""

from vfsynth.reports.figures.comparison import comparison_plot, pareto_k_plot
from vfsynth.reports.figures.sensitivity import (
           influence_plot,
           moderator_plot,
           prior_grid_plot,
           small_study_plot,
)

__all__ = ["comparison_plot", "influence_plot", "moderator_plot", "pareto_k_plot", "prior_grid_plot",
           "small_study_plot"]
