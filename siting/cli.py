"""``siting`` command line: a thin layer over the Python API.

Commands
--------
``siting run SCENARIO.yaml [...]``  run one or more scenarios (batch)
``siting demo [--city liechtenstein|helsinki]``  the bundled end-to-end example
``siting network CITY.osm.pbf -o CITY.npz``  parse a walking network once, save it
``siting audit SCENARIO.yaml [...]``  the norm audit of each scenario's ``audit`` section
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from pathlib import Path

from .errors import SitingError

#: repository data folder (present in a clone of the project)
REPO_DATA = Path(__file__).resolve().parents[1] / "data"
DEMOS = {"liechtenstein": "demo-liechtenstein.yaml", "helsinki": "demo-helsinki.yaml"}


def _print_result(result, *, timings: bool = True) -> None:
    import pandas as pd

    with pd.option_context("display.max_colwidth", 80, "display.width", 120):
        print(f"\n{result.name}")
        print(result.table().to_string())
        if timings:
            print("\nstage timings (s)")
            print(result.timing_table().to_string())
        if "district" in result.coverage.demand.columns:
            print("\nper district")
            print(result.plan.stats("district").round(3).to_string())
    for what, path in result.outputs.items():
        print(f"wrote {what}: {path}")


def _report(where: str, exc: BaseException, verbose: bool) -> None:
    """One line per failure; the traceback only with ``--verbose``."""
    if isinstance(exc, SitingError):
        text = str(exc)
    else:  # a bug or an unforeseen input: name the exception type
        text = f"unexpected {type(exc).__name__}: {exc} (run with -v for the traceback)"
    print(f"siting: {where}{text}", file=sys.stderr)
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)


def _run(paths: list[str], force: bool, write: bool, quiet: bool, verbose: bool = False) -> int:
    """Run every scenario; a failing one is reported and the batch goes on."""
    from .scenario import run_scenario

    failed: list[str] = []
    for p in paths:
        say = (lambda s: None) if quiet else (lambda s: print(f"  {s}", file=sys.stderr))
        try:
            result = run_scenario(p, force=force, write=write, progress=say)
            _print_result(result)
        except Exception as exc:  # report per scenario, keep going with the others
            _report(f"{p}: " if not str(exc).startswith(p) else "", exc, verbose)
            failed.append(p)
    if failed and len(paths) > 1:
        print(
            f"siting: {len(failed)} of {len(paths)} scenarios failed: {', '.join(failed)}",
            file=sys.stderr,
        )
    return 1 if failed else 0


def _demo(city: str, force: bool, out: str | None, verbose: bool = False) -> int:
    from .scenario import load_scenario, run_scenario

    cfg_path = REPO_DATA / DEMOS[city]
    if not cfg_path.exists():
        print(
            f"siting: the demo scenario {cfg_path} is not here; run the demo from a clone of "
            "the siting repository (it ships the data in data/).",
            file=sys.stderr,
        )
        return 2
    t = time.perf_counter()
    try:
        cfg = load_scenario(cfg_path)
        if out:
            cfg["output"] = {**(cfg.get("output") or {}), "map": str(Path(out).resolve())}
        # run_scenario refuses existing outputs before it reads any data
        result = run_scenario(cfg, force=force, progress=lambda s: print(f"  {s}", file=sys.stderr))
        _print_result(result)
    except Exception as exc:
        _report("", exc, verbose)
        return 1
    print(f"done in {time.perf_counter() - t:.1f} s")
    return 0


def _network(pbf: str, out: str, force: bool, verbose: bool = False) -> int:
    from .io.network import read_network
    from .output import check_writable

    try:
        target = Path(out)
        if target.suffix != ".npz":  # Network.save writes .npz
            target = target.with_suffix(".npz")
        check_writable(target, force=force)  # before the (slow) parse
        net = read_network(pbf)
        path = net.save(target, force=force)
    except Exception as exc:
        _report("", exc, verbose)
        return 1
    print(f"{net}\n{net.info}\nwrote {path}")
    return 0


def _print_audit(result) -> None:
    import pandas as pd

    a = result.audit
    s = a.summary()
    c = a.compliance
    units = ", ".join(f"{k} {v} ({s['attribution'][k]})" for k, v in s["units"].items())
    counts = c["status"].value_counts().to_dict()
    print(f"\n{result.name}\nnorms: {s['preset']} ({s['title']})")
    print(f"units: {units or 'none given'}; facilities: {s['facilities']}")
    print("compliance rows: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    with pd.option_context("display.max_colwidth", 70, "display.width", 160):
        if not a.by_unit.empty:
            cols = ["population", "households", "status", "failed", "shortfall_text"]
            print(a.by_unit[cols].round(0).to_string())
        if s["complete_share"]:
            print(
                "persons with the complete basket within reach: "
                + ", ".join(f"{k} {v:.1%}" for k, v in s["complete_share"].items())
            )
    if s["facilities_missing_floor_area"]:
        print(f"{s['facilities_missing_floor_area']} facilities have no floor area: see the table")
    if result.plan is not None:
        print(repr(result.plan))
    for what, path in result.outputs.items():
        print(f"wrote {what}: {path}")


def _audit(paths: list[str], force: bool, write: bool, quiet: bool, verbose: bool) -> int:
    """Audit every scenario; a failing one is reported and the batch goes on."""
    from .scenario import run_audit

    failed = 0
    for p in paths:
        say = (lambda s: None) if quiet else (lambda s: print(f"  {s}", file=sys.stderr))
        try:
            _print_audit(run_audit(p, force=force, write=write, progress=say))
        except Exception as exc:  # report per scenario, keep going with the others
            _report(f"{p}: " if not str(exc).startswith(p) else "", exc, verbose)
            failed += 1
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``siting`` command."""
    ap = argparse.ArgumentParser(prog="siting", description=__doc__.split("\n")[0])
    ap.add_argument(
        "-v", "--verbose", action="store_true", help="log details; tracebacks of failures"
    )
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run scenario YAML files")
    r.add_argument("scenario", nargs="+")
    r.add_argument("--force", action="store_true", help="overwrite existing outputs")
    r.add_argument("--dry-run", action="store_true", help="compute, write nothing")
    r.add_argument("-q", "--quiet", action="store_true")
    d = sub.add_parser("demo", help="the bundled end-to-end example")
    d.add_argument("--city", choices=sorted(DEMOS), default="liechtenstein")
    d.add_argument("--force", action="store_true", help="overwrite the demo's outputs")
    d.add_argument("--out", help="map file (default from the demo scenario)")
    n = sub.add_parser("network", help="parse an OSM walking network and save it")
    n.add_argument("pbf")
    n.add_argument("-o", "--out", required=True)
    n.add_argument("--force", action="store_true")
    au = sub.add_parser("audit", help="the norm audit of scenario YAML files (audit: section)")
    au.add_argument("scenario", nargs="+")
    au.add_argument("--force", action="store_true", help="overwrite existing outputs")
    au.add_argument("--dry-run", action="store_true", help="compute, write nothing")
    au.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command == "run":
        return _run(args.scenario, args.force, not args.dry_run, args.quiet, args.verbose)
    if args.command == "audit":
        return _audit(args.scenario, args.force, not args.dry_run, args.quiet, args.verbose)
    if args.command == "demo":
        return _demo(args.city, args.force, args.out, args.verbose)
    return _network(args.pbf, args.out, args.force, args.verbose)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
