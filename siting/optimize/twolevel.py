"""Two-level plan: sub-district centres (threshold A) plus community stations (threshold B).

The hierarchy rule of the planning norms: at least one comprehensive centre per
sub-district, and service stations so that enough residents live within the (shorter)
station walk. Solved in two stages, each exactly:

1. **Centres.** Over the same sites, ``min sum_j c_j y_j`` such that every district ``g``

   * has a centre inside it (``sum_{j in g} y_j >= 1``) when ``site_group`` is given and
     no existing centre lies in it, and
   * has at least ``centre_target`` of its persons within threshold A of a centre
     (``cover_centre``); existing centres count.

2. **Stations.** A partial set covering (:func:`siting.optimize.target.solve_target`) at
   threshold B (``cover_station``) reaching ``station_target`` of all persons. When
   ``centres_serve_stations`` (default) a centre also hosts station services, so the
   centres chosen in stage 1 are counted as existing stations; stage 2 then only adds what
   is still missing. The two stages are not optimised jointly (a joint model could trade
   a dearer centre for fewer stations); the result says so in ``history``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from siting.errors import InfeasibleError, ParameterError
from siting.optimize import clock
from siting.optimize.highs import solution_status, solve_milp
from siting.optimize.problem import CoverageProblem, Solution, relative_gap
from siting.optimize.target import psclp_matrices, solve_target

__all__ = ["TwoLevelSolution", "solve_two_level"]


@dataclass
class TwoLevelSolution:
    """Centres (level 1) and stations (level 2) of a two-level plan."""

    centres: Solution
    stations: Solution
    seconds: float

    @property
    def objective(self) -> float:
        """Total cost of new centres and new stations."""
        return self.centres.objective + self.stations.objective


def solve_two_level(
    cover_centre: sp.spmatrix,
    cover_station: sp.spmatrix,
    weight: np.ndarray,
    group: np.ndarray,
    *,
    site_group: np.ndarray | None = None,
    existing_centre: np.ndarray | None = None,
    existing_station: np.ndarray | None = None,
    cost_centre: np.ndarray | None = None,
    cost_station: np.ndarray | None = None,
    centre_target: float = 0.0,
    station_target: float = 0.9,
    centres_serve_stations: bool = True,
    time_limit: float = 60.0,
    threads: int | None = None,
    verbose: bool = False,
) -> TwoLevelSolution:
    """Plan sub-district centres, then community stations.

    Parameters
    ----------
    cover_centre, cover_station : sparse (n_demand, n_sites)
        Coverage at the centre threshold A and at the station threshold B (same sites).
    weight : ndarray (n_demand,)
        Persons.
    group : ndarray of int (n_demand,)
        Sub-district of each demand point.
    site_group : ndarray of int (n_sites,), optional
        Sub-district each site lies in (-1 outside all); enables "a centre inside every
        sub-district".
    existing_centre, existing_station : ndarray of bool (n_sites,), optional
        Sites already open at each level.
    cost_centre, cost_station : ndarray (n_sites,), optional
        Opening costs (default 1).
    centre_target : float
        Share of each sub-district's persons within threshold A of a centre (0 = only the
        "one inside" rule).
    station_target : float
        Share of all persons within threshold B of a station (or centre).
    centres_serve_stations : bool
        Centres also count as stations in stage 2.
    time_limit : float
        Seconds for each stage.

    Returns
    -------
    TwoLevelSolution
    """
    t0 = time.perf_counter()
    if site_group is None and centre_target <= 0:
        msg = "give site_group (one centre inside each sub-district) or a centre_target > 0"
        raise ParameterError(msg)
    P1 = CoverageProblem(
        cover=cover_centre,
        weight=weight,
        existing=existing_centre,
        cost=cost_centre,
        group=np.asarray(group),
    )
    centres = _centres(P1, site_group, centre_target, time_limit, threads, verbose)
    ex2 = (
        np.zeros(P1.n_sites, dtype=bool)
        if existing_station is None
        else np.asarray(existing_station, dtype=bool).copy()
    )
    if centres_serve_stations:
        ex2 |= centres.selected
    if ex2.all():  # the centres (and existing stations) hold every site: nothing to choose
        stations = _all_open(cover_station, weight, station_target, time.perf_counter())
    else:
        P2 = CoverageProblem(cover=cover_station, weight=weight, existing=ex2, cost=cost_station)
        stations = solve_target(
            P2, station_target, time_limit=time_limit, threads=threads, verbose=verbose
        )
    stations.history["centres_counted_as_stations"] = bool(centres_serve_stations)
    stations.history["joint_optimum"] = "not guaranteed (two stages solved in sequence)"
    return TwoLevelSolution(centres=centres, stations=stations, seconds=time.perf_counter() - t0)


def _all_open(cover, weight, target: float, t0: float) -> Solution:
    """Stage 2 when every site is already open: met (0 new stations) or out of reach."""
    w = np.asarray(weight, dtype=float)
    m = cover.shape[1]
    reach = np.diff(sp.csr_matrix(cover).indptr) > 0
    got, total = float(w[reach].sum()), float(w.sum())
    if got < target * total * (1 - 1e-12):
        msg = (
            f"Station target {target:.1%} is unreachable: with every one of the {m} sites "
            f"open (the centres and existing stations take them all), {got / total:.1%} of "
            f"{total:,.0f} persons are within the station threshold. Lower station_target "
            "or add candidate sites."
        )
        raise InfeasibleError(msg)
    return Solution(
        selected=np.ones(m, dtype=bool),
        new=np.zeros(0, dtype=np.int64),
        objective=0.0,
        bound=0.0,
        gap=0.0,
        status="optimal",
        seconds=time.perf_counter() - t0,
        covered_weight=got,
        covered_share=got / total if total > 0 else 1.0,
        method="all sites open",
    )


@clock.work_budget()
def _centres(
    P: CoverageProblem,
    site_group: np.ndarray | None,
    target: float,
    time_limit: float,
    threads: int | None,
    verbose: bool,
) -> Solution:
    t0 = time.perf_counter()
    groups = P.group
    G = int(groups.max()) + 1
    w = P.weight
    cover = P.cover
    cand = ~P.existing
    # per-district coverage rows over all demand (small problems: no reduction needed)
    tot = np.bincount(groups, weights=w, minlength=G)
    pre = P.covered_mask(P.existing)
    need = np.maximum(target * tot - np.bincount(groups, weights=w * pre, minlength=G), 0.0)
    need = np.where(need <= 1e-9 * max(1.0, tot.sum()), 0.0, need * (1 - 1e-12))
    rows = np.flatnonzero(~pre & (w > 0))
    A = cover[rows][:, np.flatnonzero(cand)].tocsr()
    cand_idx = np.flatnonzero(cand)
    c, M, lo, hi, integ = psclp_matrices(
        A, w[rows], P.cost[cand_idx], 0.0, group=groups[rows], group_need=need
    )
    extra_rows = []
    if site_group is not None:
        sg = np.asarray(site_group)
        have = np.zeros(G, dtype=bool)
        ex_sg = sg[P.existing]
        have[ex_sg[ex_sg >= 0]] = True
        lack = np.flatnonzero(~have & (np.bincount(groups, minlength=G) > 0))
        sgc = sg[cand_idx]
        for_g = np.isin(sgc, lack)
        if lack.size:
            no_site = np.setdiff1d(lack, sgc[for_g])
            if no_site.size:
                msg = (
                    f"sub-district(s) {', '.join(map(str, no_site[:10]))} have no candidate "
                    "site inside them for a centre; add candidate sites there"
                )
                raise InfeasibleError(msg)
            row_of_g = np.full(G, -1)
            row_of_g[lack] = np.arange(lack.size)
            jj = np.flatnonzero(for_g)
            E = sp.csr_matrix(
                (np.ones(jj.size), (row_of_g[sgc[jj]], jj)), shape=(lack.size, M.shape[1])
            )
            extra_rows.append(E)
    if extra_rows:
        M = sp.vstack([M, *extra_rows]).tocsr()
        k = sum(e.shape[0] for e in extra_rows)
        lo = np.r_[lo, np.ones(k)]
        hi = np.r_[hi, np.full(k, np.inf)]
    res = solve_milp(
        c, M, lo, hi, integrality=integ, time_limit=time_limit, threads=threads, verbose=verbose
    )
    if res.x is None:
        msg = (
            "no set of centres meets the per-sub-district centre target; lower "
            "centre_target or add candidate sites"
        )
        raise InfeasibleError(msg)
    sel = P.existing.copy()
    sel[cand_idx[res.x[: cand_idx.size] > 0.5]] = True
    new = np.flatnonzero(sel & ~P.existing)
    obj = float(P.cost[new].sum())
    bound = obj if res.status == "optimal" else float(res.bound)
    cw = P.covered_weight(sel)
    hist: dict[str, Any] = {"highs_status": res.status, "districts": G}
    return Solution(
        selected=sel,
        new=new,
        objective=obj,
        bound=bound,
        gap=relative_gap(obj, bound),
        status=solution_status(res.status),
        seconds=time.perf_counter() - t0,
        covered_weight=cw,
        covered_share=cw / P.total_weight if P.total_weight > 0 else 1.0,
        history=hist,
        method="highs",
    )
