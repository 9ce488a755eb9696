"""vfsynth data layer: input schema, validation, loaders, effect sizes and frequentist pooling.

Public API::

    from vfsynth.data import load_review, load_csv, load_data, Review, EffectTable, DataValidationError
"""

from vfsynth.data.effect_table import EffectTable
from vfsynth.data.errors import DataValidationError, Problem
from vfsynth.data.loaders import load_csv, load_data, load_review
from vfsynth.data.review import Review

__all__ = [
    "DataValidationError",
    "EffectTable",
    "Problem",
    "Review",
    "load_csv",
    "load_data",
    "load_review",
]
