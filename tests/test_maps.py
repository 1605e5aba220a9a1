"""The map's content, safety, basemaps and bytes (no browser: see test_browser.py).

Data: the hand-made Wuchang grid of ``tests/mapcase.py``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from importlib import resources

import folium
import geopandas as gpd
import mapcase
import numpy as np
import pyproj
import pytest
import shapely
from test_io_datum import ref_wgs84_to_gcj02

import siting as st
from siting.errors import DataError, OutputExistsError, ParameterError
from siting.maps import SitingMap, json_for_html, plan_map, texts, write_map
from siting.maps import layers as ly
from siting.maps.text import LANGS, STRINGS

CDN_HOSTS = ("jsdelivr", "jquery", "bootstrap", "cloudflare", "unpkg", "googleapis")


@pytest.fixture(scope="module")
def case():
    return mapcase.case()


def layer(m: SitingMap, kind: str, k: int = 0) -> dict:
    return [spec for spec in m.payload["layers"] if spec["kind"] == kind][k]


def named(m: SitingMap, name: str) -> dict:
    return next(spec for spec in m.payload["layers"] if spec["name"] == name)


def payload_from_html(html: str) -> dict:
    """The JSON payload as the page reads it (textContent of the script element)."""
    text = re.search(r'<script type="application/json"[^>]*>(.*?)</script>', html, re.S)[1]
    return json.loads(text)


# ---------------------------------------------------------------------- assets
def test_inline_map_loads_nothing_from_the_network(case) -> None:
    plan, districts, _ = case
    html = plan_map(plan, districts=districts, basemap="none").to_html()
    leaflet = (
        resources.files("siting").joinpath("assets/vendor/leaflet-1.9.4/leaflet.js").read_text()
    )
    assert leaflet[:2000].split("Leaflet", 1)[1][:6] == " 1.9.4"
    assert leaflet[5000:6000] in html  # the pinned Leaflet is inside the page
    assert not re.search(r"<script[^>]+src=", html)
    assert not re.search(r"<link[^>]+href=", html)
    assert not re.search(r"url\((?!data:|#)", html)  # css images are data: URIs
    for host in CDN_HOSTS:
        assert host not in html
    assert "sourceMappingURL" not in html


def test_cdn_assets_link_the_pinned_leaflet_with_its_hash(case) -> None:
    plan, _, _ = case
    inline = plan_map(plan, basemap="none", areas=False).to_html()
    cdn = plan_map(plan, basemap="none", areas=False, assets="cdn").to_html()
    js = resources.files("siting").joinpath("assets/vendor/leaflet-1.9.4/leaflet.js").read_bytes()
    sri = "sha256-" + base64.b64encode(hashlib.sha256(js).digest()).decode()
    assert (
        f'src="https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js" integrity="{sri}"' in cdn
    )
    assert len(cdn) < len(inline) - 140_000
    for host in ("jquery", "bootstrap", "cloudflare"):
        assert host not in cdn


def test_leaflet_ships_with_its_licence() -> None:
    folder = resources.files("siting").joinpath("assets/vendor/leaflet-1.9.4")
    assert "BSD 2-Clause" in folder.joinpath("LICENSE").read_text()


def test_unknown_options_are_refused(case) -> None:
    plan, _, _ = case
    with pytest.raises(ParameterError, match=r"basemap='google'.*'osm'"):
        plan_map(plan, basemap="google")
    with pytest.raises(ParameterError, match=r"lang='fr'.*'zh'"):
        plan_map(plan, lang="fr")
    with pytest.raises(ParameterError, match=r"assets='local'.*'inline'"):
        plan_map(plan, assets="local")


# ---------------------------------------------------------------------- basemaps
def test_tianditu_takes_its_key_from_the_environment(case, monkeypatch) -> None:
    plan, _, _ = case
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    with pytest.raises(ParameterError, match="TIANDITU_KEY"):
        plan_map(plan, basemap="tianditu", areas=False)
    monkeypatch.setenv("TIANDITU_KEY", "abc123")
    tiles = plan_map(plan, basemap="tianditu", lang="zh", areas=False).payload["tiles"]
    assert [re.search(r"LAYER=(\w+)", t["url"])[1] for t in tiles] == ["vec", "cva"]
    assert all("tk=abc123" in t["url"] for t in tiles)


@pytest.mark.parametrize(
    ("name", "host"),
    [("osm", "tile.openstreetmap.org"), ("amap", "webrd0"), ("amap-satellite", "webst0")],
)
def test_basemap_tiles(case, name, host) -> None:
    plan, _, _ = case
    tiles = plan_map(plan, basemap=name, areas=False).payload["tiles"]
    assert tiles and all(host in t["url"] for t in tiles)
    assert plan_map(plan, basemap="none", areas=False).payload["tiles"] == []


# the published WGS-84 -> GCJ-02 formula, transcribed independently of siting.io.datum
published_gcj02 = ref_wgs84_to_gcj02


GEOD = pyproj.Geod(ellps="WGS84")


def metres_apart(a: tuple[float, float], b: tuple[float, float]) -> float:
    return abs(GEOD.inv(a[0], a[1], b[0], b[1])[2])


def test_amap_moves_a_wuhan_site_to_the_published_gcj02_position(case) -> None:
    plan, _, _ = case
    site = plan.sites[plan.sites["existing"]].to_crs(4326).geometry.iloc[0]
    shown = layer(plan_map(plan, basemap="amap", areas=False), "points")
    drawn = (shown["lon"][0] / 1e5, shown["lat"][0] / 1e5)
    assert metres_apart(drawn, published_gcj02(site.x, site.y)) < 1.0
    assert metres_apart(drawn, (site.x, site.y)) > 300  # GCJ-02 is hundreds of metres off
    plain = layer(plan_map(plan, basemap="osm", areas=False), "points")
    assert metres_apart((plain["lon"][0] / 1e5, plain["lat"][0] / 1e5), (site.x, site.y)) < 1.0


def _cells_lonlat(spec: dict) -> np.ndarray:
    return np.column_stack([np.cumsum(spec["x"]), np.cumsum(spec["y"])]) / 1e5


def test_amap_shifts_every_overlay(case) -> None:
    """Cells, polygons (districts, service areas, circles) and sites: all by the offset."""
    plan, districts, _ = case
    amap = plan_map(plan, basemap="amap", districts=districts)
    osm = plan_map(plan, basemap="osm", districts=districts)
    drawn, plain = _cells_lonlat(layer(amap, "cells")), _cells_lonlat(layer(osm, "cells"))
    expected = np.array([published_gcj02(x, y) for x, y in plain])
    assert np.abs(drawn - expected).max() <= 1.01e-5  # both rounded to 1e-5 degrees
    for k in range(len([s for s in osm.payload["layers"] if s["kind"] == "polygons"])):
        a = shapely.geometry.shape(layer(amap, "polygons", k)["features"][0]["g"]).centroid
        o = shapely.geometry.shape(layer(osm, "polygons", k)["features"][0]["g"]).centroid
        assert metres_apart((a.x, a.y), published_gcj02(o.x, o.y)) < 2.0
    for k in (0, 1):
        a, o = layer(amap, "points", k), layer(osm, "points", k)
        for i in range(len(o["lon"])):
            want = published_gcj02(o["lon"][i] / 1e5, o["lat"][i] / 1e5)
            assert metres_apart((a["lon"][i] / 1e5, a["lat"][i] / 1e5), want) < 1.5
    assert "GCJ-02" in json.dumps(amap.payload["legend"])


# ---------------------------------------------------------------------- content
def test_residents_are_one_canvas_layer_not_markers(case) -> None:
    plan, _, _ = case
    m = plan_map(plan, basemap="none", areas=False)
    cells = layer(m, "cells")
    demand = plan.demand
    assert len(cells["pop"]) == int((demand["population"] > 0).sum()) == 300
    assert sum(cells["pop"]) / 10 == pytest.approx(demand["population"].sum())
    before = demand["covered_before"].to_numpy()
    after = demand["covered_after"].to_numpy()
    want = {0: int((~after).sum()), 1: int(before.sum()), 2: int((after & ~before).sum())}
    assert {k: cells["cls"].count(str(k)) for k in range(3)} == want
    assert cells["size_m"] == pytest.approx(100.0)  # the grid's spacing
    assert "L.circleMarker" not in m.to_html()


def test_many_residents_are_gridded_and_keep_their_persons(case, monkeypatch) -> None:
    plan, _, _ = case
    monkeypatch.setattr(ly, "MAX_CELLS", 50)
    cells = layer(plan_map(plan, basemap="none", areas=False), "cells")
    assert len(cells["pop"]) <= 50
    assert sum(cells["pop"]) / 10 == pytest.approx(plan.demand["population"].sum(), abs=3)


def test_sites_are_distinct_symbols_with_their_numbers(case) -> None:
    plan, _, _ = case
    m = plan_map(plan, basemap="none", areas=False)
    existing, new = layer(m, "points", 0), layer(m, "points", 1)
    assert (existing["symbol"], new["symbol"]) == ("circle", "diamond")
    assert existing["colour"] != new["colour"]
    assert existing["titles"] == ["Library"]
    assert len(new["titles"]) == plan.summary()["new_sites"]
    # a new site's popup: persons newly covered, recounted from the distance matrix
    k = 0
    row = plan.new_sites.iloc[k]
    cov = plan.coverage
    reach = cov.distance[row.name].toarray().ravel()
    reached = (reach > 0) | (cov.distance[row.name].toarray().ravel() == 0)
    reached &= np.isin(np.arange(cov.n_demand), cov.distance[row.name].indices)
    reached &= reach <= cov.threshold_m(plan.minutes)
    gain = cov.population[reached & ~plan.demand["covered_before"].to_numpy()].sum()
    popup = dict(new["rows"][new["titles"].index(row["name"])])
    assert popup["Residents newly covered"] == f"{gain:,.0f} persons"
    assert popup["Kind"] == "new site"
    assert popup["Their mean walk"].endswith(" m")


def test_districts_coloured_by_share_with_popups(case) -> None:
    plan, districts, _ = case
    m = plan_map(plan, basemap="none", districts=districts, areas=False)
    spec = named(m, "Districts: share covered")
    stats = plan.stats("district")
    assert [f["title"] for f in spec["features"]] == list(districts["name"])
    for f in spec["features"]:
        row = stats.loc[f["title"]]
        assert f["fill"] == ly.SHARE_COLOURS[ly.share_class(row["share_after"])]
        rows = dict(f["rows"])
        assert rows["Residents"] == f"{row['population']:,.0f} persons"
        assert rows["Covered before → after"] == (
            f"{row['covered_before']:,.0f} persons → {row['covered_after']:,.0f} persons"
        )
    # new sites counted per district polygon (west of the middle or east)
    x_mid = mapcase.origin()[0] + mapcase.BLOCK_M * mapcase.NX / 2
    new = plan.sites[plan.sites["new"]]
    west = int((new.geometry.x < x_mid).sum())
    counts = [dict(f["rows"])["New sites"] for f in spec["features"]]
    assert counts == [str(west), str(len(new) - west)]
    legend = m.payload["legend"]["sections"]
    assert any(s["title"] == "District share covered" and len(s["items"]) == 5 for s in legend)


def test_district_polygons_are_assigned_when_the_demand_has_no_district(case) -> None:
    plan, districts, _ = mapcase.case(with_district_column=False)
    spec = named(
        plan_map(plan, basemap="none", districts=districts, areas=False), "Districts: share covered"
    )
    populations = [dict(f["rows"])["Residents"] for f in spec["features"]]
    assert populations == [
        f"{plan.demand['population'].to_numpy()[:150].sum():,.0f} persons",
        f"{plan.demand['population'].to_numpy()[150:].sum():,.0f} persons",
    ]


def test_without_district_polygons_the_legend_says_so(case) -> None:
    plan, _, _ = case
    m = plan_map(plan, basemap="none", areas=False)
    assert not [s for s in m.payload["layers"] if s["name"].startswith("Districts")]
    assert "No district polygons given" in " ".join(m.payload["legend"]["notes"])


def test_district_names_that_match_nothing_are_refused(case) -> None:
    plan, districts, _ = case
    other = districts.assign(name=["north", "south"])
    with pytest.raises(DataError, match="none of the 2 polygon names"):
        plan_map(plan, districts=other)


def test_service_areas_per_threshold_and_circles_toggled(case) -> None:
    plan, _, _ = case
    m = plan_map(plan, basemap="none")
    names = [s["name"] for s in m.payload["layers"] if s["kind"] == "polygons"]
    assert names == ["5-minute walk", "10-minute walk", "1,000 m circles"]
    assert not any(s["show"] for s in m.payload["layers"] if s["kind"] == "polygons")
    five = shapely.geometry.shape(named(m, "5-minute walk")["features"][0]["g"])
    ten = shapely.geometry.shape(named(m, "10-minute walk")["features"][0]["g"])
    assert five.area < ten.area
    # the circles: the union of 1,000 m disks around the open sites
    circles = gpd.GeoSeries(
        [shapely.geometry.shape(named(m, "1,000 m circles")["features"][0]["g"])], crs=4326
    ).to_crs(mapcase.UTM50)
    disks = plan.sites[plan.selected].buffer(1000.0, 64).union_all()
    assert circles.area.iloc[0] == pytest.approx(disks.area, rel=0.01)


def test_a_plan_draws_its_service_areas_once(tmp_path, monkeypatch) -> None:
    """The map in the notebook, the bundle's map and the plan's own call share one
    computation of each (minutes, dissolve); each caller gets its own copy."""
    from siting.network import isochrones

    plan = dataclasses.replace(mapcase.case()[0])  # a plan with nothing drawn yet
    calls = []
    real = isochrones.service_areas

    def counting(*args, **kwargs):
        calls.append(tuple(kwargs["minutes"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(isochrones, "service_areas", counting)
    plan.explore(basemap="none")
    plan.to_file(tmp_path / "bundle")
    assert calls == [(5.0, 10.0)]  # the coverage's thresholds, once for both maps
    mine = plan.service_areas(minutes=[10, 5])
    mine["minutes"] = -1.0  # a copy: the plan's stay as they were
    assert calls == [(5.0, 10.0)]
    assert plan.service_areas(minutes=(5, 10))["minutes"].tolist() == [5.0, 10.0]
    assert plan.service_areas()["minutes"].tolist() == [plan.minutes]
    assert calls == [(5.0, 10.0), (plan.minutes,)]


def test_a_straight_line_plan_has_no_walking_areas() -> None:
    plan, _, _ = mapcase.case(mode="circle")
    kinds = [s["name"] for s in plan_map(plan, basemap="none").payload["layers"]]
    assert not [k for k in kinds if "walk" in k]
    assert "1,000 m circles" in kinds


def test_every_string_has_both_languages() -> None:
    for key, by_lang in STRINGS.items():
        assert set(by_lang) == set(LANGS), key
        assert all(v.strip() for v in by_lang.values()), key


def _strings(data) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for k, v in data.items() if k not in ("g", "tiles") for s in _strings(v)]
    if isinstance(data, list):
        return [s for v in data for s in _strings(v)]
    return []


def test_zh_map_has_no_english_label(case) -> None:
    plan, districts, _ = case
    m = plan_map(plan, lang="zh", basemap="none", districts=districts)
    english = {v["en"] for v in STRINGS.values() if v["en"] != v["zh"]}
    english |= {v["en"].split("{")[0] for v in STRINGS.values() if "{" in v["en"]} - {""}
    shown = set(_strings(m.payload)) - {"Library"} - {f"candidate {k}" for k in range(20)}
    leaks = {s for s in shown for e in english if e and e in s and len(e) > 3}
    assert not leaks
    assert named(m, texts("zh")["layer.new"])["symbol"] == "diamond"
    assert "新增" in m.payload["legend"]["title"]


# ---------------------------------------------------------------------- safety
def test_names_reach_the_page_only_as_escaped_json() -> None:
    plan, districts, _ = mapcase.case(xss=True)
    html = plan_map(plan, districts=districts, basemap="none").to_html()
    for payload in (mapcase.XSS_SITE, mapcase.XSS_SCRIPT, mapcase.XSS_DISTRICT):
        assert payload not in html
    assert "<img src=x" not in html and "</script><script>window" not in html
    data = payload_from_html(html)
    titles = [t for s in data["layers"] if s["kind"] == "points" for t in s["titles"]]
    assert mapcase.XSS_SITE in titles and mapcase.XSS_SCRIPT in titles
    # and the script draws text only: no innerHTML with data anywhere in it
    js = resources.files("siting").joinpath("assets/siting-map.js").read_text()
    assert "innerHTML" not in re.sub(r"/\*.*?\*/", "", js, flags=re.S)


def test_json_for_html_escapes_what_could_close_a_script() -> None:
    text = json_for_html({"a": "</script><b>&amp;", "b": [1.5, None]})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><b>&amp;", "b": [1.5, None]}


def test_a_user_title_is_text(case) -> None:
    plan, _, _ = case
    m = plan_map(plan, basemap="none", areas=False, title="<b>Plan</b> & co")
    assert m.payload["legend"]["title"] == "<b>Plan</b> & co"
    assert "<b>Plan</b>" not in m.to_html()


# ---------------------------------------------------------------------- bytes
def test_the_same_plan_gives_the_same_bytes(tmp_path, case) -> None:
    plan, districts, _ = case
    a = write_map(plan, tmp_path / "a.html", districts=districts, lang="zh", basemap="amap")
    b = write_map(plan, tmp_path / "b.html", districts=districts, lang="zh", basemap="amap")
    assert a.read_bytes() == b.read_bytes()
    html = a.read_text()
    assert not re.search(r"_[0-9a-f]{32}\b", html)  # no random folium ids
    # the same plan solved again, not just the same object
    again, _, _ = mapcase.case.__wrapped__()
    c = write_map(again, tmp_path / "c.html", districts=districts, lang="zh", basemap="amap")
    assert c.read_bytes() == a.read_bytes()


def test_write_map_refuses_to_overwrite(tmp_path, case) -> None:
    plan, _, _ = case
    path = write_map(plan, tmp_path / "map.html", areas=False)
    with pytest.raises(OutputExistsError, match="force"):
        write_map(plan, path, areas=False)
    write_map(plan, path, areas=False, force=True)


# ---------------------------------------------------------------------- folium
def test_explore_is_a_folium_map_users_can_extend(case) -> None:
    plan, _, _ = case
    m = plan.explore(basemap="none", lang="en", assets="inline", areas=False)
    assert isinstance(m, folium.Map)
    folium.Marker([mapcase.LAT0, mapcase.LON0], popup="<b>my note</b>").add_to(m)
    html = m.to_html()
    assert "L.marker" in html and "my note" in html
    assert "window.$=window.$||" in html  # folium popups work without jQuery
    assert "srcdoc=" in m._repr_html_()  # displays inline in Jupyter
    assert m.to_html() == html  # rendering twice changes nothing


def test_coverage_map_shows_who_is_covered_today(case) -> None:
    plan, _, _ = case
    from siting.maps import coverage_map

    m = coverage_map(plan.coverage, minutes=5, basemap="none", lang="zh")
    cells = layer(m, "cells")
    covered = plan.coverage.covered(None, 5)
    assert cells["cls"].count("1") == int(covered.sum())
    assert m.payload["legend"]["title"].startswith("步行路网")


def test_plan_to_file_writes_the_report_beside_the_map(tmp_path, case) -> None:
    plan, _, _ = case
    written = plan.to_file(tmp_path / "out")
    assert set(written) == {"gpkg", "stats", "summary", "tables", "map", "report"}
    report = (tmp_path / "out" / "report.html").read_text()
    assert 'src="map.html"' in report
    assert st.OutputExistsError is OutputExistsError
