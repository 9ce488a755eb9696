"""Simulation-based calibration of the joint mediation model for every data design, with the shipped priors.

:func:`run_joint_sbc` draws ``replicates`` parameter sets from the *shipped* priors (the
registry defaults per construct, LKJ(2), :math:`\\rho_w = 0.3`, follow-up priors, and the
count-row baseline SD :data:`vfsynth.models.joint_data.ALPHA_SD` = 10 as shipped), simulates a
review of the chosen design from the same PyMC graph the package fits
(:func:`vfsynth.models.joint.build_generative`), fits every replicate with BlackJAX NUTS
vectorised over replicates (the JAX log density and runner of :mod:`vfsynth.fits.sbc`), and
ranks each true value among :math:`L` thinned posterior draws (Talts et al. 2018,
arXiv:1804.06788; Modrák et al. 2023, *Bayesian Anal.*).

Designs (:func:`design`; 22 studies with CD012348-like sizes, ~1,900 dyads)
--------------------------------------------------------------------------------
* ``"complete"`` — every study reports sensitivity, reflective functioning and attachment
  (half as secure/insecure counts, half as AQS SMDs) post-intervention;
* ``"no-pairs"`` — studies 1–11 report sensitivity only, 12–22 attachment only: no study
  reports a mediator *and* the final outcome, so the slope :math:`b`, the indirect effect,
  :math:`c'` and the sensitivity–attachment correlation are not identified (their posterior
  should equal their prior; :func:`learned_iqr_ratio` measures it) — SBC must still be uniform;
* ``"follow-up-only"`` — sensitivity post-intervention in every study, attachment only at a
  follow-up time point in 12 of them: the post-intervention attachment effect is informed only
  through the follow-up deviation prior.

Ranks, tests and coverage
-------------------------
With ``draws`` post-warm-up draws thinned by ``thin`` the rank of a true value among the
:math:`L` = ``draws // thin - 1`` draws is uniform on :math:`\\{0,\\dots,L\\}` under calibration.
The default :math:`L = 199` makes a central 95 % interval (rank in
:math:`[\\lceil 0.025 L\\rceil, \\lfloor 0.975 L\\rfloor]`) have probability exactly
:math:`190/200 = 0.95`. Rank uniformity: Pearson chi-square on ``bins`` equal bins,
Bonferroni-corrected over the :math:`P` quantities (reject a quantity when
:math:`p < \\alpha/P`). Coverage: the binomial acceptance interval of the 95 % coverage at
the same per-quantity level.

Divergences
-----------
A replicate with any divergent transition after warm-up is *excluded* from the ranks (its
draws are not trusted) and counted. Excluding replicates by a data-dependent rule can itself
bias SBC, so the result also keeps the rank p-values of *all* replicates, and
:func:`check` asserts that the excluded fraction is small (default at most 5 %).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vfsynth.fits import jaxenv
from vfsynth.fits import sbc as S
from vfsynth.models import joint as J

DESIGNS = ("complete", "no-pairs", "follow-up-only")
#: Follow-up time point label of the follow-up-only design.
FOLLOW_UP = "6 months"

#: Quantities ranked in every design: (label, model variable, index).
QUANTITIES = (
    ("a", ()),
    ("b", ()),
    ("c_prime", ()),
    ("indirect", ()),
    ("total", ()),
    ("proportion_mediated", ()),
    ("tau", (0,)),
    ("tau", (2,)),
    ("corr_pairs", (1,)),  # sensitivity ~ attachment
)
#: Quantities that no study informs in the no-pairs design.
NOT_IDENTIFIED_NO_PAIRS = ("b", "c_prime", "indirect", "proportion_mediated", "corr[sensitivity~attachment]")


def design(name: str, *, n_studies: int = 22, total_n: int = 1900) -> J.JointData:
    """The simulated-review design ``name`` (see module docstring); estimates are placeholders."""
    from vfsynth.data.effect_table import EffectTable

    if name not in DESIGNS:
        raise ValueError(f"design must be one of {', '.join(DESIGNS)}, got {name!r}")
    tmpl = np.resize(np.asarray(S.TEMPLATE_SIZES, dtype=float), n_studies)
    n = np.maximum(np.round(tmpl * total_n / tmpl.sum() / 2.0) * 2.0, 10.0)
    studies = np.asarray([f"sim{i + 1:02d}" for i in range(n_studies)])
    idx = np.arange(n_studies)
    none = np.zeros(n_studies, bool)
    tp_a = J.POST
    if name == "complete":
        s_has, rf_has, a_has = ~none, ~none, ~none
    elif name == "no-pairs":
        s_has = idx < n_studies // 2
        rf_has, a_has = none, ~s_has
    else:
        s_has, rf_has = ~none, none
        a_has = idx % 2 == 0 if n_studies < 12 else idx < 12
        tp_a = FOLLOW_UP
    a_cnt = a_has & (idx % 2 == 0)
    a_smd = a_has & ~a_cnt

    def table(outcome, mask, measure="SMD", counts=False, timepoint=J.POST):
        k = int(mask.sum())
        nn = n[mask]
        kw = {}
        if counts:
            half = nn / 2.0
            kw = dict(events_t=np.round(half / 2), n_t=half, events_c=np.round(half / 2), n_c=half)
        return EffectTable(
            outcome=outcome, timepoint=timepoint, measure=measure, study=tuple(studies[mask]),
            estimate=np.zeros(k), se=S._se_smd(nn) * (J.CHINN if measure == "logOR" else 1.0),
            n_total=nn, year=np.full(k, np.nan), derivation=("simulated",) * k, source=("",) * k, **kw,
        )

    tables = [table("sensitivity", s_has), table("attachment_security", a_cnt, "logOR", True, tp_a),
              table("attachment_aqs", a_smd, timepoint=tp_a)]
    if rf_has.any():
        tables.append(table("reflective_functioning", rf_has))
    out = J.assemble([t for t in tables if t.k], J.DEFAULT_MEDIATORS, J.DEFAULT_OUTCOMES)
    out.meta["n"] = n
    out.meta["pattern"] = name
    return out


def pairs_informing(jd: J.JointData) -> int:
    """Studies with a post-intervention row of the headline mediator and of the final outcome."""
    m1, fin = 0, len(jd.constructs) - 1

    def has(slot):
        s = set(jd.row_study[jd.row_slot == slot].tolist()) if jd.n_rows else set()
        if jd.n_count_rows:
            s |= set(jd.crow_study[jd.crow_slot == slot].tolist())
        return s

    return len(has(m1) & has(fin))


@dataclass
class JointSBCResult:
    """Outcome of :func:`run_joint_sbc` (arrays over replicates x quantities)."""

    design: str
    labels: list[str]
    ranks: np.ndarray
    L: int
    truth: np.ndarray
    post_median: np.ndarray
    post_iqr: np.ndarray
    prior_iqr: np.ndarray
    divergences: np.ndarray
    seed: int
    seconds: float
    pairs: int
    alpha: float = 0.01
    bins: int = 10
    settings: dict = field(default_factory=dict)

    @property
    def replicates(self) -> int:
        return int(self.ranks.shape[0])

    @property
    def kept(self) -> np.ndarray:
        """Replicates without divergent transitions (the ones ranked)."""
        return self.divergences == 0

    def table(self):
        """One row per quantity: uniformity p (kept and all replicates), verdict, 95 % coverage and bounds,
        the learned IQR ratio (median over replicates of posterior IQR / prior IQR)."""
        import pandas as pd

        P = len(self.labels)
        keep = self.kept
        p_kept = S.rank_uniformity(self.ranks[keep], self.L, self.bins)
        p_all = S.rank_uniformity(self.ranks, self.L, self.bins)
        cov = coverage95(self.ranks[keep], self.L)
        expct, lo, hi = coverage95_bounds(int(keep.sum()), self.L, self.alpha / P)
        ratio = np.median(self.post_iqr[keep] / self.prior_iqr[None, :], axis=0)
        return pd.DataFrame({
            "quantity": self.labels,
            "p_uniform": p_kept,
            "p_uniform_all_replicates": p_all,
            "uniform": p_kept >= self.alpha / P,
            "coverage95": cov,
            "coverage_expected": expct,
            "coverage_lo": lo,
            "coverage_hi": hi,
            "coverage_ok": (cov >= lo) & (cov <= hi),
            "learned_iqr_ratio": ratio,
        })

    def summary(self) -> dict[str, Any]:
        keep = self.kept
        return {
            "design": self.design, "replicates": self.replicates, "kept": int(keep.sum()),
            "excluded_divergent": int((~keep).sum()), "divergent_transitions": int(self.divergences.sum()),
            "L": self.L, "bins": self.bins, "alpha_familywise": self.alpha,
            "alpha_per_quantity": self.alpha / len(self.labels), "studies_with_mediator_and_final": self.pairs,
            "seed": self.seed, "seconds": round(self.seconds, 1), "settings": self.settings,
        }


def coverage95(ranks: np.ndarray, L: int) -> np.ndarray:
    """Fraction of replicates whose true value is inside the central 95 % of the :math:`L` draws."""
    lo, hi = math.ceil(0.025 * L), math.floor(0.975 * L)
    return np.mean((ranks >= lo) & (ranks <= hi), axis=0)


def coverage95_bounds(n_rep: int, L: int, alpha: float) -> tuple[float, float, float]:
    """Exact coverage probability of a uniform rank and its two-sided binomial acceptance interval."""
    from scipy.stats import binom

    lo, hi = math.ceil(0.025 * L), math.floor(0.975 * L)
    p = (hi - lo + 1) / (L + 1)
    return p, binom.ppf(alpha / 2, n_rep, p) / n_rep, binom.isf(alpha / 2, n_rep, p) / n_rep


def _iqr(x: np.ndarray, axis: int) -> np.ndarray:
    q = np.quantile(x, [0.25, 0.75], axis=axis)
    return q[1] - q[0]


def run_joint_sbc(
    design_name: str = "complete",
    replicates: int = 500,
    seed: int = 20240601,
    *,
    n_warmup: int = 500,
    draws: int = 1000,
    thin: int = 5,
    chunk: int = 50,
    target_accept: float = 0.9,
    options: J.JointOptions | None = None,
    alpha: float = 0.01,
    bins: int = 10,
    n_studies: int = 22,
) -> JointSBCResult:
    """SBC of the joint model with the shipped priors on one design, through the vectorised NUTS program.

    Parameters
    ----------
    design_name : {"complete", "no-pairs", "follow-up-only"}
    replicates : int
        Simulated reviews (>= 500 for the calibration claim; a handful checks plumbing).
    seed : int
        Reproduces the simulated reviews and every chain.
    n_warmup, draws, thin : int
        One chain per replicate; ``L = draws // thin - 1`` ranked draws (199 by default).
    chunk : int
        Replicates vectorised together (``jax.vmap``); the last chunk is padded.
    options : JointOptions, optional
        Default: the shipped :class:`~vfsynth.models.joint.JointOptions` (baseline SD 10).
    alpha, bins : float, int
        Family-wise level (Bonferroni over quantities) and chi-square bins (``L + 1`` divisible).
    """
    jaxenv.configure()
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    options = options or J.JointOptions()
    jd = design(design_name, n_studies=n_studies)
    tau_p, mu_p = J.default_priors(jd.constructs)
    model, jj = S.jaxify(jd, tau_p, mu_p, options, quantities=QUANTITIES)
    truth, data = S.simulate(model, replicates, seed, quantities=QUANTITIES)
    prior_iqr = _iqr(truth, axis=0) if replicates >= 50 else _prior_iqr(model, seed)
    runner = S._make_runner(jj, n_warmup, draws, thin, target_accept)
    L = draws // thin - 1
    rng = np.random.default_rng(seed + 1)
    keys = jax.random.split(jax.random.PRNGKey(seed % (2**31)), replicates)
    P = truth.shape[1]
    ranks = np.zeros((replicates, P), dtype=int)
    med = np.zeros((replicates, P))
    iqr = np.zeros((replicates, P))
    divs = np.zeros(replicates, dtype=int)
    chunk = min(chunk, replicates)
    t0 = time.perf_counter()
    for lo in range(0, replicates, chunk):
        hi = min(lo + chunk, replicates)
        m = hi - lo
        # pad the last chunk so the compiled program is reused
        idx = np.concatenate([np.arange(lo, hi), np.full(chunk - m, hi - 1)]).astype(int)
        dat = [jnp.asarray(d[idx]) for d in data]
        init = [jnp.asarray(np.broadcast_to(v, (chunk,) + v.shape) + rng.uniform(-0.5, 0.5, (chunk,) + v.shape))
                for v in jj.init]
        q, dv, _, _ = runner(keys[idx], dat, init)
        q = np.asarray(q)[:m]
        ranks[lo:hi] = np.sum(q < truth[lo:hi, None, :], axis=1)
        med[lo:hi] = np.median(q, axis=1)
        iqr[lo:hi] = _iqr(q, axis=1)
        divs[lo:hi] = np.asarray(dv)[:m]
    seconds = time.perf_counter() - t0
    labels = list(jj.labels)
    return JointSBCResult(
        design=design_name, labels=labels, ranks=ranks, L=L, truth=truth, post_median=med, post_iqr=iqr,
        prior_iqr=prior_iqr, divergences=divs, seed=seed, seconds=seconds, pairs=pairs_informing(jd),
        alpha=alpha, bins=bins,
        settings={"n_warmup": n_warmup, "draws": draws, "thin": thin, "chunk": chunk, "target_accept": target_accept,
                  "options": options.to_dict(), "studies": len(jd.studies), "normal_rows": jd.n_rows,
                  "count_rows": jd.n_count_rows},
    )


def _prior_iqr(model, seed: int, n: int = 4000) -> np.ndarray:
    """Prior IQR of every ranked quantity from forward draws (for runs with few replicates)."""
    truth, _ = S.simulate(model, n, seed + 7, quantities=QUANTITIES)
    return _iqr(truth, axis=0)


def check(result: JointSBCResult, max_excluded: float = 0.05) -> list[str]:
    """Failures of the calibration claim (empty list: passed): non-uniform ranks, 95 % coverage outside its
    acceptance interval, or more than ``max_excluded`` of replicates excluded for divergences."""
    tab = result.table()
    out = [f"{r.quantity}: ranks not uniform (p = {r.p_uniform:.2g} < {result.alpha}/{len(tab)})"
           for r in tab.itertuples() if not r.uniform]
    out += [f"{r.quantity}: 95% coverage {r.coverage95:.3f} outside [{r.coverage_lo:.3f}, {r.coverage_hi:.3f}]"
            for r in tab.itertuples() if not r.coverage_ok]
    frac = 1.0 - result.kept.mean()
    if frac > max_excluded:
        out.append(f"{frac:.1%} of replicates had divergent transitions (more than {max_excluded:.0%})")
    return out
