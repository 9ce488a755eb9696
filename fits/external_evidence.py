"""External-evidence prediction of the attachment effect through both mediators (never data).

What the observational literature implies for attachment if the trials' effects on parental
sensitivity (S) and reflective functioning / mentalization (RF) passed to attachment (A) as the
within-dyad associations say:

* Zeegers, Colonnesi, Stams & Meins (2017), *Psychol Bull* 143:1245, "Mind matters": pooled
  correlations RF–A r = .30 (N = 974), S–A r = .25 (N = 6,664), RF–S r = .25 (N = 2,029);
  partial correlations RF–A | S = .24 and S–A | RF = .19 (used to check this module).
* De Wolff & van IJzendoorn (1997), *Child Dev* 68:571: S–A r = .24 (N = 1,099), the
  single-mediator slope (``b_transmission`` of the joint model).

The standardised regression of A on (S, RF) from the correlation matrix is
:math:`\\beta = R_{MM}^{-1} r_{MA}`; a trial moving S by :math:`a_S` and RF by :math:`a_{RF}` SMD
then moves A by :math:`\\beta_S a_S + \\beta_{RF} a_{RF}` SMD. Uncertainty: each correlation is
drawn from its Fisher-z sampling distribution :math:`N(\\operatorname{atanh} r, 1/(N-3))`
(ignoring between-study heterogeneity of the pooled correlations, so the interval is too
narrow), combined with the joint model's posterior draws of :math:`a_S` and :math:`a_{RF}`.

Assumptions (stated in the output): the associations are causal, linear and the same in every
population; within-dyad and between-trial slopes coincide; the interventions do not change the
within-arm SDs that standardise the SMDs; attachment security is a latent continuous variable
(Chinn's scale); the three pooled correlations come from different samples but are treated as
one correlation matrix (it is checked to be positive definite per draw).
"""

from __future__ import annotations

from typing import Any

import numpy as np

LABEL = "external-evidence prediction"
ZEEGERS_2017 = {"s_a": (0.25, 6664), "rf_a": (0.30, 974), "rf_s": (0.25, 2029)}
ASSUMPTIONS = [
    "within-dyad associations are causal, linear and the same in every population",
    "the between-trial slope equals the within-dyad slope (no ecological bias)",
    "the interventions do not change the within-arm SDs that standardise the SMDs",
    "attachment security is a latent continuous variable on Chinn's logistic scale",
    "the three pooled correlations (different samples) form one correlation matrix; their between-study "
    "heterogeneity is ignored, so the interval is too narrow",
]


def standardised_slopes(r_sa: np.ndarray, r_ra: np.ndarray, r_rs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(beta_S, beta_RF): regression of A on (S, RF) from the three correlations (closed form of R^-1 r)."""
    det = 1.0 - r_rs**2
    return (r_sa - r_rs * r_ra) / det, (r_ra - r_rs * r_sa) / det


def draw_correlations(n: int, seed: int, source: dict = ZEEGERS_2017) -> dict[str, np.ndarray]:
    """Fisher-z draws of the pooled correlations."""
    rng = np.random.default_rng(seed)
    return {k: np.tanh(rng.normal(np.arctanh(r), 1.0 / np.sqrt(N - 3), size=n)) for k, (r, N) in source.items()}


def predict(a_s: np.ndarray, a_rf: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """Draws of the predicted attachment effect through S, through RF and in total."""
    a_s, a_rf = np.asarray(a_s, float).ravel(), np.asarray(a_rf, float).ravel()
    r = draw_correlations(a_s.size, seed)
    pd_ok = 1 - r["rf_s"] ** 2 - r["s_a"] ** 2 - r["rf_a"] ** 2 + 2 * r["rf_s"] * r["s_a"] * r["rf_a"] > 0
    bs, br = standardised_slopes(r["s_a"], r["rf_a"], r["rf_s"])
    via_s, via_rf = (bs * a_s)[pd_ok], (br * a_rf)[pd_ok]
    return {"beta_sensitivity": bs[pd_ok], "beta_reflective_functioning": br[pd_ok],
            "via_sensitivity": via_s, "via_reflective_functioning": via_rf, "total": via_s + via_rf}


def _q(x: np.ndarray) -> dict[str, float]:
    q = np.quantile(x, [0.025, 0.5, 0.975])
    return {"median": float(q[1]), "q2.5": float(q[0]), "q97.5": float(q[2]), "p_positive": float(np.mean(x > 0))}


def external_summary(res: Any, seed: int = 0) -> dict[str, Any] | None:
    """``summary["external_evidence"]`` for a sensitivity + reflective functioning -> attachment fit, else None."""
    jd = res.data
    if tuple(jd.mediators[:2]) != ("sensitivity", "reflective_functioning") or jd.final != "attachment":
        return None
    mu = np.asarray(res.dt["posterior"]["mu"].values, dtype=float)
    pr = predict(mu[..., 0], mu[..., 1], seed)
    informed = {c: jd.has_data(c) for c in jd.mediators[:2]}
    return {
        "label": LABEL,
        "source": "Zeegers et al. 2017 (Psychol Bull 143:1245) pooled correlations; a_S, a_RF from this fit",
        "correlations": {k: {"r": r, "N": N} for k, (r, N) in ZEEGERS_2017.items()},
        "assumptions": ASSUMPTIONS,
        "mediator_effects_from_data": informed,
        "note": ("predicted attachment SMD if the trials' mediator effects passed on as the observational "
                 "associations imply; a mediator without data enters through its prior" ),
        **{k: _q(v) for k, v in pr.items()},
    }
