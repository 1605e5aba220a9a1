"""``siting`` command line: a thin layer over the Python API.

Commands
--------
``siting init [DIR]``  write a commented starter scenario (``--lang zh|en``)
``siting validate SCENARIO.yaml [...]``  check scenarios and their inputs, without solving
``siting run SCENARIO.yaml [...] [--jobs N] [--executor dask [--scheduler ADDR]]``  run
scenarios (in parallel processes with ``--jobs``, or on a Dask cluster)
``siting compare OUT_A OUT_B``  sites added / removed and coverage per district
``siting demo [--city liechtenstein|helsinki|wuhan]``  the bundled end-to-end examples
``siting network CITY.osm.pbf -o CITY.npz``  parse a walking network once, save it
``siting audit SCENARIO.yaml [...]``  the norm audit of each scenario's ``audit`` section,
written into its own folder (``audit.dir``, default ``<output.dir>-audit``)

See ``docs/cli.md`` for every option, the scenario file's keys and the output folder.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import SitingError

#: repository data folder (present in a clone of the project)
REPO_DATA = Path(__file__).resolve().parents[1] / "data"
DEMOS = {
    "liechtenstein": "demo-liechtenstein.yaml",
    "helsinki": "demo-helsinki.yaml",
    "wuhan": "demo-wuhan.yaml",
}
#: starter scenarios written by ``siting init`` (package data)
TEMPLATES = Path(__file__).resolve().parent / "data"
#: exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it)
INTERRUPTED = 130


# ----------------------------------------------------------------------------- printing
def _err(text: str) -> None:
    print(text, file=sys.stderr)


def _report(where: str, exc: BaseException, verbose: bool) -> None:
    """One line per failure; the traceback only with ``--verbose``."""
    if isinstance(exc, SitingError):
        text = str(exc)
    else:  # a bug or an unforeseen input: name the exception type
        text = f"unexpected {type(exc).__name__}: {exc} (run with -v for the traceback)"
    _err(f"siting: {where}{text}")
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)


def _outcome_text(outcome, *, timings: bool = True) -> str:
    """A finished scenario as text: its table, stage timings, districts, files written."""
    import pandas as pd

    lines = [f"\n{outcome.name}"]
    with pd.option_context("display.max_colwidth", 80, "display.width", 120):
        lines += _two_columns(outcome.table)
        if timings and outcome.timings:
            t = pd.Series(outcome.timings, name="seconds").round(2).to_frame()
            t.loc["total"] = round(sum(outcome.timings.values()), 2)
            lines += ["\nstage timings (s)", t.to_string()]
        if outcome.districts is not None:
            lines += ["\nper district", outcome.districts.round(3).to_string()]
    lines += _written(outcome.outputs)
    return "\n".join(lines)


def _two_columns(table) -> list[str]:
    """The run's table as ``label  value`` lines, left-aligned (values can be long)."""
    width = max((len(str(k)) for k in table.index), default=0)
    return [f"{k!s:<{width}}  {v}" for k, v in table.iloc[:, 0].items()]


def _written(outputs: dict[str, str]) -> list[str]:
    """``wrote FOLDER (files)``, then any file written outside the folder."""
    folder = outputs.get("folder")
    inside = [Path(p).name for k, p in outputs.items() if folder and Path(p).parent == Path(folder)]
    lines = [f"wrote {folder} ({', '.join(inside)})"] if folder else []
    lines += [
        f"wrote {what}: {p}"
        for what, p in outputs.items()
        if what != "folder" and not (folder and Path(p).parent == Path(folder))
    ]
    return lines


def _show_bars(args: argparse.Namespace) -> bool:
    """Bars on a terminal, unless ``--quiet``; ``--progress`` forces them."""
    if getattr(args, "quiet", False):
        return False
    return bool(getattr(args, "progress", False)) or sys.stderr.isatty()


def _stage_display(args: argparse.Namespace) -> Callable[[str], Any] | None:
    """For each scenario, how its stages are shown: a bar, lines on stderr, or nothing."""
    if getattr(args, "quiet", False):
        return None
    from .progress import BarDisplay, LineDisplay

    if _show_bars(args):
        return lambda path: BarDisplay(title=Path(path).name, enabled=True)
    return lambda path: LineDisplay(lambda s: _err(f"  {s}"))


# ----------------------------------------------------------------------------- run
def _run(args: argparse.Namespace) -> int:
    """Run every scenario; a failing one is reported and the batch goes on."""
    from .batch import Interrupted, run_batch, summary_table

    paths = list(args.scenario)
    backend = _run_backend(args, len(paths))
    if backend is None:
        return 2
    bar = _batch_bar(args, len(paths), parallel=backend != "serial")

    def done(outcome) -> None:
        if outcome.ok:
            _write_out(_outcome_text(outcome), bar)
        else:
            where = "" if outcome.error.startswith(outcome.source) else f"{outcome.source}: "
            _write_err(f"siting: {where}{outcome.error}", bar)
            if args.verbose and outcome.traceback:
                _write_err(outcome.traceback.rstrip(), bar)
        if bar is not None:
            bar.update(1)

    try:
        outcomes = run_batch(
            paths,
            jobs=args.jobs,
            backend=backend,
            scheduler=args.scheduler,
            force=args.force,
            write=not args.dry_run,
            on_done=done,
            progress=None if bar is not None else _stage_display(args),
        )
    except Interrupted as stop:
        _close(bar)
        wrote = [o for o in stop.finished if o.ok and o.outputs]
        _err(
            "siting: interrupted (Ctrl-C); "
            + (
                f"{len(wrote)} scenario(s) had finished and written their outputs; "
                "the others wrote nothing."
                if wrote
                else "nothing was written."
            )
        )
        return INTERRUPTED
    except SitingError as exc:  # the batch could not start (e.g. no scheduler there)
        _close(bar)
        _report("", exc, args.verbose)
        return 2
    _close(bar)
    failed = [o for o in outcomes if not o.ok]
    if len(paths) > 1:
        import pandas as pd

        with pd.option_context("display.max_colwidth", 60, "display.width", 160):
            print(f"\nbatch of {len(paths)} scenarios")
            print(summary_table(outcomes).to_string(index=False))
    if failed and len(paths) > 1:
        _err(
            f"siting: {len(failed)} of {len(paths)} scenarios failed: "
            + ", ".join(o.source for o in failed)
        )
    return 1 if failed else 0


def _run_backend(args: argparse.Namespace, n: int) -> str | None:
    """The batch's backend from ``--jobs``, ``--executor``, ``--scheduler`` (None: the
    options do not fit together, said in one line)."""
    from .batch import backend_for

    given = args.scheduler is not None
    try:
        backend = backend_for(n, jobs=args.jobs, backend=args.executor, cluster=given)
    except SitingError as exc:
        _report("", exc, args.verbose)
        return None
    if backend == "dask":  # Dask's own log lines only with -v: failures are ours to report
        import distributed  # noqa: F401  (its import sets the level: set it afterwards)

        level = logging.INFO if args.verbose else logging.CRITICAL
        logging.getLogger("distributed").setLevel(level)
    return backend


def _batch_bar(args: argparse.Namespace, n: int, *, parallel: bool):
    """One bar over the scenarios of a parallel batch (None when serial or hidden)."""
    if not parallel or n <= 1 or not _show_bars(args):
        return None
    from tqdm.auto import tqdm

    return tqdm(total=n, unit="scenario", desc="scenarios", file=sys.stderr)


def _write_out(text: str, bar) -> None:
    if bar is None:
        print(text)
    else:
        bar.write(text, file=sys.stdout)


def _write_err(text: str, bar) -> None:
    if bar is None:
        _err(text)
    else:
        bar.write(text, file=sys.stderr)


def _close(bar) -> None:
    if bar is not None:
        bar.close()


# ----------------------------------------------------------------------------- demo
def _demo(args: argparse.Namespace) -> int:
    from .scenario import load_scenario

    cfg_path = REPO_DATA / DEMOS[args.city]
    if not cfg_path.exists():
        _err(
            f"siting: the demo scenario {cfg_path} is not here; run the demo from a clone "
            "of the siting repository (it ships the data in data/)."
        )
        return 2
    t = time.perf_counter()
    try:
        cfg = load_scenario(cfg_path)
        if args.out:  # the whole bundle goes there, and nothing anywhere else
            cfg["output"] = {**(cfg.get("output") or {}), "dir": str(Path(args.out).resolve())}
            cfg["output"].pop("map", None)
    except SitingError as exc:
        _report("", exc, args.verbose)
        return 1
    code = _run_config(cfg, args)
    if code == 0:
        print(f"done in {time.perf_counter() - t:.1f} s")
    return code


def _run_config(cfg, args: argparse.Namespace) -> int:
    """Run one loaded scenario in this process, printing its tables."""
    from .batch import run_one

    display = _stage_display(args)
    progress = display(cfg.get("_file", "scenario")) if display is not None else None
    outcome = run_one(cfg, force=args.force, write=True, progress=progress)
    if not outcome.ok:
        _err(f"siting: {outcome.error}")
        if args.verbose and outcome.traceback:
            _err(outcome.traceback.rstrip())
        return 1
    print(_outcome_text(outcome))
    return 0


# ----------------------------------------------------------------------------- network
def _network(args: argparse.Namespace) -> int:
    from .io.network import read_network
    from .output import check_writable

    try:
        target = Path(args.out)
        if target.suffix != ".npz":  # Network.save writes .npz
            target = target.with_suffix(".npz")
        check_writable(target, force=args.force)  # before the (slow) parse
        net = read_network(args.pbf)
        path = net.save(target, force=args.force)
    except Exception as exc:
        _report("", exc, args.verbose)
        return 1
    print(f"{net}\n{net.info}\nwrote {path}")
    return 0


# ----------------------------------------------------------------------------- init
def _init(args: argparse.Namespace) -> int:
    from .output import atomic_write_text

    folder = Path(args.dir)
    target = folder / args.name
    text = (TEMPLATES / f"scenario-{args.lang}.yaml").read_text(encoding="utf-8")
    try:
        atomic_write_text(target, text, force=args.force)
    except SitingError as exc:
        _report("", exc, args.verbose)
        return 1
    next_steps = {
        "en": (
            f"wrote {target}\nnext: edit the paths in it, then\n"
            f"  siting validate {target}\n  siting run {target}"
        ),
        "zh": (
            f"已写出 {target}\n下一步：修改其中的路径，然后运行\n"
            f"  siting validate {target}\n  siting run {target}"
        ),
    }
    print(next_steps[args.lang])
    return 0


# ----------------------------------------------------------------------------- validate
def _validate(args: argparse.Namespace) -> int:
    from .scenario import load_scenario
    from .scenario_inputs import check_inputs

    bad = 0
    for path in args.scenario:
        print(f"{path}")
        try:
            cfg = load_scenario(path)
            findings = check_inputs(cfg)
        except SitingError as exc:
            print(f"  error   {exc}")
            bad += 1
            continue
        for f in findings:
            print(f"  {f.level:<7} {f.what}: {f.text}")
        errors = sum(f.level == "error" for f in findings)
        bad += errors > 0
        print(f"  FAILED: {errors} error(s)" if errors else "  OK")
    if len(args.scenario) > 1:
        print(f"{len(args.scenario) - bad} of {len(args.scenario)} scenarios passed")
    return 1 if bad else 0


# ----------------------------------------------------------------------------- compare
def _compare(args: argparse.Namespace) -> int:
    from .compare import compare_bundles

    try:
        print(compare_bundles(args.a, args.b).text())
    except SitingError as exc:
        _report("", exc, args.verbose)
        return 1
    return 0


# ----------------------------------------------------------------------------- audit
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
    for line in _written(result.outputs):
        print(line)


def _audit(args: argparse.Namespace) -> int:
    """Audit every scenario; a failing one is reported and the batch goes on."""
    from .scenario import run_audit

    failed = wrote = 0
    display = _stage_display(args)
    for p in args.scenario:
        progress = display(p) if display is not None else None
        try:
            result = run_audit(p, force=args.force, write=not args.dry_run, progress=progress)
        except KeyboardInterrupt:  # the folder being written is removed by OutputFolder
            done = (
                f"{wrote} scenario(s) had finished and written their audit; the others wrote "
                "nothing."
                if wrote
                else "nothing was written."
            )
            _err(f"siting: interrupted (Ctrl-C); {done}")
            return INTERRUPTED
        except Exception as exc:  # report per scenario, keep going with the others
            _report(f"{p}: " if not str(exc).startswith(p) else "", exc, args.verbose)
            failed += 1
            continue
        _print_audit(result)
        wrote += bool(result.outputs)
    return 1 if failed else 0


# ----------------------------------------------------------------------------- parser
def _parser() -> argparse.ArgumentParser:
    from .batch import BACKENDS

    ap = argparse.ArgumentParser(
        prog="siting",
        description="siting: plan community service facilities within walking distance.",
        epilog="example:\n  siting init myplan && siting validate myplan/scenario.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "-v", "--verbose", action="store_true", help="log details; tracebacks of failures"
    )
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str,
        help: str,
        example: str,
        *,
        scenarios: str | None = None,
        force: str | None = None,
        dry_run: bool = False,
    ) -> argparse.ArgumentParser:
        """A subcommand, with the arguments several share (their help given)."""
        p = sub.add_parser(
            name,
            help=help,
            description=help,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if scenarios:
            p.add_argument("scenario", nargs="+", help=scenarios)
        if force:
            p.add_argument("--force", action="store_true", help=force)
        if dry_run:
            p.add_argument("--dry-run", action="store_true", help="compute, write nothing")
        return p

    def show_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
        p.add_argument(
            "--progress",
            action="store_true",
            help="progress bars even when stderr is not a terminal",
        )

    i = command(
        "init",
        "write a commented starter scenario",
        "siting init myplan --lang zh",
        force="overwrite an existing file",
    )
    i.add_argument("dir", nargs="?", default=".", help="folder to write it in (default: here)")
    i.add_argument("--lang", choices=("en", "zh"), default="en", help="comments in en or zh")
    i.add_argument("--name", default="scenario.yaml", help="file name (default scenario.yaml)")

    command(
        "validate",
        "check scenarios and their inputs (files, CRS, columns, extents) without solving",
        "siting validate data/demo-*.yaml",
        scenarios="scenario YAML files",
    )

    r = command(
        "run",
        "run scenario YAML files (one after another, in parallel with --jobs, or on Dask)",
        "siting run data/batch/*.yaml --jobs 2",
        scenarios="scenario YAML files",
        force="replace existing output folders",
        dry_run=True,
    )
    r.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        help="scenarios run at once (processes; default 1, with --executor dask one per core)",
    )
    r.add_argument(
        "--executor",
        choices=sorted(BACKENDS),
        default=None,
        help="where the scenarios run: serial, process, or dask (a local cluster, or the "
        "one at --scheduler); default: process with --jobs > 1, else serial",
    )
    r.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="run on this running Dask cluster (e.g. tcp://host:8786; implies --executor "
        "dask; its workers must see the files at the same paths); it is left running",
    )
    show_options(r)

    c = command(
        "compare",
        "compare two output folders: sites added and removed, coverage per district",
        "siting compare out/plan-a out/plan-b",
    )
    c.add_argument("a", help="output folder A (output.dir of a run)")
    c.add_argument("b", help="output folder B")

    d = command(
        "demo",
        "run a bundled end-to-end example",
        "siting demo --city wuhan --out wuhan",
        force="replace the demo's outputs",
    )
    d.add_argument("--city", choices=sorted(DEMOS), default="liechtenstein")
    d.add_argument("--out", help="output folder for the whole bundle (default: the scenario's)")
    show_options(d)

    n = command(
        "network",
        "parse an OSM walking network and save it (.npz)",
        "siting network city.osm.pbf -o city.npz",
        force="overwrite an existing file",
    )
    n.add_argument("pbf", help="OSM extract (.osm.pbf)")
    n.add_argument("-o", "--out", required=True, help="network file to write (.npz)")

    au = command(
        "audit",
        "the norm audit of scenario YAML files (their audit: section)",
        "siting audit data/audit-liechtenstein.yaml --force",
        scenarios="scenario YAML files with an audit: section",
        force="replace existing audit folders (audit.dir)",
        dry_run=True,
    )
    show_options(au)
    return ap


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "init": _init,
    "validate": _validate,
    "run": _run,
    "compare": _compare,
    "demo": _demo,
    "network": _network,
    "audit": _audit,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``siting`` command."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:  # partial outputs are removed where they were written
        _err("siting: interrupted (Ctrl-C); nothing was written.")
        return INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
