"""Compiled (numba) inner loops of the coverage heuristics.

State of a coverage solution over a reduced matrix (rows = merged demand, columns =
candidates), kept incrementally so a move costs only the rows it touches:

``cnt[i]``   number of open columns covering row ``i``;
``own[i]``   sum of the indices of those columns (equals the owner when ``cnt[i] == 1``);
``gain[j]``  weight of uncovered rows column ``j`` covers (what opening ``j`` adds);
``loss[j]``  weight of rows only ``j`` covers (what closing ``j`` loses).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__: list[str] = []


@njit(cache=True)
def init_state(tptr, tind, w, sel, n_rows):  # pragma: no cover - compiled
    m = tptr.shape[0] - 1
    cnt = np.zeros(n_rows, np.int32)
    own = np.zeros(n_rows, np.int64)
    for j in range(m):
        if sel[j]:
            for q in range(tptr[j], tptr[j + 1]):
                i = tind[q]
                cnt[i] += 1
                own[i] += j
    gain = np.zeros(m)
    loss = np.zeros(m)
    covered = 0.0
    for i in range(n_rows):
        if cnt[i] > 0:
            covered += w[i]
    for j in range(m):
        g = 0.0
        lo = 0.0
        for q in range(tptr[j], tptr[j + 1]):
            i = tind[q]
            if cnt[i] == 0:
                g += w[i]
            elif cnt[i] == 1 and sel[j]:
                lo += w[i]
        gain[j] = g
        loss[j] = lo
    return cnt, own, gain, loss, covered


@njit(cache=True)
def add_col(j, tptr, tind, rptr, rind, w, sel, cnt, own, gain, loss):  # pragma: no cover
    added = 0.0
    for q in range(tptr[j], tptr[j + 1]):
        i = tind[q]
        if cnt[i] == 0:
            added += w[i]
            for r in range(rptr[i], rptr[i + 1]):
                gain[rind[r]] -= w[i]
            loss[j] += w[i]
        elif cnt[i] == 1:
            loss[own[i]] -= w[i]
        cnt[i] += 1
        own[i] += j
    sel[j] = True
    return added


@njit(cache=True)
def drop_col(j, tptr, tind, rptr, rind, w, sel, cnt, own, gain, loss):  # pragma: no cover
    lost = 0.0
    sel[j] = False
    for q in range(tptr[j], tptr[j + 1]):
        i = tind[q]
        cnt[i] -= 1
        own[i] -= j
        if cnt[i] == 0:
            lost += w[i]
            loss[j] -= w[i]
            for r in range(rptr[i], rptr[i + 1]):
                gain[rind[r]] += w[i]
        elif cnt[i] == 1:
            loss[own[i]] += w[i]
    loss[j] = 0.0
    return lost


@njit(cache=True)
def greedy(tptr, tind, rptr, rind, w, cost, sel, need, max_add):  # pragma: no cover
    """Add columns by best gain / cost until ``need`` is covered or ``max_add`` added."""
    n_rows = rptr.shape[0] - 1
    m = tptr.shape[0] - 1
    cnt, own, gain, loss, covered = init_state(tptr, tind, w, sel, n_rows)
    order = np.empty(max_add, np.int64)
    curve = np.empty(max_add)
    k = 0
    while k < max_add and covered < need:
        best = -1
        bv = 0.0
        for j in range(m):
            if not sel[j] and gain[j] > 0.0:
                v = gain[j] / max(cost[j], 1e-12)
                if v > bv:
                    bv = v
                    best = j
        if best < 0:
            break
        covered += add_col(best, tptr, tind, rptr, rind, w, sel, cnt, own, gain, loss)
        order[k] = best
        curve[k] = covered
        k += 1
    return order[:k], curve[:k]


@njit(cache=True)
def swap_search(tptr, tind, rptr, rind, w, cost, sel, stop_at, max_moves, tol, budget_slack):
    """Best-improvement 1-swap (close j, open k) maximising covered weight.

    A swap is allowed when ``cost[k] <= cost[j] + budget_slack``. Stops at a local optimum,
    after ``max_moves`` swaps, or once the covered weight reaches ``stop_at``.
    Returns the covered weight and the number of swaps made (``sel`` is updated).
    """  # pragma: no cover
    n_rows = rptr.shape[0] - 1
    m = tptr.shape[0] - 1
    cnt, own, gain, loss, covered = init_state(tptr, tind, w, sel, n_rows)
    acc = np.zeros(m)
    mark = np.zeros(m, np.bool_)
    touched = np.empty(m, np.int64)
    moves = 0
    while moves < max_moves and covered < stop_at:
        opened = np.flatnonzero(sel)
        best_d = tol
        bj = -1
        bk = -1
        for k in range(m):
            if sel[k] or gain[k] <= tol:
                continue
            nt = 0
            for q in range(tptr[k], tptr[k + 1]):
                i = tind[q]
                if cnt[i] == 1:
                    o = own[i]
                    if not mark[o]:
                        mark[o] = True
                        touched[nt] = o
                        nt += 1
                    acc[o] += w[i]
            for t in range(opened.shape[0]):
                j = opened[t]
                if cost[k] <= cost[j] + budget_slack:
                    d = gain[k] - loss[j] + acc[j]
                    if d > best_d:
                        best_d = d
                        bj = j
                        bk = k
            for t in range(nt):
                acc[touched[t]] = 0.0
                mark[touched[t]] = False
        if bj < 0:
            break
        covered -= drop_col(bj, tptr, tind, rptr, rind, w, sel, cnt, own, gain, loss)
        covered += add_col(bk, tptr, tind, rptr, rind, w, sel, cnt, own, gain, loss)
        moves += 1
    return covered, moves


@njit(cache=True)
def drop_redundant(tptr, tind, rptr, rind, w, cost, sel, need):  # pragma: no cover
    """Close open columns (most expensive, then least useful first) while coverage >= need."""
    n_rows = rptr.shape[0] - 1
    m = tptr.shape[0] - 1
    cnt, own, gain, loss, covered = init_state(tptr, tind, w, sel, n_rows)
    while True:
        best = -1
        for j in range(m):
            if (sel[j] and covered - loss[j] >= need) and (
                best < 0 or cost[j] > cost[best] or (cost[j] == cost[best] and loss[j] < loss[best])
            ):
                best = j
        if best < 0:
            break
        covered -= drop_col(best, tptr, tind, rptr, rind, w, sel, cnt, own, gain, loss)
    return covered


@njit(cache=True)
def removal_order(tptr, tind, rptr, rind, w, cost, sel):  # pragma: no cover
    """Open columns ordered by loss / cost (cheapest to remove first)."""
    n_rows = rptr.shape[0] - 1
    loss = init_state(tptr, tind, w, sel, n_rows)[3]
    opened = np.flatnonzero(sel)
    key = np.empty(opened.shape[0])
    for t in range(opened.shape[0]):
        j = opened[t]
        key[t] = loss[j] / max(cost[j], 1e-12)
    return opened[np.argsort(key, kind="mergesort")]


@njit(cache=True)
def coverage_of(tptr, tind, w, sel, n_rows):  # pragma: no cover
    return init_state(tptr, tind, w, sel, n_rows)[4]
