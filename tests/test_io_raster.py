"""Population rasters: fill values, absurd densities, strip reading, true cell areas.

The reference reader below is the one-piece read siting used before strips (the whole
band as float64, GDAL's mask, nodata, finite and positive cells): strip reading must give
the very same points on normal rasters.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

import siting as st
import siting.io._raster as raster_module
from siting.errors import CRSError, DataError, ParameterError
from siting.io._raster import cell_area_m2
from siting.scenario import validate_scenario

WUHAN = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "wuhan"
CELL = 0.001  # degrees: about 111 m x 96 m at 30° N


def write(path: Path, data: np.ndarray, *, nodata=None, west=114.3, north=30.6, cell=CELL, **kw):
    profile = dict(
        driver="GTiff",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype=str(data.dtype),
        crs=kw.pop("crs", "EPSG:4326"),
        transform=from_origin(west, north, cell, cell),
        nodata=nodata,
        **kw,
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def reference(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Persons, x and y of the valid positive cells: the whole band read at once."""
    with rasterio.open(path) as src:
        values = src.read(1).astype(np.float64)
        valid = src.read_masks(1) > 0
        if src.nodata is not None and not np.isnan(src.nodata):
            valid &= values != src.nodata
        values = values * src.scales[0] + src.offsets[0]
        t = src.transform
    rows, cols = np.nonzero(valid & np.isfinite(values) & (values > 0))
    x = t.c + (cols + 0.5) * t.a + (rows + 0.5) * t.b
    y = t.f + (cols + 0.5) * t.d + (rows + 0.5) * t.e
    return values[rows, cols], x, y


def assert_same(pop: gpd.GeoDataFrame, ref) -> None:
    persons, x, y = ref
    np.testing.assert_array_equal(pop["population"].to_numpy(), persons)
    np.testing.assert_array_equal(pop.geometry.x.to_numpy(), x)
    np.testing.assert_array_equal(pop.geometry.y.to_numpy(), y)


# ------------------------------------------------------------------ fill values
def test_uint16_filled_with_its_maximum_is_masked_with_a_warning(tmp_path, caplog):
    """The issue's case: 65535 in every empty cell of a grid without a nodata value."""
    data = np.full((20, 30), 65535, np.uint16)
    data[5:15, 10:21] = 250  # 110 cells x 250 = 27,500 persons
    path = write(tmp_path / "u16.tif", data)
    with caplog.at_level(logging.WARNING):
        pop = st.read_population(path)
    assert pop["population"].sum() == 27_500
    assert len(pop) == 110
    assert "490 cells equal to 65535, the largest uint16 value" in caplog.text
    assert "pass nodata=" in caplog.text


def test_float32_filled_with_its_maximum_is_masked(tmp_path, caplog):
    data = np.full((10, 10), np.finfo(np.float32).max, np.float32)
    data[2:4, 2:4] = 12.5
    data[0, 0] = -9999.0
    data[0, 1] = np.inf
    path = write(tmp_path / "f32.tif", data)
    with caplog.at_level(logging.WARNING):
        pop = st.read_population(path)
    assert pop["population"].sum() == 50.0
    assert "94 cells equal to 3.4028235e+38, the largest float32 value" in caplog.text
    assert "1 cells equal to infinity" in caplog.text
    assert "1 cells with negative values" in caplog.text


def test_declared_nodata_is_not_reported(tmp_path, caplog):
    data = np.full((6, 6), -99999.0, np.float32)
    data[1:3, 1:3] = 4.0
    path = write(tmp_path / "ok.tif", data, nodata=-99999.0)
    with caplog.at_level(logging.WARNING):
        pop = st.read_population(path)
    assert pop["population"].sum() == 16.0
    assert "cells without data" not in caplog.text


def test_nodata_keyword_masks_an_undeclared_fill(tmp_path):
    data = np.full((8, 8), 9999, np.int32)  # plausible as persons: only the user knows
    data[0:2, 0:2] = 40
    path = write(tmp_path / "fill.tif", data)
    assert st.read_population(path)["population"].sum() == 160 + 60 * 9999
    pop = st.read_population(path, nodata=9999)
    assert pop["population"].sum() == 160


def test_nodata_keyword_refused_for_tables(tmp_path):
    path = tmp_path / "pop.csv"
    path.write_text("lon,lat,population\n114.3,30.6,5\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="nodata=-1 applies to rasters only"):
        st.read_population(path, nodata=-1)


def test_scenario_accepts_population_nodata(tmp_path):
    grid = write(tmp_path / "g.tif", np.ones((2, 2), np.float32))
    cfg = {
        "network": str(grid),  # only checked to exist
        "population": {"file": str(grid), "nodata": -9999},
        "candidates": {"spacing_m": 100},
        "solve": {"model": "target", "target": 0.5},
    }
    validate_scenario(cfg)
    cfg["population"]["nodata"] = "none"
    with pytest.raises(ParameterError, match=r"population\.nodata"):
        validate_scenario(cfg)


# ------------------------------------------------------------------ absurd values
def test_absurd_density_names_the_cell_and_nodata(tmp_path):
    data = np.zeros((5, 5), np.float32)
    data[1, 1] = 20.0
    data[3, 2] = 1.0e9  # a fill that is not the type's extreme
    path = write(tmp_path / "dense.tif", data)
    with pytest.raises(DataError) as err:
        st.read_population(path)
    text = str(err.value)
    assert str(path) in text
    assert "row 3, col 2 holds 1e+09 persons" in text
    assert "persons per hectare" in text
    assert "nodata=1e+09" in text


def test_density_uses_the_true_cell_area_at_high_latitude(tmp_path):
    """A 0.001° cell at 60° N is 0.62 ha (1.23 ha at the equator)."""
    dense = np.array([[100_000.0]], np.float32)  # 161,000 per ha at 60° N
    with pytest.raises(DataError, match="per hectare"):
        st.read_population(write(tmp_path / "n60.tif", dense, west=10.0, north=60.0005))
    ok = np.array([[60_000.0]], np.float32)  # 97,000 per ha at 60° N
    assert len(st.read_population(write(tmp_path / "ok60.tif", ok, west=10.0, north=60.0005)))
    # the same 100,000 persons near the equator (81,000 per ha) pass
    assert len(st.read_population(write(tmp_path / "eq.tif", dense, west=10.0, north=0.0005)))


def test_cell_area_matches_the_geodesic_area():
    geod = pyproj.Geod(ellps="WGS84")
    t = from_origin(10.0, 60.0, 0.01, 0.01)
    lats = np.array([60.0 - 0.005, 0.005 - 0.0, -45.0])
    areas = cell_area_m2(t, pyproj.CRS.from_epsg(4326), lats)
    for lat, area in zip(lats, areas, strict=True):
        lon = [10.0, 10.01, 10.01, 10.0]
        la = [lat - 0.005, lat - 0.005, lat + 0.005, lat + 0.005]
        expected = abs(geod.polygon_area_perimeter(lon, la)[0])
        assert area == pytest.approx(expected, rel=1e-6)
    utm = cell_area_m2(from_origin(500_000, 3_000_000, 100, 100), pyproj.CRS(32650), lats)
    assert utm.tolist() == [10_000.0] * 3


def test_total_above_the_world_population_is_refused(tmp_path):
    data = np.full((2, 2), 5.0e9, np.float32)  # 1° cells: 4,000 persons per ha, plausible
    path = write(tmp_path / "world.tif", data, west=0.0, north=2.0, cell=1.0)
    with pytest.raises(DataError, match="more than the world's population"):
        st.read_population(path)


def test_metres_labelled_degrees_is_a_crs_error(tmp_path):
    data = np.ones((3, 3), np.float32)
    path = write(tmp_path / "m.tif", data, west=500_000.0, north=3_400_000.0, cell=100.0)
    with pytest.raises(CRSError, match="not degrees: they look like metres"):
        st.read_population(path)


# ------------------------------------------------------------------ strip reading
@pytest.fixture
def small_strips(monkeypatch):
    """Strips of one block row (16 rows), so that small rasters span many strips."""
    monkeypatch.setattr(raster_module, "STRIP_BYTES", 1)


def random_grid(shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.gamma(1.5, 20.0, shape).astype(np.float32)
    data[rng.random(shape) < 0.6] = -99999.0
    data[rng.random(shape) < 0.05] = 0.0
    return data


def test_strips_match_the_one_piece_read(tmp_path, small_strips):
    data = random_grid((101, 77))
    tiled = {"tiled": True, "blockxsize": 16, "blockysize": 16, "compress": "deflate"}
    path = write(tmp_path / "tiled.tif", data, nodata=-99999.0, **tiled)
    assert_same(st.read_population(path), reference(path))
    striped = write(tmp_path / "striped.tif", data, nodata=-99999.0)  # one row per block
    assert_same(st.read_population(striped), reference(striped))


def test_strips_with_districts_window_scale_and_mask(tmp_path, small_strips):
    data = random_grid((90, 60), seed=1)
    path = tmp_path / "masked.tif"
    profile = {"tiled": True, "blockxsize": 16, "blockysize": 16}
    write(path, data, nodata=None, **profile)
    mask = np.where(data > 30, 255, 0).astype(np.uint8)
    with rasterio.open(path, "r+") as dst:
        dst.scales, dst.offsets = (2.0,), (0.5,)
        dst.write_mask(mask)
    persons, x, y = reference(path)
    assert_same(st.read_population(path), (persons, x, y))
    box = shapely.box(114.31, 30.55, 114.33, 30.58)
    districts = gpd.GeoDataFrame({"name": ["d"]}, geometry=[box], crs="EPSG:4326")
    pop = st.read_population(path, districts=districts)
    inside = shapely.contains_xy(box, x, y)
    np.testing.assert_array_equal(pop["population"].to_numpy(), persons[inside])


@pytest.mark.parametrize("name", ["wuhan_core_pop20plus_worldpop_100m.tif"])
def test_wuhan_grid_matches_the_one_piece_read(name):
    path = WUHAN / name
    if not path.exists():
        pytest.skip("../shared/data/wuhan is absent")
    assert_same(st.read_population(path), reference(path))


def test_wuhan_districts_window_matches_the_one_piece_read():
    grid = WUHAN / "wuhan_city_pop20plus_worldpop_100m.tif"
    if not grid.exists():
        pytest.skip("../shared/data/wuhan is absent")
    districts = st.read_districts(WUHAN / "wuhan_districts_wgs84.geojson").iloc[:2]
    pop = st.read_population(grid, districts=districts)
    persons, x, y = reference(grid)
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(x, y), crs="EPSG:4326")
    inside = pts.sjoin(districts, predicate="intersects").index.unique().sort_values()
    np.testing.assert_array_equal(np.sort(pop["population"].to_numpy()), np.sort(persons[inside]))
    assert pop["population"].sum() == pytest.approx(persons[inside].sum(), rel=1e-12)
