"""Run many independent tasks in this process or on a Dask cluster, with the same results.

Corpus re-analysis (:mod:`vfsynth.fits.corpus`) is embarrassingly parallel: one task per review,
each a pure function of its inputs. :func:`task_runner` gives the caller one way to run such
tasks wherever the user points it:

* nothing -> in this process, one after another (no Dask import at all);
* ``workers=N`` -> a :class:`dask.distributed.LocalCluster` of ``N`` single-threaded worker
  processes on this machine (threads would share the GIL and JAX's thread pool);
* ``scheduler="tcp://host:8786"`` -> an existing Dask cluster (``dask scheduler`` plus
  ``dask worker`` processes, or ``dask-jobqueue`` / ``dask-kubernetes``); the workers need
  vfsynth installed at the same version, nothing else (inputs travel with the task).

Results are identical on every path because every path calls the same function on the same
arguments; only the order in which results arrive differs, which is why :func:`task_runner`
yields ``(index, result)`` pairs and callers that write tables sort them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from vfsynth.data.errors import VfsynthError


class ClusterError(VfsynthError):
    """The Dask scheduler could not be reached or the cluster could not be started."""


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None, *, processes: bool = True):
    """A ``dask.distributed.Client`` for ``scheduler`` or a local cluster of ``workers``.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``, or a scheduler file path ending
        in ``.json``).
    workers : int, optional
        Start a ``LocalCluster`` with this many single-threaded workers.
    processes : bool
        Workers as separate processes (the default: the command line's ``--workers``); False
        runs them as threads of this process, which starts in a fraction of a second because
        nothing has to be imported again (the fast test uses it).

    Yields
    ------
    distributed.Client or None
        None when neither is given (run in-process).
    """
    if scheduler is not None and workers is not None:
        raise ClusterError("give either --scheduler or --workers, not both")
    if scheduler is None and workers is None:
        yield None
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask[distributed] is a dependency
        raise ClusterError(f"dask.distributed is not installed ({exc}); pip install 'dask[distributed]'") from None
    if workers is not None:
        if not isinstance(workers, int) or workers < 1:
            raise ClusterError(f"--workers must be an integer >= 1, got {workers!r}")
        # no dashboard: a fixed port collides between users on a shared machine
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                               dashboard_address=None, silence_logs=logging.ERROR)
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        if str(scheduler).endswith(".json"):
            client = Client(scheduler_file=str(scheduler), timeout="20s")
        else:
            client = Client(str(scheduler), timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        yield client
    finally:
        client.close()


def task_runner(fn: Callable[..., Any], args: Sequence[tuple], client=None,
                extra: Iterable[Any] = ()) -> Iterator[tuple[int, Any]]:
    """Run ``fn(*args[i], *extra)`` for every ``i``; yield ``(i, result)`` as results arrive.

    In-process (``client=None``) the order is ``args``' order; on a cluster it is completion
    order. An exception inside ``fn`` propagates (callers catch expected failures inside
    ``fn`` and return them as data).
    """
    extra = tuple(extra)
    if client is None:
        for i, a in enumerate(args):
            yield i, fn(*a, *extra)
        return
    from distributed import as_completed

    # the shared arguments are small (settings, a few keys): pickled with each task; scattering
    # would treat a set or list as a collection of separate data
    futures = {client.submit(fn, *a, *extra, pure=False): i for i, a in enumerate(args)}
    try:
        for fut in as_completed(futures):
            i = futures[fut]
            yield i, fut.result()
            fut.release()
    finally:
        for fut in futures:
            fut.cancel()
