"""Shared helpers of the loaders: paths, CSV decoding, column detection, value checks.

Private to :mod:`siting.io`; every helper raises the typed errors of
:mod:`siting.errors` with the file, row and field in the message.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from ..crs import WGS84, check_lonlat_range
from ..errors import CRSError, DataError, MissingColumnError
from ..validation import reject_rows
from .datum import convert_datum

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Encodings tried, in order, for text tables (Chinese exports are often GBK).
TEXT_ENCODINGS = ("utf-8-sig", "gbk", "gb18030")
#: Column names recognised (case-insensitively) for longitude / x.
X_COLUMNS = ("x", "lon", "lng", "long", "longitude", "经度")
#: Column names recognised for latitude / y.
Y_COLUMNS = ("y", "lat", "latitude", "纬度")
#: Column names recognised for a population count.
POPULATION_COLUMNS = ("population", "pop", "人口", "count", "value")
#: Column names recognised for a name, in order of preference.
NAME_COLUMNS = ("name", "名称", "NAME", "district", "街道", "区")
#: Suffixes read as delimited text.
TEXT_SUFFIXES = (".csv", ".txt", ".tsv")
#: Suffixes read as GeoParquet.
PARQUET_SUFFIXES = (".parquet", ".geoparquet")
POLYGONAL = ("Polygon", "MultiPolygon")
POINTLIKE = ("Point", "MultiPoint")


@dataclass(frozen=True)
class Source:
    """Where data came from, to name it in messages.

    ``first_line`` is the file line of data row 0 (2 for a CSV with one header line);
    ``None`` when rows have no line numbers (vector files, in-memory frames).
    """

    name: str
    first_line: int | None = None

    def row(self, i: int) -> str:
        """'row i' (0-based, as in pandas), with the file line for text files."""
        if self.first_line is None:
            return f"row {i}"
        return f"row {i} (line {i + self.first_line})"


def existing_path(path: PathLike, what: str) -> Path:
    """Return ``path`` as a Path, or raise DataError if no such file exists."""
    p = Path(path).expanduser()
    if not p.exists():
        if p.is_absolute():
            where = "."
        else:  # say where a relative path was looked for
            where = f"; the relative path was resolved from the working directory {Path.cwd()}."
        msg = f"{p}: file not found (reading {what}). Check the path and spelling{where}"
        raise DataError(msg)
    return p


def decode_text(path: Path, encoding: str | None = None) -> tuple[str, str]:
    """Read a text file as str, trying UTF-8 (with or without BOM), then GBK/GB18030.

    Returns the text and the encoding that worked.
    """
    raw = path.read_bytes()
    encodings = (encoding,) if encoding else TEXT_ENCODINGS
    for enc in encodings:
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError:
            continue
        except LookupError as err:
            msg = f"{path}: unknown text encoding {enc!r}. Use e.g. 'utf-8' or 'gbk'."
            raise DataError(msg) from err
    msg = (
        f"{path}: cannot decode the file as {' or '.join(encodings)}. Save it as UTF-8 "
        "or pass the right encoding (e.g. encoding='big5')."
    )
    raise DataError(msg)


def read_text_table(
    path: Path,
    encoding: str | None = None,
    *,
    sep: str | None = None,
    decimal: str | None = None,
) -> pd.DataFrame:
    """Read a CSV/TXT table with detected encoding, delimiter and decimal mark.

    The delimiter (``,``, ``;``, tab or ``|``) is the one that splits every sampled line
    into the same number (> 1) of fields; with ``;``/tab/``|`` delimiters, numbers
    written with decimal commas (``114,30``) are read as decimals. ``sep`` and
    ``decimal`` override the detection.
    """
    text, enc = decode_text(path, encoding)
    if not text.strip():
        msg = f"{path}: the file is empty. Expected a header line and one row per point."
        raise DataError(msg)
    found_sep, found_decimal = sniff_format(text)
    sep = sep or found_sep or ("," if path.suffix.lower() == ".csv" else None)
    decimal = decimal or (found_decimal if sep == found_sep else None) or "."
    kwargs: dict[str, Any] = {"sep": sep, "decimal": decimal}
    if sep is None:  # let Python's csv sniffer try
        kwargs = {"sep": None, "engine": "python"}
    try:
        df = pd.read_csv(io.StringIO(text), **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        msg = (
            f"{path}: cannot parse the table ({err}). Check the delimiter and quoting; pass "
            "sep= (e.g. sep=';') and decimal= (e.g. decimal=',') if they are unusual."
        )
        raise DataError(msg) from err
    df.columns = [str(c).strip() for c in df.columns]
    log.debug("Read %s (%d rows) as %s, sep=%r, decimal=%r", path, len(df), enc, sep, decimal)
    return df


#: delimiters tried, in order of preference on a tie
DELIMITERS = (",", ";", "\t", "|")
_DECIMAL_COMMA = re.compile(r"^\s*[+-]?\d+,\d+\s*$")
_DECIMAL_POINT = re.compile(r"^\s*[+-]?\d+\.\d+\s*$")


def sniff_format(text: str, sample_lines: int = 50) -> tuple[str | None, str | None]:
    """The delimiter and decimal mark of a delimited text (None when unclear).

    The delimiter splits every sampled line into the same number (> 1) of fields, the
    most fields winning. Decimal commas are reported for non-comma delimiters when some
    cells are numbers with a comma and none are numbers with a point.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()][:sample_lines]
    best, best_fields, best_rows = None, 1, []
    for delimiter in DELIMITERS:
        rows = list(csv.reader(lines, delimiter=delimiter))
        counts = {len(r) for r in rows}
        if len(counts) == 1 and (n := counts.pop()) > best_fields:
            best, best_fields, best_rows = delimiter, n, rows
    if best is None or best == ",":
        return best, None
    cells = [c for r in best_rows[1:] for c in r]
    comma = any(_DECIMAL_COMMA.match(c) for c in cells)
    point = any(_DECIMAL_POINT.match(c) for c in cells)
    return best, ("," if comma and not point else None)


def read_vector(path: Path, layer: str | int | None = None) -> gpd.GeoDataFrame:
    """Read a vector file (GeoPackage, GeoJSON, Shapefile, ... via pyogrio; GeoParquet)."""
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            return gpd.read_parquet(path)
        return gpd.read_file(path, layer=layer, engine="pyogrio")
    except (RuntimeError, ValueError, OSError, ImportError) as err:
        msg = (
            f"{path}: cannot read the file as vector data ({type(err).__name__}: {err}). "
            "Use a GeoPackage, GeoJSON, Shapefile or GeoParquet file"
            + (", and check the layer name." if layer is not None else ".")
        )
        raise DataError(msg) from err


def find_column(
    columns: Iterable[Any],
    requested: str | None,
    candidates: Sequence[str],
    *,
    source: Source,
    field: str,
    param: str,
    required: bool = True,
) -> str | None:
    """The column to use for ``field``: ``requested`` if given, else the first candidate
    present (case-insensitive, ignoring surrounding spaces).

    Raises MissingColumnError naming the file, the field, the candidates tried and the
    columns present, and the parameter to pass.
    """
    cols = [str(c) for c in columns if str(c) != "geometry"]
    if requested is not None:
        if requested in cols:
            return requested
        msg = (
            f"{source.name}: no column {requested!r} for the {field}. Columns present: "
            f"{', '.join(map(repr, cols)) or 'none'}. Pass {param}= with one of them."
        )
        raise MissingColumnError(msg)
    lower = {c.strip().lower(): c for c in reversed(cols)}
    for cand in candidates:
        if cand.lower() in lower:
            return lower[cand.lower()]
    if not required:
        return None
    msg = (
        f"{source.name}: cannot find the {field} column; looked for "
        f"{', '.join(map(repr, candidates))}. Columns present: "
        f"{', '.join(map(repr, cols)) or 'none'}. "
    )
    glued = next((d for d in (";", "\t", "|") for c in cols if d in c), None)
    if glued is not None:
        msg += (
            f"The header looks separated by {glued!r}, not commas: pass sep={glued!r} (and "
            "decimal=',' if numbers use decimal commas)."
        )
    else:
        msg += f"Pass {param}='<column>' to name it."
    raise MissingColumnError(msg)


def show_value(value: Any) -> str:
    """A cell value for a message: strings quoted, numbers plain (no ``np.int64(...)``)."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def numeric_values(
    values: pd.Series,
    *,
    source: Source,
    field: str,
    unit: str = "",
    allow_missing: bool = False,
    nonnegative: bool = True,
) -> np.ndarray:
    """Parse a column as float64, raising DataError at the first bad row.

    Non-numbers, infinities, (unless ``allow_missing``) empty cells and (if
    ``nonnegative``) negative values are errors naming the row and field.
    """
    num = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    raw_missing = values.isna().to_numpy()
    checks = [
        (
            np.isnan(num) & ~raw_missing,
            "is not a number",
            "write a plain number (no units or thousands separators)",
        ),
        (np.isinf(num), "is infinite", "write a finite number"),
    ]
    if not allow_missing:
        checks.append((raw_missing, "is missing", "fill it in (0 if none) or drop the row"))
    if nonnegative:
        checks.append((num < 0, "is negative", f"{field} must be >= 0{' ' + unit if unit else ''}"))
    for bad, what, fix in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            shown = "empty" if raw_missing[i] else show_value(values.iloc[i])
            if isinstance(values.iloc[i], str) and _DECIMAL_COMMA.match(values.iloc[i]):
                fix = "it has a decimal comma: pass decimal=',' (and sep= if needed)"
            msg = f"{source.name}: {source.row(i)}, field '{field}': value {shown} {what}; {fix}."
            raise DataError(msg)
    return num


def set_source_crs(gdf: gpd.GeoDataFrame, crs: Any, source: Source) -> gpd.GeoDataFrame:
    """Give ``gdf`` its CRS: ``crs`` if passed (overrides the file's), else the file's;
    with neither, EPSG:4326 if the coordinates fit longitude/latitude ranges (logged
    as a warning), else CRSError asking for ``crs=``."""
    if crs is not None:
        target = pyproj.CRS.from_user_input(crs)
        if gdf.crs is not None and pyproj.CRS.from_user_input(gdf.crs) != target:
            log.warning(
                "%s: file CRS %s overridden by crs=%s", source.name, gdf.crs, target.to_string()
            )
        return check_degrees(gdf.set_crs(target, allow_override=True), source, "crs=")
    if gdf.crs is not None:
        return check_degrees(gdf, source, "the file")
    xmin, ymin, xmax, ymax = gdf.total_bounds if len(gdf) else (0.0, 0.0, 0.0, 0.0)
    if np.all(np.isfinite([xmin, ymin, xmax, ymax])) and (
        xmin >= -180 and xmax <= 180 and ymin >= -90 and ymax <= 90
    ):
        log.warning(
            "%s: no CRS in the file; coordinates fit longitude/latitude, so EPSG:4326 is "
            "assumed. Pass crs= to state it.",
            source.name,
        )
        return gdf.set_crs(WGS84)
    msg = (
        f"{source.name}: the file has no CRS and its coordinates (x {xmin:.6g}..{xmax:.6g}, "
        f"y {ymin:.6g}..{ymax:.6g}) are not longitude/latitude degrees. Pass crs= with the "
        "projected CRS they are in (e.g. crs='EPSG:32650')."
    )
    raise CRSError(msg)


def check_degrees(gdf: gpd.GeoDataFrame, source: Source, said_by: str) -> gpd.GeoDataFrame:
    """Raise CRSError if a geographic CRS labels coordinates that are not degrees."""
    if len(gdf) == 0 or not pyproj.CRS.from_user_input(gdf.crs).is_geographic:
        return gdf
    xmin, ymin, xmax, ymax = gdf.total_bounds
    if xmin >= -180 and xmax <= 180 and ymin >= -90 and ymax <= 90:
        return gdf
    msg = (
        f"{source.name}: {said_by} says {gdf.crs.to_string()} (longitude/latitude degrees), but "
        f"the coordinates (x {xmin:.6g}..{xmax:.6g}, y {ymin:.6g}..{ymax:.6g}) are not "
        "degrees: they look like metres. Pass crs= with the projected CRS they are in "
        "(e.g. crs='EPSG:32650')."
    )
    raise CRSError(msg)


def points_from_table(
    df: pd.DataFrame,
    *,
    x: str | None,
    y: str | None,
    crs: Any,
    source: Source,
) -> gpd.GeoDataFrame:
    """Points from x/y columns (detected if not named); the x/y columns are dropped.

    ``crs`` defaults to EPSG:4326; geographic coordinates are range-checked.
    """
    xcol = find_column(df.columns, x, X_COLUMNS, source=source, field="x (longitude)", param="x")
    ycol = find_column(df.columns, y, Y_COLUMNS, source=source, field="y (latitude)", param="y")
    xs = numeric_values(df[xcol], source=source, field=xcol, nonnegative=False)
    ys = numeric_values(df[ycol], source=source, field=ycol, nonnegative=False)
    target = pyproj.CRS.from_user_input(crs) if crs is not None else WGS84
    if target.is_geographic:
        check_lonlat_range(xs, ys, source.name)
    rest = df.drop(columns=[xcol, ycol])
    return gpd.GeoDataFrame(rest, geometry=gpd.points_from_xy(xs, ys), crs=target)


def check_geometries(
    gdf: gpd.GeoDataFrame, allowed: Sequence[str], source: Source, what: str
) -> None:
    """Raise DataError at the first row whose geometry is missing, empty or not allowed."""
    geoms = np.asarray(gdf.geometry.values)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    reject_rows(
        missing,
        DataError,
        lambda i: (
            f"{source.name}: {source.row(i)} has no geometry ({int(missing.sum())} such rows). "
            f"Every {what} needs a geometry; fix or drop those rows."
        ),
    )
    types = gdf.geom_type.to_numpy()
    bad = ~np.isin(types, list(allowed))
    reject_rows(
        bad,
        DataError,
        lambda i: (
            f"{source.name}: {source.row(i)} has a {types[i]} geometry; a {what} must be "
            f"{' or '.join(allowed)} ({int(bad.sum())} rows are not). Convert or drop them."
        ),
    )


def to_points(gdf: gpd.GeoDataFrame, source: Source, what: str) -> gpd.GeoDataFrame:
    """Points as-is; polygons and multipoints -> a representative point inside each."""
    check_geometries(gdf, (*POINTLIKE, *POLYGONAL), source, what)
    geoms = np.asarray(gdf.geometry.values)
    not_point = shapely.get_type_id(geoms) != shapely.GeometryType.POINT
    if not_point.any():
        geoms = geoms.copy()
        geoms[not_point] = shapely.point_on_surface(geoms[not_point])
        log.info(
            "%s: %d polygons/multipoints -> representative points",
            source.name,
            int(not_point.sum()),
        )
        gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    return gdf


def rename_column(df: pd.DataFrame, src: str, dst: str) -> pd.DataFrame:
    """Rename ``src`` to ``dst``; an unrelated column already called ``dst`` becomes
    ``dst + '_original'``."""
    if src == dst:
        return df
    if dst in df.columns:
        df = df.rename(columns={dst: f"{dst}_original"})
    return df.rename(columns={src: dst})


def to_wgs84(gdf: gpd.GeoDataFrame, datum: str) -> gpd.GeoDataFrame:
    """Convert from ``datum`` and reproject to EPSG:4326 (see :func:`convert_datum`)."""
    return convert_datum(gdf, datum)


def load_districts(districts: Any) -> gpd.GeoDataFrame:
    """Districts as a WGS84 GeoDataFrame with a ``name`` column (path -> read_districts)."""
    from .districts import read_districts  # imported here to avoid an import cycle

    if not isinstance(districts, gpd.GeoDataFrame):
        return read_districts(districts)
    if "name" not in districts.columns:
        msg = (
            "districts: the GeoDataFrame has no 'name' column. Load it with "
            "siting.read_districts(path, name='<column>') or add a 'name' column."
        )
        raise MissingColumnError(msg)
    if districts.crs is None:
        msg = "districts: the GeoDataFrame has no CRS. Load it with siting.read_districts()."
        raise CRSError(msg)
    return districts.to_crs(WGS84)


def assign_districts(
    points: gpd.GeoDataFrame, districts: gpd.GeoDataFrame, what: str, source: str = ""
) -> gpd.GeoDataFrame:
    """Add a ``district`` column (the name of the district containing each point) and
    drop points outside every district. A point on a shared boundary goes to the first
    district in ``districts``.

    Dropped points are logged as a warning with the persons they held and kept in
    ``attrs["dropped_outside_districts"]`` (``{"points": n, "persons": x}``); when every
    point is outside, a DataError says so.
    """
    pts = points.to_crs(WGS84) if points.crs != districts.crs else points
    dist_idx, pt_idx = pts.sindex.query(districts.geometry, predicate="intersects")
    order = np.lexsort((dist_idx, pt_idx))
    pt_sorted, dist_sorted = pt_idx[order], dist_idx[order]
    first = np.unique(pt_sorted, return_index=True)[1]
    keep, owner = pt_sorted[first], dist_sorted[first]
    outside = np.ones(len(points), dtype=bool)
    outside[keep] = False
    people = (
        points["population"].to_numpy(dtype=np.float64)
        if "population" in points.columns
        else np.zeros(len(points))
    )
    dropped = {"points": int(outside.sum()), "persons": float(people[outside].sum())}
    where = f"{source}: " if source else ""
    if len(points) and not len(keep):
        msg = (
            f"{where}none of the {len(points):,} {what} ({dropped['persons']:,.0f} persons) "
            f"lies inside the districts (points: {_bounds(pts)}; districts: "
            f"{_bounds(districts)}, degrees). Use the districts of the same area, or check "
            "the datum (datum='gcj02' for Amap/Tencent coordinates) and the CRS of both."
        )
        raise DataError(msg)
    if dropped["points"]:
        total = float(people.sum())
        share = f", {dropped['persons'] / total:.1%} of the persons" if total > 0 else ""
        log.warning(
            "%s%d of %d %s (%.0f persons%s) lie outside every district and were dropped",
            where,
            dropped["points"],
            len(points),
            what,
            dropped["persons"],
            share,
        )
    out = points.iloc[keep].copy()
    out["district"] = districts["name"].astype(str).to_numpy()[owner]
    out = out.reset_index(drop=True)
    out.attrs["dropped_outside_districts"] = dropped
    return out


def _bounds(gdf: gpd.GeoDataFrame) -> str:
    xmin, ymin, xmax, ymax = gdf.to_crs(WGS84).total_bounds
    return f"lon {xmin:.4f}..{xmax:.4f}, lat {ymin:.4f}..{ymax:.4f}"
