"""Three-level analyses of an :class:`~vfsynth.data.effect_table.EffectTable`: single fits and the
``three-level`` ensemble, with study-level moderators (meta-regression).

A review CSV gives several estimates of one study in one analysis by the ``es_id`` column
(``data/README.md``); the table then carries the study of every row (:attr:`EffectTable.cluster`).
This module turns such a table into :class:`~vfsynth.models.three_level.ThreeLevelData` and runs

* the frequentist fit, REML by default (:func:`vfsynth.fits.three_level_reml.fit_three_level`,
  metafor's ``rma.mv(yi, vi, mods, random = ~ 1 | study/es_id)``);
* the exact Bayesian fit (:func:`vfsynth.fits.three_level_exact.three_level_exact`: coefficients
  analytically under normal priors, the two SDs by 2-D quadrature);
* the averaged ensemble ``three-level`` (:func:`vfsynth.fits.three_level_exact.average_three_level`):
  effect present / absent x study-level SD present / absent x estimate-level SD present / absent,
  eight models of equal prior probability, with inclusion Bayes factors for the effect and for
  each heterogeneity level.

Both SDs take the analysis's default heterogeneity prior unless given (the same prior at both
levels: a review's tau prior describes between-trial spread, the closest published guide to
either level); the intercept takes the default mu prior. Moderators come from the review's
moderators table (:func:`vfsynth.models.regression.moderator_design`, the same coding and
exclusion rules as the two-level meta-regression), except ``year``, which is the data's own
column (filled from the moderators where blank) and so may differ between the estimates of one
study (an estimate-level moderator). A continuous moderator is centred at its mean over the
estimates used, so the intercept is the effect at the mean moderator and the "effect"
feature asks whether that is 0; slopes (per unit) have N(0, ``slope_sd``^2) priors in every model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import optimize

from vfsynth.data.effect_table import EffectTable
from vfsynth.fits.averaging import AveragedPosterior
from vfsynth.fits.three_level_exact import (
    ThreeLevelPosterior,
    average_three_level,
    three_level_exact,
)
from vfsynth.fits.three_level_reml import fit_three_level
from vfsynth.models.priors import Prior
from vfsynth.models.three_level import ThreeLevelData, ThreeLevelError, three_level_data

__all__ = ["ENSEMBLE", "average_three_level_table", "fit_three_level_table", "three_level_table_data"]

#: Name of the ensemble on the command line (``vfsynth average --ensemble three-level``).
ENSEMBLE = "three-level"


def three_level_table_data(table: EffectTable, moderators=None,
                           names: Sequence[str] = ()) -> tuple[ThreeLevelData, EffectTable, dict[str, str]]:
    """The three-level data of ``table`` with study-level moderators ``names``.

    Returns
    -------
    (ThreeLevelData, EffectTable, dict)
        The data, the table of the estimates used and ``study -> reason`` for every study left
        out because a moderator is missing or not usable (never silently: the caller lists them).

    Raises
    ------
    ModeratorError
        An unknown moderator, too few studies with a value, no variation.
    """
    from vfsynth.models.regression import ModeratorError, moderator_design

    used, excluded = table, {}
    for name in names:  # first pass: the estimates that have every moderator
        if name == "year":  # the data's own column: may differ between one study's estimates
            ok = np.isfinite(used.year)
            excluded.update({s: "year missing" for s in np.asarray(used.study)[~ok]})
            used = used.subset(ok)
        else:
            d = moderator_design(used, moderators, name, standardize=False)
            used, excluded = d.table, {**excluded, **d.excluded}
    cols: dict[str, np.ndarray] = {}
    for name in names:  # second pass: every column on the same rows
        if name == "year":
            if used.k < 3 or np.ptp(used.year) == 0:
                raise ModeratorError(f"year: no variation among the {used.k} estimates with a year (need >= 3)")
            cols["year"] = used.year - used.year.mean()
            continue
        d = moderator_design(used, moderators, name, standardize=False)
        for j, coef in enumerate(d.coef[1:], start=1):
            cols[coef if d.kind == "categorical" else name] = d.X[:, j]
    return three_level_data(used.estimate, used.variance, used.study, cols or None), used, excluded


def _priors(table: EffectTable, tau_prior, tau2_prior, mu_prior) -> tuple[Prior, Prior, Prior]:
    from vfsynth.models.priors import resolve_priors

    tau_p, mu_p = resolve_priors(table, "random-effects", tau_prior, mu_prior)
    tau2_p = tau_p if tau2_prior is None else resolve_priors(table, "random-effects", tau2_prior, mu_p)[0]
    if mu_p.family != "normal":
        raise ThreeLevelError(f"the three-level model needs a normal mu prior (got {mu_p.spec}): "
                              "give one, e.g. --mu-prior normal:0,1")
    return tau_p, tau2_p, mu_p


def _info(table: EffectTable, used: EffectTable, excluded: dict, tau_p: Prior, tau2_p: Prior, mu_p: Prior) -> dict:
    return {"outcome": table.outcome, "timepoint": table.timepoint, "measure": table.measure,
            "n_estimates": used.k, "k": len(set(used.study)), "studies": list(dict.fromkeys(used.study)),
            "tau_prior": tau_p.spec, "tau_within_prior": tau2_p.spec, "mu_prior": mu_p.spec,
            "excluded": dict(excluded)}


def _quantiles(cdf, qs: Sequence[float], lo: float, hi: float) -> list[float]:
    """Inverse of a continuous posterior CDF by Brent's method (bracket widened as needed)."""
    out = []
    for q in qs:
        a, b = lo, hi
        while cdf(a) > q:
            a -= max(1.0, abs(a))
        while cdf(b) < q:
            b += max(1.0, abs(b))
        out.append(float(optimize.brentq(lambda x, q=q: cdf(x) - q, a, b, xtol=1e-12)))
    return out


def posterior_summary(post: ThreeLevelPosterior, level: float = 0.95) -> dict[str, Any]:
    """Per coefficient mean, SD, equal-tailed interval and P(> 0); both SDs' medians and intervals."""
    a = (1.0 - level) / 2.0
    mean, sd = post.coef_mean_sd()
    coefs = {}
    for j, name in enumerate(post.names):
        lo_q, med, hi_q = _quantiles(lambda x, j=j: float(post.coef_cdf(j, x)[0]), (a, 0.5, 1 - a),
                                     float(mean[j] - 10 * sd[j] - 1e-9), float(mean[j] + 10 * sd[j] + 1e-9))
        coefs[name] = {"mean": float(mean[j]), "sd": float(sd[j]), "low": lo_q, "median": med, "high": hi_q,
                       "p_gt_0": float(1.0 - post.coef_cdf(j, 0.0)[0])}
    taus = {}
    for which, label in ((1, "tau_study"), (2, "tau_estimate")):
        t = post.tau1 if which == 1 else post.tau2
        grid = np.unique(t)
        pos = grid[grid > 0]
        cdf = post.tau_cdf(pos, which)
        atom = 1.0 - float(np.exp(post.log_w)[t > 0].sum())  # P(tau = 0): the node below the grid, if any
        # the inverse of tau_cdf, which is linear in log tau between nodes
        qs = [0.0 if q <= atom or not len(pos) else float(np.exp(np.interp(q, cdf, np.log(pos))))
              for q in (a, 0.5, 1 - a)]
        taus[label] = {"mean": float(np.exp(post.log_w) @ t), "low": qs[0], "median": qs[1], "high": qs[2]}
    return {"coefficients": coefs, **taus, "log_marginal_likelihood": post.log_marginal_likelihood}


def fit_three_level_table(table: EffectTable, *, moderators=None, names: Sequence[str] = (), tau_prior=None,
                          tau2_prior=None, mu_prior=None, slope_sd: float = 1.0, level: float = 0.95,
                          method: str = "REML") -> dict[str, Any]:
    """REML (or ML) and the exact Bayesian three-level fit of one analysis (module docstring).

    Returns a JSON-ready dict: ``analysis`` (labels, priors, exclusions), ``frequentist``
    (coefficients with SEs, both variance components, log-likelihood: metafor's numbers) and
    ``bayesian`` (:func:`posterior_summary`).
    """
    data, used, excluded = three_level_table_data(table, moderators, names)
    tau_p, tau2_p, mu_p = _priors(table, tau_prior, tau2_prior, mu_prior)
    freq = fit_three_level(data, method)
    post = three_level_exact(data, tau_p, tau2_p, mu_p, slope_sd)
    return {"analysis": {**_info(table, used, excluded, tau_p, tau2_p, mu_p), "slope_sd": slope_sd},
            "frequentist": {"method": method, "coefficients": {n: {"estimate": float(b), "se": float(s)} for n, b, s
                                                               in zip(freq.names, freq.beta, freq.se, strict=True)},
                            "tau2_study": float(freq.sigma2[0]), "tau2_estimate": float(freq.sigma2[1]),
                            "loglik": freq.loglik},
            "bayesian": posterior_summary(post, level), "level": level}


def average_three_level_table(table: EffectTable, *, moderators=None, names: Sequence[str] = (), tau_prior=None,
                              tau2_prior=None, mu_prior=None, slope_sd: float = 1.0,
                              level: float = 0.95) -> AveragedPosterior:
    """The ``three-level`` ensemble on one analysis (module docstring).

    Inclusion Bayes factors ``effect``, ``heterogeneity`` (study level) and ``within``
    (estimate level); averaged mu (the intercept) and tau (the study-level SD).
    """
    data, used, excluded = three_level_table_data(table, moderators, names)
    tau_p, tau2_p, mu_p = _priors(table, tau_prior, tau2_prior, mu_prior)
    info = _info(table, used, excluded, tau_p, tau2_p, mu_p)
    return average_three_level(data, tau_p, tau2_p, mu_p, slope_sd=slope_sd, analysis=info, level=level)


def averaged_within(res: AveragedPosterior, conditional: bool = False) -> dict[str, float]:
    """Model-averaged posterior of the estimate-level SD :math:`\\tau_2` of a ``three-level``
    ensemble: a mixture of the members' posteriors, the :math:`\\tau_2 = 0` members a point mass at
    0 (``conditional=True``: only the members with :math:`\\tau_2 > 0`, renormalised)."""
    from vfsynth.fits.averaging import _mixture_quantiles, _step

    parts = [(float(p), m.posterior if m.within else None) for m, p in zip(res.members, res.post_prob, strict=True)
             if m.within or not conditional]
    wsum = sum(w for w, _ in parts)
    if wsum <= 0:
        return {k: float("nan") for k in ("weight", "mean", "low", "median", "high")}
    mean = sum(w * (float(np.exp(ep.log_w) @ ep.tau2) if ep is not None else 0.0) for w, ep in parts) / wsum
    cdfs = [(w, _step if ep is None else (lambda x, ep=ep: ep.tau_cdf(x, 2))) for w, ep in parts]
    a = (1.0 - res.level) / 2.0
    q = _mixture_quantiles(cdfs, (a, 0.5, 1.0 - a), 0.0, 10.0 * max(mean, 1e-3))
    return {"weight": wsum, "mean": mean, "low": float(q[0]), "median": float(q[1]), "high": float(q[2])}
