"""A small instance of the fuzz run (``tests/fuzz_inputs.py``; issue 13, item 16): slow tier.

The full run is ``.venv/bin/python tests/fuzz_inputs.py --files 10000 --workers 2``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.mark.slow
def test_hostile_files_give_clean_errors_only(tmp_path):
    import fuzz_inputs

    res = fuzz_inputs.fuzz(40, seed=7, workers=1, timeout=120.0, fit_dir=str(tmp_path / "fits"))
    c = res["counts"]
    assert res["files"] == 40
    assert c.get("traceback", 0) == 0 and c.get("hang", 0) == 0 and c.get("dropped", 0) == 0, res["examples"]
    assert c.get("clean", 0) > 0 and c.get("ok", 0) > 0  # both paths were exercised
