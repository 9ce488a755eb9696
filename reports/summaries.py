"""Posterior summaries for the report, computed from the draws of a fitted model.

Everything here takes an ArviZ :class:`xarray.DataTree` (the ``posterior`` group holding
``mu`` (pooled effect), ``tau`` (between-study SD) and ``theta`` (study effects, dim
``study``)) and, where study data are needed, the :class:`~vfsynth.data.effect_table.EffectTable`
the model was fitted to. Estimates are on the benefit scale (positive favours the
intervention), so "benefit" always means ``effect > 0``.

Interval estimates come from :mod:`arviz_stats` (``eti`` / ``hdi``), convergence numbers from
``arviz_stats.rhat`` / ``ess``; posterior probabilities are Monte Carlo means of indicator
functions over all draws, with their Monte Carlo standard error
``sqrt(p (1 - p) / ESS)`` where ESS is the effective sample size of the indicator
(Vehtari et al. 2021, *Bayesian Analysis* 16:667).

References
----------
Higgins JPT, Thompson SG. Quantifying heterogeneity in a meta-analysis. *Stat Med* 2002;21:1539-58
(the "typical" within-study variance s² and I² = tau² / (tau² + s²)).
Riley RD, Higgins JPT, Deeks JJ. Interpretation of random effects meta-analyses. *BMJ* 2011;342:d549
(prediction interval for the effect in a new study).
Altman DG. Confidence intervals for the number needed to treat. *BMJ* 1998;317:1309-12 (NNTB / NNTH).
Schünemann HJ et al. Cochrane Handbook ch. 14 (absolute effects per 1,000 at an assumed control risk).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

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
#: Control-arm risk of secure attachment assumed in CD012348's summary of findings (341/1000).
PUBLISHED_CONTROL_RISK_CD012348 = 0.341

SAMPLE_DIMS = ("chain", "draw")


# ----------------------------------------------------------------------------------------------
# draws and intervals
# ----------------------------------------------------------------------------------------------
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
    """Name of the scale effects are shown on: odds ratios for logOR, else the measure."""
    return "OR" if measure == "logOR" else measure


def to_model_scale(measure: str, value: float) -> float:
    """Display-scale value (OR for logOR) -> model scale (log OR)."""
    return math.log(value) if measure == "logOR" else float(value)


def to_display_scale(measure: str, value):
    """Model-scale value(s) -> display scale (exp for logOR)."""
    return np.exp(value) if measure == "logOR" else value


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


# ----------------------------------------------------------------------------------------------
# absolute effects (binary outcomes)
# ----------------------------------------------------------------------------------------------
@dataclass
class AbsoluteEffect:
    """Absolute effect at one control-arm risk, from per-draw odds ratios.

    For each draw, p_t = expit(logit(p_c) + log OR) and RD = p_t - p_c; medians and intervals
    are taken over draws. NNT = 1 / RD: since 1/x is monotone where RD keeps its sign, the
    NNT interval is the inverted RD interval; when the RD interval includes 0 the NNT
    interval runs "NNTB a to ∞ to NNTH b" (Altman 1998).
    """

    label: str
    control_risk: float
    per: int
    intervention_median: float
    intervention_low: float
    intervention_high: float
    difference_median: float
    difference_low: float
    difference_high: float
    p_benefit: float

    @property
    def nnt(self) -> str:
        """Number needed to treat, as text (NNTB for benefit, NNTH for harm)."""
        rd_med, lo, hi = (v / self.per for v in (self.difference_median, self.difference_low, self.difference_high))

        def one(rd: float) -> str:
            if rd == 0:
                return "∞"
            return f"NNTB {1 / rd:.1f}" if rd > 0 else f"NNTH {-1 / rd:.1f}"

        if lo > 0 or hi < 0:
            a, b = sorted((abs(1 / lo), abs(1 / hi)))
            kind = "NNTB" if lo > 0 else "NNTH"
            return f"{one(rd_med)} ({kind} {a:.1f} to {b:.1f})"
        parts = []
        if hi > 0:
            parts.append(f"NNTB {1 / hi:.1f}")
        parts.append("∞")
        if lo < 0:
            parts.append(f"NNTH {-1 / lo:.1f}")
        return f"{one(rd_med)} ({' to '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["nnt"] = self.nnt
        return d


def absolute_effect(
    log_or: np.ndarray | xr.DataArray,
    control_risk: float,
    *,
    label: str = "",
    per: int = 1000,
    prob: float = 0.95,
    ci_kind: str = "eti",
) -> AbsoluteEffect:
    """Risk in the intervention arm and risk difference per ``per`` at ``control_risk``.

    p_t = p_c · OR / (1 - p_c + p_c · OR) for every draw of OR = exp(log_or).
    """
    if not 0 < control_risk < 1:
        raise ValueError(f"control risk must be strictly between 0 and 1, got {control_risk}")
    da = as_dataarray(log_or)
    odds = control_risk / (1 - control_risk) * np.exp(da)
    p_t = odds / (1 + odds)
    rd = p_t - control_risk
    it_lo, it_hi = interval(p_t, prob, ci_kind)
    rd_lo, rd_hi = interval(rd, prob, ci_kind)
    return AbsoluteEffect(
        label=label,
        control_risk=float(control_risk),
        per=per,
        intervention_median=per * float(p_t.median()),
        intervention_low=per * it_lo,
        intervention_high=per * it_hi,
        difference_median=per * float(rd.median()),
        difference_low=per * rd_lo,
        difference_high=per * rd_hi,
        p_benefit=float((rd > 0).mean()),
    )


def pooled_control_risk(table) -> tuple[float, str] | None:
    """Crude pooled control-arm risk Σ events_c / Σ n_c over studies with counts, or None."""
    if table.events_c is None:
        return None
    m = table.has_counts
    if not m.any():
        return None
    e, n = float(np.sum(table.events_c[m])), float(np.sum(table.n_c[m]))
    return e / n, f"pooled control arms ({int(m.sum())} studies, {e:.0f}/{n:.0f})"


def published_control_risk(published: pd.DataFrame | None, outcome: str) -> float | None:
    """The assumed control risk printed in a review's summary of findings, if recorded.

    Looks for a numeric ``control_risk`` (or ``assumed_control_risk``) column, else a
    "control risk N per 1000" phrase in the ``notes`` of rows whose outcome matches.
    """
    if published is None or len(published) == 0:
        return None
    df = published
    if "outcome" in df.columns:
        names = df["outcome"].astype(str).str.lower()
        exact = names == outcome.lower()
        if exact.any():
            df = df[exact]
        else:
            # free-text outcome labels ("Secure attachment (SSP)"): match on a word stem
            stem = outcome.replace("_", " ").split()[-1].lower()[:5]
            df = df[names.str.contains(stem, regex=False)]
    for col in ("control_risk", "assumed_control_risk"):
        if col in df.columns:
            vals = pd.to_numeric(df[col], errors="coerce").dropna()
            if len(vals):
                v = float(vals.iloc[0])
                return v / 1000 if v > 1 else v
    if "notes" in df.columns:
        for note in df["notes"].astype(str):
            m = re.search(r"control risk\D{0,20}(\d+(?:\.\d+)?)\s*(?:per|/)\s*1,?000", note, re.I)
            if m:
                return float(m.group(1)) / 1000
    return None


def control_risks(table, *, published: float | None = None, user: float | None = None) -> list[tuple[str, float]]:
    """Control-arm risks to show absolute effects at: pooled from counts, published, user-given."""
    out: list[tuple[str, float]] = []
    pooled = pooled_control_risk(table)
    if pooled is not None and 0 < pooled[0] < 1:
        out.append((pooled[1], pooled[0]))
    if published is not None:
        out.append((f"published assumed risk ({published * 1000:.0f}/1000)", published))
    if user is not None:
        out.append((f"user-given risk ({user * 1000:.0f}/1000)", user))
    return out


# ----------------------------------------------------------------------------------------------
# diagnostics
# ----------------------------------------------------------------------------------------------
@dataclass
class Diagnostics:
    """Convergence summary: worst R-hat, smallest bulk/tail ESS, divergences."""

    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    divergences: int
    chains: int
    draws: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["ok"] = self.ok
        return d


def diagnostics(dt: xr.DataTree) -> Diagnostics:
    """Convergence verdict of :func:`vfsynth.fits.diagnostics.diagnose` (the engine's gate:
    rank-normalised R-hat, bulk/tail ESS per chain, divergences, tree depth, E-BFMI;
    Vehtari et al. 2021), reduced to what the report shows."""
    from vfsynth.fits.diagnostics import diagnose

    v = diagnose(dt)
    return Diagnostics(
        rhat_max=v["max_rhat"],
        ess_bulk_min=v["min_ess_bulk"],
        ess_tail_min=v["min_ess_tail"],
        divergences=v["divergences"],
        chains=v["chains"],
        draws=v["n_draws"],
        problems=list(v["problems"]),
    )


# ----------------------------------------------------------------------------------------------
# one analysis
# ----------------------------------------------------------------------------------------------
@dataclass
class AnalysisSummary:
    """Everything the report shows for one outcome × time point × model."""

    outcome: str
    timepoint: str
    model: str
    measure: str
    k: int
    n_total: float
    effect: EffectSummary
    prediction: EffectSummary
    heterogeneity: Heterogeneity | None
    studies: pd.DataFrame
    absolute: list[AbsoluteEffect]
    diagnostics: Diagnostics

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "timepoint": self.timepoint,
            "model": self.model,
            "measure": self.measure,
            "k": self.k,
            "n_total": None if not np.isfinite(self.n_total) else self.n_total,
            "effect": self.effect.to_dict(),
            "prediction": self.prediction.to_dict(),
            "heterogeneity": None if self.heterogeneity is None else self.heterogeneity.to_dict(),
            "absolute": [a.to_dict() for a in self.absolute],
            "diagnostics": self.diagnostics.to_dict(),
            "studies": self.studies.to_dict(orient="records"),
        }


def summarize_analysis(
    dt: xr.DataTree,
    table,
    *,
    model: str = "random-effects",
    prob: float = 0.95,
    ci_kind: str = "eti",
    mcid: tuple[float, ...] | None = None,
    rope: tuple[float, float] | None | str = "default",
    published_risk: float | None = None,
    user_risk: float | None = None,
    seed: int = 0,
) -> AnalysisSummary:
    """Summarise one fit: pooled effect, prediction, heterogeneity, studies, absolute effects."""
    mu = posterior_var(dt, "mu")
    eff = summarize_effect(mu, table.measure, label="pooled effect", prob=prob, ci_kind=ci_kind, mcid=mcid, rope=rope)
    pred = summarize_effect(
        prediction_draws(dt, seed=seed), table.measure, label="new study", prob=prob, ci_kind=ci_kind, mcid=mcid, rope=rope
    )
    absolute: list[AbsoluteEffect] = []
    if table.measure == "logOR":
        for label, risk in control_risks(table, published=published_risk, user=user_risk):
            absolute.append(absolute_effect(mu, risk, label=label, prob=prob, ci_kind=ci_kind))
    n = table.n_total
    return AnalysisSummary(
        outcome=table.outcome,
        timepoint=table.timepoint,
        model=model,
        measure=table.measure,
        k=table.k,
        n_total=float(np.nansum(n)) if np.isfinite(n).any() else float("nan"),
        effect=eff,
        prediction=pred,
        heterogeneity=heterogeneity(dt, table, prob, ci_kind),
        studies=study_estimates(dt, table, prob, ci_kind),
        absolute=absolute,
        diagnostics=diagnostics(dt),
    )
