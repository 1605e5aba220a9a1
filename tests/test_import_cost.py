"""``import siting`` (and so every CLI command and test worker) loads no plotting, map or
raster library: matplotlib comes with the first chart, folium with the first map,
rasterio with the first raster read."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("matplotlib", "folium", "rasterio")


def test_import_siting_loads_no_plotting_map_or_raster_library() -> None:
    code = (
        "import json, sys, siting, siting.report, siting.maps; "
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
