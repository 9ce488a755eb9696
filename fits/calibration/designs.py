"""Simulated-review designs and prior simulation for the calibration runs.

Every design is a fixed set of study sizes and standard errors (the sizes of the first
``k`` bundled CD012348 trials, :data:`vfsynth.fits.sbc.TEMPLATE_SIZES`); only the outcome
values are simulated. Parameters and data are drawn from the model's *own* generative PyMC
graph (:meth:`vfsynth.models.spec.ModelSpec.generative`) with the shipped default priors
(:func:`vfsynth.models.priors.defaults.default_tau_prior` / ``default_mu_prior``), so the
simulation shares no code with the marginal likelihoods and tabulated priors that the
batched engine fits with.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vfsynth.data.effect_table import EffectTable

#: Studies per simulated review: a typical small Cochrane analysis.
K_DEFAULT = 8
#: Studies per review for the small-study-effect models (selection, PET, PEESE), which need
#: a spread of SEs and, for the selection model, studies in several p-value intervals.
K_SMALL_STUDY = 10


def _se_smd(n: np.ndarray, d: float = 0.3) -> np.ndarray:
    # Hedges & Olkin large-sample SE of an SMD with equal arms of total size n
    return np.sqrt(4.0 / n + d * d / (2.0 * n))


def sizes(k: int = K_DEFAULT) -> np.ndarray:
    """Total sample sizes of the design: the first ``k`` template trials (even, >= 20)."""
    from vfsynth.fits.sbc import TEMPLATE_SIZES  # loads the joint model: only when simulating

    n = np.resize(np.asarray(TEMPLATE_SIZES, float), k)
    return np.maximum(np.round(n / 2.0) * 2.0, 20.0)


def smd_table(k: int = K_DEFAULT) -> EffectTable:
    """An SMD table of ``k`` studies (estimates are placeholders; only the SEs are used)."""
    n = sizes(k)
    return EffectTable(outcome="sim", timepoint="post", measure="SMD", study=tuple(f"s{i + 1:02d}" for i in range(k)),
                       estimate=np.zeros(k), se=_se_smd(n), n_total=n, year=np.full(k, np.nan),
                       derivation=("simulated",) * k, source=("",) * k)


def counts_table(k: int = K_DEFAULT) -> EffectTable:
    """A log-OR table of ``k`` two-arm studies with 2x2 counts (arm sizes ``n/2``)."""
    n = sizes(k)
    half = n / 2.0
    ev = np.round(half / 2.0)
    return EffectTable(outcome="attachment_security", timepoint="post", measure="logOR",
                       study=tuple(f"s{i + 1:02d}" for i in range(k)), estimate=np.zeros(k),
                       se=np.sqrt(4.0 / half), n_total=n, year=np.full(k, np.nan),
                       derivation=("simulated",) * k, source=("",) * k,
                       events_t=ev.copy(), n_t=half.copy(), events_c=ev.copy(), n_c=half.copy())


def regression_design(k: int = 10):
    """A continuous-moderator meta-regression design: ``x`` equally spaced, centred, unit SD."""
    from vfsynth.models.regression import Design

    table = smd_table(k)
    x = np.linspace(-1.0, 1.0, k)
    x = (x - x.mean()) / x.std()
    X = np.column_stack([np.ones(k), x])
    return Design(table=table, X=X, coef=("intercept", "x"), moderator="x", kind="continuous")


def default_priors(measure: str, outcome: str | None = None) -> dict[str, Any]:
    """The shipped default priors of an analysis (``{"mu": ..., "tau": ...}``)."""
    from vfsynth.models.priors.defaults import default_mu_prior, default_tau_prior

    return {"mu": default_mu_prior(measure), "tau": default_tau_prior(measure, outcome)}


def simulate(model, n_rep: int, seed: int, quantities, data_names) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Forward draws from a generative PyMC model.

    Returns the true quantities, shape ``(n_rep, P)``, and each observed variable's draws,
    ``(n_rep, ...)``. ``quantities`` is a sequence of ``(variable, index)``.
    """
    import pymc as pm

    with model:
        pr = pm.sample_prior_predictive(draws=n_rep, random_seed=seed)
    g = pr["prior"]
    truth = []
    for name, index in quantities:
        arr = np.asarray(g[name].values)[0]
        truth.append(arr[(slice(None),) + tuple(index)] if index else arr)
    data = {n: np.asarray(g[n].values)[0] for n in data_names}
    return np.stack(truth, axis=1).astype(float), data
