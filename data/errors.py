"""The package's exception root and the errors raised by the data layer.

Every error that vfsynth raises for a user's input or request derives from
:class:`VfsynthError`; the command line maps that one class to a one-line message and exit
status 2 (``--debug`` shows the traceback). It lives in the first stage so that every later
stage can derive from it without importing anything downstream.
"""

from __future__ import annotations

from dataclasses import dataclass


class VfsynthError(Exception):
    """Root of every error vfsynth raises on purpose (bad input, impossible request, bad file)."""


@dataclass(frozen=True)
class Problem:
    """One problem found in an input file.

    ``row`` is the 1-based line number in the file as a user sees it in an editor
    (the header is line 1, so the first data row is line 2); ``None`` for file-level problems.
    """

    row: int | None
    study: str | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"line {self.row}")
        if self.study:
            where.append(f"study {self.study!r}")
        if self.column:
            where.append(f"column {self.column!r}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class DataRequestError(VfsynthError, ValueError):
    """A request the loaded data cannot answer.

    For example an inclusion level no study uses, an outcome whose rows mix MD with SMD / log
    OR, or an option that does not apply to this kind of file. The data themselves are valid
    (otherwise :class:`DataValidationError`).
    """


class NoEstimableRowsError(DataRequestError):
    """Every row of the analysis is not estimable (listed with reasons): RevMan shows such an
    analysis without a pooled result, and so do vfsynth's tables."""


class UnknownAnalysisError(VfsynthError, KeyError):
    """No rows for the requested outcome x time point (or RevMan analysis).

    A ``KeyError`` so that ``except KeyError`` callers keep working; its message is printed
    plainly rather than as ``KeyError``'s quoted repr.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DataValidationError(VfsynthError, ValueError):
    """Raised once per load, listing every problem found in the input."""

    def __init__(self, problems: list[Problem], path: str | None = None):
        self.problems = list(problems)
        self.path = path
        head = f"{path}: " if path else ""
        if len(self.problems) == 1 and self.problems[0].row is None and not self.problems[0].study:
            # a file-level problem (not found, not a regular file, ...) reads best on one line
            super().__init__(f"{head}{self.problems[0]}")
            return
        lines = [f"{head}{len(self.problems)} problem(s) in the input data:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class MixedMeasureError(DataValidationError, DataRequestError):
    """An outcome's rows mix MD with SMD / log OR: a request error that names rows like a
    validation error (line, study and column of each row to change)."""
