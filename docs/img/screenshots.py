"""Regenerate the README screenshots of the Liechtenstein demo: map and report.

Runs the bundled demo scenario, takes the municipalities (Gemeinden, OSM admin_level 8)
from the same extract as district polygons, writes the map and the report (English,
no basemap: rendered offline) and photographs them in headless Chromium::

    python docs/img/screenshots.py      # writes docs/img/demo-map.png, demo-report.png

Data © OpenStreetMap contributors, ODbL.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import pyrosm  # noqa: E402
from PIL import Image  # noqa: E402

import siting as st  # noqa: E402
from siting.maps import write_map  # noqa: E402
from siting.maps._chromium import Browser  # noqa: E402

HERE = Path(__file__).resolve().parent
PBF = ROOT / "data" / "liechtenstein" / "liechtenstein-latest.osm.pbf"
#: the country's bounds (lat/lon), shown between the legend and the layer list
BOUNDS = "[[47.05, 9.47], [47.27, 9.64]]"


def gemeinden():
    """The 11 municipalities of Liechtenstein from the OSM extract."""
    b = pyrosm.OSM(str(PBF)).get_boundaries(boundary_type="administrative")
    b = b[(b["admin_level"] == "8") & b.within(b[b["admin_level"] == "2"].union_all().buffer(1e-3))]
    return st.read_districts(b[["name", "geometry"]].reset_index(drop=True))


def shrink(path: Path) -> None:
    """Save as a 256-colour PNG (a fraction of the size, no visible loss on maps)."""
    image = Image.open(path).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=0).save(path, optimize=True)


def main() -> None:
    result = st.run_scenario(ROOT / "data" / "demo-liechtenstein.yaml", write=False)
    districts = gemeinden()
    with tempfile.TemporaryDirectory() as tmp:
        map_path = write_map(result.plan, Path(tmp) / "map.html", districts=districts,
                             basemap="none")  # fmt: skip
        report_path = st.report(
            result.plan, Path(tmp) / "report.html", circle=result.circle,
            districts=districts, map=None, title="Liechtenstein: community facilities",
        )  # fmt: skip
        with Browser(width=1100, height=760) as browser:
            browser.open(map_path)
            browser.eval(
                f"""(() => {{
                  const e = siting.maps[0];
                  e.map.options.zoomSnap = 0.25;
                  e.map.fitBounds({BOUNDS}, {{paddingTopLeft: [340, 8],
                    paddingBottomRight: [210, 8], animate: false}});
                  // the popup of the new site nearest a free spot of the view
                  const at = L.point(640, 430), sites = e.layers["New sites"].getLayers();
                  const off = (m) => e.map.latLngToContainerPoint(m.getLatLng()).distanceTo(at);
                  sites.sort((a, b) => off(a) - off(b));
                  sites[0].openPopup();
                }})()"""
            )
            time.sleep(0.5)
            browser.screenshot(HERE / "demo-map.png")
            browser.send(
                "Emulation.setDeviceMetricsOverride",
                width=1100, height=1500, deviceScaleFactor=1, mobile=False,
            )  # fmt: skip
            browser.open(report_path)
            time.sleep(0.3)
            browser.screenshot(HERE / "demo-report.png")
            assert browser.errors() == [], browser.errors()
    for name in ("demo-map.png", "demo-report.png"):
        shrink(HERE / name)
        print(HERE / name, f"{(HERE / name).stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
