"""``vfsynth report``: the self-contained HTML (+ Markdown) report of a review."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="fit (or reuse saved fits) and write the HTML + Markdown report",
        description=(
            "Fit every outcome of a review (reusing saved fits), and write report.html (self-contained, "
            "figures embedded), report.md and summary.json into --out (default ./vfsynth-report). With no "
            "--data, reports the bundled CD012348 reconstruction; its committed canonical report is rebuilt "
            "with --out reports/bundled."
        ),
    )
    p.add_argument("--data", metavar="CSV", help="review in the vfsynth CSV schema (or RevMan .rm5 / RevMan Web CSV); default: bundled CD012348")
    p.add_argument("--moderators", metavar="CSV", help="optional study-level moderators CSV")
    p.add_argument("--out", metavar="DIR", help="output folder (default: ./vfsynth-report under the current directory)")
    p.add_argument("--seed", type=int, default=None, help="seed for every fit (default 20190101)")
    p.add_argument("--control-risk", type=float, default=None, metavar="P",
                   help="control-arm risk (0-1, or per 1000 if > 1) for absolute effects of binary outcomes")
    p.add_argument("--mcid", action="append", default=[], metavar="MEASURE=T1,T2",
                   help="minimal clinically important differences, e.g. SMD=0.2,0.5 or OR=1.25 (repeatable; "
                        "defaults SMD 0.2,0.5 and OR 1.25)")
    p.add_argument("--interval", choices=("eti", "hdi"), default="eti",
                   help="credible interval: equal-tailed (default) or highest-density")
    p.add_argument("--no-extras", action="store_true", help="skip mediation, model comparison, sensitivity and living-review sections")
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.add_argument("--engine", choices=("auto", "exact", "nuts", "batched"), default="auto",
                   help="engine of each analysis's fit: auto (default) = exact integration where the model has it, "
                        "else NUTS")
    p.add_argument("--no-cache", action="store_true",
                   help="rebuild every step even if a cached build with the same inputs exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vfsynth.reports.cli import UserInputError

    risk = args.control_risk
    if risk is not None:
        if risk > 1:
            risk = risk / 1000
        if not 0 < risk < 1:
            raise UserInputError(f"--control-risk must be a risk in (0, 1) or per 1000 in (1, 1000), got {args.control_risk}")
    if args.seed is not None and args.seed < 0:
        raise UserInputError(f"--seed must be a non-negative integer, got {args.seed}")
    mcid = parse_mcid(args.mcid, UserInputError)
    if args.moderators and not args.data:
        raise UserInputError("--moderators needs --data (the bundled review has its own moderators)")
    from vfsynth.data.bundled_examples import is_example

    if args.data and not Path(args.data).exists() and not is_example(args.data):
        raise UserInputError(f"--data: file not found: {args.data}")

    from vfsynth.data import load_data
    from vfsynth.reports.build import DEFAULT_OUT_DIR, DEFAULT_SEED, build_report

    review = load_data(args.data, moderators=args.moderators) if args.data else load_data(None)
    out = args.out or DEFAULT_OUT_DIR
    cmd = ("vfsynth report" + (f" --data {args.data}" if args.data else "")
           + (f" --moderators {args.moderators}" if args.moderators else "") + (f" --out {args.out}" if args.out else "")
           + (f" --engine {args.engine}" if args.engine != "auto" else ""))
    from vfsynth.reports.analyses import engine_fitter
    res = build_report(
        review,
        out,
        seed=DEFAULT_SEED if args.seed is None else args.seed,
        progress=not args.quiet,
        control_risk=risk,
        mcid=mcid or None,
        ci_kind=args.interval,
        extras=not args.no_extras,
        command=cmd,
        fitter=engine_fitter(args.engine),
        cache=not args.no_cache,
    )
    print(res.html)
    print(res.markdown)
    return 0


def parse_mcid(specs: list[str], error=ValueError) -> dict[str, tuple[float, ...]]:
    """``["SMD=0.2,0.5", "OR=1.25"]`` -> ``{"SMD": (0.2, 0.5), "logOR": (1.25,)}``.

    OR thresholds are odds ratios (> 0); they are compared on the log scale downstream.
    """
    out: dict[str, tuple[float, ...]] = {}
    names = {"SMD": "SMD", "MD": "MD", "OR": "logOR", "LOGOR": "logOR"}
    for spec in specs:
        key, sep, vals = spec.partition("=")
        measure = names.get(key.strip().upper())
        if not sep or measure is None:
            raise error(f"--mcid {spec!r}: expected MEASURE=T1[,T2...] with MEASURE one of SMD, MD, OR")
        try:
            ts = tuple(float(v) for v in vals.split(",") if v.strip())
        except ValueError:
            raise error(f"--mcid {spec!r}: thresholds must be numbers") from None
        if not ts or (measure == "logOR" and any(t <= 0 for t in ts)):
            raise error(f"--mcid {spec!r}: give at least one threshold (odds ratios must be > 0)")
        out[measure] = ts
    return out
