"""Mediation Bayes factor (fits/mediation_bf.py) against a direct computation.

Direct computation (tests/bf_exact.py): the marginal likelihood ratio p(y | rho = 0) / p(y) of a
small two-outcome joint model by numerical integration (mu analytically, tau_S, tau_A, rho by
quadrature). Fast tier: the Savage–Dickey estimator on independent draws of the exact posterior
of rho, and the LKJ marginal prior density against LKJ draws. Slow tier: the joint model's own
NUTS fit of the same data.
"""

from __future__ import annotations

import numpy as np
import pytest
from bf_exact import exact

from vfsynth.fits import mediation_bf as BF


def _data(seed=11, k=8):
    rng = np.random.default_rng(seed)
    tau = np.array([0.4, 0.4])
    th = rng.multivariate_normal([0.4, 0.3], np.array([[1, 0.8], [0.8, 1]]) * np.outer(tau, tau), size=k)
    se = np.full((k, 2), 0.15)
    return th + rng.normal(0, 0.15, (k, 2)), se


def test_lkj_marginal_density_matches_integrated_lkj_density():
    """The LKJ density is proportional to det(R)^(eta - 1) on positive-definite R: integrate it."""
    eta = 2.0
    n = 160
    g = -1 + (np.arange(n) + 0.5) * 2 / n
    # K = 2: det R = 1 - r^2
    f2 = (1 - g**2) ** (eta - 1)
    assert abs(np.interp(0.0, g, f2 / (f2.sum() * 2 / n)) - BF.lkj_marginal_density(0.0, 2, eta)) < 1e-3
    # K = 3: marginal of r12 = integral over (r13, r23) of det(R)^(eta-1) on the PD region
    n = 100
    g = -1 + (np.arange(n) + 0.5) * 2 / n
    r12, r13, r23 = np.meshgrid(g, g, g, indexing="ij")
    det = 1 - r12**2 - r13**2 - r23**2 + 2 * r12 * r13 * r23
    f3 = np.where(det > 0, np.clip(det, 0, None) ** (eta - 1), 0.0).sum(axis=(1, 2))
    f3 /= f3.sum() * 2 / n
    for r in (0.0, 0.5):
        assert abs(np.interp(r, g, f3) - BF.lkj_marginal_density(r, 3, eta)) < 2e-3, r


def test_savage_dickey_matches_direct_marginal_likelihood_ratio():
    y, se = _data()
    bf01, r, dens = exact(y, se, n_tau=60, n_rho=80)
    rng = np.random.default_rng(5)
    cdf = np.cumsum(dens)
    cdf /= cdf[-1]
    width = r[1] - r[0]
    draws = r[np.searchsorted(cdf, rng.uniform(size=8000))] + (rng.uniform(size=8000) - 0.5) * width
    got = BF.savage_dickey(draws.reshape(4, 2000), K=2, eta=2.0)
    mcse_bf01 = got["posterior_density_mcse"] / got["prior_density_at_0"]
    assert abs(got["bf01"] - bf01) < 4 * mcse_bf01
    assert got["bf10"] > 1  # true rho = 0.8: the data favour a non-zero correlation


@pytest.mark.slow
def test_joint_fit_bayes_factor_matches_direct_computation():
    from test_joint import _table

    from vfsynth.fits.joint_runner import fit_joint
    from vfsynth.models import joint as J

    y, se = _data()
    studies = [f"T{i}" for i in range(len(y))]
    tabs = [_table("sensitivity", studies, y[:, 0], se[:, 0]), _table("attachment_aqs", studies, y[:, 1], se[:, 1])]
    jd = J.assemble(tabs, ["sensitivity"], ["attachment_aqs"])
    res = fit_joint(jd, options=J.JointOptions(rho_w=0.0), seed=31, draws=2000, tune=1000, chains=4, save=False,
                    prior_draws=500, posterior_predictive=False)
    # the direct computation assumes the registry defaults N(0, 1) and half-normal(0.5)
    assert all(p.spec == "normal:0,1" for p in res.mu_priors.values())
    assert all(p.spec == "half-normal:0.5" for p in res.tau_priors.values())
    assert res.verdict["divergences"] == 0
    got = BF.mediation_bayes_factor(res)
    bf01, _, _ = exact(y, se)
    assert abs(got["bf01"] - bf01) < 4 * got["posterior_density_mcse"] / got["prior_density_at_0"]
