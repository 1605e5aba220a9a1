"""From audit to plan: deficits become new stations; the plan is audited again (before → after).

Two 1 km communities, A (3,000 households) and B (1,000), four demand points each (250
persons at the quarter points), one 250 m² station at A's centre, candidate sites on a
250 m grid, straight-line reach 300 m. National norm: 20 m² per 100 households.

By hand: A needs 600 m², has 250: 350 short -> one 350 m² station; B needs 200 m² and a
station: one. A centre reaches no quarter point (354 m > 300 m); the best candidate of a
community sits between two quarter points (250 m from each), so after the norm step 4 of
8 points (50%) are within reach, and 90% needs all 8: two more stations.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from test_audit import CRS, STATION, X0, Y0, world

import siting as st
from siting.errors import ParameterError


@pytest.fixture(scope="module")
def setup():
    w = world(n=2, households=[3000, 1000], facilities=[(STATION, 250, 0)])
    xs, ys = np.meshgrid(np.arange(0, 2001, 250), np.arange(0, 1001, 250))
    candidates = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy(X0 + xs.ravel(), Y0 + ys.ravel()), crs=CRS
    )
    cov = st.coverage(
        None, w["demand"], w["facilities"], candidates, mode="circle", threshold_m=300
    )
    a = st.audit(cov, preset="national-2011", communities=w["communities"])
    return w, cov, a


def test_deficits_before(setup):
    _, _, a = setup
    c = a.compliance.set_index(["rule", "unit"])
    assert c.loc[("floor-area-per-100-households", "A"), "shortfall"] == pytest.approx(350)
    assert c.loc[("floor-area-per-100-households", "B"), "shortfall"] == pytest.approx(200)
    assert c.loc[("station-per-community", "B"), "status"] == "fail"


def test_plan_closes_the_deficits_and_reaches_the_target(setup):
    _, _, a = setup
    p = a.plan(floor_area_m2=350, coverage_target=0.9)
    s = p.summary()
    assert s["new_for_norms"] == 2 and s["new_for_coverage"] == 2
    assert s["share_before"] == pytest.approx(0.0)
    assert s["share_after"] == pytest.approx(1.0)
    norm = p.new_sites[p.new_sites["step"] == "norm"]
    assert sorted(norm["community"]) == ["A", "B"]  # one inside each community in need
    assert (p.new_sites["floor_area_m2"] == 350).all()
    assert (p.new_sites["type"] == STATION).all()
    # the same compliance table, before -> after
    t = p.compliance.set_index(["rule", "unit"])
    row = t.loc[("floor-area-per-100-households", "A")]
    assert (row["status_before"], row["status_after"]) == ("fail", "pass")
    assert row["provided_before"] == 250
    # A has 350 m² from the norm step, plus any coverage station placed inside A
    assert row["provided_after"] == 250 + 350 * int((p.new_sites["community"] == "A").sum())
    assert set(t["status_after"]) == {"pass", "n/a"}  # n/a: no sub-districts given
    assert s["rows_fixed"] == (t["status_before"] == "fail").sum()
    assert "2 for the norms, 2 for coverage" in repr(p)
    assert p.plan is not None and p.plan.summary()["covered_share_after"] >= 0.9


def test_norms_only_and_files(setup, tmp_path):
    _, _, a = setup
    p = a.plan(floor_area_m2=400, coverage_target=None)
    assert len(p.new_sites) == 2 and p.plan is None
    written = p.to_file(tmp_path / "audit", map_html=False)
    assert written["plan_compliance"].read_bytes().startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(written["plan_compliance"], encoding="utf-8-sig")
    assert {"status_before", "status_after"} <= set(back.columns)
    assert len(gpd.read_file(written["plan_sites"])) == 2
    book = pd.read_excel(written["tables"], sheet_name=None)
    assert list(book) == [
        "summary", "compliance", "by unit", "life circle", "plan compliance", "new stations",
    ]  # fmt: skip
    assert len(book["new stations"]) == 2 and {"lon", "lat"} <= set(book["new stations"])
    # the audit before the plan: its own compliance table
    assert len(pd.read_csv(written["compliance"], encoding="utf-8-sig")) == len(a.compliance)


def test_units_without_enough_candidates_are_reported(setup):
    w, _, _ = setup
    # candidates only inside B: A's need cannot be placed
    cand = gpd.GeoDataFrame(geometry=[shapely.Point(X0 + 1500, Y0 + 250)], crs=CRS)
    cov = st.coverage(None, w["demand"], w["facilities"], cand, mode="circle", threshold_m=300)
    a = st.audit(cov, preset="national-2011", communities=w["communities"])
    p = a.plan(coverage_target=None)
    assert p.unmet.to_dict("records") == [{"unit": "A", "needed": 1, "placed": 0}]
    assert (
        p.after.compliance.set_index(["rule", "unit"]).loc[
            ("floor-area-per-100-households", "A"), "status"
        ]
        == "fail"
    )


def test_bad_plans(setup):
    w, cov, _ = setup
    with pytest.raises(ParameterError, match="would not meet rule 'station-350m2-per-community'"):
        st.audit(cov, preset="zhejiang-2007", communities=w["communities"]).plan(floor_area_m2=300)
    no_candidates = st.audit(None, w["demand"], w["facilities"], communities=w["communities"])
    with pytest.raises(ParameterError, match="needs candidate sites"):
        no_candidates.plan()


def test_a_coverage_target_in_every_community():
    # A: 3,000 persons, B: 1,000. After the norm step each community has half its points
    # within reach (2,000 of 4,000 persons); 75% overall is reached by covering the rest of
    # A alone, 75% in every community needs B too.
    w = world(n=2, households=[3000, 1000], population=[3000.0, 1000.0],
              facilities=[(STATION, 250, 0)])  # fmt: skip
    demand = w["demand"].assign(community=np.repeat(["A", "B"], 4))
    xs, ys = np.meshgrid(np.arange(0, 2001, 250), np.arange(0, 1001, 250))
    cand = gpd.GeoDataFrame(geometry=gpd.points_from_xy(X0 + xs.ravel(), Y0 + ys.ravel()), crs=CRS)
    cov = st.coverage(None, demand, w["facilities"], cand, mode="circle", threshold_m=300)
    a = st.audit(cov, preset="national-2011", communities=w["communities"])
    inside_b = demand["community"].to_numpy() == "B"

    def share_b(plan) -> float:
        reached = np.zeros(cov.n_demand, bool)
        for row in plan.new_sites["site_row"]:
            d = cov.distance[row]
            reached[d.indices[d.data <= 300]] = True
        return cov.population[inside_b & reached].sum() / cov.population[inside_b].sum()

    overall = a.plan(floor_area_m2=1000, coverage_target=0.75)
    assert overall.summary()["share_after"] >= 0.75 and share_b(overall) == 0.5
    each = a.plan(floor_area_m2=1000, coverage_target=0.75, by="community")
    assert share_b(each) >= 0.75
