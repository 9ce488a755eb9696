"""Named, cited prior distributions for the heterogeneity ``tau`` and the pooled effect ``mu``.

Every prior is a :class:`Prior`: a frozen record (family, parameters, target, citation,
canonical spec string) that can evaluate its density, CDF and quantiles with SciPy, draw
with NumPy, and place itself into a PyMC model with :meth:`Prior.to_pymc`.

Families
--------
On ``tau`` (the between-study standard deviation, ``tau > 0``):

``half-normal`` (scale ``s``)
    :math:`p(\\tau) = \\frac{2}{s\\sqrt{2\\pi}} e^{-\\tau^2 / 2s^2}`.
``half-cauchy`` (scale ``s``)
    :math:`p(\\tau) = \\frac{2}{\\pi s (1 + \\tau^2/s^2)}`.
``lognormal`` (``m``, ``s``)
    :math:`\\log\\tau \\sim N(m, s^2)`. Turner et al. (2015) priors, stated for ``tau^2 ~
    LogNormal(m, s^2)``, become ``tau ~ LogNormal(m/2, (s/2)^2)``.
``log-t`` (``df``, ``m``, ``s``)
    :math:`\\log\\tau \\sim t_{df}(m, s)`; density on the tau scale
    :math:`p(\\tau) = t_{df}((\\log\\tau - m)/s) / (s\\,\\tau)` (Jacobian ``1/tau``).
    Rhodes et al. (2015) priors, stated as ``log(tau^2) ~ t_5(m, s)``, become
    ``log(tau) ~ t_5(m/2, s/2)``.
``inverse-gamma`` (shape ``a``, scale ``b``)
    :math:`p(\\tau) = \\frac{b^a}{\\Gamma(a)} \\tau^{-a-1} e^{-b/\\tau}` (on tau itself,
    as in Bartoš et al.'s empirical priors).
``uniform`` (``low``, ``high``)
    :math:`\\tau \\sim U(low, high)`.
``gamma`` (``shape`` ``a``, ``rate`` ``r``)
    :math:`p(\\tau) = \\frac{r^a}{\\Gamma(a)} \\tau^{a-1} e^{-r\\tau}` (mean ``a/r``; positive
    density at 0 when ``a = 1``, zero when ``a > 1``). Exported tau posteriors with mass near
    0 are matched far better by a gamma than by a log-normal (:mod:`vfsynth.fits.prior_export`).

On ``mu``: ``normal`` (``loc``, ``scale``), ``student-t`` (``df``, ``loc``, ``scale``), the
improper ``flat`` prior (density 1; no CDF, quantiles or draws) and

``normal-mixture`` (lists ``weights`` ``w_j``, ``locs`` ``m_j``, ``scales`` ``s_j``)
    :math:`p(\\mu) = \\sum_j w_j N(\\mu; m_j, s_j^2)`, weights >= 0 summing to 1: the robust
    mixture priors of Schmidli, Gsteiger, Roychoudhury, O'Hagan, Spiegelhalter &
    Neuenschwander (2014), *Robust meta-analytic-predictive priors in clinical trials with
    historical control information*, *Biometrics* 70(4):1023–1032 (R package RBesT). Quantiles
    are found by root-finding on the mixture CDF, which is bracketed exactly by the
    components' own quantiles.

Registry (all cited)
--------------------
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
* :func:`unit_information_prior` / :func:`unit_information_mu` — Röver C, Bender R, Dias S,
  Schmid CH, Schmidli H, Sturtz S, Weber S, Friede T (2021). On weakly informative prior
  distributions for the heterogeneity parameter in Bayesian random-effects meta-analysis.
  *Res Synth Methods* 12(4):448–474; fractions as the RoBMA defaults (``HN(UISD/4)`` on tau,
  ``N(0, UISD/2)`` on mu).
* :func:`half_normal`, :func:`half_cauchy` — weakly informative choices discussed by
  Röver (2020) *J Stat Softw* 93(6) and Spiegelhalter, Abrams & Myles (2004), *Bayesian
  Approaches to Clinical Trials and Health-Care Evaluation* (tau on the log-OR scale of
  0.1–0.5 "reasonable", 0.5–1.0 "fairly high", > 1.0 "fairly extreme").

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

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import optimize, special, stats

__all__ = [
    "GRAMMAR",
    "REGISTRY",
    "Prior",
    "bartos_mu_prior",
    "bartos_prior",
    "default_mu_prior",
    "default_tau_prior",
    "describe_defaults",
    "flat_mu",
    "gamma_tau",
    "half_cauchy",
    "half_normal",
    "list_priors",
    "normal_mixture_mu",
    "normal_mu",
    "parse_prior",
    "rhodes_prior",
    "student_t_mu",
    "turner_prior",
    "unit_information_mu",
    "unit_information_prior",
    "unit_information_sd",
    "user_prior",
]

#: Logistic conversion factor SMD -> log OR (Chinn 2000): pi / sqrt(3).
SMD_TO_LOGOR = math.pi / math.sqrt(3.0)

TAU_FAMILIES: dict[str, tuple[str, ...]] = {
    "half-normal": ("scale",),
    "half-cauchy": ("scale",),
    "lognormal": ("m", "s"),
    "log-t": ("df", "m", "s"),
    "inverse-gamma": ("shape", "scale"),
    "uniform": ("low", "high"),
    "gamma": ("shape", "rate"),
}
MU_FAMILIES: dict[str, tuple[str, ...]] = {
    "normal": ("loc", "scale"),
    "student-t": ("df", "loc", "scale"),
    "flat": (),
    "normal-mixture": ("weights", "locs", "scales"),
}
FAMILIES: dict[str, tuple[str, ...]] = {**TAU_FAMILIES, **MU_FAMILIES}
#: Families whose parameters are lists (one entry per mixture component), not numbers.
LIST_FAMILIES = frozenset({"normal-mixture"})
#: Tolerance on ``sum(weights) == 1`` for mixtures (as in the vfsynth-priors/1 file format).
WEIGHT_SUM_TOL = 1e-6

GRAMMAR = """\
Prior specifications (case-insensitive; numbers are plain decimals):
  tau (between-study SD):
    half-normal:SCALE                 tau ~ HN(SCALE)
    half-cauchy:SCALE                 tau ~ HC(SCALE)
    lognormal:M,S                     log(tau) ~ N(M, S^2)   (on tau, not tau^2)
    log-t:DF,M,S                      log(tau) ~ t_DF(M, S)
    inverse-gamma:A,B                 tau ~ InvGamma(shape A, scale B)
    uniform:LOW,HIGH                  tau ~ U(LOW, HIGH)
    gamma:SHAPE,RATE                  tau ~ Gamma(SHAPE, rate RATE)   (mean SHAPE/RATE)
    turner:OUTCOME[:COMPARISON]       Turner et al. 2015 (log OR); OUTCOME one of
                                      general, mental-health, subjective, quality-of-life,
                                      physical-health, adverse-events, withdrawals;
                                      COMPARISON non-pharmacological (default) or general
    rhodes:OUTCOME[:COMPARISON]       Rhodes et al. 2015 (SMD); OUTCOME one of general,
                                      subjective, mental-health, physical-health,
                                      signs-symptoms
    bartos:GROUP[:MEASURE]            Bartos et al. Cochrane empirical prior; GROUP one of
                                      cochrane, developmental, common-mental; MEASURE SMD|logOR
                                      (default: the analysis' measure)
    ui[:FRACTION] | unit-information[:FRACTION]
                                      HN(FRACTION x UISD), FRACTION default 0.25 (Rover 2021)
  mu (pooled effect):
    normal:LOC,SCALE                  mu ~ N(LOC, SCALE^2)
    student-t:DF,LOC,SCALE            mu ~ t_DF(LOC, SCALE)
    flat                              improper uniform prior
    normal-mixture:W1,M1,S1;W2,M2,S2[;...]
                                      mu ~ sum_j Wj N(Mj, Sj^2), weights >= 0 summing to 1
                                      (robust mixture, Schmidli et al. 2014; quote the ';'
                                      in a shell)
    bartos:GROUP[:MEASURE]            Bartos et al. empirical Student-t prior on mu
    ui[:FRACTION]                     N(0, FRACTION x UISD), FRACTION default 0.5
"""


_LOG2PI = math.log(2.0 * math.pi)


def _log_t(z, df: float):
    """Log density of the standard Student-t with ``df`` degrees of freedom."""
    return (special.gammaln((df + 1.0) / 2.0) - special.gammaln(df / 2.0) - 0.5 * math.log(df * math.pi)
            - (df + 1.0) / 2.0 * np.log1p(np.asarray(z) ** 2 / df))


def _fmt(x: float) -> str:
    """Shortest round-trip decimal for a float, without a trailing ``.0``."""
    s = repr(float(x))
    return s[:-2] if s.endswith(".0") else s


def _norm_key(s: str) -> str:
    return "-".join(s.strip().lower().replace("_", " ").replace("/", " ").split())


# --------------------------------------------------------------------------- the Prior record


@dataclass(frozen=True, eq=True)
class Prior:
    """A named prior on ``tau`` (heterogeneity SD) or ``mu`` (pooled effect).

    Parameters
    ----------
    name : str
        Short registry name (e.g. ``"turner"``, ``"half-normal"``).
    family : str
        One of :data:`FAMILIES` (see module docstring for the densities).
    params : dict
        Family parameters by name (floats), e.g. ``{"m": -1.17, "s": 0.86}``.
    target : {"tau", "mu"}
        The parameter the prior is placed on.
    citation : str
        Source of the numbers.
    spec : str
        Canonical specification string; ``parse_prior(spec)`` rebuilds the prior
        (for unit-information priors, given the same table).
    description : str
        Human-readable summary, including the original published scale when a
        conversion was applied.
    """

    name: str
    family: str
    params: dict = field(default_factory=dict)
    target: str = "tau"
    citation: str = ""
    spec: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if self.target not in ("tau", "mu"):
            raise ValueError(f"target must be 'tau' or 'mu', got {self.target!r}")
        allowed = TAU_FAMILIES if self.target == "tau" else MU_FAMILIES
        if self.family not in allowed:
            raise ValueError(
                f"family {self.family!r} is not a {self.target} prior family; "
                f"valid: {', '.join(allowed)}"
            )
        need = allowed[self.family]
        raw = dict(self.params)
        if set(raw) != set(need):
            raise ValueError(f"{self.family} prior needs parameters {need}, got {tuple(raw)}")
        if self.family in LIST_FAMILIES:
            params = _mixture_params(self.family, raw)
            object.__setattr__(self, "params", params)
            if not self.spec:
                object.__setattr__(self, "spec", _family_spec(self.family, params))
            return
        params = {k: float(v) for k, v in raw.items()}
        for k, v in params.items():
            if not math.isfinite(v):
                raise ValueError(f"{self.family} prior parameter {k} must be finite, got {v}")
        for k in ("scale", "s", "df", "shape", "rate"):
            if k in params and params[k] <= 0:
                raise ValueError(f"{self.family} prior parameter {k} must be > 0, got {params[k]}")
        if self.family == "uniform" and not (0 <= params["low"] < params["high"]):
            raise ValueError(f"uniform tau prior needs 0 <= low < high, got {params}")
        object.__setattr__(self, "params", params)
        if not self.spec:
            object.__setattr__(self, "spec", _family_spec(self.family, params))

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    # -- scipy representation -------------------------------------------------------------
    @property
    def is_proper(self) -> bool:
        """False only for the improper ``flat`` prior."""
        return self.family != "flat"

    def _frozen(self):
        """SciPy frozen distribution on the target scale (None for log-t, normal-mixture and flat), cached."""
        cached = self.__dict__.get("_scipy")
        if cached is None:
            cached = self._make_frozen()
            object.__setattr__(self, "_scipy", cached)  # not a field: ignored by eq / to_dict
        return cached

    def _make_frozen(self):
        p = self.params
        f = self.family
        if f == "half-normal":
            return stats.halfnorm(scale=p["scale"])
        if f == "half-cauchy":
            return stats.halfcauchy(scale=p["scale"])
        if f == "lognormal":
            return stats.lognorm(s=p["s"], scale=math.exp(p["m"]))
        if f == "inverse-gamma":
            return stats.invgamma(p["shape"], scale=p["scale"])
        if f == "uniform":
            return stats.uniform(loc=p["low"], scale=p["high"] - p["low"])
        if f == "gamma":
            return stats.gamma(p["shape"], scale=1.0 / p["rate"])
        if f == "normal":
            return stats.norm(loc=p["loc"], scale=p["scale"])
        if f == "student-t":
            return stats.t(p["df"], loc=p["loc"], scale=p["scale"])
        return None

    def _require_proper(self, what: str) -> None:
        if not self.is_proper:
            raise ValueError(f"the flat prior is improper: it has no {what}")

    def _mix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Normal-mixture components with positive weight: (weights / sum, locs, scales), cached.

        Renormalising makes every density integrate to exactly 1 even when the stored weights
        sum to 1 only within :data:`WEIGHT_SUM_TOL` (e.g. after a JSON round trip of EM output).
        """
        cached = self.__dict__.get("_mixture")
        if cached is None:
            p = self.params
            w = np.asarray(p["weights"], dtype=float)
            keep = w > 0
            cached = (w[keep] / w[keep].sum(), np.asarray(p["locs"], dtype=float)[keep],
                      np.asarray(p["scales"], dtype=float)[keep])
            object.__setattr__(self, "_mixture", cached)  # not a field: ignored by eq / to_dict
        return cached

    def components(self) -> list[tuple[float, Prior]]:
        """``[(w_j, N(m_j, s_j^2) prior), ...]`` for a normal mixture; ``[(1.0, self)]`` otherwise.

        Lets conjugate code treat every prior as a (possibly one-term) mixture: the posterior
        under a mixture prior is the mixture of the per-component posteriors with weights
        ``w_j p_j(y) / sum_l w_l p_l(y)`` (Dallal & Hall 1983; Schmidli et al. 2014).
        """
        if self.family != "normal-mixture":
            return [(1.0, self)]
        p = self.params
        return [(w, normal_mu(m, s)) for w, m, s in zip(p["weights"], p["locs"], p["scales"], strict=True)]

    def _mixture_quantile(self, lower: float, upper: float) -> float:
        """The x with ``cdf(x) = lower`` (equivalently ``sf(x) = upper = 1 - lower``).

        Root-finding (Brent) on the log CDF when ``lower <= 1/2`` and on the log survival
        function otherwise, so tail quantiles keep full relative precision. The root is
        bracketed exactly: at ``min_j (m_j + s_j z)`` every component's CDF is ``<= lower``
        and at ``max_j (m_j + s_j z)`` every one is ``>= lower`` (``z`` the standard normal
        quantile), hence so is their weighted average.
        """
        if not (0.0 <= lower <= 1.0) or math.isnan(lower):
            return math.nan
        if lower == 0.0:
            return -math.inf
        if upper == 0.0:
            return math.inf
        w, m, s = self._mix()
        use_lower = lower <= 0.5
        z = float(special.ndtri(lower)) if use_lower else -float(special.ndtri(upper))
        lo, hi = float(np.min(m + s * z)), float(np.max(m + s * z))
        if use_lower:
            target = math.log(lower)

            def f(x: float) -> float:
                return float(special.logsumexp(special.log_ndtr((x - m) / s), b=w)) - target
        else:
            target = math.log(upper)

            def f(x: float) -> float:
                return target - float(special.logsumexp(special.log_ndtr((m - x) / s), b=w))
        if lo == hi:
            return lo
        flo, fhi = f(lo), f(hi)
        if flo >= 0.0:
            return lo
        if fhi <= 0.0:
            return hi
        return float(optimize.brentq(f, lo, hi, xtol=1e-14 * float(np.min(s)), maxiter=200))

    def logpdf(self, x) -> np.ndarray:
        """Log density on the target scale (Jacobian included for log-scale families).

        Written out with :mod:`scipy.special` rather than frozen SciPy distributions because
        the exact quadrature evaluates it many times per fit.
        """
        x = np.asarray(x, dtype=float)
        p = self.params
        f = self.family
        if f == "flat":
            return np.zeros_like(x)
        if f == "normal-mixture":
            w, m, s = self._mix()
            z = (x[..., None] - m) / s
            return special.logsumexp(-0.5 * z**2 - np.log(s), b=w, axis=-1) - 0.5 * _LOG2PI
        if f in ("normal", "student-t"):
            z = (x - p["loc"]) / p["scale"]
            if f == "normal":
                return -0.5 * z**2 - 0.5 * _LOG2PI - math.log(p["scale"])
            return _log_t(z, p["df"]) - math.log(p["scale"])
        pos = x > 0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            xs = np.where(pos, x, 1.0)
            if f == "half-normal":
                pos = x >= 0  # support includes tau = 0
                out = math.log(2.0) - 0.5 * _LOG2PI - math.log(p["scale"]) - 0.5 * (x / p["scale"]) ** 2
            elif f == "half-cauchy":
                pos = x >= 0
                out = math.log(2.0 / math.pi) - math.log(p["scale"]) - np.log1p((x / p["scale"]) ** 2)
            elif f == "lognormal":
                lx = np.log(xs)
                out = -lx - math.log(p["s"]) - 0.5 * _LOG2PI - 0.5 * ((lx - p["m"]) / p["s"]) ** 2
            elif f == "log-t":
                lx = np.log(xs)
                out = _log_t((lx - p["m"]) / p["s"], p["df"]) - math.log(p["s"]) - lx
            elif f == "inverse-gamma":
                a, b = p["shape"], p["scale"]
                out = a * math.log(b) - special.gammaln(a) - (a + 1.0) * np.log(xs) - b / xs
            elif f == "uniform":
                pos = (x >= p["low"]) & (x <= p["high"])
                out = np.full(x.shape, -math.log(p["high"] - p["low"]))
            elif f == "gamma":
                a, r = p["shape"], p["rate"]
                pos = x >= 0  # density at 0: r (a = 1), 0 (a > 1), +inf (a < 1); xlogy gets all three
                x0 = np.where(pos, x, 0.0)
                out = a * math.log(r) - special.gammaln(a) + special.xlogy(a - 1.0, x0) - r * x0
            else:  # pragma: no cover - __post_init__ validates family
                raise AssertionError(f)
        return np.where(pos, out, -np.inf)

    def pdf(self, x) -> np.ndarray:
        """Density on the target scale."""
        return np.exp(self.logpdf(x))

    def cdf(self, x) -> np.ndarray:
        """Cumulative distribution function on the target scale."""
        self._require_proper("CDF")
        x = np.asarray(x, dtype=float)
        if self.family == "log-t":
            p = self.params
            with np.errstate(divide="ignore", invalid="ignore"):
                lx = np.log(np.where(x > 0, x, np.nan))
                out = stats.t.cdf((lx - p["m"]) / p["s"], p["df"])
            return np.where(x > 0, out, 0.0)
        if self.family == "normal-mixture":
            w, m, s = self._mix()
            return special.ndtr((x[..., None] - m) / s) @ w
        return self._frozen().cdf(x)

    def sf(self, x) -> np.ndarray:
        """Survival function ``P(X > x)`` (accurate in the upper tail)."""
        self._require_proper("survival function")
        x = np.asarray(x, dtype=float)
        if self.family == "log-t":
            p = self.params
            with np.errstate(divide="ignore", invalid="ignore"):
                lx = np.log(np.where(x > 0, x, np.nan))
                out = stats.t.sf((lx - p["m"]) / p["s"], p["df"])
            return np.where(x > 0, out, 1.0)
        if self.family == "normal-mixture":
            w, m, s = self._mix()
            return special.ndtr((m - x[..., None]) / s) @ w
        return self._frozen().sf(x)

    def ppf(self, q) -> np.ndarray:
        """Quantile function (inverse CDF)."""
        self._require_proper("quantiles")
        q = np.asarray(q, dtype=float)
        if self.family == "log-t":
            p = self.params
            return np.exp(p["m"] + p["s"] * stats.t.ppf(q, p["df"]))
        if self.family == "normal-mixture":
            out = [self._mixture_quantile(float(v), 1.0 - float(v)) for v in q.ravel()]
            return np.asarray(out, dtype=float).reshape(q.shape)
        return self._frozen().ppf(q)

    def isf(self, q) -> np.ndarray:
        """Inverse survival function (upper-tail quantiles without cancellation)."""
        self._require_proper("quantiles")
        q = np.asarray(q, dtype=float)
        if self.family == "log-t":
            p = self.params
            return np.exp(p["m"] + p["s"] * stats.t.isf(q, p["df"]))
        if self.family == "normal-mixture":
            out = [self._mixture_quantile(1.0 - float(v), float(v)) for v in q.ravel()]
            return np.asarray(out, dtype=float).reshape(q.shape)
        return self._frozen().isf(q)

    def quantiles(self, qs: Sequence[float] = (0.025, 0.5, 0.975)) -> np.ndarray:
        """Quantiles at probabilities ``qs``."""
        return np.asarray(self.ppf(np.asarray(qs, dtype=float)), dtype=float)

    def mean(self) -> float:
        """Prior mean (``inf`` where it does not exist: half-Cauchy, log-t, IG with shape <= 1)."""
        self._require_proper("mean")
        p = self.params
        if self.family == "log-t":
            return math.inf
        if self.family == "half-cauchy":
            return math.inf
        if self.family == "inverse-gamma" and p["shape"] <= 1:
            return math.inf
        if self.family == "student-t" and p["df"] <= 1:
            return math.nan
        if self.family == "normal-mixture":
            w, m, _ = self._mix()
            return float(w @ m)
        return float(self._frozen().mean())

    def sd(self) -> float:
        """Prior standard deviation (``inf`` where the variance does not exist, ``nan`` where the
        mean does not). Normal mixture: :math:`\\sqrt{\\sum_j w_j (s_j^2 + m_j^2) - \\bar m^2}`."""
        self._require_proper("standard deviation")
        p = self.params
        f = self.family
        if f in ("log-t", "half-cauchy") or (f == "inverse-gamma" and p["shape"] <= 2):
            return math.inf
        if f == "student-t":
            return math.nan if p["df"] <= 1 else (math.inf if p["df"] <= 2 else float(self._frozen().std()))
        if f == "normal-mixture":
            w, m, s = self._mix()
            mean = float(w @ m)
            return float(math.sqrt(max(float(w @ (s**2 + m**2)) - mean**2, 0.0)))
        return float(self._frozen().std())

    def rvs(self, size=None, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """Random draws (``rng`` a Generator or a seed)."""
        self._require_proper("random draws")
        rng = np.random.default_rng(rng)
        if self.family == "log-t":
            p = self.params
            return np.exp(p["m"] + p["s"] * rng.standard_t(p["df"], size=size))
        if self.family == "normal-mixture":
            # component label, then a normal draw from that component
            w, m, s = self._mix()
            j = rng.choice(len(w), size=size, p=w)
            return rng.normal(m[j], s[j])
        return self._frozen().rvs(size=size, random_state=rng)

    # -- PyMC ------------------------------------------------------------------------------
    def to_pymc(self, name: str):
        """Create the prior as PyMC variable ``name`` inside the current model context.

        Returns a tensor on the tau (or mu) scale. The log-t family registers a latent
        ``f"{name}_log"`` ~ StudentT on log tau and a ``pm.Deterministic(name, exp(.))``;
        every other family is a single PyMC random variable named ``name`` (gamma:
        ``pm.Gamma(alpha=shape, beta=rate)``; normal mixture: ``pm.NormalMixture``, whose
        density sums over the components, so no discrete label is sampled; a one-component
        mixture is a plain ``pm.Normal``).
        """
        import pymc as pm

        p = self.params
        f = self.family
        if f == "half-normal":
            return pm.HalfNormal(name, sigma=p["scale"])
        if f == "half-cauchy":
            return pm.HalfCauchy(name, beta=p["scale"])
        if f == "lognormal":
            return pm.LogNormal(name, mu=p["m"], sigma=p["s"])
        if f == "log-t":
            latent = pm.StudentT(f"{name}_log", nu=p["df"], mu=p["m"], sigma=p["s"])
            return pm.Deterministic(name, pm.math.exp(latent))
        if f == "inverse-gamma":
            return pm.InverseGamma(name, alpha=p["shape"], beta=p["scale"])
        if f == "uniform":
            return pm.Uniform(name, lower=p["low"], upper=p["high"])
        if f == "gamma":
            return pm.Gamma(name, alpha=p["shape"], beta=p["rate"])
        if f == "normal-mixture":
            w, m, s = self._mix()
            if len(w) == 1:
                return pm.Normal(name, mu=float(m[0]), sigma=float(s[0]))
            return pm.NormalMixture(name, w=w, mu=m, sigma=s)
        if f == "normal":
            return pm.Normal(name, mu=p["loc"], sigma=p["scale"])
        if f == "student-t":
            return pm.StudentT(name, nu=p["df"], mu=p["loc"], sigma=p["scale"])
        if f == "flat":
            return pm.Flat(name)
        raise AssertionError(f)  # pragma: no cover - __post_init__ validates family

    # -- (de)serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation; :meth:`from_dict` inverts it exactly."""
        return {
            "name": self.name,
            "family": self.family,
            "params": {k: list(v) if isinstance(v, list) else v for k, v in self.params.items()},
            "target": self.target,
            "citation": self.citation,
            "spec": self.spec,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Prior:
        """Rebuild a :class:`Prior` from :meth:`to_dict` output."""
        return cls(
            name=d["name"],
            family=d["family"],
            params={k: list(v) if isinstance(v, list | tuple) else v for k, v in dict(d["params"]).items()},
            target=d["target"],
            citation=d.get("citation", ""),
            spec=d.get("spec", ""),
            description=d.get("description", ""),
        )

    def summary(self, qs: Sequence[float] = (0.025, 0.5, 0.975)) -> str:
        """One line: spec, family, parameters and quantiles."""
        par = ", ".join(f"{k}=[{', '.join(_fmt(x) for x in v)}]" if isinstance(v, list) else f"{k}={_fmt(v)}"
                        for k, v in self.params.items())
        if not self.is_proper:
            return f"{self.spec}: {self.target} ~ flat (improper)"
        qv = " / ".join(f"{v:.3g}" for v in self.quantiles(qs))
        ql = "/".join(f"{100 * q:g}" for q in qs)
        return f"{self.spec}: {self.target} ~ {self.family}({par}); {ql}% = {qv}"


def _family_spec(family: str, params: dict[str, Any]) -> str:
    if family == "flat":
        return "flat"
    if family == "normal-mixture":
        comps = zip(params["weights"], params["locs"], params["scales"], strict=True)
        return f"{family}:" + ";".join(",".join(_fmt(v) for v in c) for c in comps)
    return f"{family}:" + ",".join(_fmt(params[k]) for k in FAMILIES[family])


def _mixture_params(family: str, raw: dict[str, Any]) -> dict[str, list[float]]:
    """Validate normal-mixture parameters and return them as lists of floats (weights kept as
    given, so that ``to_dict`` / ``from_dict`` and the spec round-trip exactly)."""
    out: dict[str, list[float]] = {}
    for k in FAMILIES[family]:
        v = raw[k]
        if isinstance(v, str | bytes) or not hasattr(v, "__len__"):
            raise ValueError(f"{family} prior parameter {k} must be a list of numbers, got {v!r}")
        try:
            out[k] = [float(x) for x in v]
        except (TypeError, ValueError):
            raise ValueError(f"{family} prior parameter {k} must be a list of numbers, got {v!r}") from None
    n = {len(v) for v in out.values()}
    if len(n) != 1 or 0 in n:
        raise ValueError(f"{family} prior needs weights, locs and scales of one (non-zero) length, got "
                         f"{ {k: len(v) for k, v in out.items()} }")
    for k, v in out.items():
        if not all(math.isfinite(x) for x in v):
            raise ValueError(f"{family} prior parameter {k} must be finite, got {v}")
    if any(x <= 0 for x in out["scales"]):
        raise ValueError(f"{family} prior scales must be > 0, got {out['scales']}")
    w = out["weights"]
    if any(x < 0 for x in w) or abs(math.fsum(w) - 1.0) > WEIGHT_SUM_TOL:
        raise ValueError(f"{family} prior weights must be >= 0 and sum to 1 (within {WEIGHT_SUM_TOL:g}), got {w}")
    return out


# --------------------------------------------------------------------------- generic factories


def half_normal(scale: float, *, citation: str = "", description: str = "") -> Prior:
    """Half-normal prior on tau: :math:`\\tau \\sim HN(scale)`.

    Röver (2020, *J Stat Softw* 93(6)) uses HN(0.5) and HN(1.0) routinely for log ORs;
    HN(0.5) has median 0.337 and P(tau > 1) = 0.046.
    """
    return Prior(
        name="half-normal",
        family="half-normal",
        params={"scale": scale},
        target="tau",
        citation=citation or "Röver C (2020). Bayesian random-effects meta-analysis using the bayesmeta R package. J Stat Softw 93(6):1-51.",
        description=description or f"tau ~ half-normal(scale {_fmt(scale)})",
    )


def half_cauchy(scale: float) -> Prior:
    """Half-Cauchy prior on tau (Gelman 2006, *Bayesian Analysis* 1(3):515–534)."""
    return Prior(
        name="half-cauchy",
        family="half-cauchy",
        params={"scale": scale},
        target="tau",
        citation="Gelman A (2006). Prior distributions for variance parameters in hierarchical models. Bayesian Anal 1(3):515-534.",
        description=f"tau ~ half-Cauchy(scale {_fmt(scale)})",
    )


def normal_mu(loc: float = 0.0, scale: float = 1.0, *, citation: str = "", description: str = "") -> Prior:
    """Normal prior on mu: :math:`\\mu \\sim N(loc, scale^2)`."""
    return Prior(
        name="normal",
        family="normal",
        params={"loc": loc, "scale": scale},
        target="mu",
        citation=citation,
        description=description or f"mu ~ Normal({_fmt(loc)}, sd {_fmt(scale)})",
    )


def student_t_mu(df: float, loc: float = 0.0, scale: float = 1.0, *, citation: str = "", description: str = "") -> Prior:
    """Student-t prior on mu: :math:`\\mu \\sim t_{df}(loc, scale)`."""
    return Prior(
        name="student-t",
        family="student-t",
        params={"df": df, "loc": loc, "scale": scale},
        target="mu",
        citation=citation,
        description=description or f"mu ~ Student-t(df {_fmt(df)}, loc {_fmt(loc)}, scale {_fmt(scale)})",
    )


def gamma_tau(shape: float, rate: float, *, name: str = "gamma", citation: str = "", description: str = "") -> Prior:
    """Gamma prior on tau: :math:`p(\\tau) = rate^{shape}\\tau^{shape-1}e^{-rate\\,\\tau}/\\Gamma(shape)`.

    Mean ``shape/rate``; SciPy ``gamma(shape, scale=1/rate)``, PyMC ``Gamma(alpha=shape, beta=rate)``.
    Used for exported tau posteriors (:mod:`vfsynth.fits.prior_export`): with ``shape`` near 1
    it keeps positive density at tau = 0, which a log-normal or inverse-gamma cannot.
    """
    return Prior(
        name=name,
        family="gamma",
        params={"shape": shape, "rate": rate},
        target="tau",
        citation=citation,
        description=description or f"tau ~ Gamma(shape {_fmt(shape)}, rate {_fmt(rate)})",
    )


def normal_mixture_mu(weights: Sequence[float], locs: Sequence[float], scales: Sequence[float], *,
                      name: str = "normal-mixture", citation: str = "", description: str = "") -> Prior:
    """Normal-mixture prior on mu: :math:`\\mu \\sim \\sum_j w_j N(m_j, s_j^2)`.

    The robust meta-analytic-predictive priors of Schmidli et al. (2014, *Biometrics*
    70(4):1023–1032; R RBesT ``mixnorm`` / ``robustify``): an informative component plus a
    vague one with small weight, so that new data in conflict with the prior can override it.
    Weights must be >= 0 and sum to 1 (within :data:`WEIGHT_SUM_TOL`).
    """
    prior = Prior(
        name=name,
        family="normal-mixture",
        params={"weights": weights, "locs": locs, "scales": scales},
        target="mu",
        citation=citation or ("Schmidli H, Gsteiger S, Roychoudhury S, O'Hagan A, Spiegelhalter D, Neuenschwander B "
                              "(2014). Robust meta-analytic-predictive priors in clinical trials with historical "
                              "control information. Biometrics 70(4):1023-1032."),
        description=description,
    )
    if description:
        return prior
    p = prior.params  # validated lists
    return replace(prior, description="mu ~ " + " + ".join(
        f"{_fmt(w)} N({_fmt(m)}, sd {_fmt(s)})" for w, m, s in zip(p["weights"], p["locs"], p["scales"], strict=True)))


def flat_mu() -> Prior:
    """Improper uniform prior on mu (posterior proper whenever k >= 1 and tau's prior is proper)."""
    return Prior(name="flat", family="flat", params={}, target="mu", description="mu ~ flat (improper uniform)")


def user_prior(family: str, target: str | None = None, **params: Any) -> Prior:
    """Any family with user-given parameters, e.g. ``user_prior("lognormal", m=-1.2, s=0.9)``,
    ``user_prior("gamma", shape=2, rate=8)`` or
    ``user_prior("normal-mixture", weights=[0.8, 0.2], locs=[0.4, 0.4], scales=[0.1, 2.0])``.

    ``target`` defaults to ``"tau"`` for the tau families and ``"mu"`` for normal / student-t /
    flat / normal-mixture.
    """
    fam = _norm_key(family)
    fam = {"halfnormal": "half-normal", "halfcauchy": "half-cauchy", "log-normal": "lognormal",
           "invgamma": "inverse-gamma", "inv-gamma": "inverse-gamma", "t": "student-t",
           "studentt": "student-t", "logt": "log-t", "mixture": "normal-mixture",
           "normalmixture": "normal-mixture"}.get(fam, fam)
    if fam not in FAMILIES:
        raise ValueError(f"unknown prior family {family!r}; valid: {', '.join(FAMILIES)}")
    if target is None:
        target = "mu" if fam in MU_FAMILIES else "tau"
    return Prior(name=fam, family=fam, params=params, target=target, citation="user-specified",
                 description=f"user-specified {fam} prior on {target}")


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
        raise ValueError(f"unknown {kind} {value!r}; valid: {', '.join(valid)}")
    return key


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
    outcomes = sorted({o for o, _ in TURNER_TABLE}, key=lambda o: (o != "general", o))
    out = _resolve("Turner outcome", outcome, _TURNER_OUTCOME_ALIASES, outcomes)
    if comparison is None:
        comp = "general" if out == "general" else "non-pharmacological"
    else:
        comp = _resolve("Turner comparison", comparison, _COMPARISON_ALIASES, ("non-pharmacological", "general"))
    if (out, comp) not in TURNER_TABLE:
        valid = ", ".join(f"{o}:{c}" for o, c in TURNER_TABLE)
        raise ValueError(f"Turner et al. 2015 row {out}:{comp} is not in the registry; valid outcome:comparison pairs: {valid}")
    m, s, label = TURNER_TABLE[(out, comp)]
    return Prior(
        name="turner",
        family="lognormal",
        params={"m": m / 2.0, "s": s / 2.0},
        target="tau",
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
    outcomes = sorted({o for o, _ in RHODES_TABLE}, key=lambda o: (o != "general", o))
    out = _resolve("Rhodes outcome", outcome, _RHODES_OUTCOME_ALIASES, outcomes)
    if comparison is None:
        comp = "general" if out == "general" else "non-pharmacological"
    else:
        comp = _resolve("Rhodes comparison", comparison, _COMPARISON_ALIASES, ("non-pharmacological", "general"))
    if (out, comp) not in RHODES_TABLE:
        valid = ", ".join(f"{o}:{c}" for o, c in RHODES_TABLE)
        raise ValueError(f"Rhodes et al. 2015 row {out}:{comp} is not in the registry; valid outcome:comparison pairs: {valid}")
    m, s, label = RHODES_TABLE[(out, comp)]
    flag = (" CAUTION: location -3.85 as published; the table's pattern suggests -2.85 (possible typo)."
            if out == "mental-health" else "")
    return Prior(
        name="rhodes",
        family="log-t",
        params={"df": 5.0, "m": m / 2.0, "s": s / 2.0},
        target="tau",
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
_MEASURE_ALIASES = {"smd": "SMD", "d": "SMD", "g": "SMD", "logor": "logOR", "or": "logOR",
                    "lor": "logOR", "md": "MD"}


def _measure(measure: str) -> str:
    m = _MEASURE_ALIASES.get(_norm_key(measure).replace("-", ""))
    if m is None:
        raise ValueError(f"unknown measure {measure!r}; valid: SMD, logOR, MD")
    return m


def _bartos_row(group: str, measure: str):
    groups = sorted({g for g, _ in BARTOS_TABLE})
    g = _resolve("Bartoš review group", group, _BARTOS_GROUP_ALIASES, groups)
    m = _measure(measure)
    if (g, m) not in BARTOS_TABLE:
        valid = ", ".join(f"{a}:{b}" for a, b in BARTOS_TABLE)
        raise ValueError(f"Bartoš prior for {g}:{m} is not in the registry; valid group:measure pairs: {valid}")
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
    return Prior(
        name="bartos",
        family="inverse-gamma",
        params={"shape": a, "scale": b},
        target="tau",
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
    return Prior(
        name="bartos",
        family="student-t",
        params={"df": df, "loc": loc, "scale": sc},
        target="mu",
        citation=BARTOS_CITATION[m],
        spec=f"bartos:{g}:{m}",
        description=f"Bartoš et al. empirical prior, {m}, {label}: mu ~ Student-t(0, {sc}, df {_fmt(df)})",
    )


# --------------------------------------------------------------------------- unit information

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
        raise ValueError("unit-information prior needs a measure (SMD, logOR, MD) or a table")
    m = _measure(measure)
    if m not in CONVENTIONAL_UISD:
        raise ValueError(f"unit-information prior for measure {m} needs a table with sample sizes (n_total)")
    return CONVENTIONAL_UISD[m], f"conventional UISD for {m} = {CONVENTIONAL_UISD[m]:.4g}"


def unit_information_prior(measure: str | None = None, table=None, fraction: float = 0.25) -> Prior:
    """Unit-information half-normal prior on tau: :math:`\\tau \\sim HN(fraction \\times UISD)`.

    ``fraction = 0.25`` is RoBMA's default (HN(0.354) for SMD, HN(0.5) for log OR without
    a table). See :func:`unit_information_sd`.
    """
    if not fraction > 0:
        raise ValueError(f"unit-information fraction must be > 0, got {fraction}")
    uisd, how = unit_information_sd(measure, table)
    return Prior(
        name="unit-information",
        family="half-normal",
        params={"scale": fraction * uisd},
        target="tau",
        citation=UI_CITATION,
        spec=f"ui:{_fmt(fraction)}",
        description=f"tau ~ HN({_fmt(fraction)} x UISD) = HN({fraction * uisd:.4g}); {how}",
    )


def unit_information_mu(measure: str | None = None, table=None, fraction: float = 0.5) -> Prior:
    """Unit-information normal prior on mu: :math:`\\mu \\sim N(0, (fraction \\times UISD)^2)` (RoBMA: UISD/2)."""
    if not fraction > 0:
        raise ValueError(f"unit-information fraction must be > 0, got {fraction}")
    uisd, how = unit_information_sd(measure, table)
    return Prior(
        name="unit-information",
        family="normal",
        params={"loc": 0.0, "scale": fraction * uisd},
        target="mu",
        citation=UI_CITATION,
        spec=f"ui:{_fmt(fraction)}",
        description=f"mu ~ N(0, {_fmt(fraction)} x UISD) = N(0, {fraction * uisd:.4g}); {how}",
    )


# --------------------------------------------------------------------------- parsing


def _numbers(spec: str, body: str, n: int) -> list[float]:
    parts = [p for p in body.split(",")] if body else []
    if len(parts) != n:
        raise ValueError(f"prior spec {spec!r}: expected {n} comma-separated number(s), got {len(parts)}")
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"prior spec {spec!r}: {body!r} is not a list of numbers") from None


_TAU_HEADS = ("half-normal", "half-cauchy", "lognormal", "log-t", "inverse-gamma", "uniform", "gamma",
              "turner", "rhodes", "bartos", "ui", "unit-information")
_MU_HEADS = ("normal", "student-t", "flat", "normal-mixture", "bartos", "ui", "unit-information")
_HEAD_ALIASES = {"hn": "half-normal", "halfnormal": "half-normal", "hc": "half-cauchy",
                 "halfcauchy": "half-cauchy", "log-normal": "lognormal", "ln": "lognormal",
                 "invgamma": "inverse-gamma", "inv-gamma": "inverse-gamma", "ig": "inverse-gamma",
                 "t": "student-t", "studentt": "student-t", "logt": "log-t", "n": "normal",
                 "mixture": "normal-mixture", "normalmixture": "normal-mixture", "mix": "normal-mixture"}


def parse_prior(spec: str, target: str = "tau", table=None, measure: str | None = None) -> Prior:
    """Parse a prior specification string (see :data:`GRAMMAR`).

    Parameters
    ----------
    spec : str
        e.g. ``"half-normal:0.5"``, ``"turner:mental-health"``, ``"bartos:developmental:SMD"``,
        ``"ui"``, ``"normal:0,1"``, ``"student-t:5,0,0.43"``, ``"flat"``, ``"gamma:2,8"``,
        ``"normal-mixture:0.8,0.4,0.1;0.2,0.4,2"``.
    target : {"tau", "mu"}
    table : EffectTable, optional
        Supplies the measure (Bartoš without a measure, unit-information) and sample sizes
        (unit-information).
    measure : str, optional
        Measure when no table is given.

    Raises
    ------
    ValueError
        Unknown family / outcome / group names (the message lists the valid choices), wrong
        number of parameters, or a family that does not apply to ``target``.
    """
    if target not in ("tau", "mu"):
        raise ValueError(f"target must be 'tau' or 'mu', got {target!r}")
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("empty prior specification")
    raw = spec.strip()
    head, _, rest = raw.partition(":")
    head = _norm_key(head)
    head = _HEAD_ALIASES.get(head, head)
    valid = _TAU_HEADS if target == "tau" else _MU_HEADS
    if head not in valid:
        other = _MU_HEADS if target == "tau" else _TAU_HEADS
        hint = f" ({head!r} is a {'mu' if target == 'tau' else 'tau'} prior)" if head in other else ""
        raise ValueError(f"unknown {target} prior {raw!r}{hint}; valid {target} priors: {', '.join(valid)}\n{GRAMMAR}")
    if measure is None and table is not None:
        measure = table.measure
    fields = rest.split(":") if rest else []

    if head in ("turner", "rhodes"):
        if not 1 <= len(fields) <= 2:
            raise ValueError(f"prior spec {raw!r}: expected {head}:OUTCOME[:COMPARISON]")
        fn = turner_prior if head == "turner" else rhodes_prior
        return fn(outcome=fields[0], comparison=fields[1] if len(fields) == 2 else None)
    if head == "bartos":
        if not 1 <= len(fields) <= 2:
            raise ValueError(f"prior spec {raw!r}: expected bartos:GROUP[:MEASURE]")
        meas = fields[1] if len(fields) == 2 else measure
        if meas is None:
            raise ValueError(f"prior spec {raw!r}: give the measure (bartos:GROUP:SMD or :logOR) or a table")
        fn = bartos_prior if target == "tau" else bartos_mu_prior
        return fn(group=fields[0], measure=meas)
    if head in ("ui", "unit-information"):
        if len(fields) > 1:
            raise ValueError(f"prior spec {raw!r}: expected ui[:FRACTION]")
        fn = unit_information_prior if target == "tau" else unit_information_mu
        if fields:
            (frac,) = _numbers(raw, fields[0], 1)
            return fn(measure=measure, table=table, fraction=frac)
        return fn(measure=measure, table=table)
    if head == "flat":
        if rest:
            raise ValueError(f"prior spec {raw!r}: flat takes no parameters")
        return flat_mu()
    if head == "normal-mixture":
        comps = [c for c in rest.split(";")] if rest else []
        if not comps:
            raise ValueError(f"prior spec {raw!r}: expected normal-mixture:W1,M1,S1;W2,M2,S2[;...]")
        w, m, s = zip(*(_numbers(raw, c, 3) for c in comps), strict=True)
        return normal_mixture_mu(w, m, s)
    values = _numbers(raw, rest, len(FAMILIES[head]))
    params = dict(zip(FAMILIES[head], values, strict=True))
    if head == "half-normal":
        return half_normal(**params)
    if head == "half-cauchy":
        return half_cauchy(**params)
    if head == "normal":
        return normal_mu(**params)
    if head == "student-t":
        return student_t_mu(**params)
    if head == "gamma":
        return gamma_tau(**params)
    return Prior(name=head, family=head, params=params, target=target, citation="user-specified",
                 description=f"user-specified {head} prior on {target}")


# --------------------------------------------------------------------------- registry & defaults

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
      the design's precision, never the estimates). Without a table a ``ValueError`` asks for
      an explicit prior (an MD has no scale-free default).

    See the module docstring for the full argument.
    """
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
        return Prior(
            name="half-cauchy", family="half-cauchy", params={"scale": typical}, target="tau",
            citation=("Gelman A (2006). Prior distributions for variance parameters in hierarchical models. "
                      "Bayesian Anal 1(3):515-534."),
            description=(f"default for {m} without sample sizes: tau ~ half-Cauchy(scale {typical:.4g}) = the "
                         "typical within-study SE sqrt(k / sum se^-2); the heavy tail tolerates a misjudged scale"),
        )
    raise ValueError(
        f"no default heterogeneity prior for measure {m} without the table (its scale is the outcome's own "
        "units): give one explicitly, e.g. 'half-normal:S' with S a plausible between-study SD, or pass table="
    )


def default_mu_prior(measure: str) -> Prior:
    """Default prior on the pooled effect mu.

    * SMD: ``normal:0,1`` — 95% of prior mass on |SMD| < 1.96; weakly informative.
    * log OR: ``normal:0,1.8138`` — the SMD prior carried to the log-OR scale by the logistic
      conversion (× π/√3, Chinn 2000), so binary and continuous attachment outcomes share one
      prior belief about the latent effect.
    * MD: ``flat`` — no natural scale; the posterior of mu is proper for k >= 1.
    """
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
