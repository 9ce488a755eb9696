"""Which studies inform each quantity of the joint mediation model, and what it may be called.

One rule, used by the JSON (:func:`vfsynth.fits.joint_runner.summarize_joint`), the text output
of ``vfsynth fit --model joint``, the report's mediation section and its key findings.

Counting informing studies
--------------------------
Every reported quantity needs one or more *pieces* of data at one time point:

* a single construct (``a`` = the mediator's pooled effect, ``total`` = the final outcome's
  pooled effect, a construct's heterogeneity): the studies with a row of that construct at
  that time point;
* a pair of constructs (the slope ``b``, ``c'``, the indirect effect, the proportion mediated,
  the residual SD and the correlation of true effects): the studies that report *both*
  constructs at the same time point — only they inform the between-study covariance
  (a study reporting one outcome says nothing about how its effects co-vary);
* the parallel (two-mediator) decomposition needs every pair of constructs.

A quantity's count is the smallest count over its pieces. Post-intervention quantities count
post-intervention rows only; follow-up pooled effects count the rows of their own time point.
``other_times`` is the same count when rows of *any* time point are accepted: in the model a
follow-up row shares its study's post effect plus a deviation with a N(0, 0.5) prior mean, so a
study that reports sensitivity at post and attachment only at follow-up informs the post
covariance, but only through that deviation model.

Labels
------
:data:`POSTERIOR` ("posterior")
    count > 0 *and* the data moved it: posterior IQR / prior IQR < :data:`IQR_RATIO_THRESHOLD`
    (0.8, i.e. the interquartile range shrank by at least a fifth). The prior IQR comes from
    forward draws of the same model (the fit's ``prior`` group), importance-reweighted when an
    informative prior is a ``Potential``. IQRs, not SDs, because the ratio quantities below may
    have no moments; 0.8 is well outside the Monte-Carlo noise of the ratio (≈ 0.03 with 4,000
    prior and 2,000 posterior draws) and inside what one study of typical size achieves for a
    pooled mean (ratio ≈ 0.3–0.6).
:data:`WEAK` ("weakly identified")
    count > 0 but the IQR shrank by less than that, or count = 0 while rows at other time points
    inform it through the follow-up deviation prior.
:data:`PRIOR_ONLY` ("prior only")
    no study informs it at any time point: whatever moved is the consequence of learning other
    parameters (e.g. the heterogeneity SDs in b = rho * tau_A / tau_S), not evidence about it.

Ratios
------
``b`` (a covariance over a variance), and everything built from it — ``c'``, the indirect effect,
the proportion mediated and the parallel versions — are ratios of random quantities whose
denominators have positive density at zero (a half-normal tau, a normal mu), so their means and
SDs need not exist (the issue measured an SD of 3.97 and a ±150 interval). They are summarised by
median, quartiles and 2.5/97.5% quantiles and the IQR ratio only (:data:`RATIO_QUANTITIES`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

POSTERIOR = "posterior"
WEAK = "weakly identified"
PRIOR_ONLY = "prior only"
#: Quantities built from an external (observational) slope, e.g. a * b_ext: never "posterior".
EXTERNAL = "external-evidence prediction"
IQR_RATIO_THRESHOLD = 0.8
RULE = (
    f"'{POSTERIOR}': at least one study informs it at this time point (both outcomes of a pair reported "
    f"by the same study) AND posterior IQR / prior IQR < {IQR_RATIO_THRESHOLD}; '{WEAK}': informed, but the "
    f"IQR shrank less, or informed only through rows of other time points; '{PRIOR_ONLY}': no study informs it"
)

#: Summary names whose mean / SD need not exist: reported by quantiles only.
RATIO_QUANTITIES = frozenset({
    "b", "c_prime", "indirect", "proportion_mediated",
    "b_parallel", "indirect_parallel", "c_prime_parallel", "proportion_mediated_parallel",
})
MOMENT_KEYS = ("mean", "sd", "mcse_mean", "learned_ratio")

Piece = tuple[str, ...]


def study_cells(jd: Any) -> dict[str, set[tuple[str, str]]]:
    """Per study, the set of ``(construct, time point)`` it has a row for (normal or count)."""
    sc = jd.slot_construct()
    k = len(jd.constructs)
    tps = ["post"] * k + [c.split("@", 1)[1] for c in jd.cells]
    out: dict[str, set[tuple[str, str]]] = {s: set() for s in jd.studies}
    for st, sl in zip(np.concatenate([jd.row_study, jd.crow_study]).astype(int),
                      np.concatenate([jd.row_slot, jd.crow_slot]).astype(int), strict=True):
        out[jd.studies[st]].add((jd.constructs[sc[sl]], tps[sl]))
    return out


def count_informing(cells: dict[str, set[tuple[str, str]]], pieces: Iterable[Piece], timepoint: str | None) -> int:
    """Smallest, over ``pieces``, number of studies reporting every construct of the piece.

    ``timepoint=None`` accepts rows of any time point (each construct at any time of the study).
    """
    counts = []
    for piece in pieces:
        n = 0
        for have in cells.values():
            if timepoint is None:
                ok = all(any(c == p for c, _ in have) for p in piece)
            else:
                ok = all((p, timepoint) in have for p in piece)
            n += ok
        counts.append(n)
    return min(counts) if counts else 0


def quantity_pieces(jd: Any) -> dict[str, tuple[list[Piece], str]]:
    """Every labelled quantity of :func:`summarize_joint` -> (pieces of data it needs, time point).

    Keys follow the JSON paths: ``mediation.b``, ``pooled.sensitivity.post``,
    ``correlations.sensitivity~attachment``, ``parallel.sensitivity.b`` ...
    """
    m1, fin = jd.constructs[0], jd.final
    pair = [(m1, fin)]
    out: dict[str, tuple[list[Piece], str]] = {
        "mediation.a": ([(m1,)], "post"),
        "mediation.total": ([(fin,)], "post"),
        "transmission.predicted_via_sensitivity": ([(m1,)], "post"),
        "transmission.transmission_gap": ([(m1,), (fin,)], "post"),
    }
    for k in ("b", "c_prime", "indirect", "proportion_mediated", "tau_final_given_m1", "rho_m1_final"):
        out[f"mediation.{k}"] = (pair, "post")
    every_pair = [tuple(p) for p in _pairs(jd.constructs)]
    if len(jd.mediators) > 1:
        for m in jd.mediators:
            out[f"parallel.{m}.a"] = ([(m,)], "post")
            out[f"parallel.{m}.b"] = (every_pair, "post")
            out[f"parallel.{m}.indirect"] = (every_pair, "post")
        out["parallel.c_prime"] = (every_pair, "post")
        out["parallel.proportion_mediated"] = (every_pair, "post")
    for c in jd.constructs:
        out[f"pooled.{c}.post"] = ([(c,)], "post")
        out[f"heterogeneity.{c}"] = ([(c,)], "post")
    for cell in jd.cells:
        c, tp = cell.split("@", 1)
        out[f"pooled.{c}.{tp}"] = ([(c,)], tp)
        out[f"followup.{cell}.d_mean"] = ([(c,)], tp)
        out[f"followup.{cell}.tau_delta"] = ([(c,)], tp)
    for a, b in _pairs(jd.constructs):
        out[f"correlations.{b}~{a}"] = ([(a, b)], "post")
    return out


def _pairs(constructs: Sequence[str]) -> list[tuple[str, str]]:
    ii, jj = np.tril_indices(len(constructs), -1)
    return [(constructs[i], constructs[j]) for i, j in zip(ii, jj, strict=True)]


def identification(jd: Any) -> dict[str, dict[str, Any]]:
    """``{path: {"informing_studies", "other_times", "timepoint", "needs"}}`` for every quantity."""
    cells = study_cells(jd)
    out = {}
    for path, (pieces, tp) in quantity_pieces(jd).items():
        out[path] = {
            "informing_studies": count_informing(cells, pieces, tp),
            "other_times": count_informing(cells, pieces, None),
            "timepoint": tp,
            "needs": " and ".join("+".join(p) for p in pieces),
        }
    return out


def classify(informing: int, other_times: int, iqr_ratio: float | None,
             threshold: float = IQR_RATIO_THRESHOLD) -> tuple[str, str]:
    """(label, reason) by the module's rule."""
    if informing > 0:
        if iqr_ratio is not None and np.isfinite(iqr_ratio) and iqr_ratio < threshold:
            return POSTERIOR, f"{informing} informing stud{'y' if informing == 1 else 'ies'}; IQR ratio {iqr_ratio:.2f}"
        ratio = "n/a" if iqr_ratio is None else f"{iqr_ratio:.2f}"
        return WEAK, f"{informing} informing stud{'y' if informing == 1 else 'ies'} but IQR ratio {ratio} >= {threshold}"
    if other_times > 0:
        return WEAK, ("no study at this time point; informed only through rows of other time points and the "
                      "follow-up deviation prior")
    return PRIOR_ONLY, "no study reports the outcomes it needs (at any time point)"


def apply(summary: dict[str, Any], ident: dict[str, Any]) -> dict[str, Any]:
    """Label one quantity summary in place (keys ``label``, ``reason``, ``informing_studies``...)."""
    ratio = summary.get("learned_ratio_iqr")
    label, reason = classify(ident["informing_studies"], ident["other_times"], ratio)
    summary.update({
        "identification": label,
        "identification_reason": reason,
        "informing_studies": int(ident["informing_studies"]),
        "informing_studies_other_times": int(ident["other_times"]),
        "informing_timepoint": ident["timepoint"],
        "needs": ident["needs"],
    })
    if not summary.get("prior_only"):
        summary["label"] = label
    if label == PRIOR_ONLY:
        # a prior P(b > 0) near 0.5 is not a finding
        summary["p_benefit" if "p_benefit" in summary else "p_positive"] = None
    return summary


def quantiles_only(summary: dict[str, Any]) -> dict[str, Any]:
    """Drop the moments of a ratio quantity (they need not exist), in place."""
    for k in MOMENT_KEYS:
        summary.pop(k, None)
    if isinstance(summary.get("prior"), dict):
        for k in ("mean", "sd"):
            summary["prior"].pop(k, None)
    if isinstance(summary.get("posterior_if_shown"), dict):
        for k in ("mean", "sd"):
            summary["posterior_if_shown"].pop(k, None)
    summary["summarised_by"] = "median and quantiles (a ratio: its mean and SD need not exist)"
    return summary


def walk(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(path, quantity summary)`` for every labelled quantity of a joint summary, in report order."""
    out = []
    for path in summary.get("identification_paths", []):
        node: Any = summary
        for part in _split_path(path):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            out.append((path, node))
    return out


def _split_path(path: str) -> list[str]:
    # construct names never contain '.', time points neither; cells ("c@tp") are one part
    return path.split(".")


def table_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per labelled quantity: path, label, informing studies, IQR ratio, median, 95% interval."""
    rows = []
    for path, q in walk(summary):
        rows.append({
            "quantity": path,
            "label": q.get("identification"),
            "informing_studies": q.get("informing_studies"),
            "iqr_ratio": q.get("learned_ratio_iqr"),
            "median": q.get("median"),
            "q2.5": q.get("q2.5"),
            "q97.5": q.get("q97.5"),
        })
    return rows


def format_rows(rows: list[dict[str, Any]]) -> list[str]:
    """Fixed-width text lines of :func:`table_rows` (for the CLI and the closing note)."""
    lines = [f"  {'quantity':44s} {'label':18s} {'studies':>7s} {'IQR ratio':>9s}  median [95% interval]"]
    for r in rows:
        ratio = "—" if r["iqr_ratio"] is None else f"{r['iqr_ratio']:.2f}"
        val = "—" if r["median"] is None else f"{r['median']:.3f} [{r['q2.5']:.3f}, {r['q97.5']:.3f}]"
        lines.append(f"  {r['quantity']:44s} {r['label']:18s} {r['informing_studies']:7d} {ratio:>9s}  {val}")
    return lines
