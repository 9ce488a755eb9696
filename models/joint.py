"""Joint (multivariate) model of every outcome of every study, with mediation on latent effects.

One Bayesian model of the post-intervention (and follow-up) effects of video feedback on
parental sensitivity (S), parental reflective functioning (RF) and child attachment (A),
in which each study's *true* effects on the outcomes are correlated, and the mediation
quantities are functions of that correlation structure.

DAG (study level; arrows are causal paths of the intervention's effect)
----------------------------------------------------------------------
::

                       a1 = mu_S          +-----------------------+   b1
                  +---------------------> | theta_S  (sensitivity)| ------------+
                  |                       +-----------------------+             |
                  |                                  ^  residual                v
     [video feedback] ---------------- c' (direct) --|-- correlation -----> [theta_A]
                  |                                  v                     (attachment)
                  |                       +-----------------------+             ^
                  +---------------------> | theta_RF (reflective  | ------------+
                       a2 = mu_RF         |  functioning)         |   b2
                                          +-----------------------+
     observed:  y_S,ij ~ N(theta_S,i , se)   y_RF,ij ~ N(theta_RF,i , se)
                y_A,ij ~ N(theta_A,i (SMD) | theta_A,i * pi/sqrt(3) (log OR), se)
                secure counts ~ Binomial(n, expit(alpha_i +- theta_A,i * pi/sqrt(3) / 2))

:func:`dag_text` returns this picture and :func:`dag_dot` a Graphviz DOT description
(text only; no Graphviz needed).

Model
-----
For study :math:`i` let :math:`\\theta_i = (\\theta_{M_1,i},\\dots,\\theta_{M_p,i},\\theta_{A,i})`
be its true post-intervention effects on the :math:`p` mediators and on the final outcome,
all on the standardised-mean-difference (SMD) scale:

.. math::

    \\theta_i \\sim N_K(\\mu, \\Sigma), \\quad \\Sigma = \\mathrm{diag}(\\tau)\\,R\\,\\mathrm{diag}(\\tau),
    \\quad R \\sim \\mathrm{LKJ}(\\eta),

with :math:`\\mu_k` and :math:`\\tau_k` given the *same* priors as the univariate model of that
outcome (the prior registry, :mod:`vfsynth.models.priors`), written non-centred
(:math:`\\theta_i = \\mu + \\mathrm{diag}(\\tau) L z_i`, :math:`L L^\\top = R`).

**Why this parametrisation (and not the regression directly).** The mediation regression
is *derived* from :math:`(\\mu, \\Sigma)` rather than parametrised directly, because (i) the
correlation structure and the regression are then consistent by construction; (ii) each
outcome keeps the registry prior on its own heterogeneity :math:`\\tau_k` and mean
:math:`\\mu_k`, so the sensitivity block of the joint model has exactly the univariate
model's prior; when only sensitivity has data, at the post-intervention time point only and
without the informative-b potential, the joint posterior of :math:`(\\mu_S, \\tau_S)` *is* the
univariate NNHM posterior (the other blocks integrate to one), which is what the agreement
test checks (follow-up rows of the same studies inform their post effects and shift it; the
potential reweights :math:`\\tau_S`); (iii) outcomes without data simply
integrate out. The cost: the prior on the slope :math:`b` is implied (a ratio of
heterogeneity SDs times a correlation; heavy-tailed when :math:`\\tau_S` is small) rather
than chosen — the JSON reports it from prior sampling.

Mediation quantities (Deterministics), headline single-mediator path through
:math:`M_1` (default: sensitivity), marginal over the other mediators:

.. math::

    a = \\mu_{M_1},\\quad b = \\Sigma_{A M_1} / \\Sigma_{M_1 M_1},\\quad
    c' = \\mu_A - b\\,a,\\quad \\text{indirect} = a b,\\quad
    \\text{total} = \\mu_A = c' + a b,\\quad
    \\text{proportion mediated} = a b / (c' + a b),

i.e. :math:`\\theta_{S,i} \\sim N(a, \\tau_S)`, :math:`\\theta_{A,i} = c' + b\\,\\theta_{S,i} + e_i`,
:math:`e_i \\sim N(0, \\tau_{A|S})`, :math:`\\tau_{A|S}^2 = \\Sigma_{AA} - b^2\\Sigma_{SS}`.
With two or more mediators the *parallel* decomposition is the regression of
:math:`\\theta_A` on all mediators, :math:`B = \\Sigma_{AM}\\Sigma_{MM}^{-1}`,
:math:`c'_{par} = \\mu_A - B\\cdot\\mu_M`, path-specific indirect effects :math:`\\mu_{M_j} B_j`.
When a mediator has no data its correlations with the others are prior only, so the
*partial* slopes of the parallel decomposition are partly prior (an unmeasured mediator
correlated with sensitivity cannot be adjusted for): the headline therefore uses the
marginal single-mediator path, and every parallel quantity that involves a no-data outcome
is labelled "prior only — no data" by :mod:`vfsynth.fits.joint_runner`.

Scale of b (Chinn 2000)
-----------------------
Attachment is modelled on the SMD scale. Log odds ratios and 2×2 counts of secure vs
insecure attachment are linked with the logistic approximation of Chinn (2000, *Stat Med*
19:3127): :math:`\\log OR = SMD \\cdot \\pi/\\sqrt{3}`. A log-OR row :math:`y` has mean
:math:`\\theta_A \\pi/\\sqrt{3}`; counts use the exact binomial likelihood with logit difference
:math:`\\theta_A\\pi/\\sqrt{3}`, split symmetrically between arms (Jackson et al. 2018, *Stat
Med* 37:1059, model 4) around a study baseline :math:`\\alpha_i \\sim N(0, \\sigma_\\alpha)`.
So :math:`b` is "SMD of attachment per SMD of sensitivity"; multiply by :math:`\\pi/\\sqrt{3}`
for log OR of security per SMD of sensitivity. Attachment measures of different kinds
(Strange Situation security, Attachment Q-sort) are taken to measure one latent attachment
effect.

Within-study correlation
------------------------
Estimates of different outcomes (or time points) from the same study share participants,
so their sampling errors correlate; the correlation is almost never reported. Normal rows
of one study have :math:`\\mathrm{Corr}(\\epsilon_{ij}, \\epsilon_{il}) = \\rho_w` (one value,
or :math:`\\rho_w \\sim \\mathrm{Beta}(a, b)` on (0, 1)), giving one multivariate normal over all
normal rows with a block-diagonal covariance (Riley 2009, *JRSS A* 172:789, recommends
showing sensitivity to :math:`\\rho_w`; :func:`vfsynth.fits.joint_runner.rho_w_sensitivity`).
:math:`\\rho_w` affects the likelihood only for studies with two or more normal rows. Count
rows (binomial likelihood) are conditionally independent of the study's other rows given
the true effects — a limitation. The default :math:`\\rho_w = 0.3` is near the within-dyad
sensitivity–attachment correlation (r ≈ .24, De Wolff & van IJzendoorn 1997), which is
approximately the correlation of two SMD estimates from the same dyads.

Transmission gap (De Wolff & van IJzendoorn 1997; Verhage et al. 2016)
----------------------------------------------------------------------
Observationally, sensitivity and attachment security correlate at r = .24 (21 studies,
N = 1,099, corrected for attenuation). Converting to the between-study slope: if, within
dyads, a one-SD rise in sensitivity *causes* an r-SD rise in (latent, continuous)
attachment security, the effect is linear and the same in every population, and the
intervention does not change the within-arm SDs used to standardise either SMD, then a
study whose intervention moves sensitivity by :math:`\\theta_S` SMD moves attachment by
:math:`r\\,\\theta_S` SMD through sensitivity: :math:`b_{ext} = r = 0.24` (on Chinn's latent
scale; a biserial correction of a point-biserial r against a ~60 % secure split would give
≈ 0.3, so the prior SD 0.12 covers both, and the causal reading). ``b_transmission`` is
:math:`N(0.24, 0.12)`; ``transmission_gap`` :math:`= \\mu_A - a\\,b_{ext}` is the pooled
attachment effect minus the one predicted through sensitivity from observational
evidence (positive: attachment moved more than sensitivity explains). With
``informative_b=True`` the same density also multiplies the prior of the model's own
:math:`b` (a ``pm.Potential``; prior summaries are importance-reweighted accordingly).

Follow-up
---------
Follow-up time points share the study's post-intervention effect plus a time-specific
deviation: :math:`\\theta_{k,i}^{(t)} = \\theta_{k,i} + \\delta_{kt,i}`,
:math:`\\delta_{kt,i} \\sim N(d_{kt}, \\tau_{\\delta,kt})`, :math:`d_{kt} \\sim N(0, 0.5)`,
:math:`\\tau_{\\delta,kt} \\sim \\text{half-}N(0.25)` — only for (outcome, time point) cells
that have data.

Limitations
-----------
* The between-study regression of attachment effects on sensitivity effects is ecological:
  it supports, but does not prove, mediation within dyads (studies that improved
  sensitivity more may differ in other ways that also improve attachment).
* With few studies reporting both outcomes, :math:`b` and the correlations are weakly
  identified and the prior matters; the JSON reports how much each quantity learned.
* Within-study correlations are assumed (:math:`\\rho_w`), not known.
* Attachment security via Chinn's logistic conversion assumes a logistic latent variable
  with equal variance in both arms.
* Reflective functioning: the CD012348 review found no study that measured it, so its
  path is the prior only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vfsynth.models.joint_data import (  # noqa: F401 - re-exported: the data types live there
    ALPHA_SD,
    B_EXTERNAL_MEAN,
    B_EXTERNAL_SD,
    CHINN,
    DEFAULT_FINAL,
    DEFAULT_MEDIATORS,
    DEFAULT_OUTCOMES,
    DELTA_MEAN_SD,
    DELTA_TAU_SCALE,
    LKJ_ETA,
    POST,
    PRIOR_ONLY_LABEL,
    RHO_W_DEFAULT,
    JointData,
    JointSpecError,
    assemble,
    assemble_review,
    final_construct_name,
)
from vfsynth.models.spec import ModelSpec, register


@dataclass(frozen=True)
class JointOptions:
    """Modelling choices of the joint model (everything but the data and the priors).

    Attributes
    ----------
    rho_w : float or tuple
        Within-study correlation of normal rows of the same study: a fixed value in
        :math:`(-1/(m-1), 1)` (m = most rows in one study) or ``("beta", a, b)`` for
        :math:`\\rho_w \\sim \\mathrm{Beta}(a, b)` on (0, 1).
    lkj_eta : float
        LKJ shape of the between-study correlation matrix (2: mild shrinkage towards 0).
    informative_b : bool
        Multiply the prior of the headline slope :math:`b` by :math:`N(0.24, 0.12)` (De Wolff &
        van IJzendoorn 1997, see module docstring).
    delta_mean_sd, delta_tau_scale : float
        Priors of follow-up deviations: :math:`d \\sim N(0, \\cdot)`, :math:`\\tau_\\delta \\sim
        \\text{half-}N(\\cdot)`.
    alpha_sd : float
        SD of the normal prior on study baselines in the binomial likelihood.
    """

    rho_w: float | tuple = RHO_W_DEFAULT
    lkj_eta: float = LKJ_ETA
    informative_b: bool = False
    delta_mean_sd: float = DELTA_MEAN_SD
    delta_tau_scale: float = DELTA_TAU_SCALE
    alpha_sd: float = ALPHA_SD

    def to_dict(self) -> dict:
        return {
            "rho_w": list(self.rho_w) if isinstance(self.rho_w, tuple) else float(self.rho_w),
            "lkj_eta": float(self.lkj_eta),
            "informative_b": bool(self.informative_b),
            "b_external": {"mean": B_EXTERNAL_MEAN, "sd": B_EXTERNAL_SD},
            "delta_mean_sd": float(self.delta_mean_sd),
            "delta_tau_scale": float(self.delta_tau_scale),
            "alpha_sd": float(self.alpha_sd),
        }


def parse_rho_w(spec: str | float | tuple) -> float | tuple:
    """``"0.3"`` -> 0.3; ``"beta:2,5"`` -> ``("beta", 2.0, 5.0)``."""
    if isinstance(spec, tuple):
        return spec
    if isinstance(spec, int | float):
        return float(spec)
    s = str(spec).strip()
    if s.lower().startswith("beta:"):
        try:
            a, b = (float(x) for x in s[5:].split(","))
        except ValueError as exc:
            raise JointSpecError(f"rho_w spec {spec!r}: expected 'beta:a,b'") from exc
        if a <= 0 or b <= 0:
            raise JointSpecError(f"rho_w spec {spec!r}: Beta parameters must be > 0")
        return ("beta", a, b)
    try:
        return float(s)
    except ValueError as exc:
        raise JointSpecError(f"rho_w spec {spec!r}: expected a number or 'beta:a,b'") from exc


def _same_study(data: JointData) -> np.ndarray:
    st = data.row_study
    return (st[:, None] == st[None, :]).astype(float)


def within_study_corr(data: JointData, rho: float) -> np.ndarray:
    """Correlation matrix of the normal rows' sampling errors for a fixed :math:`\\rho_w`."""
    same = _same_study(data)
    return np.eye(data.n_rows) + rho * (same - np.eye(data.n_rows))


def _check_rho(data: JointData, rho: float) -> None:
    m = data.max_rows_per_study()
    lo = -1.0 / (m - 1) if m > 1 else -1.0
    if not (lo < rho < 1.0):
        raise JointSpecError(
            f"rho_w = {rho} gives a non-positive-definite within-study covariance (a study has {m} rows; "
            f"need {lo:.3g} < rho_w < 1)"
        )


def pair_names(constructs: Sequence[str]) -> list[str]:
    """Names ``"A~B"`` of the below-diagonal correlation pairs, in ``np.tril_indices`` order."""
    ii, jj = np.tril_indices(len(constructs), -1)
    return [f"{constructs[j]}~{constructs[i]}" for i, j in zip(ii, jj, strict=True)]


def coords(data: JointData) -> dict[str, list[str]]:
    c = {
        "study": list(data.studies),
        "construct": list(data.constructs),
        "pair": pair_names(data.constructs),
        "mediator": list(data.mediators),
        "slot": list(data.slots),
    }
    if data.cells:
        c["cell"] = list(data.cells)
    if data.n_rows:
        c["row"] = list(data.row_label)
    if data.n_count_rows:
        c["count_row"] = list(data.crow_label)
    return c


def build_generative(
    data: JointData,
    tau_priors: Mapping[str, Any],
    mu_priors: Mapping[str, Any],
    options: JointOptions = JointOptions(),
):
    """The joint model without data (observed nodes free): prior predictive and simulation.

    Parameters
    ----------
    data : JointData
        Supplies the design (studies, rows, cells, standard errors, arm sizes).
    tau_priors, mu_priors : mapping construct -> Prior
        Registry priors (objects with ``to_pymc(name)``) of each construct's between-study
        SD and mean effect.
    options : JointOptions

    Returns
    -------
    pm.Model
        Free observed nodes ``y`` (dims ``row``), ``events_t``, ``events_c`` (dims
        ``count_row``), as present in the design.
    """
    import pymc as pm
    import pytensor.tensor as pt

    K = len(data.constructs)
    if K < 2:
        raise JointSpecError("the joint model needs a mediator and a final outcome")
    for c in data.constructs:
        if c not in tau_priors or c not in mu_priors:
            raise JointSpecError(f"no prior given for construct {c!r}")
    rho_spec = options.rho_w
    if not isinstance(rho_spec, tuple):
        _check_rho(data, float(rho_spec))

    with pm.Model(coords=coords(data)) as model:
        mus = [mu_priors[c].to_pymc(f"mu_{c}") for c in data.constructs]
        taus = [tau_priors[c].to_pymc(f"tau_{c}") for c in data.constructs]
        mu = pm.Deterministic("mu", pt.stack(mus), dims="construct")
        tau = pm.Deterministic("tau", pt.stack(taus), dims="construct")
        L = pm.LKJCorr("corr_chol", n=K, eta=options.lkj_eta)
        corr = L @ L.T
        ii, jj = np.tril_indices(K, -1)
        pm.Deterministic("corr_pairs", corr[ii, jj], dims="pair")
        z = pm.Normal("z", 0.0, 1.0, dims=("study", "construct"))
        theta = pm.Deterministic("theta", mu[None, :] + (z @ L.T) * tau[None, :], dims=("study", "construct"))

        # --- mediation quantities derived from (mu, Sigma) ---------------------------------
        sigma = corr * tau[:, None] * tau[None, :]
        F = K - 1
        a = pm.Deterministic("a", mu[0])
        b = pm.Deterministic("b", sigma[F, 0] / sigma[0, 0])
        pm.Deterministic("c_prime", mu[F] - b * mu[0])
        indirect = pm.Deterministic("indirect", a * b)
        total = pm.Deterministic("total", mu[F])
        pm.Deterministic("proportion_mediated", indirect / total)
        pm.Deterministic("tau_final_given_m1", pt.sqrt(pt.maximum(sigma[F, F] - b**2 * sigma[0, 0], 0.0)))
        pm.Deterministic("rho_m1_final", corr[F, 0])
        if K > 2:
            s_mm = sigma[:F, :F]
            s_am = sigma[F, :F]
            B = pt.linalg.solve(s_mm, s_am, assume_a="pos")
            pm.Deterministic("b_parallel", B, dims="mediator")
            pm.Deterministic("indirect_parallel", mu[:F] * B, dims="mediator")
            cpp = pm.Deterministic("c_prime_parallel", mu[F] - pt.dot(B, mu[:F]))
            pm.Deterministic("proportion_mediated_parallel", (mu[F] - cpp) / mu[F])
            pm.Deterministic("tau_final_given_m", pt.sqrt(pt.maximum(sigma[F, F] - pt.dot(B, s_am), 0.0)))

        # --- transmission gap (external observational slope) -------------------------------
        b_ext = pm.Normal("b_transmission", B_EXTERNAL_MEAN, B_EXTERNAL_SD)
        pm.Deterministic("predicted_via_sensitivity", a * b_ext)
        pm.Deterministic("transmission_gap", total - a * b_ext)
        if options.informative_b:
            pm.Potential("b_informative_prior", pm.logp(pm.Normal.dist(B_EXTERNAL_MEAN, B_EXTERNAL_SD), b))

        # --- follow-up cells ----------------------------------------------------------------
        if data.cells:
            d_mean = pm.Normal("d_mean", 0.0, options.delta_mean_sd, dims="cell")
            tau_delta = pm.HalfNormal("tau_delta", options.delta_tau_scale, dims="cell")
            dz = pm.Normal("delta_z", 0.0, 1.0, dims=("study", "cell"))
            delta = pm.Deterministic("delta", d_mean[None, :] + tau_delta[None, :] * dz, dims=("study", "cell"))
            follow = theta[:, data.cell_construct] + delta
            pm.Deterministic("pooled_followup", mu[data.cell_construct] + d_mean, dims="cell")
            latent = pt.concatenate([theta, follow], axis=1)
        else:
            latent = theta.copy()  # a new variable: theta is already a named Deterministic
        latent = pm.Deterministic("latent", latent, dims=("study", "slot"))

        # --- likelihoods ------------------------------------------------------------------------
        if data.n_rows:
            mean = pt.as_tensor(data.factor) * latent[data.row_study, data.row_slot]
            if isinstance(rho_spec, tuple):
                if rho_spec[0] != "beta":
                    raise JointSpecError(f"unknown rho_w prior {rho_spec!r}")
                rho = pm.Beta("rho_w", rho_spec[1], rho_spec[2])
                same = pt.as_tensor(_same_study(data))
                eye = pt.eye(data.n_rows)
                cmat = eye + rho * (same - eye)
                cov = cmat * pt.as_tensor(np.outer(data.se, data.se))
                chol = pt.linalg.cholesky(cov)
            else:
                cmat = within_study_corr(data, float(rho_spec))
                chol = pt.as_tensor(np.linalg.cholesky(cmat * np.outer(data.se, data.se)))
            pm.MvNormal("y", mu=mean, chol=chol, dims="row")
        if data.n_count_rows:
            alpha = pm.Normal("alpha", 0.0, options.alpha_sd, dims="count_row")
            half = 0.5 * CHINN * latent[data.crow_study, data.crow_slot]
            pm.Binomial("events_t", n=data.n_t.astype(int), p=pm.math.invlogit(alpha + half), dims="count_row")
            pm.Binomial("events_c", n=data.n_c.astype(int), p=pm.math.invlogit(alpha - half), dims="count_row")
    return model


def observed_values(data: JointData) -> dict[str, np.ndarray]:
    """Observed values keyed by the model's observed-node names."""
    obs: dict[str, np.ndarray] = {}
    if data.n_rows:
        obs["y"] = np.asarray(data.y, dtype=float)
    if data.n_count_rows:
        obs["events_t"] = np.asarray(data.events_t).astype(int)
        obs["events_c"] = np.asarray(data.events_c).astype(int)
    return obs


def build_joint_model(
    data: JointData,
    tau_priors: Mapping[str, Any],
    mu_priors: Mapping[str, Any],
    options: JointOptions = JointOptions(),
):
    """The joint model conditioned on ``data`` with :func:`pymc.observe`."""
    import pymc as pm

    model = build_generative(data, tau_priors, mu_priors, options)
    obs = observed_values(data)
    return pm.observe(model, obs) if obs else model


def default_priors(constructs: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Registry defaults on the SMD scale for every construct: ``(tau_priors, mu_priors)``."""
    from vfsynth.models.priors import default_mu_prior, default_tau_prior

    tau = {c: default_tau_prior("SMD", outcome=c) for c in constructs}
    mu = {c: default_mu_prior("SMD") for c in constructs}
    return tau, mu


# ---------------------------------------------------------------------------------------------
# Which quantities depend on which construct (for "prior only — no data" labels)
# ---------------------------------------------------------------------------------------------


def quantity_dependencies(data: JointData) -> dict[str, tuple[str, ...]]:
    """Constructs each reported quantity depends on (a quantity is prior-only if any has no data)."""
    m1, fin = data.constructs[0], data.final
    deps: dict[str, tuple[str, ...]] = {
        "a": (m1,),
        "b": (m1, fin),
        "c_prime": (m1, fin),
        "indirect": (m1, fin),
        "total": (fin,),
        "proportion_mediated": (m1, fin),
        "tau_final_given_m1": (m1, fin),
        "rho_m1_final": (m1, fin),
        "predicted_via_sensitivity": (m1,),
        "transmission_gap": (m1, fin),
    }
    if len(data.mediators) > 1:
        every = tuple(data.constructs)
        for name in ("c_prime_parallel", "proportion_mediated_parallel", "tau_final_given_m"):
            deps[name] = every
        for m in data.mediators:
            deps[f"b_parallel[{m}]"] = every
            deps[f"indirect_parallel[{m}]"] = every
    return deps


# ---------------------------------------------------------------------------------------------
# DAG
# ---------------------------------------------------------------------------------------------


def dag_text(mediators: Sequence[str] = ("sensitivity", "reflective_functioning"), final: str = DEFAULT_FINAL) -> str:
    """ASCII picture of the study-level causal structure (see module docstring)."""
    lines = ["[video feedback]"]
    for j, m in enumerate(mediators, start=1):
        lines.append(f"   |--- a{j} = mu[{m}] ---> (theta_{m}) --- b{j} ---> (theta_{final})")
    lines.append(f"   |--- c' (direct, not through the mediators) --------> (theta_{final})")
    if len(mediators) > 1:
        lines.append("   mediators are parallel (no arrow between them); their residuals may correlate")
    lines.append("   each theta is a study's TRUE effect; observed estimates hang off it with known SEs")
    return "\n".join(lines)


def dag_dot(mediators: Sequence[str] = ("sensitivity", "reflective_functioning"), final: str = DEFAULT_FINAL) -> str:
    """Graphviz DOT text of the DAG (render with any DOT tool; nothing here needs Graphviz)."""
    out = ["digraph joint_mediation {", "  rankdir=LR;", '  VF [label="video feedback", shape=box];']
    out.append(f'  A [label="theta_{final}\\n(study true effect)"];')
    for j, m in enumerate(mediators, start=1):
        out.append(f'  M{j} [label="theta_{m}\\n(study true effect)"];')
        out.append(f'  VF -> M{j} [label="a{j}"];')
        out.append(f'  M{j} -> A [label="b{j}"];')
    out.append("  VF -> A [label=\"c' (direct)\"];")
    for j in range(1, len(mediators)):
        out.append(f'  M{j} -> M{j + 1} [dir=both, style=dashed, label="residual corr."];')
    out.append("}")
    return "\n".join(out)


@register
class Joint(ModelSpec):
    """The joint mediation model as a registered spec; data: an assembled :class:`JointData`.

    Priors are per construct (``{"tau": {construct: Prior}, "mu": {construct: Prior}}``,
    default :func:`default_priors`); options are a :class:`JointOptions`. NUTS only (the study
    effects are correlated across outcomes and the counts enter through the binomial likelihood).
    """

    name = "joint"
    title = "joint mediation model (sensitivity, reflective functioning -> attachment)"
    needs = "review"

    def _check_options(self, options: dict) -> dict:
        self.joint_options = options.pop("options", JointOptions())
        super()._check_options(options)
        return {"rho_w": self.joint_options.rho_w, "informative_b": self.joint_options.informative_b}

    def check(self, data) -> None:
        if not getattr(data, "studies", ()):
            raise JointSpecError("the joint model needs at least one study with a mediator or final-outcome row")

    def check_priors(self, priors) -> None:
        for role in ("tau", "mu"):
            if not isinstance(priors.get(role), Mapping):
                raise JointSpecError(f"the joint model needs a {role} prior per construct")

    def generative(self, data, priors):
        return build_generative(data, priors["tau"], priors["mu"], self.joint_options)

    def observed(self, data):
        return observed_values(data)
