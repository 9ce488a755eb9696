"""Build the report of a review: fit (or reload) every analysis, summarise, plot, assemble.

:func:`build_report` is what ``vfsynth report`` runs. Fits go through
:func:`vfsynth.fits.runner.fit_univariate`, which reuses saved fits of the same
configuration, so a second report of unchanged data samples nothing. The fitting function is
injectable (``fitter=``) so that tests can build a report from known posteriors in seconds.

Sections: key findings (first screen), data, models and priors, diagnostics, results,
summary of findings, sensitivity and model comparison, living review, reproducibility.
"""

from __future__ import annotations

import json
import math
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vfsynth.reports import plots as P
from vfsynth.reports import sensitivity_plots as SP
from vfsynth.reports import sof as SOF
from vfsynth.reports import summaries as S
from vfsynth.reports.html_report import Doc, Section, all_figures, render_html, render_markdown

BUNDLED_NAME = "CD012348"
DEFAULT_SEED = 20190101
#: Folder of the committed canonical report of the bundled review.
BUNDLED_REPORT_DIR = Path(__file__).resolve().parent / "bundled"

Fitter = Callable[[Any, Any, str | None, int, Callable[[str], None]], tuple[Any, dict]]


# ----------------------------------------------------------------------------------------------
@dataclass
class AnalysisResult:
    """One fitted analysis (outcome × time point) and what the report shows of it."""

    outcome: str
    timepoint: str
    table: Any
    model: str = ""
    dt: Any = None
    info: dict = field(default_factory=dict)
    summary: S.AnalysisSummary | None = None
    error: str | None = None
    #: cumulative (living-review) table, :func:`vfsynth.fits.living.cumulative`, once built
    living: Any = None

    @property
    def label(self) -> str:
        return f"{self.outcome.replace('_', ' ')} ({self.timepoint})"

    @property
    def slug(self) -> str:
        return "".join(c if c.isalnum() else "_" for c in f"{self.outcome}_{self.timepoint}").strip("_")


@dataclass
class ReportResult:
    """Paths written and the numbers behind them."""

    html: Path
    markdown: Path
    summary_json: Path
    seconds: float
    analyses: list[AnalysisResult]
    key_findings: list[dict]


class Progress:
    """Progress messages on stderr with elapsed time (silent when disabled)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        if self.enabled:
            print(f"[vfsynth report {time.perf_counter() - self.t0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def runner_fitter(review, table, model: str | None, seed: int, say: Callable[[str], None]) -> tuple[Any, dict]:
    """Fit with :func:`vfsynth.fits.runner.fit_univariate` (cached); returns (DataTree, info)."""
    from vfsynth.fits.runner import fit_univariate

    fit = fit_univariate(table, model=model, seed=seed, on_event=say)
    cfg = fit.config or {}
    return fit.dt, {
        "model": fit.model,
        "tau_prior": fit.tau_prior,
        "mu_prior": fit.mu_prior,
        "fit_id": fit.fit_id,
        "cached": fit.cached,
        "path": str(fit.path) if fit.path else None,
        "sampler": _cfg(cfg, "sampler"),
        "chains": _cfg(cfg, "chains"),
        "draws": _cfg(cfg, "draws"),
        "tune": _cfg(cfg, "tune"),
        "seed": seed,
        "notes": list(fit.notes),
    }


def _cfg(cfg: dict, key: str):
    if key in cfg:
        return cfg[key]
    for v in cfg.values():
        if isinstance(v, dict) and key in v:
            return v[key]
    return None


# ----------------------------------------------------------------------------------------------
def run_analyses(
    review,
    *,
    seed: int,
    fitter: Fitter,
    say: Callable[[str], None],
    min_k: int = 2,
    control_risk: float | None = None,
    mcid: dict[str, tuple[float, ...]] | None = None,
    ci_kind: str = "eti",
) -> tuple[list[AnalysisResult], list[AnalysisResult]]:
    """Fit and summarise every analysis with at least ``min_k`` studies.

    Returns (pooled analyses, single-study analyses shown unpooled). A failing fit is kept
    with its error so the report shows it rather than dropping it.
    """
    pooled, single = [], []
    for outcome, timepoint in review.analyses():
        try:
            table = review.effects(outcome, timepoint)
        except (ValueError, KeyError) as exc:
            pooled.append(AnalysisResult(outcome, timepoint, None, error=f"effects could not be computed: {exc}"))
            continue
        res = AnalysisResult(outcome, timepoint, table)
        if table.k < min_k:
            single.append(res)
            continue
        say(f"{res.label}: k={table.k} ({table.measure})")
        try:
            dt, info = fitter(review, table, None, seed, say)
            res.dt, res.info, res.model = dt, info, info.get("model", "random-effects")
            pub = S.published_control_risk(getattr(review, "published", None), outcome) if table.measure == "logOR" else None
            res.summary = S.summarize_analysis(
                dt,
                table,
                model=res.model,
                mcid=(mcid or {}).get(table.measure),
                ci_kind=ci_kind,
                published_risk=pub,
                user_risk=control_risk,
                seed=seed,
            )
        except Exception as exc:  # noqa: BLE001 - one failed analysis must not kill the report
            res.error = f"{type(exc).__name__}: {exc}"
            say(f"{res.label}: FAILED ({res.error})")
            res.info.setdefault("traceback", traceback.format_exc(limit=4))
        pooled.append(res)
    return pooled, single


# ----------------------------------------------------------------------------------------------
def _fmt_p(p: float) -> str:
    return ">0.999" if p > 0.999 else ("<0.001" if p < 0.001 else f"{p:.3f}")


def _safe_fig(doc: Doc, make, name: str, caption: str) -> None:
    """Add a figure; a plotting error becomes a visible (red) failure box instead of a crash."""
    try:
        doc.figure(make(), name, caption)
    except Exception as exc:  # noqa: BLE001
        import matplotlib.pyplot as plt

        plt.close("all")
        doc.callout("fail", f"Figure '{caption}' could not be drawn", text=f"{type(exc).__name__}: {exc}")


def _sampler_name(sampler) -> str:
    """``{"name": "numpyro", ...}`` or ``"numpyro"`` -> ``"numpyro"``."""
    return str(sampler.get("name", sampler)) if isinstance(sampler, dict) else str(sampler)


def is_reconstruction(review) -> bool:
    return getattr(review, "name", "") == BUNDLED_NAME


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
    by = {(s.outcome, s.timepoint): s for s in sof_rows}
    for r in results:
        if r.summary is None:
            continue
        a, e = r.summary, r.summary.effect
        s = by[(r.outcome, r.timepoint)]
        mcid = ", ".join(f"P(>{t:g}) {p:.2f}" for t, p in e.p_mcid.items())
        het = "—" if a.heterogeneity is None else f"tau {a.heterogeneity.tau_median:.2f}"
        pr = a.prediction
        pi = SOF.fmt_effect(a.measure, pr.median, pr.ci_low, pr.ci_high, label=False).split(" (")[1].rstrip(")")
        certainty = []
        if s.concern_inconsistency:
            certainty.append("inconsistency")
        if s.concern_imprecision:
            certainty.append("imprecision")
        rows.append(
            [
                r.label,
                f"{a.k} ({'N ?' if not math.isfinite(a.n_total) else f'{a.n_total:.0f}'})",
                SOF.fmt_effect(a.measure, e.median, e.ci_low, e.ci_high),
                _fmt_p(e.p_benefit),
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
                "effect": SOF.fmt_effect(a.measure, e.median, e.ci_low, e.ci_high),
                "p_benefit": e.p_benefit,
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


def data_section(review, results, single) -> Doc:
    d = Doc()
    if is_reconstruction(review):
        d.callout(
            "warn",
            "What these data are",
            text=(
                "A partial reconstruction of CD012348 from public sources, not the review's data set (its RevMan "
                "file is not public and some trials' numbers came from unpublished author data). Most effects are "
                "standardised effects reported in trial abstracts, some covariate-adjusted; standard errors derived "
                "from a total N assume the split stated per row. Results will differ from the review's."
            ),
        )
    else:
        path = getattr(review, "meta", {}).get("path")
        d.para(f"Review '{review.name}'" + (f" read from {path}" if path else "") + f": {len(review.studies())} studies, {len(review.rows)} data rows.")
    pub = getattr(review, "published", None)
    if pub is not None and len(pub):
        d.heading("The review's published pooled results (for comparison)")
        cols = [c for c in ("label", "timepoint", "measure", "k", "n_participants", "estimate", "ci_low", "ci_high", "certainty") if c in pub.columns]
        d.table(cols, [[_cell(v) for v in row] for row in pub[cols].itertuples(index=False)], wrap=True)
    nf = getattr(review, "not_found", None)
    if nf is not None and len(nf):
        d.heading("Studies whose numbers are missing (not in any analysis below)")
        cols = [c for c in ("study", "outcome", "timepoint", "what_is_known") if c in nf.columns]
        d.table(cols, [list(r) for r in nf[cols].itertuples(index=False)], wrap=True)
    for r in results:
        if r.table is None:
            continue
        t = r.table
        d.heading(f"{r.label}: {t.k} studies ({t.measure}, benefit scale)")
        d.table(
            ["Study", "Estimate", "SE", "N", "How derived", "Source"],
            [
                [s, f"{y:.3f}", f"{se:.3f}", "" if not np.isfinite(n) else f"{n:.0f}", dv, src]
                for s, y, se, n, dv, src in zip(t.study, t.estimate, t.se, t.n_total, t.derivation, t.source, strict=True)
            ],
            numeric={1, 2, 3},
            wrap=True,
        )
    if single:
        d.heading("Outcomes with a single study (not pooled)")
        z = 1.959963984540054
        d.table(
            ["Outcome", "Study", "Estimate (95% CI)", "Measure", "How derived"],
            [
                [r.label, r.table.study[0],
                 SOF.fmt_effect(r.table.measure, r.table.estimate[0], r.table.estimate[0] - z * r.table.se[0],
                                r.table.estimate[0] + z * r.table.se[0], label=False),
                 S.display_scale(r.table.measure), r.table.derivation[0]]
                for r in single
            ],
            wrap=True,
        )
    return d


def models_section(results) -> Doc:
    d = Doc()
    d.para(
        "Each outcome × time point is a Bayesian random-effects meta-analysis (normal-normal hierarchical model "
        "on the study estimates; binomial-normal on 2×2 counts where every study has them): "
        "y_i ~ N(theta_i, se_i²), theta_i ~ N(mu, tau²). Priors are the package defaults for the measure unless stated."
    )
    rows = []
    for r in results:
        if r.dt is None:
            continue
        i = r.info
        tp, mp = i.get("tau_prior"), i.get("mu_prior")
        rows.append(
            [
                r.label,
                r.model,
                getattr(tp, "spec", str(tp)) if tp is not None else "— (common effect)",
                getattr(mp, "spec", str(mp)),
                f"{_sampler_name(i.get('sampler'))} {i.get('chains')}×{i.get('draws')} (+{i.get('tune')} tune), "
                f"seed {i.get('seed')}",
                # Whether the fit was sampled now or reused from the store is said in the progress
                # log, not here: the report is a function of the inputs only.
                f"{i.get('fit_id', '')}",
            ]
        )
    d.table(["Analysis", "Model", "tau prior", "mu prior", "Sampler", "Fit id"], rows)
    cites = {}
    for r in results:
        for key in ("tau_prior", "mu_prior"):
            p = r.info.get(key)
            if p is not None and getattr(p, "citation", ""):
                cites[getattr(p, "spec", "")] = p.citation
    if cites:
        d.bullets([f"{k}: {v}" for k, v in cites.items()])
    for r in results:
        if r.dt is not None and "prior" in r.dt.children:
            _safe_fig(d, lambda r=r: P.prior_posterior_plot(r.dt), f"prior_posterior_{r.slug}", f"Prior (dashed/lighter) vs posterior — {r.label}")
    return d


def diagnostics_section(results) -> tuple[Doc, str]:
    d = Doc()
    bad = [r for r in results if r.error or (r.summary and not r.summary.diagnostics.ok)]
    if bad:
        d.callout("fail", "Failed fits — their results are not trustworthy", items=[
            f"{r.label}: {r.error or '; '.join(r.summary.diagnostics.problems)}" for r in bad])
    else:
        d.callout("ok", "All fits passed the convergence checks", text="R-hat < 1.01, bulk and tail ESS ≥ 100 per chain, no divergent transitions.")
    rows = []
    for r in results:
        if r.summary is None:
            rows.append([r.label, "—", "—", "—", "—", "ERROR"])
            continue
        g = r.summary.diagnostics
        rows.append([r.label, f"{g.rhat_max:.3f}", f"{g.ess_bulk_min:.0f}", f"{g.ess_tail_min:.0f}", str(g.divergences),
                     "passed" if g.ok else "FAILED: " + "; ".join(g.problems)])
    d.table(["Analysis", "max R-hat", "min bulk ESS", "min tail ESS", "divergences", "verdict"], rows, numeric={1, 2, 3, 4})
    for r in results:
        if r.dt is None:
            continue
        d.heading(r.label, level=3)
        _safe_fig(d, lambda r=r: P.rank_plot(r.dt), f"rank_{r.slug}", f"Rank plots per chain (uniform = well mixed) — {r.label}")
        _safe_fig(d, lambda r=r: P.trace_plot(r.dt), f"trace_{r.slug}", f"Trace plots — {r.label}")
        if "posterior_predictive" in r.dt.children and "observed_data" in r.dt.children:
            var = "y" if "y" in r.dt["posterior_predictive"].dataset.data_vars else next(iter(r.dt["posterior_predictive"].dataset.data_vars))
            _safe_fig(d, lambda r=r, var=var: P.ppc_plot(r.dt, var), f"ppc_{r.slug}", f"Posterior predictive check — {r.label}")
    return d, ("fail" if bad else "ok")


def results_section(results, mediation: dict | None) -> Doc:
    d = Doc()
    for r in results:
        d.heading(r.label, level=3, anchor=f"res-{r.slug}")
        if r.summary is None:
            d.callout("fail", "Not fitted", text=r.error or "")
            continue
        a, e = r.summary, r.summary.effect
        if not a.diagnostics.ok:
            d.callout("fail", "This fit failed its convergence checks; numbers below are unreliable.", items=a.diagnostics.problems)
        pr = a.prediction
        rows = [
            ["Pooled effect (median)", SOF.fmt_effect(a.measure, e.median, e.ci_low, e.ci_high)],
            ["Posterior mean (SD), model scale", f"{e.mean:.3f} ({e.sd:.3f})"],
            ["P(benefit) = P(effect > 0)", f"{e.p_benefit:.4f} (MCSE {e.p_benefit_mcse:.4f})"],
        ]
        rows += [[f"P(effect > {t:g})", f"{p:.3f}"] for t, p in e.p_mcid.items()]
        if e.rope is not None:
            rows.append([f"P(inside ROPE {e.rope[0]:g} to {e.rope[1]:g})", f"{e.p_rope:.3f}"])
        rows.append(["Prediction for a new study (95%)", SOF.fmt_effect(a.measure, pr.median, pr.ci_low, pr.ci_high)])
        rows.append(["P(new study shows benefit)", f"{pr.p_benefit:.3f}"])
        if a.heterogeneity is not None:
            h = a.heterogeneity
            rows.append(["tau (between-study SD)", f"{h.tau_median:.3f} ({h.tau_low:.3f} to {h.tau_high:.3f})"])
            rows.append(["I²-like share tau²/(tau²+s²)", f"{100 * h.share_median:.0f}% ({100 * h.share_low:.0f}% to {100 * h.share_high:.0f}%); s² = {h.s2:.4f}"])
        d.table(["Quantity", "Value"], rows)
        if a.absolute:
            d.table(
                ["Control-arm risk", "Control per 1000", "Intervention per 1000 (95% CrI)", "Difference per 1000 (95% CrI)", "NNT"],
                [[ab.label, f"{ab.control_risk * 1000:.0f}",
                  f"{ab.intervention_median:.0f} ({ab.intervention_low:.0f} to {ab.intervention_high:.0f})",
                  f"{ab.difference_median:+.0f} ({ab.difference_low:+.0f} to {ab.difference_high:+.0f})", ab.nnt]
                 for ab in a.absolute],
            )
        mu = S.posterior_var(r.dt, "mu")
        _safe_fig(d, lambda a=a, r=r: P.forest_plot(a, title=f"{r.label}"), f"forest_{r.slug}",
                  f"Forest plot — {r.label}: observed (grey squares) and shrunken (blue) study estimates, pooled diamond, prediction bar")
        _safe_fig(d, lambda mu=mu, a=a, r=r: P.density_plot(mu, a.measure, title=f"Posterior of the pooled effect — {r.label}"),
                  f"density_{r.slug}", f"Posterior of the pooled effect with P(benefit) shaded — {r.label}")
        _safe_fig(d, lambda mu=mu, a=a, r=r: P.benefit_curve(mu, a.measure, tuple(a.effect.p_mcid), prediction=S.prediction_draws(r.dt)),
                  f"benefit_{r.slug}", f"P(effect > threshold) — {r.label}")
    d.heading("Mediation: video feedback → sensitivity → attachment", level=3, anchor="mediation")
    if mediation is None:
        sens = next((r for r in results if r.outcome == "sensitivity" and r.timepoint == "post" and r.summary), None)
        paths = {"a": None, "b": None, "c_prime": None, "indirect": None}
        if sens is not None:
            e = sens.summary.effect
            paths["a"] = (e.median, e.ci_low, e.ci_high)
        d.callout("info", "Joint mediation model not run in this report",
                  text="Path a is the univariate sensitivity effect; b, c′ and the indirect effect need the joint model "
                       "(vfsynth.fits.joint_runner), which was not available. They are drawn as 'prior only'.")
        _safe_fig(d, lambda paths=paths: P.mediation_diagram(paths, note="a: univariate sensitivity posterior (SMD)"), "mediation",
                  "Mediation diagram (a from the univariate model)")
    else:
        if mediation.get("problems"):
            d.callout("fail", "The joint model failed its convergence checks", items=mediation["problems"])
        if mediation.get("scale"):
            d.para(f"Scale: {mediation['scale']}.")
        for line in mediation.get("notes", []):
            d.para(str(line))
        _safe_fig(d, lambda: P.mediation_diagram(mediation["paths"], prior_only=mediation.get("prior_only", ()),
                                                 note=mediation.get("note", "")), "mediation",
                  "Mediation diagram annotated with the joint model's posterior medians [95% CrI]")
        if mediation.get("rows"):
            d.table(["Quantity", "Median", "95% interval", "Source", "Posterior SD / prior SD"], mediation["rows"])
    return d


def sof_section(rows: list[SOF.SofRow]) -> Doc:
    d = Doc()
    d.para("Summary of findings from the posteriors (primary model per outcome). The columns on inconsistency, "
           "imprecision and risk of bias are the statistical inputs to a GRADE certainty rating, not the rating.")
    d.table(SOF.HEADER, [r.cells() for r in rows])
    return d


# ----------------------------------------------------------------------------------------------
# optional stages written by other modules; each hook is called only if its module exists
def _optional(modname: str):
    import importlib

    try:
        return importlib.import_module(modname)
    except ModuleNotFoundError as exc:
        if exc.name == modname:
            return None
        raise


def mediation_hook(review, seed: int, say) -> dict | None:
    """Joint mediation model (:func:`vfsynth.fits.joint_runner.fit_joint` +
    :func:`~vfsynth.fits.joint_runner.summarize_joint`), if that module exists.

    Paths whose quantity depends on an outcome without data carry the joint runner's
    ``prior_only`` flag and are drawn as "prior only" with the prior's interval.
    """
    jr = _optional("vfsynth.fits.joint_runner")
    if jr is None or not hasattr(jr, "fit_joint") or not hasattr(jr, "summarize_joint"):
        return None
    say("joint mediation model")
    fit = jr.fit_joint(review, seed=seed, on_event=say)
    js = jr.summarize_joint(fit)
    med = js.get("mediation", {})
    paths, prior_only, rows = {}, set(), []
    for key in ("a", "b", "c_prime", "indirect"):
        q = med.get(key)
        if not q:
            paths[key] = None
            continue
        centre = q.get("median", q.get("mean"))
        paths[key] = (float(centre), float(q["q2.5"]), float(q["q97.5"]))
        if q.get("prior_only"):
            prior_only.add(key)
    for key in ("a", "b", "c_prime", "indirect", "total", "proportion_mediated"):
        q = med.get(key)
        if q:
            rows.append([key, f"{q.get('median', q.get('mean')):.3f}", f"{q['q2.5']:.3f} to {q['q97.5']:.3f}",
                         q.get("label", ""),
                         # a learned ratio means nothing for a quantity the data cannot inform
                         "—" if q.get("prior_only") or q.get("learned_ratio") is None else f"{q['learned_ratio']:.2f}"])
    verdict = getattr(fit, "verdict", {}) or {}
    notes = list(getattr(fit, "notes", []))
    return {"paths": paths, "prior_only": prior_only, "rows": rows, "notes": notes,
            "problems": list(verdict.get("problems", [])), "scale": js.get("scale", ""),
            "note": "posterior median [95% CrI]; dashed = prior only (no data on that path)"}


def comparison_section(review, results, seed: int, say) -> tuple[Doc, str, dict]:
    """Model comparison (:func:`vfsynth.fits.compare.compare_models`), sensitivity analyses
    (:mod:`vfsynth.fits.sensitivity`), moderators and small-study effects
    (:mod:`vfsynth.fits.moderators`) for each pooled analysis, each with its table and plot
    (:mod:`vfsynth.reports.sensitivity_plots`). Model comparison, moderators and small-study
    effects need k >= 3. Each part runs on its own: a part that fails is shown as a red
    callout with the error and the rest of the section is still built."""
    d = Doc()
    status = "ok"
    robustness: dict = {}
    cmp_mod = _optional("vfsynth.fits.compare")
    sens_mod = _optional("vfsynth.fits.sensitivity")
    mod_mod = _optional("vfsynth.fits.moderators")
    if cmp_mod is None and sens_mod is None and mod_mod is None:
        d.callout("warn", "Not available in this build",
                  text="vfsynth.fits.compare / sensitivity / moderators are not installed; this section is a hook.")
        return d, "hook", robustness
    for r in results:
        if r.summary is None:
            continue
        d.heading(r.label, level=3)
        if cmp_mod is not None and r.table.k < 3:
            d.para(f"Model comparison needs at least 3 studies (k = {r.table.k}).")
        elif cmp_mod is not None:
            say(f"model comparison: {r.label}")
            try:
                c = cmp_mod.compare_models(r.table, seed=seed, review=review)
                tab = c.table.reset_index()
                cols = [x for x in ("model", "rank", "elpd", "se", "elpd_diff", "dse", "weight", "max_pareto_k", "n_refit") if x in tab.columns]
                d.para("Leave-one-study-out expected log predictive density (exact for the common- and random-effects models; PSIS-LOO with exact refits where Pareto k > 0.7 for the others; PSIS beside exact in the Pareto-k plot) and stacking weights.")
                d.table(cols, [[_num(v) for v in row] for row in tab[cols].itertuples(index=False)])
                if c.notes:
                    d.bullets([str(n) for n in c.notes])
                _safe_fig(d, lambda c=c, r=r: SP.pareto_k_plot(c.pointwise, title=f"Pareto k per study — {r.label}"),
                          f"pareto_k_{r.slug}",
                          f"Pareto k of each study's leave-one-out PSIS estimate under each model (open markers: replaced by an "
                          f"exact refit; k > 0.7 is unreliable) — {r.label}")
                _safe_fig(d, lambda c=c, r=r: SP.comparison_plot(c.table, title=f"Model comparison — {r.label}"),
                          f"comparison_{r.slug}", f"Leave-one-study-out elpd (± 2 se of the difference to the best model) "
                                                  f"and stacking weights — {r.label}")
            except Exception as exc:  # noqa: BLE001
                status = "fail"
                d.callout("fail", "Model comparison failed", text=f"{type(exc).__name__}: {exc}")
        if sens_mod is not None:
            robustness[(r.outcome, r.timepoint)] = _sensitivity_block(d, sens_mod, r, seed, say)
        else:
            d.para("Sensitivity analyses (priors, leave-one-out): vfsynth.fits.sensitivity not available.")
        if mod_mod is not None and r.table.k >= 3:
            if _moderator_block(d, mod_mod, review, r, seed, say) != "ok":
                status = "fail"
            rob = robustness.setdefault((r.outcome, r.timepoint), {})
            if _small_study_block(d, mod_mod, r, seed, say, rob) != "ok":
                status = "fail"
        elif mod_mod is not None:
            d.para(f"Moderator and small-study-effect analyses need at least 3 studies (k = {r.table.k}).")
    if not d.html:
        d.para("No pooled analysis to compare.")
    return d, status, robustness


def _moderator_columns(review) -> list[str]:
    """The moderators analysed: as ``vfsynth sensitivity`` (the bundled review's documented
    set where present, else every column of the user's moderators table except identifiers
    and free-text references)."""
    from vfsynth.reports.commands.sensitivity_cmd import _moderator_columns as cols

    return cols(review)


def _interval(mean: float, low: float, high: float, median: float = math.nan) -> str:
    """'0.123 (-0.045 to 0.301)'; 'median 0.12 (...)' where only quantiles exist (tau rows)."""
    if np.isfinite(mean):
        return f"{mean:.3f} ({low:.3f} to {high:.3f})"
    if np.isfinite(median):
        return f"median {median:.3f} ({low:.3f} to {high:.3f})"
    return ""


def _moderator_block(d: Doc, mod_mod, review, r: AnalysisResult, seed: int, say) -> str:
    """Meta-regression / subgroup analysis for each moderator
    (:func:`vfsynth.fits.moderators.moderator_analysis`, exact engine): the table of
    coefficients and subgroup differences, every excluded study with its reason, and
    :func:`vfsynth.reports.sensitivity_plots.moderator_plot`. Returns "ok" or "fail"."""
    d.heading(f"Moderators — {r.label}", level=4)
    mods = getattr(review, "moderators", None)
    if mods is None or len(mods) == 0:
        d.para("This review has no moderators table (load it with a moderators CSV), so no moderator analysis was run.")
        return "ok"
    say(f"moderators: {r.label}")
    try:
        columns = _moderator_columns(review)
        if not columns:
            d.para("The moderators table has no column to analyse.")
            return "ok"
        md = mod_mod.moderator_analysis(review, r.outcome, r.timepoint, moderators=columns, engine="exact", seed=seed)
    except Exception as exc:  # noqa: BLE001
        d.callout("fail", "Moderator analysis failed", text=f"{type(exc).__name__}: {exc}")
        return "fail"
    scale = "log odds ratio" if r.table.measure == "logOR" else r.table.measure
    d.para(f"Bayesian meta-regression (continuous moderators, per SD) and subgroup analysis (categorical moderators) "
           f"of the pooled effect, exact posterior by numerical integration over tau, default priors; one moderator at "
           f"a time. Effects on the {scale} scale; P(> 0) is the posterior probability that the coefficient or "
           f"subgroup difference is positive. Subgroup analyses are observational comparisons between trials.")
    est = md[md["term"] != "not estimable"]
    if len(est):
        med = est["median"] if "median" in est.columns else np.full(len(est), np.nan)
        d.table(
            ["Moderator", "Term", "Mean (95% CrI)", "P(> 0)", "Studies used"],
            [[row.moderator, row.term, _interval(row.mean, row.low, row.high, m),
              "" if not np.isfinite(row.p_positive) else f"{row.p_positive:.3f}", f"{row.k_used:.0f}"]
             for row, m in zip(est.itertuples(index=False), med, strict=True)],
            numeric={3, 4},
        )
    # Excluded studies and unusable moderators are always listed (never dropped silently).
    items = []
    for mod, sub in md.groupby("moderator", sort=False):
        ex = sub["excluded"].iloc[0]
        if sub["term"].iloc[0] == "not estimable":
            items.append(f"{mod}: not estimable — {ex}")
        elif isinstance(ex, str) and ex:
            items.append(f"{mod}: excluded {ex}")
    if items:
        d.callout("warn", "Studies excluded from moderator analyses, and moderators that could not be estimated", items=items)
    else:
        d.para("Every study had a usable value of every moderator; none was excluded.")
    if len(est):
        _safe_fig(d, lambda: SP.moderator_plot(md, title=f"Moderators — {r.label}"), f"moderators_{r.slug}",
                  f"Meta-regression coefficients and subgroup differences (mean, 95% CrI; {scale} scale) — {r.label}")
    return "ok"


def _small_study_block(d: Doc, mod_mod, r: AnalysisResult, seed: int, say, rob: dict | None = None) -> str:
    """Small-study effects (:func:`vfsynth.fits.moderators.small_study_effects`): unadjusted,
    PET, PEESE, PET-PEESE (exact) and the step-function selection model (NUTS), as a table,
    :func:`vfsynth.reports.sensitivity_plots.small_study_plot` and one sentence on how the
    adjustments move P(benefit). If the selection model fails, the exact rows are still shown
    and the failure is shown in red. The range of P(benefit) over the adjustments (and whether
    one crosses 0.5 / 0.95) is stored in ``rob["small_study"]`` for the key findings.
    Returns "ok" or "fail"."""
    d.heading(f"Small-study effects — {r.label}", level=4)
    say(f"small-study effects: {r.label}")
    status = "ok"
    try:
        ss = mod_mod.small_study_effects(r.table, seed=seed)
    except Exception as exc:  # noqa: BLE001
        status = "fail"
        d.callout("fail", "Selection model for small-study effects failed", text=f"{type(exc).__name__}: {exc}")
        try:
            ss = mod_mod.small_study_effects(r.table, seed=seed, selection=False)
        except Exception as exc2:  # noqa: BLE001
            d.callout("fail", "Small-study-effect analysis failed", text=f"{type(exc2).__name__}: {exc2}")
            return status
    scale = "log odds ratio" if r.table.measure == "logOR" else r.table.measure
    d.para(f"Pooled effect without adjustment and adjusted for small-study effects ({scale} scale): PET and PEESE "
           "(meta-regression on the standard error / variance; the intercept is the effect of an infinitely large "
           "study; Stanley & Doucouliagos 2014), PET-PEESE (PEESE if PET's 95% interval excludes 0) and a "
           "step-function selection model on one-sided p-values (Vevea & Hedges 1995; NUTS).")
    d.table(
        ["Model", "Effect mean (95% CrI)", "P(benefit)", "Small-study slope mean; P(> 0)", "Detail"],
        [[row.model, _interval(row.mean, row.low, row.high), f"{row.p_benefit:.3f}",
          "" if not np.isfinite(row.slope_mean) else f"{row.slope_mean:.3f}; {row.slope_p_positive:.3f}", row.detail]
         for row in ss.itertuples(index=False)],
        numeric={2},
    )
    d.para(small_study_sentence(ss, r.table.k))
    divergent = [str(row.model) for row in ss.itertuples(index=False) if "divergen" in str(row.detail).lower()]
    if divergent:
        d.callout("warn", "Sampler warnings in the small-study models",
                  items=[f"{m}: {row_detail}" for m, row_detail in
                         ((str(row.model), str(row.detail)) for row in ss.itertuples(index=False)) if m in divergent])
    if rob is not None and len(ss) > 1:
        p = ss["p_benefit"].to_numpy(float)
        crossed = any(((v > t) != (p[0] > t)) for v in p[1:] for t in (0.5, 0.95))
        rob["small_study"] = (float(p[1:].min()), float(p[1:].max()), len(p) - 1, crossed)
    _safe_fig(d, lambda: SP.small_study_plot(ss, r.table.measure, title=f"Small-study effects — {r.label}"),
              f"small_study_{r.slug}", f"Pooled effect unadjusted and under each small-study adjustment (mean, 95% CrI) — {r.label}")
    return status


def small_study_sentence(ss, k: int) -> str:
    """One sentence: how the small-study adjustments move P(benefit) from the unadjusted value
    (first row of :func:`vfsynth.fits.moderators.small_study_effects`), and under which
    adjustments it crosses 0.95 or 0.5."""
    p = ss["p_benefit"].to_numpy(float)
    names = [str(m).split(" (")[0] for m in ss["model"]]
    p0, adj = p[0], p[1:]
    if not len(adj):
        return f"P(benefit) without adjustment is {p0:.3f}; no adjustment could be fitted."
    text = (f"Adjusting for small-study effects moves P(benefit) from {p0:.3f} (unadjusted) to between "
            f"{adj.min():.3f} and {adj.max():.3f} ({', '.join(f'{n} {v:.3f}' for n, v in zip(names[1:], adj, strict=True))})")
    crossings = []
    for t in (0.95, 0.5):
        which = [n for n, v in zip(names[1:], adj, strict=True) if (v > t) != (p0 > t)]
        if which:
            crossings.append(f"{'below' if p0 > t else 'above'} {t:g} under {_and_list(which)}")
    if crossings:
        text += "; it moves " + " and ".join(crossings) + ", so the conclusion depends on whether small-study effects are adjusted for"
    else:
        text += "; no adjustment moves it across 0.5 or 0.95"
    if k < 10:
        text += (f" — with only {k} studies these adjustments are very imprecise (Sterne et al. 2011, BMJ 343:d4002, "
                 "advise against tests for funnel-plot asymmetry with fewer than 10 studies)")
    return text + "."


def _and_list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _sensitivity_block(d: Doc, sens_mod, r: AnalysisResult, seed: int, say) -> dict:
    """Prior grid, leave-one-study-out influence and power-scaling for one analysis
    (:func:`vfsynth.fits.sensitivity.prior_grid`, ``influence``, ``power_scaling``).

    Returns the robustness facts shown in the key findings: the range of P(benefit) over the
    prior grid and over leave-one-study-out fits, and whether any crosses 0.5 / 0.95.
    """
    t = r.table
    rob: dict = {}
    say(f"sensitivity analyses: {r.label}")
    try:
        g = sens_mod.prior_grid(t, seed=seed)
        d.para(f"Prior sensitivity ({g['engine'].iloc[0]} posterior under each prior of the registry):")
        d.table(
            ["Prior", "Varies", "tau prior", "mu prior", "mu median (95% CrI)", "tau median", "P(benefit)"],
            [[row.prior, row.varies, row.tau_prior, row.mu_prior,
              f"{row.mu_median:.3f} ({row.mu_low:.3f} to {row.mu_high:.3f})", f"{row.tau_median:.3f}", f"{row.p_benefit:.3f}"]
             for row in g.itertuples(index=False)],
        )
        flags = g.attrs.get("flags") or []
        rob["prior"] = (float(g["p_benefit"].min()), float(g["p_benefit"].max()), len(g), bool(flags))
        if flags:
            d.callout("warn", "The conclusion depends on the prior", items=[str(f) for f in flags])
        else:
            d.callout("ok", "No prior in the grid moves P(benefit) across 0.5 or 0.95.")
        _safe_fig(d, lambda: SP.prior_grid_plot(g, t.measure, title=f"Prior sensitivity — {r.label}"), f"prior_grid_{r.slug}",
                  f"Pooled effect (median, 95% CrI) under each prior of the grid; red: P(benefit) on the other side of "
                  f"0.5 or 0.95 than under the default prior — {r.label}")
    except Exception as exc:  # noqa: BLE001
        d.callout("fail", "Prior sensitivity failed", text=f"{type(exc).__name__}: {exc}")
    try:
        inf = sens_mod.influence(t, seed=seed)
        d.para("Leave-one-study-out influence (default priors):")
        d.table(
            ["Omitted", "mu mean (95% CrI)", "change in mu", "P(benefit)"],
            [[row.omitted, f"{row.mu_mean:.3f} ({row.mu_low:.3f} to {row.mu_high:.3f})", f"{row.delta_mu:+.3f}", f"{row.p_benefit:.3f}"]
             for row in inf.itertuples(index=False)],
        )
        flags = inf.attrs.get("flags") or []
        rob["loso"] = (float(inf["p_benefit"].min()), float(inf["p_benefit"].max()), len(inf) - 1, bool(flags))
        if flags:
            d.callout("warn", "A single study changes the conclusion", items=[str(f).replace("prior", "omission") for f in flags])
        _safe_fig(d, lambda: SP.influence_plot(inf, t.measure, title=f"Influence — {r.label}: leave one study out"),
                  f"influence_{r.slug}", f"Pooled effect (mean, 95% CrI) with each study left out; dotted line: all "
                                         f"studies — {r.label}")
    except Exception as exc:  # noqa: BLE001
        d.callout("fail", "Influence analysis failed", text=f"{type(exc).__name__}: {exc}")
    try:
        ps = sens_mod.power_scaling(t, seed=seed)
        d.para("Power-scaling sensitivity (Kallioinen et al. 2023; > 0.05 flags prior-data conflict or weak likelihood):")
        ps = ps.reset_index()
        d.table([str(c) for c in ps.columns], [[_num(v) for v in row] for row in ps.itertuples(index=False)])
    except Exception as exc:  # noqa: BLE001
        d.callout("fail", "Power-scaling check failed", text=f"{type(exc).__name__}: {exc}")
    return rob


def _living_priors(r: AnalysisResult):
    """(tau prior, mu prior, note) for the cumulative table of ``r``: the fit's own priors, so
    that the table's last row is the all-studies posterior of the same model.

    A common-effect fit gives ``tau = 0`` (the exact engine's fixed-tau case); models other than
    the normal–normal one (binomial-normal, t) are approximated by the NNHM with the same priors
    and the note says so; a failed fit (no priors recorded) falls back to the defaults."""
    from vfsynth.models import priors as PR

    t = r.table
    tp, mp = r.info.get("tau_prior"), r.info.get("mu_prior")
    if isinstance(tp, str):
        tp = PR.parse_prior(tp, target="tau", table=t)
    if isinstance(mp, str):
        mp = PR.parse_prior(mp, target="mu", table=t)
    note = ""
    if r.model == "common-effect":
        tp = 0.0
        note = "common-effect model (tau fixed at 0), as the fit above."
    elif tp is None or mp is None:
        tp, mp = PR.resolve_priors(t, "random-effects", tp, mp)
        note = "the fit recorded no priors; default priors used."
    elif r.model and r.model != "random-effects":
        note = (f"the fit above is the {r.model} model; this table is the normal–normal random-effects "
                "model with the same priors, so its last row differs slightly from the fit.")
    return tp, mp, note


def _year_text(y: float) -> str:
    return f"{y:.0f}" if math.isfinite(y) else "no year"


def _missing_year_note(df) -> str | None:
    """Which studies had no year and where they were placed (never silent)."""
    yrs = df["year"].to_numpy(dtype=float)
    miss = [str(s) for s, y in zip(df["study"], yrs, strict=True) if not math.isfinite(y)]
    if not miss:
        return None
    if len(miss) == len(df):
        return ("No study in this analysis has a publication year, so the order in which the studies arrived is "
                "unknown: the rows follow the alphabetical order of study labels (" + ", ".join(miss) + "). "
                "Only the last row (all studies) does not depend on that order.")
    first = len(df) - len(miss) + 1
    return (f"No publication year for {', '.join(miss)}: placed after the dated studies (steps {first}–{len(df)}), "
            "in alphabetical order of label; their position in the sequence is arbitrary.")


def _living_table_rows(df, measure: str) -> list[list]:
    """Display rows of the cumulative table (odds ratios for log-OR outcomes)."""
    def eff(m, lo, hi):
        return SOF.fmt_effect(measure, m, lo, hi, label=False)

    rows = []
    for row in df.itertuples(index=False):
        dl = eff(row.dl_estimate, row.dl_low, row.dl_high) + (" (FE)" if row.k == 1 else "")
        rows.append([_year_text(row.year), row.study, row.k, eff(row.mu_mean, row.mu_low, row.mu_high),
                     _fmt_p(row.p_benefit), f"{row.tau_median:.2f}", dl, row.crossed or ""])
    return rows


def _crossing_text(df) -> str:
    """'P(benefit) crossed 0.95 upwards with Study (1950, k = 2)...' or that it never did."""
    parts = []
    prev = None
    for row in df.itertuples(index=False):
        if row.crossed and prev is not None:
            way = "upwards" if row.p_benefit > prev else "downwards"
            yr = _year_text(row.year)
            when = f"{row.study} (k = {row.k})" if yr in str(row.study) else f"{row.study} ({yr}, k = {row.k})"
            parts.append(f"{row.crossed} {way} when {when} arrived")
        prev = row.p_benefit
    if not parts:
        return f"P(benefit) crossed neither 0.5 nor 0.95 after the first study (first: {_fmt_p(df['p_benefit'].iloc[0])})."
    return "P(benefit) crossed " + "; ".join(parts) + " (descriptive, not a sequential test)."


def cumulative_block(d: Doc, r: AnalysisResult, say, out_dir: Path | None = None) -> str:
    """One analysis's cumulative table and figure (:func:`vfsynth.fits.living.cumulative`);
    stores the table on ``r.living``; returns "ok" or "warn"."""
    from vfsynth.fits import living as L
    from vfsynth.reports.living_plot import plot_living

    t = r.table
    d.heading(f"{r.label}: {t.k} studies")
    try:
        tp, mp, note = _living_priors(r)
        df = L.cumulative(t, tau_prior=tp, mu_prior=mp, level=0.95, missing_year="last", thresholds=(0.5, 0.95))
    except Exception as exc:  # noqa: BLE001 - one analysis must not kill the section
        d.callout("warn", f"Cumulative analysis of {r.label} failed", text=f"{type(exc).__name__}: {exc}")
        return "warn"
    r.living = df
    status = "ok"
    missing = _missing_year_note(df)
    if missing:
        d.callout("warn" if len(df) > 1 else "info", "Studies without a publication year", text=missing)
    tau_text = "fixed at 0" if isinstance(tp, (int, float)) else df.attrs["tau_prior"]
    d.para(f"Priors: tau {tau_text}, mu {df.attrs['mu_prior']}" + (f" — {note}" if note else ".")
           + " " + _crossing_text(df))
    scale = "OR" if t.measure == "logOR" else S.display_scale(t.measure)
    pooled = ("Pooled OR at the posterior mean log OR (95% CrI)" if t.measure == "logOR"
              else f"Pooled mean {scale} (95% CrI)")
    d.table(["Year", "Study added", "k", pooled, "P(benefit)", "tau median", f"DerSimonian–Laird {scale} (95% CI)",
             "P(benefit) crossed"], _living_table_rows(df, t.measure), numeric={2, 4, 5})
    _safe_fig(d, lambda: plot_living(df, title=f"Cumulative meta-analysis — {r.label}"), f"living_{r.slug}",
              f"Cumulative pooled effect and P(benefit) as each study arrived — {r.label}")
    if out_dir is not None:
        try:
            folder = Path(out_dir) / "living"
            folder.mkdir(parents=True, exist_ok=True)
            df.to_csv(folder / f"{r.slug}.csv", index=False, float_format="%.10g")
            d.para(f"Full table (posterior SD, median, tau interval, DL tau²): living/{r.slug}.csv")
        except OSError as exc:
            status = "warn"
            d.callout("warn", "Could not write the cumulative table", text=str(exc))
    return status


def living_section(review, results, seed: int, say, out_dir: Path | None = None) -> tuple[Doc, str]:
    """Living review, in two parts.

    1. Cumulative analysis by publication year (Lau et al. 1992) for every analysis with
       k >= 2: :func:`vfsynth.fits.living.cumulative` (exact NNHM posterior of each prefix,
       under the fit's priors, with the DerSimonian–Laird estimate beside it), as a table and
       a figure (:func:`vfsynth.reports.living_plot.plot_living`). Studies without a year are
       placed last and named.
    2. Updating from an exported prior: each posterior exported as a ``vfsynth-priors/1`` file
       for the next update (:mod:`vfsynth.fits.prior_export`), and a look-back check — the
       studies up to the median year analysed, exported, updated with the later ones only
       (:mod:`vfsynth.fits.update`) and compared with all studies at once.
    """
    d = Doc()
    status = "ok"
    say("living review: cumulative analysis by publication year")
    d.heading("Cumulative analysis by publication year")
    d.para("For each analysis the studies are added one at a time in order of publication (ties by label); after "
           "each, the exact normal–normal posterior (numerical integration, the fit's priors) gives the pooled mean "
           "with its 95% credible interval, P(benefit) and the median heterogeneity tau; the DerSimonian–Laird "
           "random-effects estimate (common-effect for the first study) is shown beside it. The last row is the "
           "analysis of all studies. Bayesian posteriors do not depend on how often the evidence was looked at, "
           "but threshold crossings over time are descriptive, not sequential tests.")
    ran = False
    for r in results:
        if r.table is None or r.table.k < 2:
            continue
        ran = True
        if cumulative_block(d, r, say, out_dir) != "ok":
            status = "warn"
    if not ran:
        d.para("No analysis has two or more studies.")
    d.heading("Updating from an exported prior")
    status2 = _export_update_part(d, review, results, say, out_dir)
    return d, ("warn" if "warn" in (status, status2) else status2)


def _export_update_part(d: Doc, review, results, say, out_dir: Path | None) -> str:
    """Prior files for the next update and the look-back update (part 2 of the section)."""
    pe, up = _optional("vfsynth.fits.prior_export"), _optional("vfsynth.fits.update")
    if pe is None or up is None:
        d.callout("warn", "Prior export / update not available in this build",
                  text="vfsynth.fits.prior_export / vfsynth.fits.update are not installed.")
        return "hook"
    say("living review: prior export and retrospective update")
    status = "ok"
    d.para("Each posterior below is exported as a prior file (format vfsynth-priors/1: parametric fits to the "
           "posterior marginals of mu and tau) so that the next update analyses only the new studies.")
    exp_rows, upd_rows, notes = [], [], []
    for r in results:
        if r.summary is None or r.dt is None:
            continue
        t = r.table
        tp, mp = r.info.get("tau_prior"), r.info.get("mu_prior")
        try:
            priors = {k: p.to_dict() for k, p in (("tau", tp), ("mu", mp)) if hasattr(p, "to_dict")}
            cfg = {"analysis": {"review": review.name, "outcome": t.outcome, "timepoint": t.timepoint,
                                "measure": t.measure, "k": t.k}, "model": {"kind": r.model},
                   "fit_id": r.info.get("fit_id", ""), "data_hash": t.content_hash(), "priors": priors}
            obj = pe.export_priors(r.dt, cfg, table=t)
            # The report's copy carries no wall-clock time stamp: the fit id and data hash in
            # "source" identify it, and a rebuild of unchanged fits writes identical files.
            obj.pop("created", None)
            fname = f"priors/{r.slug}.json"
            if out_dir is not None:
                (Path(out_dir) / "priors").mkdir(parents=True, exist_ok=True)
                pe.write_priors(obj, Path(out_dir) / fname)
            mu = next(p for p in obj["parameters"] if p["parameter"] == "mu")
            tau = next((p for p in obj["parameters"] if p["parameter"] == "tau"), None)
            ess = (mu.get("ess") or {}).get("value")
            exp_rows.append([r.label, _prior_text(mu), _prior_text(tau) if tau else "—",
                             "" if ess is None else f"{ess:.0f}", fname])
        except Exception as exc:  # noqa: BLE001
            status = "warn"
            notes.append(f"{r.label}: export failed ({type(exc).__name__}: {exc})")
        try:
            early, late, year = up.split_by_year(t)
            from vfsynth.fits.exact import nnhm_exact

            if isinstance(tp, str) or isinstance(mp, str) or tp is None or mp is None:
                raise ValueError("needs the fit's Prior objects")
            prior_file = pe.export_exact(nnhm_exact(early, tau_prior=tp, mu_prior=mp), early)
            u = up.update(pe.PriorSet(prior_file), late, method="exact")
            changed = ", ".join(u.changed) or "none"
            allq = nnhm_exact(t, tau_prior=tp, mu_prior=mp)
            aq = allq.mu_quantiles([0.025, 0.5, 0.975])
            upd_rows.append([r.label, f"≤ {year:g}: {early.k}", f"{u.old['mu_median']:.2f} ({u.old['mu_low']:.2f} to {u.old['mu_high']:.2f})",
                             f"{u.old['p_benefit']:.3f}", f"+{late.k}", f"{u.new['mu_median']:.2f} ({u.new['mu_low']:.2f} to {u.new['mu_high']:.2f})",
                             f"{u.new['p_benefit']:.3f}", changed,
                             f"{aq[1]:.2f} ({aq[0]:.2f} to {aq[2]:.2f}); {allq.prob_mu_greater(0.0):.3f}"])
        except Exception as exc:  # noqa: BLE001
            notes.append(f"{r.label}: retrospective update not possible ({exc})")
    if exp_rows:
        d.table(["Analysis", "mu prior for the next update", "tau prior", "prior ESS (ELIR)", "file"], exp_rows)
    if upd_rows:
        d.para("Look-back check of updating: the studies up to the median publication year analysed first "
               "(exact normal-normal posterior), exported as a prior, then updated with the later studies only; "
               "the last column analyses all studies at once (exact, same priors, log-odds scale for odds ratios). "
               "The two agree up to the error of the exported parametric approximation.")
        d.table(["Analysis", "Early studies", "mu early (95% CrI)", "P(benefit) early", "New studies",
                 "mu updated (95% CrI)", "P(benefit) updated", "Conclusions changed",
                 "mu all studies at once (95% CrI); P(benefit)"], upd_rows)
    if notes:
        d.bullets(notes)
    return status


def _prior_text(entry: dict) -> str:
    """'normal(m=0.45, s=0.14)' or 'mixture: ...' from an exported prior entry."""
    fam = entry.get("family", "?")
    par = entry.get("params", {})
    def fmt(v):
        if isinstance(v, (int, float)):
            return f"{v:.3g}"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        return str(v)

    inner = ", ".join(f"{k}={fmt(v)}" for k, v in par.items()) if isinstance(par, dict) else fmt(par)
    return f"{fam}({inner})"


def _cell(v):
    """Table cell text: blank for missing, whole numbers without a decimal point."""
    if v is None or (isinstance(v, (float, np.floating)) and not np.isfinite(v)):
        return ""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return v


def _num(v):
    if isinstance(v, (float, np.floating)):
        return "" if not np.isfinite(v) else f"{v:.3f}"
    return v


# ----------------------------------------------------------------------------------------------
def build_report(
    review=None,
    out_dir: str | Path | None = None,
    seed: int = DEFAULT_SEED,
    progress: bool = True,
    *,
    fitter: Fitter | None = None,
    control_risk: float | None = None,
    mcid: dict[str, tuple[float, ...]] | None = None,
    min_k: int = 2,
    extras: bool = True,
    ci_kind: str = "eti",
    command: str = "vfsynth report",
) -> ReportResult:
    """Fit/reload every analysis of ``review`` and write ``report.html`` + ``report.md``.

    Parameters
    ----------
    review : Review, optional
        Default: the bundled CD012348 reconstruction (:func:`vfsynth.data.load_review`).
    out_dir : path, optional
        Default :data:`BUNDLED_REPORT_DIR` for the bundled review.
    seed : int
        One seed for every fit (and the auxiliary prediction draws).
    progress : bool
        Progress messages on stderr.
    fitter : callable(review, table, model, seed, say) -> (DataTree, info), optional
        Default :func:`runner_fitter` (cached NUTS fits).
    control_risk : float, optional
        A user-given control-arm risk for absolute effects of binary outcomes.
    mcid : dict measure -> thresholds, optional
        Display-scale MCIDs keyed by model measure ("SMD", "logOR" (odds ratios), "MD");
        defaults :data:`vfsynth.reports.summaries.DEFAULT_MCID`.
    ci_kind : {"eti", "hdi"}
        Equal-tailed (default) or highest-density credible intervals.
    extras : bool
        Run the mediation, comparison/sensitivity and living-review hooks.
    """
    t0 = time.perf_counter()
    say = Progress(progress)
    if review is None:
        from vfsynth.data import load_review

        review = load_review()
    if out_dir is None:
        out_dir = BUNDLED_REPORT_DIR
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fitter = fitter or runner_fitter

    say(f"review {review.name}: {len(review.analyses())} analyses")
    results, single = run_analyses(review, seed=seed, fitter=fitter, say=say, min_k=min_k, control_risk=control_risk,
                                   mcid=mcid, ci_kind=ci_kind)
    summaries = [r.summary for r in results if r.summary is not None]
    sof_rows = SOF.sof_table(summaries, moderators=getattr(review, "moderators", None), published=getattr(review, "published", None))
    mediation = None
    if extras:
        try:
            mediation = mediation_hook(review, seed, say)
        except Exception as exc:  # noqa: BLE001
            say(f"joint model failed: {exc}")
            mediation = {"paths": {"a": None, "b": None, "c_prime": None, "indirect": None},
                         "notes": [f"Joint model failed: {type(exc).__name__}: {exc}"], "note": "joint model failed"}
    if extras:
        cdoc, cstat, robustness = comparison_section(review, results, seed, say)
        ldoc, lstat = living_section(review, results, seed, say, out)
    else:
        cdoc, cstat, robustness = Doc().para("Not run (extras disabled)."), "hook", {}
        ldoc, lstat = Doc().para("Not run (extras disabled)."), "hook"
    say("figures and tables")
    kf, records = key_findings(review, results, sof_rows, robustness)
    diag_doc, diag_status = diagnostics_section(results)
    sections = [
        Section("data", "Data", data_section(review, results, single)),
        Section("models", "Models and priors", models_section(results)),
        Section("diagnostics", "Diagnostics", diag_doc, diag_status),
        Section("results", "Results", results_section(results, mediation)),
        Section("sof", "Summary of findings", sof_section(sof_rows)),
    ]
    sections.append(Section("comparison", "Sensitivity and model comparison", cdoc, cstat))
    sections.append(Section("living", "Living review", ldoc, lstat))
    repro = Doc()
    repro.para(f"Regenerate with: {command}" + ("" if is_reconstruction(review) else " --data <your CSV>") + f" --seed {seed}")
    repro.bullets([f"data content hash: {review.content_hash()[:16]}", f"seed: {seed}", f"vfsynth {_version()}",
                   "fits are cached by configuration (fits/saved or $VFSYNTH_FIT_DIR); a rerun of unchanged data samples nothing"])
    sections.append(Section("reproduce", "Reproducibility", repro))

    title = f"Bayesian evidence synthesis: {review.name}"
    subtitle = ("Video feedback for parental sensitivity and attachment security (Cochrane CD012348) — "
                "reanalysis of a public-source reconstruction" if is_reconstruction(review)
                else f"{len(review.studies())} studies; {len(results)} pooled analyses")
    footer = f"Generated by vfsynth {_version()} with seed {seed}. Self-contained: no network resources."
    html_text = render_html(title, subtitle, kf, sections, footer)
    md_text = render_markdown(title, subtitle, kf, sections, footer)
    figs = all_figures(kf, sections)
    fig_dir = out / "figures"
    fig_dir.mkdir(exist_ok=True)
    for old in fig_dir.glob("*.png"):
        if old.name not in figs:
            old.unlink()
    for name, png in figs.items():
        (fig_dir / name).write_bytes(png)
    html_path, md_path, js_path = out / "report.html", out / "report.md", out / "summary.json"
    html_path.write_text(html_text, encoding="utf-8")
    md_path.write_text(md_text, encoding="utf-8")
    payload = {"review": review.name, "seed": seed, "key_findings": records, "analyses": [s.to_dict() for s in summaries]}
    js_path.write_text(json.dumps(_clean(payload), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    secs = time.perf_counter() - t0
    say(f"wrote {html_path} and {md_path} in {secs:.1f}s")
    return ReportResult(html_path, md_path, js_path, secs, results, records)


def _clean(o):
    """JSON-safe copy: NaN/inf -> None, numpy scalars -> Python, tuples -> lists."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, (int, np.integer)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        return float(o) if np.isfinite(o) else None
    if o is None or isinstance(o, str):
        return o
    return str(o)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("vfsynth")
    except Exception:  # noqa: BLE001
        return "dev"
