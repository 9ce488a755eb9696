"""Which analyses the report runs, and running them: the analysis choices, apart from wording.

:func:`run_analyses` fits every outcome × time point with at least :data:`MIN_K_POOLED`
studies through an injectable ``fitter`` (default :func:`runner_fitter`, i.e.
:func:`vfsynth.fits.runner.fit_univariate`, which reuses saved fits of the same
configuration); tests inject known posteriors to build a report in seconds.
:func:`mediation_hook` runs the joint mediation model where that module exists. The
section modules (:mod:`vfsynth.reports.sections`) only turn these results into text.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vfsynth.reports import summaries as S
from vfsynth.reports.sections._common import optional_module
from vfsynth.reports.sections.runner import attempt

DEFAULT_SEED = 20190101
#: Fewest studies for a pooled analysis (fewer: shown unpooled under Data).
MIN_K_POOLED = 2

Fitter = Callable[[Any, Any, str | None, int, Callable[[str], None]], tuple[Any, dict]]


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
        """File-name and anchor key, unique per (outcome, time point): see :func:`analysis_slug`."""
        return analysis_slug(self.outcome, self.timepoint)


class Progress:
    """Progress messages on stderr with elapsed time (silent when disabled)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        if self.enabled:
            print(f"[vfsynth report {time.perf_counter() - self.t0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def runner_fitter(review, table, model: str | None, seed: int, say: Callable[[str], None], *,
                  engine: str = "auto") -> tuple[Any, dict]:
    """Fit with :func:`vfsynth.fits.runner.fit_univariate` (cached); returns (DataTree, info)."""
    from vfsynth.fits.runner import fit_univariate

    fit = fit_univariate(table, model=model, seed=seed, on_event=say, engine=engine)
    cfg = fit.config or {}
    return fit.dt, {
        "model": fit.model,
        "tau_prior": fit.tau_prior,
        "mu_prior": fit.mu_prior,
        "fit_id": fit.fit_id,
        "engine": fit.engine,
        "cached": fit.cached,
        "path": str(fit.path) if fit.path else None,
        "sampler": _cfg(cfg, "sampler"),
        "chains": _cfg(cfg, "chains"),
        "draws": _cfg(cfg, "draws"),
        "tune": _cfg(cfg, "tune"),
        "seed": seed,
        "notes": list(fit.notes),
    }


def engine_fitter(engine: str = "auto") -> Fitter | None:
    """The default fitter with a chosen engine (``None`` for ``"auto"``: the default fitter)."""
    if engine == "auto":
        return None

    def fitter(review, table, model, seed, say):
        return runner_fitter(review, table, model, seed, say, engine=engine)

    fitter.cache_token = f"runner_fitter/engine={engine}"  # keys the report cache (report_cache)
    return fitter


def _cfg(cfg: dict, key: str):
    if key in cfg:
        return cfg[key]
    for v in cfg.values():
        if isinstance(v, dict) and key in v:
            return v[key]
    return None


def run_analyses(
    review,
    *,
    seed: int,
    fitter: Fitter,
    say: Callable[[str], None],
    min_k: int = MIN_K_POOLED,
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
        def fit_and_summarise(res=res, table=table, outcome=outcome):
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

        # one failed analysis must not kill the report: it is kept with its error
        _, failure = attempt(f"fit of {res.label}", fit_and_summarise)
        if failure is not None:
            res.error = failure.text
            say(f"{res.label}: FAILED ({res.error})")
        pooled.append(res)
    return pooled, single


def mediation_hook(review, seed: int, say) -> dict | None:
    """Joint mediation model (:func:`vfsynth.fits.joint_runner.fit_joint` +
    :func:`~vfsynth.fits.joint_runner.summarize_joint`), if that module exists.

    Paths whose quantity depends on an outcome without data carry the joint runner's
    ``prior_only`` flag and are drawn as "prior only" with the prior's interval.
    """
    jr = optional_module("vfsynth.fits.joint_runner")
    if jr is None or not hasattr(jr, "fit_joint") or not hasattr(jr, "summarize_joint"):
        return None
    from vfsynth.data.bundled_examples import joint_defaults

    say("joint mediation model")
    # a bundled example (e.g. karner2014) names its own proximal and distal outcomes
    fit = jr.fit_joint(review, seed=seed, on_event=say, **joint_defaults(review))
    js = jr.summarize_joint(fit)
    med = js.get("mediation", {})
    paths, prior_only, rows = {}, set(), []
    for key in ("a", "b", "c_prime", "indirect"):
        q = med.get(key)
        if not q:
            paths[key] = None
            continue
        paths[key] = (float(q["median"]), float(q["q2.5"]), float(q["q97.5"]))
        # dashed in the diagram unless the identification rule calls it a posterior
        if q.get("prior_only") or q.get("identification", "posterior") != "posterior":
            prior_only.add(key)
    for key in ("a", "b", "c_prime", "indirect", "total", "proportion_mediated"):
        q = med.get(key)
        if q:
            iqr = q.get("learned_ratio_iqr")
            rows.append([key, f"{q['median']:.3f}", f"{q['q2.5']:.3f} to {q['q97.5']:.3f}",
                         q.get("identification", q.get("label", "")), str(q.get("informing_studies", "")),
                         "—" if iqr is None else f"{iqr:.2f}"])
    verdict = getattr(fit, "verdict", {}) or {}
    notes = list(getattr(fit, "notes", []))
    return {"paths": paths, "prior_only": prior_only, "rows": rows, "notes": notes,
            "problems": list(verdict.get("problems", [])), "scale": js.get("scale", ""),
            "identification": js.get("identification", []), "rule": js.get("identification_rule", ""),
            "extra": mediation_extra_lines(js),
            "mediators": list(js.get("mediators", [])), "final": js.get("final", ""),
            "note": "posterior median [95% CrI]; dashed = not labelled posterior (prior only or weakly identified)"}


def _iv(q: dict | None, scale: float = 1.0) -> str:
    if not q or q.get("median") is None:
        return "n/a"
    return f"{q['median'] * scale:.3f} ({q['q2.5'] * scale:.3f} to {q['q97.5'] * scale:.3f})"


def mediation_extra_lines(js: dict) -> list[str]:
    """Report lines on trial-level surrogacy, the mediation Bayes factor and the external-evidence
    prediction of a :func:`summarize_joint` object, each with its label."""
    out = []
    su = js.get("surrogacy")
    if su:
        ste = su.get("surrogate_threshold_effect")
        preds = "; ".join(f"proximal {p['proximal']:.2f} → distal {p['median']:.3f} ({p['low']:.3f} to {p['high']:.3f})"
                          for p in su.get("predictions", []))
        out.append(f"Trial-level surrogacy ({su.get('identification', '')}, {su.get('informing_studies', 0)} informing "
                   f"studies): R²_trial {_iv(su.get('r2_trial'))}; surrogate threshold effect "
                   + ("none within the searched range" if ste is None else f"{ste:.3f}")
                   + f"; predicted distal effect of a new trial: {preds}.")
    bf = js.get("bayes_factor")
    if bf and bf.get("bf10") is not None:
        lo, hi = bf["log10_bf10_mc_interval"]
        out.append(f"Bayes factor for a non-zero {su.get('proximal', '') if su else ''}–outcome correlation (≡ b ≠ 0), "
                   f"Savage–Dickey: BF10 = {bf['bf10']:.2f} (log10 Monte-Carlo interval {lo:.2f} to {hi:.2f}); "
                   f"label {bf.get('identification', '')}.")
    av = js.get("averaged_indirect")
    if av and av.get("computed"):
        out.append(f"Indirect effect averaged over mediation / no mediation (prior P = "
                   f"{av['prior_probability_mediation']:.2f}, posterior P = {av['posterior_probability_mediation']:.2f}): "
                   f"{_iv(av)}; label {av.get('identification', '')}.")
    ext = js.get("external_evidence")
    if ext:
        out.append(f"External-evidence prediction (not data; Zeegers et al. 2017 correlations, assumptions: "
                   f"{'; '.join(ext['assumptions'])}): attachment SMD through sensitivity {_iv(ext['via_sensitivity'])}, "
                   f"through reflective functioning {_iv(ext['via_reflective_functioning'])}, total {_iv(ext['total'])}"
                   + ("" if all(ext["mediator_effects_from_data"].values()) else
                      " (a mediator without data enters through its prior)") + ".")
    return out


#: Longest readable part of a slug (file names must stay far below the 255-byte limit).
SLUG_MAX = 60


def analysis_slug(outcome: str, timepoint: str) -> str:
    """A unique, bounded, file-system-safe key for one outcome x time point.

    ``outcome_timepoint`` is kept when it is injective: the outcome is ``[a-z0-9_]``, the time
    point ``[a-z0-9]`` (no underscore, so the last ``_`` splits the two) and the whole is at
    most :data:`SLUG_MAX` characters. Anything else (``anx/dep``, ``anx`` + ``dep_post``, upper
    case, 240-character names) becomes a readable prefix plus ``-`` and 10 hex digits of the
    SHA-256 of both names; ``-`` never occurs in the first form, so the two forms cannot collide.
    """
    import hashlib
    import re

    plain = f"{outcome}_{timepoint}"
    if (re.fullmatch(r"[a-z0-9_]+", outcome) and re.fullmatch(r"[a-z0-9]+", timepoint)
            and len(plain) <= SLUG_MAX):
        return plain
    readable = re.sub(r"[^a-z0-9]+", "_", plain.lower()).strip("_")[:SLUG_MAX].strip("_") or "x"
    digest = hashlib.sha256(f"{outcome}\0{timepoint}".encode()).hexdigest()[:10]
    return f"{readable}-{digest}"
