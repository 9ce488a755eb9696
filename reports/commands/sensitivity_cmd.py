"""``vfsynth sensitivity``: prior grid, power-scaling, influence, moderators, small-study effects.

Registration imports only argparse; the statistics load inside :func:`run`.
"""

from __future__ import annotations

import argparse

SECTIONS = ("priors", "psense", "influence", "moderators", "small-study")

_EPILOG = """\
Sections (all by default; choose with --sections):
  priors       refit under every suitable registry prior (half-normal 0.25/0.5/1, half-Cauchy,
               Turner, Rhodes, Bartos, unit-information; alternative mu priors) and flag any
               conclusion (P(benefit) crossing 0.5 or 0.95) that depends on the prior.
               --joint adds the joint model's indirect effect under each prior (slow: one fit each).
  psense       power-scaling prior / likelihood sensitivity of the default fit (Kallioinen et al. 2023).
  influence    leave-one-study-out pooled estimates.
  moderators   meta-regression / subgroup analysis on each moderator of the study table;
               studies without a value are listed as excluded, never dropped silently.
  small-study  PET, PEESE, PET-PEESE and a step-function selection model (cut-points .025/.05/.5).
The normal-normal model uses exact integration (--engine auto or exact, default auto); other models and
--engine nuts|batched run every refit of a section in one batched NUTS program.
"""


def register(subparsers) -> None:
    from vfsynth.reports.commands.compare_cmd import add_common_arguments

    p = subparsers.add_parser(
        "sensitivity",
        help="prior sensitivity, power-scaling, influence, moderators and small-study effects",
        description="Sensitivity analyses of one outcome's meta-analysis.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(p)
    p.add_argument("--model", choices=("random-effects", "common-effect", "t"), default="random-effects",
                   help="model for the prior grid and influence (default random-effects)")
    p.add_argument("--sections", metavar="S,...", default=",".join(SECTIONS),
                   help=f"sections to run, comma-separated (default: {','.join(SECTIONS)})")
    p.add_argument("--joint", action="store_true", help="add the joint model's indirect effect to the prior grid")
    p.add_argument("--plots", metavar="DIR", default=None, help="write the section plots (PNG) into DIR")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from vfsynth.fits.settings import DEFAULT_SEED

    if args.seed is None:
        args.seed = DEFAULT_SEED
    import sys
    import warnings
    from pathlib import Path

    from vfsynth.reports.cli import UserInputError
    from vfsynth.reports.commands.compare_cmd import (
        analyses_for,
        format_table,
        load_review_for,
        resolve_prior_args,
    )

    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    bad = [s for s in sections if s not in SECTIONS]
    if bad or not sections:
        raise UserInputError(f"--sections: unknown section(s) {bad}; choose from {', '.join(SECTIONS)}")
    review = load_review_for(args)
    pairs = analyses_for(review, args)
    from vfsynth.fits import sensitivity as SE
    from vfsynth.fits.compare import json_records
    from vfsynth.fits.moderators import moderator_analysis, small_study_effects

    out = []
    plots = Path(args.plots) if args.plots else None
    if plots:
        plots.mkdir(parents=True, exist_ok=True)
    common = dict(draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed)
    for o, t in pairs:
        table = review.effects(o, t)
        tau_prior, mu_prior = resolve_prior_args(table, args)
        if not args.json:
            print(f"[sensitivity] {o}/{t}: k = {table.k}", file=sys.stderr, flush=True)
        res: dict = {"outcome": o, "timepoint": t, "k": table.k, "measure": table.measure}
        frames = {}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Pareto distribution is greater than.*")
            if "priors" in sections:
                g = SE.prior_grid(review, o, t, model=args.model, engine=args.engine, include_joint=args.joint,
                                  tau_prior=tau_prior, mu_prior=mu_prior,
                                  joint_kwargs={"draws": args.draws, "tune": args.tune, "chains": args.chains}, **common)
                frames["priors"] = g
                res["prior_grid"] = SE.grid_to_json(g)
            if "psense" in sections:
                ps = SE.power_scaling(review, o, t, model=args.model, tau_prior=tau_prior, mu_prior=mu_prior, **common)
                frames["psense"] = ps
                res["power_scaling"] = json_records(ps.reset_index().rename(columns={"index": "variable"}))
            if "influence" in sections:
                inf = SE.influence(review, o, t, model=args.model, engine=args.engine, tau_prior=tau_prior,
                                   mu_prior=mu_prior, **common)
                frames["influence"] = inf
                res["influence"] = SE.grid_to_json(inf)
            if "moderators" in sections:
                if review.moderators is None:
                    res["moderators"] = {"rows": [], "notes": ["this review has no moderators table (--moderators CSV)"]}
                else:
                    md = moderator_analysis(review, o, t, moderators=_moderator_columns(review), tau_prior=tau_prior,
                                            mu_prior=mu_prior, engine=args.engine, seed=args.seed)
                    frames["moderators"] = md
                    res["moderators"] = {"rows": json_records(md), "notes": []}
            if "small-study" in sections:
                ss = small_study_effects(review, o, t, tau_prior=tau_prior, mu_prior=mu_prior, **common)
                frames["small-study"] = ss
                res["small_study"] = {"rows": json_records(ss)}
        out.append(res)
        if plots:
            _write_plots(plots, o, t, table.measure, frames)
        if not args.json:
            _print(res, frames, format_table)
    if args.json:
        print(json.dumps({"command": "sensitivity", "engine": args.engine, "model": args.model, "analyses": out}, indent=2))
    return 0


def _moderator_columns(review) -> list[str]:
    """Moderators to analyse: the bundled review's documented set where present, else every
    column of the user's moderators table except identifiers and free text references."""
    from vfsynth.fits.moderators import DEFAULT_MODERATORS

    cols = [c for c in review.moderators.columns]
    known = [c for c in DEFAULT_MODERATORS if c in cols]
    if known:
        return known
    skip = {"reference", "doi", "source_url", "source", "note", "notes", "population", "comparator", "intervention"}
    return [c for c in cols if c not in skip]


def _write_plots(d, o, t, measure, frames) -> None:
    from vfsynth.reports import sensitivity_plots as SP
    from vfsynth.reports.plots import to_png_bytes

    stem = f"{o}_{t}".replace(":", "_").replace("/", "_")
    if "priors" in frames:
        (d / f"sensitivity_{stem}_priors.png").write_bytes(to_png_bytes(SP.prior_grid_plot(frames["priors"], measure)))
    if "influence" in frames:
        (d / f"sensitivity_{stem}_influence.png").write_bytes(to_png_bytes(SP.influence_plot(frames["influence"], measure)))
    if "moderators" in frames:
        (d / f"sensitivity_{stem}_moderators.png").write_bytes(to_png_bytes(SP.moderator_plot(frames["moderators"])))
    if "small-study" in frames:
        (d / f"sensitivity_{stem}_small_study.png").write_bytes(to_png_bytes(SP.small_study_plot(frames["small-study"], measure)))


def _print(res, frames, format_table) -> None:
    o, t = res["outcome"], res["timepoint"]
    print(f"\n== {o} ({t}), k = {res['k']}, {res['measure']} ==")
    if "priors" in frames:
        g = frames["priors"]
        cols = [c for c in ("prior", "mu_median", "mu_low", "mu_high", "tau_median", "p_benefit", "indirect_mean",
                            "indirect_p_benefit") if c in g]
        print(f"\n-- prior sensitivity ({g['engine'].iloc[0]}) --")
        print(format_table(g[cols]))
        flags = g.attrs.get("flags", [])
        print("conclusion depends on the prior: " + ("; ".join(flags) if flags else "no (P(benefit) stays on the same side of 0.5 and 0.95)"))
        for n in g.attrs.get("notes", []):
            print(f"note: {n}")
    if "psense" in frames:
        print("\n-- power-scaling sensitivity of the default fit (Kallioinen et al. 2023; threshold 0.05) --")
        print(format_table(frames["psense"].reset_index().rename(columns={"index": "variable"})))
    if "influence" in frames:
        inf = frames["influence"]
        print(f"\n-- influence: leave one study out ({inf['engine'].iloc[0]}) --")
        print(format_table(inf[["omitted", "mu_mean", "mu_low", "mu_high", "tau_median", "p_benefit", "delta_mu"]]))
        for f in inf.attrs.get("flags", []):
            print(f"flag: {f}")
    if "moderators" in frames:
        md = frames["moderators"]
        print("\n-- moderators (meta-regression / subgroups; p_positive = P(term > 0)) --")
        print(format_table(md[["moderator", "term", "mean", "low", "high", "p_positive", "k_used"]]))
        for mod, ex in md.groupby("moderator", sort=False)["excluded"].first().items():
            if isinstance(ex, str) and ex:
                print(f"{mod}: excluded {ex}")
    elif "moderators" in res:
        for n in res["moderators"].get("notes", []):
            print(f"note: {n}")
    if "small-study" in frames:
        print("\n-- small-study effects --")
        print(format_table(frames["small-study"][["model", "mean", "low", "high", "p_benefit", "detail"]]))
