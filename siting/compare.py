"""Compare two output bundles (``siting compare OUT_A OUT_B``): sites added and removed,
coverage per district side by side.

Sites are matched by position (within :data:`SAME_SITE_M` metres), so two runs with
different candidate lists still compare.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from .bundle import CSV_ENCODING
from .errors import DataError

#: two open sites closer than this (metres) are the same site
SAME_SITE_M = 1.0


@dataclass
class Comparison:
    """Two bundles side by side."""

    a: Path
    b: Path
    summary: pd.DataFrame  # key numbers, one column per bundle
    added: pd.DataFrame  # sites open in B, not in A (name, status, lon, lat)
    removed: pd.DataFrame  # sites open in A, not in B
    districts: pd.DataFrame  # population and share covered after each plan, per district

    def text(self) -> str:
        """The comparison as plain text (what the CLI prints)."""
        with pd.option_context("display.max_colwidth", 60, "display.width", 120):
            parts = [
                f"A: {self.a}\nB: {self.b}\n",
                self.summary.to_string(),
                f"\nsites added (open in B, not in A): {len(self.added)}",
                self.added.to_string(index=False) if len(self.added) else "",
                f"\nsites removed (open in A, not in B): {len(self.removed)}",
                self.removed.to_string(index=False) if len(self.removed) else "",
                "\ncoverage per district after the plan",
                self.districts.to_string(),
            ]
        return "\n".join(p for p in parts if p != "")


def compare_bundles(a: str | os.PathLike, b: str | os.PathLike) -> Comparison:
    """Compare the output folders ``a`` and ``b`` (written by ``siting run``)."""
    a, b = Path(a), Path(b)
    sa, sb = _summary(a), _summary(b)
    summary = pd.DataFrame({"A": _headline(sa), "B": _headline(sb)})
    open_a, open_b = _open_sites(a), _open_sites(b)
    added, removed = _difference(open_b, open_a), _difference(open_a, open_b)
    districts = _districts(a, b)
    return Comparison(a, b, summary, added, removed, districts)


def _need(folder: Path, name: str) -> Path:
    path = folder / name
    if not folder.is_dir():
        msg = f"{folder}: no such output folder (give the output.dir of a finished run)."
        raise DataError(msg)
    if not path.is_file():
        msg = f"{folder}: {name} is missing; is this the output folder of a `siting run`?"
        raise DataError(msg)
    return path


def _summary(folder: Path) -> dict[str, Any]:
    path = _need(folder, "summary.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path}: not a readable summary ({exc})."
        raise DataError(msg) from exc


def _headline(s: dict[str, Any]) -> pd.Series:
    def share(key: str) -> str:
        return f"{s[key]:.1%}" if isinstance(s.get(key), int | float) else ""

    return pd.Series(
        {
            "scenario": s.get("scenario", ""),
            "model": s.get("model", ""),
            "minutes": s.get("minutes", ""),
            "population": f"{s.get('population', 0):,.0f}",
            "covered before": share("covered_share_before"),
            "covered after": share("covered_share_after"),
            "existing sites": s.get("existing_sites", ""),
            "new sites": s.get("new_sites", ""),
            "gap": f"{s['gap']:.2%}" if isinstance(s.get("gap"), int | float) else "n/a",
        }
    )


def _open_sites(folder: Path) -> gpd.GeoDataFrame:
    path = _need(folder, "plan.gpkg")
    sites = gpd.read_file(path, layer="sites", engine="pyogrio")
    if "selected" not in sites.columns:
        msg = f"{path}: the sites layer has no 'selected' column; not a siting plan."
        raise DataError(msg)
    sites = sites[sites["selected"].astype(bool)].copy()
    if sites.crs is None or not sites.crs.is_projected:
        sites = sites.to_crs(sites.estimate_utm_crs()) if sites.crs else sites
    return sites


def _difference(one: gpd.GeoDataFrame, other: gpd.GeoDataFrame) -> pd.DataFrame:
    """Sites of ``one`` with no site of ``other`` within :data:`SAME_SITE_M`."""
    if len(other):
        theirs = other.to_crs(one.crs) if other.crs != one.crs else other
        tree = cKDTree(np.c_[theirs.geometry.x, theirs.geometry.y])
        dist, _ = tree.query(np.c_[one.geometry.x, one.geometry.y], k=1)
        only = one[dist > SAME_SITE_M]
    else:
        only = one
    ll = only.geometry.to_crs(4326)
    return pd.DataFrame(
        {
            "name": only["name"].fillna("").to_numpy() if "name" in only else "",
            "status": np.where(only["existing"].astype(bool), "existing", "new"),
            "lon": np.round(ll.x.to_numpy(), 6),
            "lat": np.round(ll.y.to_numpy(), 6),
        }
    )


def _districts(a: Path, b: Path) -> pd.DataFrame:
    ta = pd.read_csv(_need(a, "stats.csv"), index_col=0, encoding=CSV_ENCODING)
    tb = pd.read_csv(_need(b, "stats.csv"), index_col=0, encoding=CSV_ENCODING)
    out = pd.DataFrame(
        {
            "population A": ta["population"],
            "population B": tb["population"],
            "covered A": ta["share_after"],
            "covered B": tb["share_after"],
        }
    )
    out["change (points)"] = (out["covered B"] - out["covered A"]) * 100
    for col in ("covered A", "covered B"):
        out[col] = out[col].map(lambda v: "" if pd.isna(v) else f"{v:.1%}")
    out["change (points)"] = out["change (points)"].map(lambda v: "" if pd.isna(v) else f"{v:+.1f}")
    for col in ("population A", "population B"):
        out[col] = out[col].map(lambda v: "" if pd.isna(v) else f"{v:,.0f}")
    return out
