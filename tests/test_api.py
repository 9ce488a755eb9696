"""The public Python API: the README's worked example runs as written, and the API's own checks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.filterwarnings("ignore::vfsynth.fits.diagnostics.FitWarning")


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the README's Python API section holds one example"
    return blocks[0]


def test_readme_python_example_runs(fit_dir, monkeypatch):
    """Executed as a user would, from the repository root, in a fresh namespace."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    monkeypatch.chdir(ROOT)
    ns: dict = {}
    exec(compile(_readme_example(), "README.md (Python API)", "exec"), ns)  # noqa: S102 - the README's own example
    fit, nuts, cmp, priors = ns["fit"], ns["nuts"], ns["cmp"], ns["priors"]
    assert fit.engine == "exact" and nuts.engine == "nuts"
    # the NUTS posterior mean of mu agrees with the exact integral within Monte-Carlo error
    mc = float(nuts.summary_frame().loc["mu", "mcse_mean"])
    assert abs(float(nuts.posterior["mu"].mean()) - fit.exact.mu_mean) < 4 * mc
    assert set(cmp.summary_frame().index) == {"common-effect", "random-effects"}
    assert priors["format"] == "vfsynth-priors/1"
    assert ns["fig"].axes


def test_import_vfsynth_is_light():
    code = ("import sys, vfsynth; vfsynth.models();"
            "print(sorted(m for m in ('jax', 'pymc', 'pytensor', 'matplotlib.pyplot') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_summary_frame_of_exact_fit_equals_the_exact_posterior(fit_dir):
    """Exact engine: the frame's numbers are the integral's (checked against brute force in
    tests/test_cli_fit.py), with zero Monte-Carlo error, and the draws agree with them."""
    import vfsynth as vf

    review = vf.load_review(ROOT / "tests" / "fixtures" / "normand1999.csv")
    fit = vf.fit(review, outcome="length_of_stay", settings=vf.FitSettings(draws=2000, chains=4, seed=5))
    frame = fit.summary_frame()
    ep = fit.exact
    assert frame.loc["mu", "mean"] == pytest.approx(ep.mu_mean, rel=1e-12)
    assert frame.loc["mu", "mcse_mean"] == 0.0 and frame["source"].eq("exact").all()
    draws = np.asarray(fit.posterior["mu"].values).ravel()
    # 8,000 independent draws: their mean is within 4 standard errors of the exact mean
    assert abs(draws.mean() - ep.mu_mean) < 4 * ep.mu_sd / np.sqrt(draws.size)
    th = np.asarray(fit.posterior["theta"].values).reshape(-1, fit.table.k)
    assert np.all(np.abs(th.mean(0) - ep.theta_mean) < 4 * ep.theta_sd / np.sqrt(th.shape[0]))
    assert "<table" in fit._repr_html_() and "exact" in fit._repr_html_()


def test_api_refuses_bad_input_before_fitting(fit_dir):
    import pandas as pd

    import vfsynth as vf

    frame = pd.read_csv(ROOT / "tests" / "fixtures" / "normand1999.csv")
    frame.loc[2, "sd_t"] = -1.0
    with pytest.raises(vf.DataValidationError, match="line 4"):
        vf.load_review(frame)
    with pytest.raises(vf.VfsynthError, match="no exact engine"):
        vf.fit(vf.load_review(ROOT / "tests" / "fixtures" / "normand1999.csv"), outcome="length_of_stay",
               model="t", engine="exact")
    with pytest.raises(vf.VfsynthError, match="engine"):
        vf.FitSettings(engine="gibbs")
    assert not list(fit_dir.glob("*.nc"))
