"""Tuning constants of the solvers, in one place (read at call time, so tests can set them).

Like ``osmnx.settings``: plain module attributes, read by the solvers each time they run.
Set one for a session (``siting.optimize.settings.lp_nnz_limit = 0``) or for a block::

    from siting.optimize import settings

    with settings.override(lp_nnz_limit=0):  # every coverage model takes the large path
        solution = solve_target(problem, 0.9)

Changing a value changes which plan a given seed and time limit give (the work clock
charges what the solvers do, :mod:`siting.optimize.clock`): the defaults are the
settings ``make bench`` and the regression harness ``benchmarks/golden_optimize.py``
were recorded with. Why each value is what it is, and what was measured, is in
``docs/solver.md``.

Sections: model size limits (which path a model takes), stage budgets (how a model
shares its ``time_limit`` between its stages), searches, bounds, triangle cuts, the
regional bound, and the work clock's calibration.

A stage budget is a :class:`Budget` ``(share, least)``: the stage may use
``max(least, share x time left)`` seconds, the time left being counted from the moment
the stage starts to the model's deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

__all__ = ["Budget", "override"]


class Budget(NamedTuple):
    """A stage's share of the time left, with a floor (seconds)."""

    share: float
    least: float = 0.0

    def seconds(self, start: float, deadline: float) -> float:
        """``max(least, share x (deadline - start))``: work seconds for the stage."""
        return self.of(deadline - start)

    def of(self, seconds: float) -> float:
        """``max(least, share x seconds)``."""
        return max(self.least, self.share * seconds)


# ---------------------------------------------------------------------- model size limits
#: reduced nonzeros above which the coverage models (target, MCLP) skip the simplex LP
#: and HiGHS' branch-and-bound, whose root LP they cannot solve in useful time, and take
#: the large-model path (first-order LP bound, iterated search, regional bound)
lp_nnz_limit = 250_000
#: reachable pairs above which ``method="auto"`` skips HiGHS' branch-and-bound for the
#: capacitated models (capacitated coverage and capacitated p-median)
pairs_limit = 100_000
#: reachable pairs above which ``method="auto"`` skips HiGHS for the uncapacitated
#: p-median: OR-Library pmed16-17 (160,000 pairs) are proven optimal by HiGHS,
#: Liechtenstein (747,000 pairs) gets nothing from it
uncapacitated_pairs_limit = 400_000

# ---------------------------------------------------------------------- stage budgets
#: work seconds kept before the deadline: a run ending within them stopped on its time
#: limit (``"time_limit"``), and the last searches end that early
end_margin_s = 0.05
# partial covering (model "target", siting.optimize.partial_cover)
#: greedy + local search before the bound, when an LP follows (or ``method="heuristic"``)
target_local_search = Budget(0.2, least=0.1)
#: ... on models too large for the simplex LP (the iterated search later is stronger)
target_local_search_large = Budget(0.05, least=0.1)
#: random kicks of that local search with ``method="heuristic"`` (no LP rounding after)
target_heuristic_kicks = 10
#: the simplex LP bound
target_lp = Budget(0.5, least=0.1)
#: subgradient steps from the first-order LP's prices (large models)
target_polish = Budget(0.1, least=0.05)
target_polish_iterations = 1000
#: the first-order LP at most this long when costs are whole numbers (the bound is
#: rounded up: its last decimals rarely matter)
target_first_order_most_s = 6.0
#: the Lagrangian bound when there is no LP (``method="heuristic"``: the smaller one)
target_lagrangian = Budget(0.25, least=0.05)
target_lagrangian_heuristic = Budget(0.1, least=0.05)
target_lagrangian_iterations = 3000
target_lagrangian_iterations_heuristic = 400
#: greedy seeded with the LP's near-1 columns (LP value at least ``target_seed_value``),
#: and its local search
target_seeded_search = Budget(0.1, least=0.1)
target_seed_value = 0.9
#: share of the time (to the regional reserve) for LP rounding at one site fewer when
#: HiGHS follows; without HiGHS (large models) the search gets all of it
target_rounding_share = 0.3
#: one LP-rounding round on a large model: on the 50,000-node grid the iterated search
#: goes down one site at a time faster (112 -> 106 sites in 0.3-1.5 s, while rounding
#: took 2.6 s to miss at 107)
large_rounding_round = Budget(0.02, least=0.25)
#: iterated swaps per attempt at one site fewer (large models), seconds, each started from
#: the incumbent without one of its ``ils_drop_choices`` least useful sites, in turn
ils_slice_s = 10.0
ils_drop_choices = 5
#: large models, unit costs, when the incumbent is more than ``target_walk_min_gap_sites``
#: sites above the bound: before LP rounding and the iterated swaps, the fewest-sites
#: walk (heuristics.fewest_columns_search) runs from the incumbent until it has found no
#: plan with fewer sites for this share of the time left (city-1m, 60 s: 2,926 -> 2,737
#: sites, where rounding and iterated swaps reached 2,921; on the 50,000-node grid, 112
#: sites against a bound of 102.5, the iterated swaps alone find 105 and the walk 106)
target_walk_patience = Budget(0.1, least=2.0)
target_walk_min_gap_sites = 20
#: the regional bound runs (large models) when its time fits in this share of what the
#: first-order LP leaves, and at least this many seconds are left for it
target_regional_share, target_regional_min_s = 0.7, 20.0
# maximal covering (model "mclp", siting.optimize.mclp)
#: the Lagrangian upper bound right after the local search (unit costs)
mclp_lagrangian = Budget(0.1, least=0.05)
mclp_lagrangian_iterations = 300
#: the simplex LP with duals
mclp_lp = Budget(0.3, least=0.1)
#: LP rounding ends at this share of the time left when the LP stage began
mclp_rounding_share = 0.5
#: share of the time (to the regional reserve) for LP rounding on large models: the
#: iterated search after it is stronger
mclp_large_rounding_share = 0.1
mclp_regional_share, mclp_regional_min_s = 0.65, 20.0
#: both coverage models: triangle cuts may use this share of the time left
cuts_share = 0.3
# set covering (model "lscp", siting.optimize.set_cover): shares of the whole time limit
lscp_local_search = Budget(0.3, least=0.1)
lscp_kicks = 4
lscp_lp = Budget(0.3, least=0.1)
# p-median (siting.optimize.pmedian)
#: the Lagrangian lower bound: when HiGHS follows, on large models (it gets the time)
#: and with ``method="heuristic"``
pmedian_lagrangian = Budget(0.2, least=0.05)
pmedian_lagrangian_large = Budget(0.9, least=0.05)
pmedian_lagrangian_iterations = 600
pmedian_lagrangian_iterations_large = 2000
pmedian_lagrangian_iterations_heuristic = 300
# capacitated coverage (siting.optimize.capacitated), shares of the whole time limit.
# Without branch-and-bound: swaps first, then the Lagrangian bound with the rest, less a
# reserve for the final allocations (on Liechtenstein, p = 20: gap 2.20% after 5 s of
# bound, 1.73% after 10 s)
capacity_swaps = Budget(0.4)
capacity_lagrangian = Budget(0.25)
#: ... and the final allocations' reserve, at the end of the time limit
capacity_reserve = Budget(0.1)
capacity_lagrangian_iterations = 5000
#: the last allocation LPs (best use of the plan's sites, and of the existing ones)
capacity_allocation = Budget(0.1, least=0.5)
#: closed sites priced against every open new one in each swap round
capacity_swap_adds = 20
# capacitated p-median on models too large for branch-and-bound (siting.optimize.pmedian).
# After the swaps come the exact single-sourced assignment and two bounds, so the swaps
# get a larger share than capacitated coverage's (whose bound is the only stage after them)
cpmedian_swaps = Budget(0.5)
cpmedian_lagrangian = Budget(0.25)
#: the final single-sourced assignment MILP: at most this share of the time limit, and
#: only up to this many open pairs (Liechtenstein, p = 150, 84,000 open pairs: HiGHS took
#: 23 s on a 4-s limit, most of it in presolve, and found nothing better)
cpmedian_exact = Budget(0.2)
cpmedian_exact_pairs = 20_000
#: most (closed, open) swaps priced in one round (memory)
cpmedian_swap_pairs = 2_000_000
cpmedian_lagrangian_iterations = 5000
cpmedian_uncapacitated_iterations = 600
#: the start's assignment gets the time it needs, at least this share of the time limit
#: (and 1 s); the bounds run until this share of it
cpmedian_first_assignment = Budget(0.25, least=1.0)
cpmedian_bounds_until = 0.95
#: no plan places everyone: the capacitated coverage bound that proves none can, with
#: these seconds for its allocation LP and its Lagrangian (and iterations)
cpmedian_proof_s = 5.0
cpmedian_proof_iterations = 500
#: seconds for the allocation LPs that count the persons a capacitated plan serves
served_allocation_s = 10.0

# ---------------------------------------------------------------------- searches
#: randomised LP-rounding attempts. Partial covering (``target``): per tried number of
#: sites, each a repair towards the target stopped at the first success, and HiGHS takes
#: over at the first number with none; MCLP: each a full 1-swap descent from a random
#: start, the best kept. Set separately since the first version; not re-measured.
target_rounding_trials = 60
mclp_rounding_trials = 30
#: iterated-search iterations between deadline checks (a lock-step round of the walks)
ils_chunk = 100
#: every so many iterations, a 1-swap descent over all columns
full_scan_every = 20
#: iterations without a new best before a walk returns to its best
ils_return_after = 2_000
#: parallel walks of the iterated search unless ``threads`` says otherwise: a count that
#: followed the machine's CPUs would give another plan on another machine
default_walks = 2
#: least time limit of one priced-swap check (an LP), seconds
check_min_s = 5.0

# ---------------------------------------------------------------------- bounds
#: the first-order LP (PDLP) gets this share of the time left, clamped to [min, max] s
first_order_share = 0.15
first_order_min_s, first_order_max_s = 2.0, 15.0
#: least PDLP iterations of a first-order run
pdlp_min_iterations = 100

# ---------------------------------------------------------------------- triangle cuts
#: violated triples kept per separation round, at most
cut_max_found = 200_000
#: promising partners followed from each row, at most
cut_max_pairs = 64
#: separation rounds at most, and cuts added per round at most
cut_max_rounds = 20
cut_round_cuts = 1000
#: a round that moves the LP optimum by less than this (relative) ends the loop
cut_stall = 1e-7
#: with a goal (the bound that would prove the incumbent): a round that closes less than
#: ``cut_min_progress`` of what is left ends the loop, and cuts that closed less than
#: ``cut_useful`` of the LP's distance to it are not worth a MIP's rows
cut_min_progress, cut_useful = 0.05, 0.1

# ---------------------------------------------------------------------- regional bound
#: own sites per region: 1,000-2,000 demand rows, MIPs of 0.1-9 s (on the 50,000-node
#: grid, 23 regions gave 103.05 sites in 17 s, 12 regions 103.29 in 55 s)
sites_per_region = 85
min_regions = 2
#: regions x graph edges above which the regions' seeds are sampled
farthest_point_work = 5e7
#: candidate centres tried per region when recentring
centre_trials = 64
#: regions above this x the median nonzeros are split
split_factor = 2.5
#: a region may take this x its fair share of the time left
region_spread = 3.0
#: below this many seconds, a region keeps its LP bound
min_region_s = 0.05
#: real seconds kept free before the caller's time limit
region_wall_margin_s = 0.1

# ---------------------------------------------------------------------- work clock
# Rates of the reference machine (2 cores, 2026), set about 1.3 times slower than
# measured (siting.optimize.clock), on benchmarks' instances (Helsinki, Liechtenstein,
# the 50,000-node grid)
#: coverage-index entries a compiled kernel visits per second
kernel_rate = 1.5e8
#: nonzeros per second of a SciPy sparse product (subgradient steps)
sparse_rate = 1.2e8
#: seconds per simplex iteration (HiGHS, models of 2,000 to 16,000 rows: 20-140 us an
#: iteration), plus this per nonzero
simplex_iteration_s = 35e-6
simplex_nonzero_s = 0.3e-9
#: PDLP iterations x nonzeros per second: 2.5 ms an iteration on a 517,000-nonzero
#: coverage LP (2e8) less the margin, which also leaves room for its ~0.6-s set-up
pdlp_rate = 1.5e8
#: seconds per column of a warm re-solve (761,000 columns: 70 ms)
resolve_column_s = 1.2e-7
#: seconds per branch-and-bound node (HiGHS' node LPs are not counted)
mip_node_s = 2e-3
#: nonzeros per second of building and presolving a HiGHS model
highs_setup_rate = 2.0e7
#: Python's own work around each charged step, and around a HiGHS run
call_s = 3e-5
highs_call_s = 1e-3
#: work of a solved region, charged as rows x columns / region_rate seconds (the grid's
#: 23 regions, 5.1 M rows x columns, took 34 s of CPU: 44 s with the margin, charged as
#: 22 s of work with the two workers side by side)
region_rate = 1.15e5
# kernel work, in index entries visited: x nnz per 1-swap move (and per scan finding
# none); x (column degree x row degree) per iterated-search iteration; x nnz per full
# descent of the iterated search
swap_move_entries = 0.8
ils_iteration_entries = 17.5
ils_scan_entries = 6.2
#: work of the fewest-sites walks (heuristics.fewest_columns_search), in index entries:
#: x columns per iteration, descent pass and refill (scans over all columns, 4e8 a
#: second); x a column's neighbourhood (column degree x row degree) per refill (the
#: columns near a move are listed, 2e7 a second); x (columns + neighbourhood) per column
#: closed. Fitted on the 1-million-node city and the 50,000-node grid (CPU time)
walk_column_scans = 0.5
walk_near_entries = 10.0
walk_close_entries = 20.0
#: sparse passes over the pairs: per p-median interchange move, per capacitated
#: Lagrangian step (site knapsacks, a sort of the pairs), per assignment (HiGHS in and out)
pm_move_passes = 9
knapsack_passes = 10
assign_passes = 24


# ---------------------------------------------------------------------- override
@contextmanager
def override(**values: Any) -> Iterator[None]:
    """Set settings for the block, then restore them.

    Parameters
    ----------
    **values
        Setting names and their values for the block, e.g. ``lp_nnz_limit=0``.

    Raises
    ------
    AttributeError
        A name that is not a setting.
    """
    here = globals()
    unknown = sorted(k for k in values if k.startswith("_") or k not in here)
    if unknown:
        msg = f"not a setting of siting.optimize.settings: {', '.join(unknown)}"
        raise AttributeError(msg)
    old = {k: here[k] for k in values}
    here.update(values)
    try:
        yield
    finally:
        here.update(old)
