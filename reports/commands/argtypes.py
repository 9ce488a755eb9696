"""argparse value types shared by the sub-commands (import-light: argparse only)."""

from __future__ import annotations

import argparse


def _int_at_least(s: str, low: int, what: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {s!r}") from None
    if v < low:
        raise argparse.ArgumentTypeError(f"expected {what}, got {s!r}")
    return v


def positive_int(s: str) -> int:
    """An integer >= 1 (draws, tune, chains)."""
    return _int_at_least(s, 1, "a positive integer")


def seed(s: str) -> int:
    """A non-negative integer seed."""
    return _int_at_least(s, 0, "a non-negative integer seed")
