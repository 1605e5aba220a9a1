"""What a norm audit adds to ``siting run``, and what ``siting audit`` takes, on Liechtenstein.

Data: ``data/audit-liechtenstein.yaml`` (the whole country's OSM extract: 14,270
buildings as demand, 12 existing facilities, 1,721 candidates, a 15-minute plan for 90%;
the audit: national-2011, 11 municipalities and 2 electoral districts from OSM, every
typed OSM facility). Three commands, each in a fresh process (no cache carried over),
alternated ``--repeat`` times:

* ``run, no audit``: the scenario without its ``audit:`` section;
* ``run + audit``: the scenario as it is: the plan, plus the audit of today's
  facilities from the same walking search, on the map, in the report and workbook;
* ``siting audit``: the audit's own folder, with the stations that close the gaps.

Columns: the median seconds per stage and in total (wall clock in the process, outputs
included). The difference of the first two totals is the audit's cost in a run.

Usage::

    python benchmarks/bench_audit_run.py [--repeat 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "data" / "audit-liechtenstein.yaml"

_CHILD = """
import json, sys, time
from siting.scenario import load_scenario, run_audit, run_scenario
kind, path, out = sys.argv[1:4]
cfg = load_scenario(path)
t = time.perf_counter()
if kind == "siting audit":
    cfg["audit"]["dir"] = out
    timings = run_audit(cfg).timings
else:
    if kind == "run, no audit":
        del cfg["audit"]
    cfg["output"] = {"dir": out}
    timings = run_scenario(cfg).timings
print(json.dumps({**timings, "total": time.perf_counter() - t}))
"""

KINDS = ("run, no audit", "run + audit", "siting audit")


def _once(kind: str, folder: Path, k: int) -> dict[str, float]:
    out = folder / f"{kind.replace(' ', '-').replace(',', '')}-{k}"
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, kind, str(SCENARIO), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    if proc.returncode:
        raise SystemExit(f"{kind} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="also write the table here")
    args = ap.parse_args()
    if not (ROOT / "data" / "liechtenstein" / "liechtenstein-latest.osm.pbf").exists():
        raise SystemExit("data/liechtenstein/liechtenstein-latest.osm.pbf is missing")
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in KINDS}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeat):
            for kind in KINDS:
                runs[kind].append(_once(kind, Path(tmp), k))
    table = pd.DataFrame({kind: pd.DataFrame(r).median() for kind, r in runs.items()})
    stages = dict.fromkeys(s for r in runs.values() for s in r[0] if s != "total")
    table = table.loc[[*stages, "total"]].round(2)
    print(f"Liechtenstein, median of {args.repeat} runs each (seconds)")
    print(table.astype(object).where(table.notna(), "").to_string())
    extra = table.loc["total", "run + audit"] - table.loc["total", "run, no audit"]
    print(f"\nthe audit adds {extra:.2f} s to the run")
    if args.json:
        Path(args.json).write_text(table.to_json(indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
