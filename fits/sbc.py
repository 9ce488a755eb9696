"""Machinery of the joint model's simulation-based calibration (SBC), vectorised in JAX.

The calibration that is claimed — shipped priors (baseline SD 10), >= 500 replicates, every
data design, divergences excluded and asserted, 95% coverage — is
:func:`vfsynth.fits.joint_sbc.run_joint_sbc` (``vfsynth calibrate --model joint-complete
joint-no-pairs joint-follow-up-only``), built on the JAX density, simulator and vmapped runner
kept here. The :func:`run_sbc` below is the older, weaker check (100 replicates, baseline
SD 1.5, 90% intervals), kept for quick looks.

SBC (Talts, Betancourt, Simpson, Vehtari & Gelman 2018, arXiv:1804.06788; Modrák et al.
2023, *Bayesian Analysis*): draw parameters from the prior, simulate a review from them,
fit the model, and record the rank of the true value among :math:`L` (thinned, nearly
independent) posterior draws. If the sampler and the model code are right, each rank is
uniform on :math:`\\{0,\\dots,L\\}`.

Implementation
--------------
* The simulated reviews have a fixed *design* (:func:`sbc_design`): 22 studies with sample
  sizes like the bundled CD012348 trials scaled to ~1,900 dyads; in the ``"review"`` pattern
  some studies lack some outcomes (sensitivity in 20, reflective functioning in 5,
  attachment in 12 of which 6 as secure/insecure counts); in ``"complete"`` every study
  reports every outcome.
* Parameters and data are forward-sampled from the *same* PyMC model the package fits
  (:func:`vfsynth.models.joint.build_generative`), with the registry default priors
  (mu ~ N(0, 1), tau ~ HN(0.5) per outcome, LKJ(2), rho_w = 0.3) except the count-row
  baselines, alpha ~ N(0, 1.5) instead of N(0, 10), so that simulated control arms have
  realistic (not all-or-none) secure proportions. SBC is valid for any proper prior.
* The joint log density of that generative model, as a function of the (transformed)
  parameter values **and** the observed values, is turned into one JAX function
  (:func:`pymc.sampling.jax.get_jaxified_graph`), so every replicate is the same program
  with different data; ``jax.vmap`` runs BlackJAX NUTS with Stan-style window adaptation
  (Hoffman & Gelman 2014) for all replicates of a chunk at once.
* One chain per replicate; ``draws`` post-warm-up draws thinned by ``thin`` to
  :math:`L` = ``draws // thin - 1`` draws, so ranks take :math:`L+1` values.

Rank-uniformity test
--------------------
Ranks are binned into ``bins`` equal bins (``L+1`` divisible by ``bins``) and compared to
the uniform with Pearson's chi-square test (``bins - 1`` df). With ``P`` parameters the test
is Bonferroni-corrected: calibration is rejected for a parameter when its p-value is below
``alpha / P`` (family-wise ``alpha = 0.01`` by default). Coverage of central 90 % intervals
(true value strictly inside the 5 %–95 % range of the :math:`L` draws, i.e. rank in
:math:`[\\lceil 0.05 L\\rceil, \\lfloor 0.95 L\\rfloor]`) is checked against a binomial
acceptance interval at the same Bonferroni level.

Runtime (2 CPU cores; ``result["seconds"]`` is the vmapped sampling including XLA
compilation), 100 replicates x (500 warm-up + 1,000 draws), one chain each: ``"review"``
design 36 s, ``"complete"`` design 56 s; the whole slow test (``tests/test_joint_sbc.py``,
both designs, prior simulation and PyMC compilation) 98 s. A first run while other jobs
loaded both cores took 42 s and 1,282 s (22 min in all) for the same, bit-identical ranks.
A chunk of vmapped replicates runs until its slowest replicate finishes, so one replicate
with long trajectories in warm-up costs the whole chunk; ``result["chunk_seconds"]``
shows it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from vfsynth.fits import jaxenv
from vfsynth.models import joint as J

#: Sample sizes of the bundled CD012348 trials / candidates (total N where reported), the
#: template for simulated study sizes (scaled to ``total_n``).
TEMPLATE_SIZES = (54, 30, 130, 31, 81, 210, 222, 51, 125, 111, 67, 150, 14, 78, 77, 54, 80, 71, 237, 76, 247, 264)

SBC_QUANTITIES = (
    ("a", ()),
    ("b", ()),
    ("c_prime", ()),
    ("indirect", ()),
    ("total", ()),
    ("tau", (0,)),
    ("tau", (1,)),
    ("tau", (2,)),
    ("corr_pairs", (1,)),  # sensitivity ~ attachment
    ("corr_pairs", (0,)),  # sensitivity ~ reflective functioning
)


def quantity_label(name: str, index: tuple, constructs, pairs) -> str:
    if name == "tau":
        return f"tau[{constructs[index[0]]}]"
    if name == "corr_pairs":
        return f"corr[{pairs[index[0]]}]"
    return name


def _se_smd(n: np.ndarray, d: float = 0.3) -> np.ndarray:
    """SE of an SMD with equal arms of total size n (Hedges & Olkin): sqrt(4/n + d^2/(2n))."""
    return np.sqrt(4.0 / n + d * d / (2.0 * n))


def sbc_design(pattern: str = "review", *, n_studies: int = 22, total_n: int = 1900) -> J.JointData:
    """A fixed simulated-review design shaped like CD012348 (see module docstring).

    Parameters
    ----------
    pattern : {"review", "complete"}
        ``"review"``: some studies miss some outcomes; ``"complete"``: all outcomes everywhere.
    n_studies, total_n : int
        Number of studies and total dyads (sizes: :data:`TEMPLATE_SIZES` scaled).
    """
    from vfsynth.data.effect_table import EffectTable

    tmpl = np.resize(np.asarray(TEMPLATE_SIZES, dtype=float), n_studies)
    n = np.maximum(np.round(tmpl * total_n / tmpl.sum() / 2.0) * 2.0, 10.0)
    studies = tuple(f"sim{i + 1:02d}" for i in range(n_studies))
    idx = np.arange(n_studies)
    if pattern == "review":
        s_has = idx >= 2                       # 20 studies report sensitivity
        rf_has = idx % 4 == 1                  # 5-6 report reflective functioning
        a_cnt = np.isin(idx, [0, 3, 6, 9, 12, 15])   # 6 report secure/insecure counts
        a_smd = np.isin(idx, [1, 4, 7, 10, 13, 16])  # 6 report the AQS (SMD)
    elif pattern == "complete":
        s_has = np.ones(n_studies, bool)
        rf_has = np.ones(n_studies, bool)
        a_cnt = idx % 2 == 0
        a_smd = ~a_cnt
    else:
        raise ValueError(f"pattern must be 'review' or 'complete', got {pattern!r}")

    def table(outcome, mask, measure="SMD", counts=False):
        k = int(mask.sum())
        nn = n[mask]
        kw = {}
        if counts:
            half = nn / 2.0
            kw = dict(events_t=np.round(half / 2), n_t=half, events_c=np.round(half / 2), n_c=half)
        return EffectTable(
            outcome=outcome, timepoint="post", measure=measure, study=tuple(np.asarray(studies)[mask]),
            estimate=np.zeros(k), se=_se_smd(nn) * (J.CHINN if measure == "logOR" else 1.0),
            n_total=nn, year=np.full(k, np.nan), derivation=("simulated",) * k, source=("",) * k, **kw,
        )

    tables = [table("sensitivity", s_has), table("reflective_functioning", rf_has),
              table("attachment_security", a_cnt, "logOR", counts=True), table("attachment_aqs", a_smd)]
    design = J.assemble(tables, J.DEFAULT_MEDIATORS, J.DEFAULT_OUTCOMES)
    design.meta["n"] = n
    design.meta["pattern"] = pattern
    return design


@dataclass
class JaxJoint:
    """The joint model's log density and quantities as JAX functions of (params, data)."""

    param_names: list[str]
    data_names: list[str]
    logp: Any            # f(*params, *data) -> [logp]
    quantities: Any      # f(*params) -> [q_1, ..., q_P]
    init: list[np.ndarray]
    labels: list[str]


def jaxify(design: J.JointData, tau_priors, mu_priors, options: J.JointOptions, quantities=SBC_QUANTITIES):
    """Build the generative model and its JAX log density with data as inputs."""
    from pymc.sampling.jax import get_jaxified_graph

    model = J.build_generative(design, tau_priors, mu_priors, options)
    data_rvs = [model[n] for n in ("y", "events_t", "events_c") if n in model.named_vars]
    data_vvs = [model.rvs_to_values[rv] for rv in data_rvs]
    param_vvs = [v for v in model.value_vars if v not in data_vvs]
    logp = model.logp(jacobian=True)
    logp_fn = get_jaxified_graph(inputs=param_vvs + data_vvs, outputs=[logp])
    outs = []
    for name, index in quantities:
        var = model[name]
        outs.append(var[index] if index else var)
    outs = model.replace_rvs_by_values(outs)
    q_fn = get_jaxified_graph(inputs=param_vvs, outputs=outs)
    ip = model.initial_point()
    init = [np.asarray(ip[v.name], dtype=float) for v in param_vvs]
    pairs = J.pair_names(design.constructs)
    labels = [quantity_label(n, i, design.constructs, pairs) for n, i in quantities]
    return model, JaxJoint([v.name for v in param_vvs], [rv.name for rv in data_rvs], logp_fn, q_fn, init, labels)


def simulate(model, n_rep: int, seed: int, quantities=SBC_QUANTITIES) -> tuple[np.ndarray, list[np.ndarray]]:
    """Forward draws: true quantities (n_rep, P) and observed data arrays (n_rep, ...)."""
    import pymc as pm

    names = [rv.name for rv in model.free_RVs]
    data_names = [n for n in ("y", "events_t", "events_c") if n in names]
    with model:
        pr = pm.sample_prior_predictive(draws=n_rep, random_seed=seed)
    g = pr["prior"]
    truth = []
    for name, index in quantities:
        arr = np.asarray(g[name].values)[0]
        truth.append(arr[(slice(None),) + index] if index else arr)
    data = [np.asarray(g[n].values)[0] for n in data_names]
    return np.stack(truth, axis=1).astype(float), data


def _make_runner(jj: JaxJoint, n_warmup: int, n_draws: int, thin: int, target_accept: float):
    import jax
    import jax.numpy as jnp

    from vfsynth.fits.engines.blackjax_chain import nuts_chain

    def one(key, data, init):
        def logdensity(pos):
            return jj.logp(*pos, *data)[0]

        pos, div, nsteps, params = nuts_chain(logdensity, key, init, n_warmup, n_draws, target_accept)
        pos = [p[thin - 1 :: thin][:-1] for p in pos]  # L = n_draws // thin - 1 draws
        q = jax.vmap(lambda *p: jnp.stack([jnp.asarray(x, dtype=jnp.float64).reshape(()) for x in jj.quantities(*p)]))(*pos)
        return q, div.sum(), nsteps.max(), params["step_size"]

    return jax.jit(jax.vmap(one))


def run_sbc(
    pattern: str = "review",
    *,
    n_rep: int = 100,
    seed: int = 20240601,
    n_warmup: int = 500,
    n_draws: int = 1000,
    thin: int = 10,
    chunk: int = 25,
    target_accept: float = 0.9,
    options: J.JointOptions | None = None,
    tau_priors=None,
    mu_priors=None,
) -> dict[str, Any]:
    """Run SBC; return ranks, truths, divergences and timing.

    Returns
    -------
    dict
        ``labels`` (P), ``ranks`` (n_rep, P) in ``0..L``, ``L``, ``truth`` (n_rep, P),
        ``post_mean`` (n_rep, P), ``divergences`` (n_rep), ``max_steps`` (n_rep),
        ``seconds`` (wall time of the vmapped sampling, compile included), ``design``.
    """
    jaxenv.configure()
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    options = options or J.JointOptions(alpha_sd=1.5)
    design = sbc_design(pattern)
    dtau, dmu = J.default_priors(design.constructs)
    tau_priors = tau_priors or dtau
    mu_priors = mu_priors or dmu
    model, jj = jaxify(design, tau_priors, mu_priors, options)
    truth, data = simulate(model, n_rep, seed)
    runner = _make_runner(jj, n_warmup, n_draws, thin, target_accept)
    L = n_draws // thin - 1
    rng = np.random.default_rng(seed + 1)
    keys = jax.random.split(jax.random.PRNGKey(seed % (2**31)), n_rep)
    ranks = np.zeros_like(truth, dtype=int)
    post_mean = np.zeros_like(truth)
    divs = np.zeros(n_rep, dtype=int)
    steps = np.zeros(n_rep, dtype=int)
    t0 = time.perf_counter()
    chunk_seconds = []
    for lo in range(0, n_rep, chunk):
        tc = time.perf_counter()
        hi = min(lo + chunk, n_rep)
        m = hi - lo
        if m < chunk:  # pad the last chunk so the compiled program is reused
            pad = chunk - m
            idx = np.concatenate([np.arange(lo, hi), np.full(pad, hi - 1)])
        else:
            idx = np.arange(lo, hi)
        dat = [jnp.asarray(d[idx]) for d in data]
        init = [jnp.asarray(np.broadcast_to(v, (len(idx),) + v.shape) + rng.uniform(-0.5, 0.5, (len(idx),) + v.shape))
                for v in jj.init]
        q, dv, ns, _ = runner(keys[idx], dat, init)
        q = np.asarray(q)[:m]
        ranks[lo:hi] = np.sum(q < truth[lo:hi, None, :], axis=1)
        post_mean[lo:hi] = q.mean(axis=1)
        divs[lo:hi] = np.asarray(dv)[:m]
        steps[lo:hi] = np.asarray(ns)[:m]
        chunk_seconds.append(time.perf_counter() - tc)
    seconds = time.perf_counter() - t0
    return {"labels": jj.labels, "ranks": ranks, "L": L, "truth": truth, "post_mean": post_mean,
            "divergences": divs, "max_steps": steps, "seconds": seconds, "chunk_seconds": chunk_seconds,
            "pattern": pattern,
            "n_rep": n_rep, "seed": seed, "design": {"studies": len(design.studies), "normal_rows": design.n_rows,
                                                        "count_rows": design.n_count_rows,
                                                        "dyads": float(design.meta["n"].sum())}}


def rank_uniformity(ranks: np.ndarray, L: int, bins: int = 10) -> np.ndarray:
    """Pearson chi-square p-value of binned ranks vs uniform, per column.

    ``L + 1`` (number of possible ranks) must be divisible by ``bins`` so the bins are equally
    likely under uniformity.
    """
    from scipy.stats import chisquare

    if (L + 1) % bins:
        raise ValueError(f"L + 1 = {L + 1} rank values do not split into {bins} equal bins")
    width = (L + 1) // bins
    out = []
    for col in np.atleast_2d(ranks.T):
        counts = np.bincount(col // width, minlength=bins)
        out.append(chisquare(counts).pvalue)
    return np.asarray(out)


def coverage90(ranks: np.ndarray, L: int) -> np.ndarray:
    """Fraction of replicates whose true value lies inside the central 90 % of the L draws."""
    lo, hi = math.ceil(0.05 * L), math.floor(0.95 * L)
    return np.mean((ranks >= lo) & (ranks <= hi), axis=0)


def coverage_bounds(n_rep: int, L: int, alpha: float) -> tuple[float, float, float]:
    """Expected coverage under calibration and its two-sided binomial acceptance interval."""
    from scipy.stats import binom

    lo, hi = math.ceil(0.05 * L), math.floor(0.95 * L)
    p = (hi - lo + 1) / (L + 1)  # exact probability for a uniform rank
    return p, binom.ppf(alpha / 2, n_rep, p) / n_rep, binom.isf(alpha / 2, n_rep, p) / n_rep


def sbc_report(result: dict, alpha: float = 0.01, bins: int = 10) -> dict[str, Any]:
    """Per-parameter chi-square p-values, Bonferroni verdicts and 90 % coverage."""
    P = len(result["labels"])
    pv = rank_uniformity(result["ranks"], result["L"], bins)
    cov = coverage90(result["ranks"], result["L"])
    p_exp, c_lo, c_hi = coverage_bounds(result["n_rep"], result["L"], alpha / P)
    return {
        "alpha_familywise": alpha,
        "alpha_per_parameter": alpha / P,
        "bins": bins,
        "p_values": dict(zip(result["labels"], map(float, pv), strict=True)),
        "uniform": dict(zip(result["labels"], map(bool, pv >= alpha / P), strict=True)),
        "coverage90": dict(zip(result["labels"], map(float, cov), strict=True)),
        "coverage_expected": p_exp,
        "coverage_bounds": (c_lo, c_hi),
        "coverage_ok": dict(zip(result["labels"], map(bool, (cov >= c_lo) & (cov <= c_hi)), strict=True)),
        "replicates_with_divergences": int(np.sum(result["divergences"] > 0)),
        "seconds": result["seconds"],
        "chunk_seconds": [round(x, 1) for x in result.get("chunk_seconds", [])],
    }
