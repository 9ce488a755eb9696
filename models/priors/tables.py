"""Published empirical heterogeneity and effect priors, as data tables with their citations.

* :func:`turner_prior` — Turner RM, Jackson D, Wei Y, Thompson SG, Higgins JPT (2015).
  Predictive distributions for between-study heterogeneity and simple methods for their
  application in Bayesian meta-analysis. *Stat Med* 34(6):984–998. Log odds ratios.
  Values as tabulated in R bayesmeta ``TurnerEtAlPrior`` (Tab. IV).
* :func:`rhodes_prior` — Rhodes KM, Turner RM, Higgins JPT (2015). Predictive distributions
  were developed for the extent of heterogeneity in meta-analyses of continuous outcome data.
  *J Clin Epidemiol* 68(1):52–60. Standardised mean differences.
* :func:`bartos_prior` / :func:`bartos_mu_prior` — Bartoš F. et al., empirical priors fitted
  to the Cochrane Database of Systematic Reviews, as shipped in the R package BayesTools
  (``prior_informed``); SMD: Bartoš, Gronau, Timmers, Otte, Ly & Wagenmakers (2021) *Stat Med*
  40(30):6743–6761; log OR: Bartoš, Otte, Gronau, Timmers, Ly & Wagenmakers (2023),
  *Empirical prior distributions for Bayesian meta-analyses of binary and time-to-event
  outcomes* (arXiv:2306.11468).

Each table maps a row key to the published numbers and a label; the functions convert them to
the tau scale (Turner: variance scale halved, Rhodes: log-variance scale halved).
"""

from __future__ import annotations

from collections.abc import Sequence

from vfsynth.models.priors.base import Prior, PriorSpecError, _fmt, _measure, _norm_key
from vfsynth.models.priors.location import StudentT
from vfsynth.models.priors.scale import InverseGamma, LogNormal, LogT

__all__ = ["BARTOS_CITATION", "BARTOS_TABLE", "RHODES_CITATION", "RHODES_TABLE", "TURNER_CITATION",
           "TURNER_TABLE", "bartos_mu_prior", "bartos_prior", "rhodes_prior", "turner_prior"]

# --------------------------------------------------------------------------- Turner 2015

TURNER_CITATION = (
    "Turner RM, Jackson D, Wei Y, Thompson SG, Higgins JPT (2015). Predictive distributions for "
    "between-study heterogeneity and simple methods for their application in Bayesian meta-analysis. "
    "Stat Med 34(6):984-998 (Tab. IV, as tabulated in R bayesmeta TurnerEtAlPrior)."
)

#: (outcome, comparison) -> (m, s) of log(tau^2) ~ N(m, s^2), log odds ratio scale.
TURNER_TABLE: dict[tuple[str, str], tuple[float, float, str]] = {
    ("general", "general"): (-2.56, 1.74, "any outcome, any comparison"),
    ("mental-health", "non-pharmacological"): (-2.34, 1.72, "mental health indicators"),
    ("subjective", "non-pharmacological"): (-2.92, 1.71, "subjective outcomes (various)"),
    ("quality-of-life", "non-pharmacological"): (-2.77, 1.73, "quality of life / functioning (dichotomised)"),
    ("physical-health", "non-pharmacological"): (-2.51, 1.72, "general physical health indicators"),
    ("adverse-events", "non-pharmacological"): (-2.10, 1.71, "adverse events"),
    ("withdrawals", "non-pharmacological"): (-3.21, 1.91, "withdrawals / drop-outs"),
}
_TURNER_OUTCOME_ALIASES = {
    "any": "general", "all": "general",
    "mental": "mental-health", "mental-health-indicators": "mental-health",
    "subjective-outcomes": "subjective", "subjective-outcomes-various": "subjective",
    "qol": "quality-of-life", "quality-of-life-functioning": "quality-of-life", "functioning": "quality-of-life",
    "physical": "physical-health", "general-physical-health": "physical-health",
    "adverse": "adverse-events", "adverse-event": "adverse-events",
    "withdrawal": "withdrawals", "drop-outs": "withdrawals", "dropouts": "withdrawals",
}
_COMPARISON_ALIASES = {
    "any": "general", "all": "general",
    "non-pharmacological": "non-pharmacological", "nonpharmacological": "non-pharmacological",
    "non-pharma": "non-pharmacological", "non-pharmacological-vs-control": "non-pharmacological",
    "non-pharmacological-vs-placebo": "non-pharmacological",
    "non-pharmacological-vs-placebo-control": "non-pharmacological",
}


def _resolve(kind: str, value: str, aliases: dict[str, str], valid: Sequence[str]) -> str:
    key = _norm_key(value)
    key = aliases.get(key, key)
    if key not in valid:
        raise PriorSpecError(f"unknown {kind} {value!r}; valid: {', '.join(valid)}")
    return key


def _outcome_row(who: str, source: str, table: dict, aliases: dict[str, str], outcome: str,
                 comparison: str | None) -> tuple[str, str, tuple[float, float, str]]:
    """``(outcome, comparison, row)`` of a Turner / Rhodes table, names resolved through the
    aliases; a named outcome defaults to the non-pharmacological comparison."""
    outcomes = sorted({o for o, _ in table}, key=lambda o: (o != "general", o))
    out = _resolve(f"{who} outcome", outcome, aliases, outcomes)
    if comparison is None:
        comp = "general" if out == "general" else "non-pharmacological"
    else:
        comp = _resolve(f"{who} comparison", comparison, _COMPARISON_ALIASES, ("non-pharmacological", "general"))
    if (out, comp) not in table:
        valid = ", ".join(f"{o}:{c}" for o, c in table)
        raise PriorSpecError(f"{source} row {out}:{comp} is not in the registry; valid outcome:comparison pairs: {valid}")
    return out, comp, table[(out, comp)]


def turner_prior(outcome: str = "general", comparison: str | None = None) -> Prior:
    """Turner et al. (2015) empirical log-normal heterogeneity prior for log odds ratios.

    Published on the variance scale, :math:`\\tau^2 \\sim \\mathrm{LogNormal}(m, s^2)`;
    returned on tau: :math:`\\log\\tau \\sim N(m/2, (s/2)^2)`.

    Parameters
    ----------
    outcome : str
        ``general`` (any outcome, any comparison: m = -2.56, s = 1.74) or one of the
        non-pharmacological-vs-placebo/control rows: ``mental-health`` (-2.34, 1.72),
        ``subjective`` (-2.92, 1.71), ``quality-of-life`` (-2.77, 1.73),
        ``physical-health`` (-2.51, 1.72), ``adverse-events`` (-2.10, 1.71),
        ``withdrawals`` (-3.21, 1.91).
    comparison : str, optional
        ``non-pharmacological`` (default for a named outcome) or ``general`` (only with
        ``outcome="general"``). Other comparison types of Turner's Table IV are not carried.

    References
    ----------
    Turner RM et al. (2015) Stat Med 34(6):984–998.
    """
    out, comp, (m, s, label) = _outcome_row("Turner", "Turner et al. 2015", TURNER_TABLE,
                                            _TURNER_OUTCOME_ALIASES, outcome, comparison)
    return LogNormal(
        name="turner",
        params={"m": m / 2.0, "s": s / 2.0},
        citation=TURNER_CITATION,
        spec=f"turner:{out}:{comp}",
        description=(
            f"Turner et al. 2015, log OR, {label} ({comp}): tau^2 ~ LogNormal({m}, {s}^2), "
            f"i.e. log(tau) ~ N({_fmt(m / 2)}, {_fmt(s / 2)}^2)"
        ),
    )


# --------------------------------------------------------------------------- Rhodes 2015

RHODES_CITATION = (
    "Rhodes KM, Turner RM, Higgins JPT (2015). Predictive distributions were developed for the extent "
    "of heterogeneity in meta-analyses of continuous outcome data. J Clin Epidemiol 68(1):52-60."
)

#: (outcome, comparison) -> (m, s) of log(tau^2) ~ t_5(m, s), SMD scale.
RHODES_TABLE: dict[tuple[str, str], tuple[float, float, str]] = {
    ("general", "general"): (-3.44, 2.59, "general (marginal over settings)"),
    ("subjective", "non-pharmacological"): (-2.62, 2.41, "various subjectively measured outcomes"),
    ("mental-health", "non-pharmacological"): (-3.85, 1.93, "mental health outcome"),
    ("physical-health", "non-pharmacological"): (-3.02, 2.27, "general physical health / adverse event / pain / quality of life"),
    ("signs-symptoms", "non-pharmacological"): (-2.86, 2.33, "signs / symptoms of condition"),
}
_RHODES_OUTCOME_ALIASES = {
    "any": "general", "all": "general",
    "subjective-outcomes": "subjective", "subjectively-measured": "subjective",
    "mental": "mental-health", "mental-health-outcome": "mental-health",
    "physical": "physical-health", "general-physical-health": "physical-health",
    "adverse-events": "physical-health", "adverse-event": "physical-health", "pain": "physical-health",
    "quality-of-life": "physical-health", "qol": "physical-health",
    "signs": "signs-symptoms", "symptoms": "signs-symptoms", "signs-and-symptoms": "signs-symptoms",
}


def rhodes_prior(outcome: str = "general", comparison: str | None = None) -> Prior:
    """Rhodes et al. (2015) empirical log-t_5 heterogeneity prior for SMDs.

    Published as :math:`\\log\\tau^2 \\sim t_5(m, s)`; returned on tau as
    :math:`\\log\\tau \\sim t_5(m/2, s/2)` (family ``log-t``). Rows: ``general`` (marginal,
    m = -3.44, s = 2.59) and, medical area "other", non-pharmacological comparisons:
    ``subjective`` (-2.62, 2.41), ``mental-health`` (-3.85, 1.93), ``physical-health``
    (general physical health / adverse event / pain / QoL; -3.02, 2.27),
    ``signs-symptoms`` (-2.86, 2.33).

    Warnings
    --------
    The ``mental-health`` location -3.85 is shipped as published (and as carried by R
    bayesmeta ``RhodesEtAlPrior`` and rnmamod) but is suspect: in every other row of Rhodes'
    table the non-pharmacological location equals the pharmacological-vs-placebo location
    + 0.14, which would give -2.85. With -3.85 the implied median tau is 0.146 instead of
    0.240. Prefer ``subjective`` or run both as a sensitivity analysis. Log-t_5 priors have
    very heavy upper tails (general row: 97.5% quantile of tau = 5 SD units).

    References
    ----------
    Rhodes KM, Turner RM, Higgins JPT (2015) J Clin Epidemiol 68(1):52–60.
    """
    out, comp, (m, s, label) = _outcome_row("Rhodes", "Rhodes et al. 2015", RHODES_TABLE,
                                            _RHODES_OUTCOME_ALIASES, outcome, comparison)
    flag = (" CAUTION: location -3.85 as published; the table's pattern suggests -2.85 (possible typo)."
            if out == "mental-health" else "")
    return LogT(
        name="rhodes",
        params={"df": 5.0, "m": m / 2.0, "s": s / 2.0},
        citation=RHODES_CITATION,
        spec=f"rhodes:{out}:{comp}",
        description=(
            f"Rhodes et al. 2015, SMD, {label} ({comp}): log(tau^2) ~ t_5({m}, {s}), "
            f"i.e. log(tau) ~ t_5({_fmt(m / 2)}, {_fmt(s / 2)}).{flag}"
        ),
    )


# --------------------------------------------------------------------------- Bartos

BARTOS_CITATION = {
    "SMD": ("Bartoš F, Gronau QF, Timmers B, Otte WM, Ly A, Wagenmakers E-J (2021). Bayesian "
            "model-averaged meta-analysis in medicine. Stat Med 40(30):6743-6761; values as in R "
            "BayesTools prior_informed()."),
    "logOR": ("Bartoš F, Otte WM, Gronau QF, Timmers B, Ly A, Wagenmakers E-J (2023). Empirical prior "
              "distributions for Bayesian meta-analyses of binary and time-to-event outcomes. "
              "arXiv:2306.11468; values as in R BayesTools prior_informed()."),
}

#: (group, measure) -> ((mu t: df, loc, scale), (tau IG: shape, scale), label)
BARTOS_TABLE: dict[tuple[str, str], tuple[tuple[float, float, float], tuple[float, float], str]] = {
    ("cochrane", "SMD"): ((5.0, 0.0, 0.43), (1.71, 0.40), "Cochrane overall"),
    ("developmental", "SMD"): ((5.0, 0.0, 0.18), (1.43, 0.12), "Developmental, Psychosocial and Learning Problems"),
    ("common-mental", "SMD"): ((5.0, 0.0, 0.55), (1.62, 0.45), "Common Mental Disorders"),
    ("cochrane", "logOR"): ((4.0, 0.0, 0.58), (1.77, 0.55), "Cochrane overall"),
    ("developmental", "logOR"): ((5.0, 0.0, 0.83), (1.83, 0.82), "Developmental, Psychosocial and Learning Problems"),
}
_BARTOS_GROUP_ALIASES = {
    "overall": "cochrane", "general": "cochrane", "all": "cochrane", "cochrane-overall": "cochrane",
    "dplp": "developmental", "developmental-psychosocial-and-learning-problems": "developmental",
    "developmental-psychosocial-learning-problems": "developmental",
    "developmental-psychosocial-learning": "developmental",
    "cmd": "common-mental", "common-mental-disorders": "common-mental",
}
def _bartos_row(group: str, measure: str):
    groups = sorted({g for g, _ in BARTOS_TABLE})
    g = _resolve("Bartoš review group", group, _BARTOS_GROUP_ALIASES, groups)
    m = _measure(measure)
    if (g, m) not in BARTOS_TABLE:
        valid = ", ".join(f"{a}:{b}" for a, b in BARTOS_TABLE)
        raise PriorSpecError(f"Bartoš prior for {g}:{m} is not in the registry; valid group:measure pairs: {valid}")
    return g, m, BARTOS_TABLE[(g, m)]


def bartos_prior(group: str = "cochrane", measure: str = "SMD") -> Prior:
    """Bartoš et al. empirical Cochrane heterogeneity prior: :math:`\\tau \\sim IG(a, b)`.

    Inverse-gamma (shape ``a``, scale ``b``) on tau itself (not tau^2), fitted to the
    Cochrane Database by review group. Rows: SMD — ``cochrane`` IG(1.71, 0.40),
    ``developmental`` (Developmental, Psychosocial and Learning Problems; CD012348's group)
    IG(1.43, 0.12), ``common-mental`` IG(1.62, 0.45); log OR — ``cochrane`` IG(1.77, 0.55),
    ``developmental`` IG(1.83, 0.82). The density vanishes at tau = 0 (zero-avoiding).
    """
    g, m, ((_df, _loc, _sc), (a, b), label) = _bartos_row(group, measure)
    return InverseGamma(
        name="bartos",
        params={"shape": a, "scale": b},
        citation=BARTOS_CITATION[m],
        spec=f"bartos:{g}:{m}",
        description=f"Bartoš et al. empirical prior, {m}, {label}: tau ~ InvGamma(shape {a}, scale {b})",
    )


def bartos_mu_prior(group: str = "cochrane", measure: str = "SMD") -> Prior:
    """Bartoš et al. empirical Cochrane prior on mu: :math:`\\mu \\sim t_{df}(0, s)`.

    SMD — ``cochrane`` t(0, 0.43, df 5), ``developmental`` t(0, 0.18, df 5),
    ``common-mental`` t(0, 0.55, df 5); log OR — ``cochrane`` t(0, 0.58, df 4),
    ``developmental`` t(0, 0.83, df 5).
    """
    g, m, ((df, loc, sc), _ig, label) = _bartos_row(group, measure)
    return StudentT(
        name="bartos",
        params={"df": df, "loc": loc, "scale": sc},
        citation=BARTOS_CITATION[m],
        spec=f"bartos:{g}:{m}",
        description=f"Bartoš et al. empirical prior, {m}, {label}: mu ~ Student-t(0, {sc}, df {_fmt(df)})",
    )
