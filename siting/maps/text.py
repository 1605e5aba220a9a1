"""Every word the maps and the report show, in English and Chinese: one table.

The table is data: ``strings.toml`` beside this module, one row a key with both languages,
read into :data:`STRINGS`. Look a string up with ``texts(lang)["key"]``; templates with
``{name}`` fields are filled with :meth:`str.format`. A new label is one new row of the
table (a test checks that no language is missing). Numbers are formatted by
:func:`persons`, :func:`share`, :func:`metres` and :func:`minutes`, never by hand.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import TYPE_CHECKING

from ..errors import ParameterError

if TYPE_CHECKING:
    from ..measure import Coverage
    from ..plan import Plan

#: languages of every label, legend, popup and report text
LANGS = ("en", "zh")

#: key -> {lang: text}, read from ``strings.toml`` (one row a key, both languages)
STRINGS: dict[str, dict[str, str]] = tomllib.loads(
    resources.files(__package__).joinpath("strings.toml").read_text(encoding="utf-8")
)


class Texts(Mapping[str, str]):
    """The strings of one language (a read-only mapping: ``texts("zh")["layer.new"]``)."""

    def __init__(self, lang: str) -> None:
        self.lang = check_lang(lang)

    def __getitem__(self, key: str) -> str:
        return STRINGS[key][self.lang]

    def __iter__(self):
        return iter(STRINGS)

    def __len__(self) -> int:
        return len(STRINGS)

    def __call__(self, key: str, **fields: object) -> str:
        """The string ``key`` with its ``{fields}`` filled in."""
        return self[key].format(**fields)


def check_lang(lang: str) -> str:
    """``lang`` if it is one of :data:`LANGS`, else a :class:`ParameterError`."""
    if lang not in LANGS:
        msg = f"lang={lang!r}: choose one of {', '.join(map(repr, LANGS))}."
        raise ParameterError(msg)
    return lang


def texts(lang: str) -> Texts:
    """The strings of ``lang`` (``"en"`` or ``"zh"``).

    Parameters
    ----------
    lang : str
        ``"en"`` or ``"zh"``.

    Returns
    -------
    Texts
        A read-only mapping of message keys to text, also callable to fill in
        placeholders (``t("legend.coverage", share=...)``).
    """
    return Texts(lang)


def _number(x: float, decimals: int = 0) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:,.{decimals}f}"


def persons(x: float, t: Texts) -> str:
    """``12,345 persons`` / ``12,345 人``."""
    return t("unit.persons", n=_number(x))


def share(x: float) -> str:
    """A share 0–1 as a percentage with one decimal (``90.0%``)."""
    return "–" if x is None or not math.isfinite(x) else f"{x:.1%}"


def metres(x: float, t: Texts) -> str:
    """``1,125 m`` / ``1,125 米``."""
    return t("unit.metres", n=_number(x))


def minutes(x: float) -> str:
    """Minutes without a needless decimal (``15``, ``7.5``)."""
    return f"{x:g}"


#: radius of the straight-line circles layer by default, metres (GB 50180 15-minute circle)
DEFAULT_CIRCLE_M = 1000.0


def threshold_text(cov: Coverage, walk_minutes: float | None, t: Texts) -> str:
    """``15-minute walk (1,125 m)`` or ``1,000 m straight line``."""
    limit_m = cov.threshold_m(walk_minutes)
    if cov.mode == "circle":
        return t("unit.circle", metres=metres(limit_m, t))
    walk_min = limit_m / (cov.speed_kmh * 1000.0 / 60.0)
    return t("unit.walk", minutes=minutes(round(walk_min, 2)), metres=metres(limit_m, t))


def model_name(model: str, t: Texts) -> str:
    """The model's name in the page's language."""
    key = f"model.{model}"
    return t[key] if key in STRINGS else model


def plan_headline(plan: Plan, t: Texts) -> str:
    """``Fewest sites to a target: 34.0% → 90.0% covered with 16 new sites``."""
    s = plan.summary()
    return t(
        "legend.plan",
        model=model_name(plan.model, t),
        before=share(s["covered_share_before"]),
        after=share(s["covered_share_after"]),
        new=s["new_sites"],
    )
