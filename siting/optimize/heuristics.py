"""Fast heuristics: incumbents for the exact solvers and answers for huge instances.

Coverage models work on a reduced matrix (see :mod:`siting.optimize.reduce`) with the
compiled incremental state of :mod:`siting.optimize._kernels`: opening or closing a site
touches only the rows it covers, so a greedy run costs O(nnz) in total and one full
1-swap neighbourhood scan O(nnz) with unit costs (a candidate's best partner comes from
its own rows or is the open site losing least) or O(nnz + n_open x n_candidates) with
costs; candidates are scanned by falling gain and the scan stops once no gain can win.

* :func:`greedy_cover` - best gain / cost first, until a covered weight is reached.
* :func:`improve_partial_cover` - partial set covering (PSCLP) local search: close the
  open site that loses least, repair coverage with 1-swaps (never raising cost), drop
  redundant sites; then seeded random kicks (close a few sites, greedy repair, repeat).
* :func:`mclp_swap` - MCLP 1-swap local search at a fixed number of sites / budget.
* :func:`mclp_iterated_search` - compiled iterated local search at a fixed number of
  sites (local kicks, greedy refill, 1-swaps near the change, undo when worse): the
  search of the large-model paths of both coverage models.
* :func:`pmedian_greedy`, :func:`pmedian_interchange` - p-median greedy add and
  Whitaker's fast interchange (Teitz-Bart vertex substitution), vectorised over the
  sparse distance pairs.
* :func:`capacitated_greedy` - capacitated coverage: sites by the persons they can still
  serve, each serving a share of everyone it reaches.
* :func:`priced_swap_search` - 1-swaps for models whose plans an LP evaluates
  (capacities): the swaps are priced by the LP's duals and checked in that order.

Everything is deterministic for a given ``seed``: deadlines are readings of the work
clock (:mod:`siting.optimize.clock`), which advances by the work the kernels report, not
by the wall clock. Parallel walks run in lock-step rounds, so which walk wins does not
depend on thread timing either.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp

from siting.optimize import _kernels as kern
from siting.optimize import clock, settings

__all__ = [
    "CoverIndex",
    "capacitated_greedy",
    "fewest_columns_search",
    "greedy_cover",
    "group_greedy",
    "improve_partial_cover",
    "mclp_iterated_search",
    "mclp_swap",
    "pm_state",
    "pmedian_greedy",
    "pmedian_interchange",
    "priced_swap_search",
    "search_workers",
]

_TOL = 1e-9  # relative tolerance on weights (persons)


@dataclass
class CoverIndex:
    """Row-wise and column-wise CSR arrays of a coverage matrix, ready for the kernels."""

    rptr: np.ndarray
    rind: np.ndarray
    tptr: np.ndarray
    tind: np.ndarray
    w: np.ndarray
    cost: np.ndarray

    @classmethod
    def build(cls, A: sp.spmatrix, w: np.ndarray, cost: np.ndarray | None = None) -> CoverIndex:
        """Index ``A`` (rows x columns) with row weights ``w`` and column costs ``cost``."""
        R = sp.csr_matrix(A, dtype=bool)
        T = sp.csr_matrix(R.T)
        n_cols = R.shape[1]
        return cls(
            rptr=R.indptr.astype(np.int64),
            rind=R.indices.astype(np.int64),
            tptr=T.indptr.astype(np.int64),
            tind=T.indices.astype(np.int64),
            # own writable copies: a read-only input (pandas' copy-on-write arrays) would
            # make numba compile every search kernel a second time for it
            w=np.array(w, dtype=float),
            cost=np.ones(n_cols) if cost is None else np.array(cost, dtype=float),
        )

    @cached_property
    def matrices(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """``(A, A')`` as float CSR matrices over the index's arrays, built once."""
        ones_r, ones_t = np.ones(self.rind.size), np.ones(self.tind.size)
        A = sp.csr_matrix((ones_r, self.rind, self.rptr), shape=(self.n_rows, self.n_cols))
        AT = sp.csr_matrix((ones_t, self.tind, self.tptr), shape=(self.n_cols, self.n_rows))
        return A, AT

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(self.rptr) - 1

    @property
    def n_cols(self) -> int:
        """Number of columns."""
        return len(self.tptr) - 1

    def args(self) -> tuple[np.ndarray, ...]:
        """Arrays in kernel order."""
        return (self.tptr, self.tind, self.rptr, self.rind, self.w, self.cost)

    def covered(self, sel: np.ndarray) -> float:
        """Covered weight of a column selection."""
        return float(kern.coverage_of(self.tptr, self.tind, self.w, sel, self.n_rows))

    def tol(self) -> float:
        """Absolute tolerance on weights."""
        return _TOL * max(1.0, float(self.w.sum()))

    @property
    def nnz(self) -> int:
        """Stored entries (row-column pairs)."""
        return int(self.rind.size)


def swap_search(
    idx: CoverIndex, sel: np.ndarray, stop_at: float, max_moves: int, budget_slack: float = 0.0
) -> tuple[float, int]:
    """Compiled 1-swap descent on ``sel`` (in place), charged to the work clock."""
    covered, moves = kern.swap_search(*idx.args(), sel, stop_at, max_moves, idx.tol(), budget_slack)
    clock.charge_kernel((int(moves) + 1) * settings.swap_move_entries * idx.nnz + idx.n_cols)
    return float(covered), int(moves)


def drop_redundant(idx: CoverIndex, sel: np.ndarray, need_t: float) -> float:
    """Close open columns not needed to cover ``need_t`` (in place), charged."""
    covered = kern.drop_redundant(*idx.args(), sel, need_t)
    clock.charge_kernel(idx.nnz)
    return float(covered)


def removal_order(idx: CoverIndex, sel: np.ndarray) -> np.ndarray:
    """Open columns, cheapest to remove first (compiled), charged."""
    order = kern.removal_order(*idx.args(), sel)
    clock.charge_kernel(idx.nnz)
    return order


def greedy_cover(
    idx: CoverIndex,
    need: float,
    *,
    start: np.ndarray | None = None,
    max_add: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy: open the column with the best uncovered weight per cost, repeatedly.

    Parameters
    ----------
    idx : CoverIndex
    need : float
        Stop once this weight (persons) is covered.
    start : ndarray of bool, optional
        Columns already open.
    max_add : int, optional
        Stop after this many columns.

    Returns
    -------
    sel : ndarray of bool
        Open columns.
    order : ndarray of int
        Columns in the order they were opened.
    curve : ndarray of float
        Covered weight after each opening.
    """
    sel = np.zeros(idx.n_cols, dtype=bool) if start is None else start.astype(bool).copy()
    max_add = idx.n_cols if max_add is None else int(max_add)
    order, curve = kern.greedy(*idx.args(), sel, float(need) - idx.tol(), max_add)
    clock.charge_kernel(idx.nnz + order.size * idx.n_cols)
    return sel, order, curve


def improve_partial_cover(
    idx: CoverIndex,
    need: float,
    sel: np.ndarray,
    *,
    seed: int = 0,
    kicks: int = 30,
    max_tries: int = 12,
    time_limit: float = 30.0,
) -> tuple[np.ndarray, dict[str, float]]:
    """Local search for partial set covering: fewer / cheaper columns still covering ``need``.

    Parameters
    ----------
    idx : CoverIndex
    need : float
        Weight (persons) the solution must cover.
    sel : ndarray of bool
        A feasible start (e.g. from :func:`greedy_cover`).
    seed : int
        Seed of the random kicks.
    kicks : int
        Number of random kicks after the descent stalls (0 = pure descent).
    max_tries : int
        Open columns tried for removal per descent step (cheapest-to-remove first).
    time_limit : float
        Work seconds (:mod:`siting.optimize.clock`); normal runs stop on the iteration
        limits.

    Returns
    -------
    sel : ndarray of bool
        Best solution found.
    info : dict
        ``{"descent_s", "kicks_s", "start_cost", "cost"}``.
    """
    t0 = clock.now()
    tol = idx.tol()
    need_t = float(need) - tol
    best = sel.astype(bool).copy()
    start_cost = float(idx.cost[best].sum())
    drop_redundant(idx, best, need_t)
    best = _descent(idx, best, need_t, max_tries, t0 + time_limit)
    t1 = clock.now()
    rng = np.random.default_rng(seed)
    best_cost = float(idx.cost[best].sum())
    cur = best.copy()
    for _ in range(kicks):
        if clock.now() - t0 > time_limit:
            break
        opened = np.flatnonzero(cur)
        if opened.size < 2:
            break
        r = max(2, opened.size // 20)
        trial = cur.copy()
        trial[rng.choice(opened, size=min(r, opened.size), replace=False)] = False
        trial, _, _ = greedy_cover(idx, need, start=trial)
        drop_redundant(idx, trial, need_t)
        trial = _descent(idx, trial, need_t, max_tries, t0 + time_limit)
        c = float(idx.cost[trial].sum())
        if c <= float(idx.cost[cur].sum()) + 1e-12:
            cur = trial
        if c < best_cost - 1e-12:
            best, best_cost = trial.copy(), c
    info = {
        "descent_s": t1 - t0,
        "kicks_s": clock.now() - t1,
        "start_cost": start_cost,
        "cost": best_cost,
    }
    return best, info


def _descent(idx: CoverIndex, sel: np.ndarray, need_t: float, max_tries: int, deadline: float):
    """Close one column and repair by swaps; repeat while it succeeds."""
    best = sel.copy()
    while clock.now() < deadline:
        order = removal_order(idx, best)
        done = False
        for j in order[:max_tries]:
            trial = best.copy()
            trial[j] = False
            covered, _ = swap_search(idx, trial, need_t, 100_000)
            if covered >= need_t:
                drop_redundant(idx, trial, need_t)
                best = trial
                done = True
                break
            if clock.now() > deadline:
                break
        if not done:
            break
    return best


def mclp_swap(
    idx: CoverIndex, sel: np.ndarray, *, budget_slack: float = 0.0, max_moves: int = 100_000
) -> tuple[np.ndarray, float]:
    """1-swap local search maximising covered weight with the number of open columns fixed.

    ``budget_slack`` (>= 0) lets a swap raise the cost by at most that much (unused budget).
    Returns the improved selection and its covered weight.
    """
    out = sel.astype(bool).copy()
    covered, _ = swap_search(idx, out, np.inf, max_moves, budget_slack)
    return out, covered


def search_workers(threads: int | None) -> int:
    """Parallel walks for the iterated search: ``threads``, else ``settings.default_walks`` on every
    machine (the walks decide the plan: a count that followed the CPUs would give
    another plan on another machine)."""
    if threads is not None:
        return max(1, int(threads))
    return settings.default_walks


def mclp_iterated_search(
    idx: CoverIndex,
    sel: np.ndarray,
    *,
    stop_at: float = np.inf,
    seed: int = 0,
    max_iterations: int = 100_000,
    deadline: float | None = None,
    workers: int = 1,
) -> tuple[np.ndarray, float]:
    """Iterated 1-swap local search at a fixed number of open columns (unit costs).

    Compiled (:func:`siting.optimize._kernels.iterated_swaps`): each iteration closes 2-5
    open columns - mostly one at random and open columns sharing demand with it - reopens
    as many greedily and descends with best-improvement 1-swaps near the change (every
    ``settings.full_scan_every``-th iteration over all columns); a worse result is undone (kept 1
    time in 50, to leave plateaus), and after ``settings.ils_return_after`` iterations without a
    new best the walk restarts from the best. ``workers`` > 1 runs that many independent
    walks (seeds ``seed``, ``seed + 1``, ...) in threads - the compiled kernel releases
    the GIL - in lock-step rounds of ``settings.ils_chunk`` iterations. The search stops after the
    round in which a walk covers ``stop_at`` persons, after ``max_iterations`` per walk
    or at ``deadline`` (a work-clock reading, :func:`siting.optimize.clock.now`). The same
    seed and ``workers`` give the same answer. Returns the best selection (ties: the
    lowest seed) and its covered weight.
    """
    if max_iterations <= 0:
        return sel.astype(bool).copy(), idx.covered(sel.astype(bool))
    walks = [_Walk(idx, sel, seed + k) for k in range(max(1, int(workers)))]
    per_iteration = (
        settings.ils_iteration_entries
        * (idx.nnz / max(idx.n_cols, 1) * idx.nnz / max(idx.n_rows, 1))
        + settings.ils_scan_entries * idx.nnz / settings.full_scan_every
    )
    pool = ThreadPoolExecutor(max_workers=len(walks)) if len(walks) > 1 else None
    try:
        done = 0
        while True:
            n = max(1, min(settings.ils_chunk, max_iterations - done))
            if pool is None:
                ran = [walks[0].run(n, stop_at)]
            else:
                ran = list(pool.map(_Walk.run, walks, [n] * len(walks), [stop_at] * len(walks)))
            done += n
            clock.charge_kernel(max(ran) * per_iteration)  # walks run side by side
            if any(wk.best_cov >= stop_at for wk in walks) or done >= max_iterations:
                break
            if deadline is not None and clock.now() > deadline:
                break
            if all(wk.stuck for wk in walks):
                break
    finally:
        if pool is not None:
            pool.shutdown()
    best = max(walks, key=lambda wk: wk.best_cov)  # ties: the first, lowest seed
    return best.best, best.best_cov


class _Walk:
    """One walk of :func:`mclp_iterated_search`, advanced a round at a time."""

    def __init__(self, idx: CoverIndex, sel: np.ndarray, seed: int) -> None:
        self.args = (idx.tptr, idx.tind, idx.rptr, idx.rind, idx.w)
        self.tol = idx.tol()
        self.seed = seed
        self.cur = sel.astype(bool).copy()
        self.best = self.cur.copy()
        self.best_cov = -np.inf
        self.chunk_sel = np.empty_like(self.cur)
        self.n_chunk = 0
        self.stale = 0  # iterations since the best solution last improved
        self.stuck = False  # fewer than two open columns: nothing to perturb

    def run(self, n: int, stop_at: float) -> int:
        """Run up to ``n`` iterations (fewer once ``stop_at`` is reached); iterations run."""
        if self.stuck or self.best_cov >= stop_at:
            return 0
        cov, _, ran = kern.iterated_swaps(
            *self.args,
            self.cur,
            self.chunk_sel,
            n,
            self.seed * 1_000_003 + self.n_chunk,
            stop_at,
            self.tol,
            settings.full_scan_every,
        )
        self.n_chunk += 1
        self.stale += int(ran)
        if cov > self.best_cov + self.tol or self.best_cov == -np.inf:
            self.best, self.best_cov = self.chunk_sel.copy(), float(cov)
            self.stale = 0
        elif self.stale >= settings.ils_return_after:  # the walk has drifted: go back to the best
            self.cur[:] = self.best
            self.stale = 0
        if ran < n and self.best_cov < stop_at:
            self.stuck = True
        return max(int(ran), 1)


def fewest_columns_search(
    idx: CoverIndex,
    sel: np.ndarray,
    need: float,
    *,
    seed: int = 0,
    deadline: float | None = None,
    max_iterations: int = 10**9,
    workers: int = 1,
    least: int = 0,
    patience_s: float = np.inf,
) -> np.ndarray:
    """Compiled iterated search for the fewest open columns covering ``need`` persons
    (unit costs): the large-model search of partial covering.

    Each walk (:func:`siting.optimize._kernels.target_walk`) keeps its plan and its
    incremental state from start to end: while the plan covers ``need`` it closes the
    open column losing least and repairs with 1-swaps near it; one column short, it
    runs iterations of the iterated search (kick, greedy refill, 1-swaps near the change,
    undo when worse) until the plan covers ``need`` again. ``workers`` walks (seeds
    ``seed``, ``seed + 1``, ...) run side by side in threads, in lock-step rounds of
    ``settings.ils_chunk`` iterations; after a round, a walk whose best plan has more
    columns than the best walk's starts again from that plan. Stops after
    ``max_iterations`` per walk, at ``deadline`` (a work-clock reading), once a plan
    has ``least`` columns (a bound proves it) or after ``patience_s`` work seconds
    without a plan with fewer columns. Work is
    charged from what the walks did (``settings.walk_*``). The same seed and
    ``workers`` give the same plan.

    Parameters
    ----------
    idx : CoverIndex
    sel : ndarray of bool
        A plan covering ``need`` (the start; returned if nothing better is found).
    need : float
        Persons to cover (less the tolerance).
    seed, deadline, max_iterations, workers, least, patience_s
        As above.

    Returns
    -------
    ndarray of bool
        The plan with the fewest open columns found (ties: the lowest seed).
    """
    walks = [_TargetWalk(idx, sel, seed + k, need) for k in range(max(1, int(workers)))]
    pool = ThreadPoolExecutor(max_workers=len(walks)) if len(walks) > 1 else None
    fewest, since = walks[0].fewest, clock.now()
    try:
        done = 0
        while done < max_iterations and (deadline is None or clock.now() <= deadline):
            n = max(1, min(settings.ils_chunk, max_iterations - done))
            if pool is None:
                work = [walks[0].run(n)]
            else:
                work = list(pool.map(_TargetWalk.run, walks, [n] * len(walks)))
            done += n
            clock.charge_kernel(max(work))  # walks run side by side
            lead = min(wk.fewest for wk in walks)
            if lead < fewest:
                fewest, since = lead, clock.now()
            if all(wk.stuck for wk in walks) or lead <= least:
                break
            if clock.now() - since > patience_s:
                break
            _share_best(walks)
    finally:
        if pool is not None:
            pool.shutdown()
    return min(walks, key=lambda wk: wk.fewest).best  # ties: the first, lowest seed


def _share_best(walks: list[_TargetWalk]) -> None:
    """Walks behind the best one start again from its plan."""
    lead = min(walks, key=lambda wk: wk.fewest)
    for wk in walks:
        if wk.fewest > lead.fewest:
            wk.restart(lead.best)


class _TargetWalk:
    """One walk of :func:`fewest_columns_search`, advanced a round at a time."""

    def __init__(self, idx: CoverIndex, sel: np.ndarray, seed: int, need: float) -> None:
        self.idx, self.seed, self.need = idx, seed, float(need)
        self.n_chunk = 0
        self.restart(sel)

    def restart(self, sel: np.ndarray) -> None:
        """Start from the plan ``sel`` (recorded as the best; it covers ``need``)."""
        idx = self.idx
        self.best = sel.astype(bool).copy()
        self.state, self.buffers, covered = kern.walk_state(
            idx.tptr, idx.tind, idx.w, self.best.copy(), idx.n_rows
        )
        # covered, accepted coverage, fewest columns, iterations, passes, refills,
        # candidates, columns closed (see _kernels.target_walk)
        self.tally = np.zeros(8)
        self.tally[:3] = covered, covered, int(self.best.sum())
        self.stuck = False
        clock.charge_kernel(2 * idx.nnz)

    @property
    def fewest(self) -> int:
        """Open columns of the best plan."""
        return int(self.tally[2])

    def run(self, n: int) -> float:
        """Run ``n`` iterations; returns the work done (coverage-index entries)."""
        idx = self.idx
        before = self.tally.copy()
        ran = kern.target_walk(
            idx.tptr,
            idx.tind,
            idx.rptr,
            idx.rind,
            idx.w,
            self.state,
            self.buffers,
            self.best,
            self.tally,
            n,
            self.seed * 1_000_003 + self.n_chunk,
            self.need,
            idx.tol(),
            0,
        )
        self.n_chunk += 1
        self.stuck = ran < n
        done = self.tally - before
        m = idx.n_cols
        near = idx.nnz / max(m, 1) * idx.nnz / max(idx.n_rows, 1)  # a column's neighbourhood
        iterations, passes, refills, closed = done[3], done[4], done[5], done[7]
        return (
            settings.walk_column_scans * m * (iterations + passes + refills)
            + settings.walk_near_entries * near * refills
            + settings.walk_close_entries * (m + near) * closed
        )


def group_greedy(
    A: sp.csr_matrix,
    w: np.ndarray,
    group: np.ndarray,
    need: np.ndarray,
    cost: np.ndarray,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Greedy for per-district targets: gain counts only what still helps a district.

    Parameters
    ----------
    A : csr_matrix (rows x columns)
    w : ndarray
        Row weights (persons).
    group : ndarray of int
        District of each row, 0..G-1.
    need : ndarray, shape (G,)
        Persons each district must have covered.
    cost : ndarray
        Column costs.

    Returns
    -------
    ndarray of bool: open columns (every district's need met when possible).
    """
    n, m = A.shape
    G = len(need)
    sel = np.zeros(m, dtype=bool) if start is None else start.copy()
    E = sp.csr_matrix((np.ones(n), (np.arange(n), group)), shape=(n, G))
    AT = sp.csr_matrix(A.T, dtype=float)
    covered = np.asarray(A @ sel.astype(float)).ravel() > 0
    tol = _TOL * max(1.0, float(w.sum()))
    while True:
        have = np.bincount(group, weights=w * covered, minlength=G)
        deficit = np.maximum(need - have, 0.0)
        if np.all(deficit <= tol):
            break
        gains = (AT @ E.multiply((w * ~covered)[:, None])).toarray()  # columns x districts
        useful = np.minimum(gains, deficit[None, :]).sum(axis=1)
        useful[sel] = 0.0
        ratio = useful / np.maximum(cost, 1e-12)
        j = int(np.argmax(ratio))
        if useful[j] <= tol:
            break
        sel[j] = True
        covered |= np.asarray(A[:, j].toarray()).ravel() > 0
    return sel


def capacitated_greedy(
    A: sp.csr_matrix, w: np.ndarray, cap: np.ndarray, fixed: np.ndarray, p: int
) -> tuple[np.ndarray, np.ndarray]:
    """Feasible start: existing sites, then ``p`` candidates by persons they can still serve.

    Each site opened serves the same share ``min(1, cap / reachable unserved persons)`` of
    every unserved person it reaches. Returns ``(selected, x)`` with ``x`` the share of each
    stored pair (CSR order of ``A``) served.
    """
    k = A.nnz
    pair_ids = np.arange(1, k + 1, dtype=np.int64)  # 1-based: a stored 0 would be dropped
    Ac = sp.csr_matrix((pair_ids, A.indices, A.indptr), shape=A.shape).tocsc()
    residual = np.asarray(w, float).copy()
    x = np.zeros(k)
    sel = fixed.copy()

    def open_site(j: int) -> None:
        lo, hi = Ac.indptr[j], Ac.indptr[j + 1]
        rows, pairs = Ac.indices[lo:hi], Ac.data[lo:hi] - 1
        reach = residual[rows].sum()
        if reach <= 0:
            return
        f = min(1.0, cap[j] / reach)
        x[pairs] += f * residual[rows] / np.maximum(w[rows], 1e-300)
        residual[rows] *= 1.0 - f

    for j in np.flatnonzero(fixed):  # the open sites, not every site
        open_site(int(j))
    cand = ~fixed
    for _ in range(p):
        clock.charge_sparse(A.nnz + 4 * A.shape[1])
        gain = np.minimum(cap, A.T @ residual)
        gain[~cand | sel] = -1.0
        j = int(np.argmax(gain))
        if gain[j] < 0:
            break
        sel[j] = True
        open_site(j)
    return sel, np.minimum(x, 1.0)


def priced_swap_search(
    sel: np.ndarray,
    best: Any,
    price: Callable[[np.ndarray, Any], tuple[np.ndarray, np.ndarray, np.ndarray] | None],
    check: Callable[[np.ndarray, float], Any],
    better: Callable[[Any, Any], bool],
    deadline: float,
) -> tuple[np.ndarray, Any, dict[str, int]]:
    """Swap one open site for a closed one while it helps, the best-priced swap first.

    For models whose plans are evaluated by an LP (capacities): each round
    ``price(sel, best)`` gives ``(adds, drops, order)``, the closed sites to open, the open
    ones to close and the order in which to try the pairs (flat indices over
    ``adds x drops``), or None when there is nothing to try; ``check(trial, seconds)``
    evaluates a plan (None if it could not); the first ``better`` one is kept and a new
    round starts. Stops when a round finds none or at ``deadline``
    (a work-clock reading). Returns the plan, its evaluation and counts.
    """
    stats = {"swap_rounds": 0, "swap_checks": 0, "swaps": 0}
    while clock.now() < deadline:
        stats["swap_rounds"] += 1
        priced = price(sel, best)
        if priced is None:
            break
        adds, drops, order = priced
        improved = False
        for k in order:
            if clock.now() >= deadline:
                break
            trial = sel.copy()
            trial[adds[k // drops.size]] = True
            trial[drops[k % drops.size]] = False
            # a check is never cut short by the phase's deadline (where it stopped would
            # depend on the machine): it may overrun it, within the solver's wall limit
            got = check(trial, max(deadline - clock.now(), settings.check_min_s))
            stats["swap_checks"] += 1
            if got is not None and better(got, best):
                sel, best, improved = trial, got, True
                stats["swaps"] += 1
                break
        if not improved:
            break
    return sel, best, stats


# ---------------------------------------------------------------------- p-median
@dataclass
class PMState:
    d1: np.ndarray
    d2: np.ndarray
    c1: np.ndarray


def pm_state(D: sp.csr_matrix, big: float, sel: np.ndarray) -> PMState:
    """Nearest and second-nearest open distance per row (``big`` when none)."""
    n = D.shape[0]
    mask = sel[D.indices]
    rows = np.repeat(np.arange(n), np.diff(D.indptr))[mask]
    cols = D.indices[mask]
    vals = D.data[mask]
    order = np.lexsort((cols, vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.r_[True, rows[1:] != rows[:-1]] if rows.size else np.zeros(0, bool)
    d1 = np.full(n, big)
    d2 = np.full(n, big)
    c1 = np.full(n, -1, dtype=np.int64)
    d1[rows[first]] = vals[first]
    c1[rows[first]] = cols[first]
    pos = np.flatnonzero(first)
    nxt = pos + 1
    has2 = nxt < rows.size
    has2[has2] &= rows[nxt[has2]] == rows[pos[has2]]
    d2[rows[pos[has2]]] = vals[nxt[has2]]
    return PMState(d1=d1, d2=d2, c1=c1)


def pmedian_greedy(
    D: sp.csr_matrix, w: np.ndarray, p: int, fixed: np.ndarray, allowed: np.ndarray, big: float
) -> np.ndarray:
    """Greedy add for p-median: open ``p`` allowed columns, each time the largest saving.

    Parameters
    ----------
    D : csr_matrix, shape (n, m)
        Distances (m) of reachable pairs; unreachable pairs cost ``big``.
    w : ndarray
        Demand weights (persons).
    p : int
        Columns to open besides ``fixed``.
    fixed : ndarray of bool
        Columns open from the start (existing sites).
    allowed : ndarray of bool
        Columns that may be opened.
    big : float
        Distance charged to a demand no open site reaches.
    """
    sel = fixed.astype(bool).copy()
    n, m = D.shape
    rows = np.repeat(np.arange(n), np.diff(D.indptr))
    d1 = pm_state(D, big, sel).d1  # nearest open distance per row, updated per pick
    by_col = np.argsort(D.indices, kind="stable")  # pairs of each column, for the update
    col_ptr = np.r_[0, np.cumsum(np.bincount(D.indices, minlength=m))]
    wr = w[rows]
    for _ in range(int(p)):
        save = np.maximum(d1[rows] - D.data, 0.0) * wr
        gain = np.bincount(D.indices, weights=save, minlength=m)
        gain[sel | ~allowed] = -1.0
        j = int(np.argmax(gain))
        if gain[j] < 0:
            break
        sel[j] = True
        pairs = by_col[col_ptr[j] : col_ptr[j + 1]]
        np.minimum.at(d1, rows[pairs], D.data[pairs])
        clock.charge_sparse(0.7 * D.nnz + m)
    return sel


def pmedian_interchange(
    D: sp.csr_matrix,
    w: np.ndarray,
    sel: np.ndarray,
    fixed: np.ndarray,
    allowed: np.ndarray,
    big: float,
    *,
    max_moves: int = 10_000,
) -> tuple[np.ndarray, float]:
    """Whitaker's fast interchange (best improvement) for p-median, vectorised.

    For every candidate ``k`` to open and open ``j`` to close the change in cost is
    ``G_k + L_j - C[j, k]`` with ``G_k = sum_i w_i (min(d1_i, d_ik) - d1_i)``,
    ``L_j = sum_{i: c1_i = j} w_i (d2_i - d1_i)`` and the correction
    ``C[j, k] = sum_{i: c1_i = j, d_ik < d2_i} w_i (d2_i - max(d_ik, d1_i))``,
    all computed with ``np.bincount`` over the stored pairs.

    Returns the improved selection and its total weighted distance.
    """
    sel = sel.astype(bool).copy()
    n, m = D.shape
    rows = np.repeat(np.arange(n), np.diff(D.indptr))
    cols = D.indices
    tol = 1e-9 * max(1.0, float(w.sum()))
    for _ in range(max_moves):
        st = pm_state(D, big, sel)
        wi = w[rows]
        G = np.bincount(
            cols, weights=wi * (np.minimum(st.d1[rows], D.data) - st.d1[rows]), minlength=m
        )
        L = np.bincount(st.c1[st.c1 >= 0], weights=(w * (st.d2 - st.d1))[st.c1 >= 0], minlength=m)
        opened = np.flatnonzero(sel & ~fixed)
        if opened.size == 0:
            break
        slot = np.full(m, -1, dtype=np.int64)
        slot[opened] = np.arange(opened.size)
        s_of_row = np.where(st.c1 >= 0, slot[np.maximum(st.c1, 0)], -1)
        sr = s_of_row[rows]
        hit = (sr >= 0) & (D.data < st.d2[rows])
        corr = np.bincount(
            sr[hit] * m + cols[hit],
            weights=wi[hit] * (st.d2[rows][hit] - np.maximum(D.data[hit], st.d1[rows][hit])),
            minlength=opened.size * m,
        ).reshape(opened.size, m)
        delta = G[None, :] + L[opened][:, None] - corr
        delta[:, sel | ~allowed] = np.inf
        flat = int(np.argmin(delta))
        if delta.flat[flat] >= -tol:
            break
        j, k = opened[flat // m], flat % m
        sel[j] = False
        sel[k] = True
        clock.charge_sparse(settings.pm_move_passes * D.nnz + opened.size * m)
    st = pm_state(D, big, sel)
    return sel, float((w * st.d1).sum())
