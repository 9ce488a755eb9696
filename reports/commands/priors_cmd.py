"""``vfsynth priors``: list the prior registry, export a fit's posterior as priors, show a priors file.

Registration imports only argparse; numpy / the fit store load inside :func:`run`.
"""

from __future__ import annotations

import argparse

_EPILOG = """\
  vfsynth priors list                      the cited prior registry (tau and mu) and defaults
  vfsynth priors export FIT -o priors.json posterior -> portable priors (vfsynth-priors/1)
  vfsynth priors show priors.json          what a priors file holds, fit quality and ESS

FIT is a saved fit's id (see vfsynth fit output) or its .nc path. The export fits a normal
(or a 2-component normal mixture when clearly better) to mu, the best of gamma / log-normal /
inverse-gamma / half-normal to tau (quantile matching), normals to mediation coefficients
and beta distributions to correlations of joint fits, and reports the quantile errors
(2.5/25/50/75/97.5%), a KL estimate and the prior effective sample size.
--robust W records a robust mixture weight (vague unit-information component; Schmidli
et al. 2014) and --power-alpha A a power-prior discount (variances x 1/A); both can
also be set at update time (vfsynth update --robust / --power-alpha).
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "priors",
        help="list the prior registry; export a fit's posterior as priors; show a priors file",
        description="Prior registry, posterior export (vfsynth-priors/1) and inspection.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="priors_command", metavar="ACTION")
    ls = sub.add_parser("list", help="list the cited prior registry and the defaults")
    ls.add_argument("--target", choices=("tau", "mu"), default=None)
    ex = sub.add_parser("export", help="export a saved fit's posterior hyperparameters as priors")
    ex.add_argument("fit", metavar="FIT", help="saved fit id or .nc path")
    ex.add_argument("-o", "--output", required=True, metavar="JSON", help="priors file to write")
    ex.add_argument("--robust", type=float, default=None, metavar="W",
                    help="default robust mixture weight in [0, 1) recorded in the file")
    ex.add_argument("--power-alpha", type=float, default=1.0, metavar="A",
                    help="default power-prior discount in (0, 1] (default 1: none)")
    ex.add_argument("--no-mixture", action="store_true", help="always use a single normal for mu")
    ex.add_argument("--data", metavar="CSV", default=None,
                    help="the fit's data (for the unit-information SD of the ESS; default: the measure's convention)")
    ex.add_argument("--outcome", default=None, help="outcome in --data")
    ex.add_argument("--timepoint", default="post")
    ex.add_argument("--fit-dir", default=None, help="saved-fit directory (default: $VFSYNTH_FIT_DIR or the user cache directory)")
    sh = sub.add_parser("show", help="summarise a vfsynth-priors file")
    sh.add_argument("file", metavar="FILE")
    sh.add_argument("--robust", type=float, default=None, metavar="W", help="show the prior with this robust weight")
    sh.add_argument("--power-alpha", type=float, default=None, metavar="A", help="show the prior with this discount")
    sh.add_argument("--json", action="store_true")
    p.set_defaults(func=run, _parser=p)


def run(args) -> int:
    from vfsynth.reports.cli import UserInputError

    action = getattr(args, "priors_command", None)
    if action is None:
        args._parser.print_help()
        return 0
    if action == "list":
        return _list(args)
    if action == "export":
        if args.robust is not None and not 0 <= args.robust < 1:
            raise UserInputError(f"--robust must be in [0, 1), got {args.robust}")
        if not 0 < args.power_alpha <= 1:
            raise UserInputError(f"--power-alpha must be in (0, 1], got {args.power_alpha}")
        return _export(args)
    return _show(args)


def _list(args) -> int:
    from vfsynth.models import priors as P

    for pr in P.list_priors(args.target):
        print(pr.summary())
        if pr.citation:
            print(f"    {pr.citation[:150]}")
    print()
    print(P.describe_defaults())
    return 0


def _export(args) -> int:
    from pathlib import Path

    from vfsynth.fits import prior_export as X
    from vfsynth.fits import prior_files as PF
    from vfsynth.fits import store
    from vfsynth.reports.cli import UserInputError

    try:
        dt, config, _ = store.load_fit(args.fit, directory=args.fit_dir)
    except FileNotFoundError:
        raise UserInputError(f"no saved fit {args.fit!r} (give a fit id or an .nc path)") from None
    table = None
    if args.data:
        from vfsynth.data import load_data

        outcome = args.outcome or config.get("analysis", {}).get("outcome")
        table = load_data(args.data).effects(outcome, args.timepoint)
        if table.content_hash() != config.get("data_hash"):
            raise UserInputError(f"--data {args.data}: {outcome}/{args.timepoint} is not the data this fit was made from")
    cfg = dict(config) | {"fit_id": store.fit_id(config)}
    obj = X.export_priors(dt, cfg, table=table, robust=args.robust, power_alpha=args.power_alpha,
                          allow_mixture=not args.no_mixture)
    PF.write_priors(obj, Path(args.output))
    _print_summary(obj, PF.PriorSet(obj))
    print(f"\nwrote {args.output}")
    return 0


def _show(args) -> int:
    import json

    from vfsynth.fits import prior_files as X

    ps = X.read_priors(args.file)
    if args.json:
        print(json.dumps(ps.obj, indent=2))
        return 0
    _print_summary(ps.obj, ps, robust=args.robust, power_alpha=args.power_alpha)
    return 0


def _print_summary(obj, ps, robust=None, power_alpha=None) -> None:
    src = obj["source"]
    print(f"{obj['format']}: from fit {src.get('fit_id') or '?'} ({src.get('model') or src.get('kind')}), "
          f"outcome {src.get('outcome') or '-'} / {src.get('timepoint') or '-'}, measure {src.get('measure') or '-'}, "
          f"k = {src.get('k')}, {src.get('n_draws')} draws")
    rob = obj.get("robust")
    print(f"defaults: robust weight {rob['weight'] if rob else 0:g}, power alpha {obj.get('power_alpha', 1.0):g}")
    print(f"{'parameter':<13}{'label':<22}{'family':<16}{'post. mean':>11}{'sd':>9}{'max q-err':>11}{'KL':>9}  ESS")
    for p in obj["parameters"]:
        ess = p.get("ess")
        print(f"{p['parameter']:<13}{(p['label'] or p['name'])[:21]:<22}{p['family']:<16}"
              f"{p['posterior']['mean']:>11.4g}{p['posterior']['sd']:>9.3g}"
              f"{p['fit']['max_abs_quantile_error_sd']:>10.3f}s{p['fit']['kl_estimate']:>9.4f}  "
              f"{'' if not ess else format(ess['value'], '.1f')}")
    for lab in ps.labels("mu"):
        pr = ps.mu_prior(lab, robust=robust, power_alpha=power_alpha)
        print(f"\nmu prior for {lab or 'the outcome'} as used by vfsynth update: {pr.summary()}")
        if pr.description:
            print(f"    {pr.description}")
        e = ps.ess(lab, robust=robust, power_alpha=power_alpha)
        if e is not None:
            print(f"    prior effective sample size {e:.1f} patients (unit SD {ps.entry('mu', lab)['unit_sd']:.4g})")
    for lab in ps.labels("tau"):
        print(f"tau prior for {lab or 'the outcome'}: {ps.tau_prior(lab, power_alpha=power_alpha).summary()}")
    for j in obj.get("joint", []):
        print(f"mu|tau block for {j['label'] or 'the outcome'}: {j.get('method', '')} "
              "(vfsynth update --method exact keeps the mu-tau dependence with it)")
    print("(max q-err: largest error of the 2.5/25/50/75/97.5% quantiles, in posterior SDs)")
