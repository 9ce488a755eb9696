"""Posterior -> portable priors (vfsynth-priors/1): fits, goodness of fit, ESS, file validation."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import xarray as xr
from scipy import integrate, stats

from vfsynth.fits import prior_export as X
from vfsynth.fits import prior_files as PF
from vfsynth.models import priors as P


def _tree(**vars_):
    """A fake posterior DataTree: name -> array of shape (chain, draw[, dim]) with dims."""
    ds = {}
    coords = {}
    for name, (arr, dims, labels) in vars_.items():
        ds[name] = (dims, arr)
        if labels is not None:
            coords[dims[-1]] = labels
    return xr.DataTree.from_dict({"posterior": xr.Dataset(ds, coords=coords)})


@pytest.fixture(scope="module")
def normal_fit():
    rng = np.random.default_rng(1)
    mu = rng.normal(0.4, 0.15, size=(4, 5000))
    tau = rng.gamma(2.0, 1 / 8.0, size=(4, 5000))
    dt = _tree(mu=(mu, ("chain", "draw"), None), tau=(tau, ("chain", "draw"), None))
    cfg = {"analysis": {"kind": "univariate", "outcome": "sensitivity", "timepoint": "post", "measure": "SMD", "k": 6},
           "model": {"kind": "random-effects"}, "data_hash": "abc", "priors": {}, "fit_id": "f" * 20}
    return X.export_priors(dt, cfg), mu, tau


def test_normal_mu_and_gamma_tau_are_recovered(normal_fit):
    obj, mu, tau = normal_fit
    ps = PF.PriorSet(obj)
    e_mu, e_tau = ps.entry("mu"), ps.entry("tau")
    assert e_mu["family"] == "normal"
    assert e_mu["params"]["loc"] == pytest.approx(mu.mean(), abs=1e-12)
    assert e_mu["params"]["scale"] == pytest.approx(mu.std(ddof=1), rel=1e-12)
    assert e_mu["fit"]["max_abs_quantile_error_sd"] < 0.03  # 20000 normal draws
    assert set(e_mu["fit"]["quantile_error"]) == {"0.025", "0.25", "0.5", "0.75", "0.975"}
    # gamma(2, rate 8) draws: the gamma family wins and its parameters are recovered
    assert e_tau["family"] == "gamma"
    assert e_tau["params"]["shape"] == pytest.approx(2.0, rel=0.1)
    assert e_tau["params"]["rate"] == pytest.approx(8.0, rel=0.1)
    assert e_tau["fit"]["candidates"]["gamma"] <= min(e_tau["fit"]["candidates"].values())
    assert 0 <= e_tau["fit"]["kl_estimate"] < 0.02
    tp = ps.tau_prior()
    assert tp.family == "gamma" and tp.target == "tau"
    assert float(tp.cdf(0.25)) == pytest.approx(stats.gamma(e_tau["params"]["shape"],
                                                            scale=1 / e_tau["params"]["rate"]).cdf(0.25), rel=1e-12)


def test_lognormal_tau_draws_choose_lognormal():
    rng = np.random.default_rng(2)
    tau = np.exp(rng.normal(-1.2, 0.5, size=(2, 10000)))
    dt = _tree(mu=(rng.normal(size=(2, 10000)), ("chain", "draw"), None), tau=(tau, ("chain", "draw"), None))
    e = PF.PriorSet(X.export_priors(dt, {"analysis": {"measure": "SMD"}})).entry("tau")
    assert e["family"] == "lognormal"
    assert e["params"]["m"] == pytest.approx(-1.2, abs=0.03) and e["params"]["s"] == pytest.approx(0.5, rel=0.05)


def test_ess_of_a_normal_prior_is_unit_sd_over_sd_squared(normal_fit):
    obj, mu, _ = normal_fit
    ps = PF.PriorSet(obj)
    uisd = P.unit_information_sd("SMD")[0]
    sd = mu.std(ddof=1)
    assert ps.entry("mu")["ess"]["value"] == pytest.approx((uisd / sd) ** 2, rel=1e-12)
    # power prior alpha multiplies the precision, hence the ESS, by alpha
    assert ps.ess(power_alpha=0.5) == pytest.approx(0.5 * (uisd / sd) ** 2, rel=1e-9)
    pr = ps.mu_prior(power_alpha=0.25)
    assert pr.params["scale"] == pytest.approx(2 * sd, rel=1e-12)


def test_elir_ess_of_a_mixture_by_independent_quadrature():
    """ELIR ESS = sigma_u^2 E[-d2 log p]: check the grid implementation against scipy quad with
    the analytic second derivative of a two-normal mixture."""
    mix = P.normal_mixture_mu((0.3, 0.7), (-0.2, 0.5), (0.4, 0.1))
    w, m, s = map(np.asarray, (mix.params["weights"], mix.params["locs"], mix.params["scales"]))

    def neg_d2(x):
        f = w * stats.norm.pdf(x, m, s)
        d1 = f * (-(x - m) / s**2)
        d2 = f * (((x - m) ** 2) / s**4 - 1 / s**2)
        p, p1, p2 = f.sum(), d1.sum(), d2.sum()
        return -(p2 / p - (p1 / p) ** 2) * p

    ref = integrate.quad(neg_d2, -4, 3, limit=400, points=[-0.2, 0.5])[0]
    assert PF.elir_ess(mix, 2.0) == pytest.approx(4.0 * ref, rel=1e-4)
    # a single-component mixture reduces to the normal formula
    assert PF.elir_ess(P.normal_mixture_mu((1.0,), (0.1,), (0.25,)), 2.0) == pytest.approx(64.0, rel=1e-4)


def test_robust_component_is_a_vague_normal_at_the_posterior_mean(normal_fit):
    obj, mu, _ = normal_fit
    ps = PF.PriorSet(obj)
    pr = ps.mu_prior(robust=0.2)
    assert pr.family == "normal-mixture"
    assert pr.params["weights"] == pytest.approx([0.8, 0.2])
    assert pr.params["locs"][1] == pytest.approx(mu.mean()) and pr.params["scales"][1] == pytest.approx(P.unit_information_sd("SMD")[0])
    assert "Schmidli" in pr.description
    assert ps.ess(robust=0.2) < ps.ess()  # robustification lowers the prior's information


def test_bimodal_mu_gets_a_mixture_that_fits_better():
    rng = np.random.default_rng(3)
    mu = np.where(rng.random((2, 10000)) < 0.3, rng.normal(-0.5, 0.2, (2, 10000)), rng.normal(0.6, 0.15, (2, 10000)))
    tau = rng.gamma(2, 0.1, (2, 10000))
    e = PF.PriorSet(X.export_priors(_tree(mu=(mu, ("chain", "draw"), None), tau=(tau, ("chain", "draw"), None)),
                                   {"analysis": {"measure": "SMD"}})).entry("mu")
    assert e["family"] == "normal-mixture"
    assert e["fit"]["candidates"]["normal-mixture"] < e["fit"]["candidates"]["normal"] / 3
    assert sorted(e["params"]["weights"]) == pytest.approx([0.3, 0.7], abs=0.02)
    assert e["params"]["locs"] == pytest.approx([-0.5, 0.6], abs=0.02)


def test_normal_mixture_prior_distribution_functions():
    mix = P.normal_mixture_mu((0.25, 0.75), (-1.0, 0.5), (0.5, 0.3))
    assert integrate.quad(lambda x: float(mix.pdf(x)), -10, 10, points=[-1, 0.5])[0] == pytest.approx(1.0, abs=1e-9)
    q = mix.ppf([0.1, 0.5, 0.9])
    assert mix.cdf(q) == pytest.approx([0.1, 0.5, 0.9], abs=1e-10)
    draws = mix.rvs(200000, rng=4)
    assert draws.mean() == pytest.approx(mix.mean(), abs=4 * mix.sd() / math.sqrt(2e5))
    assert P.Prior.from_dict(json.loads(json.dumps(mix.to_dict()))) == mix
    import pymc as pm

    with pm.Model():
        mix.to_pymc("mu")
        x = pm.draw(pm.modelcontext(None)["mu"], draws=40000, random_seed=5)
    assert x.mean() == pytest.approx(mix.mean(), abs=5 * mix.sd() / 200)
    assert np.mean(x < 0) == pytest.approx(float(mix.cdf(0.0)), abs=0.01)


def test_gamma_tau_prior_works_with_the_exact_engine_and_pymc():
    from vfsynth.fits.exact import nnhm_exact

    g = PF.gamma_tau_prior(2.0, 5.0)
    x = np.array([0.0, 0.1, 0.5, 2.0])
    assert g.logpdf(x)[1:] == pytest.approx(stats.gamma(2.0, scale=0.2).logpdf(x[1:]))
    ep = nnhm_exact([0.2, 0.5, -0.1], [0.2, 0.3, 0.25], tau_prior=g, mu_prior=P.normal_mu(0, 1))
    # the tau posterior is a proper distribution on (0, inf) under the gamma prior
    assert 0 < ep.tau_quantiles([0.5])[0] < 1
    import pymc as pm

    with pm.Model():
        g.to_pymc("tau")
        d = pm.draw(pm.modelcontext(None)["tau"], draws=20000, random_seed=1)
    assert d.mean() == pytest.approx(0.4, rel=0.03)


def test_joint_fit_exports_per_construct_correlations_and_mediation():
    rng = np.random.default_rng(6)
    shape = (2, 4000)
    mu = np.stack([rng.normal(0.4, 0.1, shape), rng.normal(0.2, 0.1, shape), rng.normal(0.1, 0.1, shape)], -1)
    tau = rng.gamma(3, 0.05, shape + (3,))
    r = 2 * rng.beta(4, 2, shape + (2,)) - 1
    dt = _tree(mu=(mu, ("chain", "draw", "construct"), ["sensitivity", "rf", "attachment"]),
               tau=(tau, ("chain", "draw", "construct"), ["sensitivity", "rf", "attachment"]),
               corr_pairs=(r, ("chain", "draw", "pair"), ["sensitivity~attachment", "rf~attachment"]),
               b=(rng.normal(0.3, 0.2, shape), ("chain", "draw"), None))
    obj = X.export_priors(dt, {"analysis": {"kind": "joint"}})
    kinds = [(p["parameter"], p["label"] or p["name"]) for p in obj["parameters"]]
    assert kinds == [("mu", "sensitivity"), ("mu", "rf"), ("mu", "attachment"), ("tau", "sensitivity"),
                     ("tau", "rf"), ("tau", "attachment"), ("mediation", "b"),
                     ("correlation", "sensitivity~attachment"), ("correlation", "rf~attachment")]
    corr = [p for p in obj["parameters"] if p["parameter"] == "correlation"][0]
    assert corr["family"] == "beta"
    assert corr["params"]["a"] == pytest.approx(4, rel=0.1) and corr["params"]["b"] == pytest.approx(2, rel=0.1)
    ps = PF.PriorSet(obj)
    assert ps.mu_prior("rf").params["loc"] == pytest.approx(0.2, abs=0.01)


def test_joint_block_holds_the_conditional_moments(normal_fit):
    obj, mu, tau = normal_fit
    j = PF.PriorSet(obj).joint()
    assert len(j["tau"]) == X.JOINT_BINS and sum(j["weights"]) == pytest.approx(1.0)
    assert np.all(np.diff(j["tau"]) >= 0)
    # mu and tau were drawn independently: the conditional means scatter around the mean of mu
    assert np.dot(j["weights"], j["mu_mean"]) == pytest.approx(mu.mean(), abs=1e-12)
    assert np.std(j["mu_mean"]) < 4 * mu.std() / math.sqrt(mu.size / X.JOINT_BINS)


def test_file_round_trip_and_validation_names_the_bad_key(tmp_path, normal_fit):
    obj, _, _ = normal_fit
    path = PF.write_priors(obj, tmp_path / "p.json")
    back = PF.read_priors(path)
    assert back.obj == json.loads(path.read_text())
    assert back.mu_prior().to_dict() == PF.PriorSet(obj).mu_prior().to_dict()

    def broken(edit):
        o = copy.deepcopy(obj)
        edit(o)
        return o

    cases = [
        (lambda o: o.pop("format"), "format: missing"),
        (lambda o: o.update(format="vfsynth-priors/9"), "format: unsupported"),
        (lambda o: o["parameters"][0].update(family="cauchy"), r"parameters\[0\].family"),
        (lambda o: o["parameters"][0]["params"].pop("scale"), r"parameters\[0\].params.scale: missing"),
        (lambda o: o["parameters"][0]["params"].update(scale=-1), r"parameters\[0\].params.scale: must be > 0"),
        (lambda o: o["parameters"][1]["params"].update(extra=1), r"parameters\[1\].params.extra: unexpected"),
        (lambda o: o["parameters"][1].pop("posterior"), r"parameters\[1\].posterior: missing"),
        (lambda o: o.update(power_alpha=0), "power_alpha: must be in"),
        (lambda o: o.update(robust={"weight": 1.5}), "robust.weight"),
        (lambda o: o.update(parameters=[]), "parameters: missing or empty"),
        (lambda o: o["joint"][0]["weights"].pop(), r"joint\[0\]: tau, weights"),
        (lambda o: o["joint"][0]["mu_sd"].__setitem__(3, 0.0), r"joint\[0\].mu_sd\[3\]: must be > 0"),
    ]
    for edit, msg in cases:
        with pytest.raises(PF.PriorFileError, match=msg):
            PF.validate_priors(broken(edit))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(broken(cases[2][0])))
    with pytest.raises(PF.PriorFileError, match=r"bad.json: parameters\[0\].family"):
        PF.read_priors(bad)


def test_priors_cli_export_and_show(tmp_path, capsys, fit_dir):
    """`vfsynth priors export FIT` on a saved fit (fake draws saved through the real store)."""
    from vfsynth.fits import store
    from vfsynth.reports.cli import main

    rng = np.random.default_rng(7)
    dt = _tree(mu=(rng.normal(0.5, 0.1, (2, 3000)), ("chain", "draw"), None),
               tau=(rng.gamma(2, 0.1, (2, 3000)), ("chain", "draw"), None))
    cfg = store.fit_config(model={"kind": "random-effects"}, priors={}, data_hash="h", seed=1,
                           sampler={"name": "fake", "draws": 3000, "tune": 0, "chains": 2},
                           analysis={"kind": "univariate", "outcome": "x", "timepoint": "post", "measure": "SMD", "k": 5})
    store.save_fit(dt, cfg, {"passed": True}, directory=fit_dir)
    fid = store.fit_id(cfg)
    out = tmp_path / "priors.json"
    assert main(["priors", "export", fid, "-o", str(out), "--robust", "0.1"]) == 0
    text = capsys.readouterr().out
    assert "mu" in text and "ESS" in text and "wrote" in text
    obj = json.loads(out.read_text())
    assert obj["format"] == "vfsynth-priors/1" and obj["source"]["fit_id"] == fid and obj["robust"]["weight"] == 0.1
    assert main(["priors", "show", str(out)]) == 0
    assert "effective sample size" in capsys.readouterr().out
    assert main(["priors", "export", "nonexistent", "-o", str(out)]) == 2
    assert main(["priors", "export", fid, "-o", str(out), "--power-alpha", "2"]) == 2
