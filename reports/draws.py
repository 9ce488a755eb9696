"""Posterior draws of a fit: access, flattening, credible intervals, probabilities, scales.

Interval estimates come from :mod:`arviz_stats` (``eti`` / ``hdi``); posterior probabilities
are Monte Carlo means of indicator functions over all draws, with their Monte Carlo standard
error ``sqrt(p (1 - p) / ESS)`` where ESS is the effective sample size of the indicator
(Vehtari et al. 2021, *Bayesian Analysis* 16:667).
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from vfsynth.data.measures import MEASURES, from_display

SAMPLE_DIMS = ("chain", "draw")


def posterior_var(dt: xr.DataTree, var: str, group: str = "posterior") -> xr.DataArray:
    """Return variable ``var`` of ``group`` as a DataArray (raises a clear KeyError)."""
    if group not in dt.children:
        raise KeyError(f"the fit has no {group!r} group (groups: {sorted(dt.children)})")
    ds = dt[group].dataset if hasattr(dt[group], "dataset") else dt[group]
    if var not in ds.data_vars:
        raise KeyError(f"{group!r} has no variable {var!r} (has {sorted(ds.data_vars)})")
    return ds[var]


def as_dataarray(x: np.ndarray | xr.DataArray) -> xr.DataArray:
    """Wrap a 1-d numpy array of draws as a (chain=1, draw) DataArray for arviz_stats."""
    if isinstance(x, xr.DataArray):
        return x
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"expected draws shaped (draw,) or (chain, draw), got {x.shape}")
    return xr.DataArray(x, dims=SAMPLE_DIMS, name="x")


def flat(x: np.ndarray | xr.DataArray) -> np.ndarray:
    """All draws of a scalar quantity as one flat numpy array (chains concatenated)."""
    if isinstance(x, xr.DataArray):
        extra = [d for d in x.dims if d not in SAMPLE_DIMS]
        if extra:
            raise ValueError(f"flat() needs a scalar quantity, {x.name} has dims {extra}")
        return x.transpose(*[d for d in SAMPLE_DIMS if d in x.dims]).values.reshape(-1)
    return np.asarray(x, dtype=float).reshape(-1)


def interval(
    x: np.ndarray | xr.DataArray, prob: float = 0.95, kind: str = "eti"
) -> tuple[float, float] | xr.DataArray:
    """Credible interval of the draws ``x`` via :func:`arviz_stats.eti` or :func:`arviz_stats.hdi`.

    ``kind="eti"`` (default) is the equal-tailed interval (posterior quantiles
    ``(1 - prob) / 2`` and ``(1 + prob) / 2``); ``kind="hdi"`` the highest-density interval.
    Returns ``(low, high)`` for a scalar quantity, else a DataArray with a ``ci_bound`` dim.
    """
    import arviz_stats as azs

    da = as_dataarray(x)
    if kind == "eti":
        out = azs.eti(da, prob=prob)
    elif kind == "hdi":
        out = azs.hdi(da, prob=prob)
    else:
        raise ValueError(f"interval kind must be 'eti' or 'hdi', got {kind!r}")
    if out.ndim == 1:
        return float(out.sel(ci_bound="lower")), float(out.sel(ci_bound="upper"))
    return out


def probability(indicator: np.ndarray | xr.DataArray) -> tuple[float, float]:
    """Posterior probability as the mean of an indicator over draws, with its MCSE.

    MCSE = sqrt(p (1 - p) / ESS), ESS the bulk effective sample size of the indicator
    (:func:`arviz_stats.ess`); for independent draws this is the binomial standard error.
    """
    import arviz_stats as azs

    da = as_dataarray(indicator).astype(float)
    p = float(da.mean())
    if p in (0.0, 1.0):
        return p, 0.0
    ess = float(azs.ess(da, method="mean"))
    return p, math.sqrt(p * (1 - p) / max(ess, 1.0))


# ----------------------------------------------------------------------------------------------
# scales
# ----------------------------------------------------------------------------------------------
def display_scale(measure: str) -> str:
    """Name of the scale effects are shown on (:data:`vfsynth.data.measures.MEASURES`): OR for
    logOR, RR for logRR, IRR for logIRR, r for Fisher z, proportion for PLO, else the measure."""
    info = MEASURES.get(measure)
    return info.display if info is not None else measure


def to_model_scale(measure: str, value: float) -> float:
    """Display-scale value (OR for logOR, ...) -> model scale (log OR, ...)."""
    return float(from_display(measure, value))


def to_display_scale(measure: str, value):
    """Model-scale value(s) -> display scale (exp for log ratios, tanh for Fisher z, expit for
    logits); ufuncs, so DataArrays keep their coordinates."""
    info = MEASURES.get(measure)
    transform = info.transform if info is not None else "identity"
    if transform == "exp":
        return np.exp(value)
    if transform == "tanh":
        return np.tanh(value)
    if transform == "expit":
        return 1.0 / (1.0 + np.exp(-value))
    return value
