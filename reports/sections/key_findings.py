"""Key findings: the first-screen box (provenance, each pooled result, certainty inputs, failures)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from vfsynth.reports import sof as SOF
from vfsynth.reports.html_report import Doc
from vfsynth.reports.sections._common import fmt_p, is_reconstruction

if TYPE_CHECKING:
    from vfsynth.reports.analyses import AnalysisResult


def robustness_text(rob: dict | None) -> str:
    """'P(benefit) 0.99–1.00 over 11 priors; 0.97–1.00 leaving out each of 6 studies'."""
    if not rob:
        return "not run"
    parts = []
    for key, what in (("prior", "priors"), ("loso", "single-study omissions"),
                      ("small_study", "small-study adjustments")):
        if key in rob:
            lo, hi, n, flag = rob[key]
            parts.append(f"{lo:.2f}–{hi:.2f} over {n} {what}" + (" (conclusion changes)" if flag else ""))
    return "P(benefit) " + "; ".join(parts) if parts else "failed (see Sensitivity)"


def key_findings(review, results: list[AnalysisResult], sof_rows: list[SOF.SofRow],
                 robustness: dict | None = None) -> tuple[Doc, list[dict]]:
    """The first-screen box: data provenance, each pooled result, certainty inputs, failures."""
    d = Doc()
    d.heading("Key findings", level=2)
    if is_reconstruction(review):
        d.callout(
            "warn",
            "These are NOT the review's own data.",
            text=(
                "The study-level numbers are a partial reconstruction of Cochrane review CD012348 "
                "(O'Hara et al. 2019) from public sources (trial abstracts, registries, later reviews); "
                "the review's published pooled results are shown beside ours. Studies whose numbers "
                "could not be found are listed under Data."
            ),
        )
    else:
        d.para(f"Data: {review.name} ({len(review.studies())} studies, {len(review.rows)} data rows).")
    failed = [r for r in results if r.error or (r.summary and not r.summary.diagnostics.ok)]
    if failed:
        d.callout(
            "fail",
            "Some fits FAILED their checks — do not use their numbers:",
            items=[f"{r.label}: {r.error or '; '.join(r.summary.diagnostics.problems)}" for r in failed],
        )
    rows, records = [], []
    unstated: list[str] = []  # event analyses whose direction is the default, not the data's
    by = {(s.outcome, s.timepoint): s for s in sof_rows}
    for r in results:
        if r.summary is None:
            continue
        a, e = r.summary, r.summary.effect
        s = by[(r.outcome, r.timepoint)]
        mcid = ", ".join(f"P({SOF.threshold_text(a, t).replace(' ', '')}) {p:.2f}" for t, p in e.p_mcid.items())
        het = "—" if a.heterogeneity is None else f"tau {a.heterogeneity.tau_median:.2f}"
        pr = a.prediction
        pi = SOF.interval_only(a, pr.ci_low, pr.ci_high)
        effect = SOF.effect_text(a, e.median, e.ci_low, e.ci_high)
        src = a.source if a.source is not None and a.source.events else None
        if src is not None:
            effect += f"; {src.favours(e.median)} ({src.favours_side} favours intervention)"
            if src.stated is False or src.higher_is_better == "mixed":
                unstated.append(f"{r.label}: {src.note}")
        certainty = []
        if s.concern_inconsistency:
            certainty.append("inconsistency")
        if s.concern_imprecision:
            certainty.append("imprecision")
        rows.append(
            [
                r.label,
                f"{a.k} ({'N ?' if not math.isfinite(a.n_total) else f'{a.n_total:.0f}'})",
                effect,
                fmt_p(e.p_benefit),
                mcid or "—",
                f"{het}; PI {pi}",
                ("possible concern: " + ", ".join(certainty)) if certainty else "no statistical flag",
                robustness_text((robustness or {}).get((r.outcome, r.timepoint))),
                "passed" if a.diagnostics.ok else "FAILED",
                s.published,
            ]
        )
        records.append(
            {
                "outcome": r.outcome,
                "timepoint": r.timepoint,
                "model": a.model,
                "k": a.k,
                "effect": effect,
                "p_benefit": e.p_benefit,
                **({"direction": src.note, "p_benefit_is": f"P({src.favours_side})"} if src is not None else {}),
                "p_mcid": {str(k): v for k, v in e.p_mcid.items()},
                "prediction": pi,
                "diagnostics_ok": a.diagnostics.ok,
                "robustness": robustness_text((robustness or {}).get((r.outcome, r.timepoint))),
                "published": s.published,
            }
        )
    if rows:
        d.table(
            ["Outcome", "Studies (N)", "Pooled effect (95% CrI)", "P(benefit)", "P(> MCID)", "Heterogeneity; prediction",
             "Certainty inputs", "Robustness", "Fit checks", "Published (review)"],
            rows,
            numeric={3},
        )
    else:
        d.callout("warn", "No outcome has enough studies to pool.")
    if unstated:
        d.callout("warn", "Which way the events count was NOT STATED in the data: P(benefit) and 'favours' assume "
                          "the events are good", items=unstated)
    # published outcomes for which these data have nothing to pool
    pub = getattr(review, "published", None)
    if pub is not None and "outcome" in pub.columns:
        have = {(r.outcome, r.timepoint) for r in results if r.summary is not None}
        missing = []
        for _, p in pub.iterrows():
            est = p.get("estimate")
            key = (str(p.get("outcome")), str(p.get("timepoint")))
            if key not in have and est is not None and not (isinstance(est, float) and math.isnan(est)):
                lab = p.get("label", p.get("outcome"))
                lo, hi = p.get("ci_low"), p.get("ci_high")
                ci = f" ({lo} to {hi})" if isinstance(hi, (int, float)) and not math.isnan(hi) else ""
                missing.append(f"{lab}: published {p.get('measure')} {est}{ci} — no poolable study-level data here")
        if missing:
            d.callout("info", "Published results we cannot reproduce from the reconstructed data:", items=missing)
    kinds = {r.summary.effect.ci_kind for r in results if r.summary is not None}
    kind = "highest-density" if kinds == {"hdi"} else "equal-tailed"
    d.para(
        f"P(benefit) = posterior probability that the pooled effect favours the intervention; CrI = 95% {kind} "
        "credible interval; PI = 95% prediction interval for the effect in a new study. Certainty inputs are the "
        "statistical parts of GRADE (inconsistency, imprecision); the rating itself is the reviewers' judgement."
    )
    return d, records


def mediation_findings(d: Doc, mediation: dict | None) -> None:
    """One key-findings line on the mediation path, with the joint model's identification labels.

    Uses the labels of :mod:`vfsynth.fits.mediation_labels` (via the report's mediation hook), so
    the first screen never calls a prior a finding; ratios are given by median and interval.
    """
    if not mediation or not mediation.get("rows"):
        return
    items = []
    for key, median, interval, label, studies, iqr in mediation["rows"]:
        if key not in ("a", "b", "indirect", "proportion_mediated"):
            continue
        items.append(f"{key}: median {median} (95% {interval}) — {label}, {studies or 0} informing studies, "
                     f"posterior/prior IQR {iqr}")
    if items:
        d.callout("info", "Mediation (joint model; labels say what the data could inform):", items=items)

