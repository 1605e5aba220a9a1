"""report.html: its numbers, sections, languages, safety and bytes (Wuchang grid case)."""

from __future__ import annotations

import hashlib
import html as htmllib
import importlib.metadata as md
import re

import mapcase
import numpy as np
import pytest

import siting as st
from siting.errors import OutputExistsError, ParameterError


@pytest.fixture(scope="module")
def case():
    return mapcase.case()


@pytest.fixture(scope="module")
def page(case) -> str:
    plan, districts, circle = case
    return st.report(plan, circle=circle, districts=districts, map=None)


def section(html: str, name: str) -> str:
    return re.search(rf'<section id="{name}".*?</section>', html, re.S)[0]


def cells(html: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    return [
        [htmllib.unescape(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, re.S)]
        for r in rows
    ]


def test_headline_numbers(case, page) -> None:
    plan, _, _ = case
    s = plan.summary()
    rows = dict(r for r in cells(section(page, "headline")) if len(r) == 2)
    assert rows["Residents"] == f"{plan.coverage.population.sum():,.0f} persons"
    assert rows["Share covered, today → plan"] == (
        f"{s['covered_share_before']:.1%} → {s['covered_share_after']:.1%}"
    )
    assert rows["New sites"] == str(s["new_sites"])
    assert rows["Objective / proven bound"] == f"{s['objective']:.0f} / {s['bound']:.0f}"
    assert rows["Gap to the bound"] == f"{s['gap']:.2%}"
    assert rows["Binding target"] == (
        f"80.0% of residents within 5-minute walk (375 m) (reached {s['covered_share_after']:.1%})"
    )
    assert f"No plan with fewer than {s['new_sites']} new sites" in page


def test_binding_target_per_district(case) -> None:
    plan, districts, _ = case
    by_district = st.solve(plan.coverage, target=0.7, minutes=5, by="district")
    text = st.report(by_district, map=None, districts=districts)
    stats = by_district.stats("district").drop(index="total")
    tight = stats["share_after"].idxmin()
    assert (
        f"70.0% in every district; tightest: {tight} ({stats.loc[tight, 'share_after']:.1%})"
        in (htmllib.unescape(text))
    )


def test_per_district_table_matches_the_plan(case, page) -> None:
    plan, _, _ = case
    stats = plan.stats("district")
    rows = cells(section(page, "districts"))[1:]
    assert [r[0] for r in rows] == ["武昌区", "江汉区"] or [r[0] for r in rows] == sorted(
        [r[0] for r in rows]
    )
    for r in rows:
        s = stats.loc[r[0]]
        assert r[1:6] == [
            f"{s['population']:,.0f}",
            f"{s['covered_before']:,.0f}",
            f"{s['covered_after']:,.0f}",
            f"{s['share_before']:.1%}",
            f"{s['share_after']:.1%}",
        ]
    assert sum(int(r[7]) for r in rows) == plan.summary()["new_sites"]
    assert "<svg" in section(page, "districts")


def test_curve_walk_and_comparison(case, page) -> None:
    plan, _, circle = case
    assert section(page, "curve").count("<svg") == 1
    assert section(page, "walk").count("<svg") == 1
    rows = cells(section(page, "compare"))
    pop = plan.coverage.population
    circle_today = circle.covered(None, None)
    walk_today = plan.coverage.covered(None, plan.minutes)
    assert rows[2] == [
        "500 m straight line",
        f"{pop[circle_today].sum() / pop.sum():.1%}",
        f"{pop[circle.covered(plan.selected)].sum() / pop.sum():.1%}",
    ]
    only_circle = pop[circle_today & ~walk_today].sum()
    assert (
        f"{only_circle:,.0f} persons"
        in {r[0]: r[1] for r in rows[3:]}["Within the circle but not the walk"]
    )


def test_without_circle_or_districts_the_report_says_so(case) -> None:
    plan, _, _ = mapcase.case(with_district_column=False)
    text = st.report(plan, map=None)
    assert "No straight-line coverage given" in text
    assert "no per-district table" in text


def test_inputs_are_listed_with_their_hashes(tmp_path, case) -> None:
    plan, _, _ = case
    f = tmp_path / "population.csv"
    f.write_bytes(b"x,y,population\n1,2,3\n")
    text = st.report(plan, map=None, inputs={"population": f, "network": tmp_path / "nope.pbf"})
    rows = cells(section(text, "inputs"))
    assert ["population", str(f), "21", hashlib.sha256(f.read_bytes()).hexdigest()] in rows
    assert ["network", str(tmp_path / "nope.pbf"), "", "(not found)"] in rows
    versions = dict(r for r in rows if len(r) == 2)
    assert versions["numpy"] == md.version("numpy")
    assert versions["highspy"] == md.version("highspy")
    assert versions["seed"] == "0" and versions["model"] == "target"
    assert "solve_seconds" not in text  # timings change from run to run


def test_the_map_is_embedded_or_linked(case) -> None:
    plan, districts, _ = case
    embedded = st.report(plan, districts=districts, basemap="none")
    srcdoc = re.search(r'<iframe[^>]*srcdoc="([^"]*)"', embedded)[1]
    assert htmllib.unescape(srcdoc).startswith("<!DOCTYPE html>")
    assert "siting.draw(" in htmllib.unescape(srcdoc)
    linked = st.report(plan, map="map.html")
    assert '<iframe title="Map" src="map.html">' in linked
    assert "<iframe" not in st.report(plan, map=None)


def test_chinese_report(case) -> None:
    plan, districts, circle = case
    text = st.report(plan, circle=circle, districts=districts, lang="zh", map=None)
    assert '<html lang="zh-CN">' in text
    for label in (
        "核心指标",
        "覆盖率曲线",
        "到最近设施的步行距离",
        "街区",
        "步行路网与直线圆形对比",
    ):
        assert label in text
    assert "Headline numbers" not in text and "Coverage curve" not in text
    with pytest.raises(ParameterError, match="lang='jp'"):
        st.report(plan, lang="jp")


def test_names_are_escaped_everywhere() -> None:
    plan, districts, circle = mapcase.case(xss=True)
    text = st.report(plan, circle=circle, districts=districts, basemap="none")
    srcdoc = htmllib.unescape(re.search(r'srcdoc="([^"]*)"', text)[1])  # the embedded map
    for payload in (mapcase.XSS_SITE, mapcase.XSS_SCRIPT, mapcase.XSS_DISTRICT):
        assert payload not in text
        assert payload not in srcdoc
    assert "&lt;svg onload" in text  # the district, in the table and the chart, as text
    assert "&lt;/script&gt;&lt;script&gt;" in text  # the candidate in the sites table


def test_same_plan_same_bytes_and_atomic_write(tmp_path, case) -> None:
    plan, districts, circle = case
    a = st.report(plan, tmp_path / "a.html", circle=circle, districts=districts, lang="zh")
    again, _, _ = mapcase.case.__wrapped__()
    b = st.report(again, tmp_path / "b.html", circle=circle, districts=districts, lang="zh")
    assert a.read_bytes() == b.read_bytes()
    with pytest.raises(OutputExistsError, match="force"):
        st.report(plan, a)
    st.report(plan, a, force=True, map=None)
    assert "<iframe" not in a.read_text()


def test_walk_histogram_counts_every_resident(case) -> None:
    """The walk chart's bars (today) add up to the population (the last bar: beyond)."""
    from siting.report import _walk_edges

    plan, _, _ = case
    cov = plan.coverage
    edges = _walk_edges(cov.limit_m)
    assert edges[0] == 0 and edges[-1] == cov.limit_m
    walk = cov.nearest_m(None, None)
    inside = np.isfinite(walk)
    hist, _ = np.histogram(walk[inside], bins=edges, weights=cov.population[inside])
    assert hist.sum() + cov.population[~inside].sum() == pytest.approx(cov.population.sum())


@pytest.mark.parametrize("steps", [1, None])
def test_curve_bound_holds_against_brute_force(case, steps) -> None:
    """At every number of new sites the report's curve is greedy <= best <= bound, the
    best found by trying every set of candidates (few steps: looser, never wrong)."""
    from itertools import combinations

    from siting.report import report_curve

    plan, _, _ = case
    cov = plan.coverage
    A = cov.matrix(plan.minutes).tocsc()
    pop = cov.population
    today = cov.covered(None, plan.minutes)
    candidates = np.flatnonzero(~cov.existing)
    curve = report_curve(plan, 3, steps=steps)
    assert curve.attrs["bound_steps"] == (1 if steps == 1 else 100)
    for p in range(4):
        best = max(
            pop[today | (A[:, list(c)].sum(axis=1).A1 > 0)].sum()
            for c in combinations(candidates, p)
        )
        row = curve.iloc[p]
        assert row["covered"] <= best + 1e-6
        assert row["bound"] >= best - 1e-6


def test_curve_bound_effort_shrinks_with_the_city() -> None:
    from siting.report import MAX_BOUND_STEPS, bound_steps

    assert bound_steps(2_000, 11) == MAX_BOUND_STEPS  # a small city: the full bound
    assert bound_steps(3_086_156, 265) == 1  # central Wuhan: one step per point
    assert 1 < bound_steps(100_000, 100) < MAX_BOUND_STEPS
