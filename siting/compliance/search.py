"""One walking search for a plan and the norm audit of its facilities.

A scenario run with an ``audit:`` section measures the plan's coverage (its existing
facilities and candidates, up to its largest threshold) and the audit's (the audit's
facilities, up to the largest distance a life-circle level, a walk attribution or the
run needs). :func:`joint_coverage` does both in **one** bounded search from every site,
up to the larger limit, then splits it: each part is a :class:`~siting.Coverage` over
its own sites and limit, the same as if it had been searched alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..measure import Coverage, coverage, walk_metres


def within(D: sp.spmatrix, limit_m: float) -> sp.csr_matrix:
    """The entries of ``D`` up to ``limit_m`` (explicit zeros kept: they mean 0 m), in
    ``D``'s own order."""
    D = sp.csr_matrix(D)
    keep = D.data <= limit_m
    row = np.repeat(np.arange(D.shape[0]), np.diff(D.indptr))
    indptr = np.r_[0, np.cumsum(np.bincount(row[keep], minlength=D.shape[0]))]
    return sp.csr_matrix(
        (D.data[keep], D.indices[keep], indptr.astype(D.indptr.dtype)), shape=D.shape
    )


def sub_coverage(
    cov: Coverage,
    rows: np.ndarray | None = None,
    *,
    limit_m: float | None = None,
    minutes: Sequence[float] | None = None,
    sites: gpd.GeoDataFrame | None = None,
) -> Coverage:
    """The coverage of some of ``cov``'s sites (``rows``; default all), cut at ``limit_m``.

    ``minutes``: the thresholds it reports (default ``cov``'s); ``sites``: the frame of
    those sites (default ``cov.sites`` at ``rows``).
    """
    rows = np.arange(cov.n_sites) if rows is None else np.asarray(rows, dtype=np.int64)
    limit = cov.limit_m if limit_m is None else float(limit_m)
    D = cov.distance[rows]
    if limit < cov.limit_m:
        D = within(D, limit)
    if sites is None:
        sites = cov.sites.iloc[rows].reset_index(drop=True)
    mins = tuple(cov.minutes if minutes is None else minutes)
    return Coverage(
        cov.demand, sites, D, limit, cov.speed_kmh, cov.mode, mins, cov.network, dict(cov.timings)
    )


def joint_coverage(
    network,
    demand: gpd.GeoDataFrame,
    existing: gpd.GeoDataFrame | None,
    candidates: gpd.GeoDataFrame | None,
    facilities: gpd.GeoDataFrame | None,
    *,
    minutes: Sequence[float],
    limit_m: float,
    speed_kmh: float,
    max_snap_m: float,
) -> tuple[Coverage, Coverage]:
    """The plan's coverage and the audit's, from one search (module docstring).

    Parameters
    ----------
    existing, candidates
        The plan's sites.
    facilities
        The audit's facilities (typed); ``None``: the audit's facilities are ``existing``.
    minutes
        The plan's thresholds (its coverage stops at the largest).
    limit_m
        The audit's walk (metres); the search goes to the larger of the two.

    Returns
    -------
    (plan coverage, audit coverage)
        The plan's: its sites in their order, to its largest threshold. The audit's:
        its facilities as the existing sites (with the plan's candidates when
        ``facilities`` is None), to ``limit_m``.
    """
    run_limit = max(walk_metres(m, speed_kmh) for m in minutes)
    limit = max(run_limit, float(limit_m))
    options = {"threshold_m": limit, "speed_kmh": speed_kmh, "max_snap_m": max_snap_m}
    audit_minutes = (float(limit_m) / walk_metres(1, speed_kmh),)
    template = _template(existing, candidates)
    if facilities is None or template is None:  # the audit's facilities are the plan's own
        both = coverage(network, demand, existing, candidates, **options)
        plan = sub_coverage(both, limit_m=run_limit, minutes=minutes)
        return plan, sub_coverage(both, limit_m=limit_m, minutes=audit_minutes)
    n_existing = 0 if existing is None else len(existing)
    extra = rows_like(template, facilities)
    first = extra if n_existing == 0 else pd.concat([existing, extra], ignore_index=True)
    both = coverage(network, demand, first, candidates, **options)
    audit_rows = np.arange(n_existing, n_existing + len(extra))
    plan_rows = np.setdiff1d(np.arange(both.n_sites), audit_rows)
    plan = sub_coverage(both, plan_rows, limit_m=run_limit, minutes=minutes)
    sites = _audit_sites(both, audit_rows, facilities)
    audit = sub_coverage(both, audit_rows, limit_m=limit_m, minutes=audit_minutes, sites=sites)
    return plan, audit


def _template(existing, candidates) -> gpd.GeoDataFrame | None:
    """The frame whose columns the audit's facilities borrow in the joint search."""
    if existing is not None and len(existing):
        return existing
    if candidates is not None and len(candidates):
        return candidates
    return None


def rows_like(template: gpd.GeoDataFrame, points: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``points`` as rows of ``template``: its columns and dtypes (the first row's values),
    the points' geometry and names. Appended to ``template``, they change none of its
    columns (no new column, no integer column turned float by missing values)."""
    rows = template.iloc[np.zeros(len(points), dtype=np.int64)].reset_index(drop=True)
    geometry = points.geometry.to_crs(template.crs) if template.crs is not None else points.geometry
    rows[template.geometry.name] = gpd.GeoSeries(geometry.to_numpy(), index=rows.index)
    if "name" in rows.columns and "name" in points.columns:
        rows["name"] = points["name"].to_numpy()
    return gpd.GeoDataFrame(rows, geometry=template.geometry.name, crs=template.crs)


def _audit_sites(both: Coverage, rows: np.ndarray, facilities: gpd.GeoDataFrame):
    """The audit's facilities (their own columns) as the existing sites of its coverage."""
    searched = both.sites.iloc[rows]
    out = facilities.reset_index(drop=True).to_crs(both.sites.crs)
    out = out.drop(columns=[c for c in ("existing", "cost", "snapped", "access_m") if c in out])
    for col in ("snapped", "access_m"):
        out[col] = searched[col].to_numpy()
    out["existing"] = True
    out["cost"] = 0.0
    return out
