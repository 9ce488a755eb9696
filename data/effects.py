"""Study-level effect sizes and their sampling variances.

Every function returns an estimate *with* its variance (an estimate never travels without it).
Formulas follow metafor's ``escalc`` (Viechtbauer 2010, J Stat Softw 36(3); metafor 3.8-1 defaults)
unless an option says otherwise; ``tests/reference/metafor_escalc.json`` pins them to 1e-6.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

#: Chinn (2000) factor between log odds ratio and SMD: pi / sqrt(3).
CHINN_FACTOR = math.pi / math.sqrt(3.0)


def hedges_j(df):
    r"""Exact small-sample correction factor of Hedges (1981).

    .. math:: J(m) = \frac{\Gamma(m/2)}{\sqrt{m/2}\,\Gamma((m-1)/2)},\qquad m = n_1 + n_2 - 2,

    computed on the log scale (``gammaln``) as metafor's ``.cmicalc`` does.
    """
    m = np.asarray(df, dtype=float)
    return np.exp(special.gammaln(m / 2) - 0.5 * np.log(m / 2) - special.gammaln((m - 1) / 2))


def hedges_g(n_t, mean_t, sd_t, n_c, mean_c, sd_c, variance: str = "metafor"):
    r"""Standardised mean difference (Hedges' *g*) of treatment minus control, and its variance.

    .. math::

        s_p = \sqrt{\frac{(n_1-1)s_1^2 + (n_2-1)s_2^2}{n_1+n_2-2}},\quad
        d = \frac{\bar x_1 - \bar x_2}{s_p},\quad g = J\,d

    ``variance="metafor"`` (default; metafor ``escalc(measure="SMD")``, ``vtype="LS"``):
    exact :func:`hedges_j` and

    .. math:: v = \frac{1}{n_1} + \frac{1}{n_2} + \frac{g^2}{2(n_1+n_2)} .

    ``variance="revman"`` (RevMan 5 statistical algorithms, Deeks & Higgins 2010,
    "Statistical algorithms in Review Manager 5", section on SMD): the approximate
    correction :math:`J \approx 1 - 3/(4N - 9)` and

    .. math:: v = \frac{N}{n_1 n_2} + \frac{g^2}{2(N - 3.94)},\qquad N = n_1 + n_2 .

    Returns
    -------
    (g, v) : floats (or arrays, broadcasting the inputs)
    """
    n1, m1, s1, n2, m2, s2 = (
        np.asarray(a, dtype=float) for a in (n_t, mean_t, sd_t, n_c, mean_c, sd_c)
    )
    sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))
    d = (m1 - m2) / sp
    big_n = n1 + n2
    if variance == "metafor":
        g = hedges_j(big_n - 2) * d
        v = 1 / n1 + 1 / n2 + g**2 / (2 * big_n)
    elif variance == "revman":
        g = (1 - 3 / (4 * big_n - 9)) * d
        v = big_n / (n1 * n2) + g**2 / (2 * (big_n - 3.94))
    else:
        raise ValueError(f"variance must be 'metafor' or 'revman', got {variance!r}")
    return _scalar(g), _scalar(v)


def mean_difference(n_t, mean_t, sd_t, n_c, mean_c, sd_c):
    r"""Raw mean difference and its variance (metafor ``MD``, ``vtype="LS"``):
    :math:`\bar x_1-\bar x_2`, :math:`v = s_1^2/n_1 + s_2^2/n_2`."""
    n1, m1, s1, n2, m2, s2 = (
        np.asarray(a, dtype=float) for a in (n_t, mean_t, sd_t, n_c, mean_c, sd_c)
    )
    return _scalar(m1 - m2), _scalar(s1**2 / n1 + s2**2 / n2)


def log_odds_ratio(events_t, n_t, events_c, n_c, add: float = 0.5, to: str = "only0"):
    r"""Log odds ratio (treatment vs control) and its Woolf variance.

    With cells :math:`a = e_t, b = n_t - e_t, c = e_c, d = n_c - e_c`:

    .. math:: \log OR = \log\frac{a d}{b c},\qquad v = \frac1a + \frac1b + \frac1c + \frac1d .

    As metafor's default (``add=1/2, to="only0"``), ``add`` is added to all four cells only of a
    table that has a zero cell; ``to="none"`` never adds (infinite results for zero cells). The
    correction only serves this normal approximation: the exact 2×2 counts are kept untouched
    in :class:`~vfsynth.data.effect_table.EffectTable` for binomial likelihoods.
    """
    a, n1, c, n2 = (np.asarray(x, dtype=float) for x in (events_t, n_t, events_c, n_c))
    b, d = n1 - a, n2 - c
    cells = np.stack(np.broadcast_arrays(a, b, c, d))
    if to == "only0":
        zero = np.any(cells == 0, axis=0)
        cells = cells + np.where(zero, add, 0.0)
    elif to == "all":
        cells = cells + add
    elif to != "none":
        raise ValueError(f"to must be 'only0', 'all' or 'none', got {to!r}")
    a, b, c, d = cells
    with np.errstate(divide="ignore"):
        lor = np.log(a) + np.log(d) - np.log(b) - np.log(c)
        v = 1 / a + 1 / b + 1 / c + 1 / d
    return _scalar(lor), _scalar(v)


def se_from_ci(ci_low, ci_high, level: float = 0.95, log: bool = False):
    r"""Standard error from a symmetric confidence interval (Cochrane Handbook 6.3.1 / 6.3.2):

    .. math:: SE = \frac{U - L}{2 z_{(1+\text{level})/2}}

    With ``log=True`` (odds ratios, risk ratios) the limits are log-transformed first.
    """
    lo, hi = np.asarray(ci_low, dtype=float), np.asarray(ci_high, dtype=float)
    if log:
        lo, hi = np.log(lo), np.log(hi)
    z = stats.norm.ppf(0.5 + level / 2)
    return _scalar((hi - lo) / (2 * z))


def smd_to_logor(smd, var=None):
    r"""Chinn (2000, Stat Med 19:3127-3131): :math:`\log OR = \frac{\pi}{\sqrt 3}\,SMD`,
    variance multiplied by :math:`\pi^2/3`. Returns ``lor`` or ``(lor, var)``."""
    out = np.asarray(smd, dtype=float) * CHINN_FACTOR
    if var is None:
        return _scalar(out)
    return _scalar(out), _scalar(np.asarray(var, dtype=float) * CHINN_FACTOR**2)


def logor_to_smd(lor, var=None):
    r"""Chinn (2000): :math:`SMD = \frac{\sqrt 3}{\pi}\log OR`, variance times :math:`3/\pi^2`."""
    out = np.asarray(lor, dtype=float) / CHINN_FACTOR
    if var is None:
        return _scalar(out)
    return _scalar(out), _scalar(np.asarray(var, dtype=float) / CHINN_FACTOR**2)


def smd_se_from_total_n(d, n_total):
    r"""SE of an SMD reported with only a total N, assuming the N is split evenly between arms.

    With :math:`n_1 = n_2 = N/2`, metafor's large-sample variance becomes
    :math:`v = 4/N + d^2/(2N)`. An *assumption* — a row using it must say so in its note.
    """
    d, n = np.asarray(d, dtype=float), np.asarray(n_total, dtype=float)
    return _scalar(np.sqrt(4 / n + d**2 / (2 * n)))


def _scalar(x):
    x = np.asarray(x)
    return float(x) if x.ndim == 0 else x
