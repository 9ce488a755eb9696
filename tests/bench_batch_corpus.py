"""Benchmark: ``vfsynth batch`` on a synthetic corpus of reviews (not collected by pytest).

Run:  .venv/bin/python tests/bench_batch_corpus.py [--reviews 500] [--rows 172] [--workers 0,2]

The corpus imitates the public Cochrane collections the issue cites (~500 reviews, ~86,000
study rows: ~172 rows a review). Each review is a vfsynth CSV whose analyses have k drawn from
a geometric law (mean ~5; one in five analyses has a single study, so failures.csv is
exercised), in three data forms: continuous arms (SMD), binary arms (log OR) and estimate + SE
(MD). True effects are drawn from a random-effects model (fixed seed). For each ``--workers``
value (0 = in this process) the whole corpus is analysed into a fresh directory; wall time,
analyses fitted and analyses per second are printed as JSON, and the tables of every run are
compared byte for byte with the first.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

import numpy as np

COLUMNS = ("study", "year", "outcome", "timepoint", "measure", "n_t", "mean_t", "sd_t", "events_t", "n_c",
           "mean_c", "sd_c", "events_c", "estimate", "se", "higher_is_better", "source")


def synthetic_review(rng: np.random.Generator, n_rows: int) -> list[dict]:
    rows: list[dict] = []
    a = 0
    while len(rows) < n_rows:
        a += 1
        k = int(min(rng.geometric(0.2), n_rows - len(rows)))
        form = ("SMD", "logOR", "MD")[a % 3]
        mu, tau = rng.normal(0.2, 0.3), abs(rng.normal(0, 0.3))
        for i in range(k):
            th = rng.normal(mu, tau)
            n = int(rng.integers(20, 400))
            r = {"study": f"Study {i + 1}", "year": int(rng.integers(1980, 2024)), "outcome": f"outcome-{a}",
                 "timepoint": "post", "higher_is_better": "true", "source": "synthetic"}
            if form == "SMD":
                r.update(measure="SMD", n_t=n, n_c=n, mean_t=round(th + rng.normal(0, 1 / np.sqrt(n)), 4),
                         mean_c=0.0, sd_t=round(float(rng.uniform(0.8, 1.2)), 4), sd_c=1.0)
            elif form == "logOR":
                p_c = rng.uniform(0.1, 0.6)
                p_t = 1 / (1 + np.exp(-(np.log(p_c / (1 - p_c)) + th)))
                r.update(measure="logOR", n_t=n, n_c=n, events_t=int(rng.binomial(n, p_t)),
                         events_c=int(rng.binomial(n, p_c)))
            else:
                se = 2 / np.sqrt(n)
                r.update(measure="MD", estimate=round(rng.normal(th, se), 4), se=round(se, 4))
            rows.append(r)
    return rows


def write_corpus(directory: Path, n_reviews: int, n_rows: int, seed: int = 12) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for j in range(n_reviews):
        p = directory / f"review{j:04d}.csv"
        with open(p, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=COLUMNS)
            w.writeheader()
            w.writerows(synthetic_review(rng, n_rows))
        paths.append(p)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reviews", type=int, default=500)
    ap.add_argument("--rows", type=int, default=172)
    ap.add_argument("--workers", default="0", help="comma-separated; 0 = in this process")
    a = ap.parse_args()
    from vfsynth.fits.cluster import dask_client
    from vfsynth.fits.corpus import run_batch

    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        write_corpus(corpus, a.reviews, a.rows)
        first = None
        for w in (int(x) for x in a.workers.split(",")):
            out = Path(tmp) / f"out-{w}"
            t0 = time.perf_counter()
            with dask_client(workers=w or None) as client:
                t1 = time.perf_counter()
                s = run_batch([corpus], out, client=client)
            t2 = time.perf_counter()
            tables = ((out / "results.csv").read_bytes(), (out / "failures.csv").read_bytes())
            first = first or tables
            print(json.dumps({"reviews": a.reviews, "rows_per_review": a.rows, "workers": w,
                              "wall_s": round(t2 - t0, 2), "cluster_start_s": round(t1 - t0, 2),
                              "analysed": s.analysed, "not_analysed": s.failed,
                              "analyses_per_s": round(s.analysed / (t2 - t1), 1), "target_s": 600,
                              "identical_to_first": tables == first}))


if __name__ == "__main__":
    main()
