"""Norm presets: the shipped tables load, cite their sources, round-trip and fail clearly."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

import siting as st
from siting import standards as S
from siting.errors import DataError, OutputExistsError, ParameterError

EXPECTED_PRESETS = {
    "national-2011",
    "shijiazhuang-2016",
    "taizhou-2023",
    "zhejiang-2007",
    "hangzhou",
    "gb50180-2018",
    "tdt1062-2021",
    "complete-community-2022",
}


def test_every_plan_of_standards_md_has_a_preset():
    assert set(S.presets()) == EXPECTED_PRESETS


@pytest.mark.parametrize("name", sorted(EXPECTED_PRESETS))
def test_every_row_cites_a_source_and_a_clause(name):
    p = S.load_preset(name)
    table = p.table()
    assert len(table) == len(p.rules) + len(p.levels) > 0
    assert table["source"].str.len().min() > 10
    assert table["clause"].str.len().min() > 5
    # nothing was checked against a primary text here: every row says so and says why
    assert not table["verified"].any()
    assert (table["note"].str.len() > 10).all()


def test_the_figures_of_standards_md():
    assert S.PERSONS_PER_HOUSEHOLD == 2.62
    assert S.load_preset("national-2011").rule("floor-area-per-100-households").params[
        "m2_per_100_households"
    ] == pytest.approx(20)
    assert S.load_preset("taizhou-2023").rule("floor-area-per-100-households").params[
        "m2_per_100_households"
    ] == pytest.approx(30)
    z = S.load_preset("zhejiang-2007")
    assert z.rule("station-350m2-per-community").params["min_floor_area_m2"] == 350
    assert z.rule("staff-per-community").params == {
        "base_staff": 5,
        "base_households": 2000,
        "households_per_extra": 400,
    }
    gb = {lv.name: lv for lv in S.load_preset("gb50180-2018").levels}
    assert {k: v.threshold_m for k, v in gb.items()} == {
        "15min": 1000,
        "10min": 500,
        "5min": 300,
        "block": 250,
    }


def test_norm_arithmetic_by_hand():
    assert S.required_floor_area_m2(3000, 30) == pytest.approx(900)
    assert S.required_floor_area_m2(2500, 20) == pytest.approx(500)
    assert list(S.required_staff_households([1999, 2000, 2399, 2400, 2500, 2800, 3000])) == [
        5,
        5,
        5,
        6,
        6,
        7,
        7,
    ]
    assert list(S.required_staff_residents([10_000, 10_001, 12_000], 18)) == [18, 19, 22]
    assert S.households_from_population(2620) == pytest.approx(1000)
    assert S.households_from_floor_area(350, 20) == pytest.approx(1750)
    assert S.capacity_from_floor_area(350) == pytest.approx(1750 * 2.62)  # 4,585 persons
    assert S.capacity_from_floor_area(300, 30, 3.0) == pytest.approx(3000)
    with pytest.raises(ParameterError, match="persons_per_household"):
        S.capacity_from_floor_area(300, 20, 0)
    with pytest.raises(ParameterError, match="floor_area_m2"):
        S.households_from_floor_area(-1)


def test_unknown_preset_suggests_the_closest():
    with pytest.raises(ParameterError, match=r"'natonal-2011'.*did you mean 'national-2011'"):
        S.load_preset("natonal-2011")
    with pytest.raises(ParameterError, match="taizhou-2023"):  # the list of presets
        S.load_preset("nothing-like-it")


def test_copy_edit_and_reload(tmp_path):
    p = S.load_preset("taizhou-2023")
    path = p.to_file(tmp_path / "mine.yaml")
    again = S.from_file(path)
    assert again.to_dict() == p.to_dict()
    assert [r.describe() for r in again.rules] == [r.describe() for r in p.rules]
    with pytest.raises(OutputExistsError):
        p.to_file(path)
    # edit the file as a planner would
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["rules"][0]["m2_per_100_households"] = 25
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    edited = S.load_preset(str(path))  # a path works where a name does
    assert edited.rules[0].params["m2_per_100_households"] == 25
    # or edit in Python
    e = p.edit("floor-area-per-100-households", m2_per_100_households=25)
    assert e.rule("floor-area-per-100-households").params["m2_per_100_households"] == 25
    assert p.rule("floor-area-per-100-households").params["m2_per_100_households"] == 30
    with pytest.raises(ParameterError, match="did you mean 'floor-area-per-100-households'"):
        p.edit("floor-area-per-100-household", m2_per_100_households=1)


def _write(tmp_path, data) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return str(path)


def _minimal(**rule):
    base = {"id": "r", "kind": "floor_area", "types": ["community_service_station"]}
    base["m2_per_100_households"] = 20
    base.update(rule)
    return {"name": "mine", "source": "my city plan", "rules": [base]}


def test_bad_preset_files_name_the_row_and_the_fix(tmp_path):
    with pytest.raises(DataError, match=r"rules\[0\] \(r\).*'elder_care'.*did you mean"):
        S.from_file(_write(tmp_path, _minimal(types=["elder_care"])))
    with pytest.raises(DataError, match=r"a floor_area rule needs 'm2_per_100_households'"):
        S.from_file(_write(tmp_path, _minimal(m2_per_100_households=None)))
    with pytest.raises(DataError, match=r"unknown key\(s\) m2_per_100_household"):
        S.from_file(_write(tmp_path, _minimal(m2_per_100_households=None, m2_per_100_household=20)))
    with pytest.raises(DataError, match=r"'floorarea' is not one of"):
        S.from_file(_write(tmp_path, _minimal(kind="floorarea")))
    with pytest.raises(DataError, match="is not a number >= 0"):
        S.from_file(_write(tmp_path, _minimal(m2_per_100_households=-5)))
    with pytest.raises(DataError, match="no such preset file"):
        S.from_file(tmp_path / "absent.yaml")


def test_a_preset_may_add_its_own_types(tmp_path):
    data = _minimal(types=["elderly_canteen"])
    data["types"] = {"elderly_canteen": {"en": "canteen for the elderly", "zh": "老年食堂"}}
    p = S.from_file(_write(tmp_path, data))
    assert "elderly_canteen" in p.known_types
    assert p.rules[0].types == ("elderly_canteen",)


def test_levels_distance_standard_or_minutes():
    five = {lv.name: lv for lv in S.load_preset("gb50180-2018").levels}["5min"]
    assert five.distance_m("standard") == 300
    assert five.distance_m("minutes", 4.5) == pytest.approx(375)
    tier = {lv.name: lv for lv in S.load_preset("tdt1062-2021").levels}["5-10min"]
    assert tier.distance_m("standard", 4.5) == pytest.approx(750)  # no metres given
    assert tier.basket[-1] == ("supermarket", "convenience_shop")  # "a|b": either one
    with pytest.raises(ParameterError, match="level_distance"):
        five.distance_m("metres")


def test_osm_tags_map_to_types_first_row_wins():
    pois = pd.DataFrame(
        {
            "amenity": ["community_centre", "social_facility", "social_facility", "bench", None],
            "social_facility": [None, "nursing_home", "group_home", None, None],
            "shop": [None, None, None, None, "supermarket"],
        }
    )
    types = S.classify_osm(pois).tolist()
    assert types == [
        "community_service_station",
        "elderly_care_centre",  # the specific row comes before amenity=social_facility
        "elderly_care",
        None,
        "supermarket",
    ]
    f = S.osm_filter()
    assert "community_centre" in f["amenity"] and "supermarket" in f["extra_tags"]["shop"]
    assert S.osm_filter(["kindergarten"]) == {"amenity": ["kindergarten"], "extra_tags": {}}


def test_check_types_accepts_chinese_names_and_lists_the_known_ones():
    out = S.check_types(pd.Series(["幼儿园", " kindergarten ", "社区卫生服务站"]), source="t")
    assert list(out) == ["kindergarten", "kindergarten", "health_station"]
    with pytest.raises(DataError) as err:
        S.check_types(pd.Series(["kindergarten", "elder_care", "elder_care", None]), source="f.csv")
    text = str(err.value)
    assert "f.csv" in text and "'elder_care' (2 rows, first row 1" in text
    assert "did you mean 'elderly_care'" in text and "'<empty>'" in text
    assert "Known types: district_service_centre" in text


def test_package_exports():
    assert st.standards is S
    assert callable(st.audit) and st.Audit.__name__ == "Audit"
    table = S.describe_presets()
    assert set(table["preset"]) == EXPECTED_PRESETS
