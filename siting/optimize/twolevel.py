"""Two-level plan: sub-district centres (threshold A) plus community stations (threshold B).

The hierarchy rule of the planning norms: at least one comprehensive centre per
sub-district, and service stations so that enough residents live within the (shorter)
station walk. Solved in two stages, each exactly:

1. **Centres.** Over the same sites, ``min sum_j c_j y_j`` such that every district ``g``

   * has a centre inside it (``sum_{j in g} y_j >= 1``) when ``site_group`` is given and
     no existing centre lies in it, and
   * has at least ``centre_target`` of its persons within threshold A of a centre
     (``cover_centre``); existing centres count.

2. **Stations.** A partial set covering (:func:`siting.optimize.partial_cover.solve_target`) at
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

from siting import validation
from siting.errors import InfeasibleError, ParameterError
from siting.optimize import clock
from siting.optimize.formulations import centre_rows, psclp_matrices
from siting.optimize.highs import solution_status
from siting.optimize.partial_cover import solve_target
from siting.optimize.pipeline import Run, SolveOptions
from siting.optimize.problem import CoverageProblem, Solution, relative_gap

__all__ = ["TwoLevelSolution", "solve_two_level"]


@dataclass
class TwoLevelSolution:
    """Centres (level 1) and stations (level 2) of a two-level plan.

    The attributes a :class:`~siting.optimize.problem.Solution` has (``selected``,
    ``new``, ``objective``, ``bound``, ``gap``, ``status``, ``method``, ``history``,
    ``covered_weight``) describe the two levels together: sites open at either level,
    costs summed, the worse status; coverage is the stations' (the shorter walk).

    Parameters
    ----------
    centres : Solution
        Level 1: the centres.
    stations : Solution
        Level 2: the stations (centres count as stations when they serve them).
    seconds : float
        Wall time of both levels, seconds.
    """

    centres: Solution
    stations: Solution
    seconds: float

    @property
    def selected(self) -> np.ndarray:
        """Sites open at either level (existing ones included)."""
        return np.asarray(self.centres.selected, bool) | np.asarray(self.stations.selected, bool)

    @property
    def new(self) -> np.ndarray:
        """Indices of the new sites of both levels."""
        return np.union1d(self.centres.new, self.stations.new)

    @property
    def objective(self) -> float:
        """Total cost of new centres and new stations."""
        return self.centres.objective + self.stations.objective

    @property
    def bound(self) -> float:
        """Sum of the two stages' bounds (each stage solved on its own)."""
        return self.centres.bound + self.stations.bound

    @property
    def gap(self) -> float:
        """Relative gap of the summed objective and bound."""
        return relative_gap(self.objective, self.bound)

    @property
    def status(self) -> str:
        """``"optimal"`` when both stages are, else the first stage's status that is not."""
        for s in (self.centres, self.stations):
            if s.status != "optimal":
                return s.status
        return "optimal"

    @property
    def method(self) -> str:
        """How each stage was solved."""
        return f"centres: {self.centres.method}; stations: {self.stations.method}"

    @property
    def covered_weight(self) -> float:
        """Persons within the station threshold of a station or centre."""
        return self.stations.covered_weight

    @property
    def history(self) -> dict[str, Any]:
        """Both stages' histories, and whether the plan repeats (both stages must)."""
        hc, hs = self.centres.history, self.stations.history
        cut = list(dict.fromkeys([*hc.get("cut_by", []), *hs.get("cut_by", [])]))
        out: dict[str, Any] = {
            "centres": hc,
            "stations": hs,
            "deterministic": bool(hc.get("deterministic", True) and hs.get("deterministic", True)),
        }
        if cut:
            out["cut_by"] = cut
        if "regional" in hs:
            out["regional"] = hs["regional"]
        return out


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
    centre_target: float | str = 0.0,
    station_target: float | str = 0.9,
    centres_serve_stations: bool = True,
    options: SolveOptions | None = None,
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
    centre_target : float or str
        Share of each sub-district's persons within threshold A of a centre, in [0, 1]
        (0 = only the "one inside" rule); ``0.5`` or ``"50%"``.
    station_target : float or str
        Share of all persons within threshold B of a station (or centre), in (0, 1].
    centres_serve_stations : bool
        Centres also count as stations in stage 2.
    options : SolveOptions, optional
        ``time_limit`` (seconds for each stage, a work budget), ``threads``, ``verbose``
        (the other options are not used: both stages are solved to proof, stations with
        ``method="auto"``).

    Returns
    -------
    TwoLevelSolution
        The centres and the stations, each with its objective, bound and gap.

    Raises
    ------
    ParameterError
        Arrays of different sizes, or a target out of range.
    InfeasibleError
        A district no candidate centre can serve, or a target no choice of sites meets.
    """
    t0 = time.perf_counter()
    centre_share = (
        0.0 if centre_target in (0, 0.0) else validation.SHARE("centre_target", centre_target)
    )
    station_share = validation.SHARE("station_target", station_target)
    if site_group is None and centre_share <= 0:
        msg = "give site_group (one centre inside each sub-district) or a centre_target > 0"
        raise ParameterError(msg)
    P1 = CoverageProblem(
        cover=cover_centre,
        weight=weight,
        existing=existing_centre,
        cost=cost_centre,
        group=np.asarray(group),
    )
    opts = SolveOptions() if options is None else options
    stage = SolveOptions(time_limit=opts.time_limit, threads=opts.threads, verbose=opts.verbose)
    centres = _centres(P1, site_group, centre_share, options=stage)
    ex2 = (
        np.zeros(P1.n_sites, dtype=bool)
        if existing_station is None
        else np.asarray(existing_station, dtype=bool).copy()
    )
    if centres_serve_stations:
        ex2 |= centres.selected
    if ex2.all():  # the centres (and existing stations) hold every site: nothing to choose
        stations = _all_open(cover_station, weight, station_share, time.perf_counter())
    else:
        P2 = CoverageProblem(cover=cover_station, weight=weight, existing=ex2, cost=cost_station)
        stations = solve_target(P2, station_share, options=stage)
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
    P: CoverageProblem, site_group: np.ndarray | None, target: float, *, options: SolveOptions
) -> Solution:
    """Stage 1: the cheapest centres meeting each district's target, one inside every
    district that has none (``options.time_limit``: the stage's work budget)."""
    run = Run(options)
    groups = P.group
    G = int(groups.max()) + 1
    w = P.weight
    cand_idx = np.flatnonzero(~P.existing)
    # per-district coverage rows over all demand (small problems: no reduction needed)
    tot = np.bincount(groups, weights=w, minlength=G)
    pre = P.covered_mask(P.existing)
    need = np.maximum(target * tot - np.bincount(groups, weights=w * pre, minlength=G), 0.0)
    need = np.where(need <= 1e-9 * max(1.0, tot.sum()), 0.0, need * (1 - 1e-12))
    rows = np.flatnonzero(~pre & (w > 0))
    A = P.cover[rows][:, cand_idx].tocsr()
    model = psclp_matrices(A, w[rows], P.cost[cand_idx], 0.0, group=groups[rows], group_need=need)
    if site_group is not None:
        E = _inside_rows(P, np.asarray(site_group), cand_idx, G, model.A.shape[1])
        model = model.with_rows(E, lower=1.0)
    res = run.milp(model, time_limit=options.time_limit)
    if res.x is None:
        msg = (
            "no set of centres meets the per-sub-district centre target; lower "
            "centre_target or add candidate sites"
        )
        raise InfeasibleError(msg)
    sel = P.existing.copy()
    sel[cand_idx[res.x[: cand_idx.size] > 0.5]] = True
    objective = float(P.cost[np.flatnonzero(sel & ~P.existing)].sum())
    run.history["districts"] = G
    bound = objective if res.status == "optimal" else float(res.bound)
    return run.finish(
        P,
        sel,
        objective,
        bound,
        solution_status(res.status),
        unreachable=np.zeros(0, dtype=np.int64),
    )


def _inside_rows(
    P: CoverageProblem, site_group: np.ndarray, cand_idx: np.ndarray, G: int, n_columns: int
) -> sp.csr_matrix:
    """ "A centre inside" rows for the districts with demand and no existing centre."""
    have = np.zeros(G, dtype=bool)
    ex_sg = site_group[P.existing]
    have[ex_sg[ex_sg >= 0]] = True
    lack = np.flatnonzero(~have & (np.bincount(P.group, minlength=G) > 0))
    sgc = site_group[cand_idx]
    no_site = np.setdiff1d(lack, sgc[np.isin(sgc, lack)])
    if no_site.size:
        msg = (
            f"sub-district(s) {', '.join(map(str, no_site[:10]))} have no candidate "
            "site inside them for a centre; add candidate sites there"
        )
        raise InfeasibleError(msg)
    return centre_rows(sgc, lack, G, n_columns)
