"""Benchmark: leave-one-study-out x prior-grid refits, batched vs one by one (not collected by pytest).

Run:  .venv/bin/python tests/bench_batched.py [--k 22] [--priors 8] [--one-by-one 3] [--draws 1000]

Workload: an NNHM with ``k`` studies (simulated, fixed seed), every prior of a grid x
(all studies + each study left out) = ``priors * (k + 1)`` posterior fits, each with 4 chains
of ``tune`` + ``draws`` NUTS iterations. Timings, all measured in this process:

* ``batched``   — :func:`vfsynth.fits.batched.run_batched`: ONE compiled BlackJAX program for all
  fits (wall time including compilation, and a second call with the program cached), with
  the default ``lanes="auto"`` (on a CPU: chains vmapped, variants ``lax.map``-ed inside the
  program) and with ``lanes=None`` (every chain of every variant in one ``vmap``, lock-step);
* ``pymc-each`` — the engine's path for a single fit, ``build_model`` + ``sample_model`` (PyMC
  graph + NumPyro compile + sampling) for the first ``--one-by-one`` refits; the per-fit mean
  is extrapolated to the whole grid;
* ``jax-each``  — the same BlackJAX program called with a batch of one, one refit at a time
  (compiled once, then reused): isolates the gain from vectorising from the gain of
  avoiding recompilation;
* ``exact``     — :func:`vfsynth.fits.exact.nnhm_exact` for every fit (bayesmeta integration).

Ratios are printed against the batched run of the same process.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=22)
    ap.add_argument("--priors", type=int, default=8)
    ap.add_argument("--one-by-one", type=int, default=3, help="refits timed one by one (PyMC and JAX-each)")
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    args = ap.parse_args()

    from vfsynth.fits import jaxenv

    jaxenv.configure()
    from vfsynth.data.effect_table import EffectTable
    from vfsynth.fits.batched import loso_weights, run_batched
    from vfsynth.fits.exact import nnhm_exact
    from vfsynth.fits.sensitivity import prior_set

    rng = np.random.default_rng(2019)
    k = args.k
    se = rng.uniform(0.12, 0.4, k)
    y = 0.35 + rng.normal(0, 0.2, k) + rng.normal(0, se)
    table = EffectTable("sensitivity", "post", "SMD", tuple(f"Study {i + 1}" for i in range(k)), y, se,
                        np.full(k, 80.0), np.full(k, np.nan), ("",) * k, ("",) * k)
    choices = prior_set(table)[: args.priors]
    w1 = loso_weights(k)
    W = np.vstack([w1] * len(choices))
    taus = [c.tau_prior for c in choices for _ in range(len(w1))]
    mus = [c.mu_prior for c in choices for _ in range(len(w1))]
    n_fits = len(W)
    print(f"workload: k = {k}, {len(choices)} priors x {len(w1)} (all + leave-one-out) = {n_fits} fits, "
          f"{args.chains} chains x ({args.tune} + {args.draws}) each; cores: {jaxenv.cpu_count()}")

    kw = dict(draws=args.draws, tune=args.tune, chains=args.chains, seed=1)
    t0 = time.perf_counter()
    r = run_batched("random-effects", y, se, W, taus, mus, **kw)
    t_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_batched("random-effects", y, se, W, taus, mus, **{**kw, "seed": 2})
    t_batch_warm = time.perf_counter() - t0
    print(f"batched (1 program, incl. compile):   {t_batch:8.2f} s   divergences: {int(r.diverging.sum())}")
    print(f"batched (program cached):             {t_batch_warm:8.2f} s")
    t0 = time.perf_counter()
    rv = run_batched("random-effects", y, se, W, taus, mus, lanes=None, **kw)
    t_vmap = time.perf_counter() - t0
    print(f"batched, all variants in one vmap (lock-step), incl. compile: {t_vmap:8.2f} s "
          f"(same draws: {bool(np.array_equal(rv.mu, r.mu))})")

    # exact engine, every fit
    t0 = time.perf_counter()
    for b in range(n_fits):
        keep = W[b] > 0
        nnhm_exact(y[keep], se[keep], taus[b], mus[b])
    t_exact = time.perf_counter() - t0
    print(f"exact engine (all {n_fits} fits):          {t_exact:8.3f} s")

    # one by one, JAX program with a batch of one (compile once on the first call)
    m = max(1, args.one_by_one)
    t0 = time.perf_counter()
    run_batched("random-effects", y, se, W[:1], taus[:1], mus[:1], **kw)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for b in range(1, m + 1):
        run_batched("random-effects", y, se, W[b : b + 1], taus[b : b + 1], mus[b : b + 1], **kw)
    t_jax_each = (time.perf_counter() - t0) / m
    print(f"jax-each: first call {t_first:.2f} s (compile), then {t_jax_each:.2f} s per fit "
          f"-> {t_first + t_jax_each * (n_fits - 1):.1f} s for the grid (extrapolated)")

    # one by one, the engine's PyMC path
    from vfsynth.fits.sampling import sample_model
    from vfsynth.models.univariate import build_model

    t0 = time.perf_counter()
    for b in range(m):
        keep = W[b] > 0
        model = build_model("random-effects", table.subset(keep), taus[b], mus[b])
        sample_model(model, draws=args.draws, tune=args.tune, chains=args.chains, seed=b, prior_draws=None,
                     posterior_predictive=False, log_likelihood=False)
    t_pymc_each = (time.perf_counter() - t0) / m
    print(f"pymc-each (build_model + sample_model, numpyro): {t_pymc_each:.2f} s per fit "
          f"-> {t_pymc_each * n_fits:.1f} s for the grid (extrapolated from {m})")

    print("\nspeed-up of the batched program (incl. compile) over:")
    print(f"  one-by-one PyMC refits:        x {t_pymc_each * n_fits / t_batch:6.1f}")
    print(f"  one-by-one JAX (cached) refits: x {(t_first + t_jax_each * (n_fits - 1)) / t_batch:6.1f}")
    print(f"  all-variant vmap program:       x {t_vmap / t_batch:6.1f}")
    print(f"exact engine vs batched MCMC:     x {t_batch / t_exact:6.0f} faster (normal-normal model only)")


if __name__ == "__main__":
    main()
