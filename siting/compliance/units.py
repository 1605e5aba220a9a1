"""Planning units of the audit: communities (社区), sub-districts (街道) and districts (区).

A unit level comes as polygons (a GeoDataFrame in any CRS, e.g. from
:func:`siting.read_districts`) or as a column of the demand naming each point's unit.
Demand points belong to the polygon containing them; facilities belong to a unit either by
**containment** (the polygon holding the facility) or by **walk** (the unit of the demand
point nearest to the facility along the walk), and the tables say which.

Polygons may carry ``population`` and ``households`` (e.g. census counts, used instead of
the demand's sums), ``staff`` (community workers today) and ``urban`` (True/False, for
rules that apply to urban or rural units only).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from ..crs import WGS84
from ..errors import DataError, MissingColumnError, ParameterError
from ..io._tables import Source, numeric_values
from ..standards import PERSONS_PER_HOUSEHOLD, UNIT_PLURAL

log = logging.getLogger(__name__)

PLURAL = UNIT_PLURAL
ATTRIBUTIONS = ("containment", "walk")
#: optional numeric columns a unit polygon may carry
UNIT_COLUMNS = ("population", "households", "staff")


@dataclass(eq=False)
class UnitLevel:
    """One level of units, with each demand point's unit.

    ``demand_code[i]`` is the index in ``names`` of demand point ``i``'s unit, -1 outside
    every unit; ``info`` has one row per unit (``population``, ``households``, ``staff``
    given on the polygons, NaN when not, and ``urban``).
    """

    level: str
    names: np.ndarray
    demand_code: np.ndarray
    polygons: gpd.GeoSeries | None
    info: pd.DataFrame
    attribution: str
    geometry: gpd.GeoSeries

    @property
    def n(self) -> int:
        """Number of units."""
        return len(self.names)

    def indicator(self) -> sp.csr_matrix:
        """Sparse ``(n_units, n_demand)`` 0/1 membership of demand points."""
        inside = np.flatnonzero(self.demand_code >= 0)
        data = np.ones(inside.size)
        return sp.csr_matrix(
            (data, (self.demand_code[inside], inside)), shape=(self.n, len(self.demand_code))
        )

    def facility_codes(self, points: gpd.GeoSeries, walk: sp.csr_matrix) -> np.ndarray:
        """Unit index of each facility (-1: none), by containment or by walk.

        ``walk``: CSR ``(n_facilities, n_demand)`` walking metres (stored = within reach).
        """
        if self.attribution == "containment":
            return _containing(self.polygons, points)
        return nearest_demand_unit(walk, self.demand_code)


def nearest_demand_unit(walk: sp.csr_matrix, demand_code: np.ndarray) -> np.ndarray:
    """Per row of ``walk`` (sites × demand metres): the unit of the nearest demand point."""
    walk = walk.tocsr()
    out = np.full(walk.shape[0], -1, dtype=np.int64)
    counts = np.diff(walk.indptr)
    rows = np.repeat(np.arange(walk.shape[0]), counts)
    if rows.size == 0:
        return out
    order = np.lexsort((walk.data, rows))  # by row, then distance
    first = order[np.r_[0, np.cumsum(counts[counts > 0])[:-1]]]
    out[rows[first]] = demand_code[walk.indices[first]]
    return out


def _containing(polygons: gpd.GeoSeries, points: gpd.GeoSeries) -> np.ndarray:
    """Index of the first polygon containing (or touching) each point; -1 if none."""
    out = np.full(len(points), -1, dtype=np.int64)
    if len(points) == 0:
        return out
    pts, polys = polygons.sindex.query(np.asarray(points.values), predicate="intersects")
    if pts.size:
        order = np.lexsort((polys, pts))
        pts, polys = pts[order], polys[order]
        first = np.r_[True, pts[1:] != pts[:-1]]
        out[pts[first]] = polys[first]
        if (~first).any():
            log.info(
                "%d points lie in more than one unit polygon; each counts in the first.",
                int(np.unique(pts[~first]).size),
            )
    return out


def prepare_level(
    level: str, spec: Any, demand: gpd.GeoDataFrame, attribution: str | None
) -> UnitLevel | None:
    """A :class:`UnitLevel` from polygons or a demand column (``None``: not given)."""
    if spec is None:
        return None
    if attribution is not None and attribution not in ATTRIBUTIONS:
        msg = f"attribution={attribution!r}: use 'containment' (polygons) or 'walk'."
        raise ParameterError(msg)
    if isinstance(spec, str):
        return _from_column(level, spec, demand, attribution)
    if isinstance(spec, gpd.GeoDataFrame):
        return _from_polygons(level, spec, demand, attribution or "containment")
    msg = (
        f"{level}: give polygons (a GeoDataFrame, e.g. siting.read_districts(...)) or the "
        f"name of a demand column, not {type(spec).__name__}."
    )
    raise ParameterError(msg)


def _from_column(
    level: str, column: str, demand: gpd.GeoDataFrame, attribution: str | None
) -> UnitLevel:
    if column not in demand.columns:
        msg = (
            f"{PLURAL[level]}={column!r}: the demand has no such column (it has "
            f"{', '.join(map(str, demand.columns))}). Give polygons instead, or add the column."
        )
        raise MissingColumnError(msg)
    if attribution == "containment":
        msg = (
            f"{PLURAL[level]} given as the demand column {column!r} have no polygons to "
            "contain facilities; use attribution='walk' (the default for columns)."
        )
        raise ParameterError(msg)
    labels = demand[column].astype("string")
    codes, names = pd.factorize(labels, sort=True)
    names = np.asarray(names, dtype=object).astype(str)
    info = pd.DataFrame(index=pd.Index(names, name="unit"))
    for col in UNIT_COLUMNS:
        info[col] = np.nan
    info["urban"] = True
    hulls = _hulls(demand.geometry, codes, len(names))
    return UnitLevel(level, names, codes.astype(np.int64), None, info, "walk", hulls)


def _hulls(points: gpd.GeoSeries, codes: np.ndarray, n: int) -> gpd.GeoSeries:
    """Convex hull of each unit's demand points (a stand-in outline), in WGS84."""
    order = np.argsort(codes, kind="stable")
    keep = order[codes[order] >= 0]
    parts = np.full(n, None, dtype=object)
    if keep.size:
        shapely.multipoints(np.asarray(points.values)[keep], indices=codes[keep], out=parts)
    return gpd.GeoSeries(shapely.convex_hull(parts), crs=points.crs).to_crs(WGS84)


def _from_polygons(
    level: str, polygons: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, attribution: str
) -> UnitLevel:
    from ..io import read_districts

    units = read_districts(polygons)  # checks geometry and CRS, repairs, finds a name
    names = units["name"].astype(str).to_numpy()
    dup = pd.Series(names)[pd.Series(names).duplicated()].unique()
    if len(dup):
        msg = (
            f"{PLURAL[level]}: unit names must be unique; repeated: {', '.join(dup[:5])}. "
            "Rename them (e.g. add the sub-district) or pass the name column with name=."
        )
        raise DataError(msg)
    metric = units.geometry.to_crs(demand.crs)
    codes = _containing(metric, demand.geometry)
    outside = codes < 0
    if outside.any():
        log.warning(
            "%d demand points (%.0f persons) lie outside every %s polygon; they count in no %s.",
            int(outside.sum()),
            float(demand["population"].to_numpy()[outside].sum()),
            level,
            level,
        )
    info = pd.DataFrame(index=pd.Index(names, name="unit"))
    for col in UNIT_COLUMNS:
        info[col] = _numeric(units, col, level)
    info["urban"] = _urban(units, level)
    return UnitLevel(level, names, codes, metric, info, attribution, units.geometry)


def _numeric(units: gpd.GeoDataFrame, col: str, level: str) -> np.ndarray:
    if col not in units.columns:
        return np.full(len(units), np.nan)
    return numeric_values(units[col], source=Source(PLURAL[level]), field=col, allow_missing=True)


def _urban(units: gpd.GeoDataFrame, level: str) -> np.ndarray:
    if "urban" not in units.columns:
        return np.ones(len(units), dtype=bool)
    try:
        return pd.array(units["urban"]).astype("boolean").fillna(True).to_numpy(bool)
    except (TypeError, ValueError) as exc:
        msg = f"{PLURAL[level]}: the 'urban' column must hold true/false values."
        raise DataError(msg) from exc


def unit_table(
    unit: UnitLevel,
    population: np.ndarray,
    households: np.ndarray | None,
    persons_per_household: float = PERSONS_PER_HOUSEHOLD,
) -> pd.DataFrame:
    """Population and households per unit, with where the households figure comes from.

    Households: given on the polygons, else the demand's ``households`` summed, else
    population ÷ ``persons_per_household``. Population: given on the polygons, else the
    demand summed.
    """
    G = unit.indicator()
    pop_sum = G @ population
    info = unit.info
    out = pd.DataFrame(index=info.index)
    given_pop = info["population"].to_numpy(float)
    out["population"] = np.where(np.isnan(given_pop), pop_sum, given_pop)
    out["demand_points"] = np.asarray(G.sum(axis=1)).ravel().astype(np.int64)
    given_hh = info["households"].to_numpy(float)
    derived = out["population"].to_numpy(float) / persons_per_household
    how = f"population ÷ {persons_per_household:g}"
    hh, source = derived, np.full(unit.n, how, dtype=object)
    if households is not None:
        hh = G @ households
        source[:] = "demand households"
    has = ~np.isnan(given_hh)
    out["households"] = np.where(has, given_hh, hh)
    out["households_source"] = np.where(has, "given", source)
    out["staff"] = info["staff"].to_numpy(float)
    out["urban"] = info["urban"].to_numpy(bool)
    return out


def units_from_osm(
    pbf_path: str | os.PathLike, admin_level: int | str, *, within: str | None = None
) -> gpd.GeoDataFrame:
    """Administrative boundaries of one ``admin_level`` from an OSM extract, as unit polygons.

    Parameters
    ----------
    pbf_path : str or os.PathLike
        An ``.osm.pbf`` extract.
    admin_level : int or str
        The OSM ``admin_level`` of the units (e.g. 8 for municipalities in many
        countries; in China 6 = district, 8 = sub-district, 9/10 = community).
    within : str, optional
        Keep only units whose interior point lies in the boundary of that name (an
        extract often holds a neighbour's boundaries too).

    Returns
    -------
    geopandas.GeoDataFrame
        ``name``, ``admin_level``, ``osm_id`` and polygons in WGS84 (EPSG:4326).

    Raises
    ------
    DataError
        A missing or damaged extract, no boundary named ``within``, or none at
        ``admin_level`` (the message lists the levels present).
    """
    from ..io._osm import open_osm, quiet_read

    osm = open_osm(pbf_path, None, "OSM boundaries")
    b = quiet_read(osm.get_boundaries, str(pbf_path), boundary_type="administrative")
    if b is None or len(b) == 0:
        msg = f"{pbf_path}: no administrative boundaries in the extract."
        raise DataError(msg)
    b = b[b.geometry.notna()].to_crs(WGS84)
    levels = b["admin_level"].astype(str)
    units = b[levels == str(admin_level)]
    if within is not None:
        parent = b[b["name"] == within]
        if parent.empty:
            names = ", ".join(sorted(b["name"].dropna().astype(str).unique())[:20])
            msg = f"{pbf_path}: no boundary named {within!r} for within=; boundaries: {names}."
            raise DataError(msg)
        inside = units.geometry.representative_point().within(parent.geometry.union_all())
        units = units[inside.to_numpy()]
    if units.empty:
        msg = (
            f"{pbf_path}: no boundaries at admin_level {admin_level}"
            + (f" within {within!r}" if within else "")
            + f"; levels present: {', '.join(sorted(set(levels)))}."
        )
        raise DataError(msg)
    geoms = shapely.make_valid(np.asarray(units.geometry.values))
    return gpd.GeoDataFrame(
        {
            "name": units["name"].astype(str).to_numpy(),
            "admin_level": units["admin_level"].astype(str).to_numpy(),
            "osm_id": units["id"].to_numpy(),
        },
        geometry=geoms,
        crs=WGS84,
    ).reset_index(drop=True)
