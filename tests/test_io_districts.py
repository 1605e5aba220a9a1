"""read_districts: formats, names, datums, repairs and errors."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from siting.errors import CRSError, DataError, MissingColumnError
from siting.io import read_districts, wgs84_to_bd09, wgs84_to_gcj02


def squares(n: int = 3, lon0: float = 114.30, lat0: float = 30.55, size: float = 0.01) -> list:
    """n adjacent squares (degrees) in Wuchang, Wuhan."""
    return [
        shapely.box(lon0 + i * size, lat0, lon0 + (i + 1) * size, lat0 + size) for i in range(n)
    ]


def frame(**cols) -> gpd.GeoDataFrame:
    n = len(next(iter(cols.values()))) if cols else 3
    return gpd.GeoDataFrame(cols, geometry=squares(n), crs="EPSG:4326")


def coords(gdf: gpd.GeoDataFrame) -> np.ndarray:
    return shapely.get_coordinates(np.asarray(gdf.geometry.values))


def test_geojson_with_name(tmp_path):
    path = tmp_path / "d.geojson"
    frame(name=["A", "B", "C"], pop=[1, 2, 3]).to_file(path, engine="pyogrio")
    d = read_districts(path)
    assert d.crs == "EPSG:4326"
    assert list(d.columns) == ["name", "pop", "geometry"]
    assert list(d["name"]) == ["A", "B", "C"]
    assert d["name"].dtype == object or str(d["name"].dtype) == "str"
    assert d.attrs["datum"] == "wgs84"
    np.testing.assert_allclose(coords(d), coords(frame(name=["A", "B", "C"])))


def test_geopackage_layer_and_chinese_name(tmp_path):
    path = tmp_path / "d.gpkg"
    frame(名称=["武昌区", "洪山区", "青山区"]).to_file(path, layer="districts", engine="pyogrio")
    frame(other=["x", "y"]).to_file(path, layer="other", engine="pyogrio")
    d = read_districts(path, layer="districts")
    assert list(d["name"]) == ["武昌区", "洪山区", "青山区"]
    assert "名称" in d.columns  # original column kept


def test_shapefile_upper_case_name(tmp_path):
    path = tmp_path / "d.shp"
    frame(NAME=["a", "b", "c"], code=[1, 2, 3]).to_file(path, engine="pyogrio")
    d = read_districts(path)
    assert list(d["name"]) == ["a", "b", "c"]
    assert d.crs == "EPSG:4326"


def test_name_argument_and_original_name_kept(tmp_path):
    path = tmp_path / "d.geojson"
    frame(name=["n1", "n2", "n3"], label=["L1", "L2", "L3"]).to_file(path, engine="pyogrio")
    d = read_districts(path, name="label")
    assert list(d["name"]) == ["L1", "L2", "L3"]
    assert list(d["name_original"]) == ["n1", "n2", "n3"]


def test_name_falls_back_to_unique_text_column_then_numbers(tmp_path):
    path = tmp_path / "d.geojson"
    frame(kind=["x", "x", "y"], code=["420106", "420111", "420107"]).to_file(path, engine="pyogrio")
    assert list(read_districts(path)["name"]) == ["420106", "420111", "420107"]
    path2 = tmp_path / "d2.geojson"
    frame(value=[1.0, 2.0, 3.0]).to_file(path2, engine="pyogrio")
    assert list(read_districts(path2)["name"]) == ["district 1", "district 2", "district 3"]


def test_missing_name_column(tmp_path):
    path = tmp_path / "d.geojson"
    frame(name=["A", "B", "C"]).to_file(path, engine="pyogrio")
    with pytest.raises(MissingColumnError, match=r"d\.geojson: no column '街道名'.*'name'"):
        read_districts(path, name="街道名")


@pytest.mark.parametrize(("datum", "forward"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_chinese_datums_are_converted(tmp_path, caplog, datum, forward):
    truth = frame(name=["A", "B", "C"])

    def shift(c: np.ndarray) -> np.ndarray:
        out = c.copy()
        out[:, 0], out[:, 1] = forward(c[:, 0], c[:, 1])
        return out

    shifted = truth.set_geometry(shapely.transform(np.asarray(truth.geometry.values), shift))
    path = tmp_path / f"{datum}.geojson"
    shifted.to_file(path, engine="pyogrio")  # the file says EPSG:4326, numbers are GCJ/BD
    with caplog.at_level(logging.INFO, logger="siting"):
        d = read_districts(path, datum=datum)
    assert d.attrs["datum"] == datum
    assert "converted to WGS-84" in caplog.text
    assert np.abs(coords(d) - coords(truth)).max() < 1e-7  # ~1 cm
    raw = read_districts(path)  # read as WGS-84: hundreds of metres off
    assert np.abs(coords(raw) - coords(truth)).max() > 1e-3


def test_unknown_datum(tmp_path):
    path = tmp_path / "d.geojson"
    frame(name=["A", "B", "C"]).to_file(path, engine="pyogrio")
    with pytest.raises(CRSError, match="Unknown datum 'baidu09'"):
        read_districts(path, datum="baidu09")


def test_non_polygon_row_is_an_error(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"name": ["A", "B", "C"]},
        geometry=[*squares(2), shapely.LineString([(114.3, 30.5), (114.4, 30.6)])],
        crs="EPSG:4326",
    )
    path = tmp_path / "mixed.geojson"
    gdf.to_file(path, engine="pyogrio")
    with pytest.raises(DataError, match=r"mixed\.geojson: row 2 has a LineString geometry"):
        read_districts(path)


def test_invalid_polygon_is_repaired(tmp_path, caplog):
    bowtie = shapely.Polygon([(114.30, 30.55), (114.32, 30.57), (114.32, 30.55), (114.30, 30.57)])
    assert not bowtie.is_valid
    gdf = gpd.GeoDataFrame({"name": ["A", "bow"]}, geometry=[squares(1)[0], bowtie], crs=4326)
    path = tmp_path / "bad.gpkg"
    gdf.to_file(path, engine="pyogrio")
    with caplog.at_level(logging.WARNING, logger="siting"):
        d = read_districts(path)
    assert d.is_valid.all()
    assert set(d.geom_type) <= {"Polygon", "MultiPolygon"}
    # both triangles of the bow tie are kept: 2 x (0.02 x 0.01 / 2) square degrees
    assert d.geometry.iloc[1].area == pytest.approx(0.0002, rel=1e-6)
    assert "repaired with shapely.make_valid" in caplog.text
    assert "row 1" in caplog.text


def test_empty_file(tmp_path):
    path = tmp_path / "empty.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    with pytest.raises(DataError, match=r"empty\.geojson: no districts"):
        read_districts(path)


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere" / "streets.geojson"
    with pytest.raises(DataError, match=r"streets\.geojson: file not found"):
        read_districts(path)


def test_not_a_vector_file(tmp_path):
    path = tmp_path / "junk.geojson"
    path.write_text("this is not json", encoding="utf-8")
    with pytest.raises(DataError, match=r"junk\.geojson: cannot read the file"):
        read_districts(path)


def write_without_crs(gdf: gpd.GeoDataFrame, path: Path) -> None:
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        gdf.set_crs(None, allow_override=True).to_file(path, engine="pyogrio")


def test_no_crs_lonlat_is_assumed_wgs84(tmp_path, caplog):
    path = tmp_path / "nocrs.shp"
    write_without_crs(frame(name=["A", "B", "C"]), path)
    assert not (tmp_path / "nocrs.prj").exists()
    with caplog.at_level(logging.WARNING, logger="siting"):
        d = read_districts(path)
    assert d.crs == "EPSG:4326"
    assert "EPSG:4326 is assumed" in caplog.text


def test_no_crs_projected_needs_crs(tmp_path):
    utm = frame(name=["A", "B", "C"]).to_crs("EPSG:32650")
    path = tmp_path / "utm.shp"
    write_without_crs(utm, path)
    with pytest.raises(CRSError, match=r"utm\.shp: the file has no CRS.*Pass crs="):
        read_districts(path)
    d = read_districts(path, crs="EPSG:32650")
    assert d.crs == "EPSG:4326"
    want = np.asarray(frame(name=["A", "B", "C"]).geometry.values)
    got = np.asarray(d.geometry.values)
    assert shapely.equals_exact(shapely.normalize(got), shapely.normalize(want), 1e-7).all()


def test_geodataframe_input():
    d = read_districts(frame(名称=["甲", "乙", "丙"]).to_crs("EPSG:3857"))
    assert d.crs == "EPSG:4326"
    assert list(d["name"]) == ["甲", "乙", "丙"]


def shared_data() -> Path:
    env = os.environ.get("SITING_SHARED_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"shared reference data not found at {path}")
    return path


def test_wuhan_gcj02_districts():
    wuhan = shared_data() / "wuhan"
    d = read_districts(wuhan / "wuhan_districts_gcj02.geojson", datum="gcj02")
    ref = read_districts(wuhan / "wuhan_districts_wgs84.geojson")
    assert len(d) == 13
    assert "武昌区" in set(d["name"])
    assert list(d["name"]) == list(ref["name"])
    assert {"adcode", "level"} <= set(d.columns)
    # vertices within ~1 m (1e-5 degrees) of the published WGS-84 conversion
    assert np.abs(coords(d) - coords(ref)).max() < 1e-5
