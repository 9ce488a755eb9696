"""The one place where a failing part of the report is caught.

:func:`run_section` runs a whole section: if it raises, the section is replaced by a red box
naming the exception type and message, the failure is recorded (for ``summary.json``), the
traceback goes to the log, and the rest of the report proceeds. :func:`run_part` does the same
for a part inside a section (one figure, one sensitivity analysis), so that one failing
analysis leaves the section's other analyses in place. Both go through :func:`attempt`, the
package's only ``except Exception`` in the report.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from vfsynth.reports.html_report import Doc, Section

log = logging.getLogger("vfsynth.report")


@dataclass
class Failure:
    """What failed (a section or one part of it) and why."""

    section: str
    error_type: str
    message: str

    @property
    def text(self) -> str:
        return f"{self.error_type}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def attempt(what: str, fn: Callable[[], Any]) -> tuple[Any, Failure | None]:
    """Run ``fn()``; on an exception return ``(None, Failure)`` and log the traceback.

    A report is a summary of many independent analyses, so any exception of one of them —
    whatever its type — must become a visible failure rather than abort the others.
    """
    try:
        return fn(), None
    except Exception as exc:  # noqa: BLE001 - see the docstring
        log.warning("%s failed:\n%s", what, traceback.format_exc())
        return None, Failure(what, type(exc).__name__, str(exc))


def run_part(doc: Doc, title: str, fn: Callable[[], Any], *, kind: str = "fail") -> tuple[bool, Any]:
    """Run one part of a section; on failure add a ``kind`` callout ``title`` with the error.

    Returns
    -------
    (ok, value)
        ``ok`` False when ``fn`` raised (``value`` is then None).
    """
    value, failure = attempt(title, fn)
    if failure is not None:
        doc.callout(kind, title, text=failure.text)
    return failure is None, value


def run_section(anchor: str, title: str, fn: Callable[[], Doc | tuple[Doc, str]], *,
                failures: list[Failure], say: Callable[[str], None] = lambda m: None) -> Section:
    """Build one report section with ``fn()``, which returns a Doc or ``(Doc, status)``.

    Parameters
    ----------
    anchor, title : str
        The section's HTML id and heading.
    fn : callable
        Builds the section's content.
    failures : list of Failure
        Where a failure is recorded (it goes into ``summary.json``).
    say : callable
        Progress messages.

    Returns
    -------
    Section
        The built section, or on failure one holding a red box with the exception type and
        message and status "fail".
    """
    out, failure = attempt(anchor, fn)
    if failure is None:
        doc, status = out if isinstance(out, tuple) else (out, "ok")
        return Section(anchor, title, doc, status)
    failures.append(failure)
    say(f"section '{title}' FAILED ({failure.text})")
    doc = Doc().callout("fail", f"This section could not be built: {title}", text=failure.text)
    return Section(anchor, title, doc, "fail")
