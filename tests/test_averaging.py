"""Model averaging (``nnhm4``): marginal likelihoods, model probabilities, inclusion Bayes factors
and averaged posteriors against independent numerical integration of the raw integrand
(``scipy.integrate.quad`` / ``dblquad`` of prior x likelihood, written here from the model's
definition, not from the package's formulas)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from vfsynth.fits.averaging import AveragingError, average_models
from vfsynth.models.priors import parse_prior

# a small made-up review (not CD012348): benefit scale, mixed precision
Y = np.array([0.42, 0.10, 0.65, -0.05, 0.31, 0.55])
SE = np.array([0.20, 0.15, 0.30, 0.25, 0.12, 0.35])


_S2 = SE**2
_LOG2PI = math.log(2.0 * math.pi)


def _loglik(mu, tau):
    # sum_i log N(y_i; mu, s_i^2 + tau^2), written out (plain NumPy: dblquad calls it ~1e5 times)
    v = _S2 + tau * tau
    return float(-0.5 * np.sum(_LOG2PI + np.log(v) + (Y - mu) ** 2 / v))


def _reference_dblquad(tau_pdf, mu_pdf, tau_max=4.0, mu_lim=(-4.0, 5.0)):
    """log p(y | M) of the four models and, for the random/effect model, E[mu], P(mu > 0), E[tau]."""
    c = _loglik(np.average(Y, weights=SE**-2), 0.2)  # scaling constant keeps the integrands O(1)
    opts = {"epsabs": 0.0, "epsrel": 1e-10}

    def f(mu, tau):
        return mu_pdf(mu) * tau_pdf(tau) * math.exp(_loglik(mu, tau) - c)

    m1 = _loglik(0.0, 0.0)
    m2 = c + math.log(integrate.quad(lambda m: mu_pdf(m) * math.exp(_loglik(m, 0.0) - c), *mu_lim, **opts)[0])
    m3 = c + math.log(integrate.quad(lambda t: tau_pdf(t) * math.exp(_loglik(0.0, t) - c), 0.0, tau_max,
                                     **opts)[0])
    z4 = integrate.dblquad(f, 0.0, tau_max, *mu_lim, epsabs=0.0, epsrel=1e-8)[0]
    e_mu = integrate.dblquad(lambda m, t: m * f(m, t), 0.0, tau_max, *mu_lim, epsabs=0.0, epsrel=1e-8)[0] / z4
    p_pos = integrate.dblquad(f, 0.0, tau_max, 0.0, mu_lim[1], epsabs=0.0, epsrel=1e-8)[0] / z4
    e_tau = integrate.dblquad(lambda m, t: t * f(m, t), 0.0, tau_max, *mu_lim, epsabs=0.0, epsrel=1e-8)[0] / z4
    # the common/effect model's mean of mu, by quad
    z2 = math.exp(m2 - c)
    e_mu2 = integrate.quad(lambda m: m * mu_pdf(m) * math.exp(_loglik(m, 0.0) - c), *mu_lim, **opts)[0] / z2
    p_pos2 = integrate.quad(lambda m: mu_pdf(m) * math.exp(_loglik(m, 0.0) - c), 0.0, mu_lim[1], **opts)[0] / z2
    e_tau3 = integrate.quad(lambda t: t * tau_pdf(t) * math.exp(_loglik(0.0, t) - c), 0.0, tau_max,
                            **opts)[0] / math.exp(m3 - c)
    return {"log_ml": np.array([m1, m2, m3, c + math.log(z4)]), "e_mu4": e_mu, "p_pos4": p_pos, "e_tau4": e_tau,
            "e_mu2": e_mu2, "p_pos2": p_pos2, "e_tau3": e_tau3}


@pytest.fixture(scope="module", params=["normal:0,1",
                                        pytest.param("student-t:3,0,0.5", marks=pytest.mark.slow)])
def case(request):
    tau_prior = parse_prior("half-normal:0.5", target="tau")
    mu_prior = parse_prior(request.param, target="mu")
    if mu_prior.family == "normal":
        def mu_pdf(m):
            return math.exp(-0.5 * m * m) / math.sqrt(2.0 * math.pi)
    else:
        c_t = math.exp(math.lgamma(2.0) - math.lgamma(1.5)) / (math.sqrt(3.0 * math.pi) * 0.5)

        def mu_pdf(m):
            return c_t * (1.0 + (m / 0.5) ** 2 / 3.0) ** -2.0

    # fast tier: Gauss-Legendre; the slow tier checks the Student-t case by adaptive dblquad
    ref = (_reference_gl if mu_prior.family == "normal" else _reference_dblquad)(lambda t: 2.0 * math.exp(-0.5 * (t / 0.5) ** 2) / (0.5 * math.sqrt(2.0 * math.pi)), mu_pdf)
    return average_models(Y, SE, tau_prior, mu_prior, "nnhm4"), ref


def _gl(lo, hi, n):
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (hi - lo) * x + 0.5 * (hi + lo), 0.5 * (hi - lo) * w


def _loglik_grid(mu, tau):
    v = _S2[None, None, :] + tau[None, :, None] ** 2
    return -0.5 * np.sum(_LOG2PI + np.log(v) + (Y[None, None, :] - mu[:, None, None]) ** 2 / v, axis=-1)


def _reference_gl(tau_pdf, mu_pdf, tau_max=4.0, mu_lim=(-4.0, 5.0), n=200):
    """The same quantities by tensor Gauss–Legendre (n x n nodes; a CDF by the same rules on [mu_lo, x]) of the raw integrand: the fast
    tier's independent integration (geometric convergence for this analytic integrand)."""
    mu, wm = _gl(*mu_lim, n)
    tau, wt = _gl(0.0, tau_max, n)
    pm, pt = np.vectorize(mu_pdf)(mu), np.vectorize(tau_pdf)(tau)
    ll = _loglik_grid(mu, tau)  # (mu, tau)
    c = ll.max()
    f = pm[:, None] * pt[None, :] * np.exp(ll - c) * wm[:, None] * wt[None, :]
    z4 = f.sum()
    l2 = _loglik_grid(mu, np.zeros(1))[:, 0]
    f2 = pm * np.exp(l2 - c) * wm
    l3 = _loglik_grid(np.zeros(1), tau)[0]
    f3 = pt * np.exp(l3 - c) * wt

    def cdf(x):  # P(mu <= x) in models 2 and 4: the same rules on [mu_lo, x]
        mx, wx = _gl(mu_lim[0], x, n)
        px = np.vectorize(mu_pdf)(mx)
        g4 = (px[:, None] * pt[None, :] * np.exp(_loglik_grid(mx, tau) - c) * wx[:, None] * wt[None, :]).sum() / z4
        g2 = (px * np.exp(_loglik_grid(mx, np.zeros(1))[:, 0] - c) * wx).sum() / f2.sum()
        return g2, g4

    c2, c4 = cdf(0.0)
    return {"log_ml": np.array([_loglik(0.0, 0.0), c + math.log(f2.sum()), c + math.log(f3.sum()), c + math.log(z4)]),
            "e_mu4": float((f.sum(1) * mu).sum() / z4), "p_pos4": 1.0 - c4,
            "e_tau4": float((f.sum(0) * tau).sum() / z4), "e_mu2": float((f2 * mu).sum() / f2.sum()),
            "p_pos2": 1.0 - c2, "e_tau3": float((f3 * tau).sum() / f3.sum()), "cdf": cdf}


def test_log_marginal_likelihoods_equal_direct_integration(case):
    res, ref = case
    got = np.array([m.log_ml for m in res.members])
    np.testing.assert_allclose(got, ref["log_ml"], rtol=0, atol=1e-7)


def test_model_probabilities_and_inclusion_bfs(case):
    res, ref = case
    lp = np.log(0.25) + ref["log_ml"]
    post = np.exp(lp - np.logaddexp.reduce(lp))
    np.testing.assert_allclose(res.post_prob, post, rtol=1e-7, atol=0)
    # inclusion BF with equal prior odds: sum of marginal likelihoods with / without the feature
    ml = np.exp(ref["log_ml"] - ref["log_ml"].max())
    assert res.inclusion_bf("effect") == pytest.approx((ml[1] + ml[3]) / (ml[0] + ml[2]), rel=1e-7)
    assert res.inclusion_bf("heterogeneity") == pytest.approx((ml[2] + ml[3]) / (ml[0] + ml[1]), rel=1e-7)
    assert math.isnan(res.inclusion_bf("bias"))
    assert set(res.inclusion()) == {"effect", "heterogeneity"}


def test_averaged_mu_and_tau(case):
    res, ref = case
    p = res.post_prob
    # mu: the mu = 0 models are point masses at 0; conditional: renormalised over effect models
    e_mu = p[1] * ref["e_mu2"] + p[3] * ref["e_mu4"]
    assert res.quantity("mu")["mean"] == pytest.approx(e_mu, rel=1e-6)
    assert res.quantity("mu", conditional=True)["mean"] == pytest.approx(e_mu / (p[1] + p[3]), rel=1e-6)
    p_ben = p[1] * ref["p_pos2"] + p[3] * ref["p_pos4"]
    assert res.p_benefit == pytest.approx(p_ben, rel=1e-6)
    e_tau = p[2] * ref["e_tau3"] + p[3] * ref["e_tau4"]
    assert res.quantity("tau")["mean"] == pytest.approx(e_tau, rel=1e-6)
    assert res.quantity("tau")["p_gt_0"] == pytest.approx(p[2] + p[3], rel=1e-9)


def test_conditional_mu_quantiles(case):
    res, ref = case
    if "cdf" not in ref:
        pytest.skip("CDF reference by Gauss-Legendre only")
    p = res.post_prob
    q = res.quantity("mu", conditional=True)
    for x, target in ((q["low"], 0.025), (q["median"], 0.5), (q["high"], 0.975)):
        g2, g4 = ref["cdf"](x)
        assert (p[1] * g2 + p[3] * g4) / (p[1] + p[3]) == pytest.approx(target, abs=1e-7)


def test_marginal_quantiles_see_the_point_mass():
    # data far from 0: the mu = 0 models get almost no weight; data at 0: the median is exactly 0
    tau_prior = parse_prior("half-normal:0.5", target="tau")
    mu_prior = parse_prior("normal:0,1", target="mu")
    near0 = average_models(np.array([0.01, -0.02, 0.0]), np.array([0.3, 0.3, 0.3]), tau_prior, mu_prior)
    assert near0.post_prob[[0, 2]].sum() > 0.5
    assert near0.quantity("mu")["median"] == pytest.approx(0.0, abs=1e-9)
    q = near0.quantity("mu")
    # F(median-) < 0.5 <= F(median): the point mass holds the median
    assert q["low"] < 0 < q["high"]


def test_frames_and_dict_are_consistent(case):
    res, _ = case
    mf = res.model_frame()
    assert list(mf.index) == [m.name for m in res.members]
    assert mf["prior_prob"].sum() == pytest.approx(1.0)
    assert mf["post_prob"].sum() == pytest.approx(1.0)
    sf = res.summary_frame()
    assert list(sf.index) == ["mu", "mu | effect", "tau", "tau | heterogeneity"]
    d = res.to_dict()
    assert d["p_benefit"] == sf.loc["mu", "p_gt_0"]
    assert d["inclusion"]["effect"]["bf"] == res.inclusion_bf("effect")


def test_flat_mu_prior_and_bad_prior_probabilities_are_refused():
    tau_prior = parse_prior("half-normal:0.5", target="tau")
    with pytest.raises(AveragingError, match="proper prior on mu"):
        average_models(Y, SE, tau_prior, parse_prior("flat", target="mu"))
    with pytest.raises(AveragingError, match="4 prior model probabilities"):
        average_models(Y, SE, tau_prior, parse_prior("normal:0,1", target="mu"), prior_prob=(0.5, 0.5, 0.5, 0.5))
    with pytest.raises(AveragingError, match="unknown ensemble"):
        average_models(Y, SE, tau_prior, parse_prior("normal:0,1", target="mu"), ensemble="nope")


def test_cli_average_json_and_errors(capsys, tmp_path):
    import json

    from vfsynth.reports.cli import main

    csv = tmp_path / "r.csv"
    rows = ["study,year,outcome,timepoint,measure,estimate,se"]
    rows += [f"S{i},{2000 + i},anx,post,SMD,{y},{s}" for i, (y, s) in enumerate(zip(Y, SE, strict=True))]
    csv.write_text("\n".join(rows) + "\n")
    assert main(["average", "--data", str(csv), "--outcome", "anx", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    res = average_models(Y, SE, parse_prior("half-normal:0.5", target="tau"), parse_prior("normal:0,1", target="mu"))
    assert out["command"] == "average" and out["analysis"]["k"] == len(Y)
    assert out["inclusion"]["effect"]["bf"] == pytest.approx(res.inclusion_bf("effect"), rel=1e-12)
    assert main(["average", "--data", str(csv), "--outcome", "nope"]) == 2
    assert "unknown outcome 'nope'" in capsys.readouterr().err
