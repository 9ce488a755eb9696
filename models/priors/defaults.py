"""The named prior registry, the default priors of an analysis and their resolution.

Default priors for CD012348 (and why)
-------------------------------------
See :func:`default_tau_prior`, :func:`default_mu_prior` and :func:`describe_defaults`.
CD012348 is a Cochrane Developmental, Psychosocial and Learning Problems review of a
non-pharmacological intervention (video feedback) against control.

* **tau, SMD outcomes** (parental sensitivity — observer-rated; reflective functioning;
  AQS attachment): ``half-normal:0.5``. Median 0.337, P(tau > 1) = 0.046: heterogeneity of
  one full SD between trials is treated as "fairly extreme", as it is for behavioural
  interventions scored on standardised scales. This is ``HN(UISD/4)`` for the per-patient
  unit-information SD of an SMD computed on total N (var(d) ≈ 4/N, UISD ≈ 2; Röver et
  al. 2021). It keeps positive density at tau = 0, so homogeneous evidence is not
  pushed away from zero (the inverse-gamma Bartoš priors have zero density near 0), and it
  avoids the very heavy upper tail of the Rhodes log-t_5 priors (Rhodes general: 97.5% at
  tau = 5 SD), which matters for small analyses such as reflective functioning. The
  field-specific Rhodes "subjective" and Bartoš "developmental" priors are offered as
  sensitivity analyses (``vfsynth sensitivity``), not as the default, because Rhodes'
  mental-health row is suspect (see :func:`rhodes_prior`) and Bartoš' developmental prior
  (median tau ≈ 0.1) is informative enough to drive small analyses.
* **tau, log OR attachment outcomes** (secure vs insecure; disorganised):
  ``turner:mental-health:non-pharmacological``, i.e. tau ~ LogNormal(-1.17, 0.86²),
  median 0.31, 95% (0.058, 1.68). Attachment classification is a child socio-emotional
  (mental-health) indicator and the comparison is non-pharmacological vs control —
  exactly a Turner et al. (2015) category, predictive distributions calibrated on Cochrane
  binary-outcome meta-analyses. Its log-normal tail is moderate (unlike log-t).
* **tau, other log OR outcomes** (any user review, outcome type unknown):
  ``half-normal:0.5`` — the routine weakly-informative choice for log ORs (Röver 2020;
  RoBMA ``HN(UISD/4)`` with UISD = 2).
* **tau, MD**: no scale-free default exists; the unit-information prior ``ui`` is used when
  the table reports sample sizes, otherwise a half-Cauchy scaled by the typical within-study
  SE :math:`\\sqrt{k / \\sum s_i^{-2}}` (Gelman 2006; uses the design's precision only, never
  the estimates). Either needs the table; without it a ``ValueError`` asks for a prior.
* **mu, SMD**: ``normal:0,1`` — 95% prior mass on |SMD| < 1.96, covering every effect a
  parenting intervention could plausibly have while ruling out absurd ones; weakly
  informative relative to the data of any included analysis.
* **mu, log OR**: ``normal:0,1.8138`` — the same prior carried to the log-OR scale by the
  logistic conversion log OR = SMD·π/√3 (Chinn 2000), so that continuous and binary
  attachment outcomes share one belief about the latent effect (OR 95% range 0.03–35).
* **mu, MD**: ``flat`` (improper) — no natural scale; the posterior is proper for k ≥ 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from vfsynth.data.effects import CHINN_FACTOR as SMD_TO_LOGOR
from vfsynth.models.priors.base import Prior, PriorSpecError, _measure
from vfsynth.models.priors.factories import (
    flat_mu,
    gamma_tau,
    half_cauchy,
    half_normal,
    normal_mixture_mu,
    normal_mu,
    student_t_mu,
)
from vfsynth.models.priors.grammar import parse_prior
from vfsynth.models.priors.measure_defaults import (
    FAMILY_DEFAULTS,
    family_mu_prior,
    family_tau_prior,
    table_family,
)
from vfsynth.models.priors.tables import (
    BARTOS_TABLE,
    RHODES_TABLE,
    TURNER_TABLE,
    bartos_mu_prior,
    bartos_prior,
    rhodes_prior,
    turner_prior,
)
from vfsynth.models.priors.unit_information import (
    CONVENTIONAL_UISD,
    UI_CITATION,
    unit_information_mu,
    unit_information_prior,
)

__all__ = ["ATTACHMENT_BINARY_OUTCOMES", "REGISTRY", "default_mu_prior", "default_tau_prior",
           "describe_defaults", "list_priors", "resolve_priors"]

#: Named factories: name -> (target, factory, one-line description).
REGISTRY: dict[str, tuple[str, Callable[..., Prior], str]] = {
    "half-normal": ("tau", half_normal, "half-normal(scale) on tau"),
    "half-cauchy": ("tau", half_cauchy, "half-Cauchy(scale) on tau (Gelman 2006)"),
    "turner": ("tau", turner_prior, "Turner et al. 2015 empirical log-normal, log OR, by outcome type"),
    "rhodes": ("tau", rhodes_prior, "Rhodes et al. 2015 empirical log-t_5, SMD, by outcome type"),
    "bartos": ("tau", bartos_prior, "Bartoš et al. empirical inverse-gamma on tau, by Cochrane group"),
    "unit-information": ("tau", unit_information_prior, "HN(fraction x UISD), Röver et al. 2021"),
    "bartos-mu": ("mu", bartos_mu_prior, "Bartoš et al. empirical Student-t on mu, by Cochrane group"),
    "unit-information-mu": ("mu", unit_information_mu, "N(0, fraction x UISD), RoBMA default"),
    "normal": ("mu", normal_mu, "normal(loc, scale) on mu"),
    "student-t": ("mu", student_t_mu, "Student-t(df, loc, scale) on mu"),
    "flat": ("mu", flat_mu, "improper flat prior on mu"),
    "gamma": ("tau", gamma_tau, "Gamma(shape, rate) on tau (exported posteriors)"),
    "normal-mixture": ("mu", normal_mixture_mu, "normal mixture on mu (robust MAP priors, Schmidli et al. 2014)"),
}


def list_priors(target: str | None = None) -> list[Prior]:
    """Every named registry prior (all table rows; UI priors at their conventional UISD).

    Parameters
    ----------
    target : {"tau", "mu"}, optional
        Restrict to one target.
    """
    out: list[Prior] = [half_normal(0.5), half_normal(1.0), half_cauchy(0.5)]
    out += [turner_prior(o, c) for o, c in TURNER_TABLE]
    out += [rhodes_prior(o, c) for o, c in RHODES_TABLE]
    out += [bartos_prior(g, m) for g, m in BARTOS_TABLE]
    out += [unit_information_prior(m) for m in CONVENTIONAL_UISD]
    out += [normal_mu(0, 1), normal_mu(0, SMD_TO_LOGOR), flat_mu()]
    out += [bartos_mu_prior(g, m) for g, m in BARTOS_TABLE]
    out += [unit_information_mu(m) for m in CONVENTIONAL_UISD]
    if target is not None:
        out = [p for p in out if p.target == target]
    return out


#: Outcomes of CD012348 whose log-OR tau default is the Turner mental-health row.
ATTACHMENT_BINARY_OUTCOMES = ("attachment_security", "attachment_disorganised")


def default_tau_prior(measure: str, outcome: str | None = None, table=None) -> Prior:
    """Default heterogeneity prior for an analysis.

    * SMD (any outcome; CD012348: sensitivity, reflective functioning, AQS):
      ``half-normal:0.5`` — weakly informative, HN(UISD/4) with the total-N UISD ≈ 2 of an
      SMD (Röver et al. 2021); P(tau > 1 SD) = 0.046; positive density at 0; none of the
      heavy log-t tail of Rhodes et al. priors (Rhodes' mental-health row is also suspect).
    * log OR, attachment outcomes (``attachment_security``, ``attachment_disorganised``):
      ``turner:mental-health:non-pharmacological`` — Turner et al. (2015) predictive
      distribution for exactly this outcome type (child socio-emotional / mental-health
      indicator) and comparison (non-pharmacological vs control).
    * log OR, any other outcome: ``half-normal:0.5`` (Röver 2020; RoBMA HN(UISD/4), UISD = 2).
    * MD: unit-information HN(UISD/4) computed from ``table`` sample sizes; without sample
      sizes, half-Cauchy with scale the typical within-study SE :math:`\\sqrt{k/\\sum s_i^{-2}}`
      (Gelman 2006: the half-Cauchy's heavy tail tolerates a misjudged scale; the scale uses
      the design's precision, never the estimates). Without a table a :class:`PriorSpecError` asks for
      an explicit prior (an MD has no scale-free default).

    * Other measures (log RR / IRR / ROM, RD, PLO, PR, ZCOR, COR, GIV with a ``scale``):
      by the measure's scale, :mod:`vfsynth.models.priors.measure_defaults`.

    See the :mod:`vfsynth.models.priors.defaults` docstring for the full argument.
    """
    family = table_family(measure, table)
    if family in FAMILY_DEFAULTS:
        return family_tau_prior(measure, family)
    if measure == "GIV":  # GIV on the SMD / log-OR / MD scale or on none: that scale's rules
        measure = {"SMD": "SMD", "logOR": "logOR"}.get(family, "MD")
    m = _measure(measure)
    if m == "SMD":
        return half_normal(0.5, citation=UI_CITATION + " Röver C (2020) J Stat Softw 93(6).",
                           description="default for SMD: tau ~ HN(0.5) (= HN(UISD/4), UISD = 2 on total N)")
    if m == "logOR":
        if outcome is not None and outcome in ATTACHMENT_BINARY_OUTCOMES:
            return turner_prior("mental-health", "non-pharmacological")
        return half_normal(0.5, description="default for log OR: tau ~ HN(0.5) (Röver 2020; RoBMA HN(UISD/4), UISD = 2)")
    if table is not None:
        n = np.asarray(table.n_total, dtype=float)
        if np.any(np.isfinite(n) & (n > 0)):
            return unit_information_prior(m, table=table)
        se = np.asarray(table.se, dtype=float)
        typical = float(math.sqrt(len(se) / np.sum(se**-2.0)))
        return half_cauchy(typical, description=(
            f"default for {m} without sample sizes: tau ~ half-Cauchy(scale {typical:.4g}) = the "
            "typical within-study SE sqrt(k / sum se^-2); the heavy tail tolerates a misjudged scale"))
    raise PriorSpecError(
        f"no default heterogeneity prior for measure {m} without the table (its scale is the outcome's own "
        "units): give one explicitly, e.g. 'half-normal:S' with S a plausible between-study SD, or pass table="
    )


def default_mu_prior(measure: str, table=None) -> Prior:
    """Default prior on the pooled effect mu.

    * SMD: ``normal:0,1`` — 95% of prior mass on |SMD| < 1.96; weakly informative.
    * log OR: ``normal:0,1.8138`` — the SMD prior carried to the log-OR scale by the logistic
      conversion (× π/√3, Chinn 2000), so binary and continuous attachment outcomes share one
      prior belief about the latent effect.
    * MD: ``flat`` — no natural scale; the posterior of mu is proper for k >= 1.
    * Other measures: by the measure's scale (:mod:`vfsynth.models.priors.measure_defaults`);
      a GIV estimate on no known scale has no default (``PriorSpecError``), never MD's flat one.
    """
    family = table_family(measure, table)
    if family in FAMILY_DEFAULTS or family == "none":
        return family_mu_prior(measure, family)
    if measure == "GIV":
        measure = family
    m = _measure(measure)
    if m == "SMD":
        return normal_mu(0.0, 1.0, description="default for SMD: mu ~ N(0, 1)")
    if m == "logOR":
        return normal_mu(0.0, round(SMD_TO_LOGOR, 4),
                         citation="Chinn S (2000). A simple method for converting an odds ratio to effect size for use in meta-analysis. Stat Med 19(22):3127-3131.",
                         description="default for log OR: mu ~ N(0, 1.8138) = N(0, 1) on the SMD scale x pi/sqrt(3)")
    return flat_mu()


def describe_defaults() -> str:
    """Markdown text stating each default prior, its quantiles and the reasoning (for the README)."""
    lines = ["| analysis | tau prior | tau 2.5/50/97.5% | mu prior |", "|---|---|---|---|"]
    rows = [("SMD (sensitivity, reflective functioning, AQS)", "SMD", None),
            ("log OR, attachment security / disorganisation", "logOR", "attachment_security"),
            ("log OR, other outcomes", "logOR", None)]
    for label, meas, outc in rows:
        tp = default_tau_prior(meas, outc)
        q = " / ".join(f"{v:.3g}" for v in tp.quantiles())
        lines.append(f"| {label} | `{tp.spec}` | {q} | `{default_mu_prior(meas).spec}` |")
    lines.append("| MD | `ui` with sample sizes, else half-Cauchy(typical SE) | data-dependent | `flat` |")
    doc = __doc__ or ""
    start = doc.find("Default priors for CD012348")
    why = doc[start:].strip() if start >= 0 else ""
    return "\n".join(lines) + "\n\n" + why + "\n"


def resolve_priors(table, model: str, tau_prior=None, mu_prior=None) -> tuple[Prior | None, Prior]:
    """The ``(tau prior, mu prior)`` of an analysis: given priors kept, spec strings parsed,
    missing ones filled with the defaults for the table's measure and outcome.

    The one place every runner resolves priors, so that table-dependent priors (an MD's
    unit-information default, a ``ui`` or ``bartos`` spec without a measure) work the same in
    ``vfsynth fit``, ``compare``, ``sensitivity`` and the report.

    Parameters
    ----------
    table : EffectTable
        Supplies the measure, the outcome (:func:`default_tau_prior`) and the sample sizes and
        standard errors (unit-information / MD defaults); passed to :func:`parse_prior` as well.
    model : str
        ``"common-effect"`` has no heterogeneity: its tau prior is ``None`` (a given one is
        dropped). Any other model gets a tau prior.
    tau_prior, mu_prior : Prior, str or None
        A prior, a specification (:data:`GRAMMAR`) or ``None`` for the default.

    Returns
    -------
    tuple
        ``(tau_prior or None, mu_prior)``.
    """
    if isinstance(tau_prior, str):
        tau_prior = parse_prior(tau_prior, target="tau", table=table)
    if isinstance(mu_prior, str):
        mu_prior = parse_prior(mu_prior, target="mu", table=table)
    if model == "common-effect":
        tau_prior = None
    elif tau_prior is None:
        tau_prior = default_tau_prior(table.measure, outcome=table.outcome, table=table)
    if mu_prior is None:
        mu_prior = default_mu_prior(table.measure, table=table)
    return tau_prior, mu_prior
