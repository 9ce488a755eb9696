"""The built wheel works installed read-only: nothing is written into the package tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIX = REPO / "tests" / "fixtures"
NOBODY = 65534


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def installed():
    # Not pytest's tmp_path: /tmp/pytest-of-root is 0700, so "nobody" could not reach it.
    tmp = Path(tempfile.mkdtemp(prefix="vfsynth-wheel-"))
    os.chmod(tmp, 0o755)
    wheels = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(wheels), str(REPO)], check=True, capture_output=True)
    (wheel,) = wheels.glob("vfsynth-*.whl")
    new = tmp / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(new)], check=True)
    site = Path(subprocess.run([str(new / "bin" / "python"), "-c",
                                "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    # A plain path line: the dependencies become importable, but that directory's own .pth
    # files (the editable vfsynth finder) are not processed.
    deps = [sysconfig.get_paths()["purelib"], *[p for p in sys.path if p.endswith("site-packages")]]
    (site / "_test_deps.pth").write_text("\n".join(dict.fromkeys(deps)) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(new / "bin" / "python"), "install",
                    "-q", "--no-deps", str(wheel)], check=True, capture_output=True)
    subprocess.run(["chmod", "-R", "a-w", str(site)], check=True)
    home = tmp / "home"
    home.mkdir()
    os.chmod(home, 0o777)
    as_nobody = False
    if os.geteuid() == 0:  # root ignores permission bits: read-only only bites for nobody
        try:
            probe = subprocess.run([str(new / "bin" / "python"), "-c", "import vfsynth.fits"],
                                   capture_output=True, preexec_fn=lambda: os.setuid(NOBODY))
            as_nobody, why = probe.returncode == 0, probe.stderr.decode()[-200:]
        except PermissionError as exc:  # nobody cannot even execute the interpreter
            as_nobody, why = False, str(exc)
        if not as_nobody:
            print("wheel test: running as root, NOT as nobody: nobody cannot run the "
                  f"interpreter or read its paths ({why!r}); the snapshot check still runs")
    yield new, site / "vfsynth", home, as_nobody
    subprocess.run(["chmod", "-R", "u+w", str(tmp)], check=False)
    shutil.rmtree(tmp, ignore_errors=True)


def _run(installed, *args, timeout=600):
    new, _, home, as_nobody = installed
    env = {k: v for k, v in os.environ.items() if not k.startswith("VFSYNTH_")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / "cache"), PYTHONNOUSERSITE="1")
    env.pop("PYTHONPATH", None)
    preexec = (lambda: os.setuid(NOBODY)) if as_nobody else None
    return subprocess.run([str(new / "bin" / args[0]), *args[1:]], env=env, cwd=str(home),
                          capture_output=True, text=True, timeout=timeout, preexec_fn=preexec)


def test_import_resolves_to_the_installed_wheel(installed):
    _, pkg, _, _ = installed
    r = _run(installed, "python", "-c", "import vfsynth.data, vfsynth.fits; print(vfsynth.data.__file__)")
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).is_relative_to(pkg), r.stdout
    # the Python API (the top-level package) and every model spec come with the wheel
    r = _run(installed, "python", "-c", "import vfsynth; print(vfsynth.__file__); print(sorted(vfsynth.models()))")
    assert r.returncode == 0, r.stderr
    path, names = r.stdout.strip().splitlines()
    assert Path(path).is_relative_to(pkg) and "random-effects" in names and "joint" in names


def test_fit_from_a_read_only_install(installed):
    _, pkg, home, _ = installed
    before = _snapshot(pkg)
    r = _run(installed, "vfsynth", "fit", "--outcome", "sensitivity", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    assert '"mu"' in r.stdout
    assert _snapshot(pkg) == before
    assert any((home / "cache" / "vfsynth" / "fits").glob("*.nc"))


@pytest.mark.slow
def test_report_from_a_read_only_install(installed):
    _, pkg, home, _ = installed
    before = _snapshot(pkg)
    out = home / "report"
    r = _run(installed, "vfsynth", "report", "--data", str(FIX / "eight_schools.csv"), "--out", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "report.html").exists()
    assert _snapshot(pkg) == before
