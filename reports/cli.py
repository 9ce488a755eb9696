"""The ``vfsynth`` command line.

Each sub-command lives in its own module under :mod:`vfsynth.reports.commands` and
exposes ``register(subparsers)``. Registration must stay import-light (argparse only):
PyMC, JAX and ArviZ are imported inside the command's ``run`` so that
``vfsynth --help`` answers instantly.
"""

from __future__ import annotations

import argparse
import importlib
import sys

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
)


class UserInputError(Exception):
    """An error in the user's input: printed without a traceback, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vfsynth",
        description=(
            "Bayesian evidence synthesis for video-feedback trials (Cochrane CD012348) "
            "and any review in the vfsynth CSV schema."
        ),
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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except UserInputError as exc:
        print(f"vfsynth {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - bad input from the data layer must not traceback
        from vfsynth.data.errors import DataValidationError

        if isinstance(exc, DataValidationError):
            print(str(exc), file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
