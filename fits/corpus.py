"""Re-analyse a corpus of reviews: every analysis (k >= 2) of every file, one table of results.

``vfsynth batch FILES... --out DIR`` (:mod:`vfsynth.reports.commands.batch_cmd`) calls
:func:`run_batch`. Each input file (vfsynth CSV, RevMan 5 ``.rm5`` or RevMan Web CSV: whatever
:func:`vfsynth.data.load_data` reads) is one *review*; each (outcome, time point) of it with at
least two studies is one *analysis*, fitted by the exact engine (:func:`vfsynth.fits.exact.nnhm_exact`:
mu integrated analytically given tau, tau by quadrature; Röver 2020), with the registry's default
priors for its measure and outcome (:func:`vfsynth.models.priors.resolve_priors`). The exact
engine makes a corpus of hundreds of reviews a matter of minutes; there are no Monte-Carlo
errors and no convergence to diagnose.

Outputs in ``DIR``
------------------
``results.csv``
    One row per review x analysis (:data:`RESULT_COLUMNS`): posterior mean, SD, median and 95%
    equal-tailed interval of mu, the same for tau, the 95% prediction interval of a new study's
    effect, P(benefit) = P(mu > 0 | y) on the benefit scale (positive favours the intervention),
    the priors used and the diagnostics verdict.
``failures.csv``
    One row for everything not analysed, with the reason (:data:`FAILURE_COLUMNS`): a file that
    does not load (the one-line validation message), an analysis with k < 2, a RevMan analysis
    whose measure has no schema counterpart, an analysis that could not be fitted.
``batch.json``, ``done.csv``
    What the directory holds (format, model, vfsynth code digest) and which files are finished.
    A re-run with the same settings skips every finished file (same path and content) and
    every (file, analysis) already in either table, so an interrupted run resumes where it
    stopped; a changed file (other content) is analysed again as a new review; a directory holding results of other settings, or files of
    these names not written by vfsynth, is refused instead of overwritten.

The work is one task per review (:func:`analyse_review`, a pure function of the file's bytes
and the settings), run in this process or on Dask (:mod:`vfsynth.fits.cluster`); the tables are
sorted at the end, so the local and the distributed path write identical files.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from vfsynth.data.errors import VfsynthError

BATCH_FORMAT = "vfsynth-batch/2"
RESULTS = "results.csv"
FAILURES = "failures.csv"
MANIFEST = "batch.json"
#: Reviews whose rows are all written (one line each, appended after the rows): a re-run skips them
DONE = "done.csv"
DONE_COLUMNS = ("source", "file_sha256")
#: Models the corpus command fits (both have the exact engine).
BATCH_MODELS = ("random-effects", "common-effect")

RESULT_COLUMNS = (
    "review", "source", "file_sha256", "analysis", "outcome", "timepoint", "k", "measure", "model", "engine",
    "tau_prior", "mu_prior",
    "mu_mean", "mu_sd", "mu_median", "mu_q2.5", "mu_q97.5",
    "tau_mean", "tau_sd", "tau_median", "tau_q2.5", "tau_q97.5",
    "pred_q2.5", "pred_q97.5", "p_benefit",
    # the analysis's own measure and direction (RR of the events as counted; data/source_scale.py)
    "source_measure", "source_median", "source_q2.5", "source_q97.5", "favours_intervention", "direction_stated",
    "verdict", "verdict_detail",
)
FAILURE_COLUMNS = ("review", "source", "file_sha256", "analysis", "k", "stage", "reason")
_KEY = ("source", "file_sha256", "analysis")


class BatchError(VfsynthError):
    """The batch command cannot run as asked (output directory, inputs, settings)."""


@dataclass(frozen=True)
class BatchSettings:
    """Settings of a corpus run (they enter ``batch.json``; a resumed run must match them).

    Attributes
    ----------
    model : {"random-effects", "common-effect"}
    timepoint : str
        Time point given to RevMan imports (RevMan files carry none).
    """

    model: str = "random-effects"
    timepoint: str = "post"

    def __post_init__(self) -> None:
        if self.model not in BATCH_MODELS:
            raise BatchError(f"--model {self.model!r}: vfsynth batch fits {', '.join(BATCH_MODELS)} "
                             "(the models with an exact engine)")


@dataclass(frozen=True)
class ReviewInput:
    """One input file, carried by content so that a remote worker needs no shared disk."""

    source: str
    content: bytes

    @property
    def name(self) -> str:
        return Path(self.source).name

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def expand_inputs(paths: Iterable[str | os.PathLike], exclude: Path | None = None) -> list[Path]:
    """The files to analyse: each file as given, each directory's ``*.csv`` / ``*.rm5`` (sorted).

    Files under ``exclude`` (the output directory) are left out, so a corpus directory can hold
    its own results without re-reading them. A missing path is an error, before anything runs.
    """
    out: list[Path] = []
    ex = exclude.resolve() if exclude is not None else None
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in (".csv", ".rm5"))
            out.extend(q for q in found if ex is None or ex not in q.resolve().parents)
        elif p.is_file():
            out.append(p)
        else:
            raise BatchError(f"{p}: no such file or directory")
    if not out:
        raise BatchError("no input files (give .csv / .rm5 files or directories holding them)")
    return out


#: Longest reason kept in failures.csv (a file with hundreds of problems gives the first ones).
_REASON_CHARS = 400


def _fail(item: ReviewInput, review: str, analysis: str, k, stage: str, reason: str) -> dict:
    text = " ".join(str(reason).split())
    if len(text) > _REASON_CHARS:
        text = text[: _REASON_CHARS - 1] + "…"
    return {"review": review, "source": item.source, "file_sha256": item.sha256, "analysis": analysis,
            "k": k, "stage": stage, "reason": text}


#: One instance per distinct prior in this process: a Prior caches its SciPy distribution on
#: the instance, and building it anew for each of thousands of analyses costs more than the fit.
_PRIORS: dict = {}


def _intern(prior):
    return None if prior is None else _PRIORS.setdefault(prior, prior)


def _fit_row(item: ReviewInput, review, table, settings: BatchSettings) -> dict:
    from vfsynth.data.source_scale import source_scale
    from vfsynth.fits.engines.exact import exact_verdict
    from vfsynth.fits.exact import nnhm_exact
    from vfsynth.fits.runner import resolve_priors

    outcome, timepoint = table.outcome, table.timepoint
    tau_prior, mu_prior = (_intern(p) for p in resolve_priors(table, settings.model))
    ep = nnhm_exact(table, tau_prior=0.0 if tau_prior is None else tau_prior, mu_prior=mu_prior)
    q = (0.025, 0.5, 0.975)
    mq = ep.mu_quantiles(q)
    pq = ep.predictive_quantiles(q)
    row = {
        "review": review.name, "source": item.source, "file_sha256": item.sha256,
        "analysis": f"{outcome}/{timepoint}", "outcome": outcome, "timepoint": timepoint, "k": table.k,
        "measure": table.measure, "model": settings.model, "engine": "exact",
        "tau_prior": "" if tau_prior is None else tau_prior.spec, "mu_prior": mu_prior.spec,
        "mu_mean": ep.mu_mean, "mu_sd": ep.mu_sd, "mu_median": mq[1], "mu_q2.5": mq[0], "mu_q97.5": mq[2],
        "pred_q2.5": pq[0], "pred_q97.5": pq[2], "p_benefit": ep.prob_mu_greater(0.0),
    }
    src = source_scale(table.measure, table.meta.get("direction"))
    med, lo, hi = src.interval(mq[1], mq[0], mq[2])
    row.update({"source_measure": src.display, "source_median": med, "source_q2.5": lo, "source_q97.5": hi,
                "favours_intervention": src.favours_side if src.events else "positive (benefit scale)",
                "direction_stated": "" if src.stated is None else str(bool(src.stated)).lower()})
    if tau_prior is None:
        row.update({"tau_mean": 0.0, "tau_sd": 0.0, "tau_median": 0.0, "tau_q2.5": 0.0, "tau_q97.5": 0.0})
    else:
        tq = ep.tau_quantiles(q)
        row.update({"tau_mean": ep.tau_mean, "tau_sd": ep.tau_sd, "tau_median": tq[1], "tau_q2.5": tq[0],
                    "tau_q97.5": tq[2]})
    verdict = exact_verdict(1, 1)
    row["verdict"] = "passed" if verdict["passed"] else "failed"
    detail = "exact integration (no MCMC: nothing to converge)"
    # mass the quadrature had to lump beyond its upper cut: the tau posterior reaches 1e6 x the
    # data scale (a heavy-tailed prior that the data barely constrain); say so rather than hide it
    if ep.upper_mass > 1e-3:
        row["verdict"] = "warning"
        detail += f"; {ep.upper_mass:.2g} of the tau posterior lies beyond the integration range"
    row["verdict_detail"] = detail
    for c, v in row.items():
        if isinstance(v, float) or hasattr(v, "dtype"):
            row[c] = float(v)
    return row


def analyse_review(item: ReviewInput, settings: BatchSettings,
                   skip: frozenset = frozenset()) -> tuple[list[dict], list[dict]]:
    """Fit every analysis with k >= 2 of one review; ``(results rows, failure rows)``.

    Expected problems (the file does not load, k < 2, an analysis cannot be fitted) become
    failure rows; nothing is raised, so one bad file never stops a corpus. Analyses in ``skip``
    (``(source, sha256, analysis)`` keys already written) are not fitted again.
    """
    from vfsynth.data.loaders import load_csv

    rows: list[dict] = []
    fails: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="vfsynth-batch-") as tmp:
        path = Path(tmp) / item.name
        path.write_bytes(item.content)

        def clean(msg: str) -> str:
            # name the user's file, not the worker's temporary copy
            return str(msg).replace(str(path), item.source)

        try:
            if item.name.lower().endswith(".rm5") or _is_web_csv(path):
                from vfsynth.data.revman import load_revman

                review = load_revman(path, timepoint=settings.timepoint, name=Path(item.source).stem)
            else:
                review = load_csv(path, name=Path(item.source).stem)
        except VfsynthError as exc:
            return [], [_fail(item, Path(item.source).stem, "", "", "load", clean(exc))]
        except Exception as exc:  # noqa: BLE001 - one broken file must not stop the corpus
            return [], [_fail(item, Path(item.source).stem, "", "", "load",
                              f"unexpected error {type(exc).__name__}: {clean(exc)}")]
        for rec in review.meta.get("revman_skipped") or []:
            analysis = f"{rec['outcome']}/{settings.timepoint}"
            if (item.source, item.sha256, analysis) not in skip:
                fails.append(_fail(item, review.name, analysis, "", "import",
                                   f"RevMan analysis {rec['analysis']} not importable: {rec['how']}"))
        # one pass to split the rows by analysis: Review.effects filters the whole frame on each
        # call, which for a review of many analyses costs more than the fits themselves
        groups = review.rows.groupby(["outcome", "timepoint"], sort=False).indices
        for outcome, timepoint in review.analyses():
            analysis = f"{outcome}/{timepoint}"
            if (item.source, item.sha256, analysis) in skip:
                continue
            idx = groups[(outcome, timepoint)]
            k = len(idx)
            try:
                part = type(review)._from_validated(review.name, review.rows.iloc[idx], review.moderators,
                                                    meta=review.meta)
                table = part.effects(outcome, timepoint)
                k = table.k
                if k < 2:
                    fails.append(_fail(item, review.name, analysis, k, "k", f"k = {k} < 2: nothing to pool"))
                    continue
                rows.append(_fit_row(item, review, table, settings))
            except VfsynthError as exc:
                fails.append(_fail(item, review.name, analysis, k, "fit", clean(exc)))
            except Exception as exc:  # noqa: BLE001 - a numerical failure in one analysis is reported, not fatal
                fails.append(_fail(item, review.name, analysis, k, "fit",
                                   f"unexpected error {type(exc).__name__}: {clean(exc)}"))
    return rows, fails


def _is_web_csv(path: Path) -> bool:
    from vfsynth.data.revman_web import is_revman_web_csv

    return path.suffix.lower() == ".csv" and is_revman_web_csv(path)


# --------------------------------------------------------------------------------------------
# The output directory
# --------------------------------------------------------------------------------------------


def _manifest(settings: BatchSettings) -> dict:
    from vfsynth.fits.store import code_digest

    return {"format": BATCH_FORMAT, "settings": asdict(settings), "vfsynth_code": code_digest()}


def prepare_out(out: Path, settings: BatchSettings) -> tuple[set[tuple], set[tuple]]:
    """Check (or create) the output directory; ``(analysis keys, finished files)`` already there.

    Refuses a directory whose ``results.csv`` / ``failures.csv`` / ``batch.json`` were not
    written by ``vfsynth batch`` or were written with other settings or another code version:
    mixing them would give one table of two different analyses. Other files in the directory
    are never touched.
    """
    want = _manifest(settings)
    mpath = out / MANIFEST
    if out.exists() and not out.is_dir():
        raise BatchError(f"--out {out}: exists and is not a directory")
    if mpath.exists():
        try:
            have = json.loads(mpath.read_text())
        except (OSError, ValueError) as exc:
            raise BatchError(f"{mpath}: not a vfsynth batch manifest ({exc}); use another --out") from None
        if not isinstance(have, dict) or have.get("format") != BATCH_FORMAT:
            raise BatchError(f"{mpath}: not a vfsynth batch manifest; use another --out")
        diff = [k for k in want if have.get(k) != want[k]]
        if diff:
            raise BatchError(f"--out {out} holds results of a different run ({', '.join(diff)} differ: "
                             f"{ {k: have.get(k) for k in diff} } vs { {k: want[k] for k in diff} }); "
                             "use another --out to keep both")
    else:
        clash = [n for n in (RESULTS, FAILURES, DONE) if (out / n).exists()]
        if clash:
            raise BatchError(f"--out {out}: {', '.join(clash)} exist but were not written by vfsynth batch "
                             "(no batch.json); refusing to overwrite them")
        out.mkdir(parents=True, exist_ok=True)
        _atomic_write(mpath, json.dumps(want, indent=2) + "\n")
    done: set[tuple] = set()
    files: set[tuple] = set()
    for name, cols in ((RESULTS, RESULT_COLUMNS), (FAILURES, FAILURE_COLUMNS), (DONE, DONE_COLUMNS)):
        p = out / name
        if not p.exists():
            continue
        _drop_torn_tail(p)
        try:
            df = pd.read_csv(p, dtype={"source": str, "file_sha256": str, "analysis": str}, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise BatchError(f"{p}: unreadable ({exc}); move it away or use another --out") from None
        if tuple(df.columns) != cols:
            raise BatchError(f"{p}: columns are not those vfsynth batch writes; use another --out")
        if name == DONE:
            files.update(zip(df["source"], df["file_sha256"], strict=True))
        else:
            done.update(zip(df["source"], df["file_sha256"], df["analysis"], strict=True))
    return done, files


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line left incomplete by an interrupted append (our own file only)."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _append(path: Path, records: list[dict], columns: Sequence[str]) -> None:
    if not records:
        return
    buf = io.StringIO()
    new = not path.exists() or path.stat().st_size == 0
    pd.DataFrame.from_records(records, columns=list(columns)).to_csv(buf, index=False, header=new,
                                                                     float_format="%.10g")
    # one write per review, flushed: an interrupted run loses at most the review in flight
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(buf.getvalue())
        fh.flush()
        os.fsync(fh.fileno())


def _sort_file(path: Path, columns: Sequence[str]) -> None:
    """Rewrite a table sorted by (source, analysis): the same bytes whatever order tasks finished."""
    if not path.exists():
        pd.DataFrame(columns=list(columns)).to_csv(path, index=False)
        return
    text = path.read_text(encoding="utf-8")
    header, *lines = text.splitlines(keepends=True)
    df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    order = sorted(range(len(df)), key=lambda i: (df["source"].iloc[i], df["file_sha256"].iloc[i],
                                                  df["analysis"].iloc[i]))
    # sort the raw lines (CSV fields may be quoted; rows hold no newlines) so numbers keep their text
    if len(lines) == len(df):
        _atomic_write(path, header + "".join(lines[i] for i in order))
    else:  # pragma: no cover - a quoted field with a newline: re-render through pandas
        _atomic_write(path, df.iloc[order].to_csv(index=False))


@dataclass
class BatchSummary:
    """What a run did: counts and where the tables are."""

    reviews: int
    skipped_reviews: int
    analysed: int
    failed: int
    previously_done: int
    results: Path
    failures: Path

    def line(self) -> str:
        return (f"{self.reviews} review(s): {self.analysed} analysis(es) fitted, {self.failed} not analysed "
                f"(see {self.failures.name}), {self.previously_done} already done in an earlier run "
                f"({self.skipped_reviews} review(s) skipped whole); results in {self.results}")


def run_batch(paths: Sequence[str | os.PathLike], out: str | os.PathLike, settings: BatchSettings | None = None,
              *, client=None, progress: bool = False,
              on_review: Callable[[ReviewInput, int, int], None] | None = None) -> BatchSummary:
    """Re-analyse every analysis of every review in ``paths`` into ``out`` (see the module docstring).

    Parameters
    ----------
    paths : sequence of path
        Files, or directories whose ``*.csv`` / ``*.rm5`` are taken.
    out : path
        Output directory (created; resumed when it holds an earlier run of the same settings).
    settings : BatchSettings, optional
    client : distributed.Client, optional
        Run the reviews on this Dask cluster (:func:`vfsynth.fits.cluster.dask_client`).
    progress : bool
        A progress bar on stderr (tqdm).
    on_review : callable, optional
        Called after each review is written with ``(item, n_results, n_failures)``.
    """
    from vfsynth.fits.cluster import task_runner

    settings = settings or BatchSettings()
    out = Path(out)
    files = expand_inputs(paths, exclude=out)
    done, finished = prepare_out(out, settings)
    items = [ReviewInput(str(p), p.read_bytes()) for p in files]
    keys = [(it.source, it.sha256) for it in items]
    todo = [(it,) for it, key in zip(items, keys, strict=True) if key not in finished]
    prev = {k for k in done if (k[0], k[1]) in set(keys)}
    # only the keys of files still to do travel to the workers
    skip = frozenset(k for k in done if (k[0], k[1]) not in finished)
    n_ok = n_fail = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="review", desc="vfsynth batch", dynamic_ncols=True, leave=True)
    try:
        for i, (res, fails) in task_runner(analyse_review, todo, client, extra=(settings, skip)):
            _append(out / RESULTS, res, RESULT_COLUMNS)
            _append(out / FAILURES, fails, FAILURE_COLUMNS)
            item = todo[i][0]
            _append(out / DONE, [{"source": item.source, "file_sha256": item.sha256}], DONE_COLUMNS)
            n_ok += len(res)
            n_fail += len(fails)
            if on_review is not None:
                on_review(item, len(res), len(fails))
            if bar is not None:
                bar.set_postfix(fitted=n_ok, failed=n_fail, refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    _sort_file(out / RESULTS, RESULT_COLUMNS)
    _sort_file(out / FAILURES, FAILURE_COLUMNS)
    return BatchSummary(len(items), len(items) - len(todo), n_ok, n_fail, len(prev), out / RESULTS,
                        out / FAILURES)


def read_results(out: str | os.PathLike) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(results, failures)`` of a batch directory as DataFrames."""
    out = Path(out)
    res = pd.read_csv(out / RESULTS, dtype={"source": str, "file_sha256": str})
    fails = pd.read_csv(out / FAILURES, dtype={"source": str, "file_sha256": str, "analysis": str},
                        keep_default_na=False)
    return res, fails


__all__ = ["BATCH_MODELS", "FAILURE_COLUMNS", "RESULT_COLUMNS", "BatchError", "BatchSettings", "BatchSummary",
           "ReviewInput", "analyse_review", "expand_inputs", "prepare_out", "read_results", "run_batch"]
