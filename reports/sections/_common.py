"""Small helpers shared by the section modules: number formatting, figures, optional stages."""

from __future__ import annotations

import importlib
import math

import numpy as np

from vfsynth.reports.html_report import Doc
from vfsynth.reports.sections.runner import attempt

#: Name of the bundled review (the public-source reconstruction of CD012348).
BUNDLED_NAME = "CD012348"


def is_reconstruction(review) -> bool:
    """Whether ``review`` is the bundled reconstruction (its wording differs: not the review's data)."""
    return getattr(review, "name", "") == BUNDLED_NAME


def fmt_p(p: float) -> str:
    """A probability to 3 decimals, clipped to '>0.999' / '<0.001'."""
    return ">0.999" if p > 0.999 else ("<0.001" if p < 0.001 else f"{p:.3f}")


def safe_fig(doc: Doc, make, name: str, caption: str) -> None:
    """Add a figure; a plotting error becomes a visible (red) failure box instead of a crash."""
    fig, failure = attempt(f"figure {name}", make)
    if failure is None:
        doc.figure(fig, name, caption)
    else:
        doc.callout("fail", f"Figure '{caption}' could not be drawn", text=failure.text)


def sampler_name(sampler) -> str:
    """``{"name": "numpyro", ...}`` or ``"numpyro"`` -> ``"numpyro"``."""
    return str(sampler.get("name", sampler)) if isinstance(sampler, dict) else str(sampler)


def optional_module(modname: str):
    """The module ``modname``, or None when it is not part of this build (a missing
    dependency *inside* it still raises)."""
    try:
        return importlib.import_module(modname)
    except ModuleNotFoundError as exc:
        if exc.name == modname:
            return None
        raise


def cell(v):
    """Table cell text: blank for missing, whole numbers without a decimal point."""
    if v is None or (isinstance(v, (float, np.floating)) and not np.isfinite(v)):
        return ""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return v


def num(v):
    """A float to 3 decimals (blank when not finite); anything else unchanged."""
    if isinstance(v, (float, np.floating)):
        return "" if not np.isfinite(v) else f"{v:.3f}"
    return v


def interval_text(mean: float, low: float, high: float, median: float = math.nan) -> str:
    """'0.123 (-0.045 to 0.301)'; 'median 0.12 (...)' where only quantiles exist (tau rows)."""
    if np.isfinite(mean):
        return f"{mean:.3f} ({low:.3f} to {high:.3f})"
    if np.isfinite(median):
        return f"median {median:.3f} ({low:.3f} to {high:.3f})"
    return ""


def and_list(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
