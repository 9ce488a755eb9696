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

from vfsynth.data.effect_table import EffectTable
from vfsynth.data.errors import VfsynthError

KINDS = ("random-effects", "common-effect", "binomial-normal", "t")
ALPHA_SD = 10.0
T_NU_DEFAULT = 4.0


class ModelSpecError(VfsynthError, ValueError):
    """A model cannot be built for this table (wrong kind, missing counts, ...)."""


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


def build_generative(
    kind: str,
    table: EffectTable,
    tau_prior: Any | None,
    mu_prior: Any,
    *,
    nu: float | None = T_NU_DEFAULT,
    alpha_sd: float = ALPHA_SD,
    centered: bool = False,
):
    """Build the data-free generative model (observed nodes free; use for prior predictive).

    Parameters
    ----------
    kind : {"random-effects", "common-effect", "binomial-normal", "t"}
    table : EffectTable
        Supplies the study labels (coords), the known SEs and, for the binomial model,
        the arm sizes. Estimates / event counts are *not* used here.
    tau_prior, mu_prior : vfsynth.models.priors.Prior
        Consumed through ``Prior.to_pymc(name)``. ``tau_prior`` is ignored (may be None)
        for the common-effect model.
    nu : float or None
        Student-t degrees of freedom for ``kind="t"``; ``None`` puts the Gamma(2, 0.1)
        prior on it.
    alpha_sd : float
        SD of the normal prior on study baselines in the binomial–normal model.
    centered : bool
        Centred study effects (random-effects only; for diagnostics demonstrations).
    """
    import pymc as pm

    if kind not in KINDS:
        raise ModelSpecError(f"unknown model {kind!r}; choose one of {', '.join(KINDS)}")
    if kind != "common-effect" and tau_prior is None:
        raise ModelSpecError(f"model {kind!r} needs a tau prior")
    coords = _coords(table)
    se = np.asarray(table.se, dtype=float)

    if kind == "binomial-normal":
        has = table.has_counts
        if not has.any():
            raise ModelSpecError(
                f"{table.outcome}/{table.timepoint}: binomial-normal model needs 2x2 counts; "
                "no study has events_t/n_t/events_c/n_c"
            )
        cnt = np.flatnonzero(has)
        est = np.flatnonzero(~has)
        coords["study_counts"] = [table.study[i] for i in cnt]
        if est.size:
            coords["study_estimate"] = [table.study[i] for i in est]
        with pm.Model(coords=coords) as model:
            mu = mu_prior.to_pymc("mu")
            tau = tau_prior.to_pymc("tau")
            theta = _study_effects(pm, mu, tau, centered=False)
            n_t = pm.Data("n_t", table.n_t[cnt].astype("int64"), dims="study_counts")
            n_c = pm.Data("n_c", table.n_c[cnt].astype("int64"), dims="study_counts")
            alpha = pm.Normal("alpha", 0.0, alpha_sd, dims="study_counts")
            th_c = theta[cnt]
            pm.Binomial("events_c", n=n_c, logit_p=alpha - th_c / 2, dims="study_counts")
            pm.Binomial("events_t", n=n_t, logit_p=alpha + th_c / 2, dims="study_counts")
            if est.size:
                s = pm.Data("se", se[est], dims="study_estimate")
                pm.Normal("y", mu=theta[est], sigma=s, dims="study_estimate")
        return model

    with pm.Model(coords=coords) as model:
        s = pm.Data("se", se, dims="study")
        mu = mu_prior.to_pymc("mu")
        if kind == "common-effect":
            theta = pm.Deterministic("theta", mu * pm.math.ones_like(s), dims="study")
            pm.Deterministic("theta_new", mu)
        else:
            tau = tau_prior.to_pymc("tau")
            robust_nu = None
            if kind == "t":
                robust_nu = pm.Gamma("nu", alpha=2.0, beta=0.1) if nu is None else float(nu)
            theta = _study_effects(pm, mu, tau, centered=centered, robust_nu=robust_nu)
        pm.Normal("y", mu=theta, sigma=s, dims="study")
    return model


def observed_values(kind: str, table: EffectTable) -> dict[str, np.ndarray]:
    """The data that condition the generative model (name -> values)."""
    if kind != "binomial-normal":
        return {"y": np.asarray(table.estimate, dtype=float)}
    has = table.has_counts
    obs = {
        "events_t": table.events_t[has].astype("int64"),
        "events_c": table.events_c[has].astype("int64"),
    }
    if (~has).any():
        obs["y"] = np.asarray(table.estimate[~has], dtype=float)
    return obs


def build_model(
    kind: str,
    table: EffectTable,
    tau_prior: Any | None,
    mu_prior: Any,
    **kwargs,
):
    """Build the generative model and condition it on ``table`` with :func:`pymc.observe`.

    Same parameters as :func:`build_generative`. Returns a ``pm.Model`` whose free
    variables include ``mu``, ``tau`` (not for common-effect), ``theta`` and
    ``theta_new`` (Deterministics, dims "study" for ``theta``) and whose observed
    variable is ``y`` (dims "study"; for the binomial–normal model ``events_t`` /
    ``events_c`` on "study_counts" plus ``y`` on "study_estimate" if any study lacks counts).
    """
    import pymc as pm

    if kind == "binomial-normal" and table.measure != "logOR":
        raise ModelSpecError(f"binomial-normal model needs measure logOR, table has {table.measure}")
    gen = build_generative(kind, table, tau_prior, mu_prior, **kwargs)
    return pm.observe(gen, observed_values(kind, table))


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
    parts = []
    pair = (ll["events_t"] + ll["events_c"]).rename(study_counts="study")
    parts.append(pair)
    if "y" in ll.data_vars:
        parts.append(ll["y"].rename(study_estimate="study"))
    out = xr.concat(parts, dim="study")
    return out.sel(study=list(table.study)).rename("y")


def describe(kind: str, *, nu: float | None = T_NU_DEFAULT, alpha_sd: float = ALPHA_SD) -> Mapping[str, Any]:
    """Short JSON-friendly description of a model kind (for fit provenance)."""
    d: dict[str, Any] = {"kind": kind, "parametrisation": "non-centred"}
    if kind == "t":
        d["nu"] = "Gamma(2, 0.1)" if nu is None else float(nu)
    if kind == "binomial-normal":
        d["alpha_prior_sd"] = float(alpha_sd)
        d["likelihood"] = "binomial (Jackson et al. 2018 model 4); normal for estimate-only studies"
    return d
