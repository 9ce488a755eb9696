"""The effect measures beyond SMD / MD / log OR: formulas, display scales and prior families.

Every formula returns ``(yi, vi)`` as metafor's ``escalc`` does with its defaults (Viechtbauer
2010, J Stat Softw 36(3); metafor 3.8-1: ``vtype="LS"``, ``add=1/2, to="only0"``);
``tests/reference/metafor_measures.json`` (script ``tests/reference/make_measures_reference.R``)
pins each one to 1e-6 on metadat datasets the other tests do not use.

:data:`MEASURES` is the one registry of the model-scale measures an
:class:`~vfsynth.data.effect_table.EffectTable` may carry: how a value is shown (exp for log
ratios, tanh for Fisher z, expit for logits) and which default-prior family applies
(:mod:`vfsynth.models.priors.defaults`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vfsynth.data.effects import _scalar


@dataclass(frozen=True)
class MeasureInfo:
    """One model-scale measure.

    Attributes
    ----------
    name : str
        Model-scale name (``"logRR"``, ``"ZCOR"``, ...).
    label : str
        What the number is, for tables.
    display : str
        Name of the scale results are shown on (``"RR"`` for ``logRR``).
    transform : {"identity", "exp", "tanh", "expit"}
        Model scale -> display scale.
    prior_family : str
        Default-prior family (:func:`vfsynth.models.priors.defaults.default_tau_prior`):
        ``"SMD"``, ``"logOR"``, ``"log-ratio"``, ``"RD"``, ``"logit"``, ``"proportion"``,
        ``"fisher-z"``, ``"correlation"``, ``"MD"`` (outcome units) or ``"none"`` (GIV without
        a known ``scale``: no default exists, priors must be given).
    contrast : bool
        True for treatment-vs-control measures; False for single-arm proportions and
        correlations (no "favours intervention" reading).
    """

    name: str
    label: str
    display: str
    transform: str
    prior_family: str
    contrast: bool = True


MEASURES: dict[str, MeasureInfo] = {
    m.name: m
    for m in (
        MeasureInfo("SMD", "standardised mean difference (Hedges' g)", "SMD", "identity", "SMD"),
        MeasureInfo("MD", "mean difference", "MD", "identity", "MD"),
        MeasureInfo("logOR", "log odds ratio", "OR", "exp", "logOR"),
        MeasureInfo("logRR", "log risk ratio", "RR", "exp", "log-ratio"),
        MeasureInfo("RD", "risk difference", "RD", "identity", "RD"),
        MeasureInfo("ROM", "log ratio of means", "ratio of means", "exp", "log-ratio"),
        MeasureInfo("logIRR", "log incidence rate ratio", "IRR", "exp", "log-ratio"),
        MeasureInfo("PLO", "logit proportion", "proportion", "expit", "logit", contrast=False),
        MeasureInfo("PR", "proportion", "proportion", "identity", "proportion", contrast=False),
        MeasureInfo("ZCOR", "Fisher z of a correlation", "r", "tanh", "fisher-z", contrast=False),
        MeasureInfo("COR", "correlation coefficient", "r", "identity", "correlation", contrast=False),
        MeasureInfo("GIV", "generic inverse-variance estimate", "GIV", "identity", "none"),
    )
}

#: GIV ``scale`` labels that name a known scale -> the prior family of that scale. Log hazard
#: ratios and other log ratios share the log-ratio family; anything else has no default.
GIV_SCALES: dict[str, str] = {
    "smd": "SMD",
    "md": "MD",
    "logor": "logOR",
    "logrr": "log-ratio",
    "loghr": "log-ratio",
    "logirr": "log-ratio",
    "logrom": "log-ratio",
    "logratio": "log-ratio",
    "rd": "RD",
    "fisherz": "fisher-z",
    "zcor": "fisher-z",
    "cor": "correlation",
}


def prior_family(measure: str, scale: str | None = None) -> str:
    """Default-prior family of a measure (for GIV: of its ``scale`` label, ``"none"`` if unknown)."""
    if measure == "GIV":
        key = (scale or "").strip().lower().replace("-", "").replace("_", "").replace(" ", "")
        return GIV_SCALES.get(key, "none")
    return MEASURES[measure].prior_family


def to_display(measure: str, value):
    """Model-scale value(s) -> the measure's display scale (:attr:`MeasureInfo.transform`)."""
    t = MEASURES[measure].transform if measure in MEASURES else "identity"
    v = np.asarray(value, dtype=float)
    if t == "exp":
        out = np.exp(v)
    elif t == "tanh":
        out = np.tanh(v)
    elif t == "expit":
        out = 1.0 / (1.0 + np.exp(-v))
    else:
        out = v
    return _scalar(out)


def from_display(measure: str, value):
    """Display-scale value(s) -> model scale (inverse of :func:`to_display`)."""
    t = MEASURES[measure].transform if measure in MEASURES else "identity"
    v = np.asarray(value, dtype=float)
    if t == "exp":
        out = np.log(v)
    elif t == "tanh":
        out = np.arctanh(v)
    elif t == "expit":
        out = np.log(v / (1.0 - v))
    else:
        out = v
    return _scalar(out)


def _add_if_zero(cells, add: float = 0.5):
    """metafor ``to="only0"``: add ``add`` to every cell of a table that has a zero cell."""
    cells = np.stack(np.broadcast_arrays(*(np.asarray(c, dtype=float) for c in cells)))
    zero = np.any(cells == 0, axis=0)
    return cells + np.where(zero, add, 0.0), zero


def log_risk_ratio(events_t, n_t, events_c, n_c, add: float = 0.5):
    r"""Log risk ratio and its variance (metafor ``escalc("RR")``).

    With cells :math:`a, b = n_t - a, c, d = n_c - c` (``add`` added to all four when one is
    zero, so the arm sizes grow by ``2·add``):

    .. math:: \log RR = \log\frac{a/(a+b)}{c/(c+d)},\qquad
              v = \frac1a - \frac1{a+b} + \frac1c - \frac1{c+d} .
    """
    a, n1, c, n2 = (np.asarray(x, dtype=float) for x in (events_t, n_t, events_c, n_c))
    (a, b, c, d), _ = _add_if_zero((a, n1 - a, c, n2 - c), add)
    n1, n2 = a + b, c + d
    return _scalar(np.log(a / n1) - np.log(c / n2)), _scalar(1 / a - 1 / n1 + 1 / c - 1 / n2)


def risk_difference(events_t, n_t, events_c, n_c, add: float = 0.5):
    r"""Risk difference and its large-sample variance (metafor ``escalc("RD")``, ``vtype="LS"``):
    :math:`p_1 - p_2`, :math:`v = p_1(1-p_1)/n_1 + p_2(1-p_2)/n_2`, with ``add`` added to the
    four cells of a table with a zero cell first (metafor's default ``to="only0"`` covers RD
    too; RevMan does not correct RD, so its RD of such a table differs slightly)."""
    a, n1, c, n2 = (np.asarray(x, dtype=float) for x in (events_t, n_t, events_c, n_c))
    (a, b, c, d), _ = _add_if_zero((a, n1 - a, c, n2 - c), add)
    n1, n2 = a + b, c + d
    p1, p2 = a / n1, c / n2
    return _scalar(p1 - p2), _scalar(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)


def log_ratio_of_means(n_t, mean_t, sd_t, n_c, mean_c, sd_c):
    r"""Log ratio of means (Hedges, Gurevitch & Curtis 1999, Ecology 80:1150; metafor ``ROM``):

    .. math:: \log\frac{\bar x_1}{\bar x_2},\qquad
              v = \frac{s_1^2}{n_1 \bar x_1^2} + \frac{s_2^2}{n_2 \bar x_2^2} .

    Needs means of the same sign (a ratio of means > 0).
    """
    n1, m1, s1, n2, m2, s2 = (
        np.asarray(a, dtype=float) for a in (n_t, mean_t, sd_t, n_c, mean_c, sd_c)
    )
    return _scalar(np.log(m1 / m2)), _scalar(s1**2 / (n1 * m1**2) + s2**2 / (n2 * m2**2))


def log_incidence_rate_ratio(events_t, time_t, events_c, time_c, add: float = 0.5):
    r"""Log incidence rate ratio for counts over person-time (metafor ``escalc("IRR")``):

    .. math:: \log\frac{x_1/t_1}{x_2/t_2},\qquad v = \frac1{x_1} + \frac1{x_2},

    ``add`` added to both counts when either is zero (``to="only0"``).
    """
    x1, t1, x2, t2 = (np.asarray(x, dtype=float) for x in (events_t, time_t, events_c, time_c))
    (x1, x2), _ = _add_if_zero((x1, x2), add)
    return _scalar(np.log(x1 / t1) - np.log(x2 / t2)), _scalar(1 / x1 + 1 / x2)


def logit_proportion(events, n, add: float = 0.5):
    r"""Logit of a single-arm proportion (metafor ``escalc("PLO")``):
    :math:`\log\frac{x}{n-x}`, :math:`v = \frac1x + \frac1{n-x}`, ``add`` to both cells when one
    is zero."""
    x, n = np.asarray(events, dtype=float), np.asarray(n, dtype=float)
    (x, y), _ = _add_if_zero((x, n - x), add)
    return _scalar(np.log(x / y)), _scalar(1 / x + 1 / y)


def raw_proportion(events, n, add: float = 0.5):
    r"""Single-arm proportion (metafor ``escalc("PR")``, ``vtype="LS"``): :math:`p = x/n`,
    :math:`v = p(1-p)/n`, with ``add`` added to both cells when one is zero (metafor's default,
    so a proportion of 0 or 1 keeps a positive variance)."""
    x, n = np.asarray(events, dtype=float), np.asarray(n, dtype=float)
    (x, y), _ = _add_if_zero((x, n - x), add)
    p = x / (x + y)
    return _scalar(p), _scalar(p * (1 - p) / (x + y))


def fisher_z(r, n):
    r"""Fisher's r-to-z transformation (metafor ``escalc("ZCOR")``):
    :math:`z = \operatorname{atanh} r`, :math:`v = 1/(n-3)`."""
    r, n = np.asarray(r, dtype=float), np.asarray(n, dtype=float)
    return _scalar(np.arctanh(r)), _scalar(1 / (n - 3))


def raw_correlation(r, n):
    r"""Raw correlation (metafor ``escalc("COR")``, ``vtype="LS"``):
    :math:`v = (1-r^2)^2/(n-1)`."""
    r, n = np.asarray(r, dtype=float), np.asarray(n, dtype=float)
    return _scalar(r), _scalar((1 - r**2) ** 2 / (n - 1))
