"""How a model is fitted: one settings object for every engine, command and analysis.

A :class:`FitSettings` travels from the command line (or a notebook) to the engine that
runs the model, instead of a dozen keyword arguments repeated through every analysis
function. It is frozen (hashable, safe to share) and validated once, before anything is
sampled.

Engines (:data:`ENGINES`)
-------------------------
``"auto"``
    The exact engine where the model has one (normal–normal random effects and common
    effect: :mu integrated analytically given tau, tau by quadrature; Röver 2020), NUTS
    otherwise.
``"exact"``
    Numerical integration only; a model without an exact engine is refused.
``"nuts"``
    The model's PyMC graph sampled by NUTS (``sampler``: NumPyro, PyMC, nutpie, BlackJAX).
``"batched"``
    The model's marginal likelihood in one vectorised BlackJAX program (the engine that
    runs many refits at once), here a batch of one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from vfsynth.data.errors import VfsynthError

#: The one default seed of the package (the review's publication year and month).
DEFAULT_SEED = 20190101
ENGINES = ("auto", "exact", "nuts", "batched")
SAMPLERS = ("numpyro", "pymc", "nutpie", "blackjax")
#: Largest seed accepted: NumPy's SeedSequence takes any non-negative integer, but the seed is
#: stored in NetCDF attributes and JSON as a 64-bit integer.
MAX_SEED = 2**63 - 1


class SettingsError(VfsynthError, ValueError):
    """A fit setting is out of range (raised before any sampling)."""


@dataclass(frozen=True)
class FitSettings:
    """Engine, sampler and run length of a fit.

    Attributes
    ----------
    engine : {"auto", "exact", "nuts", "batched"}
    sampler : {"numpyro", "pymc", "nutpie", "blackjax"}
        NUTS implementation (``engine="nuts"``).
    chains, draws, tune : int
        Chains, post-warm-up draws per chain and warm-up iterations per chain. The exact
        engine draws ``chains * draws`` independent posterior draws (for plots and LOO).
    seed : int
        One seed reproduces the whole fit.
    target_accept : float
        NUTS step-size adaptation target, in (0, 1).
    max_treedepth : int
        NUTS maximum tree depth.
    """

    engine: str = "auto"
    sampler: str = "numpyro"
    chains: int = 4
    draws: int = 1000
    tune: int = 1000
    seed: int = DEFAULT_SEED
    target_accept: float = 0.9
    max_treedepth: int = 10

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise SettingsError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        if self.sampler not in SAMPLERS:
            raise SettingsError(f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        for name in ("chains", "draws"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise SettingsError(f"{name} must be an integer >= 1, got {v!r}")
        if not isinstance(self.tune, int) or isinstance(self.tune, bool) or self.tune < 0:
            raise SettingsError(f"tune must be an integer >= 0, got {self.tune!r}")
        if not isinstance(self.max_treedepth, int) or self.max_treedepth < 1:
            raise SettingsError(f"max_treedepth must be an integer >= 1, got {self.max_treedepth!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed <= MAX_SEED:
            raise SettingsError(f"seed must be an integer between 0 and 2**63 - 1, got {self.seed!r}")
        if not 0.0 < float(self.target_accept) < 1.0:
            raise SettingsError(f"target_accept must be between 0 and 1, got {self.target_accept}")

    def replace(self, **changes) -> FitSettings:
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def sampler_dict(self) -> dict:
        """The sampler part of a saved fit's identity."""
        return {
            "name": self.sampler,
            "draws": int(self.draws),
            "tune": int(self.tune),
            "chains": int(self.chains),
            "target_accept": float(self.target_accept),
            "max_treedepth": int(self.max_treedepth),
        }


def settings_from(settings: FitSettings | None = None, **overrides) -> FitSettings:
    """``settings`` (default :class:`FitSettings`) with the non-None ``overrides`` applied."""
    base = settings or FitSettings()
    changes = {k: v for k, v in overrides.items() if v is not None}
    return base.replace(**changes) if changes else base


def analysis_engine(engine: str, model: str) -> str:
    """The engine of the refits in comparison and sensitivity analyses: ``"exact"`` or ``"mcmc"``.

    Those analyses refit one model many times (left-out studies, prior grids): by numerical
    integration where the model has an exact engine, otherwise in one batched NUTS program
    (``"mcmc"``). ``"auto"`` and ``"exact"`` choose exact integration where the model allows
    and the batched program otherwise (the result's ``engine`` column says which ran);
    ``"nuts"``, ``"batched"`` and the older ``"mcmc"`` always use the batched program.
    """
    from vfsynth.models.spec import get_spec

    if engine in ("auto", "exact"):
        return "exact" if get_spec(model).supports("exact") else "mcmc"
    if engine in ("nuts", "batched", "mcmc"):
        return "mcmc"
    raise SettingsError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
