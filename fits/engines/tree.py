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

Memory. The study-level arrays (``theta``, ``log_likelihood``, ``posterior_predictive`` and the
prior's ``theta`` / ``prior_predictive``) hold ``k x draws`` numbers each. They are stored only
while ``k x draws <= STUDY_DRAWS_LIMIT`` (10 million cells, 80 MB per array: k = 2,500 at the
default 4 x 1,000 draws), so LOO and every draw-based plot work for reviews of any realistic
size. Above it the tree keeps the hyper-parameters, ``theta_new`` and the data, and says so in
``attrs["vfsynth_study_draws"]``; :func:`study_level_draws` computes the study-level draws on
demand, block by block, from the hyper-parameter draws (memory: one block of studies at a time),
and exact summaries of each study's effect come from the exact posterior without any draws.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

PRIOR_DRAWS = 500
#: Largest ``k x draws`` for which the study-level draws are stored in the tree (see above).
STUDY_DRAWS_LIMIT = 10_000_000


def _rngs(seed: int, n: int) -> list[np.random.Generator]:
    return [np.random.default_rng(s) for s in np.random.SeedSequence([int(seed), 77]).spawn(n)]


def posterior_tree(spec, table, priors: Mapping[str, Any], hyper: Mapping[str, np.ndarray], *, seed: int,
                   sample_stats: Mapping[str, np.ndarray] | None = None, study_draws: bool | None = None):
    """The DataTree of a fit whose hyper-parameter draws are ``hyper`` (arrays ``(chain, draw)``).

    ``study_draws``: store the study-level draws (``None``, the default: when
    ``k x draws <= STUDY_DRAWS_LIMIT``).
    """
    return posterior_parts(spec, table, priors, hyper, seed=seed, sample_stats=sample_stats,
                           study_draws=study_draws).to_datatree()


def posterior_parts(spec, table, priors: Mapping[str, Any], hyper: Mapping[str, np.ndarray], *, seed: int,
                    sample_stats: Mapping[str, np.ndarray] | None = None, study_draws: bool | None = None):
    """The content of :func:`posterior_tree` as a :class:`~vfsynth.fits.tree_parts.TreeParts`
    (plain arrays; the DataTree is built from it only when something reads it)."""
    from vfsynth.fits.tree_parts import TreeParts

    y = np.asarray(table.estimate, dtype=float)
    se = np.asarray(table.se, dtype=float)
    r_theta, r_new, r_ppc, r_prior = _rngs(seed, 4)
    hyper = {k: np.asarray(v, dtype=float) for k, v in hyper.items()}
    shape = next(iter(hyper.values())).shape
    if study_draws is None:
        study_draws = len(y) * int(np.prod(shape)) <= STUDY_DRAWS_LIMIT
    post = dict(hyper)
    groups: dict[str, dict] = {}
    if study_draws:
        theta = spec.draw_study_effects(r_theta, y, se, hyper)
        post["theta"] = theta
        groups["log_likelihood"] = {"y": spec.study_loglik(table, hyper)}
        groups["posterior_predictive"] = {"y": theta + se * r_ppc.standard_normal(theta.shape)}
    post["theta_new"] = spec.draw_new_effect(r_new, hyper)
    groups.update({
        "posterior": post,
        "observed_data": {"y": y},
        "constant_data": {"se": se},
        "sample_stats": dict(sample_stats) if sample_stats else {"diverging": np.zeros(shape, dtype=bool)},
    })
    prior = _prior_draws(spec, priors, se, r_prior, study_draws)
    if prior is not None:
        groups["prior"], groups["prior_predictive"] = prior
        if groups["prior_predictive"] is None:
            del groups["prior_predictive"]
    dims = {"theta": ["study"], "y": ["study"], "se": ["study"]}
    attrs: dict[str, Any] = {}
    if prior is None:
        attrs["vfsynth_prior_predictive"] = "unavailable: improper (flat) prior"
    if not study_draws:
        attrs["vfsynth_study_draws"] = (
            f"not stored: k x draws = {len(y)} x {int(np.prod(shape))} > {STUDY_DRAWS_LIMIT} "
            "(vfsynth.fits.engines.tree.study_level_draws computes them on demand)")
    attrs["vfsynth_seed"] = int(seed)
    return TreeParts(groups, dims, {"study": list(table.study)}, attrs)


def study_level_draws(spec, table, hyper: Mapping[str, np.ndarray], *, seed: int, block: int = 2_000):
    """Yield ``(slice, theta, log_lik, y_rep)`` for consecutive blocks of ``block`` studies.

    The study-level draws of :func:`posterior_tree`, computed from the hyper-parameter draws
    one block of studies at a time (arrays ``(chain, draw, len(slice))``), so any k fits in
    memory. Given the hyper-parameters the studies are conditionally independent
    (:math:`\\theta_i \\mid y_i, \\mu, \\tau`, and the marginal likelihood factorises over
    studies), so each block is an exact draw of its studies; the random streams are derived
    from ``seed`` and the block's position, so a seed reproduces every block.
    """
    hyper = {k: np.asarray(v, dtype=float) for k, v in hyper.items()}
    for b, start in enumerate(range(0, table.k, block)):
        sl = slice(start, min(start + block, table.k))
        sub = table.subset(_mask(table.k, sl))
        r_theta, r_ppc = (np.random.default_rng(s) for s in np.random.SeedSequence([int(seed), 78, b]).spawn(2))
        theta = spec.draw_study_effects(r_theta, sub.estimate, sub.se, hyper)
        yield sl, theta, spec.study_loglik(sub, hyper), theta + sub.se * r_ppc.standard_normal(theta.shape)


def _mask(k: int, sl: slice) -> np.ndarray:
    m = np.zeros(k, dtype=bool)
    m[sl] = True
    return m


def _prior_draws(spec, priors, se, rng, study_draws: bool = True):
    """Prior and prior-predictive groups (one chain), or None when a prior is improper.

    Without ``study_draws`` the prior group holds the hyper-parameters and ``theta_new`` only and
    the prior-predictive group is None.
    """
    roles = [r for r in spec.prior_roles if priors.get(r) is not None]
    if any(not priors[r].is_proper for r in roles):
        return None
    hyper = {r: np.asarray(priors[r].rvs(size=(1, PRIOR_DRAWS), rng=rng), dtype=float) for r in roles}
    prior = dict(hyper)
    if not study_draws:
        prior["theta_new"] = spec.draw_new_effect(rng, hyper)
        return prior, None
    k = len(se)
    # a study's effect under the prior is a new study's effect, drawn k times
    theta = np.stack([spec.draw_new_effect(rng, hyper) for _ in range(k)], axis=-1)
    prior["theta"] = theta
    prior["theta_new"] = spec.draw_new_effect(rng, hyper)
    return prior, {"y": theta + se * rng.standard_normal(theta.shape)}
