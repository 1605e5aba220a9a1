"""map.html and report.html in headless Chromium with the network cut off.

What is checked comes from the live page (DOM and JavaScript state), not the HTML
source: no console errors, the layers and legend drawn, and that names carrying script
(``tests/mapcase.py``: a facility, a candidate and a district; ``tests/auditcase.py``: a
community and a facility of the norm audit) never run when their popups and tooltips
show. Screenshots go to ``tests/artifacts/`` (git-ignored).

Skipped when no Chromium is installed (``apt-get install chromium``; ``.ci/run`` does it).
"""

from __future__ import annotations

import json
from pathlib import Path

import auditcase
import mapcase
import pytest

from siting.maps import save_map, write_map
from siting.maps._chromium import Browser, find_chromium
from siting.report import report

ARTIFACTS = Path(__file__).parent / "artifacts"

pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="no Chromium found: install it (apt-get install chromium) or set SITING_CHROMIUM",
)

#: open every popup and tooltip of every layer, then report what the page shows
PROBE = """
(async () => {
  const entry = window.siting.maps[0];
  const shown = [];
  for (const [name, layer] of Object.entries(entry.layers)) {
    if (!entry.map.hasLayer(layer)) entry.map.addLayer(layer);
    if (!layer.eachLayer) continue;
    layer.eachLayer((item) => {
      for (const [open, get] of [["openPopup", "getPopup"], ["openTooltip", "getTooltip"]]) {
        if (!item[get] || !item[get]()) continue;
        item[open]();
        const node = item[get]().getElement();
        shown.push(node ? node.textContent : "");
      }
    });
  }
  await new Promise((resolve) => setTimeout(resolve, 400));
  const text = (sel) => Array.from(document.querySelectorAll(sel)).map((e) => e.textContent.trim());
  const cells = Object.values(entry.layers).find((l) => l.spec && l.spec.kind === "cells");
  return {
    xss: window.__xss === undefined ? null : window.__xss,
    layers: Object.keys(entry.layers),
    control: text(".leaflet-control-layers-overlays label"),
    legend: text(".siting-legend")[0] || "",
    shown: shown,
    imgs: document.querySelectorAll(".leaflet-popup img, .leaflet-tooltip img").length,
    cellsDrawn: cells ? cells.drawn || 0 : 0,
    tiles: document.querySelectorAll(".leaflet-tile").length,
  };
})()
"""

#: pixels of the residents' canvas that are painted
PAINTED = """
(() => {
  const c = document.querySelector("canvas.siting-cells");
  const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
})()
"""


@pytest.fixture(scope="module")
def xss_case():
    return mapcase.case(xss=True)


@pytest.fixture(scope="module")
def browser():
    with Browser(width=1000, height=700) as b:
        yield b


def _fresh(browser: Browser) -> None:
    browser.events.clear()


def _probed(browser: Browser, path: Path, shot: str) -> dict:
    """Open a map, open every popup and tooltip, save a screenshot; check that no name
    ran as code, no image came in through a popup and the console has no errors."""
    _fresh(browser)
    browser.open(path)
    state = browser.eval(PROBE)
    browser.screenshot(ARTIFACTS / shot)
    assert state["xss"] is None, "a name ran as code"
    assert state["imgs"] == 0
    assert browser.errors() == []
    return state


def test_map_offline_draws_layers_and_legend_and_runs_no_names(tmp_path, browser, xss_case):
    plan, districts, _ = xss_case
    path = write_map(plan, tmp_path / "map.html", districts=districts, basemap="none")
    state = _probed(browser, path, "map.png")
    expected = [
        "Districts: share covered",
        "5-minute walk",
        "10-minute walk",
        "1,000 m circles",
        "Residents",
        "Existing facilities",
        "New sites",
    ]
    assert state["layers"] == expected
    assert state["control"] == expected
    for label in ("covered today", "covered by new sites", "not covered", "new site", "≥ 90%"):
        assert label in state["legend"]
    # the names were shown, as text
    shown = "\n".join(state["shown"])
    assert mapcase.XSS_SITE in shown
    assert mapcase.XSS_SCRIPT in shown
    assert mapcase.XSS_DISTRICT in shown
    assert state["cellsDrawn"] >= 1
    assert state["tiles"] == 0


def test_map_without_tiles_still_draws_the_data(tmp_path, browser, xss_case):
    """OSM basemap with no network: tiles fail, the data layers draw all the same."""
    plan, districts, _ = xss_case
    path = write_map(plan, tmp_path / "map.html", districts=districts, basemap="osm", lang="zh")
    _fresh(browser)
    browser.open(path)
    state = browser.eval(PROBE)
    painted = browser.eval(PAINTED)
    browser.screenshot(ARTIFACTS / "map-zh-offline-tiles.png")
    # only the tiles may fail (no network); nothing else
    assert [e for e in browser.errors() if "tile.openstreetmap.org" not in e] == []
    assert state["tiles"] > 0
    assert state["layers"][-1] == "新增选址"
    assert "现状已覆盖" in state["legend"]
    assert painted > 1000
    assert state["xss"] is None


#: a report's state once its embedded map has drawn: names that ran, sections, charts,
#: the map's layers and the first column of each table body (by section id)
REPORT_PROBE = """
(async () => {
  await new Promise((resolve) => setTimeout(resolve, 500));
  const frame = document.querySelector("#map iframe").contentWindow;
  const column = {};
  for (const s of document.querySelectorAll("section")) {
    column[s.id] = Array.from(s.querySelectorAll("tbody tr")).map((r) => r.cells[0].textContent);
  }
  return {
    xss: window.__xss === undefined ? null : window.__xss,
    frameXss: frame.__xss === undefined ? null : frame.__xss,
    sections: Array.from(document.querySelectorAll("section")).map((s) => s.id),
    svgs: document.querySelectorAll("section svg").length,
    mapLayers: Object.keys(frame.siting.maps[0].layers),
    column: column,
    text: document.body.textContent,
  };
})()
"""


def _report_state(browser: Browser, path: Path, shot: str) -> dict:
    """Open a report, read :data:`REPORT_PROBE`, save a screenshot; no console errors and
    no name ran as code, in the page or in its map."""
    _fresh(browser)
    browser.open(path)
    state = browser.eval(REPORT_PROBE)
    height = browser.eval("document.documentElement.scrollHeight")
    clip = {"x": 0, "y": 0, "width": 1000, "height": min(height, 4000)}
    browser.screenshot(ARTIFACTS / shot, clip=clip)
    assert browser.errors() == []
    assert state["xss"] is None and state["frameXss"] is None
    return state


def test_report_offline_shows_sections_map_and_runs_no_names(tmp_path, browser, xss_case):
    plan, districts, circle = xss_case
    path = report(
        plan, tmp_path / "report.html", districts=districts, circle=circle, basemap="none"
    )
    state = _report_state(browser, path, "report.png")
    assert state["sections"] == [
        "headline",
        "map",
        "curve",
        "walk",
        "districts",
        "sites",
        "compare",
        "inputs",
    ]
    assert state["svgs"] == 3
    assert len(state["mapLayers"]) == 7
    assert mapcase.XSS_DISTRICT in state["column"]["districts"]
    assert json.dumps(state["column"]["sites"]).count("candidate") >= 1


def test_compliance_map_offline_opens_every_popup_and_runs_no_names(tmp_path, browser):
    a = auditcase.case(xss=True)
    path = save_map(a.explore(basemap="none", lang="zh"), tmp_path / "compliance-map.html")
    state = _probed(browser, path, "compliance-map-zh.png")
    expected = ["社区规范达标情况", "街道规范达标情况", "参评设施"]
    assert state["layers"] == expected
    assert state["control"] == expected
    for label in ("全部达标", "1 项未达标", "2 项未达标", "无法判定（数据缺失）", "参评设施"):
        assert label in state["legend"]
    shown = "\n".join(state["shown"])
    assert auditcase.XSS_UNIT in shown  # the community's popup and tooltip, as text
    assert mapcase.XSS_SITE in shown  # the facility's
    assert "660 平方米（要求 900 平方米），缺 240 平方米" in shown  # A's floor area
    assert "5 人（要求 8 人），缺 3 人" in shown  # B's staff


def test_audit_report_offline_shows_its_sections_and_map(tmp_path, browser):
    a = auditcase.case(xss=True)
    path = report(a, tmp_path / "compliance-report.html", basemap="none")
    state = _report_state(browser, path, "compliance-report.png")
    assert state["sections"] == ["headline", "map", "audit", "life-circles", "compliance", "inputs"]
    assert state["svgs"] == 1
    assert state["mapLayers"] == [
        "Communities: norms met",
        "Sub-districts: norms met",
        "Facilities audited",
    ]
    assert auditcase.XSS_UNIT in state["text"]  # in the compliance table, as text
