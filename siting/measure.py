"""Measure: who is covered by what — the sparse walk-distance matrix and its statistics.

The "measure" step of load → measure → solve → show: :func:`siting.coverage` and the
:class:`Coverage` it returns live here (the module is not called ``coverage`` so that
``siting.coverage`` is always the function).

:func:`coverage` snaps demand points and sites to the walking network, runs one bounded
search per site up to the largest threshold and keeps a sparse ``sites × demand`` matrix of
walking distances (metres). Every smaller threshold (5/10/15 minutes) is a filter of that
matrix, every solver and statistic reads it, and nothing is ever dense.

``mode="circle"`` builds the same object from straight-line distances (the Euclidean
"15-minute circle" of GB 50180: 800–1000 m), so the two readings compare side by side.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial import cKDTree

from . import offnetwork
from .crs import require_crs, to_metric
from .errors import DataError, MissingColumnError, NetworkError, ParameterError
from .network.graph import Network
from .network.paths import bounded_distances, merge_min
from .network.snap import MAX_SNAP_M, links, same_edge_pairs, snap_points
from .validation import DEFAULT_MINUTES, WALK_SPEED_KMH, positive, reject_rows, walk_metres

log = logging.getLogger(__name__)

# the defaults and checks shared with the API, the scenarios and the solvers
DEFAULT_SPEED_KMH = WALK_SPEED_KMH  # km/h (15 minutes = 1,125 m)
_check_positive = positive


@dataclass(eq=False)
class Coverage:
    """Walking distances from sites to demand points within a threshold.

    Made by :func:`siting.coverage`; every statistic and every solver reads it. Smaller
    thresholds than ``limit_m`` are filters of the same matrix (:meth:`matrix`,
    :meth:`stats` with ``minutes=``).

    Parameters
    ----------
    demand : geopandas.GeoDataFrame
        Demand points (metric CRS) with ``population`` (persons) and, when given,
        ``district`` / ``households``; plus ``snapped`` (bool: within reach of the
        network) and ``access_m`` (straight walk to the network, metres).
    sites : geopandas.GeoDataFrame
        Existing facilities first, then candidates (metric CRS), with ``existing``
        (bool), ``cost``, ``name``, optional ``capacity`` (persons); plus ``snapped`` and
        ``access_m``.
    distance : scipy.sparse.csr_matrix
        ``(n_sites, n_demand)`` walking metres; a stored entry means "within
        ``limit_m``" (0.0 is stored explicitly).
    limit_m : float
        The largest threshold computed, metres.
    speed_kmh : float
        Walking speed used to turn minutes into metres, km/h.
    mode : str
        ``"network"`` (walking on streets) or ``"circle"`` (straight line).
    minutes : tuple of float
        The thresholds asked for, minutes (the default rows of :meth:`stats`).
    network : Network or None
        The walking network (None for circles); used for service areas and maps.
    timings : dict
        Seconds per stage (``prepare``, ``snap``, ``distances``), ``cache_hit``.

    Examples
    --------
    See :func:`siting.coverage`.
    """

    demand: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    distance: sp.csr_matrix
    limit_m: float
    speed_kmh: float = DEFAULT_SPEED_KMH
    mode: str = "network"
    minutes: tuple[float, ...] = ()
    network: Network | None = None
    timings: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------------ basics
    @property
    def n_demand(self) -> int:
        """Number of demand points."""
        return len(self.demand)

    @property
    def n_sites(self) -> int:
        """Number of sites (existing + candidates)."""
        return len(self.sites)

    @property
    def existing(self) -> np.ndarray:
        """Boolean mask of existing sites."""
        return self.sites["existing"].to_numpy(bool)

    @property
    def population(self) -> np.ndarray:
        """Persons per demand point."""
        return self.demand["population"].to_numpy(np.float64)

    @property
    def pairs(self) -> int:
        """Number of stored (site, demand) pairs within the limit."""
        return int(self.distance.nnz)

    def threshold_m(self, minutes: float | None = None, metres: float | None = None) -> float:
        """A threshold in metres (default the largest computed); checked against the limit.

        Parameters
        ----------
        minutes : float, optional
            Walking time, minutes (turned into metres at ``speed_kmh``).
        metres : float, optional
            The threshold in metres, instead of ``minutes``.

        Returns
        -------
        float
            Metres, at most ``limit_m``.

        Raises
        ------
        ParameterError
            A threshold that is not > 0, or beyond the computed ``limit_m``.
        """
        if metres is None:
            metres = self.limit_m if minutes is None else walk_metres(minutes, self.speed_kmh)
        _check_positive("threshold", metres)
        if metres > self.limit_m * (1 + 1e-12):
            msg = (
                f"A {metres:.0f} m threshold is beyond the {self.limit_m:.0f} m computed; "
                f"rebuild the coverage with minutes >= {metres / walk_metres(1, self.speed_kmh):g}."
            )
            raise ParameterError(msg)
        return float(metres)

    def matrix(self, minutes: float | None = None, *, metres: float | None = None) -> sp.csr_matrix:
        """Boolean coverage matrix at a threshold: who each site reaches.

        Parameters
        ----------
        minutes : float, optional
            Walking time, minutes (default the largest computed).
        metres : float, optional
            The threshold in metres, instead of ``minutes``.

        Returns
        -------
        scipy.sparse.csr_matrix
            Boolean ``A`` of shape ``(n_demand, n_sites)``: ``A[i, j]`` is True when site
            j is within the threshold of demand point i.

        Raises
        ------
        ParameterError
            A threshold that is not > 0, or beyond the computed ``limit_m``.
        """
        t = self.threshold_m(minutes, metres)
        D = self.distance
        keep = D.data <= t
        # copy=True: eliminate_zeros() works in place and would otherwise prune the
        # shared indices/indptr of self.distance, corrupting every later query
        A = sp.csr_matrix((keep.astype(np.int8), D.indices, D.indptr), shape=D.shape, copy=True)
        A.eliminate_zeros()
        return A.T.tocsr().astype(bool)

    def distance_matrix(self) -> sp.csr_matrix:
        """Walking metres from each demand point to each site within the limit.

        Returns
        -------
        scipy.sparse.csr_matrix
            ``(n_demand, n_sites)`` metres; a stored entry means within ``limit_m`` (0.0
            is stored explicitly).
        """
        return self.distance.T.tocsr()

    def _rows(self, sites) -> np.ndarray:
        if sites is None:
            return np.flatnonzero(self.existing)
        sites = np.asarray(sites)
        if sites.dtype == bool:
            if len(sites) != self.n_sites:
                msg = f"A site mask must have {self.n_sites} entries, not {len(sites)}."
                raise ParameterError(msg)
            return np.flatnonzero(sites)
        return sites.astype(np.int64)

    def nearest_m(self, sites=None, minutes: float | None = None) -> np.ndarray:
        """Walk from each demand point to its nearest open site, metres.

        Parameters
        ----------
        sites : array_like, optional
            Boolean mask (``n_sites``) or row indices of the open sites (default: the
            existing ones).
        minutes : float, optional
            Walking threshold, minutes (default the largest computed).

        Returns
        -------
        numpy.ndarray
            float64 metres per demand point; ``inf`` where no open site is within the
            threshold.

        Raises
        ------
        ParameterError
            A mask of the wrong length, or a threshold beyond the computed limit.
        """
        t = self.threshold_m(minutes)
        rows = self._rows(sites)
        out = np.full(self.n_demand, np.inf)
        if len(rows) == 0:
            return out
        sub = self.distance[rows]
        d = sub.data
        ok = d <= t
        np.minimum.at(out, sub.indices[ok], d[ok])
        return out

    def covered(self, sites=None, minutes: float | None = None) -> np.ndarray:
        """Which demand points are within the threshold of an open site.

        Parameters
        ----------
        sites : array_like, optional
            Boolean mask or row indices of the open sites (default: the existing ones).
        minutes : float, optional
            Walking threshold, minutes (default the largest computed).

        Returns
        -------
        numpy.ndarray
            Boolean per demand point.
        """
        return np.isfinite(self.nearest_m(sites, minutes))

    def coverable(self, minutes: float | None = None) -> np.ndarray:
        """Which demand points are within the threshold of *any* site (existing or not).

        Parameters
        ----------
        minutes : float, optional
            Walking threshold, minutes (default the largest computed).

        Returns
        -------
        numpy.ndarray
            Boolean per demand point: the most any plan could cover.
        """
        return self.covered(np.ones(self.n_sites, bool), minutes)

    # ------------------------------------------------------------------ statistics
    def stats(
        self,
        by: str | None = None,
        *,
        sites=None,
        minutes: float | Sequence[float] | None = None,
    ) -> pd.DataFrame:
        """Coverage statistics overall and per group (e.g. ``by="district"``).

        Parameters
        ----------
        by : str, optional
            Demand column to group by (e.g. ``"district"``); a ``total`` row is added.
        sites : array_like, optional
            Boolean mask or row indices of the open sites (default: the existing ones).
        minutes : float or sequence of float, optional
            Walking threshold(s), minutes (default: those the coverage was built with).

        Returns
        -------
        pandas.DataFrame
            One row per group (index ``by``, or ``area`` = ``total``) and threshold:
            ``minutes``, ``population``, ``covered``, ``uncovered`` (persons), ``share``
            (0–1), ``demand_points``, ``mean_walk_m`` and ``p90_walk_m``
            (population-weighted walk to the nearest open site among those within the
            computed limit, metres), ``beyond_limit`` (persons with no open site within
            the computed limit), ``unsnapped`` (persons beyond the access limit of every
            walkable edge), and ``households`` / ``covered_households`` when the demand
            has households.

        Raises
        ------
        MissingColumnError
            The demand has no column ``by``.
        ParameterError
            A threshold beyond the computed limit.
        """
        if minutes is None:
            minutes_list = list(self.minutes) or [self.limit_m / walk_metres(1, self.speed_kmh)]
        elif np.ndim(minutes) == 0:
            minutes_list = [float(minutes)]
        else:
            minutes_list = [float(m) for m in minutes]
        if by is not None and by not in self.demand.columns:
            msg = (
                f"stats(by={by!r}): the demand has no {by!r} column (it has "
                f"{', '.join(map(str, self.demand.columns))}). Pass districts when reading "
                "the population to get a 'district' column."
            )
            raise MissingColumnError(msg)
        nearest_all = self.nearest_m(sites, None)
        pop = self.population
        hh = self.demand["households"].to_numpy(float) if "households" in self.demand else None
        snapped = self.demand["snapped"].to_numpy(bool) if "snapped" in self.demand else None
        groups = (
            self.demand[by].astype("string").fillna("(none)").to_numpy(dtype=object)
            if by is not None
            else np.full(self.n_demand, "total", dtype=object)
        )
        # the all-groups row is "total", unless a group already has that name
        total_label = "total" if by is None or "total" not in set(groups) else "(all)"
        frames = []
        for m in minutes_list:
            t = self.threshold_m(m)
            cov = nearest_all <= t
            df = pd.DataFrame({"group": groups, "population": pop, "covered": pop * cov})
            if hh is not None:
                df["households"] = hh
                df["covered_households"] = hh * cov
            df["beyond_limit"] = pop * ~np.isfinite(nearest_all)
            df["unsnapped"] = pop * (~snapped if snapped is not None else 0)
            df["demand_points"] = 1
            agg = df.groupby("group", sort=True).sum(numeric_only=True)
            if by is not None:
                total = df.drop(columns="group").sum(numeric_only=True).to_frame(total_label).T
                agg = pd.concat([agg, total])
            agg["uncovered"] = agg["population"] - agg["covered"]
            agg["share"] = np.divide(
                agg["covered"],
                agg["population"],
                out=np.zeros(len(agg)),
                where=agg["population"].to_numpy() > 0,
            )
            walk = _walk_stats(groups, pop, nearest_all, total_label if by else None)
            agg = agg.join(walk)
            agg.insert(0, "minutes", m)
            agg.index.name = by or "area"
            frames.append(agg)
        out = pd.concat(frames)
        cols = [
            "minutes",
            "population",
            "covered",
            "uncovered",
            "share",
            "demand_points",
            "mean_walk_m",
            "p90_walk_m",
            "beyond_limit",
            "unsnapped",
        ]
        if hh is not None:
            cols += ["households", "covered_households"]
        return out[cols]

    def summary(self) -> dict[str, Any]:
        """Key numbers of this coverage.

        Returns
        -------
        dict
            ``mode``, ``limit_m`` (metres), ``speed_kmh``, ``demand_points``,
            ``population`` and ``covered_population`` (persons, by the existing sites at
            the largest threshold), ``covered_share`` and ``coverable_share`` (0–1),
            ``existing_sites``, ``candidate_sites``, ``pairs`` (stored site–demand pairs)
            and ``seconds_*`` per stage.
        """
        pop = self.population
        total = float(pop.sum())
        covered = float(pop[self.covered()].sum())
        return {
            "mode": self.mode,
            "limit_m": self.limit_m,
            "speed_kmh": self.speed_kmh,
            "demand_points": self.n_demand,
            "population": total,
            "existing_sites": int(self.existing.sum()),
            "candidate_sites": int((~self.existing).sum()),
            "covered_population": covered,
            "covered_share": covered / total if total > 0 else 0.0,
            "coverable_share": float(pop[self.coverable()].sum() / total) if total > 0 else 0.0,
            "pairs": self.pairs,
            **{f"seconds_{k}": v for k, v in self.timings.items()},
        }

    def __repr__(self) -> str:
        return (
            f"Coverage({self.mode}, {self.n_sites:,} sites × {self.n_demand:,} demand points, "
            f"{self.limit_m:.0f} m, {self.pairs:,} pairs)"
        )


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    if len(values) == 0 or weights.sum() <= 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cw = np.cumsum(w)
    return float(v[np.searchsorted(cw, q * cw[-1], side="left")])


def _walk_stats(groups, pop, nearest, total_label: str | None) -> pd.DataFrame:
    """Population-weighted mean and 90th percentile of the walk to the nearest site."""
    ok = np.isfinite(nearest)
    rows = {}
    labels = list(pd.unique(groups))
    for g in labels:
        sel = ok & (groups == g)
        rows[g] = _walk_row(nearest[sel], pop[sel])
    if total_label is not None:
        rows[total_label] = _walk_row(nearest[ok], pop[ok])
    return pd.DataFrame.from_dict(rows, orient="index", columns=["mean_walk_m", "p90_walk_m"])


def _walk_row(d: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    if len(d) == 0 or w.sum() <= 0:
        return float("nan"), float("nan")
    return float(np.average(d, weights=w)), _weighted_quantile(d, w, 0.9)


# ---------------------------------------------------------------------- inputs
def _points(gdf: gpd.GeoDataFrame, crs, what: str) -> gpd.GeoDataFrame:
    """Reproject to ``crs``; polygons become representative points."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"The {what} must be a GeoDataFrame of points, not {type(gdf).__name__}."
        raise DataError(msg)
    require_crs(gdf, what)
    gdf = to_metric(gdf, crs, what)
    geom = gdf.geometry
    if geom.isna().any() or geom.is_empty.any():
        bad = int(np.flatnonzero((geom.isna() | geom.is_empty).to_numpy())[0])
        msg = f"The {what} has a missing or empty geometry at row {bad}; drop or fix it."
        raise DataError(msg)
    types = set(geom.geom_type.unique())
    if types - {"Point"}:
        gdf = gdf.copy()
        gdf.geometry = geom.representative_point()
    return gdf


def _prepare_demand(demand: gpd.GeoDataFrame, crs) -> gpd.GeoDataFrame:
    if "population" not in demand.columns:
        msg = (
            "The demand has no 'population' column (persons per point). Read it with "
            "siting.read_population(...) or add the column."
        )
        raise MissingColumnError(msg)
    demand = _points(demand, crs, "demand").reset_index(drop=True)
    pop = pd.to_numeric(demand["population"], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(pop) | (pop < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        value = demand["population"].iloc[i]
        value = value.item() if isinstance(value, np.generic) else value  # -30, not np.int64(-30)
        msg = f"Demand row {i}, field 'population': {value!r} is not a number >= 0 persons."

        raise DataError(msg)
    demand = demand.copy()
    demand["population"] = pop
    return demand


def _disagreeing(column: pd.Series, flag: bool) -> int:
    """Rows of a yes/no column that say the opposite of ``flag`` (0 if not yes/no)."""
    try:
        values = pd.array(column).astype("boolean")
    except (TypeError, ValueError):
        return 0
    return int((values != flag).fillna(False).sum())


def _prepare_sites(existing, candidates, crs) -> gpd.GeoDataFrame:
    parts = []
    for frame, flag, what in (
        (existing, True, "existing facilities"),
        (candidates, False, "candidate sites"),
    ):
        if frame is None or len(frame) == 0:
            continue
        f = _points(frame, crs, what).copy()
        if "existing" in f.columns:
            # the argument decides (a plan's chosen sites passed as existing are built
            # now, whatever their old flag); say so when a yes/no column disagrees
            other = _disagreeing(f["existing"], flag)
            if other:
                log.warning(
                    "%s: %d of the %d rows say existing=%s in their 'existing' column, but "
                    "all are taken as %s (the argument decides). To split one file, pass "
                    "sites[sites.existing] as existing and sites[~sites.existing] as "
                    "candidates.",
                    what,
                    other,
                    len(f),
                    not flag,
                    what,
                )
        f["existing"] = flag
        parts.append(f)
    if not parts:
        msg = "No sites: give existing facilities and/or candidate sites."
        raise ParameterError(msg)
    sites = pd.concat(parts, ignore_index=True)
    sites = gpd.GeoDataFrame(sites, geometry=sites.geometry.name, crs=parts[0].crs)
    if "cost" in sites.columns:
        cost = pd.to_numeric(sites["cost"], errors="coerce").fillna(1.0).to_numpy(float)
    else:
        cost = np.ones(len(sites))
    reject_rows(
        cost < 0,
        DataError,
        lambda i: f"Site row {i}, field 'cost': {cost[i]} is negative; costs must be >= 0.",
    )
    sites["cost"] = np.where(sites["existing"].to_numpy(bool), 0.0, cost)
    if "name" not in sites.columns:
        sites["name"] = ""
    sites["name"] = sites["name"].astype("string").fillna("")
    return sites


def coverage(
    network: Network | None,
    demand: gpd.GeoDataFrame,
    existing: gpd.GeoDataFrame | None = None,
    candidates: gpd.GeoDataFrame | None = None,
    *,
    minutes: float | Sequence[float] = DEFAULT_MINUTES,
    speed_kmh: float = DEFAULT_SPEED_KMH,
    threshold_m: float | None = None,
    mode: str = "network",
    max_snap_m: float = MAX_SNAP_M,
    threads: int | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike | None = None,
    tiles: float | gpd.GeoDataFrame | None = None,
    client: Any = None,
) -> Coverage:
    """Walking (or straight-line) coverage of demand by existing and candidate sites.

    Parameters
    ----------
    network
        The walking network (``None`` only with ``mode="circle"``).
    demand
        Points with ``population`` (persons); optional ``district``, ``households``.
    existing, candidates
        Existing facilities (kept open) and candidate sites (points; optional
        ``cost``, ``capacity``, ``name``). The argument decides which is which; an
        ``existing`` column that disagrees (e.g. a yes/no field read by
        :func:`siting.read_facilities`) is reported in a logged warning.
    minutes
        Walking threshold(s) in minutes, e.g. ``15`` or ``(5, 10, 15)``; all come from
        one search up to the largest.
    speed_kmh
        Walking speed (km/h), default 4.5 (15 min ≈ 1125 m).
    threshold_m
        A threshold in metres instead of minutes (e.g. a 1000 m circle).
    mode
        ``"network"`` (walk on streets) or ``"circle"`` (straight-line distance).
    max_snap_m
        Largest straight-line access walk from a point to the network (metres).
    threads
        Threads for the searches (default: all cores).
    cache, cache_dir
        Reuse distances computed before for the same network, points and limit: kept in
        memory for this session (a few recent results) and, with ``cache_dir``, as
        ``.npz`` files there across sessions. The key hashes the network's adjacency, where
        every point joins it and the limit, so any change recomputes.
    tiles, client
        Compute the distances tile by tile on Dask (:mod:`siting.tiles`): ``tiles`` is a
        tile side in metres or district polygons, ``client`` a ``distributed.Client``
        (default: a local cluster, one worker per core). Same result as without tiles.

    Returns
    -------
    Coverage
        Demand and sites in the network's CRS (or, for circles, the UTM zone of the
        demand) and the sparse ``sites × demand`` matrix of walking metres up to the
        largest threshold.

    Raises
    ------
    ParameterError
        ``minutes``, ``speed_kmh`` or ``threshold_m`` not > 0; an unknown ``mode``; no
        network with ``mode="network"``; no sites at all.
    MissingColumnError
        The demand has no ``population`` column.
    DataError
        A population that is not a number >= 0 persons, a missing geometry, a negative
        site cost, or (circles) sites and demand farther apart than the threshold.
    CRSError
        Demand or sites without a CRS.
    NetworkError
        No demand point, or no site, within ``max_snap_m`` of the network (they cover
        another place, or a layer's CRS is wrong).

    See Also
    --------
    siting.solve : Choose sites on this coverage.
    siting.Coverage.stats : Who is covered, overall and per district.

    Examples
    --------
    A 1 km square street grid with 100 m blocks, 50 persons at each crossing, one
    existing centre in the middle and 16 candidate sites:

    >>> import siting as st
    >>> net = st.network.grid_network(11, 100.0)
    >>> homes = net.nodes_gdf().assign(population=50)
    >>> centre = homes.iloc[[60]]
    >>> candidates = st.candidate_sites(net, spacing_m=300)
    >>> cov = st.coverage(net, homes, centre, candidates, minutes=(3, 5))
    >>> cov  # 5 minutes at 4.5 km/h = 375 m
    Coverage(network, 17 sites × 121 demand points, 375 m, 326 pairs)
    >>> cov.stats()[["minutes", "population", "covered", "share"]].round(3)
           minutes  population  covered  share
    area
    total        3      6050.0    650.0  0.107
    total        5      6050.0   1250.0  0.207

    Straight-line circles of the same reach, to compare with the walk:

    >>> circle = st.coverage(None, homes, centre, candidates, threshold_m=375, mode="circle")
    >>> circle.stats()["share"].round(3).item()
    0.372
    """
    import time

    _check_positive("speed_kmh", speed_kmh)
    mins = (minutes,) if np.ndim(minutes) == 0 else tuple(minutes)
    if not mins:
        msg = "minutes=(): give at least one walking threshold in minutes."
        raise ParameterError(msg)
    for m in mins:
        _check_positive("minutes", m)
    if threshold_m is not None:
        _check_positive("threshold_m", threshold_m)
        limit = float(threshold_m)
        mins = (limit / walk_metres(1, speed_kmh),)
    else:
        limit = max(walk_metres(m, speed_kmh) for m in mins)
    if mode not in ("network", "circle"):
        msg = f"mode={mode!r}: use 'network' (walking on streets) or 'circle' (straight line)."
        raise ParameterError(msg)
    if mode == "network" and network is None:
        msg = "mode='network' needs a walking network; pass one or use mode='circle'."
        raise ParameterError(msg)

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    crs = network.crs if network is not None else None
    if crs is None:
        from .crs import metric_crs

        crs = metric_crs(demand)
    demand_in, demand = demand, _prepare_demand(demand, crs)
    sites = _prepare_sites(existing, candidates, crs)
    dx, dy = demand.geometry.x.to_numpy(), demand.geometry.y.to_numpy()
    sx, sy = sites.geometry.x.to_numpy(), sites.geometry.y.to_numpy()
    timings["prepare"] = time.perf_counter() - t0

    if mode == "circle":
        t1 = time.perf_counter()
        _check_overlap(sx, sy, dx, dy, limit)
        D = _euclidean(sx, sy, dx, dy, limit)
        timings["distances"] = time.perf_counter() - t1
        demand["snapped"] = True
        demand["access_m"] = 0.0
        sites["snapped"] = True
        sites["access_m"] = 0.0
        return Coverage(demand, sites, D, limit, speed_kmh, "circle", mins, network, timings)

    t1 = time.perf_counter()
    ds = snap_points(network, dx, dy, max_snap_m)
    ss = snap_points(network, sx, sy, max_snap_m)
    demand["snapped"] = ds.snapped
    demand["access_m"] = ds.access_m
    sites["snapped"] = ss.snapped
    sites["access_m"] = ss.access_m
    if not ds.snapped.any():
        given = offnetwork.layer("demand points", [demand_in])
        msg = (
            f"None of the {len(ds)} demand points lies within {max_snap_m:.0f} m of the walking "
            "network: the demand and the network do not overlap. "
            + offnetwork.explain_demand(network, demand, given, max_snap_m)
        )
        raise NetworkError(msg)
    offnetwork.check_sites(network, sites, ss.snapped, [existing, candidates], max_snap_m)
    if not ss.snapped.any():
        msg = (
            f"None of the {len(ss)} sites lies within {max_snap_m:.0f} m of the walking network; "
            "check that the sites and the network cover the same place."
        )
        raise NetworkError(msg)
    if ds.n_unsnapped:
        lost = float(demand["population"].to_numpy()[~ds.snapped].sum())
        log.warning(
            "%d demand points (%.0f persons) are more than %.0f m from any walkable edge; "
            "they count as not covered.",
            ds.n_unsnapped,
            lost,
            max_snap_m,
        )
    timings["snap"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    src, tgt = links(network, ss, as_source=True), links(network, ds, as_source=False)
    key = _cache_key(network, src, tgt, ss, ds, limit) if cache else None
    D = _cache_get(key, cache_dir)
    if D is None:
        D = _network_distances(network, ss, ds, src, tgt, limit, threads, tiles, client, (sx, sy))
        _cache_put(key, D, cache_dir)
    else:
        timings["cache_hit"] = 1.0
    timings["distances"] = time.perf_counter() - t2
    return Coverage(demand, sites, D, limit, speed_kmh, "network", mins, network, timings)


def _network_distances(
    network, ss, ds, src, tgt, limit, threads, tiles, client, site_xy
) -> sp.csr_matrix:
    """Bounded searches from every site (in this process, or tiled on Dask), plus the
    walks between a site and demand on the same edge."""
    if tiles is None:
        D = bounded_distances(
            network.indptr, network.indices, network.weights, src, tgt, limit, threads=threads
        )
    else:
        from .tiles import tiled_distances

        D = tiled_distances(
            network, src, tgt, limit, tiles=tiles, site_x=site_xy[0], site_y=site_xy[1],
            client=client,
        )  # fmt: skip
    si, di, dm = same_edge_pairs(network, ss, ds, limit)
    if len(si):
        D = _merge_min(D, si, di, dm)
    return D


#: in-memory cache of recent distance matrices (key -> CSR), most recent last
_CACHE: OrderedDict[str, sp.csr_matrix] = OrderedDict()
_CACHE_SIZE = 4


def _cache_key(net: Network, src, tgt, ss, ds, limit: float) -> str:
    h = hashlib.blake2b(digest_size=20)
    for a in (
        net.indptr,
        net.indices,
        net.weights,
        src.ptr,
        src.node,
        src.metres,
        tgt.ptr,
        tgt.node,
        tgt.metres,
        ss.edge,
        ss.offset_m,
        ss.access_m,
        ds.edge,
        ds.offset_m,
        ds.access_m,
        net.edge_forward,
        net.edge_backward,
        net.edge_factor,
    ):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr(float(limit)).encode())
    return h.hexdigest()


def _cache_get(key: str | None, cache_dir) -> sp.csr_matrix | None:
    if key is None:
        return None
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key].copy()
    if cache_dir is not None:
        f = Path(cache_dir) / f"coverage-{key}.npz"
        if f.exists():
            try:
                D = sp.load_npz(f).tocsr()
            except (OSError, ValueError):
                log.warning("Ignoring an unreadable coverage cache file %s", f)
                return None
            _CACHE[key] = D
            return D.copy()
    return None


def _cache_put(key: str | None, D: sp.csr_matrix, cache_dir) -> None:
    if key is None:
        return
    _CACHE[key] = D.copy()
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    if cache_dir is not None:
        from .output import atomic_write

        f = Path(cache_dir) / f"coverage-{key}.npz"
        atomic_write(f, lambda p: sp.save_npz(p, D), force=True)


def _check_overlap(sx, sy, dx, dy, limit: float) -> None:
    """Raise if no site can be within ``limit`` metres of any demand point (bounding boxes)."""
    sep_x = max(dx.min() - sx.max(), sx.min() - dx.max(), 0.0)
    sep_y = max(dy.min() - sy.max(), sy.min() - dy.max(), 0.0)
    if np.hypot(sep_x, sep_y) > limit:
        msg = (
            f"The sites and the demand points are {np.hypot(sep_x, sep_y):,.0f} m apart at "
            f"the closest (bounding boxes: sites x {sx.min():,.0f}..{sx.max():,.0f}, y "
            f"{sy.min():,.0f}..{sy.max():,.0f}; demand x {dx.min():,.0f}..{dx.max():,.0f}, "
            f"y {dy.min():,.0f}..{dy.max():,.0f} metres), more than the {limit:,.0f} m "
            "threshold: nothing could be covered. They cover different places, or one layer's "
            "CRS is wrong (degrees labelled as metres?). Check both with .total_bounds."
        )
        raise DataError(msg)


def _euclidean(sx, sy, dx, dy, limit: float) -> sp.csr_matrix:
    """Straight-line distances within ``limit`` as CSR (sites × demand), zeros stored."""
    ts = cKDTree(np.column_stack([sx, sy]))
    td = cKDTree(np.column_stack([dx, dy]))
    coo = ts.sparse_distance_matrix(td, limit, output_type="ndarray")  # keeps 0.0 entries
    order = np.lexsort((coo["j"], coo["i"]))
    rows, cols, vals = coo["i"][order], coo["j"][order], coo["v"][order]
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=len(sx)))]
    return sp.csr_matrix((vals, cols.astype(np.int32), indptr), shape=(len(sx), len(dx)))


def _merge_min(D: sp.csr_matrix, rows, cols, vals) -> sp.csr_matrix:
    """Union of ``D``'s entries and extra triples, keeping the minimum per pair."""
    return merge_min(D, rows, cols, vals)


def candidate_sites(
    network: Network, spacing_m: float = 200.0, *, demand: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """Candidate sites at network nodes, thinned to about one per ``spacing_m`` square.

    The first node (in network order) of each ``spacing_m`` × ``spacing_m`` square
    becomes a candidate: an even spread where planners have no list of plots yet.

    Parameters
    ----------
    network : Network
        The walking network.
    spacing_m : float
        Side of the squares, metres (> 0): about one candidate per square.
    demand : geopandas.GeoDataFrame, optional
        Demand points (any CRS): only candidates within ``spacing_m`` of some demand
        point are kept (no candidates in empty forest).

    Returns
    -------
    geopandas.GeoDataFrame
        Points in the network's CRS with ``node`` (network node index),
        ``existing=False``, ``cost=1`` and ``name`` (``"candidate 1"``, ...).

    Raises
    ------
    ParameterError
        ``spacing_m`` not > 0.
    CRSError
        ``demand`` without a CRS.
    """
    _check_positive("spacing_m", spacing_m)
    x, y = network.node_x, network.node_y
    key = np.floor(x / spacing_m).astype(np.int64) * 10_000_019 + np.floor(y / spacing_m).astype(
        np.int64
    )
    _, first = np.unique(key, return_index=True)
    nodes = np.sort(first)
    if demand is not None and len(demand):
        d = to_metric(demand, network.crs, "demand")
        tree = cKDTree(np.column_stack([d.geometry.x, d.geometry.y]))
        near, _ = tree.query(np.column_stack([x[nodes], y[nodes]]), distance_upper_bound=spacing_m)
        nodes = nodes[np.isfinite(near)]
    return gpd.GeoDataFrame(
        {
            "node": nodes,
            "existing": False,
            "cost": 1.0,
            "name": [f"candidate {i + 1}" for i in range(len(nodes))],
        },
        geometry=gpd.points_from_xy(x[nodes], y[nodes]),
        crs=network.crs,
    )
