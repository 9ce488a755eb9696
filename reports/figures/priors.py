"""Prior against posterior densities of the pooled effect and heterogeneity."""

from __future__ import annotations

from vfsynth.reports.figures._base import arviz_figure


def prior_posterior_plot(dt, var_names=("mu", "tau")):
    """Prior against posterior densities, from ``arviz_plots.plot_prior_posterior``.

    Parameters
    ----------
    dt : xarray.DataTree
        Needs a ``prior`` group.
    var_names : sequence of str
        Drawn where both prior and posterior hold them.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = [v for v in var_names if v in dt["posterior"].dataset.data_vars and v in dt["prior"].dataset.data_vars]
    return arviz_figure("plot_prior_posterior", dt, names, (7.0, 2.6))
