"""Plan-level behaviour on small hand-made layouts (straight-line coverage, metres).

Layout: demand points on a line every 100 m, 10 persons each, in two districts; sites
placed by hand so who covers whom can be read off the coordinates.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

import siting as st
from siting.errors import DataError, InfeasibleError, ParameterError

UTM = "EPSG:32633"
X0, Y0 = 500_000.0, 5_200_000.0


def pts(xy, crs=UTM, **cols) -> gpd.GeoDataFrame:
    xy = np.asarray(xy, float)
    return gpd.GeoDataFrame(cols, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=crs)


def line_demand(n: int = 10) -> gpd.GeoDataFrame:
    x = X0 + 100.0 * np.arange(n)
    return pts(
        np.column_stack([x, np.full(n, Y0)]),
        population=np.full(n, 10.0),
        district=np.where(np.arange(n) < n // 2, "东区", "西区"),
    )


def circle(demand, existing=None, candidates=None, metres: float = 150.0) -> st.Coverage:
    return st.coverage(None, demand, existing, candidates, mode="circle", threshold_m=metres)


def test_the_argument_decides_and_a_disagreeing_column_is_reported(caplog) -> None:
    """One file of built and planned sites passed whole as existing: all count as built,
    and the log says how to split it; a plan's chosen sites passed as existing are built."""
    demand = line_demand()
    sites = pts([(X0, Y0), (X0 + 900, Y0)], existing=np.array([True, False]))
    with caplog.at_level(logging.WARNING, logger="siting.measure"):
        cov = circle(demand, sites)
    assert int(cov.existing.sum()) == 2
    assert "1 of the 2 rows say existing=False" in caplog.text
    assert "sites[sites.existing]" in caplog.text
    # phase 2: the sites a plan chose are built now, whatever their old flag
    cands = pts([(X0 + 400, Y0), (X0 + 700, Y0)])
    plan = st.solve(circle(demand, sites[sites["existing"]], cands), model="mclp", p=1)
    built = plan.sites[plan.sites["selected"]]
    assert (~built["existing"]).sum() == 1
    cov2 = circle(demand, built)
    assert int(cov2.existing.sum()) == 2
    # a nullable yes/no column with gaps is fine
    odd = pts([(X0, Y0), (X0 + 500, Y0)], existing=pd.array([True, None], dtype="boolean"))
    assert int(circle(demand, None, odd).existing.sum()) == 0


def test_circle_mode_refuses_layers_that_do_not_overlap() -> None:
    demand = line_demand()
    far = pts([(X0 + 50_000, Y0)])
    with pytest.raises(DataError, match="apart"):
        circle(demand, far)
    # degrees labelled as metres: lon/lat numbers near the UTM origin
    wrong = pts([(14.9, 46.9)])
    with pytest.raises(DataError, match="CRS"):
        circle(demand, wrong)


def test_capacitated_plan_reports_persons_served_not_reached() -> None:
    demand = line_demand()
    cands = pts([(X0 + 100, Y0), (X0 + 400, Y0), (X0 + 700, Y0)], capacity=[15.0, 15.0, 15.0])
    cov = circle(demand, None, cands)
    plan = st.solve(cov, model="mclp", p=2, capacity="capacity")
    assert plan.solution.objective == pytest.approx(30.0)  # two sites of 15 persons
    summary = plan.summary()
    assert summary["covered_after"] == pytest.approx(30.0)
    assert plan.demand["served_after"].sum() == pytest.approx(30.0)
    stats = plan.stats("district")
    assert stats.loc["东区", "covered_after"] + stats.loc["西区", "covered_after"] == (
        pytest.approx(30.0)
    )
    assert stats["share_after"].max() <= 1.0


def test_per_district_message_names_the_district() -> None:
    demand = line_demand()
    cands = pts([(X0, Y0)])  # reaches only the first points of 东区
    cov = circle(demand, None, cands)
    with pytest.raises(InfeasibleError, match="district 东区") as e:
        st.solve(cov, target=0.9, by="district")
    assert "150 m" in str(e.value)


def test_by_is_refused_where_it_would_be_ignored() -> None:
    cov = circle(line_demand(), None, pts([(X0, Y0), (X0 + 500, Y0)]))
    with pytest.raises(ParameterError, match="model 'target' only"):
        st.solve(cov, model="mclp", p=1, by="district")


def test_model_options_reach_the_solver() -> None:
    demand = line_demand()
    cands = pts([(X0, Y0), (X0 + 300, Y0)])  # the last points are beyond every site
    cov = circle(demand, None, cands)
    with pytest.raises(InfeasibleError, match="drop_unreachable"):
        st.solve(cov, model="pmedian", p=2)
    plan = st.solve(cov, model="pmedian", p=2, drop_unreachable=True)
    assert plan.summary()["new_sites"] == 2
    plan = st.solve(cov, model="mclp", budget=1.0)
    assert plan.summary()["new_sites"] == 1


def test_new_site_columns_add_up() -> None:
    demand = line_demand()
    cands = pts([(X0 + 100, Y0), (X0 + 200, Y0), (X0 + 600, Y0)])
    cov = circle(demand, pts([(X0 + 900, Y0)]), cands)
    plan = st.solve(cov, model="mclp", p=3)
    new = plan.new_sites
    s = plan.summary()
    gain = s["covered_after"] - s["covered_before"]
    # the first two candidates overlap: covered_gain double-counts, covered_only_here not
    assert new["covered_gain"].sum() >= gain
    assert new["covered_only_here"].sum() <= gain
    assert new["covered_only_here"].sum() < new["covered_gain"].sum()


def test_missing_capacities_are_named_by_site_group() -> None:
    demand = line_demand()
    existing = pts([(X0, Y0)], name=["老年中心"])  # no capacity column
    cands = pts([(X0 + 500, Y0)], capacity=[40.0])
    cov = circle(demand, existing, cands)
    with pytest.raises(DataError, match=r"1 of the 1 existing facilities \(row 0 \(老年中心\)\)"):
        st.solve(cov, model="mclp", p=1, capacity="capacity")


def test_no_candidates_says_what_existing_sites_cover() -> None:
    cov = circle(line_demand(), pts([(X0, Y0), (X0 + 300, Y0), (X0 + 600, Y0)]))
    with pytest.raises(ParameterError, match=r"cover 80\.0% .* above the 50% target"):
        st.solve(cov, target=0.5)
    with pytest.raises(ParameterError, match="No candidate sites"):
        st.solve(cov, target=0.9)


def test_capacitated_before_and_after_both_count_persons_served() -> None:
    """Reached-before against served-after once showed coverage falling: 50% -> 20%."""
    demand = line_demand()
    old = pts([(X0 + 200, Y0)], capacity=[10.0])  # reaches 5 points, serves 10 persons
    cands = pts([(X0 + 700, Y0)], capacity=[10.0])
    cov = st.coverage(None, demand, old, cands, mode="circle", threshold_m=250.0)
    plan = st.solve(cov, model="mclp", p=1, capacity="capacity")
    s = plan.summary()
    assert s["covered_before"] == pytest.approx(10.0)
    assert s["covered_after"] == pytest.approx(20.0)
    stats = plan.stats("district")
    assert (stats["covered_after"] >= stats["covered_before"] - 1e-9).all()
    assert plan.demand["served_before"].sum() == pytest.approx(10.0)


def test_explore_passes_map_options_to_folium() -> None:
    cov = circle(line_demand(), None, pts([(X0, Y0), (X0 + 500, Y0)]))
    plan = st.solve(cov, model="mclp", p=1)
    m = plan.explore(tiles="OpenStreetMap", width="80%", zoom_start=12)
    html = m.get_root().render()
    assert "80.0%" in html or "80%" in html


def test_a_plan_prints_its_model_sites_coverage_and_gap() -> None:
    """An existing site covers points 0-1 (20 of 100 persons); the candidate at 400 m
    covers points 3-5 (30 more): one new site, 20% -> 50%, proven optimal."""
    demand = line_demand()
    existing = pts([(X0, Y0)])
    cands = pts([(X0 + 400, Y0), (X0 + 900, Y0)])
    plan = st.solve(circle(demand, existing, cands), model="mclp", p=1)
    assert repr(plan) == "Plan(mclp: 1 new sites, coverage 20.0% -> 50.0%, gap 0.00%, optimal)"
