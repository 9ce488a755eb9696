"""The canonical model input: one outcome × time point, study estimates with their standard errors.

Every model in :mod:`vfsynth.models` consumes an :class:`EffectTable`. It is the
*estimate + standard error + label* form used by bayesmeta and metafor, plus, for
binary outcomes, the exact 2×2 counts so that a binomial likelihood never has to
go through the normal approximation.

Sign convention
---------------
Estimates are on the *benefit* scale: a positive value always favours video feedback.
Rows whose outcome has ``higher_is_better = false`` are sign-flipped on the way in. For
binary arm counts the flip is done on the counts themselves: ``events_t`` / ``events_c``
here count the *favourable* outcome (``n - events`` when the raw events were unfavourable),
which turns the log odds ratio into its negative exactly, so the exact likelihood and the
normal approximation stay consistent.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

from vfsynth.data.measures import MEASURES

MEASURES_ON_MODEL_SCALE = tuple(MEASURES)


@dataclass(frozen=True)
class EffectTable:
    """Study-level effects for one outcome at one time point (benefit scale).

    Parameters
    ----------
    outcome, timepoint : str
        Outcome and time-point names as in the input CSV.
    measure : str
        Scale of ``estimate``, a key of :data:`vfsynth.data.measures.MEASURES` (``SMD``, ``MD``,
        ``logOR``, ``logRR``, ``RD``, ``ROM``, ``logIRR``, ``PLO``, ``PR``, ``ZCOR``, ``COR``,
        ``GIV``). Ratios are always carried on the log scale.
    study : tuple of str
        Study labels, unique within the table unless ``es_id`` is given.
    estimate, se : ndarray of float
        Effect estimate and its standard error (``se > 0``) for each study.
    n_total : ndarray of float
        Total participants analysed per study (``nan`` where not reported).
    year : ndarray of float
        Publication year per study (``nan`` where unknown).
    derivation : tuple of str
        For each study, how ``estimate``/``se`` were obtained (e.g. ``"hedges_g(arms)"``,
        ``"se_from_ci"``, ``"se from d and total N split evenly"``); the data's own note
        is appended where it has one.
    source : tuple of str
        Source of each row (citation / URL), empty string where the user gave none.
    events_t, n_t, events_c, n_c : ndarray of float or None
        Benefit-oriented 2×2 counts for binary outcomes (``nan`` for studies that
        only report an estimate). ``None`` for continuous outcomes.
    es_id : tuple of str or None
        Three-level data: the estimate's id within its study (the CSV's ``es_id``). Then a study
        may have several rows, (study, es_id) is unique, and :attr:`cluster` groups the rows by
        study; ``None`` (the default): one row per study.
    """

    outcome: str
    timepoint: str
    measure: str
    study: tuple[str, ...]
    estimate: np.ndarray
    se: np.ndarray
    n_total: np.ndarray
    year: np.ndarray
    derivation: tuple[str, ...]
    source: tuple[str, ...]
    events_t: np.ndarray | None = None
    n_t: np.ndarray | None = None
    events_c: np.ndarray | None = None
    n_c: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    es_id: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        k = len(self.study)
        if self.measure not in MEASURES_ON_MODEL_SCALE:
            raise ValueError(f"measure must be one of {MEASURES_ON_MODEL_SCALE}, got {self.measure!r}")
        if self.es_id is not None:
            object.__setattr__(self, "es_id", tuple(str(e) for e in self.es_id))
            if len(self.es_id) != k:
                raise ValueError(f"es_id needs one entry per row, got {len(self.es_id)} for {k}")
            pairs = list(zip(self.study, self.es_id, strict=True))
            if len(set(pairs)) != k:
                dup = next(p for p in pairs if pairs.count(p) > 1)
                raise ValueError(f"{self.outcome}/{self.timepoint}: study {dup[0]!r} has es_id {dup[1]!r} twice")
        elif len(set(self.study)) != k:
            raise ValueError(f"{self.outcome}/{self.timepoint}: duplicate study labels {self.study}")
        for name in ("estimate", "se", "n_total", "year"):
            arr = np.asarray(getattr(self, name), dtype=float)
            if arr.shape != (k,):
                raise ValueError(f"{name} has shape {arr.shape}, expected ({k},)")
            object.__setattr__(self, name, arr)
        if not np.all(np.isfinite(self.estimate)):
            raise ValueError(f"{self.outcome}/{self.timepoint}: non-finite estimate")
        if not np.all(np.isfinite(self.se) & (self.se > 0)):
            bad = [s for s, v in zip(self.study, self.se, strict=True) if not (np.isfinite(v) and v > 0)]
            raise ValueError(f"{self.outcome}/{self.timepoint}: se must be > 0 (studies {bad})")
        for name in ("events_t", "n_t", "events_c", "n_c"):
            val = getattr(self, name)
            if val is not None:
                arr = np.asarray(val, dtype=float)
                if arr.shape != (k,):
                    raise ValueError(f"{name} has shape {arr.shape}, expected ({k},)")
                object.__setattr__(self, name, arr)
        if len(self.derivation) != k or len(self.source) != k:
            raise ValueError("derivation and source need one entry per study")

    @property
    def k(self) -> int:
        """Number of studies."""
        return len(self.study)

    @property
    def multilevel(self) -> bool:
        """Whether some study has several estimates (three-level data)."""
        return len(set(self.study)) < len(self.study)

    @property
    def cluster(self) -> np.ndarray:
        """Study index (0.., in order of first appearance) of every row."""
        index = {s: i for i, s in enumerate(dict.fromkeys(self.study))}
        return np.array([index[s] for s in self.study], dtype=int)

    @property
    def variance(self) -> np.ndarray:
        """Sampling variance ``se**2``."""
        return self.se**2

    @property
    def has_counts(self) -> np.ndarray:
        """Boolean mask: studies with exact 2×2 counts."""
        if self.events_t is None:
            return np.zeros(self.k, dtype=bool)
        return np.isfinite(self.events_t) & np.isfinite(self.n_t) & np.isfinite(self.events_c) & np.isfinite(self.n_c)

    def subset(self, mask) -> EffectTable:
        """Return the table restricted to ``mask`` (boolean array or list of study labels)."""
        if not isinstance(mask, np.ndarray) or mask.dtype != bool:
            wanted = set(mask)
            mask = np.array([s in wanted for s in self.study])
        pick = np.flatnonzero(mask)

        def take(a):
            return None if a is None else np.asarray(a)[pick]

        return EffectTable(
            outcome=self.outcome,
            timepoint=self.timepoint,
            measure=self.measure,
            study=tuple(self.study[i] for i in pick),
            estimate=self.estimate[pick],
            se=self.se[pick],
            n_total=self.n_total[pick],
            year=self.year[pick],
            derivation=tuple(self.derivation[i] for i in pick),
            source=tuple(self.source[i] for i in pick),
            events_t=take(self.events_t),
            n_t=take(self.n_t),
            events_c=take(self.events_c),
            n_c=take(self.n_c),
            meta=dict(self.meta),
            es_id=None if self.es_id is None else tuple(self.es_id[i] for i in pick),
        )

    def drop(self, study: str) -> EffectTable:
        """Return the table without one study, all its estimates (for leave-one-study-out)."""
        if study not in self.study:
            raise KeyError(f"study {study!r} not in {self.outcome}/{self.timepoint}")
        return self.subset(np.array([s != study for s in self.study]))

    def to_records(self) -> list[dict]:
        """Rows as plain dicts (JSON-friendly; ``nan`` becomes ``None``)."""

        def clean(v):
            v = float(v)
            return None if not np.isfinite(v) else v

        out = []
        for i, s in enumerate(self.study):
            rec = {
                "study": s,
                "estimate": clean(self.estimate[i]),
                "se": clean(self.se[i]),
                "n_total": clean(self.n_total[i]),
                "year": clean(self.year[i]),
                "derivation": self.derivation[i],
            }
            if self.es_id is not None:  # only then: two-level tables keep their hashes
                rec["es_id"] = self.es_id[i]
            if self.events_t is not None:
                rec.update(
                    events_t=clean(self.events_t[i]),
                    n_t=clean(self.n_t[i]),
                    events_c=clean(self.events_c[i]),
                    n_c=clean(self.n_c[i]),
                )
            out.append(rec)
        return out

    def content_hash(self) -> str:
        """SHA-256 of the numbers and labels that a model sees (for fit provenance)."""
        payload = {
            "outcome": self.outcome,
            "timepoint": self.timepoint,
            "measure": self.measure,
            "rows": [{k: v for k, v in r.items() if k != "derivation"} for r in self.to_records()],
        }
        blob = json.dumps(payload, sort_keys=True, default=repr).encode()
        return hashlib.sha256(blob).hexdigest()
