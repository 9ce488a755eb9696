"""Absolute effects of binary outcomes at assumed control-arm risks (per 1,000, NNT).

References
----------
Altman DG. Confidence intervals for the number needed to treat. *BMJ* 1998;317:1309-12 (NNTB / NNTH).
Schünemann HJ et al. Cochrane Handbook ch. 14 (absolute effects per 1,000 at an assumed control risk).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from vfsynth.reports.draws import as_dataarray, interval

#: Control-arm risk of secure attachment assumed in CD012348's summary of findings (341/1000).
PUBLISHED_CONTROL_RISK_CD012348 = 0.341


# ----------------------------------------------------------------------------------------------
# absolute effects (binary outcomes)
# ----------------------------------------------------------------------------------------------
@dataclass
class AbsoluteEffect:
    """Absolute effect at one control-arm risk, from per-draw odds ratios.

    For each draw, p_t = expit(logit(p_c) + log OR) and RD = p_t - p_c; medians and intervals
    are taken over draws. NNT = 1 / RD: since 1/x is monotone where RD keeps its sign, the
    NNT interval is the inverted RD interval; when the RD interval includes 0 the NNT
    interval runs "NNTB a to ∞ to NNTH b" (Altman 1998).
    """

    label: str
    control_risk: float
    per: int
    intervention_median: float
    intervention_low: float
    intervention_high: float
    difference_median: float
    difference_low: float
    difference_high: float
    p_benefit: float

    @property
    def nnt(self) -> str:
        """Number needed to treat, as text (NNTB for benefit, NNTH for harm)."""
        rd_med, lo, hi = (v / self.per for v in (self.difference_median, self.difference_low, self.difference_high))

        def one(rd: float) -> str:
            if rd == 0:
                return "∞"
            return f"NNTB {1 / rd:.1f}" if rd > 0 else f"NNTH {-1 / rd:.1f}"

        if lo > 0 or hi < 0:
            a, b = sorted((abs(1 / lo), abs(1 / hi)))
            kind = "NNTB" if lo > 0 else "NNTH"
            return f"{one(rd_med)} ({kind} {a:.1f} to {b:.1f})"
        parts = []
        if hi > 0:
            parts.append(f"NNTB {1 / hi:.1f}")
        parts.append("∞")
        if lo < 0:
            parts.append(f"NNTH {-1 / lo:.1f}")
        return f"{one(rd_med)} ({' to '.join(parts)})"

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["nnt"] = self.nnt
        return d


def absolute_effect(
    log_or: np.ndarray | xr.DataArray,
    control_risk: float,
    *,
    label: str = "",
    per: int = 1000,
    prob: float = 0.95,
    ci_kind: str = "eti",
) -> AbsoluteEffect:
    """Risk in the intervention arm and risk difference per ``per`` at ``control_risk``.

    p_t = p_c · OR / (1 - p_c + p_c · OR) for every draw of OR = exp(log_or).
    """
    if not 0 < control_risk < 1:
        raise ValueError(f"control risk must be strictly between 0 and 1, got {control_risk}")
    da = as_dataarray(log_or)
    odds = control_risk / (1 - control_risk) * np.exp(da)
    p_t = odds / (1 + odds)
    rd = p_t - control_risk
    it_lo, it_hi = interval(p_t, prob, ci_kind)
    rd_lo, rd_hi = interval(rd, prob, ci_kind)
    return AbsoluteEffect(
        label=label,
        control_risk=float(control_risk),
        per=per,
        intervention_median=per * float(p_t.median()),
        intervention_low=per * it_lo,
        intervention_high=per * it_hi,
        difference_median=per * float(rd.median()),
        difference_low=per * rd_lo,
        difference_high=per * rd_hi,
        p_benefit=float((rd > 0).mean()),
    )


def pooled_control_risk(table) -> tuple[float, str] | None:
    """Crude pooled control-arm risk Σ events_c / Σ n_c over studies with counts, or None."""
    if table.events_c is None:
        return None
    m = table.has_counts
    if not m.any():
        return None
    e, n = float(np.sum(table.events_c[m])), float(np.sum(table.n_c[m]))
    return e / n, f"pooled control arms ({int(m.sum())} studies, {e:.0f}/{n:.0f})"


def published_control_risk(published: pd.DataFrame | None, outcome: str) -> float | None:
    """The assumed control risk printed in a review's summary of findings, if recorded.

    Looks for a numeric ``control_risk`` (or ``assumed_control_risk``) column, else a
    "control risk N per 1000" phrase in the ``notes`` of rows whose outcome matches.
    """
    if published is None or len(published) == 0:
        return None
    df = published
    if "outcome" in df.columns:
        names = df["outcome"].astype(str).str.lower()
        exact = names == outcome.lower()
        if exact.any():
            df = df[exact]
        else:
            # free-text outcome labels ("Secure attachment (SSP)"): match on a word stem
            stem = outcome.replace("_", " ").split()[-1].lower()[:5]
            df = df[names.str.contains(stem, regex=False)]
    for col in ("control_risk", "assumed_control_risk"):
        if col in df.columns:
            vals = pd.to_numeric(df[col], errors="coerce").dropna()
            if len(vals):
                v = float(vals.iloc[0])
                return v / 1000 if v > 1 else v
    if "notes" in df.columns:
        for note in df["notes"].astype(str):
            m = re.search(r"control risk\D{0,20}(\d+(?:\.\d+)?)\s*(?:per|/)\s*1,?000", note, re.I)
            if m:
                return float(m.group(1)) / 1000
    return None


def control_risks(table, *, published: float | None = None, user: float | None = None) -> list[tuple[str, float]]:
    """Control-arm risks to show absolute effects at: pooled from counts, published, user-given."""
    out: list[tuple[str, float]] = []
    pooled = pooled_control_risk(table)
    if pooled is not None and 0 < pooled[0] < 1:
        out.append((pooled[1], pooled[0]))
    if published is not None:
        out.append((f"published assumed risk ({published * 1000:.0f}/1000)", published))
    if user is not None:
        out.append((f"user-given risk ({user * 1000:.0f}/1000)", user))
    return out
