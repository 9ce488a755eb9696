"""Diagnostics section: convergence verdict of every fit, rank, trace and posterior predictive figures."""

from __future__ import annotations

from vfsynth.reports import figures as F
from vfsynth.reports.html_report import Doc
from vfsynth.reports.sections._common import safe_fig


def diagnostics_section(results) -> tuple[Doc, str]:
    d = Doc()
    bad = [r for r in results if r.error or (r.summary and not r.summary.diagnostics.ok)]
    if bad:
        d.callout("fail", "Failed fits — their results are not trustworthy", items=[
            f"{r.label}: {r.error or '; '.join(r.summary.diagnostics.problems)}" for r in bad])
    else:
        d.callout("ok", "All fits passed the convergence checks", text="R-hat < 1.01, bulk and tail ESS ≥ 100 per chain, "
                  "no divergent transitions (MCMC fits); fits by exact integration need no convergence check.")
    rows = []
    for r in results:
        if r.summary is None:
            rows.append([r.label, "—", "—", "—", "—", "ERROR"])
            continue
        g = r.summary.diagnostics
        if r.info.get("engine") == "exact":
            rows.append([r.label, "—", "—", "—", "—", "exact integration: independent draws, no MCMC diagnostics apply"])
            continue
        rows.append([r.label, f"{g.rhat_max:.3f}", f"{g.ess_bulk_min:.0f}", f"{g.ess_tail_min:.0f}", str(g.divergences),
                     "passed" if g.ok else "FAILED: " + "; ".join(g.problems)])
    d.table(["Analysis", "max R-hat", "min bulk ESS", "min tail ESS", "divergences", "verdict"], rows, numeric={1, 2, 3, 4})
    for r in results:
        if r.dt is None:
            continue
        d.heading(r.label, level=3)
        if r.info.get("engine") == "exact":
            d.para("Exact integration: the draws are independent, so rank and trace plots would show nothing.")
        else:
            safe_fig(d, lambda r=r: F.rank_plot(r.dt), f"rank_{r.slug}", f"Rank plots per chain (uniform = well mixed) — {r.label}")
            safe_fig(d, lambda r=r: F.trace_plot(r.dt), f"trace_{r.slug}", f"Trace plots — {r.label}")
        if "posterior_predictive" in r.dt.children and "observed_data" in r.dt.children:
            var = "y" if "y" in r.dt["posterior_predictive"].dataset.data_vars else next(iter(r.dt["posterior_predictive"].dataset.data_vars))
            safe_fig(d, lambda r=r, var=var: F.ppc_plot(r.dt, var), f"ppc_{r.slug}", f"Posterior predictive check — {r.label}")
    return d, ("fail" if bad else "ok")
