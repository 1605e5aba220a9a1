"""The norm audit against hand-computed answers: every rule of every preset, the life-circle
levels (not nested), the complete basket, the tables written, and bad input.

The worlds are small: square communities of 1 km side side by side (EPSG:32650 metres),
four demand points in each, facilities placed by hand; households and staff given on the
community polygons, so every expected number below is worked out by hand.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import shapely
from hypothesis import given, settings
from hypothesis import strategies as hs

import siting as st
from siting import standards as S
from siting.compliance import reach
from siting.errors import DataError, MissingColumnError, OutputExistsError, ParameterError

CRS = "EPSG:32650"
X0, Y0 = 500_000.0, 3_400_000.0
QUARTERS = ((250, 250), (750, 250), (250, 750), (750, 750))


def world(
    n: int = 1,
    *,
    households=None,
    population=None,
    staff=None,
    urban=None,
    facilities=(),
    subdistricts=None,
    sub_urban=None,
    district: bool = False,
):
    """Communities 'A', 'B', ... (1 km squares in a row), their demand and facilities.

    ``facilities``: (type, floor area m² or None, community index, dx metres from the
    community's centre). ``subdistricts``: lists of community indices, one per sub-district
    'S1', 'S2', ...
    """
    names = [chr(ord("A") + i) for i in range(n)]
    boxes = [shapely.box(X0 + i * 1000, Y0, X0 + (i + 1) * 1000, Y0 + 1000) for i in range(n)]
    comm = gpd.GeoDataFrame({"name": names}, geometry=boxes, crs=CRS)
    for col, values in (("households", households), ("population", population)):
        if values is not None:
            comm[col] = values
    if staff is not None:
        comm["staff"] = staff
    if urban is not None:
        comm["urban"] = urban
    pop = np.asarray(population if population is not None else [1000.0] * n, float)
    pts = [(X0 + i * 1000 + dx, Y0 + dy) for i in range(n) for dx, dy in QUARTERS]
    demand = gpd.GeoDataFrame(
        {"population": np.repeat(pop / 4, 4)},
        geometry=gpd.points_from_xy(*zip(*pts, strict=True)),
        crs=CRS,
    )
    fac = gpd.GeoDataFrame(
        {
            "type": [f[0] for f in facilities],
            "floor_area_m2": [np.nan if f[1] is None else f[1] for f in facilities],
            "name": [f"{f[0]} {k}" for k, f in enumerate(facilities)],
        },
        geometry=gpd.points_from_xy(
            [X0 + f[2] * 1000 + 500 + (f[3] if len(f) > 3 else 0) for f in facilities],
            [Y0 + 500] * len(facilities),
        ),
        crs=CRS,
    )
    subs = None
    if subdistricts is not None:
        subs = gpd.GeoDataFrame(
            {"name": [f"S{k + 1}" for k in range(len(subdistricts))]},
            geometry=[shapely.union_all([boxes[i] for i in g]) for g in subdistricts],
            crs=CRS,
        )
        if sub_urban is not None:
            subs["urban"] = sub_urban
    dist = None
    if district:
        dist = gpd.GeoDataFrame({"name": ["D"]}, geometry=[shapely.union_all(boxes)], crs=CRS)
    return {
        "demand": demand,
        "facilities": fac,
        "communities": comm,
        "subdistricts": subs,
        "districts": dist,
    }


def run(preset, **kw) -> st.Audit:
    w = world(**kw)
    return st.audit(
        None,
        w["demand"],
        w["facilities"],
        preset=preset,
        communities=w["communities"],
        subdistricts=w["subdistricts"],
        districts=w["districts"],
    )


def row(a: st.Audit, rule: str, unit: str) -> pd.Series:
    c = a.compliance
    hit = c[(c["rule"] == rule) & (c["unit"] == unit)]
    assert len(hit) == 1, f"{rule} / {unit}: {len(hit)} rows"
    return hit.iloc[0]


STATION, CENTRE = "community_service_station", "community_service_centre"
BASKET_TYPES = [
    STATION,
    "kindergarten",
    "nursery",
    "elderly_care",
    "health_station",
    "supermarket",
    "parcel_point",
    "convenience_shop",
    "public_green",
]

#: (preset, rule, world, unit, status, required, provided, shortfall): worked by hand
CASES = [
    # national 2011-2015: 3,000 households x 20 m² / 100 = 600 m²; a 500 m² station: 100 short
    ("national-2011", "floor-area-per-100-households",
     {"households": [3000], "facilities": [(STATION, 500, 0)]}, "A", "fail", 600, 500, 100),
    ("national-2011", "centre-per-subdistrict",
     {"n": 2, "facilities": [(CENTRE, None, 1)], "subdistricts": [[0], [1]]},
     "S1", "fail", 1, 0, 1),
    ("national-2011", "station-per-community",
     {"n": 2, "facilities": [(STATION, 300, 1)]}, "B", "pass", 1, 1, 0),
    # 9 of 10 communities have a station: ceil(0.9 x 10) = 9 -> the 90% target is met
    ("national-2011", "station-coverage-90pct",
     {"n": 10, "facilities": [(STATION, 300, i) for i in range(9)]},
     "(all communities)", "pass", 9, 9, 0),
    # Shijiazhuang: 2,500 households x 20 / 100 = 500 m²
    ("shijiazhuang-2016", "floor-area-per-100-households",
     {"households": [2500], "facilities": [(STATION, 400, 0)]}, "A", "fail", 500, 400, 100),
    ("shijiazhuang-2016", "station-300m2-urban",
     {"facilities": [(STATION, 280, 0)]}, "A", "fail", 1, 0, 1),
    # 4 rural communities, 2 with a 300 m² station: ceil(0.5 x 4) = 2 -> met
    ("shijiazhuang-2016", "station-300m2-rural",
     {"n": 4, "urban": [False] * 4, "facilities": [(STATION, 300, 0), (STATION, 310, 2)]},
     "(all rural communities)", "pass", 2, 2, 0),
    ("shijiazhuang-2016", "centre-600m2-per-subdistrict",
     {"facilities": [(CENTRE, 600, 0)], "subdistricts": [[0]]}, "S1", "pass", 1, 1, 0),
    ("shijiazhuang-2016", "district-centre-1000m2",
     {"facilities": [("district_service_centre", 999, 0)], "district": True},
     "D", "fail", 1, 0, 1),
    # Taizhou: 3,000 households x 30 / 100 = 900 m² (the example); 660 m²: 240 short
    ("taizhou-2023", "floor-area-per-100-households",
     {"households": [3000], "facilities": [(STATION, 400, 0), (STATION, 260, 0, 100)]},
     "A", "fail", 900, 660, 240),
    ("taizhou-2023", "centre-600m2-per-subdistrict",
     {"facilities": [(CENTRE, 650, 0)], "subdistricts": [[0]]}, "S1", "pass", 1, 1, 0),
    # 12,000 residents x 18 / 10,000 = 21.6 -> 22 workers; 21 given: 1 short
    ("taizhou-2023", "staff-per-10000-residents",
     {"population": [12000], "staff": [21]}, "A", "fail", 22, 21, 1),
    # only the urban sub-district is judged; it has the centre
    ("taizhou-2023", "elderly-care-centre-per-subdistrict",
     {"n": 2, "facilities": [("elderly_care_centre", None, 0)], "subdistricts": [[0], [1]],
      "sub_urban": [True, False]},
     "(all urban sub-districts)", "pass", 1, 1, 0),
    # 10 sub-districts, 8 with a station: ceil(0.9 x 10) = 9 needed, 1 short
    ("taizhou-2023", "child-protection-90pct-subdistricts",
     {"n": 10, "facilities": [("child_protection_station", None, i) for i in range(8)],
      "subdistricts": [[i] for i in range(10)]},
     "(all sub-districts)", "fail", 9, 8, 1),
    ("taizhou-2023", "volunteer-station-per-community",
     {"n": 2, "facilities": [("volunteer_station", None, 0)]}, "B", "fail", 1, 0, 1),
    # 3,500 households: 500 above the 3,000 maximum
    ("taizhou-2023", "community-size-urban", {"households": [3500]}, "A", "fail", 3000, 3500, 500),
    ("taizhou-2023", "community-size-rural",
     {"households": [900], "urban": [False]}, "A", "fail", 1000, 900, 100),
    # Zhejiang: a 349 m² station is not a 350 m² station
    ("zhejiang-2007", "station-350m2-per-community",
     {"facilities": [(STATION, 349, 0)]}, "A", "fail", 1, 0, 1),
    # 2,500 households: 5 + floor(500 / 400) = 6 workers (the example); 5 given
    ("zhejiang-2007", "staff-per-community",
     {"households": [2500], "staff": [5]}, "A", "fail", 6, 5, 1),
    # Hangzhou: 8 of 10 communities with a rehabilitation station: 9 needed
    ("hangzhou", "rehabilitation-90pct-communities",
     {"n": 10, "facilities": [("rehabilitation_station", None, i) for i in range(8)]},
     "(all communities)", "fail", 9, 8, 1),
    # 9 of 11: ceil(0.9 x 11) = ceil(9.9) = 10 needed, 1 short
    ("hangzhou", "rehabilitation-90pct-communities",
     {"n": 11, "facilities": [("rehabilitation_station", None, i) for i in range(9)]},
     "(all communities)", "fail", 10, 9, 1),
    # complete community: B has one of each, A none; the activity ground needs >= 150 m²
    *[
        ("complete-community-2022", rid,
         {"n": 2, "facilities": [(t, 100, 1) for t in BASKET_TYPES]}, unit, status, 1, got, 1 - got)
        for rid in ("service-station", "kindergarten", "nursery", "elderly-service-station",
                    "health-station", "supermarket", "parcel-point", "convenience-shops",
                    "public-green")
        for unit, status, got in (("A", "fail", 0), ("B", "pass", 1))
    ],
    ("complete-community-2022", "activity-ground-150m2",
     {"n": 2, "facilities": [("activity_ground", 150, 0), ("activity_ground", 149, 1)]},
     "B", "fail", 1, 0, 1),
]  # fmt: skip


@pytest.mark.parametrize(
    ("preset", "rule", "spec", "unit", "status", "required", "provided", "shortfall"),
    CASES,
    ids=[f"{c[0]}:{c[1]}:{c[3]}" for c in CASES],
)
def test_every_rule_by_hand(preset, rule, spec, unit, status, required, provided, shortfall):
    r = row(run(preset, **spec), rule, unit)
    assert r["status"] == status
    assert r["required"] == pytest.approx(required)
    assert r["provided"] == pytest.approx(provided)
    assert r["shortfall"] == pytest.approx(shortfall)
    if status in ("pass", "fail"):
        assert bool(r["passed"]) is (status == "pass")
    else:
        assert pd.isna(r["passed"])


def test_the_cases_cover_every_rule_of_every_preset():
    covered = {(c[0], c[1]) for c in CASES}
    every = {(name, r.id) for name in S.presets() for r in S.load_preset(name).rules}
    assert every - covered == set()


def test_boundaries_of_the_examples():
    # exactly at the norm passes: 900 m² for 3,000 households at 30 m²
    a = run("taizhou-2023", households=[3000], facilities=[(STATION, 900, 0)])
    assert row(a, "floor-area-per-100-households", "A")["status"] == "pass"
    # 2,399 households: still 5 workers; 2,400: 6
    a = run("zhejiang-2007", n=2, households=[2399, 2400], staff=[5, 5])
    assert row(a, "staff-per-community", "A")["status"] == "pass"
    assert row(a, "staff-per-community", "B")["required"] == 6
    # 10,000 residents: exactly 18 workers
    a = run("taizhou-2023", population=[10_000], staff=[18])
    assert row(a, "staff-per-10000-residents", "A")["status"] == "pass"


def test_households_given_demand_or_derived_with_the_census_size():
    w = world(n=2, households=[np.nan, 1500.0])
    w["demand"]["households"] = 100.0  # 4 points x 100 = 400 per community
    a = st.audit(None, w["demand"], w["facilities"], communities=w["communities"])
    t = a.by_unit.loc["community"]
    assert (
        t.loc["A", "households"] == 400 and t.loc["A", "households_source"] == "demand households"
    )
    assert t.loc["B", "households"] == 1500 and t.loc["B", "households_source"] == "given"
    b = run("national-2011", population=[2620.0])
    t = b.by_unit.loc["community"]
    assert t.loc["A", "households"] == pytest.approx(1000)
    assert t.loc["A", "households_source"] == "population ÷ 2.62"
    c = st.audit(None, world()["demand"], None, communities=world()["communities"],
                 persons_per_household=2.0)  # fmt: skip
    assert c.by_unit.loc[("community", "A"), "households"] == pytest.approx(500)


def test_rules_without_their_units_are_not_applicable():
    a = run("national-2011")  # no sub-districts given
    r = row(a, "centre-per-subdistrict", "(none)")
    assert r["status"] == "n/a" and "no sub-districts given" in r["detail"]
    r = row(run("shijiazhuang-2016"), "station-300m2-rural", "(none)")  # all urban by default
    assert r["status"] == "n/a" and "'urban' column" in r["detail"]


# ----------------------------------------------------------------------------- life circles
def _one_cell(facilities, preset="gb50180-2018", level_distance="standard"):
    """One demand point at the origin and facilities at (type, metres east).

    (Plus an empty point 1.5 km east, so that coverage's check that the layers overlap
    holds when every facility is beyond reach of the first point.)
    """
    demand = gpd.GeoDataFrame(
        {"population": [100.0, 0.0]},
        geometry=[shapely.Point(X0, Y0), shapely.Point(X0 + 1500, Y0)],
        crs=CRS,
    )
    fac = gpd.GeoDataFrame(
        {"type": [t for t, _ in facilities]},
        geometry=[shapely.Point(X0 + d, Y0) for _, d in facilities],
        crs=CRS,
    )
    return st.audit(None, demand, fac, preset=preset, level_distance=level_distance)


def _met(a: st.Audit, level: str, requirement: str) -> float:
    t = a.life_circle
    hit = t[
        (t["unit_level"] == "total") & (t["level"] == level) & (t["requirement"] == requirement)
    ]
    return float(hit["share"].iloc[0])


def test_a_15_minute_facility_does_not_satisfy_a_5_minute_requirement():
    # a sub-district centre (15-minute basket) right next door, a station 600 m away
    a = _one_cell([(CENTRE, 50), (STATION, 600)])
    assert _met(a, "15min", CENTRE) == 1.0
    assert _met(a, "5min", STATION) == 0.0  # 600 m > 300 m, and the centre does not count
    # the same station at 299 m satisfies the 5-minute requirement
    b = _one_cell([(CENTRE, 50), (STATION, 299)])
    assert _met(b, "5min", STATION) == 1.0
    # read in minutes (5 min at 4.5 km/h = 375 m), 350 m is within
    c = _one_cell([(STATION, 350)], level_distance="minutes")
    assert _met(c, "5min", STATION) == 1.0
    assert _met(_one_cell([(STATION, 350)]), "5min", STATION) == 0.0


#: the presets whose levels are checked in ``make test``; the others in ``make test-all``
FAST_PRESETS = ("gb50180-2018", "hangzhou")


@pytest.mark.parametrize(
    "name",
    [n if n in FAST_PRESETS else pytest.param(n, marks=pytest.mark.slow) for n in S.presets()],
)
def test_every_level_of_every_preset_inside_and_outside_its_distance(name):
    preset = S.load_preset(name)
    for lv in preset.levels:
        d = lv.distance_m("standard")
        for alternatives in lv.basket:
            label = "|".join(alternatives)
            for t in alternatives:  # any alternative satisfies the requirement
                inside = _one_cell([(t, d - 1)], preset=name)
                outside = _one_cell([(t, d + 1)], preset=name)
                assert _met(inside, lv.name, label) == 1.0, (name, lv.name, t)
                assert _met(outside, lv.name, label) == 0.0, (name, lv.name, t)
        # the whole basket just inside: complete; one missing: not
        types = [alt[0] for alt in lv.basket]
        full = _one_cell([(t, d - 1) for t in types], preset=name)
        assert _met(full, lv.name, reach.COMPLETE) == 1.0
        short = _one_cell([(t, d - 1) for t in types[1:]], preset=name)
        assert _met(short, lv.name, reach.COMPLETE) == 0.0


def test_the_fast_presets_are_presets_with_levels():
    for name in FAST_PRESETS:  # the fast case above checks some levels
        assert S.load_preset(name).levels, name


def test_levels_in_the_compliance_table_judged_only_with_a_target():
    w = world(n=2)
    fac = gpd.GeoDataFrame(
        {"type": ["kindergarten"]}, geometry=[shapely.Point(X0 + 250, Y0 + 250)], crs=CRS
    )
    a = st.audit(None, w["demand"], fac, preset="gb50180-2018", communities=w["communities"])
    r = row(a, "5min", "A")
    assert r["kind"] == "life_circle" and r["status"] == "no target"
    assert r["provided"] == 0.0 and "fewest reach community_service_station (0%)" in r["detail"]
    assert row(a, "5min", "(all residents)")["unit_level"] == "total"
    # a planner's target: 5% of persons with the whole 5-minute basket
    goal = S.load_preset("gb50180-2018").edit("5min", share=0.05)
    b = st.audit(None, w["demand"], fac, preset=goal, communities=w["communities"])
    r = row(b, "5min", "A")
    assert (r["status"], r["required"], r["shortfall"]) == ("fail", 0.05, 0.05)
    assert b.by_unit.loc[("community", "A"), "status"] == "fail"
    # the whole basket at A's south-west point: 250 of A's 1,000 persons (25%)
    basket = [t for alt in goal.levels[2].basket for t in alt]
    full = gpd.GeoDataFrame(
        {"type": basket}, geometry=[shapely.Point(X0 + 250, Y0 + 250)] * len(basket), crs=CRS
    )
    c = st.audit(None, w["demand"], full, preset=goal, communities=w["communities"])
    r = row(c, "5min", "A")
    assert (r["status"], r["provided"]) == ("pass", 0.25)
    assert row(c, "5min", "(all residents)")["provided"] == 0.125


def test_life_circle_shares_per_unit_and_for_buildings():
    w = world(n=2)
    w["demand"]["building"] = "apartments"  # each demand point is a building
    w["demand"].loc[0, "population"] = 700.0  # A: 700 + 3 x 250 persons
    # a station at A's south-west quarter point: 300 m reaches only that point
    fac = gpd.GeoDataFrame(
        {"type": [STATION]}, geometry=[shapely.Point(X0 + 250, Y0 + 250)], crs=CRS
    )
    a = st.audit(None, w["demand"], fac, preset="gb50180-2018", communities=w["communities"])
    t = a.life_circle.set_index(["unit_level", "unit", "level", "requirement"])
    r = t.loc[("community", "A", "5min", STATION)]
    assert r["population"] == 1450 and r["population_reached"] == 700
    assert r["share"] == pytest.approx(700 / 1450)
    assert r["buildings"] == 4 and r["buildings_reached"] == 1 and r["building_share"] == 0.25
    assert t.loc[("community", "B", "5min", STATION)]["share"] == 0.0
    assert t.loc[("total", "total", "5min", STATION)]["population_reached"] == 700
    cells = a.cells
    assert cells.crs.to_epsg() == 4326 and cells["community"].tolist()[:5] == ["A"] * 4 + ["B"]
    assert cells[f"5min: {STATION}"].tolist() == [True] + [False] * 7
    assert cells[f"walk_m {STATION}"].iloc[0] == 0.0
    assert a.by_unit.loc[("community", "A"), "complete 5min share"] == 0.0


@settings(max_examples=30, deadline=None)  # 30 random cities: 2.3 s
@given(
    hs.integers(1, 30),
    hs.integers(1, 25),
    hs.integers(0, 2**31 - 1),
)
def test_the_complete_basket_never_exceeds_any_single_type(n_demand, n_fac, seed):
    rng = np.random.default_rng(seed)
    preset = S.load_preset("gb50180-2018")
    names = tuple(preset.known_types)
    used = [t for lv in preset.levels for alt in lv.basket for t in alt]
    code = np.array([names.index(t) for t in rng.choice(used, n_fac)])
    dense = rng.uniform(0, 1200, (n_fac, n_demand))
    dense[rng.random(dense.shape) < 0.5] = 0  # not stored: beyond reach
    walk = sp.csr_matrix(dense)
    distance = {lv.name: lv.distance_m() for lv in preset.levels}
    lc = reach.evaluate(preset.levels, walk, code, names, distance)
    pop = rng.uniform(0, 50, n_demand)
    unit_code = rng.integers(-1, 3, n_demand)
    unit = st.compliance.units.UnitLevel(
        "community", np.array(["u0", "u1", "u2"]), unit_code, None, pd.DataFrame(), "walk", None
    )
    table = reach.table(lc, [unit], pop, buildings=True)
    for (level_unit, u), g in table.groupby(["unit_level", "unit"]):
        for lv in preset.levels:
            rows = g[g["level"] == lv.name].set_index("requirement")
            for col in ("population_reached", "buildings_reached"):
                single = rows.drop(index=reach.COMPLETE)[col]
                assert rows.loc[reach.COMPLETE, col] <= single.min() + 1e-9, (level_unit, u)
                whole = g[g["requirement"] == reach.COMPLETE_ALL][col].iloc[0]
                assert whole <= rows.loc[reach.COMPLETE, col] + 1e-9
    # and against brute force: a point meets a requirement iff some facility of that type
    # lies within the level's distance
    for lv in preset.levels:
        for j, alternatives in enumerate(lv.basket):
            of_type = np.isin(code, [names.index(t) for t in alternatives])
            ok = ((dense > 0) & (dense <= distance[lv.name]) & of_type[:, None]).any(axis=0)
            assert (lc.reach[lv.name][:, j] == ok).all()


# ----------------------------------------------------------------------------- units by column
def test_units_as_demand_columns_attribute_facilities_by_walk():
    w = world(n=2)
    w["demand"]["community"] = np.repeat(["A", "B"], 4)
    # a station 100 m inside B but nearest (on foot) to B's demand
    fac = gpd.GeoDataFrame(
        {"type": [STATION], "floor_area_m2": [300.0]},
        geometry=[shapely.Point(X0 + 1100, Y0 + 250)],
        crs=CRS,
    )
    a = st.audit(None, w["demand"], fac, preset="national-2011", communities="community")
    assert row(a, "station-per-community", "B")["status"] == "pass"
    assert row(a, "station-per-community", "A")["status"] == "fail"
    assert row(a, "station-per-community", "A")["attribution"] == "walk"
    assert a.facilities["community"].tolist() == ["B"]
    units = a.units
    assert units.crs.to_epsg() == 4326 and units.geometry.notna().all()  # convex hulls
    with pytest.raises(MissingColumnError, match="no such column"):
        st.audit(None, w["demand"], fac, communities="sub_district")


# ----------------------------------------------------------------------------- outputs
def test_tables_and_files(tmp_path):
    a = run(
        "taizhou-2023",
        n=2,
        households=[3000, 2000],
        staff=[30, 20],
        facilities=[(STATION, 660, 0), (STATION, None, 1), (CENTRE, 700, 0)],
        subdistricts=[[0, 1]],
    )
    bu = a.by_unit.loc["community"]
    assert bu.loc["A", "floor_area_required_m2"] == pytest.approx(900)
    assert bu.loc["A", "floor_area_provided_m2"] == pytest.approx(660)
    assert bu.loc["A", "floor_area_deficit_m2"] == pytest.approx(240)
    assert bu.loc["A", "status"] == "fail"
    assert "floor-area-per-100-households: 240 m² short" in bu.loc["A", "shortfall_text"]
    assert bu.loc["B", "rule floor-area-per-100-households"] == "unknown"
    assert bu.loc["A", "facilities"] == "community_service_centre 1, community_service_station 1"
    units = a.units
    assert set(units["unit_level"]) == {"community", "subdistrict"}
    assert {"status", "shortfall_text", "geometry"} <= set(units.columns)
    written = a.to_file(tmp_path, cells=True)
    raw = written["compliance"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    back = pd.read_csv(written["compliance"], encoding="utf-8-sig")
    assert list(back.columns[:4]) == ["rule", "kind", "unit_level", "unit"]
    assert len(back) == len(a.compliance)
    assert "m²" in raw.decode("utf-8-sig")
    layers = gpd.list_layers(written["units"])["name"].tolist()
    assert sorted(layers) == ["cells", "facilities", "units"]
    with pytest.raises(OutputExistsError):
        a.to_file(tmp_path)
    a.to_file(tmp_path, force=True)
    assert a.summary()["rules_failed"]


# ----------------------------------------------------------------------------- bad input
def test_unknown_facility_types_list_the_known_ones():
    w = world()
    w["facilities"] = gpd.GeoDataFrame(
        {"type": ["kindergarten", "elder_care"]},
        geometry=[shapely.Point(X0, Y0), shapely.Point(X0 + 1, Y0)],
        crs=CRS,
    )
    with pytest.raises(DataError, match=r"'elder_care' \(1 rows, first row 1, did you mean "
                                        r"'elderly_care'\?\).*Known types: "):  # fmt: skip
        st.audit(None, w["demand"], w["facilities"], communities=w["communities"])


def test_missing_floor_areas_are_named_and_unknown_never_zero(caplog):
    with caplog.at_level(logging.WARNING, logger="siting.compliance.core"):
        a = run("national-2011", households=[1000], facilities=[(STATION, None, 0)])
    assert "1 facility has no floor area (community_service_station 0 " in caplog.text
    r = row(a, "floor-area-per-100-households", "A")
    assert r["status"] == "unknown" and pd.isna(r["passed"])  # not 'fail' as if 0 m²
    assert a.missing_floor_area["name"].tolist() == ["community_service_station 0"]
    assert a.missing_floor_area["community"].tolist() == ["A"]
    # known area already enough: the unknown one cannot change the answer
    b = run("national-2011", households=[1000], facilities=[(STATION, 200, 0), (STATION, None, 0)])
    assert row(b, "floor-area-per-100-households", "A")["status"] == "pass"
    w = world(facilities=[(STATION, None, 0)])
    with pytest.raises(DataError, match="1 facility has no floor area"):
        st.audit(None, w["demand"], w["facilities"], communities=w["communities"],
                 missing_floor_area="error")  # fmt: skip


def test_households_and_population_both_missing():
    w = world()
    demand = w["demand"].drop(columns="population")
    with pytest.raises(MissingColumnError, match=r"neither 'population'.*nor 'households'"):
        st.audit(None, demand, w["facilities"], communities=w["communities"])
    demand["households"] = 100.0  # households alone are enough: persons = 2.62 x households
    a = st.audit(None, demand, w["facilities"], communities=w["communities"])
    assert a.by_unit.loc[("community", "A"), "population"] == pytest.approx(4 * 262)


def test_unknown_preset_in_audit():
    w = world()
    with pytest.raises(ParameterError, match="did you mean 'taizhou-2023'"):
        st.audit(None, w["demand"], w["facilities"], preset="taizou-2023")


def test_other_bad_values():
    w = world()
    with pytest.raises(ParameterError, match="persons_per_household"):
        st.audit(None, w["demand"], w["facilities"], persons_per_household=0)
    with pytest.raises(ParameterError, match="missing_floor_area"):
        st.audit(None, w["demand"], w["facilities"], missing_floor_area="zero")
    bad = gpd.GeoDataFrame(
        {"type": [STATION], "floor_area_m2": ["big"]}, geometry=[shapely.Point(X0, Y0)], crs=CRS
    )
    with pytest.raises(
        DataError, match="facilities: row 0, field 'floor_area_m2': value 'big' is not a number"
    ):
        st.audit(None, w["demand"], bad)
    untyped = bad.drop(columns="type")
    with pytest.raises(MissingColumnError, match="no 'type' column"):
        st.audit(None, w["demand"], untyped)
    comm = w["communities"].copy()
    comm["staff"] = ["many"]
    with pytest.raises(
        DataError, match="communities: row 0, field 'staff': value 'many' is not a number"
    ):
        st.audit(None, w["demand"], w["facilities"], communities=comm)
    twice = pd.concat([w["communities"], w["communities"]], ignore_index=True)
    with pytest.raises(DataError, match="unit names must be unique; repeated: A"):
        st.audit(None, w["demand"], w["facilities"], communities=twice)
