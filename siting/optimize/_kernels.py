"""Compiled (numba) inner loops of the coverage heuristics.

State of a coverage solution over a reduced matrix (rows = merged demand, columns =
candidates), kept incrementally so a move costs only the rows it touches:

``cnt[i]``   number of open columns covering row ``i``;
``own[i]``   sum of the indices of those columns (equals the owner when ``cnt[i] == 1``);
``gain[j]``  weight of uncovered rows column ``j`` covers (what opening ``j`` adds);
``loss[j]``  weight of rows only ``j`` covers (what closing ``j`` loses).

A 1-swap (close ``j``, open ``k``) changes the covered weight by
``gain[k] - loss[j] + acc_k[j]`` where ``acc_k[j]`` is the weight of rows only ``j`` covers
that ``k`` covers too; ``acc_k[j]`` is zero unless ``j`` and ``k`` share a row, so the best
partner of ``k`` is found from ``k``'s own rows plus the open column with the least loss.
"""

# numba seeds and draws from its own generator through the legacy np.random calls:
# ruff: noqa: NPY002
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
def _unique_overlap(k, tptr, tind, w, cnt, own, acc, mark, touched):  # pragma: no cover
    """For each open column ``o`` sharing rows with ``k`` that only ``o`` covers, add their
    weight to ``acc[o]`` and list ``o`` in ``touched``; returns how many were listed.
    The caller resets ``acc`` and ``mark`` for ``touched[:nt]``."""
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
    return nt


@njit(cache=True)
def _best_partner(k, tptr, tind, w, cnt, own, gain, loss, minl, argl, acc, mark, touched):
    """Best open column to close when opening ``k``: ``(change in covered weight, j)``."""
    nt = _unique_overlap(k, tptr, tind, w, cnt, own, acc, mark, touched)
    dv = gain[k] - minl  # any open column sharing no row with k: the one losing least
    dj = argl
    for t in range(nt):
        o = touched[t]
        d = gain[k] - loss[o] + acc[o]
        if d > dv:
            dv = d
            dj = o
        acc[o] = 0.0
        mark[o] = False
    return dv, dj


@njit(cache=True)
def _consider(k, tptr, tind, w, st, minl, argl, best):  # pragma: no cover - compiled
    """Opening ``k`` with its best partner to close (:func:`_best_partner`): ``best =
    (gain, close, open)`` returned improved, or as it was."""
    cnt, own, gain, loss, acc, mark, touched = st
    dv, dj = _best_partner(k, tptr, tind, w, cnt, own, gain, loss, minl, argl, acc, mark, touched)
    if dv > best[0]:
        return dv, dj, k
    return best


@njit(cache=True)
def _least_loss(opened, loss):  # pragma: no cover - compiled
    """The open column that loses least when closed: ``(its loss, its index)``."""
    minl = np.inf
    argl = -1
    for t in range(opened.shape[0]):
        if loss[opened[t]] < minl:
            minl = loss[opened[t]]
            argl = opened[t]
    return minl, argl


@njit(cache=True)
def _uniform(cost, budget_slack):  # pragma: no cover - compiled
    """Every column costs the same (and the slack is not negative)."""
    if budget_slack < 0.0:
        return False
    for j in range(cost.shape[0]):  # noqa: SIM110 - numba compiles no generator in all()
        if cost[j] != cost[0]:
            return False
    return True


@njit(cache=True)
def _best_close_for(k, opened, cost, budget_slack, w, tptr, tind, st, best):
    """Any costs: the open column whose swap with ``k`` gains most within the slack;
    ``best = (gain, close, open)`` is returned improved (or as it was)."""  # pragma: no cover
    cnt, own, gain, loss, acc, mark, touched = st
    best_d, bj, bk = best
    nt = _unique_overlap(k, tptr, tind, w, cnt, own, acc, mark, touched)
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
    return best_d, bj, bk


@njit(cache=True)
def swap_search(tptr, tind, rptr, rind, w, cost, sel, stop_at, max_moves, tol, budget_slack):
    """Best-improvement 1-swap (close j, open k) maximising covered weight.

    A swap is allowed when ``cost[k] <= cost[j] + budget_slack``; each swap spends
    ``cost[k] - cost[j]`` of the slack. Stops at a local optimum,
    after ``max_moves`` swaps, or once the covered weight reaches ``stop_at``.
    Returns the covered weight and the number of swaps made (``sel`` is updated).
    """  # pragma: no cover
    n_rows = rptr.shape[0] - 1
    m = tptr.shape[0] - 1
    cnt, own, gain, loss, covered = init_state(tptr, tind, w, sel, n_rows)
    acc = np.zeros(m)
    mark = np.zeros(m, np.bool_)
    touched = np.empty(m, np.int64)
    st = (cnt, own, gain, loss, acc, mark, touched)
    moves = 0
    uniform = _uniform(cost, budget_slack)
    while moves < max_moves and covered < stop_at:
        opened = np.flatnonzero(sel)
        minl, argl = _least_loss(opened, loss)
        best_d = tol
        bj = -1
        bk = -1
        for k in np.argsort(-gain):  # a swap opening k adds at most gain[k]: stop early
            if gain[k] <= best_d:
                break
            if sel[k]:
                continue
            if uniform:  # every open column is a partner: the best is found from k's rows
                best_d, bj, bk = _consider(k, tptr, tind, w, st, minl, argl, (best_d, bj, bk))
            else:
                best_d, bj, bk = _best_close_for(
                    k, opened, cost, budget_slack, w, tptr, tind, st, (best_d, bj, bk)
                )
        if bj < 0:
            break
        covered -= drop_col(bj, tptr, tind, rptr, rind, w, sel, cnt, own, gain, loss)
        covered += add_col(bk, tptr, tind, rptr, rind, w, sel, cnt, own, gain, loss)
        budget_slack -= cost[bk] - cost[bj]  # what the swap spent of the unused budget
        moves += 1
    return covered, moves


@njit(cache=True)
def _mark_near(j, tptr, tind, rptr, rind, cmark, cand, nc):  # pragma: no cover
    """Append the columns sharing a row with ``j`` to ``cand`` (unless marked)."""
    for q in range(tptr[j], tptr[j + 1]):
        i = tind[q]
        for r in range(rptr[i], rptr[i + 1]):
            o = rind[r]
            if not cmark[o]:
                cmark[o] = True
                cand[nc] = o
                nc += 1
    return nc


@njit(cache=True)
def _descend(tptr, tind, rptr, rind, w, st, covered, tol, log, nlog, cand, nc, full):
    """Best-improvement 1-swaps, over all columns (``full``) or over ``cand[:nc]`` and the
    neighbours of every swap made. Swaps are appended to ``log`` (``j`` = opened,
    ``-j - 1`` = closed). Returns the covered weight and the new log length."""  # pragma: no cover
    sel, cnt, own, gain, loss, acc, mark, touched, cmark = st
    m = tptr.shape[0] - 1
    while True:
        minl = np.inf
        argl = -1
        top = -1
        top_gain = tol
        for j in range(m):
            if sel[j]:
                if loss[j] < minl:
                    minl = loss[j]
                    argl = j
            elif gain[j] > top_gain:
                top_gain = gain[j]
                top = j
        if not full and top >= 0 and not cmark[top]:
            cmark[top] = True  # the best opening anywhere may pair with any closing
            cand[nc] = top
            nc += 1
        best_d = tol
        bj = -1
        bk = -1
        order = np.argsort(-gain) if full else cand[:nc]
        for k in order:
            if gain[k] <= best_d:  # a swap opening k adds at most gain[k]
                if full:
                    break  # sorted: so do all that follow
                continue
            if sel[k]:
                continue
            best_d, bj, bk = _consider(
                k,
                tptr,
                tind,
                w,
                (cnt, own, gain, loss, acc, mark, touched),
                minl,
                argl,
                (best_d, bj, bk),
            )
        if bj < 0 or nlog > log.shape[0] - 2:
            break
        covered -= drop_col(bj, tptr, tind, rptr, rind, w, sel, cnt, own, gain, loss)
        covered += add_col(bk, tptr, tind, rptr, rind, w, sel, cnt, own, gain, loss)
        log[nlog] = -bj - 1
        log[nlog + 1] = bk
        nlog += 2
        if not full:
            nc = _mark_near(bj, tptr, tind, rptr, rind, cmark, cand, nc)
            nc = _mark_near(bk, tptr, tind, rptr, rind, cmark, cand, nc)
    for t in range(nc):
        cmark[cand[t]] = False
    return covered, nlog


@njit(cache=True, nogil=True)
def _open_columns(sel, opened):  # pragma: no cover - compiled
    """Write the open columns into ``opened``; returns how many there are."""
    n_open = 0
    for j in range(sel.shape[0]):
        if sel[j]:
            opened[n_open] = j
            n_open += 1
    return n_open


@njit(cache=True, nogil=True)
def _open_near(s, tptr, tind, rptr, rind, sel, near, nmark):  # pragma: no cover - compiled
    """Write the open columns (not ``s``) sharing rows with ``s`` into ``near``; returns
    how many."""
    nn = 0
    for q in range(tptr[s], tptr[s + 1]):
        i = tind[q]
        for rr in range(rptr[i], rptr[i + 1]):
            o = rind[rr]
            if sel[o] and o != s and not nmark[o]:
                nmark[o] = True
                near[nn] = o
                nn += 1
    for t in range(nn):
        nmark[near[t]] = False
    return nn


@njit(cache=True, nogil=True)
def _kick(tptr, tind, rptr, rind, w, st, covered, log, opened, n_open, near, nmark):
    """Close 2-5 open columns: one at random and (7 times in 10) open columns sharing
    rows with it, else random ones. Logged as ``-j - 1``; returns the covered weight and
    the log's length."""  # pragma: no cover
    sel, cnt, own, gain, loss = st[0], st[1], st[2], st[3], st[4]
    r = min(2 + np.random.randint(4), n_open)
    s = opened[np.random.randint(n_open)]
    nn = 0
    if np.random.random() < 0.7:  # a local kick: s and open columns sharing rows with it
        nn = _open_near(s, tptr, tind, rptr, rind, sel, near, nmark)
    covered -= drop_col(s, tptr, tind, rptr, rind, w, sel, cnt, own, gain, loss)
    log[0] = -s - 1
    nlog = 1
    for _ in range(r - 1):
        if nn > 0:
            u = np.random.randint(nn)
            j = near[u]
            near[u] = near[nn - 1]
            nn -= 1
        else:
            j = opened[np.random.randint(n_open)]
            if not sel[j]:
                continue
        covered -= drop_col(j, tptr, tind, rptr, rind, w, sel, cnt, own, gain, loss)
        log[nlog] = -j - 1
        nlog += 1
    return covered, nlog


@njit(cache=True, nogil=True)
def _refill(tptr, tind, rptr, rind, w, st, covered, log, nlog):  # pragma: no cover
    """Reopen as many columns as were closed, greedily (logged as ``j``)."""
    sel, cnt, own, gain, loss = st[0], st[1], st[2], st[3], st[4]
    m = tptr.shape[0] - 1
    for _ in range(nlog):
        bj = -1
        bv = 0.0
        for j in range(m):
            if not sel[j] and gain[j] > bv:
                bv = gain[j]
                bj = j
        if bj < 0:
            break
        covered += add_col(bj, tptr, tind, rptr, rind, w, sel, cnt, own, gain, loss)
        log[nlog] = bj
        nlog += 1
    return covered, nlog


@njit(cache=True, nogil=True)
def _undo(tptr, tind, rptr, rind, w, st, covered, log, nlog):  # pragma: no cover
    """Undo the logged moves, newest first; returns the covered weight."""
    sel, cnt, own, gain, loss = st[0], st[1], st[2], st[3], st[4]
    for t in range(nlog - 1, -1, -1):
        v = log[t]
        if v >= 0:
            covered -= drop_col(v, tptr, tind, rptr, rind, w, sel, cnt, own, gain, loss)
        else:
            covered += add_col(-v - 1, tptr, tind, rptr, rind, w, sel, cnt, own, gain, loss)
    return covered


@njit(cache=True, nogil=True)
def walk_state(tptr, tind, w, sel, n_rows):  # pragma: no cover - compiled
    """The incremental state of a walk over ``sel`` (kept in and out of the kernels:
    ``sel, cnt, own, gain, loss`` and four work arrays) and its buffers (``cand, log,
    opened, near, nmark``); returns ``(state, buffers, covered weight)``."""
    m = tptr.shape[0] - 1
    cnt, own, gain, loss, covered = init_state(tptr, tind, w, sel, n_rows)
    st = (
        sel,
        cnt,
        own,
        gain,
        loss,
        np.zeros(m),
        np.zeros(m, np.bool_),
        np.empty(m, np.int64),
        np.zeros(m, np.bool_),
    )
    bufs = (
        np.empty(m, np.int64),
        np.empty(max(4 * m, 64), np.int64),
        np.empty(m, np.int64),
        np.empty(m, np.int64),
        np.zeros(m, np.bool_),
    )
    return st, bufs, covered


@njit(cache=True, nogil=True)
def _ils_step(tptr, tind, rptr, rind, w, st, bufs, covered, cur, n_open, tol, full):
    """One iteration of the iterated search: kick, refill, descend (near the change or,
    ``full``, over all columns), then keep the result when it covers at least ``cur``
    (1 time in 50 anyway) or undo it. Returns ``(covered, cur, kept, refills, passes,
    candidates)``: the counts measure the work done."""  # pragma: no cover
    cand, log, opened, near, nmark = bufs
    covered, nlog = _kick(tptr, tind, rptr, rind, w, st, covered, log, opened, n_open, near, nmark)
    closed = nlog
    covered, nlog = _refill(tptr, tind, rptr, rind, w, st, covered, log, nlog)
    nc = 0
    if not full:
        for t in range(nlog):
            j = log[t] if log[t] >= 0 else -log[t] - 1
            nc = _mark_near(j, tptr, tind, rptr, rind, st[8], cand, nc)
    before = nlog
    covered, nlog = _descend(tptr, tind, rptr, rind, w, st, covered, tol, log, nlog, cand, nc, full)
    passes = (nlog - before) // 2 + 1
    kept = covered >= cur - tol or np.random.random() < 0.02
    if kept:
        cur = covered
    else:  # undo, newest move first
        covered = _undo(tptr, tind, rptr, rind, w, st, covered, log, nlog)
    return covered, cur, kept, before - closed, passes, nc


@njit(cache=True, nogil=True)  # several searches may run in threads
def iterated_swaps(
    tptr, tind, rptr, rind, w, sel, best_sel, n_iter, seed, stop_at, tol, full_every
):
    """Iterated local search at a fixed number of open columns, maximising covered weight.

    One iteration closes 2-5 open columns (usually one at random and its open neighbours,
    sometimes random ones), reopens as many greedily, and descends with 1-swaps among the
    columns near the change (every ``full_every``-th iteration: among all columns). The
    result is kept when it covers at least as much as before (1 time in 50 anyway, to
    leave plateaus), otherwise undone move by move. ``sel`` is the current solution (in
    and out); ``best_sel`` receives the best one. Returns (best covered weight, current
    covered weight, iterations run).
    """  # pragma: no cover
    np.random.seed(seed)
    st, bufs, covered = walk_state(tptr, tind, w, sel, rptr.shape[0] - 1)
    covered, _ = _descend(tptr, tind, rptr, rind, w, st, covered, tol, bufs[1], 0, bufs[0], 0, True)
    best = covered
    best_sel[:] = sel
    cur = covered
    it = 0
    while it < n_iter and best < stop_at:
        it += 1
        n_open = _open_columns(sel, bufs[2])
        if n_open < 2:
            break
        full = full_every > 0 and it % full_every == 0
        covered, cur, kept, _, _, _ = _ils_step(
            tptr, tind, rptr, rind, w, st, bufs, covered, cur, n_open, tol, full
        )
        if kept and covered > best + tol:
            best = covered
            best_sel[:] = sel
    return best, cur, it


@njit(cache=True, nogil=True)
def _shed(tptr, tind, rptr, rind, w, st, bufs, best_sel, covered, best_n, need, tol):
    """While ``need`` is covered: record the plan when it has the fewest open columns
    yet, close the open column that loses least and repair with 1-swaps near it.
    Returns ``(covered, fewest open columns, columns closed)``."""  # pragma: no cover
    sel, loss = st[0], st[4]
    cand, log, opened = bufs[0], bufs[1], bufs[2]
    closed = 0
    while covered >= need:
        n_open = _open_columns(sel, opened)
        if n_open < best_n:
            best_n = n_open
            best_sel[:] = sel
        if n_open == 0:
            break
        j = opened[0]
        for t in range(1, n_open):
            if loss[opened[t]] < loss[j]:
                j = opened[t]
        covered -= drop_col(j, tptr, tind, rptr, rind, w, sel, st[1], st[2], st[3], loss)
        nc = _mark_near(j, tptr, tind, rptr, rind, st[8], cand, 0)
        covered, _ = _descend(tptr, tind, rptr, rind, w, st, covered, tol, log, 0, cand, nc, False)
        closed += 1
    return covered, best_n, closed


@njit(cache=True, nogil=True)  # several searches may run in threads
def target_walk(
    tptr, tind, rptr, rind, w, st, bufs, best_sel, tally, n_iter, seed, need, tol, full_every
):
    """Iterated local search for the fewest open columns covering ``need``.

    Whenever the current plan covers ``need`` it is recorded (in ``best_sel``, when it
    has the fewest open columns yet), and the open column losing least is closed, its
    loss repaired by 1-swaps near it; then iterations of the iterated search
    (:func:`_ils_step`) raise the coverage of the plan one column short until it
    covers ``need`` again. The walk's state (:func:`walk_state`) persists across calls;
    ``tally`` carries ``[covered, accepted coverage, fewest columns, iterations, passes,
    refills, candidates, closed]`` (the last five summed, for the work clock). Returns
    the iterations run (``n_iter`` unless fewer than two columns are open).
    """  # pragma: no cover
    np.random.seed(seed)
    sel = st[0]
    covered, cur, best_n = tally[0], tally[1], int(tally[2])
    it = 0
    while it < n_iter:
        if covered >= need:
            covered, best_n, closed = _shed(
                tptr, tind, rptr, rind, w, st, bufs, best_sel, covered, best_n, need, tol
            )
            cur = covered
            tally[7] += closed
        n_open = _open_columns(sel, bufs[2])
        if n_open < 2:
            break
        it += 1
        full = full_every > 0 and (int(tally[3]) + it) % full_every == 0
        covered, cur, _, refills, passes, nc = _ils_step(
            tptr, tind, rptr, rind, w, st, bufs, covered, cur, n_open, tol, full
        )
        tally[4] += passes
        tally[5] += refills
        tally[6] += nc
    tally[0], tally[1], tally[2] = covered, cur, best_n
    tally[3] += it
    return it


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
