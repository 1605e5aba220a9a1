"""The map's layers as plain data: one builder per layer, each returning a :class:`Layer`.

A layer is a JSON-ready ``spec`` of one of three kinds the page's script draws
(``siting/assets/siting-map.js``), plus its legend section:

* ``cells``: demand points as squares on one canvas (never one DOM node per point);
* ``polygons``: GeoJSON geometries, each with an optional fill, popup and tooltip;
* ``points``: sites as symbols with a tooltip (the name) and a popup.

Popups are a title and ``[label, value]`` rows of plain text (a row whose value is ``""``
heads the rows after it); the page puts them in with ``textContent``, so no string from
the data is ever read as HTML. A new layer (e.g. a
compliance layer) is one more builder that returns a ``polygons`` or ``points`` spec.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from . import text as tx
from .geometry import Display, geojson, quantize
from .tables import site_table

if TYPE_CHECKING:
    from ..measure import Coverage
    from ..plan import Plan

#: colours (colour-blind safe pairs, ColorBrewer RdYlBu / PuOr)
COVERED = "#1a9850"
UNCOVERED = "#d73027"
NEWLY_COVERED = "#4575b4"
EXISTING = "#542788"
NEW_SITE = "#f46d43"
CIRCLE = "#525252"
#: service-area outline per threshold, darkest for the shortest walk
AREA_COLOURS = ("#08519c", "#3182bd", "#6baed6", "#9ecae1")
#: district classes of share covered: upper bounds and ColorBrewer RdYlGn colours
SHARE_BREAKS = (0.5, 0.7, 0.8, 0.9)
SHARE_COLOURS = ("#d7191c", "#fdae61", "#ffffbf", "#a6d96a", "#1a9641")
#: most demand cells drawn one by one; beyond this they are gridded coarser
MAX_CELLS = 250_000
#: the squares drawn for demand points: at least this many metres, at most that many
CELL_MIN_M, CELL_MAX_M = 25.0, 250.0


@dataclass
class Layer:
    """A layer's JSON spec and its legend section (or None)."""

    spec: dict[str, Any]
    legend: dict[str, Any] | None = None


def _item(colour: str, shape: str, label: str) -> dict[str, str]:
    return {"colour": colour, "shape": shape, "label": label}


# ---------------------------------------------------------------------- demand cells
def _spacing_m(xy: np.ndarray) -> float:
    """Typical distance between neighbouring demand points (median nearest neighbour)."""
    if len(xy) < 2:
        return 100.0
    sample = xy[:: max(1, len(xy) // 20_000)]
    d, _ = cKDTree(xy).query(sample, k=2)
    return float(np.clip(np.median(d[:, 1]), CELL_MIN_M, CELL_MAX_M))


def _grid(xy: np.ndarray, pop: np.ndarray, status: np.ndarray, size_m: float, n_status: int):
    """Aggregate points to square cells of ``size_m``: centres, persons, majority status."""
    ij = np.floor(xy / size_m).astype(np.int64)
    keys, inverse = np.unique(ij, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    by_status = np.zeros((len(keys), n_status))
    np.add.at(by_status, (inverse, status), pop)
    centres = (keys + 0.5) * size_m
    return centres, by_status.sum(axis=1), np.argmax(by_status, axis=1)


def _coarser(xy: np.ndarray, pop: np.ndarray, status: np.ndarray, size_m: float, n_status: int):
    """Grid the points with cells just large enough to leave at most :data:`MAX_CELLS`."""
    area = max(float(np.ptp(xy[:, 0]) * np.ptp(xy[:, 1])), 1.0)
    size_m = max(size_m, float(np.sqrt(area / MAX_CELLS)))
    while True:
        centres, persons, majority = _grid(xy, pop, status, size_m, n_status)
        if len(centres) <= MAX_CELLS:
            return centres, persons, majority, size_m
        size_m *= 1.25


def demand_cells(
    demand: gpd.GeoDataFrame,
    status: np.ndarray,
    classes: Sequence[tuple[str, str]],
    display: Display,
    t: tx.Texts,
) -> Layer:
    """Residents as squares coloured by ``status`` (index into ``classes`` of
    ``(colour, label)``), opacity by persons; gridded coarser beyond :data:`MAX_CELLS`."""
    keep = demand["population"].to_numpy(float) > 0
    pts = demand[keep]
    pop = pts["population"].to_numpy(float)
    status = np.asarray(status)[keep].astype(np.int64)
    xy = np.column_stack([pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()])
    size_m = _spacing_m(xy)
    if len(pts) > MAX_CELLS:
        xy, pop, status, size_m = _coarser(xy, pop, status, size_m, len(classes))
    where = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=demand.crs)
    lon, lat = display.lonlat(where)
    qx, qy = quantize(lon), quantize(lat)
    order = np.lexsort((qx, qy))
    qx, qy = qx[order], qy[order]
    tenths = np.round(pop[order] * 10).astype(np.int64)
    spec = {
        "kind": "cells",
        "name": t["layer.demand"],
        "show": True,
        "size_m": round(size_m, 1),
        "lat0": round(float(np.mean(lat)) if len(lat) else 0.0, 3),
        "x": np.diff(qx, prepend=0).tolist(),
        "y": np.diff(qy, prepend=0).tolist(),
        "pop": tenths.tolist(),
        "cls": "".join(map(str, status[order].tolist())),
        "colours": [c for c, _ in classes],
        "labels": [label for _, label in classes],
        "alpha_ref": round(float(np.percentile(pop, 95)) if len(pop) else 1.0, 1),
        "unit": t["unit.persons"],
    }
    legend = {"title": t["legend.demand"], "items": [_item(c, "square", lb) for c, lb in classes]}
    return Layer(spec, legend)


# ---------------------------------------------------------------------- sites
def _name(value: Any, t: tx.Texts) -> str:
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
    return text.strip() or t["pop.unnamed"]


def _site_rows(row: pd.Series, t: tx.Texts) -> list[list[str]]:
    rows = [[t["pop.kind"], t["status.new_site" if row["new"] else "status.existing"]]]
    if row.get("amenity"):
        rows.append([t["pop.amenity"], str(row["amenity"])])
    if row["new"]:
        rows.append([t["pop.gain"], tx.persons(row["covered_gain"], t)])
        rows.append([t["pop.only_here"], tx.persons(row["covered_only_here"], t)])
    rows.append([t["pop.served"], tx.persons(row["served"], t)])
    rows.append([t["pop.mean_walk"], tx.metres(row["mean_walk_m"], t)])
    return rows


def site_points(plan: Plan, display: Display, t: tx.Texts, *, new: bool) -> Layer:
    """The plan's existing facilities (``new=False``) or new sites, with popups."""
    table = site_table(plan)
    table = table[table["new"] == new]
    where = plan.sites.loc[table.index]
    lon, lat = display.lonlat(where) if len(where) else (np.array([]), np.array([]))
    colour, symbol = (NEW_SITE, "diamond") if new else (EXISTING, "circle")
    spec = {
        "kind": "points",
        "name": t["layer.new" if new else "layer.existing"],
        "show": True,
        "symbol": symbol,
        "colour": colour,
        "lon": quantize(lon).tolist(),
        "lat": quantize(lat).tolist(),
        "titles": [_name(v, t) for v in table["name"]],
        "rows": [_site_rows(row, t) for _, row in table.iterrows()],
    }
    item = _item(colour, symbol, t["status.new_site" if new else "status.existing"])
    return Layer(spec, {"title": t["legend.sites"], "items": [item]})


def coverage_sites(cov: Coverage, display: Display, t: tx.Texts) -> Layer:
    """The existing facilities of a coverage (no plan), with their names."""
    where = cov.sites[cov.existing]
    lon, lat = display.lonlat(where) if len(where) else (np.array([]), np.array([]))
    names = where["name"] if "name" in where.columns else pd.Series("", index=where.index)
    spec = {
        "kind": "points",
        "name": t["layer.existing"],
        "show": True,
        "symbol": "circle",
        "colour": EXISTING,
        "lon": quantize(lon).tolist(),
        "lat": quantize(lat).tolist(),
        "titles": [_name(v, t) for v in names],
        "rows": [[[t["pop.kind"], t["status.existing"]]] for _ in range(len(where))],
    }
    item = _item(EXISTING, "circle", t["status.existing"])
    return Layer(spec, {"title": t["legend.sites"], "items": [item]})


# ---------------------------------------------------------------------- polygons
def _polygons(
    name: str, geoms: np.ndarray, style: dict[str, Any], *, show: bool, features=None
) -> dict[str, Any]:
    shapes = geojson(geoms)
    feats = features or [{} for _ in shapes]
    return {
        "kind": "polygons",
        "name": name,
        "show": show,
        "style": style,
        "features": [{"g": g, **f} for g, f in zip(shapes, feats, strict=True) if g is not None],
    }


def area_polygons(
    areas: gpd.GeoDataFrame, plan_minutes: float | None, display: Display, t: tx.Texts
) -> list[Layer]:
    """One layer per walking threshold of dissolved service areas (``minutes`` column),
    listed in the layer control (hidden at first: the residents' colours already say
    who is covered)."""
    if "minutes" not in areas.columns:
        areas = areas.assign(minutes=plan_minutes if plan_minutes is not None else 0.0)
    layers, items = [], []
    values = sorted(set(areas["minutes"].astype(float)))
    for k, m in enumerate(values):
        part = areas.geometry[areas["minutes"].astype(float) == m]
        if len(part) > 1:  # areas per site: merged (a plan's are dissolved already)
            part = gpd.GeoSeries(shapely.union_all(part.values), crs=areas.crs)
        geoms = display.geoms(part, simplify_m=5.0)
        colour = AREA_COLOURS[min(k, len(AREA_COLOURS) - 1)]
        name = t("layer.area", minutes=tx.minutes(m))
        style = {"color": colour, "weight": 1.5, "fillColor": colour, "fillOpacity": 0.08}
        layers.append(Layer(_polygons(name, geoms, style, show=False)))
        items.append(_item(colour, "outline", name))
    if layers:
        layers[-1].legend = {"title": t["legend.areas"], "items": items}
    return layers


def circle_polygons(
    sites: gpd.GeoDataFrame, radius_m: float, display: Display, t: tx.Texts
) -> Layer:
    """Straight-line circles of ``radius_m`` metres around ``sites``, merged, hidden at first."""
    metric = (
        sites.geometry
        if sites.crs.is_projected
        else sites.geometry.to_crs(sites.geometry.estimate_utm_crs())
    )
    disk = shapely.union_all(shapely.buffer(metric.values, radius_m, quad_segs=16))
    geoms = display.geoms(gpd.GeoSeries([disk], crs=metric.crs), simplify_m=2.0)
    name = t("layer.circles", metres=tx.metres(radius_m, t))
    style = {"color": CIRCLE, "weight": 1.5, "dashArray": "6 4", "fillOpacity": 0.0}
    spec = _polygons(name, geoms, style, show=False)
    return Layer(spec, {"title": t["legend.areas"], "items": [_item(CIRCLE, "dashed", name)]})


def share_class(share: float) -> int:
    """Index into :data:`SHARE_COLOURS` of a share covered (0–1)."""
    return int(np.searchsorted(SHARE_BREAKS, share, side="right"))


def _share_labels() -> list[str]:
    edges = [f"{b:.0%}" for b in SHARE_BREAKS]
    return (
        [f"< {edges[0]}"] + [f"{a}–{b}" for a, b in itertools.pairwise(edges)] + [f"≥ {edges[-1]}"]
    )


def _district_rows(row: pd.Series, t: tx.Texts) -> list[list[str]]:
    return [
        [t["pop.persons"], tx.persons(row["population"], t)],
        [
            t["pop.covered"],
            f"{tx.persons(row['covered_before'], t)} → {tx.persons(row['covered_after'], t)}",
        ],
        [t["pop.share"], f"{tx.share(row['share_before'])} → {tx.share(row['share_after'])}"],
        [t["pop.new_sites"], f"{int(row['new_sites'])}"],
        [t["pop.mean_walk_after"], tx.metres(row["mean_walk_m_after"], t)],
    ]


def district_polygons(
    polygons: gpd.GeoDataFrame,
    table: pd.DataFrame,
    display: Display,
    t: tx.Texts,
    *,
    show: bool = True,
) -> Layer:
    """District polygons filled by share covered after the plan, with popups."""
    polys = polygons[polygons["name"].astype(str).isin(set(table.index.astype(str)))]
    stats = table.loc[polys["name"].astype(str).to_numpy()]
    geoms = display.geoms(polys, simplify_m=10.0)
    features = [
        {
            "fill": SHARE_COLOURS[share_class(row["share_after"])],
            "title": str(name),
            "rows": _district_rows(row, t),
            "tip": f"{name}: {tx.share(row['share_after'])}",
        }
        for name, row in stats.iterrows()
    ]
    style = {"color": "#404040", "weight": 1.2, "fillOpacity": 0.3}
    spec = _polygons(t["layer.districts"], geoms, style, show=show, features=features)
    items = [
        _item(c, "square", label) for c, label in zip(SHARE_COLOURS, _share_labels(), strict=True)
    ]
    return Layer(spec, {"title": t["legend.districts"], "items": items})


# ---------------------------------------------------------------------- norm audit
#: compliance classes (:func:`siting.maps.norms.compliance_class`): every rule met,
#: unknown, 1 / 2 / 3+ rules failed, no rule applies
COMPLIANCE_COLOURS = ("#1a9641", "#bababa", "#fdae61", "#f46d43", "#d73027", "#f7f7f7")
COMPLIANCE_LABELS = (
    "compliance.pass",
    "compliance.unknown",
    "compliance.fail1",
    "compliance.fail2",
    "compliance.fail3",
    "compliance.none",
)
#: the audited facilities are drawn at first only up to this many (else: in the layer box)
MAX_SHOWN_FACILITIES = 2_000


def compliance_legend(t: tx.Texts, classes: Sequence[int]) -> dict[str, Any]:
    """The compliance legend: the five classes, and "no rule applies" when drawn."""
    shown = [k for k in range(len(COMPLIANCE_COLOURS)) if k < 5 or k in set(classes)]
    items = [_item(COMPLIANCE_COLOURS[k], "square", t[COMPLIANCE_LABELS[k]]) for k in shown]
    return {"title": t["legend.compliance"], "items": items}


def compliance_polygons(
    units: gpd.GeoDataFrame,
    cards: Sequence[Any],
    name: str,
    display: Display,
    t: tx.Texts,
    *,
    show: bool = True,
    legend: bool = True,
) -> Layer:
    """Units (polygons with a ``unit`` column) filled by compliance, with their popups.

    ``cards``: :class:`siting.maps.norms.UnitCard` per unit (matched by ``unit``); units
    whose outline is not a polygon (a hull of one or two points) are left out.
    """
    by_name = {c.unit: c for c in cards}
    polys = units[
        units.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
        & units["unit"].astype(str).isin(set(by_name))
    ]
    geoms = display.geoms(polys, simplify_m=5.0)
    chosen = [by_name[str(u)] for u in polys["unit"]]
    features = [
        {"fill": COMPLIANCE_COLOURS[c.cls], "title": c.title, "rows": c.rows, "tip": c.tip}
        for c in chosen
    ]
    weight = 1.0 if show else 2.5  # the larger units, drawn over the smaller, by outline
    style = {"color": "#303030", "weight": weight, "fillOpacity": 0.45 if show else 0.25}
    spec = _polygons(name, geoms, style, show=show, features=features)
    return Layer(spec, compliance_legend(t, [c.cls for c in chosen]) if legend else None)


def _floor_area_text(value: float, t: tx.Texts) -> str:
    return t["audit.unknown"] if not np.isfinite(value) else t("measure.m2", n=f"{value:,.0f}")


def facility_points(
    facilities: gpd.GeoDataFrame,
    type_names: Sequence[str],
    display: Display,
    t: tx.Texts,
    *,
    new: bool = False,
) -> Layer:
    """Facilities of an audit (``new=True``: a plan's new stations), with popups: type,
    floor area (``unknown`` when missing), their units and, for new stations, why."""
    lon, lat = display.lonlat(facilities) if len(facilities) else (np.array([]), np.array([]))
    levels = [c for c in ("community", "subdistrict", "district") if c in facilities.columns]
    area = facilities["floor_area_m2"].to_numpy(float)
    rows = []
    for k, row in enumerate(facilities.to_dict("records")):
        lines = [
            [t["pop.amenity"], type_names[k]],
            [t["audit.floor_area"], _floor_area_text(area[k], t)],
        ]
        lines += [[t[f"unitlevel.{lv}"], _name(row[lv], t)] for lv in levels if row[lv] is not None]
        if new and row.get("step") in ("norm", "coverage"):
            lines.append([t["audit.step"], t[f"audit.step.{row['step']}"]])
        rows.append(lines)
    colour, symbol = (NEW_SITE, "diamond") if new else (EXISTING, "circle")
    label = t["status.new_station" if new else "status.facility"]
    spec = {
        "kind": "points",
        "name": t["layer.new_stations" if new else "layer.facilities"],
        "show": new or len(facilities) <= MAX_SHOWN_FACILITIES,
        "symbol": symbol,
        "colour": colour,
        "lon": quantize(lon).tolist(),
        "lat": quantize(lat).tolist(),
        "titles": [
            _name(v, t) for v in facilities.get("name", pd.Series("", index=facilities.index))
        ],
        "rows": rows,
    }
    return Layer(spec, {"title": t["legend.sites"], "items": [_item(colour, symbol, label)]})
