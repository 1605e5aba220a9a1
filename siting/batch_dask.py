"""The ``dask`` batch backend: each scenario is one task on a Dask cluster.

By default the batch starts a ``distributed.LocalCluster`` on this machine (one worker
*process* per job, one thread each: the distance searches and the solvers use their own
threads) and closes it at the end. Given a running cluster (``scheduler="tcp://host:8786"``
or a ``distributed.Client``), it submits there and never closes the cluster.

Assumptions
-----------
- **A shared filesystem.** The scenario file is read here (YAML only; its relative paths
  then start from the file's absolute folder) and sent to a worker, which reads the
  inputs and writes the output folder at those same absolute paths. Workers on other
  machines must see the files at the same paths (NFS or a cluster filesystem); a worker
  that cannot see the scenario's folder says so in one line.
- **Small results.** A task returns the run's :class:`~siting.batch.Outcome` (tables and
  numbers); the network, coverage matrices and plan stay on the worker and are dropped.
- **The same siting on every worker** (Dask warns about mismatched package versions).

Ctrl-C
------
Dask does not stop a running task (``Client.cancel`` drops queued tasks and discards
results). So on Ctrl-C the batch asks every worker to stop its runs
(:func:`stop_batch`): the worker raises ``KeyboardInterrupt`` in each thread running one
(``PyThreadState_SetAsyncExc``: it arrives at the thread's next Python instruction, i.e.
once a compiled routine returns), the run removes its temporary output folder as on a
local Ctrl-C, and the batch's queued runs return at once. The batch then cancels its
futures, waits (at most :data:`STOP_WAIT_S`) until no run of it is left, and closes the
cluster only if it started it.

The local cluster's workers start with SIGINT ignored (this process ignores it for the
second or two the cluster takes to start, and the workers inherit that), so a Ctrl-C in
a terminal, which reaches every process of the foreground group, is handled here alone.
"""

from __future__ import annotations

import ctypes
import logging
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, as_completed
from functools import partial
from pathlib import Path
from typing import Any

from .batch import Backend, Outcome, failed, run_one
from .errors import DataError, ParameterError
from .output import _sigint_held

log = logging.getLogger(__name__)

#: seconds to wait for the scheduler named by ``--scheduler``
CONNECT_TIMEOUT_S = 20.0
#: seconds a Ctrl-C waits for the running scenarios to remove their partial outputs
STOP_WAIT_S = 30.0


# ----------------------------------------------------------------------------- worker
_LOCK = threading.Lock()
_RUNNING: dict[str, set[int]] = {}  # batch id -> ids of the threads running its scenarios
_SIGNALLED: set[int] = set()  # threads told to stop, whose stop may not have arrived yet
_STOPPED: set[str] = set()  # batches stopped by Ctrl-C: their queued runs return at once


def run_task(task: Mapping[str, Any] | Outcome, force: bool, write: bool, batch: str) -> Outcome:
    """A Dask task: run one loaded scenario (or pass on the outcome of one that could not
    be loaded). Never raises: a stop (:func:`stop_batch`) becomes an outcome too, as a
    ``KeyboardInterrupt`` leaving a task would shut the worker down."""
    if isinstance(task, Outcome):
        return task
    source = str(task.get("_file", "scenario"))
    me = threading.get_ident()
    try:
        try:
            if not _enter(batch, me):
                return _interrupted(source)
            return _run_here(task, source, force, write)
        finally:
            _leave(batch, me)
    except KeyboardInterrupt:  # the stop arrived: the run has removed its partial outputs
        _leave(batch, me)
        return _interrupted(source)


def _run_here(cfg: Mapping[str, Any], source: str, force: bool, write: bool) -> Outcome:
    base = Path(cfg.get("_base") or ".")
    if not base.is_dir():
        msg = (
            f"{source}: the Dask worker on {socket.gethostname()} cannot see the scenario's "
            f"folder {base}. Workers read the inputs and write the outputs at the same "
            "paths as this machine: they need a shared filesystem (mounted at the same path)."
        )
        return failed(source, DataError(msg))
    return run_one(cfg, force=force, write=write)


def _enter(batch: str, me: int) -> bool:
    with _LOCK:
        if batch in _STOPPED:
            return False
        _RUNNING.setdefault(batch, set()).add(me)
        return True


def _leave(batch: str, me: int) -> None:
    """Unregister this thread (idempotent); drop a stop that has not arrived yet."""
    with _LOCK:
        runs = _RUNNING.get(batch)
        if runs is not None:
            runs.discard(me)
            if not runs:
                del _RUNNING[batch]
        if me in _SIGNALLED:
            _SIGNALLED.discard(me)
            _async_raise(me, None)


def _async_raise(thread_id: int, exc_type: type[BaseException] | None) -> None:
    """Raise ``exc_type`` in another thread at its next Python instruction (None: cancel)."""
    exc = ctypes.py_object(exc_type) if exc_type is not None else None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), exc)


def _interrupted(source: str) -> Outcome:
    return Outcome(source=source, error="interrupted (Ctrl-C)", error_type="KeyboardInterrupt")


def stop_batch(batch: str) -> int:
    """On a worker (through ``Client.run``): stop the runs of ``batch``; queued ones will
    return at once. Returns the number of runs told to stop."""
    with _LOCK:
        _STOPPED.add(batch)
        threads = [t for t in _RUNNING.get(batch, ()) if t not in _SIGNALLED]
        for t in threads:
            _SIGNALLED.add(t)
            _async_raise(t, KeyboardInterrupt)
    return len(threads)


def running(batch: str) -> int:
    """On a worker: how many runs of ``batch`` are still going."""
    with _LOCK:
        return len(_RUNNING.get(batch, ()))


# ----------------------------------------------------------------------------- client
def dask_backend(jobs: int, *, client: Any = None, scheduler: str | None = None) -> Backend:
    """The batch backend on Dask.

    Parameters
    ----------
    jobs
        Workers of the ``LocalCluster`` started when neither ``client`` nor ``scheduler``
        is given (one process and one thread each).
    client
        A ``distributed.Client`` to submit to; it is left open.
    scheduler
        The address of a running scheduler (``tcp://host:8786``); its cluster is left
        running.
    """
    cluster = scratch = None
    own_client = client is None
    if client is None and scheduler is not None:
        client = _connect(scheduler)
    elif client is None:
        client, cluster, scratch = _local_cluster(jobs)
    return _DaskBatch(client, own_client, cluster, scratch).backend()


class _DaskBatch:
    """One batch on one client: its tasks, how their outcomes come back, how it stops.

    - Scenarios are sent while fewer run than the cluster has worker threads; the rest
      wait here. A worker that dies (out of memory, killed) then takes only its own
      scenario down: Dask fails every task it had been sent, queued ones too.
    - Each scenario has a local :class:`concurrent.futures.Future`. When its task ends,
      the outcome is fetched at once and the Dask future released, so the outcome does
      not live on the worker alone (were that worker to die later, Dask would run the
      scenario again, which would then find its own output folder).
    """

    def __init__(self, client: Any, own_client: bool, cluster: Any, scratch: str | None):
        self.client, self.own_client = client, own_client
        self.cluster, self.scratch = cluster, scratch
        self.batch = f"siting-batch-{uuid.uuid4().hex}"
        self.lock = threading.Lock()
        self.waiting: deque[tuple[Future, str, Any, bool, bool]] = deque()
        self.pending: dict[str, Any] = {}  # task key -> Dask future sent, not yet fetched
        self.stopped = False

    def backend(self) -> Backend:
        from distributed import KilledWorker

        return Backend(self.submit, as_completed, self.interrupt, self.close, lost=(KilledWorker,))

    def submit(self, fn: Any, path: str, **kwargs: Any) -> Future:
        local: Future = Future()
        task = _load(path)
        with self.lock:
            self.waiting.append((local, path, task, kwargs["force"], kwargs["write"]))
        self._feed()
        return local

    def _feed(self) -> None:
        """Send waiting scenarios while fewer run than the cluster has worker threads."""
        try:
            slots = max(1, sum(self.client.nthreads().values()))
            while True:
                with self.lock:
                    if self.stopped or not self.waiting or len(self.pending) >= slots:
                        return
                    local, path, task, force, write = self.waiting.popleft()
                    key = f"siting-run-{Path(path).stem}-{uuid.uuid4().hex[:8]}"
                    remote = self.client.submit(
                        run_task, task, force, write, self.batch, key=key, pure=False
                    )
                    self.pending[key] = remote
                remote.add_done_callback(partial(self._arrived, local))
        except Exception as exc:  # e.g. the scheduler went away: fail, never hang
            with self.lock:
                left, self.waiting = list(self.waiting), deque()
            for local, *_ in left:
                local.set_exception(exc)

    def _arrived(self, local: Future, remote: Any) -> None:
        """(In Dask's callback thread.) Fetch the outcome, release the task, send more."""
        try:
            local.set_result(remote.result())
        except BaseException as exc:  # e.g. KilledWorker, or cancelled by a Ctrl-C
            local.set_exception(exc)
        finally:
            with self.lock:
                self.pending.pop(remote.key, None)
            remote.release()
            self._feed()

    def interrupt(self) -> None:
        """Stop the running scenarios (they clean up), drop the others, wait."""
        with self.lock:
            self.stopped = True
            left, self.waiting = list(self.waiting), deque()
            sent = list(self.pending.values())
        for local, *_ in left:
            local.cancel()
        self.client.run(stop_batch, self.batch, on_error="ignore")
        self.client.cancel(sent)
        deadline = time.monotonic() + STOP_WAIT_S
        while time.monotonic() < deadline:
            still = self.client.run(running, self.batch, on_error="ignore")
            if not any(still.values()):
                return
            time.sleep(0.1)
        log.warning("some scenarios had not stopped after %.0f s", STOP_WAIT_S)

    def close(self) -> None:
        try:
            if self.own_client:
                self.client.close()
            if self.cluster is not None:
                self.cluster.close()
        finally:
            if self.scratch is not None:
                shutil.rmtree(self.scratch, ignore_errors=True)


def _load(path: str) -> Mapping[str, Any] | Outcome:
    """The scenario as a mapping (relative paths start from its absolute folder), or the
    outcome of a file that cannot be read: the same message as a local run."""
    from .scenario import load_scenario

    try:
        return load_scenario(path)
    except Exception as exc:
        return failed(str(path), exc)


def _connect(address: str) -> Any:
    from distributed import Client

    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, ValueError, TypeError) as exc:
        msg = (
            f"cannot reach the Dask scheduler at {address!r} ({exc}). Start one with "
            "`dask scheduler` and workers with `dask worker ADDRESS` (see docs/scale.md), "
            "or check the address (e.g. tcp://host:8786)."
        )
        raise ParameterError(msg) from None
    if not client.scheduler_info()["workers"]:
        log.warning("the scheduler at %s has no workers yet: runs wait for one", address)
    return client


def _local_cluster(workers: int) -> tuple[Any, Any, str]:
    """A ``LocalCluster`` of ``workers`` single-threaded processes, its client, and its
    scratch folder (a new temporary folder: no shared scratch space to lock or purge)."""
    from distributed import Client, LocalCluster

    scratch = tempfile.mkdtemp(prefix="siting-dask-")
    cluster = None
    try:
        with _sigint_held():  # the workers inherit SIGINT ignored (module docstring)
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",  # a free port: no clash with another cluster
                local_directory=scratch,
                silence_logs=logging.CRITICAL,
                # a scenario whose worker dies (out of memory?) is reported, not rerun
                scheduler_kwargs={"allowed_failures": 0},
            )
        client = Client(cluster)
    except BaseException:
        if cluster is not None:
            cluster.close()
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    log.info("Dask LocalCluster of %d workers; dashboard %s", workers, client.dashboard_link)
    return client, cluster, scratch
