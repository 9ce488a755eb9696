"""Results section: each pooled analysis (effect, prediction, heterogeneity, absolute effects,
figures) and the mediation diagram."""

from __future__ import annotations

from vfsynth.reports import figures as F
from vfsynth.reports import sof as SOF
from vfsynth.reports import summaries as S
from vfsynth.reports.html_report import Doc
from vfsynth.reports.sections._common import safe_fig


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
        src = a.source if a.source is not None and a.source.events else None
        if src is None:
            rows = [
                ["Pooled effect (median)", SOF.fmt_effect(a.measure, e.median, e.ci_low, e.ci_high)],
                ["Posterior mean (SD), model scale", f"{e.mean:.3f} ({e.sd:.3f})"],
                ["P(benefit) = P(effect > 0)", f"{e.p_benefit:.4f} (MCSE {e.p_benefit_mcse:.4f})"],
            ]
        else:
            # event measures read as the source reads them (issue 14): RR stays RR, same direction
            d.para(f"Scale: {src.display}, {src.note}. Medians and intervals are posterior quantiles of the "
                   f"{src.display} (not transformed means).")
            rows = [
                ["Pooled effect (median)", f"{SOF.effect_text(a, e.median, e.ci_low, e.ci_high)}; {src.favours(e.median)}"],
                ["Posterior mean (SD), benefit scale (model)", f"{e.mean:.3f} ({e.sd:.3f}); positive favours the intervention"],
                [f"P(benefit) = P({src.favours_side})", f"{e.p_benefit:.4f} (MCSE {e.p_benefit_mcse:.4f})"],
            ]
        rows += [[f"P({'effect' if src is None else src.display} {SOF.threshold_text(a, t)})", f"{p:.3f}"]
                 for t, p in e.p_mcid.items()]
        if e.rope is not None:
            rows.append([f"P(inside ROPE {e.rope[0]:g} to {e.rope[1]:g})", f"{e.p_rope:.3f}"])
        rows.append(["Prediction for a new study (95%)", SOF.effect_text(a, pr.median, pr.ci_low, pr.ci_high)])
        rows.append(["P(new study shows benefit)", f"{pr.p_benefit:.3f}"])
        if a.heterogeneity is not None:
            h = a.heterogeneity
            rows.append(["tau (between-study SD)", f"{h.tau_median:.3f} ({h.tau_low:.3f} to {h.tau_high:.3f})"])
            rows.append(["I²-like share tau²/(tau²+s²)", f"{100 * h.share_median:.0f}% ({100 * h.share_low:.0f}% to {100 * h.share_high:.0f}%); s² = {h.s2:.4f}"])
        d.table(["Quantity", "Value"], rows)
        if a.absolute:
            d.table(
                ["Control-arm risk", "Control per 1000", "Intervention per 1000 (95% CrI)", "Difference per 1000 (95% CrI)", "NNT"],
                [[ab.label, *SOF.absolute_cells(a, ab), ab.nnt] for ab in a.absolute],
            )
            if src is not None and src.flip:
                d.para("Risks are of the events as the source counts them (harmful: fewer favour the intervention).")
        mu = S.posterior_var(r.dt, "mu")
        safe_fig(d, lambda a=a, r=r: F.forest_plot(a, title=f"{r.label}"), f"forest_{r.slug}",
                  f"Forest plot — {r.label}: observed (grey squares) and shrunken (blue) study estimates, pooled diamond, prediction bar")
        safe_fig(d, lambda mu=mu, a=a, r=r: F.density_plot(mu, a.measure, title=f"Posterior of the pooled effect — {r.label}",
                                                                  source=a.source),
                  f"density_{r.slug}", f"Posterior of the pooled effect with P(benefit) shaded — {r.label}")
        safe_fig(d, lambda mu=mu, a=a, r=r: F.benefit_curve(mu, a.measure, tuple(a.effect.p_mcid), prediction=S.prediction_draws(r.dt),
                                                                   source=a.source),
                  f"benefit_{r.slug}", (f"P(effect > threshold) — {r.label}" if src is None else
                                        f"P({src.display} {'<' if src.flip else '>'} threshold): the intervention "
                                        f"better than the threshold — {r.label}"))
    # CD012348's own path names; a review whose joint model links other outcomes names those
    names = {"x": "Video feedback", "m": "Parental\nsensitivity", "y": "Attachment\nsecurity"}
    if mediation is not None and mediation.get("final") and mediation.get("final") != "attachment":
        names = {"x": "Intervention", "m": " + ".join(mediation.get("mediators") or ["mediator"]),
                 "y": str(mediation["final"])}
    title = " → ".join(names[k].replace("\n", " ") for k in ("x", "m", "y"))
    d.heading(f"Mediation: {title}", level=3, anchor="mediation")
    if mediation is None:
        sens = next((r for r in results if r.outcome == "sensitivity" and r.timepoint == "post" and r.summary), None)
        paths = {"a": None, "b": None, "c_prime": None, "indirect": None}
        if sens is not None:
            e = sens.summary.effect
            paths["a"] = (e.median, e.ci_low, e.ci_high)
        d.callout("info", "Joint mediation model not run in this report",
                  text="Path a is the univariate sensitivity effect; b, c′ and the indirect effect need the joint model "
                       "(vfsynth.fits.joint_runner), which was not available. They are drawn as 'prior only'.")
        safe_fig(d, lambda paths=paths: F.mediation_diagram(paths, note="a: univariate sensitivity posterior (SMD)"), "mediation",
                  "Mediation diagram (a from the univariate model)")
    else:
        if mediation.get("problems"):
            d.callout("fail", "The joint model failed its convergence checks", items=mediation["problems"])
        if mediation.get("scale"):
            d.para(f"Scale: {mediation['scale']}.")
        for line in mediation.get("notes", []):
            d.para(str(line))
        safe_fig(d, lambda: F.mediation_diagram(mediation["paths"], prior_only=mediation.get("prior_only", ()),
                                                 labels=names, note=mediation.get("note", "")), "mediation",
                  "Mediation diagram annotated with the joint model's posterior medians [95% CrI]")
        if mediation.get("rows"):
            d.table(["Quantity", "Median", "95% interval", "Label", "Informing studies", "Posterior / prior IQR"],
                    mediation["rows"])
        for line in mediation.get("extra", []):
            d.para(line)
        if mediation.get("rule"):
            d.para(f"Labels: {mediation['rule']}. Ratios (b, c′, indirect, proportion mediated) are summarised "
                   "by median and quantiles only: their means need not exist.")
    return d
