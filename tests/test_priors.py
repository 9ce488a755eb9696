"""Prior registry: published quantiles, densities, PyMC translation, parsing.

Independent references used here:
* the implied tau quantiles tabulated in shared/reference/priors.md (from the papers);
* closed forms recomputed in the test on the *published* scale (tau^2 for Turner,
  log(tau^2) for Rhodes) and then square-rooted, i.e. by a different route from the
  module's tau-scale parametrisation;
* numerical integration of the density and numerical differentiation of the CDF;
* PyMC's own log densities and random draws.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import integrate, stats

from vfsynth.data.effect_table import EffectTable
from vfsynth.models import priors as P

Z975 = stats.norm.ppf(0.975)


def _rel_tol_rounded_inputs(z: float) -> float:
    """Relative uncertainty of exp((m + z s)/2) when m and s are rounded to 2 decimals.

    |d log q| <= (0.005 + |z| 0.005) / 2; exp(x) - 1 ~ x.
    """
    return 0.005 * (1 + abs(z)) / 2 * 1.01


# ------------------------------------------------------------------ published numbers


@pytest.mark.parametrize(
    ("prior", "published"),
    [
        (P.turner_prior("mental-health"), (0.058, 0.310, 1.68)),
        (P.turner_prior("subjective"), (0.043, 0.232, 1.24)),
        (P.turner_prior("quality-of-life"), (0.046, 0.250, 1.36)),
        (P.rhodes_prior("general"), (0.006, 0.179, 5.0)),
    ],
)
def test_published_tau_quantiles(prior, published):
    """priors.md implied 2.5/50/97.5% quantiles; tolerance = rounding of the published m, s
    (2 decimals) or of the printed quantile, whichever is larger."""
    q = prior.quantiles((0.025, 0.5, 0.975))
    df = prior.params.get("df")
    zs = [stats.t.ppf(p, df) if df else stats.norm.ppf(p) for p in (0.025, 0.5, 0.975)]
    for got, want, z in zip(q, published, zs, strict=True):
        decimals = len(repr(want).split(".")[1]) if "." in repr(want) else 0
        tol = max(0.5 * 10.0**-decimals, _rel_tol_rounded_inputs(z) * want)
        assert abs(got - want) <= tol, (prior.spec, got, want, tol)


TURNER_ROWS = {  # outcome -> (m, s) on log(tau^2), Turner 2015 Tab. IV, non-pharmacological vs control
    "mental-health": (-2.34, 1.72),
    "subjective": (-2.92, 1.71),
    "quality-of-life": (-2.77, 1.73),
    "physical-health": (-2.51, 1.72),
    "adverse-events": (-2.10, 1.71),
    "withdrawals": (-3.21, 1.91),
}


@pytest.mark.parametrize("outcome", list(TURNER_ROWS))
def test_turner_rows_on_tau_squared_scale(outcome):
    """Quantiles of tau = sqrt of the tau^2 LogNormal(m, s^2) quantiles (published scale)."""
    m, s = TURNER_ROWS[outcome]
    p = P.turner_prior(outcome, "non-pharmacological")
    for q in (0.01, 0.025, 0.5, 0.9, 0.975):
        tau2_q = stats.lognorm(s=s, scale=math.exp(m)).ppf(q)
        assert p.ppf(q) == pytest.approx(math.sqrt(tau2_q), rel=1e-12)
    assert p.family == "lognormal" and p.target == "tau"


def test_turner_general():
    p = P.turner_prior("general")
    assert p.spec == "turner:general:general"
    assert p.ppf(0.5) == pytest.approx(math.sqrt(math.exp(-2.56)), rel=1e-12)
    assert p.ppf(0.975) == pytest.approx(math.sqrt(math.exp(-2.56 + Z975 * 1.74)), rel=1e-12)


RHODES_ROWS = {
    "general": (-3.44, 2.59),
    "subjective": (-2.62, 2.41),
    "mental-health": (-3.85, 1.93),
    "physical-health": (-3.02, 2.27),
    "signs-symptoms": (-2.86, 2.33),
}


@pytest.mark.parametrize("outcome", list(RHODES_ROWS))
def test_rhodes_rows_on_log_tau_squared_scale(outcome):
    """P(tau <= x) = P(log tau^2 <= 2 log x) = T_5((2 log x - m)/s)."""
    m, s = RHODES_ROWS[outcome]
    p = P.rhodes_prior(outcome)
    for x in (0.01, 0.1, 0.3, 1.0, 3.0):
        assert p.cdf(x) == pytest.approx(stats.t.cdf((2 * math.log(x) - m) / s, 5), rel=1e-12)


def test_rhodes_mental_health_is_flagged():
    p = P.rhodes_prior("mental-health")
    assert "CAUTION" in p.description and "-2.85" in p.description
    assert "-2.85" in P.rhodes_prior.__doc__ and "-3.85" in P.rhodes_prior.__doc__
    assert "CAUTION" not in P.rhodes_prior("subjective").description


def test_half_normal_tail_facts():
    hn = P.half_normal(0.5)
    assert hn.ppf(0.5) == pytest.approx(0.337, abs=5e-4)
    assert hn.sf(1.0) == pytest.approx(0.046, abs=5e-4)
    assert P.half_normal(1.0).ppf(0.5) == pytest.approx(0.674, abs=5e-4)


def test_bartos_table_and_inverse_gamma_density():
    p = P.bartos_prior("developmental", "SMD")
    assert (p.family, p.params) == ("inverse-gamma", {"shape": 1.43, "scale": 0.12})
    # IG(a, b) density written out by hand: b^a / Gamma(a) x^(-a-1) exp(-b/x)
    x = 0.2
    a, b = 1.43, 0.12
    assert p.pdf(x) == pytest.approx(b**a / math.gamma(a) * x ** (-a - 1) * math.exp(-b / x), rel=1e-12)
    mu = P.bartos_mu_prior("developmental", "SMD")
    assert (mu.family, mu.params) == ("student-t", {"df": 5.0, "loc": 0.0, "scale": 0.18})
    assert P.bartos_mu_prior("cochrane", "logOR").params["df"] == 4.0
    assert P.bartos_prior("cochrane", "logOR").params == {"shape": 1.77, "scale": 0.55}
    with pytest.raises(ValueError, match="common-mental:logOR"):
        P.bartos_prior("common-mental", "logOR")


def test_unit_information_sd_from_table():
    """UISD = sqrt(sum n / sum se^-2): se_i = 2/sqrt(N_i) (an SMD from equal arms) gives exactly 2."""
    n = np.array([40.0, 100.0, 64.0, np.nan])
    se = np.array([2 / math.sqrt(40), 2 / math.sqrt(100), 2 / math.sqrt(64), 0.3])
    k = len(n)
    tab = EffectTable(outcome="o", timepoint="post", measure="SMD", study=tuple("abcd"), estimate=np.zeros(k),
                      se=se, n_total=n, year=np.full(k, np.nan), derivation=("",) * k, source=("",) * k)
    uisd, how = P.unit_information_sd(table=tab)
    assert uisd == pytest.approx(2.0, rel=1e-12)
    assert "3 of 4" in how
    assert P.unit_information_prior(table=tab).params["scale"] == pytest.approx(0.5, rel=1e-12)
    assert P.unit_information_mu(table=tab).params == {"loc": 0.0, "scale": pytest.approx(1.0)}
    # conventional values without a table (RoBMA)
    assert P.unit_information_prior("SMD").params["scale"] == pytest.approx(math.sqrt(2) / 4)
    assert P.unit_information_prior("logOR").params["scale"] == pytest.approx(0.5)
    assert P.unit_information_mu("logOR").params["scale"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="sample sizes"):
        P.unit_information_prior("MD")


# ------------------------------------------------------------------ density / cdf / ppf consistency

ALL = P.list_priors()
PROPER = [p for p in ALL if p.is_proper]
# gamma: shape > 1 (zero density at 0), = 1 (exponential), < 1 (infinite density at 0);
# normal mixtures: bimodal, robust (informative + vague at one location), three components
GAMMAS = [P.gamma_tau(2.0, 8.0), P.gamma_tau(1.0, 4.0), P.user_prior("gamma", shape=0.7, rate=3.0)]
MIXTURES = [P.normal_mixture_mu((0.3, 0.7), (-0.5, 0.6), (0.3, 0.2)),
            P.normal_mixture_mu((0.8, 0.2), (0.4, 0.4), (0.1, 2.0)),
            P.user_prior("normal-mixture", weights=[0.25, 0.5, 0.25], locs=[-1.0, 0.5, 3.0], scales=[0.5, 0.3, 1.0])]
EXTRA = [P.half_cauchy(1.0), P.user_prior("uniform", low=0.0, high=2.0),
         P.user_prior("log-t", df=3, m=-1.0, s=0.7), P.student_t_mu(3, 0.2, 0.5), *GAMMAS, *MIXTURES]


@pytest.mark.parametrize("prior", PROPER + EXTRA, ids=lambda p: f"{p.target}:{p.spec}")
def test_density_integrates_to_one(prior):
    # integrate between the 1e-6 and 1 - 1e-6 quantiles and add the two tail masses
    tail = 0.0 if prior.family == "uniform" else 1e-6
    if prior.target == "tau" and prior.family != "uniform":
        # on s = log tau: integrand tau * p(tau)
        lo, hi = np.log(prior.ppf(tail)), np.log(prior.isf(tail))
        val, _ = integrate.quad(lambda s: math.exp(float(prior.logpdf(math.exp(s))) + s), lo, hi,
                                limit=400, epsabs=1e-12, epsrel=1e-11)
    else:
        lo, hi = prior.ppf(tail), prior.isf(tail)
        val, _ = integrate.quad(lambda x: float(prior.pdf(x)), lo, hi, limit=400, epsabs=1e-12, epsrel=1e-11)
    val += 2 * tail
    assert val == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize("prior", PROPER + EXTRA, ids=lambda p: f"{p.target}:{p.spec}")
def test_cdf_derivative_is_pdf_and_ppf_inverts_cdf(prior):
    qs = np.array([0.001, 0.025, 0.2, 0.5, 0.8, 0.975, 0.999])
    x = prior.ppf(qs)
    np.testing.assert_allclose(prior.cdf(x), qs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(prior.isf(1 - qs), x, rtol=1e-8)
    np.testing.assert_allclose(prior.quantiles(qs), x, rtol=0)
    h = 1e-5 * np.maximum(np.abs(x), 1e-3)
    dnum = (prior.cdf(x + h) - prior.cdf(x - h)) / (2 * h)
    np.testing.assert_allclose(prior.pdf(x), dnum, rtol=1e-5)


def test_out_of_support_and_flat():
    for p in (P.half_normal(1), P.turner_prior("general"), P.rhodes_prior("general"), P.bartos_prior(),
              P.half_cauchy(2.0)):
        assert p.logpdf(-0.1) == -np.inf
        assert p.cdf(-0.1) == 0.0
    assert P.half_normal(1).logpdf(0.0) == pytest.approx(math.log(2 / math.sqrt(2 * math.pi)))
    flat = P.parse_prior("flat", target="mu")
    assert flat.logpdf(3.0) == 0.0 and not flat.is_proper
    with pytest.raises(ValueError, match="improper"):
        flat.ppf(0.5)


def test_means():
    assert P.half_normal(0.5).mean() == pytest.approx(0.5 * math.sqrt(2 / math.pi))
    m, s = P.turner_prior("general").params.values()
    assert P.turner_prior("general").mean() == pytest.approx(math.exp(m + s**2 / 2))
    assert P.bartos_prior("developmental", "SMD").mean() == pytest.approx(0.12 / 0.43)
    assert P.rhodes_prior("general").mean() == math.inf
    assert P.half_cauchy(1).mean() == math.inf


@pytest.mark.parametrize("prior", [P.half_normal(0.5), P.turner_prior("mental-health"), P.rhodes_prior("subjective"),
                                   P.bartos_prior("developmental", "SMD"), *GAMMAS, *MIXTURES], ids=lambda p: p.spec)
def test_rvs_match_cdf(prior):
    draws = prior.rvs(20000, rng=np.random.default_rng(20240601))
    assert stats.kstest(draws, prior.cdf).pvalue > 1e-3
    np.testing.assert_array_equal(draws, prior.rvs(20000, rng=20240601))


# ------------------------------------------------------------------ PyMC

PYMC_CASES = [P.half_normal(0.5), P.half_cauchy(0.5), P.turner_prior("mental-health"), P.rhodes_prior("subjective"),
              P.bartos_prior("developmental", "SMD"), P.user_prior("uniform", low=0.0, high=2.0),
              P.normal_mu(0.1, 1.0), P.bartos_mu_prior("developmental", "SMD"), P.gamma_tau(2.0, 8.0),
              P.gamma_tau(1.0, 4.0), *MIXTURES, P.normal_mixture_mu([1.0], [0.2], [0.5])]


@pytest.mark.parametrize("prior", PYMC_CASES, ids=lambda p: f"{p.target}:{p.spec}")
def test_to_pymc_draws_match_prior_cdf(prior):
    import pymc as pm

    with pm.Model() as model:
        var = prior.to_pymc(prior.target)
    draws = np.asarray(pm.draw(var, draws=20000, random_seed=12345))
    assert draws.shape == (20000,)
    assert stats.kstest(draws, prior.cdf).pvalue > 1e-3
    names = {v.name for v in model.free_RVs}
    if prior.family == "log-t":
        assert names == {f"{prior.target}_log"} and {d.name for d in model.deterministics} == {prior.target}
    else:
        assert names == {prior.target}


@pytest.mark.parametrize("prior", [p for p in PYMC_CASES if p.family != "log-t"], ids=lambda p: p.spec)
def test_to_pymc_logp_matches_logpdf(prior):
    """PyMC's density equals the registry density (differences exact; absolute to PyMC's constants)."""
    import pymc as pm

    with pm.Model():
        var = prior.to_pymc("x")
    xs = prior.ppf(np.array([0.1, 0.5, 0.9]))
    lp = np.array([pm.logp(var, x).eval() for x in xs])
    ours = prior.logpdf(xs)
    np.testing.assert_allclose(lp - lp[1], ours - ours[1], rtol=0, atol=1e-10)
    np.testing.assert_allclose(lp, ours, rtol=0, atol=1e-7)


def test_log_t_pymc_latent_density():
    """The latent log tau of a log-t prior is t_df(m, s): compare PyMC's logp with scipy."""
    import pymc as pm

    p = P.rhodes_prior("general")
    with pm.Model() as model:
        p.to_pymc("tau")
    latent = model["tau_log"]
    for v in (-4.0, -1.72, 1.0):
        want = stats.t.logpdf(v, 5, loc=-1.72, scale=1.295)
        assert float(pm.logp(latent, v).eval()) == pytest.approx(want, abs=1e-7)


# ------------------------------------------------------------------ parsing and serialisation


@pytest.mark.parametrize("prior", ALL + EXTRA, ids=lambda p: f"{p.target}:{p.spec}")
def test_spec_and_dict_round_trip(prior):
    measure = "logOR" if prior.params.get("scale") in (0.5, 1.0) and prior.name == "unit-information" else "SMD"
    again = P.parse_prior(prior.spec, target=prior.target, measure=measure)
    assert (again.family, again.params, again.target) == (prior.family, prior.params, prior.target)
    assert P.Prior.from_dict(json.loads(json.dumps(prior.to_dict()))) == prior
    assert hash(P.Prior.from_dict(prior.to_dict())) == hash(prior)


@pytest.mark.parametrize(
    ("spec", "target", "family", "params"),
    [
        ("half-normal:0.5", "tau", "half-normal", {"scale": 0.5}),
        ("HN:1", "tau", "half-normal", {"scale": 1.0}),
        ("half-cauchy:0.25", "tau", "half-cauchy", {"scale": 0.25}),
        ("lognormal:-1.2,0.8", "tau", "lognormal", {"m": -1.2, "s": 0.8}),
        ("inverse-gamma:1.5,0.2", "tau", "inverse-gamma", {"shape": 1.5, "scale": 0.2}),
        ("log-t:5,-1,1", "tau", "log-t", {"df": 5.0, "m": -1.0, "s": 1.0}),
        ("turner:Mental_Health", "tau", "lognormal", {"m": -1.17, "s": 0.86}),
        ("turner:mental-health:non-pharmacological", "tau", "lognormal", {"m": -1.17, "s": 0.86}),
        ("rhodes:subjective", "tau", "log-t", {"df": 5.0, "m": -1.31, "s": 1.205}),
        ("bartos:developmental:SMD", "tau", "inverse-gamma", {"shape": 1.43, "scale": 0.12}),
        ("bartos:dplp:logOR", "mu", "student-t", {"df": 5.0, "loc": 0.0, "scale": 0.83}),
        ("ui:0.5", "tau", "half-normal", {"scale": 1.0}),
        ("unit-information", "mu", "normal", {"loc": 0.0, "scale": 1.0}),
        ("normal:0,1", "mu", "normal", {"loc": 0.0, "scale": 1.0}),
        ("student-t:5,0,0.43", "mu", "student-t", {"df": 5.0, "loc": 0.0, "scale": 0.43}),
        ("flat", "mu", "flat", {}),
    ],
)
def test_parse_prior(spec, target, family, params):
    p = P.parse_prior(spec, target=target, measure="logOR")
    assert p.family == family and p.target == target
    assert p.params == pytest.approx(params)


@pytest.mark.parametrize(
    ("spec", "target", "match"),
    [
        ("weibull:1,2", "tau", "valid tau priors: half-normal"),
        ("gamma:1,2", "mu", "is a tau prior"),
        ("gamma:1", "tau", "expected 2"),
        ("gamma:2,-1", "tau", "rate must be > 0"),
        ("gamma:0,1", "tau", "shape must be > 0"),
        ("normal-mixture:1,0,1", "tau", "is a mu prior"),
        ("normal-mixture:0.5,0,1;0.4,1,1", "mu", "sum to 1"),
        ("normal-mixture:1.2,0,1;-0.2,1,1", "mu", ">= 0"),
        ("normal-mixture:0.5,0,1;0.5,1", "mu", "expected 3"),
        ("normal-mixture:1,0,0", "mu", "scales must be > 0"),
        ("normal-mixture:1,0,inf", "mu", "finite"),
        ("normal-mixture", "mu", "expected normal-mixture:W1,M1,S1"),
        ("normal:0,1", "tau", "is a mu prior"),
        ("half-normal:0.5", "mu", "is a tau prior"),
        ("flat", "tau", "is a mu prior"),
        ("turner:happiness", "tau", "valid: general, adverse-events"),
        ("turner:general:non-pharmacological", "tau", "valid outcome:comparison pairs"),
        ("rhodes:subjective:pharmacological", "tau", "valid: non-pharmacological, general"),
        ("bartos:cardiology:SMD", "tau", "valid: cochrane, common-mental, developmental"),
        ("bartos:developmental", "tau", "give the measure"),
        ("half-normal:abc", "tau", "not a list of numbers"),
        ("half-normal:1,2", "tau", "expected 1"),
        ("half-normal:-1", "tau", "must be > 0"),
        ("student-t:5,0", "mu", "expected 3"),
        ("uniform:2,1", "tau", "low < high"),
        ("", "tau", "empty"),
        ("half-normal:0.5", "sigma", "target"),
    ],
)
def test_parse_prior_errors(spec, target, match):
    with pytest.raises(ValueError, match=match):
        P.parse_prior(spec, target=target)


def test_parse_gamma_and_normal_mixture():
    g = P.parse_prior("gamma:2,8")
    assert (g.family, g.target, g.params, g.spec) == ("gamma", "tau", {"shape": 2.0, "rate": 8.0}, "gamma:2,8")
    m = P.parse_prior(" Normal-Mixture:0.8,0.4,0.1; 0.2,0.4,2 ", target="mu")
    assert (m.family, m.target) == ("normal-mixture", "mu")
    assert m.params == {"weights": [0.8, 0.2], "locs": [0.4, 0.4], "scales": [0.1, 2.0]}
    assert m.spec == "normal-mixture:0.8,0.4,0.1;0.2,0.4,2"
    # the old export spelling "mixture:" is an alias
    assert P.parse_prior("mixture:0.8,0.4,0.1;0.2,0.4,2", target="mu") == m
    assert P.user_prior("gamma", shape=2, rate=8).params == g.params
    assert P.REGISTRY["gamma"][0] == "tau" and P.REGISTRY["normal-mixture"][0] == "mu"


def test_mixture_round_trips_exactly_with_list_params():
    """Full-precision floats (EM output) survive spec -> parse and to_dict -> JSON -> from_dict bit for bit."""
    w1 = 0.29999999999999993
    mix = P.normal_mixture_mu([w1, 1 - w1], [-0.123456789012345, 0.6], [0.30000000000000004, 1e-3])
    assert all(isinstance(v, list) for v in mix.params.values())
    again = P.parse_prior(mix.spec, target="mu")
    assert again.params == mix.params
    d = json.loads(json.dumps(mix.to_dict()))
    assert d["params"]["weights"] == [w1, 1 - w1]
    back = P.Prior.from_dict(d)
    assert back == mix and hash(back) == hash(mix) and back.spec == mix.spec
    # to_dict hands out copies: mutating them cannot change the (frozen) prior
    mix.to_dict()["params"]["locs"][0] = 99.0
    assert mix.params["locs"][0] == -0.123456789012345
    # tuples / arrays are accepted and stored as lists (so equality does not depend on the input type)
    assert P.normal_mixture_mu((0.5, 0.5), np.array([0.0, 1.0]), (1, 2)) == P.normal_mixture_mu([0.5, 0.5], [0, 1], [1, 2])
    with pytest.raises(ValueError, match="one \\(non-zero\\) length"):
        P.normal_mixture_mu([0.5, 0.5], [0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="list of numbers"):
        P.Prior(name="x", family="normal-mixture", params={"weights": 1.0, "locs": [0], "scales": [1]}, target="mu")


def test_gamma_against_scipy():
    """Density written out by hand, quantiles / CDF / moments against scipy.stats.gamma(a, scale=1/r)."""
    for a, r in ((2.0, 8.0), (1.0, 4.0), (0.7, 3.0), (15.0, 40.0)):
        g = P.gamma_tau(a, r)
        ref = stats.gamma(a, scale=1.0 / r)
        qs = np.array([1e-6, 0.025, 0.25, 0.5, 0.75, 0.975, 1 - 1e-9])
        np.testing.assert_allclose(g.quantiles(qs), ref.ppf(qs), rtol=1e-12)
        x = np.array([1e-4, 0.05, 0.2, 1.0, 3.0])
        np.testing.assert_allclose(g.logpdf(x), a * math.log(r) - math.lgamma(a) + (a - 1) * np.log(x) - r * x,
                                   rtol=1e-12)
        np.testing.assert_allclose(g.cdf(x), ref.cdf(x), rtol=1e-12)
        np.testing.assert_allclose(g.sf(x), ref.sf(x), rtol=1e-12)
        assert g.mean() == pytest.approx(a / r, rel=1e-14)
        assert g.sd() == pytest.approx(math.sqrt(a) / r, rel=1e-12)
        assert g.logpdf(-0.1) == -np.inf and g.cdf(-0.1) == 0.0
    # the density at tau = 0: rate (exponential), 0 (shape > 1), unbounded (shape < 1)
    assert P.gamma_tau(1.0, 4.0).logpdf(0.0) == pytest.approx(math.log(4.0))
    assert P.gamma_tau(2.0, 8.0).logpdf(0.0) == -np.inf
    assert P.gamma_tau(0.7, 3.0).logpdf(0.0) == np.inf


def _mixture_ref(mix):
    w, m, s = (np.asarray(mix.params[k], dtype=float) for k in ("weights", "locs", "scales"))

    def cdf(x):
        return float(np.sum(w * stats.norm.cdf(x, m, s)))

    def sf(x):
        return float(np.sum(w * stats.norm.sf(x, m, s)))

    return w, m, s, cdf, sf


@pytest.mark.parametrize("mix", MIXTURES, ids=lambda p: p.spec)
def test_normal_mixture_against_scipy_components(mix):
    """Density, CDF, quantiles and moments against sums of scipy.stats.norm components; quantiles
    against an independent Brent root of that CDF (far tails via the survival function)."""
    w, m, s, cdf, sf = _mixture_ref(mix)
    x = np.linspace(-4, 6, 41)
    np.testing.assert_allclose(mix.pdf(x), [np.sum(w * stats.norm.pdf(v, m, s)) for v in x], rtol=1e-12)
    np.testing.assert_allclose(mix.cdf(x), [cdf(v) for v in x], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(mix.sf(x), [sf(v) for v in x], rtol=1e-12, atol=1e-300)
    from scipy.optimize import brentq

    for q in (1e-12, 1e-6, 0.025, 0.3, 0.5, 0.7, 0.975):
        ref = brentq(lambda v, q=q: cdf(v) / q - 1.0, -60, 60, xtol=1e-15, rtol=1e-15)
        assert float(mix.ppf(q)) == pytest.approx(ref, rel=1e-11, abs=1e-13), q
    for q in (1e-12, 1e-6, 0.025):
        ref = brentq(lambda v, q=q: sf(v) / q - 1.0, -60, 60, xtol=1e-15, rtol=1e-15)
        assert float(mix.isf(q)) == pytest.approx(ref, rel=1e-11, abs=1e-13), q
    assert mix.ppf(0.0) == -np.inf and mix.ppf(1.0) == np.inf and np.isnan(mix.ppf(1.5))
    assert mix.quantiles((0.1, 0.9)).shape == (2,) and mix.ppf(np.full((2, 3), 0.5)).shape == (2, 3)
    mean = float(np.sum(w * m))
    assert mix.mean() == pytest.approx(mean, abs=1e-14)
    var = integrate.quad(lambda v: (v - mean) ** 2 * float(mix.pdf(v)), -np.inf, np.inf, limit=200)[0]
    assert mix.sd() == pytest.approx(math.sqrt(var), rel=1e-9)
    comps = mix.components()
    assert [c[0] for c in comps] == mix.params["weights"]
    assert [c[1].params for c in comps] == [{"loc": a, "scale": b} for a, b in zip(m, s, strict=True)]


def test_normal_mixture_degenerate_cases_are_the_normal():
    """One component, or identical components, is exactly N(m, s^2) (scipy); a zero-weight
    component changes nothing."""
    ref = stats.norm(0.3, 0.7)
    qs = np.array([1e-10, 0.025, 0.5, 0.975])
    for mix in (P.normal_mixture_mu([1.0], [0.3], [0.7]), P.normal_mixture_mu([0.4, 0.6], [0.3, 0.3], [0.7, 0.7]),
                P.normal_mixture_mu([1.0, 0.0], [0.3, 5.0], [0.7, 0.1])):
        np.testing.assert_allclose(mix.ppf(qs), ref.ppf(qs), rtol=1e-12)
        np.testing.assert_allclose(mix.logpdf([-1.0, 0.3, 2.0]), ref.logpdf([-1.0, 0.3, 2.0]), rtol=1e-13)
        assert mix.sd() == pytest.approx(0.7, rel=1e-12)


def test_grammar_mentions_every_head():
    for head in ("half-normal", "half-cauchy", "lognormal", "log-t", "inverse-gamma", "uniform", "turner", "rhodes",
                 "bartos", "ui", "unit-information", "normal", "student-t", "flat", "gamma", "normal-mixture"):
        assert head in P.GRAMMAR


# ------------------------------------------------------------------ defaults and registry


def test_defaults():
    assert P.default_tau_prior("SMD", "sensitivity").spec == "half-normal:0.5"
    assert P.default_tau_prior("SMD").spec == "half-normal:0.5"
    assert P.default_tau_prior("logOR", "attachment_security").spec == "turner:mental-health:non-pharmacological"
    assert P.default_tau_prior("logOR", "some_other_outcome").spec == "half-normal:0.5"
    assert P.default_mu_prior("SMD").params == {"loc": 0.0, "scale": 1.0}
    assert P.default_mu_prior("logOR").params["scale"] == pytest.approx(math.pi / math.sqrt(3), abs=5e-5)
    assert P.default_mu_prior("MD").family == "flat"
    with pytest.raises(ValueError, match="no default heterogeneity prior for measure MD"):
        P.default_tau_prior("MD")
    # MD with a table: unit information when n is known, else half-Cauchy(typical SE)
    se = np.array([15.0, 10.0, 16.0, 11.0])
    k = len(se)
    kw = dict(outcome="o", timepoint="post", measure="MD", study=tuple("abcd"), estimate=np.zeros(k), se=se,
              year=np.full(k, np.nan), derivation=("",) * k, source=("",) * k)
    no_n = P.default_tau_prior("MD", table=EffectTable(n_total=np.full(k, np.nan), **kw))
    assert no_n.family == "half-cauchy"
    assert no_n.params["scale"] == pytest.approx(math.sqrt(4 / np.sum(1 / se**2)), rel=1e-12)
    n = np.array([50.0, 100.0, 40.0, 80.0])
    ui = P.default_tau_prior("MD", table=EffectTable(n_total=n, **kw))
    assert ui.params["scale"] == pytest.approx(0.25 * math.sqrt(n.sum() / np.sum(se**-2.0)), rel=1e-12)
    text = P.describe_defaults()
    assert "half-normal:0.5" in text and "turner:mental-health" in text and "Chinn" in text


def test_registry_lists():
    taus = P.list_priors("tau")
    assert all(p.target == "tau" for p in taus)
    specs = {p.spec for p in P.list_priors()}
    assert {"turner:general:general", "rhodes:mental-health:non-pharmacological", "bartos:developmental:SMD"} <= specs
    assert set(P.REGISTRY) >= {"half-normal", "turner", "rhodes", "bartos", "unit-information", "normal", "flat"}
    for name, (target, factory, _desc) in P.REGISTRY.items():
        assert callable(factory) and target in ("tau", "mu"), name
    assert all(p.citation for p in P.list_priors() if p.name in ("turner", "rhodes", "bartos", "unit-information"))
