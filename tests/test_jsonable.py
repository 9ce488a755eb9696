"""vfsynth.data.jsonable.to_jsonable against hand-written expected output."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from vfsynth.data.jsonable import to_jsonable


@dataclass
class _Point:
    x: float
    tags: tuple


def test_to_jsonable_hand_written():
    obj = {
        "i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True), "nan": float("nan"),
        "inf": np.inf, "arr": np.array([[1.0, np.nan], [np.inf, 2.0]]), 7: (1, "a"),
        "path": Path("/tmp/x.nc"), "point": _Point(np.float64(1.5), ("u", None)),
        "set": {3, 1, 2}, "na": pd.NA, "none": None, "s": "text",
    }
    expected = {
        "i": 3, "f": 0.5, "b": True, "nan": None, "inf": None,
        "arr": [[1.0, None], [None, 2.0]], "7": [1, "a"], "path": "/tmp/x.nc",
        "point": {"x": 1.5, "tags": ["u", None]}, "set": [1, 2, 3], "na": None,
        "none": None, "s": "text",
    }
    out = to_jsonable(obj)
    assert out == expected
    assert type(out["i"]) is int and type(out["f"]) is float and type(out["b"]) is bool
    json.dumps(out, allow_nan=False)  # strict JSON
