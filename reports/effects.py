"""Summaries of the pooled effect, the effect in a new study, heterogeneity and the studies.

Estimates are on the benefit scale (positive favours the intervention), so "benefit" always
means ``effect > 0``.

References
----------
Higgins JPT, Thompson SG. Quantifying heterogeneity in a meta-analysis. *Stat Med* 2002;21:1539-58
(the "typical" within-study variance s² and I² = tau² / (tau² + s²)).
Riley RD, Higgins JPT, Deeks JJ. Interpretation of random effects meta-analyses. *BMJ* 2011;342:d549
(prediction interval for the effect in a new study).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from vfsynth.reports.draws import (
    SAMPLE_DIMS,
    as_dataarray,
    flat,
    interval,
    probability,
    to_display_scale,
    to_model_scale,
)

#: Default minimal clinically important differences on the *display* scale
#: (SMD units; odds ratio for binary outcomes). Conventional small / medium SMD (Cohen 1988)
#: and OR 1.25 (a common GRADE default for a relative effect).
DEFAULT_MCID: dict[str, tuple[float, ...]] = {"SMD": (0.2, 0.5), "logOR": (1.25,), "MD": ()}
#: Default regions of practical equivalence (display scale). None = not defined for the measure.
DEFAULT_ROPE: dict[str, tuple[float, float] | None] = {
    "SMD": (-0.1, 0.1),
    "logOR": (1 / 1.1, 1.1),
    "MD": None,
}



# ----------------------------------------------------------------------------------------------
# effect summaries
# ----------------------------------------------------------------------------------------------
@dataclass
class EffectSummary:
    """Posterior summary of one scalar effect (model scale unless ``display`` says otherwise).

    ``p_benefit`` = P(effect > 0); ``p_mcid[t]`` = P(effect > t) for display-scale threshold t
    (OR thresholds compared as log(t)); ``p_rope`` = P(effect inside the ROPE).
    """

    label: str
    measure: str
    median: float
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    prob: float
    ci_kind: str
    p_benefit: float
    p_benefit_mcse: float
    p_mcid: dict[float, float] = field(default_factory=dict)
    rope: tuple[float, float] | None = None
    p_rope: float | None = None
    n_draws: int = 0

    def display(self) -> dict[str, float]:
        """Median and interval on the display scale (OR for logOR)."""
        f = lambda v: float(to_display_scale(self.measure, v))  # noqa: E731
        return {"median": f(self.median), "ci_low": f(self.ci_low), "ci_high": f(self.ci_high)}

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "p_mcid"}
        d["p_mcid"] = {str(k): v for k, v in self.p_mcid.items()}
        d["display"] = self.display()
        return d


def summarize_effect(
    x: np.ndarray | xr.DataArray,
    measure: str,
    *,
    label: str = "mu",
    prob: float = 0.95,
    ci_kind: str = "eti",
    mcid: tuple[float, ...] | None = None,
    rope: tuple[float, float] | None | str = "default",
) -> EffectSummary:
    """Summarise the draws of one effect on the benefit scale.

    Parameters
    ----------
    x : draws, shape (chain, draw) DataArray or flat array, on the model scale.
    measure : "SMD", "logOR" or "MD".
    mcid : display-scale thresholds (SMD units, or odds ratios for logOR); default
        :data:`DEFAULT_MCID`.
    rope : display-scale (low, high) region of practical equivalence, None for none,
        "default" for :data:`DEFAULT_ROPE`.
    """
    da = as_dataarray(x)
    v = flat(da)
    lo, hi = interval(da, prob=prob, kind=ci_kind)
    p_ben, p_mcse = probability(da > 0)
    thresholds = DEFAULT_MCID.get(measure, ()) if mcid is None else tuple(mcid)
    p_mcid = {float(t): float(np.mean(v > to_model_scale(measure, t))) for t in thresholds}
    if isinstance(rope, str):
        rope = DEFAULT_ROPE.get(measure)
    p_rope = None
    if rope is not None:
        r_lo, r_hi = (to_model_scale(measure, r) for r in rope)
        p_rope = float(np.mean((v > r_lo) & (v < r_hi)))
    return EffectSummary(
        label=label,
        measure=measure,
        median=float(np.median(v)),
        mean=float(np.mean(v)),
        sd=float(np.std(v, ddof=1)),
        ci_low=lo,
        ci_high=hi,
        prob=prob,
        ci_kind=ci_kind,
        p_benefit=p_ben,
        p_benefit_mcse=p_mcse,
        p_mcid=p_mcid,
        rope=None if rope is None else (float(rope[0]), float(rope[1])),
        p_rope=p_rope,
        n_draws=v.size,
    )


def prediction_draws(dt: xr.DataTree, seed: int = 0) -> xr.DataArray:
    """Draws of the effect in a new study: theta_new = mu + tau * e for each posterior draw.

    If the model already stores a predictive variable (``theta_new``) it is used as is.
    Otherwise ``e`` is standard normal, or Student-t with the draw's ``nu`` where the model
    has a t random-effects distribution (Riley et al. 2011). ``seed`` makes the auxiliary
    draws reproducible.
    """
    post = dt["posterior"].dataset
    if "theta_new" in post.data_vars:
        return post["theta_new"]
    mu, tau = post["mu"], post["tau"] if "tau" in post.data_vars else xr.zeros_like(post["mu"])
    rng = np.random.default_rng(seed)
    if "nu" in post.data_vars:
        e = rng.standard_t(post["nu"].values)
    else:
        e = rng.standard_normal(mu.shape)
    return (mu + tau * xr.DataArray(e, dims=mu.dims, coords=mu.coords)).rename("theta_new")


# ----------------------------------------------------------------------------------------------
# heterogeneity
# ----------------------------------------------------------------------------------------------
def typical_within_variance(variances: np.ndarray) -> float:
    """Higgins & Thompson (2002) typical within-study variance.

    s² = (k - 1) Σw / ((Σw)² - Σw²), with w_i = 1 / v_i. For k = 1 it is v_1.
    """
    v = np.asarray(variances, dtype=float)
    if v.size == 1:
        return float(v[0])
    w = 1.0 / v
    return float((v.size - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum()))


@dataclass
class Heterogeneity:
    """Posterior of tau and of the I²-like share tau² / (tau² + s²), computed per draw."""

    tau_median: float
    tau_low: float
    tau_high: float
    share_median: float
    share_low: float
    share_high: float
    s2: float
    prob: float

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def heterogeneity(dt: xr.DataTree, table, prob: float = 0.95, ci_kind: str = "eti") -> Heterogeneity | None:
    """tau and the I²-like share per draw; None for a model without ``tau`` (common effect)."""
    post = dt["posterior"].dataset
    if "tau" not in post.data_vars:
        return None
    tau = post["tau"]
    s2 = typical_within_variance(table.variance)
    share = tau**2 / (tau**2 + s2)
    t_lo, t_hi = interval(tau, prob, ci_kind)
    s_lo, s_hi = interval(share, prob, ci_kind)
    return Heterogeneity(
        tau_median=float(tau.median()),
        tau_low=t_lo,
        tau_high=t_hi,
        share_median=float(share.median()),
        share_low=s_lo,
        share_high=s_hi,
        s2=s2,
        prob=prob,
    )


# ----------------------------------------------------------------------------------------------
# study-level (shrunken) estimates
# ----------------------------------------------------------------------------------------------
def study_estimates(dt: xr.DataTree, table, prob: float = 0.95, ci_kind: str = "eti") -> pd.DataFrame:
    """Observed and shrunken (posterior theta_i) estimates per study, with weights.

    ``weight`` is the random-effects weight 1 / (v_i + tau²) at the posterior median of tau,
    normalised to 100% (inverse-variance weights when there is no tau): the share of
    information each study contributes, as in a frequentist forest plot.
    """
    z = _z(prob)
    df = pd.DataFrame(
        {
            "study": list(table.study),
            "estimate": table.estimate,
            "se": table.se,
            "obs_low": table.estimate - z * table.se,
            "obs_high": table.estimate + z * table.se,
            "n_total": table.n_total,
        }
    )
    post = dt["posterior"].dataset
    tau2 = float(post["tau"].median()) ** 2 if "tau" in post.data_vars else 0.0
    w = 1.0 / (table.variance + tau2)
    df["weight"] = 100 * w / w.sum()
    if "theta" in post.data_vars:
        th = post["theta"]
        ci = interval(th, prob, ci_kind)
        order = [str(s) for s in th.coords["study"].values]
        pos = {s: i for i, s in enumerate(order)}
        idx = [pos[s] for s in table.study]
        med = th.median(dim=SAMPLE_DIMS).values
        df["shrunk_median"] = med[idx]
        df["shrunk_low"] = ci.sel(ci_bound="lower").values[idx]
        df["shrunk_high"] = ci.sel(ci_bound="upper").values[idx]
    else:
        df["shrunk_median"] = df["shrunk_low"] = df["shrunk_high"] = np.nan
    return df


def _z(prob: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + prob / 2))
