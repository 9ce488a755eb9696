"""``vfsynth calibrate``: simulation-based calibration of the shipped models.

Registration imports only argparse; JAX, PyMC and matplotlib load inside :func:`run`.
"""

from __future__ import annotations

import argparse

_EPILOG = """\
  vfsynth calibrate --model all --replicates 1000 --out sbc/
  vfsynth calibrate --model random-effects t --replicates 500 --out sbc/
  vfsynth calibrate --model selection pet peese --replicates 500 --draws 500 --tune 500 --thin 5 --out sbc/

For each model, REPLICATES reviews are simulated from the model with its shipped default
priors and fitted by vectorised NUTS (one chain per review); the rank of each true
parameter among the thinned posterior draws should be uniform (Talts et al. 2018). DIR
receives calibration.csv and calibration.json (one row per model and quantity: chi-square
p-value of the binned ranks, Holm-adjusted over all rows; share of 95% intervals covering
the truth, target 93-97%; divergent transitions) and one sbc_<model>.png of rank
histograms per model; only these files are written. Models already in DIR/calibration.json
(or in an --include folder's) stay in the table unless re-run, and Holm's adjustment is
redone over all rows, so models can be calibrated one at a time (--model none: just
combine). Exit status 0 when every model passes, 1 when one fails.
"""

#: Every registered design (``vfsynth.fits.calibration.CALIBRATORS``; written out so that the
#: help costs no import; tests/test_calibration.py checks that the two agree).
MODELS = ("common-effect", "random-effects", "t", "binomial-normal", "meta-regression", "selection", "pet", "peese",
          "joint-complete", "joint-no-pairs", "joint-follow-up-only")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "calibrate",
        help="simulation-based calibration of the models (rank histograms, 95%% coverage)",
        description="Simulation-based calibration (SBC) of the shipped models with their default priors.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", nargs="+", default=["all"], metavar="NAME",
                   help=f"models to calibrate: all (default) or any of {', '.join(MODELS)}")
    p.add_argument("--replicates", type=int, default=1000, metavar="N", help="simulated reviews per model (default 1000)")
    p.add_argument("--draws", type=int, default=1000, help="post-warm-up draws per review (default 1000)")
    p.add_argument("--tune", type=int, default=1000, help="warm-up iterations per review (default 1000)")
    p.add_argument("--thin", type=int, default=10, help="thinning of the draws ranked (default 10)")
    p.add_argument("--seed", type=int, default=None, help="seed (default: the package's DEFAULT_SEED)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the table and the rank histograms")
    p.add_argument("--include", nargs="+", metavar="DIR", default=None,
                   help="also keep the models of these folders' calibration.json in the table")
    p.set_defaults(func=run, _parser=p)


def _check(args) -> None:
    from vfsynth.reports.cli import UserInputError

    if args.replicates < 10:
        raise UserInputError(f"--replicates must be >= 10, got {args.replicates}")
    if args.draws < 2 * args.thin or args.thin < 1 or args.tune < 1:
        raise UserInputError("need --thin >= 1, --tune >= 1 and --draws >= 2 x --thin")
    if (args.draws // args.thin) % 10:
        raise UserInputError(f"--draws / --thin must be a multiple of 10 (10 rank bins), got {args.draws // args.thin}")
    from pathlib import Path

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {out}: exists and is not a folder")


def run(args) -> int:
    _check(args)
    import sys
    from pathlib import Path

    from vfsynth.fits.calibration import SBCSettings, calibrate, summarise
    from vfsynth.fits.calibration.output import model_entry, read_table, write_table
    from vfsynth.fits.settings import DEFAULT_SEED
    from vfsynth.reports.figures import to_png_bytes
    from vfsynth.reports.figures.calibration import rank_histograms

    settings = SBCSettings(draws=args.draws, tune=args.tune, thin=args.thin)
    seed = DEFAULT_SEED if args.seed is None else args.seed
    models = "all" if args.model == ["all"] else [] if args.model == ["none"] else args.model
    out = Path(args.out)
    # models calibrated before (this folder, then --include folders) are kept unless re-run
    entries, old_rows = read_table(out)
    for extra in args.include or []:
        e, r = read_table(Path(extra))
        entries.update(e)
        old_rows = [x for x in old_rows if x["model"] not in e] + r
    done: list = []

    def write():
        new = {r.model for r in done}
        kept = [r for r in old_rows if r["model"] not in new]
        rows = summarise(done, settings, more_rows=kept)
        for r in done:
            entries[r.model] = model_entry(r, settings)
        paths = write_table(entries, rows, out, alpha=settings.alpha)
        for m, e in entries.items():
            png = to_png_bytes(rank_histograms(m, e["rank_counts"], rows))
            (out / f"sbc_{m}.png").write_bytes(png)
        return rows, paths

    def progress(r):
        # the table is rewritten after every model, so a long run keeps what it has finished
        done.append(r)
        write()
        print(f"  {r.model}: {r.n_rep} replicates, {int(r.divergences.sum())} divergences, {r.seconds:.0f} s",
              file=sys.stderr, flush=True)

    if models != []:
        calibrate(models, args.replicates, seed, settings, progress=progress)
    rows, paths = write()
    width = max(len(f"{r['model']} {r['quantity']}") for r in rows)
    for r in rows:
        name = f"{r['model']} {r['quantity']}".ljust(width)
        print(f"{name}  Holm p {r['chi2_p_holm']:.3f}  coverage {100 * r['coverage95']:.1f}%  "
              f"divergences {r['divergences']}  {'PASS' if r['passed'] else 'FAIL'}")
    print(f"wrote {paths['csv']}, {paths['json']} and {len(entries)} rank-histogram PNGs")
    return 0 if all(r["passed"] for r in rows) else 1
