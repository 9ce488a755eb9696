"""Loading reviews: the bundled CD012348 data, a user's CSV, or a RevMan file."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from vfsynth.data.errors import DataValidationError, Problem
from vfsynth.data.review import Review
from vfsynth.data.validate import validate_data, validate_moderators

#: Folder of the bundled review (shipped as package data; no ../shared at run time).
BUNDLED_DIR = Path(__file__).resolve().parent / "cd012348"
BUNDLED_NAME = "CD012348"


def _read_text(path: str | os.PathLike) -> str:
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataValidationError(
            [Problem(None, None, None, "file not found")], str(path)
        ) from None
    except UnicodeDecodeError as exc:
        raise DataValidationError(
            [Problem(None, None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")],
            str(path),
        ) from None


def load_csv(
    path: str | os.PathLike,
    moderators: str | os.PathLike | None = None,
    name: str | None = None,
    *,
    extra_known_studies: Iterable[str] = (),
) -> Review:
    """Read and validate a review in the vfsynth CSV schema (see ``data/README.md``).

    Parameters
    ----------
    path : path of the data CSV.
    moderators : optional path of a study-level moderators CSV (``study`` + any columns).
    name : review name (default: the file stem).
    extra_known_studies : studies allowed in the moderators file although they have no data row
        (the bundled review lists studies with nothing reported).

    Raises
    ------
    DataValidationError
        Listing every problem in the file(s) with line, study and column.
    """
    rows = validate_data(_read_text(path), str(path))
    mods = None
    if moderators is not None:
        known = set(rows["study"]) | set(extra_known_studies)
        mods = validate_moderators(_read_text(moderators), known, str(moderators))
    return Review(name or Path(path).stem, rows, mods, meta={"path": str(path)})


def load_review(inclusion: Iterable[str] | str | None = None) -> Review:
    """The bundled CD012348 reconstruction (``data/cd012348/``).

    ``inclusion`` (e.g. ``("confirmed", "inferred")``) restricts to studies with that inclusion
    status; ``None`` (default) keeps every study with data.
    """
    not_found = pd.read_csv(BUNDLED_DIR / "not_found.csv", dtype=str, keep_default_na=False)
    review = load_csv(
        BUNDLED_DIR / "study_outcomes.csv",
        moderators=BUNDLED_DIR / "moderators.csv",
        name=BUNDLED_NAME,
        extra_known_studies=not_found["study"],
    )
    published = pd.read_csv(BUNDLED_DIR / "published_pooled.csv")
    review = Review(review.name, review.rows, review.moderators, published, not_found, review.meta)
    if inclusion is not None:
        if isinstance(inclusion, str):
            inclusion = inclusion.split(",")
        review = review.restrict(inclusion)
    return review


def load_data(
    path: str | os.PathLike | None = None, moderators: str | os.PathLike | None = None
) -> Review:
    """``None`` -> the bundled review; ``.rm5`` or a RevMan-Web CSV -> the RevMan importer
    (:func:`vfsynth.data.revman.load_revman`); any other CSV -> :func:`load_csv`.

    ``moderators`` (a study-level CSV) is validated against the loaded studies in every case
    except the bundled review, which has its own.
    """
    if path is None:
        if moderators is not None:
            raise ValueError("the bundled review has its own moderators; pass a data file too")
        return load_review()
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".rm5" or suffix == ".csv":
        from vfsynth.data import revman  # built by the updating helper

        if suffix == ".rm5" or revman.is_revman_web_csv(p):
            review = revman.load_revman(p)
            if moderators is not None:
                mods = validate_moderators(
                    _read_text(moderators), review.studies(), str(moderators)
                )
                review = Review(review.name, review.rows, mods, meta=review.meta)
            return review
    return load_csv(p, moderators=moderators)
