"""``vfsynth data``: JSON output reproduces pinned metafor values; bad input exits 2 without a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vfsynth.reports.cli import main

HERE = Path(__file__).resolve().parent
FIX = HERE / "fixtures"
RMA = json.loads((HERE / "reference" / "metafor_rma.json").read_text())["cases"]
TOL = 1e-6
METHODS = {"common": "FE", "dl": "DL", "reml": "REML"}


def run_json(capsys, *argv):
    assert main(["data", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def check(analysis, ref, flip=False):
    assert analysis["k"] == ref["k"]
    for ours, theirs in METHODS.items():
        got, want = analysis[ours], ref[theirs]
        est, lo, hi, plo, phi = (
            want["estimate"],
            want["ci_low"],
            want["ci_high"],
            want["pi_low"],
            want["pi_high"],
        )
        if flip:  # metafor's raw scale vs our benefit scale
            est, lo, hi, plo, phi = -est, -hi, -lo, -phi, -plo
        for key, val in dict(estimate=est, ci_low=lo, ci_high=hi, pi_low=plo, pi_high=phi).items():
            assert got[key] == pytest.approx(val, abs=TOL), (ours, key)
        for key in ("se", "tau2", "i2", "q"):
            assert got[key] == pytest.approx(want[key], abs=TOL), (ours, key)


def test_eight_schools(capsys):
    out = run_json(capsys, "--data", str(FIX / "eight_schools.csv"))
    (a,) = out["analyses"]
    assert (a["outcome"], a["timepoint"], a["measure"]) == ("sat_coaching", "post", "MD")
    check(a, RMA["eight_schools"])


def test_normand1999_is_flipped_to_benefit_scale(capsys):
    out = run_json(capsys, "--data", str(FIX / "normand1999.csv"))
    (a,) = out["analyses"]
    assert a["measure"] == "SMD"
    check(a, RMA["normand1999_SMD"], flip=True)


def test_bcg_log_or(capsys):
    out = run_json(
        capsys, "--data", str(FIX / "bcg.csv"), "--moderators", str(FIX / "bcg_moderators.csv")
    )
    (a,) = out["analyses"]
    assert a["measure"] == "logOR"
    check(a, RMA["bcg_logOR"], flip=True)
    assert all(s["events_t"] is not None for s in a["studies"])


@pytest.mark.parametrize("tp", ["post", "followup"])
def test_bundled_sensitivity(capsys, tp):
    out = run_json(capsys)
    (a,) = [a for a in out["analyses"] if (a["outcome"], a["timepoint"]) == ("sensitivity", tp)]
    check(a, RMA[f"cd012348_sensitivity_{tp}"])
    assert [s["study"] for s in a["studies"]] == RMA[f"cd012348_sensitivity_{tp}"]["study"]


def test_bundled_has_a_comparison_row_for_every_published_analysis(capsys):
    out = run_json(capsys)
    from vfsynth.data import load_review

    published = load_review().published
    assert [c["analysis"] for c in out["published_comparison"]] == list(published["analysis"])
    sof1 = next(c for c in out["published_comparison"] if c["analysis"] == "SoF1")
    assert sof1["published"]["estimate"] == 0.34 and sof1["published"]["k"] == 20
    assert sof1["ours"]["k"] == 6
    sof2 = next(c for c in out["published_comparison"] if c["analysis"] == "SoF2")
    assert sof2["ours"] is None and "no study" in sof2["why_not"]
    assert out["completeness"] and out["studies_with_nothing"]


def test_inclusion_restricts(capsys):
    out = run_json(capsys, "--inclusion", "confirmed,inferred")
    assert out["inclusion"] == ["confirmed", "inferred"]
    assert {s["inclusion"] for s in out["studies"]} <= {"confirmed", "inferred"}
    (a,) = [a for a in out["analyses"] if (a["outcome"], a["timepoint"]) == ("sensitivity", "post")]
    assert sorted(s["study"] for s in a["studies"]) == ["Barlow 2016", "Kalinauskiene 2009"]


def test_bad_inclusion_level_exits_2(capsys):
    assert main(["data", "--inclusion", "confirmd"]) == 2
    assert "confirmd" in capsys.readouterr().err


def test_broken_file_exits_2_with_message(capsys):
    assert main(["data", "--data", str(FIX / "broken.csv")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "line 3" in err and "sd_t" in err


def test_text_output(capsys):
    assert main(["data"]) == 0
    text = capsys.readouterr().out
    assert "SoF1" in text and "0.34" in text and "Completeness" in text


def test_help_is_import_light():
    import subprocess
    import sys

    code = (
        "import sys; import vfsynth.reports.commands.data_cmd as m; import argparse; "
        "p = argparse.ArgumentParser(); m.register(p.add_subparsers()); "
        "bad = [x for x in ('pandas', 'numpy', 'scipy', 'pimeta', 'jax', 'pymc') if x in sys.modules]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
