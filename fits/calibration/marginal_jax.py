"""JAX log densities of the selection and PET / PEESE models, for vectorised NUTS in calibration.

Each density is the model's posterior on an unconstrained space, as a JAX function of
``(position, data)`` so that one compiled program serves every simulated review
(:func:`vfsynth.fits.calibration.samplers.run_vectorised`). Nothing is written twice:

* the likelihoods are the model specs' own, evaluated with ``array_ops("jax")``: the
  selection model's :func:`vfsynth.models.regression.selection_loglik` and, for PET / PEESE,
  the random-effects marginal :math:`N(y_i \\mid \\eta_i, \\sqrt{\\tau^2+s_i^2})`
  (:meth:`vfsynth.models.univariate.RandomEffects.marginal_loglik`) at the linear
  predictor :math:`\\eta_i = \\beta_0 + \\beta_1 x_i`, :math:`x_i = s_i` (PET) or
  :math:`s_i^2` (PEESE) — the meta-regression likelihood of
  :func:`vfsynth.models.regression.build_metaregression_generative`;
* the registry priors of mu (or the intercept) and tau are the batched engine's tables
  (:func:`vfsynth.fits.batched.tabulate_mu_prior`, :func:`~vfsynth.fits.batched.tabulate_tau_prior`,
  linear interpolation), so every prior family works without a JAX copy of its density;
  the slope's :math:`N(0, \\sigma_\\beta^2)` and the selection weights' Dirichlet are
  ``jax.scipy.stats`` densities.

Unconstrained coordinates
-------------------------
:math:`u=\\log\\tau` (the tau table includes the Jacobian :math:`+u`). The selection
increments :math:`e \\in \\Delta^{J-1}` are the additive log-ratio
:math:`e = \\mathrm{softmax}(x_1,\\dots,x_{J-1},0)`, whose Jacobian determinant is
:math:`\\prod_{j=1}^{J} e_j` (Aitchison 1986, *The Statistical Analysis of Compositional
Data*, §6.1), so :math:`\\log p(x) = \\log \\mathrm{Dir}(e\\mid a) + \\sum_j \\log e_j`;
:math:`\\omega_j = \\sum_{l\\ge j} e_l` as in the PyMC model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PriorTables:
    """A registry mu prior and tau prior tabulated for JAX (grids of :mod:`vfsynth.fits.batched`)."""

    mu_tab: np.ndarray
    mu_lo: float
    dmu: float
    tau_tab: np.ndarray

    @classmethod
    def of(cls, mu_prior, tau_prior, y, se) -> PriorTables:
        """Tables on a mu grid wide enough for every row of ``y`` (:func:`~vfsynth.fits.batched.mu_grid_limits`)."""
        from vfsynth.fits.batched import MU_N, mu_grid_limits, tabulate_mu_prior, tabulate_tau_prior

        lo, hi = mu_grid_limits(y, se)
        return cls(tabulate_mu_prior(mu_prior, lo, hi), lo, (hi - lo) / (MU_N - 1), tabulate_tau_prior(tau_prior))

    def logp(self, mu, u):
        """:math:`\\log p(\\mu) + \\log p_\\tau(e^u) + u` by linear interpolation of the tables."""
        import jax.numpy as jnp

        from vfsynth.fits.batched import U_HI, U_LO, U_N, _interp

        du = (U_HI - U_LO) / (U_N - 1)
        return (_interp(mu, self.mu_lo, self.dmu, jnp.asarray(self.mu_tab))
                + _interp(u, U_LO, du, jnp.asarray(self.tau_tab)))


def _x64() -> None:
    # the densities hold their constants as JAX arrays: double precision must be on first
    from vfsynth.fits import jaxenv

    jaxenv.configure()
    import jax

    jax.config.update("jax_enable_x64", True)


def simplex(x):
    """Additive log-ratio inverse: ``x`` (J-1,) -> ``(e, log|Jacobian|)`` with ``e`` on the simplex."""
    import jax
    import jax.numpy as jnp

    loge = jax.nn.log_softmax(jnp.concatenate([x, jnp.zeros(1)]))
    return jnp.exp(loge), jnp.sum(loge)


def selection_density(spec, priors, se, y_all) -> dict[str, Any]:
    """Posterior log density of the step-function selection model on ``[mu, log tau, x_1..x_{J-1}]``.

    ``spec`` is the registered ``selection`` spec (cut-points, Dirichlet concentration),
    ``priors`` its ``{"mu", "tau"}`` registry priors, ``se`` the design's SEs and ``y_all``
    every simulated review (only to size the mu grid). Returns ``logdensity(pos, data)``
    (``pos = [p]``, one flat vector; ``data = [y]``), ``quantities(pos)`` (mu, tau, omega_2..omega_J), their ``labels``
    and an ``init`` point.
    """
    _x64()
    import jax.numpy as jnp
    from jax.scipy.stats import dirichlet

    from vfsynth.models.spec import array_ops

    ops = array_ops("jax")
    tabs = PriorTables.of(priors["mu"], priors["tau"], y_all, se)
    J = len(spec.cutpoints) + 1
    conc = jnp.full(J, spec.concentration)
    se_j = jnp.asarray(se)

    def omega(x):
        e, logjac = simplex(x)
        return jnp.cumsum(e[::-1])[::-1], e, logjac

    def logdensity(pos, data):
        ((p,), (y,)) = pos, data
        mu, u, x = p[0], p[1], p[2:]
        om, e, logjac = omega(x)
        ll = spec.marginal_loglik(ops, y, se_j, {"mu": mu, "tau": jnp.exp(u), "omega": om})
        return tabs.logp(mu, u) + dirichlet.logpdf(e, conc) + logjac + jnp.sum(ll)

    def quantities(pos):
        (p,) = pos
        return jnp.concatenate([p[:1], jnp.exp(p[1:2]), omega(p[2:])[0][1:]])

    edges = (0.0,) + tuple(spec.cutpoints) + (1.0,)
    labels = ["mu", "tau"] + [f"omega[p {edges[j]:g}-{edges[j + 1]:g}]" for j in range(1, J)]
    init = [np.concatenate([[0.0, np.log(0.2)], np.zeros(J - 1)])]
    return {"logdensity": logdensity, "quantities": quantities, "labels": labels, "init": init}


def small_study_density(design, priors, slope_sd: float, y_all) -> dict[str, Any]:
    """Posterior log density of PET / PEESE (meta-regression on ``design.X[:, 1]``) on ``[b0, b1, log tau]``.

    ``design`` is :func:`vfsynth.models.regression.small_study_design`'s, ``priors`` the
    registry mu (intercept) and tau priors, ``slope_sd`` the slope prior's SD.
    """
    _x64()
    import jax.numpy as jnp
    from jax.scipy.stats import norm

    from vfsynth.models.spec import array_ops, get_spec

    ops = array_ops("jax")
    re_spec = get_spec("random-effects")
    se = np.asarray(design.table.se, float)
    tabs = PriorTables.of(priors["mu"], priors["tau"], y_all, se)
    x, se_j = jnp.asarray(design.X[:, 1]), jnp.asarray(se)

    def logdensity(pos, data):
        ((p,), (y,)) = pos, data
        b0, b1, u = p[0], p[1], p[2]
        ll = re_spec.marginal_loglik(ops, y, se_j, {"mu": b0 + b1 * x, "tau": jnp.exp(u)})
        return tabs.logp(b0, u) + norm.logpdf(b1, 0.0, slope_sd) + jnp.sum(ll)

    def quantities(pos):
        (p,) = pos
        return jnp.stack([p[0], p[1], jnp.exp(p[2])])

    labels = ["intercept", f"beta[{design.coef[1]}]", "tau"]
    return {"logdensity": logdensity, "quantities": quantities, "labels": labels,
            "init": [np.array([0.0, 0.0, np.log(0.2)])]}
