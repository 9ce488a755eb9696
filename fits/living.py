"""Living review: the cumulative analysis as each study arrived (by publication year).

For every prefix of the studies ordered by publication year (ties by study label), the exact
NNHM posterior (:func:`vfsynth.fits.exact.nnhm_exact`, numerical integration; milliseconds per
step) gives the pooled effect's posterior mean, SD and 95% credible interval, ``P(benefit) =
P(mu > 0)`` (estimates are on the benefit scale) and the heterogeneity tau; the
DerSimonian–Laird estimate (:func:`vfsynth.data.pooling.pool`) is added as the frequentist
cumulative meta-analysis (Lau et al. 1992, *N Engl J Med* 327:248–254).

The table is plain data for the report layer (plot: :func:`vfsynth.reports.living_plot.plot_living`).
Cumulative Bayesian analyses are coherent under repeated looks (the posterior does not depend on
the stopping rule), but crossings of P(benefit) thresholds over time are descriptive, not tests.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from vfsynth.data.effect_table import EffectTable

COLUMNS = ("step", "study", "year", "k", "mu_mean", "mu_sd", "mu_low", "mu_median", "mu_high", "p_benefit",
           "tau_median", "tau_low", "tau_high", "dl_estimate", "dl_low", "dl_high", "dl_tau2", "crossed")


def arrival_order(table: EffectTable, missing_year: str = "error") -> list[int]:
    """Indices of the studies by publication year, then label.

    ``missing_year``: ``"error"`` (default) refuses studies without a year, naming them;
    ``"last"`` puts them at the end (their position is then arbitrary and says so in ``year``)."""
    yrs = np.asarray(table.year, dtype=float)
    missing = [s for s, y in zip(table.study, yrs, strict=True) if not math.isfinite(y)]
    if missing and missing_year == "error":
        raise ValueError(f"{table.outcome}/{table.timepoint}: no publication year for {missing}; "
                         "a living-review table needs the order in which studies arrived")
    key = [(y if math.isfinite(y) else math.inf, s) for s, y in zip(table.study, yrs, strict=True)]
    return sorted(range(table.k), key=lambda i: key[i])


def cumulative(table: EffectTable, *, tau_prior=None, mu_prior=None, level: float = 0.95,
               missing_year: str = "error", thresholds=(0.5, 0.95)) -> pd.DataFrame:
    """Cumulative analysis table, one row per study added (see module doc).

    Parameters
    ----------
    table : EffectTable
    tau_prior, mu_prior : Prior, optional
        Defaults: :func:`vfsynth.models.priors.default_tau_prior` /
        :func:`~vfsynth.models.priors.default_mu_prior` for the table's measure (``flat`` mu
        for MD is passed as ``None``, i.e. flat, to the exact engine).
    thresholds : tuple of float
        ``crossed`` lists the P(benefit) thresholds crossed (either way) at that step.

    Returns
    -------
    DataFrame with columns :data:`COLUMNS`.
    """
    from vfsynth.data.pooling import pool
    from vfsynth.fits.exact import nnhm_exact
    from vfsynth.models import priors as P

    if getattr(table, "multilevel", False):  # one study's estimates are not independent studies
        from vfsynth.models.spec import ModelSpecError

        raise ModelSpecError(f"{table.outcome}/{table.timepoint}: several estimates per study (es_id); the "
                             "cumulative analysis is two-level only")
    tau_prior, mu_prior = P.resolve_priors(table, "random-effects", tau_prior, mu_prior)
    if getattr(mu_prior, "family", None) == "flat":
        mu_prior = None
    a = (1 - level) / 2
    qs = (a, 0.5, 1 - a)
    order = arrival_order(table, missing_year)
    rows = []
    prev_p = None
    for step, i in enumerate(order, start=1):
        idx = order[:step]
        y, se = table.estimate[idx], table.se[idx]
        ep = nnhm_exact(y, se, tau_prior=tau_prior, mu_prior=mu_prior, labels=[table.study[j] for j in idx])
        q = np.asarray(ep.mu_quantiles(qs), dtype=float)
        tq = np.asarray(ep.tau_quantiles(qs), dtype=float)
        p = float(ep.prob_mu_greater(0.0))
        dl = pool(y, se**2, method="DL" if step > 1 else "FE", level=level)
        crossed = [f"{t:g}" for t in thresholds if prev_p is not None and (prev_p > t) != (p > t)]
        prev_p = p
        rows.append({
            "step": step, "study": table.study[i], "year": float(table.year[i]), "k": step,
            "mu_mean": float(ep.mu_mean), "mu_sd": float(ep.mu_sd), "mu_low": float(q[0]), "mu_median": float(q[1]),
            "mu_high": float(q[2]), "p_benefit": p, "tau_median": float(tq[1]), "tau_low": float(tq[0]),
            "tau_high": float(tq[2]), "dl_estimate": float(dl.estimate), "dl_low": float(dl.ci_low),
            "dl_high": float(dl.ci_high), "dl_tau2": float(dl.tau2), "crossed": ",".join(crossed),
        })
    df = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    df.attrs.update(outcome=table.outcome, timepoint=table.timepoint, measure=table.measure, level=level,
                    tau_prior=tau_prior.spec if hasattr(tau_prior, "spec") else str(tau_prior),
                    mu_prior=mu_prior.spec if mu_prior is not None else "flat")
    return df


def by_year(df: pd.DataFrame) -> pd.DataFrame:
    """Keep the last row of each publication year (the state of evidence at the end of that year)."""
    return df.groupby("year", sort=True, dropna=False).tail(1).reset_index(drop=True)
