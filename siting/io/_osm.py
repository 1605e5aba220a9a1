"""Open OpenStreetMap PBF extracts with pyrosm (private helper of siting.io)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import geopandas as gpd
import shapely

from ..crs import WGS84
from ..errors import DataError, ParameterError
from ._pbf import check_pbf, osm_errors
from ._tables import PathLike, existing_path

log = logging.getLogger(__name__)

BBox = Sequence[float] | shapely.Geometry | gpd.GeoDataFrame | gpd.GeoSeries


def bbox_arg(bbox: BBox | None) -> list[float] | shapely.Geometry | None:
    """A pyrosm ``bounding_box``: [minx, miny, maxx, maxy] degrees or a shapely polygon.

    A GeoDataFrame/GeoSeries gives its WGS84 total bounds.
    """
    if bbox is None or isinstance(bbox, shapely.Geometry):
        return bbox
    if isinstance(bbox, gpd.GeoDataFrame | gpd.GeoSeries):
        if bbox.crs is None:
            msg = "bbox: the GeoDataFrame has no CRS; set one (e.g. EPSG:4326)."
            raise ParameterError(msg)
        return [float(v) for v in bbox.to_crs(WGS84).total_bounds]
    vals = [float(v) for v in bbox]
    if len(vals) != 4 or not (vals[0] < vals[2] and vals[1] < vals[3]):
        msg = (
            f"bbox={bbox!r}: expected [min_lon, min_lat, max_lon, max_lat] in degrees with "
            "min < max."
        )
        raise ParameterError(msg)
    return vals


def open_osm(pbf_path: PathLike, bbox: BBox | None, what: str) -> Any:
    """A ``pyrosm.OSM`` reader for an existing PBF file (complete relations in a bbox)."""
    import pyrosm  # heavy import, only when OSM data is read

    p = existing_path(pbf_path, what)
    check_pbf(p)
    bb = bbox_arg(bbox)
    try:
        return pyrosm.OSM(str(p), bounding_box=bb, complete_relations=bb is not None)
    except osm_errors() as err:
        msg = f"{p}: cannot open as an OSM PBF extract ({err}). Check the file is a .osm.pbf."
        raise DataError(msg) from err


def quiet_read(func: Callable[..., Any], source: str, /, **kwargs: Any) -> Any:
    """Call a pyrosm getter, turning its 'nothing found' warning into a log message."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Could not find any", category=UserWarning)
        try:
            return func(**kwargs)
        except osm_errors() as err:
            msg = f"{source}: cannot read OSM data ({type(err).__name__}: {err})."
            raise DataError(msg) from err
