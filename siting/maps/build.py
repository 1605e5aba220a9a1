"""Compose the maps: which layers a plan or a coverage shows, and writing them to a file."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import folium
import geopandas as gpd
import numpy as np
import shapely

from .._docstrings import shared_doc
from ..io._tables import load_districts
from ..output import atomic_write_text, check_writable
from . import layers as ly
from . import norms
from . import text as tx
from .basemaps import Basemap, check_assets
from .basemaps import basemap as get_basemap
from .figure import SitingMap
from .geometry import Display, bounds
from .tables import check_district_names, district_table
from .text import DEFAULT_CIRCLE_M, plan_headline, threshold_text

if TYPE_CHECKING:
    from ..measure import Coverage
    from ..plan import Plan

log = logging.getLogger(__name__)


def _legend(title: str, parts: list[ly.Layer], notes: list[str]) -> dict[str, Any]:
    """One legend: the layers' sections merged by title, residents and sites first."""
    sections: dict[str, list[dict[str, str]]] = {}
    first = [p for p in parts if p.spec["kind"] in ("cells", "points")]
    for part in first + [p for p in parts if p not in first]:
        if part.legend is not None:
            sections.setdefault(part.legend["title"], []).extend(part.legend["items"])
    return {
        "title": title,
        "sections": [{"title": k, "items": v} for k, v in sections.items()],
        "notes": notes,
    }


@dataclass(frozen=True)
class _Frame:
    """What every map is drawn in: its strings, basemap and datum; and the finished map."""

    t: tx.Texts
    base: Basemap
    display: Display
    lang: str
    assets: str
    map_kwargs: dict[str, Any]

    @classmethod
    def of(cls, basemap: str, lang: str, assets: str, map_kwargs: dict[str, Any]) -> _Frame:
        """Check the options (a :class:`ParameterError` for a bad one) and set up."""
        t = tx.texts(lang)
        base = get_basemap("none" if "tiles" in map_kwargs else basemap, lang)
        check_assets(assets)
        return cls(t, base, Display(base.datum), lang, assets, map_kwargs)

    def datum_notes(self) -> list[str]:
        """The legend's note that the overlays are shifted to the basemap's datum."""
        return [self.t["legend.datum"]] if self.base.datum == "gcj02" else []

    def map(
        self, parts: list[ly.Layer], view: tuple[np.ndarray, np.ndarray], legend: dict
    ) -> SitingMap:
        """The map of ``parts``, opening on ``view`` (longitudes, latitudes)."""
        m = SitingMap(assets=self.assets, **self.map_kwargs)
        m.add_layers(
            {
                "bounds": bounds(*view),
                "lang": self.lang,
                "tiles": [tiles.to_json() for tiles in self.base.tiles],
                "layers": [part.spec for part in parts],
                "legend": legend,
            }
        )
        return m


def _service_areas(plan: Plan, areas: Any) -> gpd.GeoDataFrame | None:
    """Dissolved walking service areas of the open sites at each computed threshold."""
    if areas is None or areas is False:
        return None
    if isinstance(areas, gpd.GeoDataFrame):
        return areas
    # None for a straight-line coverage: its areas are the circles layer
    return plan.service_areas(minutes=[*plan.coverage.minutes, plan.minutes])


def _district_layers(
    plan: Plan, districts: Any, display: Display, t: tx.Texts, *, show: bool = True
) -> tuple[list[ly.Layer], list[str]]:
    """The district layer (with ``districts=`` polygons), or a note why there is none."""
    if districts is None:
        has_column = "district" in plan.coverage.demand.columns
        if has_column:
            log.info("The demand has districts but no polygons were given: no district layer.")
        return [], [t["legend.no_districts"]] if has_column else []
    polygons = load_districts(districts)
    table = district_table(plan, polygons)
    check_district_names(table, polygons)
    return [ly.district_polygons(polygons, table, display, t, show=show)], []


def compliance_layers(
    shown: norms.Shown, display: Display, t: tx.Texts, units: gpd.GeoDataFrame | None = None
) -> list[ly.Layer]:
    """One compliance layer per unit level given: the smallest (communities) shown with
    the legend, the larger ones (sub-districts, districts) in the layer box. ``units``:
    the audit's :attr:`~siting.Audit.units` when already at hand."""
    units = shown.audit.units if units is None else units
    levels = [lv for lv in norms.UNIT_LEVELS if lv in shown.audit.inputs.units]
    layers = []
    for k, level in enumerate(levels):
        name = t("layer.compliance", units=norms.unit_level_name(level, t, plural=True))
        cards = norms.unit_cards(shown, level, t)
        mine = units[units["unit_level"] == level]
        layers.append(
            ly.compliance_polygons(mine, cards, name, display, t, show=k == 0, legend=k == 0)
        )
    return layers


def _facility_layers(shown: norms.Shown, display: Display, t: tx.Texts) -> list[ly.Layer]:
    """The audited facilities and, for a plan from the audit, its new stations."""
    fac = shown.audit.facilities
    types = shown.preset.known_types
    names = {k: norms.type_name(k, t, types) for k in fac["type"].astype(str).unique()}
    labels = fac["type"].astype(str).map(names).to_numpy()
    if shown.before is None:
        return [ly.facility_points(fac, labels, display, t)]
    n = len(shown.before.facilities)
    new = fac.iloc[n:].assign(step=shown.new_sites["step"].to_numpy())
    return [
        ly.facility_points(fac.iloc[:n], labels[:n], display, t),
        ly.facility_points(new, labels[n:], display, t, new=True),
    ]


def _units_view(
    shown: norms.Shown, units: gpd.GeoDataFrame, display: Display
) -> tuple[np.ndarray, np.ndarray]:
    """Corners of the units' outlines (else the facilities) in display lon/lat."""
    if len(units):
        box = shapely.bounds(display.geoms(units))
        box = box[np.isfinite(box).all(axis=1)]
        return np.r_[box[:, 0], box[:, 2]], np.r_[box[:, 1], box[:, 3]]
    fac = shown.audit.facilities
    return display.lonlat(fac) if len(fac) else (np.array([]), np.array([]))


def _open_sites_view(plan: Plan, display: Display) -> tuple[np.ndarray, np.ndarray]:
    demand = plan.coverage.demand
    sites = plan.sites[plan.selected]
    lon1, lat1 = display.lonlat(demand) if len(demand) else (np.array([]), np.array([]))
    lon2, lat2 = display.lonlat(sites) if len(sites) else (np.array([]), np.array([]))
    return np.r_[lon1, lon2], np.r_[lat1, lat2]


@shared_doc
def plan_map(
    plan: Plan,
    *,
    basemap: str = "osm",
    lang: str = "en",
    assets: str = "inline",
    districts: gpd.GeoDataFrame | str | os.PathLike | None = None,
    areas: bool | gpd.GeoDataFrame | None = True,
    circle_m: float | None = DEFAULT_CIRCLE_M,
    title: str | None = None,
    audit: Any = None,
    **map_kwargs: Any,
) -> SitingMap:
    """Map of a plan: residents covered today / newly / not, existing and new sites,
    districts by share covered, service areas per threshold and straight-line circles.

    Parameters
    ----------
    plan
        A :class:`siting.Plan`.
    basemap
        ``"osm"``, ``"amap"``, ``"amap-satellite"`` (overlays shifted to GCJ-02),
        ``"tianditu"`` (key in the ``TIANDITU_KEY`` environment variable) or ``"none"``.
    lang
        ``"en"`` or ``"zh"``: every label, legend and popup.
    assets
        ``"inline"``: Leaflet inside the file (opens with no network); ``"cdn"``: linked.
    districts
        District polygons (GeoDataFrame or file, ``name`` column matching the demand's
        ``district``; a demand without one is assigned to them). Without polygons there is
        no district layer (the legend says so when the demand has districts).
    areas
        True: walking service areas of the open sites at each threshold of the coverage
        (network coverages only); a GeoDataFrame (``minutes`` column) to draw given ones;
        False/None: none.
    circle_m
        Radius of the straight-line circles around the open sites, metres (a layer
        hidden at first); None: no such layer.
    title
        A title above the legend's headline.
    audit
        A norm audit (:func:`siting.audit`) or the plan from one (``audit.plan(...)``):
        adds its communities (and sub-districts, districts) coloured by the norms met,
        with each unit's shortfall in its popup; the district layer is then hidden at
        first (it stays in the layer box).
    **map_kwargs
        Passed to :class:`folium.Map` (``width``, ``height``, ``zoom_start``; ``tiles``
        replaces the basemap).

    Returns
    -------
    SitingMap
        A folium map: displays inline in Jupyter, ``.save(path)``, extend it with folium.

    %(map_raises)s

    Examples
    --------
    >>> m = st.maps.plan_map(plan, basemap="amap", lang="zh")  # doctest: +SKIP
    >>> st.maps.save_map(m, "map.html")  # doctest: +SKIP
    """
    frame = _Frame.of(basemap, lang, assets, map_kwargs)
    t, display = frame.t, frame.display
    shown = None if audit is None else norms.Shown.of(audit)
    district_parts, notes = _district_layers(plan, districts, display, t, show=shown is None)
    parts = list(district_parts)
    if shown is not None:
        parts += compliance_layers(shown, display, t)
        notes.append(norms.headline(shown, t))
    area_gdf = _service_areas(plan, areas)
    if area_gdf is not None and len(area_gdf):
        parts += ly.area_polygons(area_gdf, plan.minutes, display, t)
    if circle_m is not None and plan.selected.any():
        parts.append(ly.circle_polygons(plan.sites[plan.selected], circle_m, display, t))
    before = plan.demand["covered_before"].to_numpy(bool)
    after = plan.demand["covered_after"].to_numpy(bool)
    status = np.where(before, 1, np.where(after, 2, 0))
    classes = [
        (ly.UNCOVERED, t["status.none"]),
        (ly.COVERED, t["status.covered"]),
        (ly.NEWLY_COVERED, t["status.new"]),
    ]
    parts.append(ly.demand_cells(plan.coverage.demand, status, classes, display, t))
    parts.append(ly.site_points(plan, display, t, new=False))
    parts.append(ly.site_points(plan, display, t, new=True))
    notes += frame.datum_notes()
    headline = plan_headline(plan, t)
    legend = _legend(title or headline, parts, ([headline] if title else []) + notes)
    return frame.map(parts, _open_sites_view(plan, display), legend)


@shared_doc
def coverage_map(
    cov: Coverage,
    *,
    minutes: float | None = None,
    areas: gpd.GeoDataFrame | None = None,
    basemap: str = "osm",
    lang: str = "en",
    assets: str = "inline",
    **map_kwargs: Any,
) -> SitingMap:
    """Map of who the existing facilities cover today (no plan).

    Parameters
    ----------
    cov : Coverage
        The coverage.
    minutes : float, optional
        Walking threshold, minutes (default the largest computed).
    areas : geopandas.GeoDataFrame, optional
        Service areas to draw, with a ``minutes`` column (e.g. from
        :func:`siting.service_areas`).
    basemap, lang, assets : str
        As for :func:`plan_map`.
    **map_kwargs
        Passed to :class:`folium.Map`.

    Returns
    -------
    SitingMap
        A folium map that opens with no network.

    %(map_raises)s
    """
    frame = _Frame.of(basemap, lang, assets, map_kwargs)
    t, display = frame.t, frame.display
    parts: list[ly.Layer] = []
    if areas is not None and len(areas):
        parts += ly.area_polygons(areas, minutes, display, t)
    covered = cov.covered(None, minutes)
    classes = [(ly.UNCOVERED, t["status.none"]), (ly.COVERED, t["status.covered"])]
    parts.append(ly.demand_cells(cov.demand, covered.astype(int), classes, display, t))
    parts.append(ly.coverage_sites(cov, display, t))
    pop = cov.population
    headline = t(
        "legend.coverage",
        mode=t[f"mode.{cov.mode}"],
        share=tx.share(float(pop[covered].sum() / pop.sum()) if pop.sum() > 0 else 0.0),
        threshold=threshold_text(cov, minutes, t),
    )
    view = display.lonlat(cov.demand) if len(cov.demand) else (np.array([]), np.array([]))
    return frame.map(parts, view, _legend(headline, parts, frame.datum_notes()))


@shared_doc
def audit_map(
    audit: Any,
    *,
    basemap: str = "osm",
    lang: str = "en",
    assets: str = "inline",
    facilities: bool = True,
    title: str | None = None,
    **map_kwargs: Any,
) -> SitingMap:
    """Map of a norm audit: communities (and sub-districts, districts, as further layers)
    coloured by the norms they meet, popups with each unit's shortfall, and the facilities.

    Parameters
    ----------
    audit
        A :class:`siting.Audit` (``st.audit(...)``) or the plan from one
        (``audit.plan(...)``: units after the plan, each changed figure ``before →
        after``, the new stations as a layer).
    basemap, lang, assets, title, **map_kwargs
        As in :func:`plan_map`.
    facilities
        Draw the audited facilities (type, floor area, units in their popups); beyond
        2,000 they start hidden (tick them in the layer box).

    Returns
    -------
    SitingMap
        Also ``audit.explore(...)``.

    %(map_raises)s
    """
    frame = _Frame.of(basemap, lang, assets, map_kwargs)
    t, display = frame.t, frame.display
    shown = norms.Shown.of(audit)
    units = shown.audit.units
    parts = compliance_layers(shown, display, t, units)
    if facilities:
        parts += _facility_layers(shown, display, t)
    headline = norms.headline(shown, t)
    notes = frame.datum_notes()
    legend = _legend(title or headline, parts, ([headline] if title else []) + notes)
    return frame.map(parts, _units_view(shown, units, display), legend)


def map_html(m: folium.Map) -> str:
    """The page of a map as text (any folium map; siting's render the same bytes).

    Parameters
    ----------
    m : folium.Map
        The map.

    Returns
    -------
    str
        The whole HTML page.
    """
    return m.to_html() if isinstance(m, SitingMap) else m.get_root().render()


@shared_doc
def save_map(m: folium.Map, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write a map to HTML atomically.

    Parameters
    ----------
    m : folium.Map
        The map (any folium map).
    path : str or os.PathLike
        The file to write.
    force : bool
        Replace an existing file.

    %(written_file)s
    """
    return atomic_write_text(path, map_html(m), force=force)


@shared_doc
def write_map(
    plan: Plan,
    path: str | os.PathLike,
    *,
    force: bool = False,
    basemap: str = "osm",
    lang: str = "en",
    assets: str = "inline",
    **options: Any,
) -> Path:
    """Write the map of ``plan`` to ``path`` (``map.html``) atomically.

    Parameters
    ----------
    plan : Plan
        The plan.
    path : str or os.PathLike
        The file to write.
    force : bool
        Replace an existing file.
    basemap, lang, assets : str
        As for :func:`plan_map`.
    **options
        The other options of :func:`plan_map` (``districts``, ``areas``, ``circle_m``,
        ``title``, ``audit``).

    %(written_file)s
    ParameterError
        An unknown ``basemap``, ``lang`` or ``assets``.
    """
    check_writable(path, force=force)  # before the work, not after it
    m = plan_map(plan, basemap=basemap, lang=lang, assets=assets, **options)
    return save_map(m, path, force=force)
