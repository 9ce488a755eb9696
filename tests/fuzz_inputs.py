"""Fuzz run: generated hostile input files through every cheap command (issue 13, item 16).

Run (from the repository root; about 10,000 files take tens of minutes on 2 cores)::

    .venv/bin/python tests/fuzz_inputs.py --files 10000 --workers 2 --out fuzz-results.json

Each file is a mutation of a valid seed (the vfsynth CSV fixtures, the RevMan 5 fixture, an
exported priors JSON) or pure garbage, made by a seeded ``random.Random(seed + i)`` so every
finding can be regenerated from its index. Each file goes through the commands that cannot
sample: ``vfsynth data`` (text and ``--json``), ``vfsynth import`` (with ``-o``),
``vfsynth fit --engine exact`` on every outcome of a file that loads (exact integration,
milliseconds), and ``vfsynth priors show`` for priors files. Commands run in-process through
:func:`vfsynth.reports.cli.main`, each under an alarm.

Every run is classified:

* ``ok`` -- exit 0;
* ``clean`` -- exit 2 with ``vfsynth <command>: ...`` on stderr and no traceback (a
  validation error lists one problem per line after its first line);
* ``traceback`` -- any other exception escaped ``main`` (a bug);
* ``hang`` -- no answer within ``--timeout`` seconds;
* ``dropped`` -- ``vfsynth data`` accepted a schema CSV but the review has fewer rows than the
  file has data records (a row silently dropped).

The figures and the first examples of each bad kind are written to ``--out`` (JSON).
The slow test ``tests/test_fuzz.py`` runs a small instance of the same code.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import io
import json
import os
import random
import signal
import sys
import tempfile
import time
import traceback
import zlib
from collections import Counter
from pathlib import Path

FIX = Path(__file__).resolve().parent / "fixtures"
CSV_SEEDS = ("normand1999.csv", "bcg.csv", "eight_schools.csv", "broken.csv")
RM5_SEED = FIX / "revman" / "cont_giv.rm5"

#: Cell values that have broken parsers before, or plausibly could.
HOSTILE_CELLS = [
    "", " ", "NA", "nan", "inf", "-inf", "1e999", "-1e999", "0_1", "１２", "1\u00a0", "\u00a0", "1,5", "0x10",
    "1e", "--1", "+", ".", "-0", "1e-12", "-5", "99999", "0", "-1", "2.5", "1e308", "=1+1", "@SUM(A1)",
    "+cmd|' /C calc'!A0", "-2+3", "\x1b[31mred\x1b[0m", "\x1b]0;title\x07", "<script>alert(1)</script>",
    "$\\alpha$", "$x$", "a" * 300, "x" * 5000, "\x00", "\ufeff", "\u202eevil", "true", "false", "maybe",
    "SMD", "MD", "OR", "logOR", "RR", "post", "followup", "Smith 2001", "smith 2001", "Smith  2001",
    "Smith\u00a02001", '"', '""', "'", "\n", "\r\n", "line1\nline2", "\\", "%s%s%n", "{}", "[]", "null",
]


def _cells_mutation(rng: random.Random, text: str) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return text
    n_ops = rng.randint(1, 4)
    for _ in range(n_ops):
        op = rng.randrange(10)
        r = rng.randrange(len(rows))
        row = rows[r]
        if op <= 3 and row:  # replace a cell
            row[rng.randrange(len(row))] = rng.choice(HOSTILE_CELLS)
        elif op == 4:  # extra cells
            row += [rng.choice(HOSTILE_CELLS) for _ in range(rng.randint(1, 3))]
        elif op == 5 and row:  # missing cells
            del row[rng.randrange(len(row)):]
        elif op == 6:  # duplicate a row
            rows.insert(r, list(row))
        elif op == 7 and len(rows) > 1:  # drop a row (the header too, sometimes)
            del rows[r]
        elif op == 8 and rows[0]:  # header damage: duplicate, rename or drop a column
            c = rng.randrange(len(rows[0]))
            rows[0][c] = rng.choice([rows[0][(c + 1) % len(rows[0])], rows[0][c].upper(), rng.choice(HOSTILE_CELLS)])
        elif op == 9 and row:  # swap two cells
            i, j = rng.randrange(len(row)), rng.randrange(len(row))
            row[i], row[j] = row[j], row[i]
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue()


def _bytes_mutation(rng: random.Random, raw: bytes) -> bytes:
    b = bytearray(raw)
    op = rng.randrange(6)
    if op == 0 and b:  # bit flips
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif op == 1:  # truncate
        b = b[: rng.randrange(len(b) + 1)]
    elif op == 2:  # Latin-1 / invalid UTF-8 bytes
        for _ in range(rng.randint(1, 3)):
            b.insert(rng.randrange(len(b) + 1), rng.choice([0xE9, 0xF1, 0xFF, 0xC3, 0x80]))
    elif op == 3:  # NUL bytes
        b.insert(rng.randrange(len(b) + 1), 0)
    elif op == 4:  # BOM and CRLF line ends
        b = bytearray(b"\xef\xbb\xbf" + bytes(b).replace(b"\n", b"\r\n"))
    else:  # repeat a slice (long lines, repeated rows)
        i = rng.randrange(len(b) + 1)
        j = min(len(b), i + rng.randint(1, 200))
        b[i:i] = b[i:j] * rng.randint(2, 50)
    return bytes(b)


def _rm5_mutation(rng: random.Random, raw: bytes) -> bytes:
    text = raw.decode("latin-1")
    op = rng.randrange(8)
    if op == 0:  # a numeric attribute made hostile
        attrs = ["NO", "MEAN_1", "SD_1", "TOTAL_1", "EVENTS_1", "SE", "EFFECT_SIZE", "YEAR", "CI_STUDY"]
        a = rng.choice(attrs)
        i = text.find(f' {a}="', rng.randrange(len(text)))
        if i >= 0:
            j = text.find('"', i + len(a) + 3)
            text = text[: i + len(a) + 3] + rng.choice(HOSTILE_CELLS).replace('"', "&quot;") + text[j:]
    elif op == 1:  # study names
        text = text.replace('NAME="Edinburgh"', f'NAME="{rng.choice(HOSTILE_CELLS)}"'.replace("\x00", ""))
    elif op == 2:  # an internal-entity expansion ("billion laughs")
        ent = ('<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
               '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">'
               '<!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">]>')
        text = text.replace("?>", "?>" + ent, 1).replace("<TITLE>", "<TITLE>&f;", 1)
    elif op == 3:  # external entity
        text = text.replace("?>", '?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>', 1).replace(
            "<TITLE>", "<TITLE>&x;", 1)
    elif op == 4:  # remove a random element's closing tag
        i = text.find("</", rng.randrange(len(text)))
        if i >= 0:
            text = text[:i] + text[text.find(">", i) + 1:]
    elif op == 5:  # unknown study id
        text = text.replace('STUDY_ID="STD-Edinburgh"', 'STUDY_ID="STD-nobody"', 1)
    elif op == 6:  # deep nesting
        text = text.replace("<TITLE>", "<TITLE>" + "<x>" * 5000 + "</x>" * 5000, 1)
    else:
        return _bytes_mutation(rng, raw)
    out = text.encode("latin-1", errors="replace")
    if rng.random() < 0.15:
        out = gzip.compress(out)
    return out


def _json_mutation(rng: random.Random, text: str) -> str:
    try:
        obj = json.loads(text)
    except ValueError:
        return text
    hostile = [None, -1, 0, 1e308, "x", [], {}, True, "nan", float("nan"), "inf", "=1", "\x1b[2J"]

    def walk(o, depth=0):
        if isinstance(o, dict) and o:
            k = rng.choice(list(o))
            if rng.random() < 0.4 or depth > 4:
                if rng.random() < 0.2:
                    del o[k]
                else:
                    o[k] = rng.choice(hostile)
            else:
                walk(o[k], depth + 1)
        elif isinstance(o, list) and o:
            i = rng.randrange(len(o))
            if rng.random() < 0.5:
                o[i] = rng.choice(hostile)
            else:
                walk(o[i], depth + 1)

    for _ in range(rng.randint(1, 3)):
        walk(obj)
    return json.dumps(obj)


def make_file(i: int, seed: int, folder: Path, seeds: dict) -> tuple[Path, str]:
    """The i-th hostile file and its kind (``csv``, ``rm5``, ``priors``, ``garbage``)."""
    rng = random.Random(seed * 1_000_003 + i)
    u = rng.random()
    if u < 0.55:
        name = rng.choice(list(seeds["csv"]))
        text = seeds["csv"][name]
        data = _cells_mutation(rng, text).encode("utf-8", errors="surrogatepass") if rng.random() < 0.8 \
            else _bytes_mutation(rng, text.encode())
        path, kind = folder / f"f{i}.csv", "csv"
    elif u < 0.8:
        data, path, kind = _rm5_mutation(rng, seeds["rm5"]), folder / f"f{i}.rm5", "rm5"
    elif u < 0.93 and seeds.get("priors"):
        data = _json_mutation(rng, seeds["priors"]).encode() if rng.random() < 0.8 \
            else _bytes_mutation(rng, seeds["priors"].encode())
        path, kind = folder / f"f{i}.json", "priors"
    else:
        n = rng.choice([0, 1, 10, 1000, 100_000])
        data = bytes(rng.randrange(256) for _ in range(n)) if n < 2000 else os.urandom(n)
        path, kind = folder / f"f{i}{rng.choice(['.csv', '.rm5', '.json', '.txt'])}", "garbage"
    path.write_bytes(data)
    return path, kind


class _Timeout(BaseException):
    pass


def _alarm(*_):
    raise _Timeout


def run_cli(argv: list[str], timeout: float) -> tuple[str, str]:
    """(classification, detail) of one in-process ``vfsynth`` run."""
    from vfsynth.reports.cli import main

    out, err = io.StringIO(), io.StringIO()
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
    except _Timeout:
        return "hang", " ".join(argv)
    except SystemExit as exc:  # argparse rejecting an option: exit 2 with usage
        rc = exc.code if isinstance(exc.code, int) else 2
    except BaseException:  # noqa: BLE001 - the point is to catch everything
        return "traceback", traceback.format_exc(limit=-6)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    e = err.getvalue()
    if rc == 0:
        return "ok", ""
    lines = [ln for ln in e.splitlines() if ln.strip() and not ln.startswith("[")]
    if rc == 2 and lines and "Traceback" not in e and (lines[0].startswith("vfsynth ") or lines[0].startswith("usage")):
        return "clean", lines[0][:200]
    return "traceback", f"rc {rc}: {e[-600:]}"


def _schema_records(path: Path) -> int | None:
    """Data records in a vfsynth-schema CSV (non-blank rows after the header), or None."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (UnicodeDecodeError, OSError):
        return None
    from vfsynth.data.validate import read_records

    try:
        _, records = read_records(text)
    except csv.Error:
        return None
    return len(records)


def check_file(path: Path, kind: str, timeout: float, tmp: Path) -> list[tuple[str, str, str]]:
    """Run every cheap command on one file: [(command, classification, detail)]."""
    results = []
    p = str(path)
    if kind == "priors":
        return [("priors show", *run_cli(["priors", "show", p], timeout))]
    results.append(("data", *run_cli(["data", "--data", p], timeout)))
    if zlib.crc32(path.name.encode()) % 8 == 0:  # the JSON printer on a sample (CPU budget)
        results.append(("data --json", *run_cli(["data", "--data", p, "--json"], timeout)))
    out_csv = tmp / f"{path.stem}.out.csv"
    results.append(("import", *run_cli(["import", p, "-o", str(out_csv), "--force"], timeout)))
    if results[0][1] != "ok":
        return results
    from vfsynth.data import load_data

    try:
        review = load_data(p)
    except Exception as exc:  # noqa: BLE001 - data said ok: a failure now is a finding
        return results + [("load_data", "traceback", repr(exc))]
    if path.suffix == ".csv" and not review.meta.get("revman_format"):
        n = _schema_records(path)
        if n is not None and "revman" not in str(review.meta) and n != len(review.rows):
            results.append(("rows", "dropped", f"{n} records, {len(review.rows)} rows"))
    for outcome, timepoint in review.analyses()[:1]:
        results.append(("fit --engine exact", *run_cli(
            ["fit", "--data", p, "--outcome", outcome, "--timepoint", timepoint, "--engine", "exact", "--json"],
            timeout)))
    return results


def _seeds(folder: Path) -> dict:
    seeds = {"csv": {n: (FIX / n).read_text(encoding="utf-8") for n in CSV_SEEDS}, "rm5": RM5_SEED.read_bytes()}
    try:  # an exported priors file, from an exact fit (no sampling)
        import vfsynth as vf
        from vfsynth.data import load_csv

        fit = vf.fit(load_csv(FIX / "normand1999.csv"), outcome="length_of_stay", engine="exact")
        seeds["priors"] = json.dumps(vf.export_priors(fit), default=str)
    except Exception:  # noqa: BLE001 - fuzzing goes on without priors files
        seeds["priors"] = ""
    return seeds


def _worker(args: tuple[int, int, int, float, str]) -> dict:
    start, stop, seed, timeout, fit_dir = args
    os.environ["VFSYNTH_FIT_DIR"] = fit_dir
    signal.signal(signal.SIGALRM, _alarm)
    counts: Counter = Counter()
    examples: dict[str, list] = {}
    with tempfile.TemporaryDirectory(prefix="vfsynth-fuzz-") as d:
        folder = Path(d)
        seeds = _seeds(folder)
        # warm-up (not counted): first imports take seconds and must not read as hangs
        for warm in (["data", "--data", str(FIX / "normand1999.csv")], ["data", "--data", str(RM5_SEED)],
                     ["fit", "--data", str(FIX / "normand1999.csv"), "--outcome", "length_of_stay",
                      "--engine", "exact", "--json"]):
            run_cli(warm, 600)
        for i in range(start, stop):
            path, kind = make_file(i, seed, folder, seeds)
            counts["files"] += 1
            counts[f"files_{kind}"] += 1
            for cmd, cls, detail in check_file(path, kind, timeout, folder):
                counts["runs"] += 1
                counts[cls] += 1
                if cls in ("traceback", "hang", "dropped") and len(examples.setdefault(cls, [])) < 20:
                    examples[cls].append({"index": i, "kind": kind, "command": cmd, "detail": detail})
            for f in folder.glob(f"f{i}*"):
                f.unlink()
            for f in folder.glob(f"f{i}.out*"):
                f.unlink()
    return {"counts": dict(counts), "examples": examples}


def fuzz(n_files: int, seed: int = 13, workers: int = 2, timeout: float = 20.0, fit_dir: str | None = None,
         progress=None) -> dict:
    """Run the fuzz over ``n_files`` files; return counts and examples (see module docstring).

    ``progress(partial_result)`` is called after each chunk of 50 files (partial figures).
    """
    fit_dir = fit_dir or tempfile.mkdtemp(prefix="vfsynth-fuzz-fits-")
    chunk = 50
    jobs = [(s, min(n_files, s + chunk), seed, timeout, fit_dir) for s in range(0, n_files, chunk)]
    t0 = time.monotonic()
    counts: Counter = Counter()
    examples: dict[str, list] = {}

    def result() -> dict:
        return {"seed": seed, "files": counts["files"], "seconds": round(time.monotonic() - t0, 1),
                "timeout_s": timeout, "counts": dict(sorted(counts.items())),
                "examples": {k: v[:20] for k, v in examples.items()}}

    def add(part: dict) -> None:
        counts.update(part["counts"])
        for k, v in part["examples"].items():
            examples.setdefault(k, []).extend(v)
        if progress is not None:
            progress(result())

    if workers <= 1:
        for j in jobs:
            add(_worker(j))
    else:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers, maxtasksperchild=10) as pool:
            for part in pool.imap_unordered(_worker, jobs):
                add(part)
    return result()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per command before it counts as a hang")
    ap.add_argument("--out", default="fuzz-results.json")
    a = ap.parse_args(argv)
    def save(res: dict) -> None:  # written after every chunk, so a stopped run keeps its figures
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")

    res = fuzz(a.files, a.seed, a.workers, a.timeout, progress=save)
    save(res)
    c = res["counts"]
    print(f"{res['files']} files, {c.get('runs', 0)} runs in {res['seconds']} s: ok {c.get('ok', 0)}, "
          f"clean errors {c.get('clean', 0)}, tracebacks {c.get('traceback', 0)}, hangs {c.get('hang', 0)}, "
          f"silently dropped {c.get('dropped', 0)}")
    return 0 if not (c.get("traceback") or c.get("hang") or c.get("dropped")) else 1


if __name__ == "__main__":
    sys.exit(main())
