"""Simulation-based calibration (SBC) of every shipped model, and the calibration table.

For each model, ``n_rep`` reviews are simulated from the model's generative PyMC graph
with the *shipped* default priors (:mod:`vfsynth.fits.calibration.designs`), each is
fitted by vectorised NUTS (:mod:`vfsynth.fits.calibration.samplers`: the batched engine
for the common-effect, random-effects and t models; the jaxified generative graph for the
binomial–normal model and meta-regression; a JAX density from the specs' likelihoods for the
selection model, PET and PEESE, :mod:`vfsynth.fits.calibration.marginal_jax`), and the ranks of
the true values, the 95% interval coverage and the divergent
transitions are recorded (:mod:`vfsynth.fits.calibration.checks`; Talts et al. 2018,
arXiv:1804.06788; Modrák et al. 2023, *Bayesian Analysis*).

A model passes when, for each of its quantities, the rank-uniformity chi-square test is
not rejected after Holm adjustment over every (model, quantity) in the run (family-wise
``alpha``), and the 95% coverage is inside :data:`~vfsynth.fits.calibration.checks.COVERAGE_WINDOW`
(93–97%). Divergences are counted and reported, not part of the verdict: SBC is what shows
whether they bias the posterior.

Adding a model: :func:`register_calibration` a function ``(n_rep, seed, settings) ->
CalibrationRun``. The joint mediation model's ``run_joint_sbc`` plugs in this way, adapted
to return a :class:`CalibrationRun` (its draws' ranks, coverage flags and divergences).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vfsynth.fits.calibration import checks, designs, samplers


@dataclass(frozen=True)
class SBCSettings:
    """Run length of every replicate (one chain each) and the tests' settings."""

    draws: int = 1000
    tune: int = 1000
    thin: int = 10
    target_accept: float = 0.9
    bins: int = 10
    alpha: float = 0.05


@dataclass
class CalibrationRun:
    """One model's SBC: ``ranks`` and ``covered`` are ``(n_rep, P)``, ``divergences`` ``(n_rep,)``."""

    model: str
    labels: list[str]
    ranks: np.ndarray
    L: int
    covered: np.ndarray
    divergences: np.ndarray
    seconds: float
    seed: int
    engine: str
    design: dict[str, Any] = field(default_factory=dict)

    @property
    def n_rep(self) -> int:
        return int(self.ranks.shape[0])


Calibrator = Callable[[int, int, SBCSettings], CalibrationRun]
CALIBRATORS: dict[str, Calibrator] = {}


def register_calibration(name: str, fn: Calibrator) -> None:
    """Make ``vfsynth calibrate --model name`` run ``fn(n_rep, seed, settings)``."""
    CALIBRATORS[name] = fn


def _finish(model, labels, draws, truth, div, secs, seed, engine, design, s: SBCSettings) -> CalibrationRun:
    r, L = checks.ranks(draws, truth, s.thin)
    return CalibrationRun(model, labels, r, L, checks.covered95(draws, truth), np.asarray(div, int), secs, seed,
                          engine, design)


def _marginal(kind: str, nu: float | None = None) -> Calibrator:
    def run(n_rep: int, seed: int, s: SBCSettings) -> CalibrationRun:
        from vfsynth.models.spec import get_spec

        spec = get_spec(kind, **({"nu": nu} if kind == "t" else {}))
        table = designs.smd_table()
        priors = designs.default_priors("SMD")
        qs = [("mu", ())] + ([("tau", ())] if "tau" in spec.prior_roles else [])
        truth, data = designs.simulate(spec.generative(table, priors), n_rep, seed, qs, ["y"])
        draws, div, secs = samplers.run_marginal(kind, data["y"], table.se, priors, nu=nu, draws=s.draws,
                                                 tune=s.tune, target_accept=s.target_accept, seed=seed + 1)
        design = {"k": table.k, "measure": "SMD", "priors": {r: priors[r].spec for r in spec.prior_roles}}
        if nu is not None:
            design["nu"] = nu
        return _finish(kind, [q for q, _ in qs], draws, truth, div, secs, seed, "batched", design, s)

    return run


def _generative(kind: str) -> Calibrator:
    def run(n_rep: int, seed: int, s: SBCSettings) -> CalibrationRun:
        from vfsynth.models.spec import get_spec

        spec = get_spec(kind)
        if kind == "binomial-normal":
            obj = table = designs.counts_table()
            priors = designs.default_priors("logOR", "attachment_security")
            qs, data_names, labels = [("mu", ()), ("tau", ())], ["events_t", "events_c"], ["mu", "tau"]
            extra = {"alpha_sd": spec.alpha_sd}
        elif kind == "meta-regression":
            obj = designs.regression_design()
            table = obj.table
            priors = designs.default_priors("SMD")
            qs, data_names = [("intercept", ()), ("beta", (0,)), ("tau", ())], ["y"]
            labels, extra = ["intercept", "beta[x]", "tau"], {"beta_sd": float(spec.beta_sd)}
        else:  # pragma: no cover - registry below lists the kinds
            raise ValueError(kind)
        model = spec.generative(obj, priors)
        truth, data = designs.simulate(model, n_rep, seed, qs, data_names)
        draws, div, secs = samplers.run_generative(model, data, qs, draws=s.draws, tune=s.tune,
                                                   target_accept=s.target_accept, seed=seed + 1)
        design = {"k": table.k, "measure": table.measure,
                  "priors": {r: priors[r].spec for r in ("mu", "tau")}, **extra}
        return _finish(kind, labels, draws, truth, div, secs, seed, "nuts (jaxified graph, vectorised)", design, s)

    return run


def _vectorised(kind: str) -> Calibrator:
    """Selection model and PET / PEESE: simulated by the model's generative PyMC graph, fitted
    by vectorised NUTS on the JAX density of :mod:`vfsynth.fits.calibration.marginal_jax`.

    The selection model's reviews are drawn by its own prior predictive, the rejection
    sampler of the publication process (:func:`vfsynth.models.regression.build_selection_generative`):
    each review holds ``k`` *published* studies.
    """

    def run(n_rep: int, seed: int, s: SBCSettings) -> CalibrationRun:
        from vfsynth.fits.calibration import marginal_jax
        from vfsynth.models import regression as R
        from vfsynth.models.spec import get_spec

        priors = designs.default_priors("SMD")
        table = designs.smd_table(designs.K_SMALL_STUDY)
        design = {"k": table.k, "measure": "SMD", "priors": {r: priors[r].spec for r in ("mu", "tau")}}
        if kind == "selection":
            spec = get_spec("selection")
            model = spec.generative(table, priors)
            qs = [("mu", ()), ("tau", ())] + [("omega", (j,)) for j in range(1, len(spec.cutpoints) + 1)]
            truth, data = designs.simulate(model, n_rep, seed, qs, ["y"])
            dens = marginal_jax.selection_density(spec, priors, table.se, data["y"])
            design.update(cutpoints=list(spec.cutpoints), concentration=spec.concentration)
        else:
            slope_sd = R.PET_SLOPE_SD if kind == "pet" else R.PEESE_SLOPE_SD
            d = R.small_study_design(table, kind)
            model = get_spec("meta-regression", beta_sd=slope_sd).generative(d, priors)
            truth, data = designs.simulate(model, n_rep, seed, [("intercept", ()), ("beta", (0,)), ("tau", ())], ["y"])
            dens = marginal_jax.small_study_density(d, priors, slope_sd, data["y"])
            design.update(covariate=d.coef[1], slope_sd=slope_sd)
        draws, div, secs = samplers.run_vectorised(dens["logdensity"], dens["quantities"], [data["y"]], dens["init"],
                                                   draws=s.draws, tune=s.tune, target_accept=s.target_accept,
                                                   seed=seed + 1)
        return _finish(kind, dens["labels"], draws, truth, div, secs, seed, "nuts (JAX marginal density, vectorised)",
                       design, s)

    return run


def _joint(design_name: str) -> Calibrator:
    """The joint mediation model on one data design (:func:`vfsynth.fits.joint_sbc.run_joint_sbc`).

    Every replicate is ranked here, divergent or not, as for the other models; the joint
    module's own table (which also reports the ranks without divergent replicates and the
    learned IQR ratios) is written by ``vfsynth.reports.joint_sbc_files``.
    """

    def run(n_rep: int, seed: int, s: SBCSettings) -> CalibrationRun:
        import math

        from vfsynth.fits.joint_sbc import run_joint_sbc

        res = run_joint_sbc(design_name, n_rep, seed, n_warmup=s.tune, draws=s.draws, thin=s.thin,
                            target_accept=s.target_accept)
        # the same 95% interval as covered95: rank inside the central 95% of the L draws
        lo, hi = math.ceil(0.025 * res.L), math.floor(0.975 * res.L)
        covered = (res.ranks >= lo) & (res.ranks <= hi)
        design = {"design": design_name, "studies_with_mediator_and_final": res.pairs, **res.settings}
        return CalibrationRun(f"joint-{design_name}", list(res.labels), res.ranks, res.L, covered, res.divergences,
                              res.seconds, seed, "batched (vectorised BlackJAX NUTS)", design)

    return run


register_calibration("common-effect", _marginal("common-effect"))
register_calibration("random-effects", _marginal("random-effects"))
register_calibration("t", _marginal("t", nu=4.0))
register_calibration("binomial-normal", _generative("binomial-normal"))
register_calibration("meta-regression", _generative("meta-regression"))
for _kind in ("selection", "pet", "peese"):
    register_calibration(_kind, _vectorised(_kind))
for _design in ("complete", "no-pairs", "follow-up-only"):
    register_calibration(f"joint-{_design}", _joint(_design))


def calibrate(models, n_rep: int, seed: int, settings: SBCSettings | None = None, progress=None) -> list[CalibrationRun]:
    """Run SBC for each model name (``"all"`` = every registered one), in order."""
    from vfsynth.fits.settings import DEFAULT_SEED

    settings = settings or SBCSettings()
    seed = DEFAULT_SEED if seed is None else int(seed)
    names = list(CALIBRATORS) if models in ("all", ["all"]) else list(models)
    unknown = [m for m in names if m not in CALIBRATORS]
    if unknown:
        from vfsynth.data.errors import VfsynthError

        raise VfsynthError(f"no calibration for model(s) {', '.join(unknown)}; choose from {', '.join(CALIBRATORS)} or all")
    runs = []
    for i, name in enumerate(names):
        run = CALIBRATORS[name](n_rep, seed + 1000 * i, settings)
        runs.append(run)
        if progress:
            progress(run)
    return runs


def summarise(runs: list[CalibrationRun], settings: SBCSettings | None = None, *,
              more_rows=()) -> list[dict[str, Any]]:
    """One row per (model, quantity): chi-square p (raw, Holm), coverage, divergences, verdict.

    ``more_rows`` (rows of models calibrated earlier, e.g. read back from a
    ``calibration.json``) join the Holm adjustment and the returned table.
    """
    s = settings or SBCSettings()
    rows = [dict(r) for r in more_rows]
    for run in runs:
        pv = checks.rank_uniformity(run.ranks, run.L, s.bins)
        n_div = int(run.divergences.sum())
        for j, lab in enumerate(run.labels):
            hits = int(run.covered[:, j].sum())
            rows.append({"model": run.model, "quantity": lab, "replicates": run.n_rep, "L": run.L,
                         "chi2_p": float(pv[j]), "coverage95": hits / run.n_rep,
                         "coverage_p": checks.coverage_pvalue(hits, run.n_rep),
                         "divergences": n_div, "replicates_with_divergences": int((run.divergences > 0).sum()),
                         "seconds": round(run.seconds, 1), "engine": run.engine})
    adj = checks.holm([r["chi2_p"] for r in rows]) if rows else []
    lo, hi = checks.COVERAGE_WINDOW
    for r, a in zip(rows, adj, strict=True):
        r["chi2_p_holm"] = float(a)
        r["uniform"] = bool(a >= s.alpha)
        r["coverage_ok"] = bool(lo <= r["coverage95"] <= hi)
        r["passed"] = r["uniform"] and r["coverage_ok"]
    return rows
