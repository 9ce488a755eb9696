"""The issue-12 targets that :mod:`vfsynth.fits.benchmark` measures beyond fit / load scaling.

Each function returns one benchmark entry: ``measured`` (seconds, or ESS per second),
``target``, ``floor`` (what the same work costs at its bare minimum on this machine, measured in
the same run), ``ratio_to_floor`` and ``passed``. Targets (issue 12):

* ``report_cold`` / ``report_warm``: a whole ``vfsynth report`` process on the bundled review
  with empty fit and step caches (<= 30 s), then again with nothing changed (<= 5 s). Floor:
  a bare ``python -c pass`` process. ``quick`` runs ``--no-extras`` (no comparison /
  sensitivity / living-review sections) and says so.
* ``fit_nuts_warm``: ``vfsynth fit --engine nuts --refit`` process with JAX's compilation
  cache filled by a first run (<= 4 s). Floor: a bare Python process.
* ``ess_per_s_<model>``: min(bulk ESS of mu, tau) per second of sampling, vfsynth's PyMC model
  through NumPyro against a NumPyro model of the same posterior written here by hand (same
  priors, non-centred, same chains / draws / warm-up, both timed after a warm-up run);
  target ratio >= 0.8.
* ``batch``: ``vfsynth batch`` (:func:`vfsynth.fits.corpus.run_batch`, in this process) on a
  synthetic corpus (:func:`synthetic_review`), analyses per second, and the time of a
  500-review corpus *extrapolated* linearly from the reviews run (target 600 s; labelled).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPORT_COLD_S, REPORT_WARM_S, NUTS_WARM_S, ESS_RATIO, BATCH_500_S = 30.0, 5.0, 4.0, 0.8, 600.0
CORPUS_COLUMNS = ("study", "year", "outcome", "timepoint", "measure", "n_t", "mean_t", "sd_t", "events_t", "n_c",
                  "mean_c", "sd_c", "events_c", "estimate", "se", "higher_is_better", "source")


def entry(measured: float, target: float, floor: float | None, *, higher_is_better: bool = False, **extra) -> dict:
    """One result: measured against its target (``<=`` unless ``higher_is_better``) and its floor."""
    passed = measured >= target if higher_is_better else measured <= target
    ratio = None if not floor else (measured / floor)
    return {"measured": measured, "target": target, "floor": floor, "ratio_to_floor": ratio,
            "passed": bool(passed), **extra}


def _vfsynth(args: list[str], env: dict) -> float:
    exe = Path(sys.executable).with_name("vfsynth")
    cmd = [str(exe), *args] if exe.exists() else [sys.executable, "-m", "vfsynth.reports.cli", *args]
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - t0


def bare_python_seconds() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t0


def report_runs(tmp: Path, quick: bool, floor: float) -> dict:
    """``report_cold`` and ``report_warm`` (see module docstring)."""
    env = dict(os.environ, VFSYNTH_FIT_DIR=str(tmp / "report-fits"), VFSYNTH_CACHE_DIR=str(tmp / "report-cache"))
    args = ["report", "--out", str(tmp / "report"), "--quiet", *(["--no-extras"] if quick else [])]
    cold = _vfsynth(args, env)
    warm = _vfsynth(args, env)
    note = "quick: --no-extras (no comparison, sensitivity, living-review sections)" if quick else "full report"
    return {"report_cold": entry(cold, REPORT_COLD_S, floor, note=note + "; empty fit and step caches"),
            "report_warm": entry(warm, REPORT_WARM_S, floor, note=note + "; second run, nothing changed")}


def nuts_warm(tmp: Path, floor: float) -> dict:
    """``fit_nuts_warm``: the second ``--engine nuts --refit`` process (compilation cache filled)."""
    env = dict(os.environ, VFSYNTH_FIT_DIR=str(tmp / "nuts-fits"), VFSYNTH_CACHE_DIR=str(tmp / "nuts-cache"))
    args = ["fit", "--outcome", "sensitivity", "--engine", "nuts", "--json", "--refit"]
    first = _vfsynth(args, env)
    warm = _vfsynth(args, env)
    return {"fit_nuts_warm": entry(warm, NUTS_WARM_S, floor, first_process_seconds=first,
                                   note="vfsynth fit --outcome sensitivity --engine nuts --refit, 4 x 1000 draws")}


def _numpyro_floor(model: str, y, se, mu_prior, tau_prior):
    """A hand-written NumPyro model of the same posterior (non-centred study effects)."""
    import numpyro
    import numpyro.distributions as dist

    k = len(y)

    def nnhm(y=None):
        mu = numpyro.sample("mu", dist.Normal(mu_prior.params["loc"], mu_prior.params["scale"]))
        if model == "common-effect":
            numpyro.sample("y", dist.Normal(mu, se), obs=y)
            return
        tau = numpyro.sample("tau", dist.HalfNormal(tau_prior.params["scale"]))
        with numpyro.plate("study", k):
            z = numpyro.sample("z", dist.Normal(0.0, 1.0))
            numpyro.sample("y", dist.Normal(mu + tau * z, se), obs=y)

    return nnhm


def ess_per_second(model: str, *, outcome: str = "sensitivity", chains: int = 4, draws: int = 1000,
                   tune: int = 1000, repeats: int = 2) -> dict:
    """``ess_per_s_<model>``: vfsynth's sampler against the hand-written NumPyro floor."""
    from vfsynth.fits import jaxenv

    jaxenv.configure()
    import arviz_stats as azs
    import jax
    import jax.numpy as jnp
    from numpyro.infer import MCMC, NUTS

    from vfsynth.data import load_review
    from vfsynth.fits.runner import resolve_priors
    from vfsynth.fits.sampling import sample_model
    from vfsynth.models.univariate import build_model

    table = load_review().effects(outcome)
    tp, mp = resolve_priors(table, model)
    if mp.family != "normal" or (model != "common-effect" and tp.family != "half-normal"):
        raise ValueError(f"the NumPyro floor is written for half-normal tau / normal mu priors, not {tp} / {mp}")
    names = ["mu"] if model == "common-effect" else ["mu", "tau"]
    method = "parallel" if chains <= jaxenv.host_device_count() else "vectorized"
    y, se = jnp.asarray(table.estimate), jnp.asarray(table.se)
    floor_model = _numpyro_floor(model, y, se, mp, tp)

    def run_floor(seed):
        mcmc = MCMC(NUTS(floor_model, target_accept_prob=0.9), num_warmup=tune, num_samples=draws,
                    num_chains=chains, chain_method=method, progress_bar=False)
        t0 = time.perf_counter()
        mcmc.run(jax.random.PRNGKey(seed), y=y)
        s = mcmc.get_samples(group_by_chain=True)
        jax.block_until_ready(s["mu"])
        return time.perf_counter() - t0, {n: np.asarray(s[n]) for n in names}

    pm_model = build_model(model, table, None if model == "common-effect" else tp, mp)

    def run_vfsynth(seed):
        t0 = time.perf_counter()
        dt = sample_model(pm_model, draws=draws, tune=tune, chains=chains, seed=seed, target_accept=0.9,
                          prior_draws=None, posterior_predictive=False, log_likelihood=False)
        return time.perf_counter() - t0, {n: dt["posterior"][n].values for n in names}

    def rate(fn):
        fn(0)  # compile / warm-up run, not timed
        per_s = []
        for r in range(repeats):
            t, s = fn(r + 1)
            per_s.append(min(float(azs.ess(np.asarray(s[n]), method="bulk")) for n in names) / t)
        return float(np.median(per_s))

    floor, got = rate(run_floor), rate(run_vfsynth)
    ratio = got / floor
    return {f"ess_per_s_{model}": {
        "measured": got, "floor": floor, "ratio_to_floor": ratio, "target": ESS_RATIO,
        "target_is": "ratio_to_floor >= target", "passed": bool(ratio >= ESS_RATIO),
        "note": f"min bulk ESS/s of {names}; {chains} chains x {draws} draws + {tune} warm-up, "
                f"chain_method={method}, median of {repeats} runs after a warm-up run"}}


def synthetic_review(rng: np.random.Generator, n_rows: int) -> list[dict]:
    """Rows of a synthetic review imitating the public Cochrane collections (~172 rows a review):
    analyses with k ~ geometric(0.2) studies in three data forms (continuous arms -> SMD, binary
    arms -> log OR, estimate + SE -> MD), true effects from a random-effects model."""
    rows: list[dict] = []
    a = 0
    while len(rows) < n_rows:
        a += 1
        k = int(min(rng.geometric(0.2), n_rows - len(rows)))
        form = ("SMD", "logOR", "MD")[a % 3]
        mu, tau = rng.normal(0.2, 0.3), abs(rng.normal(0, 0.3))
        for i in range(k):
            th = rng.normal(mu, tau)
            n = int(rng.integers(20, 400))
            r = {"study": f"Study {i + 1}", "year": int(rng.integers(1980, 2024)), "outcome": f"outcome-{a}",
                 "timepoint": "post", "higher_is_better": "true", "source": "synthetic"}
            if form == "SMD":
                r.update(measure="SMD", n_t=n, n_c=n, mean_t=round(th + rng.normal(0, 1 / np.sqrt(n)), 4),
                         mean_c=0.0, sd_t=round(float(rng.uniform(0.8, 1.2)), 4), sd_c=1.0)
            elif form == "logOR":
                p_c = rng.uniform(0.1, 0.6)
                p_t = 1 / (1 + np.exp(-(np.log(p_c / (1 - p_c)) + th)))
                r.update(measure="logOR", n_t=n, n_c=n, events_t=int(rng.binomial(n, p_t)),
                         events_c=int(rng.binomial(n, p_c)))
            else:
                s = 2 / np.sqrt(n)
                r.update(measure="MD", estimate=round(rng.normal(th, s), 4), se=round(s, 4))
            rows.append(r)
    return rows


def write_corpus(directory: Path, n_reviews: int, n_rows: int = 172, seed: int = 12) -> list[Path]:
    """``n_reviews`` synthetic review CSVs in ``directory``."""
    rng = np.random.default_rng(seed)
    paths = []
    for j in range(n_reviews):
        p = directory / f"review{j:04d}.csv"
        with open(p, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=CORPUS_COLUMNS)
            w.writeheader()
            w.writerows(synthetic_review(rng, n_rows))
        paths.append(p)
    return paths


def batch_throughput(n_reviews: int, floor_per_analysis_s: float | None = None) -> dict:
    """``batch``: ``run_batch`` on ``n_reviews`` synthetic reviews in this process; the
    500-review time is extrapolated linearly (analyses are independent) and labelled so."""
    from vfsynth.fits.corpus import run_batch

    with tempfile.TemporaryDirectory(prefix="vfsynth-bench-batch-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        write_corpus(corpus, n_reviews)
        t0 = time.perf_counter()
        s = run_batch([corpus], Path(tmp) / "out")
        wall = time.perf_counter() - t0
    per_review = wall / n_reviews
    extrapolated = per_review * 500
    floor = None if floor_per_analysis_s is None else floor_per_analysis_s * s.analysed * 500 / n_reviews
    return {"batch": entry(extrapolated, BATCH_500_S, floor, reviews_run=n_reviews, wall_seconds=wall,
                           analysed=s.analysed, not_analysed=s.failed, analyses_per_s=s.analysed / wall,
                           note=f"measured on {n_reviews} synthetic reviews of 172 rows in one process; the "
                                "500-review figure is EXTRAPOLATED linearly (x 500 / reviews run); floor: the "
                                "exact integration alone per analysis")}


def exact_floor_per_analysis(k: int = 5, repeats: int = 20) -> float:
    """Seconds of one exact NNHM integration for ``k`` studies (the batch floor)."""
    from vfsynth.fits.exact import nnhm_exact
    from vfsynth.models.priors.grammar import parse_prior

    rng = np.random.default_rng(2)
    se = rng.uniform(0.1, 0.5, k)
    y = rng.normal(0.2, 0.3, k)
    tau, mu = parse_prior("half-normal:0.5", "tau"), parse_prior("normal:0,1", "mu")
    nnhm_exact(y, se, tau_prior=tau, mu_prior=mu)
    t0 = time.perf_counter()
    for _ in range(repeats):
        nnhm_exact(y, se, tau_prior=tau, mu_prior=mu).mu_quantiles()
    return (time.perf_counter() - t0) / repeats


def summary(results: dict) -> list[dict]:
    """One line per target, in a fixed order: name, measured, target, ratio to floor, passed."""
    rows = []
    for name, r in results.items():
        if "target" in r and "measured" in r:
            rows.append({"name": name, "measured": r["measured"], "target": r["target"],
                         "ratio_to_floor": r.get("ratio_to_floor"), "passed": r["passed"]})
        elif "error" in r:
            rows.append({"name": name, "measured": None, "target": None, "ratio_to_floor": None,
                         "passed": False, "error": r["error"]})
    return json.loads(json.dumps(rows))
