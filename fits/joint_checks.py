"""Checks of a joint mediation fit: posterior and prior predictive checks, and the
sensitivity of the results to the assumed within-study correlation :math:`\\rho_w`.

* :func:`posterior_predictive_table`, :func:`loo_pit_rows` — data for posterior predictive
  checks (plots belong to the report layer);
* :func:`prior_predictive_check` — plausibility of the effects implied by the priors;
* :func:`rho_w_sensitivity` — refits across within-study correlations, one table.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vfsynth.fits.joint_runner import (
    JointFitResult,
    _flat,
    fit_joint,
    quantity_summary,
    resolve_data,
)
from vfsynth.fits.settings import DEFAULT_SEED
from vfsynth.models import joint as J


def _row_means(dt, jd: J.JointData, group: str = "posterior") -> np.ndarray:
    lat = _flat(dt, group, "latent")  # chain, draw, study, slot
    lat = lat.reshape(-1, lat.shape[-2], lat.shape[-1])
    return lat[:, jd.row_study, jd.row_slot] * jd.factor[None, :]


def _row_cov(jd: J.JointData, rho: float) -> np.ndarray:
    return J.within_study_corr(jd, rho) * np.outer(jd.se, jd.se)


def conditional_row_predictive(res: JointFitResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per draw and normal row: mean and SD of :math:`y_r \\mid y_{-r}, \\theta` and its log density.

    With correlated rows the pointwise term of leave-one-row-out is the conditional normal
    :math:`y_r \\mid y_{s(r),-r}, \\theta` (Bürkner, Gabry & Vehtari 2021, *Comput Stat*
    36:1243): with precision :math:`Q = \\Sigma^{-1}`, mean
    :math:`y_r - [Q(y-m)]_r / Q_{rr}` and variance :math:`1/Q_{rr}`.
    """
    jd = res.data
    m = _row_means(res.dt, jd)
    rho_draws = _flat(res.dt, "posterior", "rho_w")
    y = jd.y
    if rho_draws is None:
        Q = np.linalg.inv(_row_cov(jd, float(res.options.rho_w)))
        g = (y[None, :] - m) @ Q.T
        cvar = 1.0 / np.diag(Q)
        cmean = y[None, :] - g * cvar[None, :]
        csd = np.broadcast_to(np.sqrt(cvar), cmean.shape)
    else:
        rho = rho_draws.ravel()
        cmean = np.empty_like(m)
        csd = np.empty_like(m)
        for d in range(m.shape[0]):
            Q = np.linalg.inv(_row_cov(jd, float(rho[d])))
            cvar = 1.0 / np.diag(Q)
            cmean[d] = y - (Q @ (y - m[d])) * cvar
            csd[d] = np.sqrt(cvar)
    ll = -0.5 * ((y[None, :] - cmean) / csd) ** 2 - np.log(csd) - 0.5 * np.log(2 * np.pi)
    return cmean, csd, ll


def loo_pit_rows(res: JointFitResult, seed: int = DEFAULT_SEED):
    """LOO-PIT of every normal row with the study effects integrated out, with Pareto k per row.

    :func:`vfsynth.fits.joint_loo.loo_pit_marginal`: columns row, outcome, time point, observed,
    ``loo_pit``, ``pareto_k`` and ``reliable`` (k <= 0.7, the univariate models' rule). Count rows
    are discrete and are checked by :func:`posterior_predictive_table` instead. (``seed`` is kept
    for callers; the PIT is computed from the normal CDF, not from random replicates.)
    """
    from vfsynth.fits.joint_loo import loo_pit_marginal

    return loo_pit_marginal(res.dt, res.data, res.options)


def posterior_predictive_table(res: JointFitResult):
    """Observed study estimates vs replicated ones, per row (normal and count rows).

    Replicates come from the posterior predictive group (the full joint model). For count
    rows the compared statistic is the log odds ratio with a 0.5 continuity correction, on
    the SMD scale (divided by pi/sqrt(3)). ``ppp`` is P(replicated >= observed); values near
    0 or 1 flag misfit.
    """
    import pandas as pd

    jd = res.data
    rows = []
    pp = res.dt["posterior_predictive"] if "posterior_predictive" in res.dt.children else None
    if jd.n_rows and pp is not None:
        rep = np.asarray(pp["y"].values).reshape(-1, jd.n_rows)
        for r in range(jd.n_rows):
            x = rep[:, r]
            rows.append({"row": jd.row_label[r], "outcome": jd.row_outcome[r], "timepoint": jd.row_timepoint[r],
                         "kind": "estimate", "observed": float(jd.y[r]), "rep_mean": float(x.mean()),
                         "rep_q2.5": float(np.quantile(x, 0.025)), "rep_q97.5": float(np.quantile(x, 0.975)),
                         "ppp": float(np.mean(x >= jd.y[r]))})
    if jd.n_count_rows and pp is not None:
        et = np.asarray(pp["events_t"].values).reshape(-1, jd.n_count_rows)
        ec = np.asarray(pp["events_c"].values).reshape(-1, jd.n_count_rows)

        def lor(a, n1, c, n0):
            return (np.log((a + 0.5) / (n1 - a + 0.5)) - np.log((c + 0.5) / (n0 - c + 0.5))) / J.CHINN

        for r in range(jd.n_count_rows):
            obs = float(lor(jd.events_t[r], jd.n_t[r], jd.events_c[r], jd.n_c[r]))
            x = lor(et[:, r], jd.n_t[r], ec[:, r], jd.n_c[r])
            rows.append({"row": jd.crow_label[r], "outcome": jd.crow_outcome[r], "timepoint": jd.crow_timepoint[r],
                         "kind": "counts (log OR / (pi/sqrt 3))", "observed": obs, "rep_mean": float(x.mean()),
                         "rep_q2.5": float(np.quantile(x, 0.025)), "rep_q97.5": float(np.quantile(x, 0.975)),
                         "ppp": float(np.mean(x >= obs))})
    return pd.DataFrame(rows)


def prior_predictive_check(
    data: Any = None,
    *,
    mediators=J.DEFAULT_MEDIATORS,
    outcomes=J.DEFAULT_OUTCOMES,
    options: J.JointOptions | None = None,
    tau_priors: dict | None = None,
    mu_priors: dict | None = None,
    draws: int = 4000,
    seed: int = DEFAULT_SEED,
) -> dict[str, float]:
    """Probabilities under the prior that implied effects are implausibly large.

    Returns P(|a| > 2), P(|total| > 2), P(|indirect| > 1), P(|c'| > 2), P(|b| > 1),
    P(tau_k > 1) per construct, and P(|replicated SMD row| > 3) (SMD rows). The implied prior
    of b (a correlation times a ratio of heterogeneity SDs) is heavy-tailed by construction;
    with ``informative_b`` the draws are importance-weighted by the N(0.24, 0.12) factor.
    """
    import pymc as pm

    jd, _ = resolve_data(data, mediators, outcomes)
    options = options or J.JointOptions()
    dtau, dmu = J.default_priors(jd.constructs)
    tau_priors = {c: {**dtau, **(tau_priors or {})}[c] for c in jd.constructs}
    mu_priors = {c: {**dmu, **(mu_priors or {})}[c] for c in jd.constructs}
    model = J.build_generative(jd, tau_priors, mu_priors, options)
    with model:
        pr = pm.sample_prior_predictive(draws=draws, random_seed=seed)
    g = pr["prior"]
    w = None
    if options.informative_b:
        from scipy.stats import norm

        w = norm.pdf(np.asarray(g["b"].values).ravel(), J.B_EXTERNAL_MEAN, J.B_EXTERNAL_SD)
    w = np.ones(draws) if w is None else w
    w = w / w.sum()

    def p(name, thr, comp=None):
        x = np.asarray(g[name].values).reshape(draws, -1)
        x = x[:, comp] if comp is not None else x[:, 0]
        return float(np.sum(w * (np.abs(x) > thr)))

    out = {"P(|a|>2)": p("a", 2.0), "P(|total|>2)": p("total", 2.0), "P(|indirect|>1)": p("indirect", 1.0),
           "P(|c_prime|>2)": p("c_prime", 2.0), "P(|b|>1)": p("b", 1.0)}
    for k, c in enumerate(jd.constructs):
        out[f"P(tau_{c}>1)"] = p("tau", 1.0, k)
    if jd.n_rows:
        has_pp = "prior_predictive" in pr.children and "y" in pr["prior_predictive"].data_vars
        grp = pr["prior_predictive"] if has_pp else g
        y = np.asarray(grp["y"].values).reshape(draws, -1)
        smd = np.array([m == "SMD" for m in jd.row_measure])
        if smd.any():
            out["P(|y_SMD|>3)"] = float(np.sum(w[:, None] * (np.abs(y[:, smd]) > 3.0)) / smd.sum())
    return out


def rho_w_sensitivity(
    data: Any = None,
    grid=(0.0, 0.3, 0.6),
    *,
    quantities=("a", "b", "c_prime", "indirect", "total", "proportion_mediated"),
    **fit_kwargs,
):
    """Refit across within-study correlations and tabulate how the mediation results move.

    Every refit uses the same seed. Returns a DataFrame with one row per (rho_w, quantity):
    mean, sd, q2.5, q97.5, prior_only, and the number of studies with 2+ normal rows (the
    only studies where rho_w enters the likelihood).
    """
    import pandas as pd

    base = fit_kwargs.pop("options", None) or J.JointOptions()
    fit_kwargs.setdefault("posterior_predictive", False)
    rows = []
    from dataclasses import replace

    for rho in grid:
        res = fit_joint(data, options=replace(base, rho_w=float(rho)), **fit_kwargs)
        jd = res.data
        multi = int(np.sum(np.bincount(jd.row_study, minlength=len(jd.studies)) >= 2)) if jd.n_rows else 0
        deps = J.quantity_dependencies(jd)
        for q in quantities:
            s = quantity_summary(res, q, depends_on=deps[q])
            src = s["posterior_if_shown"] if s["prior_only"] else s
            rows.append({"rho_w": float(rho), "quantity": q, "mean": src["mean"], "median": src["median"], "sd": src["sd"],
                         "q2.5": src["q2.5"], "q97.5": src["q97.5"], "mcse_mean": s.get("mcse_mean"),
                         "prior_only": s["prior_only"], "studies_with_2plus_rows": multi,
                         "divergences": res.verdict.get("divergences"), "max_rhat": res.verdict.get("max_rhat")})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
