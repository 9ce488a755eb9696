"""``vfsynth import``: convert a RevMan file (.rm5 or RevMan Web CSV) into the vfsynth CSV schema.

Registration imports only argparse; the importer loads inside :func:`run`.
"""

from __future__ import annotations

import argparse

_EPILOG = """\
Every RevMan analysis becomes one schema outcome, and every subgroup one more:
  a<comparison>-<outcome>-<slug of outcome name>
  a<comparison>-<outcome>-s<subgroup>-<slug of subgroup name>
The mapping (RevMan names, data type, effect measure, pooling method, direction and why)
is written next to the CSV (OUT.mapping.csv) and printed.

A RevMan file can also be fitted directly:  vfsynth fit --data FILE.rm5 --outcome SLUG

RevMan Web CSV exports do not name the effect measure: it is inferred per analysis by
recomputing RevMan's stored Mean and CI under RR, OR, RD, MD, SMD and generic inverse
variance; --measure overrides it (one measure for all, or N.M=MEASURE per analysis).
--check recomputes every stored RevMan result (per-study effects and CIs, pooled
estimates, tau^2, I^2, heterogeneity and subgroup tests) and prints the largest differences.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "import",
        help="import a RevMan 5 (.rm5) file or RevMan Web CSV export into the vfsynth CSV schema",
        description="Import a RevMan 5 (.rm5) file or a RevMan Web CSV data export.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE", help="RevMan 5 .rm5 file or RevMan Web CSV export")
    p.add_argument("-o", "--output", metavar="CSV", help="write the schema CSV here (default: only print the summary)")
    p.add_argument("--measure", action="append", default=None, metavar="M|N.M=M",
                   help="effect measure for RevMan Web CSV analyses (RR, OR, RD, MD, SMD, GIV, GIV-ratio); repeatable")
    p.add_argument("--timepoint", default="post", help="time point written to every row (default: post)")
    p.add_argument("--higher-is-better", choices=("true", "false"), default=None,
                   help="direction for every outcome (default: from RevMan's forest-plot labels)")
    p.add_argument("--check", action="store_true", help="recompute RevMan's stored results and report the differences")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument("--force", action="store_true", help="replace existing output files (never the input)")
    p.set_defaults(func=run)


def _parse_measure(values):
    from vfsynth.reports.cli import UserInputError

    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return values[0]
    out = {}
    for v in values:
        if "=" not in v:
            raise UserInputError(f"--measure {v!r}: with several --measure options each must be N.M=MEASURE")
        k, m = v.split("=", 1)
        out[k.strip()] = m.strip()
    return out


def run(args) -> int:
    import json

    from vfsynth.data import revman, revman_results
    from vfsynth.data.inputfile import check_input_path
    from vfsynth.data.text_safety import csv_safe_frame
    from vfsynth.reports.outpaths import check_output_file

    path = check_input_path(args.file)
    if args.output:  # before any parsing: never overwrite the input or an existing file
        out = check_output_file(args.output, [path], force=args.force)
        check_output_file(out.with_suffix(".mapping.csv"), [path, out], force=args.force)
    measure = _parse_measure(args.measure)
    review = revman.read_revman_file(path, measure=measure)
    hib = None if args.higher_is_better is None else args.higher_is_better == "true"
    df = revman.to_schema(review, timepoint=args.timepoint, higher_is_better=hib)
    mapping = df.attrs["revman_mapping"]
    # Validate exactly as a user's CSV would be (raises DataValidationError -> exit 2).
    loaded = revman.load_revman(path, measure=measure, timepoint=args.timepoint, higher_is_better=hib)
    summary = {
        "file": str(path),
        "format": review.format,
        "title": review.title,
        "analyses": len(review.analyses),
        "outcomes": int(mapping["importable"].sum()),
        "rows": int(len(df)),
        "studies": len(set(loaded.rows["study"])),
        "skipped": loaded.meta["revman_skipped"],
        "measures": [{"analysis": a.number, "measure": a.effect_measure, "method": a.method,
                      "random": a.random, "note": a.measure_note} for a in review.analyses],
    }
    if args.output:
        # text cells starting = + - @ get a ' prefix (spreadsheet formula guard; vfsynth reads it back)
        csv_safe_frame(df[revman.written_columns(df)]).to_csv(out, index=False)
        map_path = out.with_suffix(".mapping.csv")
        csv_safe_frame(mapping).to_csv(map_path, index=False)
        summary["written"] = [str(out), str(map_path)]
    if args.check:
        cmp = revman_results.compare_with_revman(review)
        if len(cmp):
            worst = cmp.groupby("quantity")[["abs_diff", "rel_diff"]].max()
            summary["check"] = {q: {"max_abs_diff": float(r.abs_diff), "max_rel_diff": float(r.rel_diff)}
                                for q, r in worst.iterrows()}
        else:
            summary["check"] = {}
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    print(f"{path.name}: {review.format}, {summary['analyses']} analyses -> {summary['outcomes']} schema outcomes, "
          f"{summary['rows']} rows, {summary['studies']} studies")
    show = mapping[["outcome", "effect_measure", "method", "random", "schema_measure", "k", "higher_is_better"]]
    print(show.to_string(index=False))
    if review.format == "revman-web-csv":
        print("\nEffect measures (RevMan Web CSV does not name them):")
        for m in summary["measures"]:
            print(f"  {m['analysis']:>6}: {m['measure'] or '?':<9} {m['note']}")
    for s in summary["skipped"]:
        print(f"NOT IMPORTED: analysis {s['analysis']} ({s['outcome']}): {s['how']}")
    if args.check:
        print("\nRevMan's stored results recomputed (max differences):")
        for q, r in summary["check"].items():
            print(f"  {q:<28} abs {r['max_abs_diff']:.2e}  rel {r['max_rel_diff']:.2e}")
    if args.output:
        print(f"\nwrote {summary['written'][0]} and {summary['written'][1]}")
    return 0
