"""Identification labels and the "joint = univariate" claim on real fits of the joint model.

Fast tier: the exact-integration helper (tests/joint_exact_followup.py) reduces to the package's
exact NNHM (fits/exact.py) without follow-up rows. Slow tier (NUTS fits): the no-pairs design
(8 sensitivity-only + 8 attachment-only studies) labels nothing but a and the total posterior;
attachment only at follow-up leaves the post total and b unlabelled; a complete design learns b
and labels it posterior; the default bundled fit (follow-up rows included) equals the exact
posterior of its sensitivity block with the follow-up block accounted for.
"""

from __future__ import annotations

import numpy as np
import pytest
from joint_exact_followup import exact_mu
from test_joint import _table

from vfsynth.models import joint as J


def _bundled_sensitivity_rows():
    from vfsynth.data import load_review

    r = load_review()
    rows = []
    for tp in ("post", "followup"):
        t = r.effects("sensitivity", tp)
        rows += [(s, y, se, tp != "post") for s, y, se in zip(t.study, t.estimate, t.se, strict=True)]
    return [np.array(v) for v in zip(*rows, strict=True)]


def test_exact_helper_without_followup_is_the_exact_nnhm():
    from vfsynth.data import load_review
    from vfsynth.fits.exact import nnhm_exact
    from vfsynth.models.priors import default_mu_prior, default_tau_prior

    t = load_review().effects("sensitivity", "post")
    ex = nnhm_exact(t, tau_prior=default_tau_prior("SMD", outcome="sensitivity"), mu_prior=default_mu_prior("SMD"))
    m, s = exact_mu(t.study, t.estimate, t.se, np.zeros(len(t.study)), n=400)
    assert abs(m - ex.mu_mean) < 2e-4 and abs(s - ex.mu_sd) < 2e-4


def _fit(tabs, seed, draws=1500):
    from vfsynth.fits.joint_runner import fit_joint, summarize_joint

    jd = J.assemble(tabs, ["sensitivity"], ["attachment_aqs"])
    res = fit_joint(jd, seed=seed, draws=draws, tune=1000, chains=4, save=False, prior_draws=4000,
                    posterior_predictive=False)
    assert res.verdict["divergences"] == 0
    return summarize_joint(res)


def _sim(k, rho, seed, tau=0.4, se=0.15):
    rng = np.random.default_rng(seed)
    cov = np.array([[1, rho], [rho, 1]]) * tau**2
    th = rng.multivariate_normal([0.4, 0.3], cov, size=k)
    return th + rng.normal(0, se, th.shape), np.full(th.shape, se)


NON_POSTERIOR_WITHOUT_PAIRS = ("b", "c_prime", "indirect", "proportion_mediated", "rho_m1_final",
                               "tau_final_given_m1")


@pytest.mark.slow
def test_no_pairs_design_labels_nothing_posterior():
    y, se = _sim(16, 0.8, 1)
    s_ids, a_ids = [f"S{i}" for i in range(8)], [f"A{i}" for i in range(8)]
    s = _fit([_table("sensitivity", s_ids, y[:8, 0], se[:8, 0]),
              _table("attachment_aqs", a_ids, y[8:, 1], se[8:, 1])], seed=2)
    med = s["mediation"]
    for k in NON_POSTERIOR_WITHOUT_PAIRS:
        assert med[k]["identification"] == "prior only" and med[k]["informing_studies"] == 0, k
    assert med["b"].get("p_positive") is None and "mean" not in med["b"]
    assert s["correlations"]["sensitivity~attachment_aqs"]["identification"] == "prior only"
    assert s["surrogacy"]["identification"] == "prior only" and s["bayes_factor"]["identification"] == "prior only"
    assert med["a"]["identification"] == "posterior" and med["total"]["identification"] == "posterior"


@pytest.mark.slow
def test_followup_only_attachment_leaves_post_quantities_unlabelled():
    y, se = _sim(8, 0.8, 3)
    ids = [f"S{i}" for i in range(8)]
    s = _fit([_table("sensitivity", ids, y[:, 0], se[:, 0]),
              _table("attachment_aqs", ids, y[:, 1], se[:, 1], tp="followup")], seed=4)
    med = s["mediation"]
    for k in ("total", *NON_POSTERIOR_WITHOUT_PAIRS):
        assert med[k]["identification"] != "posterior" and med[k]["informing_studies"] == 0, k
    assert s["pooled"]["attachment_aqs"]["followup"]["identification"] == "posterior"


@pytest.mark.slow
def test_complete_design_learns_b():
    y, se = _sim(30, 0.9, 5, tau=0.5, se=0.1)
    ids = [f"T{i}" for i in range(30)]
    s = _fit([_table("sensitivity", ids, y[:, 0], se[:, 0]), _table("attachment_aqs", ids, y[:, 1], se[:, 1])],
             seed=6)
    b = s["mediation"]["b"]
    assert b["informing_studies"] == 30 and b["identification"] == "posterior"
    assert b["learned_ratio_iqr"] < 0.8 and b["q2.5"] > 0


@pytest.mark.slow
def test_default_bundled_fit_matches_exact_with_followup_block():
    """The shipped default fit (follow-up rows included) against exact integration of its
    sensitivity block with the follow-up deviation model; the univariate post-only posterior differs."""
    import arviz_stats as azs

    from vfsynth.fits.joint_runner import fit_joint

    res = fit_joint(None, save=False)
    assert res.verdict["divergences"] == 0
    studies, y, se, fol = _bundled_sensitivity_rows()
    m, sd = exact_mu(studies, y, se, fol, rho_w=float(res.options.rho_w))
    a = np.asarray(res.dt["posterior"]["a"].values)
    assert abs(a.mean() - m) < 4 * float(azs.mcse(a, method="mean"))
    assert abs(a.std(ddof=1) - sd) < 4 * float(azs.mcse(a, method="sd"))
