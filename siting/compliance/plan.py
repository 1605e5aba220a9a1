"""From audit to plan: the deficits of an audit become siting inputs.

"Add stations of >= 350 m² until every community meets the floor-area norm and 90% of
residents are within the walk" is solved in two steps:

1. **Norm step** (per community): a community short of ``D`` m² of station floor area, or
   missing a station a rule asks for, needs ``ceil(D / floor_area_m2)`` (or the missing
   count of) new stations inside it. They are chosen among its candidate sites, one at a
   time, each reaching the most of the community's own residents that no station reaches
   yet (greedy).
2. **Coverage step**: with those stations built, :func:`siting.solve` (model
   ``"target"``, optionally ``by=`` a unit column for a target per unit) adds the fewest
   further stations that bring ``coverage_target`` of residents within the walk, with
   its proven bound and gap.

The plan is then audited with the same preset: :attr:`AuditPlan.compliance` shows every
rule and unit before → after.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._docstrings import shared_doc
from ..errors import ParameterError
from ..measure import Coverage, walk_metres
from .core import Audit
from .search import within

log = logging.getLogger(__name__)

_KEY = ["rule", "unit_level", "unit"]


@dataclass(eq=False)
class AuditPlan:
    """New stations closing an audit's deficits, and the audit before → after.

    Made by :meth:`siting.Audit.plan` (:func:`plan_from_audit`), not by hand.

    Parameters
    ----------
    before, after : Audit
        The audit of the existing facilities, and with the new stations added.
    new_sites : geopandas.GeoDataFrame
        The new stations (metric CRS) with ``step`` (``"norm"``: to meet a unit's norm,
        ``"coverage"``: to reach the coverage target), ``type`` and ``floor_area_m2``.
    plan : Plan or None
        The :func:`siting.solve` plan of the coverage step (None when none was needed).
    params : dict
        The options planned with and the coverage shares before and after.
    unmet : pandas.DataFrame
        Units whose deficit their candidate sites could not close.
    """

    before: Audit
    after: Audit
    new_sites: gpd.GeoDataFrame
    plan: Any  # siting.Plan of the coverage step, or None when no step was needed
    params: dict[str, Any] = field(default_factory=dict)
    unmet: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def compliance(self) -> pd.DataFrame:
        """Every rule and unit: status, provided and shortfall before and after the plan."""
        cols = [*_KEY, "status", "required", "provided", "shortfall"]
        b = self.before.compliance[[*cols, "measure"]]
        a = self.after.compliance[cols]
        out = b.merge(a, on=_KEY, how="outer", suffixes=("_before", "_after"))
        first = [*_KEY, "status_before", "status_after", "shortfall_before", "shortfall_after"]
        return out[first + [c for c in out.columns if c not in first]]

    def summary(self) -> dict[str, Any]:
        """New stations per step, coverage share before/after, rule rows fixed.

        Returns
        -------
        dict
            The options planned with, ``share_before`` / ``share_after`` (0–1),
            ``new_stations``, ``new_for_norms``, ``new_for_coverage``, ``rows_fixed``,
            ``rows_still_failing`` and ``units_unmet``.
        """
        c = self.compliance
        fixed = int(((c["status_before"] == "fail") & (c["status_after"] == "pass")).sum())
        still = int((c["status_after"] == "fail").sum())
        return {
            **self.params,
            "new_stations": len(self.new_sites),
            "new_for_norms": int((self.new_sites["step"] == "norm").sum()),
            "new_for_coverage": int((self.new_sites["step"] == "coverage").sum()),
            "rows_fixed": fixed,
            "rows_still_failing": still,
            "units_unmet": len(self.unmet),
        }

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"AuditPlan({s['new_stations']} new stations: {s['new_for_norms']} for the norms, "
            f"{s['new_for_coverage']} for coverage; coverage {s['share_before']:.1%} -> "
            f"{s['share_after']:.1%}; {s['rows_fixed']} failing rows fixed, "
            f"{s['rows_still_failing']} still failing)"
        )

    def explore(self, *, basemap: str = "osm", lang: str = "en", **kwargs: Any):
        """Map of the audit after the plan, with the new stations.

        Each changed figure reads ``before → after``.

        Parameters
        ----------
        basemap, lang : str
            The basemap and the language, as for :meth:`siting.Audit.explore`.
        **kwargs
            The other options of :meth:`siting.Audit.explore`.

        Returns
        -------
        siting.maps.SitingMap
            A :class:`folium.Map` that opens with no network.
        """
        from ..maps import audit_map

        return audit_map(self, basemap=basemap, lang=lang, **kwargs)

    @shared_doc
    def to_file(self, directory: str | os.PathLike, **options: Any) -> dict[str, Path]:
        """Write the audit's folder with the plan, as a whole.

        The audit before the plan, ``plan_compliance.csv`` (before → after, UTF-8 with
        BOM), ``plan_sites.gpkg`` (the new stations), their sheets in
        ``compliance.xlsx``, and the map and report of before → after.

        Parameters
        ----------
        directory : str or os.PathLike
            The folder to write.
        **options
            As for :meth:`siting.Audit.to_file` (``force``, ``cells``, ``map_html``,
            ``basemap``, ``lang``, ``assets``).

        %(written_folder)s
        """
        return self.before.to_file(directory, plan=self, **options)


def plan_from_audit(
    audit: Audit,
    coverage: Coverage | None = None,
    *,
    station_type: str = "community_service_station",
    floor_area_m2: float = 350.0,
    coverage_target: float | None = 0.9,
    minutes: float | None = None,
    unit: str = "community",
    by: str | None = None,
    time_limit: float = 60.0,
    **solve_options: Any,
) -> AuditPlan:
    """New stations of ``floor_area_m2`` that close the audit's deficits (module docstring).

    Parameters
    ----------
    audit
        The audit whose deficits are planned for.
    coverage
        A coverage with candidate sites over the audit's demand (same points, same
        order); default the audit's own coverage (which must then have candidates).
    station_type
        Facility type of the new stations (rules counting this type are planned for).
    floor_area_m2
        Floor area of each new station (m²), e.g. 350 (Zhejiang minimum).
    coverage_target
        Share of residents to bring within the walk of a station (None: norms only).
    minutes
        The walk for the coverage step (default: the preset level holding
        ``station_type``, else the coverage's largest).
    unit
        The unit level whose deficits the norm step closes.
    by
        A demand column: the coverage target then holds in every group of it.
    time_limit, **solve_options
        Passed to :func:`siting.solve` (``time_limit`` in seconds).

    Returns
    -------
    AuditPlan
        The new stations and the audit before → after.

    Raises
    ------
    ParameterError
        No coverage with candidate sites, a coverage over other demand points, or an
        option out of range.
    InfeasibleError
        The coverage target cannot be reached with the candidates.
    """
    cov = coverage if coverage is not None else audit.inputs.coverage
    _check_coverage(audit, cov)
    candidates = np.flatnonzero(~cov.existing)
    threshold = _threshold_m(audit, cov, station_type, minutes)
    need = _needs(audit, unit, station_type, floor_area_m2)
    A = cov.matrix(metres=threshold).tocsc()  # demand x sites
    stations = audit.facilities["type"].to_numpy(dtype=object) == station_type
    covered = _reached(audit.walk[stations], threshold, cov.n_demand)
    share_before = _share(cov.population, covered)
    picked, unmet = _norm_step(audit, cov, A, candidates, need, covered.copy(), unit)
    coverage_sites, plan = _coverage_step(
        audit, cov, stations, picked, threshold, coverage_target, by, time_limit, solve_options
    )
    rows = np.r_[picked, coverage_sites].astype(np.int64)
    steps = ["norm"] * len(picked) + ["coverage"] * len(coverage_sites)
    new = _new_sites(cov, rows, steps, station_type, floor_area_m2)
    after = audit.with_facilities(
        new[["name", "type", "floor_area_m2", "geometry"]], cov.distance[rows]
    )
    new[unit] = (
        after.facilities[unit].to_numpy()[len(audit.facilities) :]
        if unit in after.facilities
        else None
    )
    covered_after = covered | _reached(cov.distance[rows], threshold, cov.n_demand)
    params = {
        "station_type": station_type,
        "floor_area_m2": float(floor_area_m2),
        "coverage_target": coverage_target,
        "threshold_m": threshold,
        "share_before": share_before,
        "share_after": _share(cov.population, covered_after),
    }
    return AuditPlan(audit, after, new, plan, params, unmet)


def _check_coverage(audit: Audit, cov: Coverage | None) -> None:
    if cov is None or not (~cov.existing).any():
        msg = (
            "Planning from an audit needs candidate sites: pass a coverage with candidates, "
            "e.g. st.coverage(net, demand, facilities, st.candidate_sites(net, demand=demand)), "
            "to st.audit(...) or to Audit.plan(coverage)."
        )
        raise ParameterError(msg)
    if cov.n_demand != len(audit.inputs.demand):
        msg = (
            f"The coverage has {cov.n_demand} demand points, the audit {len(audit.inputs.demand)}; "
            "plan with a coverage built on the audit's demand."
        )
        raise ParameterError(msg)


def _threshold_m(audit: Audit, cov: Coverage, station_type: str, minutes: float | None) -> float:
    if minutes is not None:
        return cov.threshold_m(minutes)
    for lv in audit.preset.levels:
        if any(station_type in alt for alt in lv.basket):
            return cov.threshold_m(metres=audit.inputs.distance_m[lv.name])
    return cov.limit_m


def _needs(audit: Audit, unit: str, station_type: str, floor_area_m2: float) -> pd.Series:
    """New stations needed per unit: floor-area deficits and missing stations."""
    c = audit.compliance
    rows = c[(c["unit_level"] == unit) & (c["status"] == "fail") & ~c["unit"].str.startswith("(")]
    need = pd.Series(0, index=pd.Index([], name="unit"), dtype=np.int64)
    for rule in audit.preset.rules:
        if rule.unit != unit or station_type not in rule.types:
            continue
        mine = rows[rows["rule"] == rule.id].set_index("unit")["shortfall"]
        if rule.kind == "floor_area":
            n = np.ceil(mine / floor_area_m2 - 1e-9)
        elif rule.kind == "facility_count":
            min_m2 = rule.params["min_floor_area_m2"] or 0.0
            if floor_area_m2 < min_m2:
                msg = (
                    f"floor_area_m2={floor_area_m2:g}: new stations would not meet rule "
                    f"{rule.id!r} (>= {min_m2:g} m²); plan stations of at least {min_m2:g} m²."
                )
                raise ParameterError(msg)
            n = mine
        else:
            continue
        need = need.combine(n.astype(np.int64), max, fill_value=0)
    unknown = c[(c["unit_level"] == unit) & (c["status"] == "unknown")]
    if len(unknown):
        log.info(
            "%d %s rows are unknown (missing floor areas or staff); no stations are planned "
            "for them.",
            len(unknown),
            unit,
        )
    return need[need > 0]


def _reached(walk: sp.csr_matrix, threshold: float, n_demand: int) -> np.ndarray:
    walk = walk.tocsr()
    out = np.zeros(n_demand, dtype=bool)
    out[walk.indices[walk.data <= threshold]] = True
    return out


def _share(population: np.ndarray, covered: np.ndarray) -> float:
    total = float(population.sum())
    return float(population[covered].sum() / total) if total > 0 else 1.0


def _norm_step(
    audit: Audit,
    cov: Coverage,
    A: sp.csc_matrix,
    candidates: np.ndarray,
    need: pd.Series,
    covered: np.ndarray,
    unit: str,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Greedy stations inside each unit in need (by its own residents newly reached);
    units without enough candidates."""
    if need.empty:
        return np.zeros(0, dtype=np.int64), pd.DataFrame(columns=["unit", "needed", "placed"])
    level = audit.inputs.units[unit]
    code = level.facility_codes(cov.sites.geometry.iloc[candidates], cov.distance[candidates])
    names = level.names
    pop = cov.population
    picked: list[int] = []
    unmet = []
    for name, n in need.items():
        k = int(np.flatnonzero(names == name)[0])
        pool = candidates[code == k]
        own = pop * (level.demand_code == k)  # the unit's own residents
        sub = A[:, pool]
        chosen = []
        for _ in range(min(int(n), len(pool))):
            gain = sub.T @ (own * ~covered)
            gain[np.isin(pool, chosen)] = -1.0
            best = int(np.argmax(gain))
            chosen.append(int(pool[best]))
            covered[sub[:, best].indices] = True
        picked += chosen
        if len(chosen) < n:
            unmet.append({"unit": name, "needed": int(n), "placed": len(chosen)})
    if unmet:
        log.warning(
            "%d %s have fewer candidate sites than the stations they need (%s); enlarge "
            "existing facilities there or add candidates.",
            len(unmet),
            unit,
            ", ".join(u["unit"] for u in unmet[:5]),
        )
    return np.asarray(picked, dtype=np.int64), pd.DataFrame(
        unmet, columns=["unit", "needed", "placed"]
    )


def _coverage_step(audit, cov, stations, picked, threshold, target, by, time_limit, options):
    """Fewest further stations for the coverage target (siting.solve, model 'target')."""
    if target is None:
        return np.zeros(0, dtype=np.int64), None
    from ..plan import solve

    free = np.setdiff1d(np.flatnonzero(~cov.existing), picked)
    fixed = audit.facilities[stations]
    sites = pd.concat(
        [
            fixed[["geometry"]].assign(existing=True, cost=0.0, name=fixed["name"].to_numpy()),
            cov.sites.iloc[picked][["geometry", "name"]].assign(existing=True, cost=0.0),
            cov.sites.iloc[free][["geometry", "name", "cost"]].assign(existing=False),
        ],
        ignore_index=True,
    )
    sites = gpd.GeoDataFrame(sites, geometry="geometry", crs=cov.sites.crs)
    limit = min(cov.limit_m, threshold)
    D = within(sp.vstack([audit.walk[stations], cov.distance[picked], cov.distance[free]]), limit)
    sub = Coverage(cov.demand, sites, D, limit, cov.speed_kmh, cov.mode, (), cov.network)
    minutes = threshold / walk_metres(1, cov.speed_kmh)
    if _share(cov.population, sub.covered(None, minutes)) >= target and by is None:
        return np.zeros(0, dtype=np.int64), None
    plan = solve(
        sub, model="target", target=target, minutes=minutes, by=by, time_limit=time_limit, **options
    )
    chosen = np.flatnonzero(plan.selected & ~sub.existing) - (len(fixed) + len(picked))
    return free[chosen], plan


def _new_sites(cov, rows, steps, station_type, floor_area_m2) -> gpd.GeoDataFrame:
    s = cov.sites.iloc[rows]
    return gpd.GeoDataFrame(
        {
            "name": [f"new {station_type} {i + 1}" for i in range(len(rows))],
            "type": station_type,
            "floor_area_m2": float(floor_area_m2),
            "step": steps,
            "site_row": rows,
            "candidate": s["name"].to_numpy(),
        },
        geometry=np.asarray(s.geometry.values),
        crs=cov.sites.crs,
    )
