"""One JSON-cleaning function for every JSON file and ``--json`` output vfsynth writes."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from os import PathLike
from typing import Any

import numpy as np


def to_jsonable(obj: Any) -> Any:
    """A strict-JSON copy of ``obj`` (``json.dumps(..., allow_nan=False)`` accepts it).

    Parameters
    ----------
    obj : any
        Nested dicts / lists / tuples / sets of numbers, strings, numpy scalars and arrays,
        paths and dataclasses.

    Returns
    -------
    Any
        dict keys become ``str``; tuples, sets (sorted when possible, for stable output) and
        arrays become lists; numpy scalars become Python ones; NaN / inf / ``pandas.NA`` become
        ``None`` (JSON has no NaN; ``null`` is what a reader expects for "not available");
        paths become strings; dataclasses become dicts; anything else its ``str``.
    """
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, set | frozenset):
        items = [to_jsonable(v) for v in obj]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, PathLike):
        return str(obj.__fspath__())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
    try:  # pandas.NA / NaT and other missing markers
        import pandas as pd

        if pd.isna(obj):
            return None
    except (ImportError, TypeError, ValueError):
        pass
    return str(obj)
