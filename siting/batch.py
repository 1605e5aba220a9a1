"""Run many scenarios: one after another, in parallel processes, or on a Dask cluster;
a failure stays isolated.

A *backend* runs the scenarios: ``serial`` (in this process), ``process``
(:class:`concurrent.futures.ProcessPoolExecutor`) or ``dask`` (a ``distributed.Client``:
a ``LocalCluster`` started for the batch, or a running cluster; see
:mod:`siting.batch_dask`). Another backend plugs in with :func:`register_backend`: it
needs ``submit`` (returning futures with ``.result()``), ``as_completed``, ``interrupt``
and ``close``.

Each run returns a small, picklable :class:`Outcome` (tables and numbers, not the
network or the coverage matrices), so nothing large travels between processes.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import ParameterError, SitingError


@dataclass
class Outcome:
    """What one scenario run tells the batch: its tables on success, its error otherwise.

    Small and picklable (no network, no matrices), so it travels between processes.

    Parameters
    ----------
    source : str
        The scenario file.
    name : str, optional
        The scenario's name.
    error : str, optional
        The failure's message (None on success).
    error_type : str, optional
        The exception's class name, e.g. ``"DataError"``.
    traceback : str, optional
        The failure's traceback (shown with ``siting -v``).
    table : pandas.DataFrame, optional
        The headline table (:meth:`siting.scenario.ScenarioResult.table`).
    districts : pandas.DataFrame, optional
        Coverage before and after per district, when the demand has districts.
    timings : dict
        Seconds per stage.
    outputs : dict
        Files written, by name (paths as text).
    headline : dict
        ``population`` (persons), ``share_before``, ``share_after`` (0–1),
        ``new_sites``, ``gap`` and ``seconds``.
    """

    source: str
    name: str | None = None
    error: str | None = None
    error_type: str | None = None
    traceback: str | None = None
    table: pd.DataFrame | None = None
    districts: pd.DataFrame | None = None
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the run succeeded."""
        return self.error is None


def run_one(
    path: str | Mapping[str, Any],
    *,
    force: bool = False,
    write: bool = True,
    progress: Any = None,
) -> Outcome:
    """Run one scenario; any error becomes the outcome's message (Ctrl-C passes through).

    Parameters
    ----------
    path : str or mapping
        A scenario file, or a mapping from :func:`siting.load_scenario`.
    force : bool
        Replace an existing output folder.
    write : bool
        Write the outputs (False: compute only).
    progress : object, optional
        The stage display of the run (:class:`siting.progress.Display`).

    Returns
    -------
    Outcome
        The run's tables, or its error.
    """
    from . import scenario

    source = str(path.get("_file", "scenario")) if isinstance(path, Mapping) else str(path)
    try:
        result = scenario.run_scenario(path, force=force, write=write, progress=progress)
    except Exception as exc:  # isolate: report it, let the batch go on
        return failed(source, exc)
    s = result.plan.summary()
    has_district = "district" in result.coverage.demand.columns
    return Outcome(
        source=source,
        name=result.name,
        table=result.table(),
        districts=result.plan.stats("district") if has_district else None,
        timings=dict(result.timings),
        outputs={k: str(v) for k, v in result.outputs.items()},
        headline={
            "population": s["population"],
            "share_before": s["covered_share_before"],
            "share_after": s["covered_share_after"],
            "new_sites": s["new_sites"],
            "gap": s["gap"],
            "seconds": sum(result.timings.values()),
        },
    )


def failed(path: str, exc: BaseException) -> Outcome:
    """The outcome of a run that raised ``exc``.

    Parameters
    ----------
    path : str
        The scenario file.
    exc : BaseException
        What the run raised: a :class:`~siting.errors.SitingError` keeps its message,
        anything else is named as unexpected.

    Returns
    -------
    Outcome
        With ``error``, ``error_type`` and ``traceback`` set.
    """
    if isinstance(exc, SitingError):
        text = str(exc)
    else:  # a bug or an unforeseen input: name the exception type
        text = f"unexpected {type(exc).__name__}: {exc} (run with -v for the traceback)"
    return Outcome(
        source=str(path),
        error=text,
        error_type=type(exc).__name__,
        traceback="".join(traceback.format_exception(exc)),
    )


# ----------------------------------------------------------------------------- backends
@dataclass
class Backend:
    """Where scenario runs execute (see the module docstring).

    Parameters
    ----------
    submit : callable
        ``submit(fn, *args, **kwargs)`` returning a future with ``.result()``.
    as_completed : callable
        Yields the given futures as they finish.
    interrupt : callable
        Stops every run (Ctrl-C).
    close : callable
        Releases the workers.
    parallel : bool
        False when ``submit`` runs the scenario at once, in this process.
    lost : tuple of exception types
        Exceptions of ``.result()`` that mean the worker running the scenario died.
    """

    submit: Callable[..., Any]
    as_completed: Callable[[Iterable[Any]], Iterable[Any]]
    interrupt: Callable[[], None]
    close: Callable[[], None]
    parallel: bool = True
    lost: tuple[type[BaseException], ...] = (BrokenProcessPool,)


def _serial(jobs: int) -> Backend:
    def submit(fn, *args, **kwargs) -> Future:
        fut: Future = Future()
        fut.set_result(fn(*args, **kwargs))  # run now; Ctrl-C goes straight through
        return fut

    return Backend(submit, as_completed, lambda: None, lambda: None, parallel=False)


_BUSY = False


def _worker_init() -> None:
    """In a worker: Ctrl-C stops a running scenario (its outputs are cleaned up); an
    idle worker leaves quietly instead of printing a traceback."""

    def on_sigint(signum, frame):
        if _BUSY:
            raise KeyboardInterrupt
        raise SystemExit(130)

    signal.signal(signal.SIGINT, on_sigint)


def _in_worker(path: str, force: bool, write: bool) -> Outcome:
    global _BUSY
    _BUSY = True
    try:
        return run_one(path, force=force, write=write)
    finally:
        _BUSY = False


def _process(jobs: int) -> Backend:
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded parent
        initializer=_worker_init,
    )

    def submit(fn, path: str, **kwargs) -> Future:
        return pool.submit(_in_worker, path, kwargs["force"], kwargs["write"])

    def interrupt() -> None:
        # pass Ctrl-C on: the workers clean up their partial outputs, then stop
        for pid in list((getattr(pool, "_processes", None) or {}).keys()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        pool.shutdown(wait=True, cancel_futures=True)

    return Backend(submit, as_completed, interrupt, lambda: pool.shutdown(wait=True))


def _dask(jobs: int, **options: Any) -> Backend:
    from .batch_dask import dask_backend

    return dask_backend(jobs, **options)


BACKENDS: dict[str, Callable[..., Backend]] = {
    "serial": _serial,
    "process": _process,
    "dask": _dask,
}
#: backends that take a running cluster (``client=`` or ``scheduler=``)
CLUSTER_BACKENDS = {"dask"}


def register_backend(name: str, factory: Callable[[int], Backend]) -> None:
    """Make ``factory(jobs) -> Backend`` available as ``run_batch(..., backend=name)``.

    Parameters
    ----------
    name : str
        The backend's name.
    factory : callable
        ``factory(jobs)`` returning a :class:`Backend` with ``jobs`` workers.
    """
    BACKENDS[name] = factory


def available_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - not on Linux


def backend_for(
    n_runs: int,
    *,
    jobs: int | None = None,
    backend: str | None = None,
    cluster: bool = False,
) -> str:
    """The backend a batch of ``n_runs`` scenarios uses; checks the combination.

    ``backend`` if named; else ``dask`` when a running cluster is given (``cluster``);
    else ``process`` when ``jobs`` > 1 and there are several runs; else ``serial``.
    """
    if jobs is not None and jobs < 1:
        msg = f"jobs = {jobs}: give a number of processes >= 1 (e.g. --jobs 2)."
        raise ParameterError(msg)
    if cluster and jobs is not None:
        msg = (
            f"jobs = {jobs} with a running Dask cluster: its own workers run the scenarios "
            "(--jobs only sizes the local cluster started without --scheduler); drop --jobs."
        )
        raise ParameterError(msg)
    if backend is None:
        parallel = jobs is not None and jobs > 1 and n_runs > 1
        backend = "dask" if cluster else "process" if parallel else "serial"
    if backend not in BACKENDS:
        msg = f"backend {backend!r}: choose one of {', '.join(sorted(BACKENDS))}."
        raise ParameterError(msg)
    if cluster and backend not in CLUSTER_BACKENDS:
        msg = f"a Dask client or scheduler is for backend 'dask', not {backend!r}."
        raise ParameterError(msg)
    return backend


# ----------------------------------------------------------------------------- batch
class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a batch; ``finished`` holds the outcomes of the runs that had ended.

    Parameters
    ----------
    finished : list of Outcome
        The outcomes of the runs that had ended.
    """

    def __init__(self, finished: list[Outcome]) -> None:
        super().__init__()
        self.finished = finished


def run_batch(
    paths: Sequence[str],
    *,
    jobs: int | None = None,
    backend: str | None = None,
    client: Any = None,
    scheduler: str | None = None,
    force: bool = False,
    write: bool = True,
    on_done: Callable[[Outcome], None] | None = None,
    progress: Callable[[str], Any] | None = None,
) -> list[Outcome]:
    """Run scenario files; return their outcomes in the order of ``paths``.

    Parameters
    ----------
    paths
        Scenario YAML files.
    jobs
        Scenarios run at once: > 1 runs them in that many processes (backend
        ``process``, unless another is named). With ``backend="dask"``, the workers of
        the ``LocalCluster`` started for the batch (default: one per core).
    backend
        ``serial``, ``process``, ``dask`` or a registered name (see :func:`backend_for`).
    client, scheduler
        A running Dask cluster to submit to, as a ``distributed.Client`` or a scheduler
        address (``tcp://host:8786``); implies ``backend="dask"``. It is used and left
        running. Its workers must see the scenarios' files at the same paths (a shared
        filesystem).
    force, write
        Replace existing output folders; ``write=False`` computes and writes nothing.
    on_done
        Called with each :class:`Outcome` as its run ends.
    progress
        ``progress(path)`` gives the stage display of a run in this process (serial
        backend only).

    Returns
    -------
    list of Outcome
        One per path, in the order of ``paths``; a failed run is an outcome with its
        error, and the others still run.

    Raises
    ------
    ParameterError
        ``jobs`` < 1, an unknown backend, or ``jobs`` with a running cluster.
    Interrupted
        Ctrl-C: every run is stopped and its partial outputs removed; ``finished``
        holds the outcomes of the runs that had ended.
    """
    given = {"client": client, "scheduler": scheduler}
    cluster = {k: v for k, v in given.items() if v is not None}
    name = backend_for(len(paths), jobs=jobs, backend=backend, cluster=bool(cluster))
    workers = jobs or (available_cores() if name == "dask" else 1)
    parents = _missing_parents(paths) if write else []
    runner = BACKENDS[name](min(workers, max(len(paths), 1)), **cluster)
    done: dict[str, Outcome] = {}
    futures: dict[Any, str] = {}
    try:
        for p in paths:
            kwargs: dict[str, Any] = {"force": force, "write": write}
            if not runner.parallel and progress is not None:
                kwargs["progress"] = progress(p)
            futures[runner.submit(run_one, p, **kwargs)] = p
            if not runner.parallel:  # serial: report as each one ends
                _collect(futures, done, on_done, runner)
        _collect(futures, done, on_done, runner)
    except KeyboardInterrupt:
        runner.interrupt()
        _remove_if_empty(parents)
        raise Interrupted([done[p] for p in paths if p in done]) from None
    finally:
        runner.close()
    return [done[p] for p in paths]


def _missing_parents(paths: Sequence[str]) -> list[Path]:
    """The folders above the scenarios' outputs that do not exist yet, innermost first.

    A stopped run removes the parent folders it created, if empty; but runs of a batch
    share parents, and the run that made one may stop while another still writes there.
    """
    from .scenario_spec import _spec, load_scenario

    missing: set[Path] = set()
    for path in paths:
        try:
            spec = _spec(load_scenario(path))
        except Exception:  # reported when the scenario runs
            continue
        for target in (spec.output_dir, spec.output_map):
            folder = None if target is None else Path(target).absolute().parent
            while folder is not None and not folder.exists():
                missing.add(folder)
                folder = folder.parent
    return sorted(missing, key=lambda f: len(f.parts), reverse=True)


def _remove_if_empty(folders: Iterable[Path]) -> None:
    for folder in folders:  # innermost first
        with contextlib.suppress(OSError):
            folder.rmdir()


def _collect(futures, done, on_done, runner: Backend) -> None:
    pending = [f for f, p in futures.items() if p not in done]
    for fut in runner.as_completed(pending):
        path = futures[fut]
        try:
            outcome = fut.result()
        except runner.lost as exc:  # a worker died (killed, or out of memory)
            outcome = failed(path, exc)
            outcome.error = (
                f"the worker process running {path} stopped unexpectedly (killed, or out "
                "of memory?); run this scenario alone to see why."
            )
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # e.g. an outcome that could not be sent back
            outcome = failed(path, exc)
        done[path] = outcome
        if on_done is not None:
            on_done(outcome)


def summary_table(outcomes: Sequence[Outcome]) -> pd.DataFrame:
    """One row per scenario: status, persons, shares before / after, new sites, gap, time.

    Parameters
    ----------
    outcomes : sequence of Outcome
        The batch's outcomes.

    Returns
    -------
    pandas.DataFrame
        Text columns ``scenario``, ``status``, ``population``, ``covered before``,
        ``covered after``, ``new sites``, ``gap``, ``seconds``, ``outputs``: the table
        ``siting run`` prints.
    """
    rows = []
    for o in outcomes:
        h = o.headline
        rows.append(
            {
                "scenario": o.name or Path(o.source).name,
                "status": "ok" if o.ok else f"failed ({o.error_type})",
                "population": f"{h['population']:,.0f}" if o.ok else "",
                "covered before": f"{h['share_before']:.1%}" if o.ok else "",
                "covered after": f"{h['share_after']:.1%}" if o.ok else "",
                "new sites": f"{h['new_sites']}" if o.ok else "",
                "gap": f"{h['gap']:.2%}" if o.ok and h["gap"] is not None else "",
                "seconds": f"{h['seconds']:.1f}" if o.ok else "",
                "outputs": o.outputs.get("folder", o.outputs.get("map", "")) if o.ok else "",
            }
        )
    return pd.DataFrame(rows)


__all__ = [
    "Backend",
    "Interrupted",
    "Outcome",
    "failed",
    "register_backend",
    "run_batch",
    "run_one",
    "summary_table",
]
