"""One BlackJAX NUTS chain, the building block of every vectorised program.

The batched engine, the calibration runs, the joint model's SBC and its exact leave-one-out
refits all vmap (or ``lax.map``) this one function over chains, replicates or left-out studies,
so every one of them adapts and samples the same way: Stan-style window adaptation (Hoffman &
Gelman 2014; step size by dual averaging to ``target_accept``, diagonal mass matrix) for
``tune`` steps, then ``draws`` NUTS transitions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def nuts_chain(logdensity: Callable[[Any], Any], key, init, tune: int, draws: int,
               target_accept: float) -> tuple[Any, Any, Any, dict]:
    """Adapt, then sample one chain (traceable by JAX: call it inside ``jit`` / ``vmap``).

    Returns
    -------
    positions, divergent, integration_steps, params
        ``positions`` has the layout of ``init`` with a leading ``draws`` axis; ``divergent``
        and ``integration_steps`` are ``(draws,)``; ``params`` are the adapted kernel
        parameters (``step_size``, ``inverse_mass_matrix``).
    """
    import blackjax
    import jax

    k_warm, k_draw = jax.random.split(key)
    warm = blackjax.window_adaptation(blackjax.nuts, logdensity, target_acceptance_rate=target_accept)
    (state, params), _ = warm.run(k_warm, init, num_steps=tune)
    kernel = blackjax.nuts(logdensity, **params).step

    def step(st, kk):
        st, info = kernel(kk, st)
        return st, (st.position, info.is_divergent, info.num_integration_steps)

    _, (pos, div, nsteps) = jax.lax.scan(step, state, jax.random.split(k_draw, draws))
    return pos, div, nsteps, params
