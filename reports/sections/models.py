"""Models and priors section: the model and priors of every fit, with citations and prior-vs-posterior figures."""

from __future__ import annotations

from vfsynth.reports import figures as F
from vfsynth.reports.html_report import Doc
from vfsynth.reports.sections._common import safe_fig, sampler_name


def _engine_text(info: dict) -> str:
    """Which engine made a fit, and its run length."""
    if info.get("engine") == "exact":
        return (f"exact integration ({int(info.get('chains') or 0) * int(info.get('draws') or 0):,} independent draws "
                f"for figures and LOO), seed {info.get('seed')}")
    engine = info.get("engine") or "nuts"
    return (f"{engine}: {sampler_name(info.get('sampler'))} {info.get('chains')}×{info.get('draws')} "
            f"(+{info.get('tune')} tune), seed {info.get('seed')}")


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
                _engine_text(i),
                # Whether the fit was sampled now or reused from the store is said in the progress
                # log, not here: the report is a function of the inputs only.
                f"{i.get('fit_id', '')}",
            ]
        )
    d.table(["Analysis", "Model", "tau prior", "mu prior", "Engine", "Fit id"], rows)
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
