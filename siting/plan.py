"""A siting plan: which sites to open, who they cover, and how good the answer is.

:func:`solve` turns a :class:`~siting.coverage.Coverage` into the matrix problem of
:mod:`siting.optimize`, solves it, and returns a :class:`Plan` of GeoDataFrames with the
solver's objective, bound and gap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .coverage import Coverage, walk_metres
from .errors import DataError, ParameterError

MODELS = ("target", "mclp", "lscp", "pmedian")
#: models with capacities, chosen when ``capacity=`` is given
CAPACITATED = {"pmedian": "capacitated_pmedian", "mclp": "capacitated_coverage"}


@dataclass(eq=False)
class Plan:
    """The answer to a siting question (see :func:`solve`)."""

    coverage: Coverage
    solution: Any
    model: str
    minutes: float
    params: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ tables
    @property
    def selected(self) -> np.ndarray:
        """Boolean per site: open in the plan (existing included)."""
        return np.asarray(self.solution.selected, dtype=bool)

    @property
    def sites(self) -> gpd.GeoDataFrame:
        """Every site with ``selected`` and ``new`` columns, plus persons newly covered."""
        s = self.coverage.sites.copy()
        s["selected"] = self.selected
        s["new"] = self.selected & ~s["existing"].to_numpy(bool)
        return s

    @property
    def served(self) -> np.ndarray | None:
        """Persons served at each demand point when capacities limit service, else None."""
        served = getattr(self.solution, "served", None)
        return None if served is None else np.asarray(served, dtype=float)

    @property
    def served_before(self) -> np.ndarray | None:
        """Persons the existing sites serve within capacity (capacitated plans), else None."""
        if self.served is None:
            return None
        before = getattr(self.solution, "served_before", None)
        return np.zeros(len(self.served)) if before is None else np.asarray(before, dtype=float)

    @property
    def new_sites(self) -> gpd.GeoDataFrame:
        """The sites to build, with the persons each one reaches.

        ``covered_gain``: persons within the threshold of the site that no existing
        facility reaches; ``covered_only_here``: those of them no other open site reaches
        either (what closing this one site would lose). New sites overlap, so
        ``covered_gain`` can sum to more than the plan's gain, ``covered_only_here`` to less.
        """
        s = self.sites
        new = s[s["new"]].copy()
        A = sp.csr_matrix(self.coverage.matrix(self.minutes), dtype=np.int32)  # demand x sites
        pop = self.coverage.population
        before = self.coverage.covered(None, self.minutes)
        cols = new.index.to_numpy()
        n_open = np.asarray(A[:, self.selected].sum(axis=1)).ravel()
        fresh = pop * ~before
        only = pop * (n_open == 1)
        new["covered_gain"] = np.round(np.asarray(A[:, cols].T @ fresh).ravel(), 1)
        new["covered_only_here"] = np.round(np.asarray(A[:, cols].T @ only).ravel(), 1)
        return new

    @property
    def demand(self) -> gpd.GeoDataFrame:
        """Demand with ``covered_before``, ``covered_after`` and ``walk_m_after``.

        With capacities (``solve(..., capacity=...)``) also ``served_after``: persons of
        the point the open sites serve within their capacities (``covered_after`` then
        means served at least in part).
        """
        d = self.coverage.demand.copy()
        nearest = self.coverage.nearest_m(self.selected, self.minutes)
        served = self.served
        if served is None:
            d["covered_before"] = self.coverage.covered(None, self.minutes)
            d["covered_after"] = np.isfinite(nearest)
        else:  # capacities: persons served before and after, both within capacity
            before = self.served_before
            d["served_before"] = np.round(before, 6)
            d["served_after"] = np.round(served, 6)
            d["covered_before"] = before > 1e-9
            d["covered_after"] = served > 1e-9
        d["walk_m_after"] = (
            np.where(np.isfinite(nearest), nearest, np.nan)
            if served is None
            else self._assigned_walk_m()  # capacities: to the site serving the point
        )
        return d

    def _assigned_walk_m(self) -> np.ndarray:
        """Metres from each demand point to the site the plan assigns it (NaN: none)."""
        a = getattr(self.solution, "assignment", None)
        n = self.coverage.n_demand
        walk = np.full(n, np.nan)
        if a is None:
            return walk
        a = np.asarray(a)
        ok = np.flatnonzero(a >= 0)
        if ok.size:
            dist = self.coverage.distance_matrix().tocsr()
            walk[ok] = np.asarray(dist[ok, a[ok]]).ravel()
        return walk

    def stats(self, by: str | None = None) -> pd.DataFrame:
        """Coverage before and after the plan, overall or per group (e.g. district)."""
        before = self.coverage.stats(by, minutes=self.minutes)
        after = self.coverage.stats(by, sites=self.selected, minutes=self.minutes)
        out = before[["population", "covered", "share"]].rename(
            columns={"covered": "covered_before", "share": "share_before"}
        )
        out["covered_after"] = after["covered"]
        out["share_after"] = after["share"]
        out["mean_walk_m_after"] = after["mean_walk_m"]
        if "households" in before.columns:
            out["households"] = before["households"]
            out["covered_households_before"] = before["covered_households"]
            out["covered_households_after"] = after["covered_households"]
        if self.served is not None:  # capacities: persons served, not persons within reach
            d = self.coverage.demand
            groups = (
                d[by].astype("string").fillna("(none)").to_numpy(dtype=object)
                if by is not None
                else np.full(len(d), "total", dtype=object)
            )

            def per_group(values: np.ndarray) -> np.ndarray:
                """Sums per row of ``out``; the all-groups row gets the total."""
                per = pd.Series(values).groupby(groups).sum()
                return per.reindex(out.index).fillna(per.sum()).to_numpy(float)

            for when, persons in (("before", self.served_before), ("after", self.served)):
                covered = per_group(persons)
                out[f"covered_{when}"] = covered
                out[f"share_{when}"] = np.divide(
                    covered,
                    out["population"],
                    out=np.zeros(len(out)),
                    where=out["population"] > 0,
                )
            # the walk of the persons served, to the site serving them
            walk = self._assigned_walk_m()
            used = np.isfinite(walk) & (self.served > 0)
            person_m = per_group(np.where(used, walk * self.served, 0.0))
            persons = per_group(np.where(used, self.served, 0.0))
            out["mean_walk_m_after"] = np.divide(
                person_m, persons, out=np.full(len(out), np.nan), where=persons > 0
            )
            # households within reach say nothing about who is served within capacity
            out = out.drop(
                columns=["covered_households_before", "covered_households_after"],
                errors="ignore",
            )
        return out

    def summary(self) -> dict[str, Any]:
        """Key numbers: persons, shares before/after, sites, objective, bound, gap, time."""
        pop = self.coverage.population
        total = float(pop.sum())
        d = self.demand
        served = self.served
        if served is None:
            cb = float(pop[d["covered_before"].to_numpy(bool)].sum())
            ca = float(pop[d["covered_after"].to_numpy(bool)].sum())
        else:  # persons served within the sites' capacities, before and after
            cb = float(self.served_before.sum())
            ca = float(served.sum())
        sol = self.solution
        hist = getattr(sol, "history", None) or {}
        return {
            "model": self.model,
            "minutes": self.minutes,
            "threshold_m": self.coverage.threshold_m(self.minutes),
            "population": total,
            "covered_before": cb,
            "covered_after": ca,
            "covered_share_before": cb / total if total else 0.0,
            "covered_share_after": ca / total if total else 0.0,
            "existing_sites": int(self.coverage.existing.sum()),
            "new_sites": int((self.selected & ~self.coverage.existing).sum()),
            "objective": _num(getattr(sol, "objective", None)),
            "bound": _num(getattr(sol, "bound", None)),
            "gap": _num(getattr(sol, "gap", None)),
            "status": str(getattr(sol, "status", "")),
            "method": str(getattr(sol, "method", "")),
            "solve_seconds": _num(getattr(sol, "seconds", None)),
            # False when real time (not the work budget) stopped a search: a rerun with
            # the same seed may then return another plan (siting.optimize.clock)
            "repeatable": bool(hist.get("deterministic", True)),
            "not_repeatable_because": "; ".join(hist.get("cut_by", [])),
            # False when the regional bound (large models) had regions left unsolved when
            # its time ran out: the plan repeats, the bound may differ a little
            "bound_repeatable": bool((hist.get("regional") or {}).get("complete", True)),
            **{k: v for k, v in self.params.items() if isinstance(v, int | float | str)},
        }

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"Plan({s['model']}: {s['new_sites']} new sites, coverage "
            f"{s['covered_share_before']:.1%} -> {s['covered_share_after']:.1%}, "
            f"gap {s['gap']:.2%}, {s['status']})"
            if s["gap"] is not None
            else f"Plan({s['model']}: {s['new_sites']} new sites)"
        )

    # ------------------------------------------------------------------ show / save
    def service_areas(self, *, dissolve: bool = True) -> gpd.GeoDataFrame | None:
        """Walking service areas (polygons) of the open sites at the plan's threshold.

        ``None`` for a straight-line (circle) coverage, which has no network.
        """
        cov = self.coverage
        if cov.network is None or cov.mode != "network":
            return None
        from .network.isochrones import service_areas

        return service_areas(
            cov.network,
            cov.sites[self.selected],
            minutes=(self.minutes,),
            speed_kmh=cov.speed_kmh,
            dissolve=dissolve,
        )

    def explore(
        self,
        *,
        basemap: str = "osm",
        lang: str = "en",
        assets: str = "inline",
        areas: bool = True,
        **kwargs: Any,
    ):
        """Interactive map of the plan (a folium map that opens with no network).

        ``basemap``: ``"osm"``, ``"amap"``, ``"amap-satellite"``, ``"tianditu"`` or
        ``"none"``; ``lang``: ``"en"`` or ``"zh"``; ``assets``: ``"inline"`` or ``"cdn"``;
        ``areas``: draw the walking service areas at each threshold. Other keywords
        (``districts``, ``circle_m``, ``title``, and :class:`folium.Map` options such as
        ``width``) go to :func:`siting.maps.plan_map`.
        """
        from .maps import plan_map

        return plan_map(self, basemap=basemap, lang=lang, assets=assets, areas=areas, **kwargs)

    def to_file(
        self,
        directory: str | os.PathLike,
        *,
        force: bool = False,
        map_html: bool = True,
        basemap: str | None = None,
        lang: str | None = None,
        assets: str | None = None,
    ) -> dict[str, Path]:
        """Write the plan's bundle into the folder ``directory``, as a whole.

        ``plan.gpkg`` (layers sites, new_sites, demand), ``stats.csv`` (UTF-8 with BOM),
        ``summary.json``, ``tables.xlsx`` and ``map.html`` (``basemap``, ``lang``,
        ``assets`` go to the map); see :mod:`siting.bundle`. The files are written into a
        temporary sibling folder that is renamed into place at the end, so an
        interrupted write leaves nothing. An existing bundle is replaced only with
        ``force`` (:class:`~siting.errors.OutputExistsError` otherwise); a path that is a
        file, or a folder that cannot be written, gives
        :class:`~siting.errors.OutputPathError` before anything is written.
        """
        from .bundle import write_bundle

        options = {"basemap": basemap, "lang": lang, "assets": assets}
        return write_bundle(self, directory, force=force, map_html=map_html, map_options=options)


def _num(v) -> float | None:
    if v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def solve(
    cov: Coverage,
    model: str = "target",
    *,
    target: float = 0.90,
    p: int | None = None,
    minutes: float | None = None,
    by: str | None = None,
    time_limit: float = 60.0,
    mip_gap: float = 0.0,
    method: str = "auto",
    seed: int = 0,
    capacity: str | None = None,
    verbose: bool = False,
    **options: Any,
) -> Plan:
    """Choose sites to open.

    Parameters
    ----------
    cov
        Coverage from :func:`siting.coverage`.
    model
        ``"target"``: fewest new sites (least cost) so that covered population ≥
        ``target`` (share 0–1); with ``by="district"`` every district must reach it.
        ``"mclp"``: most persons covered with ``p`` new sites. ``"lscp"``: cover every
        coverable person (uncoverable ones reported). ``"pmedian"``: shortest average
        walk with ``p`` new sites (walks beyond the computed limit are not allowed).
    target
        Share of the population to cover (0–1], for ``"target"``.
    p
        Number of new sites for ``"mclp"`` / ``"pmedian"``.
    minutes
        Walking threshold (default: the largest computed in ``cov``).
    by
        Demand column for per-group targets (e.g. ``"district"``).
    time_limit, mip_gap
        Solver limits: seconds, and the relative optimality gap accepted (0 = proven
        optimal).
    method
        ``"auto"`` (reduce, heuristic, bound, exact MILP if needed), ``"exact"`` or
        ``"heuristic"``.
    seed
        Seed for the heuristics: the same seed, ``time_limit`` and ``threads`` give the
        same plan. The searches count ``time_limit`` as a work budget
        (:mod:`siting.optimize.clock`), not on the wall clock; only when the machine is
        too slow to do that work within ``time_limit`` real seconds is a search cut
        short, and then ``summary()["repeatable"]`` is False.
    capacity
        Site column of capacities (persons) for capacitated models.
    **options
        Passed to the model (:func:`siting.optimize.solve_matrix`), e.g.
        ``drop_unreachable=True`` or ``max_distance`` (metres) for ``"pmedian"``,
        ``budget`` (total cost) instead of ``p`` for ``"mclp"``.
    """
    from .optimize import CoverageProblem, solve_matrix

    if model not in MODELS:
        msg = f"model={model!r}: choose one of {', '.join(MODELS)}."
        raise ParameterError(msg)
    if minutes is None:
        minutes = cov.limit_m / walk_metres(1, cov.speed_kmh)
    A = cov.matrix(minutes)
    if not (~cov.existing).any():
        total = float(cov.population.sum())
        today = float(cov.population[cov.covered(None, minutes)].sum())
        share = today / total if total > 0 else 1.0
        met = model == "target" and share >= target
        msg = (
            f"No candidate sites: all {cov.n_sites} sites are existing facilities, which "
            f"cover {share:.1%} of {total:,.0f} persons within the threshold today"
            + (
                f", already above the {target:.0%} target: nothing needs to be built."
                if met
                else "."
            )
            + " To plan new sites, pass candidates to st.coverage (a file, or "
            "st.candidate_sites(network, spacing_m=150, demand=demand))."
        )
        raise ParameterError(msg)
    group = None
    if by is not None:
        if model != "target":
            msg = (
                f"by={by!r} sets a target per group and works with model 'target' only; "
                f"for {model!r}, solve each group's coverage separately or drop by=."
            )
            raise ParameterError(msg)
        if by not in cov.demand.columns:
            msg = f"by={by!r}: the demand has no such column."
            raise ParameterError(msg)
        labels = cov.demand[by].astype("string").fillna("(none)")
        group, names = pd.factorize(labels, sort=True)
        options.setdefault("group_names", [f"{by} {n}" for n in names])
    if model == "target":
        metres = cov.threshold_m(minutes)
        options.setdefault(
            "threshold",
            f"{metres:,.0f} m in a straight line"
            if cov.mode == "circle"
            else f"a {minutes:.3g}-minute walk ({metres:,.0f} m)",
        )
    cap = None
    if capacity is not None:
        if capacity not in cov.sites.columns:
            msg = f"capacity={capacity!r}: the sites have no such column."
            raise ParameterError(msg)
        cap = pd.to_numeric(cov.sites[capacity], errors="coerce").to_numpy(float)
        bad = ~np.isfinite(cap) | (cap < 0)
        if bad.any():
            ex = cov.existing
            parts = []
            for mask, what in ((ex, "existing facilities"), (~ex, "candidate sites")):
                rows = np.flatnonzero(bad[mask])
                if rows.size:
                    names = cov.sites["name"].to_numpy()[mask][rows[:3]]
                    shown = ", ".join(
                        f"row {r}" + (f" ({n})" if n else "")
                        for r, n in zip(rows[:3], names, strict=True)
                    )
                    parts.append(f"{rows.size} of the {int(mask.sum())} {what} ({shown})")
            msg = (
                f"capacity={capacity!r}: {' and '.join(parts)} have no valid capacity (a "
                "number of persons >= 0). Fill the column for every site, e.g. from floor "
                "area with siting.optimize.capacity_from_floor_area."
            )
            raise DataError(msg)
    if "single_source" in options and (model != "pmedian" or capacity is None):
        msg = (
            "single_source= decides whether a demand point may be split between sites "
            "within their capacities: it needs model='pmedian' and capacity=."
        )
        raise ParameterError(msg)
    max_d = options.get("max_distance")
    if model == "pmedian" and max_d is not None and max_d > cov.threshold_m(minutes) + 1e-9:
        msg = (
            f"max_distance={max_d:g} m is longer than the {minutes:g}-minute walk "
            f"({cov.threshold_m(minutes):,.0f} m) beyond which no distance is measured; "
            "use a smaller max_distance or a longer minutes=."
        )
        raise ParameterError(msg)
    dist = None
    if model == "pmedian":
        coo = cov.distance_matrix().tocoo()
        keep = coo.data <= cov.threshold_m(minutes)
        dist = sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=coo.shape)
    problem = CoverageProblem(
        cover=A,
        weight=cov.population,
        existing=cov.existing,
        cost=cov.sites["cost"].to_numpy(float),
        dist=dist,
        group=group,
        capacity=cap,
    )
    matrix_model = model
    if model == "target" and by is not None:
        matrix_model = "group_target"
    if cap is not None:
        if model not in CAPACITATED:
            msg = (
                f"capacity= works with model 'mclp' (capacitated coverage) or 'pmedian' "
                f"(capacitated p-median), not {model!r}."
            )
            raise ParameterError(msg)
        matrix_model = CAPACITATED[model]
    solution = solve_matrix(
        problem,
        model=matrix_model,
        target=target,
        p=p,
        time_limit=time_limit,
        mip_gap=mip_gap,
        method=method,
        seed=seed,
        verbose=verbose,
        **options,
    )
    params = {
        "target": target if model == "target" else None,
        "p": p,
        "by": by,
        "time_limit": time_limit,
        "mip_gap": mip_gap,
        "seed": seed,
        "capacity": capacity,
        **{
            k: options[k]
            for k in ("budget", "drop_unreachable", "max_distance", "single_source")
            if k in options
        },
    }
    return Plan(
        cov, solution, model, float(minutes), {k: v for k, v in params.items() if v is not None}
    )


def coverage_curve(
    cov: Coverage,
    max_new: int | None = None,
    *,
    minutes: float | None = None,
    target: float = 1.0,
) -> pd.DataFrame:
    """Share covered against the number of new sites (0, 1, 2, … until ``target``).

    One greedy run gives nested plans (each adds one site); ``bound`` is a proven upper
    bound on the persons any plan with that many new sites can cover, so
    ``bound - covered`` is the most a better plan could add. Columns: ``new_sites``,
    ``covered`` (persons), ``share``, ``bound`` (persons), ``bound_share``, ``site``
    (row of ``cov.sites`` added at that step).
    """
    from .optimize import CoverageProblem
    from .optimize import coverage_curve as _curve

    if minutes is None:
        minutes = cov.limit_m / walk_metres(1, cov.speed_kmh)
    problem = CoverageProblem(
        cover=cov.matrix(minutes),
        weight=cov.population,
        existing=cov.existing,
        cost=cov.sites["cost"].to_numpy(float),
    )
    df = _curve(problem, max_new, target=target)
    total = float(cov.population.sum())
    out = pd.DataFrame(
        {
            "new_sites": df["new_sites"].to_numpy(),
            "covered": df["covered_weight"].to_numpy(),
            "share": df["covered_share"].to_numpy(),
            "bound": df["bound"].to_numpy(),
        }
    )
    out["bound_share"] = out["bound"] / total if total else 0.0
    out["site"] = df["site"].to_numpy() if "site" in df else -1
    return out


def solve_two_level(
    cov: Coverage,
    by: str,
    *,
    centre_minutes: float = 15.0,
    station_minutes: float = 10.0,
    centre_target: float = 0.0,
    station_target: float = 0.9,
    time_limit: float = 60.0,
) -> gpd.GeoDataFrame:
    """Two-level plan: one comprehensive centre per sub-district, then stations.

    Level 1 opens at least one centre inside every group ``by`` (e.g. sub-district 街道),
    reaching ``centre_target`` of its residents within ``centre_minutes``; level 2 adds
    community stations until ``station_target`` of all residents are within
    ``station_minutes`` of a station or centre (centres also host station services).
    ``cov`` must have been computed up to the larger of the two thresholds. Sites take the
    group of the nearest demand point. Returns the sites with a ``level`` column
    (``"centre"``, ``"station"`` or ``""``) and ``new``; ``.attrs["solution"]`` holds the
    solver statistics of both stages.
    """
    from .optimize import solve_two_level as _two_level

    if by not in cov.demand.columns:
        msg = f"by={by!r}: the demand has no such column (e.g. read it with districts=...)."
        raise ParameterError(msg)
    labels, names = pd.factorize(cov.demand[by].astype("string").fillna("(none)"), sort=True)
    # a site belongs to the group of its nearest demand point
    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack([cov.demand.geometry.x, cov.demand.geometry.y]))
    _, nearest = tree.query(np.column_stack([cov.sites.geometry.x, cov.sites.geometry.y]))
    sol = _two_level(
        cov.matrix(centre_minutes),
        cov.matrix(station_minutes),
        cov.population,
        labels,
        site_group=labels[nearest],
        existing_station=cov.existing,
        cost_centre=cov.sites["cost"].to_numpy(float),
        cost_station=cov.sites["cost"].to_numpy(float),
        centre_target=centre_target,
        station_target=station_target,
        time_limit=time_limit,
    )
    sites = cov.sites.copy()
    centre = np.asarray(sol.centres.selected, bool) & ~cov.existing
    station = np.asarray(sol.stations.selected, bool) & ~centre & ~cov.existing
    sites["level"] = np.where(centre, "centre", np.where(station, "station", ""))
    sites["new"] = centre | station
    sites[by] = np.asarray(names)[labels[nearest]]
    sites.attrs["solution"] = {
        "centres": sol.centres,
        "stations": sol.stations,
        "objective": sol.objective,
        "seconds": sol.seconds,
    }
    return sites
