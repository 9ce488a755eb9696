"""The data of the joint mediation model: every outcome row of every study, assembled.

:func:`assemble` / :func:`assemble_review` turn a review's rows into a :class:`JointData`
(rows, constructs, time points, Chinn-scaled counts, the study of each row); the model built on
it is in :mod:`vfsynth.models.joint`, which re-exports these names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vfsynth.data.effect_table import EffectTable
from vfsynth.data.effects import CHINN_FACTOR
from vfsynth.data.errors import VfsynthError

#: Chinn (2000) logistic approximation: log OR = SMD * pi / sqrt(3).
CHINN = CHINN_FACTOR

DEFAULT_MEDIATORS = ("sensitivity", "reflective_functioning")
DEFAULT_OUTCOMES = ("attachment_security", "attachment_aqs")
DEFAULT_FINAL = "attachment"
POST = "post"

#: External observational slope (De Wolff & van IJzendoorn 1997, r = .24) and its prior SD.
B_EXTERNAL_MEAN = 0.24
B_EXTERNAL_SD = 0.12

LKJ_ETA = 2.0
RHO_W_DEFAULT = 0.3
DELTA_MEAN_SD = 0.5
DELTA_TAU_SCALE = 0.25
ALPHA_SD = 10.0

PRIOR_ONLY_LABEL = "prior only — no data"


class JointSpecError(VfsynthError, ValueError):
    """The joint model cannot be built from the requested outcomes / data (user error)."""


# ---------------------------------------------------------------------------------------------
# Data assembly
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JointData:
    """All rows of a review that enter the joint model, indexed into the latent matrix.

    The latent matrix has one row per study and one column ("slot") per construct at the
    post-intervention time point, followed by one slot per follow-up cell
    (construct, time point). Normal rows and count rows index that matrix.

    Attributes
    ----------
    constructs : tuple of str
        Latent constructs, mediators first, the final outcome last.
    construct_outcomes : dict
        Observed outcome names measuring each construct.
    studies : tuple of str
        Every study with at least one usable row (no study is dropped for missingness).
    cells : tuple of str
        Follow-up cells ``"construct@timepoint"``; ``cell_construct`` their construct index.
    y, se, factor : ndarray
        Normal rows: estimate, standard error, and the factor mapping the latent SMD onto the
        row's scale (1 for SMD, :data:`CHINN` for log OR).
    row_study, row_slot : ndarray of int
        Study index and latent slot of each normal row.
    row_label, row_outcome, row_timepoint, row_measure : tuple of str
    events_t, n_t, events_c, n_c : ndarray
        Count rows (benefit-oriented: events = favourable outcome).
    crow_study, crow_slot : ndarray of int
    crow_label, crow_outcome, crow_timepoint : tuple of str
    """

    constructs: tuple[str, ...]
    construct_outcomes: dict
    studies: tuple[str, ...]
    cells: tuple[str, ...]
    cell_construct: np.ndarray
    y: np.ndarray
    se: np.ndarray
    factor: np.ndarray
    row_study: np.ndarray
    row_slot: np.ndarray
    row_label: tuple[str, ...]
    row_outcome: tuple[str, ...]
    row_timepoint: tuple[str, ...]
    row_measure: tuple[str, ...]
    events_t: np.ndarray
    n_t: np.ndarray
    events_c: np.ndarray
    n_c: np.ndarray
    crow_study: np.ndarray
    crow_slot: np.ndarray
    crow_label: tuple[str, ...]
    crow_outcome: tuple[str, ...]
    crow_timepoint: tuple[str, ...]
    meta: dict = field(default_factory=dict)

    @property
    def mediators(self) -> tuple[str, ...]:
        return self.constructs[:-1]

    @property
    def final(self) -> str:
        return self.constructs[-1]

    @property
    def n_rows(self) -> int:
        return len(self.y)

    @property
    def n_count_rows(self) -> int:
        return len(self.events_t)

    @property
    def slots(self) -> tuple[str, ...]:
        return tuple(self.constructs) + tuple(self.cells)

    def slot_construct(self) -> np.ndarray:
        """Construct index of every latent slot."""
        return np.concatenate([np.arange(len(self.constructs)), np.asarray(self.cell_construct, dtype=int)]).astype(int)

    def rows_per_construct(self) -> dict[str, int]:
        """Number of usable rows (normal + count, any time point) per construct."""
        sc = self.slot_construct()
        out = {c: 0 for c in self.constructs}
        for s in np.concatenate([self.row_slot, self.crow_slot]).astype(int):
            out[self.constructs[sc[s]]] += 1
        return out

    def has_data(self, construct: str) -> bool:
        return self.rows_per_construct()[construct] > 0

    def studies_per_construct(self) -> dict[str, int]:
        sc = self.slot_construct()
        sets: dict[str, set] = {c: set() for c in self.constructs}
        for st, sl in zip(
            np.concatenate([self.row_study, self.crow_study]).astype(int),
            np.concatenate([self.row_slot, self.crow_slot]).astype(int),
            strict=True,
        ):
            sets[self.constructs[sc[sl]]].add(self.studies[st])
        return {c: len(v) for c, v in sets.items()}

    def max_rows_per_study(self) -> int:
        if self.n_rows == 0:
            return 0
        return int(np.bincount(self.row_study.astype(int)).max())

    def with_values(
        self, y: np.ndarray | None = None, events_t: np.ndarray | None = None, events_c: np.ndarray | None = None
    ) -> JointData:
        """Same design, new observed values (for simulation studies)."""
        from dataclasses import replace

        return replace(
            self,
            y=self.y if y is None else np.asarray(y, dtype=float),
            events_t=self.events_t if events_t is None else np.asarray(events_t, dtype=float),
            events_c=self.events_c if events_c is None else np.asarray(events_c, dtype=float),
        )

    def to_dict(self) -> dict:
        """JSON-friendly description (for fit provenance and caching)."""
        return {
            "constructs": list(self.constructs),
            "construct_outcomes": {k: list(v) for k, v in self.construct_outcomes.items()},
            "studies": list(self.studies),
            "cells": list(self.cells),
            **({"md_units": dict(self.meta["md_units"])} if self.meta.get("md_units") else {}),
            "normal_rows": [
                {
                    "label": self.row_label[r],
                    "study": self.studies[int(self.row_study[r])],
                    "outcome": self.row_outcome[r],
                    "timepoint": self.row_timepoint[r],
                    "measure": self.row_measure[r],
                    "estimate": float(self.y[r]),
                    "se": float(self.se[r]),
                }
                for r in range(self.n_rows)
            ],
            "count_rows": [
                {
                    "label": self.crow_label[r],
                    "study": self.studies[int(self.crow_study[r])],
                    "outcome": self.crow_outcome[r],
                    "timepoint": self.crow_timepoint[r],
                    "events_t": float(self.events_t[r]),
                    "n_t": float(self.n_t[r]),
                    "events_c": float(self.events_c[r]),
                    "n_c": float(self.n_c[r]),
                }
                for r in range(self.n_count_rows)
            ],
        }

    def content_hash(self) -> str:
        import hashlib
        import json

        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


def final_construct_name(outcomes: Sequence[str]) -> str:
    """Name of the latent final outcome: ``"attachment"`` for attachment measures."""
    outcomes = tuple(outcomes)
    if outcomes and all(o.startswith("attachment") for o in outcomes) and len(outcomes) > 1:
        return DEFAULT_FINAL
    return "+".join(outcomes)


def assemble(
    tables: Iterable[EffectTable],
    mediators: Sequence[str] = DEFAULT_MEDIATORS,
    outcomes: Sequence[str] = DEFAULT_OUTCOMES,
    *,
    final_name: str | None = None,
    md_units: Mapping[str, float] | None = None,
) -> JointData:
    """Index the rows of several effect tables into the joint model's latent matrix.

    Parameters
    ----------
    tables : iterable of EffectTable
        One table per (outcome, time point); tables of outcomes not named in ``mediators``
        or ``outcomes`` are ignored. Time point ``"post"`` is the base; every other time
        point becomes a follow-up cell.
    mediators : sequence of str
        Mediator outcome names, the headline mediator first.
    outcomes : sequence of str
        Observed outcome names that measure the final (latent) outcome.
    final_name : str, optional
        Name of the final construct (default :func:`final_construct_name`).
    md_units : mapping outcome -> float, optional
        Mean differences the user puts on the model's unit scale by dividing by a stated unit
        (e.g. ``{"fev1": 100.0}``: FEV1 in units of 100 mL, so that the unit-scale priors
        N(0, 1) on the mean and half-normal(0.5) on tau mean ±196 mL and a 50 mL median
        heterogeneity). ``b`` is then "final-outcome SMD per unit of that mediator". Without an
        entry an MD table is refused: the model links outcomes on the SMD scale.

    Raises
    ------
    JointSpecError
        Overlapping mediator/outcome names, no mediator, or an MD-scale table (the joint
        model needs a common standardised scale).
    """
    mediators = tuple(mediators)
    outcomes = tuple(outcomes)
    if not mediators:
        raise JointSpecError("the joint model needs at least one mediator outcome")
    if not outcomes:
        raise JointSpecError("the joint model needs at least one final outcome")
    if len(set(mediators)) != len(mediators) or len(set(outcomes)) != len(outcomes):
        raise JointSpecError(f"duplicate outcome names in mediators {mediators} / outcomes {outcomes}")
    overlap = set(mediators) & set(outcomes)
    if overlap:
        raise JointSpecError(f"outcome(s) {sorted(overlap)} named both as mediator and as final outcome")
    final = final_name or final_construct_name(outcomes)
    if final in mediators:
        raise JointSpecError(f"final construct name {final!r} clashes with a mediator name")
    constructs = mediators + (final,)
    construct_of = {m: m for m in mediators} | {o: final for o in outcomes}

    tables = [t for t in tables if t.outcome in construct_of]
    md_units = dict(md_units or {})
    for o, u in md_units.items():
        if o not in construct_of:
            raise JointSpecError(f"md unit given for {o!r}, which is not a mediator or final outcome of the joint model")
        if not (np.isfinite(u) and u > 0):
            raise JointSpecError(f"md unit of {o!r} must be a positive number, got {u!r}")
    for t in tables:
        if t.measure == "MD" and t.outcome in md_units:
            continue
        if t.measure == "MD":
            raise JointSpecError(
                f"outcome {t.outcome!r} ({t.timepoint}) is on the MD scale; the joint model links outcomes on "
                "the SMD scale (log OR via Chinn 2000). Give SMDs (or arm means and SDs) for this outcome."
            )
        if not t.timepoint:
            raise JointSpecError(f"outcome {t.outcome!r} has an empty time point")
    tables.sort(key=lambda t: (constructs.index(construct_of[t.outcome]), t.timepoint != POST, t.timepoint, t.outcome))

    studies: list[str] = []
    for t in tables:
        for s in t.study:
            if s not in studies:
                studies.append(s)
    studies_sorted = tuple(sorted(studies))
    sidx = {s: i for i, s in enumerate(studies_sorted)}

    cells: list[tuple[str, str]] = []
    for t in tables:
        key = (construct_of[t.outcome], t.timepoint)
        if t.timepoint != POST and key not in cells:
            cells.append(key)
    cell_names = tuple(f"{c}@{tp}" for c, tp in cells)
    cell_construct = np.array([constructs.index(c) for c, _ in cells], dtype=int)

    def slot_of(outcome: str, timepoint: str) -> int:
        c = construct_of[outcome]
        if timepoint == POST:
            return constructs.index(c)
        return len(constructs) + cells.index((c, timepoint))

    nr: dict[str, list] = {k: [] for k in ("y", "se", "f", "st", "sl", "lab", "out", "tp", "meas")}
    cr: dict[str, list] = {k: [] for k in ("et", "nt", "ec", "nc", "st", "sl", "lab", "out", "tp")}
    for t in tables:
        counts = t.has_counts
        for i, s in enumerate(t.study):
            label = f"{s} | {t.outcome} | {t.timepoint}"
            if t.measure == "logOR" and counts[i]:
                cr["et"].append(t.events_t[i])
                cr["nt"].append(t.n_t[i])
                cr["ec"].append(t.events_c[i])
                cr["nc"].append(t.n_c[i])
                cr["st"].append(sidx[s])
                cr["sl"].append(slot_of(t.outcome, t.timepoint))
                cr["lab"].append(label)
                cr["out"].append(t.outcome)
                cr["tp"].append(t.timepoint)
            else:
                unit = md_units.get(t.outcome, 1.0) if t.measure == "MD" else 1.0
                nr["y"].append(t.estimate[i] / unit)
                nr["se"].append(t.se[i] / unit)
                nr["f"].append(CHINN if t.measure == "logOR" else 1.0)
                nr["st"].append(sidx[s])
                nr["sl"].append(slot_of(t.outcome, t.timepoint))
                nr["lab"].append(label)
                nr["out"].append(t.outcome)
                nr["tp"].append(t.timepoint)
                nr["meas"].append(t.measure)
    labels = nr["lab"] + cr["lab"]
    if len(set(labels)) != len(labels):
        dup = sorted({x for x in labels if labels.count(x) > 1})
        raise JointSpecError(f"duplicate (study, outcome, time point) rows: {dup}")

    farr = lambda v: np.asarray(v, dtype=float)  # noqa: E731
    iarr = lambda v: np.asarray(v, dtype=int)  # noqa: E731
    return JointData(
        constructs=constructs,
        construct_outcomes={c: tuple(o for o in (mediators + outcomes) if construct_of[o] == c) for c in constructs},
        studies=studies_sorted,
        cells=cell_names,
        cell_construct=cell_construct,
        y=farr(nr["y"]),
        se=farr(nr["se"]),
        factor=farr(nr["f"]),
        row_study=iarr(nr["st"]),
        row_slot=iarr(nr["sl"]),
        row_label=tuple(nr["lab"]),
        row_outcome=tuple(nr["out"]),
        row_timepoint=tuple(nr["tp"]),
        row_measure=tuple(nr["meas"]),
        events_t=farr(cr["et"]),
        n_t=farr(cr["nt"]),
        events_c=farr(cr["ec"]),
        n_c=farr(cr["nc"]),
        crow_study=iarr(cr["st"]),
        crow_slot=iarr(cr["sl"]),
        crow_label=tuple(cr["lab"]),
        crow_outcome=tuple(cr["out"]),
        crow_timepoint=tuple(cr["tp"]),
        meta={"md_units": md_units} if md_units else {},
    )


def assemble_review(
    review: Any,
    mediators: Sequence[str] = DEFAULT_MEDIATORS,
    outcomes: Sequence[str] = DEFAULT_OUTCOMES,
    *,
    final_name: str | None = None,
    md_units: Mapping[str, float] | None = None,
) -> JointData:
    """:func:`assemble` for a :class:`vfsynth.data.Review`: every analysis of the named outcomes.

    An outcome named by the user that the review does not contain at all is an error
    unless it is one of the defaults (reflective functioning, attachment), which are
    allowed to be absent and then show their prior.
    """
    analyses = list(review.analyses())
    present = {o for o, _ in analyses}
    wanted = tuple(mediators) + tuple(outcomes)
    unknown = [o for o in wanted if o not in present and o not in DEFAULT_MEDIATORS + DEFAULT_OUTCOMES]
    if unknown:
        raise JointSpecError(
            f"outcome(s) {unknown} not found in review {getattr(review, 'name', '')!r}; it has: {sorted(present)}"
        )
    tables = [review.effects(o, tp) for o, tp in analyses if o in wanted]
    return assemble(tables, mediators, outcomes, final_name=final_name, md_units=md_units)


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------
