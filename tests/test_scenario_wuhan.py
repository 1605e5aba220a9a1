"""The Wuhan demo (``siting demo --city wuhan``): its shipped data are small, attributed
and openly licensed; they rebuild from the reference copies (``../shared``, skipped
without it); the scenario validates; the whole run is a slow test.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

import siting as st
from siting.cli import main

ROOT = Path(__file__).resolve().parents[1]
WUHAN = ROOT / "data" / "wuhan"
SCENARIO = ROOT / "data" / "demo-wuhan.yaml"
INNER = ("江岸区", "江汉区", "硚口区", "汉阳区", "武昌区", "青山区")


def _shared() -> Path:
    env = os.environ.get("SITING_SHARED_DATA")
    root = Path(env) if env else ROOT.parents[0] / "shared" / "data"
    path = root / "wuhan"
    if not (path / "wuhan_streets_osm_fua8989.parquet").exists():
        pytest.skip(f"Wuhan reference data not found at {path}")
    return path


def _make_data():
    spec = importlib.util.spec_from_file_location("make_data", WUHAN / "make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_data_are_small_attributed_and_without_amap_districts():
    files = {p.name: p.stat().st_size for p in WUHAN.iterdir() if p.is_file()}
    assert sum(files.values()) <= 6_000_000
    assert {"wuhan-walk.npz", "wuhan-pop20plus-100m.tif", "ATTRIBUTION.md"} <= set(files)
    assert not [n for n in files if n.endswith((".geojson", ".gpkg", ".shp"))]
    text = (WUHAN / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert "ODbL" in text and "CC BY 4.0" in text and "OpenStreetMap contributors" in text
    assert "no existing facilities" in text


def test_demo_scenario_validates_and_says_what_it_lacks(capsys):
    assert main(["validate", str(SCENARIO)]) == 0
    out = capsys.readouterr().out
    assert "wuhan-walk.npz: saved network" in out and "EPSG:32650" in out
    assert "wuhan-pop20plus-100m.tif: raster" in out
    cfg = st.load_scenario(SCENARIO)
    assert "无现状设施" in cfg["notes"] and "No existing-facility data" in cfg["notes"]
    assert cfg["output"]["basemap"] == "amap" and cfg["output"]["lang"] == "zh"
    assert "existing" not in cfg


def test_network_rebuilds_from_the_osm_streets_with_nodes_at_geometry_ends():
    import geopandas as gpd
    import shapely

    shared = _shared()
    net = _make_data().build_network(shared / "wuhan_streets_osm_fua8989.parquet")
    shipped = st.read_network(WUHAN / "wuhan-walk.npz")
    assert (net.n_nodes, net.n_edges) == (shipped.n_nodes, shipped.n_edges)
    assert net.total_length_km == pytest.approx(shipped.total_length_km, rel=1e-9)
    # lengths come from the node positions: had the u/v order been trusted instead of
    # the geometry ends, most segments would join the wrong nodes and the total length
    # would be far from the streets' own length
    edges = gpd.read_parquet(shared / "wuhan_streets_osm_fua8989.parquet")
    walk = edges[~edges["highway"].str.startswith(("motorway", "trunk"))]
    streets_km = shapely.length(walk.geometry.values).sum() / 1000 - net.info["dropped_length_km"]
    assert net.total_length_km == pytest.approx(streets_km, rel=2e-3)  # UTM scale ≈ 4e-4


def test_population_keeps_the_central_districts():
    shared = _shared()
    districts = st.read_districts(shared / "wuhan_districts_wgs84.geojson")
    full = st.read_population(
        shared / "wuhan_core_pop20plus_worldpop_100m.tif", districts=districts
    )
    kept = st.read_population(WUHAN / "wuhan-pop20plus-100m.tif", districts=districts)
    a = full.groupby("district")["population"].sum()
    b = kept.groupby("district")["population"].sum().reindex(a.index).fillna(0)
    assert (b[list(INNER)] / a[list(INNER)] > 0.99).all()
    assert b["洪山区"] / a["洪山区"] > 0.8
    shipped_total = st.read_population(WUHAN / "wuhan-pop20plus-100m.tif")["population"].sum()
    assert shipped_total == pytest.approx(5_990_170, rel=1e-6)


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "wuhan"
    assert main(["demo", "--city", "wuhan", "--out", str(out), "-q"]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["covered_share_after"] >= 0.9 - 1e-9
    assert summary["existing_sites"] == 0 and "无现状设施" in summary["notes"]
    assert summary["gap"] <= 0.02 + 1e-9
    assert (out / "map.html").stat().st_size > 100_000
