"""Export / update part of the living review: prior files for the next update and the look-back
update check."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vfsynth.reports.html_report import Doc
from vfsynth.reports.sections._common import optional_module
from vfsynth.reports.sections.runner import attempt

if TYPE_CHECKING:
    from vfsynth.reports.analyses import AnalysisResult


def export_update_part(d: Doc, review, results, say, out_dir: Path | None) -> str:
    """Prior files for the next update and the look-back update (part 2 of the section)."""
    pe, up = optional_module("vfsynth.fits.prior_export"), optional_module("vfsynth.fits.update")
    pf = optional_module("vfsynth.fits.prior_files")
    if pe is None or pf is None or up is None:
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
        row, failure = attempt(f"prior export of {r.label}", lambda r=r: _export_row(pe, pf, review, r, out_dir))
        if failure is None:
            exp_rows.append(row)
        else:
            status = "warn"
            notes.append(f"{r.label}: export failed ({failure.text})")
        row, failure = attempt(f"retrospective update of {r.label}", lambda r=r: _update_row(pe, pf, up, r))
        if failure is None:
            upd_rows.append(row)
        else:
            notes.append(f"{r.label}: retrospective update not possible ({failure.message})")
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


def _export_row(pe, pf, review, r: AnalysisResult, out_dir: Path | None) -> list:
    """Export ``r``'s posterior as a prior file (written under ``out_dir/priors``); its table row."""
    t = r.table
    tp, mp = r.info.get("tau_prior"), r.info.get("mu_prior")
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
        pf.write_priors(obj, Path(out_dir) / fname)
    mu = next(p for p in obj["parameters"] if p["parameter"] == "mu")
    tau = next((p for p in obj["parameters"] if p["parameter"] == "tau"), None)
    ess = (mu.get("ess") or {}).get("value")
    return [r.label, _prior_text(mu), _prior_text(tau) if tau else "—",
                     "" if ess is None else f"{ess:.0f}", fname]


def _update_row(pe, pf, up, r: AnalysisResult) -> list:
    """Look-back update of ``r``: early studies exported as a prior, updated with the later ones."""
    t = r.table
    tp, mp = r.info.get("tau_prior"), r.info.get("mu_prior")
    early, late, year = up.split_by_year(t)
    from vfsynth.fits.exact import nnhm_exact

    if isinstance(tp, str) or isinstance(mp, str) or tp is None or mp is None:
        raise ValueError("needs the fit's Prior objects")
    prior_file = pe.export_exact(nnhm_exact(early, tau_prior=tp, mu_prior=mp), early)
    u = up.update(pf.PriorSet(prior_file), late, method="exact")
    changed = ", ".join(u.changed) or "none"
    allq = nnhm_exact(t, tau_prior=tp, mu_prior=mp)
    aq = allq.mu_quantiles([0.025, 0.5, 0.975])
    return [r.label, f"≤ {year:g}: {early.k}", f"{u.old['mu_median']:.2f} ({u.old['mu_low']:.2f} to {u.old['mu_high']:.2f})",
                     f"{u.old['p_benefit']:.3f}", f"+{late.k}", f"{u.new['mu_median']:.2f} ({u.new['mu_low']:.2f} to {u.new['mu_high']:.2f})",
                     f"{u.new['p_benefit']:.3f}", changed,
                     f"{aq[1]:.2f} ({aq[0]:.2f} to {aq[2]:.2f}); {allq.prob_mu_greater(0.0):.3f}"]
