"""Per-image work in parallel through joblib: local processes, or a Dask cluster, by configuration.

``map_images(job, args_list, execution=...)`` runs ``job(*args)`` for every item and
yields ``(index, value, error)`` as results arrive (any order).  Items travel in batches
(``batch_size`` per task) in the order given, so that per-task overhead stays small on a
cluster, and at most ``max_in_flight`` batches are dispatched ahead of the results
consumed, so that memory stays bounded whatever the number of images.

Failure policy
--------------
A job returns its value, or raises.  Exactly two kinds of exception mean "this image is
bad: record it and go on" (:data:`PER_IMAGE_ERRORS`): :class:`features.image_io.ImageReadError`
(a missing, unreadable or undecodable file) and :class:`ilsvrc.errors.InputError` (an
input the code declares malformed, such as an annotation box off its image); they come
back as ``(index, None, message)``.  Anything else is a programming error: it stops the
run with its traceback.

A local worker process that *dies* on an image (killed by the system for memory on a huge
picture, or a crash in a decoder) takes no image's result with it and does not stop the run:
each worker notes in a journal file the image it is computing; when the pool loses a worker,
the images in progress at that moment are run again one at a time, each in a fresh
process, and the one whose process dies again comes back as a failed image ("the worker
process died ..."); the rest of the images then go on as before.  (On a Dask cluster the
scheduler itself retries a task whose worker died, and gives up on it after a few deaths;
with ``n_jobs = 1`` joblib runs the jobs in this process, so nothing is isolated.)

Backends
--------
``"local"``  joblib's process pool (loky) with ``n_jobs`` workers.
``"dask"``   joblib's Dask backend on a ``dask.distributed`` client: ``scheduler`` is the
             address of a running cluster (``tcp://host:8786``), or ``"local"`` for a
             ``LocalCluster`` of ``n_jobs`` single-threaded worker processes on this machine.

Every job runs with BLAS and OpenMP limited to one thread, so that results are
bit-identical whichever backend and however many workers compute them.  A local worker
whose parent process has died (killed with SIGKILL, say) exits within a second instead of
living on as an orphan.
"""
from __future__ import annotations

import logging
import os
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

from features.image_io import ImageReadError
from ilsvrc.errors import InputError

log = logging.getLogger(__name__)

BACKENDS = ("local", "dask")
PER_IMAGE_ERRORS = (ImageReadError, InputError)
"""Exceptions that mark one image as failed (recorded, skipped); any other stops the run."""


@dataclass(frozen=True)
class Execution:
    """How per-image work is spread.

    Attributes
    ----------
    backend : {"local", "dask"}
    scheduler : str
        Dask only: ``"local"`` or a scheduler address.
    n_jobs : int
        Worker processes (local backend, and the LocalCluster's size).
    batch_size : int
        Images per task.
    max_in_flight : int
        Batches dispatched ahead of consumption (0: four per worker; on Dask, per worker thread
        of the cluster).
    """

    backend: str = "local"
    scheduler: str = "local"
    n_jobs: int = 2
    batch_size: int = 8
    max_in_flight: int = 0

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {BACKENDS}, got {self.backend!r}")
        if self.n_jobs < 1 or self.batch_size < 1 or self.max_in_flight < 0:
            raise ValueError("n_jobs and batch_size must be >= 1, max_in_flight >= 0")


_WATCHDOG = {"pid": None}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exit_with_driver(driver: int) -> None:
    """In a worker process: exit as soon as the driver process (or this worker's parent) is gone."""
    if not driver or driver == os.getpid() or _WATCHDOG["pid"] == os.getpid():
        return
    _WATCHDOG["pid"] = os.getpid()
    parent = os.getppid()

    def watch():
        import time

        while True:
            time.sleep(0.5)
            if os.getppid() != parent or not _alive(driver):
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _run_batch(job, batch, driver: int = 0, journal: str = ""):
    from threadpoolctl import threadpool_limits

    _exit_with_driver(driver)
    note = os.path.join(journal, str(os.getpid())) if journal else ""
    out = []
    with threadpool_limits(1):
        for index, args in batch:
            if note:
                _write_note(note, str(index))
            try:
                out.append((index, job(*args), None))
            except PER_IMAGE_ERRORS as exc:
                out.append((index, None, str(exc)))
    # the last image stays noted: a worker killed while its results are sent back (large
    # results, memory short) names it too
    return out


def _write_note(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def _in_progress(journal: str) -> list[int]:
    """The image each worker noted last (in progress, or the last of a batch whose results
    may not have come back), from the journal; empties it."""
    found = []
    for name in os.listdir(journal):
        path = os.path.join(journal, name)
        with open(path) as handle:
            text = handle.read().strip()
        os.remove(path)
        if text:
            found.append(int(text))
    return sorted(found)


WORKER_DIED = ("the worker process died while computing this image (killed by the system, e.g. for lack of "
               "memory, or crashed in native code); the image is skipped")


_ABORTED = {"flag": False}


def _quiet_aborted_pool(args) -> None:
    """``threading.excepthook``: after a map was aborted (Ctrl-C, SIGTERM), loky's manager
    thread can trip over the work items it is cancelling (a ``KeyError``); that is not an
    error of the run, so it is logged at debug level instead of printed as a traceback."""
    if _ABORTED["flag"] and args.thread is not None and args.thread.name == "ExecutorManagerThread":
        log.debug("worker pool shut down after an interruption: %r", args.exc_value)
        return
    _PREVIOUS_HOOK(args)


# An interrupted run abandons the batches in flight on purpose; joblib's warning about them says nothing new.
warnings.filterwarnings("ignore", message=r".*tasks which were still being processed by the workers have been "
                                          r"cancelled", category=UserWarning)
_PREVIOUS_HOOK = threading.excepthook
threading.excepthook = _quiet_aborted_pool


def mark_aborted() -> None:
    """Record that the run is being interrupted (call it first thing in a signal handler)."""
    _ABORTED["flag"] = True


def abort_workers() -> None:
    """Stop the local worker processes at once (an interrupted run: their batches are not
    waited for; what was finished is already in the cache or the store)."""
    mark_aborted()
    try:
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor(reuse=True).shutdown(wait=False, kill_workers=True)   # (no resize: no wait)
    except (ImportError, OSError, RuntimeError) as exc:
        log.debug("stopping the worker pool: %r", exc)


def _restore_environment(saved: dict) -> None:
    """Make this process's environment ``saved`` again.

    Dask's nannies write their workers' settings (``OMP_NUM_THREADS=1``,
    ``OPENBLAS_NUM_THREADS=1``, ``MALLOC_TRIM_THRESHOLD_``, ...) into the environment of the
    process that starts them, and leave them there: every process started afterwards (loky
    workers, a later run) would be pinned to one thread, and faiss's k-means, whose last bits
    depend on its thread count, would learn another vocabulary than the same run started
    afresh."""
    for key in set(os.environ) - set(saved):
        del os.environ[key]
    for key, value in saved.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


@contextmanager
def _dask_client(execution: Execution):
    from dask.distributed import Client, LocalCluster

    if execution.scheduler in ("", "local"):
        saved = dict(os.environ)
        try:
            cluster = LocalCluster(n_workers=execution.n_jobs, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            _restore_environment(saved)          # the workers have theirs: not this process
            client = Client(cluster)
            try:
                yield client
            finally:
                client.close()
                cluster.close()
        finally:
            _restore_environment(saved)          # (a worker restarted meanwhile writes them again)
    else:
        client = Client(execution.scheduler)
        try:
            yield client
        finally:
            client.close()


def map_images(job, args_list, execution: Execution = Execution(), *, indices=None, progress: bool = False,
               desc: str = ""):
    """Run ``job(*args)`` for each item of ``args_list``; yield ``(index, value, error)``.

    Parameters
    ----------
    job : callable
        Picklable; returns the item's value, or raises (see the failure policy above).
    args_list : sequence of tuple
    execution : Execution
    indices : sequence of int, optional
        Which items to run, in this order (default: all, in order).
    progress : bool
        Show a tqdm bar over images.
    """
    from joblib import Parallel, delayed, parallel_config
    from tqdm import tqdm

    todo = list(range(len(args_list))) if indices is None else list(indices)
    if not todo:
        return
    ahead = execution.max_in_flight or 4 * execution.n_jobs
    bar = tqdm(total=len(todo), desc=desc, disable=not progress, leave=False, unit="img")
    local = execution.backend == "local"
    try:
        if not local:
            tasks = (delayed(_run_batch)(job, b) for b in _batches(args_list, todo, execution.batch_size))
            with _dask_client(execution) as client, parallel_config(backend="dask"):
                if not execution.max_in_flight:           # four batches per worker thread of the cluster
                    ahead = 4 * max(sum(client.nthreads().values()), 1)
                runner = Parallel(n_jobs=-1, return_as="generator_unordered", pre_dispatch=ahead)
                for results in runner(tasks):
                    bar.update(len(results))
                    yield from results
        else:
            for results in _local_batches(job, args_list, todo, execution, ahead):
                bar.update(len(results))
                yield from results
    except BaseException:
        _ABORTED["flag"] = True
        raise
    finally:
        bar.close()


def _batches(args_list, todo, size):
    return [[(i, args_list[i]) for i in todo[s:s + size]] for s in range(0, len(todo), size)]


def _local_batches(job, args_list, todo, execution: Execution, ahead: int):
    """Batches of results from a loky pool, surviving the death of a worker (module docstring)."""
    import shutil
    import tempfile

    from joblib import Parallel, delayed
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    journal = tempfile.mkdtemp(prefix="ilsvrc-classic-jobs-")
    done: set[int] = set()
    remaining = list(todo)
    stalled = 0
    try:
        while remaining:
            tasks = (delayed(_run_batch)(job, b, os.getpid(), journal)
                     for b in _batches(args_list, remaining, execution.batch_size))
            runner = Parallel(n_jobs=execution.n_jobs, return_as="generator_unordered", pre_dispatch=ahead)
            before = len(done)
            try:
                for results in runner(tasks):
                    done.update(index for index, _, _ in results)
                    yield results
                return
            except TerminatedWorkerError:
                suspects = [i for i in _in_progress(journal) if i not in done]
                stalled = 0 if suspects or len(done) > before else stalled + 1
                if stalled >= 3:
                    raise RuntimeError("worker processes keep dying with no image in progress (the machine may be "
                                       "short of memory: try fewer workers, run.n_jobs)") from None
                log.warning("a worker process died; running the %d image(s) it may have been computing one at a "
                            "time", len(suspects))
                for index in suspects:
                    yield [_run_alone(job, index, args_list[index])]
                    done.add(index)
                remaining = [i for i in remaining if i not in done]
    finally:
        shutil.rmtree(journal, ignore_errors=True)


def _run_alone(job, index, args):
    """``(index, value, error)`` of one image computed in a fresh process of its own; the
    error says so when that process dies too."""
    from joblib.externals.loky import ProcessPoolExecutor
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    executor = ProcessPoolExecutor(max_workers=1)       # private: joblib's shared pool is left as it is
    try:
        return executor.submit(_run_batch, job, [(index, args)], os.getpid()).result()[0]
    except TerminatedWorkerError:
        log.warning("image %d: %s", index, WORKER_DIED)
        return index, None, WORKER_DIED
    finally:
        executor.shutdown(wait=False, kill_workers=True)
