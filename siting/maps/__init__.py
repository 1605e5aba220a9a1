"""Interactive maps of coverage and plans: one HTML file that opens with no network.

:func:`plan_map` (also ``plan.explore()``), :func:`coverage_map` and :func:`audit_map`
(also ``audit.explore()``) return a
:class:`SitingMap`, a folium map that needs only Leaflet (inlined from the pinned copy in
``siting/assets``) and renders the same bytes for the same plan. :func:`write_map` writes
one to a file. Options shared by all of them (and by the scenario's ``output:`` block):
``basemap`` (:data:`BASEMAPS`), ``lang`` (:data:`LANGS`) and ``assets``
(``"inline"``/``"cdn"``). See ``docs/maps.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .basemaps import ASSETS, BASEMAPS, TIANDITU_KEY_ENV
from .layers import COVERED, EXISTING, NEW_SITE, NEWLY_COVERED, UNCOVERED
from .text import LANGS, texts

if TYPE_CHECKING:
    from .build import audit_map, coverage_map, map_html, plan_map, save_map, write_map
    from .figure import SitingMap, json_for_html

#: names loaded on first use, by module: folium (0.15 s) is imported only when a map is
#: drawn, so ``import siting`` and the CLI start without it
_LAZY = {
    **dict.fromkeys(
        ("audit_map", "coverage_map", "map_html", "plan_map", "save_map", "write_map"), "build"
    ),
    **dict.fromkeys(("SitingMap", "json_for_html"), "figure"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "ASSETS",
    "BASEMAPS",
    "COVERED",
    "EXISTING",
    "LANGS",
    "NEWLY_COVERED",
    "NEW_SITE",
    "TIANDITU_KEY_ENV",
    "UNCOVERED",
    "SitingMap",
    "audit_map",
    "coverage_map",
    "json_for_html",
    "map_html",
    "plan_map",
    "save_map",
    "texts",
    "write_map",
]
