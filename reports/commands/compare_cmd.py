"""``vfsynth compare``: leave-one-study-out model comparison and stacking weights.

Registration imports only argparse; the statistics load inside :func:`run`.
"""

from __future__ import annotations

import argparse

from vfsynth.reports.commands import argtypes

MODELS = ("common-effect", "random-effects", "t", "joint")
MIN_STUDIES = 3

_EPILOG = """\
For each outcome (default: every outcome x time point with at least 3 studies) the models
are fitted (batched NUTS for common-effect / random-effects / Student-t (nu = 4); the joint
model with vfsynth.fits.joint_runner, cached) and compared by PSIS-LOO with the STUDY as
the unit, on each study's marginal likelihood (study effect integrated out). Studies with
Pareto k > 0.7 are refitted without the study (exact by numerical integration for the
normal models with --engine auto|exact; batched NUTS with --engine nuts|batched) and the exact value
replaces the PSIS one. Stacking weights: Yao et al. (2018).
"""



def add_common_arguments(p) -> None:
    """Arguments shared by ``compare`` and ``sensitivity``."""
    p.add_argument("--data", metavar="CSV", default=None, help="review CSV (default: the bundled CD012348 data)")
    p.add_argument("--moderators", metavar="CSV", default=None, help="study-level moderators CSV")
    p.add_argument("--outcome", metavar="NAME", default=None, help="outcome (default: every outcome with >= 3 studies)")
    p.add_argument("--timepoint", default=None, help="time point (default: every time point with >= 3 studies)")
    p.add_argument("--inclusion", metavar="LEVELS", default=None,
                   help="restrict to studies with these inclusion levels, comma-separated (e.g. confirmed,inferred)")
    p.add_argument("--tau-prior", metavar="SPEC", default=None, help="heterogeneity prior (default: registry default)")
    p.add_argument("--mu-prior", metavar="SPEC", default=None, help="pooled-effect prior (default: registry default)")
    p.add_argument("--engine", choices=("auto", "exact", "nuts", "batched", "mcmc"), default="auto",
                   help="refits by exact integration where the model allows (auto, exact; default auto), "
                        "or in one batched NUTS program (nuts, batched; mcmc is the older name)")
    p.add_argument("--seed", type=argtypes.seed, default=None,
                   help="one seed for every fit (default vfsynth.fits.settings.DEFAULT_SEED, 20190101)")
    p.add_argument("--draws", type=argtypes.positive_int, default=1000, help="draws per chain (default 1000)")
    p.add_argument("--tune", type=argtypes.positive_int, default=1000, help="warm-up per chain (default 1000)")
    p.add_argument("--chains", type=argtypes.positive_int, default=4, help="chains (default 4)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "compare",
        help="compare models by leave-one-study-out cross-validation (PSIS-LOO + stacking)",
        description="Compare meta-analysis models by leave-one-study-out cross-validation.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common_arguments(p)
    p.add_argument("--models", metavar="M,...", default=",".join(MODELS),
                   help=f"models to compare, comma-separated (default: {','.join(MODELS)})")
    p.add_argument("--plots", metavar="DIR", default=None, help="write Pareto-k and elpd/weight PNGs into DIR")
    p.set_defaults(func=run)


# ---------------------------------------------------------------------------------------------


def load_review_for(args):
    """Load the review named by ``--data`` / ``--moderators`` / ``--inclusion``."""
    from vfsynth.data import load_data
    from vfsynth.reports.cli import UserInputError

    review = load_data(args.data, moderators=args.moderators) if args.moderators else load_data(args.data)
    if args.inclusion:
        levels = [s.strip() for s in args.inclusion.split(",") if s.strip()]
        try:
            review = review.restrict(levels)
        except ValueError as exc:
            raise UserInputError(f"--inclusion: {exc}") from None
    return review


def analyses_for(review, args, min_studies: int = MIN_STUDIES) -> list[tuple[str, str]]:
    """(outcome, timepoint) pairs to analyse; explicit requests are validated, defaults need k >= min."""
    from vfsynth.data.errors import NoEstimableRowsError
    from vfsynth.reports.cli import UserInputError

    pairs = review.analyses()
    if args.outcome is not None:
        outcomes = {o for o, _ in pairs}
        if args.outcome not in outcomes:
            raise UserInputError(f"unknown outcome {args.outcome!r}; this review has: {', '.join(sorted(outcomes))}")
        pairs = [p for p in pairs if p[0] == args.outcome]
    if args.timepoint is not None:
        tps = {t for _, t in pairs}
        if args.timepoint not in tps:
            raise UserInputError(f"no {args.timepoint!r} time point for the chosen outcome(s); available: {', '.join(sorted(tps))}")
        pairs = [p for p in pairs if p[1] == args.timepoint]
    keep = []
    small = []
    for o, t in pairs:
        try:
            k = review.effects(o, t).k
        except NoEstimableRowsError:  # listed by `vfsynth data`; nothing to compare
            k = 0
        except (KeyError, ValueError) as exc:
            raise UserInputError(f"{o}/{t}: {exc}") from None
        (keep if k >= min_studies else small).append((o, t, k))
    if not keep:
        what = ", ".join(f"{o}/{t} (k={k})" for o, t, k in small)
        raise UserInputError(f"no analysis has at least {min_studies} studies: {what}")
    if small and (args.outcome is not None and args.timepoint is not None):
        raise UserInputError(f"{args.outcome}/{args.timepoint} has only {small[0][2]} studies (need >= {min_studies})")
    return [(o, t) for o, t, _ in keep]


def resolve_prior_args(table, args):
    from vfsynth.fits.compare import _default_priors
    from vfsynth.reports.cli import UserInputError

    try:
        return _default_priors(table, args.tau_prior, args.mu_prior)
    except (ValueError, KeyError) as exc:
        raise UserInputError(f"prior: {exc}") from None


def format_table(df, floatfmt: str = "{:.3f}") -> str:
    """Plain-text table (no extra dependencies)."""
    import numpy as np

    cols = [str(c) for c in df.columns]
    rows = []
    for _, r in df.iterrows():
        cells = []
        for v in r.to_numpy():
            if isinstance(v, (float, np.floating)):
                cells.append("" if not np.isfinite(v) else floatfmt.format(v))
            elif isinstance(v, (bool, np.bool_)):
                cells.append("yes" if v else "")
            else:
                cells.append(str(v))
        rows.append(cells)
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(x.ljust(w) for x, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def run(args) -> int:
    import json

    from vfsynth.fits.settings import DEFAULT_SEED

    if args.seed is None:
        args.seed = DEFAULT_SEED
    import sys
    import warnings
    from pathlib import Path

    from vfsynth.reports.cli import UserInputError

    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    bad = [m for m in models if m not in MODELS]
    if bad or not models:
        raise UserInputError(f"--models: unknown model(s) {bad}; choose from {', '.join(MODELS)}")
    review = load_review_for(args)
    pairs = analyses_for(review, args)
    from vfsynth.fits.compare import compare_models

    results = []
    for o, t in pairs:
        table = review.effects(o, t)
        tau_prior, mu_prior = resolve_prior_args(table, args)
        if not args.json:
            print(f"[compare] {o}/{t}: k = {table.k}; models {', '.join(models)}", file=sys.stderr, flush=True)
        with warnings.catch_warnings():
            # arviz warns once per high-k model; the table reports k and the refits explicitly
            warnings.filterwarnings("ignore", message=".*Pareto distribution is greater than.*")
            res = compare_models(review, o, t, models=models, tau_prior=tau_prior, mu_prior=mu_prior, engine=args.engine,
                                 draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed,
                                 joint_kwargs={"draws": args.draws, "tune": args.tune, "chains": args.chains})
        results.append(res)
        if args.plots:
            from vfsynth.reports.plots import to_png_bytes
            from vfsynth.reports.sensitivity_plots import comparison_plot, pareto_k_plot

            d = Path(args.plots)
            d.mkdir(parents=True, exist_ok=True)
            stem = f"{o}_{t}".replace(":", "_").replace("/", "_")
            (d / f"compare_{stem}_pareto_k.png").write_bytes(to_png_bytes(pareto_k_plot(res.pointwise)))
            (d / f"compare_{stem}_elpd.png").write_bytes(to_png_bytes(comparison_plot(res.table)))
    if args.json:
        print(json.dumps({"command": "compare", "engine": args.engine, "analyses": [r.to_dict() for r in results]}, indent=2))
        return 0
    for r in results:
        print(f"\n== {r.outcome} ({r.timepoint}): leave-one-study-out elpd, stacking weights ==")
        print(format_table(r.table.reset_index()))
        pw = r.pointwise.copy()
        print("\nper study (elpd used; PSIS value and Pareto k; exact refit value where k > 0.7;"
              " exact_check: exact LOSO of the normal models, for reference):")
        cols = ["model", "study", "elpd", "elpd_psis", "pareto_k", "elpd_exact", "refit"]
        if "elpd_exact_check" in pw:
            pw = pw.rename(columns={"elpd_exact_check": "exact_check"})
            cols.append("exact_check")
        print(format_table(pw[cols]))
        for n in r.notes:
            print(f"note: {n}")
    return 0
