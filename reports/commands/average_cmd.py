"""``vfsynth average``: Bayesian model averaging with inclusion Bayes factors.

Registration imports only argparse; the statistics load inside :func:`run`.
"""

from __future__ import annotations

import argparse

from vfsynth.reports.commands import three_level_cli

_EPILOG = """\
Fits every model of an ensemble to one analysis and averages them by their marginal
likelihoods. nnhm4 (metaBMA's set): common / random effects x mu = 0 / mu != 0, equal prior
probabilities, every marginal likelihood exact (mu analytically, tau by quadrature).
Reported: prior and posterior model probabilities, inclusion Bayes factors (effect,
heterogeneity), the averaged posterior of mu and tau -- marginal (mu = 0 / tau = 0 models
as point masses at 0) and conditional on the feature -- and P(benefit) = P(mu > 0) averaged.

three-level (several estimates per study, the CSV's es_id column): effect x study-level SD x
estimate-level SD present / absent, eight models, exact (coefficients analytically, both SDs by
2-D quadrature); inclusion Bayes factors for the effect and for each heterogeneity level;
--moderator NAME adds a study-level moderator's slope to every model.

psma (RoBMA-PSMA, Bartos et al. 2023): effect x heterogeneity x {no bias, six step-function
weight functions, PET, PEESE}, 36 models with RoBMA's prior probabilities; bias-free models
exact, the others by adaptive Gauss-Hermite quadrature (error estimate per model). SMD
defaults: RoBMA's priors (mu ~ N(0,1), tau ~ InvGamma(1,0.15)); adds the inclusion Bayes
factors of publication bias, selection and PET-PEESE and the averaged PET / PEESE slopes.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "average",
        help="Bayesian model averaging: posterior model probabilities and inclusion Bayes factors",
        description="Average meta-analysis models by their marginal likelihoods (inclusion Bayes factors).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", metavar="CSV", default=None, help="review CSV (default: the bundled CD012348 data)")
    p.add_argument("--outcome", metavar="NAME", required=True, help="outcome to analyse")
    p.add_argument("--timepoint", default="post", help="time point (default post)")
    p.add_argument("--moderators", metavar="CSV", default=None, help="study-level moderators CSV")
    p.add_argument("--ensemble", default="nnhm4", choices=("nnhm4", "psma", "three-level"),
                   help="model ensemble (default nnhm4; psma: RoBMA-PSMA-like; three-level for several estimates per study)")
    p.add_argument("--tau-prior", metavar="SPEC", default=None, help="heterogeneity prior (default: registry default)")
    p.add_argument("--mu-prior", metavar="SPEC", default=None,
                   help="effect prior of the mu != 0 models; must be proper (default: registry default)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    three_level_cli.add_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from vfsynth.data import load_data
    from vfsynth.data.jsonable import to_jsonable
    from vfsynth.fits.averaging import average_table
    from vfsynth.reports.cli import UserInputError
    from vfsynth.reports.commands.compare_cmd import format_table

    three_level_cli.check_options(args, args.ensemble == "three-level")
    review = load_data(args.data, moderators=args.moderators) if args.moderators else load_data(args.data)
    outcomes = sorted({o for o, _ in review.analyses()})
    if args.outcome not in outcomes:
        raise UserInputError(f"unknown outcome {args.outcome!r}; this review has: {', '.join(outcomes)}")
    tps = sorted({t for o, t in review.analyses() if o == args.outcome})
    if args.timepoint not in tps:
        raise UserInputError(f"no {args.timepoint!r} time point for {args.outcome}; available: {', '.join(tps)}")
    table = review.effects(args.outcome, args.timepoint)
    if args.ensemble == "three-level":
        return three_level_cli.run_average(args, review, table)
    res = average_table(table, args.tau_prior, args.mu_prior, args.ensemble)
    if args.json:
        print(json.dumps(to_jsonable({"command": "average", **res.to_dict()}), indent=2))
        return 0
    a = res.analysis
    print(f"== {a.get('outcome')} ({a.get('timepoint')}), {a.get('measure')}, k = {a['k']}: "
          f"ensemble {res.ensemble} ==")
    print(f"priors: tau ~ {a['tau_prior']}; mu ~ {a['mu_prior']} (mu != 0 models)\n")
    print(format_table(res.model_frame().reset_index(), "{:.4g}"))
    print("\ninclusion Bayes factors:")
    print(format_table(res.inclusion_frame().reset_index(), "{:.4g}"))
    print("\nmodel-averaged posterior (marginal: point masses at 0 included; '| feature': conditional):")
    print(format_table(res.summary_frame().reset_index(), "{:.3f}"))
    for name, b in res.bias_parameters().items():
        print(f"{name} slope | {name} models (posterior weight {b['weight']:.3f}): mean {b['mean']:.3f}, "
              f"sd {b['sd']:.3f}")
    print(f"\nP(benefit) = P(mu > 0 | y), averaged over models: {res.p_benefit:.3f}")
    return 0
