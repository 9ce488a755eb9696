"""Vectorised refits: many small meta-analysis posteriors in one compiled JAX program.

Leave-one-study-out (LOSO) influence, exact LOO refits and prior-sensitivity grids need
the *same* model refitted to many variants of one data set. Compiling one PyMC model per
refit costs seconds of compile time each; here every variant is a row of a batch and one
``jax.vmap``-ed BlackJAX NUTS program (window adaptation + sampling, every chain of every
variant) is compiled once and run once.

Models (all with the study effects integrated out, so the posterior is low-dimensional and
free of the funnel geometry of the hierarchical form):

* ``"random-effects"`` (normal-normal hierarchical model, NNHM):
  :math:`y_i \\mid \\mu,\\tau \\sim N(\\mu, \\sqrt{\\tau^2 + s_i^2})`.
* ``"common-effect"``: :math:`y_i \\mid \\mu \\sim N(\\mu, s_i)`.
* ``"t"``: Student-t random effects :math:`\\theta_i \\sim t_\\nu(\\mu, \\tau)`,
  :math:`y_i \\mid \\theta_i \\sim N(\\theta_i, s_i)`, with :math:`\\theta_i` integrated out by
  the trapezoidal rule in log-lambda over the normal scale mixture
  :math:`t_\\nu(\\mu,\\tau) = \\int N(\\mu, \\tau/\\sqrt{\\lambda})\\,
  \\mathrm{Gamma}(\\lambda \\mid \\nu/2, \\nu/2)\\, d\\lambda`, i.e.
  :math:`p(y_i\\mid\\mu,\\tau) = \\int N(y_i \\mid \\mu, \\sqrt{\\tau^2/\\lambda + s_i^2})
  \\,\\mathrm{Gamma}(d\\lambda)` (:func:`t_marginal_loglik`).

A study is left out by a 0/1 weight on its log-likelihood term (all variants keep the same
array shapes, which is what lets them share one program). Priors from the registry
(:mod:`vfsynth.models.priors`) are brought into JAX by tabulating ``Prior.logpdf`` on a dense
grid of :math:`u=\\log\\tau` (Jacobian :math:`+u` included) and of :math:`\\mu`, with linear
interpolation and linear extrapolation beyond the grid; this works for every prior family in
the registry (half-normal, half-Cauchy, log-normal (Turner), log-t (Rhodes), inverse-gamma
(Bartoš), user priors) without a second implementation of each density.

Sampler: BlackJAX NUTS (Hoffman & Gelman 2014) with Stan-style window adaptation of step
size and diagonal mass matrix, each chain adapted separately.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from vfsynth.fits.settings import DEFAULT_SEED

# Grid for tabulated tau priors, on u = log(tau).
U_LO, U_HI, U_N = -14.0, 9.0, 4601
MU_N = 4001
#: Variants vectorised together on a CPU (measured in tests/bench_batched.py).
CPU_LANES = 1


def _configure_jax() -> None:
    try:
        from vfsynth.fits.jaxenv import configure
    except ModuleNotFoundError:  # pragma: no cover - engine helper's module not present yet
        return
    configure()


# ---------------------------------------------------------------------------------------------
# Marginal (theta-integrated) study log-likelihoods: the model specs' own, evaluated by NumPy
# ---------------------------------------------------------------------------------------------


def _spec(kind: str, nu: float | None = None):
    from vfsynth.models.spec import get_spec

    if kind not in ("random-effects", "common-effect", "t"):
        raise ValueError(f"no marginal likelihood for model kind {kind!r}")
    if kind == "t":
        if nu is None:
            raise ValueError("the t model needs nu")
        return get_spec("t", nu=float(nu))
    return get_spec(kind)


def marginal_loglik(kind: str, y, se, mu, tau=None, nu: float | None = None) -> np.ndarray:
    """Per-study marginal log-likelihood :math:`\\log p(y_i \\mid \\mu, \\tau)`, shape ``mu.shape + (k,)``.

    The model spec's :meth:`~vfsynth.models.spec.ModelSpec.marginal_loglik` (one definition for
    NumPy and JAX): ``"random-effects"`` :math:`N(y_i\\mid\\mu,\\sqrt{\\tau^2+s_i^2})`,
    ``"common-effect"`` :math:`N(y_i\\mid\\mu,s_i)`, ``"t"`` the scale-mixture quadrature.
    """
    from vfsynth.models.spec import array_ops

    spec = _spec(kind, nu)
    params = {"mu": np.asarray(mu, dtype=float)[..., None]}
    if kind != "common-effect":
        params["tau"] = np.asarray(tau, dtype=float)[..., None]
    return np.asarray(spec.marginal_loglik(array_ops("numpy"), np.asarray(y, float), np.asarray(se, float), params))


def t_marginal_loglik(y, se, mu, tau, nu: float) -> np.ndarray:
    """:math:`\\log \\int N(y\\mid\\theta,s)\\, t_\\nu(\\theta\\mid\\mu,\\tau)\\,d\\theta` (see :func:`marginal_loglik`)."""
    return marginal_loglik("t", y, se, mu, tau, nu)


# ---------------------------------------------------------------------------------------------
# Priors -> tables
# ---------------------------------------------------------------------------------------------


def tabulate_tau_prior(prior) -> np.ndarray:
    """``log p(u)`` on the ``U`` grid, :math:`u=\\log\\tau`, including the Jacobian :math:`+u`."""
    u = np.linspace(U_LO, U_HI, U_N)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.asarray(prior.logpdf(np.exp(u)), dtype=float) + u
    # Outside the support: a steep wall rather than -inf so that gradients stay finite.
    return np.where(np.isfinite(lp), lp, -1e6)


def mu_grid_limits(y, se) -> tuple[float, float]:
    """Range for tabulating a mu prior: wide enough for any posterior of the data set."""
    y = np.asarray(y, float)
    se = np.asarray(se, float)
    half = max(50.0, 20.0 * (np.max(np.abs(y)) + np.max(se)))
    return -half, half


def tabulate_mu_prior(prior, lo: float, hi: float) -> np.ndarray:
    """``log p(mu)`` on ``linspace(lo, hi, MU_N)``; ``prior=None`` means a flat prior."""
    if prior is None:
        return np.zeros(MU_N)
    m = np.linspace(lo, hi, MU_N)
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.asarray(prior.logpdf(m), dtype=float)
    return np.where(np.isfinite(lp), lp, -1e6)


# ---------------------------------------------------------------------------------------------
# Batched NUTS
# ---------------------------------------------------------------------------------------------


@dataclass
class BatchResult:
    """Draws from every variant of a batched fit.

    ``mu``, ``tau`` have shape ``(batch, chains, draws)`` (``tau`` is all zeros for the
    common-effect model). ``diverging`` likewise. ``labels`` names each batch row.
    """

    kind: str
    mu: np.ndarray
    tau: np.ndarray
    diverging: np.ndarray
    labels: list = field(default_factory=list)
    nu: float | None = None
    seconds: float = float("nan")

    def datatree(self, b: int):
        """Posterior of batch row ``b`` as an ArviZ DataTree (groups posterior, sample_stats)."""
        from arviz_base import from_dict

        post = {"mu": self.mu[b]}
        if self.kind != "common-effect":
            post["tau"] = self.tau[b]
        return from_dict({"posterior": post, "sample_stats": {"diverging": self.diverging[b]}})


def _interp(x, x0, dx, fp):
    """Linear interpolation on a uniform grid, with linear extrapolation past both ends."""
    import jax.numpy as jnp

    g = fp.shape[-1]
    t = (x - x0) / dx
    i = jnp.clip(jnp.floor(t), 0, g - 2).astype(jnp.int32)
    frac = t - i
    return fp[i] + frac * (fp[i + 1] - fp[i])


def _make_logdensity(kind: str, nu: float | None):
    """Log posterior density on (mu[, log tau]): tabulated priors + the spec's marginal likelihood."""
    import jax.numpy as jnp

    from vfsynth.models.spec import array_ops

    du = (U_HI - U_LO) / (U_N - 1)
    spec = _spec(kind, nu)
    ops = array_ops("jax")

    def logdensity(params, data):
        y, se, w, tau_tab, mu_tab, mu_lo, dmu = data
        mu = params[0]
        lp = _interp(mu, mu_lo, dmu, mu_tab)
        theta = {"mu": mu}
        if kind != "common-effect":
            u = params[1]
            theta["tau"] = jnp.exp(u)
            lp = lp + _interp(u, U_LO, du, tau_tab)
        return lp + jnp.sum(w * spec.marginal_loglik(ops, y, se, theta))

    return logdensity


@functools.lru_cache(maxsize=32)
def _program(kind: str, nu: float | None, draws: int, tune: int, target_accept: float, lanes: int | None):
    """The compiled batched sampler for one model and run length (cached: one trace per shape).

    ``program(keys (B, C), init (B, C, dim), data) -> (positions (B, C, draws, dim),
    divergent (B, C, draws))``: for each variant and chain, Stan-style window adaptation
    (``tune`` steps) then ``draws`` NUTS transitions. The chains of a variant always run
    under ``jax.vmap``. Variants run under ``jax.vmap`` too when ``lanes`` is None (all in
    lock-step: best on a GPU); otherwise under ``jax.lax.map`` with ``batch_size=lanes``
    (``lanes`` variants vectorised at a time, the groups in sequence inside the same
    program). Vectorised NUTS advances every lane at the pace of the deepest trajectory in
    the batch, so on a CPU a small ``lanes`` wastes less work (see tests/bench_batched.py).
    """
    import jax

    from vfsynth.fits.engines.blackjax_chain import nuts_chain

    logdensity = _make_logdensity(kind, nu)

    def one_chain(key, pos, data):
        def ld(p):
            return logdensity(p, data)

        pos_draws, div, _, _ = nuts_chain(ld, key, pos, tune, draws, target_accept)
        return pos_draws, div

    def one_variant(keys, inits, data):
        return jax.vmap(one_chain, in_axes=(0, 0, None))(keys, inits, data)

    if lanes is None:
        return jax.jit(jax.vmap(one_variant))

    def mapped(keys, inits, data):
        return jax.lax.map(lambda a: one_variant(*a), (keys, inits, data), batch_size=lanes)

    return jax.jit(mapped)


def run_batched(
    kind: str,
    y,
    se,
    weights,
    tau_priors,
    mu_priors,
    *,
    nu: float | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int = DEFAULT_SEED,
    target_accept: float = 0.8,
    labels=None,
    lanes: int | str | None = "auto",
) -> BatchResult:
    """Fit ``B`` variants of one marginal meta-analysis model in one compiled program.

    Parameters
    ----------
    kind : {"random-effects", "common-effect", "t"}
    y, se : array, shape (k,) or (B, k)
        Study estimates and standard errors (shared by all variants, or one row per variant).
    weights : array, shape (B, k)
        Likelihood weight per study and variant: 1 = in, 0 = left out.
    tau_priors, mu_priors : sequence of length B
        Registry ``Prior`` objects (``mu_priors`` entries may be ``None`` for a flat prior;
        ``tau_priors`` is ignored for the common-effect model).
    nu : float, optional
        Degrees of freedom of the t model.
    draws, tune, chains, seed, target_accept
        Per variant. One ``seed`` reproduces the whole batch.
    lanes : int, None or "auto"
        Variants vectorised together (see :func:`_program`): ``None`` = all (``jax.vmap``),
        an integer = that many at a time (``jax.lax.map(batch_size=lanes)``), ``"auto"`` =
        all on an accelerator, :data:`CPU_LANES` on a CPU. The same seed and ``lanes``
        reproduce the draws exactly; different ``lanes`` can change them in the last bits
        (vectorised floating-point arithmetic), and so, through NUTS, change the chains.

    Returns
    -------
    BatchResult
    """
    import time

    _configure_jax()
    import jax
    import jax.numpy as jnp

    if kind not in ("random-effects", "common-effect", "t"):
        raise ValueError(f"batched refits support random-effects, common-effect and t, not {kind!r}")
    if kind == "t" and nu is None:
        raise ValueError("the t model needs nu")
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    bsz, k = weights.shape
    y = np.broadcast_to(np.asarray(y, float), (bsz, k))
    se = np.broadcast_to(np.asarray(se, float), (bsz, k))
    if len(mu_priors) != bsz or (kind != "common-effect" and len(tau_priors) != bsz):
        raise ValueError("need one tau prior and one mu prior per batch row")
    lo, hi = mu_grid_limits(y, se)
    dmu = (hi - lo) / (MU_N - 1)
    # Tabulate each distinct prior once.
    tau_cache: dict[int, np.ndarray] = {}
    mu_cache: dict[int, np.ndarray] = {}
    tau_tab = np.zeros((bsz, U_N))
    mu_tab = np.zeros((bsz, MU_N))
    for b in range(bsz):
        if kind != "common-effect":
            p = tau_priors[b]
            if id(p) not in tau_cache:
                tau_cache[id(p)] = tabulate_tau_prior(p)
            tau_tab[b] = tau_cache[id(p)]
        p = mu_priors[b]
        if id(p) not in mu_cache:
            mu_cache[id(p)] = tabulate_mu_prior(p, lo, hi)
        mu_tab[b] = mu_cache[id(p)]

    dim = 1 if kind == "common-effect" else 2
    # Starting points: the weighted mean of the studies left in, log tau near the data's spread.
    wts = weights / se**2
    mu0 = (wts * y).sum(1) / np.maximum(wts.sum(1), 1e-12)
    init = np.zeros((bsz, chains, dim))
    rng = np.random.default_rng(seed)
    init[..., 0] = mu0[:, None] + 0.1 * rng.standard_normal((bsz, chains)) * se.mean(1)[:, None]
    if dim == 2:
        init[..., 1] = np.log(0.2 * se.mean(1))[:, None] + 0.5 * rng.standard_normal((bsz, chains))

    if lanes == "auto":
        lanes = None if jax.default_backend() != "cpu" else CPU_LANES
    program = _program(kind, None if nu is None else float(nu), int(draws), int(tune), float(target_accept),
                       None if lanes is None else int(lanes))
    dtype = jnp.result_type(float)
    data = (
        jnp.asarray(y, dtype),
        jnp.asarray(se, dtype),
        jnp.asarray(weights, dtype),
        jnp.asarray(tau_tab, dtype),
        jnp.asarray(mu_tab, dtype),
        jnp.full((bsz,), lo, dtype),
        jnp.full((bsz,), dmu, dtype),
    )
    keys = jax.random.split(jax.random.key(seed), bsz * chains).reshape(bsz, chains)
    t0 = time.perf_counter()
    pos, div = program(keys, jnp.asarray(init, dtype), data)
    pos = np.asarray(jax.block_until_ready(pos), dtype=float)
    secs = time.perf_counter() - t0
    mu = pos[..., 0]
    tau = np.exp(pos[..., 1]) if dim == 2 else np.zeros_like(mu)
    return BatchResult(
        kind=kind,
        mu=mu,
        tau=tau,
        diverging=np.asarray(div, dtype=bool),
        labels=list(labels) if labels is not None else list(range(bsz)),
        nu=nu,
        seconds=secs,
    )


def loso_weights(k: int, include_full: bool = True) -> np.ndarray:
    """Weight rows for leave-one-study-out: row 0 all ones (if ``include_full``), then row ``i+1`` drops study ``i``."""
    rows = 1.0 - np.eye(k)
    if include_full:
        rows = np.vstack([np.ones(k), rows])
    return rows
