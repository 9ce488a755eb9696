"""Models and priors section: the model and priors of every fit, with citations and prior-vs-posterior figures."""

from __future__ import annotations

from vfsynth.reports import figures as F
from vfsynth.reports.html_report import Doc
from vfsynth.reports.sections._common import safe_fig, sampler_name


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
                f"{sampler_name(i.get('sampler'))} {i.get('chains')}×{i.get('draws')} (+{i.get('tune')} tune), "
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
            safe_fig(d, lambda r=r: F.prior_posterior_plot(r.dt), f"prior_posterior_{r.slug}", f"Prior (dashed/lighter) vs posterior — {r.label}")
    return d
