"""Names from a user's file are data, never code: spreadsheets, terminals, Markdown.

* **CSV formula injection** (OWASP "CSV Injection"): a cell beginning ``=``, ``+``, ``-`` or
  ``@`` (or tab / carriage return) is run as a formula by Excel and LibreOffice. Every text
  cell vfsynth writes to a CSV goes through :func:`csv_cell`, which prefixes ``'``; vfsynth's
  reader undoes it (:func:`unescape_csv_cell`), so CSV -> objects -> CSV is lossless. A cell
  that really starts with ``'`` before one of those characters is prefixed once more, so the
  mapping is one-to-one. Numbers (``-0.5``) are written as numbers and never prefixed.
* **Terminal escapes**: :func:`terminal_safe` replaces control characters (ESC sequences
  can retitle, recolour or rewrite a terminal) by ``\\x..`` escapes in text output.
* **Markdown**: :func:`markdown_safe` escapes HTML and Markdown metacharacters, since
  converters pass raw HTML such as ``<script>`` through.
"""

from __future__ import annotations

import html
import re

#: First characters that make a spreadsheet evaluate a cell.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NEEDS_PREFIX = re.compile(r"^'*[=+\-@\t\r]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|$~>-])")


def csv_cell(text: str) -> str:
    """The text to write for one CSV text cell (``'`` prefixed where a spreadsheet would run it)."""
    return "'" + text if isinstance(text, str) and _NEEDS_PREFIX.match(text) else text


def unescape_csv_cell(text: str) -> str:
    """Inverse of :func:`csv_cell`: drop one leading ``'`` that protects a formula character."""
    if isinstance(text, str) and text.startswith("'") and _NEEDS_PREFIX.match(text[1:]):
        return text[1:]
    return text


def csv_safe_frame(frame):
    """A copy of the pandas DataFrame ``frame`` with :func:`csv_cell` applied to every text cell.

    (pandas is not imported here: the command line imports this module at start-up.)
    """
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype.kind not in "biufcmM":  # object or pandas' string dtypes
            out[col] = out[col].map(lambda v: csv_cell(v) if isinstance(v, str) else v)
    return out


def terminal_safe(text: str) -> str:
    """``text`` with control characters (except newline and tab) shown as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def markdown_safe(text: str) -> str:
    """``text`` safe inside Markdown prose or a table cell: HTML escaped, metacharacters
    backslash-escaped, newlines folded to spaces."""
    flat = " ".join(str(text).splitlines())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(flat, quote=False))

