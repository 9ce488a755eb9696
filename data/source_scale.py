"""How a pooled effect reads on the analysis's own measure and in its own direction (issue 14).

Models work on the *benefit scale*: a row with ``higher_is_better = false`` is turned round on the
way in (:mod:`vfsynth.data.row_effects`) so that a positive value always favours the intervention.
For continuous outcomes that is how results have always been shown. For event outcomes (binary
arms, events over person-time) it is not how the source reads: RevMan pools the RR *of the events
as counted* (sore throat on day 3, deaths), and "RR < 1 favours intervention" when the events are
harmful. A :class:`SourceScale` maps a benefit-scale value back:

* the source's model scale is :math:`s = -b` when the rows were turned round (events harmful),
  else :math:`s = b`; the display scale is ``to_display(measure, s)`` (exp for log RR / log OR /
  log IRR, identity for RD);
* both maps are monotone, so posterior quantiles transform exactly: the source median is the
  transform of the benefit median, and a turned-round interval swaps its ends. A mean does *not*
  transform this way (E[exp(x)] != exp(E[x])), so ratios are reported by median and quantiles only;
* which side favours the intervention follows RevMan's wording: for harmful events RR < 1 (RD < 0)
  "favours intervention", for good events RR > 1 does;
* :math:`P(\\text{benefit}) = P(b > 0)` is the probability that the intervention is better *in
  the source's sense*: ``P(RR < 1)`` for harmful events, ``P(RR > 1)`` for good ones.

Where the data did not say which way the events count (a blank ``higher_is_better``, a RevMan Web
CSV, which carries no forest-plot labels) the default ``true`` (events good) is used and every
output says so (:attr:`SourceScale.note`).

Continuous and single-arm measures keep the benefit scale (:attr:`SourceScale.events` is False):
their reports are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vfsynth.data.measures import MEASURES, to_display

#: Measures of events (binary arms, events over person-time): shown in the source's own direction.
EVENT_MEASURES = ("logOR", "logRR", "RD", "logIRR")

_AXIS_NAME = {"logOR": "Odds ratio", "logRR": "Risk ratio", "RD": "Risk difference", "logIRR": "Rate ratio"}


@dataclass(frozen=True)
class SourceScale:
    """The source's reading of one analysis (see the module docstring).

    Attributes
    ----------
    measure : str
        Model-scale measure (``"logRR"``, ...).
    events : bool
        True for :data:`EVENT_MEASURES` (shown in the source's direction), else False.
    flip : bool
        True when benefit-scale values are minus the source's (events counted as harmful).
    higher_is_better : bool or "mixed" or None
        As the rows give it (``None``: unknown).
    stated : bool or None
        Whether the data stated the direction (``None``: not recorded).
    """

    measure: str
    events: bool
    flip: bool
    higher_is_better: bool | str | None
    stated: bool | None

    @property
    def display(self) -> str:
        """Display name of the measure (RR for logRR)."""
        info = MEASURES.get(self.measure)
        return info.display if info is not None else self.measure

    @property
    def ratio(self) -> bool:
        return MEASURES.get(self.measure) is not None and MEASURES[self.measure].transform == "exp"

    @property
    def null(self) -> float:
        """No-effect value on the display scale (1 for ratios, 0 for differences)."""
        return 1.0 if self.ratio else 0.0

    @property
    def favours_side(self) -> str:
        """Which side of the null favours the intervention, e.g. ``"RR < 1"``."""
        below = self.flip
        return f"{self.display} {'<' if below else '>'} {self.null:g}"

    def shown(self, benefit_values):
        """Benefit-scale (model-scale) value(s) -> the source's display scale."""
        v = np.asarray(benefit_values, dtype=float)
        return to_display(self.measure, -v if self.flip else v)

    def interval(self, median: float, low: float, high: float) -> tuple[float, float, float]:
        """(median, low, high) on the display scale; a turned-round interval swaps its ends."""
        m, a, b = (float(self.shown(x)) for x in (median, low, high))
        return (m, min(a, b), max(a, b))

    def favours(self, benefit_value: float) -> str:
        """RevMan's words for a benefit-scale point: "favours intervention" / "favours control"
        (qualified when the data did not say which way the events count)."""
        if benefit_value == 0:
            return "no difference"
        words = "favours intervention" if benefit_value > 0 else "favours control"
        if self.events and self.stated is False:
            words += " if the events are good (direction not stated)"
        return words

    @property
    def events_text(self) -> str:
        """Which way the events count, in words."""
        if not self.events:
            return ""
        if self.higher_is_better == "mixed":
            return "rows differ in which way their events count (higher_is_better mixed)"
        if self.flip:
            return "events counted as the source counts them; events are harmful, fewer favour the intervention"
        return "events counted as the source counts them; events are good, more favour the intervention"

    @property
    def note(self) -> str:
        """One sentence for every output: the reading rule and whether the data stated it."""
        if not self.events:
            return ""
        if self.higher_is_better == "mixed":
            return (f"{self.events_text}: results stay on the benefit scale (positive favours the intervention); "
                    "give one higher_is_better per outcome")
        said = {True: "the data state this",
                False: "DIRECTION NOT STATED in the data: events assumed good (higher_is_better defaulted to "
                       "true); if the events are harmful, intervention and control sides and P(benefit) read the "
                       "other way: set higher_is_better",
                None: "whether the data state this is not recorded"}[self.stated]
        return f"{self.favours_side} favours intervention ({self.events_text}; {said})"

    @property
    def axis_label(self) -> str:
        """x-axis label of a figure on the display scale."""
        return f"{_AXIS_NAME.get(self.measure, self.display)} ({self.favours_side} favours intervention)"

    def to_dict(self) -> dict[str, Any]:
        return {"measure": self.display, "model_measure": self.measure, "events": self.events, "flip": self.flip,
                "higher_is_better": self.higher_is_better, "stated": self.stated,
                "favours_intervention": f"{self.favours_side}" if self.events else None, "note": self.note}


def source_scale(measure: str, direction: dict | None) -> SourceScale:
    """The :class:`SourceScale` of an analysis from its measure and ``table.meta["direction"]``
    (:func:`vfsynth.data.review._direction`: ``higher_is_better`` and ``stated``)."""
    d = direction or {}
    hib = d.get("higher_is_better")
    events = measure in EVENT_MEASURES
    return SourceScale(measure=measure, events=events, flip=bool(events and hib is False),
                       higher_is_better=hib, stated=d.get("stated"))
