"""Work budgets (siting.optimize.clock): same seed and time limit -> same plan, whatever
the machine load; the wall clock only as a safety net, and reported when it cuts in."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp

from siting.optimize import (
    CoverageProblem,
    SolveOptions,
    clock,
    coverage_curve,
    settings,
    solve_mclp,
    solve_target,
)
from siting.optimize import _kernels as kern
from siting.optimize.heuristics import CoverIndex, mclp_iterated_search


def city(seed: int = 3, n: int = 4000, m: int = 500, radius: float = 0.06) -> CoverageProblem:
    """Demand and candidate points in a unit square, covered within ``radius``."""
    rng = np.random.default_rng(seed)
    d = rng.random((n, 2))
    s = rng.random((m, 2))
    d2 = ((d[:, None, :] - s[None, :, :]) ** 2).sum(axis=2)
    cover = sp.csr_matrix(d2 <= radius**2)
    existing = np.zeros(m, dtype=bool)
    existing[:10] = True
    weight = rng.integers(1, 200, n).astype(float)
    return CoverageProblem(cover=cover, weight=weight, existing=existing)


@pytest.fixture
def large_paths(monkeypatch):
    """Send a small model down the city-scale paths (PDLP, iterated search on deadlines)."""
    monkeypatch.setattr(settings, "lp_nnz_limit", 0)


def slowed(monkeypatch, seconds: float) -> None:
    """Make every iterated-search round take ``seconds`` longer (a busy machine)."""
    real = kern.iterated_swaps

    def slow(*args):
        time.sleep(seconds)
        return real(*args)

    monkeypatch.setattr(kern, "iterated_swaps", slow)


def _outcome(sol) -> dict:
    hist = {
        k: v
        for k, v in sol.history.items()
        if not k.endswith("_s") and isinstance(v, int | float | str | bool)
    }
    return {
        "new": sol.new.tolist(),
        "objective": sol.objective,
        "bound": sol.bound,
        "status": sol.status,
        "work_s": sol.history["work_s"],  # how far every search went: equal to the last bit
        **hist,
    }


def _skip_if_cut(sol) -> None:
    if not sol.history["deterministic"]:
        pytest.skip("this machine is too slow for the work budget (the wall clock cut in)")


def _check_repeatable(runs: list) -> None:
    for s in runs:
        _skip_if_cut(s)
    first = _outcome(runs[0])
    for s in runs[1:]:
        assert _outcome(s) == first


# each run uses its 3 s budget; fast: threads=2 here and test_mclp_same_plan_under_load
@pytest.mark.parametrize("threads", [pytest.param(1, marks=pytest.mark.slow), 2])
def test_target_same_plan_under_load(large_paths, monkeypatch, threads: int) -> None:
    P = city()
    kw = {"time_limit": 3.0, "seed": 4, "threads": threads}
    quiet = solve_target(P, 0.9, options=SolveOptions(**kw))
    _skip_if_cut(quiet)
    assert "pdlp" in quiet.method  # the large path, whose searches end on the budget
    assert quiet.history["work_s"] >= 0.5 * kw["time_limit"]  # the budget was used
    slowed(monkeypatch, 0.001)
    busy = solve_target(P, 0.9, options=SolveOptions(**kw))
    _check_repeatable([quiet, busy])


def test_mclp_same_plan_under_load(large_paths, monkeypatch) -> None:
    P = city(seed=5, radius=0.08)
    kw = {"time_limit": 3.0, "seed": 1, "threads": 2}
    quiet = solve_mclp(P, 30, options=SolveOptions(**kw))
    _skip_if_cut(quiet)
    assert "ils" in quiet.method  # the iterated search ran to the end of its budget
    assert quiet.history["work_s"] >= 0.5 * kw["time_limit"]
    slowed(monkeypatch, 0.001)
    busy = solve_mclp(P, 30, options=SolveOptions(**kw))
    _check_repeatable([quiet, busy])


def test_wall_clock_cut_is_reported(large_paths, monkeypatch) -> None:
    slowed(monkeypatch, 0.05)  # far slower than the calibrated rates
    sol = solve_mclp(city(seed=5, radius=0.08), 30, options=SolveOptions(time_limit=1.0, seed=0))
    assert sol.history["deterministic"] is False
    assert sol.history["cut_by"]  # the wall clock, or HiGHS stopped by the real time left
    assert sol.seconds < 1.0 + 2.0  # the time limit still holds (a round may overrun it)
    assert all(v < 100 for k, v in sol.history.items() if k.endswith("_s"))


def test_small_model_reports_deterministic() -> None:
    sol = solve_target(city(n=300, m=40, radius=0.15), 0.8, options=SolveOptions(time_limit=10))
    assert sol.status == "optimal"
    assert sol.history["deterministic"] is True
    assert sol.history["work_s"] > 0
    curve = coverage_curve(city(n=300, m=40, radius=0.15), 5)  # a table: in its attrs
    assert curve.attrs["deterministic"] is True
    # no iterations: the start as it is (it ran one before)
    idx = CoverIndex.build(sp.csr_matrix(np.eye(3, dtype=bool)), np.ones(3))
    sel = np.array([True, False, False])
    got, cov = mclp_iterated_search(idx, sel, max_iterations=0)
    assert got.tolist() == sel.tolist() and cov == 1.0


def test_clock_nesting_and_jump() -> None:
    assert clock.current() is None
    t = time.perf_counter()
    assert abs(clock.now() - t) < 1.0  # outside a solver: the wall clock
    clock.charge(5.0)  # ignored outside a solver
    with clock.budget(10.0) as outer:
        start = clock.now()
        clock.charge(1.5)
        assert clock.now() == pytest.approx(start + 1.5)
        with clock.budget(2.0) as inner:
            clock.charge_sparse(0)  # the fixed cost of a step
            clock.charge(0.5)
            assert inner.work == pytest.approx(0.5 + settings.call_s)
        assert outer.work == pytest.approx(2.0 + settings.call_s)  # charges reach the caller
        assert outer.deterministic
    with clock.budget(0.2) as outer:  # an inner cut does not switch off the outer net
        with clock.budget(0.0) as inner:
            time.sleep(0.01)
            assert inner.now() >= inner.origin + clock.WALL_JUMP
        assert not outer.deterministic
        assert clock.now() < outer.origin + 1.0  # the outer one still has real time
        time.sleep(0.25)
        assert clock.now() >= outer.origin + clock.WALL_JUMP
    # an inner clock also stops when the outer one runs out
    with clock.budget(0.05), clock.budget(100.0) as inner:
        time.sleep(0.1)
        assert clock.expired()
        assert inner.now() >= inner.origin + clock.WALL_JUMP
        assert clock.wall_cap(5.0) == pytest.approx(0.01)
    with clock.budget(0.0) as clk:  # no real time at all: the net cuts in at once
        before = clk.origin
        time.sleep(0.01)
        assert clock.now() >= before + clock.WALL_JUMP
        assert clk.cuts == ["wall clock"]
        assert not clk.deterministic
        assert clock.wall_cap(5.0) == pytest.approx(0.01)
    assert clock.current() is None


def test_warm_resolves_get_their_own_time_limit() -> None:
    """HiGHS counts its time limit over all runs of one object: each re-solve of the
    capacitated p-median's transport LP must still get its own limit."""
    from siting.optimize.formulations import LinearModel
    from siting.optimize.highs import highs_lp, new_highs, run_charged

    rng = np.random.default_rng(0)
    n, m = 400, 60
    A = sp.random(n, m, density=0.3, random_state=1, format="csr")
    rows, cols = A.nonzero()
    k = rows.size
    w = rng.integers(1, 50, n).astype(float)
    share = sp.csr_matrix((np.ones(k), (rows, np.arange(k))), shape=(n, k))
    load = sp.csr_matrix((w[rows], (cols, np.arange(k))), shape=(m, k))
    lp = highs_lp(
        LinearModel(
            w[rows],
            sp.vstack([share, load]).tocsr(),
            np.full(n + m, -np.inf),
            np.r_[np.ones(n), np.full(m, 200.0)],
            maximize=True,
        )
    )
    h = new_highs()
    h.setOptionValue("presolve", "off")
    h.passModel(lp)
    h.run()  # the first solve; a busy machine makes each re-solve slower
    limit = max(0.1, 20 * h.getRunTime())  # each re-solve fits well within its limit
    status = []
    with clock.budget(600.0):
        while h.getRunTime() < 2.5 * limit and len(status) < 2000:  # well past one limit
            j = np.array([len(status) % k], dtype=np.int32)
            h.changeColsBounds(1, j, np.zeros(1), np.full(1, float(len(status) % 2)))
            run_charged(h, limit, setup=False)
            status.append(str(h.getModelStatus()).rsplit(".", 1)[-1])
    assert h.getRunTime() >= limit
    assert set(status) == {"kOptimal"}


def test_highs_time_limit_marks_the_run(monkeypatch) -> None:
    from siting.optimize.formulations import LinearModel
    from siting.optimize.highs import solve_milp

    rng = np.random.default_rng(0)
    A = sp.random(300, 300, density=0.05, random_state=1, format="csr")
    with clock.budget(100.0) as clk:
        res = solve_milp(
            LinearModel(-rng.random(300), A, np.full(300, -np.inf), np.ones(300), np.ones(300)),
            time_limit=1e-9,
        )
    if res.status == "time_limit":
        assert "HiGHS time limit" in clk.cuts
        assert clk.work >= 1e-9
    else:  # solved before HiGHS looked at the clock
        assert clk.deterministic


def test_capacitated_pmedian_after_the_wall_clock_ran_out(monkeypatch) -> None:
    """A slow start uses up the real time: the plan still gets its one required
    assignment (it raised a ParameterError citing a million seconds of work), and the
    Lagrangian bound takes one step instead of its minimum share of the limit."""
    import siting.optimize.pmedian as pmedian_mod
    from siting.optimize import solve_pmedian

    rng = np.random.default_rng(0)
    n, m, limit = 1500, 150, 1.0
    d, s = rng.random((n, 2)) * 3000, rng.random((m, 2)) * 3000
    dist = np.sqrt(((d[:, None] - s[None]) ** 2).sum(axis=2))
    dist[dist > 900] = 0
    P = CoverageProblem(
        dist=sp.csr_matrix(np.round(dist) + (dist > 0)),
        weight=rng.integers(1, 50, n).astype(float),
        existing=np.zeros(m, dtype=bool),
        capacity=np.full(m, 3000.0),
    )
    real = pmedian_mod.pmedian_interchange

    def slow(*args, **kwargs):
        time.sleep(limit * 1.05)
        return real(*args, **kwargs)

    monkeypatch.setattr(pmedian_mod, "pmedian_interchange", slow)
    sol = solve_pmedian(
        P,
        20,
        capacitated=True,
        drop_unreachable=True,
        options=SolveOptions(method="heuristic", time_limit=limit),
    )
    assert np.isfinite(sol.objective)
    assert sol.history["deterministic"] is False
    assert sol.seconds < limit + 3.0
    assert all(v < 100 for k, v in sol.history.items() if k.endswith("_s"))
