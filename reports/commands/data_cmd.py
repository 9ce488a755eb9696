"""``vfsynth data``: show a review's studies, outcomes and frequentist pooled estimates.

For the bundled review the published pooled results are printed beside ours (a comparison,
not a reproduction: our data are a partial reconstruction).
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "data",
        help="list studies and outcomes, and pool each outcome (common effect, DL, REML)",
        description=(
            "Load a review (the bundled CD012348 reconstruction by default, or --data CSV), validate it, "
            "and print its studies, outcomes and, per outcome x time point, the inverse-variance common-effect, "
            "DerSimonian-Laird and REML pooled estimates (metafor conventions). For the bundled review the "
            "published pooled results are shown beside ours."
        ),
    )
    p.add_argument(
        "--data",
        metavar="CSV",
        help="a review in the vfsynth CSV schema (default: bundled CD012348)",
    )
    p.add_argument("--moderators", metavar="CSV", help="study-level moderators CSV for --data")
    p.add_argument(
        "--inclusion",
        metavar="LEVELS",
        help="comma-separated inclusion levels to keep, e.g. confirmed,inferred (needs an 'inclusion' moderator)",
    )
    p.add_argument(
        "--smd-variance",
        choices=("metafor", "revman"),
        default="metafor",
        help="SMD variance formula for arm data (default metafor; revman = RevMan 5)",
    )
    p.add_argument("--level", type=float, default=0.95, help="confidence level (default 0.95)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import math

    from vfsynth.data import load_data, load_review
    from vfsynth.data.jsonable import to_jsonable
    from vfsynth.data.pooling import pool_all
    from vfsynth.reports.cli import UserInputError

    if not 0 < args.level < 1:
        raise UserInputError(f"--level must be between 0 and 1, got {args.level}")
    if args.moderators and not args.data:
        raise UserInputError(
            "--moderators needs --data (the bundled review has its own moderators)"
        )
    review = (
        load_review() if args.data is None else load_data(args.data, moderators=args.moderators)
    )
    if args.inclusion:
        review = review.restrict(args.inclusion.split(","))

    from vfsynth.data.errors import NoEstimableRowsError

    analyses = []
    not_estimable = review.not_estimable()
    for outcome, timepoint in review.analyses():
        excluded = [
            {k: e[k] for k in ("study", "line", "reason")}
            for e in not_estimable
            if (e["outcome"], e["timepoint"]) == (outcome, timepoint)
        ]
        try:
            table = review.effects(outcome, timepoint, smd_variance=args.smd_variance)
        except NoEstimableRowsError as exc:
            # every row not estimable: the analysis is listed, not pooled (as RevMan does)
            analyses.append({"outcome": outcome, "timepoint": timepoint, "measure": None, "k": 0,
                             "common": None, "dl": None, "reml": None, "studies": [],
                             "not_estimable": excluded, "converted": 0, "why_not": str(exc)})
            continue
        if table.multilevel:  # pool_all would count one study's estimates as independent studies
            analyses.append(_three_level_entry(table, excluded, args.level))
            continue
        fits = pool_all(table, level=args.level)
        entry = {
            "outcome": outcome,
            "timepoint": timepoint,
            "measure": table.measure,
            "k": table.k,
            "not_estimable": excluded,
            "converted": table.meta.get("converted", 0),
            "direction": table.meta.get("direction"),
            **({"scale": table.meta["scale"]} if table.meta.get("scale") else {}),
            **{name: _method_dict(res) for name, res in fits.items()},
            "studies": [
                dict(rec, source=src, line=line)
                for rec, src, line in zip(
                    table.to_records(), table.source, table.meta["lines"], strict=True
                )
            ],
        }
        analyses.append(entry)

    comparisons = _comparisons(review, analyses) if review.published is not None else []
    for a in analyses:
        a["published"] = next(
            (
                c["published"]
                for c in comparisons
                if (c["outcome"], c["timepoint"]) == (a["outcome"], a["timepoint"])
            ),
            None,
        )

    out = {
        "review": review.name,
        "inclusion": list(review.meta["inclusion"]) if review.meta.get("inclusion") else None,
        "smd_variance": args.smd_variance,
        "level": args.level,
        "studies": _studies(review),
        "outcomes": review.outcomes(),
        "analyses": analyses,
        "not_estimable": not_estimable,
    }
    if review.published is not None:
        out["published_comparison"] = comparisons
        out["completeness"] = review.completeness().to_dict(orient="records")
        out["studies_with_nothing"] = review.not_found.to_dict(orient="records")
    if args.json:
        print(json.dumps(to_jsonable(out), indent=2, allow_nan=False))
        return 0
    _print_text(out, math)
    return 0


def _three_level_entry(table, excluded: list, level: float) -> dict:
    """An analysis with several estimates per study (``es_id``): REML of the three-level model
    (metafor's ``rma.mv(yi, vi, random = ~ 1 | study/es_id)``), Wald interval, in place of the
    two-level pooling."""
    from statistics import NormalDist

    from vfsynth.fits.three_level_reml import fit_three_level
    from vfsynth.models.three_level import three_level_data

    f = fit_three_level(three_level_data(table.estimate, table.variance, table.study))
    z = NormalDist().inv_cdf(0.5 + level / 2)
    est, se = float(f.beta[0]), float(f.se[0])
    return {"outcome": table.outcome, "timepoint": table.timepoint, "measure": table.measure, "k": table.k,
            "n_studies": len(set(table.study)), "common": None, "dl": None, "reml": None,
            "three_level": {"estimate": est, "se": se, "ci_low": est - z * se, "ci_high": est + z * se,
                            "tau2_study": float(f.sigma2[0]), "tau2_estimate": float(f.sigma2[1])},
            "why_not": "several estimates per study (es_id): pooled by the three-level model (REML)",
            "not_estimable": excluded, "converted": table.meta.get("converted", 0),
            "direction": table.meta.get("direction"),
            "studies": [dict(rec, source=src, line=line) for rec, src, line in
                        zip(table.to_records(), table.source, table.meta["lines"], strict=True)]}


def _method_dict(res) -> dict:
    return {
        "estimate": res.estimate,
        "se": res.se,
        "ci_low": res.ci_low,
        "ci_high": res.ci_high,
        "tau2": res.tau2,
        "i2": res.i2,
        "q": res.q,
        "pi_low": res.pi_low,
        "pi_high": res.pi_high,
    }


def _studies(review) -> list[dict]:
    from vfsynth.data.jsonable import to_jsonable

    rows = []
    mods = review.moderators
    for s in review.studies():
        sel = review.rows[review.rows["study"] == s]
        rec = {"study": s, "rows": int(len(sel)), "outcomes": sorted(set(sel["outcome"]))}
        if mods is not None and s in mods.index:
            for col in ("year", "inclusion", "country", "intervention_family", "risk_group"):
                if col in mods.columns:
                    rec[col] = to_jsonable(mods.at[s, col])
        rows.append(rec)
    return rows


def _comparisons(review, analyses) -> list[dict]:
    """One row per published pooled analysis: published k/estimate/CI beside ours."""
    import math

    from vfsynth.data.jsonable import to_jsonable

    out = []
    for _, p in review.published.iterrows():
        outcome, timepoint = p["outcome"], p["timepoint"]
        if not isinstance(outcome, str) or not outcome:
            outcome = None
        published = {
            "analysis": p["analysis"],
            "label": p["label"],
            "measure": to_jsonable(p["measure"]),
            "k": to_jsonable(p["k"]),
            "n_participants": to_jsonable(p["n_participants"]),
            "estimate": to_jsonable(p["estimate"]),
            "ci_low": to_jsonable(p["ci_low"]),
            "ci_high": to_jsonable(p["ci_high"]),
            "certainty": to_jsonable(p["certainty"]),
        }
        ours = next(
            (a for a in analyses if (a["outcome"], a["timepoint"]) == (outcome, timepoint)), None
        )
        row = {
            "analysis": p["analysis"],
            "outcome": outcome,
            "timepoint": to_jsonable(timepoint),
            "published": published,
        }
        if ours is not None and ours["k"] == 0:
            ours = None
        if ours is None:
            row["ours"] = None
            row["why_not"] = (
                "no outcome mapped (moderator analysis)"
                if outcome is None
                else "no study in our reconstruction has numbers for this outcome and time point"
            )
        else:
            scale = (
                "OR"
                if published["measure"] == "OR" and ours["measure"] == "logOR"
                else ours["measure"]
            )
            conv = math.exp if scale == "OR" else (lambda x: x)
            row["ours"] = {
                "k": ours["k"],
                "measure": scale,
                **{
                    m: {key: conv(ours[m][key]) for key in ("estimate", "ci_low", "ci_high")}
                    | {"tau2": ours[m]["tau2"], "i2": ours[m]["i2"]}
                    for m in ("common", "dl", "reml")
                },
            }
        out.append(row)
    return out


def _fmt(x, nd=2):
    return "   —  " if x is None else f"{x:6.{nd}f}"


def _print_text(out: dict, math) -> None:
    title = f"Review {out['review']}"
    if out["inclusion"]:
        title += f" (inclusion: {', '.join(out['inclusion'])})"
    print(title)
    print("=" * len(title))
    print(f"\nStudies with data ({len(out['studies'])}):")
    for s in out["studies"]:
        extra = ", ".join(
            str(s[c]) for c in ("inclusion", "country", "intervention_family") if s.get(c)
        )
        print(f"  {s['study']:<34} {s['rows']} row(s)  {extra}")
    print(f"\nOutcomes: {', '.join(out['outcomes'])}")
    print(
        f"\nPooled estimates: inverse-variance point estimates ({int(out['level'] * 100)}% CI) on the model scale "
        "(log for ratios); benefit scale: positive favours the intervention"
    )
    head = (
        f"  {'outcome':<34} {'time':<13} {'meas':<6} {'k':>3}  {'common effect':<22} {'DL random effects':<22} "
        f"{'REML random effects':<22} {'DL tau2':>8} {'DL I2%':>6} {'REML tau2':>9} {'REML I2%':>8}"
    )
    print(head)
    for a in out["analyses"]:
        if a["k"] == 0:
            print(f"  {a['outcome']:<34} {a['timepoint']:<13} {'—':<6} {0:>3}  not estimable: no row gives an effect")
            continue
        if a.get("three_level"):
            t = a["three_level"]
            print(f"  {a['outcome']:<34} {a['timepoint']:<13} {a['measure']:<6} {a['k']:>3}  {a['k']} estimates in "
                  f"{a['n_studies']} studies (es_id), three-level REML {t['estimate']:.2f} ({t['ci_low']:.2f}, "
                  f"{t['ci_high']:.2f}); tau2 study {t['tau2_study']:.3f}, estimate {t['tau2_estimate']:.3f}")
            continue
        cells = []
        for m in ("common", "dl", "reml"):
            r = a[m]
            cells.append(
                f"{r['estimate']:6.2f} ({r['ci_low']:5.2f}, {r['ci_high']:5.2f})".ljust(22)
            )
        print(
            f"  {a['outcome']:<34} {a['timepoint']:<13} {a['measure']:<6} {a['k']:>3}  {' '.join(cells)} "
            f"{a['dl']['tau2']:8.3f} {a['dl']['i2']:6.1f} {a['reml']['tau2']:9.3f} {a['reml']['i2']:8.1f}"
        )
        d = a.get("direction") or {}
        if a["measure"] in ("logOR", "logRR", "RD", "logIRR") and d:
            way = {True: "events are good (higher_is_better=true)", False: "events are bad (higher_is_better=false)"}.get(
                d["higher_is_better"], "rows differ in higher_is_better")
            said = "as the file states" if d["stated"] else "NOT STATED in the file: the default, check it"
            print(f"  {'':<34} {'':<13} direction: {way}, {said}; DL estimate favours "
                  f"{'intervention' if a['dl']['estimate'] > 0 else 'control'}")
        if a.get("converted"):
            print(f"  {'':<34} {'':<13} {a['converted']} row(s) converted between SMD and log OR (Chinn 2000)")
    if out.get("not_estimable"):
        print(f"\nNot estimable ({len(out['not_estimable'])} row(s): kept, listed, left out of that analysis's pooling)")
        for e in out["not_estimable"]:
            print(f"  line {e['line']:>4}  {e['study']:<34} {e['outcome']} / {e['timepoint']}: {e['reason']}")
    if out.get("published_comparison"):
        print(
            "\nPublished pooled results beside ours (a comparison, not a reproduction: our data are a partial reconstruction)"
        )
        print(
            f"  {'analysis':<6} {'outcome':<26} {'time':<9} {'published k, estimate (CI)':<32} {'ours k, DL estimate (CI)':<30}"
        )
        for c in out["published_comparison"]:
            p = c["published"]
            pk = "?" if p["k"] is None else int(p["k"])
            pub = f"k={pk} {p['measure'] or ''} {_fmt(p['estimate'])} ({_fmt(p['ci_low']).strip()}, {_fmt(p['ci_high']).strip()})"
            if c["ours"] is None:
                ours = f"— ({c['why_not']})"
            else:
                o = c["ours"]["dl"]
                ours = f"k={c['ours']['k']} {c['ours']['measure']} {o['estimate']:.2f} ({o['ci_low']:.2f}, {o['ci_high']:.2f})"
            print(
                f"  {c['analysis']:<6} {str(c['outcome'] or '—'):<26} {str(c['timepoint'] or ''):<9} {pub:<32} {ours}"
            )
    if out.get("completeness"):
        print(
            "\nCompleteness (studies with arm data / with a reported effect / measured but no numbers)"
        )
        for r in out["completeness"]:
            print(
                f"  {r['outcome']:<34} {r['timepoint']:<13} {r['n_arm_data']:>2} / {r['n_reported_effect']:>2} / {r['n_nothing']:>2}"
            )
