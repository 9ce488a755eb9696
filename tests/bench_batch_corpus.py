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
import json
import tempfile
import time
from pathlib import Path

# the corpus generator lives with the benchmark command (vfsynth benchmark's ``batch`` entry)
from vfsynth.fits.bench_targets import synthetic_review, write_corpus  # noqa: F401


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
