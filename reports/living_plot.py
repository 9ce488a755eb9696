"""Former home of the living-review figure; it lives in :mod:`vfsynth.reports.figures.living`."""

from vfsynth.reports.figures.living import plot_living

__all__ = ["plot_living"]
