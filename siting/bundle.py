"""A run's output bundle: one folder written as a whole (see :class:`siting.output.OutputFolder`).

=================  ===========================================================
``plan.gpkg``      layers ``sites``, ``new_sites``, ``demand`` (GeoPackage)
``stats.csv``      coverage before / after, per district when districts are given
``summary.json``   key numbers, the solver's bound and gap; timings under ``timings``
``tables.xlsx``    sheets ``summary``, ``districts``, ``sites`` (+ ``compliance``)
``map.html``       the interactive map
``report.html``    the report (:func:`siting.report.report`), linking ``map.html``
``compliance.csv`` with a norm audit (``audit=``): its compliance table
=================  ===========================================================

With a norm audit of the existing facilities (``audit=``, what ``siting run`` gives a
scenario with an ``audit:`` section) the map gets the compliance layers, the report the
compliance sections and the workbook a ``compliance`` sheet. The audit's own folder is
written by :func:`siting.compliance.files.write_audit_bundle` with the writers below.

The same inputs and seed give byte-identical ``plan.gpkg``, ``stats.csv``,
``tables.xlsx``, ``map.html`` and ``report.html``: GeoPackage and workbook carry a fixed
date instead of the time of writing, and nothing time-dependent is stored outside
``summary.json["timings"]``. Tables are UTF-8 with a byte-order mark, so Excel shows
Chinese names correctly.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from .output import OutputFolder, pause_point

if TYPE_CHECKING:
    from .plan import Plan

log = logging.getLogger(__name__)

#: the date stored in GeoPackages and workbooks instead of the time of writing
FIXED_DATE = "2000-01-01T00:00:00.000Z"
_ZIP_DATE = (2000, 1, 1, 0, 0, 0)
#: text encoding of every CSV: UTF-8 with a byte-order mark (Excel reads it as UTF-8)
CSV_ENCODING = "utf-8-sig"
#: map options a scenario or :meth:`Plan.to_file` can pass to the map (when supported)
MAP_OPTIONS = ("basemap", "lang", "assets")


def write_bundle(
    plan: Plan,
    directory: str | os.PathLike,
    *,
    force: bool = False,
    map_html: bool = True,
    map_options: Mapping[str, Any] | None = None,
    map_copy: str | os.PathLike | None = None,
    summary_table: pd.DataFrame | None = None,
    extra: Mapping[str, Any] | None = None,
    sheets: Mapping[str, pd.DataFrame] | None = None,
    report: Mapping[str, Any] | None = None,
    audit: Any = None,
    step: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Write a plan's bundle into ``directory`` as a whole; return the files written.

    Parameters
    ----------
    map_options
        ``basemap``, ``lang``, ``assets`` for the map and the report.
    map_copy
        Also write the map to this file (outside the folder), in the same commit.
    summary_table
        The headline table (first sheet of ``tables.xlsx``); default from
        :meth:`Plan.summary`.
    extra
        More entries for ``summary.json`` (e.g. ``timings``, ``notes``, ``scenario``).
    sheets
        More sheets for ``tables.xlsx`` (e.g. ``compliance`` from the norm audit).
    report
        More options for ``report.html`` (e.g. ``circle``, ``inputs``, ``title``).
    audit
        A norm audit (:func:`siting.audit`) of the existing facilities: adds
        ``compliance.csv``, the ``compliance`` sheet, the map's compliance layers, the
        report's compliance sections and ``summary.json["audit"]``.
    step
        Called with the name of each file before it is written (progress).
    """
    step = step or (lambda name: None)
    directory = Path(directory).absolute()
    by = "district" if "district" in plan.coverage.demand.columns else None
    stats = plan.stats(by)
    if audit is not None:
        extra = {**(extra or {}), "audit": audit.summary()}
        sheets = {"compliance": audit.compliance, **(sheets or {})}
        report = {**(report or {}), "audit": audit}
    with OutputFolder(directory, force=force) as out:
        step("plan.gpkg")
        layers = {"sites": plan.sites, "new_sites": plan.new_sites, "demand": plan.demand}
        write_gpkg(out.path("plan.gpkg"), layers)
        pause_point("outputs")  # test hook: a run interrupted half-way through its files
        step("stats.csv")
        write_csv(stats, out.path("stats.csv"))
        step("summary.json")
        summary = bundle_summary(plan, extra)
        write_json(summary, out.path("summary.json"))
        step("tables.xlsx")
        table = summary_table if summary_table is not None else _summary_frame(summary)
        write_xlsx(
            out.path("tables.xlsx"),
            {
                "summary": table,
                "districts": stats,
                "sites": sites_table(plan),
                **(sheets or {}),
            },
        )
        if audit is not None:
            step("compliance.csv")
            write_csv(audit.compliance, out.path("compliance.csv"), index=False)
        if map_html:
            step("map.html")
            write_map(plan, out.path("map.html"), map_options or {}, audit=audit)
            if map_copy is not None:
                out.file_beside(map_copy).write_bytes(out.path("map.html").read_bytes())
            step("report.html")
            write_report(plan, out.path("report.html"), {**(map_options or {}), **(report or {})})
        names = sorted(p.name for p in out.staging.iterdir())  # type: ignore[union-attr]
    written = {_KEYS.get(n, Path(n).stem): directory / n for n in names}
    if map_html and map_copy is not None:
        written["map_copy"] = Path(map_copy).absolute()
    return written


#: keys of :func:`write_bundle`'s answer, as :meth:`Plan.to_file` has always named them
_KEYS = {
    "plan.gpkg": "gpkg",
    "stats.csv": "stats",
    "summary.json": "summary",
    "tables.xlsx": "tables",
    "map.html": "map",
    "report.html": "report",
}


# ----------------------------------------------------------------------------- tables
def bundle_summary(plan: Plan, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``plan.summary()`` with every timing moved under ``timings`` (seconds)."""
    s = dict(plan.summary())
    extra = dict(extra or {})
    timings = dict(extra.pop("timings", None) or {})
    solver = s.pop("solve_seconds", None)
    if solver is not None:
        timings["solver_seconds"] = solver
    return {**extra, **s, "timings": timings}


def _summary_frame(summary: Mapping[str, Any]) -> pd.DataFrame:
    rows = [(k, v) for k, v in summary.items() if not isinstance(v, dict | list)]
    return pd.DataFrame(rows, columns=["", "value"]).set_index("")


def sites_table(plan: Plan) -> pd.DataFrame:
    """Every open site (existing first, then new) with longitude / latitude (WGS84)."""
    sites = plan.sites
    open_ = sites[sites["selected"].to_numpy(bool)].copy()
    new = plan.new_sites
    for col in ("covered_gain", "covered_only_here"):
        open_[col] = new[col].reindex(open_.index)
    ll = open_.geometry.to_crs(4326)
    table = pd.DataFrame(
        {
            "site": open_.index,
            "status": np.where(open_["existing"].to_numpy(bool), "existing", "new"),
        },
        index=open_.index,
    )
    keep = [
        c
        for c in open_.columns
        if c not in ("geometry", "selected", "new", "existing", "snapped") and c != "site"
    ]
    table = table.join(open_[keep])
    table["lon"] = np.round(ll.x.to_numpy(), 6)
    table["lat"] = np.round(ll.y.to_numpy(), 6)
    order = np.lexsort((table["site"].to_numpy(), table["status"] == "new"))
    return table.iloc[order].reset_index(drop=True)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike, *, index: bool = True) -> None:
    """A table as CSV in UTF-8 with a byte-order mark (opens in Excel with any locale)."""
    frame.to_csv(path, index=index, encoding=CSV_ENCODING, lineterminator="\n")


def write_json(data: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Key figures as indented JSON (UTF-8, Chinese kept as text)."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    Path(path).write_text(text, encoding="utf-8")


def write_xlsx(path: str | os.PathLike, sheets: Mapping[str, pd.DataFrame]) -> None:
    """An Excel workbook, one sheet per table (openpyxl), with a fixed date (same bytes)."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        for name, frame in sheets.items():
            plain = isinstance(frame.index, pd.RangeIndex) and frame.index.name is None
            _excel_ready(frame).to_excel(xw, sheet_name=name[:31], index=not plain)
    Path(path).write_bytes(_fixed_zip_dates(buf.getvalue()))


def _excel_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Excel has no time zones, no nullable booleans, no geometries: plain values."""
    out = pd.DataFrame(frame).copy()
    if not out.index.name:
        out.index.name = "item"
    for col in out.columns:
        if out[col].dtype == "geometry":
            out[col] = gpd.GeoSeries(out[col]).to_wkt()
        elif isinstance(out[col].dtype, pd.BooleanDtype | pd.StringDtype):
            out[col] = out[col].astype(object)
    return out


_W3CDTF = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*<")


def _fixed_zip_dates(data: bytes) -> bytes:
    """The same zip with every entry, and the workbook's created / modified properties,
    dated :data:`FIXED_DATE` (no time of writing)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_DATE)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps the time of saving
                data = _W3CDTF.sub(rb"\g<1>" + FIXED_DATE[:19].encode() + b"Z<", data)
            dst.writestr(fixed, data)
    return buf.getvalue()


# ----------------------------------------------------------------------------- GeoPackage
@contextlib.contextmanager
def _gdal_fixed_date() -> Iterator[None]:
    """GDAL stamps GeoPackages with the time of writing unless ``OGR_CURRENT_DATE`` is set."""
    import pyogrio

    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": FIXED_DATE})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


def write_gpkg(path: str | os.PathLike, layers: Mapping[str, Any]) -> None:
    """Write GeoDataFrames as layers of one GeoPackage, dated :data:`FIXED_DATE`."""
    with _gdal_fixed_date():
        for name, frame in layers.items():
            frame.to_file(path, layer=name, driver="GPKG", engine="pyogrio")


# ----------------------------------------------------------------------------- map, report
def set_map_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The ``basemap`` / ``lang`` / ``assets`` entries that are set."""
    return {k: v for k, v in options.items() if k in MAP_OPTIONS and v is not None}


def write_map(plan: Plan, path: Path, options: Mapping[str, Any], *, audit: Any = None) -> Path:
    """Write the plan's map to ``path`` (a new file) with the ``basemap`` / ``lang`` /
    ``assets`` options given (and the compliance layers of ``audit``)."""
    from .maps import write_map as write

    return write(plan, path, **set_map_options(options), audit=audit)


def write_report(plan: Plan, path: Path, options: Mapping[str, Any]) -> Path:
    """Write ``report.html`` (linking the bundle's ``map.html``) with the map options and
    what the run adds (``circle``, ``inputs``, ``title``)."""
    from .report import report

    extra = {k: v for k, v in options.items() if k not in MAP_OPTIONS and v is not None}
    return report(plan, path, map="map.html", **set_map_options(options), **extra)
