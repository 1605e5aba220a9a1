"""Life circles: which required facility types each demand point reaches within its level.

One pass over the facilities' rows of the walking-distance matrix gives, for every
facility type and demand point, the walk to the nearest facility of that type
(:func:`nearest_by_type`). Every level then compares those walks with its own distance:
no search is repeated per type or per level. A level's requirement is met only by a
facility of a type in that level's basket within that level's distance: a 15-minute
facility does not stand in for a 5-minute one (GB 50180-2018: levels are not nested).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..standards import Level
from .units import UnitLevel

#: requirement label of a level's whole basket, and of all levels together
COMPLETE = "(complete basket)"
ALL_LEVELS = "(all levels)"
COMPLETE_ALL = "(complete life circle)"
#: columns of :func:`table` (plus building columns when each demand point is a building)
COLUMNS = (
    "unit_level",
    "unit",
    "level",
    "requirement",
    "threshold_m",
    "population",
    "population_reached",
    "share",
)


def nearest_by_type(walk: sp.csr_matrix, type_code: np.ndarray, n_types: int) -> np.ndarray:
    """Walk (metres) from each demand point to the nearest facility of each type.

    ``walk``: CSR ``(n_facilities, n_demand)`` of walking metres (stored = within the
    computed limit); ``type_code``: each facility's type index (-1: ignored). Returns a
    ``(n_types, n_demand)`` array, ``inf`` where no facility of the type is within reach.
    """
    walk = walk.tocsr()
    n_demand = walk.shape[1]
    out = np.full(n_types * n_demand, np.inf)
    rows = np.repeat(np.arange(walk.shape[0]), np.diff(walk.indptr))
    t = np.asarray(type_code, dtype=np.int64)[rows]
    ok = t >= 0
    np.minimum.at(out, t[ok] * n_demand + walk.indices[ok], walk.data[ok])
    return out.reshape(n_types, n_demand)


@dataclass(eq=False)
class LifeCircles:
    """Per demand point and level: which requirements are met, and the complete basket."""

    levels: tuple[Level, ...]
    distance_m: dict[str, float]
    reach: dict[str, np.ndarray]  # level -> (n_demand, n_requirements) bool
    nearest_m: np.ndarray  # (n_types, n_demand)
    type_names: tuple[str, ...]

    @property
    def complete(self) -> dict[str, np.ndarray]:
        """Level -> bool per demand point: every requirement of the level met."""
        return {name: r.all(axis=1) for name, r in self.reach.items()}

    def complete_all(self, n_demand: int) -> np.ndarray:
        """Bool per demand point: the baskets of all levels complete."""
        out = np.ones(n_demand, dtype=bool)
        for c in self.complete.values():
            out &= c
        return out

    def columns(self) -> tuple[list[tuple[str, str, float]], np.ndarray]:
        """(level, requirement, metres) per column, and the ``(n_demand, n_cols)`` reach."""
        labels: list[tuple[str, str, float]] = []
        blocks = []
        for lv in self.levels:
            r = self.reach[lv.name]
            t = self.distance_m[lv.name]
            labels += [(lv.name, req, t) for req in lv.requirements]
            labels.append((lv.name, COMPLETE, t))
            blocks += [r, r.all(axis=1, keepdims=True)]
        n = self.nearest_m.shape[1]
        labels.append((ALL_LEVELS, COMPLETE_ALL, np.nan))
        blocks.append(self.complete_all(n)[:, None])
        return labels, np.hstack(blocks)


def evaluate(
    levels: Sequence[Level],
    walk: sp.csr_matrix,
    type_code: np.ndarray,
    type_names: Sequence[str],
    distance_m: Mapping[str, float],
) -> LifeCircles:
    """Requirements met per demand point for every level (one pass, then comparisons)."""
    index = {t: i for i, t in enumerate(type_names)}
    nearest = nearest_by_type(walk, type_code, len(type_names))
    reach = {}
    for lv in levels:
        t = distance_m[lv.name]
        cols = [
            np.min(nearest[[index[a] for a in alternatives]], axis=0) <= t
            for alternatives in lv.basket
        ]
        reach[lv.name] = np.column_stack(cols) if cols else np.ones((walk.shape[1], 0), bool)
    return LifeCircles(tuple(levels), dict(distance_m), reach, nearest, tuple(type_names))


def table(
    lc: LifeCircles,
    units: Sequence[UnitLevel],
    population: np.ndarray,
    buildings: bool,
) -> pd.DataFrame:
    """Tidy shares reached, per unit level, unit, life-circle level and requirement.

    Columns: ``unit_level``, ``unit``, ``level``, ``requirement``, ``threshold_m``,
    ``population``, ``population_reached``, ``share`` (of persons) and, when each demand
    point is a building, ``buildings``, ``buildings_reached``, ``building_share``.
    Requirement ``(complete basket)`` is the whole basket of the level; level
    ``(all levels)`` is the complete life circle (every level's basket).
    """
    labels, R = lc.columns()
    n = len(population)
    groups = [("total", np.array(["total"]), sp.csr_matrix(np.ones((1, n))))]
    groups += [(u.level, u.names, u.indicator()) for u in units]
    frames = []
    Rf = R.astype(np.float64)
    for level, names, G in groups:
        persons = np.asarray(G @ population).ravel()
        reached = np.asarray(G @ (Rf * population[:, None]))
        block = _long(level, names, labels, persons, reached, "population", "share")
        if buildings:
            count = np.asarray(G.sum(axis=1)).ravel()
            b = _long(
                level, names, labels, count, np.asarray(G @ Rf), "buildings", "building_share"
            )
            block = pd.concat([block, b.iloc[:, -3:]], axis=1)
        frames.append(block)
    return pd.concat(frames, ignore_index=True)


def _long(level, names, labels, totals, reached, what: str, share: str) -> pd.DataFrame:
    n_units, n_cols = reached.shape
    lv = np.array([x[0] for x in labels], dtype=object)
    req = np.array([x[1] for x in labels], dtype=object)
    thr = np.array([x[2] for x in labels], dtype=float)
    tot = np.repeat(totals, n_cols)
    got = reached.ravel()
    return pd.DataFrame(
        {
            "unit_level": level,
            "unit": np.repeat(np.asarray(names, dtype=object), n_cols),
            "level": np.tile(lv, n_units),
            "requirement": np.tile(req, n_units),
            "threshold_m": np.tile(thr, n_units),
            what: tot,
            f"{what}_reached": got,
            share: np.divide(got, tot, out=np.full(got.shape, np.nan), where=tot > 0),
        }
    )


def cell_columns(lc: LifeCircles, n_demand: int) -> pd.DataFrame:
    """Per demand point: walk to the nearest facility of each basket type (metres, NaN
    beyond reach), each requirement met (``"{level}: {requirement}"``), each level's basket
    complete (``"complete {level}"``) and ``complete life circle``."""
    used = sorted({t for lv in lc.levels for alt in lv.basket for t in alt})
    data: dict[str, np.ndarray] = {}
    index = {t: i for i, t in enumerate(lc.type_names)}
    for t in used:
        d = lc.nearest_m[index[t]]
        data[f"walk_m {t}"] = np.where(np.isfinite(d), d, np.nan)
    for lv in lc.levels:
        r = lc.reach[lv.name]
        for j, req in enumerate(lv.requirements):
            data[f"{lv.name}: {req}"] = r[:, j]
        data[f"complete {lv.name}"] = r.all(axis=1)
    if lc.levels:
        data["complete life circle"] = lc.complete_all(n_demand)
    return pd.DataFrame(data)


#: status of a level's row when the preset sets no target share
NO_TARGET = "no target"


def compliance_rows(levels: Sequence[Level], lc_table: pd.DataFrame) -> pd.DataFrame:
    """One compliance row per level and unit: the share of persons with the whole basket.

    ``required`` is the level's target share (``share`` in the preset; NaN and status
    ``"no target"`` when it sets none), ``provided`` the share reached; ``detail`` names
    the requirement reached by the fewest persons.
    """
    frames = []
    for lv in levels:
        rows = lc_table[lc_table["level"] == lv.name]
        whole = rows[rows["requirement"] == COMPLETE].set_index(["unit_level", "unit"])
        parts = rows[rows["requirement"] != COMPLETE].sort_values("share", kind="stable")
        lowest = parts.groupby(["unit_level", "unit"], sort=False).first()
        lowest = lowest.reindex(whole.index)
        share = whole["share"].to_numpy(float)
        target = np.nan if lv.share is None else float(lv.share)
        if lv.share is None:
            status = np.full(len(share), NO_TARGET, dtype=object)
        else:
            status = np.where(share >= target - 1e-12, "pass", "fail")
        detail = [
            f"{s:.0%} of {p:,.0f} persons reach the whole {lv.name} basket within {t:,.0f} m"
            + (f"; fewest reach {req} ({rs:.0%})" if isinstance(req, str) else "")
            for s, p, t, req, rs in zip(
                share,
                whole["population"],
                whole["threshold_m"],
                lowest["requirement"],
                lowest["share"],
                strict=True,
            )
        ]
        frame = pd.DataFrame(
            {
                "rule": lv.name,
                "kind": "life_circle",
                "unit_level": whole.index.get_level_values(0),
                "unit": ["(all residents)" if lvl == "total" else u for lvl, u in whole.index],
                "status": status,
                "required": target,
                "provided": share,
                "shortfall": np.maximum(target - share, 0.0),
                "measure": "share of persons",
                "detail": detail,
            }
        )
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
