"""The map object: a :class:`folium.Map` that needs nothing but Leaflet, shipped inline.

:class:`SitingMap` keeps folium's API (``add_child``, ``save``, display in Jupyter,
``folium.Marker(...).add_to(m)``), with four changes:

* only Leaflet is loaded (no jQuery, Bootstrap or awesome-markers), inlined from the
  pinned copy in ``siting/assets`` (``assets="inline"``) or linked from jsdelivr with
  its sha256 (``assets="cdn"``); a few lines stand in for the one jQuery call folium's
  own popups make, so folium popups still work;
* element ids are numbered in tree order instead of folium's random ones, so the same
  map gives the same bytes;
* siting's layers are data (:class:`SitingLayers`): JSON in a
  ``<script type="application/json">`` with ``<``, ``>`` and ``&`` escaped, drawn by
  ``siting-map.js``, which puts every text in with ``textContent``;
* the basemap's tiles are drawn by the same script (no folium ``TileLayer``), so a map
  with no network still shows every data layer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import cache
from importlib import resources
from typing import Any, ClassVar

import folium
from branca.element import Element, Figure, MacroElement
from jinja2 import Template

from .basemaps import check_assets

LEAFLET_VERSION = "1.9.4"
_LEAFLET_DIR = f"vendor/leaflet-{LEAFLET_VERSION}"
_LEAFLET_CDN = f"https://cdn.jsdelivr.net/npm/leaflet@{LEAFLET_VERSION}/dist"
#: folium's popups call ``$(html)[0]`` and nothing else of jQuery: this stands in for it
_JQUERY_SHIM = (
    "window.$=window.$||function(a){if(typeof a==='string'){var t=document.createElement("
    "'template');t.innerHTML=a.trim();return[t.content.firstChild];}return{ready:function(f)"
    "{f();}};};"
)


def _asset(name: str) -> bytes:
    return resources.files("siting").joinpath("assets", name).read_bytes()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _sri(data: bytes) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


@cache
def _leaflet_inline() -> tuple[str, str]:
    """Leaflet's JS and CSS ready to inline: images as data URIs, no source-map line."""
    js = _asset(f"{_LEAFLET_DIR}/leaflet.js").decode("utf-8")
    js = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", js).replace("</", "<\\/")
    css = _asset(f"{_LEAFLET_DIR}/leaflet.css").decode("utf-8")
    for png in ("layers.png", "layers-2x.png", "marker-icon.png"):
        uri = _data_uri(_asset(f"{_LEAFLET_DIR}/images/{png}"))
        css = css.replace(f"url(images/{png})", f"url({uri})")
    icons = {
        "iconUrl": "marker-icon.png",
        "iconRetinaUrl": "marker-icon-2x.png",
        "shadowUrl": "marker-shadow.png",
    }
    default_icon = json.dumps(
        {k: _data_uri(_asset(f"{_LEAFLET_DIR}/images/{v}")) for k, v in icons.items()},
        sort_keys=True,
    )
    # the default marker icon (folium.Marker) from data URIs too, not from a path
    js += f"\nL.Icon.Default.imagePath='';L.Icon.Default.mergeOptions({default_icon});\n"
    return js, css


@cache
def _siting_assets() -> tuple[str, str]:
    js = _asset("siting-map.js").decode("utf-8").replace("</", "<\\/")
    css = _asset("siting-map.css").decode("utf-8")
    return js, css


def assets_html(assets: str) -> str:
    """The ``<head>`` elements that load Leaflet and siting's script and style."""
    check_assets(assets)
    own_js, own_css = _siting_assets()
    if assets == "inline":
        js, css = _leaflet_inline()
        leaflet = f"<style>{css}</style>\n<script>{js}</script>"
    else:
        js_sri = _sri(_asset(f"{_LEAFLET_DIR}/leaflet.js"))
        css_sri = _sri(_asset(f"{_LEAFLET_DIR}/leaflet.css"))
        leaflet = (
            f'<link rel="stylesheet" href="{_LEAFLET_CDN}/leaflet.css" integrity="{css_sri}" '
            f'crossorigin="anonymous"/>\n<script src="{_LEAFLET_CDN}/leaflet.js" '
            f'integrity="{js_sri}" crossorigin="anonymous"></script>'
        )
    return f"{leaflet}\n<style>{own_css}</style>\n<script>{_JQUERY_SHIM}\n{own_js}</script>"


def json_for_html(data: Any) -> str:
    """Compact, key-sorted JSON safe inside a ``<script>`` element.

    ``<``, ``>`` and ``&`` are escaped as ``\\u003c`` …, so no string in it can close
    the element.

    Parameters
    ----------
    data : object
        Anything :func:`json.dumps` takes.

    Returns
    -------
    str
        The JSON text.
    """
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


class SitingLayers(MacroElement):
    """siting's data layers, legend and basemap as one JSON payload drawn by the page."""

    _template = Template(
        """
        {% macro html(this, kwargs) %}
        <script type="application/json" id="{{ this.get_name() }}">{{ this.payload }}</script>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        siting.draw({{ this._parent.get_name() }}, JSON.parse(
            document.getElementById({{ this.get_name()|tojson }}).textContent));
        {% endmacro %}
        """
    )

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__()
        self._name = "SitingLayers"
        self.data = payload

    @property
    def payload(self) -> str:
        """The JSON text, safe inside a script element."""
        return json_for_html(self.data)


class _Assets(Element):
    """Leaflet and siting-map.js in the page's head (rendered from the map's setting)."""

    def __init__(self, assets: str) -> None:
        super().__init__()
        self.assets = assets

    def render(self, **kwargs: Any) -> str:
        return assets_html(self.assets)


class SitingMap(folium.Map):
    """A folium map that loads only Leaflet (inline or from a CDN) and renders the same
    bytes every time; see the module docstring.

    Parameters
    ----------
    assets
        ``"inline"`` (default: Leaflet inside the file, opens with no network) or
        ``"cdn"`` (a smaller file that loads Leaflet from jsdelivr).
    **kwargs
        Passed to :class:`folium.Map` (``width``, ``height``, ``zoom_start``, ``tiles``…).
        ``tiles`` defaults to none: siting's payload draws the basemap.
    """

    default_js: ClassVar[list[tuple[str, str]]] = []  # no CDN: Leaflet comes from _Assets
    default_css: ClassVar[list[tuple[str, str]]] = []

    def __init__(self, *, assets: str = "inline", **kwargs: Any) -> None:
        kwargs.setdefault("tiles", None)
        kwargs.setdefault("control_scale", True)
        super().__init__(**kwargs)
        self.assets = check_assets(assets)
        # per map, so that add_js_link() on one map does not change every other
        self.default_js = []
        self.default_css = []
        self._next_id = 0

    def add_layers(self, payload: dict[str, Any]) -> SitingLayers:
        """Add siting's layers (a payload of :mod:`siting.maps.layers` specs).

        Parameters
        ----------
        payload : dict
            The layers, legend, view and basemap, as the map functions build them.

        Returns
        -------
        SitingLayers
            The element added.
        """
        layers = SitingLayers(payload)
        self.add_child(layers)
        return layers

    @property
    def payload(self) -> dict[str, Any] | None:
        """The data of the first :class:`SitingLayers` on this map (None if none)."""
        for child in self._children.values():
            if isinstance(child, SitingLayers):
                return child.data
        return None

    def _number_ids(self) -> None:
        """Replace folium's random element ids by numbers in tree order (kept once given)."""
        stack: list[Element] = [self]
        while stack:
            element = stack.pop(0)
            if not getattr(element, "_siting_numbered", False):
                element._id = str(self._next_id)
                element._siting_numbered = True
                self._next_id += 1
            stack[0:0] = list(element._children.values())

    def render(self, **kwargs: Any) -> None:
        """Render into the figure (ids numbered, Leaflet in the head).

        Parameters
        ----------
        **kwargs
            Passed to :meth:`folium.Map.render`.
        """
        self._number_ids()
        figure = self.get_root()
        if isinstance(figure, Figure):
            figure.header.add_child(_Assets(self.assets), name="siting_assets")
        super().render(**kwargs)

    def to_html(self) -> str:
        """The whole page as text.

        Returns
        -------
        str
            The HTML page; the same bytes for the same map.
        """
        return self.get_root().render()
