"""Batch benchmark: the four Helsinki scenarios of ``data/batch`` run by ``siting run``
serially, with ``--jobs 2`` (processes), with ``--executor dask`` (a 2-worker
``LocalCluster`` started and closed by the command) and with ``--scheduler`` (a
2-worker cluster started beforehand and kept, so its start is not counted).

Each mode runs the whole command in a fresh process (Python start and imports
included), writing the four output folders, ``--repeat`` times; the table shows the
median and the fastest wall-clock seconds. The start and close of a 2-worker
``LocalCluster`` alone is timed apart.

Usage: ``python benchmarks/bench_batch.py [--repeat 3] [--workers 2]``.
"""

from __future__ import annotations

# benchmark the checkout this file lives in (the cluster's workers import it too)
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parents[1]))

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def scenarios(folder: Path) -> list[str]:
    """Copies of ``data/batch/*.yaml`` writing their outputs under ``folder/out``."""
    paths = []
    for src in sorted((ROOT / "data" / "batch").glob("*.yaml")):
        cfg = yaml.safe_load(src.read_text(encoding="utf-8"))
        cfg["output"]["dir"] = str(folder / "out" / src.stem)
        path = folder / src.name
        path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
        paths.append(str(path))
    return paths


def wall_s(args: list[str], out: Path) -> float:
    """Seconds of one ``siting run`` (a fresh process); its outputs removed first."""
    shutil.rmtree(out, ignore_errors=True)
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "siting.cli", "run", *args, "-q"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"siting run {' '.join(args)} failed:\n{proc.stderr}")
    return seconds


def local_cluster(workers: int, scratch: str):
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        local_directory=scratch,
        silence_logs=logging.CRITICAL,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    opts = ap.parse_args()
    w = str(opts.workers)
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        folder = Path(tmp)
        paths = scenarios(folder)
        t = time.perf_counter()
        cluster = local_cluster(opts.workers, tmp)
        address = cluster.scheduler_address
        started = time.perf_counter() - t
        try:
            modes = {
                "serial": [],
                f"--jobs {w} (processes)": ["--jobs", w],
                f"--executor dask --jobs {w} (own LocalCluster)": ["--executor", "dask", "-j", w],
                f"--scheduler (running {w}-worker cluster)": ["--scheduler", address],
            }
            wall_s(paths, folder / "out")  # warm the disk caches (OSM extract, numba)
            times = {mode: [] for mode in modes}
            for _ in range(opts.repeat):  # interleaved, so a load spike hits every mode
                for mode, flags in modes.items():
                    times[mode].append(wall_s([*paths, *flags], folder / "out"))
        finally:
            t = time.perf_counter()
            cluster.close()
            closed = time.perf_counter() - t
    print(f"4 Helsinki scenarios (data/batch), {opts.repeat} runs each, wall seconds")
    print(f"{'mode':<48} {'median':>7} {'fastest':>7}")
    for mode, ts in times.items():
        print(f"{mode:<48} {statistics.median(ts):>7.1f} {min(ts):>7.1f}")
    print(f"LocalCluster of {opts.workers} workers: start {started:.1f} s, close {closed:.1f} s")


if __name__ == "__main__":
    main()
