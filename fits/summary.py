"""Posterior summaries of a univariate fit: the ``vfsynth fit --json`` object.

Intervals are equal-tailed 95% credible intervals (2.5% and 97.5% posterior
quantiles) plus 95% highest-density intervals (ArviZ ``hdi``); Monte Carlo standard
errors are ArviZ's (``mcse``, Vehtari et al. 2021). ``p_benefit`` is
:math:`P(\\mu > 0 \\mid y)`: estimates are on the benefit scale, so positive favours the
intervention. The prediction interval is the 95% interval of ``theta_new``, the effect
in a new study (Higgins, Thompson & Spiegelhalter 2009). For event measures (RR, OR, RD, IRR)
``source`` gives mu on the analysis's own measure and direction (:func:`source_block`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from vfsynth.data.jsonable import to_jsonable


def _draws(dt, name: str) -> np.ndarray | None:
    post = dt["posterior"]
    if name not in post.data_vars:
        return None
    return np.asarray(post[name].values, dtype=float)


def _mcse(dt, name: str, method: str = "mean", prob: float | None = None) -> float:
    import arviz_stats as azs

    kw = {"method": method}
    if prob is not None:
        kw["prob"] = prob
    r = azs.mcse(dt, var_names=[name], **kw)
    r = r["posterior"] if hasattr(r, "children") and "posterior" in r.children else r
    return float(np.asarray(r[name].values))


def _hdi(dt, name: str, prob: float = 0.95) -> tuple[float, float]:
    import arviz_stats as azs

    r = azs.hdi(dt, prob=prob, var_names=[name])
    r = r["posterior"] if hasattr(r, "children") and "posterior" in r.children else r
    v = np.asarray(r[name].values, dtype=float).ravel()
    return float(v[0]), float(v[-1])


def param_summary(dt, name: str, *, hdi: bool = True) -> dict[str, float] | None:
    """mean, sd, median, q2.5, q97.5, hdi_2.5, hdi_97.5, mcse_mean, mcse_sd,
    mcse_q2.5 / mcse_q97.5 (quantile MCSE), ess_bulk, ess_tail, rhat for a scalar variable."""
    import arviz_stats as azs

    x = _draws(dt, name)
    if x is None:
        return None
    flat = x.reshape(-1)
    out: dict[str, float] = {
        "mean": float(flat.mean()),
        "sd": float(flat.std(ddof=1)),
        "median": float(np.quantile(flat, 0.5)),
        "q2.5": float(np.quantile(flat, 0.025)),
        "q97.5": float(np.quantile(flat, 0.975)),
    }
    if hdi:
        lo, hi = _hdi(dt, name)
        out["hdi_2.5"], out["hdi_97.5"] = lo, hi
    if np.ptp(flat) == 0:
        return out
    out["mcse_mean"] = _mcse(dt, name, "mean")
    out["mcse_sd"] = _mcse(dt, name, "sd")
    out["mcse_q2.5"] = _mcse(dt, name, "quantile", 0.025)
    out["mcse_q97.5"] = _mcse(dt, name, "quantile", 0.975)
    for key, method in (("ess_bulk", "bulk"), ("ess_tail", "tail")):
        r = azs.ess(dt, var_names=[name], method=method)
        out[key] = float(np.asarray(r[name].values))
    out["rhat"] = float(np.asarray(azs.rhat(dt, var_names=[name])[name].values))
    return out


def prob_above(dt, name: str, threshold: float = 0.0) -> dict[str, float] | None:
    """P(name > threshold) with its MCSE (MCSE of the mean of the indicator)."""
    x = _draws(dt, name)
    if x is None:
        return None
    ind = (x > threshold).astype(float)
    p = float(ind.mean())
    mcse = _indicator_mcse(ind)
    return {"p": p, "mcse": mcse}


def _indicator_mcse(ind: np.ndarray) -> float:
    """MCSE of a mean of per-draw values (chain, draw) via ArviZ bulk ESS of the indicator."""
    import arviz_stats as azs

    p = float(ind.mean())
    if p in (0.0, 1.0):
        return 0.0
    ess = float(azs.ess(ind, method="mean"))
    return math.sqrt(p * (1 - p) / ess)


def exact_hdi(quantile, prob: float = 0.95) -> tuple[float, float]:
    """Highest-density interval of a unimodal distribution given its quantile function.

    The HDI is the shortest interval holding ``prob``: :math:`[Q(p), Q(p + prob)]` with
    :math:`p \\in [0, 1 - prob]` minimising the width (bounded scalar minimisation).
    """
    from scipy.optimize import minimize_scalar

    def width(p):
        lo, hi = quantile([p, p + prob])
        return float(hi - lo)

    top = 1.0 - prob
    r = minimize_scalar(width, bounds=(0.0, top), method="bounded", options={"xatol": 1e-7})
    # the optimum can sit on a bound (a posterior piled up at tau = 0): compare with the ends
    best = min((r.x, 0.0, top), key=width)
    lo, hi = quantile([best, best + prob])
    return float(lo), float(hi)


def _exact_summaries(ep, table, model: str) -> tuple[dict, dict | None, dict, dict, list]:
    """mu, tau, P(benefit), prediction and per-study summaries from an exact posterior.

    Same keys as the draw-based summaries; Monte-Carlo errors are 0 (no draws are involved)
    and there are no ESS / R-hat entries. HDIs by :func:`exact_hdi` (mu and tau posteriors of
    the normal–normal model are unimodal).
    """
    q = (0.025, 0.5, 0.975)
    mq = ep.mu_quantiles(q)
    mu = {"mean": ep.mu_mean, "sd": ep.mu_sd, "median": float(mq[1]), "q2.5": float(mq[0]),
          "q97.5": float(mq[2]), "mcse_mean": 0.0, "mcse_sd": 0.0}
    mu["hdi_2.5"], mu["hdi_97.5"] = exact_hdi(ep.mu_quantiles)
    tau = None
    if model != "common-effect":
        tq = ep.tau_quantiles(q)
        tau = {"mean": ep.tau_mean, "sd": ep.tau_sd, "median": float(tq[1]), "q2.5": float(tq[0]),
               "q97.5": float(tq[2]), "mcse_mean": 0.0, "mcse_sd": 0.0}
        tau["hdi_2.5"], tau["hdi_97.5"] = exact_hdi(ep.tau_quantiles)
    pq = ep.predictive_quantiles(q)
    pred = {"mean": ep.predictive_mean, "median": float(pq[1]), "q2.5": float(pq[0]), "q97.5": float(pq[2]),
            "p_benefit": ep.prob_new_greater(0.0)}
    thq = ep.theta_quantiles(q)
    tm, ts = ep.theta_mean, ep.theta_sd
    theta = [{"study": s, "estimate": est, "se": se, "mean": m, "sd": sd, "q2.5": lo, "q97.5": hi}
             for s, est, se, m, sd, lo, hi in zip(table.study, table.estimate.tolist(), table.se.tolist(),
                                                 tm.tolist(), ts.tolist(), thq[:, 0].tolist(), thq[:, 2].tolist(),
                                                 strict=True)]
    return mu, tau, {"p": ep.prob_mu_greater(0.0), "mcse": 0.0}, pred, theta


def summary_frame(fit, level: float = 0.95):
    """One row per quantity of a fit (``mu``, ``tau``, ``theta_new``, ``theta[<study>]``) as a DataFrame.

    Columns ``mean``, ``sd``, ``median``, ``low``, ``high`` (the equal-tailed ``level``
    interval), ``mcse_mean`` and ``source``: ``"exact"`` (numerical integration, no Monte-Carlo
    error) or ``"draws"`` (posterior draws, MCSE from ArviZ).
    """
    import pandas as pd

    a = (1.0 - level) / 2.0
    qs = (a, 0.5, 1.0 - a)
    rows = []
    ep = getattr(fit, "exact", None)
    if ep is not None:
        mq, pq, thq = ep.mu_quantiles(qs), ep.predictive_quantiles(qs), ep.theta_quantiles(qs)
        rows.append(("mu", ep.mu_mean, ep.mu_sd, *mq, 0.0))
        if fit.model != "common-effect":
            rows.append(("tau", ep.tau_mean, ep.tau_sd, *ep.tau_quantiles(qs), 0.0))
        rows.append(("theta_new", ep.predictive_mean, ep.predictive_sd, *pq, 0.0))
        tm, ts = ep.theta_mean, ep.theta_sd
        rows += [(f"theta[{s}]", tm[i], ts[i], *thq[i], 0.0) for i, s in enumerate(fit.table.study)]
        source = "exact"
    else:
        post = fit.dt["posterior"]
        for name in ("mu", "tau", "theta_new"):
            if name in post.data_vars:
                x = np.asarray(post[name].values, float).reshape(-1)
                rows.append((name, x.mean(), x.std(ddof=1), *np.quantile(x, qs),
                             _mcse(fit.dt, name, "mean") if np.ptp(x) > 0 else 0.0))
        if "theta" in post.data_vars:
            import arviz_stats as azs

            th = np.asarray(post["theta"].values, float).reshape(-1, fit.table.k)
            r = azs.mcse(fit.dt, var_names=["theta"], method="mean")
            r = r["posterior"] if hasattr(r, "children") and "posterior" in r.children else r
            mc = np.asarray(r["theta"].values, float).reshape(-1)
            for i, s in enumerate(fit.table.study):
                x = th[:, i]
                rows.append((f"theta[{s}]", x.mean(), x.std(ddof=1), *np.quantile(x, qs), mc[i]))
        source = "draws"
    frame = pd.DataFrame(rows, columns=["quantity", "mean", "sd", "low", "median", "high", "mcse_mean"])
    frame["source"] = source
    frame.attrs["level"] = level
    frame.attrs["engine"] = getattr(fit, "engine", None)
    return frame.set_index("quantity")


def summarize(fit) -> dict[str, Any]:
    """The JSON object of ``vfsynth fit --json`` for a :class:`vfsynth.fits.runner.FitResult`.

    Keys: ``model``, ``analysis`` (outcome, timepoint, measure), ``mu``, ``tau`` (None for
    the common-effect model), ``p_benefit`` (P(mu > 0) and its MCSE), ``prediction``
    (theta_new mean, median, q2.5, q97.5, P(theta_new > 0)), ``direction`` (higher_is_better and
    whether the data stated it), ``source`` (event measures: :func:`source_block`), ``theta`` (per study: mean, sd, q2.5,
    q97.5), ``diagnostics`` (max_rhat, min_ess_bulk, min_ess_tail, divergences, per chain,
    treedepth_hits, ebfmi_min, passed, problems, target_accept), ``fit`` (id, path,
    cached, seed, sampler settings), ``data`` (k, studies, measure, data_hash, review) and
    ``priors`` (spec, description and citation of each prior).
    """
    table = fit.table
    if getattr(fit, "exact", None) is not None:
        mu, tau, pb, pred, theta = _exact_summaries(fit.exact, table, fit.model)
    else:
        mu, tau, pb, pred, theta = _draw_summaries(fit)
    return _assemble(fit, mu, tau, pb, pred, theta)


def _draw_summaries(fit):
    """mu, tau, P(benefit), prediction and per-study summaries from posterior draws."""
    dt = fit.dt
    table = fit.table
    mu = param_summary(dt, "mu")
    tau = param_summary(dt, "tau") if fit.model != "common-effect" else None
    pb = prob_above(dt, "mu", 0.0)
    pred = None
    tn = _draws(dt, "theta_new")
    if tn is not None:
        flat = tn.reshape(-1)
        pn = prob_above(dt, "theta_new", 0.0)
        pred = {
            "mean": float(flat.mean()),
            "median": float(np.quantile(flat, 0.5)),
            "q2.5": float(np.quantile(flat, 0.025)),
            "q97.5": float(np.quantile(flat, 0.975)),
            "p_benefit": pn["p"],
        }
    theta = None
    th = _draws(dt, "theta")
    if th is not None:
        flat = th.reshape(-1, th.shape[-1])
        theta = [
            {
                "study": s,
                "estimate": float(table.estimate[i]),
                "se": float(table.se[i]),
                "mean": float(flat[:, i].mean()),
                "sd": float(flat[:, i].std(ddof=1)),
                "q2.5": float(np.quantile(flat[:, i], 0.025)),
                "q97.5": float(np.quantile(flat[:, i], 0.975)),
            }
            for i, s in enumerate(table.study)
        ]
    return mu, tau, pb, pred, theta


def source_block(table, mu: dict | None, pred: dict | None, pb: dict | None) -> dict[str, Any] | None:
    """mu (and the prediction) on the analysis's own measure and in its own direction.

    Event measures only (:data:`vfsynth.data.source_scale.EVENT_MEASURES`; None otherwise): the
    RR of a RevMan RR analysis, the events counted as the source counts them. The transforms are
    monotone, so the median and 95% interval are the transformed quantiles of mu (a turned-round
    interval swaps its ends); no mean is given for a ratio. ``p_benefit`` is P(the intervention is
    better in the source's sense), e.g. P(RR < 1) for harmful events.
    """
    from vfsynth.data.source_scale import source_scale

    src = source_scale(table.measure, table.meta.get("direction"))
    if not src.events or mu is None:
        return None
    med, lo, hi = src.interval(mu["median"], mu["q2.5"], mu["q97.5"])
    out: dict[str, Any] = {
        "measure": src.display, "median": med, "q2.5": lo, "q97.5": hi,
        "favours": src.favours(mu["median"]), "favours_intervention": src.favours_side,
        "p_benefit": pb["p"] if pb else None, "p_benefit_is": f"P({src.favours_side})",
        "higher_is_better": src.higher_is_better, "stated": src.stated, "note": src.note,
        "prediction": None,
    }
    if pred is not None and "median" in pred:
        pm, plo, phi = src.interval(pred["median"], pred["q2.5"], pred["q97.5"])
        out["prediction"] = {"median": pm, "q2.5": plo, "q97.5": phi}
    return out


def _assemble(fit, mu, tau, pb, pred, theta) -> dict[str, Any]:
    table = fit.table
    v = fit.verdict
    diag = {
        "max_rhat": v.get("max_rhat"),
        "min_ess_bulk": v.get("min_ess_bulk"),
        "min_ess_tail": v.get("min_ess_tail"),
        "divergences": v.get("divergences"),
        "divergences_per_chain": v.get("divergences_per_chain"),
        "treedepth_hits": v.get("treedepth_hits"),
        "treedepth_per_chain": v.get("treedepth_per_chain"),
        "ebfmi_min": v.get("ebfmi_min"),
        "target_accept": v.get("target_accept"),
        "attempts": v.get("attempts"),
        "problems": v.get("problems", []),
        "passed": bool(v.get("passed")),
        "note": v.get("note"),
    }
    priors = {}
    for key, pr in (("mu", fit.mu_prior), ("tau", fit.tau_prior)):
        if pr is not None:
            priors[key] = {"spec": pr.spec, "description": pr.description, "citation": pr.citation}
    cfg = fit.config
    sampler = dict(cfg.get("sampler") or {})
    if v.get("target_accept") is not None and "target_accept" in sampler:
        # the config keeps the requested value (it is the fit's identity); show what was used
        sampler["target_accept_requested"] = sampler["target_accept"]
        sampler["target_accept"] = v["target_accept"]
    return to_jsonable(
        {
            "model": fit.model,
            "engine": getattr(fit, "engine", "nuts"),
            "point_estimate": "posterior mean (mean); median and 95% equal-tailed interval (q2.5, q97.5)",
            "analysis": {"outcome": table.outcome, "timepoint": table.timepoint, "measure": table.measure},
            "mu": mu,
            "tau": tau,
            "p_benefit": pb["p"] if pb else None,
            "p_benefit_mcse": pb["mcse"] if pb else None,
            "prediction": pred,
            "direction": table.meta.get("direction"),
            "source": source_block(table, mu, pred, pb),
            "theta": theta,
            "diagnostics": diag,
            "fit": {
                "id": fit.fit_id,
                "path": str(fit.path) if fit.path is not None else None,
                "cached": bool(fit.cached),
                "seed": cfg.get("seed"),
                "engine": getattr(fit, "engine", "nuts"),
                "sampler": sampler,
                "versions": cfg.get("versions"),
                "notes": list(fit.notes),
            },
            "data": {
                "k": table.k,
                "studies": list(table.study),
                "measure": table.measure,
                "data_hash": cfg.get("data_hash"),
                "review": table.meta.get("review"),
                "with_counts": int(table.has_counts.sum()),
            },
            "priors": priors,
        }
    )
