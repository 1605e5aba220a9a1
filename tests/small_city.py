"""A tiny synthetic city on disk for CLI tests: runs in about a second, no OSM parsing.

A 12 × 12 street grid (100 m blocks) near Helsinki (EPSG:3067), two districts with
Chinese names, homes on the blocks, one existing facility and a candidate list with
Chinese names.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.network.graph import Network

X0, Y0 = 385_000.0, 6_672_000.0  # metres, EPSG:3067
SIDE, STEP = 12, 100.0
CRS = "EPSG:3067"
DISTRICTS = ("江汉区", "武昌区")
EXISTING = "社区中心（现状）"


def network() -> Network:
    idx = np.arange(SIDE * SIDE).reshape(SIDE, SIDE)
    u = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    v = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    k = np.arange(SIDE * SIDE)
    return Network.from_segments(
        u, v, X0 + (k % SIDE) * STEP, Y0 + (k // SIDE) * STEP, CRS, simplify=False
    )


def write_city(folder: Path) -> dict[str, Path]:
    """Write the city's input files into ``folder``; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"network": network().save(folder / "net.npz")}
    rng = np.random.default_rng(7)
    gx, gy = np.meshgrid(np.arange(SIDE - 1) + 0.5, np.arange(SIDE - 1) + 0.5)
    homes = pd.DataFrame(
        {
            "x": X0 + gx.ravel() * STEP,
            "y": Y0 + gy.ravel() * STEP,
            "population": rng.integers(20, 200, gx.size),
        }
    )
    paths["population"] = folder / "homes.csv"
    homes.to_csv(paths["population"], index=False)
    half = SIDE * STEP / 2
    boxes = [
        shapely.box(X0 - 50, Y0 - 50, X0 + half, Y0 + SIDE * STEP),
        shapely.box(X0 + half, Y0 - 50, X0 + SIDE * STEP, Y0 + SIDE * STEP),
    ]
    paths["districts"] = folder / "districts.gpkg"
    gpd.GeoDataFrame({"name": list(DISTRICTS)}, geometry=boxes, crs=CRS).to_file(
        paths["districts"], driver="GPKG"
    )
    nodes = np.arange(0, SIDE * SIDE, 5)
    cands = pd.DataFrame(
        {
            "x": X0 + (nodes % SIDE) * STEP,
            "y": Y0 + (nodes // SIDE) * STEP,
            "name": [f"候选点{i}" for i in range(len(nodes))],
        }
    )
    paths["candidates"] = folder / "candidates.csv"
    cands.to_csv(paths["candidates"], index=False, encoding="utf-8")
    paths["existing"] = folder / "existing.csv"
    pd.DataFrame({"x": [X0], "y": [Y0], "name": [EXISTING]}).to_csv(
        paths["existing"], index=False, encoding="utf-8"
    )
    return paths


def scenario_text(paths: dict[str, Path], out: Path | str, **solve: object) -> str:
    """A scenario over the city (5-minute walk), writing its bundle to ``out``."""
    solve = {"model": "target", "target": 0.9, **solve}
    solve_lines = "".join(f"  {k}: {v}\n" for k, v in solve.items())
    return (
        "name: small city\n"
        f"network: {paths['network']}\n"
        f"population: {{file: {paths['population']}, x: x, y: y, crs: '{CRS}'}}\n"
        f"districts: {{file: {paths['districts']}, name: name}}\n"
        f"existing: {{file: {paths['existing']}, x: x, y: y, crs: '{CRS}', name: name}}\n"
        f"candidates: {{file: {paths['candidates']}, x: x, y: y, crs: '{CRS}', name: name}}\n"
        "coverage: {minutes: [5]}\n"
        f"solve:\n{solve_lines}"
        f"output: {{dir: '{out}'}}\n"
    )
