"""Univariate meta-analysis models: one outcome at one time point.

Every model is written once as a *generative* PyMC model without data (so the same
graph gives prior predictive draws) and conditioned on the study data with
:func:`pymc.observe`. Study-indexed variables carry the named dimension ``"study"``.

Models (``kind``)
-----------------
``"random-effects"``
    The normal–normal hierarchical model (NNHM; Spiegelhalter, Abrams & Myles 2004,
    ch. 5; Röver 2020, *J Stat Softw* 93(6), bayesmeta):

    .. math::

        y_i \\mid \\theta_i \\sim N(\\theta_i, s_i^2), \\quad
        \\theta_i = \\mu + \\tau z_i, \\quad z_i \\sim N(0, 1),

    with the within-study standard errors :math:`s_i` treated as known. The study
    effects are written non-centred (Betancourt & Girolami 2015) because meta-analyses
    have few, often imprecise studies, where the centred form has a funnel.
``"common-effect"``
    :math:`y_i \\sim N(\\mu, s_i^2)` (the fixed/common-effect model, :math:`\\tau = 0`).
    ``theta`` is the deterministic vector :math:`\\theta_i = \\mu`; there is no ``tau``.
``"t"``
    Robust random effects with Student-t study effects (Lee & Thompson 2008, *Stat Med*
    27:4187; Baker & Jackson 2008): :math:`\\theta_i = \\mu + \\tau t_i`,
    :math:`t_i \\sim t_\\nu(0, 1)`. ``tau`` is then a *scale*, not the between-study SD
    (SD = :math:`\\tau\\sqrt{\\nu/(\\nu-2)}` for :math:`\\nu > 2`). ``nu`` is fixed at 4 by
    default (heavy tails with finite variance, the choice of Lee & Thompson's sensitivity
    analysis); ``nu=None`` gives it the Gamma(2, 0.1) prior of Juárez & Steel (2010,
    *J Bus Econ Stat* 28:52), recommended by Stan's prior-choice wiki.
``"binomial-normal"``
    Exact binomial likelihood for 2×2 counts, random log odds ratios, the symmetric
    ("model 4") parametrisation of Jackson, Law, Stijnen, Viechtbauer & White (2018,
    *Stat Med* 37:1059), after Smith, Spiegelhalter & Thomas (1995, *Stat Med* 14:2685):

    .. math::

        r^C_i \\sim \\mathrm{Bin}(n^C_i, \\mathrm{expit}(\\alpha_i - \\theta_i/2)), \\quad
        r^T_i \\sim \\mathrm{Bin}(n^T_i, \\mathrm{expit}(\\alpha_i + \\theta_i/2)),

    :math:`\\alpha_i \\sim N(0, \\sigma_\\alpha^2)` a wide, fixed (not exchangeable)
    study baseline with :math:`\\sigma_\\alpha = 10` by default, and
    :math:`\\theta_i = \\mu + \\tau z_i` as above. Splitting :math:`\\theta_i` symmetrically
    between arms makes the prior on the arm-level log-odds invariant to which arm is
    labelled "control". Studies of the same outcome that report only an estimate (log OR
    and SE) enter the *same* model through the normal likelihood
    :math:`y_i \\sim N(\\theta_i, s_i^2)`, so all studies share one :math:`\\mu,\\tau`.

Every model also carries ``theta_new``, the effect in a new study drawn from the
random-effects distribution (:math:`\\theta_{new} = \\mu + \\tau z_{new}`), whose posterior
is the Bayesian prediction interval (Higgins, Thompson & Spiegelhalter 2009, *JRSS A*
172:137).

Each model is a :class:`~vfsynth.models.spec.ModelSpec` registered by name
(:class:`CommonEffect`, :class:`RandomEffects`, :class:`StudentT`, :class:`BinomialNormal`);
:func:`build_generative` / :func:`build_model` are the functional forms of
``get_spec(kind).generative`` / ``.pymc_model``.

Marginal likelihoods
--------------------
With the study effect integrated out (what the exact and batched engines, leave-one-study-out
and LOO use; :meth:`ModelSpec.marginal_loglik`):

* common effect :math:`N(y_i \\mid \\mu, s_i)`; random effects
  :math:`N(y_i \\mid \\mu, \\sqrt{\\tau^2 + s_i^2})` (the convolution of the two normals above);
* Student-t: the t distribution is the normal scale mixture
  :math:`t_\\nu(\\mu,\\tau)=\\int N(\\mu, \\tau/\\sqrt\\lambda)\\,\\mathrm{Gamma}(\\lambda\\mid\\nu/2,\\nu/2)\\,d\\lambda`,
  so :math:`p(y_i\\mid\\mu,\\tau) = E_\\lambda N(y_i\\mid\\mu,\\sqrt{\\tau^2/\\lambda + s_i^2})`,
  the random-effects marginal averaged over :func:`t_mixture_nodes` (trapezoidal rule in
  :math:`\\log\\lambda`, geometrically convergent: Trefethen & Weideman 2014, *SIAM Rev* 56:385).

Pointwise log-likelihood
------------------------
LOO with the study as unit needs one log-likelihood term per study. For the normal
models this is the observed ``y``; for the binomial–normal model the two arm terms of a
study are summed (:func:`study_log_likelihood`), so that ``log_likelihood["y"]`` has
dimension ``"study"`` in every model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats
from scipy.special import logsumexp

from vfsynth.data.effect_table import EffectTable
from vfsynth.models.spec import (
    ModelSpec,
    ModelSpecError,
    Parameter,
    get_spec,
    normal_logpdf,
    register,
)

__all__ = [
    "ALPHA_SD", "KINDS", "T_NU_DEFAULT", "BinomialNormal", "CommonEffect", "ModelSpecError", "RandomEffects",
    "StudentT", "build_generative", "build_model", "describe", "observed_values", "study_log_likelihood",
    "t_mixture_nodes",
]

KINDS = ("random-effects", "common-effect", "binomial-normal", "t")
ALPHA_SD = 10.0
T_NU_DEFAULT = 4.0
T_NODES = 200

_MU = Parameter("mu", description="pooled effect")
_TAU = Parameter("tau", support="positive", description="between-study SD")
_THETA = Parameter("theta", ("study",), description="study effects")
_NEW = Parameter("theta_new", description="effect in a new study")


def _coords(table: EffectTable) -> dict[str, list[str]]:
    return {"study": list(table.study)}


def _study_effects(pm, mu, tau, *, centered: bool, robust_nu=None):
    """Random study effects theta (dims "study") and a new-study effect theta_new."""
    if robust_nu is not None:
        z = pm.StudentT("z", nu=robust_nu, mu=0.0, sigma=1.0, dims="study")
        z_new = pm.StudentT("z_new", nu=robust_nu, mu=0.0, sigma=1.0)
        theta = pm.Deterministic("theta", mu + tau * z, dims="study")
    elif centered:
        # Only for demonstrating the funnel (diagnostics tests); never the default.
        theta = pm.Normal("theta", mu=mu, sigma=tau, dims="study")
        z_new = pm.Normal("z_new", 0.0, 1.0)
    else:
        z = pm.Normal("z", 0.0, 1.0, dims="study")
        z_new = pm.Normal("z_new", 0.0, 1.0)
        theta = pm.Deterministic("theta", mu + tau * z, dims="study")
    pm.Deterministic("theta_new", mu + tau * z_new)
    return theta


def t_mixture_nodes(nu: float, n: int = T_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Nodes :math:`\\lambda_j` and log-weights with
    :math:`E_{\\lambda\\sim\\Gamma(\\nu/2,\\,\\mathrm{rate}\\ \\nu/2)} f(\\lambda) \\approx \\sum_j w_j f(\\lambda_j)`.

    Trapezoidal rule in :math:`t=\\log\\lambda` with ``n`` nodes between the Gamma's
    :math:`10^{-18}` and :math:`1-10^{-18}` quantiles (lower end at least :math:`e^{-40}`),
    step at most 0.2: :math:`w_j = h\\,\\lambda_j\\,\\Gamma(\\lambda_j)`, renormalised to sum to 1.
    For the integrand :math:`N(y\\mid\\mu,\\sqrt{\\tau^2/\\lambda+s^2})` the error is below 1e-8
    (1e-12 for :math:`\\nu \\ge 2`) for every :math:`\\tau/s` and :math:`\\nu` from 1 to
    :math:`10^6` (tested against adaptive quadrature), where Gauss–Laguerre degrades when
    :math:`\\tau \\ll s`.
    """
    g = stats.gamma(0.5 * nu, scale=2.0 / nu)
    lo = max(-40.0, float(np.log(g.ppf(1e-18))))
    hi = float(np.log(g.isf(1e-18)))
    h = min(0.2, (hi - lo) / (n - 1))
    t = lo + h * np.arange(int(np.ceil((hi - lo) / h)) + 1)
    lam = np.exp(t)
    logw = np.log(h) + g.logpdf(lam) + t
    return lam, logw - logsumexp(logw)


def _shrunken_draws(rng, y, se, mu, tau2, *, expand: bool = True) -> np.ndarray:
    """Draws of :math:`\\theta_i \\mid y_i, \\mu, \\tau^2 \\sim N((1-b_i)y_i + b_i\\mu, (1-b_i)s_i^2)`,
    :math:`b_i = s_i^2/(s_i^2+\\tau^2)` (``tau2`` per draw, or per draw and study)."""
    y, s2 = np.asarray(y, float), np.asarray(se, float) ** 2
    mu = np.asarray(mu, dtype=float)[..., None]
    tau2 = np.asarray(tau2, dtype=float)
    if expand:
        tau2 = tau2[..., None]
    b = s2 / (s2 + tau2)
    mean = (1.0 - b) * y + b * mu
    return mean + np.sqrt((1.0 - b) * s2) * rng.standard_normal(mean.shape)


class _NormalModel(ModelSpec):
    """Shared generative structure of the models with a normal likelihood of the estimates."""

    engines = ("nuts", "batched")

    def check(self, table) -> None:
        super().check(table)
        se = np.asarray(table.se, dtype=float)
        bad = [table.study[i] for i in np.flatnonzero(~(np.isfinite(se) & (se > 0)))]
        if bad:
            raise ModelSpecError(f"{table.outcome}/{table.timepoint}: standard errors must be finite and > 0 "
                                 f"(studies {', '.join(bad)})")

    def _effects(self, pm, mu, priors, s):
        raise NotImplementedError

    def generative(self, table, priors: Mapping[str, Any]):
        import pymc as pm

        self.check_priors(priors)
        with pm.Model(coords=_coords(table)) as model:
            s = pm.Data("se", np.asarray(table.se, dtype=float), dims="study")
            mu = priors["mu"].to_pymc("mu")
            theta = self._effects(pm, mu, priors, s)
            pm.Normal("y", mu=theta, sigma=s, dims="study")
        return model

    def observed(self, table) -> dict[str, np.ndarray]:
        return {"y": np.asarray(table.estimate, dtype=float)}


@register
class CommonEffect(_NormalModel):
    """:math:`y_i \\sim N(\\mu, s_i^2)`; ``theta`` is :math:`\\mu` for every study, no ``tau``."""

    name = "common-effect"
    title = "common (fixed) effect"
    prior_roles = ("mu",)
    engines = ("exact", "nuts", "batched")
    parameters = (_MU, _THETA, _NEW)

    def _effects(self, pm, mu, priors, s):
        theta = pm.Deterministic("theta", mu * pm.math.ones_like(s), dims="study")
        pm.Deterministic("theta_new", mu)
        return theta

    def marginal_loglik(self, ops, y, se, params):
        return normal_logpdf(ops, y, params["mu"], se)

    def draw_study_effects(self, rng, y, se, params):
        mu = np.asarray(params["mu"], dtype=float)
        return np.broadcast_to(mu[..., None], mu.shape + (len(y),)).copy()

    def draw_new_effect(self, rng, params):
        return np.asarray(params["mu"], dtype=float).copy()


@register
class RandomEffects(_NormalModel):
    """The normal–normal hierarchical model, non-centred study effects."""

    name = "random-effects"
    title = "random effects (normal–normal)"
    engines = ("exact", "nuts", "batched")
    parameters = (_MU, _TAU, _THETA, _NEW)

    def _check_options(self, options: dict) -> dict:
        centered = bool(options.pop("centered", False))
        super()._check_options(options)
        # only the funnel demonstration uses the centred form; it is not part of the identity
        self.centered = centered
        return {}

    def _effects(self, pm, mu, priors, s):
        tau = priors["tau"].to_pymc("tau")
        return _study_effects(pm, mu, tau, centered=self.centered)

    def marginal_loglik(self, ops, y, se, params):
        return normal_logpdf(ops, y, params["mu"], ops.sqrt(params["tau"] ** 2 + se**2))

    def draw_study_effects(self, rng, y, se, params):
        """Normal given (mu, tau): shrinkage :math:`b_i = s_i^2/(s_i^2+\\tau^2)`, mean
        :math:`(1-b_i) y_i + b_i \\mu`, variance :math:`(1-b_i) s_i^2`."""
        return _shrunken_draws(rng, y, se, params["mu"], np.asarray(params["tau"], float) ** 2)

    def draw_new_effect(self, rng, params):
        mu = np.asarray(params["mu"], dtype=float)
        return mu + np.asarray(params["tau"], dtype=float) * rng.standard_normal(mu.shape)


@register
class StudentT(_NormalModel):
    """Student-t study effects :math:`\\theta_i = \\mu + \\tau t_i` (``nu`` fixed, or Gamma(2, 0.1))."""

    name = "t"
    title = "robust random effects (Student-t)"
    parameters = (_MU, _TAU, _THETA, _NEW)

    def _check_options(self, options: dict) -> dict:
        nu = options.pop("nu", T_NU_DEFAULT)
        super()._check_options(options)
        if nu is not None and not (np.isfinite(nu) and nu > 0):
            raise ModelSpecError(f"nu must be > 0, got {nu}")
        self.nu = None if nu is None else float(nu)
        return {"nu": "Gamma(2, 0.1)" if nu is None else float(nu)}

    def supports(self, engine: str) -> bool:
        # the quadrature nodes need a fixed nu
        return engine == "nuts" or (engine == "batched" and self.nu is not None)

    def _effects(self, pm, mu, priors, s):
        tau = priors["tau"].to_pymc("tau")
        nu = pm.Gamma("nu", alpha=2.0, beta=0.1) if self.nu is None else self.nu
        return _study_effects(pm, mu, tau, centered=False, robust_nu=nu)

    def marginal_loglik(self, ops, y, se, params):
        nu = params.get("nu", self.nu)
        if nu is None:
            raise ModelSpecError("the t model's marginal likelihood needs nu")
        lam, logw = t_mixture_nodes(float(nu))
        lam, logw = ops.asarray(lam), ops.asarray(logw)
        # the mixture nodes take the last axis, after the study axis
        loc = ops.asarray(params["mu"])[..., None]
        sd = ops.sqrt(ops.asarray(params["tau"])[..., None] ** 2 / lam + se[..., None] ** 2)
        return ops.logsumexp(normal_logpdf(ops, y[..., None], loc, sd) + logw, axis=-1)

    def draw_study_effects(self, rng, y, se, params):
        """Given (mu, tau) a study effect is a mixture over the scale-mixture nodes
        :math:`\\lambda_j` with weights :math:`\\propto w_j N(y_i \\mid \\mu, \\sqrt{\\tau^2/\\lambda_j + s_i^2})`,
        and normal given the node (random-effects formula with :math:`\\tau^2/\\lambda_j`)."""
        lam, logw = t_mixture_nodes(float(self.nu))
        mu = np.asarray(params["mu"], dtype=float)[..., None, None]
        tau2 = np.asarray(params["tau"], dtype=float)[..., None, None] ** 2 / lam
        y, se = np.asarray(y, float)[:, None], np.asarray(se, float)[:, None]
        lw = logw + (-0.5 * (y - mu) ** 2 / (tau2 + se**2) - 0.5 * np.log(tau2 + se**2))
        # one node per (draw, study) by the Gumbel-max trick
        j = np.argmax(lw + rng.gumbel(size=lw.shape), axis=-1)
        t2 = np.take_along_axis(np.broadcast_to(tau2, lw.shape), j[..., None], axis=-1)[..., 0]
        return _shrunken_draws(rng, y[:, 0], se[:, 0], params["mu"], t2, expand=False)

    def draw_new_effect(self, rng, params):
        mu = np.asarray(params["mu"], dtype=float)
        return mu + np.asarray(params["tau"], dtype=float) * rng.standard_t(self.nu, size=mu.shape)

    def study_loglik(self, table, params):
        if self.nu is None and np.ndim(params.get("nu", 0)):
            # nu sampled: different quadrature nodes per draw
            mu, tau, nus = (np.asarray(params[k], float) for k in ("mu", "tau", "nu"))
            out = np.empty(mu.shape + (table.k,))
            for idx in np.ndindex(mu.shape):
                spec = StudentT(nu=float(nus[idx]))
                out[idx] = spec.study_loglik(table, {"mu": mu[idx], "tau": tau[idx]})
            return out
        return super().study_loglik(table, {"mu": params["mu"], "tau": params["tau"]})


@register
class BinomialNormal(ModelSpec):
    """Exact binomial likelihood, random log odds ratios (Jackson et al. 2018, model 4)."""

    name = "binomial-normal"
    title = "binomial–normal (exact 2×2 likelihood)"
    needs = "counts"
    parameters = (_MU, _TAU, _THETA, _NEW)

    def _check_options(self, options: dict) -> dict:
        self.alpha_sd = float(options.pop("alpha_sd", ALPHA_SD))
        super()._check_options(options)
        return {"alpha_prior_sd": self.alpha_sd,
                "likelihood": "binomial (Jackson et al. 2018 model 4); normal for estimate-only studies"}

    def check(self, table) -> None:
        super().check(table)
        if table.measure != "logOR":
            # an RR / RD analysis stays on its own measure (issue 14): its log-OR likelihood would
            # change the scale the source reports, so the normal-normal model fits it instead
            raise ModelSpecError(f"binomial-normal model needs measure logOR, table has {table.measure}; "
                                 "it is a log-OR likelihood: fit this analysis on its own scale with "
                                 "--model random-effects (or common-effect / t)")
        if not table.has_counts.any():
            raise ModelSpecError(
                f"{table.outcome}/{table.timepoint}: binomial-normal model needs 2x2 counts; "
                "no study has events_t/n_t/events_c/n_c"
            )

    def generative(self, table, priors: Mapping[str, Any]):
        import pymc as pm

        self.check_priors(priors)
        if not table.has_counts.any():
            self.check(table)
        coords = _coords(table)
        se = np.asarray(table.se, dtype=float)
        has = table.has_counts
        cnt, est = np.flatnonzero(has), np.flatnonzero(~has)
        coords["study_counts"] = [table.study[i] for i in cnt]
        if est.size:
            coords["study_estimate"] = [table.study[i] for i in est]
        with pm.Model(coords=coords) as model:
            mu = priors["mu"].to_pymc("mu")
            tau = priors["tau"].to_pymc("tau")
            theta = _study_effects(pm, mu, tau, centered=False)
            n_t = pm.Data("n_t", table.n_t[cnt].astype("int64"), dims="study_counts")
            n_c = pm.Data("n_c", table.n_c[cnt].astype("int64"), dims="study_counts")
            alpha = pm.Normal("alpha", 0.0, self.alpha_sd, dims="study_counts")
            th_c = theta[cnt]
            pm.Binomial("events_c", n=n_c, logit_p=alpha - th_c / 2, dims="study_counts")
            pm.Binomial("events_t", n=n_t, logit_p=alpha + th_c / 2, dims="study_counts")
            if est.size:
                s = pm.Data("se", se[est], dims="study_estimate")
                pm.Normal("y", mu=theta[est], sigma=s, dims="study_estimate")
        return model

    def observed(self, table) -> dict[str, np.ndarray]:
        has = table.has_counts
        obs = {"events_t": table.events_t[has].astype("int64"), "events_c": table.events_c[has].astype("int64")}
        if (~has).any():
            obs["y"] = np.asarray(table.estimate[~has], dtype=float)
        return obs


def _spec(kind: str, tau_prior, *, nu=T_NU_DEFAULT, alpha_sd=ALPHA_SD, centered=False) -> ModelSpec:
    if kind not in KINDS:
        raise ModelSpecError(f"unknown model {kind!r}; choose one of {', '.join(KINDS)}")
    if kind != "common-effect" and tau_prior is None:
        raise ModelSpecError(f"model {kind!r} needs a tau prior")
    opts = {"t": {"nu": nu}, "binomial-normal": {"alpha_sd": alpha_sd},
            "random-effects": {"centered": centered}}.get(kind, {})
    return get_spec(kind, **opts)


def _priors(tau_prior, mu_prior) -> dict:
    return {"mu": mu_prior, "tau": tau_prior}


def build_generative(kind: str, table: EffectTable, tau_prior: Any | None, mu_prior: Any, *,
                     nu: float | None = T_NU_DEFAULT, alpha_sd: float = ALPHA_SD, centered: bool = False):
    """The data-free generative model of ``kind`` (observed nodes free; prior predictive).

    Parameters
    ----------
    kind : {"random-effects", "common-effect", "binomial-normal", "t"}
    table : EffectTable
        Study labels (coords), known SEs and, for the binomial model, the arm sizes.
    tau_prior, mu_prior : vfsynth.models.priors.Prior
        ``tau_prior`` is ignored (may be None) for the common-effect model.
    nu : float or None
        Student-t degrees of freedom for ``kind="t"``; ``None`` puts Gamma(2, 0.1) on it.
    alpha_sd : float
        SD of the normal prior on study baselines in the binomial–normal model.
    centered : bool
        Centred study effects (random-effects only; for diagnostics demonstrations).
    """
    spec = _spec(kind, tau_prior, nu=nu, alpha_sd=alpha_sd, centered=centered)
    return spec.generative(table, _priors(tau_prior, mu_prior))


def observed_values(kind: str, table: EffectTable) -> dict[str, np.ndarray]:
    """The data that condition the generative model (name -> values)."""
    return get_spec(kind).observed(table)


def build_model(kind: str, table: EffectTable, tau_prior: Any | None, mu_prior: Any, **kwargs):
    """:func:`build_generative` conditioned on ``table`` with :func:`pymc.observe`.

    Free variables include ``mu``, ``tau`` (not for common-effect), ``theta`` and
    ``theta_new``; the observed variable is ``y`` (dims "study"; for the binomial–normal
    model ``events_t`` / ``events_c`` on "study_counts" plus ``y`` on "study_estimate").
    """
    spec = _spec(kind, tau_prior, **kwargs)
    return spec.pymc_model(table, _priors(tau_prior, mu_prior))


def study_log_likelihood(dt, table: EffectTable, kind: str):
    """Per-study pointwise log-likelihood ``(chain, draw, study)`` from a fitted DataTree.

    For the normal models this is ``log_likelihood["y"]`` unchanged. For the
    binomial–normal model the arm terms are summed per study,
    :math:`\\ell_i = \\log p(r^T_i \\mid \\cdot) + \\log p(r^C_i \\mid \\cdot)`, and studies that
    only report an estimate contribute their normal term, so every study is one LOO unit.
    """
    import xarray as xr

    ll = dt["log_likelihood"]
    if kind != "binomial-normal":
        return ll["y"]
    parts = [(ll["events_t"] + ll["events_c"]).rename(study_counts="study")]
    if "y" in ll.data_vars:
        parts.append(ll["y"].rename(study_estimate="study"))
    out = xr.concat(parts, dim="study")
    return out.sel(study=list(table.study)).rename("y")


def describe(kind: str, *, nu: float | None = T_NU_DEFAULT, alpha_sd: float = ALPHA_SD) -> Mapping[str, Any]:
    """Short JSON-friendly description of a model kind (for fit provenance)."""
    opts = {"t": {"nu": nu}, "binomial-normal": {"alpha_sd": alpha_sd}}.get(kind, {})
    return dict(get_spec(kind, **opts).describe())
