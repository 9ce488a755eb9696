"""Build the report of a review: run the analyses, build every section, write the files.

:func:`build_report` is what ``vfsynth report`` runs. The analyses come from
:mod:`vfsynth.reports.analyses` (which fits, with which models); each section module of
:mod:`vfsynth.reports.sections` writes one part of the report, run through
:func:`~vfsynth.reports.sections.runner.run_section` so that a failing section is shown as
failed — with its exception type and message, in the HTML, the Markdown and ``summary.json`` —
and the rest of the report is still written.

Output goes to ``out_dir`` (default :data:`DEFAULT_OUT_DIR`, relative to the current
directory); nothing is written into the installed package. The committed canonical report of
the bundled review is rebuilt only on request: ``vfsynth report --out reports/bundled``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from vfsynth.data.jsonable import to_jsonable
from vfsynth.reports import analyses as A
from vfsynth.reports import report_dir
from vfsynth.reports import sof as SOF
from vfsynth.reports.analyses import DEFAULT_SEED, AnalysisResult, Fitter, Progress
from vfsynth.reports.html_report import Doc, Section, all_figures, render_html, render_markdown
from vfsynth.reports.sections import averaging as AVG
from vfsynth.reports.sections import comparison as CMP
from vfsynth.reports.sections import (
    data,
    diagnostics,
    key_findings,
    living,
    models,
    reproducibility,
    results,
)
from vfsynth.reports.sections import sof as sof_section
from vfsynth.reports.sections._common import is_reconstruction
from vfsynth.reports.sections.runner import Failure, attempt, run_section

#: Default output folder, relative to the current directory (git-ignored in a clone).
DEFAULT_OUT_DIR = "vfsynth-report"

__all__ = ["DEFAULT_OUT_DIR", "DEFAULT_SEED", "AnalysisResult", "ReportResult", "build_report"]


@dataclass
class ReportResult:
    """Paths written and the numbers behind them."""

    html: Path
    markdown: Path
    summary_json: Path
    seconds: float
    analyses: list[AnalysisResult]
    key_findings: list[dict]
    #: sections that failed, with the reason (also in summary.json and the report)
    failures: list[Failure] = field(default_factory=list)


def build_report(
    review=None,
    out_dir: str | Path | None = None,
    seed: int = DEFAULT_SEED,
    progress: bool = True,
    *,
    fitter: Fitter | None = None,
    control_risk: float | None = None,
    mcid: dict[str, tuple[float, ...]] | None = None,
    min_k: int = A.MIN_K_POOLED,
    extras: bool = True,
    ci_kind: str = "eti",
    command: str = "vfsynth report",
    cache: bool = True,
) -> ReportResult:
    """Fit/reload every analysis of ``review`` and write ``report.html``, ``report.md``, ``summary.json``.

    Parameters
    ----------
    review : Review, optional
        Default: the bundled CD012348 reconstruction (:func:`vfsynth.data.load_review`).
    out_dir : path, optional
        Output folder; default :data:`DEFAULT_OUT_DIR` under the current directory.
    seed : int
        One seed for every fit (and the auxiliary prediction draws).
    progress : bool
        Progress messages on stderr.
    fitter : callable(review, table, model, seed, say) -> (DataTree, info), optional
        Default :func:`vfsynth.reports.analyses.runner_fitter` (cached NUTS fits).
    control_risk : float, optional
        A user-given control-arm risk for absolute effects of binary outcomes.
    mcid : dict measure -> thresholds, optional
        Display-scale MCIDs keyed by model measure ("SMD", "logOR" (odds ratios), "MD");
        defaults :data:`vfsynth.reports.effects.DEFAULT_MCID`.
    min_k : int
        Fewest studies for a pooled analysis.
    extras : bool
        Run the mediation, comparison/sensitivity and living-review stages.
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density credible intervals.
    command : str
        The command line that regenerates this report (recorded in it).
    cache : bool
        Re-use a stored build with exactly these inputs (:mod:`vfsynth.reports.report_cache`:
        data, settings, code and library versions) and store this one. Only with the default
        fitter or one carrying a ``cache_token`` (an arbitrary fitter cannot be keyed).

    Returns
    -------
    ReportResult
    """
    t0 = time.perf_counter()
    wall0 = time.time()
    say = Progress(progress)
    if review is None:
        from vfsynth.data import load_review

        review = load_review()
    out = Path(DEFAULT_OUT_DIR if out_dir is None else out_dir)
    folder = report_dir.prepare(out)  # refuses a user's folder before any fitting
    # looked up at call time so that tests can swap the default fitter
    # the default fitter is looked up now (tests swap it): its identity is part of the key
    default = f"{A.runner_fitter.__module__}.{A.runner_fitter.__qualname__}"
    token = f"{default}/engine=auto" if fitter is None else getattr(fitter, "cache_token", None)
    if token is not None and fitter is not None:
        token = f"{token}/{default}"
    fitter = fitter or A.runner_fitter
    key = None
    if cache and token is not None:
        from vfsynth.reports import report_cache as RC

        key = RC.build_key(review, {"seed": seed, "fitter": token, "control_risk": control_risk, "mcid": mcid,
                                    "min_k": min_k, "extras": extras, "ci_kind": ci_kind, "command": command,
                                    "out": str(out)})
        if (entry := RC.load(key)) is not None:
            return _from_cache(entry, review, out, seed, say, t0, folder)

    say(f"review {review.name}: {len(review.analyses())} analyses")
    res, single = A.run_analyses(review, seed=seed, fitter=fitter, say=say, min_k=min_k, control_risk=control_risk,
                                 mcid=mcid, ci_kind=ci_kind)
    summaries = [r.summary for r in res if r.summary is not None]
    sof_rows = SOF.sof_table(summaries, moderators=getattr(review, "moderators", None),
                             published=getattr(review, "published", None))
    mediation = _mediation(review, seed, say) if extras else None
    failures: list[Failure] = []

    def section(anchor: str, title: str, fn) -> Section:
        return run_section(anchor, title, fn, failures=failures, say=say)

    robustness: dict = {}

    def comparison():
        doc, status, rob = CMP.comparison_section(review, res, seed, say)
        robustness.update(rob)
        return doc, status

    def not_run():
        return ((Doc().para("Not run (extras disabled)."), "hook"))
    late = [section("comparison", "Sensitivity and model comparison", comparison if extras else not_run),
            section("living", "Living review", (lambda: living.living_section(review, res, seed, say, out))
                    if extras else not_run)]
    say("figures and tables")
    records: list[dict] = []

    def first_screen():
        doc, recs = key_findings.key_findings(review, res, sof_rows, robustness)
        key_findings.mediation_findings(doc, mediation)
        records.extend(recs)
        return doc

    kf = section("key-findings", "Key findings", first_screen)
    averaged: list[dict] = []  # the model-averaging section's numbers, for summary.json
    sections = [
        section("data", "Data", lambda: data.data_section(review, res, single)),
        section("models", "Models and priors", lambda: models.models_section(res)),
        section("diagnostics", "Diagnostics", lambda: diagnostics.diagnostics_section(res)),
        section("results", "Results", lambda: results.results_section(res, mediation)),
        section("averaging", "Model averaging", lambda: AVG.averaging_section(res, averaged,
                                                                              None if extras else ("nnhm4",))),
        section("sof", "Summary of findings", lambda: sof_section.sof_section(sof_rows)),
        *late,
    ]
    record = run_record(review, seed, command, out, failures)
    sections.append(section("reproduce", "Reproducibility", lambda: reproducibility.reproducibility_section(record)))
    # the last section can fail too: the record must hold every failure
    record["failed_sections"] = [f.to_dict() for f in failures]
    kf_doc = kf.doc
    if failures:
        kf_doc.callout("fail", "Some report sections could not be built:",
                       items=[f"{f.section}: {f.text}" for f in failures])

    html_path, md_path, js_path = _write(out, review, kf_doc, sections, len(res), seed)
    payload = {"review": review.name, "seed": seed, "run": record, "key_findings": records,
               "analyses": [s.to_dict() for s in summaries], "model_averaging": averaged}
    js_path.write_text(json.dumps(to_jsonable(payload), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    if key is not None:
        written = {p.relative_to(out).as_posix() for p in (html_path, md_path, js_path)}
        RC.store(key, {"kf_doc": kf_doc, "sections": sections, "n_pooled": len(res), "payload": payload,
                       "records": records, "failures": failures, "analyses": [_without_draws(r) for r in res],
                       "side_files": RC.side_files(out, wall0, written)})
    for rel in folder.finish():
        say(f"kept {out / rel}: made by an earlier build but edited since")
    secs = time.perf_counter() - t0
    say(f"wrote {html_path} and {md_path} in {secs:.1f}s")
    return ReportResult(html_path, md_path, js_path, secs, res, records, failures)


def _without_draws(r: AnalysisResult) -> AnalysisResult:
    import dataclasses

    return dataclasses.replace(r, dt=None)


def _from_cache(entry: dict, review, out: Path, seed: int, say, t0: float, folder) -> ReportResult:
    """Write a stored build again, saying at the top and in summary.json that it was re-used."""
    from vfsynth.reports import report_cache as RC

    kf_doc, payload = entry["kf_doc"], entry["payload"]
    note = (f"This report was re-used whole from the report cache: its data, settings, priors, code and "
            f"library versions are identical to the build of {entry['built_at']}, so nothing was fitted, "
            "sampled, refitted or redrawn in this run (cache key " + entry["key"][:12] + "). Delete "
            f"{RC.step_cache_dir()} to rebuild from the saved fits.")
    kf_doc.callout("info", "Re-used from the report cache", text=note)
    payload["run"] = {**payload["run"], "cache": {"reused": True, "built_at": entry["built_at"], "key": entry["key"]}}
    say(f"nothing changed since {entry['built_at']}: re-using the cached report")
    html_path, md_path, js_path = _write(out, review, kf_doc, entry["sections"], entry["n_pooled"], seed)
    js_path.write_text(json.dumps(to_jsonable(payload), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    RC.restore_side_files(out, entry["side_files"])
    for rel in folder.finish():  # the manifest lists the restored files as this build's own
        say(f"kept {out / rel}: made by an earlier build but edited since")
    secs = time.perf_counter() - t0
    say(f"wrote {html_path} and {md_path} in {secs:.1f}s (from the report cache)")
    return ReportResult(html_path, md_path, js_path, secs, entry["analyses"], entry["records"], entry["failures"])


def _mediation(review, seed: int, say) -> dict | None:
    """The joint model's mediation paths; its failure is a note under Results, not a crash."""
    med, failure = attempt("joint model", lambda: A.mediation_hook(review, seed, say))
    if failure is None:
        return med
    say(f"joint model failed: {failure.message}")
    return {"paths": {"a": None, "b": None, "c_prime": None, "indirect": None},
            "notes": [f"Joint model failed: {failure.text}"], "note": "joint model failed"}


def run_record(review, seed: int, command: str, out: Path, failures: list[Failure]) -> dict:
    """What this build did: the regenerating command, inputs, version, output folder, failures."""
    cmd = command + ("" if is_reconstruction(review) or "--data" in command else " --data <your CSV>")
    return {"command": f"{cmd} --seed {seed}", "data_hash": review.content_hash(), "seed": seed,
            "version": _version(), "out": str(out), "failed_sections": [f.to_dict() for f in failures]}


def _write(out: Path, review, kf: Doc, sections: list[Section], n_pooled: int, seed: int) -> tuple[Path, Path, Path]:
    """Write report.html, report.md and figures/; the three paths (stale files: report_dir)."""
    title = f"Bayesian evidence synthesis: {review.name}"
    subtitle = ("Video feedback for parental sensitivity and attachment security (Cochrane CD012348) — "
                "reanalysis of a public-source reconstruction" if is_reconstruction(review)
                else f"{len(review.studies())} studies; {n_pooled} pooled analyses")
    footer = f"Generated by vfsynth {_version()} with seed {seed}. Self-contained: no network resources."
    figs = all_figures(kf, sections)
    fig_dir = out / "figures"
    fig_dir.mkdir(exist_ok=True)
    for name, png in figs.items():
        (fig_dir / name).write_bytes(png)
    html_path, md_path = out / "report.html", out / "report.md"
    html_path.write_text(render_html(title, subtitle, kf, sections, footer), encoding="utf-8")
    md_path.write_text(render_markdown(title, subtitle, kf, sections, footer), encoding="utf-8")
    return html_path, md_path, out / "summary.json"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vfsynth")
    except PackageNotFoundError:
        return "dev"
