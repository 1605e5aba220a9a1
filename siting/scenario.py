"""A planning scenario: a validated YAML config → load → measure → solve → show.

Example (paths are relative to the YAML file)::

    name: Liechtenstein, community services within a 15-minute walk
    network: liechtenstein/liechtenstein-latest.osm.pbf
    population:
      buildings: liechtenstein/liechtenstein-latest.osm.pbf
      total: 39700
    existing:
      osm: liechtenstein/liechtenstein-latest.osm.pbf
      amenity: [community_centre, social_facility, library, clinic]
    candidates:
      spacing_m: 150
    coverage:
      minutes: [5, 10, 15]
      circle_m: 1000
    solve:
      model: target
      target: 0.9
    output:
      dir: ../out/liechtenstein     # the bundle: plan.gpkg, stats.csv, summary.json, ...
      map: ../maps/demo.html        # optional: a copy of the bundle's map.html
      basemap: osm                  # osm, amap, amap-satellite, tianditu, none
      lang: en                      # zh or en: the map's (and report's) labels
    notes: free text shown with the results, e.g. what the data lacks

``population`` may instead name a ``file`` (GeoTIFF, CSV, vector) with ``column``,
``scale``; ``persons_per_household`` adds a ``households`` column (statistics then report
households too); ``existing`` / ``candidates`` may name a ``file`` with ``x``, ``y``,
``datum``; ``districts`` names a ``file`` with ``name`` and ``datum``; ``network`` may be
a mapping with ``file``, ``bbox``, ``factors``, ``simplify``, ``keep``. ``solve`` takes
``model`` (target, mclp, lscp, pmedian), ``target``, ``p``, ``minutes``, ``by``,
``time_limit``, ``mip_gap``, ``method``, ``seed``, ``capacity`` (a site column), ``budget``
(mclp: total cost instead of ``p``) and, for pmedian, ``drop_unreachable``,
``max_distance`` (metres) and ``single_source``. ``output.dir`` is a folder written as a
whole (see :mod:`siting.bundle`); ``output.assets`` (``inline`` or ``cdn``) chooses how the
map carries its JavaScript.

Everything is checked before any data is read: unknown keys (with a "did you mean"),
value types and ranges, the CRS, that input files exist and, when writing, that no
output exists (unless ``force``) and that the output folders can be written. A key given
twice in one section is refused, naming both lines. ``solve.target`` is a share
(``0.9``) or a percentage text (``"90%"``). Errors name the scenario file, the
``section.field`` and the form expected.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from .errors import DataError
from .output import check_output_dir, check_writable
from .progress import BarDisplay, Display, Stages
from .scenario_spec import _Spec, _spec, load_scenario, validate_scenario

log = logging.getLogger(__name__)

__all__ = ["ScenarioResult", "load_scenario", "run_scenario", "validate_scenario"]


@dataclass
class ScenarioResult:
    """Everything a scenario run produced, with per-stage timings (seconds)."""

    name: str
    network: Any
    demand: gpd.GeoDataFrame
    existing: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    coverage: Any
    circle: Any
    plan: Any
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, Path] = field(default_factory=dict)
    notes: str | None = None

    def table(self, *, timings: bool = True) -> pd.DataFrame:
        """The headline table: population, coverage before/after, sites added, gap, time.

        ``timings=False`` leaves out the run time (for files that must repeat byte for
        byte: timings are kept in ``summary.json`` only).
        """
        s = self.plan.summary()
        # with capacities the plan counts persons served within them, not within reach
        verb = "covered" if self.plan.served is None else "served within capacity"
        circle_share = None
        if self.circle is not None:
            circle_share = self.circle.summary()["covered_share"]
        rows = [
            ("population (persons)", f"{s['population']:,.0f}"),
            ("demand points", f"{self.coverage.n_demand:,}"),
            ("existing facilities", f"{s['existing_sites']}"),
            ("candidate sites", f"{int((~self.coverage.existing).sum()):,}"),
            (
                f"{verb} today, {s['minutes']:g}-min walk ({s['threshold_m']:.0f} m)",
                f"{s['covered_before']:,.0f} ({s['covered_share_before']:.1%})",
            ),
        ]
        dropped = self.demand.attrs.get("dropped_outside_districts")
        if dropped:  # points the districts left out: the population above excludes them
            rows.insert(
                2,
                (
                    "dropped outside the districts",
                    f"{dropped['persons']:,.0f} persons ({dropped['points']:,} points)",
                ),
            )
        if circle_share is not None:
            rows.append(
                (f"covered today, {self.circle.limit_m:.0f} m circle", f"{circle_share:.1%}")
            )
        rows += [
            (
                f"{verb} after plan ({s['model']})",
                f"{s['covered_after']:,.0f} ({s['covered_share_after']:.1%})",
            ),
            ("new sites", f"{s['new_sites']}"),
            ("objective / bound", f"{_fmt(s['objective'])} / {_fmt(s['bound'])}"),
            ("solver gap", f"{s['gap']:.2%} ({s['status']})" if s["gap"] is not None else "n/a"),
        ]
        if timings:
            rows.append(("total run time", f"{sum(self.timings.values()):.1f} s"))
        if not s.get("repeatable", True):
            rows.append(("repeatable", _why_not_repeatable(s.get("not_repeatable_because", ""))))
        elif not s.get("bound_repeatable", True):
            rows.append(
                (
                    "bound repeatable",
                    "no: the regional bound's time ran out before every region was solved, "
                    "so the bound (not the plan) depends on the machine's speed "
                    "(a longer solve.time_limit lets every region finish)",
                )
            )
        return pd.DataFrame(rows, columns=["", "value"]).set_index("")

    def timing_table(self) -> pd.DataFrame:
        """Seconds per stage."""
        t = pd.Series(self.timings, name="seconds").round(2).to_frame()
        t.loc["total"] = round(sum(self.timings.values()), 2)
        return t


def _why_not_repeatable(cuts: str) -> str:
    """The scenario table's words for a run that real time cut short (and what helps)."""
    out = []
    if "wall clock" in cuts:
        out.append(
            "the machine could not do the work budget within time_limit real seconds "
            "(raise solve.time_limit, or run on a faster or less busy machine)"
        )
    if "HiGHS" in cuts:
        out.append(
            "HiGHS' branch-and-bound stopped on its time limit, so its best plan depends "
            "on the machine's speed (a longer solve.time_limit may let it finish; "
            "method: heuristic never runs it)"
        )
    return "no: " + ("; ".join(out) if out else "a search stopped on real time")


def _fmt(v) -> str:
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if abs(v - round(v)) < 1e-9 else f"{v:,.2f}"


# ----------------------------------------------------------------------------- run
def run_scenario(
    cfg: Mapping[str, Any] | str | os.PathLike,
    *,
    force: bool = False,
    write: bool = True,
    progress: Display | Callable[[str], None] | None = None,
) -> ScenarioResult:
    """Run a scenario: load, measure coverage, solve, write the bundle.

    The whole scenario is validated and its outputs checked (an existing bundle is
    refused unless ``force``; a path that cannot be written is refused) before any data
    is read. ``write=False`` skips all files. The bundle (see :mod:`siting.bundle`) is
    written into a temporary folder and renamed into place at the end, so an
    interrupted run leaves nothing behind. ``progress`` is a
    :class:`siting.progress.Display` or a callable taking a text, told of each stage.
    """
    from .plan import solve

    if not isinstance(cfg, Mapping):
        cfg = load_scenario(cfg)
    spec = _spec(cfg)
    if write:  # refuse before any work if an output exists or cannot be written
        check_outputs(spec, force=force)
    stages = Stages(progress)
    try:
        stages.plan(stage_names(spec, write=write))
        net, demand, existing, candidates = _load_inputs(spec, stages)
        cov, circle = _measure(spec, net, demand, existing, candidates, stages)
        with stages("solve"):
            plan = solve(cov, **spec.solve)
        result = ScenarioResult(
            spec.name,
            net,
            cov.demand,
            cov.sites[cov.existing],
            cov.sites[~cov.existing],
            cov,
            circle,
            plan,
            stages.timings,
            notes=spec.notes,
        )
        if write:
            with stages("outputs"):
                step = partial(_show_step, stages.display)
                result.outputs.update(write_outputs(result, spec, force=force, step=step))
    finally:
        stages.close()
    return result


def stage_names(spec: _Spec, *, write: bool = True) -> list[str]:
    """The stages a run of ``spec`` goes through, in order."""
    names = ["network"]
    names += ["districts"] if spec.districts is not None else []
    names += ["population", "facilities", "coverage"]
    names += ["circles"] if spec.circle_m is not None else []
    names += ["solve"]
    names += ["outputs"] if write and (spec.output_dir or spec.output_map) else []
    return names


def check_outputs(spec: _Spec, *, force: bool) -> None:
    """Refuse, before any data is read, outputs that exist (without ``force``) or that
    cannot be written (:class:`OutputExistsError`, :class:`OutputPathError`)."""
    if spec.output_dir is not None:
        check_output_dir(spec.output_dir, force=force)
    if spec.output_map is not None:
        check_writable(spec.output_map, force=force)


def _load_inputs(spec: _Spec, stages: Stages):
    """Network, demand (with districts), existing facilities and candidate sites."""
    from . import io as sio
    from .io.network import read_network
    from .measure import candidate_sites

    with stages("network"):
        net = read_network(spec.network.path, crs=spec.crs, **spec.network.kwargs)
    districts = None
    if spec.districts is not None:
        with stages("districts"):
            districts = sio.read_districts(spec.districts.path, **spec.districts.kwargs)
    pop = spec.population
    with stages("population"):
        if pop.kind == "buildings":
            b = sio.read_buildings(pop.path)
            demand = sio.population_from_buildings(b, districts=districts, **pop.kwargs)
        else:
            demand = sio.read_population(pop.path, districts=districts, **pop.kwargs)
        if spec.persons_per_household is not None:
            demand["households"] = demand["population"] / spec.persons_per_household
    with stages("facilities"):
        existing = None
        if spec.existing is not None and spec.existing.kind == "osm":
            existing = sio.facilities_from_osm(spec.existing.path, **spec.existing.kwargs)
        elif spec.existing is not None:
            existing = sio.read_facilities(spec.existing.path, **spec.existing.kwargs)
        if spec.candidates.kind == "file":
            candidates = sio.read_candidates(spec.candidates.path, **spec.candidates.kwargs)
        else:
            candidates = candidate_sites(net, spec.candidates.kwargs["spacing_m"], demand=demand)
    return net, demand, existing, candidates


def _measure(spec: _Spec, net, demand, existing, candidates, stages: Stages):
    """Walking coverage, and the straight-line circles when ``coverage.circle_m`` is set."""
    from .measure import coverage

    with stages("coverage"):
        cov = coverage(
            net,
            demand,
            existing,
            candidates,
            minutes=spec.minutes,
            speed_kmh=spec.speed_kmh,
            max_snap_m=spec.max_snap_m,
        )
    circle = None
    if spec.circle_m is not None:
        with stages("circles"):
            circle = coverage(
                None,
                demand,
                existing,
                candidates,
                mode="circle",
                threshold_m=spec.circle_m,
                speed_kmh=spec.speed_kmh,
            )
    return cov, circle


def _input_files(spec: _Spec) -> dict[str, Path]:
    """The scenario's input files by role (listed, with their hashes, in the report)."""
    inputs = {
        "network": spec.network,
        "districts": spec.districts,
        "population": spec.population,
        "existing": spec.existing,
        "candidates": spec.candidates,
    }
    return {role: i.path for role, i in inputs.items() if i is not None and i.path is not None}


def _show_step(display: Display, name: str) -> None:
    """Name the file being written in the progress display (``outputs: map.html``)."""
    if isinstance(display, BarDisplay):
        display.start(f"outputs: {name}")


def write_outputs(
    result: ScenarioResult,
    spec: _Spec,
    *,
    force: bool,
    step: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """The bundle into ``output.dir`` (and the map's copy to ``output.map``), as a whole;
    or only the map when no folder is given. ``step(file name)`` is told of each file."""
    from .bundle import write_bundle, write_map
    from .output import atomic_write

    if spec.output_dir is None:
        path = atomic_write(
            spec.output_map,
            lambda p: write_map(result.plan, p, spec.map_options),
            force=force,
        )
        return {"map": path}
    extra = {
        "scenario": spec.name,
        "scenario_file": spec.source,
        "notes": spec.notes,
        "timings": {"stage_seconds": {k: round(v, 3) for k, v in result.timings.items()}},
    }
    written = write_bundle(
        result.plan,
        spec.output_dir,
        force=force,
        map_options=spec.map_options,
        map_copy=spec.output_map,
        summary_table=result.table(timings=False),
        extra=extra,
        report={"circle": result.circle, "inputs": _input_files(spec), "title": spec.name},
        step=step,
    )
    return {"folder": spec.output_dir, **written}


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
    progress: Callable[[str], None] | None = None,
) -> AuditResult:
    """Run a scenario's ``audit`` section: the norm audit per community and sub-district.

    Reads the population (``population``), the facilities (``audit.facilities``, else
    ``existing``), the units and, when a life circle, a walk attribution or a plan needs
    walking distances, the network (``network``, ``coverage.speed_kmh``). Writes
    ``compliance.csv``, ``by_unit.csv``, ``life_circle.csv`` (UTF-8 with BOM),
    ``units.gpkg``, ``audit.json``, ``compliance-map.html`` (the units coloured by the norms
    met) and ``compliance-report.html`` (the compliance sections, linking the map) into
    ``output.dir`` (and, with ``audit.plan``, ``plan_compliance.csv`` and
    ``plan_sites.gpkg``; the map and report then show before → after). Outputs are
    checked before any data is read; existing files are kept unless ``force``.
    """
    from .compliance import audit as run

    if not isinstance(cfg, Mapping):
        cfg = load_scenario(cfg)
    spec = _spec(cfg)
    a = spec.audit
    if a is None:
        msg = f"{spec.source}: no 'audit' section; add e.g. 'audit: {{preset: national-2011}}'."
        raise DataError(msg)
    if write and a.output_dir is None:
        msg = f"{spec.source}: 'siting audit' writes into output.dir; set output.dir."
        raise DataError(msg)
    if write:
        from .output import check_writable

        for path in a.outputs():
            check_writable(path, force=force)
    say = progress or (lambda s: log.info(s))
    timings: dict[str, float] = {}

    def stage(name: str, func: Callable[[], Any]) -> Any:
        say(f"{name} …")
        t = time.perf_counter()
        out = func()
        timings[name] = time.perf_counter() - t
        return out

    demand = stage("population", lambda: _audit_demand(spec))
    facilities = stage("facilities", lambda: _audit_facilities(spec))
    units = stage("units", lambda: _audit_units(spec))
    cov = None
    if _audit_needs_walk(a, units):
        cov = stage("coverage", lambda: _audit_coverage(spec, demand, facilities))
    result = stage(
        "audit",
        lambda: run(
            cov,
            None if cov is not None else demand,
            None if cov is not None else facilities,
            preset=a.preset,
            speed_kmh=spec.speed_kmh,
            **units,
            **a.kwargs,
        ),
    )
    plan = stage("plan", lambda: result.plan(**a.plan)) if a.plan is not None else None
    out = AuditResult(spec.name, result, plan, timings)
    if write:
        out.outputs.update(stage("outputs", lambda: _audit_write(a, result, plan, force)))
        pages = stage("map and report", lambda: _audit_pages(spec, plan or result, force))
        out.outputs.update(pages)
    return out


def _audit_demand(spec) -> gpd.GeoDataFrame:
    from . import io as sio

    districts = None
    if spec.districts is not None:
        districts = sio.read_districts(spec.districts.path, **spec.districts.kwargs)
    pop = spec.population
    if pop.kind == "buildings":
        demand = sio.population_from_buildings(
            sio.read_buildings(pop.path), districts=districts, **pop.kwargs
        )
    else:
        demand = sio.read_population(pop.path, districts=districts, **pop.kwargs)
    if spec.persons_per_household is not None:
        demand["households"] = demand["population"] / spec.persons_per_household
    return demand


def _audit_facilities(spec) -> gpd.GeoDataFrame | None:
    from . import io as sio
    from .standards import osm_filter

    source = spec.audit.facilities or spec.existing
    if source is None:
        return None
    if source.kind == "osm" and spec.audit.facilities is not None:
        return sio.facilities_from_osm(source.path, **osm_filter(), **source.kwargs)
    if source.kind == "osm":
        return sio.facilities_from_osm(source.path, **source.kwargs)
    kwargs = dict(source.kwargs)
    type_column = kwargs.pop("type", None)
    fac = sio.read_facilities(source.path, **kwargs)
    if type_column is not None and type_column != "type":
        if type_column not in fac.columns:
            msg = f"{source.path}: no column {type_column!r} (audit.facilities.type)."
            raise DataError(msg)
        fac = fac.rename(columns={type_column: "type"})
    return fac


def _audit_units(spec) -> dict[str, Any]:
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


def _audit_needs_walk(a, units: Mapping[str, Any]) -> bool:
    return (
        bool(a.preset.levels)
        or a.plan is not None
        or a.kwargs.get("attribution") == "walk"
        or any(isinstance(u, str) for u in units.values())
    )


def _audit_coverage(spec, demand, facilities):
    """One walking search up to the largest distance any level or the plan needs."""
    from .io.network import read_network
    from .measure import candidate_sites, coverage, walk_metres

    a = spec.audit
    net = read_network(spec.network.path, crs=spec.crs, **spec.network.kwargs)
    speed = spec.speed_kmh
    how = a.kwargs.get("level_distance", "standard")
    limits = [lv.distance_m(how, speed) for lv in a.preset.levels]
    candidates = None
    if a.plan is not None:
        limits.append(walk_metres(a.plan.get("minutes") or max(spec.minutes), speed))
        if spec.candidates.kind == "file":
            from . import io as sio

            candidates = sio.read_candidates(spec.candidates.path, **spec.candidates.kwargs)
        else:
            candidates = candidate_sites(net, spec.candidates.kwargs["spacing_m"], demand=demand)
    limit = max(limits, default=walk_metres(max(spec.minutes), speed))
    from .compliance.core import typed_facilities

    typed = typed_facilities(facilities, a.preset, "facilities")
    return coverage(
        net,
        demand,
        typed,
        candidates,
        threshold_m=limit,
        speed_kmh=speed,
        max_snap_m=spec.max_snap_m,
    )


#: the audit's map and report in ``output.dir`` (names also in scenario_spec._AUDIT_OUTPUTS)
AUDIT_MAP, AUDIT_REPORT = "compliance-map.html", "compliance-report.html"


def _audit_pages(spec, shown, force: bool) -> dict[str, Path]:
    """``compliance-map.html`` and ``compliance-report.html`` (linking the map), with the
    scenario's map options (``output.basemap``/``lang``/``assets`` where the scenario
    has them), atomically."""
    from .maps import save_map
    from .report import report

    folder = spec.audit.output_dir
    options = dict(getattr(spec, "map_options", None) or {})
    written = {"audit map": save_map(shown.explore(**options), folder / AUDIT_MAP, force=force)}
    inputs = _audit_inputs(spec, shown)
    written["audit report"] = report(
        shown, folder / AUDIT_REPORT, map=AUDIT_MAP, inputs=inputs, force=force, **options
    )
    return written


def _audit_inputs(spec, shown) -> dict[str, Path]:
    """The audit's input files by role, for the report's table of inputs and hashes."""
    a = spec.audit
    files = {"population": spec.population.path}
    if getattr(shown, "before", shown).inputs.coverage is not None:  # walked on the network
        files["network"] = spec.network.path
    facilities = a.facilities or spec.existing
    if facilities is not None:
        files["facilities"] = facilities.path
    files.update({level: src.path for level, src in a.units.items() if src.path is not None})
    if a.preset.path is not None:
        files["preset"] = a.preset.path
    return {role: path for role, path in files.items() if path is not None}


def _audit_write(a, result, plan, force: bool) -> dict[str, Path]:
    written = {
        f"audit {k}": v for k, v in result.to_file(a.output_dir, force=force, cells=a.cells).items()
    }
    if plan is not None:
        written.update({f"plan {k}": v for k, v in plan.to_file(a.output_dir, force=force).items()})
    return written
