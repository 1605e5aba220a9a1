"""Proven bounds: Lagrangian relaxations (subgradient, Polyak step) and LP relaxations.

Partial set covering (PSCLP) ``min c'y  s.t.  z_i <= sum_j a_ij y_j,  w'z >= D``:
relaxing the coverage links with ``lambda_i >= 0`` splits the problem into a
y-part, separable by reduced cost (open j iff ``c_j - (A' lambda)_j < 0``), and a
z-part, the fractional knapsack ``min lambda'z  s.t.  w'z >= D, 0 <= z <= 1``
(rows by increasing ``lambda_i / w_i``). Every ``lambda`` gives a valid lower bound.

MCLP ``max w'z  s.t.  z_i <= (A y)_i,  sum_j y_j <= p``: for any ``lambda >= 0``,
``U(lambda, p) = sum_i max(0, w_i - lambda_i) + (sum of the p largest (A' lambda)_j)`` is
an upper bound, for every ``p`` at once; :func:`mclp_lagrangian_curve` keeps the best
over all iterates for each ``p``.

p-median: relaxing the assignment rows ``sum_j x_ij = 1`` with ``u_i`` gives
``sum_i u_i + (sum of the p most negative rho_j)`` with
``rho_j = sum_i min(0, w_i d_ij - u_i)`` (existing sites always counted).

Capacitated models: relaxing "each person served at most once" (capacitated coverage,
:func:`capacitated_lagrangian`) or "each row served once" (capacitated p-median,
:func:`capacitated_pmedian_lagrangian`) leaves one fractional knapsack per site: fill its
capacity with the persons it reaches, best price first (:class:`SiteKnapsacks`,
:func:`pair_savings`). The same knapsacks price the swaps of the capacitated searches
(:mod:`siting.optimize.assignment`).

Each iteration is two sparse matrix-vector products and a partition (or a sort of the
pairs, for the knapsacks): no Python loop over matrix elements.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from siting.optimize import clock, settings
from siting.optimize.formulations import Pairs, mclp_matrices, pmedian_matrices, psclp_matrices
from siting.optimize.highs import solve_lp_first_order, solve_milp

__all__ = [
    "PolyakRule",
    "SiteKnapsacks",
    "capacitated_lagrangian",
    "capacitated_pmedian_lagrangian",
    "first_order_seconds",
    "lp_mclp_first_order",
    "lp_pmedian",
    "lp_psclp",
    "lp_psclp_first_order",
    "mclp_dual_bound",
    "mclp_lagrangian_curve",
    "pair_savings",
    "pmedian_lagrangian",
    "pmedian_lagrangian_prices",
    "psclp_dual_bound",
    "psclp_lagrangian",
    "subgradient_method",
]


def _knapsack_min(lam: np.ndarray, w: np.ndarray, need: float) -> tuple[float, np.ndarray]:
    """min lam'z s.t. w'z >= need, 0 <= z <= 1 (greedy by lam / w)."""
    z = np.zeros_like(w)
    if need <= 0:
        return 0.0, z
    ratio = np.where(w > 0, lam / np.where(w > 0, w, 1.0), np.inf)
    order = np.argsort(ratio)
    cw = np.cumsum(w[order])
    k = int(np.searchsorted(cw, need))
    if k >= order.size:
        if order.size and need <= cw[-1] * (1 + 1e-9):  # everything, up to rounding
            z[w > 0] = 1.0
            return float(lam[w > 0].sum()), z
        return np.inf, z
    z[order[:k]] = 1.0
    rest = need - (cw[k - 1] if k > 0 else 0.0)
    z[order[k]] = rest / w[order[k]]
    return float((lam * z).sum()), z  # not `@`: a BLAS call per iteration is slower


def _price_start(AT: sp.csr_matrix, w: np.ndarray, cost: np.ndarray, need: float) -> np.ndarray:
    """Start multipliers ``mu * w`` (one price per person), ``mu`` by a 1-D search."""
    cover_w = AT @ w
    pos = cover_w[cover_w > 0]
    if pos.size == 0 or need <= 0:
        return np.zeros_like(w)
    lo = float(np.min(cost[cover_w > 0] / pos)) * 0.1
    hi = float(np.max(cost[cover_w > 0] / pos)) * 10.0
    best_mu, best_val = 0.0, -np.inf
    for mu in np.geomspace(max(lo, 1e-300), max(hi, 2e-300), 48):
        # with lam = mu * w the knapsack is flat: its value is mu * need
        val = float(np.minimum(0.0, cost - mu * cover_w).sum()) + mu * need
        if val > best_val:
            best_mu, best_val = mu, val
    return best_mu * w


class _PolyakSchedule:
    """The best Lagrangian value so far, its prices, and the Polyak step factor.

    After each iterate, :meth:`record` keeps it if it improves the best value by more than
    a relative 1e-9 (``maximize``: a lower bound rises; otherwise an upper bound falls);
    after ``patience`` iterates in a row without that, ``theta`` is halved.

    Parameters
    ----------
    u : ndarray
        The starting prices (the best ones until an iterate is recorded).
    theta : float
        Starting step factor.
    patience : int
        Iterates without improvement before ``theta`` is halved.
    maximize : bool
        The bound is raised (True) or lowered (False).
    """

    def __init__(self, u: np.ndarray, theta: float, patience: int, *, maximize: bool) -> None:
        self.best = -np.inf if maximize else np.inf
        self.best_u = u.copy()
        self.theta = theta
        self.patience = patience
        self.maximize = maximize
        self.stall = 0

    def record(self, val: float, u: np.ndarray) -> None:
        """Keep ``val`` (the bound at prices ``u``) if it is the best so far."""
        best = self.best
        if not np.isfinite(best) or (
            val > best + 1e-9 * max(1.0, abs(best))
            if self.maximize
            else val < best - 1e-9 * max(1.0, abs(best))
        ):
            self.best, self.best_u, self.stall = val, u.copy(), 0
        else:
            self.stall += 1
            if self.stall >= self.patience:
                self.theta, self.stall = self.theta / 2, 0


@dataclass(frozen=True)
class PolyakRule:
    """How :func:`subgradient_method` steps: a Polyak step towards a known plan's value.

    Parameters
    ----------
    theta : float
        Starting step factor; halved after ``patience`` steps without a better bound.
    patience : int
        Steps without a better bound before ``theta`` is halved.
    theta_min : float
        The method stops once ``theta`` falls below this.
    min_gap : float
        Least distance to the target used in a step (a plan's value in the bound's unit).
    nonnegative : bool
        Prices stay >= 0 (relaxed inequalities): the subgradient is projected and the
        prices clipped at 0, those below 1e-12 of the largest set to 0 (denormal
        numbers are 100x slower).
    deflect : float
        Share of the last direction added to the new subgradient (0: plain steps).
    """

    theta: float = 2.0
    patience: int = 25
    theta_min: float = 1e-5
    min_gap: float = 1e-9
    nonnegative: bool = False
    deflect: float = 0.0


def subgradient_method(
    evaluate: Callable[[np.ndarray], tuple[float, np.ndarray]],
    u: np.ndarray,
    target: float,
    *,
    maximize: bool = True,
    iterations: int,
    time_limit: float,
    stop_at: float | None = None,
    rule: PolyakRule = PolyakRule(),
) -> tuple[float, np.ndarray]:
    """Raise a Lagrangian lower bound (``maximize``) or lower an upper bound over prices.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(u) -> (bound, subgradient)`` at prices ``u``.
    u : ndarray
        Starting prices.
    target : float
        A feasible plan's value, which the Polyak step aims at.
    maximize : bool
        True for a lower bound (a minimising model), False for an upper bound.
    iterations : int
        Steps at most.
    time_limit : float
        Work seconds (:mod:`siting.optimize.clock`).
    stop_at : float, optional
        Stop once the best bound reaches this value.
    rule : PolyakRule
        Step factor, patience, projection and deflection.

    Returns
    -------
    tuple
        ``(bound, u)``: the best bound found and the prices giving it.
    """
    t0 = clock.now()
    step = _PolyakSchedule(u, rule.theta, rule.patience, maximize=maximize)
    sign = 1.0 if maximize else -1.0  # the direction that improves the bound is sign * g
    g_prev = None
    for _ in range(iterations):
        val, g = evaluate(u)
        step.record(val, u)
        if clock.now() - t0 > time_limit or step.theta < rule.theta_min:
            break
        if stop_at is not None and sign * (step.best - stop_at) >= 0:
            break
        if rule.deflect and g_prev is not None:
            g += rule.deflect * g_prev
        if rule.nonnegative:
            g[(u <= 0) & (sign * g < 0)] = 0.0
        g_prev = g
        nrm = float((g * g).sum())
        if nrm <= 1e-18:
            break
        u = u + sign * step.theta * max(sign * (target - val), rule.min_gap) / nrm * g
        if rule.nonnegative:
            u = np.maximum(0.0, u)
            u[u < 1e-12 * u.max(initial=0.0)] = 0.0
    return step.best, step.best_u


#: partial set covering: prices of "covered only if reached" (>= 0), from the LP duals
_PSCLP_STEPS = PolyakRule(theta=1.0, patience=20, theta_min=1e-4, min_gap=1e-6, nonnegative=True)
#: capacitated coverage: prices of "served at most once" (>= 0); deflected steps
#: (Liechtenstein, 100 steps, p = 20: gap 4.1% against 5.3% without)
_CAPACITY_STEPS = PolyakRule(theta=1.0, patience=10, theta_min=1e-4, nonnegative=True, deflect=0.5)


def psclp_lagrangian(
    A: sp.csr_matrix,
    w: np.ndarray,
    cost: np.ndarray,
    need: float,
    upper: float,
    *,
    iterations: int = 300,
    time_limit: float = 10.0,
    lam0: np.ndarray | None = None,
    stop_at: float | None = None,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Lagrangian lower bound for partial set covering.

    Parameters
    ----------
    A : csr_matrix (rows x columns), bool
    w : ndarray
        Row weights (persons).
    cost : ndarray
        Column costs.
    need : float
        Persons to cover.
    upper : float
        Objective of a feasible solution (Polyak step target).
    iterations : int
        Subgradient iterations.
    time_limit : float
        Seconds.
    lam0 : ndarray, optional
        Warm start multipliers.
    stop_at : float, optional
        Stop once the bound reaches this value (e.g. ``upper - 1`` + tiny for unit costs).

    Returns
    -------
    bound : float
        Best lower bound found.
    lam : ndarray
        Multipliers giving it.
    y_avg : ndarray
        Average of the y-subproblem solutions (an approximate LP solution).
    """
    Af = sp.csr_matrix(A, dtype=float)
    AT = sp.csr_matrix(Af.T)
    lam = np.asarray(lam0, float).copy() if lam0 is not None else _price_start(AT, w, cost, need)
    y_sum = np.zeros(Af.shape[1])
    steps = 0
    step_work = 1.3 * Af.nnz + 2 * Af.shape[0] + Af.shape[1]

    def evaluate(lam: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal y_sum, steps
        clock.charge_sparse(step_work)
        red = cost - AT @ lam
        y = red < 0
        ks, z = _knapsack_min(lam, w, need)
        y_sum += y
        steps += 1
        return float(red[y].sum()) + ks, z - Af @ y.astype(float)

    bound, lam = subgradient_method(
        evaluate,
        lam,
        upper,
        iterations=iterations,
        time_limit=time_limit,
        stop_at=stop_at,
        rule=_PSCLP_STEPS,
    )
    return bound, lam, y_sum / max(1, steps)


def lp_psclp(
    A: sp.csr_matrix,
    w: np.ndarray,
    cost: np.ndarray,
    need: float,
    *,
    time_limit: float = 60.0,
    group: np.ndarray | None = None,
    group_need: np.ndarray | None = None,
) -> tuple[float, np.ndarray | None]:
    """LP relaxation of partial set covering (HiGHS dual simplex).

    Returns the LP optimum (a valid lower bound; ``-inf`` when not solved in time) and
    the column values ``y`` (None when not solved).
    """
    model = psclp_matrices(A, w, cost, need, group=group, group_need=group_need)
    res = solve_milp(model.relaxed(), time_limit=time_limit)
    if res.status != "optimal" or res.x is None:
        return -np.inf, None
    return float(res.objective), res.x[: A.shape[1]]


def first_order_seconds(remaining: float, most: float = np.inf) -> float:
    """Seconds for the first-order LP: a share of what is left, clamped, at most half.

    ``most`` caps it lower where a rough bound is as good (a whole number of sites).
    """
    share = max(settings.first_order_min_s, settings.first_order_share * remaining)
    return max(0.05, min(most, settings.first_order_max_s, share, 0.5 * remaining))


def psclp_dual_bound(
    A: sp.spmatrix, w: np.ndarray, cost: np.ndarray, need: float, lam: np.ndarray
) -> float:
    """Lagrangian lower bound of partial set covering for multipliers ``lam >= 0``.

    ``L(lam) = sum_j min(0, c_j - (A' lam)_j) + min{lam'z : w'z >= need, 0 <= z <= 1}``:
    valid for *any* nonnegative ``lam`` (weak duality), so approximate duals from a
    first-order LP solver still give a proven bound.
    """
    lam = np.maximum(np.asarray(lam, dtype=float), 0.0)
    red = np.asarray(cost, float) - sp.csr_matrix(A, dtype=float).T @ lam
    ks, _ = _knapsack_min(lam, np.asarray(w, float), float(need))
    return float(np.minimum(red, 0.0).sum()) + ks


def lp_psclp_first_order(
    A: sp.csr_matrix,
    w: np.ndarray,
    cost: np.ndarray,
    need: float,
    *,
    time_limit: float = 5.0,
) -> tuple[float, np.ndarray | None, np.ndarray | None]:
    """LP bound of partial set covering for models too large for the simplex method.

    HiGHS' PDLP runs on the LP (weights scaled to mean 1) for an iteration budget worth
    about ``time_limit`` seconds (see :func:`~siting.optimize.highs.solve_lp_first_order`);
    its row duals become multipliers of :func:`psclp_dual_bound`, so the returned bound
    is proven whatever PDLP's accuracy. Returns ``(bound, lam, y)``: the bound (``-inf``
    when PDLP gave nothing), the multipliers and PDLP's approximate column values.
    """
    w = np.asarray(w, dtype=float)
    scale = float(w.mean()) if w.size and w.mean() > 0 else 1.0
    nd, nc = A.shape
    out = solve_lp_first_order(
        psclp_matrices(A, w / scale, cost, need / scale), time_limit=time_limit
    )
    if out is None:
        return -np.inf, None, None
    x, dual = out
    lam = np.maximum(-dual[:nd], 0.0)  # duals of z_i - (Ay)_i <= 0 (minimisation)
    return psclp_dual_bound(A, w, cost, need, lam), lam, np.clip(x[:nc], 0.0, 1.0)


def mclp_dual_bound(
    A: sp.spmatrix, w: np.ndarray, cost: np.ndarray, limit: float, lam: np.ndarray
) -> float:
    """Lagrangian upper bound of maximal covering for multipliers ``lam >= 0``.

    ``U(lam) = sum_i max(0, w_i - lam_i) + max{(A' lam)'y : c'y <= limit, 0 <= y <= 1}``
    (the second term is a fractional knapsack; with unit costs the ``limit`` largest
    ``(A' lam)_j``). Valid for any nonnegative ``lam``.
    """
    lam = np.maximum(np.asarray(lam, dtype=float), 0.0)
    w = np.asarray(w, dtype=float)
    cost = np.asarray(cost, dtype=float)
    s = sp.csr_matrix(A, dtype=float).T @ lam
    base = float(np.maximum(0.0, w - lam).sum())
    free = cost <= 0
    val = float(s[free].sum())
    idx = np.flatnonzero(~free & (s > 0))
    order = idx[np.argsort(-s[idx] / cost[idx], kind="stable")]
    cum = np.cumsum(cost[order])
    k = int(np.searchsorted(cum, limit, side="right"))
    val += float(s[order[:k]].sum())
    if k < order.size:
        left = limit - (cum[k - 1] if k > 0 else 0.0)
        val += float(s[order[k]]) * max(0.0, left) / float(cost[order[k]])
    return base + val


def lp_mclp_first_order(
    A: sp.csr_matrix,
    w: np.ndarray,
    cost: np.ndarray,
    limit: float,
    *,
    time_limit: float = 5.0,
    duals: bool = False,
) -> tuple[float, np.ndarray | None] | tuple[float, np.ndarray | None, np.ndarray | None]:
    """LP bound of maximal covering for models too large for the simplex method.

    Like :func:`lp_psclp_first_order`: PDLP's duals become multipliers of
    :func:`mclp_dual_bound` (a proven upper bound, persons). Returns ``(bound, y)``
    (``inf``, None when PDLP gave nothing); with ``duals``, ``(bound, y, lam)``, ``lam``
    the multipliers (persons) that gave the bound.
    """
    w = np.asarray(w, dtype=float)
    scale = float(w.mean()) if w.size and w.mean() > 0 else 1.0
    nd, nc = A.shape
    out = solve_lp_first_order(mclp_matrices(A, w / scale, cost, limit), time_limit=time_limit)
    if out is None:
        return (np.inf, None, None) if duals else (np.inf, None)
    x, dual = out
    # HiGHS' dual sign convention differs between senses: every lam >= 0 is valid, so
    # take the better of the two readings
    readings = [np.maximum(dual[:nd], 0.0) * scale, np.maximum(-dual[:nd], 0.0) * scale]
    values = [mclp_dual_bound(A, w, cost, limit, lam) for lam in readings]
    best = int(np.argmin(values))
    y = np.clip(x[:nc], 0.0, 1.0)
    return (values[best], y, readings[best]) if duals else (values[best], y)


def mclp_lagrangian_curve(
    A: sp.csr_matrix,
    w: np.ndarray,
    p_values: np.ndarray,
    *,
    iterations: int = 200,
    time_limit: float = 10.0,
    lower: np.ndarray | None = None,
) -> np.ndarray:
    """Upper bounds on the covered weight of MCLP for several numbers of sites.

    Subgradient steps are taken for each ``p`` in turn (warm-started from the previous
    multipliers); every iterate's ``U(lambda, p)`` is evaluated for *all* ``p`` at once.

    Parameters
    ----------
    A, w
        As for :func:`psclp_lagrangian`.
    p_values : ndarray of int
        Numbers of new sites.
    iterations : int
        Subgradient iterations per ``p``.
    time_limit : float
        Seconds for the whole curve.
    lower : ndarray, optional
        Known covered weight for each ``p`` (Polyak step target).

    Returns
    -------
    ndarray of float, same length as ``p_values``: upper bounds (persons).
    """
    t0 = clock.now()
    Af = sp.csr_matrix(A, dtype=float)
    AT = sp.csr_matrix(Af.T)
    p_values = np.asarray(p_values, dtype=np.int64)
    m = Af.shape[1]
    total = float(w.sum())
    ub = np.full(p_values.size, total)
    lam = w.copy() * 0.5
    pmax = int(min(m, max(1, p_values.max(initial=0))))

    def evaluate(lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = AT @ lam
        top = -np.sort(-s)[:pmax]
        cum = np.r_[0.0, np.cumsum(top)]
        base = float(np.maximum(0.0, w - lam).sum())
        vals = base + cum[np.minimum(p_values, pmax)]
        return vals, s

    for q, p in enumerate(p_values):
        if p >= m:
            ub[q] = min(ub[q], total)
            continue
        theta = 1.0
        target = lower[q] if lower is not None else 0.0
        for _ in range(iterations):
            clock.charge_sparse(0.45 * Af.nnz + m + Af.shape[0])
            vals, s = evaluate(lam)
            ub = np.minimum(ub, vals)
            z = (w > lam).astype(float)
            y = np.zeros(m)
            if p > 0:
                y[np.argpartition(-s, p - 1)[:p]] = 1.0
            g = (Af @ y) - z  # d U / d lambda
            g[(lam <= 0) & (g > 0)] = 0.0
            nrm = float((g * g).sum())
            if nrm <= 1e-18:
                break
            gapv = max(float(vals[q]) - target, 1e-9 * max(total, 1.0))
            lam = np.maximum(0.0, lam - theta * gapv / nrm * g)
            theta *= 0.97
            if clock.now() - t0 > time_limit:
                return ub
    return ub


def pmedian_lagrangian(*args: Any, **kwargs: Any) -> float:
    """Lagrangian lower bound for p-median (person-metres): the bound of
    :func:`pmedian_lagrangian_prices`, same parameters, without the prices."""
    return pmedian_lagrangian_prices(*args, **kwargs)[0]


def pmedian_lagrangian_prices(
    D: sp.csr_matrix,
    w: np.ndarray,
    p: int,
    fixed: np.ndarray,
    allowed: np.ndarray,
    upper: float,
    *,
    iterations: int = 500,
    time_limit: float = 10.0,
    stop_at: float | None = None,
) -> tuple[float, np.ndarray]:
    """Lagrangian lower bound for p-median (assignment rows relaxed), with its prices.

    Parameters
    ----------
    D : csr_matrix (demand x sites)
        Distances of reachable pairs (m); a demand with no stored pair makes the bound
        meaningless (drop it first).
    w : ndarray
        Demand weights (persons).
    p : int
        Sites to open besides ``fixed``.
    fixed : ndarray of bool
        Sites always open (existing).
    allowed : ndarray of bool
        Sites that may be opened.
    upper : float
        Cost of a feasible solution (Polyak step target).
    stop_at : float, optional
        Stop once the bound reaches this value.

    Returns
    -------
    (float, ndarray): best lower bound (person-metres) and the row prices giving it.
    """
    n, m = D.shape
    rows = np.repeat(np.arange(n), np.diff(D.indptr))
    cols = D.indices
    c = w[rows] * D.data
    # start from each demand's second-smallest weighted distance
    u = (
        np.asarray(
            sp.csr_matrix((c, D.indices, D.indptr), shape=D.shape).max(axis=1).toarray()
        ).ravel()
        * 0.5
    )
    free = np.flatnonzero(allowed & ~fixed)
    p = int(min(p, free.size))

    def evaluate(u: np.ndarray) -> tuple[float, np.ndarray]:
        clock.charge_sparse(1.3 * c.size + m)
        v = np.minimum(0.0, c - u[rows])
        rho = np.bincount(cols, weights=v, minlength=m)
        open_ = fixed.copy()
        if p > 0:
            open_[free[np.argpartition(rho[free], p - 1)[:p]]] = True
        x = open_[cols] & (v < 0)
        return float(u.sum() + rho[open_].sum()), 1.0 - np.bincount(rows[x], minlength=n)

    return subgradient_method(
        evaluate, u, upper, iterations=iterations, time_limit=time_limit, stop_at=stop_at
    )


def lp_pmedian(
    D: sp.csr_matrix,
    w: np.ndarray,
    p: int,
    fixed: np.ndarray,
    *,
    time_limit: float = 60.0,
) -> float:
    """LP relaxation bound of the sparse p-median model (HiGHS); ``-inf`` if not solved.

    Parameters are as for :func:`pmedian_lagrangian`; the bound is in person-metres.
    """
    res = solve_milp(pmedian_matrices(D, w, p, fixed).relaxed(), time_limit=time_limit)
    return float(res.objective) if res.status == "optimal" else -np.inf


# ---------------------------------------------------------------------- capacities
class SiteKnapsacks:
    """Each site's best use of its capacity when serving row ``i`` is worth ``w_i - u_i``.

    For row prices ``u >= 0``, site ``j`` fills ``cap_j`` with the persons it reaches, best
    ``1 - u_i / w_i`` first (a fractional knapsack); :meth:`values` returns every site's
    value at once. Used by the Lagrangian bound (the relaxed problem) and by the swap
    search (the value a site would add to a plan whose allocation LP has duals ``u``).
    """

    def __init__(self, A: sp.csr_matrix, w: np.ndarray, cap: np.ndarray) -> None:
        nd, m = A.shape
        Ac = sp.csc_matrix(A, dtype=float)
        Ac.sort_indices()
        self.indptr = Ac.indptr
        self.col = np.repeat(np.arange(m), np.diff(Ac.indptr))
        self.row = Ac.indices
        self.w = w
        self.wr = w[self.row]
        self.cap = cap
        self.rank_dtype = np.uint16 if nd <= 65_536 else np.int64
        self.col_key = self.col.astype(np.uint16 if m <= 65_536 else np.int64)

    def values(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(value per site, order, x)``: ``order`` sorts the pairs (CSC order) by column,
        best ratio first, and ``x`` is the share of each pair, in that order, that fills
        its site's capacity."""
        nd, m = self.w.size, self.indptr.size - 1
        col, wr = self.col, self.wr
        # tiny or zero weights make huge shares, clipped to 1 below: no warnings for them
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            ratio = 1.0 - u[self.row] / np.maximum(wr, 1e-300)
            # by column, best ratio first: rows ranked by price per person, then two stable
            # sorts, radix sorts on 16-bit keys (Liechtenstein: 18 ms against 40 ms for one
            # argsort and 115 ms for a lexsort); rows with ratio <= 0 are never used
            rank = np.empty(nd, dtype=self.rank_dtype)
            rank[np.argsort(u / np.maximum(self.w, 1e-300), kind="stable")] = np.arange(nd)
            by_rank = np.argsort(rank[self.row], kind="stable")
            order = by_rank[np.argsort(self.col_key[by_rank], kind="stable")]
            oc, ow, orat = col[order], wr[order], ratio[order]
            pos = orat > 0
            ow_pos = np.where(pos, ow, 0.0)
            cum = np.cumsum(ow_pos)
            start = np.r_[0.0, cum][self.indptr[:-1]][oc]  # weight before the column
            before = cum - ow_pos - start
            x = np.where(
                pos, np.clip((self.cap[oc] - before) / np.maximum(ow, 1e-300), 0.0, 1.0), 0.0
            )
        value = np.bincount(oc, weights=ow * orat * x, minlength=m)
        return value, order, x


def capacitated_lagrangian(
    A: sp.csr_matrix,
    w: np.ndarray,
    cap: np.ndarray,
    fixed: np.ndarray,
    p: int,
    lower: float,
    *,
    u0: np.ndarray | None = None,
    iterations: int = 200,
    time_limit: float = 5.0,
) -> tuple[float, np.ndarray]:
    """Lagrangian upper bound of capacitated coverage (persons served).

    Relaxing "each person served at most once" with prices ``u_i >= 0`` (per merged row)
    leaves, for every site, a fractional knapsack: fill ``cap_j`` with the persons it
    reaches, best ``1 - u_i / w_i`` first; then the existing sites and the ``p`` best
    candidates. ``U(u) = sum(u) + sum of those site values`` bounds the optimum for any
    ``u >= 0``; a deflected subgradient method (Polyak steps towards ``lower``, a feasible value)
    lowers it, from ``u0`` (e.g. the duals of an allocation LP) or ``u = 0``, which gives
    ``sum of min(cap_j, persons reached)``.

    Parameters
    ----------
    A, w, cap, fixed, p
        The model's data, as for
        :func:`~siting.optimize.formulations.capacitated_coverage_matrices`.
    lower : float
        Persons a feasible plan serves (the Polyak target).
    u0 : ndarray, optional
        Starting prices (e.g. an allocation LP's duals).
    iterations : int
        Subgradient steps at most.
    time_limit : float
        Work seconds.

    Returns
    -------
    tuple
        ``(bound, u)``: the best upper bound found (persons) and its prices.
    """
    nd = A.shape[0]
    sites = SiteKnapsacks(A, w, cap)
    col, row = sites.col, sites.row
    cand = np.flatnonzero(~fixed)

    def evaluate(u: np.ndarray) -> tuple[float, np.ndarray]:
        clock.charge_sparse(settings.knapsack_passes * A.nnz)
        value, order, x = sites.values(u)
        open_ = fixed.copy()
        if p > 0 and cand.size:
            top = cand[np.argsort(-value[cand], kind="stable")[:p]]
            open_[top[value[top] > 0]] = True
        xs = np.zeros(row.size)
        xs[order] = np.where(open_[col[order]], x, 0.0)
        return float(u.sum() + value[open_].sum()), 1.0 - np.bincount(row, weights=xs, minlength=nd)

    u = np.zeros(nd) if u0 is None else np.maximum(np.asarray(u0, dtype=float), 0.0)
    return subgradient_method(
        evaluate,
        u,
        lower,
        maximize=False,
        iterations=iterations,
        time_limit=time_limit,
        stop_at=lower * (1 + 1e-9),
        rule=_CAPACITY_STEPS,
    )


def pair_savings(P: Pairs, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each site's knapsack under row prices ``u`` (capacitated p-median):
    ``(value per site, x per pair)``.

    Site ``j`` takes the rows whose price exceeds their cost from ``j``
    (``u_i > w_i d_ij``), best saving per person of capacity first, until ``cap_j`` is
    full; the value is the saving (person-metres, >= 0).

    Parameters
    ----------
    P : Pairs
        The stored pairs with weights, loads and capacities.
    u : ndarray, shape (n,)
        Price of serving each row (person-metres).

    Returns
    -------
    tuple of ndarray
        ``(value per site, x per pair)``.
    """
    save = u[P.rows] - P.wd
    pos = np.flatnonzero(save > 0)
    x = np.zeros(P.rows.size)
    if pos.size == 0:
        return np.zeros(P.m), x
    qp = P.q[P.rows[pos]]
    with np.errstate(divide="ignore"):
        ratio = np.where(qp > 0, save[pos] / np.where(qp > 0, qp, 1.0), np.inf)
    order = pos[np.lexsort((-ratio, P.cols[pos]))]
    oc = P.cols[order]
    oq = P.q[P.rows[order]]
    cum = np.cumsum(oq)
    first = np.r_[True, oc[1:] != oc[:-1]]
    start = np.maximum.accumulate(np.where(first, cum - oq, 0.0))  # load before column
    before = cum - oq - start
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(
            oq > 0, np.clip((P.cap[oc] - before) / np.where(oq > 0, oq, 1.0), 0, 1), 1.0
        )
    x[order] = share
    value = np.bincount(oc, weights=save[order] * share, minlength=P.m)
    return value, x


def capacitated_pmedian_lagrangian(
    P: Pairs,
    fixed: np.ndarray,
    p: int,
    upper: float,
    *,
    u0: np.ndarray | None = None,
    iterations: int = 1000,
    time_limit: float = 5.0,
) -> float:
    """Lagrangian lower bound of the capacitated p-median (person-metres).

    Relaxing "row ``i`` is served once" with prices ``u_i`` leaves
    ``L(u) = sum(u) - sum of the savings of the existing sites and of the p candidates
    saving most`` (:func:`pair_savings`), a lower bound for any ``u`` (persons may be
    split, so it also bounds the single-sourced model). :func:`subgradient_method`
    towards ``upper`` (a feasible cost), from ``u0``: at the uncapacitated
    Lagrangian's prices it starts at least as high as that bound (a knapsack saves no
    more than the uncapacitated site).

    Parameters
    ----------
    P : Pairs
        The stored pairs with weights, loads and capacities.
    fixed, p, u0, iterations, time_limit
        As for :func:`capacitated_lagrangian` (``u0``: starting prices per row).
    upper : float
        Cost of a feasible plan (person-metres), the Polyak target.

    Returns
    -------
    float
        A lower bound (person-metres).
    """
    cand = np.flatnonzero(~fixed)

    def evaluate(u: np.ndarray) -> tuple[float, np.ndarray]:
        clock.charge_sparse(6.5 * P.rows.size)  # P.savings sorts the pairs
        value, x = pair_savings(P, u)
        open_ = fixed.copy()
        if p > 0 and cand.size:
            open_[cand[np.argsort(-value[cand], kind="stable")[:p]]] = True
        g = 1.0 - np.bincount(P.rows, weights=np.where(open_[P.cols], x, 0.0), minlength=P.n)
        return float(u.sum() - value[open_].sum()), g

    u = np.zeros(P.n) if u0 is None else np.asarray(u0, dtype=float).copy()
    return subgradient_method(
        evaluate,
        u,
        upper,
        iterations=iterations,
        time_limit=time_limit,
        stop_at=upper * (1 - 1e-9),
    )[0]
