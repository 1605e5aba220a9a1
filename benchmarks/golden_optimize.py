"""Regression harness of the solver layer: the same instances, the same answers.

Runs a fixed set of models through the public API (``st.solve``, ``st.solve_two_level``,
``st.coverage_curve``) and the matrix-level entry points of :mod:`siting.optimize`, and
records for each one the objective, the bound, the gap, the status and the new sites.
``--write FILE`` stores the records; ``--check FILE`` runs again and compares, case by
case. The solvers count ``time_limit`` as a work budget (:mod:`siting.optimize.clock`):
the same seed and limit give the same plan unless the wall-clock safety net cut a run
short (a loaded machine). Such runs are flagged ``repeatable: false`` and compared only
for validity, not for equality.

Instances: the Liechtenstein and Helsinki demo models (built by the scenario runner,
``write=False``), the grid sub-instance of ``bench_optimize.py`` (500 candidates + 20
existing x 5,000 demand), OR-Library pmed / pmedcap, and small seeded matrices.

Usage::

    python benchmarks/golden_optimize.py --write benchmarks/results/golden.json
    python benchmarks/golden_optimize.py --check benchmarks/results/golden.json [--only x,y]

``--relax-wall K`` gives the wall-clock safety net (and HiGHS' real-time limits) K times
the time limit, so that on a loaded machine the work budget, not the wall clock, ends
every search: two versions of the code run that way compare on the cases that use their
whole budget (the plans then differ from a normal run's, the same way for both).
"""

from __future__ import annotations

# the checkout this file lives in, not some other installed copy
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))

import argparse
import contextlib
import json
import math
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
_sys.path.insert(0, str(HERE))
SHARED = ROOT.parent / "shared" / "data"
CACHE = HERE / ".cache"


# ---------------------------------------------------------------------- instances
_memo: dict[str, Any] = {}


def _scenario_coverage(name: str):
    if name not in _memo:
        from siting.scenario import run_scenario

        t = time.perf_counter()
        res = run_scenario(ROOT / "data" / f"demo-{name}.yaml", write=False)
        print(f"  [{name} coverage in {time.perf_counter() - t:.0f} s]", flush=True)
        _memo[name] = res.plan.coverage
    return _memo[name]


def liechtenstein():
    return _scenario_coverage("liechtenstein")


def helsinki():
    return _scenario_coverage("helsinki")


def with_districts(cov, k: int):
    """The coverage with a ``district`` column: ``k`` bands of equal width west to east."""
    key = f"districts-{id(cov)}-{k}"
    if key not in _memo:
        import copy

        c = copy.copy(cov)
        c.demand = cov.demand.copy()
        x = cov.demand.geometry.x.to_numpy()
        edges = np.linspace(x.min(), x.max(), k + 1)[1:-1]
        c.demand["district"] = np.array([f"D{i}" for i in np.searchsorted(edges, x)])
        _memo[key] = c
    return _memo[key]


def grid_sub():
    if "grid-sub" not in _memo:
        import bench_optimize as bo

        cover, pop, existing, _ = bo.load_instance("grid-sub")
        _memo["grid-sub"] = (cover, pop, existing)
    return _memo["grid-sub"]


def grid_problem():
    from siting.optimize import CoverageProblem

    cover, pop, existing = grid_sub()
    return CoverageProblem(cover=cover, weight=pop, existing=existing)


def _orlib():
    _sys.path.insert(0, str(ROOT / "tests"))
    import test_optimize_orlib as ol  # the tests' readers of the OR-Library files

    return ol


def pmed(name: str):
    ol = _orlib()

    return ol.pmed_problem(name)


def pmedcap(name: str):
    ol = _orlib()

    return ol.pmedcap_problem(name)


def small(seed: int, n: int = 60, m: int = 20, density: float = 0.15, **kw):
    from siting.optimize import CoverageProblem

    rng = np.random.default_rng(seed)
    cover = sp.csr_matrix(rng.random((n, m)) < density)
    existing = np.zeros(m, dtype=bool)
    existing[:2] = True
    args = {"cover": cover, "weight": rng.integers(0, 100, n).astype(float), "existing": existing}
    if kw.get("costs"):
        args["cost"] = rng.integers(1, 5, m).astype(float)
    if kw.get("groups"):
        args["group"] = rng.integers(0, kw["groups"], n)
    if kw.get("capacity"):
        args["capacity"] = rng.integers(50, 400, m).astype(float)
    return CoverageProblem(**args)


def disc(seed: int, n: int, m: int, radius: float, capacity: float = 0.0):
    from siting.optimize import CoverageProblem

    rng = np.random.default_rng(seed)
    xy, sxy = rng.random((n, 2)) * 3000, rng.random((m, 2)) * 3000
    d = np.hypot(xy[:, None, 0] - sxy[None, :, 0], xy[:, None, 1] - sxy[None, :, 1])
    d[d > radius] = 0
    D = sp.csr_matrix(np.round(d))
    w = rng.integers(1, 100, n).astype(float)
    cap = rng.integers(100, 600, m) * capacity if capacity else None
    return CoverageProblem(dist=D, weight=w, capacity=cap)


@contextlib.contextmanager
def large_path() -> Iterator[None]:
    """Send the coverage models down the path of city-scale models (no simplex LP)."""
    try:
        from siting.optimize import settings
    except ImportError:  # the code before the settings object
        settings = None
    if settings is not None:
        with settings.override(lp_nnz_limit=0):
            yield
        return
    import importlib  # the modules of the code before issue 24

    mclp_mod = importlib.import_module("siting.optimize.mclp")
    target_mod = importlib.import_module("siting.optimize.target")
    old = (mclp_mod.LP_NNZ_LIMIT, target_mod.LP_NNZ_LIMIT)
    mclp_mod.LP_NNZ_LIMIT = target_mod.LP_NNZ_LIMIT = 0
    try:
        yield
    finally:
        mclp_mod.LP_NNZ_LIMIT, target_mod.LP_NNZ_LIMIT = old


# ---------------------------------------------------------------------- records
def _f(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else (1e308 if v > 0 else -1e308)


def solution_record(sol) -> dict[str, Any]:
    hist = getattr(sol, "history", None) or {}
    return {
        "objective": _f(sol.objective),
        "bound": _f(sol.bound),
        "gap": _f(sol.gap),
        "status": str(sol.status),
        "new": [int(j) for j in np.asarray(sol.new)],
        "method": str(sol.method),
        "covered_weight": _f(sol.covered_weight),
        "repeatable": bool(hist.get("deterministic", True)),
        "bound_repeatable": bool((hist.get("regional") or {}).get("complete", True)),
        "cut_by": list(hist.get("cut_by", [])),
    }


def plan_record(plan) -> dict[str, Any]:
    out = solution_record(plan.solution)
    s = plan.summary()
    out["summary"] = {
        k: _f(s[k])
        for k in ("covered_before", "covered_after", "new_sites", "population")
        if s.get(k) is not None
    }
    return out


def two_level_record(res) -> dict[str, Any]:
    """``st.solve_two_level``: a sites table (``.attrs``) or a Plan (``.solution``)."""
    sol = getattr(res, "solution", None)
    if sol is None or not hasattr(sol, "centres"):
        sol = res.attrs["solution"]
        centres, stations = sol["centres"], sol["stations"]
    else:
        centres, stations = sol.centres, sol.stations
    return {
        "centres": solution_record(centres),
        "stations": solution_record(stations),
        "repeatable": solution_record(centres)["repeatable"]
        and solution_record(stations)["repeatable"],
    }


def curve_record(df) -> dict[str, Any]:
    """A coverage curve: persons covered and bound per number of new sites."""
    covered = df["covered"] if "covered" in df else df["covered_weight"]
    return {
        "covered": [_f(v) for v in covered],
        "bound": [_f(v) for v in df["bound"]],
        "site": [int(v) for v in df["site"]],
        "repeatable": bool(df.attrs.get("deterministic", True)),
    }


# ---------------------------------------------------------------------- cases
def st_solve(cov_fn: Callable, **kw) -> Callable[[], dict]:
    def run() -> dict:
        import siting as st

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return plan_record(st.solve(cov_fn(), **kw))

    return run


SOLVER_OPTIONS = ("time_limit", "mip_gap", "method", "seed", "threads", "verbose")


def matrix_keywords(kw: dict) -> dict:
    """The solver options as keywords (the code before issue 24) or in ``options=``."""
    import siting.optimize as so

    if not hasattr(so, "SolveOptions"):
        return kw
    out = {k: v for k, v in kw.items() if k not in SOLVER_OPTIONS}
    given = {k: v for k, v in kw.items() if k in SOLVER_OPTIONS}
    if given:
        out["options"] = so.SolveOptions(**given)
    if "max_distance" in out:
        out["max_distance_m"] = out.pop("max_distance")
    return out


def opt(fn_name: str, problem_fn: Callable, *args, large: bool = False, **kw) -> Callable:
    def run() -> dict:
        import siting.optimize as so

        fn = getattr(so, fn_name)
        problem = problem_fn()
        with large_path() if large else contextlib.nullcontext():
            return solution_record(fn(problem, *args, **matrix_keywords(kw)))

    return run


def call(record: Callable, module: str, fn_name: str, data_fn: Callable, **kw) -> Callable:
    """A case: ``module.fn_name(data_fn(), **kw)``, recorded by ``record``."""

    def run() -> dict:
        import importlib

        fn = getattr(importlib.import_module(module), fn_name)
        return record(fn(data_fn(), **kw))

    return run


def two_level(cov_fn: Callable, **kw) -> Callable:
    return call(two_level_record, "siting", "solve_two_level", cov_fn, **kw)


def curve(cov_fn: Callable, **kw) -> Callable:
    return call(curve_record, "siting", "coverage_curve", cov_fn, **kw)


def matrix_curve(problem_fn: Callable, **kw) -> Callable:
    return call(curve_record, "siting.optimize", "coverage_curve", problem_fn, **kw)


def pmed_case(name: str, **kw) -> Callable:
    """An OR-Library instance: ``pmedN`` (uncapacitated) or ``pmedcapNN`` (capacities
    and loads)."""

    def run() -> dict:
        from siting.optimize import solve_pmedian

        if name.startswith("pmedcap"):
            P, p, q = pmedcap(name)
            more = {"capacitated": True, "load": q}
        else:
            (P, p), more = pmed(name), {}
        return solution_record(solve_pmedian(P, p, **more, **matrix_keywords(kw)))

    return run


def _with_capacity(cov, key: str):
    """The coverage with a ``capacity`` column of 3,000 persons per site."""
    if key not in _memo:
        import copy

        c = copy.copy(cov)
        c.sites = cov.sites.copy()
        c.sites["capacity"] = 3000.0
        _memo[key] = c
    return _memo[key]


def lie_capacity():
    return _with_capacity(liechtenstein(), "lie-capacity")


def hel_capacity():
    return _with_capacity(helsinki(), "hel-capacity")


def hel_two():
    """Helsinki demo coverage recomputed at 3 and 5 minutes (two-level plans)."""
    if "hel-two" not in _memo:
        import siting as st

        cov = helsinki()
        _memo["hel-two"] = st.coverage(
            cov.network,
            cov.demand[["population", "geometry"]],
            cov.sites[cov.existing][["geometry"]],
            cov.sites[~cov.existing][["geometry"]],
            minutes=(3, 5),
        )
    return _memo["hel-two"]


L, H = liechtenstein, helsinki
CASES: dict[str, Callable[[], dict]] = {
    # --- public API, Liechtenstein demo (15-minute walk)
    "lie-target90": st_solve(L, model="target", target=0.90, time_limit=60),
    "lie-target90-heuristic": st_solve(L, model="target", target=0.90, method="heuristic"),
    "lie-target80-10min": st_solve(L, model="target", target=0.80, minutes=10, time_limit=60),
    "lie-mclp-p20": st_solve(L, model="mclp", p=20, time_limit=60),
    "lie-mclp-p37-exact": st_solve(L, model="mclp", p=37, method="exact", time_limit=60),
    "lie-mclp-budget12": st_solve(L, model="mclp", budget=12.0, time_limit=30),
    "lie-lscp-5min": st_solve(L, model="lscp", minutes=5, time_limit=60),
    "lie-pmedian-p150-heuristic": st_solve(
        L, model="pmedian", p=150, drop_unreachable=True, method="heuristic", time_limit=20
    ),
    "lie-pmedian-p150-maxd1000": st_solve(
        L, model="pmedian", p=150, max_distance=1000.0, drop_unreachable=True, time_limit=30
    ),
    "lie-capcov-p5": st_solve(lie_capacity, model="mclp", p=5, capacity="capacity", time_limit=20),
    "lie-capcov-p20": st_solve(
        lie_capacity, model="mclp", p=20, capacity="capacity", time_limit=20
    ),
    "lie-cappmedian-p150": st_solve(
        lie_capacity,
        model="pmedian",
        p=150,
        capacity="capacity",
        drop_unreachable=True,
        time_limit=20,
    ),
    "lie-two-level": two_level(
        lambda: with_districts(L(), 4),
        by="district",
        centre_minutes=15,
        station_minutes=10,
        station_target=0.8,
        time_limit=60,
    ),
    "lie-curve": curve(L, max_new=15),
    # --- public API, Helsinki demo (5-minute walk)
    "hel-target90": st_solve(H, model="target", target=0.90),
    "hel-target93-exact": st_solve(H, model="target", target=0.93, method="exact"),
    "hel-mclp-p5": st_solve(H, model="mclp", p=5),
    "hel-mclp-p5-heuristic": st_solve(H, model="mclp", p=5, method="heuristic"),
    "hel-pmedian-p30": st_solve(H, model="pmedian", p=30, drop_unreachable=True),
    "hel-pmedian-p30-maxd300": st_solve(
        H, model="pmedian", p=30, max_distance=300.0, drop_unreachable=True
    ),
    "hel-capcov-p5-heuristic": st_solve(
        hel_capacity, model="mclp", p=5, capacity="capacity", method="heuristic", time_limit=20
    ),
    "hel-cappmedian-p30": st_solve(
        hel_capacity, model="pmedian", p=30, capacity="capacity", drop_unreachable=True
    ),
    "hel-lscp": st_solve(H, model="lscp"),
    "hel-target-by-district": st_solve(
        lambda: with_districts(H(), 3), model="target", target=0.8, by="district"
    ),
    # a share as text, as the YAML takes it (an error before issue 24)
    "hel-target-percent": st_solve(H, model="target", target="90%"),
    "hel-two-level": two_level(
        lambda: with_districts(hel_two(), 3),
        by="district",
        centre_minutes=5,
        station_minutes=3,
        station_target=0.7,
    ),
    "hel-curve": curve(H),
    # --- matrix level: grid sub-instance of bench_optimize
    "grid-target90": opt("solve_target", grid_problem, 0.9, time_limit=60, seed=0),
    "grid-target90-large": opt(
        "solve_target", grid_problem, 0.9, time_limit=30, seed=0, large=True
    ),
    "grid-target90-heuristic": opt("solve_target", grid_problem, 0.9, method="heuristic"),
    "grid-mclp-p113": opt("solve_mclp", grid_problem, 113, time_limit=60, seed=0),
    "grid-mclp-p113-gap1": opt(
        "solve_mclp", grid_problem, 113, time_limit=60, seed=0, mip_gap=0.01
    ),
    "grid-mclp-p113-large": opt("solve_mclp", grid_problem, 113, time_limit=30, seed=0, large=True),
    "grid-mclp-p90-heuristic": opt("solve_mclp", grid_problem, 90, method="heuristic"),
    "grid-curve": matrix_curve(grid_problem, max_new=40),
    # --- OR-Library
    "pmed1": pmed_case("pmed1", time_limit=60),
    "pmed4": pmed_case("pmed4", time_limit=60),
    "pmed6": pmed_case("pmed6", time_limit=120),
    "pmed11-heuristic": pmed_case("pmed11", method="heuristic", time_limit=20),
    "pmedcap01": pmed_case("pmedcap01", time_limit=120),
    "pmedcap03": pmed_case("pmedcap03", time_limit=120),
    "pmedcap05-heuristic": pmed_case("pmedcap05", method="heuristic", time_limit=20),
    # --- matrix level: small seeded instances, every model and method
    "small-target-costs": opt("solve_target", lambda: small(1, costs=True), 0.8),
    "small-target-lagrangian-exact": opt(
        "solve_target", lambda: small(2), 0.8, lp=False, method="exact"
    ),
    "small-target-large-costs": opt(
        "solve_target", lambda: disc(5, 400, 60, 600), 0.8, time_limit=10, lp=False
    ),
    "small-group-target": opt(
        "solve_matrix", lambda: small(3, groups=3, density=0.3), "group_target", target=0.7
    ),
    "small-group-target-heuristic": opt(
        "solve_matrix",
        lambda: small(3, groups=3, density=0.3),
        "group_target",
        target=0.7,
        method="heuristic",
    ),
    "small-mclp-budget": opt("solve_mclp", lambda: small(4, costs=True), budget=6.0),
    "small-mclp-budget-large": opt(
        "solve_mclp", lambda: small(4, costs=True), budget=6.0, time_limit=3.0, large=True
    ),
    "small-lscp": opt("solve_lscp", lambda: small(5, density=0.1, costs=True)),
    "small-capcov": opt(
        "solve_matrix", lambda: disc(1, 150, 40, 900, capacity=1.0), "capacitated_coverage", p=8
    ),
    "small-capcov-heuristic": opt(
        "solve_matrix",
        lambda: disc(1, 150, 40, 900, capacity=1.0),
        "capacitated_coverage",
        p=8,
        method="heuristic",
        time_limit=10,
    ),
    "small-cappmedian": opt(
        "solve_matrix",
        lambda: disc(2, 80, 15, 1500, capacity=2.0),
        "capacitated_pmedian",
        p=6,
        drop_unreachable=True,
    ),
    "small-cappmedian-heuristic-split": opt(
        "solve_matrix",
        lambda: disc(2, 80, 15, 1500, capacity=2.0),
        "capacitated_pmedian",
        p=6,
        drop_unreachable=True,
        single_source=False,
        method="heuristic",
        time_limit=10,
    ),
    "small-pmedian-maxd": opt(
        "solve_matrix",
        lambda: disc(3, 100, 20, 1500),
        "pmedian",
        p=4,
        max_distance=1200.0,
        drop_unreachable=True,
    ),
}


# ---------------------------------------------------------------------- compare
def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-7)
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


IGNORED = {"seconds", "method", "cut_by"}  # informative: may change with the code


def diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        if k in IGNORED or k == "repeatable" or k == "bound_repeatable":
            continue
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict) and k != "summary":
            out += diff(a, b, f"{prefix}{k}.")
        elif not _close(a, b):
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out


def _repeatable(rec: dict) -> bool:
    return bool(rec.get("repeatable", True)) and bool(rec.get("bound_repeatable", True))


def relax_wall(factor: float) -> None:
    """Let the wall-clock safety net and HiGHS' real-time limits be ``factor`` x longer."""
    from siting.optimize import clock

    def wall_left(self) -> float:
        t = time.perf_counter()
        return max(0.0, min(factor * c.limit - (t - c.origin) for c in self._chain()))

    def wall_cap(seconds: float) -> float:
        clk = clock.current()
        return (
            factor * seconds if clk is None else max(0.01, min(factor * seconds, clk.wall_left()))
        )

    clock.WorkClock.wall_left = wall_left
    clock.wall_cap = wall_cap


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", type=Path, help="store the records here")
    ap.add_argument("--check", type=Path, help="compare with the records stored here")
    ap.add_argument("--only", help="comma-separated case names (prefixes)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--relax-wall", type=float, help="wall-clock net x this (loaded machine)")
    args = ap.parse_args(argv)
    if args.relax_wall:
        relax_wall(args.relax_wall)
    if args.list:
        print("\n".join(CASES))
        return 0
    names = list(CASES)
    if args.only:
        pre = tuple(args.only.split(","))
        names = [n for n in names if n.startswith(pre)]
    golden = json.loads(args.check.read_text()) if args.check else {}
    records: dict[str, dict] = {}
    failures = []
    for name in names:
        t = time.perf_counter()
        try:
            rec = CASES[name]()
        except Exception as exc:  # a case that raises: record the error itself
            rec = {"error": f"{type(exc).__name__}: {exc}"[:300], "repeatable": True}
        rec["seconds"] = round(time.perf_counter() - t, 2)
        records[name] = rec
        line = f"{name:36s} {rec['seconds']:7.1f} s  "
        if "error" in rec:
            line += rec["error"][:80]
        elif "objective" in rec:
            line += f"obj {rec['objective']:.6g} bound {rec['bound']:.6g} {rec['status']}"
        if not _repeatable(rec):
            line += "  [NOT REPEATABLE: " + ", ".join(rec.get("cut_by", [])) + "]"
        if golden:
            old = golden.get("records", {}).get(name)
            if old is None:
                line += "  (new case)"
            else:
                d = diff(old, rec)
                if not d:
                    line += "  SAME"
                elif _repeatable(old) and _repeatable(rec):
                    line += "  DIFFERS: " + "; ".join(d)
                    failures.append(name)
                else:
                    line += "  differs (a run was cut by the wall clock): " + "; ".join(d)
        print(line, flush=True)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        old = json.loads(args.write.read_text()) if args.write.exists() else {}
        merged = {**old.get("records", {}), **records}
        payload = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "records": merged}
        from siting.output import atomic_write_text  # records are meant to be replaced

        atomic_write_text(args.write, json.dumps(payload, indent=1, ensure_ascii=False), force=True)
    if golden:
        print(f"\n{len(names) - len(failures)} of {len(names)} cases as recorded", end="")
        print(f"; differing: {', '.join(failures)}" if failures else "")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
