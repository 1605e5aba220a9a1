"""A real Chinese city without a street network: Wuhan WorldPop 100 m grid (adults 20+)
and district boundaries published in GCJ-02. Exercises the datum conversion, the
population loader with districts, circle coverage and per-district statistics / targets.

Skips cleanly when ../shared/data is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

import siting as st


def _wuhan() -> Path:
    env = os.environ.get("SITING_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    path = root / "wuhan"
    if not (path / "wuhan_core_pop20plus_worldpop_100m.tif").exists():
        pytest.skip(f"Wuhan reference data not found at {path}")
    return path


@pytest.fixture(scope="module")
def jianghan():
    w = _wuhan()
    districts = st.read_districts(w / "wuhan_districts_gcj02.geojson", datum="gcj02")
    one = districts[districts["name"] == "江汉区"]
    demand = st.read_population(w / "wuhan_core_pop20plus_worldpop_100m.tif", districts=one)
    return districts, demand


def test_gcj02_boundaries_are_converted_not_read_as_wgs84(jianghan):
    w = _wuhan()
    districts, _ = jianghan
    raw = gpd.read_file(w / "wuhan_districts_gcj02.geojson")
    # read as WGS84 the raw GCJ-02 outline sits a few hundred metres off
    a = districts.to_crs(32650).set_index("name").geometry
    b = raw.set_index("name").to_crs(32650).geometry
    offset = a.centroid.distance(b.centroid)
    assert ((offset > 100) & (offset < 700)).all()


def test_circle_coverage_per_district(jianghan):
    _, demand = jianghan
    assert demand["population"].sum() == pytest.approx(467_000, rel=0.03)  # SOURCE.md
    rng = np.random.default_rng(0)
    cells = demand.to_crs(32650)
    pick = rng.choice(len(cells), 15, replace=False)
    existing = cells.iloc[pick][["geometry"]]
    candidates = cells.iloc[::25][["geometry"]]
    cov = st.coverage(None, demand, existing, candidates, threshold_m=500, mode="circle")
    assert cov.limit_m == 500
    table = cov.stats(by="district")
    assert list(table.index) == ["江汉区", "total"]
    row = table.loc["江汉区"]
    assert row["covered"] + row["uncovered"] == pytest.approx(row["population"])
    # independent recount of the 500 m circles with plain geometry
    centres = existing.to_crs(cov.demand.crs).geometry.buffer(500, quad_segs=64).union_all()
    inside = cov.demand.geometry.within(centres).to_numpy()
    hand = cov.population[inside].sum()
    assert row["covered"] == pytest.approx(hand, rel=0.005)
    plan = st.solve(cov, model="target", target=0.9)
    assert plan.summary()["covered_share_after"] >= 0.9 - 1e-9
    assert plan.summary()["gap"] == pytest.approx(0.0, abs=1e-9)
