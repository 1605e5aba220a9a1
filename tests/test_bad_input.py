"""Bad input through the public API: a clear message with counts, rows and a fix.

Facilities that miss the network (and why), empty or mostly dropped demand, points
outside the districts, duplicate facilities and semicolon CSVs with decimal commas.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
import shapely

import siting as st
from siting.errors import CRSError, DataError, NetworkError
from siting.io.datum import wgs84_to_gcj02
from siting.network.graph import Network

VADUZ = (9.52, 47.14)
WUHAN = (114.30, 30.60)


def city(lon: float, lat: float, side: int = 11, step_m: float = 100.0) -> Network:
    """A ``side`` x ``side`` street grid centred on lon/lat, in its UTM zone."""
    crs = st.crs.utm_crs_for(lon, lat)
    x0, y0 = pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    k = np.arange(side * side)
    idx = k.reshape(side, side)
    u = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    v = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    half = (side - 1) * step_m / 2
    x = x0 - half + (k % side) * step_m
    y = y0 - half + (k // side) * step_m
    return Network.from_segments(u, v, x, y, crs, length=np.full(len(u), step_m), simplify=False)


def street(lon: float, lat: float, n: int = 11, step_m: float = 100.0) -> Network:
    """One north-south street of ``n`` nodes starting at lon/lat."""
    crs = st.crs.utm_crs_for(lon, lat)
    x0, y0 = pyproj.Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
    k = np.arange(n)
    return Network.from_segments(
        k[:-1],
        k[1:],
        np.full(n, x0),
        y0 + k * step_m,
        crs,
        length=np.full(n - 1, step_m),
        simplify=False,
    )


def lonlat_points(net: Network, xy: np.ndarray, **cols) -> gpd.GeoDataFrame:
    """Points at network coordinates ``xy`` (metres), returned in EPSG:4326."""
    g = gpd.GeoDataFrame(cols, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=net.crs)
    return g.to_crs(4326)


def write_text(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def nodes(net: Network, which) -> np.ndarray:
    return np.column_stack([net.node_x[which], net.node_y[which]])


@pytest.fixture
def vaduz():
    net = city(*VADUZ)
    demand = lonlat_points(net, nodes(net, slice(None)), population=np.full(net.n_nodes, 10.0))
    return net, demand


# ------------------------------------------------------------ facilities off the network
def test_swapped_lat_lon_is_detected_and_named(vaduz, tmp_path):
    net, demand = vaduz
    good = lonlat_points(net, nodes(net, [0, 60, 120]), name=["Library", "Clinic", "School"])
    csv = tmp_path / "facilities.csv"
    rows = [f"{n},{p.y:.7f},{p.x:.7f}" for n, p in zip(good["name"], good.geometry, strict=True)]
    csv.write_text("name,lon,lat\n" + "\n".join(rows) + "\n", encoding="utf-8")  # swapped
    existing = st.read_facilities(csv)
    with pytest.raises(NetworkError) as err:
        st.coverage(net, demand, existing, minutes=5)
    text = str(err.value)
    assert "3 of the 3 existing facilities lie more than 500 m from the walking network" in text
    assert "'Library' (row 0) at" in text and "km" in text
    assert "longitude and latitude are swapped" in text
    assert "not computed" in text


def test_gcj02_read_as_wgs84_is_detected():
    net = street(*WUHAN)
    ll = lonlat_points(net, nodes(net, [2, 5, 8]), name=["A", "B", "C"])
    lon, lat = wgs84_to_gcj02(ll.geometry.x.to_numpy(), ll.geometry.y.to_numpy())
    existing = gpd.GeoDataFrame(
        {"name": ll["name"]}, geometry=gpd.points_from_xy(lon, lat), crs=4326
    )
    demand = lonlat_points(net, nodes(net, slice(None)), population=np.ones(net.n_nodes))
    with pytest.raises(NetworkError, match=r"GCJ-02 .* Pass datum='gcj02'"):
        st.coverage(net, demand, existing, minutes=5, max_snap_m=200)


def test_degrees_labelled_as_metres_is_a_crs_mixup(vaduz):
    net, demand = vaduz
    degrees = nodes(net, [0, 1])  # numbers in metres ...
    ll = lonlat_points(net, degrees)
    wrong = gpd.GeoDataFrame(  # ... but degrees written into the network's projected CRS
        geometry=gpd.points_from_xy(ll.geometry.x, ll.geometry.y), crs=net.crs
    )
    with pytest.raises(NetworkError, match="CRS mix-up"):
        st.coverage(net, demand, wrong, minutes=5)


def test_facilities_of_another_area(vaduz):
    net, demand = vaduz
    far = nodes(net, [0, 1, 2]) + np.array([30_000.0, 0.0])
    with pytest.raises(NetworkError, match=r"row 0 at 29 km.*outside the area of the network"):
        st.coverage(net, demand, lonlat_points(net, far), minutes=5)


def test_a_few_facilities_off_the_network_warn_by_name(vaduz, caplog):
    net, demand = vaduz
    xy = nodes(net, np.arange(10) * 12)
    xy[3] += [0.0, 2_000.0]  # one of ten, 2 km north of the grid
    names = [f"centre {i}" for i in range(10)]
    existing = lonlat_points(net, xy, name=names)
    with caplog.at_level(logging.WARNING):
        cov = st.coverage(net, demand, existing, minutes=5)
    assert "1 of the 10 existing facilities lie more than 500 m" in caplog.text
    assert "'centre 3' (row 3) at 1,300 m" in caplog.text
    assert "covering nobody today" in caplog.text
    assert cov.summary()["covered_share"] > 0


def test_candidates_off_the_network_warn(vaduz, caplog):
    net, demand = vaduz
    existing = lonlat_points(net, nodes(net, [60]))
    cand = lonlat_points(net, nodes(net, [0, 10]) + np.array([[0, -900.0], [0, 0]]))
    with caplog.at_level(logging.WARNING):
        st.coverage(net, demand, existing, cand, minutes=5)
    assert "1 of the 2 candidate sites lie more than 500 m" in caplog.text
    assert "row 0 at 900 m" in caplog.text and "cannot be chosen" in caplog.text


def test_demand_off_the_network_names_the_cause(vaduz):
    net, demand = vaduz
    swapped = gpd.GeoDataFrame(
        {"population": demand["population"]},
        geometry=gpd.points_from_xy(demand.geometry.y, demand.geometry.x),
        crs=4326,
    )
    with pytest.raises(NetworkError, match=r"do not overlap.*longitude and latitude are swapped"):
        st.coverage(net, swapped, demand.iloc[:1], minutes=5)


# ------------------------------------------------------------------ empty demand
def test_all_zero_population_is_refused_at_load(tmp_path):
    path = write_text(tmp_path / "pop.csv", "lon,lat,population\n9.52,47.14,0\n9.53,47.14,0\n")
    with pytest.raises(DataError, match=r"pop\.csv: all 2 points have a population of at most 0"):
        st.read_population(path)


def test_raster_without_populated_cells_is_refused_at_load(tmp_path):
    path = tmp_path / "empty.tif"
    profile = {"driver": "GTiff", "height": 4, "width": 4, "count": 1, "dtype": "float32"}
    transform = rasterio.transform.from_origin(9.5, 47.2, 0.001, 0.001)
    with rasterio.open(path, "w", crs="EPSG:4326", transform=transform, nodata=-1, **profile) as f:
        f.write(np.full((4, 4), -1, np.float32), 1)
    with pytest.raises(DataError, match=r"empty\.tif: no populated cell or point was read"):
        st.read_population(path)


def test_population_all_outside_the_districts_is_refused(tmp_path):
    path = write_text(tmp_path / "pop.csv", "lon,lat,population\n9.52,47.14,5\n9.53,47.14,7\n")
    wuhan = gpd.GeoDataFrame({"name": ["Wuchang"]}, geometry=[shapely.box(114, 30, 115, 31)])
    with pytest.raises(DataError, match=r"none of the 2 population points \(12 persons\) lies"):
        st.read_population(path, districts=wuhan.set_crs(4326))


@pytest.mark.parametrize("reader", [st.read_population, st.read_facilities])
def test_metres_labelled_as_degrees_in_a_vector_file(tmp_path, reader):
    path = tmp_path / "points.gpkg"
    g = gpd.GeoDataFrame(
        {"population": [3.0, 4.0]},
        geometry=gpd.points_from_xy([760_000.0, 760_100.0], [5_224_000.0, 5_224_000.0]),
        crs=4326,
    )
    g.to_file(path)
    with pytest.raises(CRSError, match=r"points\.gpkg: the file says EPSG:4326.*look like metres"):
        reader(path)


# ------------------------------------------------------------ points outside districts
def test_points_outside_districts_warn_with_persons_and_reach_the_table(tmp_path, caplog):
    net = city(*VADUZ)
    net.save(tmp_path / "net.npz")
    ll = lonlat_points(net, nodes(net, slice(None)))
    lon, lat = ll.geometry.x.to_numpy(), ll.geometry.y.to_numpy()
    people = np.full(len(lon), 10.0)
    people[:11] = [1.0, 2.0, 3.0] + [4.0] * 8  # the bottom street: 38 persons
    (tmp_path / "pop.csv").write_text(
        "lon,lat,population\n"
        + "".join(f"{x:.8f},{y:.8f},{p:g}\n" for x, y, p in zip(lon, lat, people, strict=True)),
        encoding="utf-8",
    )
    box = shapely.box(lon.min() - 1e-4, lat[11] - 1e-4, lon.max() + 1e-4, lat.max() + 1e-4)
    districts = gpd.GeoDataFrame({"name": ["north"]}, geometry=[box], crs=4326)
    districts.to_file(tmp_path / "districts.geojson")
    cfg = {
        "network": str(tmp_path / "net.npz"),
        "districts": {"file": str(tmp_path / "districts.geojson")},
        "population": {"file": str(tmp_path / "pop.csv")},
        "candidates": {"spacing_m": 200},
        "solve": {"model": "target", "target": 0.5},
    }
    with caplog.at_level(logging.WARNING):
        result = st.run_scenario(cfg, write=False)
    assert "11 of 121 population points (38 persons, 3.3% of the persons)" in caplog.text
    assert "lie outside every district and were dropped" in caplog.text
    assert result.demand.attrs["dropped_outside_districts"] == {"points": 11, "persons": 38.0}
    assert result.table().loc["dropped outside the districts", "value"] == "38 persons (11 points)"


# ------------------------------------------------------------------ duplicate facilities
def test_duplicate_ids_names_and_coordinates_are_named(tmp_path, caplog):
    path = tmp_path / "centres.csv"
    path.write_text(
        "id,name,lon,lat\n"
        "1,Library,9.5200,47.1400\n"
        "2,Clinic,9.5300,47.1400\n"
        "2,Youth centre,9.5400,47.1400\n"
        "4,Library,9.5500,47.1400\n"
        "5,Day care,9.5300,47.1400\n",
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING):
        f = st.read_facilities(path)
    assert len(f) == 5  # kept: two facilities may share a name or a building
    text = caplog.text
    assert (
        "2 facilities share their id (id) with another row: row 1 (line 3), row 2 (line 4) (2)"
        in text
    )
    assert (
        "2 facilities share their name with another row: row 0 (line 2), row 3 (line 5) ('Library')"
        in text
    )
    assert "coordinates with another row: row 1 (line 3), row 4 (line 6) at (9.530000," in text


def test_distinct_candidates_do_not_warn(tmp_path, caplog):
    path = write_text(tmp_path / "candidates.csv", "lon,lat\n9.52,47.14\n9.53,47.14\n")
    with caplog.at_level(logging.WARNING):
        st.read_candidates(path)
    assert "share their" not in caplog.text


# ------------------------------------------------------------------ semicolon CSVs
def test_semicolon_csv_with_decimal_commas_is_read_right(tmp_path):
    path = tmp_path / "einrichtungen.csv"
    path.write_text(
        "name;lon;lat;capacity\nBibliothek;9,5210;47,1410;120,5\nKita;9,5305;47,1398;40\n",
        encoding="utf-8",
    )
    f = st.read_facilities(path)
    assert f["name"].tolist() == ["Bibliothek", "Kita"]
    assert f.geometry.x.tolist() == [9.521, 9.5305]
    assert f.geometry.y.tolist() == [47.141, 47.1398]
    assert f["capacity"].tolist() == [120.5, 40.0]


def test_semicolon_population_table(tmp_path):
    path = write_text(tmp_path / "pop.csv", "x;y;population\n9,52;47,14;12,5\n9,53;47,14;7\n")
    assert st.read_population(path)["population"].tolist() == [12.5, 7.0]


def test_ambiguous_decimal_commas_suggest_decimal(tmp_path):
    path = write_text(tmp_path / "mixed.csv", "lon;lat;population\n9.52;47.14;12,5\n9.53;47.14;7\n")
    with pytest.raises(
        DataError, match=r"value '12,5' is not a number; it has a decimal comma: pass decimal=','"
    ):
        st.read_population(path)
    assert st.read_population(path, decimal=",")["population"].tolist() == [12.5, 7.0]


def test_ragged_semicolon_header_suggests_sep(tmp_path):
    path = write_text(tmp_path / "ragged.csv", "name;lon;lat\nA;9.52;47.14\nB;9.53;47.14;extra\n")
    with pytest.raises(DataError, match=r"header looks separated by ';', not commas: pass sep=';'"):
        st.read_facilities(path)


def test_comma_csv_is_unchanged(tmp_path):
    path = write_text(tmp_path / "plain.csv", 'name,lon,lat\n"Hall; north",9.52,47.14\n')
    f = st.read_facilities(path)
    assert f["name"].tolist() == ["Hall; north"] and f.geometry.x.tolist() == [9.52]


def test_metres_labelled_as_degrees_given_to_coverage(vaduz):
    net, demand = vaduz
    metres = nodes(net, [0, 1])
    wrong = gpd.GeoDataFrame(
        {"population": [1.0, 2.0]},
        geometry=gpd.points_from_xy(metres[:, 0], metres[:, 1]),
        crs=4326,
    )
    with pytest.raises(CRSError, match=r"The demand is labelled EPSG:4326 .* look like metres"):
        st.coverage(net, wrong, demand.iloc[:1], minutes=5)
