"""The norm audit on the map and in the report: the compliance layer and its popups, the
report's compliance sections, both languages, escaping and bytes.

Data: the two hand-made communities of ``tests/auditcase.py`` (every number below is
worked out there), and the Wuchang grid plan of ``tests/mapcase.py`` for a plan's map.
"""

from __future__ import annotations

import html as htmllib
import re

import auditcase
import geopandas as gpd
import mapcase
import pytest
from test_maps import payload_from_html
from test_report import cells, section

import siting as st
from siting.errors import ParameterError
from siting.maps import audit_map, map_html, norms, plan_map
from siting.maps import layers as ly


@pytest.fixture(scope="module")
def audit() -> st.Audit:
    return auditcase.case()


def popups(payload: dict, name: str) -> dict[str, dict]:
    """The features of the layer ``name`` by title."""
    spec = next(s for s in payload["layers"] if s["name"] == name)
    return {f["title"]: f for f in spec["features"]}


def rows(feature: dict) -> dict[str, str]:
    return {label.strip(): value for label, value in feature["rows"]}


# ---------------------------------------------------------------------- the map
def test_compliance_layers_legend_and_colours(audit) -> None:
    payload = payload_from_html(map_html(audit.explore(basemap="none")))
    names = [s["name"] for s in payload["layers"]]
    assert names == ["Communities: norms met", "Sub-districts: norms met", "Facilities audited"]
    shown = {s["name"]: s["show"] for s in payload["layers"]}
    assert shown == dict.fromkeys(names, True) | {"Sub-districts: norms met": False}
    units = popups(payload, "Communities: norms met")
    assert units["A"]["fill"] == ly.COMPLIANCE_COLOURS[3]  # 2 rules failed
    assert units["B"]["fill"] == ly.COMPLIANCE_COLOURS[2]  # 1 rule failed
    assert units["A"]["tip"] == "A: ✗ 2 of 4 rules failed"
    legend = {i["label"]: i["colour"] for s in payload["legend"]["sections"] for i in s["items"]}
    assert legend["every rule met"] == ly.COMPLIANCE_COLOURS[0]
    assert legend["2 rules failed"] == ly.COMPLIANCE_COLOURS[3]
    assert legend["facility audited"] == ly.EXISTING
    assert payload["legend"]["title"] == "taizhou-2023: 3 of 3 units fail a rule"


def test_popups_carry_the_hand_computed_shortfalls(audit) -> None:
    payload = audit.explore(basemap="none").payload
    units = popups(payload, "Communities: norms met")
    a, b = rows(units["A"]), rows(units["B"])
    floor = "Floor area: community comprehensive service station"
    assert a["Norms"] == "✗ 2 of 4 rules failed"
    assert a["Residents"] == "8,000 persons" and a["Households"] == "3,000"
    assert a[floor] == "✗ 660 m² (900 m² required): 240 m² short"
    assert a["Staff"] == "✓ 20 workers (15 workers required)"
    assert a["volunteer service station"] == (
        "✗ 0 facilities (1 facility required): 1 facility short"
    )
    assert a["Households in the norm's range (urban)"] == "✓ 3,000 households"
    assert b[floor] == "? 0 m² (660 m² required): 660 m² short; a floor area unknown"
    assert b["Staff"] == "✗ 5 workers (8 workers required): 3 workers short"
    # life circles: each level's whole basket, then its types
    assert a["· kindergarten"] == "50.0%" and b["· kindergarten"] == "0.0%"
    centre = "· sub-district (street / township) comprehensive service centre"
    assert a[centre] == "100.0%" and b[centre] == "50.0%"
    assert a["5-minute life circle: complete basket"] == "0.0%"
    assert a["Complete life circle (every level)"] == "0.0%"
    labels = [label for label, _ in units["A"]["rows"]]
    five = labels.index("5-minute life circle: complete basket")
    assert labels[five + 1 : five + 7] == [
        "  · community comprehensive service station",
        "  · culture activity station / room",
        "  · kindergarten",
        "  · nursery (under 3)",
        "  · elderly service station / day care",
        "  · community health service station",
    ]
    s1 = rows(popups(payload, "Sub-districts: norms met")["S1"])
    assert s1["Norms"] == "✗ 2 of 3 rules failed"
    assert s1["sub-district (street / township) comprehensive service centre ≥ 600 m²"] == (
        "✓ 1 facility (1 facility required)"
    )
    assert s1["Households"] == "4,580 (persons ÷ 2.62)"  # 12,000 / 2.62 (none given)


def test_facility_popups_say_unknown_never_zero(audit) -> None:
    spec = next(s for s in audit.explore().payload["layers"] if s["kind"] == "points")
    by_name = dict(zip(spec["titles"], spec["rows"], strict=True))
    station = dict(by_name["community_service_station 1"])
    assert station == {
        "Type": "community comprehensive service station",
        "Floor area": "unknown",
        "Community": "B",
        "Sub-district": "S1",
    }
    assert dict(by_name["community_service_station 0"])["Floor area"] == "660 m²"


def test_chinese_labels(audit) -> None:
    payload = audit.explore(lang="zh", basemap="none").payload
    assert [s["name"] for s in payload["layers"]][:2] == ["社区规范达标情况", "街道规范达标情况"]
    a = rows(popups(payload, "社区规范达标情况")["A"])
    assert a["达标情况"] == "✗ 4 项中 2 项未达标"
    assert a["社区综合服务站建筑面积"] == "✗ 660 平方米（要求 900 平方米），缺 240 平方米"
    assert a["工作人员"] == "✓ 20 人（要求 15 人）"
    assert a["5分钟生活圈：配套齐全".replace("：", ": ")] == "0.0%"
    assert a["· 幼儿园"] == "50.0%"
    legend = [i["label"] for s in payload["legend"]["sections"] for i in s["items"]]
    assert "全部达标" in legend and "2 项未达标" in legend


def test_unit_names_from_the_data_stay_text() -> None:
    a = auditcase.case(xss=True)
    html = map_html(a.explore(basemap="none"))
    assert auditcase.XSS_UNIT not in html and mapcase.XSS_SITE not in html
    assert "\\u003cimg src=x onerror" in html  # inside the JSON, escaped
    payload = payload_from_html(html)
    units = popups(payload, "Communities: norms met")
    assert auditcase.XSS_UNIT in units  # the page gets the name back, as text
    page = st.report(a, map=None)
    assert auditcase.XSS_UNIT not in page and mapcase.XSS_SITE not in page
    assert "&lt;img src=x onerror=" in page  # the unit's name, as text


def test_same_audit_same_bytes(audit, tmp_path) -> None:
    again = auditcase.case.__wrapped__()
    assert map_html(audit.explore()) == map_html(again.explore())
    assert st.report(audit) == st.report(again)


def test_plan_map_takes_an_audit() -> None:
    plan, districts, _ = mapcase.case()
    fac = plan.sites[plan.sites["existing"]].assign(type="community_service_station")
    a = st.audit(None, plan.coverage.demand, fac, communities=districts)
    m = plan_map(plan, districts=districts, basemap="none", audit=a)
    layers = {s["name"]: s for s in m.payload["layers"]}
    assert layers["Communities: norms met"]["show"] is True
    assert layers["Districts: share covered"]["show"] is False  # under the compliance fill
    assert {f["title"] for f in layers["Communities: norms met"]["features"]} == set(
        districts["name"]
    )
    # the west has the station (its floor area unknown), the east none
    assert "national-2011: 1 of 2 units fail a rule" in m.payload["legend"]["notes"]
    with pytest.raises(ParameterError, match=r"audit=: expected a siting\.Audit"):
        plan_map(plan, audit=plan)


# ---------------------------------------------------------------------- the report
@pytest.fixture(scope="module")
def page(audit) -> str:
    return st.report(audit, map=None)


def test_report_of_an_audit_alone(page) -> None:
    ids = re.findall(r'<section id="([^"]+)"', page)
    assert ids == ["headline", "audit", "life-circles", "compliance", "inputs"]
    assert "<h1>Norm audit</h1>" in page
    head = dict(r for r in cells(section(page, "headline")) if len(r) == 2)
    assert head["Units failing a rule"] == "3 of 3"
    assert head["Facilities without floor area"] == "1"
    assert head["5-minute life circle: complete basket"] == "0.0%"
    assert "12 of the 12 norms are not yet checked against their primary text" in page


def test_pass_rates_per_rule(page) -> None:
    table = {r[0]: r for r in cells(section(page, "audit"))[1:]}
    floor = table["floor-area-per-100-households"]
    # units, pass, fail, unknown, pass rate, overall
    assert floor[2:9] == ["Community", "2", "0", "1", "1", "0.0%", "✗ fail"]
    assert table["staff-per-10000-residents"][3:9] == ["2", "1", "1", "0", "50.0%", "✗ fail"]
    assert table["centre-600m2-per-subdistrict"][2:9] == [
        "Sub-district", "1", "1", "0", "0", "100.0%", "✓ pass",
    ]  # fmt: skip
    assert table["community-size-rural"][8] == "– not applicable"
    assert floor[9] == "Taizhou urban-rural community service action plan 2023-2025"
    assert table["5min"][8] == "· no target"


def test_life_circle_chart_and_shares(page) -> None:
    part = section(page, "life-circles")
    assert part.count("<svg") == 1 and "5 min · kindergarten" in part
    table = {(r[0], r[1]): r for r in cells(part)[1:]}
    assert table[("5-minute life circle", "kindergarten")][2:] == [
        "300 m",
        "4,000 persons",
        "33.3%",
    ]
    centre = (
        "15-minute life circle",
        "sub-district (street / township) comprehensive service centre",
    )
    assert table[centre][2:] == ["1,000 m", "10,000 persons", "83.3%"]


def test_compliance_table_failing_first(page) -> None:
    table = cells(section(page, "compliance"))[1:]
    results = [r[6].split()[-1] for r in table]
    rank = [("fail", "unknown", "pass", "target", "applicable").index(r) for r in results]
    assert rank == sorted(rank)  # failing, unknown, passing, no target, not applicable
    assert results.count("fail") == 8  # A: 2, B: 1, S1: 2, "(all ...)" rows: 3
    floor = next(r for r in table if r[0].startswith("Floor area") and r[2] == "A")
    assert floor[1:7] == ["Community", "A", "900 m²", "660 m²", "240 m²", "✗ fail"]
    assert "32 of 32 rows, failing first" in page
    short = st.report(auditcase.case(), map=None)  # same audit
    assert short == page
    from siting.report_audit import compliance_section

    part = compliance_section(norms.Shown.of(auditcase.case()), st.maps.texts("en"), 5)
    assert len(part["rows"]) == 5 and "5 of 32 rows" in part["note"]


def test_chinese_report(audit) -> None:
    text = st.report(audit, lang="zh", map=None)
    for label in ("规范达标评估", "规范达标率（按规则）", "生活圈", "达标明细", "全部居民"):
        assert label in text
    assert "Compliance table" not in text
    rows = cells(section(text, "compliance"))
    assert ["社区综合服务站建筑面积", "社区", "A", "900 平方米", "660 平方米", "240 平方米"] in [
        r[:6] for r in rows
    ]


def test_report_of_a_plan_with_its_audit() -> None:
    plan, districts, _ = mapcase.case()
    fac = plan.sites[plan.sites["existing"]].assign(type="community_service_station")
    a = st.audit(None, plan.coverage.demand, fac, communities=districts)
    text = st.report(plan, audit=a, districts=districts, basemap="none")
    ids = re.findall(r'<section id="([^"]+)"', text)
    assert ids[-4:] == ["compare", "audit", "compliance", "inputs"]
    srcdoc = htmllib.unescape(re.search(r'srcdoc="([^"]*)"', text)[1])
    names = [s["name"] for s in payload_from_html(srcdoc)["layers"]]
    assert "Communities: norms met" in names
    with pytest.raises(ParameterError, match="audit"):
        st.report(a, audit=a)
    with pytest.raises(ParameterError, match="give a plan"):
        st.report()


# ---------------------------------------------------------------------- a plan from an audit
@pytest.fixture(scope="module")
def audit_plan():
    comm, _ = auditcase.units()
    x0, y0 = mapcase.origin()
    candidates = mapcase.points(
        [(x0 + x, y0 + y) for x in range(0, 2001, 250) for y in range(0, 1001, 250)]
    )
    fac = auditcase.facilities()
    cov = st.coverage(None, auditcase.demand(), fac, candidates, mode="circle", threshold_m=300)
    a = st.audit(cov, preset="taizhou-2023", communities=comm)
    return a.plan(floor_area_m2=350, coverage_target=None)


def test_plan_from_an_audit_before_and_after(audit_plan) -> None:
    p = audit_plan
    # A needs 900 m², has 660: one 350 m² station; B's station's floor area is unknown:
    # no station is planned for an unknown
    assert len(p.new_sites) == 1 and p.new_sites["community"].tolist() == ["A"]
    payload = p.explore(basemap="none").payload
    names = [s["name"] for s in payload["layers"]]
    assert names == ["Communities: norms met", "Facilities audited", "New stations"]
    assert len(payload["layers"][-1]["titles"]) == len(p.new_sites)
    a = rows(popups(payload, "Communities: norms met")["A"])
    assert a["Floor area: community comprehensive service station"] == (
        "✗ 660 m² (900 m² required): 240 m² short → ✓ 1,010 m² (900 m² required)"
    )
    assert a["Norms"] == "✗ 2 of 4 rules failed → ✗ 1 of 4 rules failed"
    assert payload["legend"]["title"] == (
        "taizhou-2023: units failing a rule 2 → 2 of 2; new stations: 1"
    )
    text = st.report(p, map=None)
    assert "Figures that the plan changes read before → after." in text
    before = p.before.compliance.set_index(["rule", "unit"])["status"]
    after = p.after.compliance.set_index(["rule", "unit"])["status"]
    changed = [(k, before[k], after[k]) for k in after.index if before.get(k) != after[k]]
    assert (("floor-area-per-100-households", "A"), "fail", "pass") in changed
    table = cells(section(text, "compliance"))
    for (rule, unit), old, new in changed:
        mark = f"{norms.check(old, st.maps.texts('en'))} → {norms.check(new, st.maps.texts('en'))}"
        assert any(r[2] == unit and r[6] == mark for r in table), (rule, unit)


def test_audit_map_of_something_else_is_refused_clearly() -> None:
    with pytest.raises(ParameterError, match=r"expected a siting\.Audit .*not GeoDataFrame"):
        audit_map(gpd.GeoDataFrame())


def test_units_shift_to_gcj02_on_amap(audit) -> None:
    from siting.io.datum import wgs84_to_gcj02

    def corner(payload: dict) -> tuple[float, float]:
        feature = popups(payload, "Communities: norms met")["A"]
        return tuple(feature["g"]["coordinates"][0][0])

    wgs = audit.explore(basemap="none").payload
    gcj = audit.explore(basemap="amap").payload
    expected = wgs84_to_gcj02(*corner(wgs))
    assert corner(gcj) == pytest.approx((float(expected[0]), float(expected[1])), abs=2e-5)
    assert corner(gcj) != pytest.approx(corner(wgs), abs=1e-3)  # hundreds of metres apart
    assert "Overlays shifted to GCJ-02 to match the basemap." in gcj["legend"]["notes"]
