"""The ``vfsynth`` command line.

Each sub-command lives in its own module under :mod:`vfsynth.reports.commands` and
exposes ``register(subparsers)``. Registration must stay import-light (argparse only):
PyMC, JAX and ArviZ are imported inside the command's ``run`` so that
``vfsynth --help`` answers instantly.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys

from vfsynth.data.errors import VfsynthError
from vfsynth.data.text_safety import terminal_safe

# Order here is the order shown in --help.
COMMAND_MODULES = (
    "data_cmd",
    "fit_cmd",
    "report_cmd",
    "compare_cmd",
    "sensitivity_cmd",
    "priors_cmd",
    "update_cmd",
    "import_cmd",
    "average_cmd",
    "calibrate_cmd",
    "batch_cmd",
    "benchmark_cmd",
)


class UserInputError(VfsynthError):
    """An error in the user's input found by the command line itself (an option's value)."""


class _TerminalSafeStream:
    """A stdout proxy that shows control characters (ESC sequences from names in a user's
    file) as ``\\xNN`` instead of letting them act on the terminal."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(terminal_safe(text))

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def terminal_safe_stdout():
    """Route ``print`` through :class:`_TerminalSafeStream` for the command's run."""
    old = sys.stdout
    sys.stdout = _TerminalSafeStream(old)
    try:
        yield
    finally:
        sys.stdout = old


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vfsynth",
        description=(
            "Bayesian evidence synthesis for video-feedback trials (Cochrane CD012348) "
            "and any review in the vfsynth CSV schema."
        ),
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the full traceback of an error instead of the one-line message",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"vfsynth.reports.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"vfsynth.reports.commands.{name}":
                continue  # command not built yet
            raise
        mod.register(sub)
    # Also accept ``vfsynth fit ... --debug``: SUPPRESS keeps the top-level value when the
    # sub-command's copy is not given.
    for cmd in sub.choices.values():
        cmd.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status.

    This is the one place that turns vfsynth's own errors into messages: any
    :class:`~vfsynth.data.errors.VfsynthError` becomes ``vfsynth <command>: <message>`` on
    stderr and exit status 2 (a :class:`~vfsynth.data.errors.DataValidationError` keeps its
    list of problems, one per line). Any other exception is a bug and keeps its traceback.
    ``--debug`` re-raises vfsynth's errors too.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        with terminal_safe_stdout():
            return int(args.func(args) or 0)
    except VfsynthError as exc:
        if args.debug:
            raise
        print(terminal_safe(f"vfsynth {args.command}: {exc}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
