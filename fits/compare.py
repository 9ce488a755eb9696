"""Model comparison by leave-one-STUDY-out cross-validation (PSIS-LOO + exact refits) and stacking.

The unit of cross-validation is the *study*: the quantity estimated is

.. math::

    \\mathrm{elpd}_{LOSO} = \\sum_i \\log p(y_i \\mid y_{-i}),

the log predictive density of a study's estimate given all the other studies, which answers
"how well does the model predict a new trial?" (Vehtari, Gelman & Gabry 2017, *Stat Comput*
27:1413).

Why the *marginal* likelihood
-----------------------------
A hierarchical meta-analysis has one parameter :math:`\\theta_i` per study. The conditional
log-likelihood :math:`\\log N(y_i \\mid \\theta_i, s_i)` makes every study's term depend on
its own :math:`\\theta_i`, whose posterior changes drastically when the study is left out:
the importance ratios :math:`1/p(y_i\\mid\\theta_i)` are then heavy-tailed and PSIS gives
Pareto :math:`\\hat k > 0.7` for most studies (Vehtari et al. 2017, sec. 4; Merkle, Furr &
Rabe-Hesketh 2019, *Psychometrika* 84:802 on "marginal" vs "conditional" information
criteria). Integrating :math:`\\theta_i` out gives the study's *marginal* likelihood, a
function of the hyper-parameters only:

* random effects: :math:`p(y_i\\mid\\mu,\\tau) = N(y_i \\mid \\mu, \\sqrt{\\tau^2+s_i^2})`;
* common effect: :math:`N(y_i \\mid \\mu, s_i)`;
* Student-t random effects: a one-dimensional integral done by Gauss-Laguerre quadrature
  (:func:`vfsynth.fits.batched.t_marginal_loglik`).

LOO on this likelihood is exactly leave-one-study-out prediction of a *new* study's effect
drawn from the random-effects distribution, and the leave-one-out posterior of
:math:`(\\mu,\\tau)` is close to the full posterior, so PSIS is stable. The joint model
leaves each study out with all its rows (every outcome and time point) and predicts the same
rows of the compared outcome (:mod:`vfsynth.fits.joint_loo`).

Exact refits
------------
Where PSIS is unreliable (:math:`\\hat k > 0.7`, Vehtari et al. 2024, *JMLR* 25(72)), the
PSIS estimate of that study is replaced by the exact value from a refit without the study
(the procedure of :func:`arviz_stats.reloo`, done here for all flagged studies in one
batched program):

* ``engine="exact"`` (random-effects and common-effect models): by numerical integration,
  :math:`\\log p(y_i\\mid y_{-i}) = \\log Z(y) - \\log Z(y_{-i})` where
  :math:`Z(y)=\\int\\!\\!\\int p(\\mu)p(\\tau)\\prod_j p(y_j\\mid\\mu,\\tau)\\,d\\mu\\,d\\tau`
  (:func:`log_evidence`; prior normalising constants cancel in the ratio);
* ``engine="mcmc"``: a refit of the same model without the study
  (:func:`vfsynth.fits.batched.run_batched`, all flagged studies in one vectorised program),
  :math:`\\log \\frac1S\\sum_s p(y_i \\mid \\mu^{(s)}, \\tau^{(s)})` over the refit's draws.

Stacking
--------
Model weights maximise the leave-one-study-out log score of the weighted mixture of the
models' predictive distributions (Yao, Vehtari, Simpson & Gelman 2018, *Bayesian Anal*
13:917), via :func:`arviz_stats.compare` (``method="stacking"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from vfsynth.data.effect_table import EffectTable
from vfsynth.fits.batched import marginal_loglik, run_batched
from vfsynth.fits.settings import DEFAULT_SEED, analysis_engine

K_THRESHOLD = 0.7
DEFAULT_MODELS = ("common-effect", "random-effects", "t", "joint")
T_NU = 4.0


# ---------------------------------------------------------------------------------------------
# Exact LOSO by the ratio of marginal likelihoods (random-effects / common-effect)
# ---------------------------------------------------------------------------------------------


def log_evidence(y, se, tau_prior, mu_prior, kind: str = "random-effects") -> float:
    """Log marginal likelihood :math:`\\log Z(y)` of the NNHM (or common-effect model).

    Computed by :func:`vfsynth.fits.exact.nnhm_exact` (bayesmeta's integration: :math:`\\mu`
    analytically given :math:`\\tau`, :math:`\\tau` on a fine log grid); the common-effect
    model is the NNHM with :math:`\\tau` fixed at 0.
    """
    from vfsynth.fits.exact import nnhm_exact
    from vfsynth.models.spec import ModelSpecError, get_spec

    spec = get_spec(kind)
    if not spec.supports("exact"):
        raise ModelSpecError(f"exact evidence needs a model with an exact engine, not {kind!r}")
    if "tau" not in spec.prior_roles:
        tau_prior = 0.0
    return float(nnhm_exact(np.asarray(y, float), np.asarray(se, float), tau_prior, mu_prior).log_marginal_likelihood)


def exact_loso_elpd(y, se, tau_prior, mu_prior, kind: str = "random-effects", studies=None) -> np.ndarray:
    """Exact :math:`\\log p(y_i \\mid y_{-i})` for each study (or the listed indices).

    :math:`\\log p(y_i\\mid y_{-i}) = \\log Z(y) - \\log Z(y_{-i})` (:func:`log_evidence`);
    the priors' normalising constants (and a flat prior's arbitrary constant) cancel.
    """
    y = np.asarray(y, float)
    se = np.asarray(se, float)
    idx = range(len(y)) if studies is None else studies
    full = log_evidence(y, se, tau_prior, mu_prior, kind)
    out = []
    for i in idx:
        keep = np.arange(len(y)) != i
        out.append(full - log_evidence(y[keep], se[keep], tau_prior, mu_prior, kind))
    return np.asarray(out)


# ---------------------------------------------------------------------------------------------
# Pointwise (per-study) log-likelihood from posterior draws
# ---------------------------------------------------------------------------------------------


def study_loglik(posterior, table: EffectTable, kind: str, nu: float | None = None):
    """Per-study marginal log-likelihood ``(chain, draw, study)`` as an ``xarray.DataArray``.

    ``posterior`` is a DataTree/Dataset with ``mu`` (and ``tau``, and optionally ``nu`` for
    the t model) with dims ``(chain, draw)``. See the module docstring for why the
    marginal (study effect integrated out) likelihood is used.
    """
    import xarray as xr

    post = posterior["posterior"] if "posterior" in getattr(posterior, "children", {}) else posterior
    mu = np.asarray(post["mu"].values, float)
    tau = np.asarray(post["tau"].values, float) if "tau" in post else None
    if kind == "t" and "nu" in post and np.ndim(post["nu"].values) == 2:
        nus = np.asarray(post["nu"].values, float)
        ll = np.empty(mu.shape + (table.k,))
        for idx in np.ndindex(mu.shape):
            ll[idx] = marginal_loglik("t", table.estimate, table.se, mu[idx], tau[idx], float(nus[idx]))
    else:
        ll = marginal_loglik(kind, table.estimate, table.se, mu, tau, nu if nu is not None else T_NU)
    return xr.DataArray(
        ll,
        dims=("chain", "draw", "study"),
        coords={"chain": np.arange(mu.shape[0]), "draw": np.arange(mu.shape[1]), "study": list(table.study)},
        name="y",
    )


def loo_tree(loglik, posterior=None) -> Any:
    """A minimal DataTree holding ``log_likelihood/y`` and a ``posterior`` group.

    :func:`arviz_stats.loo` takes the relative efficiency ``r_eff`` (for the Pareto-k
    diagnostics) from the mean ESS of the posterior's variables: pass the fit's posterior
    (``mu``, ``tau``). Without it, the per-draw total log-likelihood stands in for it.
    """
    import xarray as xr

    if posterior is None:
        posterior = xr.Dataset({"log_lik_total": loglik.sum("study")})
    elif hasattr(posterior, "children") and "posterior" in posterior.children:
        posterior = posterior["posterior"].to_dataset()
    return xr.DataTree.from_dict({"log_likelihood": xr.Dataset({"y": loglik}), "posterior": posterior})


# ---------------------------------------------------------------------------------------------
# LOSO: PSIS with exact replacement
# ---------------------------------------------------------------------------------------------


@dataclass
class LosoResult:
    """PSIS-LOSO for one model with exact refits where Pareto k > threshold.

    ``elpd_loo`` is an :class:`arviz_stats.ELPDDataLOO` whose pointwise values already hold
    the exact replacements; ``pointwise`` is a DataFrame with one row per study:
    ``elpd_psis``, ``pareto_k``, ``elpd_exact`` (NaN where not refitted), ``elpd``
    (the value used), ``refit`` (bool).
    """

    model: str
    elpd_loo: Any
    pointwise: pd.DataFrame
    refit_engine: str | None = None
    notes: list = field(default_factory=list)


def loso(
    loglik,
    *,
    model: str,
    posterior=None,
    refit=None,
    k_threshold: float = K_THRESHOLD,
    refit_engine: str | None = None,
) -> LosoResult:
    """PSIS-LOO over studies, with exact refits replacing studies whose Pareto k exceeds ``k_threshold``.

    Parameters
    ----------
    loglik : xarray.DataArray
        ``(chain, draw, study)`` per-study log-likelihood (marginal, see module docstring).
    posterior : DataTree or Dataset, optional
        The fit's posterior, for the relative efficiency of the draws (see :func:`loo_tree`).
    refit : callable, optional
        ``refit(indices) -> array`` of exact :math:`\\log p(y_i\\mid y_{-i})` for the given
        study indices. ``None``: PSIS values are kept and flagged.
    k_threshold : float
        Pareto-k above which the PSIS value is replaced (0.7, Vehtari et al. 2024).

    Notes
    -----
    Replacement mirrors :func:`arviz_stats.reloo`: the refitted study's ``elpd_i`` is the
    exact value, its ``pareto_k`` is set to 0, ``p_loo_i = lpd_i - elpd_i``; totals and the
    standard error :math:`\\sqrt{n\\,\\mathrm{Var}(\\mathrm{elpd}_i)}` are recomputed.
    """
    from copy import deepcopy

    from arviz_stats import loo

    tree = loo_tree(loglik, posterior)
    res = loo(tree, var_name="y", pointwise=True)
    psis = np.asarray(res.elpd_i.values, float)
    kk = np.asarray(res.pareto_k.values, float)
    studies = [str(s) for s in loglik.coords["study"].values]
    exact = np.full(len(studies), np.nan)
    bad = np.flatnonzero(kk > k_threshold)
    notes = []
    out = deepcopy(res)
    if bad.size and refit is not None:
        exact[bad] = refit(bad)
        ll = np.asarray(loglik.values, float).reshape(-1, len(studies))
        top = ll.max(0)
        lpd = top + np.log(np.mean(np.exp(ll - top), axis=0))
        out.elpd_i.values[bad] = exact[bad]
        out.pareto_k.values[bad] = 0.0
        if getattr(out, "p_loo_i", None) is not None:
            out.p_loo_i.values[bad] = lpd[bad] - exact[bad]
        n = len(studies)
        out.elpd = float(np.sum(out.elpd_i.values))
        out.se = float(np.sqrt(n * np.var(out.elpd_i.values, ddof=1)))
        out.p = float(np.sum(lpd - out.elpd_i.values))
        out.warning = bool(np.any(out.pareto_k.values > out.good_k))
    elif bad.size:
        notes.append(f"{model}: Pareto k > {k_threshold} for {', '.join(studies[i] for i in bad)}; no refit engine, PSIS kept")
    used = np.asarray(out.elpd_i.values, float)
    pw = pd.DataFrame(
        {
            "model": model,
            "study": studies,
            "elpd_psis": psis,
            "pareto_k": kk,
            "elpd_exact": exact,
            "elpd": used,
            "refit": np.isfinite(exact),
        }
    )
    return LosoResult(model=model, elpd_loo=out, pointwise=pw, refit_engine=refit_engine if bad.size else None, notes=notes)


# ---------------------------------------------------------------------------------------------
# High level: fit the models and compare them
# ---------------------------------------------------------------------------------------------


def _default_priors(table: EffectTable, tau_prior=None, mu_prior=None):
    """Both priors (the comparison fits models with tau), resolved with the table:
    :func:`vfsynth.models.priors.resolve_priors`."""
    from vfsynth.models import priors as P

    return P.resolve_priors(table, "random-effects", tau_prior, mu_prior)


def resolve_table(data, outcome: str | None = None, timepoint: str = "post") -> EffectTable:
    """An :class:`EffectTable` from a Review (``outcome`` required) or a table passed through."""
    if isinstance(data, EffectTable):
        return data
    if outcome is None:
        raise ValueError("outcome is required when passing a Review")
    return data.effects(outcome, timepoint)


def fit_marginal(
    table: EffectTable,
    kind: str,
    tau_prior,
    mu_prior,
    *,
    nu: float = T_NU,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = DEFAULT_SEED,
):
    """Full-data posterior of a marginal model by the batched NUTS program (batch of one).

    Returns an ArviZ DataTree with ``posterior`` (``mu``, ``tau``) and ``sample_stats``.
    """
    r = run_batched(
        kind,
        table.estimate,
        table.se,
        np.ones((1, table.k)),
        [tau_prior],
        [mu_prior],
        nu=nu if kind == "t" else None,
        draws=draws,
        tune=tune,
        chains=chains,
        seed=seed,
    )
    return r.datatree(0)


def make_refit(table: EffectTable, kind: str, tau_prior, mu_prior, *, engine: str, nu: float = T_NU, draws=1000, tune=1000, chains=4, seed=DEFAULT_SEED):
    """Return ``refit(indices) -> exact elpd_i`` for :func:`loso` (see module docstring)."""
    from vfsynth.models.spec import get_spec

    if engine == "exact" and get_spec(kind).supports("exact"):

        def refit(indices):
            return exact_loso_elpd(table.estimate, table.se, tau_prior, mu_prior, kind, studies=list(indices))

        return refit, "exact"

    def refit_mcmc(indices):
        indices = list(indices)
        w = np.ones((len(indices), table.k))
        for r, i in enumerate(indices):
            w[r, i] = 0.0
        res = run_batched(
            kind,
            table.estimate,
            table.se,
            w,
            [tau_prior] * len(indices),
            [mu_prior] * len(indices),
            nu=nu if kind == "t" else None,
            draws=draws,
            tune=tune,
            chains=chains,
            seed=seed + 1,
        )
        out = []
        for r, i in enumerate(indices):
            ll = marginal_loglik(kind, table.estimate[i : i + 1], table.se[i : i + 1], res.mu[r], res.tau[r], nu)[..., 0]
            ll = ll.ravel()
            top = ll.max()
            out.append(top + np.log(np.mean(np.exp(ll - top))))
        return np.asarray(out)

    return refit_mcmc, "mcmc"


@dataclass
class ComparisonResult:
    """Output of :func:`compare_models`.

    ``table``: one row per model (index = model name) with ``rank``, ``elpd``, ``se``,
    ``p``, ``elpd_diff``, ``dse``, ``weight`` (stacking), ``n_refit`` (studies whose PSIS
    value was replaced by an exact refit), ``max_pareto_k`` (before replacement).
    ``pointwise``: one row per model × study (see :class:`LosoResult`), plus
    ``elpd_exact_check`` (exact LOSO for every study; normal models with the exact engine).
    """

    outcome: str
    timepoint: str
    table: pd.DataFrame
    pointwise: pd.DataFrame
    loso: dict
    notes: list

    def summary_frame(self) -> pd.DataFrame:
        """One row per model: rank, elpd, its SE, p_loo, difference to the best, stacking weight,
        number of exact refits and the largest Pareto k."""
        return self.table.copy()

    def _repr_html_(self) -> str:
        return (f"<p>Model comparison, {self.outcome}/{self.timepoint} (leave one study out)</p>"
                + self.table.to_html(float_format=lambda v: f"{v:.3f}")
                + "".join(f"<p><i>{n}</i></p>" for n in self.notes))

    def to_dict(self) -> dict:
        def clean(df):
            return json_records(df)

        return {
            "outcome": self.outcome,
            "timepoint": self.timepoint,
            "models": clean(self.table.reset_index()),
            "pointwise": clean(self.pointwise),
            "notes": list(self.notes),
        }


def json_records(df: pd.DataFrame) -> list[dict]:
    """DataFrame rows as JSON-safe dicts (:func:`vfsynth.data.jsonable.to_jsonable`)."""
    from vfsynth.data.jsonable import to_jsonable

    return [to_jsonable(rec) for rec in df.to_dict(orient="records")]


def compare_models(
    data,
    outcome: str | None = None,
    timepoint: str = "post",
    *,
    models=DEFAULT_MODELS,
    tau_prior=None,
    mu_prior=None,
    engine: str = "auto",
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = DEFAULT_SEED,
    k_threshold: float = K_THRESHOLD,
    exact_all: bool = True,
    extra: dict | None = None,
    review=None,
    joint_kwargs: dict | None = None,
) -> ComparisonResult:
    """Compare meta-analysis models for one outcome by leave-one-study-out elpd and stacking.

    Parameters
    ----------
    data : Review or EffectTable
    outcome, timepoint : str
        Which analysis (ignored when ``data`` is an EffectTable).
    models : sequence of str
        Any of ``"common-effect"``, ``"random-effects"``, ``"t"`` (Student-t random
        effects, :math:`\\nu=4`, as in :mod:`vfsynth.models.univariate`) and ``"joint"`` (the
        joint sensitivity–attachment model fitted by :func:`vfsynth.fits.joint_runner.fit_joint`
        (cached); each study left out with ALL its rows, its rows of this outcome predicted,
        with the study effects integrated out (:mod:`vfsynth.fits.joint_loo`; exact batched
        refits where Pareto k > ``k_threshold``); included when the outcome is a mediator
        block of the joint model, else noted and skipped).
    joint_kwargs : dict, optional
        Passed to ``fit_joint`` (e.g. ``draws``, ``chains``, ``seed``).
    tau_prior, mu_prior : Prior or spec string, optional
        Defaults: the registry defaults for the outcome's measure.
    engine : {"auto", "exact", "nuts", "batched", "mcmc"}
        How studies with Pareto k > ``k_threshold`` are refitted
        (:func:`vfsynth.fits.settings.analysis_engine`: exact integration where the model has an
        exact engine for ``auto`` / ``exact``, else the batched NUTS program; see module docstring).
    exact_all : bool
        With ``engine="exact"``, use the exact leave-one-study-out value for *every* study of
        the common- and random-effects models (not only those with k > ``k_threshold``); the
        PSIS values stay in ``pointwise`` for comparison. ``False`` reproduces plain
        "PSIS, refit where k > 0.7".
        The full-data posteriors are always NUTS draws (batched BlackJAX program).
    extra : dict, optional
        ``name -> DataArray (chain, draw, study)`` per-study log-likelihoods of further
        fitted models (no refits possible for these; high-k studies are noted).

    Returns
    -------
    ComparisonResult
    """
    from arviz_stats import compare

    from vfsynth.fits.settings import ENGINES
    from vfsynth.models.spec import ModelSpecError, get_spec

    if engine not in (*ENGINES, "mcmc"):
        raise ModelSpecError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    table = resolve_table(data, outcome, timepoint)
    if table.k < 3:
        raise ValueError(f"{table.outcome}/{table.timepoint}: model comparison needs at least 3 studies (k = {table.k})")
    tau_prior, mu_prior = _default_priors(table, tau_prior, mu_prior)
    results: dict[str, LosoResult] = {}
    notes: list[str] = []
    for i, kind in enumerate(models):
        if kind == "joint":
            got = _joint_loso(data if review is None else review, table, notes=notes, joint_kwargs=joint_kwargs,
                              k_threshold=k_threshold)
            if got is not None:
                results["joint"] = got
            continue
        spec = get_spec(kind, **({"nu": T_NU} if kind == "t" else {}))
        if not spec.supports("batched"):
            raise ModelSpecError(f"model comparison refits models through the batched engine; {kind!r} has none")
        dt = fit_marginal(table, kind, tau_prior, mu_prior, draws=draws, tune=tune, chains=chains, seed=seed + 101 * i)
        ll = study_loglik(dt, table, kind, nu=T_NU)
        refit, eng = make_refit(table, kind, tau_prior, mu_prior, engine=analysis_engine(engine, kind), draws=draws, tune=tune, chains=chains, seed=seed + 101 * i)
        # With the exact engine a refit costs milliseconds, so every study gets its exact
        # log p(y_i | y_-i): the Pareto-k estimate is itself noisy and PSIS can be badly off
        # below k = 0.7 (bundled review, common effect: 0.24 at k-hat 0.42). PSIS is still
        # computed and shown beside it (``elpd_psis``, ``pareto_k``).
        exact_here = analysis_engine(engine, kind) == "exact"
        all_exact = exact_all and exact_here
        res = loso(ll, model=kind, posterior=dt, refit=refit, k_threshold=-np.inf if all_exact else k_threshold,
                   refit_engine=eng)
        if all_exact:
            notes.append(f"{kind}: exact leave-one-study-out for every study (exact engine); PSIS shown beside it")
        if exact_here:
            chk = exact_loso_elpd(table.estimate, table.se, tau_prior, mu_prior, kind)
            res.pointwise["elpd_exact_check"] = chk
            err = np.abs(res.pointwise["elpd"].to_numpy() - chk)
            if err.max() > 0.1:
                j = int(np.argmax(err))
                notes.append(
                    f"{kind}: PSIS differs from exact LOSO by {err[j]:.2f} for {table.study[j]} "
                    f"(Pareto k {res.pointwise['pareto_k'].iloc[j]:.2f}); exact total elpd {chk.sum():.3f} "
                    f"vs {res.elpd_loo.elpd:.3f} used"
                )
        results[kind] = res
    for name, ll in (extra or {}).items():
        results[name] = loso(ll, model=name, k_threshold=k_threshold)
    for r in results.values():
        notes.extend(r.notes)
    cmp = compare({n: r.elpd_loo for n, r in results.items()}, method="stacking", round_to="none")
    tab = pd.DataFrame(
        {
            "rank": cmp["rank"].astype(int),
            "elpd": cmp["elpd"].astype(float),
            "se": cmp["se"].astype(float),
            "p": cmp["p"].astype(float),
            "elpd_diff": cmp["elpd_diff"].astype(float),
            "dse": cmp["dse"].astype(float),
            "weight": cmp["weight"].astype(float),
        },
        index=cmp.index,
    )
    tab["n_refit"] = [int(results[n].pointwise["refit"].sum()) for n in tab.index]
    tab["max_pareto_k"] = [float(results[n].pointwise["pareto_k"].max()) for n in tab.index]
    tab.index.name = "model"
    notes.extend(small_difference_notes(tab))
    pw = pd.concat([r.pointwise for r in results.values()], ignore_index=True)
    return ComparisonResult(outcome=table.outcome, timepoint=table.timepoint, table=tab, pointwise=pw, loso=results, notes=notes)


def small_difference_notes(tab: pd.DataFrame) -> list[str]:
    """Warn where the best model's lead is within noise, so its stacking weight is not read as
    evidence.

    A difference in elpd below 4, or below twice its standard error, is small (Sivula,
    Magnusson & Vehtari 2020, arXiv:2008.10296; Vehtari et al. 2017): stacking then splits
    weight between models that predict almost alike, and which one gets it is arbitrary.
    """
    if len(tab) < 2:
        return []
    best = tab.index[0]
    close = [str(m) for m in tab.index[1:]
             if abs(float(tab.loc[m, "elpd_diff"])) < max(4.0, 2.0 * float(tab.loc[m, "dse"]))]
    if not close:
        return []
    return [f"{best} leads {', '.join(close)} by less than 4 elpd (or 2 se of the difference): the models "
            f"predict almost alike, and the stacking weights among them are not evidence for one over another"]


def _joint_loso(data, table: EffectTable, *, notes: list, joint_kwargs: dict | None = None, k_threshold: float = K_THRESHOLD):
    """The joint model's leave-one-study-out (all of a study's rows left out, its rows of this
    outcome predicted; :func:`vfsynth.fits.joint_loo.joint_loso_result`), or ``None`` (with a note)."""
    if isinstance(data, EffectTable):
        notes.append("joint model: needs a Review (several outcomes), not a single table; skipped")
        return None
    from vfsynth.models import joint as J

    if table.outcome not in J.DEFAULT_MEDIATORS:
        notes.append(f"joint model: {table.outcome} is not a mediator block of the joint model; skipped")
        return None
    if table.timepoint != J.POST:
        notes.append("joint model: compared at the post-intervention time point only; skipped")
        return None
    try:
        from vfsynth.fits.joint_loo import joint_loso_result
        from vfsynth.fits.joint_runner import fit_joint

        res = fit_joint(data, **(joint_kwargs or {}))
        return joint_loso_result(res, table, k_threshold=k_threshold)
    except Exception as exc:  # noqa: BLE001 - the joint model may not apply to this review
        notes.append(f"joint model: not compared ({type(exc).__name__}: {exc})")
        return None
