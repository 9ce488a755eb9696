"""`vfsynth fit`: JSON output, cache reuse / invalidation, bad arguments, lazy imports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vfsynth.reports.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
FAST = ["--draws", "200", "--tune", "200", "--chains", "2", "--seed", "3"]

pytestmark = pytest.mark.filterwarnings("ignore::vfsynth.fits.diagnostics.FitWarning")


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_help_is_instant_and_imports_no_heavy_library():
    code = (
        "import sys; from vfsynth.reports.cli import build_parser; build_parser();"
        "print(sorted(m for m in ('jax','pymc','arviz_stats','pytensor','numpyro') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_fit_help_documents_prior_grammar(capsys):
    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    out = capsys.readouterr().out
    assert "half-normal:SCALE" in out and "turner:OUTCOME" in out and "--refit" in out


def test_json_on_user_csv_then_cache_then_changed_file_resamples(capsys, fit_dir, tmp_path):
    csv = tmp_path / "normand.csv"
    shutil.copy(FIXTURES / "normand1999.csv", csv)
    nuts = ["--engine", "nuts", *FAST]
    rc, out, err = _run(capsys, "fit", "--data", str(csv), "--outcome", "length_of_stay", "--json", *nuts)
    d = json.loads(out)  # stdout is exactly one JSON object
    # a run this short may fail the diagnostics gate: exit status 3 then, 0 otherwise (README)
    assert rc == (0 if d["diagnostics"]["passed"] else 3), err
    assert d["engine"] == "nuts" and d["fit"]["engine"] == "nuts"
    for key in ("mu", "tau"):
        assert {"mean", "sd", "q2.5", "q97.5", "hdi_2.5", "hdi_97.5", "mcse_mean"} <= set(d[key])
        assert d[key]["q2.5"] < d[key]["mean"] < d[key]["q97.5"]
    assert 0 <= d["p_benefit"] <= 1
    assert d["prediction"]["q2.5"] < d["mu"]["q2.5"] and d["prediction"]["q97.5"] > d["mu"]["q97.5"]
    assert {"max_rhat", "min_ess_bulk", "min_ess_tail", "divergences", "treedepth_hits", "ebfmi_min", "passed"} <= set(
        d["diagnostics"]
    )
    assert d["data"]["k"] == 9 and d["data"]["measure"] == "SMD" and len(d["data"]["studies"]) == 9
    assert d["priors"]["tau"]["spec"] == "half-normal:0.5" and d["priors"]["mu"]["spec"] == "normal:0,1"
    assert d["fit"]["cached"] is False and Path(d["fit"]["path"]).parent == fit_dir
    assert "sampling" in err

    rc, out2, err2 = _run(capsys, "fit", "--data", str(csv), "--outcome", "length_of_stay", "--json", *nuts)
    d2 = json.loads(out2)
    assert d2["fit"]["cached"] is True and d2["fit"]["id"] == d["fit"]["id"]
    assert d2["mu"] == d["mu"]
    assert "reusing saved fit" in err2

    # edit one number in the data file: the old fit must not be reused
    text = csv.read_text().replace('"Edinburgh","","length_of_stay","post","SMD",155,55,47', '"Edinburgh","","length_of_stay","post","SMD",155,56,47')
    assert text != csv.read_text()
    csv.write_text(text)
    rc, out3, _ = _run(capsys, "fit", "--data", str(csv), "--outcome", "length_of_stay", "--json", *nuts)
    d3 = json.loads(out3)
    assert d3["fit"]["cached"] is False and d3["fit"]["id"] != d["fit"]["id"]
    assert d3["data"]["data_hash"] != d["data"]["data_hash"]

    # --refit samples again even though a valid fit exists; same seed -> same draws
    rc, out4, _ = _run(capsys, "fit", "--data", str(csv), "--outcome", "length_of_stay", "--json", "--refit", *nuts)
    d4 = json.loads(out4)
    assert d4["fit"]["cached"] is False and d4["mu"] == d3["mu"]


def _brute_force_nnhm(y, se, tau_scale, mu_sd, n=1601):
    """Posterior mean / SD of mu, P(mu > 0) and the tau median of the NNHM with mu ~ N(0, mu_sd),
    tau ~ HN(tau_scale), by a plain 2-D trapezoid over (mu, tau) -- no analytic step shared with
    vfsynth.fits.exact. P(mu > 0) integrates up to a cut at 0, where the trapezoid's error is
    O(h^2): it is Richardson-extrapolated from grids of step h and h/2."""
    from scipy import stats

    def grid(n):
        mu = np.linspace(-8 * mu_sd, 8 * mu_sd, n)
        tau = np.linspace(0.0, 8 * tau_scale, n)
        m, t = np.meshgrid(mu, tau, indexing="ij")
        logp = stats.norm.logpdf(m, 0, mu_sd) + stats.halfnorm.logpdf(t, scale=tau_scale)
        for yi, si in zip(y, se, strict=True):
            logp = logp + stats.norm.logpdf(yi, m, np.sqrt(t**2 + si**2))
        p = np.exp(logp - logp.max())
        z = np.trapezoid(np.trapezoid(p, tau, axis=1), mu)
        pos = mu >= 0  # 0 is a grid node
        return mu, tau, p, z, np.trapezoid(np.trapezoid(p, tau, axis=1)[pos], mu[pos]) / z

    mu, tau, p, z, p_pos = grid(n)
    p_pos = (4 * grid(2 * n - 1)[-1] - p_pos) / 3
    pm = np.trapezoid(p, tau, axis=1) / z  # marginal density of mu
    mean = np.trapezoid(mu * pm, mu)
    sd = np.sqrt(np.trapezoid((mu - mean) ** 2 * pm, mu))
    pt = np.trapezoid(p, mu, axis=0) / z
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pt[1:] + pt[:-1]) * np.diff(tau))])
    return mean, sd, p_pos, float(np.interp(0.5, cdf, tau))


def test_default_engine_is_exact_and_equals_brute_force_integral(capsys, fit_dir):
    """`vfsynth fit` (engine auto -> exact for the NNHM) equals a brute-force 2-D integral."""
    rc, out, err = _run(capsys, "fit", "--data", str(FIXTURES / "eight_schools.csv"), "--outcome", "sat_coaching",
                        "--tau-prior", "half-normal:10", "--mu-prior", "normal:0,20", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["engine"] == "exact" and d["diagnostics"]["passed"] and "integrating" in err
    y = np.array([28, 8, -3, 7, -1, 1, 18, 12.0])
    se = np.array([15, 10, 16, 11, 9, 11, 10, 18.0])
    mean, sd, p_pos, tau_med = _brute_force_nnhm(y, se, 10.0, 20.0)
    assert d["mu"]["mean"] == pytest.approx(mean, abs=2e-4)
    assert d["mu"]["sd"] == pytest.approx(sd, abs=2e-4)
    assert d["p_benefit"] == pytest.approx(p_pos, abs=2e-5)
    assert d["tau"]["median"] == pytest.approx(tau_med, abs=5e-3)
    assert d["mu"]["mcse_mean"] == 0.0


def test_engine_choice_is_refused_before_fitting_when_the_model_lacks_it(capsys, fit_dir):
    rc, out, err = _run(capsys, "fit", "--outcome", "sensitivity", "--model", "t", "--engine", "exact", *FAST)
    assert rc == 2 and "no exact engine" in err and "Traceback" not in err
    assert not list(fit_dir.glob("*.nc"))


def test_text_output_and_explicit_priors(capsys, fit_dir):
    rc, out, err = _run(
        capsys, "fit", "--data", str(FIXTURES / "eight_schools.csv"), "--outcome", "sat_coaching",
        "--tau-prior", "half-normal:10", "--mu-prior", "normal:0,20", "--model", "common-effect", *FAST,
    )
    assert rc == 0, err
    assert "common-effect model, k = 8" in out and "P(benefit)" in out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--outcome", "nonexistent"], "no rows for outcome 'nonexistent'"),
        (["--outcome", "sensitivity", "--tau-prior", "half-normal:-1"], "--tau-prior"),
        (["--outcome", "sensitivity", "--mu-prior", "banana:1"], "--mu-prior"),
        (["--outcome", "sensitivity", "--model", "binomial-normal"], "binomial-normal"),
        (["--outcome", "sensitivity", "--inclusion", "maybe"], "--inclusion"),
        (["--outcome", "sensitivity", "--target-accept", "1.5"], "--target-accept"),
        (["--outcome", "sensitivity", "--mediator", "x"], "--model joint"),
        (["--data", "no/such/file.csv", "--outcome", "x"], "file not found"),
    ],
)
def test_bad_arguments_exit_2_without_traceback(capsys, fit_dir, argv, needle):
    rc, out, err = _run(capsys, "fit", *argv)
    assert rc == 2
    assert needle in err
    assert "Traceback" not in err and out == ""


def test_missing_sampler_package_is_named(capsys, fit_dir, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "blackjax" else real(n, *a))
    rc, _, err = _run(capsys, "fit", "--outcome", "sensitivity", "--sampler", "blackjax")
    assert rc == 2 and "'blackjax'" in err and "not installed" in err


def test_joint_model_is_routed_to_its_command_module(capsys, monkeypatch):
    import types

    seen = {}
    fake = types.ModuleType("vfsynth.reports.commands.joint_cli")
    fake.run_joint_cli = lambda args: seen.setdefault("args", args) and 0
    monkeypatch.setitem(sys.modules, "vfsynth.reports.commands.joint_cli", fake)
    rc, _, _ = _run(capsys, "fit", "--model", "joint", "--mediator", "sensitivity", "--outcomes", "a,b")
    assert rc == 0 and seen["args"].mediator == "sensitivity" and seen["args"].outcomes == "a,b"


def test_joint_spec_errors_become_user_errors(capsys, monkeypatch):
    import types

    from vfsynth.models.joint import JointSpecError

    def bad(args):
        raise JointSpecError("unknown mediator 'x'")

    fake = types.ModuleType("vfsynth.reports.commands.joint_cli")
    fake.run_joint_cli = bad
    monkeypatch.setitem(sys.modules, "vfsynth.reports.commands.joint_cli", fake)
    rc, out, err = _run(capsys, "fit", "--model", "joint", "--mediator", "x")
    assert rc == 2 and "unknown mediator 'x'" in err and "Traceback" not in err
