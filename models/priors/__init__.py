"""Named, cited prior distributions for the heterogeneity ``tau`` and the pooled effect ``mu``.

Every prior is a :class:`Prior`: a frozen record (family, parameters, target, citation,
canonical spec string) that can evaluate its density, CDF and quantiles with SciPy, draw
with NumPy, and place itself into a PyMC model with :meth:`Prior.to_pymc`. Each family is one
subclass, registered by name in :data:`FAMILY_CLASSES`; ``Prior(family=..., ...)`` and
:meth:`Prior.from_dict` build the family's class.

Modules
-------
:mod:`~vfsynth.models.priors.base`
    the :class:`Prior` base class, the family registry, :class:`PriorSpecError`;
:mod:`~vfsynth.models.priors.scale`
    the tau families (half-normal, half-Cauchy, log-normal, log-t, inverse-gamma, uniform,
    gamma), with their densities;
:mod:`~vfsynth.models.priors.location`
    the mu families (normal, Student-t, flat, normal mixture — Schmidli et al. 2014);
:mod:`~vfsynth.models.priors.factories`
    generic constructors (:func:`half_normal`, :func:`normal_mu`, :func:`user_prior`, ...):
    weakly informative choices discussed by Röver (2020) *J Stat Softw* 93(6) and
    Spiegelhalter, Abrams & Myles (2004), *Bayesian Approaches to Clinical Trials and
    Health-Care Evaluation* (tau on the log-OR scale of 0.1–0.5 "reasonable", 0.5–1.0 "fairly
    high", > 1.0 "fairly extreme");
:mod:`~vfsynth.models.priors.tables`
    the Turner et al. (2015), Rhodes et al. (2015) and Bartoš et al. empirical priors as cited
    data tables, and their look-ups;
:mod:`~vfsynth.models.priors.unit_information`
    unit-information priors (Röver et al. 2021);
:mod:`~vfsynth.models.priors.grammar`
    :data:`GRAMMAR` and :func:`parse_prior`;
:mod:`~vfsynth.models.priors.defaults`
    the named :data:`REGISTRY`, the CD012348 defaults and why (:func:`describe_defaults`), and
    :func:`resolve_priors`, the one place analyses fill in their priors.
"""

from vfsynth.data.effects import CHINN_FACTOR as SMD_TO_LOGOR
from vfsynth.models.priors.base import FAMILY_CLASSES, Prior, PriorSpecError, family_params
from vfsynth.models.priors.defaults import (
    ATTACHMENT_BINARY_OUTCOMES,
    REGISTRY,
    default_mu_prior,
    default_tau_prior,
    describe_defaults,
    list_priors,
    resolve_priors,
)
from vfsynth.models.priors.factories import (
    flat_mu,
    gamma_tau,
    half_cauchy,
    half_normal,
    normal_mixture_mu,
    normal_mu,
    student_t_mu,
    user_prior,
)
from vfsynth.models.priors.grammar import GRAMMAR, parse_prior
from vfsynth.models.priors.location import WEIGHT_SUM_TOL, Flat, Normal, NormalMixture, StudentT
from vfsynth.models.priors.scale import (
    Gamma,
    HalfCauchy,
    HalfNormal,
    InverseGamma,
    LogNormal,
    LogT,
    Uniform,
)
from vfsynth.models.priors.tables import (
    BARTOS_CITATION,
    BARTOS_TABLE,
    RHODES_CITATION,
    RHODES_TABLE,
    TURNER_CITATION,
    TURNER_TABLE,
    bartos_mu_prior,
    bartos_prior,
    rhodes_prior,
    turner_prior,
)
from vfsynth.models.priors.unit_information import (
    CONVENTIONAL_UISD,
    UI_CITATION,
    unit_information_mu,
    unit_information_prior,
    unit_information_sd,
)

#: family -> parameter names, as before the split into classes (the registry decides them).
TAU_FAMILIES = family_params("tau")
MU_FAMILIES = family_params("mu")
FAMILIES = family_params()
#: Families whose parameters are lists (one entry per mixture component), not numbers.
LIST_FAMILIES = frozenset({NormalMixture.family_name})

__all__ = [
    "ATTACHMENT_BINARY_OUTCOMES",
    "BARTOS_CITATION",
    "BARTOS_TABLE",
    "CONVENTIONAL_UISD",
    "FAMILIES",
    "FAMILY_CLASSES",
    "GRAMMAR",
    "LIST_FAMILIES",
    "MU_FAMILIES",
    "REGISTRY",
    "RHODES_CITATION",
    "RHODES_TABLE",
    "SMD_TO_LOGOR",
    "TAU_FAMILIES",
    "TURNER_CITATION",
    "TURNER_TABLE",
    "UI_CITATION",
    "WEIGHT_SUM_TOL",
    "Flat",
    "Gamma",
    "HalfCauchy",
    "HalfNormal",
    "InverseGamma",
    "LogNormal",
    "LogT",
    "Normal",
    "NormalMixture",
    "Prior",
    "PriorSpecError",
    "StudentT",
    "Uniform",
    "bartos_mu_prior",
    "bartos_prior",
    "default_mu_prior",
    "default_tau_prior",
    "describe_defaults",
    "family_params",
    "flat_mu",
    "gamma_tau",
    "half_cauchy",
    "half_normal",
    "list_priors",
    "normal_mixture_mu",
    "normal_mu",
    "parse_prior",
    "resolve_priors",
    "rhodes_prior",
    "student_t_mu",
    "turner_prior",
    "unit_information_mu",
    "unit_information_prior",
    "unit_information_sd",
    "user_prior",
]
