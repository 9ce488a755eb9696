"""The RoBMA-PSMA model space: weight functions, PET, PEESE, each with the study effects integrated out.

Bartoš, Maier, Wagenmakers, Doucouliagos & Stanley (2023, *Res Synth Methods* 14:99) average
36 models: effect present / absent x heterogeneity present / absent x nine publication-bias
adjustments. With the study effects integrated out, :math:`\\sigma_i = \\sqrt{\\tau^2 + s_i^2}`:

no bias
    :math:`y_i \\sim N(\\mu, \\sigma_i)` (the normal–normal hierarchical model).
step-function weight function (Vevea & Hedges 1995)
    the selection likelihood of :func:`vfsynth.models.regression.selection_loglik`,
    :math:`p(y_i) = \\omega_{j(p_i)} N(y_i; \\mu, \\sigma_i) / \\sum_j \\omega_j P_{ij}`. A
    *one-sided* function uses :math:`p_i = 1 - \\Phi(y_i/s_i)` (benefit direction), a
    *two-sided* one :math:`p_i = 2\\{1 - \\Phi(|y_i/s_i|)\\}`. Both are a partition of the
    :math:`z = y/s` axis into intervals, each mapped to one weight: a two-sided cut-point
    :math:`c` is the pair of z bounds :math:`\\pm z_{1-c/2}` around one weight, so the same
    selection likelihood serves both (the normaliser then sums both tails).
PET / PEESE (Stanley & Doucouliagos 2014)
    :math:`y_i \\sim N(\\mu + b\\, s_i, \\sigma_i)` / :math:`N(\\mu + b\\, s_i^2, \\sigma_i)`,
    :math:`b > 0` (small-study effects inflate benefit).

Weights: :math:`\\omega_1 = 1` for the most significant interval and non-increasing, RoBMA's
cumulative Dirichlet :math:`\\omega_j = \\sum_{l \\ge j} e_l`, :math:`e \\sim
\\mathrm{Dirichlet}(1, \\dots, 1)`. RoBMA's default priors (RoBMA 3.x ``set_default_priors``,
``RoBMA()`` usage, rdrr.io/cran/RoBMA/man/RoBMA.html and .../set_default_priors.html):
:math:`\\mu \\sim N(0, 1)`, :math:`\\tau \\sim \\mathrm{InvGamma}(1, 0.15)` -- both on the Cohen's
d scale --, PET :math:`b \\sim \\mathrm{Cauchy}^+(0, 1)`, PEESE :math:`b \\sim
\\mathrm{Cauchy}^+(0, 5)`; prior model probabilities 1/2 effect, 1/2 heterogeneity, and for
bias 1/2 none, 1/12 x 1/2 for each of the six weight functions, 1/8 PET, 1/8 PEESE.

Scale assumptions: the estimates are on the benefit scale (positive favours the
intervention), so one-sided selection favours significant *benefit* and PET/PEESE slopes are
positive; the weight functions see only :math:`y_i / s_i`, i.e. a Wald z statistic, which is
how the primary studies' p-values are approximated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from vfsynth.models.regression import selection_loglik
from vfsynth.models.spec import normal_logpdf

__all__ = ["BIAS_KINDS", "PEESE_SCALE", "PET_SCALE", "PSMA_BIAS", "PsmaModel", "psma_loglik", "psma_models",
           "z_partition"]

PET_SCALE = 1.0
PEESE_SCALE = 5.0

#: name -> (kind, side, cut-points, prior probability of the bias component)
PSMA_BIAS: dict[str, tuple[str, str, tuple[float, ...], float]] = {
    "none": ("none", "", (), 1 / 2),
    "2s(.05)": ("weightfunction", "two-sided", (0.05,), 1 / 24),
    "2s(.05,.1)": ("weightfunction", "two-sided", (0.05, 0.10), 1 / 24),
    "1s(.05)": ("weightfunction", "one-sided", (0.05,), 1 / 24),
    "1s(.025,.05)": ("weightfunction", "one-sided", (0.025, 0.05), 1 / 24),
    "1s(.05,.5)": ("weightfunction", "one-sided", (0.05, 0.50), 1 / 24),
    "1s(.025,.05,.5)": ("weightfunction", "one-sided", (0.025, 0.05, 0.50), 1 / 24),
    "PET": ("pet", "", (), 1 / 8),
    "PEESE": ("peese", "", (), 1 / 8),
}
BIAS_KINDS = ("none", "weightfunction", "pet", "peese")


def z_partition(side: str, cutpoints) -> tuple[np.ndarray, np.ndarray]:
    """z bounds (decreasing, from +inf to -inf) of the intervals and the weight index of each.

    One-sided cut-points :math:`c_j` give bounds :math:`z_{1-c_j}`; two-sided ones give the
    symmetric pair :math:`\\pm z_{1-c_j/2}`, whose two intervals share a weight.
    """
    c = np.asarray(cutpoints, float)
    if c.size == 0 or np.any(np.diff(c) <= 0) or c[0] <= 0 or c[-1] >= 1:
        raise ValueError(f"cut-points must increase strictly inside (0, 1), got {cutpoints}")
    J = c.size + 1
    if side == "one-sided":
        return np.concatenate([[np.inf], stats.norm.isf(c), [-np.inf]]), np.arange(J)
    if side == "two-sided":
        a = stats.norm.isf(c / 2.0)  # decreasing positive bounds of |z|
        zb = np.concatenate([[np.inf], a, -a[::-1], [-np.inf]])
        idx = np.concatenate([np.arange(J), np.arange(J - 2, -1, -1)])
        return zb, idx
    raise ValueError(f"side must be 'one-sided' or 'two-sided', not {side!r}")


@dataclass(frozen=True)
class PsmaModel:
    """One model of the PSMA space.

    Attributes
    ----------
    effect, heterogeneity : bool
        Whether mu and tau are free (else fixed at 0).
    bias : str
        A key of :data:`PSMA_BIAS`.
    """

    effect: bool
    heterogeneity: bool
    bias: str = "none"

    @property
    def kind(self) -> str:
        return PSMA_BIAS[self.bias][0]

    @property
    def n_weights(self) -> int:
        """Number of weights J of a weight function (0 otherwise)."""
        return len(PSMA_BIAS[self.bias][2]) + 1 if self.kind == "weightfunction" else 0

    @property
    def name(self) -> str:
        return (f"{'random' if self.heterogeneity else 'common'}, {'mu != 0' if self.effect else 'mu = 0'}, "
                f"bias {self.bias}")

    @property
    def prior_prob(self) -> float:
        return 0.25 * PSMA_BIAS[self.bias][3]


def psma_models() -> list[PsmaModel]:
    """The 36 models, effect x heterogeneity varying fastest within each bias component."""
    return [PsmaModel(e, h, b) for b in PSMA_BIAS for h in (False, True) for e in (False, True)]


def psma_loglik(ops, model: PsmaModel, y, se, mu, tau, omega=None, b=None):
    """Per-study log-likelihood of a PSMA model, broadcasting parameters over leading axes.

    Parameters
    ----------
    ops : namespace
        :func:`vfsynth.models.spec.array_ops`.
    model : PsmaModel
    y, se : array, shape (k,)
    mu, tau : array, shape (..., 1)
        Grid of parameter values (0 where the model fixes them).
    omega : array, shape (..., 1, J), optional
        Weights, most significant first (weight-function models).
    b : array, shape (..., 1), optional
        PET / PEESE slope.

    Returns
    -------
    array, shape (..., k)
    """
    kind = model.kind
    if kind == "weightfunction":
        side, cuts = PSMA_BIAS[model.bias][1], PSMA_BIAS[model.bias][2]
        zb, idx = z_partition(side, cuts)
        mu_k = mu + 0.0 * y
        return selection_loglik(ops, y, se, mu_k, tau, omega[..., idx], zb)
    sig = ops.sqrt(tau**2 + se**2)
    if kind == "none":
        return normal_logpdf(ops, y, mu, sig)
    covariate = se if kind == "pet" else se**2
    return normal_logpdf(ops, y, mu + b * covariate, sig)


def log_half_cauchy(b, scale: float):
    """:math:`\\log` of the Cauchy(0, scale) density truncated to :math:`b > 0`."""
    return math.log(2.0 / (math.pi * scale)) - np.log1p((np.asarray(b) / scale) ** 2)
