"""The priors package's family classes and the single prior resolution.

Independent references: SciPy distributions built here from the published parametrisations
(not through the package), and the priors an MD review gets in ``vfsynth fit``.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from vfsynth.data import load_csv
from vfsynth.data.errors import VfsynthError
from vfsynth.models import priors as P

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _log_t_dist(df, m, s):
    """log tau ~ t_df(m, s): density and CDF on tau by the change of variables, via SciPy."""
    t = stats.t(df, loc=m, scale=s)
    return (lambda x: t.logpdf(np.log(x)) - np.log(x), lambda x: t.cdf(np.log(x)), lambda q: np.exp(t.ppf(q)))


def _mixture_dist(w, m, s):
    comps = [stats.norm(mj, sj) for mj, sj in zip(m, s, strict=True)]
    return (lambda x: np.log(sum(wj * c.pdf(x) for wj, c in zip(w, comps, strict=True))),
            lambda x: sum(wj * c.cdf(x) for wj, c in zip(w, comps, strict=True)), None)


def _frozen(d):
    return (d.logpdf, d.cdf, d.ppf)


#: family -> (prior, independent (logpdf, cdf, ppf), points inside the support)
CASES = {
    "half-normal": (P.user_prior("half-normal", scale=0.5), _frozen(stats.halfnorm(scale=0.5))),
    "half-cauchy": (P.user_prior("half-cauchy", scale=0.3), _frozen(stats.halfcauchy(scale=0.3))),
    "lognormal": (P.user_prior("lognormal", m=-1.17, s=0.86), _frozen(stats.lognorm(0.86, scale=math.exp(-1.17)))),
    "log-t": (P.user_prior("log-t", df=5, m=-1.31, s=1.205), _log_t_dist(5, -1.31, 1.205)),
    "inverse-gamma": (P.user_prior("inverse-gamma", shape=1.43, scale=0.12), _frozen(stats.invgamma(1.43, scale=0.12))),
    "uniform": (P.user_prior("uniform", low=0.1, high=2.0), _frozen(stats.uniform(0.1, 1.9))),
    "gamma": (P.user_prior("gamma", shape=2.0, rate=8.0), _frozen(stats.gamma(2.0, scale=1 / 8.0))),
    "normal": (P.user_prior("normal", loc=0.2, scale=1.5), _frozen(stats.norm(0.2, 1.5))),
    "student-t": (P.user_prior("student-t", df=5, loc=0.0, scale=0.43), _frozen(stats.t(5, 0.0, 0.43))),
    "flat": (P.user_prior("flat"), None),
    "normal-mixture": (P.user_prior("normal-mixture", weights=[0.8, 0.2], locs=[0.4, -0.1], scales=[0.1, 2.0]),
                       _mixture_dist([0.8, 0.2], [0.4, -0.1], [0.1, 2.0])),
}
X = np.array([0.11, 0.3, 0.75, 1.4, 1.9])
QS = np.array([0.01, 0.25, 0.5, 0.9, 0.99])


def test_every_registered_family_has_a_case():
    assert set(CASES) == set(P.FAMILY_CLASSES) == set(P.FAMILIES)


@pytest.mark.parametrize("family", sorted(CASES))
def test_family_class_round_trip_and_scipy_agreement(family):
    prior, ref = CASES[family]
    assert type(prior) is P.FAMILY_CLASSES[family] and prior.family == family
    d = json.loads(json.dumps(prior.to_dict()))
    back = P.Prior.from_dict(d)
    assert back == prior and type(back) is type(prior) and hash(back) == hash(prior) and back.to_dict() == d
    # constructing through the base class or the family class gives the same object
    assert P.Prior(**d) == prior and type(prior)(**d) == prior
    if ref is None:  # improper: density 1, no CDF / quantiles
        np.testing.assert_array_equal(prior.logpdf(X), 0.0)
        with pytest.raises(P.PriorSpecError, match="improper"):
            prior.cdf(X)
        return
    logpdf, cdf, ppf = ref
    np.testing.assert_allclose(prior.logpdf(X), logpdf(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(prior.cdf(X), cdf(X), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(prior.sf(X), 1 - cdf(X), rtol=1e-10, atol=1e-14)
    qs = prior.ppf(QS)
    if ppf is not None:
        np.testing.assert_allclose(qs, ppf(QS), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(cdf(qs), QS, rtol=1e-10)  # quantiles invert the independent CDF


def test_family_class_checks_its_family_and_target():
    with pytest.raises(P.PriorSpecError, match="HalfNormal is the half-normal family"):
        P.HalfNormal(name="x", family="gamma", params={"shape": 1, "rate": 1})
    with pytest.raises(ValueError, match="is not a tau prior family"):
        P.Normal(name="x", params={"loc": 0, "scale": 1}, target="tau")
    assert issubclass(P.PriorSpecError, VfsynthError) and issubclass(P.PriorSpecError, ValueError)
    with pytest.raises(VfsynthError):
        P.parse_prior("bogus:1")


@pytest.fixture(scope="module")
def md_table(tmp_path_factory):
    """normand1999 length of stay as a mean difference (continuous arms, so sample sizes known)."""
    path = tmp_path_factory.mktemp("md") / "normand_md.csv"
    shutil.copy(FIXTURES / "normand1999.csv", path)
    text = path.read_text().replace('"post","SMD"', '"post","MD"')
    path.write_text(text)
    table = load_csv(path).effects("length_of_stay", "post")
    assert table.measure == "MD" and np.isfinite(table.n_total).all()
    return table


def test_md_review_priors_are_the_same_in_every_path(md_table):
    from vfsynth.fits import compare, moderators, runner, sensitivity

    want_tau = P.unit_information_prior("MD", table=md_table)  # independent of the resolver
    tau, mu = P.resolve_priors(md_table, "random-effects")
    assert tau == want_tau and mu == P.flat_mu()
    assert runner.resolve_priors(md_table, "random-effects") == (tau, mu)
    assert compare._default_priors(md_table) == (tau, mu)
    assert moderators._priors(md_table, None, None) == (tau, mu)
    grid = sensitivity.prior_set(md_table)
    assert grid[0].varies == "default" and (grid[0].tau_prior, grid[0].mu_prior) == (tau, mu)
    assert P.resolve_priors(md_table, "common-effect") == (None, mu)
    # spec strings are parsed with the table (the 'ui' prior needs its sample sizes)
    assert P.resolve_priors(md_table, "random-effects", "ui", "normal:0,20") == (want_tau, P.normal_mu(0, 20))


def test_compare_models_runs_on_an_md_review(md_table, fit_dir):
    """Before the single resolver, compare dropped the table and an MD default prior failed."""
    from vfsynth.fits.compare import compare_models

    res = compare_models(md_table, models=("common-effect", "random-effects"), engine="exact",
                         draws=300, tune=300, chains=2, seed=1)
    assert set(res.table.index) == {"common-effect", "random-effects"}
    assert res.table["weight"].sum() == pytest.approx(1.0, abs=1e-6)
