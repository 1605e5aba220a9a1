"""Loaders: districts, population (demand), facilities and candidate sites.

Every loader returns a GeoDataFrame in WGS84 (EPSG:4326). Data in the Chinese web-map
datums (GCJ-02, BD-09) is converted with ``datum=``; see :mod:`siting.io.datum`.
"""

from __future__ import annotations

from .datum import (
    DATUMS,
    bd09_to_gcj02,
    bd09_to_wgs84,
    convert_datum,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from .districts import read_districts
from .facilities import facilities_from_osm, read_candidates, read_facilities
from .population import population_from_buildings, read_buildings, read_population

__all__ = [
    "DATUMS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "convert_datum",
    "facilities_from_osm",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "population_from_buildings",
    "read_buildings",
    "read_candidates",
    "read_districts",
    "read_facilities",
    "read_population",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]
