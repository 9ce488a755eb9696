"""Convergence figures per chain: rank plots and trace plots (arviz_plots)."""

from __future__ import annotations

from vfsynth.reports.figures._base import arviz_figure


def _present(dt, var_names) -> list[str]:
    return [v for v in var_names if v in dt["posterior"].dataset.data_vars]


def rank_plot(dt, var_names=("mu", "tau")):
    """Rank (fractional-rank ECDF) plot per chain, from ``arviz_plots.plot_rank``.

    Parameters
    ----------
    dt : xarray.DataTree
    var_names : sequence of str
        Variables drawn where the posterior has them.

    Returns
    -------
    matplotlib.figure.Figure
    """
    return arviz_figure("plot_rank", dt, _present(dt, var_names), (7.0, 2.6))


def trace_plot(dt, var_names=("mu", "tau")):
    """Trace plot per chain, from ``arviz_plots.plot_trace`` (parameters as :func:`rank_plot`)."""
    names = _present(dt, var_names)
    return arviz_figure("plot_trace", dt, names, (7.0, 1.0 + 1.4 * len(names)))
