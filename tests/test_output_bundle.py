"""Outputs are written as a whole and never clobber what the user had: typed errors up
front, a bundle replaced only with --force, leftovers of killed runs cleaned, the same
bytes for the same inputs, tables that Excel opens with Chinese names intact.

Runs on a tiny synthetic city (``small_city``), through the CLI where it matters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import small_city

import siting
import siting.io.network
from siting.cli import main
from siting.errors import OutputExistsError, OutputPathError
from siting.output import OutputFolder, check_output_dir, clean_leftovers

BUNDLE = {"plan.gpkg", "stats.csv", "summary.json", "tables.xlsx", "map.html", "report.html"}


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> dict[str, Path]:
    return small_city.write_city(tmp_path_factory.mktemp("city"))


@pytest.fixture(scope="module")
def plan(city):
    import siting as st

    net = st.read_network(city["network"])
    demand = st.read_population(city["population"], x="x", y="y", crs=small_city.CRS)
    cands = st.read_candidates(city["candidates"], x="x", y="y", crs=small_city.CRS)
    cov = st.coverage(net, demand, None, cands, minutes=5)
    return st.solve(cov, model="target", target=0.8)


def scenario(tmp_path: Path, city, out: Path, name: str = "s.yaml", **solve) -> Path:
    path = tmp_path / name
    path.write_text(small_city.scenario_text(city, out, **solve), encoding="utf-8")
    return path


class ReachedTheData(AssertionError):
    pass


@pytest.fixture
def no_loading(monkeypatch):
    def read_network(*args, **kwargs):
        raise ReachedTheData("the scenario started loading data")

    monkeypatch.setattr(siting.io.network, "read_network", read_network)


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ----------------------------------------------------------------------------- Plan.to_file
def test_to_file_onto_a_file_is_a_typed_error_and_keeps_the_file(tmp_path, plan):
    target = tmp_path / "plan-output"
    target.write_text("mine")
    with pytest.raises(OutputPathError, match="is a file, not a folder") as info:
        plan.to_file(target)
    assert isinstance(info.value, OSError)
    assert str(target) in str(info.value)
    assert target.read_text() == "mine"
    assert hidden(tmp_path) == []


def test_to_file_replaces_a_bundle_only_with_force_and_as_a_whole(tmp_path, plan):
    out = tmp_path / "out"
    written = plan.to_file(out)
    assert {p.name for p in out.iterdir()} == BUNDLE
    assert set(written) >= {"gpkg", "stats", "summary", "tables", "map"}
    (out / "stats.csv").write_text("edited by hand")
    with pytest.raises(OutputExistsError, match="force"):
        plan.to_file(out)
    assert (out / "stats.csv").read_text() == "edited by hand"
    (out / "report.html").write_text("from a later version")  # a bundle file name
    plan.to_file(out, force=True)
    assert {p.name for p in out.iterdir()} == BUNDLE  # replaced whole: no stale file
    assert (out / "stats.csv").read_text(encoding="utf-8-sig").startswith("area,")
    assert hidden(tmp_path) == []


def test_force_never_deletes_files_siting_did_not_write(tmp_path, plan):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.docx").write_text("the planner's notes")
    with pytest.raises(OutputExistsError, match=r"did not write \(notes\.docx\)"):
        plan.to_file(out, force=True)
    assert (out / "notes.docx").read_text() == "the planner's notes"
    assert [p.name for p in out.iterdir()] == ["notes.docx"]


def test_an_empty_folder_is_used_without_force(tmp_path, plan):
    (tmp_path / "out").mkdir()
    plan.to_file(tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} == BUNDLE


def test_a_failing_write_leaves_nothing(tmp_path, plan, monkeypatch):
    import siting.bundle

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(siting.bundle, "write_xlsx", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        plan.to_file(tmp_path / "a" / "b" / "out")
    assert list(tmp_path.iterdir()) == []  # not even the parent folders it created


# ----------------------------------------------------------------------------- scenario runs
def test_cli_refuses_an_output_dir_that_is_a_file_before_loading(
    tmp_path, city, no_loading, capsys
):
    target = tmp_path / "out"
    target.write_text("mine")
    assert main(["run", str(scenario(tmp_path, city, target))]) == 1
    err = capsys.readouterr().err
    assert "output.dir" in err and "is a file" in err and "unexpected" not in err
    assert target.read_text() == "mine"


@pytest.fixture
def read_only_sys() -> Path:
    """``/sys``, a folder that refuses new entries even to root (else the test skips)."""
    if not Path("/sys").is_dir():
        pytest.skip("needs a read-only /sys (Linux)")
    try:
        (Path("/sys") / "siting-probe").mkdir()
    except OSError:
        return Path("/sys")
    (Path("/sys") / "siting-probe").rmdir()  # pragma: no cover
    pytest.skip("/sys is writable here")  # pragma: no cover


def test_cli_refuses_an_unwritable_folder_before_loading(
    tmp_path, city, no_loading, capsys, read_only_sys
):
    out = read_only_sys / "siting-test-out"
    assert main(["run", str(scenario(tmp_path, city, out))]) == 1
    err = capsys.readouterr().err
    assert "cannot write in /sys" in err and "unexpected" not in err
    assert not out.exists()


def test_an_unwritable_folder_is_an_os_error_too(tmp_path):
    target = tmp_path / "f" / "out"
    (tmp_path / "f").write_text("a file where a folder should be")
    with pytest.raises(OutputPathError, match="is a file, not a folder") as info:
        check_output_dir(target, force=True)
    assert isinstance(info.value, OSError)


def test_leftovers_of_a_dead_run_are_cleaned_and_a_live_one_kept(tmp_path):
    out = tmp_path / "out"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".out.siting-tmp-{dead_pid}-abc"
    stale.mkdir()
    (stale / "plan.gpkg").write_bytes(b"half")
    stale_file = tmp_path / f".out.siting-tmp-{dead_pid}-xyz.html"
    stale_file.write_text("half")
    live = tmp_path / f".out.siting-tmp-{os.getppid()}-def"  # pytest's parent is alive
    live.mkdir()
    other = tmp_path / f".other.siting-tmp-{dead_pid}-abc"  # another target's: not ours
    other.mkdir()
    removed = clean_leftovers(out)
    assert sorted(removed) == sorted([stale, stale_file])
    assert live.exists() and other.exists()


def test_same_inputs_give_the_same_bytes(tmp_path, city):
    runs = []
    for k in (1, 2):
        out = tmp_path / f"out{k}"
        assert main(["run", str(scenario(tmp_path, city, out, f"s{k}.yaml", seed=3)), "-q"]) == 0
        runs.append(out)
    for name in ("plan.gpkg", "stats.csv"):
        assert (runs[0] / name).read_bytes() == (runs[1] / name).read_bytes(), name
    summaries = [json.loads((r / "summary.json").read_text(encoding="utf-8")) for r in runs]
    same_words = {k: v for k, v in summaries[0].items() if k not in ("timings", "scenario_file")}
    if same_words == {k: summaries[1][k] for k in same_words}:
        # the workbook repeats too, unless a loaded machine's wall clock cut a search
        # short in one run only (its summary sheet then says "repeatable: no")
        assert (runs[0] / "tables.xlsx").read_bytes() == (runs[1] / "tables.xlsx").read_bytes()
    summary = summaries[0]
    assert "solve_seconds" not in summary  # every timing is under "timings"
    assert set(summary["timings"]) == {"stage_seconds", "solver_seconds"}
    assert "coverage" in summary["timings"]["stage_seconds"]
    assert not [k for k in summary if "second" in k or ("time" in k and k != "time_limit")]
    xlsx = pd.read_excel(runs[0] / "tables.xlsx", sheet_name="summary")
    assert not xlsx.iloc[:, 0].astype(str).str.contains("run time").any()


def test_tables_open_in_excel_with_chinese_names(tmp_path, city):
    out = tmp_path / "out"
    assert main(["run", str(scenario(tmp_path, city, out)), "-q"]) == 0
    raw = (out / "stats.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 byte-order mark: Excel reads UTF-8
    stats = pd.read_csv(out / "stats.csv", encoding="utf-8-sig", index_col=0)
    assert set(small_city.DISTRICTS) <= set(stats.index)
    book = pd.read_excel(out / "tables.xlsx", sheet_name=None)
    assert list(book) == ["summary", "districts", "sites"]
    assert set(small_city.DISTRICTS) <= set(book["districts"]["district"])
    names = set(book["sites"]["name"])
    assert small_city.EXISTING in names
    assert any(n.startswith("候选点") for n in names)
    assert {"status", "lon", "lat"} <= set(book["sites"].columns)
    assert book["summary"].shape[0] >= 8


def test_output_folder_is_atomic_for_extra_files_too(tmp_path):
    (tmp_path / "map.html").write_text("old map")
    with pytest.raises(OutputExistsError), OutputFolder(tmp_path / "out") as out:
        out.path("stats.csv").write_text("x")
        out.file_beside(tmp_path / "map.html")
    assert (tmp_path / "map.html").read_text() == "old map"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.html"]


def test_run_writes_report_html_into_the_bundle(tmp_path, city):
    """The bundle's report.html comes in the scenario's language, links the bundle's map,
    compares the circles and lists every input file with its hash."""
    import hashlib

    out = tmp_path / "out"
    text = small_city.scenario_text(city, out).replace("output: {dir: ", "output: {lang: zh, dir: ")
    text = text.replace("coverage: {minutes: [5]}", "coverage: {minutes: [5], circle_m: 400}")
    (tmp_path / "s.yaml").write_text(text, encoding="utf-8")
    assert main(["run", str(tmp_path / "s.yaml"), "-q"]) == 0
    assert {p.name for p in out.iterdir()} == BUNDLE
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html
    assert 'href="map.html"' in html or 'src="map.html"' in html
    assert 'id="compare"' in html and "400 米" in html  # the circle comparison, in zh
    for name in ("network", "districts", "population", "existing", "candidates"):
        assert hashlib.sha256(Path(city[name]).read_bytes()).hexdigest() in html
