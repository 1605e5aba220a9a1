"""Load planning districts (区 / 街道 / neighbourhood polygons) as WGS84 polygons."""

from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import DataError
from ..validation import reject_rows
from ._tables import (
    NAME_COLUMNS,
    POLYGONAL,
    PathLike,
    Source,
    check_geometries,
    existing_path,
    find_column,
    read_vector,
    set_source_crs,
)
from .datum import DATUM_LABELS, convert_datum, normalize_datum

log = logging.getLogger(__name__)


def read_districts(
    path: PathLike | gpd.GeoDataFrame,
    name: str | None = None,
    datum: str = "wgs84",
    layer: str | int | None = None,
    crs: Any = None,
) -> gpd.GeoDataFrame:
    """Read district polygons and return them in WGS84 (EPSG:4326) with a ``name``.

    Parameters
    ----------
    path
        GeoJSON, GeoPackage, Shapefile (any format pyogrio reads) or GeoParquet file;
        an existing GeoDataFrame is accepted too.
    name
        Column holding the district name. If None: the first of ``name``, ``名称``,
        ``NAME``, ``district``, ``街道``, ``区`` present (any case), else the first text
        column with unique values, else ``"district 1" .. "district n"``.
    datum
        The datum the coordinates are really in: ``"wgs84"`` (default), ``"gcj02"``
        (Amap/Gaode, Tencent: the file may *say* EPSG:4326), ``"bd09"`` (Baidu) or
        ``"cgcs2000"``. The assumption is logged and stored in ``attrs["datum"]``.
    layer
        Layer of a multi-layer file (GeoPackage).
    crs
        CRS of the coordinates when the file has none (or to override a wrong one).
        Without it, a file lacking a CRS is read as EPSG:4326 if its coordinates fit
        longitude/latitude ranges (with a logged warning).

    Returns
    -------
    geopandas.GeoDataFrame
        (Multi)Polygons in EPSG:4326: a string ``name`` column first, then the original
        columns (an unrelated original ``name`` column is kept as ``name_original``).
        Invalid polygons are repaired with ``shapely.make_valid``.

    Raises
    ------
    DataError
        Missing or unreadable file, no features, a row without geometry or with a
        non-polygon geometry.
    CRSError
        Unknown datum; no CRS and coordinates that are not degrees.
    MissingColumnError
        ``name`` names a column that does not exist.
    """
    key = normalize_datum(datum)
    if isinstance(path, gpd.GeoDataFrame):
        source = Source("districts GeoDataFrame")
        gdf = path.copy()
    else:
        p = existing_path(path, "districts")
        source = Source(str(p))
        gdf = read_vector(p, layer)
    if len(gdf) == 0:
        msg = (
            f"{source.name}: no districts in the file (0 features"
            f"{f' in layer {layer!r}' if layer is not None else ''}). Check the file and layer."
        )
        raise DataError(msg)
    gdf = set_source_crs(gdf, crs, source)
    check_geometries(gdf, POLYGONAL, source, "district")
    gdf = convert_datum(gdf, key)
    log.info(
        "%s: %d districts read; coordinates taken as %s%s",
        source.name,
        len(gdf),
        DATUM_LABELS[key],
        "" if key == "wgs84" else " and converted to WGS-84",
    )
    gdf = _repair(gdf, source)
    gdf = _with_name(gdf, name, source)
    gdf.attrs["datum"] = key
    gdf.attrs["source"] = source.name
    return gdf.reset_index(drop=True)


def _repair(gdf: gpd.GeoDataFrame, source: Source) -> gpd.GeoDataFrame:
    """Repair invalid polygons with ``shapely.make_valid`` (polygonal parts kept)."""
    geoms = np.asarray(gdf.geometry.values)
    invalid = ~shapely.is_valid(geoms)
    if not invalid.any():
        return gdf
    rows = np.flatnonzero(invalid)
    log.warning(
        "%s: %d invalid polygon(s) repaired with shapely.make_valid (first: %s: %s)",
        source.name,
        rows.size,
        source.row(int(rows[0])),
        shapely.is_valid_reason(geoms[rows[0]]),
    )
    geoms = geoms.copy()
    geoms[invalid] = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
    gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    collapsed = shapely.is_empty(geoms) | ~np.isin(gdf.geom_type.to_numpy(), list(POLYGONAL))
    reject_rows(
        collapsed,
        DataError,
        lambda i: (
            f"{source.name}: {source.row(i)}: the polygon is invalid and has no area left "
            "after repair. Fix or drop it."
        ),
    )
    return gdf


def _name_column(gdf: gpd.GeoDataFrame, name: str | None, source: Source) -> str | None:
    """The column to use as the district name, or None for generated names."""
    col = find_column(
        gdf.columns,
        name,
        NAME_COLUMNS,
        source=source,
        field="district name",
        param="name",
        required=False,
    )
    if col is not None:
        return col
    for c in gdf.columns:
        s = gdf[c]
        if c == gdf.geometry.name or not (
            pd.api.types.is_string_dtype(s) or pd.api.types.is_object_dtype(s)
        ):
            continue
        if s.notna().all() and s.is_unique:
            log.info("%s: using column %r as district name", source.name, c)
            return str(c)
    return None


def _with_name(gdf: gpd.GeoDataFrame, name: str | None, source: Source) -> gpd.GeoDataFrame:
    """Add a string ``name`` column (first) from the chosen or generated names."""
    n = len(gdf)
    generated = pd.Series([f"district {i}" for i in range(1, n + 1)], index=gdf.index)
    col = _name_column(gdf, name, source)
    if col is None:
        log.warning(
            "%s: no name column found; districts named 'district 1'..'district %d'. "
            "Pass name= to choose a column.",
            source.name,
            n,
        )
        values = generated
    else:
        values = gdf[col].astype("string").str.strip()
        missing = values.isna() | (values == "")
        if missing.any():
            log.warning(
                "%s: %d district(s) have no %r; named 'district <row+1>'",
                source.name,
                int(missing.sum()),
                col,
            )
            values = values.mask(missing, generated)
    values = values.astype(str)
    if not values.is_unique:
        dup = values[values.duplicated()].unique()[:5]
        log.warning(
            "%s: district names are not unique (%s); statistics by district will merge them",
            source.name,
            ", ".join(dup),
        )
    out = gdf.copy()
    if "name" in out.columns and col != "name":
        out = out.rename(columns={"name": "name_original"})
    out["name"] = values
    cols = ["name", *[c for c in out.columns if c != "name"]]
    return out[cols]
