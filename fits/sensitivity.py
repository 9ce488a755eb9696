"""Prior sensitivity, power-scaling diagnostics and leave-one-study-out influence.

Three questions, for one outcome × time point:

1. **Prior grid** (:func:`prior_grid`). Refit under every suitable prior of the registry
   (:func:`prior_set`: half-normal scales 0.25 / 0.5 / 1, half-Cauchy(0.5), Turner 2015,
   Rhodes 2015, Bartoš et al., unit-information; plus alternative priors on mu with the
   default tau prior) and tabulate how :math:`\\mu`, :math:`\\tau` and
   :math:`P(\\text{benefit}) = P(\\mu > 0)` move. A conclusion *depends on the prior* when
   :math:`P(\\mu>0)` lies on different sides of 0.95 (or of 0.5) across the grid
   (:func:`prior_dependence`).
2. **Power-scaling** (:func:`power_scaling`): Kallioinen, Paananen, Bürkner & Vehtari
   (2023, *Stat Comput* 34:57). The posterior's sensitivity to raising prior or likelihood
   to a power :math:`\\alpha` near 1, estimated by importance sampling from one fit
   (:func:`arviz_stats.psense_summary`); ``prior-data conflict`` or ``weak likelihood`` flags.
3. **Influence** (:func:`influence`): the pooled estimate with each study left out.

Engines. For the normal–normal model the posterior is computed exactly by one-dimensional
integration (``engine="exact"``: :func:`vfsynth.fits.exact.nnhm_exact`, bayesmeta's
method), so a whole grid takes milliseconds. Other models (Student-t random effects) and
``engine="mcmc"`` run every variant as one batched, compiled NUTS program
(:func:`vfsynth.fits.batched.run_batched`).

Unit conversions: Turner et al. priors are published for log odds ratios and Rhodes et al.
priors for SMDs. Where the outcome is on the other scale the prior on :math:`\\tau` is
rescaled by the logistic conversion :math:`\\log OR = SMD \\cdot \\pi/\\sqrt3` (Chinn 2000,
*Stat Med* 19:3127), i.e. a shift of :math:`\\log(\\sqrt3/\\pi)` (or its negative) in the
location of :math:`\\log\\tau`; the row label says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vfsynth.data.effect_table import EffectTable
from vfsynth.data.effects import CHINN_FACTOR
from vfsynth.fits.batched import loso_weights, marginal_loglik, run_batched
from vfsynth.fits.compare import T_NU, json_records, resolve_table
from vfsynth.fits.settings import DEFAULT_SEED

THRESHOLDS = (0.5, 0.95)
#: Median of the standard half-normal distribution, Phi^-1(0.75).
HN_MEDIAN = 0.6744897501960817
LOG_SMD_PER_LOGOR = -math.log(CHINN_FACTOR)


@dataclass(frozen=True)
class PriorChoice:
    """One row of the prior grid: a label, the tau prior, the mu prior, and which is varied."""

    label: str
    tau_prior: object
    mu_prior: object
    varies: str  # "tau", "mu" or "default"


def _rescaled(prior, shift: float, label: str):
    """A lognormal / log-t tau prior with log-tau location shifted by ``shift``."""
    from vfsynth.models.priors import Prior

    params = dict(prior.params)
    params["m"] = params["m"] + shift
    return Prior(
        name=prior.name,
        family=prior.family,
        params=params,
        target="tau",
        citation=prior.citation + " Converted with Chinn S (2000) Stat Med 19:3127.",
        description=f"{prior.description}; {label}",
    )


def prior_set(table: EffectTable, tau_prior=None, mu_prior=None) -> list[PriorChoice]:
    """The suitable registry priors for ``table``'s measure, default first.

    ``tau_prior`` / ``mu_prior`` (Prior or spec) replace the registry defaults as the
    reference row (and as the fixed partner of the varied prior in the other rows).

    Tau priors (with the default mu prior): half-normal 0.25 / 0.5 / 1, half-Cauchy(0.5),
    Turner 2015 mental-health non-pharmacological (log OR; rescaled for SMD), Rhodes 2015
    subjective non-pharmacological (SMD; rescaled for log OR), Bartoš et al. developmental
    (this review's Cochrane group; SMD or log OR), unit-information HN(UISD/4).
    Mu priors (with the default tau prior): flat, Bartoš developmental Student-t,
    unit-information N(0, UISD/2). For MD (no scale-free priors) the empirical priors are
    skipped and the half-normal scales are multiples (1/8, 1/4, 1/2) of the unit-information
    SD, or, without sample sizes, (1/2, 1, 2) times the scale implied by the reference tau
    prior's median (that of a half-normal with the same median), plus a half-Cauchy at 1x.
    """
    from vfsynth.fits.compare import _default_priors
    from vfsynth.models import priors as P

    m = table.measure
    tau0, mu0 = _default_priors(table, tau_prior, mu_prior)
    out = [PriorChoice(f"default: tau {tau0.spec}, mu {mu0.spec}", tau0, mu0, "default")]
    taus: list[tuple[str, object]] = []
    if m in ("SMD", "logOR"):
        for s in (0.25, 0.5, 1.0):
            taus.append((f"half-normal:{s:g}", P.half_normal(s)))
        taus.append(("half-cauchy:0.5", P.half_cauchy(0.5)))
        tu = P.turner_prior("mental-health", "non-pharmacological")
        rh = P.rhodes_prior("subjective", "non-pharmacological")
        if m == "SMD":
            taus.append(("turner:mental-health (log OR -> SMD)", _rescaled(tu, LOG_SMD_PER_LOGOR, "rescaled to SMD")))
            taus.append(("rhodes:subjective", rh))
        else:
            taus.append(("turner:mental-health", tu))
            taus.append(("rhodes:subjective (SMD -> log OR)", _rescaled(rh, -LOG_SMD_PER_LOGOR, "rescaled to log OR")))
        taus.append((f"bartos:developmental:{m}", P.bartos_prior("developmental", m)))
        taus.append(("unit-information", P.unit_information_prior(m, table=table)))
    else:
        try:
            ui = P.unit_information_prior(m, table=table)
            uisd = ui.params["scale"] / 0.25
            for f in (0.125, 0.25, 0.5):
                taus.append((f"half-normal:{uisd * f:.3g} (UISD x {f:g})", P.half_normal(uisd * f)))
            taus.append((f"half-cauchy:{uisd * 0.25:.3g}", P.half_cauchy(uisd * 0.25)))
        except ValueError:  # no sample sizes: scale the grid on the reference prior
            base = float(tau0.quantiles([0.5])[0]) / HN_MEDIAN
            for f in (0.5, 1.0, 2.0):
                taus.append((f"half-normal:{base * f:.3g} (x {f:g})", P.half_normal(base * f)))
            taus.append((f"half-cauchy:{base:.3g}", P.half_cauchy(base)))
    for lab, p in taus:
        if p.spec == tau0.spec:
            continue
        out.append(PriorChoice(f"tau {lab}", p, mu0, "tau"))
    mus: list[tuple[str, object]] = [("flat", P.flat_mu())]
    if m in ("SMD", "logOR"):
        mus.append((f"bartos-mu:developmental:{m}", P.bartos_mu_prior("developmental", m)))
        mus.append(("unit-information-mu", P.unit_information_mu(m, table=table)))
    for lab, p in mus:
        if p.spec == mu0.spec:
            continue
        out.append(PriorChoice(f"mu {lab}", tau0, p, "mu"))
    return out


def _summ_exact(post) -> dict:
    q = post.mu_quantiles((0.025, 0.5, 0.975))
    tq = post.tau_quantiles((0.025, 0.5, 0.975))
    return {
        "mu_mean": float(post.mu_mean),
        "mu_sd": float(post.mu_sd),
        "mu_low": float(q[0]),
        "mu_median": float(q[1]),
        "mu_high": float(q[2]),
        "tau_median": float(tq[1]),
        "tau_high": float(tq[2]),
        "p_benefit": float(post.prob_mu_greater(0.0)),
    }


def _summ_draws(mu: np.ndarray, tau: np.ndarray) -> dict:
    mu = np.ravel(mu)
    tau = np.ravel(tau)
    q = np.quantile(mu, [0.025, 0.5, 0.975])
    return {
        "mu_mean": float(mu.mean()),
        "mu_sd": float(mu.std(ddof=1)),
        "mu_low": float(q[0]),
        "mu_median": float(q[1]),
        "mu_high": float(q[2]),
        "tau_median": float(np.median(tau)),
        "tau_high": float(np.quantile(tau, 0.975)),
        "p_benefit": float(np.mean(mu > 0)),
    }


def _check_engine(engine: str, model: str) -> str:
    from vfsynth.fits.settings import analysis_engine

    return analysis_engine(engine, model)


def _exact(table: EffectTable, model: str, tau_prior, mu_prior):
    from vfsynth.fits.exact import nnhm_exact
    from vfsynth.models.spec import get_spec

    fixed = "tau" not in get_spec(model).prior_roles
    return nnhm_exact(table.estimate, table.se, 0.0 if fixed else tau_prior, mu_prior)


def prior_grid(
    data,
    outcome: str | None = None,
    timepoint: str = "post",
    *,
    model: str = "random-effects",
    engine: str = "exact",
    priors: list[PriorChoice] | None = None,
    tau_prior=None,
    mu_prior=None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = DEFAULT_SEED,
    include_joint: bool = False,
    review=None,
    joint_kwargs: dict | None = None,
) -> pd.DataFrame:
    """Posterior summaries of one analysis under each prior of :func:`prior_set`.

    ``tau_prior`` / ``mu_prior`` set the reference (default) row; ``priors`` overrides the
    whole grid.

    Returns
    -------
    DataFrame
        One row per prior: ``prior``, ``varies`` ("default"/"tau"/"mu"), ``tau_prior`` and
        ``mu_prior`` specs, ``mu_mean``, ``mu_sd``, ``mu_low``, ``mu_median``, ``mu_high``
        (95% interval), ``tau_median``, ``tau_high``, ``p_benefit`` (= P(mu > 0), benefit
        scale), ``engine``, and ``indirect_mean`` / ``indirect_p_benefit`` for the joint
        model's indirect effect when ``include_joint`` and available (else absent).
        ``attrs["flags"]`` holds :func:`prior_dependence` messages.
    """
    table = resolve_table(data, outcome, timepoint)
    engine = _check_engine(engine, model)
    choices = priors if priors is not None else prior_set(table, tau_prior, mu_prior)
    rows = []
    if engine == "exact":
        for c in choices:
            rows.append(_summ_exact(_exact(table, model, c.tau_prior, c.mu_prior)))
        eng = "exact"
    else:
        res = run_batched(
            model,
            table.estimate,
            table.se,
            np.ones((len(choices), table.k)),
            [c.tau_prior for c in choices],
            [c.mu_prior for c in choices],
            nu=T_NU if model == "t" else None,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed,
        )
        for b in range(len(choices)):
            rows.append(_summ_draws(res.mu[b], res.tau[b]))
        eng = "mcmc (batched)"
    df = pd.DataFrame(rows)
    df.insert(0, "prior", [c.label for c in choices])
    df.insert(1, "varies", [c.varies for c in choices])
    df.insert(2, "tau_prior", ["(none: tau = 0)" if model == "common-effect" else c.tau_prior.spec for c in choices])
    df.insert(3, "mu_prior", [c.mu_prior.spec if c.mu_prior is not None else "flat" for c in choices])
    df["model"] = model
    df["engine"] = eng
    df.attrs["flags"] = prior_dependence(df, n_draws=None if eng == "exact" else draws * chains)
    if include_joint:
        _add_joint_indirect(df, review if review is not None else data, table, choices, seed=seed, joint_kwargs=joint_kwargs)
    df.attrs["outcome"] = table.outcome
    df.attrs["timepoint"] = table.timepoint
    return df


def prior_dependence(
    grid: pd.DataFrame, column: str = "p_benefit", thresholds=THRESHOLDS, reference: str = "default prior",
    what: str | None = None, n_draws: int | None = None,
) -> list[str]:
    """Messages for every threshold that :math:`P(\\mu>0)` crosses across the prior grid.

    A conclusion ("probably beneficial": P > 0.5; "beneficial with high probability":
    P > 0.95) *depends on the prior* when some priors put P above the threshold and others
    at or below it. Each message names the reference row's side and the rows on the other side.

    With Monte Carlo estimates (``n_draws`` posterior draws per row) a row counts as being on
    a side only when it is more than two Monte Carlo standard errors,
    :math:`2\\sqrt{t(1-t)/(n/2)}` (effective sample size taken as half the draws), from the
    threshold :math:`t`, so that sampling noise around a threshold is not reported as prior
    dependence. Exact-engine grids use ``n_draws=None`` (no margin).
    """
    out = []
    if grid.empty or column not in grid:
        return out
    p = grid[column].to_numpy(float)
    ok = np.isfinite(p)
    default = np.flatnonzero(grid["varies"].to_numpy() == "default")
    i0 = int(default[0]) if len(default) else 0
    p0 = float(p[i0])
    for t in thresholds:
        margin = 0.0 if n_draws is None else 2.0 * math.sqrt(t * (1 - t) / max(n_draws / 2.0, 1.0))
        above = ok & (p > t + margin)
        below = ok & (p <= t - margin)
        if above.any() and below.any():
            ref_above = p0 > t
            other = grid["prior"].to_numpy()[below if ref_above else above].tolist()
            side = "above" if ref_above else "at or below"
            note = "" if n_draws is None else f" (beyond a Monte Carlo margin of {margin:.3f})"
            out.append(
                f"{what or column} crosses {t:g}{note}: {reference} gives {p0:.3f} ({side} {t:g}); "
                f"on the other side: {', '.join(map(str, other))}"
            )
    return out


def influence(
    data,
    outcome: str | None = None,
    timepoint: str = "post",
    *,
    model: str = "random-effects",
    engine: str = "exact",
    tau_prior=None,
    mu_prior=None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """Leave-one-study-out pooled estimates.

    Returns
    -------
    DataFrame
        First row ``omitted = "(none)"`` (all studies), then one row per omitted study:
        ``mu_mean``, ``mu_low``, ``mu_high`` (95% interval), ``tau_median``, ``p_benefit``,
        ``delta_mu`` (change in the posterior mean of mu against all studies) and
        ``estimate`` / ``se`` of the omitted study.
    """
    from vfsynth.fits.compare import _default_priors

    table = resolve_table(data, outcome, timepoint)
    if table.k < 2:
        raise ValueError(f"{table.outcome}/{table.timepoint}: influence needs at least 2 studies")
    tau_prior, mu_prior = _default_priors(table, tau_prior, mu_prior)
    engine = _check_engine(engine, model)
    labels = ["(none)"] + list(table.study)
    rows = []
    if engine == "exact":
        rows.append(_summ_exact(_exact(table, model, tau_prior, mu_prior)))
        for s in table.study:
            rows.append(_summ_exact(_exact(table.drop(s), model, tau_prior, mu_prior)))
        eng = "exact"
    else:
        w = loso_weights(table.k)
        res = run_batched(
            model, table.estimate, table.se, w, [tau_prior] * len(w), [mu_prior] * len(w),
            nu=T_NU if model == "t" else None, draws=draws, tune=tune, chains=chains, seed=seed,
        )
        rows = [_summ_draws(res.mu[b], res.tau[b]) for b in range(len(w))]
        eng = "mcmc (batched)"
    df = pd.DataFrame(rows)
    df.insert(0, "omitted", labels)
    df["delta_mu"] = df["mu_mean"] - df["mu_mean"].iloc[0]
    df["estimate"] = [np.nan] + list(table.estimate)
    df["se"] = [np.nan] + list(table.se)
    df["model"] = model
    df["engine"] = eng
    df.attrs["outcome"] = table.outcome
    df.attrs["timepoint"] = table.timepoint
    df.attrs["flags"] = prior_dependence(
        df.rename(columns={"omitted": "prior"}).assign(varies=["default"] + ["loso"] * table.k),
        reference="all studies", what="P(benefit) with one study left out",
        n_draws=None if eng == "exact" else draws * chains,
    )
    return df


def power_scaling_tree(
    table: EffectTable,
    tau_prior,
    mu_prior,
    *,
    model: str = "random-effects",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = DEFAULT_SEED,
):
    """Fit the default model and return a DataTree with ``log_prior`` and ``log_likelihood`` groups.

    ``log_prior`` holds :math:`\\log p(\\mu)` and :math:`\\log p(\\tau)` at each draw, on the
    scale the priors are stated on (power-scaling the prior :math:`p(\\theta)^\\alpha` as in
    priorsense); ``log_likelihood/y`` the per-study marginal log-likelihood (see
    :mod:`vfsynth.fits.compare`), whose sum is the likelihood that is power-scaled.
    """
    import xarray as xr

    from vfsynth.fits.compare import fit_marginal, study_loglik

    dt = fit_marginal(table, model, tau_prior, mu_prior, draws=draws, tune=tune, chains=chains, seed=seed)
    post = dt["posterior"]
    lp = {"mu": (("chain", "draw"), np.asarray(mu_prior.logpdf(post["mu"].values), float))}
    if model != "common-effect":
        lp["tau"] = (("chain", "draw"), np.asarray(tau_prior.logpdf(post["tau"].values), float))
    ll = study_loglik(dt, table, model, nu=T_NU)
    dt["log_prior"] = xr.Dataset(lp, coords={"chain": post["chain"].values, "draw": post["draw"].values})
    dt["log_likelihood"] = xr.Dataset({"y": ll})
    return dt


def power_scaling(
    data,
    outcome: str | None = None,
    timepoint: str = "post",
    *,
    model: str = "random-effects",
    tau_prior=None,
    mu_prior=None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """Power-scaling sensitivity of the default fit (:func:`arviz_stats.psense_summary`).

    Returns a DataFrame indexed by variable (``mu``, ``tau``) with columns ``prior`` and
    ``likelihood`` (the cumulative Jensen-Shannon based sensitivity, Kallioinen et al. 2023)
    and ``diagnosis`` ("-", "potential prior-data conflict", "potential strong prior / weak
    likelihood"; threshold 0.05).
    """
    from arviz_stats import psense_summary

    from vfsynth.fits.compare import _default_priors

    table = resolve_table(data, outcome, timepoint)
    tau_prior, mu_prior = _default_priors(table, tau_prior, mu_prior)
    dt = power_scaling_tree(table, tau_prior, mu_prior, model=model, draws=draws, tune=tune, chains=chains, seed=seed)
    var_names = ["mu"] if model == "common-effect" else ["mu", "tau"]
    out = psense_summary(dt, var_names=var_names)
    out.attrs["outcome"] = table.outcome
    out.attrs["timepoint"] = table.timepoint
    return out


def _add_joint_indirect(df: pd.DataFrame, data, table: EffectTable, choices, *, seed: int, joint_kwargs: dict | None = None) -> None:
    """Add the joint model's indirect effect (a x b) under each prior choice, where it applies.

    The prior of the joint model's block for this outcome (``tau_<outcome>`` /
    ``mu_<outcome>``) is replaced by the row's priors; every other block keeps its default.
    One joint fit per prior (PyMC, cached by :mod:`vfsynth.fits.store`).
    """
    notes = df.attrs.setdefault("notes", [])
    from vfsynth.models import joint as J

    if isinstance(data, EffectTable) or table.outcome not in J.DEFAULT_MEDIATORS:
        notes.append("joint model: indirect effect only for a mediator outcome of a Review; not tabulated")
        return
    from vfsynth.fits.joint_runner import fit_joint

    means, probs = [], []
    for c in choices:
        try:
            res = fit_joint(data, tau_priors={table.outcome: c.tau_prior}, mu_priors={table.outcome: c.mu_prior},
                            seed=seed, **(joint_kwargs or {}))
            ind = np.ravel(res.dt["posterior"]["indirect"].values)
            means.append(float(ind.mean()))
            probs.append(float(np.mean(ind > 0)))
        except Exception as exc:  # noqa: BLE001 - joint model may not apply to this review
            notes.append(f"joint model under {c.label}: {type(exc).__name__}: {exc}")
            means.append(np.nan)
            probs.append(np.nan)
    df["indirect_mean"] = means
    df["indirect_p_benefit"] = probs
    if np.isfinite(probs).any():
        n = (joint_kwargs or {}).get("draws", 1000) * (joint_kwargs or {}).get("chains", 4)
        for msg in prior_dependence(df, column="indirect_p_benefit", what="P(indirect effect > 0)", n_draws=n):
            df.attrs.setdefault("flags", []).append(msg)


def loso_prior_grid_batched(
    table: EffectTable,
    choices: list[PriorChoice],
    *,
    model: str = "random-effects",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = DEFAULT_SEED,
):
    """Every (prior × leave-one-study-out) refit of one analysis in ONE batched NUTS program.

    Batch rows are ordered prior-major: row ``p * (k + 1) + j`` is prior ``p`` with study
    ``j - 1`` left out (``j = 0``: all studies). Returns ``(BatchResult, DataFrame)``; the
    DataFrame has ``prior``, ``omitted`` and the :func:`_summ_draws` columns.
    """
    w1 = loso_weights(table.k)
    n = len(w1)
    weights = np.vstack([w1] * len(choices))
    taus = [c.tau_prior for c in choices for _ in range(n)]
    mus = [c.mu_prior for c in choices for _ in range(n)]
    res = run_batched(model, table.estimate, table.se, weights, taus, mus,
                      nu=T_NU if model == "t" else None, draws=draws, tune=tune, chains=chains, seed=seed)
    rows = []
    omitted = ["(none)"] + list(table.study)
    for p, c in enumerate(choices):
        for j in range(n):
            b = p * n + j
            rows.append({"prior": c.label, "omitted": omitted[j], **_summ_draws(res.mu[b], res.tau[b])})
    return res, pd.DataFrame(rows)


def grid_to_json(df: pd.DataFrame) -> dict:
    """JSON-friendly form of a prior-grid / influence table (rows + flags + notes)."""
    return {
        "rows": json_records(df),
        "flags": list(df.attrs.get("flags", [])),
        "notes": list(df.attrs.get("notes", [])),
    }


__all__ = [
    "PriorChoice",
    "grid_to_json",
    "influence",
    "loso_prior_grid_batched",
    "marginal_loglik",
    "power_scaling",
    "power_scaling_tree",
    "prior_dependence",
    "prior_grid",
    "prior_set",
]
