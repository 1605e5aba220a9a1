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
      dir: ../out/liechtenstein
      map: ../maps/demo.html

``population`` may instead name a ``file`` (GeoTIFF, CSV, vector) with ``column``,
``scale``; ``persons_per_household`` adds a ``households`` column (statistics then report
households too); ``existing`` / ``candidates`` may name a ``file`` with ``x``, ``y``,
``datum``; ``districts`` names a ``file`` with ``name`` and ``datum``; ``network`` may be
a mapping with ``file``, ``bbox``, ``factors``, ``simplify``, ``keep``. ``solve`` takes
``model`` (target, mclp, lscp, pmedian), ``target``, ``p``, ``minutes``, ``by``,
``time_limit``, ``mip_gap``, ``method``, ``seed``, ``capacity`` (a site column), ``budget``
(mclp: total cost instead of ``p``) and, for pmedian, ``drop_unreachable``,
``max_distance`` (metres) and ``single_source``.

Everything is checked before any data is read: unknown keys (with a "did you mean"),
value types and ranges, the CRS, that input files exist and, when writing, that no
output exists (unless ``force``). ``solve.target`` is a share (``0.9``) or a percentage
text (``"90%"``). Errors name the scenario file, the ``section.field`` and the form
expected.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from .scenario_spec import _spec, load_scenario, validate_scenario

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

    def table(self) -> pd.DataFrame:
        """The headline table: population, coverage before/after, sites added, gap, time."""
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
            ("total run time", f"{sum(self.timings.values()):.1f} s"),
        ]
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
    progress: Callable[[str], None] | None = None,
) -> ScenarioResult:
    """Run a scenario: load, measure coverage, solve, write map and tables.

    The whole scenario is validated and every output file checked (refused if it exists,
    unless ``force``) before any data is read. ``force`` allows overwriting outputs;
    ``write=False`` skips all files.
    """
    from . import io as sio
    from .coverage import candidate_sites, coverage
    from .io.network import read_network
    from .plan import solve

    if not isinstance(cfg, Mapping):
        cfg = load_scenario(cfg)
    spec = _spec(cfg)
    say = progress or (lambda s: log.info(s))
    timings: dict[str, float] = {}

    def stage(name: str):
        class _T:
            def __enter__(self):
                say(f"{name} …")
                self.t = time.perf_counter()

            def __exit__(self, *exc):
                timings[name] = time.perf_counter() - self.t

        return _T()

    if write:  # refuse before any work if an output exists
        from .output import check_writable

        for path in spec.outputs():
            check_writable(path, force=force)

    with stage("network"):
        net = read_network(spec.network.path, crs=spec.crs, **spec.network.kwargs)

    districts = None
    if spec.districts is not None:
        with stage("districts"):
            districts = sio.read_districts(spec.districts.path, **spec.districts.kwargs)

    pop = spec.population
    with stage("population"):
        if pop.kind == "buildings":
            b = sio.read_buildings(pop.path)
            demand = sio.population_from_buildings(b, districts=districts, **pop.kwargs)
        else:
            demand = sio.read_population(pop.path, districts=districts, **pop.kwargs)
        if spec.persons_per_household is not None:
            demand["households"] = demand["population"] / spec.persons_per_household

    with stage("facilities"):
        existing = None
        if spec.existing is not None and spec.existing.kind == "osm":
            existing = sio.facilities_from_osm(spec.existing.path, **spec.existing.kwargs)
        elif spec.existing is not None:
            existing = sio.read_facilities(spec.existing.path, **spec.existing.kwargs)
        if spec.candidates.kind == "file":
            candidates = sio.read_candidates(spec.candidates.path, **spec.candidates.kwargs)
        else:
            candidates = candidate_sites(net, spec.candidates.kwargs["spacing_m"], demand=demand)

    with stage("coverage"):
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
        with stage("circles"):
            circle = coverage(
                None,
                demand,
                existing,
                candidates,
                mode="circle",
                threshold_m=spec.circle_m,
                speed_kmh=spec.speed_kmh,
            )

    with stage("solve"):
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
        timings,
    )
    if write:
        with stage("outputs"):
            if spec.output_dir is not None:  # the map goes to output.map when given, else dir
                result.outputs.update(
                    plan.to_file(spec.output_dir, force=force, map_html=spec.output_map is None)
                )
            if spec.output_map is not None:
                from .maps import save_map

                result.outputs["map"] = save_map(plan.explore(), spec.output_map, force=force)
    return result
