"""``vfsynth update``: update exported priors with new studies only.

Registration imports only argparse; the engines load inside :func:`run`.
"""

from __future__ import annotations

import argparse

_EPILOG = """\
The priors file comes from `vfsynth priors export FIT -o priors.json`. Only the new
studies are fitted; the output compares the old posterior (recorded in the file) with the
updated one and lists the conclusions that changed: P(benefit) crossing 0.5 or 0.95,
P(harm) crossing 0.95, and the 95% interval's position relative to 0.

--method exact (default without 2x2 counts) integrates the normal-normal model numerically
(milliseconds); --method mcmc samples the package's NUTS model (default with 2x2 counts:
binomial-normal). The exact method uses the file's mu|tau block when it has one (the
posterior dependence of mu on tau as 40 tau bins; reproduces one analysis of all studies);
otherwise, and always with --method mcmc, --robust or --power-alpha, the product of the
marginal priors of mu and tau, which drops that dependence (see vfsynth.fits.update).
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "update",
        help="update exported priors (vfsynth priors export) with new studies",
        description="Sequential update: fit only new studies with exported posterior priors.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--priors", required=True, metavar="JSON", help="vfsynth-priors/1 file")
    p.add_argument("--data", required=True, metavar="FILE", help="the new studies (CSV in the vfsynth schema, .rm5 ...)")
    p.add_argument("--outcome", default=None, help="outcome in --data (default: the priors' outcome, or the only one)")
    p.add_argument("--timepoint", default="post")
    p.add_argument("--prior-label", default=None, help="which outcome's priors in the file (default: the outcome)")
    p.add_argument("--robust", type=float, default=None, metavar="W", help="robust mixture weight in [0, 1)")
    p.add_argument("--power-alpha", type=float, default=None, metavar="A", help="power-prior discount in (0, 1]")
    p.add_argument("--method", choices=("auto", "exact", "mcmc"), default="auto")
    p.add_argument("--prior-form", choices=("auto", "joint", "marginal"), default="auto",
                   help="exact method: use the file's mu|tau block (joint; keeps the mu-tau dependence) or the "
                        "product of the marginal priors (marginal); auto: joint when present and no "
                        "--robust / --power-alpha")
    p.add_argument("--model", default=None, choices=("random-effects", "binomial-normal", "t"),
                   help="model for --method mcmc (default: binomial-normal with 2x2 counts, else random-effects)")
    p.add_argument("--seed", type=int, default=20190101)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from vfsynth.data import load_data
    from vfsynth.data.errors import VfsynthError
    from vfsynth.fits import prior_files as X
    from vfsynth.fits import update as U
    from vfsynth.reports.cli import UserInputError

    if args.robust is not None and not 0 <= args.robust < 1:
        raise UserInputError(f"--robust must be in [0, 1), got {args.robust}")
    if args.power_alpha is not None and not 0 < args.power_alpha <= 1:
        raise UserInputError(f"--power-alpha must be in (0, 1], got {args.power_alpha}")
    ps = X.read_priors(args.priors)
    review = load_data(args.data)
    outcome = args.outcome
    outs = sorted({o for o, _ in review.analyses()})
    if outcome is None:
        src = ps.source.get("outcome")
        outcome = src if src in outs else (outs[0] if len(outs) == 1 else None)
        if outcome is None:
            raise UserInputError(f"--outcome is needed; {args.data} has: {', '.join(outs)}")
    if outcome not in outs:
        raise UserInputError(f"--outcome {outcome!r} not in {args.data}; it has: {', '.join(outs)}")
    table = review.effects(outcome, args.timepoint)
    label = args.prior_label
    if label is None and len(ps.labels("mu")) == 1:
        label = ps.labels("mu")[0]
    try:
        res = U.update(ps, table, label=label, robust=args.robust, power_alpha=args.power_alpha, method=args.method,
                       model=args.model, seed=args.seed, draws=args.draws, tune=args.tune, chains=args.chains,
                       use_joint={"auto": None, "joint": True, "marginal": False}[args.prior_form])
    except ValueError as exc:
        if isinstance(exc, VfsynthError):
            raise
        # fits.update reports an impossible request as a plain ValueError (its owner may give
        # it a VfsynthError class; then this translation can go).
        raise UserInputError(str(exc)) from None
    if args.json:
        print(json.dumps(res.to_dict(), indent=2, default=float))
        return 0
    _print(res, table)
    return 0


def _fmt(v, f=".3f"):
    return "-" if v is None else format(v, f)


def _print(res, table) -> None:
    print(f"update of {res.outcome} ({table.measure}) with {res.k_new} new studies: {', '.join(table.study)}")
    print(f"method: {res.method}; mu prior: {res.prior_used['mu']['spec']}; tau prior: {res.prior_used['tau']['spec']}")
    if res.ess is not None:
        print(f"prior effective sample size (mu): {res.ess:.1f} patients")
    rows = (("mu mean", "mu_mean"), ("mu sd", "mu_sd"), ("95% low", "mu_low"), ("median", "mu_median"),
            ("95% high", "mu_high"), ("P(benefit)", "p_benefit"), ("tau median", "tau_median"),
            ("tau 95% low", "tau_low"), ("tau 95% high", "tau_high"))
    print(f"\n{'':<14}{'old':>10}{'updated':>10}")
    for name, key in rows:
        print(f"{name:<14}{_fmt(res.old.get(key)):>10}{_fmt(res.new.get(key)):>10}")
    print("\nconclusions:")
    for c in res.changes:
        flag = "CHANGED" if c["changed"] else "same"
        print(f"  {c['conclusion']:<20} old: {c['old']!s:<11} new: {c['new']!s:<11} {flag}")
    for n in res.notes:
        print(f"note: {n}")
