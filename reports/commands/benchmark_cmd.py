"""``vfsynth benchmark``: measure the speed and memory targets (:mod:`vfsynth.fits.benchmark`).

Registration imports only argparse; the measuring code loads inside :func:`run`.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "benchmark",
        help="measure fit / load speed and memory against their targets",
        description="Measure each speed and memory target with its ratio to an in-process floor; "
                    "print the figures (and JSON with --json FILE).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true",
                   help="k = 2,000 / 20,000 studies and 100,000 rows instead of up to 200,000 / 1,000,000")
    p.add_argument("--json", metavar="FILE", default=None, help="also write the results as JSON to FILE")
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    import sys

    from vfsynth.fits.benchmark import run_benchmark

    res = run_benchmark(quick=args.quick, say=lambda m: print(f"... {m}", file=sys.stderr, flush=True))
    for name, r in res["results"].items():
        extra = f", peak RSS {r['rss_mb']:.0f} MB" if "rss_mb" in r else ""
        print(f"{name}: {r['seconds']:.2f} s{extra}, ratio to floor {r['ratio_to_floor']:.1f}")
    g = res["memory_growth"]
    print(f"memory: k = {g['k']} -> {[round(x) for x in g['rss_mb']]} MB")
    print(f"targets: {res['targets']}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1)
    return 0
