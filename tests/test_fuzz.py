"""A small instance of the fuzz run (``tests/fuzz_inputs.py``; issue 13, item 16): slow tier.

The full run is ``nice -n 15 .venv/bin/python tests/fuzz_inputs.py --files 10000 --workers 2``
(figures in ``tests/reference/fuzz/fuzz_summary.json``). This runs 40 files of another seed
through the same pool of in-process workers, two of them also through real ``vfsynth``
processes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.mark.slow
def test_hostile_files_give_clean_errors_only():
    import fuzz_inputs

    res = fuzz_inputs.fuzz(40, seed=7, workers=1, timeout=300.0, subprocess_every=20)
    c = res["counts"]
    assert res["files"] == 40
    bad = ("traceback", "crash", "hang", "dropped", "mismatch")
    assert not any(c.get(k, 0) for k in bad), res["signatures"]
    assert c.get("clean", 0) > 0 and c.get("ok", 0) > 0  # both paths were exercised
    assert c.get("subprocess_runs", 0) > 0  # files 0 and 20 went through real processes too


def test_classify_follows_the_documented_exit_statuses():
    from fuzz_pool import classify

    assert classify("data", 0, "")[0] == "ok"
    assert classify("data", 2, "vfsynth data: f.csv line 3, study 'A', column sd: not a number\n")[0] == "clean"
    assert classify("data", 2, "usage: vfsynth data ...\nvfsynth data: error: bad option\n")[0] == "clean"
    assert classify("fit", 3, "[  1.0s] fitting\nfit failed its diagnostics gate\n")[0] == "gate"
    # a status 2 with a traceback, an unknown status, or a gate from a command without one: bugs
    assert classify("data", 2, "Traceback (most recent call last):\n  ...\nValueError: x\n")[0] == "traceback"
    assert classify("data", 1, "vfsynth data: x\n")[0] == "traceback"
    assert classify("import", 3, "vfsynth import: x\n")[0] == "traceback"


@pytest.mark.slow
def test_a_hung_or_dead_worker_is_detected_and_replaced(monkeypatch):
    """File 1 hangs with SIGALRM blocked (only the parent's kill can end it), file 2's worker
    dies; files 0 and 3 must still be run, by the replacement workers."""
    from fuzz_pool import run_pool

    monkeypatch.setenv("VFSYNTH_FUZZ_HANG_AT", "1")
    monkeypatch.setenv("VFSYNTH_FUZZ_CRASH_AT", "2")
    got = []
    run_pool([0, 1, 2, 3], seed=13, workers=1, timeout=5.0, subprocess_every=0,
             record=lambda i, kind, name, cls, *_: got.append((i, name, cls)), warm_up=False, hard_grace=5.0)
    assert (1, "self-test hang", "hang") in got and (2, "self-test crash", "crash") in got
    assert {i for i, name, cls in got if cls in ("ok", "clean")} == {0, 3}
