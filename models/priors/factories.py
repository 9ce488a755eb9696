"""Generic prior constructors (the named weakly-informative choices and user-given families)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from vfsynth.models.priors.base import Prior, PriorSpecError, _fmt, _norm_key, family_params
from vfsynth.models.priors.location import Flat, Normal, NormalMixture, StudentT
from vfsynth.models.priors.scale import Gamma, HalfCauchy, HalfNormal

__all__ = ["flat_mu", "gamma_tau", "half_cauchy", "half_normal", "normal_mixture_mu", "normal_mu",
           "student_t_mu", "user_prior"]

GELMAN_2006 = ("Gelman A (2006). Prior distributions for variance parameters in hierarchical models. "
               "Bayesian Anal 1(3):515-534.")
ROVER_2020 = ("Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package. "
              "J Stat Softw 93(6):1-51.")
SCHMIDLI_2014 = ("Schmidli H, Gsteiger S, Roychoudhury S, O'Hagan A, Spiegelhalter D, Neuenschwander B "
                 "(2014). Robust meta-analytic-predictive priors in clinical trials with historical "
                 "control information. Biometrics 70(4):1023-1032.")

_FAMILY_ALIASES = {"halfnormal": "half-normal", "halfcauchy": "half-cauchy", "log-normal": "lognormal",
                   "invgamma": "inverse-gamma", "inv-gamma": "inverse-gamma", "t": "student-t",
                   "studentt": "student-t", "logt": "log-t", "mixture": "normal-mixture",
                   "normalmixture": "normal-mixture"}


def half_normal(scale: float, *, citation: str = "", description: str = "") -> Prior:
    """Half-normal prior on tau: :math:`\\tau \\sim HN(scale)`.

    Röver (2020, *J Stat Softw* 93(6)) uses HN(0.5) and HN(1.0) routinely for log ORs;
    HN(0.5) has median 0.337 and P(tau > 1) = 0.046.
    """
    return HalfNormal(name="half-normal", params={"scale": scale}, citation=citation or ROVER_2020,
                      description=description or f"tau ~ half-normal(scale {_fmt(scale)})")


def half_cauchy(scale: float, *, citation: str = "", description: str = "") -> Prior:
    """Half-Cauchy prior on tau (Gelman 2006, *Bayesian Analysis* 1(3):515–534)."""
    return HalfCauchy(name="half-cauchy", params={"scale": scale}, citation=citation or GELMAN_2006,
                      description=description or f"tau ~ half-Cauchy(scale {_fmt(scale)})")


def normal_mu(loc: float = 0.0, scale: float = 1.0, *, citation: str = "", description: str = "") -> Prior:
    """Normal prior on mu: :math:`\\mu \\sim N(loc, scale^2)`."""
    return Normal(name="normal", params={"loc": loc, "scale": scale}, citation=citation,
                  description=description or f"mu ~ Normal({_fmt(loc)}, sd {_fmt(scale)})")


def student_t_mu(df: float, loc: float = 0.0, scale: float = 1.0, *, citation: str = "", description: str = "") -> Prior:
    """Student-t prior on mu: :math:`\\mu \\sim t_{df}(loc, scale)`."""
    return StudentT(name="student-t", params={"df": df, "loc": loc, "scale": scale}, citation=citation,
                    description=description or f"mu ~ Student-t(df {_fmt(df)}, loc {_fmt(loc)}, scale {_fmt(scale)})")


def gamma_tau(shape: float, rate: float, *, name: str = "gamma", citation: str = "", description: str = "") -> Prior:
    """Gamma prior on tau: :math:`p(\\tau) = rate^{shape}\\tau^{shape-1}e^{-rate\\,\\tau}/\\Gamma(shape)`.

    Mean ``shape/rate``; SciPy ``gamma(shape, scale=1/rate)``, PyMC ``Gamma(alpha=shape, beta=rate)``.
    Used for exported tau posteriors (:mod:`vfsynth.fits.prior_export`): with ``shape`` near 1
    it keeps positive density at tau = 0, which a log-normal or inverse-gamma cannot.
    """
    return Gamma(name=name, params={"shape": shape, "rate": rate}, citation=citation,
                 description=description or f"tau ~ Gamma(shape {_fmt(shape)}, rate {_fmt(rate)})")


def normal_mixture_mu(weights: Sequence[float], locs: Sequence[float], scales: Sequence[float], *,
                      name: str = "normal-mixture", citation: str = "", description: str = "") -> Prior:
    """Normal-mixture prior on mu: :math:`\\mu \\sim \\sum_j w_j N(m_j, s_j^2)`.

    The robust meta-analytic-predictive priors of Schmidli et al. (2014, *Biometrics*
    70(4):1023–1032; R RBesT ``mixnorm`` / ``robustify``): an informative component plus a
    vague one with small weight, so that new data in conflict with the prior can override it.
    Weights must be >= 0 and sum to 1 (within :data:`~vfsynth.models.priors.location.WEIGHT_SUM_TOL`).
    """
    prior = NormalMixture(name=name, params={"weights": weights, "locs": locs, "scales": scales},
                          citation=citation or SCHMIDLI_2014, description=description)
    if description:
        return prior
    p = prior.params  # validated lists
    return replace(prior, description="mu ~ " + " + ".join(
        f"{_fmt(w)} N({_fmt(m)}, sd {_fmt(s)})" for w, m, s in zip(p["weights"], p["locs"], p["scales"], strict=True)))


def flat_mu() -> Prior:
    """Improper uniform prior on mu (posterior proper whenever k >= 1 and tau's prior is proper)."""
    return Flat(name="flat", params={}, description="mu ~ flat (improper uniform)")


def user_prior(family: str, target: str | None = None, **params: Any) -> Prior:
    """Any family with user-given parameters, e.g. ``user_prior("lognormal", m=-1.2, s=0.9)``,
    ``user_prior("gamma", shape=2, rate=8)`` or
    ``user_prior("normal-mixture", weights=[0.8, 0.2], locs=[0.4, 0.4], scales=[0.1, 2.0])``.

    ``target`` defaults to the family's own (``"tau"`` for the tau families, ``"mu"`` for
    normal / student-t / flat / normal-mixture).
    """
    fam = _norm_key(family)
    fam = _FAMILY_ALIASES.get(fam, fam)
    if fam not in family_params():
        raise PriorSpecError(f"unknown prior family {family!r}; valid: {', '.join(family_params())}")
    if target is None:
        target = "mu" if fam in family_params("mu") else "tau"
    return Prior(name=fam, family=fam, params=params, target=target, citation="user-specified",
                 description=f"user-specified {fam} prior on {target}")
