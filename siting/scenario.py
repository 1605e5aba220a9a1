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
map carries its JavaScript. An ``audit`` section (the norm audit, see
:mod:`siting.scenario_audit`) adds the audit of the existing facilities to the run's
folder; ``siting audit`` (:func:`run_audit`) writes the audit's own folder, ``audit.dir``
(default ``output.dir`` + ``-audit``).

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from .output import check_output_dir, check_writable
from .progress import Display, Stages
from .scenario_audit import AuditResult, audit_limit_m, audit_of, read_audit_facilities, read_units
from .scenario_audit import run_audit as run_audit
from .scenario_load import load_inputs, run_stages
from .scenario_spec import _Spec, _spec, load_scenario, validate_scenario

log = logging.getLogger(__name__)

__all__ = [
    "AuditResult",
    "ScenarioResult",
    "load_scenario",
    "run_audit",
    "run_scenario",
    "validate_scenario",
]


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
    audit: Any = None  # the norm audit of the existing facilities (an ``audit:`` section)

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
        if self.audit is not None:
            rows.append(_audit_row(self.audit))
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


def _audit_row(audit) -> tuple[str, str]:
    """The scenario table's line for the norm audit: units meeting every norm, per level."""
    by_unit = audit.by_unit
    parts = []
    for level in dict.fromkeys(by_unit.index.get_level_values(0)) if len(by_unit) else ():
        status = by_unit.loc[level, "status"]
        parts.append(f"{level} {int((status == 'pass').sum())} of {len(status)}")
    failing = len(audit.summary()["rules_failed"])
    text = ", ".join(parts) or "no units"
    rules = f"{failing} rule{'' if failing == 1 else 's'} failing"
    return (f"units meeting every norm ({audit.preset.name})", f"{text}; {rules}")


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

    With an ``audit:`` section the existing facilities are also audited against its norms
    (from the same walking search, extended to the audit's distances): the bundle's map
    gets the compliance layers, the report the compliance sections, ``tables.xlsx`` a
    ``compliance`` sheet, and ``compliance.csv`` is added (``siting audit`` writes the
    audit's own folder).

    The whole scenario is validated and its outputs checked (an existing bundle is
    refused unless ``force``; a path that cannot be written is refused) before any data
    is read. ``write=False`` skips all files. The bundle (see :mod:`siting.bundle`) is
    written into a temporary folder and renamed into place at the end, so an
    interrupted run leaves nothing behind.

    Parameters
    ----------
    cfg : dict or str or os.PathLike
        A scenario YAML file, or the mapping :func:`siting.load_scenario` returns.
    force : bool
        Replace an existing output bundle.
    write : bool
        Write the bundle and the map; ``False`` computes only (``siting run --dry-run``).
    progress : siting.progress.Display or callable, optional
        Told of each stage: a :class:`siting.progress.Display` or a callable taking a
        text.

    Returns
    -------
    siting.scenario.ScenarioResult
        The network, demand, sites, coverage, plan (and audit), the files written
        (``outputs``), per-stage ``timings`` in seconds and a headline ``table()``.

    Raises
    ------
    ParameterError, DataError, MissingColumnError, CRSError
        A bad scenario or input file: the message names the file, the row or the field.
    NetworkError
        The inputs and the network do not overlap.
    InfeasibleError
        The solve section asks for what no choice of sites can reach.
    OutputExistsError
        The output folder exists and ``force`` is False.
    OutputPathError
        An output path that cannot be written.
    """
    if not isinstance(cfg, Mapping):
        cfg = load_scenario(cfg)
    spec = _spec(cfg)
    if write:  # refuse before any work if an output exists or cannot be written
        check_outputs(spec, force=force)
    return run_stages(
        progress,
        stage_names(spec, write=write),
        partial(_scenario_steps, spec),
        partial(write_outputs, spec=spec, force=force) if write else None,
    )


def _scenario_steps(spec: _Spec, stages: Stages) -> ScenarioResult:
    """Read the inputs, measure, audit (with an ``audit`` section) and solve."""
    from .plan import solve

    net, demand, existing, candidates = load_inputs(spec, stages)
    facilities, units = None, {}
    if spec.audit is not None:
        with stages("audit inputs"):
            facilities = read_audit_facilities(spec, existing)
            units = read_units(spec)
    cov, audit_cov, circle = _measure(spec, net, demand, existing, candidates, stages, facilities)
    audit = None
    if audit_cov is not None:
        with stages("audit"):
            audit = audit_of(spec, audit_cov, None, None, units)
    with stages("solve"):
        plan = solve(cov, **spec.solve)
    return ScenarioResult(
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
        audit=audit,
    )


def stage_names(spec: _Spec, *, write: bool = True) -> list[str]:
    """The stages a run of ``spec`` goes through, in order."""
    names = ["network"]
    names += ["districts"] if spec.districts is not None else []
    names += ["population", "facilities"]
    names += ["audit inputs"] if spec.audit is not None else []
    names += ["coverage"]
    names += ["circles"] if spec.circle_m is not None else []
    names += ["audit"] if spec.audit is not None else []
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


def _measure(spec: _Spec, net, demand, existing, candidates, stages: Stages, facilities=None):
    """Walking coverage (and, with an audit, the audit's coverage from the same search),
    and the straight-line circles when ``coverage.circle_m`` is set.

    ``facilities``: the audit's own facilities when ``audit.facilities`` is given (else the
    existing facilities are audited)."""
    from .compliance.search import joint_coverage
    from .measure import coverage

    audit_cov = None
    with stages("coverage"):
        if spec.audit is None:
            cov = coverage(
                net,
                demand,
                existing,
                candidates,
                minutes=spec.minutes,
                speed_kmh=spec.speed_kmh,
                max_snap_m=spec.max_snap_m,
            )
        else:
            cov, audit_cov = joint_coverage(
                net,
                demand,
                existing,
                candidates,
                facilities if spec.audit.facilities is not None else None,
                minutes=spec.minutes,
                limit_m=audit_limit_m(spec),
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
    return cov, audit_cov, circle


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
            lambda p: write_map(result.plan, p, spec.map_options, audit=result.audit),
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
        audit=result.audit,
        step=step,
    )
    return {"folder": spec.output_dir, **written}
