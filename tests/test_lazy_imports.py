"""A ``vfsynth fit`` process on the exact engine imports none of the heavy libraries (issue 12).

A property of the import graph, checked on ``sys.modules`` of a fresh interpreter (not a timing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("pymc", "pytensor", "jax", "numpyro", "arviz", "arviz_base", "arviz_stats", "xarray", "matplotlib",
         "dask", "distributed")

_PROBE = """
import contextlib, io, json, sys
from vfsynth.reports.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    status = main(["fit", "--outcome", "sensitivity", "--json", "--refit"])
summary = json.loads(out.getvalue())
print(json.dumps({"status": status, "engine": summary["engine"], "path": summary["fit"]["path"],
                  "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def test_exact_fit_process_imports_no_heavy_library(tmp_path):
    env = dict(os.environ, VFSYNTH_FIT_DIR=str(tmp_path / "fits"), VFSYNTH_CACHE_DIR=str(tmp_path / "cache"))
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["status"] == 0 and got["engine"] == "exact"
    assert os.path.exists(got["path"])  # the fit was saved, not skipped
    assert sorted(set(HEAVY) & set(got["modules"])) == []
    # that file loads as an ordinary fit: tests/test_store.py::test_array_parts_save_as_the_tree_arviz_builds
