"""The :class:`Prior` base class, the family registry and the errors of the priors package.

A prior is a frozen record (family, parameters, target, citation, canonical spec string).
Each family is one subclass (PyMC's one-class-per-distribution style) that registers itself
by name through ``__init_subclass__``; ``Prior(family=..., ...)`` and :meth:`Prior.from_dict`
dispatch on that name, so saved priors (``vfsynth-priors/1`` files, fit configs) rebuild
the right class.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from scipy import special

from vfsynth.data.errors import VfsynthError

_LOG2PI = math.log(2.0 * math.pi)


class PriorSpecError(VfsynthError, ValueError):
    """A prior specification, family, parameter or registry row that cannot be used."""


#: Family name -> class, in registration order (tau families first, as the error messages list them).
FAMILY_CLASSES: dict[str, type[Prior]] = {}

#: Parameters that must be > 0 in whichever family carries them.
_POSITIVE = ("scale", "s", "df", "shape", "rate")

_MEASURE_ALIASES = {"smd": "SMD", "d": "SMD", "g": "SMD", "logor": "logOR", "or": "logOR",
                    "lor": "logOR", "md": "MD"}


def _fmt(x: float) -> str:
    """Shortest round-trip decimal for a float, without a trailing ``.0``."""
    s = repr(float(x))
    return s[:-2] if s.endswith(".0") else s


def _norm_key(s: str) -> str:
    return "-".join(s.strip().lower().replace("_", " ").replace("/", " ").split())


def _measure(measure: str) -> str:
    """Canonical measure name (``SMD``, ``logOR``, ``MD``) from a user spelling."""
    m = _MEASURE_ALIASES.get(_norm_key(measure).replace("-", ""))
    if m is None:
        raise PriorSpecError(f"unknown measure {measure!r}; valid: SMD, logOR, MD")
    return m


def _log_t(z, df: float):
    """Log density of the standard Student-t with ``df`` degrees of freedom."""
    return (special.gammaln((df + 1.0) / 2.0) - special.gammaln(df / 2.0) - 0.5 * math.log(df * math.pi)
            - (df + 1.0) / 2.0 * np.log1p(np.asarray(z) ** 2 / df))


def family_params(target: str | None = None) -> dict[str, tuple[str, ...]]:
    """``family -> parameter names`` of the registered families (optionally of one target)."""
    # tau families first whatever the import order of the family modules (stable sort)
    ordered = sorted(FAMILY_CLASSES.items(), key=lambda fc: fc[1].target_kind != "tau")
    return {f: c.param_names for f, c in ordered if target in (None, c.target_kind)}


def family_class(family: str, target: str) -> type[Prior]:
    """The registered class of ``family``, which must be a family of ``target``."""
    if target not in ("tau", "mu"):
        raise PriorSpecError(f"target must be 'tau' or 'mu', got {target!r}")
    klass = FAMILY_CLASSES.get(family)
    if klass is None or klass.target_kind != target:
        raise PriorSpecError(f"family {family!r} is not a {target} prior family; "
                             f"valid: {', '.join(family_params(target))}")
    return klass


@dataclass(frozen=True, eq=True)
class Prior:
    """A named prior on ``tau`` (heterogeneity SD) or ``mu`` (pooled effect).

    ``Prior(family=..., ...)`` returns an instance of the family's registered subclass.

    Parameters
    ----------
    name : str
        Short registry name (e.g. ``"turner"``, ``"half-normal"``).
    family : str
        A registered family (:data:`FAMILY_CLASSES`); a subclass fills in its own.
    params : dict
        Family parameters by name (floats; lists for mixtures), e.g. ``{"m": -1.17, "s": 0.86}``.
    target : {"tau", "mu"}
        The parameter the prior is placed on (default ``"tau"`` through ``Prior``, the
        family's own target through a subclass).
    citation : str
        Source of the numbers.
    spec : str
        Canonical specification string; ``parse_prior(spec)`` rebuilds the prior
        (for unit-information priors, given the same table).
    description : str
        Human-readable summary, including the original published scale when a
        conversion was applied.
    """

    name: str
    family: str = ""
    params: dict = field(default_factory=dict)
    target: str = ""
    citation: str = ""
    spec: str = ""
    description: str = ""

    family_name: ClassVar[str] = ""
    target_kind: ClassVar[str] = ""
    param_names: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, family: str | None = None, target: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if family is not None:
            cls.family_name, cls.target_kind = family, str(target)
            FAMILY_CLASSES[family] = cls

    def __new__(cls, *args: Any, **kwargs: Any):
        if cls is Prior:
            # the field order is name, family, params, target: positional calls work too
            family = kwargs.get("family", args[1] if len(args) > 1 else "")
            target = kwargs.get("target", args[3] if len(args) > 3 else "") or "tau"
            cls = family_class(family, target)
        return object.__new__(cls)

    def __post_init__(self) -> None:
        cls = type(self)
        family = self.family or cls.family_name
        if family_class(family, self.target or cls.target_kind) is not cls:
            raise PriorSpecError(f"{cls.__name__} is the {cls.family_name} family, not {family!r}")
        object.__setattr__(self, "family", family)
        object.__setattr__(self, "target", cls.target_kind)
        raw = dict(self.params)
        if set(raw) != set(cls.param_names):
            raise PriorSpecError(f"{family} prior needs parameters {cls.param_names}, got {tuple(raw)}")
        params = self._validated(raw)
        object.__setattr__(self, "params", params)
        if not self.spec:
            object.__setattr__(self, "spec", self._default_spec())

    def _validated(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Parameters as finite floats, scale-like ones positive (families add their own rules)."""
        params = {k: float(v) for k, v in raw.items()}
        for k, v in params.items():
            if not math.isfinite(v):
                raise PriorSpecError(f"{self.family} prior parameter {k} must be finite, got {v}")
        for k in _POSITIVE:
            if k in params and params[k] <= 0:
                raise PriorSpecError(f"{self.family} prior parameter {k} must be > 0, got {params[k]}")
        return params

    def _default_spec(self) -> str:
        return f"{self.family}:" + ",".join(_fmt(self.params[k]) for k in self.param_names)

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    # -- distribution functions (families override the private hooks) ---------------------
    @property
    def is_proper(self) -> bool:
        """False only for the improper ``flat`` prior."""
        return True

    def _frozen(self):
        """SciPy frozen distribution on the target scale (None where SciPy has none), cached."""
        cached = self.__dict__.get("_scipy")
        if cached is None:
            cached = self._make_frozen()
            object.__setattr__(self, "_scipy", cached)  # not a field: ignored by eq / to_dict
        return cached

    def _make_frozen(self):
        return None

    def _require_proper(self, what: str) -> None:
        if not self.is_proper:
            raise PriorSpecError(f"the flat prior is improper: it has no {what}")

    def logpdf(self, x) -> np.ndarray:
        """Log density on the target scale (Jacobian included for log-scale families)."""
        return self._logpdf(np.asarray(x, dtype=float))

    def _logpdf(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - every family defines its density

    def pdf(self, x) -> np.ndarray:
        """Density on the target scale."""
        return np.exp(self.logpdf(x))

    def cdf(self, x) -> np.ndarray:
        """Cumulative distribution function on the target scale."""
        self._require_proper("CDF")
        return self._cdf(np.asarray(x, dtype=float))

    def sf(self, x) -> np.ndarray:
        """Survival function ``P(X > x)`` (accurate in the upper tail)."""
        self._require_proper("survival function")
        return self._sf(np.asarray(x, dtype=float))

    def ppf(self, q) -> np.ndarray:
        """Quantile function (inverse CDF)."""
        self._require_proper("quantiles")
        return self._ppf(np.asarray(q, dtype=float))

    def isf(self, q) -> np.ndarray:
        """Inverse survival function (upper-tail quantiles without cancellation)."""
        self._require_proper("quantiles")
        return self._isf(np.asarray(q, dtype=float))

    def _cdf(self, x):
        return self._frozen().cdf(x)

    def _sf(self, x):
        return self._frozen().sf(x)

    def _ppf(self, q):
        return self._frozen().ppf(q)

    def _isf(self, q):
        return self._frozen().isf(q)

    def quantiles(self, qs: Sequence[float] = (0.025, 0.5, 0.975)) -> np.ndarray:
        """Quantiles at probabilities ``qs``."""
        return np.asarray(self.ppf(np.asarray(qs, dtype=float)), dtype=float)

    def mean(self) -> float:
        """Prior mean (``inf`` where it does not exist: half-Cauchy, log-t, IG with shape <= 1)."""
        self._require_proper("mean")
        return self._mean()

    def sd(self) -> float:
        """Prior standard deviation (``inf`` where the variance does not exist, ``nan`` where the
        mean does not)."""
        self._require_proper("standard deviation")
        return self._sd()

    def _mean(self) -> float:
        return float(self._frozen().mean())

    def _sd(self) -> float:
        return float(self._frozen().std())

    def rvs(self, size=None, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Random draws (``rng`` a Generator or a seed)."""
        self._require_proper("random draws")
        return self._rvs(size, np.random.default_rng(rng))

    def _rvs(self, size, rng: np.random.Generator):
        return self._frozen().rvs(size=size, random_state=rng)

    def components(self) -> list[tuple[float, Prior]]:
        """``[(w_j, N(m_j, s_j^2) prior), ...]`` for a normal mixture; ``[(1.0, self)]`` otherwise.

        Lets conjugate code treat every prior as a (possibly one-term) mixture: the posterior
        under a mixture prior is the mixture of the per-component posteriors with weights
        ``w_j p_j(y) / sum_l w_l p_l(y)`` (Dallal & Hall 1983; Schmidli et al. 2014).
        """
        return [(1.0, self)]

    # -- PyMC ------------------------------------------------------------------------------
    def to_pymc(self, name: str):
        """Create the prior as PyMC variable ``name`` inside the current model context.

        Returns a tensor on the tau (or mu) scale: one PyMC random variable named ``name``,
        except the log-t family (a latent ``f"{name}_log"`` and a Deterministic ``name``).
        """
        import pymc as pm

        return self._to_pymc(pm, name)

    def _to_pymc(self, pm, name: str):
        raise NotImplementedError  # pragma: no cover - every family defines its PyMC variable

    # -- (de)serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation; :meth:`from_dict` inverts it exactly."""
        return {
            "name": self.name,
            "family": self.family,
            "params": {k: list(v) if isinstance(v, list) else v for k, v in self.params.items()},
            "target": self.target,
            "citation": self.citation,
            "spec": self.spec,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Prior:
        """Rebuild a prior (of the family's class) from :meth:`to_dict` output."""
        return cls(
            name=d["name"],
            family=d["family"],
            params={k: list(v) if isinstance(v, list | tuple) else v for k, v in dict(d["params"]).items()},
            target=d["target"],
            citation=d.get("citation", ""),
            spec=d.get("spec", ""),
            description=d.get("description", ""),
        )

    def summary(self, qs: Sequence[float] = (0.025, 0.5, 0.975)) -> str:
        """One line: spec, family, parameters and quantiles."""
        par = ", ".join(f"{k}=[{', '.join(_fmt(x) for x in v)}]" if isinstance(v, list) else f"{k}={_fmt(v)}"
                        for k, v in self.params.items())
        if not self.is_proper:
            return f"{self.spec}: {self.target} ~ flat (improper)"
        qv = " / ".join(f"{v:.3g}" for v in self.quantiles(qs))
        ql = "/".join(f"{100 * q:g}" for q in qs)
        return f"{self.spec}: {self.target} ~ {self.family}({par}); {ql}% = {qv}"
