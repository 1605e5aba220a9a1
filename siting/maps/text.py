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

from ..errors import ParameterError

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
