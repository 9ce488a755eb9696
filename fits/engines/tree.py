"""A full posterior DataTree from draws of a model's hyper-parameters.

The exact and batched engines integrate the study effects out; this module puts them back in,
from the spec's conditional distributions, so that their trees hold the same groups and
variables as a NUTS fit:

* ``posterior``: the hyper-parameters, ``theta`` (dims ``study``) drawn from
  :math:`p(\\theta_i \\mid y_i, \\mu, \\tau)` (:meth:`ModelSpec.draw_study_effects`) and
  ``theta_new`` from the random-effects distribution;
* ``log_likelihood``: ``y``, the spec's per-study *marginal* log-likelihood (the unit of
  leave-one-study-out);
* ``posterior_predictive``: ``y`` replicated given each draw's study effects,
  :math:`y^{rep}_i \\sim N(\\theta_i, s_i^2)`;
* ``prior`` / ``prior_predictive``: independent prior draws (proper priors only), the study
  effects from the random-effects distribution;
* ``observed_data``, ``constant_data`` (``se``) and ``sample_stats``.

Every random step uses a stream of one :class:`numpy.random.SeedSequence` built from the
fit's seed, so the seed reproduces the whole tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

PRIOR_DRAWS = 500


def _rngs(seed: int, n: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence([int(seed), 77]).spawn(n)]


def posterior_tree(spec, table, priors: Mapping[str, Any], hyper: Mapping[str, np.ndarray], *, seed: int,
                   sample_stats: Mapping[str, np.ndarray] | None = None):
    """The DataTree of a fit whose hyper-parameter draws are ``hyper`` (arrays ``(chain, draw)``)."""
    from arviz_base import from_dict

    y = np.asarray(table.estimate, dtype=float)
    se = np.asarray(table.se, dtype=float)
    r_theta, r_new, r_ppc, r_prior = _rngs(seed, 4)
    hyper = {k: np.asarray(v, dtype=float) for k, v in hyper.items()}
    theta = spec.draw_study_effects(r_theta, y, se, hyper)
    post = dict(hyper)
    post["theta"] = theta
    post["theta_new"] = spec.draw_new_effect(r_new, hyper)
    ll = spec.study_loglik(table, hyper)
    ppc = theta + se * r_ppc.standard_normal(theta.shape)
    shape = next(iter(hyper.values())).shape
    groups = {
        "posterior": post,
        "log_likelihood": {"y": ll},
        "posterior_predictive": {"y": ppc},
        "observed_data": {"y": y},
        "constant_data": {"se": se},
        "sample_stats": dict(sample_stats) if sample_stats else {"diverging": np.zeros(shape, dtype=bool)},
    }
    prior = _prior_draws(spec, priors, se, r_prior)
    if prior is not None:
        groups["prior"], groups["prior_predictive"] = prior
    dims = {"theta": ["study"], "y": ["study"], "se": ["study"]}
    dt = from_dict(groups, dims=dims, coords={"study": list(table.study)})
    if prior is None:
        dt.attrs["vfsynth_prior_predictive"] = "unavailable: improper (flat) prior"
    dt.attrs["vfsynth_seed"] = int(seed)
    return dt


def _prior_draws(spec, priors, se, rng):
    """Prior and prior-predictive groups (one chain), or None when a prior is improper."""
    roles = [r for r in spec.prior_roles if priors.get(r) is not None]
    if any(not priors[r].is_proper for r in roles):
        return None
    hyper = {r: np.asarray(priors[r].rvs(size=(1, PRIOR_DRAWS), rng=rng), dtype=float) for r in roles}
    k = len(se)
    # a study's effect under the prior is a new study's effect, drawn k times
    theta = np.stack([spec.draw_new_effect(rng, hyper) for _ in range(k)], axis=-1)
    prior = dict(hyper)
    prior["theta"] = theta
    prior["theta_new"] = spec.draw_new_effect(rng, hyper)
    return prior, {"y": theta + se * rng.standard_normal(theta.shape)}
