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
    p.add_argument("--json", metavar="FILE", nargs="?", const="-", default=None,
                   help="write the results as JSON to FILE, or on stdout when no FILE is given "
                        "(the one-line-per-target text then goes to stderr)")
    p.set_defaults(func=run)


def run(args) -> int:
    import json
    import sys

    from vfsynth.fits.benchmark import run_benchmark

    res = run_benchmark(quick=args.quick, say=lambda m: print(f"... {m}", file=sys.stderr, flush=True))
    text = sys.stderr if args.json == "-" else sys.stdout
    for row in res["summary"]:
        if row.get("error"):
            print(f"{row['name']}: NOT MEASURED ({row['error']})", file=text)
            continue
        ratio = "n/a" if row["ratio_to_floor"] is None else f"{row['ratio_to_floor']:.2f}"
        print(f"{row['name']}: measured {row['measured']:.4g}, target {row['target']:g}, "
              f"ratio to floor {ratio}, {'PASS' if row['passed'] else 'MISS'}", file=text)
    g = res["memory_growth"]
    print(f"memory: k = {g['k']} -> {[round(x) for x in g['rss_mb']]} MB", file=text)
    if args.json == "-":
        print(json.dumps(res, indent=1))
    elif args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1)
    return 0
