"""Warn about duplicate facilities: the same id, name or coordinates on several rows.

A facility listed twice is counted twice (twice the capacity, an "existing" site that
hides a gap), so the loaders log a warning naming the rows; the rows are kept, as two
facilities may truly share a name or a building.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from ._tables import Source, show_value

log = logging.getLogger(__name__)

#: groups of duplicates named in one warning
SHOWN_GROUPS = 5
#: id columns checked (case-insensitive)
ID_COLUMNS = ("id", "osm_id", "facility_id", "fid", "编号")
#: coordinates closer than this (degrees, about 1 cm) are the same place
SAME_PLACE_DEG = 1e-7


def warn_duplicates(
    gdf: gpd.GeoDataFrame, source: Source, what: str, *, names: bool = True
) -> None:
    """Log a warning per kind of duplicate (id, name, coordinates) in ``gdf`` (WGS84)."""
    if len(gdf) < 2:
        return
    keys: list[tuple[str, pd.DataFrame]] = []
    lower = {str(c).lower(): c for c in gdf.columns}
    for col in (lower[c] for c in ID_COLUMNS if c in lower):
        cols = [col] + (["osm_type"] if col == "osm_id" and "osm_type" in gdf else [])
        keys.append((f"id ({col})", gdf[cols].reset_index(drop=True)))
    if names and "name" in gdf.columns:
        keys.append(("name", gdf[["name"]].reset_index(drop=True)))
    pts = gdf.geometry.representative_point()
    xy = pd.DataFrame(
        {
            "lon": np.round(pts.x.to_numpy() / SAME_PLACE_DEG),
            "lat": np.round(pts.y.to_numpy() / SAME_PLACE_DEG),
        }
    )
    keys.append(("coordinates", xy))
    for label, frame in keys:
        _warn(frame, label, source, what, gdf)


def _warn(frame: pd.DataFrame, label: str, source: Source, what: str, gdf) -> None:
    frame = frame.dropna()
    dup = frame.duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    sub = frame[dup]
    groups = list(sub.groupby(list(frame.columns), sort=False).indices.values())
    rows_of = [sub.index.to_numpy()[g] for g in groups]
    shown = "; ".join(_group(rows, label, source, gdf) for rows in rows_of[:SHOWN_GROUPS])
    more = f"; and {len(groups) - SHOWN_GROUPS} more groups" if len(groups) > SHOWN_GROUPS else ""
    log.warning(
        "%s: %d %s share their %s with another row: %s%s. Each row counts as a separate "
        "facility; drop the duplicates if they are the same one.",
        source.name,
        int(dup.sum()),
        what,
        label,
        shown,
        more,
    )


def _group(rows: Sequence[int], label: str, source: Source, gdf: gpd.GeoDataFrame) -> str:
    where = ", ".join(source.row(int(i)) for i in rows)
    first = int(rows[0])
    if label == "coordinates":
        p = gdf.geometry.iloc[first].representative_point()
        return f"{where} at ({p.x:.6f}, {p.y:.6f})"
    col = label.split("(")[-1].rstrip(")") if "(" in label else label
    return f"{where} ({show_value(gdf[col].iloc[first])})"
