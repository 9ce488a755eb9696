"""Fit, summarise and check the joint mediation model (:mod:`vfsynth.models.joint`).

Entry points
------------
* :func:`fit_joint` — review (or assembled :class:`~vfsynth.models.joint.JointData`) ->
  gated NUTS fit (NumPyro) with prior draws for learned ratios, saved and reused through
  :mod:`vfsynth.fits.store` like every other fit.
* :func:`summarize_joint` — the ``vfsynth fit --model joint --json`` object.

Predictive checks (posterior predictive table, LOO-PIT, prior predictive check) and the
within-study-correlation sensitivity are in :mod:`vfsynth.fits.joint_checks`.

"How much did a quantity learn from the data" is the ratio of posterior SD to prior SD
(``learned_ratio``; 1 = nothing learned), with the prior SD from forward (prior
predictive) sampling of the same model — importance-reweighted by the ``Potential`` when
the informative transmission prior is on, because forward sampling ignores potentials.
Ratios of heavy-tailed quantities (``b``, ``proportion_mediated``: ratios of random
variables) have unstable SDs, so ``learned_ratio_iqr`` (ratio of interquartile ranges) is
given too. A quantity that depends on an outcome without any data is reported with its
*prior* numbers, ``prior_only: true`` and the label "prior only — no data".
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vfsynth.fits import jaxenv
from vfsynth.fits.settings import DEFAULT_SEED
from vfsynth.models import joint as J

log = logging.getLogger(__name__)


DEFAULTS = {"draws": 1000, "tune": 1000, "chains": 4, "target_accept": 0.95, "max_treedepth": 10}
PRIOR_DRAWS = 4000
TARGET_ACCEPT_LADDER = (0.95, 0.99)
MEDIATION_KEYS = ("a", "b", "c_prime", "indirect", "total", "proportion_mediated")
EXTRA_KEYS = ("tau_final_given_m1", "rho_m1_final")
#: Variables checked by the diagnostics gate (corr_chol has constant entries, R-hat NaN).
_GATE_SKIP = ("corr_chol", "latent", "delta", "theta", "predicted_via_sensitivity", "transmission_gap")


@dataclass
class JointFitResult:
    """A finished (or reloaded) joint fit."""

    dt: Any
    data: J.JointData
    options: J.JointOptions
    tau_priors: dict
    mu_priors: dict
    config: dict
    fit_id: str
    path: Path | None
    cached: bool
    verdict: dict
    review_name: str | None = None
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------------------------


def resolve_data(
    data: Any = None,
    mediators=J.DEFAULT_MEDIATORS,
    outcomes=J.DEFAULT_OUTCOMES,
    timepoints=None,
    md_units=None,
) -> tuple[J.JointData, str | None]:
    """A Review (or None: bundled), JointData, or list of EffectTables -> (JointData, review name)."""
    if isinstance(data, J.JointData):
        return data, None
    if data is None:
        from vfsynth.data import load_review

        data = load_review()
    if isinstance(data, list | tuple):
        tables = [t for t in data if timepoints is None or t.timepoint in timepoints]
        return J.assemble(tables, mediators, outcomes, md_units=md_units), None
    if timepoints is not None:
        analyses = [a for a in data.analyses() if a[1] in timepoints]

        class _View:  # a Review restricted to some time points
            name = data.name

            def analyses(self):
                return analyses

            def effects(self, o, t):
                return data.effects(o, t)

        return J.assemble_review(_View(), mediators, outcomes, md_units=md_units), data.name
    return J.assemble_review(data, mediators, outcomes, md_units=md_units), getattr(data, "name", None)


def _prior_dicts(tau_priors, mu_priors) -> dict:
    out = {}
    for c, p in tau_priors.items():
        out[f"tau_{c}"] = p.to_dict()
    for c, p in mu_priors.items():
        out[f"mu_{c}"] = p.to_dict()
    return out


def gate_var_names(dt) -> list[str]:
    """Posterior variables checked by the gate (all but constant/duplicate ones)."""
    post = dt["posterior"]
    return [n for n in post.data_vars if n not in _GATE_SKIP]


def fit_joint(
    data: Any = None,
    *,
    mediators=J.DEFAULT_MEDIATORS,
    outcomes=J.DEFAULT_OUTCOMES,
    timepoints=None,
    md_units: dict | None = None,
    options: J.JointOptions | None = None,
    tau_priors: dict | None = None,
    mu_priors: dict | None = None,
    seed: int = DEFAULT_SEED,
    draws: int = DEFAULTS["draws"],
    tune: int = DEFAULTS["tune"],
    chains: int = DEFAULTS["chains"],
    target_accept: float = DEFAULTS["target_accept"],
    max_treedepth: int = DEFAULTS["max_treedepth"],
    prior_draws: int = PRIOR_DRAWS,
    posterior_predictive: bool = True,
    refit: bool = False,
    save: bool = True,
    fit_dir: str | Path | None = None,
    on_event=None,
) -> JointFitResult:
    """Fit (or reload) the joint mediation model.

    Parameters
    ----------
    data : Review, JointData, list of EffectTable or None
        None: the bundled CD012348 review.
    mediators, outcomes : sequence of str
        Mediator outcome names (headline first) and the observed measures of the final outcome.
    timepoints : sequence of str, optional
        Keep only these time points (default: all; non-post ones become follow-up cells).
    md_units : dict outcome -> float, optional
        Units that put mean-difference outcomes on the model's scale (:func:`vfsynth.models.joint.assemble`).
    options : JointOptions
    tau_priors, mu_priors : dict construct -> Prior, optional
        Default: the registry defaults for SMD (:func:`vfsynth.models.joint.default_priors`).
    seed, draws, tune, chains, target_accept, max_treedepth
        NUTS settings; divergences trigger one re-run at ``target_accept=0.99``, same seed.
    prior_draws : int
        Forward prior draws stored in the fit (for learned ratios and prior-only reports).
    posterior_predictive : bool
        Add posterior predictive draws (needed by :func:`posterior_predictive_table`).
    refit, save, fit_dir
        As :func:`vfsynth.fits.runner.fit_univariate`.
    """
    jaxenv.configure()
    from vfsynth.fits import store
    from vfsynth.fits.diagnostics import diagnose, format_warning
    from vfsynth.fits.sampling import sample_model

    say = on_event or (lambda msg: log.info(msg))
    jd, review_name = resolve_data(data, mediators, outcomes, timepoints, md_units)
    options = options or J.JointOptions()
    dtau, dmu = J.default_priors(jd.constructs)
    tau_priors = {**dtau, **(tau_priors or {})}
    mu_priors = {**dmu, **(mu_priors or {})}
    tau_priors = {c: tau_priors[c] for c in jd.constructs}
    mu_priors = {c: mu_priors[c] for c in jd.constructs}
    sampler = {
        "name": "numpyro", "draws": int(draws), "tune": int(tune), "chains": int(chains),
        "target_accept": float(target_accept), "max_treedepth": int(max_treedepth), "prior_draws": int(prior_draws),
        "posterior_predictive": bool(posterior_predictive),
    }
    config = store.fit_config(
        model={"name": "joint", "mediators": list(jd.mediators), "final": jd.final,
               "final_outcomes": list(jd.construct_outcomes[jd.final]), **options.to_dict()},
        priors=_prior_dicts(tau_priors, mu_priors),
        data_hash=jd.content_hash(),
        seed=seed,
        sampler=sampler,
        analysis={"review": review_name, "model": "joint"},
    )
    fid = store.fit_id(config)
    notes: list[str] = []
    if not refit and (got := store.reuse_cached(config, directory=fit_dir, notes=notes, say=say)) is not None:
        dt, cfg, verdict, path = got
        say(f"reusing saved joint fit {fid} ({path})")
        return JointFitResult(dt, jd, options, tau_priors, mu_priors, cfg, fid, path, True, verdict,
                              review_name, notes)
    model = J.build_joint_model(jd, tau_priors, mu_priors, options)
    ladder = [target_accept] + [t for t in TARGET_ACCEPT_LADDER if t > target_accept]
    attempts = []
    for i, ta in enumerate(ladder):
        say(f"sampling joint model ({len(jd.studies)} studies, {jd.n_rows} normal + {jd.n_count_rows} count rows): "
            f"{chains} chains x {draws} draws (+{tune} tune), target_accept {ta}, seed {seed}")
        dt = sample_model(
            model, draws=draws, tune=tune, chains=chains, seed=seed, target_accept=ta,
            max_treedepth=max_treedepth, prior_draws=prior_draws, log_likelihood=False,
            posterior_predictive=posterior_predictive,
        )
        verdict = diagnose(dt, max_treedepth=max_treedepth, var_names=gate_var_names(dt))
        attempts.append({"target_accept": ta, "divergences": verdict["divergences"]})
        if verdict["divergences"] == 0 or i == len(ladder) - 1:
            break
    verdict["attempts"] = attempts
    verdict["target_accept"] = attempts[-1]["target_accept"]
    if not verdict["passed"]:
        import warnings

        from vfsynth.fits.diagnostics import FitWarning

        warnings.warn(format_warning(verdict, "joint model"), FitWarning, stacklevel=2)
    path = store.save_fit(dt, config, verdict, directory=fit_dir) if save else None
    return JointFitResult(dt, jd, options, tau_priors, mu_priors, config, fid, path, False, verdict, review_name, notes)


# ---------------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------------


def _flat(dt, group: str, name: str) -> np.ndarray | None:
    if group not in dt.children or name not in dt[group].data_vars:
        return None
    return np.asarray(dt[group][name].values, dtype=float)


def _component(arr: np.ndarray, index: tuple) -> np.ndarray:
    return arr[(slice(None), slice(None)) + index]


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q) -> np.ndarray:
    order = np.argsort(x)
    xs, ws = x[order], w[order]
    cw = np.cumsum(ws) - 0.5 * ws
    cw /= ws.sum()
    return np.interp(q, cw, xs)


def _stats(x: np.ndarray, w: np.ndarray | None = None) -> dict[str, float]:
    x = np.asarray(x, dtype=float).ravel()
    ok = np.isfinite(x)
    if w is None:
        w = np.ones_like(x)
    x, w = x[ok], np.asarray(w, dtype=float).ravel()[ok]
    w = w / w.sum()
    mean = float(np.sum(w * x))
    sd = float(math.sqrt(max(np.sum(w * (x - mean) ** 2), 0.0)))
    q = _weighted_quantile(x, w, [0.025, 0.25, 0.5, 0.75, 0.975])
    return {"mean": mean, "sd": sd, "q2.5": float(q[0]), "q25": float(q[1]), "median": float(q[2]),
            "q75": float(q[3]), "q97.5": float(q[4])}


def _mcse_ess_rhat(chain_draw: np.ndarray) -> dict[str, float]:
    import arviz_stats as azs

    x = np.asarray(chain_draw, dtype=float)
    if np.ptp(x) == 0 or not np.all(np.isfinite(x)):
        return {"mcse_mean": float("nan"), "ess_bulk": float("nan"), "rhat": float("nan")}
    return {
        "mcse_mean": float(azs.mcse(x, method="mean")),
        "ess_bulk": float(azs.ess(x, method="bulk")),
        "rhat": float(azs.rhat(x)),
    }


def prior_weights(res: JointFitResult) -> np.ndarray | None:
    """Importance weights turning forward prior draws into draws of the prior *with* the Potential."""
    if not res.options.informative_b:
        return None
    b = _flat(res.dt, "prior", "b")
    if b is None:
        return None
    from scipy.stats import norm

    return norm.pdf(b.ravel(), J.B_EXTERNAL_MEAN, J.B_EXTERNAL_SD)


def quantity_summary(res: JointFitResult, name: str, index: tuple = (), *, depends_on=()) -> dict[str, Any]:
    """Posterior and prior summary, learned ratios and the prior-only label of one quantity."""
    post = _flat(res.dt, "posterior", name)
    prior = _flat(res.dt, "prior", name)
    if post is None:
        return None
    pc = _component(post, index)
    out: dict[str, Any] = {}
    ps = _stats(pc)
    out.update(ps)
    out.update(_mcse_ess_rhat(pc))
    if prior is not None:
        pr = _component(prior, index)
        prs = _stats(pr, prior_weights(res))
        out["prior"] = {k: prs[k] for k in ("mean", "sd", "q2.5", "q25", "median", "q75", "q97.5")}
        out["learned_ratio"] = ps["sd"] / prs["sd"] if prs["sd"] > 0 else None
        iqr_post, iqr_prior = ps["q75"] - ps["q25"], prs["q75"] - prs["q25"]
        out["learned_ratio_iqr"] = iqr_post / iqr_prior if iqr_prior > 0 else None
    missing = [c for c in depends_on if not res.data.has_data(c)]
    out["depends_on"] = list(depends_on)
    out["prior_only"] = bool(missing)
    if missing:
        # Never show a posterior number that looks like evidence for an unmeasured path.
        out["label"] = f"{J.PRIOR_ONLY_LABEL} on {', '.join(missing)}"
        out["posterior_if_shown"] = {k: out.pop(k) for k in ("mean", "sd", "q2.5", "q25", "median", "q75", "q97.5")}
        if "prior" in out:
            out.update({k: out["prior"][k] for k in ("mean", "sd", "q2.5", "q25", "median", "q75", "q97.5")})
        out["source"] = "prior"
    else:
        out["label"] = "posterior"
        out["source"] = "posterior"
    out["p_positive"] = float(np.mean(pc > 0)) if not missing else None
    return out


def joint_scale_text(jd) -> str:
    """The latent scale of the joint model's effects, in words, for this review's outcomes.

    SMD and log-OR rows share the SMD scale through log OR = SMD * pi/sqrt(3) (Chinn 2000); a
    mean-difference outcome put on the unit scale with ``md_units`` stays an MD in those units.
    """
    units = dict(jd.meta.get("md_units") or {})
    text = ("latent effects on the SMD scale; log-OR rows (and event counts) linked by "
            "log OR = SMD * pi/sqrt(3) (Chinn 2000)")
    if units:
        text += "; except " + ", ".join(f"{o}: MD per {u:g} units of the source" for o, u in sorted(units.items()))
    return text + ". b = change in the final outcome's latent effect per unit of the mediator's"


def summarize_joint(res: JointFitResult) -> dict[str, Any]:
    """The JSON object of ``vfsynth fit --model joint --json``.

    Keys: ``model``, ``review``, ``scale``, ``constructs`` (rows/studies/has_data per latent
    outcome), ``mediation`` (a, b, c_prime, indirect, total, proportion_mediated, plus
    tau_final_given_m1 and rho_m1_final), ``parallel`` (two-mediator decomposition, when
    there are 2+ mediators), ``transmission`` (external slope, predicted effect through
    sensitivity, gap), ``pooled`` (per construct and time point, with p_benefit),
    ``heterogeneity`` (tau), ``correlations``, ``followup``, ``options``, ``priors``,
    ``diagnostics``, ``fit``, ``dag``, ``identification`` (one row per labelled quantity),
    ``identification_rule``, ``surrogacy`` (:mod:`vfsynth.fits.surrogacy`), ``bayes_factor``
    (:mod:`vfsynth.fits.mediation_bf`) and, for sensitivity + reflective functioning ->
    attachment, ``external_evidence`` (:mod:`vfsynth.fits.external_evidence`). Every quantity
    has median, q2.5, q25, q75, q97.5, learned_ratio_iqr, prior_only, label, identification,
    informing_studies (:mod:`vfsynth.fits.mediation_labels`); mean, sd, mcse_mean and
    learned_ratio only where the moments exist (not for b and the ratios built from it).
    """
    from vfsynth.data.jsonable import to_jsonable

    jd = res.data
    deps = J.quantity_dependencies(jd)
    med = {k: quantity_summary(res, k, depends_on=deps[k]) for k in MEDIATION_KEYS + EXTRA_KEYS}
    out: dict[str, Any] = {
        "model": "joint",
        "review": res.review_name,
        "scale": joint_scale_text(jd),
        "mediators": list(jd.mediators),
        "final": jd.final,
        "final_outcomes": list(jd.construct_outcomes[jd.final]),
        "constructs": {
            c: {"outcomes": list(jd.construct_outcomes[c]), "rows": jd.rows_per_construct()[c],
                "studies": jd.studies_per_construct()[c], "has_data": jd.has_data(c)}
            for c in jd.constructs
        },
        "n_studies": len(jd.studies),
        "mediation": med,
    }
    if len(jd.mediators) > 1:
        par: dict[str, Any] = {}
        for m_i, m in enumerate(jd.mediators):
            par[m] = {
                "a": quantity_summary(res, "mu", (m_i,), depends_on=(m,)),
                "b": quantity_summary(res, "b_parallel", (m_i,), depends_on=deps[f"b_parallel[{m}]"]),
                "indirect": quantity_summary(res, "indirect_parallel", (m_i,), depends_on=deps[f"indirect_parallel[{m}]"]),
            }
        par["c_prime"] = quantity_summary(res, "c_prime_parallel", depends_on=deps["c_prime_parallel"])
        par["proportion_mediated"] = quantity_summary(
            res, "proportion_mediated_parallel", depends_on=deps["proportion_mediated_parallel"])
        out["parallel"] = par
    transmission_applies = jd.constructs[0] == "sensitivity"
    out["transmission"] = {
        "b_external": {"mean": J.B_EXTERNAL_MEAN, "sd": J.B_EXTERNAL_SD,
                       "source": "De Wolff & van IJzendoorn 1997, r = .24 (see vfsynth.models.joint)"},
        "informative_b": res.options.informative_b,
        "predicted_via_sensitivity": quantity_summary(res, "predicted_via_sensitivity",
                                                      depends_on=deps["predicted_via_sensitivity"]),
        "transmission_gap": quantity_summary(res, "transmission_gap", depends_on=deps["transmission_gap"]),
    }
    if not transmission_applies:  # De Wolff's r is a sensitivity -> attachment slope
        out["transmission"] = {"not_applicable": "the external slope (De Wolff & van IJzendoorn 1997) links "
                                                 "parental sensitivity to attachment; the headline mediator here is "
                                                 f"{jd.constructs[0]!r}"}
    pooled: dict[str, Any] = {}
    for k, c in enumerate(jd.constructs):
        s = quantity_summary(res, "mu", (k,), depends_on=(c,))
        s["p_benefit"] = s.pop("p_positive")
        pooled[c] = {"post": s}
    for j, cell in enumerate(jd.cells):
        c, tp = cell.split("@", 1)
        s = quantity_summary(res, "pooled_followup", (j,), depends_on=(c,))
        s["p_benefit"] = s.pop("p_positive")
        pooled[c][tp] = s
    out["pooled"] = pooled
    out["heterogeneity"] = {c: quantity_summary(res, "tau", (k,), depends_on=(c,)) for k, c in enumerate(jd.constructs)}
    corr = {}
    ii, jj = np.tril_indices(len(jd.constructs), -1)
    for p_i, (i, j) in enumerate(zip(ii, jj, strict=True)):
        ci, cj = jd.constructs[i], jd.constructs[j]
        corr[f"{cj}~{ci}"] = quantity_summary(res, "corr_pairs", (p_i,), depends_on=(ci, cj))
    out["correlations"] = corr
    if jd.cells:
        out["followup"] = {
            cell: {
                "d_mean": quantity_summary(res, "d_mean", (j,), depends_on=(cell.split("@")[0],)),
                "tau_delta": quantity_summary(res, "tau_delta", (j,), depends_on=(cell.split("@")[0],)),
            }
            for j, cell in enumerate(jd.cells)
        }
    if "rho_w" in res.dt["posterior"].data_vars:
        out["rho_w"] = quantity_summary(res, "rho_w")
    v = res.verdict
    out["diagnostics"] = {k: v.get(k) for k in (
        "max_rhat", "worst", "min_ess_bulk", "min_ess_tail", "divergences", "divergences_per_chain",
        "treedepth_hits", "ebfmi_min", "target_accept", "attempts", "problems", "passed")}
    out["options"] = res.options.to_dict()
    out["priors"] = {
        name: {"spec": getattr(p, "spec", None), "description": getattr(p, "description", None)}
        for name, p in ([(f"tau_{c}", res.tau_priors[c]) for c in jd.constructs]
                        + [(f"mu_{c}", res.mu_priors[c]) for c in jd.constructs])
    }
    out["fit"] = {"id": res.fit_id, "path": str(res.path) if res.path else None, "cached": bool(res.cached),
                  "seed": res.config.get("seed"), "sampler": res.config.get("sampler"), "notes": list(res.notes)}
    out["dag"] = J.dag_text(jd.mediators, jd.final)
    out["limitations"] = LIMITATIONS
    label_quantities(out, jd)
    add_surrogacy_and_evidence(out, res)
    return to_jsonable(out)


def add_surrogacy_and_evidence(out: dict[str, Any], res: JointFitResult) -> None:
    """Trial-level surrogacy, the mediation Bayes factor and the external-evidence prediction, in place.

    Surrogacy and the Bayes factor carry the identification label of the mediator–final correlation
    (no pairs: "prior only"); the external prediction is labelled as such, never as data.
    """
    from vfsynth.fits.external_evidence import external_summary
    from vfsynth.fits.mediation_bf import averaged_indirect, mediation_bayes_factor
    from vfsynth.fits.surrogacy import surrogacy_summary

    corr = out["mediation"].get("rho_m1_final") or {}
    ident = {k: corr.get(k) for k in ("identification", "informing_studies", "identification_reason")}
    out["surrogacy"] = surrogacy_summary(res) | ident
    out["bayes_factor"] = mediation_bayes_factor(res) | ident
    ind = out["mediation"].get("indirect") or {}
    out["averaged_indirect"] = averaged_indirect(
        np.asarray(res.dt["posterior"]["indirect"].values), out["bayes_factor"].get("bf10")
    ) | {k: ind.get(k) for k in ("identification", "informing_studies", "identification_reason")}
    ext = external_summary(res, seed=int(res.config.get("seed") or 0))
    if ext is not None:
        out["external_evidence"] = ext


def label_quantities(out: dict[str, Any], jd: J.JointData) -> None:
    """Informing-study counts, identification labels and quantile-only ratios
    (:mod:`vfsynth.fits.mediation_labels`), in place; ``out["identification"]`` lists them all."""
    from vfsynth.fits import mediation_labels as ML

    paths = []
    for path, info in ML.identification(jd).items():
        node: Any = out
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        ML.apply(node, info)
        head, last = path.split(".")[0], path.split(".")[-1]
        if head == "transmission" and node["identification"] == ML.POSTERIOR:
            # a * b_ext uses De Wolff's observational slope: a prediction, never a finding from these data
            node["identification"] = node["label"] = ML.EXTERNAL
        if head in ("mediation", "parallel") and last in ("b", "c_prime", "indirect", "proportion_mediated"):
            ML.quantiles_only(node)
        paths.append(path)
    out["identification_paths"] = paths
    out["identification_rule"] = ML.RULE
    out["identification"] = ML.table_rows(out)


LIMITATIONS = [
    "Between-study (ecological) regression: supports, but does not prove, mediation within dyads.",
    "Within-study correlation of outcomes (rho_w) is assumed, not reported; see the rho_w sensitivity table.",
    "Attachment security is put on the SMD scale with Chinn's logistic conversion (log OR = SMD * pi/sqrt(3)).",
    "Quantities involving an outcome without data show their prior and are labelled 'prior only — no data'.",
    "Count rows (binomial likelihood) are conditionally independent of a study's other rows given its true effects.",
]


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------
