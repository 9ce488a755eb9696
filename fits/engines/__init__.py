"""Engines: the ways a model spec is fitted, all returning the same kind of result.

Every engine takes a :class:`~vfsynth.models.spec.ModelSpec`, an effect table, the resolved
priors (role → :class:`~vfsynth.models.priors.Prior`) and a
:class:`~vfsynth.fits.settings.FitSettings`, and returns an :class:`EngineRun`: an ArviZ
``DataTree`` with the same groups and variable names whichever engine made it (``posterior``
with ``mu``, ``tau``, ``theta`` (dims ``study``), ``theta_new``; ``log_likelihood``;
``posterior_predictive``; ``prior`` / ``prior_predictive`` where the priors are proper;
``sample_stats``), the diagnostics verdict, and for the exact engine the exact posterior
itself (summaries are then computed from it, not from draws).

* :mod:`~vfsynth.fits.engines.nuts` — the spec's PyMC graph under NUTS, with the
  diagnostics gate (bounded re-runs at higher target acceptance);
* :mod:`~vfsynth.fits.engines.exact` — numerical integration (bayesmeta's method) and
  independent exact draws;
* :mod:`~vfsynth.fits.engines.batched` — the spec's marginal likelihood in the vectorised
  BlackJAX program (a batch of one).

``engine="auto"`` is resolved by the spec (:meth:`ModelSpec.resolve_engine`): exact where the
model has an exact engine, NUTS otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["EngineRun", "run_engine"]


@dataclass
class EngineRun:
    """The result of one engine run (see module docstring)."""

    engine: str
    #: a DataTree, or (exact engine) a :class:`~vfsynth.fits.tree_parts.TreeParts` that
    #: becomes one on demand (:meth:`materialized`)
    dt: Any
    verdict: dict
    exact: Any = None

    def materialized(self):
        """``dt`` as a DataTree (built from its parts if needed)."""
        return self.dt.to_datatree() if hasattr(self.dt, "to_datatree") else self.dt


def run_engine(spec, table, priors: Mapping[str, Any], settings, *, progress: bool = False,
               label: str = "fit") -> EngineRun:
    """Fit ``spec`` to ``table`` with the engine ``settings.engine`` (``auto`` resolved by the spec)."""
    engine = spec.resolve_engine(settings.engine)
    spec.check(table)
    spec.check_priors(priors)
    if engine == "exact":
        from vfsynth.fits.engines.exact import run_exact

        return run_exact(spec, table, priors, settings)
    if engine == "batched":
        from vfsynth.fits.engines.batched import run_batched_single

        return run_batched_single(spec, table, priors, settings)
    from vfsynth.fits.engines.nuts import run_nuts

    return run_nuts(spec, table, priors, settings, progress=progress, label=label)
