"""One description per model, which every engine works from.

A :class:`ModelSpec` says, once, what a model is:

* which data it needs (:attr:`ModelSpec.needs`) and how to check a table against that
  *before* anything is sampled (:meth:`ModelSpec.check`);
* its parameters and which priors it takes (:attr:`ModelSpec.prior_roles`);
* its likelihood, in two forms derived from the same ingredients: the *generative* PyMC
  graph (study effects explicit, conditioned with :func:`pymc.observe`; the NUTS engine and
  prior / posterior predictive draws use it) and the per-study *marginal* log-likelihood with
  the study effects integrated out (:meth:`ModelSpec.marginal_loglik`), written once against
  an array namespace so that NumPy (leave-one-study-out, LOO, summaries) and JAX (the batched
  engine) evaluate the same code;
* which engines can run it (:attr:`ModelSpec.engines`): ``"nuts"`` always, ``"exact"`` where
  the posterior can be integrated numerically (normal–normal models: Röver 2020), ``"batched"``
  where the marginal likelihood is low-dimensional.

Engines (:mod:`vfsynth.fits.engines`), comparison, sensitivity analyses and reports look
models up here by name (:func:`get_spec`) and use only this interface, so a new model is one
new subclass registered with :func:`register`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np

from vfsynth.data.errors import VfsynthError

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class ModelSpecError(VfsynthError, ValueError):
    """A model cannot be built for this table (wrong kind, missing counts, ...)."""


# ---------------------------------------------------------------------------------------------
# Array namespaces: one likelihood, evaluated by NumPy or JAX
# ---------------------------------------------------------------------------------------------


def array_ops(backend: str = "numpy") -> SimpleNamespace:
    """The few array functions the likelihoods use, for ``"numpy"``, ``"jax"`` or ``"pytensor"``.

    ``sqrt, log, exp, logsumexp(x, axis), asarray, ndtr, where, sum, concatenate,
    logical_and``. JAX and PyTensor are imported only when asked for.
    """
    if backend == "numpy":
        from scipy.special import logsumexp, ndtr

        return SimpleNamespace(name="numpy", sqrt=np.sqrt, log=np.log, exp=np.exp, logsumexp=logsumexp,
                               asarray=lambda x: np.asarray(x, dtype=float), ndtr=ndtr, where=np.where,
                               sum=np.sum, concatenate=np.concatenate, logical_and=np.logical_and)
    if backend == "jax":
        import jax.numpy as jnp
        from jax.scipy.special import logsumexp as jlse
        from jax.scipy.special import ndtr as jndtr

        return SimpleNamespace(name="jax", sqrt=jnp.sqrt, log=jnp.log, exp=jnp.exp, logsumexp=jlse,
                               asarray=jnp.asarray, ndtr=jndtr, where=jnp.where, sum=jnp.sum,
                               concatenate=jnp.concatenate, logical_and=jnp.logical_and)
    if backend == "pytensor":
        import pytensor.tensor as pt

        def ndtr(x):
            return 0.5 * pt.erfc(-x / math.sqrt(2.0))

        return SimpleNamespace(name="pytensor", sqrt=pt.sqrt, log=pt.log, exp=pt.exp, logsumexp=pt.logsumexp,
                               asarray=pt.as_tensor_variable, ndtr=ndtr, where=pt.switch, sum=pt.sum,
                               concatenate=pt.concatenate, logical_and=pt.and_)
    raise ValueError(f"unknown array backend {backend!r}")


def normal_logpdf(ops, y, loc, sd):
    """:math:`\\log N(y \\mid loc, sd)` (broadcasting), in the namespace ``ops``."""
    z = (y - loc) / sd
    return -0.5 * z * z - ops.log(sd) - _LOG_SQRT_2PI


# ---------------------------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """A model parameter: its name, dimension names and support."""

    name: str
    dims: tuple[str, ...] = ()
    support: str = "real"
    description: str = ""


class ModelSpec:
    """Base class of every model (see module docstring).

    Subclasses set the class attributes and implement :meth:`generative`,
    :meth:`observed` and, where the study effects can be integrated out,
    :meth:`marginal_loglik`.
    """

    #: Model id (``--model`` on the command line).
    name: ClassVar[str] = ""
    #: One line shown in listings.
    title: ClassVar[str] = ""
    #: Data the model needs: ``"estimates"`` (estimate + SE per study) or ``"counts"`` (2×2).
    needs: ClassVar[str] = "estimates"
    #: Priors the model takes, by role.
    prior_roles: ClassVar[tuple[str, ...]] = ("mu", "tau")
    #: Engines that can fit it, preferred first after ``"auto"`` resolution.
    engines: ClassVar[tuple[str, ...]] = ("nuts",)
    #: Parameters reported for the pooled analysis.
    parameters: ClassVar[tuple[Parameter, ...]] = ()

    def __init__(self, **options: Any) -> None:
        self.options = self._check_options(dict(options))

    # -- options ---------------------------------------------------------------------------
    def _check_options(self, options: dict) -> dict:
        if options:
            raise ModelSpecError(f"model {self.name!r} takes no options, got {sorted(options)}")
        return options

    def describe(self) -> Mapping[str, Any]:
        """JSON-friendly description (part of a saved fit's identity)."""
        return {"kind": self.name, "parametrisation": "non-centred", **self.options}

    # -- data ------------------------------------------------------------------------------
    def check(self, table) -> None:
        """Raise :class:`ModelSpecError` if ``table`` cannot be analysed by this model."""
        if table.k < 1:
            raise ModelSpecError(f"{table.outcome}/{table.timepoint}: no studies to analyse")
        if getattr(table, "multilevel", False):
            # a two-level model would take a study's estimates as independent studies
            study = next(s for s in table.study if table.study.count(s) > 1)
            raise ModelSpecError(
                f"{table.outcome}/{table.timepoint}: study {study!r} has {table.study.count(study)} estimates "
                f"(es_id); model {self.name!r} needs one per study: use the three-level model "
                "(vfsynth fit --model three-level, vfsynth average --ensemble three-level)")

    def check_priors(self, priors: Mapping[str, Any]) -> None:
        """Every prior role the model needs is given."""
        missing = [r for r in self.prior_roles if priors.get(r) is None]
        if missing:
            raise ModelSpecError(f"model {self.name!r} needs a {' and a '.join(missing)} prior")

    # -- engines ---------------------------------------------------------------------------
    def supports(self, engine: str) -> bool:
        return engine in self.engines

    def resolve_engine(self, engine: str) -> str:
        """``"auto"`` → exact where available, else NUTS; refuse an engine the model lacks."""
        if engine == "auto":
            return "exact" if self.supports("exact") else "nuts"
        if not self.supports(engine):
            raise ModelSpecError(
                f"model {self.name!r} has no {engine} engine; it can be fitted with "
                f"{', '.join(self.engines)} (or --engine auto)"
            )
        return engine

    # -- likelihood ------------------------------------------------------------------------
    def generative(self, table, priors: Mapping[str, Any]):
        """The data-free generative PyMC model (observed nodes free)."""
        raise NotImplementedError

    def observed(self, table) -> dict[str, np.ndarray]:
        """Values that condition the generative model (name → array)."""
        raise NotImplementedError

    def pymc_model(self, table, priors: Mapping[str, Any]):
        """The generative model conditioned on ``table`` with :func:`pymc.observe`."""
        import pymc as pm

        self.check(table)
        self.check_priors(priors)
        return pm.observe(self.generative(table, priors), self.observed(table))

    def marginal_loglik(self, ops, y, se, params: Mapping[str, Any]):
        """Per-study log-likelihood with the study effect integrated out.

        ``params`` values may carry leading draw dimensions; ``y`` and ``se`` the study
        dimension last. Result shape ``params.shape + (k,)``.
        """
        raise ModelSpecError(f"model {self.name!r} has no marginal likelihood")

    def draw_study_effects(self, rng: np.random.Generator, y, se, params: Mapping[str, np.ndarray]) -> np.ndarray:
        """Draws of the study effects from :math:`p(\\theta_i \\mid y_i, \\text{hyper-parameters})`.

        One draw per hyper-parameter draw (``params`` arrays of equal shape); result
        ``shape + (k,)``. Engines that integrate the study effects out (exact, batched) use
        this to give the same posterior of ``theta`` as the NUTS engine.
        """
        raise ModelSpecError(f"model {self.name!r} cannot draw study effects given its hyper-parameters")

    def draw_new_effect(self, rng: np.random.Generator, params: Mapping[str, np.ndarray]) -> np.ndarray:
        """Draws of a new study's effect from the random-effects distribution (same shape)."""
        raise ModelSpecError(f"model {self.name!r} has no random-effects distribution")

    def study_loglik(self, table, params: Mapping[str, Any]) -> np.ndarray:
        """NumPy per-study marginal log-likelihood at posterior draws (``params`` arrays)."""
        p = {k: np.asarray(v, dtype=float)[..., None] for k, v in params.items()}
        return np.asarray(self.marginal_loglik(array_ops("numpy"), np.asarray(table.estimate, float),
                                               np.asarray(table.se, float), p))


_REGISTRY: dict[str, type[ModelSpec]] = {}


def register(cls: type[ModelSpec]) -> type[ModelSpec]:
    """Class decorator: make a model available by its :attr:`ModelSpec.name`."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def _load_builtin() -> None:
    # Importing the model modules registers their specs (kept lazy so that importing
    # vfsynth.models.spec stays cheap).
    from vfsynth.models import joint, regression, univariate  # noqa: F401


def get_spec(name: str | ModelSpec, **options: Any) -> ModelSpec:
    """The spec of model ``name`` (with ``options``); a spec instance is returned unchanged."""
    if isinstance(name, ModelSpec):
        return name
    _load_builtin()
    if name not in _REGISTRY:
        raise ModelSpecError(f"unknown model {name!r}; choose one of {', '.join(model_names())}")
    return _REGISTRY[name](**options)


def model_names() -> tuple[str, ...]:
    """Names of every registered model."""
    _load_builtin()
    return tuple(_REGISTRY)
