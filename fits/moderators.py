"""Fitting meta-regressions, subgroup analyses and small-study-effect models.

Engines
-------
``engine="exact"`` (meta-regression with normal or flat priors on the coefficients):
given :math:`\\tau`, the model :math:`y \\sim N(X\\beta, W_\\tau^{-1})`,
:math:`W_\\tau = \\mathrm{diag}(1/(\\tau^2+s_i^2))`, :math:`\\beta \\sim N(m_0, P_0^{-1})`
(:math:`P_0` singular for flat components) is conjugate:

.. math::

    \\beta \\mid \\tau, y \\sim N(A^{-1}b, A^{-1}),\\quad A = X^\\top W_\\tau X + P_0,\\quad
    b = X^\\top W_\\tau y + P_0 m_0,

    \\log p(y\\mid\\tau) = \\tfrac12\\sum\\log w_i - \\tfrac12 y^\\top W_\\tau y
    - \\tfrac12\\log|A| + \\tfrac12 b^\\top A^{-1} b + \\text{const},

so :math:`p(\\tau\\mid y) \\propto p(\\tau)p(y\\mid\\tau)` is integrated on a grid of
:math:`\\log\\tau` (the bayesmeta method extended to regression, as in Röver & Friede's
``bmr``), and the posterior of any linear contrast :math:`c^\\top\\beta` is a normal mixture.
With a flat prior and :math:`\\tau` fixed this is weighted least squares, i.e. metafor's
``rma(yi, vi, mods=, tau2=)`` exactly (tested against pinned metafor output).

``engine="mcmc"``: the PyMC models of :mod:`vfsynth.models.regression`, sampled with
:func:`vfsynth.fits.sampling.sample_model` (NumPyro NUTS). The step-function selection
model has no exact engine and always uses MCMC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats
from scipy.optimize import brentq

from vfsynth.data.effect_table import EffectTable
from vfsynth.data.errors import DataRequestError
from vfsynth.fits.settings import DEFAULT_SEED
from vfsynth.models import regression as R

DEFAULT_MODERATORS = ("intervention_family", "risk_group", "sessions_n", "child_age", "risk_of_bias", "inclusion")
#: Moderators that are quantities: always analysed as continuous (a value that is not a
#: number, e.g. free-text child age, excludes the study with that reason rather than
#: turning the text into subgroups).
CONTINUOUS_MODERATORS = ("sessions_n", "child_age", "child_age_months", "year", "n_randomised")
N_TAU = 2001
#: Tenfold widenings of the tau grid's upper end tried before the posterior counts as unbounded.
MAX_TAU_WIDENINGS = 2


# ---------------------------------------------------------------------------------------------
# Exact engine
# ---------------------------------------------------------------------------------------------


def _coef_prior(design: R.Design, intercept_prior, beta_sd) -> tuple[np.ndarray, np.ndarray]:
    """Prior mean and precision (zero precision = flat) of the coefficient vector."""
    p = design.X.shape[1]
    m0 = np.zeros(p)
    prec = np.zeros(p)
    if intercept_prior is not None and intercept_prior.family != "flat":
        if intercept_prior.family != "normal":
            raise ValueError(
                f"exact meta-regression needs a normal or flat intercept prior, not {intercept_prior.family}; use engine='mcmc'"
            )
        m0[0] = intercept_prior.params["loc"]
        prec[0] = 1.0 / intercept_prior.params["scale"] ** 2
    sd = np.broadcast_to(np.asarray(beta_sd, float), (p - 1,)) if p > 1 else np.zeros(0)
    with np.errstate(divide="ignore"):
        prec[1:] = np.where(np.isfinite(sd), 1.0 / sd**2, 0.0)
    return m0, prec


@dataclass
class ExactRegression:
    """Exact posterior of a meta-regression: normal mixture over a grid of tau.

    ``logw`` (n_tau,) normalised log weights; ``means`` (n_tau, p) and ``covs``
    (n_tau, p, p) the conditional posterior of the coefficients given each tau.
    """

    design: R.Design
    tau: np.ndarray
    logw: np.ndarray
    means: np.ndarray
    covs: np.ndarray

    def contrast(self, c, qs=(0.025, 0.5, 0.975)) -> dict:
        """Posterior summary of :math:`c^\\top\\beta`: mean, sd, quantiles, P(> 0)."""
        c = np.asarray(c, float)
        m = self.means @ c
        s = np.sqrt(np.einsum("i,nij,j->n", c, self.covs, c))
        w = np.exp(self.logw)
        mean = float(w @ m)
        sd = float(math.sqrt(max(w @ (s**2 + m**2) - mean**2, 0.0)))

        def cdf(x):
            return float(w @ stats.norm.cdf((x - m) / s))

        lo, hi = mean - 20 * sd - 1e-9, mean + 20 * sd + 1e-9
        q = [brentq(lambda x, t=t: cdf(x) - t, lo, hi, xtol=1e-12) for t in qs]
        return {"mean": mean, "sd": sd, "low": q[0], "median": q[1], "high": q[2], "p_positive": float(w @ stats.norm.sf(-m / s))}

    def tau_quantiles(self, qs=(0.025, 0.5, 0.975)) -> np.ndarray:
        if len(self.tau) == 1:
            return np.full(len(qs), self.tau[0])
        cw = np.cumsum(np.exp(self.logw))
        return np.interp(qs, cw / cw[-1], self.tau)


class UnboundedTauError(DataRequestError):
    """The exact meta-regression's tau posterior has mass beyond every grid tried: the data
    cannot bound tau under this prior (a request the data cannot answer, not a crash)."""


def metareg_exact(
    design: R.Design,
    tau_prior,
    intercept_prior,
    *,
    beta_sd=R.BETA_SD,
    tau_fixed: float | None = None,
) -> ExactRegression:
    """Exact posterior of the meta-regression of ``design`` (see module docstring).

    ``tau_fixed`` gives tau a point mass (0: common-effect meta-regression).
    """
    y = design.table.estimate
    s2 = design.table.se**2
    X = design.X
    m0, prec = _coef_prior(design, intercept_prior, beta_sd)
    P0 = np.diag(prec)

    def on_grid(tau):
        w = 1.0 / (tau[:, None] ** 2 + s2[None, :])  # (n, k)
        A = np.einsum("ki,nk,kj->nij", X, w, X) + P0
        b = np.einsum("ki,nk->ni", X, w * y) + P0 @ m0
        covs = np.linalg.inv(A)
        means = np.einsum("nij,nj->ni", covs, b)
        _, logdetA = np.linalg.slogdet(A)
        loglik = 0.5 * np.log(w).sum(1) - 0.5 * (w * y**2).sum(1) - 0.5 * logdetA + 0.5 * np.einsum("ni,ni->n", b, means)
        return loglik, means, covs

    if tau_fixed is not None:
        tau = np.array([float(tau_fixed)])
        _, means, covs = on_grid(tau)
        return ExactRegression(design, tau, np.zeros(1), means, covs)
    scale = float(np.std(y) + np.sqrt(s2.max()))
    lo, hi = math.log(1e-5 * scale), math.log(20 * scale)
    step = (hi - lo) / (N_TAU - 1)
    # A heavy-tailed tau posterior (few studies, a wide prior) can keep mass at the default
    # upper end: widen it tenfold at a time, at the same node spacing, so that the grids that
    # suffice are unchanged and the others are extended rather than refused.
    for _ in range(MAX_TAU_WIDENINGS + 1):
        tau = np.exp(np.linspace(lo, hi, int(round((hi - lo) / step)) + 1))
        loglik, means, covs = on_grid(tau)
        u = np.log(tau)
        with np.errstate(divide="ignore"):
            lp = np.asarray(tau_prior.logpdf(tau), float) + u
        f = lp + loglik + np.log(np.gradient(u))
        logw = f - special.logsumexp(f)
        if logw[-1] <= -30:
            break
        hi += math.log(10.0)
    else:
        raise UnboundedTauError(
            f"exact meta-regression: the tau posterior keeps mass above tau = {tau[-1]:.3g} "
            f"({tau[-1] / scale:.3g} x the data's scale) with these {len(y)} studies; "
            "give a narrower --tau-prior")
    return ExactRegression(design, tau, logw, means, covs)


# ---------------------------------------------------------------------------------------------
# MCMC engine
# ---------------------------------------------------------------------------------------------


def _sample(model, *, draws, tune, chains, seed, target_accept=0.9):
    from vfsynth.fits.sampling import sample_model

    return sample_model(
        model, draws=draws, tune=tune, chains=chains, seed=seed, target_accept=target_accept,
        prior_draws=None, posterior_predictive=False, log_likelihood=True,
    )


def _draw_summary(x: np.ndarray) -> dict:
    x = np.ravel(x)
    q = np.quantile(x, [0.025, 0.5, 0.975])
    return {"mean": float(x.mean()), "sd": float(x.std(ddof=1)), "low": float(q[0]), "median": float(q[1]),
            "high": float(q[2]), "p_positive": float(np.mean(x > 0))}


def _coef_draws(dt, design: R.Design) -> np.ndarray:
    """Draws of the full coefficient vector, shape (S, p)."""
    post = dt["posterior"]
    b0 = post["intercept"].values.reshape(-1)
    cols = [b0]
    if design.X.shape[1] > 1:
        beta = post["beta"].values.reshape(len(b0), -1)
        cols += [beta[:, j] for j in range(beta.shape[1])]
    return np.column_stack(cols)


# ---------------------------------------------------------------------------------------------
# Analyses
# ---------------------------------------------------------------------------------------------


def _priors(table: EffectTable, tau_prior, mu_prior):
    from vfsynth.fits.compare import _default_priors

    return _default_priors(table, tau_prior, mu_prior)


def _excluded_text(excluded: dict) -> str:
    return "; ".join(f"{s} ({why})" for s, why in excluded.items())


def regression_contrasts(design: R.Design) -> list[tuple[str, np.ndarray]]:
    """Named contrasts reported for a design: every coefficient, then for categorical designs
    every subgroup mean and every pairwise subgroup difference."""
    p = design.X.shape[1]
    out = [(name, np.eye(p)[j]) for j, name in enumerate(design.coef)]
    if design.kind == "categorical":
        out = out[1:]  # the intercept is the reference subgroup's mean, listed below
        for lv, row in zip(design.levels, design.level_X, strict=True):
            out.append((f"subgroup mean [{lv}]", row))
        for a in range(len(design.levels)):
            for b in range(a + 1, len(design.levels)):
                if a == 0:
                    continue  # differences from the reference are the coefficients above
                out.append((f"[{design.levels[b]}] - [{design.levels[a]}]", design.level_X[b] - design.level_X[a]))
    return out


def fit_design(
    design: R.Design,
    tau_prior,
    intercept_prior,
    *,
    engine: str = "exact",
    beta_sd=R.BETA_SD,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """Posterior summaries of every contrast of :func:`regression_contrasts` plus tau."""
    rows = []
    if engine == "exact" and (intercept_prior is None or intercept_prior.family in ("normal", "flat")):
        post = metareg_exact(design, tau_prior, intercept_prior, beta_sd=beta_sd)
        for name, c in regression_contrasts(design):
            rows.append({"term": name, **post.contrast(c)})
        tq = post.tau_quantiles()
        rows.append({"term": "tau (residual)", "mean": np.nan, "sd": np.nan, "low": tq[0], "median": tq[1], "high": tq[2], "p_positive": np.nan})
        eng = "exact"
    else:
        model = R.build_metaregression(design, tau_prior, intercept_prior, beta_sd=beta_sd)
        dt = _sample(model, draws=draws, tune=tune, chains=chains, seed=seed)
        B = _coef_draws(dt, design)
        for name, c in regression_contrasts(design):
            rows.append({"term": name, **_draw_summary(B @ c)})
        t = _draw_summary(dt["posterior"]["tau"].values)
        rows.append({"term": "tau (residual)", **t, "p_positive": np.nan})
        eng = "mcmc"
    df = pd.DataFrame(rows)
    df["engine"] = eng
    return df


def moderator_analysis(
    review,
    outcome: str,
    timepoint: str = "post",
    *,
    moderators=DEFAULT_MODERATORS,
    tau_prior=None,
    mu_prior=None,
    beta_sd=R.BETA_SD,
    engine: str = "exact",
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """Meta-regression / subgroup analysis for each moderator of the study table.

    Returns
    -------
    DataFrame
        One row per moderator × term: ``moderator``, ``kind``, ``term``, ``mean``, ``sd``,
        ``low``, ``high`` (95%), ``p_positive`` (= P(term > 0)), ``k_used``, ``excluded``
        (each excluded study with its reason), ``engine``. A moderator that cannot be used
        gives one row with ``term = "not estimable"`` and the reason in ``excluded``.
    """
    table = review.effects(outcome, timepoint)
    tau_prior, mu_prior = _priors(table, tau_prior, mu_prior)
    out = []
    for mod in moderators:
        try:
            kind = "continuous" if mod in CONTINUOUS_MODERATORS else "auto"
            d = R.moderator_design(table, review.moderators, mod, kind=kind)
        except R.ModeratorError as exc:
            out.append(pd.DataFrame([{"moderator": mod, "kind": "", "term": "not estimable", "k_used": 0, "excluded": str(exc)}]))
            continue
        df = fit_design(d, tau_prior, mu_prior, engine=engine, beta_sd=beta_sd, seed=seed)
        df.insert(0, "moderator", mod)
        df.insert(1, "kind", d.kind)
        df["k_used"] = d.k
        df["excluded"] = _excluded_text(d.excluded)
        out.append(df)
    res = pd.concat(out, ignore_index=True)
    res.attrs["outcome"] = outcome
    res.attrs["timepoint"] = timepoint
    return res


def small_study_effects(
    data,
    outcome: str | None = None,
    timepoint: str = "post",
    *,
    tau_prior=None,
    mu_prior=None,
    cutpoints=R.DEFAULT_CUTPOINTS,
    selection: bool = True,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    """How small-study-effect adjustments move the pooled effect and P(benefit).

    Rows: ``random-effects`` (unadjusted, exact), ``PET`` and ``PEESE`` (intercepts, exact
    engine), ``PET-PEESE`` (Stanley & Doucouliagos 2014: PEESE if PET's 95% interval for
    the intercept excludes 0, else PET), and ``selection`` (step-function selection model,
    MCMC; its ``omega`` posterior means are in ``detail``). Columns: ``mean``, ``low``,
    ``high``, ``p_benefit`` (posterior probability that the (adjusted) effect is > 0),
    ``slope_mean`` / ``slope_p_positive`` (PET/PEESE small-study slope), ``detail``.
    """
    from vfsynth.fits.compare import resolve_table
    from vfsynth.fits.exact import nnhm_exact

    table = resolve_table(data, outcome, timepoint)
    tau_prior, mu_prior = _priors(table, tau_prior, mu_prior)
    rows = []
    ex = nnhm_exact(table.estimate, table.se, tau_prior, mu_prior)
    q = ex.mu_quantiles((0.025, 0.975))
    rows.append({"model": "random-effects", "mean": ex.mu_mean, "low": q[0], "high": q[1],
                 "p_benefit": ex.prob_mu_greater(0.0), "slope_mean": np.nan, "slope_p_positive": np.nan, "detail": ""})
    fits = {}
    for kind, sd in (("pet", R.PET_SLOPE_SD), ("peese", R.PEESE_SLOPE_SD)):
        d = R.small_study_design(table, kind)
        post = metareg_exact(d, tau_prior, mu_prior, beta_sd=sd)
        ic = post.contrast([1.0, 0.0])
        sl = post.contrast([0.0, 1.0])
        fits[kind] = (ic, sl)
        rows.append({"model": kind.upper(), "mean": ic["mean"], "low": ic["low"], "high": ic["high"],
                     "p_benefit": ic["p_positive"], "slope_mean": sl["mean"], "slope_p_positive": sl["p_positive"],
                     "detail": f"slope prior N(0, {sd:g}^2) on {d.coef[1]}"})
    pet_ic = fits["pet"][0]
    use = "peese" if (pet_ic["low"] > 0 or pet_ic["high"] < 0) else "pet"
    ic, sl = fits[use]
    rows.append({"model": "PET-PEESE", "mean": ic["mean"], "low": ic["low"], "high": ic["high"], "p_benefit": ic["p_positive"],
                 "slope_mean": sl["mean"], "slope_p_positive": sl["p_positive"],
                 "detail": f"uses {use.upper()} (PET 95% interval {'excludes' if use == 'peese' else 'includes'} 0)"})
    if selection:
        model = R.build_selection_model(table, tau_prior, mu_prior, cutpoints=cutpoints)
        dt = _sample(model, draws=draws, tune=tune, chains=chains, seed=seed, target_accept=0.95)
        mu = _draw_summary(dt["posterior"]["mu"].values)
        om = dt["posterior"]["omega"].mean(("chain", "draw")).values
        counts = np.bincount(R.p_interval(table.estimate, table.se, cutpoints), minlength=len(cutpoints) + 1)
        labels = list(dt["posterior"]["omega"].coords["interval"].values)
        detail = "; ".join(f"omega {lab}: {w:.2f} (n={n})" for lab, w, n in zip(labels, om, counts, strict=True))
        div = int(dt["sample_stats"]["diverging"].values.sum())
        rows.append({"model": f"selection (cut-points {', '.join(f'{c:g}' for c in cutpoints)})", "mean": mu["mean"],
                     "low": mu["low"], "high": mu["high"], "p_benefit": mu["p_positive"], "slope_mean": np.nan,
                     "slope_p_positive": np.nan, "detail": detail + (f"; {div} divergent transitions" if div else "")})
    df = pd.DataFrame(rows)
    df.attrs["outcome"] = table.outcome
    df.attrs["timepoint"] = table.timepoint
    return df
