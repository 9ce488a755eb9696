"""Default priors for the measures beyond SMD / log OR / MD (issue 14), chosen from the scale.

Each measure's *prior family* (:func:`vfsynth.data.measures.prior_family`) fixes the defaults;
a GIV estimate takes the family of its ``scale`` label (``logHR`` -> log ratio, ``SMD`` -> SMD,
...), and a GIV estimate on an unknown scale has **no** default mu prior: a flat prior would
pretend the scale is an MD's and a proper one needs the units, so the user is asked for one.

=============  ==========================  ================================================
family         tau                         mu
=============  ==========================  ================================================
log-ratio      ``half-normal:0.5``         ``normal:0,1.8138`` (as log OR: ratios 0.03-35)
RD             ``half-normal:0.2``         ``normal:0,0.5`` (95% within -0.98..0.98)
logit          ``half-normal:1``           ``normal:0,1.8138`` (95% of proportions 0.03-0.97)
proportion     ``half-normal:0.2``         ``normal:0.5,0.25`` (95% of proportions 0.01-0.99)
fisher-z, r    ``half-normal:0.25``        ``normal:0,0.5`` (95% within abs(r) < 0.75)
=============  ==========================  ================================================

Why: log risk, rate and mean ratios have the magnitudes of log odds ratios (Turner et al. 2015
report log-RR and log-OR heterogeneity on one scale), so the log-OR choices (Röver 2020: HN(0.5);
the Chinn-carried N(0, 1.8138)) carry over. Risk differences, proportions and correlations are
bounded, so the priors are sized to the bound: each mu prior puts 95% of its mass inside the
possible range and each tau prior makes a between-study SD of a third of that range unlikely
(P(tau > 0.5) = 0.012 for RD, P(tau > 0.5) = 0.046 for Fisher z). Between-study variation of
single-arm event rates is larger than of contrasts (populations differ), hence HN(1) on logits
(Röver 2020's other routine choice).
"""

from __future__ import annotations

from vfsynth.data.effects import CHINN_FACTOR
from vfsynth.data.measures import prior_family
from vfsynth.models.priors.base import Prior, PriorSpecError
from vfsynth.models.priors.factories import ROVER_2020, half_normal, normal_mu

#: family -> (tau HN scale, mu loc, mu scale)
FAMILY_DEFAULTS: dict[str, tuple[float, float, float]] = {
    "log-ratio": (0.5, 0.0, round(CHINN_FACTOR, 4)),
    "RD": (0.2, 0.0, 0.5),
    "logit": (1.0, 0.0, round(CHINN_FACTOR, 4)),
    "proportion": (0.2, 0.5, 0.25),
    "fisher-z": (0.25, 0.0, 0.5),
    "correlation": (0.25, 0.0, 0.5),
}


def table_family(measure: str, table=None) -> str:
    """Prior family of ``measure`` (a GIV table's ``meta["scale"]`` picks its family)."""
    scale = None if table is None else getattr(table, "meta", {}).get("scale")
    return prior_family(measure, scale)


def family_tau_prior(measure: str, family: str) -> Prior:
    """Default tau prior of a measure of a bounded or log-ratio family (table above)."""
    scale = FAMILY_DEFAULTS[family][0]
    return half_normal(scale, citation=ROVER_2020,
                       description=f"default for {measure} ({family} scale): tau ~ HN({scale:g})")


def family_mu_prior(measure: str, family: str) -> Prior:
    """Default mu prior of a measure of a bounded or log-ratio family; GIV on an unknown scale
    raises :class:`PriorSpecError` (see the module docstring)."""
    if family == "none":
        raise PriorSpecError(
            f"no default mu prior for a {measure} estimate without a known scale: give one (e.g. "
            "'normal:0,S' with S a plausible effect size in the estimate's units) or label the rows' "
            "scale (scale column: SMD, MD, logOR, logRR, logHR, RD, ZCOR, COR)"
        )
    _, loc, scale = FAMILY_DEFAULTS[family]
    return normal_mu(loc, scale, description=f"default for {measure} ({family} scale): mu ~ N({loc:g}, {scale:g})")
