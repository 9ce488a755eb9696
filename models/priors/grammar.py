"""The prior specification grammar (:data:`GRAMMAR`, shown by ``vfsynth fit --help``) and its
parser :func:`parse_prior`."""

from __future__ import annotations

from vfsynth.models.priors.base import Prior, PriorSpecError, _norm_key, family_params
from vfsynth.models.priors.factories import (
    flat_mu,
    gamma_tau,
    half_cauchy,
    half_normal,
    normal_mixture_mu,
    normal_mu,
    student_t_mu,
)
from vfsynth.models.priors.tables import bartos_mu_prior, bartos_prior, rhodes_prior, turner_prior
from vfsynth.models.priors.unit_information import unit_information_mu, unit_information_prior

__all__ = ["GRAMMAR", "parse_prior"]

GRAMMAR = """\
Prior specifications (case-insensitive; numbers are plain decimals):
  tau (between-study SD):
    half-normal:SCALE                 tau ~ HN(SCALE)
    half-cauchy:SCALE                 tau ~ HC(SCALE)
    lognormal:M,S                     log(tau) ~ N(M, S^2)   (on tau, not tau^2)
    log-t:DF,M,S                      log(tau) ~ t_DF(M, S)
    inverse-gamma:A,B                 tau ~ InvGamma(shape A, scale B)
    uniform:LOW,HIGH                  tau ~ U(LOW, HIGH)
    gamma:SHAPE,RATE                  tau ~ Gamma(SHAPE, rate RATE)   (mean SHAPE/RATE)
    turner:OUTCOME[:COMPARISON]       Turner et al. 2015 (log OR); OUTCOME one of
                                      general, mental-health, subjective, quality-of-life,
                                      physical-health, adverse-events, withdrawals;
                                      COMPARISON non-pharmacological (default) or general
    rhodes:OUTCOME[:COMPARISON]       Rhodes et al. 2015 (SMD); OUTCOME one of general,
                                      subjective, mental-health, physical-health,
                                      signs-symptoms
    bartos:GROUP[:MEASURE]            Bartos et al. Cochrane empirical prior; GROUP one of
                                      cochrane, developmental, common-mental; MEASURE SMD|logOR
                                      (default: the analysis' measure)
    ui[:FRACTION] | unit-information[:FRACTION]
                                      HN(FRACTION x UISD), FRACTION default 0.25 (Rover 2021)
  mu (pooled effect):
    normal:LOC,SCALE                  mu ~ N(LOC, SCALE^2)
    student-t:DF,LOC,SCALE            mu ~ t_DF(LOC, SCALE)
    flat                              improper uniform prior
    normal-mixture:W1,M1,S1;W2,M2,S2[;...]
                                      mu ~ sum_j Wj N(Mj, Sj^2), weights >= 0 summing to 1
                                      (robust mixture, Schmidli et al. 2014; quote the ';'
                                      in a shell)
    bartos:GROUP[:MEASURE]            Bartos et al. empirical Student-t prior on mu
    ui[:FRACTION]                     N(0, FRACTION x UISD), FRACTION default 0.5
"""


def _numbers(spec: str, body: str, n: int) -> list[float]:
    parts = [p for p in body.split(",")] if body else []
    if len(parts) != n:
        raise PriorSpecError(f"prior spec {spec!r}: expected {n} comma-separated number(s), got {len(parts)}")
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise PriorSpecError(f"prior spec {spec!r}: {body!r} is not a list of numbers") from None


_TAU_HEADS = ("half-normal", "half-cauchy", "lognormal", "log-t", "inverse-gamma", "uniform", "gamma",
              "turner", "rhodes", "bartos", "ui", "unit-information")
_MU_HEADS = ("normal", "student-t", "flat", "normal-mixture", "bartos", "ui", "unit-information")
_HEAD_ALIASES = {"hn": "half-normal", "halfnormal": "half-normal", "hc": "half-cauchy",
                 "halfcauchy": "half-cauchy", "log-normal": "lognormal", "ln": "lognormal",
                 "invgamma": "inverse-gamma", "inv-gamma": "inverse-gamma", "ig": "inverse-gamma",
                 "t": "student-t", "studentt": "student-t", "logt": "log-t", "n": "normal",
                 "mixture": "normal-mixture", "normalmixture": "normal-mixture", "mix": "normal-mixture"}


def parse_prior(spec: str, target: str = "tau", table=None, measure: str | None = None) -> Prior:
    """Parse a prior specification string (see :data:`GRAMMAR`).

    Parameters
    ----------
    spec : str
        e.g. ``"half-normal:0.5"``, ``"turner:mental-health"``, ``"bartos:developmental:SMD"``,
        ``"ui"``, ``"normal:0,1"``, ``"student-t:5,0,0.43"``, ``"flat"``, ``"gamma:2,8"``,
        ``"normal-mixture:0.8,0.4,0.1;0.2,0.4,2"``.
    target : {"tau", "mu"}
    table : EffectTable, optional
        Supplies the measure (Bartoš without a measure, unit-information) and sample sizes
        (unit-information).
    measure : str, optional
        Measure when no table is given.

    Raises
    ------
    PriorSpecError
        (a ``ValueError``) Unknown family / outcome / group names (the message lists the valid choices), wrong
        number of parameters, or a family that does not apply to ``target``.
    """
    if target not in ("tau", "mu"):
        raise PriorSpecError(f"target must be 'tau' or 'mu', got {target!r}")
    if not isinstance(spec, str) or not spec.strip():
        raise PriorSpecError("empty prior specification")
    raw = spec.strip()
    head, _, rest = raw.partition(":")
    head = _norm_key(head)
    head = _HEAD_ALIASES.get(head, head)
    valid = _TAU_HEADS if target == "tau" else _MU_HEADS
    if head not in valid:
        other = _MU_HEADS if target == "tau" else _TAU_HEADS
        hint = f" ({head!r} is a {'mu' if target == 'tau' else 'tau'} prior)" if head in other else ""
        raise PriorSpecError(f"unknown {target} prior {raw!r}{hint}; valid {target} priors: {', '.join(valid)}\n{GRAMMAR}")
    if measure is None and table is not None:
        measure = table.measure
    fields = rest.split(":") if rest else []

    if head in ("turner", "rhodes"):
        if not 1 <= len(fields) <= 2:
            raise PriorSpecError(f"prior spec {raw!r}: expected {head}:OUTCOME[:COMPARISON]")
        fn = turner_prior if head == "turner" else rhodes_prior
        return fn(outcome=fields[0], comparison=fields[1] if len(fields) == 2 else None)
    if head == "bartos":
        if not 1 <= len(fields) <= 2:
            raise PriorSpecError(f"prior spec {raw!r}: expected bartos:GROUP[:MEASURE]")
        meas = fields[1] if len(fields) == 2 else measure
        if meas is None:
            raise PriorSpecError(f"prior spec {raw!r}: give the measure (bartos:GROUP:SMD or :logOR) or a table")
        fn = bartos_prior if target == "tau" else bartos_mu_prior
        return fn(group=fields[0], measure=meas)
    if head in ("ui", "unit-information"):
        if len(fields) > 1:
            raise PriorSpecError(f"prior spec {raw!r}: expected ui[:FRACTION]")
        fn = unit_information_prior if target == "tau" else unit_information_mu
        if fields:
            (frac,) = _numbers(raw, fields[0], 1)
            return fn(measure=measure, table=table, fraction=frac)
        return fn(measure=measure, table=table)
    if head == "flat":
        if rest:
            raise PriorSpecError(f"prior spec {raw!r}: flat takes no parameters")
        return flat_mu()
    if head == "normal-mixture":
        comps = [c for c in rest.split(";")] if rest else []
        if not comps:
            raise PriorSpecError(f"prior spec {raw!r}: expected normal-mixture:W1,M1,S1;W2,M2,S2[;...]")
        w, m, s = zip(*(_numbers(raw, c, 3) for c in comps), strict=True)
        return normal_mixture_mu(w, m, s)
    names = family_params()[head]
    params = dict(zip(names, _numbers(raw, rest, len(names)), strict=True))
    if head == "half-normal":
        return half_normal(**params)
    if head == "half-cauchy":
        return half_cauchy(**params)
    if head == "normal":
        return normal_mu(**params)
    if head == "student-t":
        return student_t_mu(**params)
    if head == "gamma":
        return gamma_tau(**params)
    return Prior(name=head, family=head, params=params, target=target, citation="user-specified",
                 description=f"user-specified {head} prior on {target}")
