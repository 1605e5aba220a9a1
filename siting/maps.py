"""Interactive folium maps of coverage and plans (self-contained HTML, shareable)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import folium
import geopandas as gpd
import numpy as np
import shapely

from .output import atomic_write_text

if TYPE_CHECKING:
    from .coverage import Coverage
    from .plan import Plan

#: colours (colour-blind safe pairs)
COVERED = "#1a9850"
UNCOVERED = "#d73027"
NEWLY_COVERED = "#4575b4"
EXISTING = "#542788"
NEW_SITE = "#f46d43"
#: largest number of demand points drawn one by one; beyond this they are gridded
MAX_POINTS = 5_000
#: cell size (metres) used to grid demand beyond MAX_POINTS
GRID_M = 100.0


def _light(gdf: gpd.GeoDataFrame, simplify_m: float = 0.0) -> gpd.GeoDataFrame:
    """WGS84 copy with coordinates rounded to ~0.1 m (and shapes simplified) for small HTML."""
    gdf = gdf.copy()
    if simplify_m > 0 and gdf.crs is not None and gdf.crs.is_projected:
        gdf.geometry = gdf.geometry.simplify(simplify_m)
    gdf = gdf.to_crs(4326)
    gdf.geometry = shapely.set_precision(gdf.geometry.values, 1e-6)
    return gdf


def _base_map(gdf: gpd.GeoDataFrame, tiles: str = "OpenStreetMap", **map_kwargs) -> folium.Map:
    b = gdf.to_crs(4326).total_bounds
    m = folium.Map(tiles=tiles, **{"control_scale": True, "prefer_canvas": True, **map_kwargs})
    m.fit_bounds([[b[1], b[0]], [b[3], b[2]]])
    return m


def _demand_layer(demand: gpd.GeoDataFrame, status: np.ndarray, labels: dict, name: str):
    """Demand points coloured by status (0/1/2), radius by population."""
    d = demand[["population", "geometry"]].copy()
    d["status"] = status
    if len(d) > MAX_POINTS:  # grid to keep the HTML light
        x = np.floor(d.geometry.x / GRID_M).astype(np.int64)
        y = np.floor(d.geometry.y / GRID_M).astype(np.int64)
        d["cx"], d["cy"] = x, y
        g = d.groupby(["cx", "cy", "status"], as_index=False)["population"].sum()
        d = gpd.GeoDataFrame(
            g,
            geometry=gpd.points_from_xy((g.cx + 0.5) * GRID_M, (g.cy + 0.5) * GRID_M),
            crs=demand.crs,
        )
    d = _light(d[d["population"] > 0])
    d["who"] = [labels[s] for s in d["status"]]
    d["population"] = d["population"].round(1)
    colours = {0: UNCOVERED, 1: COVERED, 2: NEWLY_COVERED}
    layer = folium.FeatureGroup(name=name)
    radius = np.clip(np.sqrt(d["population"].to_numpy()) * 1.2, 2, 12)
    feats = folium.GeoJson(
        d.assign(radius=radius)[["population", "who", "status", "radius", "geometry"]],
        marker=folium.CircleMarker(fill=True, weight=0, fill_opacity=0.7),
        style_function=lambda f: {
            "fillColor": colours[int(f["properties"]["status"])],
            "radius": f["properties"]["radius"],
        },
        tooltip=folium.GeoJsonTooltip(["population", "who"], aliases=["persons", ""]),
    )
    feats.add_to(layer)
    return layer


def _sites_layer(sites: gpd.GeoDataFrame, name: str, colour: str, radius: float = 7):
    layer = folium.FeatureGroup(name=name)
    if len(sites) == 0:
        return layer
    s = _light(sites)
    cols = [c for c in ("name", "amenity", "covered_gain") if c in s.columns]
    folium.GeoJson(
        s[[*cols, "geometry"]],
        marker=folium.CircleMarker(
            radius=radius,
            fill=True,
            color="white",
            weight=1.5,
            fill_color=colour,
            fill_opacity=0.95,
        ),
        tooltip=folium.GeoJsonTooltip(cols) if cols else None,
    ).add_to(layer)
    return layer


def _areas_layer(areas: gpd.GeoDataFrame | None, name: str, colour: str):
    layer = folium.FeatureGroup(name=name, show=True)
    if areas is None or len(areas) == 0:
        return layer
    folium.GeoJson(
        _light(areas[["geometry"]], simplify_m=5.0),
        style_function=lambda f: {"color": colour, "weight": 1, "fillOpacity": 0.12},
    ).add_to(layer)
    return layer


def _legend(m: folium.Map, title: str, rows: list[tuple[str, str]]) -> None:
    items = "".join(
        f'<div><span style="display:inline-block;width:10px;height:10px;border-radius:5px;'
        f'background:{c};margin-right:6px"></span>{t}</div>'
        for c, t in rows
    )
    html = (
        '<div style="position:fixed;bottom:24px;left:24px;z-index:9999;background:white;'
        "padding:8px 10px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.3);"
        f'font:12px/1.4 sans-serif"><b>{title}</b>{items}</div>'
    )
    m.get_root().html.add_child(folium.Element(html))


def coverage_map(cov: Coverage, *, minutes: float | None = None, areas=None) -> folium.Map:
    """Map of demand covered / not covered by the existing sites."""
    covered = cov.covered(None, minutes)
    m = _base_map(cov.demand)
    _areas_layer(areas, "Service areas", EXISTING).add_to(m)
    _demand_layer(
        cov.demand, covered.astype(int), {0: "not covered", 1: "covered"}, "Demand"
    ).add_to(m)
    _sites_layer(cov.sites[cov.existing], "Existing facilities", EXISTING).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    _legend(
        m,
        f"{cov.mode} coverage, {cov.threshold_m(minutes):.0f} m",
        [(COVERED, "covered"), (UNCOVERED, "not covered"), (EXISTING, "existing facility")],
    )
    return m


def plan_map(plan: Plan, *, areas=None, tiles: str = "OpenStreetMap", **map_kwargs) -> folium.Map:
    """Map of a plan: existing and new sites, demand covered before / newly / not.

    ``tiles`` and other keywords go to :class:`folium.Map` (e.g. ``tiles="CartoDB
    positron"``, ``width="100%"``).
    """
    cov = plan.coverage
    before = plan.demand["covered_before"].to_numpy(bool)
    after = plan.demand["covered_after"].to_numpy(bool)
    status = np.where(before, 1, np.where(after, 2, 0))
    m = _base_map(cov.demand, tiles, **map_kwargs)
    _areas_layer(areas, "Service areas", NEW_SITE).add_to(m)
    _demand_layer(
        cov.demand,
        status,
        {0: "not covered", 1: "covered today", 2: "covered by new sites"},
        "Demand",
    ).add_to(m)
    sites = plan.sites
    _sites_layer(sites[sites["existing"]], "Existing facilities", EXISTING).add_to(m)
    _sites_layer(sites[sites["new"]], "New sites", NEW_SITE, radius=8).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    s = plan.summary()
    _legend(
        m,
        f"{s['model']}: {s['covered_share_before']:.1%} → {s['covered_share_after']:.1%} "
        f"with {s['new_sites']} new sites",
        [
            (COVERED, "covered today"),
            (NEWLY_COVERED, "covered by new sites"),
            (UNCOVERED, "not covered"),
            (EXISTING, "existing facility"),
            (NEW_SITE, "new site"),
        ],
    )
    return m


def save_map(m: folium.Map, path: str | os.PathLike, *, force: bool = False) -> Path:
    """Write a folium map to HTML atomically (refuses to overwrite without ``force``)."""
    return atomic_write_text(path, m.get_root().render(), force=force)
