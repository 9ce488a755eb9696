"""Model-averaging section: per analysis, every registered ensemble (posterior model probabilities
with their prior probabilities, inclusion Bayes factors, averaged mu and tau, P(benefit)).

The ensembles come from :data:`vfsynth.fits.averaging.ENSEMBLES` (``nnhm4`` at least; one added
there appears here without a change); an analysis with several estimates per study (``es_id``)
gets the ``three-level`` ensemble instead (:mod:`vfsynth.fits.three_level_averaging`), since the
two-level ensembles would take one study's estimates as independent studies. Priors are the
analysis's defaults (:func:`vfsynth.models.priors.resolve_priors`), as in its fit. Each
(analysis, ensemble) is built through :func:`~vfsynth.reports.sections.runner.run_part`: one that
cannot be averaged (an improper mu prior) is a box with the reason, the others stay. ``nnhm4`` is
integrated exactly (well under a second per analysis); ``psma``'s 32 bias members by quadrature
(about 10 s of CPU per analysis), so a report built without extras averages ``nnhm4`` only. The
section is stored with the rest of the build by the report cache.
"""

from __future__ import annotations

import math

from vfsynth.reports.html_report import Doc
from vfsynth.reports.sections._common import fmt_p
from vfsynth.reports.sections.runner import run_part

_FEATURES = {"effect": "effect (mu ≠ 0)", "heterogeneity": "heterogeneity (tau > 0)", "bias": "publication bias",
             "within": "estimate-level heterogeneity (tau_estimate > 0)"}


def _bf(x: float) -> str:
    if not math.isfinite(x):
        return "∞" if x == math.inf else ""
    return f"{x:.3g}" if 1e-3 <= x <= 1e4 else f"{x:.2e}"


def _interval(q: dict) -> str:
    if not math.isfinite(q.get("mean", math.nan)):
        return ""
    return f"{q['mean']:.3f} (median {q['median']:.3f}; {q['low']:.3f} to {q['high']:.3f})"


def _averaged(table, name: str):
    if name == "three-level":
        from vfsynth.fits.three_level_averaging import average_three_level_table

        return average_three_level_table(table)
    from vfsynth.fits.averaging import average_table

    return average_table(table, ensemble=name)


def _one(d: Doc, res, records: list[dict], label: str) -> None:
    a = res.analysis
    pri = f"tau ~ {a['tau_prior']}; mu ~ {a['mu_prior']} (models with an effect)"
    if "tau_within_prior" in a:
        pri = f"tau_study ~ {a['tau_prior']}; tau_estimate ~ {a['tau_within_prior']}; mu ~ {a['mu_prior']}"
    d.para(f"Ensemble {res.ensemble}: {len(res.members)} models; priors {pri}.")
    d.table(["Model", "Prior probability", "Posterior probability", "log marginal likelihood"],
            [[m.name, f"{m.prior_prob:.3f}", fmt_p(float(p)), f"{m.log_ml:.3f}"]
             for m, p in zip(res.members, res.post_prob, strict=True)], numeric={1, 2, 3})
    inc = res.inclusion()
    d.table(["Feature", "Prior inclusion probability", "Posterior inclusion probability", "Inclusion BF"],
            [[_FEATURES.get(k, k), f"{v['prior_prob']:.3f}", fmt_p(v["post_prob"]), _bf(v["bf"])]
             for k, v in inc.items()], numeric={1, 2, 3})
    mu, mu_c = res.quantity("mu"), res.quantity("mu", True)
    tau, tau_c = res.quantity("tau"), res.quantity("tau", True)
    d.table(["Averaged quantity", "Mean (median; 95% interval)"],
            [["mu (mu = 0 models as a point mass at 0)", _interval(mu)], ["mu given an effect", _interval(mu_c)],
             ["tau (tau = 0 models as a point mass at 0)", _interval(tau)],
             ["tau given heterogeneity", _interval(tau_c)],
             ["P(benefit) = P(mu > 0), averaged", fmt_p(res.p_benefit)]])
    records.append({"label": label, **res.to_dict()})


def averaging_section(results, records: list[dict] | None = None, ensembles: tuple[str, ...] | None = None) -> Doc:
    """The section's Doc; ``records`` (if given) receives one JSON-ready dict per (analysis,
    ensemble) for ``summary.json``; ``ensembles`` (default: every registered one) limits the
    two-level ensembles averaged."""
    from vfsynth.fits.averaging import ENSEMBLES

    records = [] if records is None else records
    d = Doc()
    d.para("Bayesian model averaging (Hinne et al. 2020; metaBMA, RoBMA): each model's marginal likelihood "
           "(exact; for the psma bias models by quadrature, with its error estimate) gives its posterior probability; the inclusion Bayes factor of a feature is the change "
           "from prior to posterior odds of the models that have it (BF > 3: evidence for it, < 1/3: against). "
           "Estimates are on the model scale (log scale for ratios), positive = benefit.")
    done = 0
    for r in results:
        if r.table is None:
            continue
        d.heading(r.label, level=3, anchor=f"avg-{r.slug}")
        names = ("three-level",) if getattr(r.table, "multilevel", False) else tuple(ensembles or ENSEMBLES)
        for name in names:
            run_part(d, f"Ensemble {name} could not be averaged for {r.label}",
                     lambda name=name, r=r: _one(d, _averaged(r.table, name), records, r.label), kind="info")
        done += 1
    if not done:
        d.para("No pooled analysis to average.")
    return d
