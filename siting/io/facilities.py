"""Sites: existing facilities and candidate locations as WGS84 points.

Columns are normalised: ``name`` (str), ``existing`` (bool) and, when known,
``capacity`` (persons or households), ``floor_area_m2`` (m²) and ``cost`` (>= 0).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from os import PathLike as OsPathLike
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._docstrings import shared_doc
from ..crs import WGS84
from ..errors import DataError, ParameterError
from ..validation import reject_rows
from ._duplicates import warn_duplicates
from ._osm import BBox, open_osm, quiet_read
from ._tables import (
    TEXT_SUFFIXES,
    PathLike,
    Source,
    existing_path,
    find_column,
    numeric_values,
    points_from_table,
    read_text_table,
    read_vector,
    rename_column,
    set_source_crs,
    show_value,
    to_points,
    to_wgs84,
)
from .datum import normalize_datum

log = logging.getLogger(__name__)

#: Column names recognised as a facility name, in order of preference.
FACILITY_NAME_COLUMNS = ("name", "名称", "NAME", "title", "facility", "设施名称")
#: Optional numeric fields: output column -> (recognised source columns, unit).
NUMERIC_FIELDS: dict[str, tuple[tuple[str, ...], str]] = {
    "capacity": (("capacity", "容量"), "persons or households"),
    "floor_area_m2": (("floor_area_m2", "floor_area", "area_m2", "面积", "建筑面积"), "m²"),
    "cost": (("cost", "费用", "成本", "造价"), "(cost units)"),
}
_TRUE = {"true", "t", "1", "1.0", "yes", "y", "existing", "是", "现状", "已建"}
_FALSE = {"false", "f", "0", "0.0", "no", "n", "candidate", "new", "否", "规划", "新建"}
#: Amenity values read by :func:`facilities_from_osm` by default.
DEFAULT_AMENITIES = ("community_centre", "library", "clinic", "kindergarten", "social_facility")

Field = str | float | None


@shared_doc
def read_facilities(
    path_or_gdf: PathLike | gpd.GeoDataFrame | pd.DataFrame,
    *,
    x: str | None = None,
    y: str | None = None,
    crs: Any = None,
    datum: str = "wgs84",
    name: str | None = None,
    existing: bool | str | None = None,
    capacity: Field = None,
    floor_area_m2: Field = None,
    cost: Field = None,
    encoding: str | None = None,
    sep: str | None = None,
    decimal: str | None = None,
) -> gpd.GeoDataFrame:
    """Read facilities (existing by default) as points in WGS84 (EPSG:4326).

    Parameters
    ----------
    path_or_gdf
        CSV/TXT table with x/y columns (UTF-8 or GBK/GB18030, detected), any vector
        file pyogrio reads or GeoParquet, or a (Geo)DataFrame. Polygons (e.g.
        building outlines) become a representative point inside each.
    x, y
        Coordinate columns of a table; detected among ``x/lon/lng/longitude/经度`` and
        ``y/lat/latitude/纬度`` if None.
    crs
        CRS of the coordinates; tables default to EPSG:4326 (range-checked).
    datum
        ``"wgs84"``, ``"gcj02"`` (Amap/Tencent), ``"bd09"`` (Baidu) or ``"cgcs2000"``.
    name
        Name column; detected among ``name``, ``名称``, ``NAME``, ``title``, ...
        Missing names become ``"facility <row+1>"``.
    existing
        True/False for every row, or a column of yes/no values (true/false, 1/0,
        是/否, ...). None: an ``existing`` column if present, else True.
    capacity, floor_area_m2, cost
        A column name, or a number for every row. None: the column of that name (or a
        known alias such as ``容量``, ``面积``, ``费用``) if present. Values must be
        numbers >= 0; empty cells become NaN (unknown).
    encoding
        Text encoding of a table; detected if None.
    sep, decimal
        Delimiter and decimal mark of a table; detected if None (``;`` with decimal
        commas is read right).

    Returns
    -------
    geopandas.GeoDataFrame
        Points in EPSG:4326: ``name``, ``existing``, the numeric fields found
        (``capacity`` persons, ``floor_area_m2`` m², ``cost``), the other input columns
        (x/y columns dropped), ``geometry``.

    %(sites_raises)s
    """
    # every argument, by name, as pandas' read_csv passes its own (locals() here holds
    # exactly the parameters)
    return _read_sites(candidates=False, **locals())


@shared_doc
def read_candidates(
    path_or_gdf: PathLike | gpd.GeoDataFrame | pd.DataFrame,
    *,
    x: str | None = None,
    y: str | None = None,
    crs: Any = None,
    datum: str = "wgs84",
    name: str | None = None,
    capacity: Field = None,
    floor_area_m2: Field = None,
    cost: Field = None,
    encoding: str | None = None,
    sep: str | None = None,
    decimal: str | None = None,
) -> gpd.GeoDataFrame:
    """Read candidate sites: :func:`read_facilities` with ``existing=False``.

    Candidates are where new facilities may go: vacant plots, buildings that could be
    converted, or network nodes (:func:`siting.candidate_sites`).

    Parameters
    ----------
    path_or_gdf, x, y, crs, datum
        The file or table and its coordinates, as for :func:`read_facilities`: a CSV/TXT
        table with x/y columns, a vector file or a (Geo)DataFrame; ``datum`` ``"wgs84"``,
        ``"gcj02"``, ``"bd09"`` or ``"cgcs2000"``.
    name, capacity, floor_area_m2, cost
        Columns (or, except ``name``, one number for every row), as for
        :func:`read_facilities`: ``capacity`` in persons, ``floor_area_m2`` in m²,
        ``cost`` in the plan's cost unit (default 1 per site). Missing names become
        ``"candidate <row+1>"``.
    encoding, sep, decimal
        Text encoding, delimiter and decimal mark of a table; detected if None.

    Returns
    -------
    geopandas.GeoDataFrame
        Points in EPSG:4326 with ``name``, ``existing`` (False), the numeric fields
        found, the other input columns and ``geometry``.

    %(sites_raises)s
    """
    return _read_sites(candidates=True, existing=False, **locals())


def _read_sites(
    path_or_gdf: PathLike | gpd.GeoDataFrame | pd.DataFrame,
    *,
    candidates: bool,
    x: str | None,
    y: str | None,
    crs: Any,
    datum: str,
    name: str | None,
    existing: bool | str | None,
    encoding: str | None,
    sep: str | None,
    decimal: str | None,
    **fields: Field,
) -> gpd.GeoDataFrame:
    """Facilities (``candidates`` False) or candidate sites: the two readers' one body.

    ``fields`` holds the :data:`NUMERIC_FIELDS` arguments (``capacity``, ...). Candidates
    name rows ``candidate <row+1>``, default ``existing`` to False, and say "candidate"
    in the log and the duplicate warning.
    """
    key = normalize_datum(datum)
    text_format = {"encoding": encoding, "sep": sep, "decimal": decimal}
    gdf, source = _load(path_or_gdf, x=x, y=y, crs=crs, text_format=text_format)
    gdf = to_wgs84(to_points(gdf, source, "facility"), key)
    gdf = _with_names(gdf, name, source, "candidate" if candidates else "facility")
    gdf = _with_existing(gdf, existing, not candidates, source)
    for field in NUMERIC_FIELDS:
        gdf = _with_numeric(gdf, field, fields[field], source)
    if len(gdf) == 0:
        log.warning("%s: no facilities in the input", source.name)
    first = ["name", "existing", *[f for f in NUMERIC_FIELDS if f in gdf.columns]]
    gdf = gdf[first + [c for c in gdf.columns if c not in first]].reset_index(drop=True)
    warn_duplicates(gdf, source, "candidate sites" if candidates else "facilities")
    gdf.attrs.update(datum=key, source=source.name)
    log.info(
        "%s: %d %s sites read",
        source.name,
        len(gdf),
        "candidate" if candidates else "existing",
    )
    return gdf


def _load(
    obj: PathLike | gpd.GeoDataFrame | pd.DataFrame,
    *,
    x: str | None,
    y: str | None,
    crs: Any,
    text_format: dict[str, str | None],
) -> tuple[gpd.GeoDataFrame, Source]:
    """Geometry-bearing frame (not yet converted) and its source label."""
    if isinstance(obj, gpd.GeoDataFrame):
        source = Source("facilities GeoDataFrame")
        return set_source_crs(obj.copy(), crs, source), source
    if isinstance(obj, pd.DataFrame):
        source = Source("facilities DataFrame")
        return points_from_table(obj.copy(), x=x, y=y, crs=crs, source=source), source
    if not isinstance(obj, str | OsPathLike):
        msg = f"facilities: expected a file path or a (Geo)DataFrame, got {type(obj).__name__}."
        raise DataError(msg)
    p = existing_path(obj, "facilities")
    if p.suffix.lower() in TEXT_SUFFIXES:
        source = Source(str(p), first_line=2)
        df = read_text_table(p, **text_format)
        return points_from_table(df, x=x, y=y, crs=crs, source=source), source
    source = Source(str(p))
    return set_source_crs(read_vector(p), crs, source), source


def _with_names(
    gdf: gpd.GeoDataFrame, name: str | None, source: Source, prefix: str
) -> gpd.GeoDataFrame:
    """A string ``name`` column; missing names become ``'<prefix> <row+1>'``."""
    generated = pd.Series(
        [f"{prefix} {i}" for i in range(1, len(gdf) + 1)], index=gdf.index, dtype=str
    )
    col = find_column(
        gdf.columns,
        name,
        FACILITY_NAME_COLUMNS,
        source=source,
        field="facility name",
        param="name",
        required=False,
    )
    if col is None:
        values = generated
    else:
        values = gdf[col].astype("string").str.strip()
        values = values.mask(values.isna() | (values == ""), generated).astype(str)
        gdf = rename_column(gdf, col, "name")
    gdf = gdf.copy()
    gdf["name"] = values.astype(str)
    return gdf


def _with_existing(
    gdf: gpd.GeoDataFrame, existing: bool | str | None, default: bool, source: Source
) -> gpd.GeoDataFrame:
    """A boolean ``existing`` column from a constant or a yes/no column."""
    gdf = gdf.copy()
    if isinstance(existing, bool | np.bool_):
        gdf["existing"] = bool(existing)
        return gdf
    col = find_column(
        gdf.columns,
        existing,
        ("existing",),
        source=source,
        field="existing flag",
        param="existing",
        required=False,
    )
    if col is None:
        gdf["existing"] = default
        return gdf
    flags = _parse_bool(gdf[col], source, col)
    gdf = rename_column(gdf, col, "existing")
    gdf["existing"] = flags
    return gdf


def _parse_bool(values: pd.Series, source: Source, field: str) -> np.ndarray:
    """Parse yes/no values to bool; anything else is a DataError naming the row."""
    if pd.api.types.is_bool_dtype(values) and not values.isna().any():
        return values.to_numpy(dtype=bool)
    text = values.astype("string").str.strip().str.lower()
    is_true = text.isin(_TRUE).to_numpy(dtype=bool, na_value=False)
    is_false = text.isin(_FALSE).to_numpy(dtype=bool, na_value=False)
    reject_rows(
        ~(is_true | is_false),
        DataError,
        lambda i: (
            f"{source.name}: {source.row(i)}, field '{field}': value "
            f"{show_value(values.iloc[i])} is not a yes/no value; use true/false, 1/0, "
            "yes/no or 是/否."
        ),
    )
    return is_true


def _with_numeric(
    gdf: gpd.GeoDataFrame, field: str, arg: Field, source: Source
) -> gpd.GeoDataFrame:
    """Add the numeric ``field`` (>= 0, NaN = unknown) from a column or a constant."""
    aliases, unit = NUMERIC_FIELDS[field]
    gdf = gdf.copy()
    if isinstance(arg, int | float) and not isinstance(arg, bool):
        if not (math.isfinite(arg) and arg >= 0):
            msg = f"{field}={arg!r} is invalid; it must be a finite number >= 0 {unit}."
            raise ParameterError(msg)
        gdf[field] = float(arg)
        return gdf
    col = find_column(
        gdf.columns, arg, aliases, source=source, field=field, param=field, required=False
    )
    if col is None:
        return gdf
    values = numeric_values(gdf[col], source=source, field=col, unit=unit, allow_missing=True)
    gdf = rename_column(gdf, col, field)
    gdf[field] = values
    return gdf


# ------------------------------------------------------------------------------- OSM
def facilities_from_osm(
    pbf_path_or_osm: PathLike | Any,
    amenity: Sequence[str] | str = DEFAULT_AMENITIES,
    *,
    extra_tags: Mapping[str, Sequence[str] | str | bool] | None = None,
    bbox: BBox | None = None,
) -> gpd.GeoDataFrame:
    """Existing facilities from OpenStreetMap POIs (nodes, ways and relations).

    Parameters
    ----------
    pbf_path_or_osm
        An ``.osm.pbf`` path or a ``pyrosm.OSM`` object.
    amenity
        ``amenity=*`` values to keep (community centres, libraries, clinics,
        kindergartens and social facilities by default).
    extra_tags
        More OSM tags that also qualify a feature (OR-ed with ``amenity``), key ->
        values or True for any value, e.g. ``{"social_facility": ["nursing_home"],
        "leisure": True}``. These keys are kept as columns.
    bbox
        ``[min_lon, min_lat, max_lon, max_lat]`` degrees, a shapely polygon or a
        GeoDataFrame to read only part of a file (paths only).

    Returns
    -------
    geopandas.GeoDataFrame
        Points in EPSG:4326 (areas -> a representative point) with ``name`` (OSM name,
        else ``"<amenity> <osm_id>"``), ``amenity``, ``osm_id``, ``osm_type``,
        ``existing`` (True), the ``extra_tags`` keys and ``geometry``. Empty, with these
        columns, when nothing matches (logged).

    Raises
    ------
    DataError
        A missing, empty or damaged ``.osm.pbf`` file.
    ParameterError
        An empty ``amenity`` list with no ``extra_tags``, or a ``bbox`` with an object.
    """
    custom = _osm_filter(amenity, extra_tags)
    if isinstance(pbf_path_or_osm, str | OsPathLike):
        osm = open_osm(pbf_path_or_osm, bbox, "OSM facilities")
        source = str(pbf_path_or_osm)
    else:
        if bbox is not None:
            msg = (
                "bbox applies only when a file path is given; create the pyrosm.OSM object "
                "with bounding_box=... instead."
            )
            raise ParameterError(msg)
        osm = pbf_path_or_osm
        source = str(getattr(osm, "filepath", "OSM data"))
    pois = quiet_read(osm.get_pois, source, custom_filter=custom)
    extra = [k for k in custom if k != "amenity"]
    if pois is None or len(pois) == 0:
        log.warning("%s: no OSM features match %s", source, custom)
        return _empty_osm_frame(extra)
    out = _osm_points(pois, extra)
    warn_duplicates(out, Source(source), "OSM facilities", names=False)
    log.info(
        "%s: %d facilities from OSM (%s)",
        source,
        len(out),
        ", ".join(f"{k} {v}" for k, v in out["amenity"].value_counts().items()),
    )
    return out


def _osm_filter(
    amenity: Sequence[str] | str, extra_tags: Mapping[str, Sequence[str] | str | bool] | None
) -> dict[str, Any]:
    """pyrosm ``custom_filter`` from the amenity list and extra tags."""
    custom: dict[str, Any] = {}
    amenities = [amenity] if isinstance(amenity, str) else list(amenity or ())
    if amenities:
        custom["amenity"] = amenities
    for k, v in (extra_tags or {}).items():
        custom[str(k)] = True if v is True else ([v] if isinstance(v, str) else list(v))
    if not custom:
        msg = "facilities_from_osm: no amenity values and no extra_tags; nothing to read."
        raise ParameterError(msg)
    return custom


def _empty_osm_frame(extra: list[str]) -> gpd.GeoDataFrame:
    data: dict[str, Any] = {
        "name": pd.Series([], dtype=str),
        "amenity": pd.Series([], dtype=str),
        "osm_id": pd.Series([], dtype=np.int64),
        "osm_type": pd.Series([], dtype=str),
        "existing": pd.Series([], dtype=bool),
    }
    data.update({k: pd.Series([], dtype=object) for k in extra})
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)


def _outlines_with_a_node(
    geoms: np.ndarray, not_point: np.ndarray, pois: gpd.GeoDataFrame
) -> np.ndarray:
    """Mask of areas (building outlines) containing a node tagged with the same amenity.

    OSM often maps one facility twice: a node with the details and the building outline.
    The node is kept; the outline is dropped.
    """
    dup = np.zeros(len(geoms), dtype=bool)
    is_point = ~not_point
    if not (is_point.any() and not_point.any()) or "amenity" not in pois:
        return dup
    label = pois["amenity"].astype("string").fillna("").to_numpy(dtype=object)
    areas, points = np.flatnonzero(not_point), np.flatnonzero(is_point)
    tree = shapely.STRtree(geoms[points])
    a, b = tree.query(geoms[areas], predicate="contains")
    same = label[areas[a]] == label[points[b]]
    dup[areas[a[same]]] = True
    return dup


def _osm_points(pois: gpd.GeoDataFrame, extra: list[str]) -> gpd.GeoDataFrame:
    """Normalise pyrosm POIs to the facility columns, one point per feature."""
    geoms = np.asarray(pois.geometry.values)
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    pois, geoms = pois.loc[ok], geoms[ok]
    not_point = shapely.get_type_id(geoms) != shapely.GeometryType.POINT
    dup = _outlines_with_a_node(geoms, not_point, pois)
    if dup.any():
        log.info(
            "Dropped %d OSM outlines that contain a node of the same amenity "
            "(the same facility mapped twice).",
            int(dup.sum()),
        )
        pois, geoms, not_point = pois.loc[~dup], geoms[~dup], not_point[~dup]
    geoms = geoms.copy()
    geoms[not_point] = shapely.point_on_surface(geoms[not_point])
    n = len(pois)
    osm_id = pd.to_numeric(pois["id"], errors="coerce").to_numpy(dtype=np.int64)
    amen = (
        pois["amenity"].astype("string")
        if "amenity" in pois
        else pd.Series(pd.NA, index=pois.index, dtype="string")
    )
    label = amen.fillna(pd.Series(extra[0] if extra else "facility", index=pois.index))
    fallback = label.astype(str).to_numpy(dtype=object) + " " + osm_id.astype(str)
    names = (
        pois["name"].astype("string")
        if "name" in pois
        else pd.Series(pd.NA, index=pois.index, dtype="string")
    )
    names = names.str.strip()
    names = names.mask(names.isna() | (names == ""), pd.Series(fallback, index=pois.index))
    data: dict[str, Any] = {
        "name": names.astype(str).to_numpy(),
        "amenity": amen.to_numpy(dtype=object, na_value=None),
        "osm_id": osm_id,
        "osm_type": (
            pois["osm_type"].astype(str).to_numpy()
            if "osm_type" in pois
            else np.full(n, "", dtype=object)
        ),
        "existing": np.ones(n, dtype=bool),
    }
    for k in extra:
        data[k] = pois[k].to_numpy(dtype=object) if k in pois else np.full(n, None, dtype=object)
    crs = pois.crs or WGS84
    points = gpd.GeoSeries(geoms, crs=crs).to_crs(WGS84).values
    return gpd.GeoDataFrame(data, geometry=points, crs=WGS84)
