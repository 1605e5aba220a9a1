"""Checks and defaults shared by the API, the scenario checker and the solvers.

Each kind of value has one :class:`Rule`: how to read it and the words for what it
takes. The API and the solvers raise ``ParameterError("time_limit must be a number of
seconds > 0, got 0")``; the scenario checker (:mod:`siting.scenario_spec`) reads the
same rule and names the file and the field instead (``scenario.yaml: solve.time_limit =
0 is not valid; expected a number of seconds > 0, e.g. 60.``).

Which options each model takes is checked here too (:func:`check_model_options`), with
the same message for ``siting.solve(..., target=0.9, model="mclp")`` and for a scenario's
``solve: {model: mclp, target: 0.9}``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ParameterError

__all__ = [
    "BUDGET",
    "DEFAULT_MINUTES",
    "FLAG",
    "GAP",
    "METHODS",
    "METRES",
    "NEW_SITES",
    "SECONDS",
    "SEED",
    "SHARE",
    "THREADS",
    "WALK_SPEED_KMH",
    "ModelOptions",
    "Rule",
    "check_model_options",
    "choice",
    "count",
    "positive",
    "reject_rows",
    "walk_metres",
]

#: default walking speed, km/h (4.5 km/h = 75 m a minute: 1,125 m in 15 minutes)
WALK_SPEED_KMH = 4.5
#: metres walked per minute at 1 km/h
M_PER_MIN_PER_KMH = 1000.0 / 60.0
#: default walking threshold, minutes
DEFAULT_MINUTES = 15.0
#: how a model is solved (:class:`siting.optimize.SolveOptions`)
METHODS = ("auto", "exact", "heuristic")


# ---------------------------------------------------------------------- readers
def _number(value: Any) -> float:
    """A finite number: ints, floats, NumPy numbers or numeric text ("1e3"); not bools."""
    if isinstance(value, bool | np.bool_):
        raise TypeError(value)
    if isinstance(value, str):
        x = float(value.strip())
    elif isinstance(value, numbers.Real):
        x = float(value)
    else:
        raise TypeError(value)
    if not math.isfinite(x):
        raise ValueError(value)
    return x


def _above(minimum: float, *, strict: bool) -> Callable[[Any], float]:
    def read(value: Any) -> float:
        x = _number(value)
        if x < minimum or (strict and x == minimum):
            raise ValueError(value)
        return x

    return read


def _whole(minimum: int) -> Callable[[Any], int]:
    def read(value: Any) -> int:
        x = _number(value)
        if x != int(x) or x < minimum:
            raise ValueError(value)
        return int(x)

    return read


def _share(value: Any) -> float:
    """A share in (0, 1]: 0.9, or a percentage text "90%"."""
    if isinstance(value, str) and value.strip().endswith("%"):
        x = _number(value.strip()[:-1]) / 100.0
    else:
        x = _number(value)
    if not 0.0 < x <= 1.0:
        raise ValueError(value)
    return x


def _gap(value: Any) -> float:
    x = _number(value)
    if not 0.0 <= x < 1.0:
        raise ValueError(value)
    return x


def _flag(value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(value)
    return bool(value)


@dataclass(frozen=True)
class Rule:
    """One kind of value: ``form`` says what it takes, ``read`` returns the value checked
    (raising ``ValueError`` / ``TypeError`` when it is not one)."""

    form: str
    read: Callable[[Any], Any]

    def __call__(self, name: str, value: Any) -> Any:
        """The checked value; a :class:`~siting.errors.ParameterError` naming ``name``."""
        try:
            return self.read(value)
        except (TypeError, ValueError):
            msg = f"{name} must be {self.form}, got {value!r}"
            raise ParameterError(msg) from None

    def parse(self, value: Any) -> tuple[bool, Any]:
        """``(True, checked value)``, or ``(False, None)`` when it is not one."""
        try:
            return True, self.read(value)
        except (TypeError, ValueError):
            return False, None


SHARE = Rule("a share in (0, 1] such as 0.9, or a percentage such as '90%'", _share)
SECONDS = Rule("a number of seconds > 0, e.g. 60", _above(0.0, strict=True))
GAP = Rule("a relative gap in [0, 1), e.g. 0.01", _gap)
SEED = Rule("a whole number >= 0", _whole(0))
THREADS = Rule("a whole number of threads >= 1", _whole(1))
NEW_SITES = Rule("a whole number of new sites >= 0, e.g. 5", _whole(0))
BUDGET = Rule("a total cost of new sites >= 0 (the sites' cost column)", _above(0.0, strict=False))
METRES = Rule("a distance in metres >= 0", _above(0.0, strict=False))
POSITIVE = Rule("a positive finite number", _above(0.0, strict=True))
FLAG = Rule("true or false", _flag)


def positive(name: str, value: Any) -> float:
    """A finite number > 0.

    Parameters
    ----------
    name : str
        The option's name, for the message.
    value : Any
        A number, or numeric text.

    Returns
    -------
    float
        ``value``; a :class:`~siting.errors.ParameterError` naming ``name`` otherwise.
    """
    return POSITIVE(name, value)


def reject_rows(bad: np.ndarray, error: type[Exception], message: Callable[[int], str]) -> None:
    """Raise ``error`` at the first row where ``bad`` is True, with ``message(row)``.

    Parameters
    ----------
    bad : numpy.ndarray
        Boolean per row: True where the row is not valid.
    error : type
        The error to raise, one of :mod:`siting.errors`.
    message : callable
        ``message(i)``: the message for row ``i`` (the file, row and field, and what to
        do); built only when a row is bad.

    Raises
    ------
    SitingError
        ``error(message(i))`` at the first bad row ``i``; nothing when no row is bad.
    """
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = message(i)
        raise error(msg)


def choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """One of a few words.

    Parameters
    ----------
    name : str
        The option's name, for the message.
    value : Any
        The word given.
    choices : sequence of str
        The words allowed.

    Returns
    -------
    str
        ``value``; a :class:`~siting.errors.ParameterError` listing ``choices`` otherwise.
    """
    if not isinstance(value, str) or value not in choices:
        msg = f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}"
        raise ParameterError(msg)
    return value


def count(name: str, value: Any, most: int, what: str) -> int:
    """A whole number in ``[0, most]``, e.g. a number of new sites.

    Parameters
    ----------
    name : str
        The option's name, for the message.
    value : Any
        A whole number (``5``, ``5.0`` or ``"5"``).
    most : int
        The largest allowed.
    what : str
        What ``most`` is, for the message (``"the number of candidate sites"``).

    Returns
    -------
    int
        ``value``; a :class:`~siting.errors.ParameterError` otherwise.
    """
    ok, x = _WHOLE.parse(value)
    if not ok or x > most:
        msg = f"{name} must be an integer in [0, {most}] ({what}), got {value!r}"
        raise ParameterError(msg)
    return x


_WHOLE = Rule("a whole number >= 0", _whole(0))


# ---------------------------------------------------------------------- walking
def walk_metres(
    minutes: float | np.ndarray, speed_kmh: float = WALK_SPEED_KMH
) -> float | np.ndarray:
    """Metres walked in ``minutes`` at ``speed_kmh``: minutes x speed x 1000 / 60.

    The package's one conversion of walking time to distance.

    Parameters
    ----------
    minutes : float or numpy.ndarray
        Walking time(s), minutes (> 0).
    speed_kmh : float
        Walking speed, km/h (> 0); default 4.5.

    Returns
    -------
    float or numpy.ndarray
        Metres (1,125 m for 15 minutes at 4.5 km/h); an array for an array of times.

    Raises
    ------
    ParameterError
        A time or speed that is not a number > 0.

    Examples
    --------
    >>> import siting as st
    >>> st.walk_metres(15)
    1125.0
    >>> st.walk_metres(10, speed_kmh=3.6)  # older walkers
    600.0
    """
    speed = positive("speed_kmh", speed_kmh)
    if np.ndim(minutes) == 0:
        return positive("minutes", minutes) * speed * M_PER_MIN_PER_KMH
    times = np.asarray(minutes, dtype=np.float64)
    for t in times.ravel():
        positive("minutes", t)
    return times * (speed * M_PER_MIN_PER_KMH)


# ---------------------------------------------------------------------- model options
@dataclass(frozen=True)
class ModelOptions:
    """Which options each model takes, and the combinations that are refused.

    ``options[model]``: the model's own options; ``common``: options every model takes;
    ``needs_p``: models that need ``p`` (``mclp`` may give ``budget`` instead);
    ``aliases``: old names accepted for an option (``max_distance`` for
    ``max_distance_m``).
    """

    options: Mapping[str, tuple[str, ...]]
    common: tuple[str, ...]
    needs_p: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)

    def canonical(self, name: str) -> str:
        """The option an (old) name stands for."""
        return self.aliases.get(name, name)


def _keyword(name: str) -> str:
    return f"{name}="


def _models_text(models: list[str]) -> str:
    quoted = [repr(m) for m in models]
    if len(quoted) == 1:
        return f"model {quoted[0]}"
    return f"models {', '.join(quoted[:-1])} and {quoted[-1]}"


def check_model_options(
    model: str,
    given: Mapping[str, Any],
    table: ModelOptions,
    *,
    show: Callable[[str], str] = _keyword,
    prefix: str = "",
) -> None:
    """Refuse options ``model`` does not take and combinations no model takes.

    Parameters
    ----------
    model : str
        The model asked for (already checked to be one of ``table.options``).
    given : mapping
        The options given (name as the user wrote it -> value); None values are "not
        given".
    table : ModelOptions
        What each model takes.
    show : callable
        How to name an option in the message: ``p=`` in the API (the default),
        ``'solve.p'`` in a scenario.
    prefix : str
        Put before the message (a scenario: its file name).

    Returns
    -------
    None
        When every option given applies.

    Raises
    ------
    ParameterError
        Naming the options refused, the models they work with, and the model's options.
    """
    given = {k: v for k, v in given.items() if v is not None}
    own = table.options[model]
    takes = set(own) | set(table.common)
    refused = [k for k in given if table.canonical(k) not in takes]
    if refused:
        verb = "is not an option" if len(refused) == 1 else "are not options"
        hints = []
        for k in refused:
            where = [m for m, opts in table.options.items() if table.canonical(k) in opts]
            if where:
                hints.append(f"{show(k)} works with {_models_text(where)} only")
        mine = ", ".join(show(o) for o in own) or "none besides those every model takes"
        msg = (
            f"{prefix}{', '.join(show(k) for k in refused)} {verb} of model {model!r}"
            + (f" ({'; '.join(hints)})" if hints else "")
            + f". Options of {model!r}: {mine}."
        )
        raise ParameterError(msg)
    names = {table.canonical(k): k for k in given}
    if "budget" in names and "p" in names:
        msg = (
            f"{prefix}give either {show(names['p'])} (the number of new sites) or "
            f"{show(names['budget'])} (their total cost), not both"
        )
        raise ParameterError(msg)
    if "budget" in names and "capacity" in names:
        msg = (
            f"{prefix}{show(names['budget'])} works without {show(names['capacity'])}: "
            f"with capacities, give {show('p')} (the number of new sites)"
        )
        raise ParameterError(msg)
    if "single_source" in names and "capacity" in own and "capacity" not in names:
        msg = (
            f"{prefix}{show(names['single_source'])} decides whether a demand point may be "
            f"split between sites within their capacities: it needs model={model!r} and "
            f"{show('capacity')}"
        )
        raise ParameterError(msg)
    if model in table.needs_p and "p" not in names and "budget" not in names:
        alt = f", or {show('budget')}" if "budget" in own else ""
        msg = (
            f"{prefix}model {model!r} needs {show('p')}, the number of new sites (a whole "
            f"number >= 0){alt}"
        )
        raise ParameterError(msg)
