"""``vfsynth fit``: fit one outcome's meta-analysis (or the joint model) and report it.

Registration imports only argparse; PyMC / JAX / ArviZ load inside :func:`run`.
"""

from __future__ import annotations

import argparse

from vfsynth.reports.commands import argtypes, three_level_cli

MODELS = ("random-effects", "common-effect", "binomial-normal", "t", "joint", "three-level")
SAMPLERS = ("numpyro", "pymc", "nutpie", "blackjax")
ENGINES = ("auto", "exact", "nuts", "batched")

#: Exit status of a fit that ran but failed the diagnostics gate (R-hat, ESS, divergences,
#: tree depth, E-BFMI). 0 = passed, 2 = bad input (nothing run), 3 = ran, results unreliable.
EXIT_DIAGNOSTICS = 3

_EPILOG_HEAD = """\
Exit status: 0 fitted and diagnostics passed; 2 bad input (nothing was fitted);
3 fitted but the diagnostics gate failed (results printed, marked unreliable).

Defaults: the model is binomial-normal when the outcome has 2x2 counts, else
random-effects; the tau and mu priors are vfsynth.models.priors.default_tau_prior /
default_mu_prior for the outcome's measure. A saved fit with exactly the same data,
priors, settings and package versions is reused (say --refit to sample again);
a fit whose data or priors changed is never reused.

"""


def _grammar() -> str:
    # The grammar text lives with the priors; importing that module is cheap (numpy/scipy
    # only are imported lazily there), but fall back gracefully if it is unavailable.
    try:
        from vfsynth.models.priors import GRAMMAR
    except Exception:  # noqa: BLE001 - help must never fail
        return "Prior specifications: see vfsynth priors --help."
    return GRAMMAR


class _LazyEpilogParser(argparse.ArgumentParser):
    """Builds the epilog (the prior grammar) only when help is actually printed."""

    def format_help(self) -> str:
        if self.epilog is None:
            self.epilog = _EPILOG_HEAD + _grammar()
        return super().format_help()




def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fit",
        help="fit a Bayesian meta-analysis of one outcome",
        description="Fit a Bayesian meta-analysis of one outcome (NUTS; NumPyro by default).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # argparse has no per-sub-parser class option; swap the class so the prior grammar
    # (in vfsynth.models.priors) is imported only when help is printed.
    p.__class__ = _LazyEpilogParser
    p.epilog = None
    p.add_argument("--outcome", help="outcome name (e.g. sensitivity); required unless --model joint")
    p.add_argument("--timepoint", default="post", help="time point (default: post)")
    p.add_argument("--model", choices=MODELS, default=None, help="model (default: by outcome, see below)")
    p.add_argument("--tau-prior", metavar="SPEC", default=None, help="heterogeneity prior (grammar below)")
    p.add_argument("--mu-prior", metavar="SPEC", default=None, help="pooled-effect prior (grammar below)")
    p.add_argument("--data", metavar="CSV", default=None, help="review CSV (default: the bundled CD012348 data)")
    p.add_argument("--moderators", metavar="CSV", default=None, help="study-level moderators CSV")
    p.add_argument(
        "--inclusion",
        metavar="LEVELS",
        default=None,
        help="restrict to studies with these inclusion levels, comma-separated (e.g. confirmed,inferred)",
    )
    p.add_argument("--seed", type=argtypes.seed, default=None,
                   help="one seed for the whole fit (default vfsynth.fits.settings.DEFAULT_SEED, 20190101)")
    p.add_argument("--draws", type=argtypes.positive_int, default=1000, help="draws per chain (default 1000)")
    p.add_argument("--tune", type=argtypes.positive_int, default=1000, help="warm-up iterations per chain (default 1000)")
    p.add_argument("--chains", type=argtypes.positive_int, default=4, help="chains, run in parallel (default 4)")
    p.add_argument("--target-accept", type=float, default=0.9, help="NUTS target acceptance (default 0.9)")
    p.add_argument("--sampler", choices=SAMPLERS, default="numpyro", help="NUTS implementation (default numpyro)")
    p.add_argument(
        "--engine", choices=ENGINES, default="auto",
        help="auto (default): exact integration where the model has it (random-effects, common-effect), "
             "else NUTS; exact; nuts; batched (marginal likelihood in one vectorised BlackJAX program)",
    )
    p.add_argument("--refit", action="store_true", help="sample again even if a matching saved fit exists")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument(
        "--mediator", metavar="NAME[,NAME]", default=None,
        help="joint model: mediator outcome(s), headline first (default sensitivity,reflective_functioning)",
    )
    p.add_argument(
        "--outcomes", metavar="NAME,...", default=None,
        help="joint model: final-outcome measures, comma-separated (default attachment_security,attachment_aqs)",
    )
    p.add_argument("--rho-w", metavar="R", default=None, help="joint model: within-study correlation of rows")
    p.add_argument("--md-unit", metavar="OUTCOME=UNIT", action="append", default=None,
                   help="joint model: put a mean-difference outcome on the unit scale (e.g. fev1=100: per 100 mL)")
    p.add_argument("--informative-b", action="store_true", help="joint model: informative prior on the b path")
    three_level_cli.add_options(p)
    p.set_defaults(func=run)


def _progress(enabled: bool):
    import sys
    import time

    t0 = time.monotonic()

    def say(msg: str) -> None:
        if enabled:
            print(f"[{time.monotonic() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    return say


def run(args) -> int:
    import json
    import sys

    from vfsynth.reports.cli import UserInputError

    if args.model == "joint":
        from vfsynth.reports.commands.joint_cli import run_joint_cli

        return int(run_joint_cli(args) or 0)
    if not args.outcome:
        raise UserInputError("--outcome is required (e.g. --outcome sensitivity)")
    if args.mediator or args.outcomes or args.rho_w is not None or args.informative_b or args.md_unit:
        raise UserInputError("--mediator / --outcomes / --rho-w / --informative-b / --md-unit only apply to --model joint")
    if not 0 < args.target_accept < 1:
        raise UserInputError(f"--target-accept must be between 0 and 1, got {args.target_accept}")
    three_level_cli.check_options(args, args.model == "three-level")

    from vfsynth.fits import sampling

    try:
        sampling.check_sampler(args.sampler)
    except (ValueError, ImportError) as exc:
        raise UserInputError(str(exc)) from None

    say = _progress(True)
    say("loading data")
    from vfsynth.data import load_data

    review = load_data(args.data, moderators=args.moderators) if args.moderators else load_data(args.data)
    if args.inclusion:
        levels = [s.strip() for s in args.inclusion.split(",") if s.strip()]
        try:
            review = review.restrict(levels)
        except ValueError as exc:
            raise UserInputError(f"--inclusion: {exc}") from None
    try:
        table = review.effects(args.outcome, args.timepoint)
    except KeyError as exc:
        raise UserInputError(exc.args[0] if exc.args else str(exc)) from None
    except ValueError as exc:
        raise UserInputError(str(exc)) from None

    if args.model == "three-level":  # exact (REML + quadrature): no sampler, no saved fit
        return three_level_cli.run_fit(args, review, table)
    from vfsynth.fits.runner import default_model, fit_univariate, resolve_priors
    from vfsynth.fits.settings import FitSettings
    from vfsynth.models.spec import get_spec

    model = args.model or default_model(table)
    # Resolve tau alone first so an error names the option that caused it ("" is a value too).
    for which, specs in (("--tau-prior", (args.tau_prior, None)), ("--mu-prior", (args.tau_prior, args.mu_prior))):
        try:
            tau_prior, mu_prior = resolve_priors(table, model, *specs)
        except (ValueError, KeyError) as exc:
            raise UserInputError(f"{which}: {exc}") from None
    settings = FitSettings(engine=args.engine, sampler=args.sampler, draws=args.draws, tune=args.tune,
                           chains=args.chains, target_accept=args.target_accept,
                           **({} if args.seed is None else {"seed": args.seed}))
    spec = get_spec(model)
    spec.check(table)
    spec.resolve_engine(settings.engine)  # refuse an engine the model lacks before anything runs
    import warnings

    from vfsynth.fits.diagnostics import FitWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FitWarning)
        fit = fit_univariate(
            table,
            model=model,
            tau_prior=tau_prior,
            mu_prior=mu_prior,
            settings=settings,
            refit=args.refit,
            progress=not args.json and sys.stderr.isatty(),
            on_event=say,
        )
    for w in caught:
        if issubclass(w.category, FitWarning):
            print(f"WARNING: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if fit.cached and not fit.verdict.get("passed", False) and fit.verdict.get("problems"):
        from vfsynth.fits.diagnostics import format_warning

        try:
            print(f"WARNING (saved fit): {format_warning(fit.verdict, 'fit')}", file=sys.stderr)
        except (KeyError, TypeError):  # verdict from an older schema: still say something
            print(f"WARNING (saved fit): {'; '.join(fit.verdict['problems'])}", file=sys.stderr)
    from vfsynth.fits.summary import summarize

    summary = summarize(fit)
    if getattr(fit, "table", None) is not None and fit.table.meta.get("direction"):
        summary["direction"] = fit.table.meta["direction"]
    say(("reused saved fit " if fit.cached else "saved fit ") + f"{fit.fit_id} -> {fit.path}")
    if args.json:
        print(json.dumps(summary, indent=None, allow_nan=False))
    else:
        print(_text(summary))
    # Results are printed either way; the status lets a script tell a fit that failed its
    # convergence checks from a good one.
    return 0 if summary["diagnostics"]["passed"] or summary.get("engine") == "exact" else EXIT_DIAGNOSTICS


def _text(s: dict) -> str:
    def iv(d):
        return f"{d['mean']:.3f} (95% CrI {d['q2.5']:.3f} to {d['q97.5']:.3f})"

    a = s["analysis"]
    src = _source(s)
    lines = [f"{a['outcome']} / {a['timepoint']} ({a['measure']}), {s['model']} model, k = {s['data']['k']}"]
    if src is not None:
        # event measures: the analysis's own measure and direction first (issue 14)
        lines += _measure_lines(s)
        lines.append(f"  benefit scale (model): mu {iv(s['mu'])}; positive favours the intervention")
    else:
        lines.append(f"  mu   {iv(s['mu'])}   P(benefit) = {s['p_benefit']:.3f}")
        lines += _measure_lines(s)
    if s.get("tau"):
        lines.append(f"  tau  {iv(s['tau'])}")
    if s.get("prediction"):
        p = s["prediction"]
        if src is not None and src.get("prediction"):
            sp = src["prediction"]
            lines.append(f"  new study: 95% prediction interval {src['measure']} {sp['q2.5']:.3f} to {sp['q97.5']:.3f}")
        else:
            lines.append(f"  new study: 95% prediction interval {p['q2.5']:.3f} to {p['q97.5']:.3f}")
    d = s["diagnostics"]
    if s.get("engine") == "exact":
        lines.append("  engine: exact numerical integration (no Monte-Carlo error; draws kept for plots and LOO)")
    else:
        rhat = "n/a (one chain)" if d.get("max_rhat") is None else f"{d['max_rhat']:.3f}"
        ess = "n/a" if d.get("min_ess_bulk") is None else f"{d['min_ess_bulk']:.0f}"
        lines.append(
            f"  engine: {s.get('engine', 'nuts')}; diagnostics: {'passed' if d['passed'] else 'PROBLEMS'} "
            f"(max R-hat {rhat}, min bulk ESS {ess}, divergences {d['divergences']})"
        )
    lines.append("  point estimates are posterior means; intervals are 95% equal-tailed credible intervals")
    f = s["fit"]
    made = "reused saved fit" if f["cached"] else ("integrated" if s.get("engine") == "exact" else "sampled")
    lines.append(f"  fit {f['id']} ({made}): {f['path']}")
    for key, pr in s["priors"].items():
        lines.append(f"  prior {key}: {pr['spec']}  {pr['description']}")
    return "\n".join(lines)


def _source(s: dict) -> dict | None:
    """The fit's ``source`` block (:func:`vfsynth.fits.summary.source_block`), rebuilt from mu and
    the direction when the summary came without one."""
    if "source" in s:
        return s["source"]
    from types import SimpleNamespace

    from vfsynth.fits.summary import source_block

    table = SimpleNamespace(measure=s["analysis"]["measure"], meta={"direction": s.get("direction")})
    pb = {"p": s["p_benefit"]} if s.get("p_benefit") is not None else None
    return source_block(table, s.get("mu"), s.get("prediction"), pb)


def _measure_lines(s: dict) -> list[str]:
    """mu on the analysis's own measure and direction (event measures: RR, OR, RD, IRR; quantiles
    transform exactly, so the median and interval are shown, not a mean), else on the measure's
    display scale (ratio of means, r, proportion); and which way the effect points."""
    from vfsynth.data.measures import MEASURES, to_display

    m, out = s["analysis"]["measure"], []
    info = MEASURES.get(m)
    src = _source(s)
    if src is not None:
        how = (f" (posterior median and quantiles of the {src['measure']}, not exp of a mean)"
               if src["measure"] in ("RR", "OR", "IRR") else " (posterior median and quantiles)")
        out.append(f"  {src['measure']} {src['median']:.3f} (95% CrI {src['q2.5']:.3f} to {src['q97.5']:.3f}): "
                   f"{src['favours']}{how}")
        if src.get("p_benefit") is not None:
            out.append(f"  P(benefit) = {src['p_benefit_is']} = {src['p_benefit']:.3f}")
        out.append(f"  direction: {src['note']}")
        return out
    if info is not None and info.transform != "identity":
        q = [float(to_display(m, s["mu"][k])) for k in ("median", "q2.5", "q97.5")]
        out.append(f"  mu as {info.display}: median {q[0]:.3f} (95% CrI {q[1]:.3f} to {q[2]:.3f})")
    d = s.get("direction")
    if d and info is not None and info.contrast:
        way = {True: "higher_is_better = true", False: "higher_is_better = false"}.get(d["higher_is_better"], "mixed higher_is_better")
        said = "stated in the data" if d["stated"] else "NOT STATED in the data (default): check it"
        out.append(f"  direction: positive mu favours the intervention, negative the control ({way}, {said})")
    return out
