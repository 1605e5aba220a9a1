"""The walking network: nodes, street edges and a CSR adjacency for compiled searches.

A :class:`Network` is built once per city (from OSM, osmnx or a saved file) and holds

* nodes with metric coordinates (``node_x``, ``node_y``, metres, in ``crs``);
* undirected street edges ``edge_u``/``edge_v`` (node indices) with ``edge_length``
  (metres, geodesic when built from longitude/latitude), a per-edge ``edge_factor``
  (walking cost per metre, 1 = level street; stairs > 1) and the allowed directions
  ``edge_forward`` (u→v) / ``edge_backward`` (v→u); walking is two-way by default;
* edge geometries (LineStrings from u to v, metric CRS) for snapping and isochrones;
* a directed CSR adjacency ``indptr``/``indices``/``weights`` (weights = length × factor,
  in metres of level walking) used by :mod:`siting.network.paths`.

Degree-2 nodes are merged away (as osmnx/pyrosm ``simplify``) and only the largest
connected component is kept; what was dropped is reported in ``info``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import connected_components

from .._docstrings import shared_doc
from ..crs import is_metric
from ..errors import CRSError, DataError, NetworkError, ParameterError
from ..output import atomic_write
from ..validation import reject_rows
from ._simplify import simplify_chains

log = logging.getLogger(__name__)

NPZ_VERSION = 1


@dataclass(eq=False)
class Network:
    """A walking network in a projected metric CRS: nodes, street edges, adjacency.

    Usually read with :func:`siting.read_network` (OSM, a saved ``.npz``, osmnx) or built
    with :meth:`from_segments` / :meth:`from_networkx`; the fields are the arrays below.
    The directed CSR adjacency ``indptr`` / ``indices`` / ``weights`` (weights = length ×
    factor, metres of level walking) is built from them and used by the compiled
    searches of :mod:`siting.network`.

    Parameters
    ----------
    crs : pyproj.CRS or str or int
        Projected CRS in true metres (a UTM zone, a national grid). Degrees, feet and
        Web Mercator are refused.
    node_x, node_y : numpy.ndarray
        Node coordinates in ``crs``, metres.
    node_id : numpy.ndarray
        Original node ids (OSM ids), int64.
    edge_u, edge_v : numpy.ndarray
        Node indices (0..n_nodes-1) of each undirected street edge.
    edge_length : numpy.ndarray
        Edge lengths, metres (>= 0; geodesic when built from longitude/latitude).
    edge_factor : numpy.ndarray
        Walking cost per metre (> 0; 1 = level street, 2 = stairs that take twice as long).
    edge_forward, edge_backward : numpy.ndarray
        Boolean: the edge may be walked u→v / v→u (both, by default).
    edge_geometry : numpy.ndarray or None
        Shapely LineStrings from u to v in ``crs``; None draws straight segments.
    info : dict
        What building the network dropped or merged (components, chains), its source.

    Raises
    ------
    CRSError
        ``crs`` is not a projected metric CRS.
    NetworkError
        No nodes or no edges.
    DataError
        An edge length that is negative or not finite.
    ParameterError
        An edge factor that is not > 0.

    See Also
    --------
    siting.read_network : Read one from OSM, a saved file or osmnx.
    siting.network.grid_network : A synthetic square grid, for tests and examples.
    """

    crs: pyproj.CRS
    node_x: np.ndarray
    node_y: np.ndarray
    node_id: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_length: np.ndarray
    edge_factor: np.ndarray
    edge_forward: np.ndarray
    edge_backward: np.ndarray
    edge_geometry: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    indptr: np.ndarray = field(init=False, repr=False)
    indices: np.ndarray = field(init=False, repr=False)
    weights: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.crs = pyproj.CRS.from_user_input(self.crs)
        if not is_metric(self.crs):
            msg = (
                f"The network's CRS {self.crs.to_string()} is not projected in true metres "
                "(degrees, feet, or a Web/World Mercator that stretches distances by "
                "1/cos(latitude)); walking distances would be wrong. Project it first (e.g. "
                "`siting.read_network(..., crs='EPSG:32650')`)."
            )
            raise CRSError(msg)
        self.node_x = np.ascontiguousarray(self.node_x, dtype=np.float64)
        self.node_y = np.ascontiguousarray(self.node_y, dtype=np.float64)
        self.node_id = np.ascontiguousarray(self.node_id, dtype=np.int64)
        self.edge_u = np.ascontiguousarray(self.edge_u, dtype=np.int32)
        self.edge_v = np.ascontiguousarray(self.edge_v, dtype=np.int32)
        self.edge_length = np.ascontiguousarray(self.edge_length, dtype=np.float64)
        self.edge_factor = np.ascontiguousarray(self.edge_factor, dtype=np.float64)
        self.edge_forward = np.ascontiguousarray(self.edge_forward, dtype=bool)
        self.edge_backward = np.ascontiguousarray(self.edge_backward, dtype=bool)
        if self.edge_geometry is None:
            self.edge_geometry = straight_edges(self.node_x, self.node_y, self.edge_u, self.edge_v)
        self.edge_geometry = np.asarray(self.edge_geometry, dtype=object)
        if self.n_nodes == 0 or self.n_edges == 0:
            msg = (
                "The walking network is empty (no walkable edges left after filtering). "
                "Check that the area contains streets or paths open to pedestrians, or "
                "widen the bounding box."
            )
            raise NetworkError(msg)
        _check_lengths_and_factors(self.edge_length, self.edge_factor, "Edge")
        self._build_csr()

    # ------------------------------------------------------------------ basics
    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_x)

    @property
    def n_edges(self) -> int:
        """Number of undirected street edges."""
        return len(self.edge_u)

    @property
    def edge_cost(self) -> np.ndarray:
        """Walking cost of each edge: length × factor (metres of level walking)."""
        return self.edge_length * self.edge_factor

    @property
    def total_length_km(self) -> float:
        """Total street length in kilometres."""
        return float(self.edge_length.sum() / 1000.0)

    def _build_csr(self) -> None:
        """Directed CSR adjacency, the cheapest of parallel edges kept."""
        cost = self.edge_cost
        f, b = self.edge_forward, self.edge_backward
        src = np.r_[self.edge_u[f], self.edge_v[b]]
        dst = np.r_[self.edge_v[f], self.edge_u[b]]
        w = np.r_[cost[f], cost[b]]
        keep = src != dst  # self-loops never shorten a walk
        src, dst, w = src[keep], dst[keep], w[keep]
        order = np.lexsort((w, dst, src))
        src, dst, w = src[order], dst[order], w[order]
        first = np.ones(len(src), bool)  # also right when no edge is left (a lone loop)
        first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
        src, dst, w = src[first], dst[first], w[first]
        counts = np.bincount(src, minlength=self.n_nodes)
        self.indptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
        self.indices = dst.astype(np.int32)
        self.weights = w.astype(np.float64)

    def csr(self) -> sp.csr_matrix:
        """The directed adjacency as a SciPy CSR matrix.

        Returns
        -------
        scipy.sparse.csr_matrix
            ``(n_nodes, n_nodes)``: entry ``(i, j)`` is the walking cost of the cheapest
            edge from node i to node j, metres of level walking (length × factor).
        """
        return sp.csr_matrix(
            (self.weights, self.indices, self.indptr), shape=(self.n_nodes, self.n_nodes)
        )

    def __repr__(self) -> str:
        return (
            f"Network({self.n_nodes:,} nodes, {self.n_edges:,} edges, "
            f"{self.total_length_km:,.1f} km, crs={self.crs.to_string()})"
        )

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_segments(
        cls,
        u: np.ndarray,
        v: np.ndarray,
        node_x: np.ndarray,
        node_y: np.ndarray,
        crs: pyproj.CRS | str | int,
        *,
        node_id: np.ndarray | None = None,
        length: np.ndarray | None = None,
        factor: np.ndarray | None = None,
        forward: np.ndarray | None = None,
        backward: np.ndarray | None = None,
        simplify: bool = True,
        keep: str = "largest",
    ) -> Network:
        """Build from straight segments between node indices (e.g. OSM way segments).

        Parameters
        ----------
        u, v
            Node indices (0..n-1) of each segment's ends.
        node_x, node_y
            Node coordinates in ``crs`` (metres).
        crs
            Projected metric CRS of the coordinates.
        node_id
            Original id of each node (e.g. the OSM id); default 0..n-1.
        length
            Segment lengths in metres; default the straight-line distance.
        factor
            Walking cost per metre (1 = level); default 1.
        forward, backward
            Allowed directions u→v / v→u; default both (walking is two-way).
        simplify
            Merge chains of degree-2 nodes into single edges with their full geometry.
        keep
            ``"largest"`` keeps the largest (weakly) connected component, ``"all"`` keeps all.

        Returns
        -------
        Network
            The network; what was merged or dropped is in ``info``.

        Raises
        ------
        NetworkError
            No segments, or none left.
        DataError
            Arrays of different lengths, or node indices out of range.
        ParameterError
            ``keep`` is not ``"largest"`` or ``"all"``.
        CRSError
            ``crs`` is not a projected metric CRS.
        """
        u = np.asarray(u, dtype=np.int64)
        v = np.asarray(v, dtype=np.int64)
        x = np.asarray(node_x, dtype=np.float64)
        y = np.asarray(node_y, dtype=np.float64)
        n = len(x)
        m = len(u)
        ids = np.arange(n, dtype=np.int64) if node_id is None else np.asarray(node_id, np.int64)
        info: dict[str, Any] = {"input_nodes": int(n), "input_segments": int(m)}
        if m == 0:
            msg = "The walking network is empty: no walkable segments were found."
            raise NetworkError(msg)
        if len(v) != m or len(y) != n or len(ids) != n:
            msg = (
                f"u/v ({m}/{len(v)} segments) and node_x/node_y/node_id ({n}/{len(y)}/"
                f"{len(ids)} nodes) must have matching lengths."
            )
            raise DataError(msg)
        reject_rows(
            (u < 0) | (u >= n) | (v < 0) | (v >= n),
            DataError,
            lambda i: (
                f"Segment {i} joins nodes {u[i]} and {v[i]}: node indices must be 0..{n - 1}."
            ),
        )
        if length is None:
            length = np.hypot(x[u] - x[v], y[u] - y[v])
        length = np.asarray(length, dtype=np.float64)
        factor = np.ones(m) if factor is None else np.asarray(factor, dtype=np.float64)
        forward = np.ones(m, bool) if forward is None else np.asarray(forward, dtype=bool)
        backward = np.ones(m, bool) if backward is None else np.asarray(backward, dtype=bool)
        for name, arr in (
            ("length", length),
            ("factor", factor),
            ("forward", forward),
            ("backward", backward),
        ):
            if arr.shape != (m,):
                msg = f"{name} has shape {arr.shape}; give one value per segment ({m})."
                raise DataError(msg)
        # check every segment before merging chains or dropping components, which would
        # hide a bad value (a -5 m segment in a 10 m chain merges into a valid length)
        _check_lengths_and_factors(length, factor, "Segment")

        # largest component first (fewer chains to simplify)
        if keep == "largest":
            g = sp.csr_matrix((np.ones(m), (u, v)), shape=(n, n))
            ncomp, label = connected_components(g, directed=True, connection="weak")
            used = np.zeros(n, bool)
            used[u] = True
            used[v] = True
            sizes = np.bincount(label[used], minlength=ncomp)
            big = int(np.argmax(sizes))
            keep_seg = label[u] == big
            seg_len = np.asarray(length, dtype=np.float64)
            info.update(
                components=int((sizes > 0).sum()),
                dropped_components=int((sizes > 0).sum() - 1),
                dropped_nodes=int(used.sum() - sizes[big]),
                dropped_length_km=float(seg_len[~keep_seg].sum() / 1000.0),
            )
            if info["dropped_nodes"]:
                log.info(
                    "Kept the largest connected walking component; dropped %d smaller "
                    "components (%d nodes, %.1f km).",
                    info["dropped_components"],
                    info["dropped_nodes"],
                    info["dropped_length_km"],
                )
            u, v, length = u[keep_seg], v[keep_seg], seg_len[keep_seg]
            factor, forward, backward = factor[keep_seg], forward[keep_seg], backward[keep_seg]
        elif keep != "all":
            msg = f"keep={keep!r} is not allowed; use 'largest' or 'all'."
            raise ParameterError(msg)

        # renumber to the nodes in use
        used_nodes = np.unique(np.r_[u, v])
        remap = np.full(n, -1, np.int64)
        remap[used_nodes] = np.arange(len(used_nodes))
        u, v = remap[u], remap[v]
        x, y, ids = x[used_nodes], y[used_nodes], ids[used_nodes]

        if simplify:
            chains = simplify_chains(
                u.astype(np.int64),
                v.astype(np.int64),
                np.asarray(length, np.float64),
                np.asarray(factor, np.float64),
                forward,
                backward,
                len(x),
            )
            (cu, cv, clen, cfac, cfw, cbw, path_ptr, path_nodes) = chains
            coords = np.column_stack([x[path_nodes], y[path_nodes]])
            part = np.repeat(np.arange(len(cu)), np.diff(path_ptr))
            geom = shapely.linestrings(coords, indices=part)
            keep_nodes = np.unique(np.r_[cu, cv])
            remap = np.full(len(x), -1, np.int64)
            remap[keep_nodes] = np.arange(len(keep_nodes))
            info["simplified_from_nodes"] = len(x)
            u, v = remap[cu], remap[cv]
            x, y, ids = x[keep_nodes], y[keep_nodes], ids[keep_nodes]
            length, factor, forward, backward = clen, cfac, cfw, cbw
        else:
            geom = straight_edges(x, y, u, v)
        return cls(
            crs=crs,
            node_x=x,
            node_y=y,
            node_id=ids,
            edge_u=u,
            edge_v=v,
            edge_length=length,
            edge_factor=factor,
            edge_forward=forward,
            edge_backward=backward,
            edge_geometry=geom,
            info=info,
        )

    # ------------------------------------------------------------------ views
    def nodes_gdf(self) -> gpd.GeoDataFrame:
        """The nodes as points.

        Returns
        -------
        geopandas.GeoDataFrame
            One point per node in the network's CRS (index = node index) with ``osmid``.
        """
        return gpd.GeoDataFrame(
            {"osmid": self.node_id},
            geometry=shapely.points(self.node_x, self.node_y),
            crs=self.crs,
        )

    def edges_gdf(self) -> gpd.GeoDataFrame:
        """The street edges as lines.

        Returns
        -------
        geopandas.GeoDataFrame
            One LineString per edge in the network's CRS with ``u``, ``v`` (node
            indices), ``length`` (metres), ``factor`` (cost per metre) and the allowed
            directions ``forward`` / ``backward``.
        """
        return gpd.GeoDataFrame(
            {
                "u": self.edge_u,
                "v": self.edge_v,
                "length": self.edge_length,
                "factor": self.edge_factor,
                "forward": self.edge_forward,
                "backward": self.edge_backward,
            },
            geometry=self.edge_geometry,
            crs=self.crs,
        )

    def to_networkx(self):  # -> nx.MultiDiGraph
        """An osmnx-style ``networkx.MultiDiGraph`` (``x``, ``y``, ``length``, ``crs``).

        ``length`` is the walking cost (length × factor) so that shortest paths match;
        ``geometry`` is the street's shape in the edge's direction. Slow on a city (a
        Python object per edge): for comparisons and small networks.

        Returns
        -------
        networkx.MultiDiGraph
            One node per network node, one directed edge per allowed direction; the
            graph's ``crs`` attribute is the network's.
        """
        import networkx as nx

        G = nx.MultiDiGraph(crs=self.crs)
        G.add_nodes_from(
            (i, {"x": float(a), "y": float(b), "osmid": int(o)})
            for i, (a, b, o) in enumerate(zip(self.node_x, self.node_y, self.node_id, strict=True))
        )
        cost = self.edge_cost
        f, b = self.edge_forward, self.edge_backward
        geom = self.edge_geometry
        G.add_edges_from(
            (int(a), int(c), {"length": float(w), "geometry": g})
            for a, c, w, g in zip(self.edge_u[f], self.edge_v[f], cost[f], geom[f], strict=True)
        )
        G.add_edges_from(
            (int(c), int(a), {"length": float(w), "geometry": g.reverse()})
            for a, c, w, g in zip(self.edge_u[b], self.edge_v[b], cost[b], geom[b], strict=True)
        )
        return G

    @classmethod
    def from_networkx(cls, G, *, weight: str = "length", simplify: bool = False) -> Network:
        """Build from an osmnx/networkx graph with node ``x``/``y`` and edge ``length`` (m).

        The graph must be projected (``G.graph["crs"]`` metric). Each directed edge becomes
        a one-way segment; pairs of opposite edges merge into one two-way edge.

        Parameters
        ----------
        G : networkx.MultiDiGraph
            A projected osmnx-style graph (``osmnx.project_graph``).
        weight : str
            Edge attribute with the length in metres.
        simplify : bool
            Merge chains of degree-2 nodes (osmnx graphs usually are simplified already).

        Returns
        -------
        Network
            The network, every component kept.

        Raises
        ------
        CRSError
            The graph has no CRS or one that is not projected in metres.
        NetworkError
            The graph has no edges.
        DataError
            An edge without ``weight``.
        """
        crs = G.graph.get("crs")
        if crs is None or not is_metric(crs):
            msg = (
                f"The graph's CRS ({crs}) is not a projected metric CRS. Project it first, "
                "e.g. `osmnx.project_graph(G)`, so that lengths and coordinates are metres."
            )
            raise CRSError(msg)
        nodes = list(G.nodes)
        index = {n: i for i, n in enumerate(nodes)}
        x = np.array([G.nodes[n]["x"] for n in nodes], float)
        y = np.array([G.nodes[n]["y"] for n in nodes], float)
        rows = [
            (index[a], index[b], float(d.get(weight, np.nan))) for a, b, d in G.edges(data=True)
        ]
        if not rows:
            msg = "The graph has no edges."
            raise NetworkError(msg)
        a, b, w = (np.array(c) for c in zip(*rows, strict=True))
        if np.isnan(w).any():
            msg = f"Some edges have no '{weight}' attribute; add lengths in metres first."
            raise DataError(msg)
        # merge opposite directions of the same length into two-way edges; edges of
        # different lengths (a one-way shortcut beside a two-way street) stay apart, or the
        # shorter length would be granted in the direction it does not allow
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        order = np.lexsort((w, hi, lo))
        lo_s, hi_s, w_s = lo[order], hi[order], w[order]
        first = np.r_[
            True, (lo_s[1:] != lo_s[:-1]) | (hi_s[1:] != hi_s[:-1]) | (w_s[1:] != w_s[:-1])
        ]
        grp = np.cumsum(first) - 1
        fw = np.zeros(first.sum(), bool)
        bw = np.zeros(first.sum(), bool)
        is_fw = a[order] == lo[order]
        np.logical_or.at(fw, grp, is_fw | (a[order] == b[order]))
        np.logical_or.at(bw, grp, ~is_fw | (a[order] == b[order]))
        sel = order[first]
        ids = np.array(
            [
                G.nodes[n].get("osmid", n) if isinstance(n, int | np.integer) else i
                for i, n in enumerate(nodes)
            ],
            dtype=np.int64,
        )
        net = cls.from_segments(
            lo[sel],
            hi[sel],
            x,
            y,
            crs,
            node_id=ids,
            length=w[sel],
            forward=fw,
            backward=bw,
            simplify=simplify,
            keep="all",
        )
        if not simplify:  # osmnx keeps the street's shape in 'geometry' (from u to v)
            geoms = [d.get("geometry") for _, _, d in G.edges(data=True)]
            for k, r in enumerate(sel):
                g = geoms[r]
                if isinstance(g, shapely.LineString) and not g.is_empty:
                    net.edge_geometry[k] = g if a[r] == lo[r] else g.reverse()
        return net

    # ------------------------------------------------------------------ save / load
    @shared_doc
    def save(self, path: str | os.PathLike, *, force: bool = False) -> Path:
        """Save to a compact ``.npz`` that :func:`siting.read_network` reads in a moment.

        Written atomically (a temporary file renamed into place).

        Parameters
        ----------
        path : str or os.PathLike
            File to write; ``.npz`` is added if the suffix differs.
        force : bool
            Replace an existing file.

        %(written_file)s
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        geometry = _geometry_arrays(self.edge_geometry)
        meta = {"version": NPZ_VERSION, "crs": self.crs.to_wkt(), "info": self.info}

        def write(tmp: Path) -> None:
            with tmp.open("wb") as fh:
                np.savez_compressed(
                    fh,
                    meta=np.frombuffer(json.dumps(meta, default=str).encode(), np.uint8),
                    **geometry,
                    **{name: getattr(self, name) for name in _ARRAYS},
                )

        return atomic_write(path, write, force=force)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Network:
        """Load a network saved with :meth:`save`.

        Parameters
        ----------
        path : str or os.PathLike
            A ``.npz`` written by :meth:`save` (or ``siting network``).

        Returns
        -------
        Network
            The network as it was saved, in its CRS.

        Raises
        ------
        DataError
            A missing, damaged or foreign file.
        """
        path = Path(path)
        if not path.exists():
            msg = f"{path}: no such network file."
            raise DataError(msg)
        try:
            with path.open("rb") as fh, np.load(fh, allow_pickle=False) as z:
                meta = json.loads(z["meta"].tobytes().decode())
                geom = _geometry_from_arrays(z)
                arrays = {name: z[name] for name in _ARRAYS}
            if len(geom) != len(arrays["edge_u"]):
                msg = (
                    f"{path}: damaged network file ({len(geom)} edge geometries for "
                    f"{len(arrays['edge_u'])} edges). Save it again with Network.save()."
                )
                raise DataError(msg)
            crs = pyproj.CRS.from_wkt(meta["crs"])
        except Exception as exc:  # a damaged file fails in zip, zlib, numpy, json or pyproj
            if isinstance(exc, DataError):
                raise
            msg = (
                f"{path}: not a siting network file, or a truncated one "
                f"({type(exc).__name__}: {exc}). "
                "Save one again with Network.save() or `siting network`."
            )
            raise DataError(msg) from exc
        return cls(crs=crs, edge_geometry=geom, info=meta.get("info", {}), **arrays)


_ARRAYS = (
    "node_x",
    "node_y",
    "node_id",
    "edge_u",
    "edge_v",
    "edge_length",
    "edge_factor",
    "edge_forward",
    "edge_backward",
)  # the arrays of a saved network, besides ``meta`` and the geometry


def _check_lengths_and_factors(length: np.ndarray, factor: np.ndarray, what: str) -> None:
    """Raise at the first edge (``what`` = "Edge" or "Segment") with a bad length or factor."""
    reject_rows(
        ~(np.isfinite(length) & (length >= 0)),
        DataError,
        lambda i: f"{what} {i} has length {length[i]}: lengths must be finite metres >= 0.",
    )
    reject_rows(
        ~(np.isfinite(factor) & (factor > 0)),
        ParameterError,
        lambda i: (
            f"{what} {i} has speed factor {factor[i]}: factors must be > 0 "
            "(1 = level street, 2 = takes twice as long, e.g. stairs)."
        ),
    )


def straight_edges(x: np.ndarray, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Straight LineStrings from node u to node v."""
    m = len(u)
    coords = np.empty((2 * m, 2))
    coords[0::2, 0], coords[0::2, 1] = x[u], y[u]
    coords[1::2, 0], coords[1::2, 1] = x[v], y[v]
    return shapely.linestrings(coords, indices=np.repeat(np.arange(m), 2))


def grid_network(
    side: int, step_m: float = 80.0, drop: float = 0.0, seed: int = 0, crs: str = "EPSG:3067"
) -> Network:
    """A synthetic square-grid city: ``side`` × ``side`` nodes, ``step_m`` metre edges.

    For examples, tests and benchmarks. Nodes are numbered row by row (node k at
    x = (k % side) · step, y = (k // side) · step); every component is kept.

    Parameters
    ----------
    side : int
        Nodes along each side.
    step_m : float
        Edge length (block size), metres.
    drop : float
        Share of edges removed at random (seeded), in [0, 1), as in the benchmarks.
    seed : int
        Seed of the random removal.
    crs : str
        Projected metric CRS to label the coordinates with (they start at 0, 0).

    Returns
    -------
    Network
        ``side²`` nodes and about ``2 · side · (side - 1) · (1 - drop)`` edges.

    Examples
    --------
    >>> from siting.network import grid_network
    >>> grid_network(11, 100.0)  # a 1 km square, 100 m blocks
    Network(121 nodes, 220 edges, 22.0 km, crs=EPSG:3067)
    """
    rng = np.random.default_rng(seed)
    idx = np.arange(side * side).reshape(side, side)
    u = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    v = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    keep = rng.random(len(u)) >= drop
    u, v = u[keep], v[keep]
    k = np.arange(side * side)
    return Network.from_segments(
        u,
        v,
        (k % side) * float(step_m),
        (k // side) * float(step_m),
        crs,
        length=np.full(len(u), float(step_m)),
        simplify=False,
    )


def _geometry_arrays(geometry: np.ndarray) -> dict[str, np.ndarray]:
    """Edge geometries for a ``.npz``: the vertices and their offsets when every edge is a
    2-D LineString (read back without parsing), else WKB bytes and their offsets."""
    if (
        len(geometry)
        and (shapely.get_type_id(geometry) == 1).all()
        and not (shapely.has_z(geometry).any() or shapely.is_empty(geometry).any())
    ):
        _, coords, (offsets,) = shapely.to_ragged_array(geometry)
        return {"geom_coords": coords, "geom_vertex_offsets": offsets.astype(np.int64)}
    wkb = shapely.to_wkb(geometry)
    offsets = np.r_[0, np.cumsum([len(b) for b in wkb])].astype(np.int64)
    return {"geom_blob": np.frombuffer(b"".join(wkb), dtype=np.uint8), "geom_offsets": offsets}


def _geometry_from_arrays(z: Any) -> np.ndarray:
    """The edge geometries of a ``.npz`` written by :func:`_geometry_arrays` (or by an
    earlier siting, which always wrote WKB)."""
    if "geom_coords" in z:
        offsets = z["geom_vertex_offsets"]
        return shapely.from_ragged_array(
            shapely.GeometryType.LINESTRING, z["geom_coords"], (offsets,)
        )
    blob, off = z["geom_blob"].tobytes(), z["geom_offsets"]
    return shapely.from_wkb([blob[off[i] : off[i + 1]] for i in range(len(off) - 1)])
