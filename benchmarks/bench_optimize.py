"""Benchmark: fewest new sites for 90% coverage (partial set covering), ours vs peers.

Instances (BENCHMARKS.md, "Siting"; built exactly like shared/bench/peer_baseline.py):

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
* ``ours-mclp``: :func:`siting.optimize.solve_mclp` at the p found by ``ours``.
* ``highs``: plain ``scipy.optimize.milp`` on the unreduced model (``--highs-limit`` s).
* ``spopt``: spopt 0.7 ``MCLP`` (PuLP + CBC) bisection on p, on ``grid-sub`` only (spopt
  builds a dense model in Python: the full instances are out of its reach, see
  BENCHMARKS.md). ``--quick`` runs one spopt solve at the optimal p instead of the
  bisection and says so.

Usage::

    python benchmarks/bench_optimize.py [--quick] [--json out.json] [--highs-limit 60]
"""

from __future__ import annotations

# benchmark the checkout this file lives in, not some other installed copy
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))

import argparse
import json
import os
import resource
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


def load_instance(name: str) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, str]:
    """(cover demand x sites, population, existing mask, description)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / ".gitignore").write_text("*\n")
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
    from siting.optimize import CoverageProblem, solve_target

    P = CoverageProblem(cover=cover, weight=pop, existing=existing)
    out = []
    for stage in ("cold", "warm"):
        t = time.perf_counter()
        s = solve_target(P, TARGET, time_limit=args.time_limit, seed=0)
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
            }
        )
        if stage == "cold" and args.quick and sec > 30:
            break
    if out[-1]["seconds"] > 10.5:  # the 10-second budget of BENCHMARKS.md
        t = time.perf_counter()
        s = solve_target(P, TARGET, time_limit=10.0, seed=0)
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
            }
        )
    return out


def run_ours_mclp(cover, pop, existing, args) -> list[dict]:
    from siting.optimize import CoverageProblem, solve_mclp, solve_target

    P = CoverageProblem(cover=cover, weight=pop, existing=existing)
    p = solve_target(P, TARGET, time_limit=min(args.time_limit, 10.0)).n_new
    t = time.perf_counter()
    s = solve_mclp(P, p, time_limit=args.time_limit)
    return [
        {
            "stage": f"mclp-p{p}",
            "seconds": time.perf_counter() - t,
            "objective": s.objective,
            "bound": s.bound,
            "gap": s.gap,
            "status": s.status,
            "method": "ours",
            "detail": s.method,
            "share": s.covered_share,
        }
    ]


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


def run_spopt(cover, pop, existing, args) -> list[dict]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pulp
        from spopt.locate import MCLP

    from siting.optimize import CoverageProblem, solve_target

    P = CoverageProblem(cover=cover, weight=pop, existing=existing)
    opt = solve_target(P, TARGET, time_limit=60).n_new
    t0 = time.perf_counter()
    C = cover.T.toarray()  # sites x demand
    cost = np.where(C.T, 1.0, 2 * RADIUS)
    pre = existing.astype(int)
    solves = []

    def share(p_new: int) -> float:
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = MCLP.from_cost_matrix(
                cost,
                pop,
                service_radius=RADIUS,
                p_facilities=int(existing.sum()) + p_new,
                predefined_facilities_arr=pre,
            )
            m.solve(pulp.PULP_CBC_CMD(msg=False))
        sel = np.array([v.value() is not None and v.value() > 0.5 for v in m.fac_vars])
        s = float(pop[C[sel].any(axis=0)].sum() / pop.sum())
        solves.append({"new_sites": p_new, "seconds": time.perf_counter() - t, "share": s})
        return s

    if args.quick:
        share(opt)
        note = f"one spopt MCLP solve at p={opt} (--quick); a bisection needs ~8 such solves"
        best = opt if solves[-1]["share"] >= TARGET else None
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
            "method": "spopt MCLP, 1 solve at p*"
            if args.quick
            else "spopt MCLP bisection (PuLP+CBC)",
            "solves": solves,
        }
    ]


METHODS = {"ours": run_ours, "ours-mclp": run_ours_mclp, "highs": run_highs, "spopt": run_spopt}


def child(spec: str, args) -> None:
    inst, meth = spec.split(":")
    cover, pop, existing, desc = load_instance(inst)
    recs = METHODS[meth](cover, pop, existing, args)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
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
def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="skip the slow peer runs")
    ap.add_argument("--json", type=Path, help="write the records to this JSON file")
    ap.add_argument("--highs-limit", type=float, default=60.0, help="plain HiGHS limit (s)")
    ap.add_argument(
        "--time-limit", type=float, default=None, help="our time limit (s); 60, --quick 10"
    )
    ap.add_argument("--instances", default="liechtenstein,grid-sub,grid")
    ap.add_argument("--methods", default="ours,ours-mclp,highs,spopt")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.time_limit is None:
        args.time_limit = 10.0 if args.quick else 60.0
    if args.child:
        child(args.child, args)
        return []
    records: list[dict] = []
    passthru = [
        a for a in (argv if argv is not None else sys.argv[1:]) if not a.startswith("--json")
    ]
    if args.json and str(args.json) in passthru:
        passthru.remove(str(args.json))
    for inst in args.instances.split(","):
        for meth in args.methods.split(","):
            if meth == "spopt" and inst != "grid-sub":
                print(
                    f"# spopt on {inst}: not run (dense PuLP model; BENCHMARKS.md: building "
                    "alone > 600 s on the full grid); spopt is timed on grid-sub",
                    flush=True,
                )
                continue
            if meth == "spopt":
                try:
                    import pulp  # noqa: F401
                    import spopt  # noqa: F401
                except ImportError:
                    print("# spopt / pulp not installed: spopt run skipped", flush=True)
                    continue
            if meth == "highs" and args.quick and inst == "grid":
                print(
                    "# plain HiGHS on the full grid: not run with --quick (BENCHMARKS.md: "
                    "no feasible solution in 300 s)",
                    flush=True,
                )
                continue
            t = time.perf_counter()
            p = subprocess.run(
                [sys.executable, __file__, *passthru, "--child", f"{inst}:{meth}"],
                capture_output=True,
                text=True,
                check=False,
            )
            line = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
            if not line:
                msg = (p.stderr.strip().splitlines() or ["no output"])[-1]
                print(f"# {inst} / {meth}: failed or skipped: {msg}", flush=True)
                continue
            for r in json.loads(line[-1][7:]):
                r["process_wall_s"] = time.perf_counter() - t
                records.append(r)
                print(_row(r), flush=True)
    print()
    print(table(records))
    if args.json:
        args.json.write_text(json.dumps(records, indent=1, default=float))
    return records


HEAD = ("instance", "model", "method", "seconds", "objective", "bound", "gap", "peak MB")


def _row(r: dict) -> str:
    return (
        f"{r['instance']:<14} {r['stage']:<12} {r['method']:<34} {r['seconds']:8.2f} "
        f"{r['objective']:>12.6g} {r['bound']:>12.6g} {r['gap']:>8.4f} {r['peak_mb']:7.0f}"
    )


def table(records: list[dict]) -> str:
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    for r in records:
        gap = r["gap"]
        lines.append(
            f"| {r['instance']} | {r['stage']} | {r['method']} | {r['seconds']:.2f} | "
            f"{r['objective']:.6g} | {r['bound']:.6g} | "
            f"{'-' if gap != gap else f'{gap:.2%}'} | {r['peak_mb']:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
