"""Progress of a run: stage timings, and what the user sees while a run works.

:class:`Stages` times each stage of a scenario run and tells a *display* about it. A
display is any object with ``start(name)``, ``done(name, seconds)`` and ``close()``;
:class:`LineDisplay` prints one line per stage, :class:`BarDisplay` draws a tqdm bar
(on a terminal). A plain callable taking a text is accepted too (one call per stage).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: seconds between redraws of a bar whose stage is still working (the clock moves on)
REFRESH_S = 0.5


class Display(Protocol):
    """What a run tells the user about its stages."""

    def plan(self, names: Sequence[str]) -> None: ...

    def start(self, name: str) -> None: ...

    def done(self, name: str, seconds: float) -> None: ...

    def close(self) -> None: ...


class LineDisplay:
    """One line per stage (``say("network …")``), e.g. to stderr or a log."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say

    def plan(self, names: Sequence[str]) -> None:
        pass

    def start(self, name: str) -> None:
        self.say(f"{name} …")

    def done(self, name: str, seconds: float) -> None:
        pass

    def close(self) -> None:
        pass


class BarDisplay:
    """A tqdm bar over the stages of one run; the stage name and the clock show.

    ``enabled`` None shows the bar only when stderr is a terminal (tqdm's rule).
    """

    def __init__(self, *, title: str = "", enabled: bool | None = None) -> None:
        self.title = title
        self.enabled = enabled
        self.bar: Any = None  # made by plan(): a run that fails before has drawn nothing
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def plan(self, names: Sequence[str]) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=len(names),
            desc=self.title,
            disable=True if self.enabled is False else None if self.enabled is None else False,
            file=sys.stderr,
            leave=True,
            bar_format="{desc} {bar} {n_fmt}/{total_fmt} stages [{elapsed}]",
        )
        if not self.bar.disable:  # redraw while a long stage works, so the clock moves
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(REFRESH_S):
            self.bar.refresh()

    def start(self, name: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(f"{self.title}: {name}" if self.title else name)

    def done(self, name: str, seconds: float) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self.bar is not None:
            self.bar.set_description_str(f"{self.title}: done" if self.title else "done")
            self.bar.close()
            self.bar = None


class Stages:
    """Time the stages of a run (seconds, in :attr:`timings`) and show them."""

    def __init__(self, display: Display | Callable[[str], None] | None = None) -> None:
        if display is None:
            display = LineDisplay(lambda s: log.info(s))
        elif not hasattr(display, "start"):
            display = LineDisplay(display)  # type: ignore[arg-type]
        self.display: Any = display
        self.timings: dict[str, float] = {}

    def plan(self, names: Sequence[str]) -> None:
        """The stages this run will go through (a bar's length)."""
        self.display.plan(names)

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.display.start(name)
        t = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - t
        self.display.done(name, self.timings[name])

    def close(self) -> None:
        self.display.close()


def _bar_class(enabled: bool | None) -> tuple[Any, bool | None]:
    """``(tqdm class, disable)``: in a Jupyter kernel the widget bar when ipywidgets is
    installed, else the text bar (the notebook redraws it; shown unless ``enabled`` is
    False); elsewhere the text bar, on a terminal only when ``enabled`` is None."""
    import importlib.util

    from tqdm import std

    ipython = sys.modules.get("IPython")  # a kernel has imported it: looked up, not imported
    shell = getattr(ipython, "get_ipython", lambda: None)()
    if type(shell).__name__ != "ZMQInteractiveShell":
        return std.tqdm, None if enabled is None else not enabled
    if importlib.util.find_spec("ipywidgets") is None:
        return std.tqdm, enabled is False
    from tqdm import notebook

    return notebook.tqdm, enabled is False


class PercentBar:
    """A tqdm bar of a long read, in percent: ``bar(done, total)`` moves it (pyrosm's
    progress callback), :meth:`stage` names what it does, :meth:`close` ends it at 100%.

    ``enabled`` None shows the bar only when stderr is a terminal (tqdm's rule), True
    always, False never.
    """

    def __init__(self, title: str, *, enabled: bool | None = None) -> None:
        tqdm, disable = _bar_class(enabled)
        self.title = title
        self.bar = tqdm(
            total=100,
            desc=title,
            disable=disable,
            file=sys.stderr,
            leave=True,
            bar_format="{desc} {bar} {percentage:3.0f}% [{elapsed}]",
        )

    def __call__(self, done: float, total: float) -> None:
        if total:
            self.bar.n = min(100.0, round(100.0 * done / total, 1))
            self.bar.refresh()

    def stage(self, name: str) -> None:
        """Show ``name`` after the title."""
        self.bar.set_description_str(f"{self.title}: {name}")

    def close(self) -> None:
        """Fill the bar (the read is done) and close it."""
        self.bar.n = 100
        self.stage("done")
        self.bar.close()
