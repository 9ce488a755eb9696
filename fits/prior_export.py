"""Export a fit's posterior hyperparameters as portable priors (``vfsynth-priors/1``) and read them back.

Why
---
A meta-analysis posterior is the natural prior for the next update of the review (sequential
Bayesian updating; Spiegelhalter, Abrams & Myles 2004, ch. 3). The saved fit holds draws; a
*portable* prior needs a parametric form that any tool can use. This module fits, per
hyperparameter:

* ``mu`` (per outcome): a normal, or a two-component normal mixture (EM on the draws) when the
  normal misses the posterior quantiles by more than :data:`MIXTURE_THRESHOLD` posterior SDs
  and the mixture does better;
* ``tau`` (per outcome): log-normal, inverse-gamma, half-normal and gamma, fitted by quantile
  matching to the draws; the family with the smallest maximum quantile error is chosen;
* mediation coefficients of joint fits (``a``, ``b``, ``c_prime``, ``indirect``, ``total``):
  normal;
* correlations (joint fits, ``corr_pairs``): a beta distribution on ``(r + 1)/2`` per pair
  (method of moments), as in the LKJ marginal (Lewandowski, Kurowicka & Joe 2009: each
  off-diagonal of an LKJ(eta) matrix in K dimensions is Beta(eta - 1 + K/2, same) on (r+1)/2).

Goodness of fit is reported for every parameter: the approximation's quantile minus the
posterior draws' quantile at 2.5/25/50/75/97.5%, the largest of those in posterior-SD units,
and a Kullback–Leibler estimate ``KL(posterior || approximation)`` (mean over draws of the log
ratio of a Gaussian kernel density estimate of the draws to the fitted density; biased for
small draws counts, a diagnostic, not a test).

Optional modifications, applied when the prior is *used* (so one exported file serves all):

* **robust mixture** (Schmidli, Gsteiger, Roychoudhury, O'Hagan, Spiegelhalter & Neuenschwander
  2014, *Biometrics* 70:1023–1032; RBesT's ``robustify``): ``(1 - w) * fitted + w * N(m, s_v^2)``
  with ``m`` the posterior mean and ``s_v`` the unit-information SD (one patient's worth of
  information; Röver et al. 2021), so that conflicting new data can override the prior;
* **power-prior discount** ``alpha`` in (0, 1] (Ibrahim & Chen 2000; for a normal
  approximation raising to the power ``alpha`` multiplies the precision by ``alpha``): every
  normal component's variance of ``mu`` is multiplied by ``1/alpha`` (and the log-normal
  ``s**2`` of tau likewise; other tau families are not discounted and say so).

Prior effective sample size (``ess``): for a normal prior on a parameter whose
unit-information SD is ``sigma_u`` (per patient), ``ESS = (sigma_u / sd)^2`` (Morita, Thall &
Müller 2008, *Biometrics* 64:595–602, for the conjugate normal case); for mixtures the
expected local-information-ratio ESS ``ESS = sigma_u^2 * E_prior[-d^2/dmu^2 log p(mu)]``
(Neuenschwander, Weber, Schmidli & O'Hagan 2020, *Biometrics* 76:1149–1158), computed by
quadrature. ``sigma_u`` comes from :func:`vfsynth.models.priors.unit_information_sd` (the fit's
table when it has sample sizes, else the measure's convention). No ESS is given for tau (no
accepted definition for a variance component) or for MD outcomes without sample sizes.

The file format ``vfsynth-priors/1`` (JSON) is documented in
:data:`vfsynth.fits.prior_files.FORMAT_DOC`; writing, validation and reading back (with the
ESS, :func:`~vfsynth.fits.prior_files.elir_ess`) live in :mod:`vfsynth.fits.prior_files`.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

import numpy as np
from scipy import optimize, stats

from vfsynth.fits.engines.exact import exact_draws
from vfsynth.fits.prior_files import FORMAT, _location_prior, elir_ess, validate_priors
from vfsynth.models import priors as P

QUANTILES = (0.025, 0.25, 0.5, 0.75, 0.975)
#: Use a two-component mixture for mu when the normal's worst quantile error exceeds this
#: many posterior SDs (and the mixture reduces it).
MIXTURE_THRESHOLD = 0.05
#: Draws used for the KDE in the KL estimate (subsampled deterministically beyond this).
_KL_MAX = 4000


# --------------------------------------------------------------------------------------------
# Fitting parametric approximations to draws
# --------------------------------------------------------------------------------------------


def _quantile_error(x: np.ndarray, ppf) -> tuple[dict[str, float], float, float]:
    emp = np.quantile(x, QUANTILES)
    fit = np.asarray(ppf(np.asarray(QUANTILES)), dtype=float)
    err = fit - emp
    sd = float(np.std(x, ddof=1))
    mx = float(np.max(np.abs(err)))
    return {f"{q:g}": float(e) for q, e in zip(QUANTILES, err, strict=True)}, mx, mx / sd if sd > 0 else math.inf


def _kl_estimate(x: np.ndarray, logpdf, *, positive: bool = False) -> float:
    """KL(posterior || fitted) ~ mean over draws of log kde(x) - log q(x) (a diagnostic).

    For positive parameters the KDE is built on log x and mapped back (Jacobian 1/x), which
    avoids the boundary bias of a KDE at 0."""
    xs = x if len(x) <= _KL_MAX else x[np.linspace(0, len(x) - 1, _KL_MAX).astype(int)]
    if positive:
        lx = np.log(xs)
        kde = stats.gaussian_kde(lx)
        logp = np.log(kde(lx)) - lx
    else:
        kde = stats.gaussian_kde(xs)
        logp = np.log(kde(xs))
    with np.errstate(divide="ignore"):
        logq = np.asarray(logpdf(xs), dtype=float)
    return float(np.mean(logp - logq))


def _em_two_normals(x: np.ndarray, iters: int = 300, tol: float = 1e-8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximum-likelihood two-component normal mixture by EM (deterministic start at the
    25% / 75% quantiles, equal weights), returning (weights, means, sds). Stops when the mean
    log-likelihood gains less than ``tol`` per draw."""
    w = np.array([0.5, 0.5])
    m = np.quantile(x, [0.25, 0.75]).astype(float)
    s = np.full(2, np.std(x) / 1.5)
    xx = x[:, None]
    ll_old = -np.inf
    for _ in range(iters):
        lp = np.log(w)[None, :] - np.log(s)[None, :] - 0.5 * ((xx - m[None, :]) / s[None, :]) ** 2
        mx = lp.max(axis=1, keepdims=True)
        ll = mx[:, 0] + np.log(np.exp(lp - mx).sum(axis=1))
        r = np.exp(lp - ll[:, None])
        nk = r.sum(0)
        w = nk / len(x)
        m = (r * xx).sum(0) / nk
        s = np.sqrt((r * (xx - m[None, :]) ** 2).sum(0) / nk)
        s = np.maximum(s, 1e-6 * np.std(x))
        mean_ll = float(ll.mean())
        if mean_ll - ll_old < tol:
            break
        ll_old = mean_ll
    order = np.argsort(m)
    return w[order], m[order], s[order]


def fit_location(x: np.ndarray, *, allow_mixture: bool = True) -> dict[str, Any]:
    """Normal (moments) or two-component normal mixture (EM) approximation of draws of mu."""
    x = np.asarray(x, dtype=float)
    mean, sd = float(np.mean(x)), float(np.std(x, ddof=1))
    normal = P.normal_mu(mean, sd)
    qe, mx, mx_sd = _quantile_error(x, stats.norm(mean, sd).ppf)
    cands = {"normal": mx_sd}
    best = ("normal", {"loc": mean, "scale": sd}, qe, mx, mx_sd, normal)
    if allow_mixture and mx_sd > MIXTURE_THRESHOLD and len(x) >= 200:
        # EM on 2000 evenly spaced quantiles of the draws: the same distribution, 20x cheaper
        # than tens of thousands of draws, and deterministic.
        n = min(len(x), 2000)
        w, m, s = _em_two_normals(np.quantile(x, (np.arange(n) + 0.5) / n))
        mix = P.normal_mixture_mu(w, m, s)
        qe2, mx2, mx2_sd = _quantile_error(x, mix.ppf)
        cands["normal-mixture"] = mx2_sd
        if mx2_sd < mx_sd:
            best = ("normal-mixture", mix.params, qe2, mx2, mx2_sd, mix)
    fam, params, qe, mx, mx_sd, dist = best
    return {"family": fam, "params": params,
            "fit": {"quantile_error": qe, "max_abs_quantile_error": mx, "max_abs_quantile_error_sd": mx_sd,
                    "kl_estimate": _kl_estimate(x, dist.logpdf), "candidates": cands}}


_MATCH_QS = np.linspace(0.01, 0.99, 99)


def _quantile_match(x: np.ndarray, make, theta0: np.ndarray):
    """Parameters minimising the squared error of 99 quantiles (1%..99%) of ``make(theta)``
    against the draws (quantile matching; robust to the far tails, unlike maximum likelihood
    for a log-normal when tau has posterior mass near 0)."""
    emp = np.quantile(x, _MATCH_QS)
    sd = float(np.std(x))

    def loss(th):
        try:
            q = make(th).ppf(_MATCH_QS)
        except (ValueError, FloatingPointError, OverflowError):
            return 1e12
        if not np.all(np.isfinite(q)):
            return 1e12
        return float(np.sum(((q - emp) / sd) ** 2))

    res = optimize.minimize(loss, theta0, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 4000})
    return res.x


def fit_scale(x: np.ndarray) -> dict[str, Any]:
    """Approximate draws of tau (> 0) by log-normal, inverse-gamma, half-normal and gamma
    distributions, each fitted by quantile matching
    (:func:`_quantile_match`, started from the maximum-likelihood / moment fit); the family with
    the smallest worst quantile error (2.5/25/50/75/97.5%, in posterior SDs) is chosen."""
    x = np.asarray(x, dtype=float)
    x = x[x > 0]
    lx = np.log(x)
    mean, var = float(x.mean()), float(x.var())
    specs = {
        # family: (make(theta) on an unconstrained theta, theta0, params(theta))
        "lognormal": (lambda th: stats.lognorm(s=math.exp(th[1]), scale=math.exp(th[0])),
                      np.array([float(np.median(lx)), math.log(float(lx.std()) + 1e-12)]),
                      lambda th: {"m": float(th[0]), "s": float(math.exp(th[1]))}),
        "half-normal": (lambda th: stats.halfnorm(scale=math.exp(th[0])),
                        np.array([0.5 * math.log(float(np.mean(x**2)))]),
                        lambda th: {"scale": float(math.exp(th[0]))}),
        "inverse-gamma": (lambda th: stats.invgamma(math.exp(th[0]), scale=math.exp(th[1])),
                          np.array([math.log(mean**2 / var + 2), math.log(mean * (mean**2 / var + 1))]),
                          lambda th: {"shape": float(math.exp(th[0])), "scale": float(math.exp(th[1]))}),
        "gamma": (lambda th: stats.gamma(math.exp(th[0]), scale=math.exp(th[1])),
                  np.array([math.log(mean**2 / var), math.log(var / mean)]),
                  lambda th: {"shape": float(math.exp(th[0])), "rate": float(math.exp(-th[1]))}),
    }
    scores, details = {}, {}
    for fam, (make, th0, to_params) in specs.items():
        th = _quantile_match(x, make, th0)
        dist = make(th)
        qe, mx, mx_sd = _quantile_error(x, dist.ppf)
        scores[fam] = mx_sd
        details[fam] = (to_params(th), dist, qe, mx, mx_sd)
    fam = min(scores, key=lambda f: scores[f])
    params, dist, qe, mx, mx_sd = details[fam]
    return {"family": fam, "params": params,
            "fit": {"quantile_error": qe, "max_abs_quantile_error": mx, "max_abs_quantile_error_sd": mx_sd,
                    "kl_estimate": _kl_estimate(x, dist.logpdf, positive=True), "candidates": scores,
                    "method": "quantile matching (1%..99%)"}}


def fit_correlation(r: np.ndarray) -> dict[str, Any]:
    """Beta(a, b) on (r + 1)/2 by the method of moments."""
    u = (np.clip(np.asarray(r, dtype=float), -1 + 1e-12, 1 - 1e-12) + 1) / 2
    m, v = float(u.mean()), float(u.var(ddof=1))
    common = m * (1 - m) / v - 1
    a, b = m * common, (1 - m) * common
    dist = stats.beta(a, b, loc=-1, scale=2)
    rr = 2 * u - 1
    qe, mx, mx_sd = _quantile_error(rr, dist.ppf)
    return {"family": "beta", "params": {"a": float(a), "b": float(b)},
            "fit": {"quantile_error": qe, "max_abs_quantile_error": mx, "max_abs_quantile_error_sd": mx_sd,
                    "kl_estimate": _kl_estimate(rr, dist.logpdf), "candidates": {"beta": mx_sd}}}


#: Equal-probability tau bins of the optional mu|tau block.
JOINT_BINS = 40


def joint_block(mu: np.ndarray, tau: np.ndarray, label: str, bins: int = JOINT_BINS) -> dict[str, Any]:
    """The posterior dependence of mu on tau, as a portable table: ``bins`` equal-probability
    bins of the tau draws, each with its tau median, probability, and the mean and SD of mu
    within the bin.

    Used as a prior, this is the mixture ``sum_b p_b N(mu; m_b, s_b^2) delta(tau - t_b)``: given
    tau, the NNHM posterior of mu is exactly normal, so within a narrow bin the normal is
    accurate, and the update (:func:`vfsynth.fits.update.joint_update`) keeps the mu–tau
    dependence that the product of marginal priors drops. Exact-engine only (a PyMC model
    cannot take it as a prior on independent mu and tau)."""
    mu, tau = np.asarray(mu, float).ravel(), np.asarray(tau, float).ravel()
    order = np.argsort(tau, kind="stable")
    groups = np.array_split(order, bins)
    t, w, m, sd = [], [], [], []
    for g in groups:
        if len(g) < 2:
            continue
        t.append(float(np.median(tau[g])))
        w.append(len(g) / len(tau))
        m.append(float(mu[g].mean()))
        sd.append(float(max(mu[g].std(ddof=1), 1e-12)))
    return {"label": label, "method": f"{len(t)} equal-probability tau bins; mu | bin normal",
            "tau": t, "weights": w, "mu_mean": m, "mu_sd": sd}


def _posterior_summary(x: np.ndarray) -> dict[str, Any]:
    return {"mean": float(np.mean(x)), "sd": float(np.std(x, ddof=1)),
            "quantiles": {f"{q:g}": float(v) for q, v in zip(QUANTILES, np.quantile(x, QUANTILES), strict=True)},
            "p_positive": float(np.mean(x > 0))}


# --------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------

_MEDIATION = ("a", "b", "c_prime", "indirect", "total")


def _draws(dt, name: str) -> Any:
    post = dt["posterior"] if "posterior" in dt.children else dt.posterior
    if name not in post.data_vars:
        return None
    return post[name]


def _flat(da) -> np.ndarray:
    return np.asarray(da.values, dtype=float).reshape(-1)


def _unit_sd(measure: str, table=None) -> float | None:
    try:
        return float(P.unit_information_sd(measure, table)[0])
    except (ValueError, KeyError):
        return None


def export_priors(dt, config: dict | None = None, *, table=None, robust: float | None = None,
                  power_alpha: float = 1.0, allow_mixture: bool = True) -> dict[str, Any]:
    """Build the ``vfsynth-priors/1`` object from a fit's posterior draws.

    Parameters
    ----------
    dt : DataTree
        A fit's draws (``posterior`` group with ``mu`` and ``tau``; joint fits: per-construct
        ``mu``/``tau`` and ``corr_pairs`` plus mediation Deterministics).
    config : dict, optional
        The fit's stored configuration (:mod:`vfsynth.fits.store`), recorded as the source.
    table : EffectTable, optional
        For the unit-information SD (ESS); else the measure's convention is used.
    robust : float, optional
        Default robust weight recorded in the file (``None``: no robust component).
    power_alpha : float
        Default power-prior discount recorded in the file (1 = none).
    """
    config = dict(config or {})
    analysis = config.get("analysis", {}) if isinstance(config.get("analysis"), dict) else {}
    measure = analysis.get("measure") or (table.measure if table is not None else "")
    params: list[dict[str, Any]] = []
    for pname in ("mu", "tau"):
        da = _draws(dt, pname)
        if da is None:
            continue
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        labels = [""] if not extra else [str(v) for v in da[extra[0]].values]
        for i, lab in enumerate(labels):
            x = _flat(da) if not extra else _flat(da.isel({extra[0]: i}))
            fitted = fit_location(x, allow_mixture=allow_mixture) if pname == "mu" else fit_scale(x)
            m = measure if not extra else "SMD"
            entry = {"parameter": pname, "name": pname, "label": lab or analysis.get("outcome", ""), "measure": m,
                     **fitted, "posterior": _posterior_summary(x)}
            if pname == "mu":
                usd = _unit_sd(m, table if not extra else None)
                entry["unit_sd"] = usd
                entry["ess"] = None if usd is None else {
                    "value": elir_ess(_location_prior(entry, None, 1.0), usd),
                    "method": "ELIR (Neuenschwander et al. 2020); normal: (unit SD / prior SD)^2 (Morita et al. 2008)"}
            else:
                entry["unit_sd"], entry["ess"] = None, None
            params.append(entry)
    for name in _MEDIATION:
        da = _draws(dt, name)
        if da is None or [d for d in da.dims if d not in ("chain", "draw")]:
            continue
        x = _flat(da)
        x = x[np.isfinite(x)]
        params.append({"parameter": "mediation", "name": name, "label": "", "measure": "SMD",
                       **fit_location(x, allow_mixture=False), "posterior": _posterior_summary(x),
                       "unit_sd": None, "ess": None})
    da = _draws(dt, "corr_pairs")
    if da is not None:
        dim = [d for d in da.dims if d not in ("chain", "draw")][0]
        for i, lab in enumerate(str(v) for v in da[dim].values):
            x = _flat(da.isel({dim: i}))
            params.append({"parameter": "correlation", "name": "corr_pairs", "label": lab, "measure": "",
                           **fit_correlation(x), "posterior": _posterior_summary(x), "unit_sd": None, "ess": None})
    if not params:
        raise ValueError("the fit has no mu / tau draws to export")
    joint = []
    mu_da, tau_da = _draws(dt, "mu"), _draws(dt, "tau")
    if mu_da is not None and tau_da is not None and mu_da.dims == tau_da.dims:
        extra = [d for d in mu_da.dims if d not in ("chain", "draw")]
        if not extra:
            joint.append(joint_block(_flat(mu_da), _flat(tau_da), analysis.get("outcome", "")))
        else:
            for i, lab in enumerate(str(v) for v in mu_da[extra[0]].values):
                joint.append(joint_block(_flat(mu_da.isel({extra[0]: i})), _flat(tau_da.isel({extra[0]: i})), lab))
    n_draws = int(np.prod([dt.posterior.sizes[d] for d in ("chain", "draw")]))
    source = {
        "fit_id": config.get("fit_id") or config.get("id", ""),
        "kind": analysis.get("kind", ""),
        "model": (config.get("model") or {}).get("kind", "") if isinstance(config.get("model"), dict) else config.get("model", ""),
        "review": analysis.get("review", ""),
        "outcome": analysis.get("outcome", ""),
        "timepoint": analysis.get("timepoint", ""),
        "measure": measure,
        "k": analysis.get("k"),
        "n_draws": n_draws,
        "data_hash": config.get("data_hash", ""),
        "priors": config.get("priors", {}),
    }
    out = {"format": FORMAT, "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
           "source": source, "parameters": params, "joint": joint,
           "robust": None if robust is None else {"weight": float(robust), "scale": None},
           "power_alpha": float(power_alpha)}
    validate_priors(out)
    return out


def export_exact(ep, table=None, *, n_draws: int = 20000, seed: int = 1, **kwargs) -> dict[str, Any]:
    """Export from an exact NNHM posterior (:class:`vfsynth.fits.exact.ExactPosterior`) via
    ``n_draws`` exact draws (:func:`exact_draws`)."""
    import xarray as xr

    mu, tau = exact_draws(ep, n_draws, seed)
    ds = xr.Dataset({"mu": (("chain", "draw"), mu[None, :]), "tau": (("chain", "draw"), tau[None, :])})
    dt = xr.DataTree.from_dict({"posterior": ds})
    cfg = {"analysis": {"kind": "exact", "outcome": getattr(table, "outcome", ""),
                        "timepoint": getattr(table, "timepoint", ""), "measure": getattr(table, "measure", ""),
                        "k": ep.k},
           "model": {"kind": "random-effects (exact NNHM)"}, "data_hash": table.content_hash() if table is not None else "",
           "priors": {"tau": ep.tau_prior.to_dict() if hasattr(ep.tau_prior, "to_dict") else ep.tau_prior,
                      "mu": ep.mu_prior.to_dict() if ep.mu_prior is not None else None}}
    return export_priors(dt, cfg, table=table, **kwargs)
