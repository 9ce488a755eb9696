"""The JAX log densities that calibrate the selection model and PET / PEESE (issue 13, item 13).

Each is checked against the same model's PyMC graph (priors from ``Prior.to_pymc``,
Dirichlet from PyMC, likelihood through the PyTensor backend), with the Jacobian of the
unconstrained coordinates removed: ``u = log tau`` contributes ``u`` and the additive
log-ratio of the selection increments ``sum_j log e_j`` (checked separately against the
determinant of the autodiff Jacobian). The JAX side reads its mu and tau priors from the
batched engine's tables, so the two agree up to the linear-interpolation error: for a table
of step ``h`` it is at most ``h**2 / 8 * max|f''|``; here ``h_mu = 0.025`` with ``f'' = -1``
(N(0, 1)) and ``h_u = 0.005`` with ``|f''| = 8 tau**2 <= 18`` (half-normal(0.5) on
``log tau``, tau <= 1.5): 1.4e-4 in all, hence ``atol = 2e-4``.
"""

from __future__ import annotations

import numpy as np
import pytest

from vfsynth.data.effect_table import EffectTable

ATOL = 2e-4


def _table(y, se):
    k = len(y)
    return EffectTable("o", "post", "SMD", tuple(f"S{i}" for i in range(k)), np.asarray(y, float),
                       np.asarray(se, float), np.full(k, np.nan), np.full(k, np.nan), ("",) * k, ("",) * k)


def _pymc_logp(model):
    """The model's joint log density at the value variables without Jacobians (Python linker: compiles fast)."""
    return model.compile_fn(model.logp(jacobian=False), inputs=model.value_vars, on_unused_input="ignore",
                            mode="FAST_COMPILE")


def test_selection_density_matches_pymc_graph():
    import jax
    import jax.numpy as jnp

    from vfsynth.fits.calibration import designs, marginal_jax
    from vfsynth.models.spec import get_spec

    rng = np.random.default_rng(8)
    se = rng.uniform(0.1, 0.4, 7)
    y = np.array([0.9, 0.45, 0.3, 0.1, -0.2, 0.05, 0.6])  # studies in every p-value interval
    spec, priors = get_spec("selection"), designs.default_priors("SMD")
    dens = marginal_jax.selection_density(spec, priors, se, y[None])
    model = spec.pymc_model(_table(y, se), priors)
    import pytensor
    import pytensor.tensor as pt

    f, v = _pymc_logp(model), pt.vector("e")
    to_simplex_value = pytensor.function([v], model.rvs_to_transforms[model["e"]].forward(v), mode="FAST_COMPILE")
    logdensity, quantities = jax.jit(dens["logdensity"]), jax.jit(dens["quantities"])
    for _ in range(5):
        mu, tau, e = rng.normal(0, 0.7), rng.uniform(0.02, 1.5), rng.dirichlet(np.ones(4))
        x = np.log(e[:-1] / e[-1])
        pos = [jnp.asarray(np.concatenate([[mu, np.log(tau)], x]))]
        got = float(logdensity(pos, [jnp.asarray(y)])) - np.log(tau) - np.log(e).sum()
        want = f({"mu": mu, "tau_log__": np.log(tau), "e_simplex__": to_simplex_value(e)})
        assert got == pytest.approx(float(want), abs=ATOL)
        q = np.asarray(quantities(pos))
        np.testing.assert_allclose(q, [mu, tau, *np.cumsum(e[::-1])[::-1][1:]], rtol=1e-12)


def test_simplex_jacobian_is_product_of_components():
    import jax
    import jax.numpy as jnp

    from vfsynth.fits.calibration.marginal_jax import simplex

    x = jnp.asarray([0.3, -1.2, 2.0])
    jac = jax.jacfwd(lambda v: simplex(v)[0][:-1])(x)
    assert float(simplex(x)[1]) == pytest.approx(float(np.log(np.linalg.det(np.asarray(jac)))), abs=1e-12)


@pytest.mark.parametrize("kind", ["pet", "peese"])
def test_small_study_density_matches_pymc_graph(kind):
    import jax
    import jax.numpy as jnp

    from vfsynth.fits.calibration import designs, marginal_jax
    from vfsynth.models import regression as R

    rng = np.random.default_rng(9)
    se = rng.uniform(0.1, 0.4, 6)
    y = 0.2 + rng.normal(0, 0.3, 6)
    sd = R.PET_SLOPE_SD if kind == "pet" else R.PEESE_SLOPE_SD
    priors = designs.default_priors("SMD")
    d = R.small_study_design(_table(y, se), kind)
    dens = marginal_jax.small_study_density(d, priors, sd, y[None])
    f = _pymc_logp(R.build_metaregression(d, priors["tau"], priors["mu"], beta_sd=sd))
    logdensity = jax.jit(dens["logdensity"])
    for _ in range(5):
        b0, b1, tau = rng.normal(0, 0.7), rng.normal(0, sd / 2), rng.uniform(0.02, 1.5)
        got = float(logdensity([jnp.asarray([b0, b1, np.log(tau)])], [jnp.asarray(y)])) - np.log(tau)
        want = f({"intercept": b0, "beta": np.array([b1]), "tau_log__": np.log(tau)})
        assert got == pytest.approx(float(want), abs=ATOL)
