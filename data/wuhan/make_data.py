"""Build the Wuhan demo's data from the reference copies (run once; the results are shipped).

    python data/wuhan/make_data.py [--shared ../shared/data/wuhan]

Writes, next to this script:

- ``wuhan-walk.npz``: the walking network (``siting.Network.save``) built from the OSM
  street network of central Wuhan (``wuhan_streets_osm_fua8989.parquet``): motorways and
  trunk roads (and their links) dropped, nodes taken from the geometry ends (the file's
  ``u``/``v`` order does not follow the geometry for most edges), geodesic lengths,
  chains of degree-2 nodes merged, largest connected part kept. UTM zone 50N.
- ``wuhan-pop20plus-100m.tif``: the WorldPop 100 m grid of persons aged 20+ for the seven
  central districts (``wuhan_core_pop20plus_worldpop_100m.tif``), with the cells outside
  the street network's convex hull set to nodata (no street data there to walk on).

Sources and licences: ``ATTRIBUTION.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import rasterio
import shapely

from siting.network.graph import Network

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2] / "shared" / "data" / "wuhan"
#: OSM highway values no pedestrian walks along (urban expressways and their ramps)
NOT_WALKABLE = ("motorway", "motorway_link", "trunk", "trunk_link")
UTM50N = 32650


def build_network(streets: Path) -> Network:
    """The walking network of the OSM street edges (straight two-point segments)."""
    edges = gpd.read_parquet(streets)
    edges = edges[~edges["highway"].isin(NOT_WALKABLE)]
    ends = shapely.get_coordinates(edges.geometry.values)
    if len(ends) != 2 * len(edges):
        msg = f"{streets}: expected straight two-point edges"
        raise ValueError(msg)
    xy, node = np.unique(ends, axis=0, return_inverse=True)
    node = node.ravel()
    u, v = node[0::2], node[1::2]
    lon, lat = pyproj.Transformer.from_crs(UTM50N, 4326, always_xy=True).transform(
        xy[:, 0], xy[:, 1]
    )
    _, _, length = pyproj.Geod(ellps="WGS84").inv(lon[u], lat[u], lon[v], lat[v])
    net = Network.from_segments(u, v, xy[:, 0], xy[:, 1], UTM50N, length=np.abs(length))
    net.info["source"] = f"{streets.name} (OSM, ODbL), without {', '.join(NOT_WALKABLE)}"
    return net


def clip_population(grid: Path, net: Network, out: Path) -> float:
    """Copy the grid with cells outside the network's convex hull set to nodata."""
    hull = shapely.convex_hull(shapely.multipoints(np.c_[net.node_x, net.node_y]))
    with rasterio.open(grid) as src:
        values = src.read(1)
        profile = src.profile
        rows, cols = np.indices(values.shape)
        lon, lat = rasterio.transform.xy(src.transform, rows.ravel(), cols.ravel())
    x, y = pyproj.Transformer.from_crs(4326, UTM50N, always_xy=True).transform(lon, lat)
    inside = shapely.contains_xy(hull, np.asarray(x), np.asarray(y)).reshape(values.shape)
    values = np.where(inside, values, profile["nodata"]).astype(values.dtype)
    profile.update(compress="deflate", predictor=3, zlevel=9)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(values, 1)
    return float(values[values > 0].sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", type=Path, default=SHARED)
    args = ap.parse_args()
    net = build_network(args.shared / "wuhan_streets_osm_fua8989.parquet")
    path = net.save(HERE / "wuhan-walk.npz", force=True)
    print(f"{net}\n{net.info}\nwrote {path} ({path.stat().st_size:,} bytes)")
    pop = HERE / "wuhan-pop20plus-100m.tif"
    total = clip_population(args.shared / "wuhan_core_pop20plus_worldpop_100m.tif", net, pop)
    print(f"wrote {pop} ({pop.stat().st_size:,} bytes), {total:,.0f} persons aged 20+")


if __name__ == "__main__":
    main()
