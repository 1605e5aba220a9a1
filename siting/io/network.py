"""Read a walking network: OSM PBF (pyrosm, offline), a saved network, GraphML, or osmnx.

Every route ends in a :class:`siting.network.Network` in a projected metric CRS with
edge lengths in metres (geodesic lengths of the OSM geometry).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyproj

from ..crs import is_metric, utm_crs_for
from ..errors import CRSError, DataError, NetworkError, ParameterError
from ..network.graph import Network
from ._osm import bbox_arg
from ._pbf import check_pbf, osm_errors

log = logging.getLogger(__name__)

_GEOD = pyproj.Geod(ellps="WGS84")

#: walking cost per metre by OSM ``highway`` value (1 = level street). Opt-in via
#: ``read_network(..., factors=STAIRS_FACTORS)``; the default is 1 everywhere.
STAIRS_FACTORS: dict[str, float] = {"steps": 2.0}


def read_network(
    source: str | os.PathLike,
    *,
    crs: pyproj.CRS | str | int | None = None,
    bbox: Sequence[float] | Any | None = None,
    factors: Mapping[str, float] | None = None,
    simplify: bool = True,
    keep: str = "largest",
    progress: bool | None = None,
) -> Network:
    """Read a walking network, in metres, from OSM, a saved file or osmnx.

    Every way pedestrians may use is walkable in both directions (one-way tags are for
    vehicles). Edge lengths are the geodesic lengths of the OSM geometry, in metres;
    node coordinates are in a projected metric CRS.

    Parameters
    ----------
    source
        An OSM ``.pbf`` file (parsed offline with pyrosm), a network saved with
        :meth:`Network.save` (``.npz``), an osmnx ``.graphml`` file, or a place name for
        osmnx to download (online; e.g. ``"Vaduz, Liechtenstein"``).
    crs
        Metric CRS to work in (EPSG code, string or :class:`pyproj.CRS`); default the
        UTM zone of the network's centre. A saved network keeps its own CRS.
    bbox
        ``(min_lon, min_lat, max_lon, max_lat)`` in degrees, a shapely polygon (degrees) or
        a GeoDataFrame to clip a PBF while reading (as for the other OSM readers).
    factors
        Walking cost per metre by OSM ``highway`` value, e.g. ``{"steps": 2.0}`` (a
        metre of stairs counts as two); default 1 everywhere.
    simplify
        Merge chains of degree-2 nodes (distances unchanged, far fewer nodes).
    keep
        ``"largest"`` connected component (reported in ``network.info``) or ``"all"``.
    progress
        A bar while a ``.pbf`` is parsed (pyrosm's steps in percent, then building the
        graph): None on a terminal only, True always, False never.

    Returns
    -------
    Network
        The walking graph in a metric CRS (``net.crs``), edge lengths in metres.

    Raises
    ------
    DataError
        A missing, damaged or unsupported file.
    NetworkError
        No walkable ways in the file (or inside ``bbox``); a place osmnx cannot download.
    CRSError
        ``crs`` is not a projected metric CRS, or differs from a saved network's.
    ParameterError
        ``keep`` is not ``"largest"`` or ``"all"``; ``bbox``, ``factors``, ``simplify``
        or ``keep`` given for a saved network or a ``.graphml`` file, which keep the
        options they were built with.

    See Also
    --------
    siting.Network.save : Save a parsed network (``.npz``) to skip the parsing next time.

    Examples
    --------
    A saved network reads in a fraction of a second (paths are relative to the root of
    the repository, which ships this one):

    >>> import siting as st
    >>> net = st.read_network("data/wuhan/wuhan-walk.npz")
    >>> net
    Network(17,438 nodes, 25,828 edges, 5,672.8 km, crs=EPSG:32650)

    An OSM extract is parsed offline (Liechtenstein: about 10 s), in the UTM zone of its
    centre; skipped when the examples are tested:

    >>> net = st.read_network("data/liechtenstein/liechtenstein-latest.osm.pbf")  # doctest: +SKIP
    >>> net.crs.to_epsg()  # doctest: +SKIP
    32632
    >>> net.save("out/liechtenstein.npz")  # doctest: +SKIP
    """
    text = os.fspath(source)
    path = Path(text)
    suffix = "".join(path.suffixes[-2:]).lower()
    given = {
        "bbox": bbox is not None,
        "factors": factors is not None,
        "simplify": simplify is not True,
        "keep": keep != "largest",
    }
    if path.suffix.lower() == ".npz":
        _refuse_build_options(path, given, "a saved network keeps the options it was built with")
        net = Network.load(path)
        _check_same_crs(path, net, crs)
        return net
    if suffix.endswith(".pbf"):
        return _from_pbf(
            path, crs=crs, bbox=bbox, factors=factors, simplify=simplify, keep=keep,
            progress=progress,
        )  # fmt: skip
    if path.suffix.lower() == ".graphml":
        _refuse_build_options(path, given, "an osmnx graph is read as it was built")
        return _from_graphml(path, crs=crs)
    # a file name has a short extension; "St. Gallen, Switzerland" is a place, not a file
    if path.exists() or re.fullmatch(r"\.[A-Za-z0-9_]{1,10}", path.suffix):
        msg = (
            f"{path}: unsupported network file. Use an OSM .pbf extract, a .npz saved by "
            "siting, or an osmnx .graphml file."
        )
        if not path.exists():
            msg = f"{path}: no such file. " + msg.split(": ", 1)[1]
        raise DataError(msg)
    return _from_osmnx_place(text, crs=crs)


def _refuse_build_options(path: Path, given: Mapping[str, bool], why: str) -> None:
    """Options that only apply while building from OSM: refuse rather than ignore them."""
    used = [name for name, on in given.items() if on]
    if used:
        msg = (
            f"{path}: {', '.join(used)} cannot be applied here ({why}). Build the network "
            "from the OSM .pbf extract with these options (and save it again), or drop them."
        )
        raise ParameterError(msg)


def _check_same_crs(path: Path, net: Network, crs) -> None:
    if crs is not None and pyproj.CRS.from_user_input(crs) != net.crs:
        msg = (
            f"{path}: the saved network is in {net.crs.to_string()}, not "
            f"{pyproj.CRS.from_user_input(crs).to_string()}; distances stay in metres either "
            "way. Drop crs=, or rebuild the network from the .pbf with this crs."
        )
        raise CRSError(msg)


def _from_pbf(path, *, crs, bbox, factors, simplify, keep, progress=None) -> Network:
    if not path.exists():
        msg = f"{path}: no such OSM file. Pass the path of an .osm.pbf extract."
        raise DataError(msg)
    check_pbf(path)
    from ..progress import PercentBar

    bar = PercentBar(f"Reading {path.name}", enabled=progress)
    try:
        nodes, edges = _parse_pbf(path, bbox, bar)
        bar.stage("building the network")
        net = _network_of_frames(path, nodes, edges, bbox, crs, factors, simplify, keep)
    finally:
        bar.close()
    return net


def _parse_pbf(path: Path, bbox, bar):
    """pyrosm's walking nodes and edges (its read steps move ``bar``)."""
    import inspect

    import pyrosm

    shown = {"progress": bar} if "progress" in inspect.signature(pyrosm.OSM).parameters else {}
    bar.stage("parsing (pyrosm)")
    try:
        osm = pyrosm.OSM(str(path), bounding_box=bbox_arg(bbox), **shown)
        return osm.get_network(network_type="walking", nodes=True)
    except osm_errors() as exc:
        msg = (
            f"{path}: could not read the OSM walking network ({type(exc).__name__}: {exc}). "
            "The file may be damaged: download the .osm.pbf extract again."
        )
        raise DataError(msg) from exc


def _network_of_frames(path, nodes, edges, bbox, crs, factors, simplify, keep) -> Network:
    if edges is None or nodes is None or len(edges) == 0:
        msg = (
            f"{path}: no walkable ways found"
            + (f" inside bbox {bbox_arg(bbox)}" if bbox is not None else "")
            + ". Check the extract covers the area, or widen the bounding box."
        )
        raise NetworkError(msg)
    return network_from_osm_frames(
        nodes, edges, crs=crs, factors=factors, simplify=simplify, keep=keep, source=str(path)
    )


def network_from_osm_frames(
    nodes, edges, *, crs=None, factors=None, simplify=True, keep="largest", source="OSM"
) -> Network:
    """Build a :class:`Network` from pyrosm-style node/edge frames (lon/lat, ``u``/``v``)."""
    node_ids = nodes["id"].to_numpy(np.int64)
    order = np.argsort(node_ids)
    node_ids = node_ids[order]
    lon = nodes["lon"].to_numpy(np.float64)[order]
    lat = nodes["lat"].to_numpy(np.float64)[order]
    uid = edges["u"].to_numpy(np.int64)
    vid = edges["v"].to_numpy(np.int64)
    u = np.searchsorted(node_ids, uid)
    v = np.searchsorted(node_ids, vid)
    bad = (u >= len(node_ids)) | (v >= len(node_ids))
    bad |= node_ids[np.minimum(u, len(node_ids) - 1)] != uid
    bad |= node_ids[np.minimum(v, len(node_ids) - 1)] != vid
    if bad.any():
        log.warning("%s: %d edges refer to unknown nodes and were skipped.", source, int(bad.sum()))
        keep_rows = ~bad
        u, v = u[keep_rows], v[keep_rows]
        edges = edges[keep_rows]
    _, _, length = _GEOD.inv(lon[u], lat[u], lon[v], lat[v])
    if crs is None:
        crs = utm_crs_for(float(np.median(lon)), float(np.median(lat)))
    crs = pyproj.CRS.from_user_input(crs)
    if not is_metric(crs):
        msg = f"crs={crs.to_string()} is not a projected metric CRS; pass e.g. a UTM zone."
        raise CRSError(msg)
    x, y = pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    factor = np.ones(len(u))
    if factors:
        hw = edges["highway"].astype("string").fillna("").to_numpy(dtype=object)
        for tag, f in factors.items():
            factor[hw == tag] = float(f)
    # walking is two-way on every way (as osmnx's walk network); oneway tags are for vehicles
    net = Network.from_segments(
        u,
        v,
        np.asarray(x),
        np.asarray(y),
        crs,
        node_id=node_ids,
        length=np.abs(length),
        factor=factor,
        simplify=simplify,
        keep=keep,
    )
    net.info["source"] = source
    log.info("Read %s from %s", net, source)
    return net


def _from_graphml(path: Path, *, crs) -> Network:
    import osmnx as ox

    if not path.exists():
        msg = f"{path}: no such osmnx graph file."
        raise DataError(msg)
    try:
        G = ox.load_graphml(path)
    except Exception as exc:  # XML errors, missing attributes: the file is not usable
        msg = f"{path}: not a readable osmnx .graphml file ({type(exc).__name__}: {exc})."
        raise DataError(msg) from exc
    if not is_metric(G.graph.get("crs")) or crs is not None:
        G = ox.project_graph(G, to_crs=crs)
    return Network.from_networkx(G)


def _from_osmnx_place(place: str, *, crs) -> Network:  # pragma: no cover - needs internet
    import osmnx as ox

    try:
        G = ox.graph_from_place(place, network_type="walk")
    except Exception as exc:
        msg = (
            f"Could not download the walking network of {place!r} with osmnx ({exc}). "
            "Without internet access, pass an OSM .pbf extract instead."
        )
        raise NetworkError(msg) from exc
    G = ox.project_graph(G, to_crs=crs)
    return Network.from_networkx(G)
