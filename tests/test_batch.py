"""``vfsynth batch``: corpus re-analysis (fits/corpus.py), resumption, refusal to overwrite, Dask.

The statistical check is independent of vfsynth: the bcg log odds ratios are recomputed from
the 2x2 counts here, and the posterior under the priors the row reports is integrated on a
dense 2-D (mu, tau) grid with SciPy densities (no vfsynth quadrature), then compared with the
exact-engine summaries in results.csv. Everything else checks bookkeeping (which rows, which
failures, what a re-run does) and that the Dask path writes byte-identical tables.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vfsynth.fits.cluster import dask_client
from vfsynth.fits.corpus import BatchError, BatchSettings, read_results, run_batch
from vfsynth.reports.cli import main

FIX = "tests/fixtures"


@pytest.fixture
def corpus(tmp_path):
    d = tmp_path / "corpus"
    d.mkdir()
    for name in ("bcg.csv", "normand1999.csv", "broken.csv", "eight_schools.csv"):
        shutil.copy(f"{FIX}/{name}", d / name)
    shutil.copy(f"{FIX}/revman/cont_giv.rm5", d / "cont_giv.rm5")
    # one analysis with a single study (k = 1) beside one with two
    rows = pd.read_csv(f"{FIX}/eight_schools.csv").head(3)
    rows.loc[0, "outcome"] = "lonely"
    rows.to_csv(d / "small.csv", index=False)
    return d


def _grid_posterior(y, se, tau_sd, mu_sd):
    """Posterior of the NNHM on a (mu, tau) grid: half-normal(tau_sd) x normal(0, mu_sd) priors."""
    tau = np.linspace(1e-6, 2.5, 1251)
    mu = np.linspace(-1.0, 2.5, 1401)
    m, t = np.meshgrid(mu, tau, indexing="ij")
    logp = stats.halfnorm(scale=tau_sd).logpdf(t) + stats.norm(0, mu_sd).logpdf(m)
    for yi, si in zip(y, se, strict=True):
        v = si**2 + t**2
        logp -= 0.5 * (np.log(v) + (yi - m) ** 2 / v)
    w = np.exp(logp - logp.max())
    w /= w.sum()
    # the posterior must lie well inside the grid for the sums to be integrals
    assert w[[0, -1], :].sum() < 1e-9 and w[:, -1].sum() < 1e-9, (w[[0, -1], :].sum(), w[:, -1].sum())
    pm, pt = w.sum(axis=1), w.sum(axis=0)
    tau_cdf = np.cumsum(pt)
    return {"mu_mean": float((pm * mu).sum()), "p_benefit": float(pm[mu > 0].sum()),
            "tau_median": float(np.interp(0.5, tau_cdf, tau)),
            "mu_sd": float(np.sqrt((pm * mu**2).sum() - (pm * mu).sum() ** 2))}


def test_results_match_independent_integration_and_failures_are_listed(corpus, tmp_path):
    out = tmp_path / "out"
    s = run_batch([corpus], out)
    res, fails = read_results(out)
    assert s.analysed == len(res) and s.failed == len(fails)
    assert list(res["review"].unique()) == sorted(res["review"].unique(), key=lambda r: str(corpus / r))
    # every analysis of the fixtures is either fitted or listed with a reason, never both, never neither
    assert set(res["review"]) == {"bcg", "cont_giv", "eight_schools", "normand1999", "small"}
    broken = fails[fails["review"] == "broken"]
    assert len(broken) == 1 and broken["stage"].iloc[0] == "load"
    assert "broken.csv" in broken["reason"].iloc[0] and "line" in broken["reason"].iloc[0]
    lonely = fails[(fails["review"] == "small")]
    assert lonely[["analysis", "k", "stage"]].values.tolist() == [["lonely/post", "1", "k"]]
    assert (res["k"] >= 2).all() and (res["engine"] == "exact").all()

    row = res[res["review"] == "bcg"].iloc[0]
    assert (row["tau_prior"], row["mu_prior"]) == ("half-normal:0.5", "normal:0,1.8138")
    b = pd.read_csv(f"{FIX}/bcg.csv")
    a, n1, c, n2 = b["events_t"], b["n_t"], b["events_c"], b["n_c"]
    # events are TB cases (unfavourable): the benefit-scale log OR is the negated log OR
    y = -np.log((a / (n1 - a)) / (c / (n2 - c)))
    se = np.sqrt(1 / a + 1 / (n1 - a) + 1 / c + 1 / (n2 - c))
    ref = _grid_posterior(y.to_numpy(), se.to_numpy(), 0.5, 1.8138)
    # grid steps: mu 0.0025, tau 0.002; the grid's error is far below these tolerances
    assert row["mu_mean"] == pytest.approx(ref["mu_mean"], abs=2e-3)
    assert row["mu_sd"] == pytest.approx(ref["mu_sd"], abs=2e-3)
    assert row["p_benefit"] == pytest.approx(ref["p_benefit"], abs=1e-3)
    assert row["tau_median"] == pytest.approx(ref["tau_median"], abs=4e-3)


def test_rerun_resumes_and_equals_a_fresh_run(corpus, tmp_path):
    out = tmp_path / "out"
    (tmp_path / "out").mkdir()
    (out / "notes.txt").write_text("mine")
    first = run_batch([corpus / "bcg.csv", corpus / "broken.csv"], out)
    assert first.analysed == 1 and first.failed == 1
    seen = []
    again = run_batch([corpus], out, on_review=lambda it, r, f: seen.append((it.name, r, f)))
    # bcg and broken are finished: neither is analysed again
    assert again.skipped_reviews == 2 and {n for n, *_ in seen} == {
        "cont_giv.rm5", "eight_schools.csv", "normand1999.csv", "small.csv"}
    fresh = tmp_path / "fresh"
    run_batch([corpus], fresh)
    for name in ("results.csv", "failures.csv"):
        assert (out / name).read_bytes() == (fresh / name).read_bytes()
    assert (out / "notes.txt").read_text() == "mine"
    # a third run does nothing and changes nothing
    before = (out / "results.csv").read_bytes()
    third = run_batch([corpus], out)
    assert third.analysed == 0 and third.failed == 0 and (out / "results.csv").read_bytes() == before


def test_refuses_foreign_tables_and_other_settings(corpus, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.csv").write_text("my,own\n1,2\n")
    with pytest.raises(BatchError, match="not written by vfsynth batch"):
        run_batch([corpus / "bcg.csv"], out)
    assert (out / "results.csv").read_text() == "my,own\n1,2\n"
    other = tmp_path / "other"
    run_batch([corpus / "bcg.csv"], other)
    with pytest.raises(BatchError, match="different run"):
        run_batch([corpus / "bcg.csv"], other, BatchSettings(model="common-effect"))
    assert json.loads((other / "batch.json").read_text())["settings"]["model"] == "random-effects"
    with pytest.raises(BatchError, match="no such file"):
        run_batch([corpus / "missing.csv"], tmp_path / "x")


def test_local_cluster_writes_the_same_tables(corpus, tmp_path):
    local, dask = tmp_path / "local", tmp_path / "dask"
    files = [corpus / "bcg.csv", corpus / "broken.csv", corpus / "small.csv"]
    run_batch(files, local)
    # thread workers: the same scheduler, futures and result order as processes, without
    # re-importing vfsynth in each worker (the process path is the slow test below)
    with dask_client(workers=2, processes=False) as client:
        run_batch(files, dask, client=client)
    for name in ("results.csv", "failures.csv"):
        assert (local / name).read_bytes() == (dask / name).read_bytes()


def test_cli(corpus, tmp_path, capsys):
    assert main(["batch", str(corpus / "bcg.csv"), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    assert "1 analysis(es) fitted" in capsys.readouterr().out
    assert main(["batch", str(corpus / "nope.csv"), "--out", str(tmp_path / "z")]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse: --workers and --scheduler exclude each other
        main(["batch", str(corpus), "--out", str(tmp_path / "z"), "--workers", "2", "--scheduler", "x"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_cli_worker_processes_give_identical_tables(corpus, tmp_path):
    local, dask = tmp_path / "local", tmp_path / "dask"
    assert main(["batch", str(corpus), "--out", str(local), "--no-progress"]) == 0
    assert main(["batch", str(corpus), "--out", str(dask), "--workers", "2", "--no-progress"]) == 0
    for name in ("results.csv", "failures.csv"):
        assert (local / name).read_bytes() == (dask / name).read_bytes()
