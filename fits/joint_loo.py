"""Leave-one-study-out for the joint model: PSIS on the study's full marginal likelihood, exact batched refits.

Leaving a study out removes *every* row of it (all outcomes, all time points). With the
hyper-parameters :math:`h` of the joint model and the study's marginal likelihood
:math:`p(\\mathbf y_i \\mid h)` (study effects integrated out, :mod:`vfsynth.models.joint_marginal`),
the leave-one-study-out predictive density of a *target* subset :math:`T` of the study's rows is

.. math::

    p(\\mathbf y_{iT} \\mid \\mathbf y_{-i}) = \\frac{E_{h\\mid \\mathbf y}[\\,p(\\mathbf y_{iT}\\mid h)
    / p(\\mathbf y_i \\mid h)\\,]}{E_{h\\mid \\mathbf y}[\\,1 / p(\\mathbf y_i\\mid h)\\,]},

estimated by Pareto-smoothed importance sampling (Vehtari, Simpson, Gelman, Yao & Gabry 2024,
*JMLR* 25(72)) with raw log ratios :math:`-\\log p(\\mathbf y_i\\mid h^{(s)})`: the ratios use the
study's **full** joint likelihood even when only some of its rows are predicted. The Pareto
:math:`\\hat k` of those ratios is reported for every study; above 0.7 (the univariate models'
rule) the value is replaced by an exact refit without the study: one BlackJAX NUTS program over
:math:`h` (the prior density and the derived :math:`(\\mu, \\tau, R)` are the joint spec's own PyMC
graph compiled to JAX; the likelihood is the marginal above with a 0/1 weight per study), vmapped
over the left-out studies, and :math:`\\log \\frac1S\\sum_s p(\\mathbf y_{iT}\\mid h^{(s)}_{-i})`.

Comparable with the univariate models
-------------------------------------
:func:`vfsynth.fits.compare.compare_models` sets :math:`T` = the study's post-intervention rows
of the compared outcome: the same rows the univariate models predict, each model given all other
studies (the joint model also using the other studies' other outcomes), so the elpd values sum
over the same data and are comparable. ``target=None`` predicts all of the study's rows.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from vfsynth.fits.settings import DEFAULT_SEED
from vfsynth.models import joint as J
from vfsynth.models import joint_marginal as JM

K_THRESHOLD = 0.7


def subset(jd: J.JointData, normal: np.ndarray, count: np.ndarray) -> J.JointData:
    """``jd`` with only the normal rows ``normal`` and count rows ``count`` (boolean masks); studies kept."""
    nf = ("y", "se", "factor", "row_study", "row_slot")
    nt = ("row_label", "row_outcome", "row_timepoint", "row_measure")
    cf = ("events_t", "n_t", "events_c", "n_c", "crow_study", "crow_slot")
    ct = ("crow_label", "crow_outcome", "crow_timepoint")
    kw: dict[str, Any] = {f: np.asarray(getattr(jd, f))[normal] for f in nf}
    kw |= {f: tuple(np.asarray(getattr(jd, f), dtype=object)[normal]) for f in nt}
    kw |= {f: np.asarray(getattr(jd, f))[count] for f in cf}
    kw |= {f: tuple(np.asarray(getattr(jd, f), dtype=object)[count]) for f in ct}
    return dataclasses.replace(jd, **kw)


def target_rows(jd: J.JointData, outcome: str | None, timepoint: str = J.POST) -> J.JointData:
    """The rows predicted: those of ``outcome`` at ``timepoint`` (``None``: every row)."""
    if outcome is None:
        return jd
    normal = (np.asarray(jd.row_outcome, dtype=object) == outcome) & (np.asarray(jd.row_timepoint, dtype=object) == timepoint)
    count = (np.asarray(jd.crow_outcome, dtype=object) == outcome) & (np.asarray(jd.crow_timepoint, dtype=object) == timepoint)
    return subset(jd, normal, count)


def posterior_params(dt, jd: J.JointData, options: J.JointOptions, group: str = "posterior") -> dict[str, np.ndarray]:
    """Hyper-parameter draws ``(chain, draw, ...)`` of a joint fit, as :func:`~vfsynth.models.joint_marginal.study_loglik` takes them."""
    post = dt[group]
    K = len(jd.constructs)
    out = {"mu": np.asarray(post["mu"].values, float), "tau": np.asarray(post["tau"].values, float)}
    pairs = np.asarray(post["corr_pairs"].values, float)
    out["corr"] = JM.corr_from_pairs(np, pairs, K)
    if jd.cells:
        out["d_mean"] = np.asarray(post["d_mean"].values, float)
        out["tau_delta"] = np.asarray(post["tau_delta"].values, float)
    if "rho_w" in post:
        out["rho_w"] = np.asarray(post["rho_w"].values, float)
    else:
        out["rho_w"] = np.full(out["mu"].shape[:-1], float(options.rho_w))
    return out


def _logmeanexp(x: np.ndarray, axis: int = 0) -> np.ndarray:
    top = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.mean(np.exp(x - top), axis=axis))


def _r_eff(x: np.ndarray) -> np.ndarray:
    """Relative efficiency ESS/S per column of ``x`` (chain, draw, n), by ArviZ's ESS."""
    from arviz_stats.base.array import array_stats

    S = x.shape[0] * x.shape[1]
    ess = np.asarray(array_stats.ess(np.moveaxis(x, -1, 0), chain_axis=-2, draw_axis=-1), float)
    return np.clip(ess / S, 1e-3, 1.0)


def psis_loso(ll_full: np.ndarray, ll_target: np.ndarray) -> dict[str, np.ndarray]:
    """PSIS leave-one-study-out of the target rows with the full-study ratios (module docstring).

    Parameters
    ----------
    ll_full, ll_target : array (chain, draw, n)
        :math:`\\log p(\\mathbf y_i\\mid h^{(s)})` and :math:`\\log p(\\mathbf y_{iT}\\mid h^{(s)})`.

    Returns
    -------
    dict
        ``elpd`` (n), ``pareto_k`` (n), ``mcse`` (n; delta-method Monte-Carlo SE of the log
        estimate, :math:`\\sqrt{\\sum_s w_s^2 (p_s/\\bar p - 1)^2 / r_{eff}}`), ``lpd`` (n; the
        in-sample :math:`\\log E[p(\\mathbf y_{iT}\\mid h)]`).
    """
    from arviz_stats.base.array import array_stats

    n = ll_full.shape[-1]
    flat_f = ll_full.reshape(-1, n)
    flat_t = ll_target.reshape(-1, n)
    r_eff = _r_eff(-ll_full)
    lw = np.empty_like(flat_f)
    k = np.empty(n)
    for i in range(n):
        lwi, ki = array_stats.psislw(flat_f[:, i], r_eff=float(r_eff[i]))  # takes log-likelihoods: w ~ 1/p
        lw[:, i] = np.asarray(lwi) - _logmeanexp(np.asarray(lwi)) - np.log(len(lwi))
        k[i] = float(ki)
    elpd = _logmeanexp(lw + flat_t, axis=0) + np.log(flat_f.shape[0])
    w = np.exp(lw)
    ratio = np.exp(flat_t - elpd[None, :])
    mcse = np.sqrt(np.sum(w**2 * (ratio - 1.0) ** 2, axis=0) / r_eff)
    return {"elpd": elpd, "pareto_k": k, "mcse": mcse, "lpd": _logmeanexp(flat_t, axis=0)}


def mean_loglik_mcse(ll: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log mean exp`` of ``ll`` (chain, draw, n) per column and its delta-method MCSE (ESS-based)."""
    n = ll.shape[-1]
    flat = ll.reshape(-1, n)
    est = _logmeanexp(flat, axis=0)
    p = np.exp(flat - est[None, :])
    r_eff = _r_eff(np.exp(ll - est))
    return est, np.std(p, axis=0) / np.sqrt(flat.shape[0] * r_eff)


# ---------------------------------------------------------------------------------------------
# Exact refits: one batched NUTS program over the hyper-parameters, vmapped over left-out studies
# ---------------------------------------------------------------------------------------------


def _hyper_rv_names(model, jd: J.JointData) -> list[str]:
    names = [f"mu_{c}" for c in jd.constructs] + [f"tau_{c}" for c in jd.constructs] + ["corr_chol"]
    names += [n for n in ("d_mean", "tau_delta", "rho_w") if n in model.named_vars]
    return names


def jax_hyper_density(jd: J.JointData, tau_priors, mu_priors, options: J.JointOptions):
    """The joint spec's prior of the hyper-parameters and their derived ``(mu, tau, corr, ...)`` as JAX functions.

    Both come from :func:`vfsynth.models.joint.build_generative` (the PyMC graph the package fits),
    compiled with :func:`pymc.sampling.jax.get_jaxified_graph` over the hyper-parameters' unconstrained
    value variables (Jacobians and potentials included); the study effects, baselines and observations are
    not in it.

    Returns
    -------
    (value_names, logprior(*values) -> [lp], derived(*values) -> [mu, tau, corr_pairs, (d_mean, tau_delta), (rho_w)],
    initial values)
    """
    from pymc.sampling.jax import get_jaxified_graph

    model = J.build_generative(jd, tau_priors, mu_priors, options)
    rvs = [model[n] for n in _hyper_rv_names(model, jd)]
    vvs = [model.rvs_to_values[rv] for rv in rvs]
    # potentials too: with informative_b the prior of b carries an extra factor
    lp = model.logp(vars=rvs + list(model.potentials), jacobian=True)
    lp_fn = get_jaxified_graph(inputs=vvs, outputs=[lp])
    outs = [model["mu"], model["tau"], model["corr_pairs"]]
    outs += [model[n] for n in ("d_mean", "tau_delta", "rho_w") if n in model.named_vars]
    der_fn = get_jaxified_graph(inputs=vvs, outputs=model.replace_rvs_by_values(outs))
    ip = model.initial_point()
    init = [np.asarray(ip[v.name], dtype=float) for v in vvs]
    return [v.name for v in vvs], lp_fn, der_fn, init


def refit_loso(
    jd: J.JointData,
    weights: np.ndarray,
    *,
    tau_priors=None,
    mu_priors=None,
    options: J.JointOptions | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = DEFAULT_SEED,
    target_accept: float = 0.9,
) -> dict[str, Any]:
    """Posterior draws of the hyper-parameters for every weight row (0 = study left out), in one program.

    Returns ``{"params": dict of arrays (B, chains, draws, ...), "divergent": (B, chains, draws)}``
    with ``params`` in the layout of :func:`posterior_params`.
    """
    from vfsynth.fits import jaxenv

    jaxenv.configure()
    import jax
    import jax.numpy as jnp

    from vfsynth.fits.engines.blackjax_chain import nuts_chain

    jax.config.update("jax_enable_x64", True)
    options = options or J.JointOptions()
    dtau, dmu = J.default_priors(jd.constructs)
    tau_priors = tau_priors or dtau
    mu_priors = mu_priors or dmu
    lay = JM.layout(jd, options.alpha_sd)
    names, lp_fn, der_fn, init = jax_hyper_density(jd, tau_priors, mu_priors, options)
    K = len(jd.constructs)
    has_cells = bool(jd.cells)
    has_rho = not isinstance(options.rho_w, int | float)

    def params_of(pos):
        d = der_fn(*pos)
        p = {"mu": d[0], "tau": d[1], "corr": JM.corr_from_pairs(jnp, d[2], K)}
        j = 3
        if has_cells:
            p["d_mean"], p["tau_delta"] = d[3], d[4]
            j = 5
        p["rho_w"] = d[j] if has_rho else float(options.rho_w)
        return p

    def one_chain(key, pos0, w):
        def ld(pos):
            return lp_fn(*pos)[0] + jnp.sum(w * JM.study_loglik(jnp, lay, params_of(pos)))

        pos, div, _, _ = nuts_chain(ld, key, pos0, tune, draws, target_accept)
        der = jax.vmap(lambda *p: der_fn(*p))(*pos)
        return der, div

    program = jax.jit(jax.vmap(jax.vmap(one_chain, in_axes=(0, 0, None)), in_axes=(0, 0, 0)))
    weights = np.atleast_2d(np.asarray(weights, float))
    B = weights.shape[0]
    rng = np.random.default_rng(seed)
    inits = [jnp.asarray(np.broadcast_to(v, (B, chains) + v.shape) + rng.uniform(-0.5, 0.5, (B, chains) + v.shape))
             for v in init]
    keys = jax.random.split(jax.random.PRNGKey(seed % (2**31)), B * chains).reshape(B, chains, -1)
    der, div = program(keys, inits, jnp.asarray(weights))
    der = [np.asarray(x, float) for x in der]
    out = {"mu": der[0], "tau": der[1], "corr": JM.corr_from_pairs(np, der[2], K)}
    j = 3
    if has_cells:
        out["d_mean"], out["tau_delta"] = der[3], der[4]
        j = 5
    out["rho_w"] = der[j] if has_rho else np.full(der[0].shape[:-1], float(options.rho_w))
    return {"params": out, "divergent": np.asarray(div, bool), "names": names}


def exact_loso(jd: J.JointData, target: J.JointData, studies, **refit_kwargs) -> dict[str, np.ndarray]:
    """Exact :math:`\\log p(\\mathbf y_{iT}\\mid\\mathbf y_{-i})` for the study indices ``studies`` by batched refits.

    Returns ``elpd``, ``mcse`` and ``divergences`` (per refit) for those studies.
    """
    studies = np.asarray(studies, int)
    options = refit_kwargs.get("options") or J.JointOptions()
    w = np.ones((len(studies), len(jd.studies)))
    w[np.arange(len(studies)), studies] = 0.0
    fit = refit_loso(jd, w, **refit_kwargs)
    lay_t = JM.layout(target, options.alpha_sd)
    elpd = np.empty(len(studies))
    mcse = np.empty(len(studies))
    for b, i in enumerate(studies):
        p = {k: v[b] for k, v in fit["params"].items()}
        ll = JM.study_loglik(np, lay_t, p)[..., i : i + 1]
        e, m = mean_loglik_mcse(ll)
        elpd[b], mcse[b] = e[0], m[0]
    return {"elpd": elpd, "mcse": mcse, "divergences": fit["divergent"].sum(axis=(1, 2))}


def joint_loso_table(
    dt,
    jd: J.JointData,
    options: J.JointOptions,
    *,
    outcome: str | None = None,
    timepoint: str = J.POST,
    refit: bool = True,
    k_threshold: float = K_THRESHOLD,
    refit_kwargs: dict | None = None,
):
    """Leave-one-study-out of the joint fit ``dt``: one row per study with target rows.

    Columns: ``study``, ``rows_left_out`` (all rows of the study), ``rows_predicted``,
    ``elpd_psis``, ``mcse_psis``, ``pareto_k``, ``elpd_exact`` (NaN unless refitted), ``elpd``
    (used), ``refit``, ``lpd`` (in-sample).
    """
    import pandas as pd

    tgt = target_rows(jd, outcome, timepoint)
    par = posterior_params(dt, jd, options)
    lay_f = JM.layout(jd, options.alpha_sd)
    lay_t = JM.layout(tgt, options.alpha_sd)
    ll_f = JM.study_loglik(np, lay_f, par)
    ll_t = JM.study_loglik(np, lay_t, par)
    has_t = lay_t.valid.any(axis=1)
    idx = np.flatnonzero(has_t)
    ps = psis_loso(ll_f[..., idx], ll_t[..., idx])
    exact = np.full(len(idx), np.nan)
    bad = np.flatnonzero(ps["pareto_k"] > k_threshold)
    if refit and bad.size:
        ex = exact_loso(jd, tgt, idx[bad], options=options, **(refit_kwargs or {}))
        exact[bad] = ex["elpd"]
    used = np.where(np.isfinite(exact), exact, ps["elpd"])
    n_rows = lay_f.valid.sum(axis=1)
    return pd.DataFrame({
        "study": [jd.studies[i] for i in idx], "rows_left_out": n_rows[idx], "rows_predicted": lay_t.valid.sum(axis=1)[idx],
        "elpd_psis": ps["elpd"], "mcse_psis": ps["mcse"], "pareto_k": ps["pareto_k"], "elpd_exact": exact,
        "elpd": used, "refit": np.isfinite(exact), "lpd": ps["lpd"],
    })


def joint_loso_result(res, table, *, k_threshold: float = K_THRESHOLD, refit: bool = True, refit_kwargs=None):
    """The joint model's :class:`vfsynth.fits.compare.LosoResult` for the univariate comparison of ``table``.

    Every study of ``table`` is left out with *all* its rows; the predicted rows are the study's rows of
    ``table.outcome`` at ``table.timepoint`` (the rows the univariate models predict), so the elpd sums
    over the same data as theirs. Studies with Pareto k above ``k_threshold`` get exact batched refits.
    """
    import xarray as xr

    from vfsynth.fits.compare import LosoResult, loso

    jd = res.data
    refit_kwargs = {"tau_priors": res.tau_priors or None, "mu_priors": res.mu_priors or None, **(refit_kwargs or {})}
    tab = joint_loso_table(res.dt, jd, res.options, outcome=table.outcome, timepoint=table.timepoint, refit=refit,
                           k_threshold=k_threshold, refit_kwargs=refit_kwargs)
    names = [str(s) for s in tab["study"]]
    missing = [s for s in table.study if str(s) not in names]
    if missing:
        raise ValueError(f"joint fit has no {table.outcome}/{table.timepoint} row for {', '.join(map(str, missing))}")
    tab = tab.set_index(tab["study"].astype(str)).loc[[str(s) for s in table.study]].reset_index(drop=True)
    # a template ELPD object over the same studies (arviz compare needs one); its values are replaced
    par = posterior_params(res.dt, jd, res.options)
    tgt = target_rows(jd, table.outcome, table.timepoint)
    ll_t = JM.study_loglik(np, JM.layout(tgt, res.options.alpha_sd), par)
    col = [list(map(str, jd.studies)).index(str(s)) for s in table.study]
    ll = xr.DataArray(ll_t[..., col], dims=("chain", "draw", "study"),
                      coords={"study": [str(s) for s in table.study]}, name="y")
    base = loso(ll, model="joint", k_threshold=np.inf)
    out = base.elpd_loo
    out.elpd_i.values[:] = tab["elpd"].to_numpy()
    out.pareto_k.values[:] = tab["pareto_k"].to_numpy()
    if getattr(out, "p_loo_i", None) is not None:
        out.p_loo_i.values[:] = tab["lpd"].to_numpy() - tab["elpd"].to_numpy()
    n = len(tab)
    out.elpd = float(tab["elpd"].sum())
    out.se = float(np.sqrt(n * np.var(tab["elpd"].to_numpy(), ddof=1)))
    out.p = float(np.sum(tab["lpd"] - tab["elpd"]))
    out.warning = bool(np.any(tab["pareto_k"].to_numpy()[~tab["refit"].to_numpy()] > k_threshold))
    pw = tab.assign(model="joint")[["model", "study", "elpd_psis", "pareto_k", "elpd_exact", "elpd", "refit",
                                   "rows_left_out", "rows_predicted", "mcse_psis"]]
    high = tab.loc[(tab["pareto_k"] > k_threshold) & ~tab["refit"], "study"].tolist()
    notes = [f"joint: each study left out with all its rows ({int(tab['rows_left_out'].sum())} rows in all); "
             f"predicted: its {table.outcome}/{table.timepoint} rows, as for the univariate models"]
    if high:
        notes.append(f"joint: Pareto k > {k_threshold} for {', '.join(high)}; not refitted, PSIS kept")
    return LosoResult(model="joint", elpd_loo=out, pointwise=pw, refit_engine="batched" if tab["refit"].any() else None,
                      notes=notes)


def loo_pit_marginal(dt, jd: J.JointData, options: J.JointOptions, k_threshold: float = K_THRESHOLD):
    """LOO-PIT of every normal row with the study effects integrated out, and its Pareto k.

    For row :math:`r` of study :math:`i` the leave-one-row-out predictive given :math:`h` is the
    conditional normal of :math:`y_r` given the study's other rows in the study's marginal
    multivariate normal (precision form: mean :math:`y_r - [Q e]_r / Q_{rr}`, variance
    :math:`1/Q_{rr}`, :math:`Q = K_i^{-1}`, Bürkner, Gabry & Vehtari 2021, *Comput Stat* 36:1243);
    count rows of the same study enter through their Gaussian pseudo rows (Woolf), an approximation
    used only here. :math:`\\mathrm{PIT}_r = \\sum_s \\tilde w_s \\Phi((y_r - m_{rs})/s_{rs})` with PSIS weights
    :math:`\\tilde w_s` from the ratios :math:`1/p(y_r \\mid \\cdot, h^{(s)})`; ``pareto_k`` is their
    :math:`\\hat k` and ``reliable`` is :math:`\\hat k \\le` ``k_threshold`` (0.7, as for the univariate models).
    """
    import pandas as pd
    from arviz_stats.base.array import array_stats
    from scipy.special import ndtr

    cols = ["row", "outcome", "timepoint", "observed", "loo_pit", "pareto_k", "reliable"]
    if jd.n_rows == 0:
        return pd.DataFrame(columns=cols)
    lay = JM.layout(jd, options.alpha_sd)
    par = posterior_params(dt, jd, options)
    _, _, Kmat, resid = JM.study_moments(np, lay, par)
    Q = np.linalg.inv(Kmat)
    S = int(np.prod(resid.shape[:-2]))
    qe = np.einsum("...ab,...b->...a", Q, resid)
    qdiag = np.diagonal(Q, axis1=-2, axis2=-1)
    csd = 1.0 / np.sqrt(qdiag)
    z = qe * csd                         # (y_r - cond. mean) / cond. sd = [Q e]_r / sqrt(Q_rr)
    ll = -0.5 * z**2 - np.log(csd) - 0.5 * np.log(2 * np.pi)
    pit = np.empty(jd.n_rows)
    kk = np.empty(jd.n_rows)
    r_eff = _r_eff(ll.reshape(ll.shape[0], ll.shape[1], -1)) if ll.ndim == 4 else np.ones(ll.shape[-2] * ll.shape[-1])
    r_eff = r_eff.reshape(ll.shape[-2], ll.shape[-1])
    for i, rows in enumerate(lay.normal_rows):
        for j, r in enumerate(rows):
            x = ll[..., i, j].reshape(S)
            lw, k = array_stats.psislw(x, r_eff=float(r_eff[i, j]))  # takes log-likelihoods: w ~ 1/p
            lw = np.asarray(lw) - _logmeanexp(np.asarray(lw)) - np.log(S)
            pit[r] = float(np.sum(np.exp(lw) * ndtr(z[..., i, j].reshape(S))))
            kk[r] = float(k)
    return pd.DataFrame({"row": list(jd.row_label), "outcome": list(jd.row_outcome), "timepoint": list(jd.row_timepoint),
                         "observed": jd.y, "loo_pit": np.clip(pit, 0.0, 1.0), "pareto_k": kk,
                         "reliable": kk <= k_threshold})
