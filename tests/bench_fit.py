"""Benchmark: `vfsynth fit` wall time (cold / warm) and sampler efficiency vs hand-written NumPyro.

Not collected by pytest (file name). Run::

    .venv/bin/python tests/bench_fit.py [--outcome sensitivity] [--chains 4 --draws 1000 --tune 1000]

Prints
  1. wall time of ``vfsynth fit --outcome sensitivity --json`` in a fresh process:
     cold (empty JAX compilation cache and empty fit store), warm (``--refit`` with the
     compilation cache filled), and cached (saved fit reused);
  2. in this process, vfsynth's PyMC->NumPyro sampling of the NNHM vs a hand-written NumPyro
     model of the same posterior (same priors, non-centred, same chains/draws/tune, same
     chain_method), both timed after a warm-up run, and min bulk-ESS per second for mu and
     tau with the ratio vfsynth / NumPyro (1.0 = no overhead).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cli_wall(outcome: str, cache: str, fits: str, extra: list[str]) -> tuple[float, dict]:
    env = dict(os.environ, VFSYNTH_CACHE_DIR=cache, VFSYNTH_FIT_DIR=fits)
    env.pop("XLA_FLAGS", None)
    exe = Path(sys.executable).with_name("vfsynth")
    t0 = time.perf_counter()
    out = subprocess.run([str(exe), "fit", "--outcome", outcome, "--json", *extra], env=env, capture_output=True,
                         text=True, check=True)
    return time.perf_counter() - t0, json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--outcome", default="sensitivity")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    settings = ["--chains", str(a.chains), "--draws", str(a.draws), "--tune", str(a.tune)]

    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as fits:
        cold, d = cli_wall(a.outcome, cache, fits, settings)
        warm, d2 = cli_wall(a.outcome, cache, fits, settings + ["--refit"])
        cached, d3 = cli_wall(a.outcome, cache, fits, settings)
    assert not d["fit"]["cached"] and not d2["fit"]["cached"] and d3["fit"]["cached"]
    print(f"vfsynth fit --outcome {a.outcome} ({a.chains} chains x {a.draws} draws + {a.tune} tune), fresh process:")
    print(f"  cold (empty compilation cache): {cold:6.2f} s")
    print(f"  warm (--refit, cache filled):   {warm:6.2f} s")
    print(f"  cached fit reused:              {cached:6.2f} s")
    print(f"  diagnostics: divergences {d['diagnostics']['divergences']}, max R-hat {d['diagnostics']['max_rhat']:.4f}")

    # ---------------------------------------------------------------- in-process comparison
    from vfsynth.fits import jaxenv

    jaxenv.configure()
    import arviz_stats as azs
    import jax
    import jax.numpy as jnp
    import numpy as np
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS

    from vfsynth.data import load_review
    from vfsynth.fits.runner import resolve_priors
    from vfsynth.fits.sampling import sample_model
    from vfsynth.models.univariate import build_model

    jax.config.update("jax_enable_x64", True)
    table = load_review().effects(a.outcome)
    tp, mp = resolve_priors(table, "random-effects")
    assert tp.family == "half-normal" and mp.family == "normal", "bench hand-codes HN tau / normal mu priors"
    method = "parallel" if a.chains <= jaxenv.host_device_count() else "vectorized"
    y = jnp.asarray(table.estimate)
    se = jnp.asarray(table.se)

    def nnhm(y=None):
        mu = numpyro.sample("mu", dist.Normal(mp.params["loc"], mp.params["scale"]))
        tau = numpyro.sample("tau", dist.HalfNormal(tp.params["scale"]))
        with numpyro.plate("study", table.k):
            z = numpyro.sample("z", dist.Normal(0.0, 1.0))
            numpyro.sample("y", dist.Normal(mu + tau * z, se), obs=y)

    def run_numpyro(seed):
        mcmc = MCMC(NUTS(nnhm, target_accept_prob=0.9), num_warmup=a.tune, num_samples=a.draws, num_chains=a.chains,
                    chain_method=method, progress_bar=False)
        t0 = time.perf_counter()
        mcmc.run(jax.random.PRNGKey(seed), y=y)
        s = mcmc.get_samples(group_by_chain=True)
        jax.block_until_ready(s["mu"])
        return time.perf_counter() - t0, {k: np.asarray(v) for k, v in s.items()}

    model = build_model("random-effects", table, tp, mp)

    def run_vfsynth(seed):
        t0 = time.perf_counter()
        dt = sample_model(model, draws=a.draws, tune=a.tune, chains=a.chains, seed=seed, target_accept=0.9,
                          prior_draws=None, posterior_predictive=False, log_likelihood=False)
        return time.perf_counter() - t0, {k: dt["posterior"][k].values for k in ("mu", "tau")}

    def ess(x):
        return float(azs.ess(np.asarray(x), method="bulk"))

    rows = {}
    for label, fn in (("numpyro (hand-written)", run_numpyro), ("vfsynth (PyMC->numpyro)", run_vfsynth)):
        first, _ = fn(0)
        times, es_mu, es_tau = [], [], []
        for r in range(a.repeats):
            t, s = fn(r + 1)
            times.append(t)
            es_mu.append(ess(s["mu"]))
            es_tau.append(ess(s["tau"]))
        t = float(np.median(times))
        rows[label] = (first, t, np.median(es_mu) / t, np.median(es_tau) / t)
        print(f"{label:26s} first run {first:6.2f} s; warm median {t:6.3f} s; "
              f"ESS/s mu {rows[label][2]:8.0f}, tau {rows[label][3]:8.0f}")
    n, v = rows["numpyro (hand-written)"], rows["vfsynth (PyMC->numpyro)"]
    print(f"ratio vfsynth / numpyro: warm time {v[1] / n[1]:.2f}x; ESS/s mu {v[2] / n[2]:.2f}, tau {v[3] / n[3]:.2f} "
          f"(chain_method={method}, {jaxenv.host_device_count()} host devices)")


if __name__ == "__main__":
    main()
