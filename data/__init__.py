"""vfsynth data layer: input schema, validation, loaders, effect sizes and frequentist pooling.

Public API::

    from vfsynth.data import load_review, load_csv, load_data, Review, EffectTable, DataValidationError

The names are resolved on first use (PEP 562) so that importing :mod:`vfsynth.data.errors`
-- which the command line needs before it knows which command runs -- does not load pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "DataValidationError": "vfsynth.data.errors",
    "Problem": "vfsynth.data.errors",
    "VfsynthError": "vfsynth.data.errors",
    "EffectTable": "vfsynth.data.effect_table",
    "load_csv": "vfsynth.data.loaders",
    "load_data": "vfsynth.data.loaders",
    "load_review": "vfsynth.data.loaders",
    "Review": "vfsynth.data.review",
}

__all__ = [
    "DataValidationError",
    "EffectTable",
    "Problem",
    "Review",
    "VfsynthError",
    "load_csv",
    "load_data",
    "load_review",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from vfsynth.data.effect_table import EffectTable
    from vfsynth.data.errors import DataValidationError, Problem, VfsynthError
    from vfsynth.data.loaders import load_csv, load_data, load_review
    from vfsynth.data.review import Review


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vfsynth.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
