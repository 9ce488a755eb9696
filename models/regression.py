"""Meta-regression, subgroup, PET-PEESE and step-function selection models.

All models are written once as generative PyMC models without data and conditioned with
:func:`pymc.observe`; study-indexed variables carry the dimension ``"study"``. The study
effects are integrated out (the *marginal* form), so that the only parameters are the
regression coefficients, :math:`\\tau` and (selection model) the selection weights:

Meta-regression (Thompson & Higgins 2002, *Stat Med* 21:1559; Berkey et al. 1995)
    .. math::

        y_i \\mid \\beta, \\tau \\sim N(x_i^\\top\\beta, \\sqrt{\\tau^2 + s_i^2}),

    i.e. :math:`\\theta_i \\sim N(x_i^\\top\\beta, \\tau^2)` with residual heterogeneity
    :math:`\\tau`, the model of metafor ``rma(yi, vi, mods = ~ x)``. The intercept gets the
    analysis' mu prior (a registry :class:`~vfsynth.models.priors.Prior`), the other
    coefficients independent :math:`N(0, \\sigma_\\beta^2)`.
Subgroup analysis
    The same model with a categorical moderator in treatment coding: the intercept is the
    reference subgroup's mean effect, each coefficient a difference from it, with a common
    residual :math:`\\tau` (as metafor's ``mods = ~ factor(g)``). Subgroup means are the
    Deterministic ``subgroup_mean`` (dims ``"level"``).
PET and PEESE (Stanley & Doucouliagos 2014, *Res Synth Methods* 5:60)
    Meta-regression on :math:`s_i` (PET) or :math:`s_i^2` (PEESE): the intercept is the
    effect expected in an infinitely precise study, corrected for small-study effects.
Step-function selection model (Vevea & Hedges 1995, *Psychometrika* 60:419; Bayesian
form as in RoBMA, Maier, Bartoš & Wagenmakers 2023, *Psychol Methods* 28:107)
    Studies are published with a probability that depends on their one-sided p-value
    :math:`p_i = 1 - \\Phi(y_i / s_i)` (benefit direction) only through the interval
    :math:`j(p_i)` of cut-points :math:`0 < c_1 < \\dots < c_{J-1} < 1` it falls in:

    .. math::

        p(y_i \\mid \\mu,\\tau,\\omega) = \\frac{\\omega_{j(p_i)}\\, N(y_i\\mid\\mu,\\sigma_i)}
        {\\sum_j \\omega_j\\, P_{ij}}, \\quad \\sigma_i = \\sqrt{\\tau^2+s_i^2}, \\quad
        P_{ij} = \\Phi\\Big(\\frac{s_i z_{1-c_{j-1}} - \\mu}{\\sigma_i}\\Big) -
                 \\Phi\\Big(\\frac{s_i z_{1-c_j} - \\mu}{\\sigma_i}\\Big),

    with :math:`c_0=0`, :math:`c_J=1`, :math:`z_q = \\Phi^{-1}(q)`. Weights are relative to
    the most significant interval (:math:`\\omega_1=1`) and non-increasing, with RoBMA's
    cumulative Dirichlet prior :math:`\\omega_j = \\sum_{l \\ge j} e_l`,
    :math:`e \\sim \\mathrm{Dirichlet}(1,\\dots,1)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from vfsynth.data.effect_table import EffectTable
from vfsynth.data.errors import VfsynthError
from vfsynth.models.spec import ModelSpec, Parameter, array_ops, normal_logpdf, register

DEFAULT_CUTPOINTS = (0.025, 0.05, 0.5)
BETA_SD = 1.0
PET_SLOPE_SD = 5.0
PEESE_SLOPE_SD = 20.0


class ModeratorError(VfsynthError, ValueError):
    """A moderator cannot be used (absent, constant after exclusions, ...)."""


@dataclass(frozen=True)
class Design:
    """A design matrix for one moderator analysis of one table.

    Attributes
    ----------
    table : EffectTable
        The studies *used* (after exclusions).
    X : ndarray, shape (k, p)
        Column 0 is the intercept.
    coef : tuple of str
        Coefficient names (``"intercept"`` first).
    moderator : str
        Moderator name (``"se"`` / ``"se^2"`` for PET / PEESE).
    kind : {"categorical", "continuous"}
    levels : tuple of str
        Categorical levels, reference first (empty for continuous).
    level_X : ndarray, shape (n_levels, p)
        Design row of each level (categorical only), for subgroup means.
    excluded : dict
        Study -> reason, for every study of the outcome not used.
    center, scale : float
        Transformation of a continuous moderator: ``x_used = (x - center) / scale``.
    """

    table: EffectTable
    X: np.ndarray
    coef: tuple[str, ...]
    moderator: str
    kind: str
    levels: tuple[str, ...] = ()
    level_X: np.ndarray | None = None
    excluded: dict = field(default_factory=dict)
    center: float = 0.0
    scale: float = 1.0

    @property
    def k(self) -> int:
        return self.table.k


def _listing(excluded: dict) -> str:
    return "; ".join(f"{s} ({why})" for s, why in excluded.items())


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v)) or (isinstance(v, str) and not v.strip()) or pd.isna(v)


def moderator_design(
    table: EffectTable,
    moderators: pd.DataFrame | None,
    moderator: str,
    *,
    kind: str = "auto",
    reference: str | None = None,
    standardize: bool = True,
    center: bool = True,
    min_per_level: int = 1,
) -> Design:
    """Design matrix for a moderator from the study table, with explicit exclusions.

    Studies are excluded (never silently: each is listed in ``Design.excluded`` with the
    reason) when the moderators table has no row for them, the value is missing, or (for a
    continuous moderator) it is not a number. A categorical moderator uses treatment coding
    with ``reference`` (default: the most common level, ties by name); it must have fewer
    levels than usable studies (a level per study would confound the moderator with the
    studies themselves). A continuous one is centred at its mean (if ``center``; the
    intercept is then the effect at the mean moderator value) and, if ``standardize``,
    divided by its SD, so that its coefficient is the change in effect per SD.

    Raises
    ------
    ModeratorError
        Unknown moderator, fewer than 3 usable studies, or no variation left.
    """
    if moderators is None:
        raise ModeratorError("this review has no moderators table")
    if moderator not in moderators.columns:
        raise ModeratorError(f"unknown moderator {moderator!r}; available: {', '.join(map(str, moderators.columns))}")
    raw = {}
    excluded = {}
    for s in table.study:
        if s not in moderators.index:
            excluded[s] = "no row in the moderators table"
            continue
        v = moderators.at[s, moderator]
        if _missing(v):
            excluded[s] = f"{moderator} missing"
            continue
        raw[s] = v
    if kind == "auto":
        num = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce")
        kind = "continuous" if len(raw) and num.notna().all() and pd.api.types.is_numeric_dtype(moderators[moderator]) else "categorical"
    if kind == "continuous":
        vals = {}
        for s, v in raw.items():
            x = pd.to_numeric(pd.Series([v]), errors="coerce").iloc[0]
            if pd.isna(x):
                excluded[s] = f"{moderator} = {v!r} is not a number"
            else:
                vals[s] = float(x)
        used = [s for s in table.study if s in vals]
        if len(used) < 3:
            raise ModeratorError(
                f"{moderator}: only {len(used)} studies with a numeric value (need >= 3); excluded: {_listing(excluded)}"
            )
        x = np.array([vals[s] for s in used])
        if np.ptp(x) == 0:
            raise ModeratorError(f"{moderator}: no variation among the {len(used)} studies with a value")
        center = float(x.mean()) if center else 0.0
        scale = float(x.std(ddof=1)) if standardize else 1.0
        sub = table.subset(used)
        X = np.column_stack([np.ones(len(used)), (x - center) / scale])
        name = f"{moderator} (per SD = {scale:.3g})" if standardize else moderator
        return Design(sub, X, ("intercept", name), moderator, "continuous", excluded=excluded, center=center, scale=scale)
    if kind != "categorical":
        raise ValueError(f"kind must be 'auto', 'categorical' or 'continuous', not {kind!r}")
    used = [s for s in table.study if s in raw]
    vals = [str(raw[s]).strip() for s in used]
    counts = pd.Series(vals).value_counts()
    small = [lv for lv, n in counts.items() if n < min_per_level]
    if small:
        for s, v in zip(list(used), list(vals), strict=True):
            if v in small:
                excluded[s] = f"{moderator} level {v!r} has fewer than {min_per_level} studies"
        keep = [(s, v) for s, v in zip(used, vals, strict=True) if v not in small]
        used = [s for s, _ in keep]
        vals = [v for _, v in keep]
        counts = pd.Series(vals).value_counts()
    if len(used) < 3:
        raise ModeratorError(f"{moderator}: only {len(used)} studies with a value (need >= 3); excluded: {_listing(excluded)}")
    if len(counts) < 2:
        raise ModeratorError(f"{moderator}: all {len(used)} usable studies share level {vals[0]!r}")
    if len(counts) == len(used):
        raise ModeratorError(
            f"{moderator}: every one of the {len(used)} usable studies has its own level "
            "(free text or unique values); subgroups cannot be separated from studies"
        )
    if reference is None:
        reference = sorted(counts.index, key=lambda lv: (-counts[lv], lv))[0]
    elif reference not in counts.index:
        raise ModeratorError(f"{moderator}: reference level {reference!r} not among {sorted(counts.index)}")
    levels = (reference,) + tuple(sorted(lv for lv in counts.index if lv != reference))
    X = np.zeros((len(used), len(levels)))
    X[:, 0] = 1.0
    for r, v in enumerate(vals):
        j = levels.index(v)
        if j:
            X[r, j] = 1.0
    level_X = np.eye(len(levels))
    level_X[:, 0] = 1.0
    coef = ("intercept",) + tuple(f"{moderator}[{lv}] - [{reference}]" for lv in levels[1:])
    return Design(table.subset(used), X, coef, moderator, "categorical", levels, level_X, excluded)


def small_study_design(table: EffectTable, kind: str) -> Design:
    """PET (``kind="pet"``: covariate :math:`s_i`) or PEESE (``"peese"``: :math:`s_i^2`) design."""
    if kind == "pet":
        x, name = table.se, "se"
    elif kind == "peese":
        x, name = table.se**2, "se^2"
    else:
        raise ValueError(f"kind must be 'pet' or 'peese', not {kind!r}")
    X = np.column_stack([np.ones(table.k), x])
    return Design(table, X, ("intercept", name), name, "continuous")


def build_metaregression_generative(
    design: Design,
    tau_prior,
    intercept_prior,
    *,
    beta_sd: float | np.ndarray = BETA_SD,
    tau_fixed: float | None = None,
):
    """Data-free meta-regression model (see module docstring).

    Parameters
    ----------
    design : Design
    tau_prior : Prior
        Prior on the residual heterogeneity ``tau`` (ignored if ``tau_fixed`` is given).
    intercept_prior : Prior
        Prior on the intercept (registry mu prior: normal, Student-t or flat).
    beta_sd : float or array
        SD of the normal priors of the non-intercept coefficients (``beta``, dims ``"coef"``).
    tau_fixed : float, optional
        Fix tau (0 = common-effect meta-regression); used for closed-form checks.

    Variables: ``intercept``, ``beta`` (dims ``coef``), ``tau``, ``eta`` (linear predictor,
    dims ``study``), ``subgroup_mean`` (dims ``level``, categorical designs), observed ``y``.
    """
    import pymc as pm

    coords = {"study": list(design.table.study), "coef": list(design.coef[1:])}
    if design.kind == "categorical":
        coords["level"] = list(design.levels)
    with pm.Model(coords=coords) as model:
        X = pm.Data("X", design.X[:, 1:], dims=("study", "coef"))
        s = pm.Data("se", design.table.se, dims="study")
        b0 = intercept_prior.to_pymc("intercept")
        beta = pm.Normal("beta", 0.0, np.broadcast_to(np.asarray(beta_sd, float), (design.X.shape[1] - 1,)), dims="coef")
        tau = pm.Data("tau", float(tau_fixed)) if tau_fixed is not None else tau_prior.to_pymc("tau")
        eta = pm.Deterministic("eta", b0 + pm.math.dot(X, beta), dims="study")
        if design.kind == "categorical":
            pm.Deterministic("subgroup_mean", b0 + pm.math.dot(design.level_X[:, 1:], beta), dims="level")
        pm.Normal("y", mu=eta, sigma=pm.math.sqrt(tau**2 + s**2), dims="study")
    return model


def build_metaregression(design: Design, tau_prior, intercept_prior, **kwargs):
    """:func:`build_metaregression_generative` conditioned on the design's estimates."""
    import pymc as pm

    gen = build_metaregression_generative(design, tau_prior, intercept_prior, **kwargs)
    return pm.observe(gen, {"y": np.asarray(design.table.estimate, float)})


# ---------------------------------------------------------------------------------------------
# Step-function selection model
# ---------------------------------------------------------------------------------------------


def _z_bounds(cutpoints) -> np.ndarray:
    """z-value bounds of the p-value intervals, most significant first: ``[inf, z_{1-c1}, ..., -inf]``."""
    c = np.asarray(cutpoints, float)
    if np.any(np.diff(c) <= 0) or c[0] <= 0 or c[-1] >= 1:
        raise ValueError(f"cut-points must increase strictly inside (0, 1), got {cutpoints}")
    return np.concatenate([[np.inf], stats.norm.isf(c), [-np.inf]])


def p_interval(y, se, cutpoints=DEFAULT_CUTPOINTS) -> np.ndarray:
    """Index of the one-sided p-value interval of each study (0 = most significant)."""
    p = stats.norm.sf(np.asarray(y, float) / np.asarray(se, float))
    return np.searchsorted(np.asarray(cutpoints, float), p, side="right")


def selection_loglik(ops, y, se, mu, tau, omega, zb):
    """Per-study log-likelihood of the step-function selection model, in the namespace ``ops``.

    Written once (:func:`vfsynth.models.spec.array_ops`): NumPy for checks and LOO, PyTensor for
    the PyMC graph. ``omega`` has one weight per interval, most significant first; ``zb`` are the
    z bounds of the intervals (decreasing, :func:`_z_bounds`).
    """
    zb = np.asarray(zb, float)
    sig = ops.sqrt(tau**2 + se**2)
    z = (y / se)[..., None]
    # one-hot of the interval holding z (bounds decrease: zb[j] > z >= zb[j+1])
    inside = ops.logical_and(z < zb[:-1], z >= zb[1:])
    w = ops.sum(ops.where(inside, omega, 0.0), axis=-1)
    # Interval probabilities from the finite cut-points only (an infinite bound would give
    # inf * 0 = NaN in the gradient): c_j = Phi((s z_j - mu) / sigma), j = 1..J-1, then
    # P = [1 - c_1, c_1 - c_2, ..., c_{J-1}].
    c = ops.ndtr((se[..., None] * zb[1:-1] - mu[..., None]) / sig[..., None])
    ones = c[..., :1] * 0.0 + 1.0
    ext = ops.concatenate([ones, c, ones * 0.0], axis=-1)
    denom = ops.sum(omega * (ext[..., :-1] - ext[..., 1:]), axis=-1)
    return ops.log(w) + normal_logpdf(ops, y, mu, sig) - ops.log(denom)


def selection_loglik_numpy(y, se, mu, tau, omega, cutpoints=DEFAULT_CUTPOINTS) -> np.ndarray:
    """:func:`selection_loglik` evaluated by NumPy (scalar ``mu``, ``tau``; ``omega`` a vector)."""
    y = np.asarray(y, float)
    se = np.asarray(se, float)
    mu = np.full_like(y, float(mu))
    return selection_loglik(array_ops("numpy"), y, se, mu, float(tau), np.asarray(omega, float), _z_bounds(cutpoints))


def _make_selection_logp(zb: np.ndarray):
    """The selection model's log density as a pytensor graph, cut-points (z bounds) fixed."""

    def logp(value, mu, tau, omega, se):
        import pytensor.tensor as pt

        mu = mu * pt.ones_like(value)
        return selection_loglik(array_ops("pytensor"), value, se, mu, tau, omega, zb)

    return logp


def _make_selection_random(zb: np.ndarray):
    cut_z = np.asarray(zb, float)[1:-1]

    def random(mu, tau, omega, se, rng=None, size=None):
        """Rejection sampler: y ~ N(mu, sigma), published with probability omega_j (omega <= 1)."""
        se = np.asarray(se, float)
        shape = tuple(size) if size is not None else np.broadcast_shapes(np.shape(mu), np.shape(tau), se.shape)
        se_b = np.broadcast_to(se, shape)
        sig = np.sqrt(np.broadcast_to(tau, shape) ** 2 + se_b**2)
        om = np.broadcast_to(omega, shape + (len(cut_z) + 1,))
        out = np.empty(shape)
        todo = np.ones(shape, dtype=bool)
        for _ in range(10_000):
            if not todo.any():
                break
            draw = rng.normal(np.broadcast_to(mu, shape), sig)
            j = np.sum((draw / se_b)[..., None] < cut_z, axis=-1)
            keep = rng.uniform(size=shape) < np.take_along_axis(om, j[..., None], axis=-1)[..., 0]
            take = todo & keep
            out[take] = draw[take]
            todo &= ~keep
        if todo.any():
            # Rare prior draws publish a study with probability < ~1e-3 (mu far below 0, a tiny
            # weight on p > 0.5: about 1 review in 10^4 under the default priors). Attempts are
            # independent, so the study finally published has the selected law whatever the
            # number of rejections: draw it exactly, interval j with probability
            # omega_j P_j / sum(omega P), then y from the normal truncated to that interval.
            out[todo] = _published_draw(np.broadcast_to(mu, shape)[todo], sig[todo], se_b[todo], om[todo], cut_z, rng)
        return out

    return random


def _published_draw(mu, sig, se, omega, cut_z, rng) -> np.ndarray:
    """Exact draws of published studies (1-d arrays; ``omega`` (n, J)) by interval, then truncated normal."""
    edges = np.concatenate([[np.inf], cut_z, [-np.inf]])  # y / se bounds, most significant first
    a = (se[:, None] * edges[1:] - mu[:, None]) / sig[:, None]  # lower bounds, standardised
    b = (se[:, None] * edges[:-1] - mu[:, None]) / sig[:, None]
    # interval masses, from the tail that keeps them precise
    mass = np.where(a > 0, stats.norm.sf(a) - stats.norm.sf(b), stats.norm.cdf(b) - stats.norm.cdf(a))
    w = omega * mass
    u = rng.uniform(size=len(mu)) * w.sum(axis=1)
    j = np.minimum((np.cumsum(w, axis=1) < u[:, None]).sum(axis=1), w.shape[1] - 1)
    rows = np.arange(len(mu))
    return stats.truncnorm.rvs(a[rows, j], b[rows, j], loc=mu, scale=sig, random_state=rng)


def build_selection_generative(
    table: EffectTable,
    tau_prior,
    mu_prior,
    *,
    cutpoints=DEFAULT_CUTPOINTS,
    concentration: float = 1.0,
):
    """Data-free step-function selection model (see module docstring).

    Variables: ``mu``, ``tau``, ``e`` (Dirichlet increments), ``omega`` (dims ``interval``,
    ``omega[0] = 1``), observed ``y`` (dims ``study``).
    """
    import pymc as pm

    zb = _z_bounds(cutpoints)
    edges = (0.0,) + tuple(float(c) for c in cutpoints) + (1.0,)
    labels = [f"p in [{edges[i]:g}, {edges[i + 1]:g})" for i in range(len(edges) - 1)]
    coords = {"study": list(table.study), "interval": labels}
    with pm.Model(coords=coords) as model:
        s = pm.Data("se", table.se, dims="study")
        mu = mu_prior.to_pymc("mu")
        tau = tau_prior.to_pymc("tau")
        e = pm.Dirichlet("e", a=np.full(len(labels), float(concentration)))
        # omega_j = sum_{l >= j} e_l: omega_0 = 1, non-increasing (RoBMA cumulative Dirichlet)
        omega = pm.Deterministic("omega", pm.math.cumsum(e[::-1])[::-1], dims="interval")
        pm.CustomDist(
            "y", mu, tau, omega, s,
            logp=_make_selection_logp(zb),
            random=_make_selection_random(zb),
            signature="(),(),(j),()->()",
            dims="study",
        )
    return model


def build_selection_model(table: EffectTable, tau_prior, mu_prior, **kwargs):
    """:func:`build_selection_generative` conditioned on the table's estimates."""
    import pymc as pm

    gen = build_selection_generative(table, tau_prior, mu_prior, **kwargs)
    return pm.observe(gen, {"y": np.asarray(table.estimate, float)})


# ---------------------------------------------------------------------------------------------
# Registered specs (vfsynth.models.spec): the same models, looked up by name
# ---------------------------------------------------------------------------------------------


@register
class Selection(ModelSpec):
    """Step-function selection model (see module docstring); data: an effect table."""

    name = "selection"
    title = "step-function selection model (Vevea & Hedges 1995; RoBMA weights)"
    parameters = (Parameter("mu"), Parameter("tau", support="positive"), Parameter("omega", ("interval",)))

    def _check_options(self, options: dict) -> dict:
        self.cutpoints = tuple(float(c) for c in options.pop("cutpoints", DEFAULT_CUTPOINTS))
        self.concentration = float(options.pop("concentration", 1.0))
        super()._check_options(options)
        return {"cutpoints": list(self.cutpoints), "concentration": self.concentration}

    def generative(self, table, priors):
        return build_selection_generative(table, priors["tau"], priors["mu"], cutpoints=self.cutpoints,
                                          concentration=self.concentration)

    def observed(self, table):
        return {"y": np.asarray(table.estimate, float)}

    def marginal_loglik(self, ops, y, se, params):
        mu = params["mu"] + 0.0 * y
        return selection_loglik(ops, y, se, mu, params["tau"], params["omega"], _z_bounds(self.cutpoints))

    def study_loglik(self, table, params):
        mu, tau = (np.asarray(params[k], float) for k in ("mu", "tau"))
        omega = np.asarray(params["omega"], float)
        y, se = np.asarray(table.estimate, float), np.asarray(table.se, float)
        out = np.empty(mu.shape + (table.k,))
        for idx in np.ndindex(mu.shape):
            out[idx] = selection_loglik_numpy(y, se, mu[idx], tau[idx], omega[idx], self.cutpoints)
        return out


@register
class MetaRegression(ModelSpec):
    """Meta-regression / subgroup / PET-PEESE model (see module docstring); data: a :class:`Design`.

    The intercept takes the ``mu`` prior. Exact results at a given tau are
    :func:`vfsynth.fits.moderators.metareg_exact`.
    """

    name = "meta-regression"
    title = "meta-regression (mixed-effects; moderators, subgroups, PET/PEESE)"
    parameters = (Parameter("intercept"), Parameter("beta", ("coef",)), Parameter("tau", support="positive"),
                  Parameter("eta", ("study",)))

    def _check_options(self, options: dict) -> dict:
        self.beta_sd = options.pop("beta_sd", BETA_SD)
        super()._check_options(options)
        return {"beta_sd": np.asarray(self.beta_sd, float).tolist()}

    def check(self, design) -> None:
        super().check(design.table)

    def generative(self, design, priors):
        return build_metaregression_generative(design, priors["tau"], priors["mu"], beta_sd=self.beta_sd)

    def observed(self, design):
        return {"y": np.asarray(design.table.estimate, float)}
