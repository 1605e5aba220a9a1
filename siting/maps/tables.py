"""The numbers the map's popups and the report share: per open site and per district."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from ..crs import WGS84
from ..errors import DataError
from ..io._tables import assign_districts, load_districts

if TYPE_CHECKING:
    from ..measure import Coverage
    from ..plan import Plan

log = logging.getLogger(__name__)


def nearest_site(cov: Coverage, open_sites: np.ndarray, threshold_m: float) -> np.ndarray:
    """Row of ``cov.sites`` nearest each demand point among ``open_sites`` (mask) within
    ``threshold_m`` metres of walk, or -1."""
    rows = np.flatnonzero(open_sites)
    out = np.full(cov.n_demand, -1, dtype=np.int64)
    if rows.size == 0:
        return out
    sub = cov.distance[rows].tocoo()
    keep = sub.data <= threshold_m
    site, point, dist = rows[sub.row[keep]], sub.col[keep], sub.data[keep]
    order = np.lexsort((site, dist, point))  # by point, then distance, then site row
    first = np.unique(point[order], return_index=True)[1]
    out[point[order][first]] = site[order][first]
    return out


def site_table(plan: Plan) -> pd.DataFrame:
    """The open sites (existing and new), with the residents each one serves.

    Columns: ``name``, ``new`` (bool), ``served`` (persons whose nearest open site it is,
    within the plan's threshold), ``mean_walk_m`` (their population-weighted walk, NaN
    when none), ``covered_gain`` and ``covered_only_here`` (new sites, see
    :attr:`siting.Plan.new_sites`; NaN for existing ones), plus ``amenity`` when the sites
    have it. Index: rows of ``plan.sites``.
    """
    cov = plan.coverage
    threshold = cov.threshold_m(plan.minutes)
    nearest = nearest_site(cov, plan.selected, threshold)
    pop = cov.population
    walk = cov.nearest_m(plan.selected, plan.minutes)
    served = nearest >= 0
    persons = np.bincount(nearest[served], weights=pop[served], minlength=cov.n_sites)
    person_m = np.bincount(
        nearest[served], weights=pop[served] * walk[served], minlength=cov.n_sites
    )
    sites = plan.sites
    table = pd.DataFrame(index=sites.index[plan.selected])
    names = sites["name"] if "name" in sites.columns else pd.Series("", index=sites.index)
    table["name"] = names.fillna("").astype(str).loc[table.index]
    if "amenity" in sites.columns:
        table["amenity"] = sites["amenity"].fillna("").astype(str).loc[table.index]
    table["new"] = sites["new"].to_numpy(bool)[plan.selected]
    rows = table.index.to_numpy()
    table["served"] = persons[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        table["mean_walk_m"] = np.where(persons[rows] > 0, person_m[rows] / persons[rows], np.nan)
    gains = plan.new_sites[["covered_gain", "covered_only_here"]]
    return table.join(gains)


def _site_groups(
    sites: gpd.GeoDataFrame, cov: Coverage, column: np.ndarray, polygons: gpd.GeoDataFrame | None
) -> np.ndarray:
    """District of each site: the polygon holding it, else its nearest demand point's."""
    if polygons is not None:
        pts = sites.geometry.to_crs(WGS84)
        poly_idx, pt_idx = pts.sindex.query(polygons.geometry, predicate="intersects")
        names = np.full(len(sites), None, dtype=object)
        order = np.argsort(poly_idx, kind="stable")[::-1]  # first polygon wins
        names[pt_idx[order]] = polygons["name"].astype(str).to_numpy()[poly_idx[order]]
        return names
    xy = np.column_stack([cov.demand.geometry.x, cov.demand.geometry.y])
    _, near = cKDTree(xy).query(np.column_stack([sites.geometry.x, sites.geometry.y]))
    return column[near]


def with_districts(plan: Plan, districts: gpd.GeoDataFrame | None) -> Plan:
    """``plan`` whose demand has a ``district`` column, taken from ``districts`` polygons
    when the demand has none (points outside every polygon get ``"(none)"``)."""
    demand = plan.coverage.demand
    if "district" in demand.columns or districts is None:
        return plan
    polys = load_districts(districts)
    inside = assign_districts(demand, polys, "demand points")
    column = pd.Series("(none)", index=demand.index, dtype=object)
    column.loc[inside.index] = inside["district"].astype(str)
    cov = dataclasses.replace(plan.coverage, demand=demand.assign(district=column.to_numpy()))
    return dataclasses.replace(plan, coverage=cov)


def district_table(plan: Plan, districts: gpd.GeoDataFrame | None = None) -> pd.DataFrame | None:
    """Coverage per district before and after the plan, and the new sites in each.

    ``None`` when the demand has no ``district`` column and no ``districts`` polygons
    are given. Columns: ``population``, ``covered_before``, ``covered_after``,
    ``share_before``, ``share_after``, ``mean_walk_m_after`` (:meth:`siting.Plan.stats`)
    and ``new_sites``; one row per district (no total row), sorted by name.
    """
    plan = with_districts(plan, districts)
    if "district" not in plan.coverage.demand.columns:
        return None
    polys = load_districts(districts) if districts is not None else None
    stats = plan.stats("district")
    groups = plan.coverage.demand["district"].astype("string").fillna("(none)").to_numpy(object)
    stats = stats.loc[[g for g in stats.index if g in set(groups)]]
    new = plan.sites[plan.sites["new"]]
    where = _site_groups(new, plan.coverage, groups, polys)
    counts = pd.Series(where, dtype=object).value_counts()
    stats["new_sites"] = counts.reindex(stats.index).fillna(0).astype(int).to_numpy()
    cols = ["population", "covered_before", "covered_after", "share_before", "share_after"]
    return stats[[*cols, "mean_walk_m_after", "new_sites"]]


def check_district_names(table: pd.DataFrame, polygons: gpd.GeoDataFrame) -> None:
    """Raise :class:`DataError` when no district polygon's ``name`` matches the demand's."""
    names = set(polygons["name"].astype(str))
    if not names & set(table.index.astype(str)):
        shown = ", ".join(sorted(map(str, table.index))[:5])
        msg = (
            f"districts=: none of the {len(names)} polygon names matches the demand's "
            f"'district' values (e.g. {shown}). Pass the polygons the demand was read with "
            "(siting.read_districts), whose 'name' column holds those values."
        )
        raise DataError(msg)
