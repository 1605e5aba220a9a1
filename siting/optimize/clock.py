"""Work budgets: the solvers' time limits, counted in work instead of measured on a clock.

A search that stops at a wall-clock deadline stops at a different place when the machine
is busier, so two runs with the same seed could return different plans. Every solver
therefore turns its ``time_limit`` into a budget of *work seconds*: each step charges an
estimate computed from what it did (kernel moves, nonzeros scanned, simplex and PDLP
iterations, subgradient steps) at rates calibrated on the reference machine (2 cores,
2026), set about 1.3 times slower than measured (:mod:`siting.optimize.settings`, "work
clock"), so a run normally ends at about 3/4 of
its ``time_limit``. Decisions - when to stop a search, how to share the time between
steps - read :func:`now`, the work clock, so the same model, seed, ``time_limit`` and
``threads`` give the same plan on any machine at least that fast (with at least two
cores: the iterated search runs two walks side by side and is charged as one).

The wall clock stays a safety net: a run never goes past ``time_limit`` seconds of real
time. When the net cuts in (a slow or loaded machine), or a HiGHS branch-and-bound stops
on its own time limit, the plan may differ between runs, and the solution says so
(``solution.history["deterministic"]`` is False, with the reason).

Outside a solver (a helper called directly), :func:`now` is ``time.perf_counter()``
and charges are ignored.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from siting.optimize import settings

__all__ = [
    "WorkClock",
    "budget",
    "charge",
    "charge_highs",
    "charge_kernel",
    "charge_sparse",
    "current",
    "expired",
    "note_cut",
    "now",
    "wall_cap",
    "work_budget",
    "work_done",
]

WALL_JUMP = 1.0e6  # work seconds added when the wall clock cuts a run short

_current: ContextVar[WorkClock | None] = ContextVar("siting_work_clock", default=None)


class WorkClock:
    """Work seconds charged against one solver call's ``time_limit``.

    ``now()`` is ``origin + work``: comparable with deadlines computed from it. Charges
    also go to the enclosing solver's clock (a solver calling another).
    """

    def __init__(self, time_limit: float, parent: WorkClock | None = None) -> None:
        self.limit = max(0.0, float(time_limit))
        self.origin = time.perf_counter()
        self.work = 0.0  # work seconds charged
        self.jumped = 0.0  # added to the reading once the wall clock has run out
        self.wall_out = False  # this clock's own real time has run out
        self.parent = parent
        self.cuts: list[str] = []

    @property
    def deterministic(self) -> bool:
        """True while neither the wall clock nor a HiGHS time limit cut the run short."""
        return not self.cuts

    def _chain(self) -> Iterator[WorkClock]:
        clk: WorkClock | None = self
        while clk is not None:
            yield clk
            clk = clk.parent

    def wall_left(self) -> float:
        """Real seconds left before the safety net of this clock or an enclosing one."""
        t = time.perf_counter()
        return max(0.0, min(c.limit - (t - c.origin) for c in self._chain()))

    def expired(self) -> bool:
        """True once real time has run out here or in an enclosing clock."""
        if not self.wall_out and self.wall_left() <= 0.0:
            self.wall_out = True
            self.cut("wall clock")
        return self.wall_out

    def now(self) -> float:
        """Work seconds so far, as a clock reading (jumps past every deadline once real
        time has run out, here or in an enclosing clock)."""
        if self.expired() and not self.jumped:
            self.jumped = WALL_JUMP
        return self.origin + self.work + self.jumped

    def charge(self, seconds: float) -> None:
        """Add ``seconds`` of estimated work (here and in the enclosing clocks)."""
        clk: WorkClock | None = self
        while clk is not None:
            clk.work += seconds
            clk = clk.parent

    def cut(self, reason: str) -> None:
        """Record that something stopped on real time (here and in the enclosing clocks)."""
        clk: WorkClock | None = self
        while clk is not None:
            if reason not in clk.cuts:
                clk.cuts.append(reason)
            clk = clk.parent


@contextmanager
def budget(time_limit: float) -> Iterator[WorkClock]:
    """Run the block on a new work clock of ``time_limit`` work seconds."""
    clk = WorkClock(time_limit, parent=_current.get())
    token = _current.set(clk)
    try:
        yield clk
    finally:
        _current.reset(token)


def current() -> WorkClock | None:
    """The clock of the solver call in progress, if any."""
    return _current.get()


def expired() -> bool:
    """True once the solver call in progress has run out of real time (a slow machine):
    steps with a minimum share of the time limit should then be skipped."""
    clk = _current.get()
    return clk is not None and clk.expired()


def work_done() -> float:
    """Work seconds charged so far to the solver call in progress (0 outside one)."""
    clk = _current.get()
    return 0.0 if clk is None else clk.work


def now() -> float:
    """The work clock's reading (seconds); ``time.perf_counter()`` outside a solver."""
    clk = _current.get()
    return time.perf_counter() if clk is None else clk.now()


def charge(seconds: float) -> None:
    """Charge ``seconds`` of work to the solver call in progress."""
    clk = _current.get()
    if clk is not None and seconds > 0:
        clk.charge(float(seconds))


def charge_kernel(entries: float) -> None:
    """Charge a compiled kernel that visited about ``entries`` coverage-index entries."""
    charge(settings.call_s + entries / settings.kernel_rate)


def charge_sparse(nonzeros: float) -> None:
    """Charge sparse products over ``nonzeros`` nonzeros in total."""
    charge(settings.call_s + nonzeros / settings.sparse_rate)


def charge_highs(h: Any, nnz: int, time_limit: float | None = None, *, columns: int = 0) -> None:
    """Charge one HiGHS run over ``nnz`` nonzeros from its own counters (simplex, PDLP
    and node counts); a warm re-solve (``nnz`` 0) is charged per column instead
    (``columns``: HiGHS' fixed work on each of them).

    A run that stopped on its time limit is charged that limit and marks the call
    non-deterministic (where it stopped depends on the machine).
    """
    clk = _current.get()
    if clk is None:
        return
    info = h.getInfo()
    seconds = (
        settings.highs_call_s
        + nnz / settings.highs_setup_rate
        + columns * settings.resolve_column_s
    )
    per_iteration = settings.simplex_iteration_s + nnz * settings.simplex_nonzero_s
    seconds += max(0, int(info.simplex_iteration_count)) * per_iteration
    seconds += max(0, int(info.pdlp_iteration_count)) * nnz / settings.pdlp_rate
    seconds += max(0, int(info.mip_node_count)) * settings.mip_node_s
    if str(h.getModelStatus()).endswith("kTimeLimit"):
        clk.cut("HiGHS time limit")
        seconds = max(seconds, float(time_limit or 0.0))
    clk.charge(seconds)


def note_cut(reason: str) -> None:
    """Record that a step of the solver call in progress stopped on real time."""
    clk = _current.get()
    if clk is not None:
        clk.cut(reason)


def wall_cap(seconds: float) -> float:
    """``seconds`` capped by the real time left to the solver call in progress."""
    clk = _current.get()
    return seconds if clk is None else max(0.01, min(seconds, clk.wall_left()))


F = TypeVar("F", bound=Callable[..., Any])


def work_budget(default_limit: float = 60.0) -> Callable[[F], F]:
    """Decorator: run a solver on a work clock of its ``time_limit`` argument (or of
    its ``options`` argument's, a :class:`~siting.optimize.SolveOptions`).

    The returned solution's ``seconds`` is the real time taken; its ``history`` (a
    table's ``attrs``) gets
    ``deterministic`` (bool), ``work_s`` (work seconds charged) and, when the run was cut
    short, ``cut_by`` (the reasons). The step times in ``history`` (``*_s``) are work
    seconds.
    """

    def wrap(fn: F) -> F:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            bound = sig.bind_partial(*args, **kwargs)
            if "options" in sig.parameters:
                opts = bound.arguments.get("options")
                limit = default_limit if opts is None else getattr(opts, "time_limit", None)
            else:
                limit = bound.arguments.get("time_limit", sig.parameters["time_limit"].default)
            try:
                limit = float(limit)
            except (TypeError, ValueError):
                limit = default_limit  # the solver's own check reports it
            with budget(limit if limit == limit and limit >= 0 else default_limit) as clk:
                out = fn(*args, **kwargs)
            if isinstance(getattr(out, "seconds", None), float):
                out.seconds = time.perf_counter() - clk.origin  # real seconds, not work
            hist = getattr(out, "history", None)
            if not isinstance(hist, dict):
                hist = getattr(out, "attrs", None)  # a table (pandas' attrs)
            if isinstance(hist, dict):
                for k, v in hist.items():  # step times measured across the wall cut
                    timed = k.endswith(("_s", "seconds")) and isinstance(v, float)
                    if timed and v >= WALL_JUMP / 2:
                        hist[k] = v - WALL_JUMP
                hist["deterministic"] = clk.deterministic
                hist["work_s"] = round(clk.work, 3)
                if clk.cuts:
                    hist["cut_by"] = list(clk.cuts)
            return out

        return run  # type: ignore[return-value]

    return wrap
