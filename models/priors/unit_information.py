"""Unit-information priors (Röver et al. 2021): half-normal on tau, normal on mu, scaled by the
unit-information SD of the analysis.

Röver C, Bender R, Dias S, Schmid CH, Schmidli H, Sturtz S, Weber S, Friede T (2021). On weakly
informative prior distributions for the heterogeneity parameter in Bayesian random-effects
meta-analysis. *Res Synth Methods* 12(4):448–474; fractions as the RoBMA defaults
(``HN(UISD/4)`` on tau, ``N(0, UISD/2)`` on mu).
"""

from __future__ import annotations

import math

import numpy as np

from vfsynth.models.priors.base import Prior, PriorSpecError, _fmt, _measure
from vfsynth.models.priors.location import Normal
from vfsynth.models.priors.scale import HalfNormal

__all__ = ["CONVENTIONAL_UISD", "UI_CITATION", "unit_information_mu", "unit_information_prior",
           "unit_information_sd"]

UI_CITATION = (
    "Röver C, Bender R, Dias S, Schmid CH, Schmidli H, Sturtz S, Weber S, Friede T (2021). On weakly "
    "informative prior distributions for the heterogeneity parameter in Bayesian random-effects "
    "meta-analysis. Res Synth Methods 12(4):448-474; fractions as RoBMA defaults."
)
#: Conventional unit-information SDs (RoBMA) used when the table has no sample sizes.
CONVENTIONAL_UISD = {"SMD": math.sqrt(2.0), "logOR": 2.0}


def unit_information_sd(measure: str | None = None, table=None) -> tuple[float, str]:
    """Unit-information standard deviation and how it was obtained.

    With a table reporting total sample sizes ``n_i`` (studies with unknown n are left out
    of both sums), :math:`UISD = \\sqrt{\\sum n_i / \\sum \\sigma_i^{-2}}` (Röver et al.
    2021). Otherwise the measure's conventional value: √2 for SMD, 2 for log OR (RoBMA).

    Note: with total-N the formula gives ≈ 2 for an SMD from equal arms (var(d) ≈ 4/N),
    while the RoBMA convention √2 corresponds to per-arm n.
    """
    if table is not None:
        measure = measure or table.measure
        n = np.asarray(table.n_total, dtype=float)
        se = np.asarray(table.se, dtype=float)
        ok = np.isfinite(n) & (n > 0)
        if ok.any():
            uisd = math.sqrt(n[ok].sum() / np.sum(se[ok] ** -2.0))
            return uisd, f"UISD = sqrt(sum n / sum se^-2) = {uisd:.4g} from {int(ok.sum())} of {len(n)} studies with n"
    if measure is None:
        raise PriorSpecError("unit-information prior needs a measure (SMD, logOR, MD) or a table")
    m = _measure(measure)
    if m not in CONVENTIONAL_UISD:
        raise PriorSpecError(f"unit-information prior for measure {m} needs a table with sample sizes (n_total)")
    return CONVENTIONAL_UISD[m], f"conventional UISD for {m} = {CONVENTIONAL_UISD[m]:.4g}"


def unit_information_prior(measure: str | None = None, table=None, fraction: float = 0.25) -> Prior:
    """Unit-information half-normal prior on tau: :math:`\\tau \\sim HN(fraction \\times UISD)`.

    ``fraction = 0.25`` is RoBMA's default (HN(0.354) for SMD, HN(0.5) for log OR without
    a table). See :func:`unit_information_sd`.
    """
    if not fraction > 0:
        raise PriorSpecError(f"unit-information fraction must be > 0, got {fraction}")
    uisd, how = unit_information_sd(measure, table)
    return HalfNormal(
        name="unit-information",
        params={"scale": fraction * uisd},
        citation=UI_CITATION,
        spec=f"ui:{_fmt(fraction)}",
        description=f"tau ~ HN({_fmt(fraction)} x UISD) = HN({fraction * uisd:.4g}); {how}",
    )


def unit_information_mu(measure: str | None = None, table=None, fraction: float = 0.5) -> Prior:
    """Unit-information normal prior on mu: :math:`\\mu \\sim N(0, (fraction \\times UISD)^2)` (RoBMA: UISD/2)."""
    if not fraction > 0:
        raise PriorSpecError(f"unit-information fraction must be > 0, got {fraction}")
    uisd, how = unit_information_sd(measure, table)
    return Normal(
        name="unit-information",
        params={"loc": 0.0, "scale": fraction * uisd},
        citation=UI_CITATION,
        spec=f"ui:{_fmt(fraction)}",
        description=f"mu ~ N(0, {_fmt(fraction)} x UISD) = N(0, {fraction * uisd:.4g}); {how}",
    )
