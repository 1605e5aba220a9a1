"""The steps of a scenario shared by ``siting run`` and ``siting audit``.

Each loading step reads one input of a checked scenario
(:class:`siting.scenario_spec._Spec`) with the package's loaders, timed and shown as a
stage of the run (:class:`siting.progress.Stages`); :func:`show_step` names the file
being written.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import geopandas as gpd

from .progress import BarDisplay, Display, Stages
from .scenario_spec import _Spec


def read_network(spec: _Spec, stages: Stages):
    """The walking network (stage ``network``)."""
    from .io.network import read_network as read

    with stages("network"):
        return read(spec.network.path, crs=spec.crs, **spec.network.kwargs)


def read_demand(spec: _Spec, stages: Stages) -> gpd.GeoDataFrame:
    """The demand points with ``population`` (and ``district``, ``households`` when the
    scenario gives districts or a household size); stages ``districts``, ``population``."""
    from . import io as sio

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
    return demand


def read_existing(spec: _Spec) -> gpd.GeoDataFrame | None:
    """The existing facilities (``existing``), or None."""
    from . import io as sio

    if spec.existing is None:
        return None
    if spec.existing.kind == "osm":
        return sio.facilities_from_osm(spec.existing.path, **spec.existing.kwargs)
    return sio.read_facilities(spec.existing.path, **spec.existing.kwargs)


def read_candidates(spec: _Spec, net: Any, demand: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The candidate sites: a file, or network points near homes (``spacing_m``)."""
    from . import io as sio
    from .measure import candidate_sites

    if spec.candidates.kind == "file":
        return sio.read_candidates(spec.candidates.path, **spec.candidates.kwargs)
    return candidate_sites(net, spec.candidates.kwargs["spacing_m"], demand=demand)


def load_inputs(spec: _Spec, stages: Stages):
    """Network, demand (with districts), existing facilities and candidate sites."""
    net = read_network(spec, stages)
    demand = read_demand(spec, stages)
    with stages("facilities"):
        existing = read_existing(spec)
        candidates = read_candidates(spec, net, demand)
    return net, demand, existing, candidates


def run_stages(
    progress: Display | Callable[[str], None] | None,
    names: list[str],
    steps: Callable[[Stages], Any],
    write: Callable[..., dict] | None,
) -> Any:
    """``steps(stages)`` under a display of the stages ``names``, then ``write`` its result.

    ``write(result, step=step)`` runs as the stage ``outputs`` (when given) and the files it
    returns are added to ``result.outputs``; the display is closed in any case.
    """
    stages = Stages(progress)
    try:
        stages.plan(names)
        result = steps(stages)
        if write is not None:
            written = outputs_stage(stages, lambda step: write(result, step=step))
            result.outputs.update(written)
    finally:
        stages.close()
    return result


def outputs_stage(stages: Stages, write: Callable[[Callable[[str], None]], dict]) -> dict:
    """``write(step)`` as the stage ``outputs``; ``step(file name)`` shows each file."""
    with stages("outputs"):
        return write(partial(_show_step, stages.display))


def _show_step(display: Display, name: str) -> None:
    """Name the file being written in the progress display (``outputs: map.html``)."""
    if isinstance(display, BarDisplay):
        display.start(f"outputs: {name}")
