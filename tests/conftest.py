"""Test tiers: fast by default; ``--run-slow`` adds recovery / calibration checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Chains run in parallel on CPU devices; must be set before JAX is first imported.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# Keep the suite out of the user's real cache (~/.cache/vfsynth): saved fits and JAX's compiled
# programs go to a git-ignored folder of the checkout. It persists between runs on purpose, so
# a second run reuses fits and compilations (a fit is reused only when its whole configuration,
# code digest included, matches). Tests that need an empty store use the ``fit_dir`` fixture.
TEST_CACHE = REPO / ".test-cache"
os.environ.setdefault("VFSYNTH_FIT_DIR", str(TEST_CACHE / "fits"))
os.environ.setdefault("VFSYNTH_CACHE_DIR", str(TEST_CACHE / "jax"))


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False, help="run slow statistical checks")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow statistical check: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def fit_dir(tmp_path, monkeypatch):
    """A private saved-fit directory so tests never touch the user's cache."""
    d = tmp_path / "fits"
    monkeypatch.setenv("VFSYNTH_FIT_DIR", str(d))
    return d
