"""The norm audit's folder: one folder written as a whole, like a plan's bundle.

====================================  ==================================================
``compliance.csv``                    every rule and unit: required, provided, shortfall
``by_unit.csv``                       one row per unit
``life_circle.csv``                   shares reaching each type per level and unit
``units.gpkg``                        layers ``units``, ``facilities`` (+ ``cells``)
``audit.json``                        key figures (:meth:`siting.Audit.summary`)
``compliance.xlsx``                   sheets ``summary``, ``compliance``, ``by unit``,
                                      ``life circle`` (+ ``plan compliance``,
                                      ``new stations`` with a plan)
``compliance-map.html``               the map of the audit (:func:`siting.maps.audit_map`)
``compliance-report.html``            its report, linking the map
``plan_compliance.csv``,              with a plan from the audit: before → after, and
``plan_sites.gpkg``                   the new stations
====================================  ==================================================

The folder is staged in a hidden sibling and renamed into place at the end
(:class:`siting.output.OutputFolder`): an interrupted write leaves nothing, an existing
folder is replaced only with ``force``. The writers are the plan bundle's
(:mod:`siting.bundle`): CSV in UTF-8 with a byte-order mark, GeoPackage and workbook with
a fixed date, so the same inputs give the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from ..bundle import (
    MAP_OPTIONS,
    set_map_options,
    write_csv,
    write_gpkg,
    write_json,
    write_xlsx,
)
from ..crs import WGS84
from ..output import OutputFolder, pause_point

#: the audit's map and the report that links it
AUDIT_MAP, AUDIT_REPORT = "compliance-map.html", "compliance-report.html"
#: keys of :func:`write_audit_bundle`'s answer, by file name
KEYS = {
    "compliance.csv": "compliance",
    "by_unit.csv": "by_unit",
    "life_circle.csv": "life_circle",
    "units.gpkg": "units",
    "audit.json": "summary",
    "compliance.xlsx": "tables",
    AUDIT_MAP: "map",
    AUDIT_REPORT: "report",
    "plan_compliance.csv": "plan_compliance",
    "plan_sites.gpkg": "plan_sites",
}
#: map and report options (the scenario's ``output.basemap`` / ``lang`` / ``assets``),
#: the same as a plan's
PAGE_OPTIONS = MAP_OPTIONS


def write_audit_bundle(
    audit: Any,
    directory: str | os.PathLike,
    *,
    plan: Any = None,
    force: bool = False,
    cells: bool = False,
    map_html: bool = True,
    page_options: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    step: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Write the audit's folder (module docstring) as a whole; return the files by key.

    Parameters
    ----------
    audit
        A :class:`siting.Audit`.
    plan
        A plan from the audit (:meth:`siting.Audit.plan`): adds its files and sheets, and
        the map and report show before → after.
    cells
        Add the per-demand-point layer ``cells`` to ``units.gpkg``.
    map_html
        Write ``compliance-map.html`` and ``compliance-report.html``.
    page_options
        ``basemap``, ``lang``, ``assets`` for the map and the report (unset: their
        defaults).
    inputs
        Input files by role, listed with their hashes in the report.
    step
        Called with the name of each file before it is written (progress).
    """
    step = step or (lambda name: None)
    directory = Path(directory).absolute()
    options = set_map_options(page_options or {})
    with OutputFolder(directory, force=force) as out:
        step("compliance.csv")
        write_csv(audit.compliance, out.path("compliance.csv"), index=False)
        pause_point("outputs")  # test hook: an audit interrupted half-way through its files
        step("by_unit.csv")
        write_csv(audit.by_unit, out.path("by_unit.csv"))
        write_csv(audit.life_circle, out.path("life_circle.csv"), index=False)
        step("units.gpkg")
        layers = {"units": audit.units, "facilities": audit.facilities.to_crs(WGS84)}
        if cells:
            layers["cells"] = audit.cells
        layers = {name: frame for name, frame in layers.items() if len(frame)}
        if layers:
            write_gpkg(out.path("units.gpkg"), layers)
        write_json(audit.summary(), out.path("audit.json"))
        step("compliance.xlsx")
        write_xlsx(out.path("compliance.xlsx"), workbook_sheets(audit, plan))
        if plan is not None:
            write_csv(plan.compliance, out.path("plan_compliance.csv"), index=False)
            write_gpkg(out.path("plan_sites.gpkg"), {"new_sites": plan.new_sites.to_crs(WGS84)})
        if map_html:
            step(AUDIT_MAP)
            _write_pages(plan if plan is not None else audit, out, options, inputs)
        names = sorted(p.name for p in out.staging.iterdir())  # type: ignore[union-attr]
    return {KEYS.get(n, Path(n).stem): directory / n for n in names}


def workbook_sheets(audit: Any, plan: Any = None) -> dict[str, pd.DataFrame]:
    """The sheets of ``compliance.xlsx``: summary, compliance, by unit, life circle (and,
    with a plan, plan compliance and new stations)."""
    sheets = {
        "summary": summary_table(audit.summary()),
        "compliance": audit.compliance,
        "by unit": audit.by_unit.reset_index(),  # one value per cell, no merged cells
        "life circle": audit.life_circle,
    }
    if plan is not None:
        sheets["plan compliance"] = plan.compliance
        sheets["new stations"] = with_lonlat(plan.new_sites)
    return sheets


def with_lonlat(points: gpd.GeoDataFrame) -> pd.DataFrame:
    """Points as a table with ``lon`` / ``lat`` (WGS84, 6 decimals) for their geometry."""
    ll = points.geometry.to_crs(WGS84)
    table = pd.DataFrame(points.drop(columns=points.geometry.name))
    table["lon"] = np.round(ll.x.to_numpy(), 6)
    table["lat"] = np.round(ll.y.to_numpy(), 6)
    return table


def summary_table(summary: Mapping[str, Any]) -> pd.DataFrame:
    """Key figures as a two-column table; a nested figure becomes ``key: sub-key`` rows."""
    rows = []
    for key, value in summary.items():
        if isinstance(value, Mapping):
            rows += [(f"{key}: {k}", _cell(v)) for k, v in value.items()]
        else:
            rows.append((key, _cell(value)))
    return pd.DataFrame(rows, columns=["", "value"]).set_index("")


def _cell(value: Any) -> Any:
    """A value Excel can hold: lists as comma-separated text."""
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return value


def _write_pages(shown: Any, out: OutputFolder, options: Mapping[str, Any], inputs) -> None:
    """``compliance-map.html`` and ``compliance-report.html`` (linking the map)."""
    from ..maps import map_html
    from ..report import report

    out.path(AUDIT_MAP).write_text(map_html(shown.explore(**options)), encoding="utf-8")
    report(shown, out.path(AUDIT_REPORT), map=AUDIT_MAP, inputs=inputs, **options)
