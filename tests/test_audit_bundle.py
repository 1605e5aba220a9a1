"""The norm audit's outputs follow a plan bundle's rules, and ``siting run`` shows the audit.

* ``siting audit`` writes its own folder (``audit.dir``, default ``<output.dir>-audit``)
  as a whole: the same bytes for the same inputs, nothing left by Ctrl-C or SIGKILL,
  ``compliance.xlsx`` with Chinese names intact;
* ``siting run`` of a scenario with an ``audit:`` section audits the existing facilities
  from its own walking search (one search, extended to the audit's distances) and shows
  the audit in its map, report, workbook and ``compliance.csv``, with the same plan as
  without the audit;
* the two commands never write into each other's folder.

Runs on the tiny synthetic city of ``small_city`` (a second or two per run): two
districts with Chinese names are the communities, four typed facilities, the Hangzhou
preset (rehabilitation stations in 90% of communities; a 15-minute culture circle of
1,125 m, three times the run's 5-minute walk of 375 m).
"""

from __future__ import annotations

import importlib
import json
import re
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import small_city
import yaml
from test_cli_commands import siting_cmd, wait_for
from test_maps import payload_from_html
from test_output_bundle import read_only_sys  # noqa: F401 (a fixture)

import siting
import siting.io.network
import siting.standards
from siting.cli import main
from siting.compliance.core import typed_facilities
from siting.compliance.search import joint_coverage
from siting.errors import DataError, MissingColumnError, OutputExistsError, OutputPathError
from siting.scenario import load_scenario, run_audit, run_scenario

X0, Y0 = small_city.X0, small_city.Y0
FACILITIES = [  # x, y (metres from the city's corner), name, type, floor area m²
    (250, 250, "社区服务站甲", "community_service_station", 400),
    (900, 600, "社区服务站乙", "社区综合服务站", ""),
    (600, 600, "文化活动室", "culture_room", 120),
    (300, 900, "康复站", "rehabilitation_station", 80),
]
PLAN_FILES = {"plan.gpkg", "stats.csv", "summary.json", "tables.xlsx", "map.html", "report.html"}
AUDIT_FILES = {
    "compliance.csv",
    "by_unit.csv",
    "life_circle.csv",
    "units.gpkg",
    "audit.json",
    "compliance.xlsx",
    "compliance-map.html",
    "compliance-report.html",
}
SAME_BYTES = (
    "units.gpkg",
    "compliance.csv",
    "compliance.xlsx",
    "compliance-map.html",
    "compliance-report.html",
    "by_unit.csv",
    "life_circle.csv",
    "audit.json",
)


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("city")
    paths = small_city.write_city(folder)
    rows = [(X0 + x, Y0 + y, n, t, a) for x, y, n, t, a in FACILITIES]
    paths["facilities"] = folder / "facilities.csv"
    pd.DataFrame(rows, columns=["x", "y", "名称", "类型", "面积"]).to_csv(
        paths["facilities"], index=False, encoding="utf-8-sig"
    )
    return paths


def audit_section(city, **extra) -> dict:
    return {
        "preset": "hangzhou",
        "communities": {"file": str(city["districts"]), "name": "name"},
        "facilities": {
            "file": str(city["facilities"]),
            "x": "x",
            "y": "y",
            "crs": small_city.CRS,
            "name": "名称",
            "type": "类型",
            "floor_area_m2": "面积",
        },
        **extra,
    }


def scenario(tmp_path: Path, city, out: Path, *, name: str = "s.yaml", audit=True, **extra):
    """The small city's scenario, with an ``audit:`` section unless ``audit=False``."""
    cfg = yaml.safe_load(small_city.scenario_text(city, out, seed=3))
    if audit:
        cfg["audit"] = audit_section(city, **extra)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".siting-" in p.name]


def cells_equal(a, b) -> None:
    """Two sparse matrices with the same stored entries, in the same order."""
    a, b = a.tocsr(), b.tocsr()
    assert a.shape == b.shape
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.data, b.data)


# ----------------------------------------------------------------------------- one search
def test_one_search_gives_each_part_what_its_own_search_gives(city):
    net = siting.read_network(city["network"])
    demand = siting.read_population(city["population"], x="x", y="y", crs=small_city.CRS)
    existing = siting.read_facilities(city["existing"], x="x", y="y", crs=small_city.CRS)
    cands = siting.read_candidates(city["candidates"], x="x", y="y", crs=small_city.CRS)
    preset = siting.standards.load_preset("hangzhou")
    raw = siting.read_facilities(
        city["facilities"], x="x", y="y", crs=small_city.CRS, name="名称", floor_area_m2="面积"
    )
    typed = typed_facilities(raw.rename(columns={"类型": "type"}), preset, "facilities")
    options = {"speed_kmh": 4.5, "max_snap_m": 500.0}
    plan_cov, audit_cov = joint_coverage(
        net, demand, existing, cands, typed, minutes=(5,), limit_m=1125.0, **options
    )
    alone = siting.coverage(net, demand, existing, cands, minutes=5, **options)
    pd.testing.assert_frame_equal(plan_cov.sites, alone.sites)
    cells_equal(plan_cov.distance, alone.distance)
    assert (plan_cov.limit_m, plan_cov.minutes) == (alone.limit_m, alone.minutes)
    audit_alone = siting.coverage(net, demand, typed, None, threshold_m=1125.0, **options)
    cells_equal(audit_cov.distance, audit_alone.distance)
    assert audit_cov.limit_m == 1125.0 and audit_cov.existing.all()
    assert audit_cov.sites["type"].tolist() == audit_alone.sites["type"].tolist()
    assert audit_cov.distance.max() > plan_cov.limit_m  # the audit walks further than the plan
    # without audit facilities of its own, the audit's are the plan's existing ones
    plan2, audit2 = joint_coverage(
        net, demand, existing, cands, None, minutes=(5,), limit_m=1125.0, **options
    )
    cells_equal(plan2.distance, alone.distance)
    assert audit2.n_sites == alone.n_sites and audit2.limit_m == 1125.0


def test_a_run_with_an_audit_searches_once(tmp_path, city, monkeypatch):
    calls = []
    module = importlib.import_module("siting.measure")
    search = module._network_distances

    def counted(*args, **kwargs):
        calls.append(args[5])  # the limit, metres
        return search(*args, **kwargs)

    monkeypatch.setattr(module, "_network_distances", counted)
    monkeypatch.setattr(module, "_CACHE", type(module._CACHE)())  # no distances from before
    result = run_scenario(scenario(tmp_path, city, tmp_path / "out"), write=False)
    assert calls == [1125.0]  # one search, to the culture circle's 1,125 m
    assert result.coverage.limit_m == 375.0  # the plan's coverage stops at its 5 minutes
    assert result.audit.inputs.coverage.limit_m == 1125.0


# ----------------------------------------------------------------------------- siting run
def test_run_with_an_audit_shows_it_everywhere_with_the_same_plan(tmp_path, city):
    out, plain = tmp_path / "out", tmp_path / "plain"
    assert main(["run", str(scenario(tmp_path, city, out)), "-q"]) == 0
    assert names(out) == PLAN_FILES | {"compliance.csv"}
    assert not (tmp_path / "out-audit").exists()  # siting run writes only its own folder
    # the plan is the one the scenario gives without an audit: same bytes
    assert main(["run", str(scenario(tmp_path, city, plain, name="p.yaml", audit=False))]) == 0
    for name in ("plan.gpkg", "stats.csv"):
        assert (out / name).read_bytes() == (plain / name).read_bytes(), name
    compliance = pd.read_csv(out / "compliance.csv", encoding="utf-8-sig")
    communities = compliance[compliance["unit_level"] == "community"]
    assert set(communities["unit"]) >= set(small_city.DISTRICTS)
    book = pd.read_excel(out / "tables.xlsx", sheet_name=None)
    assert list(book) == ["summary", "districts", "sites", "compliance"]
    assert set(small_city.DISTRICTS) <= set(book["compliance"]["unit"])  # Chinese intact
    assert book["summary"].iloc[:, 0].str.startswith("units meeting every norm").any()
    layers = [s["name"] for s in payload_from_html((out / "map.html").read_text())["layers"]]
    assert layers[0] == "Communities: norms met"
    page = (out / "report.html").read_text(encoding="utf-8")
    sections = re.findall(r'<section id="([^"]+)"', page)
    assert "audit" in sections and "compliance" in sections
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["audit"]["preset"] == "hangzhou"
    plain_layers = payload_from_html((plain / "map.html").read_text())["layers"]
    assert "Communities: norms met" not in [s["name"] for s in plain_layers]


def test_run_and_audit_keep_to_their_own_folders(tmp_path, city, capsys):
    out = tmp_path / "out"
    path = str(scenario(tmp_path, city, out))
    assert main(["run", path, "-q"]) == 0
    run_files = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["audit", path, "-q"]) == 0
    audit_dir = tmp_path / "out-audit"
    assert f"wrote {audit_dir} (" in capsys.readouterr().out
    assert names(audit_dir) == AUDIT_FILES
    assert {p.name: p.read_bytes() for p in out.iterdir()} == run_files
    # the run's audit and siting audit's agree to the byte
    assert (out / "compliance.csv").read_bytes() == (audit_dir / "compliance.csv").read_bytes()
    audit_files = {p.name: p.read_bytes() for p in audit_dir.iterdir()}
    assert main(["run", path, "-q", "--force"]) == 0  # replaces its folder, not the audit's
    assert main(["audit", path, "-q", "--force"]) == 0
    assert {p.name: p.read_bytes() for p in audit_dir.iterdir()} == audit_files
    again = {p.name: p.read_bytes() for p in out.iterdir()}
    assert again.keys() == run_files.keys()
    for name in ("plan.gpkg", "stats.csv", "compliance.csv", "map.html", "report.html"):
        assert again[name] == run_files[name], name  # the same bytes, audit included
    assert main(["audit", path, "-q"]) == 1  # the audit's folder exists: --force needed
    assert "out-audit already exists" in capsys.readouterr().err
    assert leftovers(tmp_path) == []


def test_without_audit_facilities_the_run_audits_its_existing_ones(tmp_path, city):
    cfg = load_scenario(scenario(tmp_path, city, tmp_path / "out"))
    del cfg["audit"]["facilities"]  # the existing facilities are audited: they need a type
    with pytest.raises(MissingColumnError, match=r"existing \(.*existing\.csv\): no 'type' column"):
        run_scenario(cfg, write=False)
    typed = tmp_path / "existing.csv"
    frame = pd.read_csv(city["existing"]).assign(type="社区综合服务站", floor_area_m2=300)
    frame.to_csv(typed, index=False, encoding="utf-8-sig")
    cfg["existing"] = {**cfg["existing"], "file": str(typed), "floor_area_m2": "floor_area_m2"}
    result = run_scenario(cfg, write=False)
    facilities = result.audit.facilities
    assert facilities["name"].tolist() == [small_city.EXISTING]  # the run's existing facility
    assert facilities["type"].tolist() == ["community_service_station"]
    assert result.audit.inputs.coverage.limit_m == 1125.0 and result.coverage.limit_m == 375.0
    station = result.audit.by_unit["facilities"].str.contains("community_service_station")
    assert station.sum() == 1  # in the community that holds it


# ----------------------------------------------------------------------------- siting audit
def test_two_audits_give_the_same_bytes_and_a_workbook_with_chinese_names(tmp_path, city):
    path = scenario(tmp_path, city, tmp_path / "out", cells=True)
    first = run_audit(path)
    folder = first.outputs["folder"]
    assert folder == tmp_path / "out-audit" and names(folder) == AUDIT_FILES
    kept = folder.rename(tmp_path / "first")  # the second audit needs no --force
    second = run_audit(path)
    for name in SAME_BYTES:
        assert (kept / name).read_bytes() == (folder / name).read_bytes(), name
    book = pd.read_excel(folder / "compliance.xlsx", sheet_name=None)
    assert list(book) == ["summary", "compliance", "by unit", "life circle"]
    a = second.audit
    assert len(book["compliance"]) == len(a.compliance)
    by_unit = book["by unit"].set_index(["unit_level", "unit"])
    for district in small_city.DISTRICTS:  # Chinese names, and the numbers, read back
        assert by_unit.loc[("community", district), "population"] == pytest.approx(
            a.by_unit.loc[("community", district), "population"]
        )
    assert book["life circle"]["requirement"].str.contains("culture_room").any()
    summary = dict(zip(book["summary"].iloc[:, 0], book["summary"]["value"], strict=True))
    assert summary["preset"] == "hangzhou" and summary["units: community"] == 2
    facilities = pd.read_csv(folder / "by_unit.csv", encoding="utf-8-sig")["facilities"]
    assert facilities.str.contains("rehabilitation_station").any()


def test_audit_folder_is_checked_in_the_scenario(tmp_path, city):
    out = tmp_path / "out"
    spec_dir = load_scenario(scenario(tmp_path, city, out))
    assert spec_dir["audit"].get("dir") is None  # default: beside output.dir
    for bad in (str(out), str(out / "audit"), str(tmp_path)):
        with pytest.raises(
            OutputPathError, match=r"audit\.dir = .*a folder apart from output\.dir"
        ):
            load_scenario(scenario(tmp_path, city, out, dir=bad))
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(OutputPathError, match=r"audit\.dir = .*is a file"):
        load_scenario(scenario(tmp_path, city, out, dir=str(tmp_path / "afile")))
    elsewhere = tmp_path / "norms" / "2024"
    result = run_audit(scenario(tmp_path, city, out, dir=str(elsewhere)))
    assert result.outputs["folder"] == elsewhere and names(elsewhere) == AUDIT_FILES
    cfg = load_scenario(scenario(tmp_path, city, out))
    del cfg["output"]
    with pytest.raises(DataError, match=r"set audit\.dir or output\.dir"):
        run_audit(cfg)


def test_a_failing_audit_write_leaves_nothing(tmp_path, city, monkeypatch):
    import siting.compliance.files

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(siting.compliance.files, "write_xlsx", boom)
    path = scenario(tmp_path, city, tmp_path / "results" / "run")
    with pytest.raises(RuntimeError, match="disk full"):
        run_audit(path)
    assert not (tmp_path / "results").exists()  # no folder, no temporary, no parent


# ----------------------------------------------------------------------------- interrupts
# two audits in subprocesses; fast: test_cli_commands' test_ctrl_c_mid_outputs_...
@pytest.mark.slow
def test_ctrl_c_mid_audit_leaves_nothing_and_the_rerun_needs_no_force(tmp_path, city):
    path = scenario(tmp_path, city, tmp_path / "out")
    flag = tmp_path / "arrived"
    proc = siting_cmd("audit", str(path), env={"SITING_TEST_PAUSE": f"outputs:{flag}"})
    wait_for(flag, proc)  # compliance.csv written in the temporary folder, the rest not yet
    staging = [p for p in tmp_path.iterdir() if p.name.startswith(".out-audit.siting-tmp-")]
    assert staging and names(staging[0]) == {"compliance.csv"}
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "siting: interrupted (Ctrl-C); nothing was written."
    assert "Traceback" not in err
    assert not (tmp_path / "out-audit").exists() and leftovers(tmp_path) == []
    flag.unlink()
    rerun = siting_cmd("audit", str(path), "-q")
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert names(tmp_path / "out-audit") == AUDIT_FILES


# two audits in subprocesses; fast: test_output_bundle's test_leftovers_of_a_dead_run_...
@pytest.mark.slow
def test_sigkill_mid_audit_leftovers_are_cleaned_by_the_next_audit(tmp_path, city):
    path = scenario(tmp_path, city, tmp_path / "out")
    flag = tmp_path / "arrived"
    proc = siting_cmd("audit", str(path), env={"SITING_TEST_PAUSE": f"outputs:{flag}"})
    wait_for(flag, proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert leftovers(tmp_path) and not (tmp_path / "out-audit").exists()
    rerun = siting_cmd("audit", str(path), "-q")
    _, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert names(tmp_path / "out-audit") == AUDIT_FILES
    assert leftovers(tmp_path) == []


def test_an_existing_audit_folder_is_refused_before_any_data_is_read(tmp_path, city, monkeypatch):
    (tmp_path / "out-audit").mkdir()
    (tmp_path / "out-audit" / "compliance.csv").write_text("mine")

    def read_network(*args, **kwargs):
        raise AssertionError("the audit started loading data")

    monkeypatch.setattr(siting.io.network, "read_network", read_network)
    with pytest.raises(OutputExistsError, match="force"):
        run_audit(scenario(tmp_path, city, tmp_path / "out"))
    assert (tmp_path / "out-audit" / "compliance.csv").read_text() == "mine"


@pytest.mark.usefixtures("read_only_sys")  # skips unless /sys refuses new entries
def test_an_unwritable_audit_folder_is_refused_before_any_data_is_read(
    tmp_path, city, monkeypatch, capsys
):
    def read_network(*args, **kwargs):
        raise AssertionError("the audit started loading data")

    monkeypatch.setattr(siting.io.network, "read_network", read_network)
    target = Path("/sys/siting-test-audit")
    path = scenario(tmp_path, city, tmp_path / "out", dir=str(target))
    assert main(["audit", str(path), "-q"]) == 1
    err = capsys.readouterr().err
    assert "cannot write in /sys" in err and "unexpected" not in err
    with pytest.raises(OutputPathError, match="cannot write in /sys"):
        run_audit(path)


def test_validate_checks_the_audit_folder_too(tmp_path, city, capsys):
    path = str(scenario(tmp_path, city, tmp_path / "out"))
    assert main(["validate", path]) == 0
    assert re.search(r"ok\s+audit.dir: .*out-audit can be written", capsys.readouterr().out)
    (tmp_path / "out-audit").mkdir()
    (tmp_path / "out-audit" / "compliance.csv").write_text("old")
    assert main(["validate", path]) == 0
    shown = capsys.readouterr().out
    assert re.search(r"warning\s+audit.dir: .*already exists.*'siting audit' needs --force", shown)
    (tmp_path / "out-audit").rename(tmp_path / "x")
    (tmp_path / "out-audit").write_text("a file where the folder goes")
    assert main(["validate", path]) == 1
    shown = capsys.readouterr().out  # refused by the scenario check itself
    assert re.search(r"error\s+.*audit.dir.*out-audit is a file", shown, re.S)
