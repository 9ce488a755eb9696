"""The report's structure: import hygiene, mathtext-safe names, one failing section, output folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_report import fake_fitter

from vfsynth.data import load_csv
from vfsynth.reports import build
from vfsynth.reports.cli import main as cli_main
from vfsynth.reports.sections import data as data_section

FIX = Path(__file__).parent / "fixtures"

IMPORT_CHECK = r"""
import importlib, json, pkgutil, sys
import matplotlib
# dict.items, not rcParams' own accessors: reading rcParams["backend"] resolves (and imports) pyplot
before = matplotlib.rcParams._get_backend_or_none()
rc = dict(dict.items(matplotlib.rcParams))
import vfsynth.reports as R
names = [m.name for m in pkgutil.walk_packages(R.__path__, "vfsynth.reports.")]
for n in names:
    importlib.import_module(n)
changed = sorted(k for k, v in dict.items(matplotlib.rcParams) if str(rc.get(k)) != str(v))
print(json.dumps({"modules": names, "pyplot": "matplotlib.pyplot" in sys.modules, "jax": "jax" in sys.modules,
                  "backend_before": before, "backend_after": matplotlib.rcParams._get_backend_or_none(),
                  "changed": changed}))
"""


def test_importing_any_report_module_has_no_side_effects():
    """No pyplot, no JAX, no backend or rcParams change from importing every vfsynth.reports module."""
    out = subprocess.run([sys.executable, "-c", IMPORT_CHECK], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != "MPLBACKEND"})
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert "vfsynth.reports.build" in got["modules"] and "vfsynth.reports.figures.forest" in got["modules"]
    assert not got["pyplot"], "a vfsynth.reports module imports matplotlib.pyplot"
    assert not got["jax"], "a vfsynth.reports module imports jax"
    assert got["backend_after"] == got["backend_before"]
    assert got["changed"] == []


def test_dollar_signs_in_names_are_drawn_literally(tmp_path):
    """A study or outcome named with $...$ must not become mathtext."""
    import dataclasses

    from matplotlib import cbook
    from test_summaries import exact_nnhm_posterior, make_table

    from vfsynth.reports import figures as F
    from vfsynth.reports import summaries as S

    t = dataclasses.replace(make_table([0.1, 0.3, 0.5], [0.1, 0.2, 0.15]), study=("$x$ 2001", "B", "C"))
    a = S.summarize_analysis(exact_nnhm_posterior(t, draws=200), t)
    fig = F.forest_plot(a, title="outcome $y$")
    ax = fig.axes[0]
    texts = [tl.get_text() for tl in ax.get_yticklabels()] + [ax.get_title()]
    assert any("$x$ 2001" in s.replace("\\$", "$") for s in texts)
    assert not any(cbook.is_math_text(s) for s in texts)
    # rendering works and the displayed string is the literal name
    label = next(tl for tl in ax.get_yticklabels() if "x" in tl.get_text())
    assert label._preprocess_math(label.get_text()) == ("$x$ 2001  (" + label.get_text().split("(")[1], False)
    F.to_png_bytes(fig)


def test_failing_section_is_reported_and_the_others_render(tmp_path, monkeypatch):
    """A section whose function raises: its box names the exception, summary.json records it,
    and every other section is still built."""
    def boom(*a, **k):
        raise ZeroDivisionError("the data section divided by zero")

    monkeypatch.setattr(data_section, "data_section", boom)
    review = load_csv(FIX / "eight_schools.csv")
    res = build.build_report(review, tmp_path, seed=1, progress=False, fitter=fake_fitter, extras=False)
    html, md = res.html.read_text(), res.markdown.read_text()
    data = html[html.index('<section id="data">'): html.index('<section id="models">')]
    assert "callout fail" in data and "ZeroDivisionError: the data section divided by zero" in data
    assert "ZeroDivisionError: the data section divided by zero" in md
    box = html[html.index('id="key-findings"'): html.index("<nav>")]
    assert "data: ZeroDivisionError" in box
    for sid in ("models", "diagnostics", "results", "sof", "reproduce"):
        sec = html[html.index(f'<section id="{sid}">'):]
        assert "could not be built" not in sec[: sec.index("</section>")]
    assert "<img" in html[html.index('<section id="results">'):]
    js = json.loads(res.summary_json.read_text())
    assert js["run"]["failed_sections"] == [{"section": "data", "error_type": "ZeroDivisionError",
                                              "message": "the data section divided by zero"}]
    assert [f.section for f in res.failures] == ["data"]


def test_no_failure_means_an_empty_record(tmp_path):
    res = build.build_report(load_csv(FIX / "eight_schools.csv"), tmp_path, seed=1, progress=False,
                             fitter=fake_fitter, extras=False)
    js = json.loads(res.summary_json.read_text())
    assert js["run"]["failed_sections"] == [] and js["run"]["out"] == str(tmp_path)
    assert "sections that failed: none" in res.markdown.read_text()


def test_default_out_is_vfsynth_report_under_the_cwd(tmp_path, monkeypatch, capsys):
    """`vfsynth report` without --out writes ./vfsynth-report, never into the package."""
    from vfsynth.reports import analyses

    monkeypatch.setattr(analyses, "runner_fitter", fake_fitter)
    monkeypatch.chdir(tmp_path)
    assert cli_main(["report", "--data", str(FIX / "eight_schools.csv"), "--no-extras", "--quiet"]) == 0
    out = tmp_path / "vfsynth-report"
    assert (out / "report.html").is_file() and (out / "summary.json").is_file()
    printed = capsys.readouterr().out.split()
    assert Path(printed[0]).resolve() == (out / "report.html").resolve()
    js = json.loads((out / "summary.json").read_text())
    assert js["run"]["out"] == "vfsynth-report"
    assert js["run"]["command"].startswith("vfsynth report --data ")
    assert not hasattr(build, "BUNDLED_REPORT_DIR")


def test_out_option_is_recorded_in_the_regenerating_command(tmp_path, monkeypatch):
    from vfsynth.reports import analyses

    monkeypatch.setattr(analyses, "runner_fitter", fake_fitter)
    target = tmp_path / "elsewhere"
    assert cli_main(["report", "--data", str(FIX / "eight_schools.csv"), "--out", str(target), "--no-extras",
                     "--quiet", "--seed", "3"]) == 0
    js = json.loads((target / "summary.json").read_text())
    assert js["run"]["command"].endswith(f"--out {target} --seed 3")


@pytest.mark.parametrize("mod", ["plots", "sensitivity_plots", "living_plot", "summaries"])
def test_compatibility_modules_still_export(mod):
    import importlib

    m = importlib.import_module(f"vfsynth.reports.{mod}")
    assert m.__all__ and all(hasattr(m, n) for n in m.__all__)
