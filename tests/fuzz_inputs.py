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
import csv
import gzip
import io
import json
import os
import random
import sys
import time
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




NORMAND = FIX / "normand1999.csv"
NORMAND_OUTCOME = "length_of_stay"
#: The small-study section's selection model is sampled (NUTS) even with ``--engine exact``:
#: one short chain keeps it to seconds; its input handling is the same at any length.
CHEAP_MCMC = ["--draws", "100", "--tune", "100", "--chains", "1"]


def _sampled(path: Path, modulus: int, residue: int) -> bool:
    """A deterministic sample of the files (by name) for the costlier commands."""
    return zlib.crc32(path.name.encode()) % modulus == residue


def check_file(path: Path, kind: str, seeds: dict, run, note) -> None:
    """Run the commands on one file.

    ``run(name, argv)`` runs ``vfsynth argv`` and returns its class; ``note(name, class,
    detail)`` records a finding of the driver itself (a row silently dropped). Every file
    goes through ``data`` and ``import`` (priors files: ``priors show`` and ``update
    --priors``); a file that ``data`` accepts goes on to ``fit --engine exact`` and ``update
    --data`` on its first analysis, and a sample of them (1 in 8 each, disjoint) to
    ``average``, ``sensitivity --engine exact`` (its selection model: one chain of
    100 + 100), ``compare --engine exact`` and, 1 in 16, ``report --engine exact
    --no-extras``; a sample of CSVs is read as the ``--moderators``
    file of a valid review. All of these are the commands' cheapest settings that still run
    the whole of their input handling; the commands that only sample (``calibrate``) or take
    no input file (``benchmark``) are not fuzzed, nor ``batch`` (it starts a dask cluster
    per call).
    """
    p = str(path)
    if kind == "priors":
        run("priors show", ["priors", "show", p])
        run("update --priors", ["update", "--priors", p, "--data", str(NORMAND), "--outcome", NORMAND_OUTCOME,
                                "--method", "exact", "--json"])
        return
    data_cls = run("data", ["data", "--data", p])
    if _sampled(path, 8, 0):
        run("data --json", ["data", "--data", p, "--json"])
    if path.suffix == ".csv" and _sampled(path, 8, 5):
        run("data --moderators", ["data", "--data", str(NORMAND), "--moderators", p])
    run("import", ["import", p, "-o", "out.csv", "--force"])
    if data_cls != "ok":
        return
    from vfsynth.data import load_data

    try:
        review = load_data(p)
    except Exception as exc:  # noqa: BLE001 - data said ok: a failure now is a finding
        note("load_data", "traceback", repr(exc))
        return
    if path.suffix == ".csv" and not review.meta.get("revman_format"):
        n = _schema_records(path)
        if n is not None and "revman" not in str(review.meta) and n != len(review.rows):
            note("rows", "dropped", f"{n} records, {len(review.rows)} rows")
    for outcome, timepoint in review.analyses()[:1]:
        ot = ["--outcome", outcome, "--timepoint", timepoint]
        run("fit --engine exact", ["fit", "--data", p, *ot, "--engine", "exact", "--json"])
        run("update --data", ["update", "--priors", seeds["priors_path"], "--data", p, *ot,
                              "--prior-label", NORMAND_OUTCOME, "--method", "exact", "--json"])
        if _sampled(path, 8, 1):
            run("average", ["average", "--data", p, *ot, "--json"])
        if _sampled(path, 8, 2):
            run("sensitivity", ["sensitivity", "--data", p, *ot, "--engine", "exact", *CHEAP_MCMC,
                                "--sections", "priors,influence,small-study", "--json"])
        if _sampled(path, 8, 3):
            run("compare", ["compare", "--data", p, *ot, "--engine", "exact",
                            "--models", "common-effect,random-effects", "--json"])
        if _sampled(path, 16, 4):
            run("report", ["report", "--data", p, "--engine", "exact", "--no-extras", "--quiet", "--out", "rep"])


def seeds(folder: Path) -> dict:
    """The valid files the mutations start from (``priors``: an exported priors JSON)."""
    s = {"csv": {n: (FIX / n).read_text(encoding="utf-8") for n in CSV_SEEDS}, "rm5": RM5_SEED.read_bytes()}
    import vfsynth as vf
    from vfsynth.data import load_csv

    # an exact fit: no sampling. Without a priors seed the priors commands would go unfuzzed,
    # so a failure here stops the run.
    fit = vf.fit(load_csv(NORMAND), outcome=NORMAND_OUTCOME, engine="exact")
    s["priors"] = json.dumps(vf.export_priors(fit), default=str)
    s["priors_path"] = str(folder / "seed-priors.json")
    Path(s["priors_path"]).write_text(s["priors"])
    return s


def warm_up_commands(folder: Path) -> list[tuple[str, list[str]]]:
    """Commands a worker runs before counting (first imports and compilations take seconds)."""
    p, ot = str(NORMAND), ["--outcome", NORMAND_OUTCOME]
    return [("data", ["data", "--data", p]), ("data", ["data", "--data", str(RM5_SEED)]),
            ("fit", ["fit", "--data", p, *ot, "--engine", "exact", "--json"]),
            ("update", ["update", "--priors", str(folder / "seed-priors.json"), "--data", p, *ot,
                        "--method", "exact", "--json"]),
            ("average", ["average", "--data", p, *ot, "--json"]),
            ("sensitivity", ["sensitivity", "--data", p, *ot, "--engine", "exact", *CHEAP_MCMC,
                             "--sections", "priors,influence,small-study", "--json"]),
            ("compare", ["compare", "--data", p, *ot, "--engine", "exact", "--models", "common-effect,random-effects",
                         "--json"]),
            ("report", ["report", "--data", p, "--engine", "exact", "--no-extras", "--quiet", "--out", "rep"])]


def fuzz(n_files: int, seed: int = 13, workers: int = 2, timeout: float = 120.0, subprocess_every: int = 50,
         start: int = 0, indices: list[int] | None = None, progress=None) -> dict:
    """Run files ``start .. start + n_files - 1`` (or ``indices``); return figures and examples.

    Counts: ``files``, ``runs`` (command runs, both paths), one count per class (``ok``,
    ``clean``, ``gate``, ``traceback``, ``crash``, ``hang``, ``dropped``, ``mismatch``),
    ``subprocess_runs``, ``state_restored``; ``signatures`` groups the bad results by
    command and first line of their detail; ``max_seconds`` is the slowest in-process run of
    each command. ``progress(result)`` is called every 50 files.
    """
    from fuzz_pool import run_pool

    idx = list(indices) if indices is not None else list(range(start, start + n_files))
    counts: Counter = Counter()
    signatures: dict[str, dict] = {}
    max_s: dict[str, float] = {}
    restored: Counter = Counter()
    files: set = set()
    t0 = time.monotonic()

    def record(i, kind, name, cls, detail, seconds, changed) -> None:
        if i not in files:
            files.add(i)
            counts["files"] += 1
            counts[f"files_{kind}"] += 1
        counts["runs"] += 1
        counts[cls] += 1
        if name.startswith("subprocess "):
            counts["subprocess_runs"] += 1
        max_s[name] = round(max(max_s.get(name, 0.0), seconds), 2)
        if changed:
            counts["state_restored"] += 1
            restored.update(changed)
        if cls in ("traceback", "crash", "hang", "dropped", "mismatch"):
            lines = [ln for ln in str(detail).strip().splitlines() if ln.strip()]
            key = f"{cls} | {name} | {lines[-1][:160] if lines else ''}"
            sig = signatures.setdefault(key, {"count": 0, "indices": [], "kind": kind, "detail": str(detail)[-1500:]})
            sig["count"] += 1
            if len(sig["indices"]) < 50:
                sig["indices"].append(i)

    def result() -> dict:
        return {"seed": seed, "files": counts["files"], "indices": [idx[0], idx[-1]] if idx else [],
                "seconds": round(time.monotonic() - t0, 1), "workers": workers, "timeout_s": timeout,
                "subprocess_every": subprocess_every, "counts": dict(sorted(counts.items())),
                "max_seconds": dict(sorted(max_s.items())), "state_restored": dict(restored),
                "signatures": signatures}

    run_pool(idx, seed, workers, timeout, subprocess_every, record,
             progress=None if progress is None else (lambda _done: progress(result())))
    return result()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--start", type=int, default=0, help="index of the first file (files are made from their index)")
    ap.add_argument("--indices", type=int, nargs="+", default=None, help="rerun just these file indices")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per command before it counts as a hang")
    ap.add_argument("--subprocess-every", type=int, default=50,
                    help="also run every N-th file's commands as real vfsynth processes (0: never)")
    ap.add_argument("--out", default="fuzz-results.json")
    a = ap.parse_args(argv)

    def save(res: dict) -> None:  # written every 50 files, so a stopped run keeps its figures
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
        print(f"{time.strftime('%H:%M:%S')} {summarise(Counter(res['counts']))}", flush=True)

    from fuzz_pool import summarise

    res = fuzz(a.files, a.seed, a.workers, a.timeout, a.subprocess_every, a.start, a.indices, progress=save)
    save(res)
    print(f"{summarise(Counter(res['counts']))} in {res['seconds']} s")
    c = res["counts"]
    return 0 if not any(c.get(k) for k in ("traceback", "crash", "hang", "dropped", "mismatch")) else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
