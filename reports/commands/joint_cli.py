"""``vfsynth fit --model joint``: the command-line face of the joint mediation model.

The fitting and summaries live in :mod:`vfsynth.fits.joint_runner`; this module only reads
the arguments, calls them and prints the text or JSON.
"""

from __future__ import annotations

import json

from vfsynth.fits.joint_runner import MEDIATION_KEYS, fit_joint, summarize_joint
from vfsynth.models import joint as J


def _split(v) -> list[str] | None:
    if v is None:
        return None
    if isinstance(v, list | tuple):
        v = ",".join(v)
    return [s.strip() for s in str(v).split(",") if s.strip()]


def parse_md_units(specs) -> dict[str, float]:
    """``["fev1=100"]`` (or ``"fev1=100,sgrq=4"``) -> ``{"fev1": 100.0}``; bad specs are user errors."""
    out: dict[str, float] = {}
    for spec in _split(specs) or []:
        name, sep, val = spec.partition("=")
        try:
            out[name.strip()] = float(val)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise J.JointSpecError(f"--md-unit {spec!r}: expected OUTCOME=UNIT, e.g. fev1=100")
    return out


def run_joint_cli(args) -> int:
    """``vfsynth fit --model joint``: fit, print a short report or the JSON, return 0.

    Reads ``args.data`` (CSV path or None = bundled), ``args.mediator`` (comma-separated
    mediators, headline first; default ``sensitivity,reflective_functioning``),
    ``args.outcomes`` (measures of the final outcome; default ``attachment_security,
    attachment_aqs``), ``args.seed``, ``args.json``, ``args.draws/tune/chains``,
    ``args.refit``, ``args.inclusion`` and optionally ``args.rho_w`` / ``args.informative_b``.
    Bad choices raise :class:`vfsynth.models.joint.JointSpecError` (a ``ValueError``; the
    CLI layer turns it into a user error, exit 2).
    """
    from vfsynth.data import load_data

    review = load_data(getattr(args, "data", None))
    inclusion = _split(getattr(args, "inclusion", None))
    if inclusion:
        try:
            review = review.restrict(inclusion)
        except ValueError as exc:  # unknown inclusion level: a user error, not a crash
            raise J.JointSpecError(str(exc)) from None
    # No --mediator: sensitivity (headline) and reflective functioning (parallel path).
    # An explicit --mediator list is taken as given (one name = a single-mediator model).
    from vfsynth.data.bundled_examples import joint_defaults

    example = joint_defaults(review)  # a bundled example names its own proximal / distal outcomes
    mediators = _split(getattr(args, "mediator", None)) or list(example.get("mediators", J.DEFAULT_MEDIATORS))
    outcomes = _split(getattr(args, "outcomes", None)) or list(example.get("outcomes", J.DEFAULT_OUTCOMES))
    md_units = dict(example.get("md_units", {})) | parse_md_units(getattr(args, "md_unit", None))
    rho = getattr(args, "rho_w", None)
    options = J.JointOptions(
        rho_w=J.parse_rho_w(rho) if rho is not None else J.RHO_W_DEFAULT,
        informative_b=bool(getattr(args, "informative_b", False)),
    )
    # Refuse before sampling: with none of the named outcomes the model has zero studies.
    present = set(review.rows["outcome"])
    for option, names in (("--mediator", mediators), ("--outcomes", outcomes)):
        if not present & set(names):
            raise J.JointSpecError(
                f"{option}: none of {', '.join(names)} is an outcome of this review "
                f"(its outcomes: {', '.join(sorted(present))}); name them with {option} A,B")
    kw = {}
    for k in ("draws", "tune", "chains", "seed"):
        v = getattr(args, k, None)
        if v is not None:
            kw[k] = int(v)
    res = fit_joint(review, mediators=mediators, outcomes=outcomes, options=options, md_units=md_units or None,
                    refit=bool(getattr(args, "refit", False)), **kw)
    summary = summarize_joint(res)
    if getattr(args, "json", False):
        print(json.dumps(summary, indent=2))
    else:
        print(format_report(summary))
    return 0


def _fmt(s: dict | None) -> str:
    """Median [95% interval], identification label, informing studies and IQR ratio.

    Medians and quantiles for every quantity: b and the ratios built from it have no moments
    (:mod:`vfsynth.fits.mediation_labels`)."""
    if s is None:
        return "n/a"
    label = s.get("identification", s.get("label", ""))
    txt = f"{s['median']:.2f} ({s['q2.5']:.2f} to {s['q97.5']:.2f})"
    if s.get("prior_only"):
        txt = f"prior 95%: {s['q2.5']:.2f} to {s['q97.5']:.2f}"
    lr = s.get("learned_ratio_iqr")
    txt += f"  [{label}; {s.get('informing_studies', 0)} informing studies"
    return txt + (f"; IQR ratio {lr:.2f}]" if lr is not None else "]")


def format_report(summary: dict) -> str:
    """Plain-text report of :func:`summarize_joint` output."""
    from vfsynth.fits import mediation_labels as ML

    lines = [f"Joint mediation model — {summary.get('review') or 'user data'} ({summary['n_studies']} studies)"]
    for c, info in summary["constructs"].items():
        lines.append(f"  {c}: {info['rows']} rows from {info['studies']} studies"
                     + ("" if info["has_data"] else f"  [{J.PRIOR_ONLY_LABEL}]"))
    lines.append("Mediation (posterior median, 95% interval; SMD scale; label, studies informing it, "
                 "posterior/prior IQR ratio):")
    for k in MEDIATION_KEYS:
        lines.append(f"  {k:20s} {_fmt(summary['mediation'][k])}")
    lines.append("Pooled effects:")
    for c, tps in summary["pooled"].items():
        for tp, s in tps.items():
            pb = s.get("p_benefit")
            lines.append(f"  {c} [{tp}] {_fmt(s)}" + (f"  P(benefit) {pb:.3f}" if pb is not None else ""))
    lines.append("Identification of every quantity (rule: " + summary.get("identification_rule", ML.RULE) + "):")
    lines.extend(ML.format_rows(summary.get("identification", [])))
    d = summary["diagnostics"]
    lines.append(f"Diagnostics: max R-hat {d['max_rhat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f}, "
                 f"divergences {d['divergences']}" + ("" if d["passed"] else f"  PROBLEMS: {d['problems']}"))
    lines.append(summary["dag"])
    return "\n".join(lines)
