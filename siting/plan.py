"""A siting plan: which sites to open, who they cover, and how good the answer is.

:func:`solve` turns a :class:`~siting.measure.Coverage` into the matrix problem of
:mod:`siting.optimize`, solves it with the model asked for, and returns a :class:`Plan`
of GeoDataFrames with the solver's objective, bound and gap; :func:`solve_two_level`
plans centres and stations; :func:`coverage_curve` gives coverage against the number of
new sites.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from . import validation
from .errors import DataError, ParameterError
from .measure import Coverage

#: the models of :func:`solve`
MODELS = ("target", "mclp", "lscp", "pmedian")
#: models with capacities, chosen when ``capacity=`` is given
CAPACITATED = {"pmedian": "capacitated_pmedian", "mclp": "capacitated_coverage"}
#: the options each model of :func:`solve` (and of a scenario's ``solve:``) takes
PLAN_OPTIONS = validation.ModelOptions(
    options={
        "target": ("target", "by"),
        "mclp": ("p", "budget", "capacity"),
        "lscp": (),
        "pmedian": ("p", "capacity", "max_distance_m", "drop_unreachable", "single_source"),
    },
    common=("minutes", "time_limit", "mip_gap", "method", "seed", "threads", "verbose"),
    needs_p=("mclp", "pmedian"),
    aliases={"max_distance": "max_distance_m"},
)


@dataclass(eq=False)
class Plan:
    """The answer to a siting question: which sites open, who they reach, how good it is.

    Made by :func:`solve` (one model) or :func:`solve_two_level` (centres and stations),
    not by hand. The tables (:attr:`sites`, :attr:`new_sites`, :attr:`demand`) are
    GeoDataFrames in the coverage's metric CRS; :meth:`stats` and :meth:`summary` give
    the numbers, :meth:`explore` the map and :meth:`to_file` the whole bundle.

    Parameters
    ----------
    coverage : Coverage
        The coverage the plan was solved on.
    solution : Solution or TwoLevelSolution
        The solver's answer (:mod:`siting.optimize`): objective, proven bound, gap,
        status, history.
    model : str
        ``"target"``, ``"mclp"``, ``"lscp"``, ``"pmedian"`` or ``"two_level"``.
    minutes : float
        The walking threshold (minutes) coverage is counted at.
    params : dict
        The options the plan was solved with (shown in :meth:`summary`).
    site_columns : dict
        Extra columns of :attr:`sites` (two-level plans: ``level`` and the district).

    See Also
    --------
    siting.solve : Make one.
    siting.report : The plan as a self-contained HTML report.

    Examples
    --------
    On a 1 km square street grid (50 persons at each crossing, one existing centre),
    the two new sites that bring the most persons within a 5-minute walk:

    >>> import siting as st
    >>> net = st.network.grid_network(11, 100.0)
    >>> homes = net.nodes_gdf().assign(population=50)
    >>> candidates = st.candidate_sites(net, spacing_m=300)
    >>> cov = st.coverage(net, homes, homes.iloc[[60]], candidates, minutes=5)
    >>> plan = st.solve(cov, model="mclp", p=2)
    >>> plan
    Plan(mclp: 2 new sites, coverage 20.7% -> 50.4%, gap 0.00%, optimal)
    >>> plan.stats()[["population", "covered_before", "covered_after"]]
           population  covered_before  covered_after
    area
    total      6050.0          1250.0         3050.0
    >>> len(plan.new_sites), plan.summary()["bound"]  # 3,050 persons is proven the most
    (2, 3050.0)
    >>> plan.to_file("out/plan")  # plan.gpkg, stats.csv, summary.json, map.html  # doctest: +SKIP
    """

    coverage: Coverage
    solution: Any
    model: str
    minutes: float
    params: dict[str, Any] = field(default_factory=dict)
    site_columns: dict[str, Any] = field(default_factory=dict)
    #: service areas already drawn, by (minutes, dissolve): the map, the bundle and the
    #: report of one plan share them
    _areas: dict[tuple, gpd.GeoDataFrame] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    # ------------------------------------------------------------------ tables
    @property
    def selected(self) -> np.ndarray:
        """Boolean per site: open in the plan (existing included)."""
        return np.asarray(self.solution.selected, dtype=bool)

    @property
    def sites(self) -> gpd.GeoDataFrame:
        """Every site with ``selected`` and ``new`` columns.

        Two-level plans add ``level`` (``"centre"``, ``"station"`` or ``""``) and the
        district.
        """
        s = self.coverage.sites.copy()
        s["selected"] = self.selected
        s["new"] = self.selected & ~s["existing"].to_numpy(bool)
        for name, values in self.site_columns.items():
            s[name] = values
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
        """Coverage before and after the plan, overall or per group.

        Parameters
        ----------
        by : str, optional
            Demand column to group by (e.g. ``"district"``); a ``total`` row is added.

        Returns
        -------
        pandas.DataFrame
            Per group: ``population``, ``covered_before`` / ``covered_after`` (persons;
            with capacities, persons served), ``share_before`` / ``share_after`` (0..1),
            ``mean_walk_m_after`` (metres), and households when the demand has them.
        """
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
        """Key numbers of the plan.

        Returns
        -------
        dict
            ``model``, ``minutes``, ``threshold_m``, ``population``, ``covered_before`` /
            ``covered_after`` (persons) and their shares, ``existing_sites``,
            ``new_sites``, the solver's ``objective``, ``bound``, ``gap``, ``status``,
            ``method``, ``solve_seconds``, whether the run repeats (``repeatable``,
            ``not_repeatable_because``, ``bound_repeatable``) and the options solved with.
        """
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
        text = f"{s['model']}: {s['new_sites']} new sites"
        if s["gap"] is not None:
            before, after = s["covered_share_before"], s["covered_share_after"]
            text += f", coverage {before:.1%} -> {after:.1%}, gap {s['gap']:.2%}, {s['status']}"
        return f"Plan({text})"

    # ------------------------------------------------------------------ show / save
    def service_areas(
        self, *, dissolve: bool = True, minutes: float | Sequence[float] | None = None
    ) -> gpd.GeoDataFrame | None:
        """Walking service areas (polygons) of the open sites.

        Computed once per plan, ``minutes`` and ``dissolve`` (the map, the bundle and the
        report reuse them); each call returns a copy.

        Parameters
        ----------
        dissolve : bool
            Merge the areas of all open sites into one polygon per threshold (else one
            per site).
        minutes : float or sequence of float, optional
            Walking thresholds in minutes; default the plan's own.

        Returns
        -------
        geopandas.GeoDataFrame or None
            Polygons in the coverage's metric CRS with ``minutes``, ``threshold_m`` and
            ``area_m2`` (see :func:`siting.service_areas`); ``None`` for a straight-line
            (circle) coverage, which has no network.
        """
        cov = self.coverage
        if cov.network is None or cov.mode != "network":
            return None
        wanted = self.minutes if minutes is None else minutes
        key = (tuple(sorted({float(m) for m in np.atleast_1d(wanted)})), bool(dissolve))
        if key not in self._areas:
            from .network.isochrones import service_areas

            self._areas[key] = service_areas(
                cov.network,
                cov.sites[self.selected],
                minutes=key[0],
                speed_kmh=cov.speed_kmh,
                dissolve=dissolve,
            )
        return self._areas[key].copy()

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

        In Jupyter the map shows inline; ``.save("map.html")`` or
        :func:`siting.maps.write_map` writes it.

        Parameters
        ----------
        basemap : str
            ``"osm"``, ``"amap"`` (GCJ-02 tiles, shifted to match), ``"amap-satellite"``,
            ``"tianditu"`` or ``"none"``.
        lang : str
            Labels and legend in ``"en"`` or ``"zh"``.
        assets : str
            ``"inline"`` (Leaflet inside the file, works offline) or ``"cdn"``.
        areas : bool
            Draw the walking service areas at each threshold.
        **kwargs
            ``districts``, ``circle_m``, ``title``, and :class:`folium.Map` options such
            as ``width``: see :func:`siting.maps.plan_map`.

        Returns
        -------
        siting.maps.SitingMap
            A :class:`folium.Map`.

        Raises
        ------
        ParameterError
            An unknown ``basemap``, ``lang`` or ``assets``.
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
        interrupted write leaves nothing.

        Parameters
        ----------
        directory : str or os.PathLike
            The folder to write (created, with its parents).
        force : bool
            Replace an existing bundle.
        map_html : bool
            Also write ``map.html``.
        basemap, lang, assets : str, optional
            Map options, as for :meth:`explore` (defaults ``"osm"``, ``"en"``,
            ``"inline"``).

        Returns
        -------
        dict of str to pathlib.Path
            The files written, by name (``"plan.gpkg"``, ``"stats.csv"``, ...).

        Raises
        ------
        OutputExistsError
            The folder exists and ``force`` is False.
        OutputPathError
            The path is a file, or a folder that cannot be written (raised before
            anything is written).
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
    target: float | str | None = None,
    p: int | None = None,
    budget: float | None = None,
    by: str | None = None,
    capacity: str | None = None,
    minutes: float | None = None,
    max_distance_m: float | None = None,
    drop_unreachable: bool | None = None,
    single_source: bool | None = None,
    time_limit: float = 60.0,
    mip_gap: float = 0.0,
    method: str = "auto",
    seed: int = 0,
    threads: int | None = None,
    verbose: bool = False,
    max_distance: float | None = None,
    **unknown: Any,
) -> Plan:
    """Choose sites to open: the fewest for a target, the most persons for a number of
    sites, or the shortest walks.

    Each model takes the options listed with it; one it does not take is refused, naming
    the models it works with (the same check as a scenario's ``solve:`` section).

    Parameters
    ----------
    cov : Coverage
        Coverage from :func:`siting.coverage`.
    model : {"target", "mclp", "lscp", "pmedian"}
        ``"target"``: fewest new sites (least cost) so that the share ``target`` of
        persons is covered; with ``by`` every group must reach it (partial set
        covering). ``"mclp"``: most persons covered with ``p`` new sites, or within
        ``budget``; with ``capacity`` the persons *served* within the sites' capacities.
        ``"lscp"``: cover every coverable person (the uncoverable ones are reported).
        ``"pmedian"``: shortest total walk with ``p`` new sites (walks beyond the
        computed limit are not allowed); with ``capacity`` within the sites' capacities.
    target : float or str, optional
        ``"target"``: share of the population to cover, in (0, 1]: ``0.9`` or ``"90%"``
        (default 0.9).
    p : int, optional
        ``"mclp"`` / ``"pmedian"``: number of new sites.
    budget : float, optional
        ``"mclp"``: total cost of the new sites (the sites' ``cost`` column) instead of
        ``p``.
    by : str, optional
        ``"target"``: demand column of groups that must each reach the target (e.g.
        ``"district"``).
    capacity : str, optional
        ``"mclp"`` / ``"pmedian"``: site column of capacities (persons).
    minutes : float, optional
        Walking threshold, minutes (default: the largest computed in ``cov``).
    max_distance_m : float, optional
        ``"pmedian"``: longest walk allowed, metres (at most the computed threshold).
    drop_unreachable : bool, optional
        ``"pmedian"``: leave out persons no site reaches (reported) instead of refusing.
    single_source : bool, optional
        ``"pmedian"`` with ``capacity``: serve each demand point from one site (default
        True) or allow splitting it between sites.
    time_limit : float
        Seconds (> 0) for the solve. The searches count it as a work budget
        (:mod:`siting.optimize.clock`), not on the wall clock: the same seed,
        ``time_limit`` and ``threads`` give the same plan; only when the machine is too
        slow to do that work within ``time_limit`` real seconds is a search cut short,
        and then ``summary()["repeatable"]`` is False.
    mip_gap : float
        Relative optimality gap accepted, in [0, 1) (0 = proven optimal).
    method : {"auto", "exact", "heuristic"}
        ``"auto"``: reduce, heuristic, bound, exact MILP where it can work in useful
        time; ``"exact"``: always the MILP; ``"heuristic"``: no MILP.
    seed : int
        Seed (>= 0) of the randomised steps.
    threads : int, optional
        HiGHS threads (and parallel search walks on large models).
    verbose : bool
        Show HiGHS' log.
    max_distance : float, optional
        Old name of ``max_distance_m`` (the scenario key), still accepted.
    **unknown
        Refused with a :class:`~siting.errors.ParameterError` naming the model's options.

    Returns
    -------
    Plan
        The sites to open, coverage before and after, objective, bound and gap.

    Raises
    ------
    ParameterError
        An option the model does not take, a value out of range, no candidate sites.
    InfeasibleError
        The target (or, for p-median, every demand point) cannot be reached.
    DataError
        ``capacity`` names a column with missing or negative values.

    Examples
    --------
    On a 1 km square street grid (50 persons at each crossing, one existing centre),
    the fewest new sites that bring 90% of the persons within a 5-minute walk (375 m):

    >>> import siting as st
    >>> net = st.network.grid_network(11, 100.0)
    >>> homes = net.nodes_gdf().assign(population=50)
    >>> candidates = st.candidate_sites(net, spacing_m=300)
    >>> cov = st.coverage(net, homes, homes.iloc[[60]], candidates, minutes=5)
    >>> plan = st.solve(cov, model="target", target="90%")
    >>> summary = plan.summary()
    >>> summary["new_sites"], summary["bound"], summary["status"]
    (6, 6.0, 'optimal')

    The other models, and options that need data this example lacks (a ``district``
    column, site capacities):

    >>> st.solve(cov, model="mclp", p=2)  # the most persons covered with 2 new sites
    Plan(mclp: 2 new sites, coverage 20.7% -> 50.4%, gap 0.00%, optimal)
    >>> plan = st.solve(cov, model="target", target=0.8, by="district")  # doctest: +SKIP
    >>> plan = st.solve(cov, model="mclp", p=5, capacity="capacity")  # doctest: +SKIP
    >>> plan = st.solve(cov, model="pmedian", p=20, max_distance_m=800,
    ...                 drop_unreachable=True)  # doctest: +SKIP
    """
    from .optimize import SolveOptions, solve_matrix

    validation.choice("model", model, MODELS)
    given = {
        "target": target,
        "p": p,
        "budget": budget,
        "by": by,
        "capacity": capacity,
        "max_distance_m": max_distance_m,
        "max_distance": max_distance,
        "drop_unreachable": drop_unreachable,
        "single_source": single_source,
        **unknown,
    }
    validation.check_model_options(model, given, PLAN_OPTIONS)
    opts = SolveOptions(time_limit, mip_gap, method, seed, threads, verbose)
    share = validation.SHARE("target", 0.9 if target is None else target)
    minutes = _minutes(cov, minutes)
    _refuse_without_candidates(cov, model, share, minutes)
    max_d = max_distance_m if max_distance_m is not None else max_distance
    if max_d is not None:  # named as given (the scenario key is max_distance)
        name = "max_distance_m" if max_distance_m is not None else "max_distance"
        max_d = validation.METRES(name, max_d)
        _check_within(cov, minutes, max_d, name)
    problem, matrix_model, kw = _matrix_problem(cov, model, minutes, share, by, capacity, max_d)
    kw.update(p=p, budget=budget, drop_unreachable=drop_unreachable, single_source=single_source)
    kw = {k: v for k, v in kw.items() if v is not None}
    solution = solve_matrix(problem, matrix_model, **kw, options=opts)
    params = {
        "target": share if model == "target" else None,
        "p": p,
        "by": by,
        "time_limit": opts.time_limit,
        "mip_gap": opts.mip_gap,
        "seed": opts.seed,
        "capacity": capacity,
        "budget": budget,
        "drop_unreachable": drop_unreachable,
        "max_distance_m": max_d,
        "single_source": single_source,
    }
    return Plan(
        cov, solution, model, float(minutes), {k: v for k, v in params.items() if v is not None}
    )


def _minutes(cov: Coverage, minutes: float | None) -> float:
    """The threshold asked for (checked against the coverage), or the largest computed."""
    if minutes is None:
        return cov.limit_m / validation.walk_metres(1, cov.speed_kmh)
    minutes = validation.positive("minutes", minutes)
    cov.threshold_m(minutes)  # within what the coverage computed
    return minutes


def _refuse_without_candidates(cov: Coverage, model: str, share: float, minutes: float) -> None:
    """No candidate sites: say what the existing ones cover, and how to add candidates."""
    if (~cov.existing).any():
        return
    total = float(cov.population.sum())
    today = float(cov.population[cov.covered(None, minutes)].sum())
    have = today / total if total > 0 else 1.0
    met = model == "target" and have >= share
    msg = (
        f"No candidate sites: all {cov.n_sites} sites are existing facilities, which "
        f"cover {have:.1%} of {total:,.0f} persons within the threshold today"
        + (f", already above the {share:.0%} target: nothing needs to be built." if met else ".")
        + " To plan new sites, pass candidates to st.coverage (a file, or "
        "st.candidate_sites(network, spacing_m=150, demand=demand))."
    )
    raise ParameterError(msg)


def _matrix_problem(
    cov: Coverage,
    model: str,
    minutes: float,
    share: float,
    by: str | None,
    capacity: str | None,
    max_distance_m: float | None,
) -> tuple[Any, str, dict[str, Any]]:
    """``(CoverageProblem, matrix-level model, its options)`` for ``model`` at ``minutes``."""
    from .optimize import CoverageProblem

    kw: dict[str, Any] = {}
    group = names = None
    if model == "target":
        metres = cov.threshold_m(minutes)
        kw["target"] = share
        kw["threshold"] = (
            f"{metres:,.0f} m in a straight line"
            if cov.mode == "circle"
            else f"a {minutes:.3g}-minute walk ({metres:,.0f} m)"
        )
        if by is not None:
            group, names = _groups(cov, by)
    dist = None
    if model == "pmedian":
        dist = _distances(cov, minutes)
        kw["max_distance_m"] = max_distance_m
    problem = CoverageProblem(
        cover=cov.matrix(minutes),
        weight=cov.population,
        existing=cov.existing,
        cost=cov.sites["cost"].to_numpy(float),
        dist=dist,
        group=group,
        group_names=names,
        capacity=None if capacity is None else _capacities(cov, capacity),
    )
    matrix_model = "group_target" if by is not None else model
    if capacity is not None:
        matrix_model = CAPACITATED[model]
    return problem, matrix_model, kw


def _groups(cov: Coverage, by: str) -> tuple[np.ndarray, list[str]]:
    """The group index of each demand point, and the groups' names for messages."""
    if by not in cov.demand.columns:
        msg = f"by={by!r}: the demand has no such column."
        raise ParameterError(msg)
    labels = cov.demand[by].astype("string").fillna("(none)")
    group, names = pd.factorize(labels, sort=True)
    return group, [f"{by} {n}" for n in names]


def _capacities(cov: Coverage, capacity: str) -> np.ndarray:
    """The capacity column as persons per site; a DataError naming the sites without one."""
    if capacity not in cov.sites.columns:
        msg = f"capacity={capacity!r}: the sites have no such column."
        raise ParameterError(msg)
    cap = pd.to_numeric(cov.sites[capacity], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(cap) | (cap < 0)
    if not bad.any():
        return cap
    ex = cov.existing
    parts = []
    for mask, what in ((ex, "existing facilities"), (~ex, "candidate sites")):
        rows = np.flatnonzero(bad[mask])
        if rows.size:
            names = cov.sites["name"].to_numpy()[mask][rows[:3]]
            shown = ", ".join(
                f"row {r}" + (f" ({n})" if n else "") for r, n in zip(rows[:3], names, strict=True)
            )
            parts.append(f"{rows.size} of the {int(mask.sum())} {what} ({shown})")
    msg = (
        f"capacity={capacity!r}: {' and '.join(parts)} have no valid capacity (a "
        "number of persons >= 0). Fill the column for every site, e.g. from floor "
        "area with siting.standards.capacity_from_floor_area."
    )
    raise DataError(msg)


def _check_within(cov: Coverage, minutes: float, max_distance_m: float, name: str) -> None:
    """A p-median's longest walk may not pass the threshold (no distance beyond it)."""
    limit = cov.threshold_m(minutes)
    if max_distance_m > limit + 1e-9:
        msg = (
            f"{name}={max_distance_m:g} m is longer than the {minutes:g}-minute walk "
            f"({limit:,.0f} m) beyond which no distance is measured; use a smaller "
            f"{name} or a longer minutes=."
        )
        raise ParameterError(msg)


def _distances(cov: Coverage, minutes: float) -> sp.csr_matrix:
    """Walking metres of the pairs within the threshold (p-median)."""
    limit = cov.threshold_m(minutes)
    coo = cov.distance_matrix().tocoo()
    keep = coo.data <= limit
    return sp.csr_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=coo.shape)


def coverage_curve(
    cov: Coverage,
    max_new: int | None = None,
    *,
    minutes: float | None = None,
    target: float | str = 1.0,
) -> pd.DataFrame:
    """Share covered against the number of new sites (0, 1, 2, ... until ``target``).

    One greedy run gives nested plans (each adds one site); ``bound`` is a proven upper
    bound on the persons any plan with that many new sites can cover, so
    ``bound - covered_weight`` is the most a better plan could add.

    Parameters
    ----------
    cov : Coverage
        Coverage from :func:`siting.coverage`.
    max_new : int, optional
        Most new sites (default: until ``target`` is reached).
    minutes : float, optional
        Walking threshold, minutes (default: the largest computed).
    target : float or str
        Share at which to stop, in (0, 1] (``1.0`` or ``"100%"``).

    Returns
    -------
    pandas.DataFrame
        The columns of :func:`siting.optimize.coverage_curve`: ``new_sites``,
        ``covered_weight`` (persons), ``covered_share`` (0..1), ``bound`` (persons),
        ``site`` (row of ``cov.sites`` added at that step, -1 for row 0), plus
        ``bound_share`` (``bound`` / all persons).

    Raises
    ------
    ParameterError
        ``max_new`` or ``target`` out of range, or a threshold beyond the computed one.
    """
    from .optimize import CoverageProblem
    from .optimize import coverage_curve as _curve

    minutes = _minutes(cov, minutes)
    problem = CoverageProblem(
        cover=cov.matrix(minutes),
        weight=cov.population,
        existing=cov.existing,
        cost=cov.sites["cost"].to_numpy(float),
    )
    out = _curve(problem, max_new, target=target)
    total = float(cov.population.sum())
    out.insert(4, "bound_share", out["bound"] / total if total else 0.0)
    return out


def solve_two_level(
    cov: Coverage,
    by: str,
    *,
    centre_minutes: float = 15.0,
    station_minutes: float = 10.0,
    centre_target: float | str = 0.0,
    station_target: float | str = 0.9,
    time_limit: float = 60.0,
    threads: int | None = None,
    verbose: bool = False,
) -> Plan:
    """Two-level plan: one comprehensive centre per sub-district, then stations.

    Level 1 opens at least one centre inside every group ``by`` (e.g. sub-district 街道),
    reaching ``centre_target`` of its residents within ``centre_minutes``; level 2 adds
    community stations until ``station_target`` of all residents are within
    ``station_minutes`` of a station or centre (centres also host station services).
    Sites take the group of the nearest demand point.

    Parameters
    ----------
    cov : Coverage
        Coverage computed up to the larger of the two thresholds.
    by : str
        Demand column of the sub-districts.
    centre_minutes, station_minutes : float
        Walking thresholds of the two levels, minutes.
    centre_target : float or str
        Share of each sub-district's residents within ``centre_minutes`` of a centre
        (0 = only "a centre inside each").
    station_target : float or str
        Share of all residents within ``station_minutes`` of a station or centre.
    time_limit : float
        Seconds for each level (a work budget).
    threads : int, optional
        HiGHS threads.
    verbose : bool
        HiGHS' log.

    Returns
    -------
    Plan
        ``model`` ``"two_level"``, counted at ``station_minutes``; ``sites`` has a
        ``level`` column (``"centre"``, ``"station"`` or ``""``) and the ``by`` column;
        ``solution`` is a :class:`~siting.optimize.TwoLevelSolution` (``centres``,
        ``stations``).

    Raises
    ------
    ParameterError
        The demand has no column ``by``; a threshold beyond the computed one; a target
        out of range.
    InfeasibleError
        A sub-district (or the station target) cannot be reached by any choice of sites.
    """
    from scipy.spatial import cKDTree

    from .optimize import SolveOptions
    from .optimize import solve_two_level as _two_level

    if by not in cov.demand.columns:
        msg = f"by={by!r}: the demand has no such column (e.g. read it with districts=...)."
        raise ParameterError(msg)
    labels, names = pd.factorize(cov.demand[by].astype("string").fillna("(none)"), sort=True)
    # a site belongs to the group of its nearest demand point
    tree = cKDTree(np.column_stack([cov.demand.geometry.x, cov.demand.geometry.y]))
    _, nearest = tree.query(np.column_stack([cov.sites.geometry.x, cov.sites.geometry.y]))
    cost = cov.sites["cost"].to_numpy(float)
    sol = _two_level(
        cov.matrix(centre_minutes),
        cov.matrix(station_minutes),
        cov.population,
        labels,
        site_group=labels[nearest],
        existing_station=cov.existing,
        cost_centre=cost,
        cost_station=cost,
        centre_target=centre_target,
        station_target=station_target,
        options=SolveOptions(time_limit=time_limit, threads=threads, verbose=verbose),
    )
    centre = np.asarray(sol.centres.selected, bool) & ~cov.existing
    station = np.asarray(sol.stations.selected, bool) & ~centre & ~cov.existing
    params = {
        "by": by,
        "centre_minutes": float(centre_minutes),
        "station_minutes": float(station_minutes),
        "centre_target": centre_target,
        "station_target": station_target,
        "time_limit": time_limit,
    }
    return Plan(
        cov,
        sol,
        "two_level",
        float(station_minutes),
        params,
        site_columns={
            "level": np.where(centre, "centre", np.where(station, "station", "")),
            by: np.asarray(names)[labels[nearest]],
        },
    )
