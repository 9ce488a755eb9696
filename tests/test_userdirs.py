"""Saved fits and the JAX cache live in the user's cache directory, never in the package."""

from __future__ import annotations

from pathlib import Path

import pytest

import vfsynth.data
import vfsynth.fits
import vfsynth.models
import vfsynth.reports
from vfsynth.fits import jaxenv, store, userdirs

# the four stage folders are the installed package (editable: the checkout's folders)
PACKAGE_DIRS = [Path(m.__file__).resolve().parent
                for m in (vfsynth.data, vfsynth.models, vfsynth.fits, vfsynth.reports)]


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("VFSYNTH_FIT_DIR", raising=False)
    monkeypatch.delenv("VFSYNTH_CACHE_DIR", raising=False)
    return tmp_path / "xdg"


def _inside(path: Path, base: Path) -> bool:
    return path.resolve().is_relative_to(base.resolve())


def test_fit_dir_follows_xdg_cache_home(xdg):
    assert store.fit_dir() == xdg / "vfsynth" / "fits"
    assert userdirs.fit_dir() == store.fit_dir()
    assert store.fit_path("0" * 20).parent == xdg / "vfsynth" / "fits"


def test_jax_cache_is_beside_the_fits(xdg):
    assert jaxenv.cache_dir() == xdg / "vfsynth" / "jax"


def test_environment_overrides(xdg, tmp_path, monkeypatch):
    monkeypatch.setenv("VFSYNTH_FIT_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("VFSYNTH_CACHE_DIR", str(tmp_path / "jit"))
    assert store.fit_dir() == tmp_path / "mine"
    assert jaxenv.cache_dir() == tmp_path / "jit"


@pytest.mark.parametrize("xdg_set", [True, False])
def test_never_the_package_directory(xdg, monkeypatch, xdg_set):
    if not xdg_set:
        monkeypatch.delenv("XDG_CACHE_HOME")
    for path in (store.fit_dir(), jaxenv.cache_dir()):
        assert not any(_inside(path, pkg) for pkg in PACKAGE_DIRS), path
        assert "site-packages" not in path.parts


def test_the_suite_is_isolated_from_the_real_cache():
    # conftest points both caches away from ~/.cache/vfsynth for every test
    real = userdirs.cache_base()
    assert not _inside(store.fit_dir(), real) and not _inside(jaxenv.cache_dir(), real)
