"""Points that miss the walking network: say which, how far, and the likely cause.

:func:`siting.coverage` snaps facilities, candidate sites and homes to the nearest
walkable edge within ``max_snap_m``. A facility beyond that covers nobody, so when most
existing facilities (more than :data:`MAX_MISSING_SHARE`, or all of them) miss the
network, "covered today" would be a wrong number: the run is refused with a
:class:`~siting.errors.NetworkError`. Fewer misses, and candidate sites that miss, are
logged as warnings. Each message names the points (up to :data:`SHOWN`), the distance to
the network, and the likely cause, tested rather than guessed:

* latitude and longitude swapped (exchanging them puts the points on the network);
* GCJ-02 / BD-09 coordinates (Chinese web maps) read as WGS-84 (converting them does);
* a CRS mix-up (degrees labelled as metres or the reverse; hundreds of km away);
* another area (the network does not reach that far) or a point far from any street.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from .crs import WGS84
from .errors import NetworkError
from .io.datum import bd09_to_wgs84, gcj02_to_wgs84, out_of_china
from .network.graph import Network

log = logging.getLogger(__name__)

#: refuse when more than this share of the existing facilities miss the network
MAX_MISSING_SHARE = 0.2
#: points named in a message
SHOWN = 5
#: farther than this from the network (metres) is "another place or a CRS mix-up"
FAR_M = 100_000.0


@dataclass(frozen=True)
class _Layer:
    """Points of one kind (existing facilities, candidate sites, demand points)."""

    what: str
    names: np.ndarray  # a name per point ('' when none)
    rows: np.ndarray  # row of each point in its input
    lonlat: np.ndarray  # (n, 2) WGS84 degrees of the points as given, NaN if unknown

    def take(self, idx: np.ndarray, what: str | None = None) -> _Layer:
        return _Layer(what or self.what, self.names[idx], self.rows[idx], self.lonlat[idx])

    def label(self, i: int) -> str:
        name, row = self.names[i], self.rows[i]
        return f"{name!r} (row {row})" if name else f"row {row}"


def layer(what: str, frames: Sequence[gpd.GeoDataFrame | None]) -> _Layer:
    """The points of ``frames`` (in order, empty ones skipped) with their names and rows."""
    parts, names, rows = [], [], []
    for f in frames:
        if f is None or len(f) == 0:
            continue
        rows.append(np.arange(len(f)))
        names.append(_names(f))
        parts.append(_lonlat(f))
    if not parts:
        return _Layer(what, np.zeros(0, object), np.zeros(0, int), np.zeros((0, 2)))
    return _Layer(what, np.concatenate(names), np.concatenate(rows), np.vstack(parts))


def _names(f: gpd.GeoDataFrame) -> np.ndarray:
    if "name" not in f.columns:
        return np.full(len(f), "", dtype=object)
    return pd.Series(f["name"]).astype("string").fillna("").to_numpy(dtype=object)


def _lonlat(f: gpd.GeoDataFrame) -> np.ndarray:
    """WGS84 degrees of each row's point (a point inside polygons); NaN without a CRS."""
    pts = f.geometry
    if f.crs is None:
        return np.full((len(f), 2), np.nan)
    if not (pts.geom_type == "Point").all():
        pts = pts.representative_point()
    pts = pts.to_crs(WGS84)
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])


def check_sites(
    network: Network,
    sites: gpd.GeoDataFrame,
    snapped: np.ndarray,
    frames: Sequence[gpd.GeoDataFrame | None],
    max_snap_m: float,
) -> None:
    """Refuse (or warn) when existing facilities miss the network; warn for candidates.

    ``frames`` are the existing facilities and the candidates as the user gave them
    (``sites`` is their concatenation, projected).
    """
    if snapped.all():
        return
    given = layer("sites", frames)
    existing = sites["existing"].to_numpy(bool)
    x, y = sites.geometry.x.to_numpy(), sites.geometry.y.to_numpy()
    finder = None
    for mask, what in ((existing, "existing facilities"), (~existing, "candidate sites")):
        missing = np.flatnonzero(mask & ~snapped)
        if len(missing) == 0:
            continue
        finder = finder or _Finder(network, max_snap_m)
        n = int(mask.sum())
        text = finder.explain(given.take(missing, what), x[missing], y[missing], n)
        if what == "existing facilities" and len(missing) > MAX_MISSING_SHARE * n:
            msg = f"{text} Coverage today is not computed: it would count them as reaching nobody."
            raise NetworkError(msg)
        if what == "existing facilities":
            log.warning("%s They count as covering nobody today.", text)
        else:
            log.warning("%s They cannot be chosen.", text)


def explain_demand(
    network: Network, demand: gpd.GeoDataFrame, given: _Layer, max_snap_m: float
) -> str:
    """The message for demand points that all miss the network."""
    x, y = demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()
    return _Finder(network, max_snap_m).explain(given, x, y, len(demand))


class _Finder:
    """Distances to the network's edges, and tests of the likely causes of a miss."""

    def __init__(self, network: Network, max_snap_m: float) -> None:
        self.network = network
        self.max_snap_m = float(max_snap_m)
        self.tree = shapely.STRtree(network.edge_geometry)
        self.to_net = pyproj.Transformer.from_crs(WGS84, network.crs, always_xy=True)

    def nearest_m(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        ok = np.isfinite(x) & np.isfinite(y)
        d = np.full(len(x), np.inf)
        if ok.any():
            (i, _), dist = self.tree.query_nearest(
                shapely.points(x[ok], y[ok]), return_distance=True, all_matches=False
            )
            d[np.flatnonzero(ok)[i]] = dist
        return d

    def on_network(self, lon: np.ndarray, lat: np.ndarray) -> float:
        """Share of the points (degrees) within ``max_snap_m`` of the network."""
        ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
        if not ok.any():
            return 0.0
        with np.errstate(all="ignore"):
            x, y = self.to_net.transform(lon[ok], lat[ok])
        near = self.nearest_m(np.asarray(x), np.asarray(y)) <= self.max_snap_m
        return float(near.sum() / len(lon))

    def explain(self, points: _Layer, x: np.ndarray, y: np.ndarray, n_total: int) -> str:
        d = self.nearest_m(x, y)
        order = np.argsort(d, kind="stable")
        shown = ", ".join(f"{points.label(i)} at {_distance(d[i])}" for i in order[:SHOWN])
        shown += f" and {len(d) - SHOWN} more" if len(d) > SHOWN else ""
        head = (
            f"{len(d)} of the {n_total} {points.what} lie more than {self.max_snap_m:,.0f} m "
            f"from the walking network: {shown}."
        )
        return f"{head} {self.cause(points, d)}"

    def cause(self, points: _Layer, d: np.ndarray) -> str:
        lon, lat = points.lonlat[:, 0], points.lonlat[:, 1]
        tests: list[tuple[Callable[[], tuple[np.ndarray, np.ndarray]], str]] = [
            (
                lambda: (lat, lon),
                "Likely cause: longitude and latitude are swapped (with x and y exchanged "
                "they lie on the network). Swap the coordinate columns (e.g. pass x='lon', "
                "y='lat' to the loader).",
            ),
        ]
        if not out_of_china(lon[np.isfinite(lon)], lat[np.isfinite(lat)]).all():
            tests += [
                (
                    lambda: gcj02_to_wgs84(lon, lat),
                    "Likely cause: the coordinates are GCJ-02 (Amap, Tencent) read as WGS-84 "
                    "(converted from GCJ-02 they lie on the network). Pass datum='gcj02'.",
                ),
                (
                    lambda: bd09_to_wgs84(lon, lat),
                    "Likely cause: the coordinates are BD-09 (Baidu) read as WGS-84 "
                    "(converted from BD-09 they lie on the network). Pass datum='bd09'.",
                ),
            ]
        for transform, why in tests:
            if np.isfinite(lon).any() and self.on_network(*transform()) >= 0.5:
                return why
        return self._far_or_near(d)

    def _far_or_near(self, d: np.ndarray) -> str:
        nearest = float(np.min(d)) if len(d) else np.inf
        if not np.isfinite(nearest) or nearest > FAR_M:
            return (
                "Likely cause: a CRS mix-up (degrees labelled as metres or metres as degrees: "
                "check the crs= of the file) or data of another place than the network's "
                "extract. Compare their .total_bounds."
            )
        if nearest > 5 * self.max_snap_m:
            return (
                "Likely cause: they lie outside the area of the network: use an extract (or "
                "bbox) that covers them, or check their coordinates."
            )
        return (
            f"If they really are that far from a walkable street, raise max_snap_m (now "
            f"{self.max_snap_m:,.0f} m, coverage.max_snap_m in a scenario); otherwise fix "
            "their coordinates."
        )


def _distance(metres: float) -> str:
    if not np.isfinite(metres):
        return "(unknown)"
    return f"{metres / 1000:,.0f} km" if metres >= 10_000 else f"{metres:,.0f} m"
