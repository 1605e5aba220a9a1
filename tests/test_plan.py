"""Plan-level behaviour on small hand-made layouts (straight-line coverage, metres).

Layout: demand points on a line every 100 m, 10 persons each, in two districts; sites
placed by hand so who covers whom can be read off the coordinates.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
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


def test_existing_column_decides_per_row() -> None:
    """One file of built and planned sites: its yes/no column, not the argument, decides."""
    demand = line_demand()
    sites = pts([(X0, Y0), (X0 + 900, Y0)], existing=np.array([True, False]))
    cov = circle(demand, sites)  # passed as `existing`
    assert int(cov.existing.sum()) == 1
    assert cov.stats()["covered"].iloc[0] == pytest.approx(20.0)  # 2 points near x0 only
    cov2 = circle(demand, None, sites)  # passed as `candidates`
    assert int(cov2.existing.sum()) == 1
    assert bool(cov2.sites["existing"].iloc[0])  # existing sites come first


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
