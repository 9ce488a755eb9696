"""One exception root: every deliberate error is a VfsynthError, and ``vfsynth`` maps it once.

Bad input through any command ends with ``vfsynth <command>: <message>`` on stderr and exit
status 2, without a traceback; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from vfsynth.data.errors import VfsynthError
from vfsynth.reports.cli import main

FIX = Path(__file__).resolve().parent / "fixtures"

ERROR_CLASSES = [
    ("vfsynth.data.errors", "DataValidationError", ValueError),
    ("vfsynth.data.errors", "DataRequestError", ValueError),
    ("vfsynth.data.errors", "UnknownAnalysisError", KeyError),
    ("vfsynth.models.univariate", "ModelSpecError", ValueError),
    ("vfsynth.models.joint", "JointSpecError", ValueError),
    ("vfsynth.models.regression", "ModeratorError", ValueError),
    ("vfsynth.fits.sampling", "SamplerUnavailableError", ImportError),
    ("vfsynth.fits.prior_files", "PriorFileError", ValueError),
    ("vfsynth.fits.store", "FitStoreError", Exception),
    ("vfsynth.fits.store", "StaleFitError", Exception),
    ("vfsynth.fits.store", "CorruptFitError", Exception),
    ("vfsynth.reports.cli", "UserInputError", Exception),
]


@pytest.mark.parametrize(("module", "name", "old_base"), ERROR_CLASSES,
                         ids=[n for _, n, _ in ERROR_CLASSES])
def test_every_error_class_derives_from_the_root_and_keeps_its_base(module, name, old_base):
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, VfsynthError) and issubclass(cls, old_base)


def _missing(tmp_path: Path, name: str) -> str:
    return str(tmp_path / name)


BAD_INPUTS = [
    (["data", "--inclusion", "confirmd"], "data", "unknown inclusion level"),
    (["data", "--level", "2"], "data", "--level must be between 0 and 1"),
    (["import", "{tmp}/missing.rm5"], "import", "file not found"),
    (["import", str(FIX / "revman" / "cont_giv.rm5"), "--measure", "SMD"], "import",
     "measure= applies to RevMan Web CSV only"),
    (["priors", "show", "{tmp}/missing.json"], "priors", "missing.json: file not found"),
    (["priors", "export", "nonexistent", "-o", "{tmp}/p.json"], "priors", "no saved fit"),
    (["update", "--priors", "{tmp}/missing.json", "--data", str(FIX / "eight_schools.csv")],
     "update", "file not found"),
    (["update", "--priors", "{tmp}/missing.json", "--data", str(FIX / "eight_schools.csv"),
      "--robust", "2"], "update", "--robust must be in [0, 1)"),
    (["fit", "--data", str(FIX / "eight_schools.csv"), "--outcome", "sensitivity"], "fit",
     "sensitivity"),
]


@pytest.mark.parametrize(("argv", "command", "needle"), BAD_INPUTS,
                         ids=[" ".join(a[:2]) + f" #{i}" for i, (a, _, _) in enumerate(BAD_INPUTS)])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, fit_dir, argv, command, needle):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 2
    # progress lines ("[   0.0s] loading data") may come first; the error is one line
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("[")]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"vfsynth {command}: ") and needle in lines[0]
    assert "Traceback" not in err


def test_data_validation_error_keeps_its_listing(capsys):
    assert main(["data", "--data", str(FIX / "broken.csv")]) == 2
    err = capsys.readouterr().err
    first, *problems = err.strip().splitlines()
    assert first.startswith("vfsynth data: ") and "problem(s) in the input data" in first
    assert len(problems) >= 3 and all(p.startswith("  - line ") for p in problems)
    assert "Traceback" not in err


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_reraises(where):
    argv = ["data", "--inclusion", "confirmd"]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    from vfsynth.data.errors import DataRequestError

    with pytest.raises(DataRequestError, match="unknown inclusion level"):
        main(argv)


def test_debug_prints_the_traceback_in_a_process():
    code = "import sys; from vfsynth.reports.cli import main; sys.exit(main(sys.argv[1:]))"
    plain = subprocess.run([sys.executable, "-c", code, "data", "--inclusion", "confirmd"],
                           capture_output=True, text=True)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    debug = subprocess.run([sys.executable, "-c", code, "--debug", "data", "--inclusion", "confirmd"],
                           capture_output=True, text=True)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "DataRequestError: unknown inclusion level" in debug.stderr


def test_a_bug_is_not_hidden(monkeypatch):
    from vfsynth.reports.commands import data_cmd

    def broken(args):
        raise RuntimeError("a bug, not bad input")

    monkeypatch.setattr(data_cmd, "run", broken)
    with pytest.raises(RuntimeError):
        main(["data"])
