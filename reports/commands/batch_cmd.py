"""``vfsynth batch``: re-analyse every analysis of every review given, into one results table.

Registration imports only argparse; the corpus code (:mod:`vfsynth.fits.corpus`) and Dask
(:mod:`vfsynth.fits.cluster`) load inside :func:`run`.
"""

from __future__ import annotations

import argparse

from vfsynth.reports.commands.argtypes import positive_int

_EPILOG = """\
Inputs: vfsynth CSV files, RevMan 5 .rm5 files and RevMan Web CSV exports, or directories
holding them (their *.csv and *.rm5). Every (outcome, time point) with k >= 2 studies is fitted
by the exact engine with the registry's default priors for its measure and outcome.

Writes into DIR:
  results.csv   one row per review x analysis: k, measure, model, engine, priors, mu and tau
                (mean, sd, median, 95% interval), 95% prediction interval, P(benefit), verdict
  failures.csv  everything not analysed, with the reason (file does not load, k < 2, ...)
  batch.json    the settings; a re-run with the same settings resumes (skips what is done)
Other files in DIR are never touched.

Scale-out (results identical to the local run):
  --workers N          a Dask LocalCluster of N worker processes on this machine
  --scheduler ADDRESS  an existing Dask cluster: tcp://host:8786, or a scheduler file (.json)
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "batch",
        help="re-analyse every analysis of many reviews (CSV, .rm5, RevMan Web CSV) into one table",
        description="Re-analyse every analysis (k >= 2) of every review given; resumable; optionally on Dask.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="review files or directories of them")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created; resumed if it exists)")
    p.add_argument("--model", default="random-effects", choices=("random-effects", "common-effect"),
                   help="model for every analysis (default random-effects)")
    p.add_argument("--timepoint", default="post", help="time point given to RevMan imports (default post)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=positive_int, metavar="N",
                       help="run on a local Dask cluster of N worker processes")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on an existing Dask cluster (scheduler address or scheduler-file .json)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from vfsynth.fits.cluster import dask_client
    from vfsynth.fits.corpus import BatchSettings, expand_inputs, run_batch

    settings = BatchSettings(model=args.model, timepoint=args.timepoint)
    expand_inputs(args.files, exclude=Path(args.out))  # a missing file fails before a cluster starts
    with dask_client(scheduler=args.scheduler, workers=args.workers) as client:
        summary = run_batch(args.files, args.out, settings, client=client, progress=not args.no_progress)
    print(summary.line())
    return 0
