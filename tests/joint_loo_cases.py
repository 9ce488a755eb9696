"""A small simulated multi-outcome review for the joint leave-one-study-out tests (not CD012348)."""

from __future__ import annotations

import numpy as np

from vfsynth.data.effect_table import EffectTable
from vfsynth.models import joint as J

MEDIATORS = ("sensitivity",)
OUTCOMES = ("attachment_aqs", "attachment_security")


def _table(outcome, timepoint, studies, est, se, n, counts=None):
    k = len(studies)
    kw = {}
    measure = "SMD"
    if counts is not None:
        measure = "logOR"
        kw = dict(zip(("events_t", "n_t", "events_c", "n_c"), (np.asarray(c, float) for c in counts), strict=True))
    return EffectTable(outcome=outcome, timepoint=timepoint, measure=measure, study=tuple(studies),
                       estimate=np.asarray(est, float), se=np.asarray(se, float), n_total=np.asarray(n, float),
                       year=np.full(k, np.nan), derivation=("simulated",) * k, source=("",) * k, **kw)


def small_review(seed: int = 7, k: int = 8) -> J.JointData:
    """The :func:`small_tables` assembled for the joint model."""
    return J.assemble(small_tables(seed, k), MEDIATORS, OUTCOMES)


def small_tables(seed: int = 7, k: int = 8) -> list[EffectTable]:
    """``k`` simulated studies: sensitivity in all but one, attachment (AQS SMD) in most, counts of secure
    attachment in two studies, a 6-month follow-up of sensitivity in three; true effects from the joint model
    with mu = (0.5, 0.3), tau = (0.25, 0.2), corr 0.6, rho_w 0.3."""
    rng = np.random.default_rng(seed)
    studies = [f"s{i + 1}" for i in range(k)]
    n = rng.integers(40, 160, k).astype(float)
    se = np.sqrt(4.0 / n)
    tau = np.array([0.25, 0.2])
    cov = np.array([[1.0, 0.6], [0.6, 1.0]]) * np.outer(tau, tau)
    theta = rng.multivariate_normal([0.5, 0.3], cov, size=k)
    fu = theta[:, 0] + rng.normal(-0.1, 0.1, k)
    s_idx = np.arange(1, k)
    a_idx = np.arange(0, k - 2)
    f_idx = np.array([1, 2, 3])
    c_idx = np.array([k - 2, k - 1])
    # sampling errors of one study's normal rows correlate (rho_w = 0.3)
    ys = theta[s_idx, 0] + se[s_idx] * rng.standard_normal(len(s_idx))
    ya = theta[a_idx, 1] + se[a_idx] * (0.3 * rng.standard_normal(len(a_idx)) + np.sqrt(1 - 0.09) * rng.standard_normal(len(a_idx)))
    yf = fu[f_idx] + se[f_idx] * rng.standard_normal(len(f_idx))
    nt = np.round(n[c_idx] / 2)
    pc = np.full(len(c_idx), 0.5)
    lo = np.log(pc / (1 - pc))
    pt = 1 / (1 + np.exp(-(lo + J.CHINN * theta[c_idx, 1])))
    et = rng.binomial(nt.astype(int), pt)
    ec = rng.binomial(nt.astype(int), pc)
    st = np.asarray(studies, dtype=object)
    tables = [
        _table("sensitivity", "post", st[s_idx], ys, se[s_idx], n[s_idx]),
        _table("attachment_aqs", "post", st[a_idx], ya, se[a_idx], n[a_idx]),
        _table("sensitivity", "6 months", st[f_idx], yf, se[f_idx], n[f_idx]),
        _table("attachment_security", "post", st[c_idx], np.zeros(len(c_idx)), np.ones(len(c_idx)), n[c_idx],
               counts=(et, nt, ec, nt)),
    ]
    return tables
