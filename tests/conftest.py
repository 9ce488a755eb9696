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
