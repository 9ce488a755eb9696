"""Strict parsing of numbers in a user's table: plain decimal or scientific notation only.

Python's ``float()`` accepts far more than a table's author means: ``0_1`` (digit grouping,
read as 1.0), full-width and other Unicode digits (``１２``), surrounding Unicode spaces.
A spreadsheet or a typo can produce any of these, and silently reading ``0_1`` as 1 would
alter the data. Every number read from an input file therefore goes through
:func:`parse_decimal`, which accepts only ASCII ``[+-]digits[.digits][e[+-]digits]`` (and
``inf`` / ``infinity``, kept so that validation can say "not a finite number").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: The accepted grammar (ASCII only; surrounding ASCII blanks are stripped first).
DECIMAL_PATTERN = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_INF_PATTERN = r"[+-]?(?:inf|infinity)"


def parse_decimal(values: Sequence[str] | pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Parse cells as plain decimal numbers, vectorised.

    Parameters
    ----------
    values : sequence of str or pandas.Series
        Raw cell texts (already known not to be blank).

    Returns
    -------
    numbers : numpy.ndarray of float
        The parsed values; ``nan`` where a cell is not a plain decimal number. ``inf`` and
        out-of-range values such as ``1e999`` parse to ``±inf`` so that the caller can report
        them as non-finite.
    ok : numpy.ndarray of bool
        Whether each cell matched the grammar. The caller names the line, study and column
        of each ``False`` (this function knows none of them).

    Notes
    -----
    Only ASCII characters match: ``str.strip(" \\t")`` is applied, so a non-breaking space or
    a full-width digit makes the cell unreadable rather than silently accepted.
    """
    s = pd.Series(values, dtype=object).astype(str).str.strip(" \t\r\n")
    plain = s.str.fullmatch(DECIMAL_PATTERN).fillna(False).to_numpy(bool)
    inf = s.str.fullmatch(_INF_PATTERN, case=False).fillna(False).to_numpy(bool)
    ok = plain | inf
    out = np.full(len(s), np.nan)
    if ok.any():
        # pandas' C parser returns inf for overflow; errors cannot occur on matched cells.
        out[ok] = pd.to_numeric(s[ok].str.lower(), errors="coerce").to_numpy(float)
    return out, ok
