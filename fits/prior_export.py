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

The file format ``vfsynth-priors/1`` (JSON) is documented in :data:`FORMAT_DOC` and checked
by :func:`validate_priors` on read; errors name the offending key path.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize, stats

from vfsynth.data.errors import VfsynthError
from vfsynth.fits.engines.exact import exact_draws
from vfsynth.models import priors as P

FORMAT = "vfsynth-priors/1"
QUANTILES = (0.025, 0.25, 0.5, 0.75, 0.975)
#: Use a two-component mixture for mu when the normal's worst quantile error exceeds this
#: many posterior SDs (and the mixture reduces it).
MIXTURE_THRESHOLD = 0.05
#: Draws used for the KDE in the KL estimate (subsampled deterministically beyond this).
_KL_MAX = 4000

FORMAT_DOC = """\
vfsynth-priors/1 (JSON object)
  format        "vfsynth-priors/1"                                   (required)
  created       ISO-8601 time stamp                                  (optional)
  source        {fit_id, kind, model, review, outcome(s), timepoint, measure, k, n_draws,
                 data_hash, priors (the fit's own priors, to_dict form)}   (required object)
  parameters    list (required, non-empty) of objects:
    parameter     "mu" | "tau" | "mediation" | "correlation"         (required)
    name          variable name in the fit (mu, tau, b, corr_pairs...) (required)
    label         outcome / construct / pair label ("" for scalars)     (required)
    measure       "SMD" | "logOR" | "MD" | "" (correlations, mediation on SMD scale)
    family        mu / mediation: "normal" | "normal-mixture";
                  tau: "lognormal" | "gamma" | "inverse-gamma" | "half-normal";
                  correlation: "beta"                                    (required)
    params        family parameters: normal {loc, scale}; normal-mixture {weights[], locs[],
                  scales[]}; lognormal {m, s}; gamma {shape, rate}; inverse-gamma {shape,
                  scale}; half-normal {scale}; beta {a, b} on (r+1)/2      (required)
    posterior     {mean, sd, quantiles {"0.025": ..}, p_positive}     (required)
    fit           {quantile_error {"0.025": ..}, max_abs_quantile_error,
                   max_abs_quantile_error_sd, kl_estimate, candidates {family: max error sd}}
    unit_sd       unit-information SD used for the ESS (or null)
    ess           {value, method} or null
  joint         list (optional) of {label, method, tau[], weights[], mu_mean[], mu_sd[]}: the
                mu|tau dependence as equal-probability tau bins (exact-engine updates)
  robust        {weight w in [0, 1), scale (vague SD; default unit_sd)} or null (default for
                use; the CLI may override)
  power_alpha   number in (0, 1] (default 1: no discount)
"""


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


def gamma_tau_prior(shape: float, rate: float, description: str = "") -> P.Prior:
    """Gamma(shape, rate) prior on tau from an exported fit: the registry family
    (:func:`vfsynth.models.priors.gamma_tau`), named ``exported``."""
    return P.gamma_tau(shape, rate, name="exported", citation="vfsynth prior export", description=description)


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
# Effective sample size
# --------------------------------------------------------------------------------------------


def elir_ess(prior, unit_sd: float) -> float:
    """Expected local-information-ratio ESS of a prior on a location parameter.

    ``ESS = sigma_u^2 * E_p[-d^2/dx^2 log p(x)]`` (Neuenschwander et al. 2020). For a normal
    prior it equals ``(sigma_u / sd)^2`` exactly (Morita et al. 2008). Computed by quadrature
    on a fine grid over the prior's mass.
    """
    if isinstance(prior, P.Prior) and prior.family == "normal":
        return (unit_sd / prior.params["scale"]) ** 2
    lo, hi = (float(v) for v in prior.ppf([1e-7, 1 - 1e-7]))
    x = np.linspace(lo, hi, 20001)
    h = x[1] - x[0]
    lp = np.asarray(prior.logpdf(x), dtype=float)
    d2 = np.gradient(np.gradient(lp, h), h)
    dens = np.exp(lp)
    info = float(np.trapezoid(dens * -d2, x) / np.trapezoid(dens, x))
    return unit_sd**2 * info


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


def write_priors(obj: dict[str, Any], path: str | Path) -> Path:
    validate_priors(obj)
    path = Path(path)
    path.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
    return path


# --------------------------------------------------------------------------------------------
# Reading and validation
# --------------------------------------------------------------------------------------------


class PriorFileError(VfsynthError, ValueError):
    """A ``vfsynth-priors`` file that is malformed; the message names the key path."""


_FAMILY_PARAMS = {
    "normal": ("loc", "scale"),
    "normal-mixture": ("weights", "locs", "scales"),
    "lognormal": ("m", "s"),
    "gamma": ("shape", "rate"),
    "inverse-gamma": ("shape", "scale"),
    "half-normal": ("scale",),
    "beta": ("a", "b"),
}
_PARAM_FAMILIES = {"mu": ("normal", "normal-mixture"), "mediation": ("normal", "normal-mixture"),
                   "tau": ("lognormal", "gamma", "inverse-gamma", "half-normal"), "correlation": ("beta",)}


def _num(v, where: str, *, positive: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
        raise PriorFileError(f"{where}: expected a finite number, got {v!r}")
    if positive and v <= 0:
        raise PriorFileError(f"{where}: must be > 0, got {v!r}")
    return float(v)


def validate_priors(obj: Any) -> dict[str, Any]:
    """Check a ``vfsynth-priors/1`` object; raise :class:`PriorFileError` naming the bad key."""
    if not isinstance(obj, dict):
        raise PriorFileError("top level: expected a JSON object")
    fmt = obj.get("format")
    if fmt is None:
        raise PriorFileError("format: missing (expected 'vfsynth-priors/1')")
    if fmt != FORMAT:
        raise PriorFileError(f"format: unsupported {fmt!r} (this vfsynth reads {FORMAT!r})")
    if not isinstance(obj.get("source"), dict):
        raise PriorFileError("source: missing or not an object")
    ps = obj.get("parameters")
    if not isinstance(ps, list) or not ps:
        raise PriorFileError("parameters: missing or empty list")
    for i, p in enumerate(ps):
        where = f"parameters[{i}]"
        if not isinstance(p, dict):
            raise PriorFileError(f"{where}: expected an object")
        for key in ("parameter", "name", "label", "family", "params", "posterior"):
            if key not in p:
                raise PriorFileError(f"{where}.{key}: missing")
        kind = p["parameter"]
        if kind not in _PARAM_FAMILIES:
            raise PriorFileError(f"{where}.parameter: unknown {kind!r} (one of {', '.join(_PARAM_FAMILIES)})")
        fam = p["family"]
        if fam not in _PARAM_FAMILIES[kind]:
            raise PriorFileError(f"{where}.family: {fam!r} is not a {kind} family (one of {', '.join(_PARAM_FAMILIES[kind])})")
        prm = p["params"]
        if not isinstance(prm, dict):
            raise PriorFileError(f"{where}.params: expected an object")
        need = _FAMILY_PARAMS[fam]
        missing = [k for k in need if k not in prm]
        if missing:
            raise PriorFileError(f"{where}.params.{missing[0]}: missing for family {fam!r}")
        extra = [k for k in prm if k not in need]
        if extra:
            raise PriorFileError(f"{where}.params.{extra[0]}: unexpected for family {fam!r}")
        if fam == "normal-mixture":
            lens = {k: len(prm[k]) if isinstance(prm[k], list) else -1 for k in need}
            if len(set(lens.values())) != 1 or -1 in lens.values() or lens["weights"] == 0:
                raise PriorFileError(f"{where}.params: weights, locs and scales must be lists of one length")
            for k in need:
                for j, v in enumerate(prm[k]):
                    _num(v, f"{where}.params.{k}[{j}]", positive=(k == "scales"))
            if any(v < 0 for v in prm["weights"]) or not math.isclose(sum(prm["weights"]), 1.0, abs_tol=1e-6):
                raise PriorFileError(f"{where}.params.weights: must be >= 0 and sum to 1")
        else:
            for k in need:
                _num(prm[k], f"{where}.params.{k}", positive=k in ("scale", "s", "shape", "rate", "a", "b"))
        post = p["posterior"]
        if not isinstance(post, dict):
            raise PriorFileError(f"{where}.posterior: expected an object")
        for k in ("mean", "sd"):
            if k not in post:
                raise PriorFileError(f"{where}.posterior.{k}: missing")
            _num(post[k], f"{where}.posterior.{k}")
    joint = obj.get("joint", [])
    if not isinstance(joint, list):
        raise PriorFileError("joint: expected a list")
    for i, j in enumerate(joint):
        where = f"joint[{i}]"
        if not isinstance(j, dict):
            raise PriorFileError(f"{where}: expected an object")
        for key in ("label", "tau", "weights", "mu_mean", "mu_sd"):
            if key not in j:
                raise PriorFileError(f"{where}.{key}: missing")
        n = {k: len(j[k]) if isinstance(j[k], list) else -1 for k in ("tau", "weights", "mu_mean", "mu_sd")}
        if len(set(n.values())) != 1 or -1 in n.values() or n["tau"] == 0:
            raise PriorFileError(f"{where}: tau, weights, mu_mean and mu_sd must be lists of one length")
        for k in ("tau", "weights", "mu_mean", "mu_sd"):
            for b, v in enumerate(j[k]):
                _num(v, f"{where}.{k}[{b}]", positive=k in ("tau", "mu_sd"))
        if any(v < 0 for v in j["weights"]) or not math.isclose(sum(j["weights"]), 1.0, abs_tol=1e-6):
            raise PriorFileError(f"{where}.weights: must be >= 0 and sum to 1")
    rob = obj.get("robust")
    if rob is not None:
        if not isinstance(rob, dict) or "weight" not in rob:
            raise PriorFileError("robust: expected null or an object with 'weight'")
        w = _num(rob["weight"], "robust.weight")
        if not 0 <= w < 1:
            raise PriorFileError(f"robust.weight: must be in [0, 1), got {w}")
        if rob.get("scale") is not None:
            _num(rob["scale"], "robust.scale", positive=True)
    alpha = obj.get("power_alpha", 1.0)
    a = _num(alpha, "power_alpha")
    if not 0 < a <= 1:
        raise PriorFileError(f"power_alpha: must be in (0, 1], got {a}")
    return obj


def read_priors(path: str | Path) -> PriorSet:
    """Read and validate a ``vfsynth-priors/1`` file."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise PriorFileError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise PriorFileError(f"{path}: not JSON ({exc})") from None
    try:
        validate_priors(obj)
    except PriorFileError as exc:
        raise PriorFileError(f"{path}: {exc}") from None
    return PriorSet(obj)


def _location_prior(entry: dict, robust: dict | None, alpha: float):
    """Normal / mixture prior for a mu entry with robustification and power discount."""
    prm = entry["params"]
    if entry["family"] == "normal":
        w, m, s = [1.0], [prm["loc"]], [prm["scale"]]
    else:
        w, m, s = list(prm["weights"]), list(prm["locs"]), list(prm["scales"])
    s = [si / math.sqrt(alpha) for si in s]
    desc = f"exported posterior of {entry['name']}[{entry['label']}]"
    if alpha != 1:
        desc += f", power-prior discount alpha={alpha:g} (variances x 1/alpha)"
    if robust and robust.get("weight", 0) > 0:
        rw = float(robust["weight"])
        scale = robust.get("scale") or entry.get("unit_sd")
        if scale is None:
            raise PriorFileError(f"robust: no scale given and no unit-information SD recorded for {entry['label']!r}")
        w = [wi * (1 - rw) for wi in w] + [rw]
        m = m + [float(entry["posterior"]["mean"])]
        s = s + [float(scale)]
        desc += f", robust mixture weight {rw:g} on N(posterior mean, {scale:.4g}^2) (Schmidli et al. 2014)"
    if len(w) == 1:
        return P.Prior(name="exported", family="normal", params={"loc": m[0], "scale": s[0]}, target="mu",
                       citation="vfsynth prior export", description=desc)
    return P.normal_mixture_mu(w, m, s, citation="vfsynth prior export; Schmidli et al. (2014)", description=desc)


def _scale_prior(entry: dict, alpha: float) -> P.Prior:
    prm = entry["params"]
    fam = entry["family"]
    desc = f"exported posterior of tau[{entry['label']}]"
    if fam == "lognormal":
        params = {"m": prm["m"], "s": prm["s"] / math.sqrt(alpha)}
        if alpha != 1:
            desc += f", power-prior discount alpha={alpha:g} (log-scale variance x 1/alpha)"
    else:
        params = dict(prm)
        if alpha != 1:
            desc += f" (alpha={alpha:g} not applied: only log-normal tau priors are discounted)"
        if fam == "gamma":
            return gamma_tau_prior(params["shape"], params["rate"], desc)
    return P.Prior(name="exported", family=fam, params=params, target="tau", citation="vfsynth prior export",
                   description=desc)


class PriorSet:
    """The priors of one ``vfsynth-priors/1`` file, as :class:`~vfsynth.models.priors.Prior` objects."""

    def __init__(self, obj: dict[str, Any]):
        self.obj = validate_priors(obj)

    @property
    def source(self) -> dict[str, Any]:
        return self.obj["source"]

    def labels(self, parameter: str = "mu") -> list[str]:
        return [p["label"] for p in self.obj["parameters"] if p["parameter"] == parameter]

    def entry(self, parameter: str, label: str | None = None) -> dict[str, Any]:
        cands = [p for p in self.obj["parameters"] if p["parameter"] == parameter]
        if label is not None:
            cands = [p for p in cands if p["label"] == label]
        if not cands:
            raise PriorFileError(f"no {parameter} prior{'' if label is None else f' for {label!r}'} in the file "
                                 f"(available: {', '.join(self.labels(parameter)) or 'none'})")
        if len(cands) > 1:
            raise PriorFileError(f"several {parameter} priors in the file; choose one of {', '.join(self.labels(parameter))}")
        return cands[0]

    def mu_prior(self, label: str | None = None, *, robust: float | None = None, power_alpha: float | None = None):
        """The mu prior: a normal, or a ``normal-mixture`` :class:`~vfsynth.models.priors.Prior`
        when the export is a mixture or a robust component is added."""
        rob = self.obj.get("robust") if robust is None else ({"weight": robust, "scale": None} if robust > 0 else None)
        alpha = self.obj.get("power_alpha", 1.0) if power_alpha is None else power_alpha
        if not 0 < alpha <= 1:
            raise PriorFileError(f"power_alpha: must be in (0, 1], got {alpha}")
        return _location_prior(self.entry("mu", label), rob, alpha)

    def tau_prior(self, label: str | None = None, *, power_alpha: float | None = None) -> P.Prior:
        alpha = self.obj.get("power_alpha", 1.0) if power_alpha is None else power_alpha
        return _scale_prior(self.entry("tau", label), alpha)

    def joint(self, label: str | None = None) -> dict[str, Any] | None:
        """The mu|tau block for ``label`` (None when the file has none)."""
        blocks = self.obj.get("joint", [])
        if label is not None:
            blocks = [b for b in blocks if b["label"] == label]
        return blocks[0] if len(blocks) == 1 else None

    def ess(self, label: str | None = None, **kw) -> float | None:
        """ELIR ESS of the mu prior as it will be used (robust / discount applied)."""
        e = self.entry("mu", label)
        if e.get("unit_sd") is None:
            return None
        return elir_ess(self.mu_prior(label, **kw), e["unit_sd"])
