"""Sequential updating: fit only new studies, with an exported posterior as the prior.

``update(priors, table)`` takes a ``vfsynth-priors/1`` file (:mod:`vfsynth.fits.prior_export`)
and the new studies' :class:`~vfsynth.data.effect_table.EffectTable`, and returns the old
posterior (as recorded in the file), the updated posterior and which conclusions changed.

Two engines:

* ``method="exact"`` — the normal–normal hierarchical model by numerical integration
  (:func:`vfsynth.fits.exact.nnhm_exact`; milliseconds). A normal-mixture mu prior (mixture
  export, or robust component) is handled exactly: each normal component gives an exact
  posterior with marginal likelihood ``m_j``, and the posterior is the mixture with weights
  ``w_j m_j / sum_l w_l m_l`` (conjugate mixture updating; Dallal & Hall 1983).
* ``method="mcmc"`` — the package's NUTS models (:func:`vfsynth.fits.runner.fit_univariate`),
  e.g. the binomial–normal model for 2×2 counts; mixture priors enter PyMC as
  ``pm.NormalMixture``.

What is (and is not) preserved: the file carries the *marginal* posteriors of mu and tau. The
update uses their product as the joint prior, so the posterior dependence between mu and tau
after the old studies is lost; :func:`sequential_error` measures the consequence exactly
(quadrature), separately from Monte-Carlo error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import optimize

from vfsynth.fits.prior_files import PriorSet, read_priors
from vfsynth.fits.settings import DEFAULT_SEED

LEVEL_QS = (0.025, 0.5, 0.975)


class NodeMixture:
    """Posterior under the mu|tau block prior: a mixture over tau nodes ``t_b`` of normal mu
    posteriors (see :func:`joint_update`)."""

    def __init__(self, tau, logw, mean, var):
        self.tau = np.asarray(tau, float)
        w = np.exp(logw - logw.max())
        self.weights = w / w.sum()
        self.mean, self.var = np.asarray(mean, float), np.asarray(var, float)

    @property
    def mu_mean(self) -> float:
        return float(np.dot(self.weights, self.mean))

    @property
    def mu_sd(self) -> float:
        m2 = float(np.dot(self.weights, self.var + self.mean**2))
        return math.sqrt(max(m2 - self.mu_mean**2, 0.0))

    def mu_cdf(self, x) -> np.ndarray:
        from scipy import stats

        x = np.atleast_1d(np.asarray(x, float))
        return (self.weights[None, :] * stats.norm.cdf(x[:, None], self.mean[None, :], np.sqrt(self.var)[None, :])).sum(1)

    def mu_quantiles(self, qs=LEVEL_QS) -> np.ndarray:
        sd = np.sqrt(self.var)
        lo, hi = float((self.mean - 40 * sd).min()), float((self.mean + 40 * sd).max())
        return np.array([optimize.brentq(lambda x, q=q: float(self.mu_cdf(x)[0]) - q, lo, hi, xtol=1e-12)
                         for q in qs])

    def prob_mu_greater(self, x: float = 0.0) -> float:
        return float(1 - self.mu_cdf(x)[0])

    def tau_quantiles(self, qs=LEVEL_QS) -> np.ndarray:
        """Quantiles of the discrete node distribution, linearly interpolated between nodes."""
        order = np.argsort(self.tau)
        t, w = self.tau[order], self.weights[order]
        mid = np.cumsum(w) - w / 2
        return np.interp(qs, mid, t)

    @property
    def tau_mean(self) -> float:
        return float(np.dot(self.weights, self.tau))


def joint_update(block: dict, table) -> NodeMixture:
    """Exact NNHM update of the mu|tau block prior (:func:`vfsynth.fits.prior_export.joint_block`).

    For each node ``b`` (tau = ``t_b``, prior mu ~ N(m_b, s_b^2), weight ``p_b``) the new
    studies ``y_i ~ N(mu, se_i^2 + t_b^2)`` give a normal posterior with precision
    ``P_b = 1/s_b^2 + sum w_i`` (``w_i = 1/(se_i^2 + t_b^2)``) and mean
    ``(m_b/s_b^2 + sum w_i y_i)/P_b``, and the marginal likelihood
    ``log p_b(y) = -1/2 [sum log(2 pi / w_i) + sum w_i y_i^2 + m_b^2/s_b^2 - P_b M_b^2 + log(s_b^2 P_b)]``;
    the posterior node weights are ``p_b p_b(y)`` normalised."""
    y, se = np.asarray(table.estimate, float), np.asarray(table.se, float)
    t = np.asarray(block["tau"], float)
    m0, s0 = np.asarray(block["mu_mean"], float), np.asarray(block["mu_sd"], float)
    w = 1 / (se[None, :] ** 2 + t[:, None] ** 2)
    prec = 1 / s0**2 + w.sum(1)
    mean = (m0 / s0**2 + (w * y[None, :]).sum(1)) / prec
    logml = -0.5 * (np.log(2 * np.pi / w).sum(1) + (w * y[None, :] ** 2).sum(1) + m0**2 / s0**2 - prec * mean**2
                    + np.log(s0**2 * prec))
    return NodeMixture(t, np.log(np.asarray(block["weights"], float)) + logml, mean, 1 / prec)


def exact_posterior(table_or_y, se=None, *, tau_prior, mu_prior):
    """The exact NNHM posterior, :func:`~vfsynth.fits.exact.nnhm_exact` (which treats normal-mixture
    mu priors exactly, component by component)."""
    from vfsynth.fits.exact import nnhm_exact

    return nnhm_exact(table_or_y, se, tau_prior=tau_prior, mu_prior=mu_prior)


def summarize_exact(ep) -> dict[str, Any]:
    """mu mean/sd/95% interval/P(mu > 0) and tau median/95% interval of an exact posterior."""
    q = np.asarray(ep.mu_quantiles(LEVEL_QS), dtype=float)
    tq = np.asarray(ep.tau_quantiles(LEVEL_QS), dtype=float)
    return {"mu_mean": float(ep.mu_mean), "mu_sd": float(ep.mu_sd), "mu_low": float(q[0]), "mu_median": float(q[1]),
            "mu_high": float(q[2]), "p_benefit": float(ep.prob_mu_greater(0.0)), "tau_median": float(tq[1]),
            "tau_low": float(tq[0]), "tau_high": float(tq[2]), "mcse": None}


def summarize_draws(dt) -> dict[str, Any]:
    """The same summary from a fit's posterior draws (with Monte-Carlo standard errors)."""
    from vfsynth.fits.summary import param_summary, prob_above

    mu = np.asarray(dt.posterior["mu"].values, dtype=float).reshape(-1)
    out = {"mu_mean": float(mu.mean()), "mu_sd": float(mu.std(ddof=1))}
    q = np.quantile(mu, LEVEL_QS)
    out.update(mu_low=float(q[0]), mu_median=float(q[1]), mu_high=float(q[2]), p_benefit=float(np.mean(mu > 0)))
    if "tau" in dt.posterior.data_vars:
        t = np.quantile(np.asarray(dt.posterior["tau"].values).reshape(-1), LEVEL_QS)
        out.update(tau_low=float(t[0]), tau_median=float(t[1]), tau_high=float(t[2]))
    try:
        ps = param_summary(dt, "mu", hdi=False) or {}
        pb = prob_above(dt, "mu", 0.0) or {}
        out["mcse"] = {"mu_mean": ps.get("mcse_mean"), "p_benefit": pb.get("mcse")}
    except Exception:  # noqa: BLE001 - MCSE is informative only
        out["mcse"] = None
    return out


def _old_summary(entry_mu: dict, entry_tau: dict | None) -> dict[str, Any]:
    post = entry_mu["posterior"]
    q = post.get("quantiles", {})
    out = {"mu_mean": post["mean"], "mu_sd": post["sd"], "mu_low": q.get("0.025"), "mu_median": q.get("0.5"),
           "mu_high": q.get("0.975"), "p_benefit": post.get("p_positive")}
    if entry_tau is not None:
        tq = entry_tau["posterior"].get("quantiles", {})
        out.update(tau_low=tq.get("0.025"), tau_median=tq.get("0.5"), tau_high=tq.get("0.975"))
    return out


def conclusions(old: dict, new: dict) -> list[dict[str, Any]]:
    """Which headline conclusions differ between two summaries.

    Checks P(benefit) = P(mu > 0) against 0.5 and 0.95 (and P(harm) = 1 - P(benefit) against
    0.95), and whether the 95% credible interval excludes 0."""
    rows = []

    def cross(name, f):
        if old.get("p_benefit") is None or new.get("p_benefit") is None:
            return
        a, b = f(old), f(new)
        rows.append({"conclusion": name, "old": a, "new": b, "changed": a != b})

    cross("P(benefit) > 0.5", lambda s: s["p_benefit"] > 0.5)
    cross("P(benefit) >= 0.95", lambda s: s["p_benefit"] >= 0.95)
    cross("P(harm) >= 0.95", lambda s: 1 - s["p_benefit"] >= 0.95)
    if None not in (old.get("mu_low"), old.get("mu_high"), new.get("mu_low"), new.get("mu_high")):
        def excl(s):
            return "above 0" if s["mu_low"] > 0 else ("below 0" if s["mu_high"] < 0 else "includes 0")

        a, b = excl(old), excl(new)
        rows.append({"conclusion": "95% interval vs 0", "old": a, "new": b, "changed": a != b})
    return rows


@dataclass
class UpdateResult:
    """Old vs updated posterior of one outcome."""

    outcome: str
    method: str
    old: dict
    new: dict
    prior_used: dict
    changes: list[dict]
    k_new: int
    ess: float | None
    fit: Any = None
    exact: Any = None
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[str]:
        return [c["conclusion"] for c in self.changes if c["changed"]]

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "method": self.method, "k_new": self.k_new, "old": self.old, "new": self.new,
                "prior_used": self.prior_used, "prior_ess": self.ess, "conclusions": self.changes,
                "changed": self.changed, "fit_id": getattr(self.fit, "fit_id", None), "notes": self.notes}


def update(priors, table, *, label: str | None = None, robust: float | None = None,
           power_alpha: float | None = None, method: str = "auto", model: str | None = None,
           seed: int = DEFAULT_SEED, draws: int = 1000, tune: int = 1000, chains: int = 4,
           fit_dir=None, save: bool = True, progress: bool = False, use_joint: bool | None = None) -> UpdateResult:
    """Update exported priors with the new studies in ``table``.

    Parameters
    ----------
    priors : PriorSet or path
    table : EffectTable
        The new studies only.
    label : str, optional
        Which outcome's priors (default: the table's outcome if the file has it, else the file's
        only outcome).
    robust, power_alpha : optional
        Override the file's robust weight / power-prior discount.
    method : {"auto", "exact", "mcmc"}
        ``auto``: exact unless the table has 2×2 counts (then the binomial–normal NUTS model).
    use_joint : bool, optional
        Exact engine only: use the file's mu|tau block (keeps the posterior dependence of mu
        on tau; :func:`joint_update`) instead of the product of the marginal priors. Default:
        when the file has the block and neither a robust weight nor a power discount is asked
        for (those are defined on the marginal priors).
    """
    ps = priors if isinstance(priors, PriorSet) else read_priors(priors)
    labels = ps.labels("mu")
    if label is None:
        label = table.outcome if table.outcome in labels else (labels[0] if len(labels) == 1 else None)
        if label is None:
            raise ValueError(f"the priors file has mu priors for {labels}; choose one (label=)")
    mu_prior = ps.mu_prior(label, robust=robust, power_alpha=power_alpha)
    tau_prior = ps.tau_prior(label, power_alpha=power_alpha)
    e_mu = ps.entry("mu", label)
    if e_mu.get("measure") and e_mu["measure"] != table.measure:
        raise ValueError(f"the priors are on the {e_mu['measure']} scale but the new data are {table.measure}")
    old = _old_summary(e_mu, ps.entry("tau", label) if label in ps.labels("tau") else None)
    if method == "auto":
        method = "mcmc" if table.has_counts.any() and (model in (None, "binomial-normal")) else "exact"
    notes = []
    fit = exact = None
    if method == "exact":
        if model not in (None, "random-effects"):
            raise ValueError("method='exact' fits the random-effects (normal-normal) model only")
        block = ps.joint(label)
        discounted = bool(robust) or (power_alpha is not None and power_alpha != 1) or bool(
            (ps.obj.get("robust") or {}).get("weight")) or ps.obj.get("power_alpha", 1.0) != 1
        if use_joint is None:
            use_joint = block is not None and not discounted
        if use_joint:
            if block is None:
                raise ValueError(f"the priors file has no mu|tau block for {label!r}")
            if discounted:
                raise ValueError("the mu|tau block cannot be combined with a robust weight or a power discount")
            exact = joint_update(block, table)
            notes.append(f"prior: the exported mu|tau block ({block.get('method', '')}); mu-tau dependence kept")
        else:
            exact = exact_posterior(table, tau_prior=tau_prior, mu_prior=mu_prior)
            notes.append("prior: product of the exported marginal priors of mu and tau")
        new = summarize_exact(exact)
        if table.has_counts.any():
            notes.append("2x2 counts entered through the normal approximation (log OR, SE) in the exact NNHM")
    elif method == "mcmc":
        from vfsynth.fits.runner import fit_univariate

        fit = fit_univariate(table, model=model, tau_prior=tau_prior, mu_prior=mu_prior, seed=seed, draws=draws,
                             tune=tune, chains=chains, save=save, fit_dir=fit_dir, progress=progress)
        new = summarize_draws(fit.dt)
        notes += list(fit.notes)
    else:
        raise ValueError(f"method must be 'auto', 'exact' or 'mcmc', got {method!r}")
    ess = None
    if e_mu.get("unit_sd"):
        from vfsynth.fits.prior_files import elir_ess

        ess = float(elir_ess(mu_prior, e_mu["unit_sd"]))
    if method == "exact" and use_joint:
        method = "exact (mu|tau block)"
    return UpdateResult(outcome=table.outcome, method=method, old=old, new=new,
                        prior_used={"mu": mu_prior.to_dict(), "tau": tau_prior.to_dict()},
                        changes=conclusions(old, new), k_new=table.k, ess=ess, fit=fit, exact=exact, notes=notes)


# --------------------------------------------------------------------------------------------
# Consistency of sequential updating
# --------------------------------------------------------------------------------------------


def sequential_error(early, late, *, tau_prior, mu_prior, n_draws: int = 40000, seed: int = 1) -> dict[str, Any]:
    """Exact comparison of "export after ``early``, update with ``late``" against one analysis of
    all studies (both by quadrature, so no Monte-Carlo error enters the full or the updated
    posterior; the export fits parametric marginals to ``n_draws`` exact draws).

    Returns the full-data summary, the sequential summary and their differences in units of the
    full posterior SD. The difference is the *approximation* error of the export: (i) the
    parametric forms of the marginals and (ii) the lost mu–tau posterior dependence."""
    from vfsynth.fits.exact import nnhm_exact
    from vfsynth.fits.prior_export import export_exact

    full_table = _concat(early, late)
    ep_early = nnhm_exact(early, tau_prior=tau_prior, mu_prior=mu_prior)
    exported = export_exact(ep_early, early, n_draws=n_draws, seed=seed)
    ps = PriorSet(exported)
    seq = exact_posterior(late, tau_prior=ps.tau_prior(), mu_prior=ps.mu_prior())
    full = nnhm_exact(full_table, tau_prior=tau_prior, mu_prior=mu_prior)
    s_full, s_seq = summarize_exact(full), summarize_exact(seq)
    s_joint = summarize_exact(joint_update(ps.joint(), late))
    s_prod = marginal_product_update(ep_early, late)
    sd = s_full["mu_sd"]

    def d(a, b):
        out = {k: (a[k] - b[k]) / sd for k in ("mu_mean", "mu_low", "mu_median", "mu_high")}
        out["mu_sd_ratio"] = a["mu_sd"] / b["mu_sd"]
        out["p_benefit"] = a["p_benefit"] - b["p_benefit"]
        out["tau_median_rel"] = a["tau_median"] / b["tau_median"] - 1
        return out

    return {"full": s_full, "sequential": s_seq, "marginal_product": s_prod, "joint": s_joint,
            "joint_diff": d(s_joint, s_full),  # mu|tau block export: keeps the dependence
            "diff": d(s_seq, s_full),  # total approximation error of export -> update
            "dependence": d(s_prod, s_full),  # from dropping the mu-tau dependence (exact marginals)
            "parametric": d(s_seq, s_prod),  # from the parametric forms of the marginals
            "exported": exported, "early_k": early.k, "late_k": late.k}


def marginal_product_update(ep_early, late, n_grid: int = 4001) -> dict[str, Any]:
    """Exact posterior of the new studies under the *exact* product of the early posterior's
    marginals, ``p(y_late | mu, tau) p(mu | y_early) p(tau | y_early)`` (2-D quadrature: the early
    posterior's tau nodes times a uniform mu grid).

    Compared with the full-data posterior it isolates the error caused by dropping the mu–tau
    dependence; compared with the update under the exported parametric priors it isolates the
    error of the parametric forms."""
    from scipy import special

    lw = ep_early.log_weights
    wt = np.exp(special.logsumexp(lw, axis=1) - special.logsumexp(lw))  # tau node weights
    tnodes = np.asarray(ep_early.node_tau, dtype=float)
    keep = wt > wt.max() * 1e-14
    wt, tnodes = wt[keep], tnodes[keep]
    w_all = np.exp(lw - special.logsumexp(lw)).ravel()
    m_all, v_all = ep_early.cond_mean.ravel(), ep_early.cond_var.ravel()
    sel = w_all > w_all.max() * 1e-14
    w_all, m_all, v_all = w_all[sel], m_all[sel], v_all[sel]
    y, se = np.asarray(late.estimate, dtype=float), np.asarray(late.se, dtype=float)
    sd0 = float(ep_early.mu_sd)
    lo = min(float(ep_early.mu_mean) - 12 * sd0, float(y.min()) - 6 * float(se.max()))
    hi = max(float(ep_early.mu_mean) + 12 * sd0, float(y.max()) + 6 * float(se.max()))
    g = np.linspace(lo, hi, n_grid)
    # early mu marginal on the grid (mixture over the quadrature nodes)
    logp1 = special.logsumexp(np.log(w_all)[:, None] - 0.5 * np.log(2 * np.pi * v_all)[:, None]
                              - 0.5 * (g[None, :] - m_all[:, None]) ** 2 / v_all[:, None], axis=0)
    var = se[None, :] ** 2 + tnodes[:, None] ** 2  # (T, k)
    # log p(y_late | mu = g, tau = t) for every node and grid point: (T, G)
    ll = -0.5 * (np.log(2 * np.pi * var).sum(1)[:, None]
                 + (((y[None, None, :] - g[None, :, None]) ** 2) / var[:, None, :]).sum(2))
    joint = np.log(wt)[:, None] + logp1[None, :] + ll
    joint -= joint.max()
    pj = np.exp(joint)
    pmu = pj.sum(0)
    pmu /= np.trapezoid(pmu, g)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pmu[1:] + pmu[:-1]) * np.diff(g))])
    cdf /= cdf[-1]
    qs = np.interp(LEVEL_QS, cdf, g)
    mean = float(np.trapezoid(g * pmu, g))
    sd = float(np.sqrt(np.trapezoid((g - mean) ** 2 * pmu, g)))
    ptau = pj.sum(1)
    ptau /= ptau.sum()
    order = np.argsort(tnodes)
    tc = np.cumsum(ptau[order])
    tq = np.interp(LEVEL_QS, tc, tnodes[order])
    return {"mu_mean": mean, "mu_sd": sd, "mu_low": float(qs[0]), "mu_median": float(qs[1]), "mu_high": float(qs[2]),
            "p_benefit": float(1 - np.interp(0.0, g, cdf)), "tau_low": float(tq[0]), "tau_median": float(tq[1]),
            "tau_high": float(tq[2]), "mcse": None}


def _concat(a, b):
    """Stack two EffectTables of the same outcome / measure (labels must not clash)."""
    from vfsynth.data.effect_table import EffectTable

    if a.measure != b.measure:
        raise ValueError(f"cannot combine {a.measure} and {b.measure} tables")

    def cat(x, y):
        if x is None or y is None:
            return None
        return np.concatenate([x, y])

    return EffectTable(outcome=a.outcome, timepoint=a.timepoint, measure=a.measure, study=a.study + b.study,
                       estimate=np.r_[a.estimate, b.estimate], se=np.r_[a.se, b.se], n_total=np.r_[a.n_total, b.n_total],
                       year=np.r_[a.year, b.year], derivation=a.derivation + b.derivation, source=a.source + b.source,
                       events_t=cat(a.events_t, b.events_t), n_t=cat(a.n_t, b.n_t), events_c=cat(a.events_c, b.events_c),
                       n_c=cat(a.n_c, b.n_c), meta=dict(a.meta))


def split_by_year(table, year: float | None = None):
    """(studies published up to ``year``, later ones); default: the median year. Studies
    without a year are refused (their order is unknown)."""
    yrs = np.asarray(table.year, dtype=float)
    if not np.all(np.isfinite(yrs)):
        missing = [s for s, y in zip(table.study, yrs, strict=True) if not np.isfinite(y)]
        raise ValueError(f"{table.outcome}: no publication year for {missing}")
    if year is None:
        year = float(np.median(yrs))
    early = yrs <= year
    if early.all() or not early.any():
        raise ValueError(f"{table.outcome}: splitting at {year:g} leaves one side empty")
    return table.subset(early), table.subset(~early), year
