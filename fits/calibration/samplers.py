"""Fitting simulated reviews in one compiled program: the vectorised NUTS paths.

* :func:`run_marginal` — common-effect, random-effects and Student-t models through the
  shipped batched engine (:func:`vfsynth.fits.batched.run_batched`: the spec's marginal
  likelihood in JAX via ``array_ops("jax")``, registry priors tabulated on a grid), one
  batch row per simulated review.
* :func:`run_generative` — models without a (batched) marginal form in the engine:
  binomial–normal (study effects and baselines explicit) and meta-regression. The spec's own generative PyMC graph is turned into one JAX log
  density of (parameters, data) (:func:`pymc.sampling.jax.get_jaxified_graph`) and BlackJAX
  NUTS with Stan-style window adaptation (Hoffman & Gelman 2014) runs it for every
  replicate, ``jax.lax.map`` on a CPU (lanes in lock-step waste work there) and ``jax.vmap``
  on an accelerator — the program the joint model's SBC (:mod:`vfsynth.fits.sbc`) uses.
* :func:`run_vectorised` — the replicate loop under :func:`run_generative`, also used directly
  with the JAX densities of :mod:`vfsynth.fits.calibration.marginal_jax` (selection, PET, PEESE).

All return the posterior draws of the calibrated quantities, shape ``(n_rep, draws, P)``,
and the divergent transitions per replicate; ranks and coverage are computed from them in
:mod:`vfsynth.fits.calibration.checks`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

CHUNK = 100  # replicates per call of a compiled program (same shapes: compiled once)


def run_marginal(kind: str, y: np.ndarray, se: np.ndarray, priors, *, nu: float | None, draws: int, tune: int,
                 target_accept: float, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Fit every row of ``y`` (n_rep, k) with the batched engine, one chain per replicate.

    Returns draws ``(n_rep, draws, P)`` of ``mu`` (and ``tau``), divergences per replicate
    and the sampling wall time in seconds.
    """
    from vfsynth.fits.batched import run_batched

    n_rep, k = y.shape
    chunk = min(CHUNK, n_rep)
    out, div = [], []
    t0 = time.perf_counter()
    for lo in range(0, n_rep, chunk):
        rows = y[lo:lo + chunk]
        b = rows.shape[0]
        if b < chunk:  # pad: the compiled program is reused for the last chunk
            rows = np.vstack([rows, np.repeat(rows[-1:], chunk - b, axis=0)])
        res = run_batched(kind, rows, se, np.ones((chunk, k)), [priors.get("tau")] * chunk, [priors["mu"]] * chunk,
                          nu=nu, draws=draws, tune=tune, chains=1, seed=seed + lo, target_accept=target_accept)
        q = [res.mu[:b, 0]]
        if kind != "common-effect":
            q.append(res.tau[:b, 0])
        out.append(np.stack(q, axis=-1))
        div.append(res.diverging[:b, 0].sum(axis=1))
    return np.concatenate(out), np.concatenate(div), time.perf_counter() - t0


def jaxify(model, data_names, quantities) -> dict[str, Any]:
    """JAX log density ``logp(*params, *data)`` and quantities ``q(*params)`` of a PyMC model.

    ``data_names`` are the observed variables (inputs of the log density alongside the
    parameters); ``quantities`` ``(variable, index)`` pairs are returned as scalars.
    """
    from pymc.sampling.jax import get_jaxified_graph

    data_vvs = [model.rvs_to_values[model[n]] for n in data_names]
    param_vvs = [v for v in model.value_vars if v not in data_vvs]
    logp_fn = get_jaxified_graph(inputs=param_vvs + data_vvs, outputs=[model.logp(jacobian=True)])
    outs = []
    for name, index in quantities:
        var = model[name]
        outs.append(var[tuple(index)] if index else var)
    q_fn = get_jaxified_graph(inputs=param_vvs, outputs=model.replace_rvs_by_values(outs))
    ip = model.initial_point()
    init = [np.asarray(ip[v.name], dtype=float) for v in param_vvs]
    return {"logp": logp_fn, "q": q_fn, "init": init}


def _program(logdensity, quantities, draws: int, tune: int, target_accept: float, lanes: int | None):
    """Compiled ``(keys, data, init) -> (quantity draws, divergences)`` over a chunk of replicates."""
    import jax

    from vfsynth.fits.engines.blackjax_chain import nuts_chain

    def one(args):
        key, data, init = args
        pos, dv, _, _ = nuts_chain(lambda p: logdensity(p, data), key, init, tune, draws, target_accept)
        return jax.vmap(quantities)(pos), dv.sum()

    if lanes is None:
        return jax.jit(jax.vmap(lambda *a: one(a)))
    return jax.jit(lambda *a: jax.lax.map(one, a, batch_size=lanes))


def run_vectorised(logdensity, quantities, data: list[np.ndarray], init: list[np.ndarray], *, draws: int,
                   tune: int, target_accept: float, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Fit every replicate with one NUTS chain (:func:`~vfsynth.fits.engines.blackjax_chain.nuts_chain`).

    The one replicate loop of the calibration runs: chunks of :data:`CHUNK` replicates (the
    last one padded, so one program is compiled), ``jax.lax.map`` on a CPU and ``jax.vmap``
    on an accelerator.

    Parameters
    ----------
    logdensity : callable
        ``logdensity(position, data)``: JAX log density on the unconstrained space,
        ``position`` a list shaped like ``init``'s entries without their replicate axis,
        ``data`` the list of one replicate's ``data`` entries.
    quantities : callable
        ``quantities(position) -> (P,)`` array of the calibrated quantities.
    data : list of arrays
        Each with the replicate axis first.
    init : list of arrays
        The starting position (no replicate axis); every chain starts at it plus
        independent uniform(-0.5, 0.5) jitter.

    Returns
    -------
    draws ``(n_rep, draws, P)``, divergences per replicate, wall time in seconds (compilation included).
    """
    from vfsynth.fits import jaxenv

    jaxenv.configure()
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    lanes = 1 if jax.default_backend() == "cpu" else None
    program = _program(logdensity, quantities, draws, tune, target_accept, lanes)
    n_rep = data[0].shape[0]
    keys = jax.random.split(jax.random.PRNGKey(seed % (2**31)), n_rep)
    rng = np.random.default_rng(seed)
    chunk = min(CHUNK, n_rep)
    out, div = [], []
    t0 = time.perf_counter()
    for lo in range(0, n_rep, chunk):
        idx = np.arange(lo, min(lo + chunk, n_rep))
        b = len(idx)
        idx = np.concatenate([idx, np.full(chunk - b, idx[-1])])
        dat = [jnp.asarray(d[idx]) for d in data]
        # jittered starts around the initial point (unconstrained space)
        start = [jnp.asarray(v + rng.uniform(-0.5, 0.5, (chunk,) + np.shape(v))) for v in init]
        q, dv = program(keys[idx], dat, start)
        out.append(np.asarray(q)[:b])
        div.append(np.asarray(dv)[:b])
    return np.concatenate(out), np.concatenate(div), time.perf_counter() - t0


def run_generative(model, data: dict[str, np.ndarray], quantities, *, draws: int, tune: int, target_accept: float,
                   seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Fit every replicate of ``data`` (name -> (n_rep, ...)) with NUTS on the jaxified graph.

    Returns draws ``(n_rep, draws, P)`` of ``quantities``, divergences per replicate and the
    sampling wall time (compilation included) in seconds (:func:`run_vectorised`).
    """
    from vfsynth.fits import jaxenv

    jaxenv.configure()
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    names = list(data)
    jj = jaxify(model, names, quantities)

    def logdensity(pos, dat):
        return jj["logp"](*pos, *dat)[0]

    def q(pos):
        return jnp.stack([jnp.asarray(x, dtype=jnp.float64).reshape(()) for x in jj["q"](*pos)])

    return run_vectorised(logdensity, q, [data[n] for n in names], jj["init"], draws=draws, tune=tune,
                          target_accept=target_accept, seed=seed)
