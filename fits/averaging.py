"""Bayesian model averaging of meta-analysis models with inclusion Bayes factors.

An *ensemble* is a finite set of models :math:`M_1, \\dots, M_J` with prior probabilities
:math:`\\pi_j`. Each model's marginal likelihood :math:`p(y \\mid M_j)` gives the posterior model
probabilities

.. math::

    P(M_j \\mid y) = \\frac{\\pi_j\\, p(y \\mid M_j)}{\\sum_l \\pi_l\\, p(y \\mid M_l)},

and for a model feature :math:`F` (an effect, heterogeneity, publication bias) the *inclusion
Bayes factor* is the change from prior to posterior odds of the models that have it
(Hinne, Gronau, van den Bergh & Wagenmakers 2020, *AMPPS* 3:200; Gronau et al. 2021,
*Psychol Methods* 26:2 -- RoBMA):

.. math::

    \\mathrm{BF}_{F} = \\frac{\\sum_{j \\in F} P(M_j \\mid y) / \\sum_{j \\notin F} P(M_j \\mid y)}
                         {\\sum_{j \\in F} \\pi_j / \\sum_{j \\notin F} \\pi_j}.

The model-averaged posterior of :math:`\\mu` is the mixture
:math:`\\sum_j P(M_j \\mid y)\\, p(\\mu \\mid y, M_j)`, in which models with :math:`\\mu = 0` add a
point mass at 0 (*marginal*); the *conditional* posterior averages only the models with an effect
(weights renormalised). The same holds for :math:`\\tau` and the common-effect models.

The ``nnhm4`` ensemble (Heck's metaBMA set: common / random effects x :math:`\\mu = 0` /
:math:`\\mu \\ne 0`) is integrated exactly: every member is a normal–normal hierarchical model
solved by :func:`vfsynth.fits.exact.nnhm_exact` (mu analytically under its normal / Student-t /
normal-mixture prior, tau by quadrature -- bayesmeta's method, Röver 2020). A model with
:math:`\\mu = 0` is the conjugate normal prior :math:`N(0, v_0)` with :math:`v_0 = 10^{-300}`: then
:math:`1/v_0` swamps :math:`\\sum_i w_i` in every Gaussian formula, which return the fixed-mu
likelihood :math:`\\prod_i N(y_i; 0, s_i^2 + \\tau^2)` to double precision (no approximation).

Estimates are on the benefit scale (positive favours the intervention), so
:math:`P(\\text{benefit}) = P(\\mu > 0 \\mid y)`, averaged over the models (a model with
:math:`\\mu = 0` contributes 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from vfsynth.data.errors import VfsynthError
from vfsynth.fits.exact import ExactPosterior, nnhm_exact
from vfsynth.fits.psma_quadrature import GridPosterior, psma_quadrature
from vfsynth.models.priors import Prior
from vfsynth.models.priors.factories import normal_mu

__all__ = ["ENSEMBLES", "ROBMA_PRIORS", "AveragedPosterior", "AveragingError", "EnsembleMember", "average_models", "average_table",
           "inclusion_bayes_factor", "nnhm4_members", "posterior_model_probabilities", "psma_members"]

#: Prior variance standing for mu = 0 (see the module docstring): 1/v0 = 1e300 dwarfs any precision.
_NULL_SD = 1e-150


class AveragingError(VfsynthError, ValueError):
    """A model-averaging request that cannot be answered (an improper mu prior, an unknown ensemble)."""


@dataclass(frozen=True)
class EnsembleMember:
    """One model of an ensemble.

    Attributes
    ----------
    name : str
    effect, heterogeneity, bias : bool
        Whether the model has a non-zero mean effect, between-study heterogeneity and a
        publication-bias adjustment (the features whose inclusion Bayes factors are reported).
    prior_prob : float
        Prior model probability.
    log_ml : float
        :math:`\\log p(y \\mid M)`.
    log_ml_mcse : float
        Monte-Carlo standard error of ``log_ml`` (0 for exact integration).
    method : str
        How ``log_ml`` was found (``"exact"``: the NNHM's exact integration; ``"AGHQ"``: adaptive
        Gauss–Hermite quadrature, :mod:`vfsynth.fits.psma_quadrature`).
    posterior : ExactPosterior, GridPosterior or None
        The member's posterior: anything with ``mu_mean``, ``mu_sd``, ``mu_cdf``,
        ``prob_mu_greater``, ``tau_mean``, ``tau_sd``, ``tau_cdf``.
    log_ml_error : float
        Numerical error estimate of ``log_ml`` (quadrature: the difference between two orders).
    bias_kind : str
        ``""`` (no adjustment), ``"weightfunction"``, ``"pet"`` or ``"peese"``.
    """

    name: str
    effect: bool
    heterogeneity: bool
    bias: bool
    prior_prob: float
    log_ml: float
    log_ml_mcse: float = 0.0
    method: str = "exact"
    posterior: ExactPosterior | GridPosterior | None = field(default=None, repr=False, compare=False)
    log_ml_error: float = 0.0
    bias_kind: str = ""

    @property
    def selection(self) -> bool:
        """A step-function weight function (the ``selection`` inclusion Bayes factor)."""
        return self.bias_kind == "weightfunction"

    @property
    def pet_peese(self) -> bool:
        """A PET or PEESE adjustment (the ``pet_peese`` inclusion Bayes factor)."""
        return self.bias_kind in ("pet", "peese")


def posterior_model_probabilities(log_ml: Sequence[float], prior_prob: Sequence[float]) -> np.ndarray:
    """:math:`P(M_j \\mid y) \\propto \\pi_j p(y \\mid M_j)`, computed on the log scale."""
    lp = np.log(np.asarray(prior_prob, float)) + np.asarray(log_ml, float)
    return np.exp(lp - special.logsumexp(lp))


def inclusion_bayes_factor(post: Sequence[float], prior: Sequence[float], has: Sequence[bool]) -> float:
    """Inclusion Bayes factor of a feature: posterior over prior inclusion odds (module docstring).

    ``nan`` when the ensemble has no model with, or none without, the feature.
    """
    post, prior, has = np.asarray(post, float), np.asarray(prior, float), np.asarray(has, bool)
    if has.all() or not has.any():
        return math.nan
    with np.errstate(divide="ignore"):
        lpo = math.log(post[has].sum()) - math.log(post[~has].sum()) if post[~has].sum() > 0 else math.inf
    return float(math.exp(lpo - (math.log(prior[has].sum()) - math.log(prior[~has].sum()))))


def _mixture_stats(parts: list[tuple[float, float, float]]) -> tuple[float, float]:
    """Mean and SD of a mixture from (weight, mean, sd) parts."""
    w = np.array([p[0] for p in parts])
    m = np.array([p[1] for p in parts])
    s = np.array([p[2] for p in parts])
    w = w / w.sum()
    mean = float(w @ m)
    return mean, float(math.sqrt(max(w @ (s**2 + m**2) - mean**2, 0.0)))


def _mixture_quantiles(cdfs: list[tuple[float, Callable[[np.ndarray], np.ndarray]]], qs: Sequence[float],
                       lo: float, hi: float) -> np.ndarray:
    """For each q the smallest x with :math:`\\sum_j w_j F_j(x) \\ge q` (F may jump: point masses).

    A scan on 129 points brackets every q, then vectorised bisection to 1e-12 relative.
    """
    wsum = sum(w for w, _ in cdfs)
    qs = np.asarray(qs, float)

    def F(x: np.ndarray) -> np.ndarray:
        return sum(w * np.asarray(f(x), float) for w, f in cdfs) / wsum

    while F(np.array([lo]))[0] > qs.min():
        lo -= max(1.0, abs(lo))
    while F(np.array([hi]))[0] < qs.max():
        hi += max(1.0, abs(hi))
    x = np.linspace(lo, hi, 129)
    fx = F(x)
    j = np.clip(np.searchsorted(fx, qs, side="left"), 1, len(x) - 1)  # fx[j-1] < q <= fx[j]
    a, b = x[j - 1], x[j]
    for _ in range(60):
        mid = 0.5 * (a + b)
        up = F(mid) >= qs
        b = np.where(up, mid, b)
        a = np.where(up, a, mid)
        if np.all(b - a <= 1e-12 * (1.0 + np.abs(mid))):
            break
    return b


def _step(x: np.ndarray) -> np.ndarray:
    """CDF of a point mass at 0."""
    return (np.asarray(x) >= 0.0).astype(float)


@dataclass(frozen=True)
class AveragedPosterior:
    """Result of :func:`average_models`.

    Attributes
    ----------
    ensemble : str
    members : tuple of EnsembleMember
    post_prob : ndarray
        Posterior model probabilities, in the order of ``members``.
    analysis : dict
        Outcome, time point, measure, k, priors.
    level : float
        Credible level of the intervals.
    features : tuple of str
        Member attributes whose inclusion Bayes factors are reported.
    """

    ensemble: str
    members: tuple[EnsembleMember, ...]
    post_prob: np.ndarray
    analysis: dict = field(default_factory=dict)
    level: float = 0.95
    features: tuple[str, ...] = ("effect", "heterogeneity", "bias", "selection", "pet_peese")
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def prior_prob(self) -> np.ndarray:
        return np.array([m.prior_prob for m in self.members])

    def inclusion_bf(self, feature: str) -> float:
        """Inclusion Bayes factor of a feature (``"effect"``, ``"heterogeneity"``, ``"bias"``, ...)."""
        has = [getattr(m, feature, False) for m in self.members]
        return inclusion_bayes_factor(self.post_prob, self.prior_prob, has)

    def inclusion(self) -> dict[str, dict[str, float]]:
        """Per feature: prior and posterior inclusion probability and the inclusion BF."""
        out = {}
        for feat in self.features:
            has = np.array([getattr(m, feat, False) for m in self.members])
            if has.all() or not has.any():
                continue
            out[feat] = {"prior_prob": float(self.prior_prob[has].sum()), "post_prob": float(self.post_prob[has].sum()),
                         "bf": self.inclusion_bf(feat)}
        return out

    # ------------------------------------------------------------------ averaged posteriors
    def _parts(self, which: str, conditional: bool):
        """(weight, posterior or None) for mu or tau; None stands for the point mass at 0."""
        feat = "effect" if which == "mu" else "heterogeneity"
        parts = []
        for m, p in zip(self.members, self.post_prob, strict=True):
            has = getattr(m, feat)
            if conditional and not has:
                continue
            parts.append((float(p), m.posterior if has else None))
        if not parts or sum(w for w, _ in parts) <= 0:
            return []
        return parts

    def quantity(self, which: str, conditional: bool = False) -> dict[str, float]:
        """Averaged posterior of ``"mu"`` or ``"tau"``: mean, sd, quantiles, P(> 0).

        ``conditional=True`` averages only the models with the feature (an effect for mu,
        heterogeneity for tau); otherwise models without it add a point mass at 0.
        """
        key = (which, conditional)
        if key in self._cache:
            return dict(self._cache[key])
        parts = self._parts(which, conditional)
        if not parts:
            return {k: math.nan for k in ("weight", "mean", "sd", "low", "median", "high", "p_gt_0")}
        stats, cdfs, pgt = [], [], 0.0
        for w, ep in parts:
            if ep is None:
                stats.append((w, 0.0, 0.0))
                cdfs.append((w, _step))
                continue
            if which == "mu":
                stats.append((w, ep.mu_mean, ep.mu_sd))
                cdfs.append((w, ep.mu_cdf))
                pgt += w * ep.prob_mu_greater(0.0)
            else:
                stats.append((w, ep.tau_mean, ep.tau_sd))
                cdfs.append((w, ep.tau_cdf))
                pgt += w * float(1.0 - ep.tau_cdf(0.0)[0])
        wsum = sum(w for w, _ in parts)
        mean, sd = _mixture_stats(stats)
        a = (1.0 - self.level) / 2.0
        lo, hi = mean - 10 * sd - 1.0, mean + 10 * sd + 1.0
        q = _mixture_quantiles(cdfs, (a, 0.5, 1.0 - a), lo, hi)
        out = {"weight": float(wsum), "mean": mean, "sd": sd, "low": float(q[0]), "median": float(q[1]),
               "high": float(q[2]), "p_gt_0": pgt / wsum}
        self._cache[key] = out
        return dict(out)

    def cdf(self, which: str, x, conditional: bool = False, left: bool = False) -> np.ndarray:
        """Averaged posterior CDF of ``"mu"`` or ``"tau"`` at ``x``; ``left=True`` gives the left
        limit :math:`P(\\cdot < x)` (they differ at 0 by the mass of the models without the feature)."""
        x = np.atleast_1d(np.asarray(x, float))
        parts = self._parts(which, conditional)
        wsum = sum(w for w, _ in parts)
        out = np.zeros(x.shape)
        for w, ep in parts:
            if ep is None:
                out += w * ((x > 0.0) if left else (x >= 0.0))
            else:
                out += w * np.asarray(ep.mu_cdf(x) if which == "mu" else ep.tau_cdf(x), float)
        return out / wsum

    def bias_parameters(self) -> dict[str, dict[str, float]]:
        """Averaged posterior mean / SD of the PET and PEESE slopes, each conditional on its models.

        Mixture moments over the members of the kind, weighted by posterior model probability
        (``weight`` = their total probability); empty for ensembles without them.
        """
        out = {}
        for kind, label in (("pet", "PET"), ("peese", "PEESE")):
            parts = [(float(p), m.posterior.mean("b"), m.posterior.sd("b"))
                     for m, p in zip(self.members, self.post_prob, strict=True)
                     if m.bias_kind == kind and isinstance(m.posterior, GridPosterior)]
            if parts and sum(w for w, _, _ in parts) > 0:
                mean, sd = _mixture_stats(parts)
                out[label] = {"weight": sum(w for w, _, _ in parts), "mean": mean, "sd": sd}
        return out

    @property
    def p_benefit(self) -> float:
        """:math:`P(\\mu > 0 \\mid y)` averaged over all models (mu = 0 models contribute 0)."""
        return self.quantity("mu")["p_gt_0"]

    # ------------------------------------------------------------------ tables
    def model_frame(self):
        """One row per model: features, prior and posterior probability, log marginal likelihood."""
        import pandas as pd

        return pd.DataFrame([{"model": m.name, "effect": m.effect, "heterogeneity": m.heterogeneity, "bias": m.bias,
                              "prior_prob": m.prior_prob, "post_prob": float(p), "log_ml": m.log_ml,
                              "log_ml_mcse": m.log_ml_mcse, "log_ml_error": m.log_ml_error, "method": m.method}
                             for m, p in zip(self.members, self.post_prob, strict=True)]).set_index("model")

    def inclusion_frame(self):
        """One row per feature: prior / posterior inclusion probability and inclusion BF."""
        import pandas as pd

        return pd.DataFrame.from_dict(self.inclusion(), orient="index").rename_axis("feature")

    def summary_frame(self):
        """The averaged posteriors: rows ``mu``, ``mu | effect``, ``tau``, ``tau | heterogeneity``.

        Columns ``weight`` (posterior probability of the models averaged), ``mean``, ``sd``,
        ``low`` / ``median`` / ``high`` (equal-tailed ``level`` interval) and ``p_gt_0``.
        """
        import pandas as pd

        rows = {"mu": self.quantity("mu"), "mu | effect": self.quantity("mu", True),
                "tau": self.quantity("tau"), "tau | heterogeneity": self.quantity("tau", True)}
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("quantity")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (as ``vfsynth average --json``)."""
        return {"ensemble": self.ensemble, "analysis": self.analysis, "level": self.level,
                "models": [{"model": m.name, "effect": m.effect, "heterogeneity": m.heterogeneity, "bias": m.bias,
                            "prior_prob": m.prior_prob, "post_prob": float(p), "log_ml": m.log_ml,
                            "log_ml_mcse": m.log_ml_mcse, "log_ml_error": m.log_ml_error, "method": m.method}
                           for m, p in zip(self.members, self.post_prob, strict=True)],
                "inclusion": self.inclusion(), "bias_parameters": self.bias_parameters(),
                "mu": self.quantity("mu"), "mu_conditional": self.quantity("mu", True),
                "tau": self.quantity("tau"), "tau_conditional": self.quantity("tau", True),
                "p_benefit": self.p_benefit}

    def __repr__(self) -> str:
        inc = ", ".join(f"BF_{k} = {v['bf']:.3g}" for k, v in self.inclusion().items())
        return f"AveragedPosterior(ensemble={self.ensemble!r}, k={self.analysis.get('k')}, {inc})"


def _require_proper_mu(mu_prior: Prior | None) -> Prior:
    if mu_prior is None or mu_prior.family == "flat" or not mu_prior.is_proper:
        raise AveragingError("model averaging needs a proper prior on mu (the Bayes factor for the effect is "
                             "undefined under a flat prior): give one, e.g. --mu-prior normal:0,1")
    return mu_prior


def nnhm4_members(y, se, tau_prior: Prior, mu_prior: Prior,
                  prior_prob: Sequence[float] = (0.25, 0.25, 0.25, 0.25)) -> list[EnsembleMember]:
    """The four exact members of ``nnhm4`` (order: common/null, common/effect, random/null, random/effect).

    Parameters
    ----------
    y, se : array_like
        Estimates (benefit scale) and standard errors.
    tau_prior : Prior
        Heterogeneity prior of the random-effects members.
    mu_prior : Prior
        Proper prior on mu of the members with an effect.
    prior_prob : sequence of 4 floats
        Prior model probabilities (default equal, as metaBMA).
    """
    mu_prior = _require_proper_mu(mu_prior)
    pp = np.asarray(prior_prob, float)
    if pp.shape != (4,) or np.any(pp < 0) or not math.isclose(pp.sum(), 1.0, rel_tol=1e-9):
        raise AveragingError(f"nnhm4 needs 4 prior model probabilities summing to 1, got {list(prior_prob)}")
    null = normal_mu(0.0, _NULL_SD, description="mu = 0")
    out = []
    for (name, eff, het), p in zip((("common, mu = 0", False, False), ("common, mu != 0", True, False),
                                    ("random, mu = 0", False, True), ("random, mu != 0", True, True)), pp,
                                   strict=True):
        ep = nnhm_exact(y, se, tau_prior=tau_prior if het else 0.0, mu_prior=mu_prior if eff else null)
        out.append(EnsembleMember(name, eff, het, False, float(p), ep.log_marginal_likelihood, 0.0, "exact", ep))
    return out


def psma_members(y, se, tau_prior: Prior, mu_prior: Prior, prior_prob: Sequence[float] | None = None
                 ) -> list[EnsembleMember]:
    """The 36 members of ``psma`` (RoBMA-PSMA; :mod:`vfsynth.models.psma`), in
    :func:`~vfsynth.models.psma.psma_models` order.

    Bias-free members are exact (:func:`~vfsynth.fits.exact.nnhm_exact`, as in ``nnhm4``); the
    others are integrated by adaptive Gauss–Hermite quadrature
    (:func:`~vfsynth.fits.psma_quadrature.psma_quadrature`) with an error estimate per model.
    ``prior_prob`` (36 floats summing to 1) replaces RoBMA's prior model probabilities.
    """
    from vfsynth.models.psma import PSMA_BIAS, psma_models

    mu_prior = _require_proper_mu(mu_prior)
    models = psma_models()
    pp = np.array([m.prior_prob for m in models]) if prior_prob is None else np.asarray(prior_prob, float)
    if pp.shape != (len(models),) or np.any(pp < 0) or not math.isclose(pp.sum(), 1.0, rel_tol=1e-9):
        raise AveragingError(f"psma needs {len(models)} prior model probabilities summing to 1")
    null = normal_mu(0.0, _NULL_SD, description="mu = 0")
    out = []
    for m, p in zip(models, pp, strict=True):
        kind = PSMA_BIAS[m.bias][0]
        if kind == "none":
            ep = nnhm_exact(y, se, tau_prior=tau_prior if m.heterogeneity else 0.0,
                            mu_prior=mu_prior if m.effect else null)
            out.append(EnsembleMember(m.name, m.effect, m.heterogeneity, False, float(p), ep.log_marginal_likelihood,
                                      0.0, "exact", ep))
            continue
        q = psma_quadrature(m, y, se, tau_prior, mu_prior)
        out.append(EnsembleMember(m.name, m.effect, m.heterogeneity, True, float(p), q.log_ml, 0.0,
                                  f"AGHQ {q.orders[0]}/{q.orders[1]}", q.posterior, q.log_ml_error, kind))
    return out


#: Ensemble name -> (description, member builder).
ENSEMBLES: dict[str, tuple[str, Callable[..., list[EnsembleMember]]]] = {
    "nnhm4": ("common / random effects x mu = 0 / mu != 0 (metaBMA's four models), exact", nnhm4_members),
    "psma": ("RoBMA-PSMA: effect x heterogeneity x {none, 6 weight functions, PET, PEESE} (36 models), "
             "exact / adaptive Gauss-Hermite quadrature", psma_members),
}

#: RoBMA's default priors (Cohen's d scale; rdrr.io/cran/RoBMA/man/set_default_priors.html), the
#: ``psma`` defaults for SMD tables.
ROBMA_PRIORS = {"tau": "inverse-gamma:1,0.15", "mu": "normal:0,1"}


def average_models(y, se, tau_prior: Prior, mu_prior: Prior, ensemble: str = "nnhm4", *,
                   prior_prob: Sequence[float] | None = None, analysis: dict | None = None,
                   level: float = 0.95) -> AveragedPosterior:
    """Fit every model of an ensemble and average them (module docstring).

    Parameters
    ----------
    y, se : array_like
        Estimates (benefit scale) and standard errors.
    tau_prior, mu_prior : Prior
        Priors of the members with heterogeneity / with an effect (mu's must be proper).
    ensemble : str
        A key of :data:`ENSEMBLES`.
    prior_prob : sequence of float, optional
        Prior model probabilities (default: the ensemble's).
    analysis : dict, optional
        Labels kept in the result (outcome, time point, measure).
    level : float
        Credible level of the reported intervals.

    Returns
    -------
    AveragedPosterior
    """
    if ensemble not in ENSEMBLES:
        raise AveragingError(f"unknown ensemble {ensemble!r}; choose one of {', '.join(ENSEMBLES)}")
    build = ENSEMBLES[ensemble][1]
    members = build(y, se, tau_prior, mu_prior) if prior_prob is None else build(y, se, tau_prior, mu_prior,
                                                                                  prior_prob)
    post = posterior_model_probabilities([m.log_ml for m in members], [m.prior_prob for m in members])
    info = {"k": int(len(np.atleast_1d(y))), "tau_prior": tau_prior.spec, "mu_prior": mu_prior.spec}
    info.update(analysis or {})
    return AveragedPosterior(ensemble, tuple(members), post, info, level)


def average_table(table, tau_prior=None, mu_prior=None, ensemble: str = "nnhm4", *,
                  prior_prob: Sequence[float] | None = None, level: float = 0.95) -> AveragedPosterior:
    """:func:`average_models` on an :class:`~vfsynth.data.effect_table.EffectTable`.

    ``tau_prior`` / ``mu_prior`` are Priors, specification strings or ``None`` (the registry
    defaults for the table's measure and outcome: :func:`vfsynth.models.priors.resolve_priors`).
    """
    from vfsynth.models.priors import resolve_priors

    if getattr(table, "multilevel", False):  # the members would take one study's estimates as independent
        raise AveragingError(f"{table.outcome}/{table.timepoint}: several estimates per study (es_id); ensemble "
                             f"{ensemble!r} needs one per study: use the three-level ensemble")
    info = {"outcome": table.outcome, "timepoint": table.timepoint, "measure": table.measure,
            "studies": list(table.study)}
    if ensemble == "psma" and str(table.measure).upper() == "SMD":
        # RoBMA's priors are on Cohen's d: the psma defaults for SMD; other measures keep the registry's
        tau_prior = ROBMA_PRIORS["tau"] if tau_prior is None else tau_prior
        mu_prior = ROBMA_PRIORS["mu"] if mu_prior is None else mu_prior
    tau_p, mu_p = resolve_priors(table, "random-effects", tau_prior, mu_prior)
    return average_models(np.asarray(table.estimate, float), np.asarray(table.se, float), tau_p, mu_p, ensemble,
                          prior_prob=prior_prob, analysis=info, level=level)
