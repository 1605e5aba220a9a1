"""Demand: population points (persons) from rasters, tables, vectors or buildings.

Every loader returns a GeoDataFrame of points in WGS84 (EPSG:4326) with a float
``population`` column (persons) and, when districts are given, a ``district`` column.
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..crs import WGS84, to_metric
from ..errors import CRSError, DataError, MissingColumnError, ParameterError
from ._osm import BBox, open_osm, quiet_read
from ._tables import (
    POPULATION_COLUMNS,
    TEXT_SUFFIXES,
    PathLike,
    Source,
    assign_districts,
    existing_path,
    find_column,
    load_districts,
    numeric_values,
    points_from_table,
    read_text_table,
    read_vector,
    rename_column,
    set_source_crs,
    to_points,
    to_wgs84,
)
from .datum import normalize_datum

log = logging.getLogger(__name__)

#: File suffixes read as population rasters (persons per cell, e.g. WorldPop).
RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img")

#: Building types counted as homes, with the share of their floor area that is
#: residential. ``yes`` (untagged) counts fully: most untagged buildings are homes,
#: and tiny sheds/garages are removed by the footprint threshold. Pass
#: ``residential_types={"yes": 0.5, ...}`` to weight them down.
RESIDENTIAL_TYPES: dict[str, float] = {
    "yes": 1.0,
    "residential": 1.0,
    "apartments": 1.0,
    "house": 1.0,
    "detached": 1.0,
    "semidetached_house": 1.0,
    "terrace": 1.0,
    "bungalow": 1.0,
    "dormitory": 1.0,
    "farm": 1.0,
    "static_caravan": 1.0,
}
#: Levels assumed when a residential building has neither ``building:levels`` nor
#: ``height``; types not listed get :data:`FALLBACK_LEVELS`.
DEFAULT_LEVELS: dict[str, float] = {
    "yes": 2.0,
    "residential": 3.0,
    "apartments": 4.0,
    "house": 2.0,
    "detached": 2.0,
    "semidetached_house": 2.0,
    "terrace": 2.0,
    "bungalow": 1.0,
    "dormitory": 4.0,
    "farm": 2.0,
    "static_caravan": 1.0,
}
FALLBACK_LEVELS = 2.0
#: Types that never house residents (documentation; every type not in the residential
#: table gets 0 persons, these and any other).
NON_RESIDENTIAL_TYPES = (
    "garage",
    "garages",
    "carport",
    "shed",
    "hut",
    "roof",
    "commercial",
    "industrial",
    "retail",
    "office",
    "warehouse",
    "service",
    "school",
    "kindergarten",
    "university",
    "college",
    "hospital",
    "public",
    "civic",
    "government",
    "church",
    "chapel",
    "cathedral",
    "mosque",
    "temple",
    "religious",
    "farm_auxiliary",
    "barn",
    "stable",
    "cowshed",
    "greenhouse",
    "glasshouse",
    "hotel",
    "parking",
    "train_station",
    "transportation",
    "sports_hall",
    "stadium",
    "kiosk",
    "supermarket",
    "toilets",
    "construction",
    "ruins",
    "bunker",
    "transformer_tower",
    "water_tower",
    "tower",
)
#: Footprints smaller than this (m²) are sheds, kiosks or slivers: 0 persons.
MIN_FOOTPRINT_M2 = 20.0
#: Storey height used to turn ``height`` (m) into levels.
STOREY_HEIGHT_M = 3.0


# --------------------------------------------------------------------------- readers
def read_population(
    path: PathLike | gpd.GeoDataFrame,
    *,
    districts: PathLike | gpd.GeoDataFrame | None = None,
    column: str | None = None,
    x: str | None = None,
    y: str | None = None,
    crs: Any = None,
    datum: str = "wgs84",
    scale: float = 1.0,
    min_population: float = 0.0,
    nodata: float | None = None,
    sep: str | None = None,
    decimal: str | None = None,
) -> gpd.GeoDataFrame:
    """Read population (persons) as points in WGS84 (EPSG:4326).

    Parameters
    ----------
    path
        ``.tif/.tiff`` raster of persons per cell (WorldPop style; nodata, NaN, zero and
        negative cells and the data type's fill values (65535 in uint16, 3.4e38 in
        float32) dropped; each cell becomes its centre point; any CRS; read in strips,
        so a mostly empty country grid is fine);
        ``.csv/.txt`` table with x/y/population columns (UTF-8 or GBK); or a vector
        file (GeoPackage, GeoJSON, Shapefile, GeoParquet) or GeoDataFrame of points or
        polygons (polygons -> a representative point inside each, population kept).
    districts
        District polygons (GeoDataFrame from :func:`read_districts` or a path). Adds a
        ``district`` column, drops points outside every district (count logged) and,
        for rasters, reads only the window covering the districts.
    column
        Population field of a table or vector file; detected among ``population``,
        ``pop``, ``人口``, ``count``, ``value`` if None.
    x, y
        Coordinate columns of a table; detected among ``x/lon/lng/longitude/经度`` and
        ``y/lat/latitude/纬度`` if None.
    crs
        CRS of the coordinates. Tables default to EPSG:4326 (range-checked); files with
        a CRS use theirs unless this overrides it.
    datum
        ``"wgs84"``, ``"gcj02"``, ``"bd09"`` or ``"cgcs2000"``: the datum of
        longitude/latitude input, converted to WGS84.
    scale
        Factor applied to every value (e.g. 1.2 to turn adults 20+ into total
        population). Must be > 0.
    min_population
        Points with ``population <= min_population`` persons (after scaling) are
        dropped, so empty cells never become demand points.
    nodata
        Rasters only: a value marking cells without data, besides the file's own nodata
        value (for grids written without one, e.g. ``nodata=65535``).
    sep, decimal
        Text tables only: the delimiter and decimal mark; detected if None (``;`` with
        decimal commas is read right).

    Returns
    -------
    geopandas.GeoDataFrame
        Points in EPSG:4326: ``population`` (float, persons), ``district`` (if districts
        given), the other input columns (tables and vectors), ``geometry``.

    Raises
    ------
    DataError
        Missing/unreadable file, a non-numeric, missing or negative population (the
        message names the file, row and field), geometry that is not point/polygon,
        districts that do not overlap a raster, or a raster cell denser than 100,000
        persons per hectare (a fill value: pass ``nodata=``).
    MissingColumnError
        No population or coordinate column found.
    CRSError
        Coordinates that are not degrees and no ``crs``; unknown datum.
    ParameterError
        ``scale <= 0`` or ``min_population < 0``.
    """
    _check_positive("scale", scale, allow_zero=False)
    _check_positive("min_population", min_population, allow_zero=True)
    key = normalize_datum(datum)
    dist = load_districts(districts) if districts is not None else None
    if isinstance(path, gpd.GeoDataFrame):
        source = Source("population GeoDataFrame")
        pts = _vector_points(path.copy(), column, crs, source)
    else:
        p = existing_path(path, "population")
        pts, source = _read_file(
            p,
            dist,
            column=column,
            x=x,
            y=y,
            crs=crs,
            datum=key,
            nodata=nodata,
            text_format={"sep": sep, "decimal": decimal},
        )
    pts = to_wgs84(pts, key)
    pts["population"] = pts["population"].to_numpy(dtype=np.float64) * float(scale)
    n_read = len(pts)
    pts = pts.loc[pts["population"].to_numpy() > min_population].reset_index(drop=True)
    _check_some_population(pts, n_read, min_population, source)
    if dist is not None:
        pts = assign_districts(pts, dist, "population points", source.name)
    pts = _order_columns(pts)
    pts.attrs.update(datum=key, source=source.name, unit="persons")
    log.info(
        "%s: %d population points, %.0f persons in total",
        source.name,
        len(pts),
        float(pts["population"].sum()),
    )
    return pts


def _check_some_population(
    pts: gpd.GeoDataFrame, n_read: int, min_population: float, source: Source
) -> None:
    """Raise DataError when no point holds persons: the demand would be empty."""
    if len(pts):
        return
    if n_read == 0:
        msg = (
            f"{source.name}: no populated cell or point was read (every cell is nodata, 0 or a "
            "fill value, or the districts' window holds none). Check the file covers the "
            "study area and holds persons per cell."
        )
    else:
        msg = (
            f"{source.name}: all {n_read:,} points have a population of at most "
            f"{min_population:g} persons (min_population={min_population:g}), so the demand "
            "is empty. Check the population column (column=) and scale=."
        )
    raise DataError(msg)


def _check_positive(name: str, value: float, *, allow_zero: bool) -> None:
    ok = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        op = ">=" if allow_zero else ">"
        msg = f"{name}={value!r} is invalid; it must be a finite number {op} 0."
        raise ParameterError(msg)


def _read_file(
    p: Path,
    dist: gpd.GeoDataFrame | None,
    *,
    column: str | None,
    x: str | None,
    y: str | None,
    crs: Any,
    datum: str,
    nodata: float | None,
    text_format: dict[str, str | None],
) -> tuple[gpd.GeoDataFrame, Source]:
    """Dispatch on the file suffix: raster, text table or vector file."""
    suffix = p.suffix.lower()
    if suffix in RASTER_SUFFIXES:
        pad = 0.0 if datum in ("wgs84", "cgcs2000") else 0.02  # datum offset < 0.01°
        from ._raster import read_raster  # rasterio loads with the first raster read

        return read_raster(p, dist, crs, pad, nodata), Source(str(p))
    if nodata is not None:
        msg = f"nodata={nodata!r} applies to rasters only; {p} is read as a table or vector."
        raise ParameterError(msg)
    if suffix in TEXT_SUFFIXES:
        source = Source(str(p), first_line=2)
        df = read_text_table(p, **text_format)
        col = find_column(
            df.columns,
            column,
            POPULATION_COLUMNS,
            source=source,
            field="population",
            param="column",
        )
        values = numeric_values(df[col], source=source, field=col, unit="persons")
        df = rename_column(df, col, "population")
        df["population"] = values
        return points_from_table(df, x=x, y=y, crs=crs, source=source), source
    source = Source(str(p))
    return _vector_points(read_vector(p), column, crs, source), source


def _vector_points(
    gdf: gpd.GeoDataFrame, column: str | None, crs: Any, source: Source
) -> gpd.GeoDataFrame:
    """Points (polygons -> representative points) with a checked ``population``."""
    if len(gdf) == 0:
        msg = f"{source.name}: no features. Expected one point or polygon per population unit."
        raise DataError(msg)
    gdf = set_source_crs(gdf, crs, source)
    col = find_column(
        gdf.columns, column, POPULATION_COLUMNS, source=source, field="population", param="column"
    )
    values = numeric_values(gdf[col], source=source, field=col, unit="persons")
    gdf = rename_column(gdf, col, "population")
    gdf["population"] = values
    return to_points(gdf, source, "population unit")


def _order_columns(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    first = [c for c in ("population", "district") if c in gdf.columns]
    return gdf[first + [c for c in gdf.columns if c not in first]]


# --------------------------------------------------------------------- dasymetric
def read_buildings(pbf_path: PathLike, bbox: BBox | None = None) -> gpd.GeoDataFrame:
    """Read OSM building footprints from a PBF extract with pyrosm, in WGS84.

    Parameters
    ----------
    pbf_path
        ``.osm.pbf`` file.
    bbox
        ``[min_lon, min_lat, max_lon, max_lat]`` (degrees), a shapely polygon, or a
        GeoDataFrame whose bounds to use; None reads the whole file.

    Returns
    -------
    geopandas.GeoDataFrame
        Footprint polygons in EPSG:4326 with a ``building`` column and the OSM tags
        pyrosm provides (``building:levels``, ``height`` in metres, ...); empty (with
        ``building``) if none.

    Raises
    ------
    DataError
        A missing, empty or damaged ``.osm.pbf`` file.
    """
    osm = open_osm(pbf_path, bbox, "OSM buildings")
    gdf = quiet_read(osm.get_buildings, str(pbf_path))
    if gdf is None or len(gdf) == 0:
        where = " in the bbox" if bbox is not None else ""
        log.warning("%s: no buildings found%s", pbf_path, where)
        return gpd.GeoDataFrame({"building": pd.Series([], dtype=str)}, geometry=[], crs=WGS84)
    log.info("%s: %d building footprints read", pbf_path, len(gdf))
    return gdf.reset_index(drop=True)


def population_from_buildings(
    buildings: gpd.GeoDataFrame,
    *,
    total: float | None = None,
    m2_per_person: float = 35.0,
    levels_column: str = "building:levels",
    default_levels: float | Mapping[str, float] | None = None,
    residential_types: Mapping[str, float] | Iterable[str] | None = None,
    districts: PathLike | gpd.GeoDataFrame | None = None,
    crs: Any = None,
) -> gpd.GeoDataFrame:
    """Estimate population (persons) per building from footprints (dasymetric).

    ``persons = footprint area (m²) x levels x residential weight / m2_per_person``,
    with the footprint area measured in a metric CRS. Levels come from
    ``levels_column`` (first number, 1-200), else ``height`` / 3 m (rounded, >= 1),
    else a default per type (:data:`DEFAULT_LEVELS`: house 2, apartments 4,
    residential 3, yes 2, ...). Only types in ``residential_types`` house people
    (default :data:`RESIDENTIAL_TYPES`, including ``yes``, i.e. untagged buildings,
    with weight 1); garages, shops, schools, churches etc. get 0, as do footprints
    under 20 m². Tags other than ``building``, the levels column and ``height`` are
    not used.

    Parameters
    ----------
    buildings
        Footprints with a ``building`` column (e.g. :func:`read_buildings`) and a CRS.
    total
        If given, persons are scaled so their sum equals ``total`` exactly (within
        ``districts`` if those are given), e.g. the official population.
    m2_per_person
        Residential floor area per person, m² (> 0). 35 m² is a typical urban figure.
    levels_column
        Column with the number of storeys.
    default_levels
        Levels for buildings without levels or height: a number for every type, or a
        mapping updating :data:`DEFAULT_LEVELS`.
    residential_types
        Types that house people: a mapping type -> weight (share of the floor area that
        is residential, 0-1) or an iterable of types (weight 1). Replaces the default.
    districts
        District polygons: adds ``district`` and drops buildings outside them.
    crs
        Projected CRS (metres) for areas; default the UTM zone of the data.

    Returns
    -------
    geopandas.GeoDataFrame
        Points (a representative point of each footprint) in EPSG:4326 with
        ``population`` (persons), ``floor_area_m2`` (residential floor area, m²),
        ``levels``, ``building`` (and ``district``); buildings with 0 persons are
        dropped.

    Raises
    ------
    DataError
        Not a GeoDataFrame of footprints, no footprints, or none that houses anyone.
    CRSError
        Footprints without a CRS.
    MissingColumnError
        No ``building`` column.
    ParameterError
        ``m2_per_person``, ``total`` or a residential weight out of range.
    """
    gdf = _check_buildings(buildings)
    _check_positive("m2_per_person", m2_per_person, allow_zero=False)
    if total is not None:
        _check_positive("total", total, allow_zero=True)
    weights = _weights(residential_types)
    btype = gdf["building"].astype("string").str.strip().str.lower().fillna("yes")
    btype = btype.to_numpy(dtype=object, na_value="yes")
    area = shapely.area(np.asarray(to_metric(gdf, crs, what="buildings").geometry.values))
    area = np.nan_to_num(area, nan=0.0)
    weight = pd.Series(btype).map(weights).fillna(0.0).to_numpy(dtype=np.float64)
    weight = np.where(area < MIN_FOOTPRINT_M2, 0.0, weight)
    levels = _levels(gdf, btype, levels_column, default_levels)
    floor = area * levels * weight
    people = floor / float(m2_per_person)
    _log_types(btype, weight, area)
    keep = people > 0
    if not keep.any():
        msg = (
            f"buildings: none of the {len(gdf):,} footprints houses anyone (types: "
            f"{_top_types(btype)}; residential types: {', '.join(sorted(weights)) or 'none'}; "
            f"footprints under {MIN_FOOTPRINT_M2:.0f} m² count as 0). Pass residential_types= "
            "with the building types that hold homes."
        )
        raise DataError(msg)
    geoms = shapely.point_on_surface(np.asarray(gdf.geometry.values)[keep])
    out = gpd.GeoDataFrame(
        {
            "population": people[keep],
            "floor_area_m2": floor[keep],
            "levels": levels[keep],
            "building": btype[keep].astype(str),
        },
        geometry=gpd.GeoSeries(geoms, crs=gdf.crs).to_crs(WGS84).values,
        crs=WGS84,
    )
    for col in ("id", "osm_id", "osm_type"):
        if col in gdf.columns:
            out.insert(len(out.columns) - 1, col, gdf[col].to_numpy()[keep])
    if districts is not None:
        out = assign_districts(out, load_districts(districts), "buildings", "buildings")
    out = _scale_to_total(out, total)
    out = _order_columns(out)
    out.attrs.update(unit="persons", m2_per_person=float(m2_per_person), source="buildings")
    return out


def _check_buildings(buildings: Any) -> gpd.GeoDataFrame:
    """The buildings as a GeoDataFrame with geometry, a CRS and a ``building`` column."""
    try:
        has_geometry = isinstance(buildings, gpd.GeoDataFrame) and buildings.geometry is not None
    except AttributeError:  # a GeoDataFrame whose geometry column was dropped
        has_geometry = False
    if not has_geometry:
        msg = (
            "buildings: expected a GeoDataFrame of footprint polygons with an active geometry "
            f"column, got {type(buildings).__name__}. Read them with read_buildings(pbf) "
            "or geopandas.read_file()."
        )
        raise DataError(msg)
    if buildings.crs is None:
        msg = (
            "buildings: the GeoDataFrame has no CRS, so footprint areas cannot be measured. "
            "Set it, e.g. buildings.set_crs('EPSG:4326')."
        )
        raise CRSError(msg)
    if len(buildings) == 0:
        msg = "buildings: the GeoDataFrame is empty; there are no footprints to estimate from."
        raise DataError(msg)
    if "building" not in buildings.columns:
        msg = (
            "buildings: no 'building' column (the OSM building type: house, apartments, "
            "yes, ...). Add one; use 'yes' where the type is unknown."
        )
        raise MissingColumnError(msg)
    return buildings.reset_index(drop=True)


def _weights(residential_types: Mapping[str, float] | Iterable[str] | None) -> dict[str, float]:
    """Residential weight per lower-case building type."""
    if residential_types is None:
        return dict(RESIDENTIAL_TYPES)
    if isinstance(residential_types, str):
        residential_types = [residential_types]
    if isinstance(residential_types, Mapping):
        weights = {str(k).lower(): float(v) for k, v in residential_types.items()}
    else:
        weights = {str(k).lower(): 1.0 for k in residential_types}
    bad = {k: v for k, v in weights.items() if not (math.isfinite(v) and v >= 0)}
    if bad:
        msg = f"residential_types: weights {bad} are invalid; use shares between 0 and 1."
        raise ParameterError(msg)
    return weights


def _number(values: pd.Series) -> np.ndarray:
    """First number in each value ('3', '3;4', '12 m', '2,5' -> 3, 3, 12, 2.5), else NaN."""
    txt = values.astype("string").str.replace(",", ".", regex=False)
    num = txt.str.extract(r"(\d+(?:\.\d+)?)", expand=False)
    return pd.to_numeric(num, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _levels(
    gdf: gpd.GeoDataFrame,
    btype: np.ndarray,
    levels_column: str,
    default_levels: float | Mapping[str, float] | None,
) -> np.ndarray:
    """Storeys per building: tagged levels, else height / 3 m, else the type default."""
    n = len(gdf)
    levels = _number(gdf[levels_column]) if levels_column in gdf.columns else np.full(n, np.nan)
    levels = np.where((levels < 1) | (levels > 200), np.nan, levels)
    if "height" in gdf.columns:
        height = _number(gdf["height"])
        height = np.where((height < 2) | (height > 1000), np.nan, height)
        from_height = np.maximum(1.0, np.round(height / STOREY_HEIGHT_M))
        levels = np.where(np.isnan(levels), from_height, levels)
    if isinstance(default_levels, numbers.Real):
        _check_positive("default_levels", default_levels, allow_zero=False)
        fallback = np.full(n, float(default_levels))
    else:
        table = {
            **DEFAULT_LEVELS,
            **{str(k).lower(): float(v) for k, v in (default_levels or {}).items()},
        }
        fallback = pd.Series(btype).map(table).fillna(FALLBACK_LEVELS).to_numpy(np.float64)
    return np.where(np.isnan(levels), fallback, levels)


def _top_types(btype: np.ndarray) -> str:
    counts = pd.Series(btype).value_counts().head(5)
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


def _log_types(btype: np.ndarray, weight: np.ndarray, area: np.ndarray) -> None:
    """Log how many footprints were counted and which types were ignored."""
    res = weight > 0
    ignored = pd.Series(btype[(~res) & (area >= MIN_FOOTPRINT_M2)]).value_counts().head(8)
    log.info(
        "Dasymetric estimate: %d of %d footprints residential; %d too small (< %.0f m²); "
        "non-residential types ignored: %s",
        int(res.sum()),
        btype.size,
        int((area < MIN_FOOTPRINT_M2).sum()),
        MIN_FOOTPRINT_M2,
        ", ".join(f"{k} {v}" for k, v in ignored.items()) or "none",
    )


def _scale_to_total(out: gpd.GeoDataFrame, total: float | None) -> gpd.GeoDataFrame:
    """Scale ``population`` so it sums to ``total`` (no-op when None)."""
    if total is None:
        return out
    current = float(out["population"].sum())
    if current <= 0:
        if total == 0:
            return out
        msg = (
            f"Cannot scale to total={total}: no residential building was found (0 floor area). "
            "Check the 'building' types and residential_types."
        )
        raise DataError(msg)
    factor = float(total) / current
    out["population"] = out["population"].to_numpy() * factor
    log.info("Population scaled by %.4f to the total of %.0f persons", factor, total)
    return out
