"""Basemaps (tile layers) and the datum each one draws in.

``osm`` (OpenStreetMap), ``amap`` and ``amap-satellite`` (高德, in GCJ-02: every overlay
is shifted from WGS-84 to GCJ-02 to sit on its streets), ``tianditu`` (天地图, CGCS2000,
within centimetres of WGS-84; needs a key in the ``TIANDITU_KEY`` environment variable) and
``none`` (no tiles: the data layers alone, nothing fetched from the network).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import ParameterError
from .text import check_lang

#: environment variable holding the Tianditu browser key
TIANDITU_KEY_ENV = "TIANDITU_KEY"
#: ways of shipping Leaflet with the page: inlined copies, or links to a CDN
ASSETS = ("inline", "cdn")

_OSM_ATTR = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)
_AMAP_ATTR = '&copy; <a href="https://www.amap.com/">高德地图 AutoNavi</a>'
_TDT_ATTR = '&copy; <a href="https://www.tianditu.gov.cn/">天地图</a>'
_TDT_URL = (
    "https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
    "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={{z}}&TILEROW={{y}}"
    "&TILECOL={{x}}&tk={key}"
)


@dataclass(frozen=True)
class Tiles:
    """One Leaflet tile layer: URL template and options (attribution is trusted HTML)."""

    url: str
    attribution: str
    subdomains: str = "abc"
    max_zoom: int = 19

    def to_json(self) -> dict:
        """The layer as the page's JavaScript reads it."""
        return {
            "url": self.url,
            "options": {
                "attribution": self.attribution,
                "subdomains": self.subdomains,
                "maxZoom": self.max_zoom,
            },
        }


@dataclass(frozen=True)
class Basemap:
    """A named basemap: its tile layers (drawn in order) and its datum."""

    name: str
    datum: str  # "wgs84" or "gcj02": the datum overlays must be drawn in
    tiles: tuple[Tiles, ...] = field(default_factory=tuple)


def _amap(style: int, lang: str, host: str = "webrd") -> Tiles:
    amap_lang = "zh_cn" if lang == "zh" else "en"
    return Tiles(
        f"https://{host}0{{s}}.is.autonavi.com/appmaptile?lang={amap_lang}&size=1&scale=1"
        f"&style={style}&x={{x}}&y={{y}}&z={{z}}",
        _AMAP_ATTR,
        subdomains="1234",
        max_zoom=18,
    )


def _tianditu(lang: str) -> tuple[Tiles, ...]:
    key = os.environ.get(TIANDITU_KEY_ENV, "").strip()
    if not key:
        msg = (
            f"basemap='tianditu' needs a Tianditu (天地图) browser key in the environment "
            f"variable {TIANDITU_KEY_ENV} (free at https://console.tianditu.gov.cn). Set it, "
            "e.g. `export TIANDITU_KEY=...`, or choose basemap='osm', 'amap' or 'none'. "
            "The key is written into the map file, as every Tianditu web page does."
        )
        raise ParameterError(msg)
    labels = "cva" if lang == "zh" else "eva"
    return tuple(
        Tiles(_TDT_URL.format(layer=layer, key=key), _TDT_ATTR, "01234567", 18)
        for layer in ("vec", labels)
    )


BASEMAPS = ("osm", "amap", "amap-satellite", "tianditu", "none")


def basemap(name: str, lang: str = "en") -> Basemap:
    """The :class:`Basemap` called ``name`` (one of :data:`BASEMAPS`) with labels in ``lang``."""
    check_lang(lang)
    if name == "osm":
        osm = Tiles("https://tile.openstreetmap.org/{z}/{x}/{y}.png", _OSM_ATTR, "abc", 19)
        return Basemap(name, "wgs84", (osm,))
    if name == "amap":
        return Basemap(name, "gcj02", (_amap(8, lang),))
    if name == "amap-satellite":
        return Basemap(name, "gcj02", (_amap(6, lang, "webst"), _amap(8, lang, "webst")))
    if name == "tianditu":
        return Basemap(name, "wgs84", _tianditu(lang))
    if name == "none":
        return Basemap(name, "wgs84", ())
    msg = f"basemap={name!r}: choose one of {', '.join(map(repr, BASEMAPS))}."
    raise ParameterError(msg)


def check_assets(assets: str) -> str:
    """``assets`` if it is one of :data:`ASSETS`, else a :class:`ParameterError`."""
    if assets not in ASSETS:
        msg = (
            f"assets={assets!r}: choose 'inline' (Leaflet inside the file: opens with no "
            "network) or 'cdn' (a smaller file that loads Leaflet from jsdelivr)."
        )
        raise ParameterError(msg)
    return assets
