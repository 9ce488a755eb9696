"""GRADE-style summary of findings built from posteriors.

One row per outcome × time point (primary model): number of studies and participants,
relative and absolute effect, P(benefit), and the *statistical inputs* to a certainty rating.
The certainty rating itself is a judgement GRADE leaves to reviewers; this table gives what
the posterior can say about three of the five domains:

* **inconsistency** — tau, the I²-like share tau² / (tau² + s²) and whether the prediction
  interval for a new study includes no effect (Cochrane Handbook §14.2.2; Riley et al. 2011);
* **imprecision** — credible-interval width relative to the MCID, and whether the interval
  includes no effect and/or the MCID (GRADE 6: Guyatt et al., *J Clin Epidemiol* 2011;64:1283;
  Schünemann et al. 2022 on minimally contextualised thresholds);
* **risk of bias** — counts of the study-level risk-of-bias judgements, if the moderators
  table records them (a column named like ``risk_of_bias`` / ``rob``).

Indirectness and publication bias need information the posterior does not hold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from vfsynth.reports import summaries as S

ROB_COLUMN = re.compile(r"(^|_)(rob|risk_?of_?bias)(_|$)", re.I)


@dataclass
class SofRow:
    """One summary-of-findings row; every field is display text except the numeric flags."""

    outcome: str
    timepoint: str
    studies: str
    relative: str
    absolute: str
    p_benefit: float
    p_mcid: str
    inconsistency: str
    imprecision: str
    risk_of_bias: str
    published: str
    concern_inconsistency: bool
    concern_imprecision: bool

    def cells(self) -> list[str]:
        return [
            f"{self.outcome.replace('_', ' ')} ({self.timepoint})",
            self.studies,
            self.relative,
            self.absolute,
            f"{self.p_benefit:.3f}",
            self.p_mcid,
            self.inconsistency,
            self.imprecision,
            self.risk_of_bias,
            self.published,
        ]


HEADER = [
    "Outcome",
    "Studies (participants)",
    "Relative effect (95% CrI)",
    "Absolute effect",
    "P(benefit)",
    "P(effect > MCID)",
    "Inconsistency inputs",
    "Imprecision inputs",
    "Risk of bias (studies)",
    "Published (review)",
]


def fmt_effect(measure: str, med: float, lo: float, hi: float, label: bool = True) -> str:
    """'SMD 0.34 (0.20 to 0.49)' or 'OR 3.04 (1.39 to 6.67)' from model-scale numbers."""
    d = [float(S.to_display_scale(measure, v)) for v in (med, lo, hi)]
    name = S.display_scale(measure) + " " if label else ""
    return f"{name}{d[0]:.2f} ({d[1]:.2f} to {d[2]:.2f})"


def effect_text(a: S.AnalysisSummary, med: float, lo: float, hi: float, label: bool = True) -> str:
    """Like :func:`fmt_effect`, on the analysis's own measure and direction for event measures
    ('RR 0.68 (0.56 to 0.81)' for a RevMan RR of a harmful event; ends swap when the rows were
    turned round, see :mod:`vfsynth.data.source_scale`); other measures as :func:`fmt_effect`."""
    src = getattr(a, "source", None)
    if src is None or not src.events:
        return fmt_effect(a.measure, med, lo, hi, label=label)
    m, low, high = src.interval(med, lo, hi)
    return f"{src.display + ' ' if label else ''}{m:.2f} ({low:.2f} to {high:.2f})"


def interval_only(a: S.AnalysisSummary, lo: float, hi: float) -> str:
    """'0.35 to 1.31': an interval (prediction) on the scale :func:`effect_text` uses."""
    return effect_text(a, lo, lo, hi, label=False).split(" (")[1].rstrip(")")


def threshold_text(a: S.AnalysisSummary, t: float) -> str:
    """The event a display-scale MCID threshold ``t`` (benefit scale) stands for, in the source's
    direction: 'OR > 1.25' on the benefit scale is 'OR < 0.8' for a harmful event."""
    src = getattr(a, "source", None)
    if src is None or not src.events or not src.flip:
        return f"> {t:g}"
    return f"< {1 / t:.3g}" if src.ratio else f"< {-t:g}"


def absolute_cells(a: S.AnalysisSummary, ab) -> tuple[str, str, str]:
    """(control risk, intervention risk (CrI), difference (CrI)) per ``ab.per`` in the events as
    the source counts them. The absolute effects are computed on the benefit-oriented counts
    (non-events where events are harmful); the event risk is ``per`` minus that, so intervals
    swap their ends and the difference changes sign. The NNT is the same either way."""
    src = getattr(a, "source", None)
    per = ab.per
    c, i, il, ih = ab.control_risk * per, ab.intervention_median, ab.intervention_low, ab.intervention_high
    d, dl, dh = ab.difference_median, ab.difference_low, ab.difference_high
    if src is not None and src.flip:
        c, i, il, ih = per - c, per - i, per - ih, per - il
        d, dl, dh = -d, -dh, -dl
    return f"{c:.0f}", f"{i:.0f} ({il:.0f} to {ih:.0f})", f"{d:+.0f} ({dl:+.0f} to {dh:+.0f})"


def risk_of_bias(moderators: pd.DataFrame | None, studies) -> str:
    """Counts of risk-of-bias judgements among ``studies`` from the moderators table."""
    if moderators is None:
        return "not recorded"
    cols = [c for c in moderators.columns if ROB_COLUMN.search(str(c))]
    if not cols:
        return "not recorded"
    col = next((c for c in cols if "overall" in str(c).lower()), cols[0])
    vals = moderators.reindex(list(studies))[col]
    vals = vals.fillna("not recorded").astype(str).str.strip().replace("", "not recorded")
    counts = vals.value_counts()
    return "; ".join(f"{lvl} {n}" for lvl, n in counts.items()) + f" [{col}]"


def published_text(published: pd.DataFrame | None, outcome: str, timepoint: str) -> str:
    """The review's own pooled result for the outcome, if this review has one recorded."""
    row = match_published(published, outcome, timepoint)
    if row is None:
        return "—"
    parts = []
    est = pd.to_numeric(pd.Series([row.get("estimate")]), errors="coerce").iloc[0]
    if pd.notna(est):
        lo = pd.to_numeric(pd.Series([row.get("ci_low")]), errors="coerce").iloc[0]
        hi = pd.to_numeric(pd.Series([row.get("ci_high")]), errors="coerce").iloc[0]
        ci = f" ({lo:.2f} to {hi:.2f})" if pd.notna(lo) and pd.notna(hi) else ""
        parts.append(f"{row.get('measure', '')} {est:.2f}{ci}".strip())
    k = pd.to_numeric(pd.Series([row.get("k_studies")]), errors="coerce").iloc[0]
    n = pd.to_numeric(pd.Series([row.get("n_participants")]), errors="coerce").iloc[0]
    if pd.notna(k):
        parts.append(f"k={int(k)}" + (f", N={int(n)}" if pd.notna(n) else ""))
    cert = str(row.get("certainty", "") or "").split(" (")[0].split(";")[0].strip()
    if cert and cert.lower() != "nan":
        parts.append(f"certainty: {cert}")
    return "; ".join(parts) if parts else "—"


_TP_WORDS = {"post": ("post",), "followup": ("follow",), "followup_short": ("short",), "followup_long": ("long",)}


def match_published(published: pd.DataFrame | None, outcome: str, timepoint: str) -> dict | None:
    """The published row for ``outcome`` × ``timepoint`` (exact key columns, else label words)."""
    if published is None or len(published) == 0 or "outcome" not in published.columns:
        return None
    df = published
    for key in ("vfsynth_outcome", "outcome_key", "outcome"):
        if key in df.columns:
            hit = df[df[key].astype(str) == outcome]
            if "timepoint" in hit.columns and len(hit) > 1:
                hit = hit[hit["timepoint"].astype(str) == timepoint] if (hit["timepoint"].astype(str) == timepoint).any() else hit
            if len(hit):
                return hit.iloc[0].to_dict()
    # free-text labels: every word stem of the outcome must appear in the label
    stems = [w[:5] for w in outcome.lower().replace("_", " ").split() if w not in ("parental", "attachment")] or [outcome[:5].lower()]
    if outcome.startswith("attachment_security"):
        stems = ["secur"]
    lab = df["outcome"].astype(str).str.lower()
    mask = np.all([lab.str.contains(s, regex=False) for s in stems], axis=0)
    if "timepoint" in df.columns:
        tpw = _TP_WORDS.get(timepoint, (timepoint,))
        mask &= df["timepoint"].astype(str).str.lower().apply(lambda t: any(w in t for w in tpw)).to_numpy()
    hit = df[mask]
    return None if hit.empty else hit.iloc[0].to_dict()


def sof_row(a: S.AnalysisSummary, *, moderators=None, published=None) -> SofRow:
    """Build one summary-of-findings row from an :class:`~vfsynth.reports.summaries.AnalysisSummary`."""
    e, m = a.effect, a.measure
    n = "N unknown" if not np.isfinite(a.n_total) else f"{a.n_total:.0f}"
    studies = f"{a.k} ({n})"
    relative = effect_text(a, e.median, e.ci_low, e.ci_high)
    src = a.source if a.source is not None and a.source.events else None
    if src is not None:
        relative += f"; {src.favours(e.median)}"
    if a.absolute:
        parts = []
        for ab in a.absolute:
            c, i, d = absolute_cells(a, ab)
            parts.append(f"{i.split(' (')[0]} vs {c} per {ab.per} ({d.replace(' (', ', ').rstrip(')')}) "
                         f"at {ab.label}; {ab.nnt}")
        absolute = "; ".join(parts)
        if src is not None:
            absolute += " (events as the source counts them)"
    elif m == "logOR":
        absolute = "no control-arm risk available"
    elif src is not None and m == "RD":
        rd = src.interval(e.median, e.ci_low, e.ci_high)
        absolute = f"{1000 * rd[0]:+.0f} per 1000 ({1000 * rd[1]:+.0f} to {1000 * rd[2]:+.0f})"
    elif src is not None:
        absolute = "no control-arm risk used"
    else:
        absolute = f"{S.display_scale(m)} {e.median:.2f} higher"
    p_mcid = ", ".join(f"{threshold_text(a, t).replace(' ', '')}: {p:.2f}" for t, p in e.p_mcid.items()) or "—"

    # inconsistency
    h = a.heterogeneity
    pr = a.prediction
    null = 0.0
    pi_crosses = pr.ci_low < null < pr.ci_high
    ci_crosses = e.ci_low < null < e.ci_high
    if h is None:
        inconsistency = "common-effect model (tau = 0 assumed)"
        concern_inc = False
    else:
        inconsistency = (
            f"tau {h.tau_median:.2f} ({h.tau_low:.2f} to {h.tau_high:.2f}); "
            f"I²-like {100 * h.share_median:.0f}% ({100 * h.share_low:.0f} to {100 * h.share_high:.0f}%); "
            f"PI {interval_only(a, pr.ci_low, pr.ci_high)}"
            + (" includes no effect" if pi_crosses else " excludes no effect")
        )
        concern_inc = bool(h.share_median > 0.5 or (pi_crosses and not ci_crosses))
        if a.k < 3:
            inconsistency += f"; only {a.k} stud{'y' if a.k == 1 else 'ies'}: tau is mostly prior"
    # imprecision
    thresholds = list(e.p_mcid)
    width = e.ci_high - e.ci_low
    if thresholds:
        mcid = S.to_model_scale(m, thresholds[0])
        crosses_mcid = e.ci_low < mcid < e.ci_high
        imprecision = (
            f"CrI width {width / abs(mcid):.1f}× MCID ({thresholds[0]:g}); "
            f"CrI {'includes' if ci_crosses else 'excludes'} no effect; "
            f"{'includes' if crosses_mcid else 'excludes'} the MCID"
        )
        # GRADE minimally contextualised approach: concern when the CrI includes no effect
        concern_imp = bool(ci_crosses)
    else:
        imprecision = f"CrI width {width:.2f}; CrI {'includes' if ci_crosses else 'excludes'} no effect (no MCID set)"
        concern_imp = bool(ci_crosses)
    studies_list = list(a.studies["study"])
    return SofRow(
        outcome=a.outcome,
        timepoint=a.timepoint,
        studies=studies,
        relative=relative,
        absolute=absolute,
        p_benefit=e.p_benefit,
        p_mcid=p_mcid,
        inconsistency=inconsistency + (" — possible concern" if concern_inc else ""),
        imprecision=imprecision + (" — possible concern" if concern_imp else ""),
        risk_of_bias=risk_of_bias(moderators, studies_list),
        published=published_text(published, a.outcome, a.timepoint),
        concern_inconsistency=concern_inc,
        concern_imprecision=concern_imp,
    )


def sof_table(summaries: list[S.AnalysisSummary], *, moderators=None, published=None) -> list[SofRow]:
    """Summary-of-findings rows for a list of analyses (one per outcome × time point)."""
    return [sof_row(a, moderators=moderators, published=published) for a in summaries]
