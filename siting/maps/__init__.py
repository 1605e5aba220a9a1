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

from .basemaps import ASSETS, BASEMAPS, TIANDITU_KEY_ENV
from .build import audit_map, coverage_map, map_html, plan_map, save_map, write_map
from .figure import SitingMap, json_for_html
from .layers import COVERED, EXISTING, NEW_SITE, NEWLY_COVERED, UNCOVERED
from .text import LANGS, texts

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
