"""The :class:`Review`: validated rows of one review plus its study-level moderators.

A Review is immutable in spirit: :meth:`Review.restrict` returns a new one. It turns rows into
model input with :meth:`Review.effects`, which returns an
:class:`~vfsynth.data.effect_table.EffectTable` on the benefit scale.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vfsynth.data import effects as es
from vfsynth.data import schema
from vfsynth.data.effect_table import EffectTable
from vfsynth.data.errors import (
    DataRequestError,
    MixedMeasureError,
    NoEstimableRowsError,
    Problem,
    UnknownAnalysisError,
)
from vfsynth.data.row_effects import RowEffect, row_effect  # noqa: F401  (public here since v1)


@dataclass(frozen=True)
class Review:
    """A validated review: data rows, optional moderators, optional published pooled results.

    Attributes
    ----------
    name : str
    rows : DataFrame
        Schema columns + ``line`` (1-based file line) + ``form`` (data form of the row).
    moderators : DataFrame or None
        Indexed by study.
    published : DataFrame or None
        The review's published pooled results (bundled review only).
    not_found : DataFrame or None
        Study × outcome × time point measured but without usable numbers (bundled review only).
    """

    name: str
    rows: pd.DataFrame
    moderators: pd.DataFrame | None = None
    published: pd.DataFrame | None = None
    not_found: pd.DataFrame | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Direct construction is public API (``Review(name, df)``), so it must hold the same
        # guarantees as a loaded review: every later stage trusts ``rows`` without checking.
        from vfsynth.data.validate import validate_frame, validate_moderators_frame

        label = f"review {self.name!r} (DataFrame)"
        rows = validate_frame(self.rows, label)
        mods = self.moderators
        if mods is not None:
            # Studies listed in not_found were measured but report nothing; they may have
            # moderators without a data row (as in the bundled review).
            known = set(rows["study"])
            if self.not_found is not None and "study" in self.not_found.columns:
                known |= set(self.not_found["study"])
            mods = validate_moderators_frame(mods, known, f"{label} moderators")
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "moderators", mods)

    @classmethod
    def _from_validated(
        cls,
        name: str,
        rows: pd.DataFrame,
        moderators: pd.DataFrame | None = None,
        published: pd.DataFrame | None = None,
        not_found: pd.DataFrame | None = None,
        meta: dict | None = None,
    ) -> Review:
        """Build a Review from frames that the loaders have already validated.

        Skips ``__post_init__``: re-validating would cost a full pass over every row on each
        :meth:`restrict` and load. Only for rows returned by :mod:`vfsynth.data.validate`.
        """
        obj = object.__new__(cls)
        values = dict(
            name=name,
            rows=rows,
            moderators=moderators,
            published=published,
            not_found=not_found,
            meta={} if meta is None else meta,
        )
        for key, value in values.items():
            object.__setattr__(obj, key, value)
        return obj

    # --- listing -----------------------------------------------------------------
    def studies(self) -> list[str]:
        """Studies with at least one data row, in order of first appearance."""
        return list(dict.fromkeys(self.rows["study"]))

    def outcomes(self) -> list[str]:
        return list(dict.fromkeys(self.rows["outcome"]))

    def analyses(self) -> list[tuple[str, str]]:
        """(outcome, timepoint) pairs present, ordered by outcome then time point."""
        tp_order = {t: i for i, t in enumerate(schema.TIMEPOINTS)}
        out_order = {o: i for i, o in enumerate(self.outcomes())}
        pairs = set(zip(self.rows["outcome"], self.rows["timepoint"], strict=True))
        return sorted(pairs, key=lambda p: (out_order[p[0]], tp_order.get(p[1], 99), p[1]))

    # --- restriction ---------------------------------------------------------------
    def restrict(self, inclusion: Iterable[str] = ("confirmed", "inferred")) -> Review:
        """Keep only studies whose moderator ``inclusion`` is in ``inclusion``.

        Raises :class:`~vfsynth.data.errors.DataRequestError` (a ``ValueError``) if the review
        has no ``inclusion`` moderator or a requested level
        is not used by any study (a typo would otherwise silently give an empty review).
        """
        wanted = [s.strip() for s in inclusion if s.strip()]
        if self.moderators is None or "inclusion" not in self.moderators.columns:
            raise DataRequestError(f"review {self.name!r} has no 'inclusion' moderator to restrict on")
        levels = set(self.moderators["inclusion"].dropna())
        unknown = [w for w in wanted if w not in levels]
        if unknown:
            raise DataRequestError(
                f"unknown inclusion level(s) {unknown}; this review uses {sorted(levels)}"
            )
        keep = set(self.moderators.index[self.moderators["inclusion"].isin(wanted)])
        rows = self.rows[self.rows["study"].isin(keep)].reset_index(drop=True)
        nf = None if self.not_found is None else self.not_found[self.not_found["study"].isin(keep)]
        meta = dict(self.meta, inclusion=tuple(wanted))
        return Review._from_validated(self.name, rows, self.moderators, self.published, nf, meta)

    # --- effects -------------------------------------------------------------------
    def effects(
        self, outcome: str, timepoint: str = "post", smd_variance: str = "metafor"
    ) -> EffectTable:
        """Study effects for one outcome × time point on the benefit scale.

        When the rows mix SMD and log-OR, every row is converted to the outcome's majority
        measure with Chinn (2000) (ties go to the measure of the first row) and the conversion is
        recorded in ``derivation``. MD cannot be mixed with SMD / log OR (no common scale without
        the SDs): that raises :class:`~vfsynth.data.errors.DataRequestError` (a ``ValueError``);
        no rows raises :class:`~vfsynth.data.errors.UnknownAnalysisError` (a ``KeyError``).
        """
        sel = self.rows[(self.rows["outcome"] == outcome) & (self.rows["timepoint"] == timepoint)]
        if sel.empty:
            raise UnknownAnalysisError(
                f"no rows for outcome {outcome!r} at time point {timepoint!r}; available: {self.analyses()}"
            )
        excluded = not_estimable_rows(sel)
        if "not_estimable" in sel.columns:
            sel = sel[sel["not_estimable"].fillna("") == ""]
        if sel.empty:
            raise NoEstimableRowsError(
                f"{outcome}/{timepoint}: no estimable row ("
                + "; ".join(f"{e['study']} (line {e['line']}): {e['reason']}" for e in excluded)
                + ")"
            )
        # plain dicts, one pass: iterrows() builds a Series per row and deep-copies the frame's
        # attrs into each (O(k^2) for a large file); the values and their Python types are the same
        records = sel.to_dict("records")
        effs = [row_effect(r, smd_variance) for r in records]
        counts = Counter(e.measure for e in effs)
        if set(counts) - {"SMD", "logOR"} and len(counts) > 1:
            # Name each row outside the largest group of poolable measures (SMD and log OR convert
            # into each other, by Chinn 2000; nothing else does): every data problem names line,
            # study and column.
            def group(m: str) -> str:
                return "SMD / log OR" if m in ("SMD", "logOR") else m

            sizes = Counter(group(e.measure) for e in effs)  # in row order: ties keep the first
            keep = max(sizes, key=sizes.__getitem__)
            first_kept = next(r for e, r in zip(effs, records, strict=True) if group(e.measure) == keep)
            problems = [
                Problem(int(r["line"]), r["study"], "measure",
                        f"{outcome}/{timepoint}: cannot mix measures: a {e.measure} row cannot be pooled with {keep} rows such as "
                        f"line {int(first_kept['line'])} (no common scale); use one measure per outcome")
                for e, r in zip(effs, records, strict=True)
                if group(e.measure) != keep
            ]
            raise MixedMeasureError(problems, self.meta.get("path"))
        scales = sorted({str(r["scale"]) for r in records if r.get("scale")})
        if "GIV" in counts and len(scales) > 1:
            raise DataRequestError(f"{outcome}/{timepoint}: GIV rows on different scales {scales}")
        top = max(counts.values())
        measure = next(e.measure for e in effs if counts[e.measure] == top)
        est, se, deriv = [], [], []
        for e, r in zip(effs, records, strict=True):
            y, v, how = e.estimate, e.variance, e.derivation
            if e.measure != measure:
                if measure == "SMD":
                    y, v = es.logor_to_smd(y, v)
                    how += "; converted log OR -> SMD (Chinn 2000, x sqrt(3)/pi)"
                else:
                    y, v = es.smd_to_logor(y, v)
                    how += "; converted SMD -> log OR (Chinn 2000, x pi/sqrt(3))"
            if r["note"]:
                how += f" | note: {r['note']}"
            est.append(y)
            se.append(math.sqrt(v))
            deriv.append(how)
        n_total = np.where(
            sel["n_t"].notna() & sel["n_c"].notna(), sel["n_t"] + sel["n_c"], sel["n_total"]
        ).astype(float)
        year = sel["year"].to_numpy(dtype=float).copy()
        if self.moderators is not None and "year" in self.moderators.columns:
            for i, s in enumerate(sel["study"]):
                if math.isnan(year[i]) and s in self.moderators.index:
                    val = pd.to_numeric(self.moderators.at[s, "year"], errors="coerce")
                    year[i] = float(val) if pd.notna(val) else math.nan
        count_cols = None
        if measure == "logOR":
            c = np.array(
                [e.counts if e.counts is not None else (math.nan,) * 4 for e in effs], dtype=float
            )
            count_cols = dict(events_t=c[:, 0], n_t=c[:, 1], events_c=c[:, 2], n_c=c[:, 3])
        return EffectTable(
            outcome=outcome,
            timepoint=timepoint,
            measure=measure,
            study=tuple(sel["study"]),
            estimate=np.array(est),
            se=np.array(se),
            n_total=n_total,
            year=year,
            derivation=tuple(deriv),
            source=tuple(sel["source"]),
            meta={
                "review": self.name,
                "smd_variance": smd_variance,
                "lines": [int(x) for x in sel["line"]],
                "inclusion": self.meta.get("inclusion"),
                "converted": int(sum(e.measure != measure for e in effs)),
                "not_estimable": excluded,
                "direction": _direction(sel, self.rows.attrs.get("direction_not_stated")),
                **({"scale": scales[0]} if scales else {}),
            },
            **(count_cols or {}),
            **_estimate_ids(sel),
        )

    def not_estimable(self) -> list[dict]:
        """Every row left out of pooling: outcome, time point, study, file line and reason."""
        return not_estimable_rows(self.rows)

    def completeness(self) -> pd.DataFrame:
        """Per outcome × time point: studies with arm data, with a reported effect, with nothing.

        "Nothing" lists the study × outcome × time points known to be measured but without usable
        numbers (``not_found``; bundled review only). For the bundled review every standard
        outcome appears, also those with no row at all.
        """
        keys = list(self.analyses())
        if self.not_found is not None:
            extra = [
                (o, t)
                for o, t in zip(self.not_found["outcome"], self.not_found["timepoint"], strict=True)
                if o != "any"
            ]
            keys += [(o, "post") for o in schema.BUNDLED_OUTCOMES]
            keys += extra
        keys = list(dict.fromkeys(keys))
        tp_order = {t: i for i, t in enumerate(schema.TIMEPOINTS)}
        std = {o: i for i, o in enumerate(schema.BUNDLED_OUTCOMES)}
        keys.sort(key=lambda p: (std.get(p[0], len(std)), p[0], tp_order.get(p[1], 99)))
        out = []
        for o, t in keys:
            sel = self.rows[(self.rows["outcome"] == o) & (self.rows["timepoint"] == t)]
            arms = list(sel.loc[sel["form"] != "estimate", "study"])
            effect = list(sel.loc[sel["form"] == "estimate", "study"])
            nothing = []
            if self.not_found is not None:
                nf = self.not_found
                nothing = list(nf.loc[(nf["outcome"] == o) & (nf["timepoint"] == t), "study"])
            out.append(
                dict(
                    outcome=o,
                    timepoint=t,
                    n_arm_data=len(arms),
                    n_reported_effect=len(effect),
                    n_nothing=len(nothing),
                    arm_data="; ".join(arms),
                    reported_effect="; ".join(effect),
                    nothing="; ".join(nothing),
                )
            )
        return pd.DataFrame(out)

    def content_hash(self) -> str:
        """SHA-256 of the data rows and moderators (provenance of fits)."""
        h = hashlib.sha256()
        h.update(self.name.encode())
        rows = self.rows.drop(columns=["line"])
        if "es_id" in rows.columns and not rows["es_id"].astype(bool).any():
            rows = rows.drop(columns=["es_id"])  # reviews without es_id keep the hash they had
        h.update(rows.to_csv(index=False).encode())
        if self.moderators is not None:
            h.update(self.moderators.to_csv().encode())
        return h.hexdigest()


def not_estimable_rows(rows: pd.DataFrame) -> list[dict]:
    """The rows of ``rows`` that cannot give an effect, with their reasons (RevMan's "not
    estimable" studies: kept, listed, left out of pooling). See :mod:`vfsynth.data.row_forms`."""
    if "not_estimable" not in rows.columns:
        return []
    bad = rows[rows["not_estimable"].fillna("") != ""]
    return [
        {"outcome": r["outcome"], "timepoint": r["timepoint"], "study": r["study"],
         "line": int(r["line"]), "reason": r["not_estimable"]}
        for r in bad.to_dict("records")  # not iterrows(): it deep-copies the frame's attrs per row
    ]


def _estimate_ids(sel: pd.DataFrame) -> dict:
    """``es_id`` for an EffectTable when some study of the analysis has several estimates
    (validation has made (study, es_id) unique then); nothing otherwise, so a two-level
    analysis's table and its hash stay as they were."""
    if "es_id" not in sel.columns or not sel["study"].duplicated().any():
        return {}
    return {"es_id": tuple(str(e) for e in sel["es_id"])}


def _direction(sel: pd.DataFrame, unstated) -> dict:
    """Which way the analysis's rows count: ``higher_is_better`` per row and whether the file
    said so (``stated``: ``None`` where the frame came without that record)."""
    hib = sorted({bool(v) for v in sel["higher_is_better"]})
    stated = None
    if unstated is not None:
        gone = set(unstated)
        stated = not any(int(line) in gone for line in sel["line"])
    return {"higher_is_better": hib[0] if len(hib) == 1 else "mixed", "stated": stated}
