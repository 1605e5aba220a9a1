"""A scenario's norm audit (its ``audit:`` section): ``siting audit`` and ``siting run``.

* ``siting audit scenario.yaml`` (:func:`run_audit`) audits the facilities and writes the
  audit's own folder, ``audit.dir`` (default ``<output.dir>-audit``, beside the run's
  folder) as a whole (:mod:`siting.compliance.files`); with ``audit.plan`` it adds the
  stations that close the gaps.
* ``siting run scenario.yaml`` (:func:`siting.scenario.run_scenario`) audits the existing
  facilities from the run's own walking search (:func:`siting.compliance.search.joint_coverage`)
  and shows the audit in the run's folder: map, report, workbook, ``compliance.csv``.

Both read their inputs with the same steps (:mod:`siting.scenario_load`) and search to
the same distance (:func:`audit_limit_m`), so both give the same compliance table.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd

from .errors import DataError
from .progress import Display, Stages
from .scenario_load import (
    read_candidates,
    read_demand,
    read_existing,
    read_network,
    run_stages,
)
from .scenario_spec import _Spec, _spec, load_scenario


@dataclass
class AuditResult:
    """What ``siting audit`` produced: the audit, the plan (if asked), timings, files."""

    name: str
    audit: Any
    plan: Any = None
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)


def run_audit(
    cfg: Mapping[str, Any] | str | os.PathLike,
    *,
    force: bool = False,
    write: bool = True,
    progress: Display | Callable[[str], None] | None = None,
) -> AuditResult:
    """Run a scenario's ``audit`` section: the norm audit per community and sub-district.

    Reads the population (``population``), the facilities (``audit.facilities``, else
    ``existing``), the units and, when a life circle, a walk attribution or a plan needs
    walking distances, the network (``network``, ``coverage.speed_kmh``). Writes the
    audit's folder ``audit.dir`` (default ``<output.dir>-audit``) as a whole:
    ``compliance.csv``, ``by_unit.csv``, ``life_circle.csv`` (UTF-8 with BOM),
    ``units.gpkg``, ``audit.json``, ``compliance.xlsx``, ``compliance-map.html`` and
    ``compliance-report.html`` (and, with ``audit.plan``, ``plan_compliance.csv`` and
    ``plan_sites.gpkg``; the map and report then show before → after). The folder is
    checked before any data is read; an existing one is replaced only with ``force``.
    """
    from .output import check_output_dir

    if not isinstance(cfg, Mapping):
        cfg = load_scenario(cfg)
    spec = _spec(cfg)
    a = spec.audit
    if a is None:
        msg = f"{spec.source}: no 'audit' section; add e.g. 'audit: {{preset: national-2011}}'."
        raise DataError(msg)
    if write and a.dir is None:
        msg = (
            f"{spec.source}: 'siting audit' writes into audit.dir (default: output.dir + "
            "'-audit'); set audit.dir or output.dir."
        )
        raise DataError(msg)
    if write:  # refuse before any work if the folder exists or cannot be written
        check_output_dir(a.dir, force=force)
    return run_stages(
        progress,
        audit_stage_names(spec, write=write),
        partial(_audit_steps, spec),
        partial(write_audit_folder, spec, force=force) if write else None,
    )


def audit_stage_names(spec: _Spec, *, write: bool = True) -> list[str]:
    """The stages ``siting audit`` goes through, in order."""
    a = spec.audit
    names = ["network"] if a.needs_walk() else []
    names += ["districts"] if spec.districts is not None else []
    names += ["population", "facilities", "units"]
    names += ["coverage"] if a.needs_walk() else []
    names += ["audit"] + (["plan"] if a.plan is not None else [])
    return names + (["outputs"] if write else [])


def _audit_steps(spec: _Spec, stages: Stages) -> AuditResult:
    """Load, search (when walks are needed), audit and plan (when asked)."""
    from .measure import coverage

    a = spec.audit
    net = read_network(spec, stages) if a.needs_walk() else None
    demand = read_demand(spec, stages)
    with stages("facilities"):
        facilities = read_audit_facilities(
            spec, read_existing(spec) if a.facilities is None else None
        )
        candidates = read_candidates(spec, net, demand) if a.plan is not None else None
    with stages("units"):
        units = read_units(spec)
    cov = None
    if net is not None and (len(facilities) or candidates is not None):
        with stages("coverage"):
            cov = coverage(
                net,
                demand,
                facilities,
                candidates,
                threshold_m=audit_limit_m(spec),
                speed_kmh=spec.speed_kmh,
                max_snap_m=spec.max_snap_m,
            )
    with stages("audit"):
        result = audit_of(spec, cov, demand, facilities, units)
    plan = None
    if a.plan is not None:
        with stages("plan"):
            plan = result.plan(**a.plan)
    return AuditResult(spec.name, result, plan, stages.timings)


# ----------------------------------------------------------------------------- steps
def audit_limit_m(spec: _Spec) -> float:
    """How far the audit walks (metres): the largest of its life-circle levels, the
    plan's walk and the run's largest threshold (also the reach of a walk attribution).
    ``siting run`` and ``siting audit`` both search to it, so both attribute alike."""
    from .measure import walk_metres

    a = spec.audit
    speed = spec.speed_kmh
    how = a.kwargs.get("level_distance", "standard")
    limits = [lv.distance_m(how, speed) for lv in a.preset.levels]
    limits.append(walk_metres(max(spec.minutes), speed))
    if a.plan is not None and a.plan.get("minutes") is not None:
        limits.append(walk_metres(a.plan["minutes"], speed))
    return max(limits)


def read_audit_facilities(spec: _Spec, existing: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """The audit's facilities with a checked ``type``: ``audit.facilities`` (OSM: every
    tag of the type table; a file: its ``type`` column), else ``existing``."""
    from . import io as sio
    from .compliance.core import typed_facilities
    from .standards import osm_filter

    a = spec.audit
    source = a.facilities
    if source is None:
        fac = existing
    elif source.kind == "osm":
        fac = sio.facilities_from_osm(source.path, **osm_filter(), **source.kwargs)
    else:
        kwargs = dict(source.kwargs)
        type_column = kwargs.pop("type", None)
        fac = sio.read_facilities(source.path, **kwargs)
        if type_column is not None and type_column != "type":
            if type_column not in fac.columns:
                msg = f"{source.path}: no column {type_column!r} (audit.facilities.type)."
                raise DataError(msg)
            fac = fac.rename(columns={type_column: "type"})
    if source is None:
        where = f"existing ({spec.existing.path})" if spec.existing is not None else "facilities"
    else:
        where = f"audit.facilities ({source.path})"
    return typed_facilities(fac, a.preset, where)


def read_units(spec: _Spec) -> dict[str, Any]:
    """The unit levels: polygons (a file, or OSM boundaries) or a demand column name."""
    from .compliance import units_from_osm
    from .io import read_districts

    out: dict[str, Any] = {}
    for level, src in spec.audit.units.items():
        if src.kind == "column":
            out[level] = src.kwargs["column"]
        elif src.kind == "osm":
            out[level] = units_from_osm(src.path, **src.kwargs)
        else:
            out[level] = read_districts(src.path, **src.kwargs)
    return out


def audit_of(spec: _Spec, cov, demand, facilities, units: Mapping[str, Any]):
    """The audit of the scenario's norms: from a coverage (its existing sites are the
    facilities) or, with ``cov`` None, from the demand and facilities without walks."""
    from .compliance import audit

    a = spec.audit
    return audit(
        cov,
        None if cov is not None else demand,
        None if cov is not None else facilities,
        preset=a.preset,
        speed_kmh=spec.speed_kmh,
        max_snap_m=spec.max_snap_m,
        **units,
        **a.kwargs,
    )


# ----------------------------------------------------------------------------- files
def write_audit_folder(
    spec: _Spec, result: AuditResult, *, force: bool, step: Callable[[str], None] | None = None
) -> dict[str, Path]:
    """The audit's folder (``audit.dir``) as a whole, with the scenario's map options."""
    from .compliance.files import write_audit_bundle

    a = spec.audit
    written = write_audit_bundle(
        result.audit,
        a.dir,
        plan=result.plan,
        force=force,
        cells=a.cells,
        page_options=spec.map_options,
        inputs=audit_inputs(spec, walked=result.audit.inputs.coverage is not None),
        step=step,
    )
    return {"folder": a.dir, **written}


def audit_inputs(spec: _Spec, *, walked: bool) -> dict[str, Path]:
    """The audit's input files by role, for the report's table of inputs and hashes."""
    a = spec.audit
    files = {"population": spec.population.path}
    if walked:
        files["network"] = spec.network.path
    facilities = a.facilities or spec.existing
    if facilities is not None:
        files["facilities"] = facilities.path
    files.update({level: src.path for level, src in a.units.items() if src.path is not None})
    if a.preset.path is not None:
        files["preset"] = a.preset.path
    return {role: path for role, path in files.items() if path is not None}
