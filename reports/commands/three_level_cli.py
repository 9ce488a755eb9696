"""The three-level model on the command line: ``vfsynth fit --model three-level`` and
``vfsynth average --ensemble three-level`` (several estimates per study: the CSV's ``es_id``).

Registration (:func:`add_options`) imports only argparse; the statistics load inside the runs.
"""

from __future__ import annotations


def add_options(p) -> None:
    """The options only the three-level model takes."""
    p.add_argument("--moderator", metavar="NAME", action="append", default=None,
                   help="three-level: a study-level moderator from the moderators CSV (repeat for several); "
                        "continuous ones are centred, slopes per unit")
    p.add_argument("--tau-within-prior", metavar="SPEC", default=None,
                   help="three-level: prior of the estimate-level SD (default: the --tau-prior / default tau prior)")
    p.add_argument("--slope-sd", type=float, default=1.0,
                   help="three-level: SD of the N(0, sd^2) priors on the moderators' slopes (default 1)")


def check_options(args, three_level: bool) -> None:
    """Refuse the three-level options on other models, and a bad slope SD, before anything runs."""
    from vfsynth.reports.cli import UserInputError

    if not three_level and (args.moderator or args.tau_within_prior is not None):
        raise UserInputError("--moderator / --tau-within-prior only apply to the three-level model")
    if not args.slope_sd > 0:
        raise UserInputError(f"--slope-sd must be > 0, got {args.slope_sd}")


def _kwargs(args, review) -> dict:
    return {"moderators": getattr(review, "moderators", None), "names": tuple(args.moderator or ()),
            "tau_prior": args.tau_prior, "tau2_prior": args.tau_within_prior, "mu_prior": args.mu_prior,
            "slope_sd": args.slope_sd}


def _unidentified(table) -> None:
    """Say so when no study has two estimates: then only tau_study^2 + tau_estimate^2 is identified."""
    import sys

    if not table.multilevel:
        print("note: every study has one estimate (no es_id clusters): the study- and estimate-level SDs are "
              "not separately identified, only their squared sum", file=sys.stderr)


def _header(a: dict, what: str) -> str:
    head = (f"== {a['outcome']} ({a['timepoint']}), {a['measure']}: {a['n_estimates']} estimates in "
            f"{a['k']} studies, {what} ==\n"
            f"priors: tau_study ~ {a['tau_prior']}; tau_estimate ~ {a['tau_within_prior']}; mu ~ {a['mu_prior']}")
    if a.get("excluded"):
        head += "\nleft out: " + "; ".join(f"{s} ({why})" for s, why in a["excluded"].items())
    return head


def run_fit(args, review, table) -> int:
    """``vfsynth fit --model three-level``: REML (metafor's rma.mv) and the exact Bayesian fit."""
    import json

    from vfsynth.data.jsonable import to_jsonable
    from vfsynth.fits.three_level_averaging import fit_three_level_table

    _unidentified(table)
    res = fit_three_level_table(table, **_kwargs(args, review))
    if args.json:
        print(json.dumps(to_jsonable({"command": "fit", "model": "three-level", **res}), indent=2))
        return 0
    print(_header(res["analysis"], "three-level model (random = ~ 1 | study/es_id)"))
    f, b = res["frequentist"], res["bayesian"]
    print(f"\nREML (= metafor rma.mv): tau2_study = {f['tau2_study']:.4g}, tau2_estimate = {f['tau2_estimate']:.4g}, "
          f"logLik = {f['loglik']:.4f}")
    for name, c in f["coefficients"].items():
        print(f"  {name:>24s}  {c['estimate']: .4f}  (se {c['se']:.4f})")
    print(f"\nBayesian (exact quadrature), {100 * res['level']:.0f}% credible intervals:")
    for name, c in b["coefficients"].items():
        print(f"  {name:>24s}  {c['mean']: .4f}  ({c['low']:.4f} to {c['high']:.4f}), P(> 0) = {c['p_gt_0']:.3f}")
    for label in ("tau_study", "tau_estimate"):
        t = b[label]
        print(f"  {label:>24s}  median {t['median']:.4f}  ({t['low']:.4f} to {t['high']:.4f})")
    return 0


def run_average(args, review, table) -> int:
    """``vfsynth average --ensemble three-level``: the eight-model ensemble, exact."""
    import json

    from vfsynth.data.jsonable import to_jsonable
    from vfsynth.fits.three_level_averaging import average_three_level_table, averaged_within
    from vfsynth.reports.commands.compare_cmd import format_table

    _unidentified(table)
    res = average_three_level_table(table, **_kwargs(args, review))
    within = {"tau_within": averaged_within(res), "tau_within_conditional": averaged_within(res, True)}
    if args.json:
        print(json.dumps(to_jsonable({"command": "average", **res.to_dict(), **within}), indent=2))
        return 0
    print(_header(res.analysis, "ensemble three-level (8 models, equal prior probabilities)"))
    if res.analysis.get("moderators"):
        print(f"moderators (slopes in every model, N(0, {args.slope_sd:g}^2)): {', '.join(res.analysis['moderators'])}")
    frame = res.model_frame().drop(columns=["effect", "heterogeneity", "bias", "log_ml_mcse", "method"])
    print("\n" + format_table(frame.reset_index(), "{:.4g}"))
    print("\ninclusion Bayes factors (heterogeneity = study level, within = estimate level):")
    print(format_table(res.inclusion_frame().reset_index(), "{:.4g}"))
    print("\nmodel-averaged posterior (mu = intercept, tau = study-level SD; '| feature': conditional):")
    print(format_table(res.summary_frame().reset_index(), "{:.3f}"))
    w, wc = within["tau_within"], within["tau_within_conditional"]
    print(f"tau_estimate: median {w['median']:.3f} ({w['low']:.3f} to {w['high']:.3f}); given > 0: median "
          f"{wc['median']:.3f} ({wc['low']:.3f} to {wc['high']:.3f})")
    print(f"\nP(benefit) = P(mu > 0 | y), averaged over models: {res.p_benefit:.3f}")
    return 0
