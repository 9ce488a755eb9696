"""Loading reviews: the bundled CD012348 data, a user's CSV, or a RevMan file."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from vfsynth.data.errors import DataRequestError
from vfsynth.data.inputfile import check_input_path, read_input_text
from vfsynth.data.review import Review
from vfsynth.data.validate import (
    validate_data,
    validate_frame,
    validate_moderators,
    validate_moderators_frame,
)

#: Folder of the bundled review (shipped as package data; no ../shared at run time).
BUNDLED_DIR = Path(__file__).resolve().parent / "cd012348"
BUNDLED_NAME = "CD012348"


def _read_text(path: str | os.PathLike) -> str:
    return read_input_text(path)


def load_csv(
    path: str | os.PathLike | pd.DataFrame,
    moderators: str | os.PathLike | pd.DataFrame | None = None,
    name: str | None = None,
    *,
    extra_known_studies: Iterable[str] = (),
) -> Review:
    """Read and validate a review in the vfsynth CSV schema (see ``data/README.md``).

    Parameters
    ----------
    path : str, os.PathLike or pandas.DataFrame
        The data CSV, or a frame with the same columns (validated identically; problems name
        the line the row would have in a CSV, the frame's first row being line 2).
    moderators : str, os.PathLike or pandas.DataFrame, optional
        A study-level moderators CSV or frame (``study`` + any columns).
    name : str, optional
        Review name (default: the file stem, or ``"review"`` for a frame).
    extra_known_studies : iterable of str
        Studies allowed in the moderators file although they have no data row
        (the bundled review lists studies with nothing reported).

    Returns
    -------
    Review

    Raises
    ------
    DataValidationError
        Listing every problem in the file(s) with line, study and column.
    """
    if isinstance(path, pd.DataFrame):
        label = "DataFrame" if name is None else f"{name} (DataFrame)"
        rows = validate_frame(path, label)
        default_name, meta = "review", {"path": None}
    else:
        rows = validate_data(_read_text(path), str(path))
        default_name, meta = Path(path).stem, {"path": str(path)}
    mods = None
    if moderators is not None:
        known = set(rows["study"]) | set(extra_known_studies)
        if isinstance(moderators, pd.DataFrame):
            mods = validate_moderators_frame(moderators, known, "moderators (DataFrame)")
        else:
            mods = validate_moderators(_read_text(moderators), known, str(moderators))
    return Review._from_validated(name or default_name, rows, mods, meta=meta)


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
    review = Review._from_validated(
        review.name, review.rows, review.moderators, published, not_found, review.meta
    )
    if inclusion is not None:
        if isinstance(inclusion, str):
            inclusion = inclusion.split(",")
        review = review.restrict(inclusion)
    return review


def load_data(
    path: str | os.PathLike | pd.DataFrame | None = None,
    moderators: str | os.PathLike | pd.DataFrame | None = None,
) -> Review:
    """``None`` -> the bundled review; ``.rm5`` or a RevMan-Web CSV -> the RevMan importer
    (:func:`vfsynth.data.revman.load_revman`); any other CSV or a DataFrame -> :func:`load_csv`.

    ``moderators`` (a study-level CSV) is validated against the loaded studies in every case
    except the bundled review, which has its own.
    """
    if path is None:
        if moderators is not None:
            raise DataRequestError("the bundled review has its own moderators; pass a data file too")
        return load_review()
    if isinstance(path, pd.DataFrame):
        return load_csv(path, moderators=moderators)
    from vfsynth.data.bundled_examples import is_example, load_example

    if is_example(path) and moderators is None:
        return load_example(str(path))
    p = check_input_path(path)  # a directory, FIFO or device fails here, before any sniffing
    suffix = p.suffix.lower()
    if suffix == ".rm5" or suffix == ".csv":
        from vfsynth.data import revman  # built by the updating helper
        from vfsynth.data.revman_web import is_revman_web_csv

        if suffix == ".rm5" or is_revman_web_csv(p):
            review = revman.load_revman(p)
            if moderators is not None:
                mods = validate_moderators(
                    _read_text(moderators), review.studies(), str(moderators)
                )
                review = Review._from_validated(review.name, review.rows, mods, meta=review.meta)
            return review
    return load_csv(p, moderators=moderators)
