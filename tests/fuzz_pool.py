"""Worker pool of the fuzz run (``tests/fuzz_inputs.py``): long-lived workers, isolated runs.

Each worker is a fresh interpreter (``spawn`` context) that imports vfsynth once and then runs
``vfsynth.reports.cli.main(argv)`` in-process for every command of every file it is given.
The parent hears a ``start`` message before each command and a ``result`` after it; a worker
silent for ``timeout + HARD_GRACE_S`` seconds is killed and replaced (a hang in C code that
no signal can interrupt is still detected), a worker that dies is a ``crash``. Inside the
worker a ``SIGALRM`` at ``timeout`` turns a hang in Python code into a ``hang`` result with
the stack where it stood (the failure's signature).

Isolation (:func:`isolated`): every command runs in its own temporary folder as cwd, with its
own ``VFSYNTH_FIT_DIR`` / ``VFSYNTH_CACHE_DIR`` (``VFSYNTH_STEP_CACHE_DIR`` unset); afterwards
the environment, cwd, warnings filters, numpy error state, ``sys.argv``, the root logger's
handlers and matplotlib's figures and rcParams are put back. A command that changed any of
them is counted (``state_restored``) with the names of what it changed.

Every ``subprocess_every``-th file also runs each of its commands through the real
``vfsynth`` executable (fresh process, its own folders), which shows what the in-process path
hides (output encoding, exit status, import-time failures); a different class from the two
paths is a ``mismatch``.

Python's docs on the ``spawn`` start method and on ``multiprocessing.connection.wait`` were
the sources for the process handling (docs.python.org/3/library/multiprocessing.html).
"""

from __future__ import annotations

import contextlib
import io
import logging
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from multiprocessing.connection import wait
from pathlib import Path

#: Extra seconds of silence, beyond the per-command timeout, before a worker is killed.
HARD_GRACE_S = 30.0
#: Seconds a new worker may take to import vfsynth and run its warm-up commands.
READY_TIMEOUT_S = 900.0
#: Exit statuses the README documents: 0 success, 2 bad input/request, 3 diagnostics gate.
GATE_COMMANDS = ("fit", "update", "compare", "sensitivity", "average", "report")


class _Timeout(BaseException):
    pass


def _alarm(*_):
    raise _Timeout


def classify(command: str, rc: int | None, err: str) -> tuple[str, str]:
    """(class, detail) of a finished run from its exit status and stderr.

    ``clean`` needs status 2 and a first stderr line ``vfsynth <command>: ...`` (or argparse's
    ``usage:``) with no traceback; status 3 is the documented diagnostics gate of the
    commands that fit. Progress lines (``[  0.1s] ...``) are skipped.
    """
    if rc == 0:
        return "ok", ""
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("[")]
    if "Traceback" in err:
        return "traceback", f"rc {rc}: {err[-800:]}"
    if rc == 2 and lines and (lines[0].startswith("vfsynth ") or lines[0].startswith("usage")):
        return "clean", lines[0][:200]
    if rc == 3 and command.split()[0] in GATE_COMMANDS:
        return "gate", (lines[0][:200] if lines else "")
    return "traceback", f"rc {rc}: {err[-800:]}"


def _state() -> dict:
    import numpy as np

    st = {"env": dict(os.environ), "cwd": os.getcwd(), "warnings": list(warnings.filters),
          "np": np.geterr(), "argv": list(sys.argv), "log": list(logging.getLogger().handlers)}
    if "matplotlib" in sys.modules:
        import matplotlib

        st["rc"] = dict(matplotlib.rcParams)
    return st


@contextlib.contextmanager
def isolated(work: Path, baseline: dict, changed: list[str]):
    """Run a command in its own folder and env; restore the worker's state afterwards.

    ``baseline`` is the worker's state (:func:`_state`) before its first counted command;
    ``changed`` receives the names of the parts a command left changed.
    """
    import numpy as np

    work.mkdir(parents=True)
    os.environ["VFSYNTH_FIT_DIR"] = str(work / "fits")
    os.environ["VFSYNTH_CACHE_DIR"] = str(work / "cache")
    os.environ.pop("VFSYNTH_STEP_CACHE_DIR", None)
    os.chdir(work)
    before = _state()
    try:
        with warnings.catch_warnings():
            yield
    finally:
        after = _state()
        changed.extend(k for k in before if k not in ("rc", "env") and after.get(k) != before[k])
        changed.extend(f"env {k}" for k in sorted(set(before["env"]) | set(after["env"]))
                       if before["env"].get(k) != after["env"].get(k))
        if "rc" in after and after["rc"] != baseline.get("rc", after["rc"]):
            changed.append("matplotlib.rcParams")
        os.chdir(baseline["cwd"])
        os.environ.clear()
        os.environ.update(baseline["env"])
        warnings.filters[:] = baseline["warnings"]
        np.seterr(**baseline["np"])
        sys.argv[:] = baseline["argv"]
        root = logging.getLogger()
        root.handlers[:] = baseline["log"]
        if "matplotlib.pyplot" in sys.modules:
            import matplotlib.pyplot as plt

            plt.close("all")
        if "rc" in baseline and "matplotlib" in sys.modules:
            import matplotlib

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                matplotlib.rcParams.update(baseline["rc"])
        shutil.rmtree(work, ignore_errors=True)


def run_in_process(argv: list[str], timeout: float) -> tuple[str, str]:
    """(class, detail) of ``main(argv)`` run in this process, stdout/stderr captured."""
    from vfsynth.reports.cli import main

    out, err = io.StringIO(), io.StringIO()
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
    except _Timeout as exc:  # where it stood: the frames above the alarm handler
        frames = traceback.extract_tb(exc.__traceback__)[:-1][-4:]
        return "hang", "soft timeout at " + " <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}"
                                                        for f in reversed(frames))
    except SystemExit as exc:  # argparse: exit 2 with usage; anything else is judged below
        rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - the point is to catch everything
        return "traceback", traceback.format_exc(limit=-6)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return classify(argv[0], rc, err.getvalue())


def vfsynth_executable() -> list[str]:
    """The installed ``vfsynth`` console script next to this interpreter (else ``-m``)."""
    exe = Path(sys.executable).with_name("vfsynth")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "vfsynth.reports.cli"]


def run_subprocess(argv: list[str], timeout: float, work: Path) -> tuple[str, str]:
    """(class, detail) of the real ``vfsynth`` executable on ``argv`` (own cwd and folders)."""
    work.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "VFSYNTH_STEP_CACHE_DIR"}
    env.update(VFSYNTH_FIT_DIR=str(work / "fits"), VFSYNTH_CACHE_DIR=str(work / "cache"), MPLBACKEND="Agg")
    try:
        p = subprocess.run(vfsynth_executable() + argv, cwd=work, env=env, capture_output=True,
                           timeout=timeout + 60, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return "hang", " ".join(argv)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    try:
        err = p.stderr.decode("utf-8")
        p.stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        return "traceback", f"output not UTF-8: {exc}"
    return classify(argv[0], p.returncode, err)


def _worker_main(conn, seed: int, timeout: float, subprocess_every: int, base: str, warm_up: bool) -> None:
    """A worker: warm up, then for each file index received run its commands and report.

    ``$VFSYNTH_FUZZ_HANG_AT`` / ``$VFSYNTH_FUZZ_CRASH_AT`` (a file index) make the worker hang
    with ``SIGALRM`` blocked, or die, at that file: the self-test of the parent's detection.
    """
    import fuzz_inputs  # noqa: PLC0415 - imported here so the spawned child finds it on sys.path

    os.environ.setdefault("MPLBACKEND", "Agg")
    signal.signal(signal.SIGALRM, _alarm)
    home = Path(tempfile.mkdtemp(prefix="w-", dir=base))
    folder = home / "files"
    folder.mkdir()
    seeds = fuzz_inputs.seeds(folder)
    baseline = _state()
    n_cmd = 0
    for _name, argv in fuzz_inputs.warm_up_commands(folder) if warm_up else []:  # first imports/compilations: not counted
        with isolated(home / f"c{n_cmd}", baseline, []):
            run_in_process(argv, READY_TIMEOUT_S)
        n_cmd += 1
    baseline = _state()
    conn.send(("ready",))
    while True:
        i = conn.recv()
        if i is None:
            break
        path, kind = fuzz_inputs.make_file(i, seed, folder, seeds)
        if os.environ.get("VFSYNTH_FUZZ_HANG_AT") == str(i):
            conn.send(("start", i, "self-test hang", kind))
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(10 * READY_TIMEOUT_S)
        if os.environ.get("VFSYNTH_FUZZ_CRASH_AT") == str(i):
            conn.send(("start", i, "self-test crash", kind))
            os._exit(9)
        via_subprocess = subprocess_every > 0 and i % subprocess_every == 0

        def run(name: str, argv: list[str], i=i, kind=kind, via_subprocess=via_subprocess) -> str:
            nonlocal n_cmd
            n_cmd += 1
            conn.send(("start", i, name, kind))
            t0 = time.monotonic()
            changed: list[str] = []
            with isolated(home / f"c{n_cmd}", baseline, changed):
                cls, detail = run_in_process(argv, timeout)
            conn.send(("result", i, kind, name, cls, detail, time.monotonic() - t0, changed))
            if via_subprocess:
                conn.send(("start", i, "subprocess " + name, kind))
                scls, sdetail = run_subprocess(argv, timeout, home / f"s{n_cmd}")
                if scls == cls or scls not in ("ok", "clean", "gate"):
                    conn.send(("result", i, kind, "subprocess " + name, scls, sdetail, 0.0, []))
                else:
                    conn.send(("result", i, kind, "subprocess " + name, "mismatch",
                               f"in-process {cls}, subprocess {scls}: {sdetail or detail}", 0.0, []))
            return cls

        def note(name: str, cls: str, detail: str, i=i, kind=kind) -> None:
            conn.send(("result", i, kind, name, cls, detail, 0.0, []))

        try:
            fuzz_inputs.check_file(path, kind, seeds, run, note)
        except Exception:  # noqa: BLE001 - a bug in the driver itself must show, not kill the run
            note("driver", "traceback", traceback.format_exc(limit=-6))
        for f in folder.glob(f"f{i}.*"):
            f.unlink()
        conn.send(("done", i))


class _Worker:
    def __init__(self, ctx, args: tuple):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, *args), daemon=True)
        self.proc.start()
        child.close()
        self.ready = False
        self.file: int | None = None
        self.command = "(warm-up)"
        self.deadline = time.monotonic() + READY_TIMEOUT_S

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join(10)
        self.conn.close()


def run_pool(indices: list[int], seed: int, workers: int, timeout: float, subprocess_every: int,
             record, progress=None, progress_every: int = 50, warm_up: bool = True,
             hard_grace: float = HARD_GRACE_S) -> None:
    """Run the files ``indices`` on ``workers`` worker processes.

    ``record(index, kind, command, class, detail, seconds, changed)`` is called for every
    result (also ``hang`` / ``crash`` found by the parent); ``progress(files_done)`` after
    every ``progress_every`` files.
    """
    ctx = mp.get_context("spawn")
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    os.environ["PYTHONPATH"] = here + os.pathsep + os.environ.get("PYTHONPATH", "")
    base = tempfile.mkdtemp(prefix="vfsynth-fuzz-")
    args = (seed, timeout, subprocess_every, base, warm_up)
    todo = list(reversed(indices))
    pool = [_Worker(ctx, args) for _ in range(min(workers, len(indices)) or 1)]
    done = 0
    kinds: dict[int, str] = {}

    def assign(w: _Worker) -> None:
        if todo:
            w.file = todo.pop()
            w.command = "(between commands)"
            w.conn.send(w.file)
            w.deadline = time.monotonic() + timeout + hard_grace
        else:
            w.file = None
            w.conn.send(None)
            w.deadline = float("inf")

    try:
        while any(w.file is not None or not w.ready for w in pool):
            live = [w for w in pool if w.file is not None or not w.ready]
            now = time.monotonic()
            ready = wait([w.conn for w in live], timeout=max(0.0, min(w.deadline for w in live) - now))
            for w in list(live):
                if w.conn in ready:
                    try:
                        msg = w.conn.recv()
                    except (EOFError, OSError):
                        msg = ("died",)
                elif time.monotonic() > w.deadline:
                    msg = ("silent",)
                else:
                    continue
                if msg[0] == "ready":
                    w.ready = True
                    assign(w)
                elif msg[0] == "start":
                    w.command = msg[2]
                    kinds[msg[1]] = msg[3]
                    w.deadline = time.monotonic() + timeout + hard_grace + (60 if "subprocess" in msg[2] else 0)
                elif msg[0] == "result":
                    kinds[msg[1]] = msg[2]
                    record(*msg[1:])
                    w.command = "(between commands)"
                    w.deadline = time.monotonic() + timeout + hard_grace
                elif msg[0] == "done":
                    done += 1
                    if progress is not None and done % progress_every == 0:
                        progress(done)
                    assign(w)
                else:  # silent past its deadline, or dead: a hang or a crash; replace the worker
                    cls = "hang" if msg[0] == "silent" else "crash"
                    w.kill()
                    if w.file is None and not w.ready:
                        raise RuntimeError(f"fuzz worker failed to start ({cls}, exit {w.proc.exitcode})")
                    why = f"killed after {timeout + hard_grace:.0f} s silent" if cls == "hang" \
                        else f"exit {w.proc.exitcode}"
                    record(w.file, kinds.get(w.file, "?"), w.command, cls, f"worker {why}", 0.0, [])
                    done += 1
                    pool[pool.index(w)] = nw = _Worker(ctx, args)
                    nw.ready = False
    finally:
        for w in pool:
            if w.proc.is_alive():
                w.proc.join(5)
            if w.proc.is_alive():
                w.kill()
        shutil.rmtree(base, ignore_errors=True)


def summarise(counts: Counter) -> str:
    """One line of the run's figures."""
    c = counts
    return (f"{c['files']} files, {c['runs']} runs: ok {c['ok']}, clean errors {c['clean']}, gate {c['gate']}, "
            f"tracebacks {c['traceback']}, crashes {c['crash']}, hangs {c['hang']}, "
            f"silently dropped {c['dropped']}, mismatches {c['mismatch']}")
