"""Per-unit norms: one function per rule kind, each returning rows of the compliance table.

Every row says, for one unit (or for all units of a level, for share-of-units targets):
``required`` and ``provided`` (in ``measure``: m², workers, facilities, households or
units), the ``shortfall`` (>= 0), a ``status`` (``pass`` / ``fail`` / ``unknown`` when a
missing value decides it / ``n/a`` when the rule's units were not given) and ``detail``
in words. Unknown floor areas are never counted as zero: a rule they could decide is
``unknown`` and the detail names how many facilities lack one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..standards import (
    Rule,
    required_floor_area_m2,
    required_staff_households,
    required_staff_residents,
)
from .units import PLURAL, UnitLevel

COLUMNS = (
    "unit_level",
    "unit",
    "status",
    "required",
    "provided",
    "shortfall",
    "measure",
    "detail",
)
_EPS = 1e-9


@dataclass(eq=False)
class Facts:
    """What the rules read: units, their tables, and the facilities with their units."""

    units: dict[str, UnitLevel]
    tables: dict[str, pd.DataFrame]
    fac_type: np.ndarray
    fac_area_m2: np.ndarray
    fac_unit: dict[str, np.ndarray]


def evaluate(rule: Rule, facts: Facts) -> pd.DataFrame:
    """Compliance rows of one rule (see the module docstring for the columns)."""
    unit = facts.units.get(rule.unit)
    if unit is None:
        return _na(rule, f"no {PLURAL[rule.unit]} given")
    table = facts.tables[rule.unit]
    urban = table["urban"].to_numpy(bool)
    selected = {"all": np.ones(len(table), bool), "urban": urban, "rural": ~urban}[rule.where]
    if not selected.any():
        hint = " (mark units with a boolean 'urban' column)" if rule.where == "rural" else ""
        return _na(rule, f"no {rule.where} {PLURAL[rule.unit]}{hint}")
    rows = KINDS[rule.kind](rule, facts, unit, table)
    rows = rows[selected].reset_index(drop=True)
    if rule.kind == "facility_count":
        rows = pd.concat([rows, _share_of_units(rule, rows)], ignore_index=True)
    return rows


def _na(rule: Rule, why: str) -> pd.DataFrame:
    row = dict.fromkeys(COLUMNS, np.nan)
    row.update(unit_level=rule.unit, unit="(none)", status="n/a", measure="", detail=why)
    return pd.DataFrame([row])


def _frame(unit: UnitLevel, required, provided, status, measure: str, detail) -> pd.DataFrame:
    required = np.asarray(required, dtype=float)
    provided = np.asarray(provided, dtype=float)
    shortfall = np.where(np.isnan(provided), np.nan, np.maximum(required - provided, 0.0))
    return pd.DataFrame(
        {
            "unit_level": unit.level,
            "unit": unit.names,
            "status": status,
            "required": required,
            "provided": provided,
            "shortfall": shortfall,
            "measure": measure,
            "detail": detail,
        }
    )


def _status(ok: np.ndarray, maybe: np.ndarray) -> np.ndarray:
    """'pass' where ``ok``, else 'unknown' where a missing value could make it pass."""
    return np.where(ok, "pass", np.where(maybe, "unknown", "fail"))


def _per_unit(facts: Facts, unit: UnitLevel, mask: np.ndarray, weights=None) -> np.ndarray:
    """Sum of ``weights`` (default 1) over the facilities in ``mask``, per unit."""
    codes = facts.fac_unit[unit.level]
    keep = mask & (codes >= 0)
    w = None if weights is None else np.asarray(weights, dtype=float)[keep]
    return np.bincount(codes[keep], weights=w, minlength=unit.n).astype(float)


def _floor_area(rule: Rule, facts: Facts, unit: UnitLevel, table: pd.DataFrame) -> pd.DataFrame:
    m2 = rule.params["m2_per_100_households"]
    hh = table["households"].to_numpy(float)
    required = required_floor_area_m2(hh, m2)
    of_type = np.isin(facts.fac_type, rule.types)
    known = of_type & ~np.isnan(facts.fac_area_m2)
    provided = _per_unit(facts, unit, known, facts.fac_area_m2)
    n_known = _per_unit(facts, unit, known)
    n_unknown = _per_unit(facts, unit, of_type & np.isnan(facts.fac_area_m2))
    ok = provided >= required - _EPS
    detail = [
        f"{h:,.0f} households need {r:,.0f} m² at {m2:g} m² per 100; "
        f"{k:.0f} facilities give {p:,.0f} m²"
        + (f"; {u:.0f} more of unknown floor area" if u else "")
        for h, r, k, p, u in zip(hh, required, n_known, provided, n_unknown, strict=True)
    ]
    return _frame(unit, required, provided, _status(ok, n_unknown > 0), "m²", detail)


def _facility_count(rule: Rule, facts: Facts, unit: UnitLevel, table: pd.DataFrame) -> pd.DataFrame:
    need = rule.params["min_count"]
    min_m2 = rule.params["min_floor_area_m2"]
    of_type = np.isin(facts.fac_type, rule.types)
    area = facts.fac_area_m2
    total = _per_unit(facts, unit, of_type)
    if min_m2:
        meeting = _per_unit(facts, unit, of_type & (area >= min_m2 - _EPS))
        unknown = _per_unit(facts, unit, of_type & np.isnan(area))
        largest = _largest_below(facts, unit, of_type & (area < min_m2 - _EPS))
    else:
        meeting, unknown, largest = total, np.zeros(unit.n), np.full(unit.n, np.nan)
    ok = meeting >= need
    maybe = meeting + unknown >= need
    what = " or ".join(rule.types)
    size = f" of >= {min_m2:g} m²" if min_m2 else ""
    detail = []
    for t, m, u, big in zip(total, meeting, unknown, largest, strict=True):
        text = f"{m:.0f} of {t:.0f} {what}{size} (needs {need})"
        if u:
            text += f"; {u:.0f} of unknown floor area"
        if not np.isnan(big):
            text += f"; largest undersized {big:,.0f} m², {min_m2 - big:,.0f} m² short"
        detail.append(text)
    return _frame(unit, np.full(unit.n, need), meeting, _status(ok, maybe), "facilities", detail)


def _largest_below(facts: Facts, unit: UnitLevel, mask: np.ndarray) -> np.ndarray:
    codes = facts.fac_unit[unit.level]
    keep = mask & (codes >= 0)
    out = np.full(unit.n, -np.inf)
    np.maximum.at(out, codes[keep], facts.fac_area_m2[keep])
    return np.where(np.isfinite(out), out, np.nan)


def _share_of_units(rule: Rule, rows: pd.DataFrame) -> pd.DataFrame:
    """The aggregate row: enough units pass to reach ``share_of_units``."""
    share = rule.params["share_of_units"]
    n = len(rows)
    passing = int((rows["status"] == "pass").sum())
    unknown = int((rows["status"] == "unknown").sum())
    needed = int(np.ceil(share * n - _EPS))
    status = _status(np.array(passing >= needed), np.array(passing + unknown >= needed))
    where = "" if rule.where == "all" else f"{rule.where} "
    plural = PLURAL[rule.unit]
    detail = (
        f"{passing} of {n} {where}{plural} ({passing / n:.0%}) pass; the norm asks "
        f"{share:.0%} ({needed})" + (f"; {unknown} unknown" if unknown else "")
    )
    row = {
        "unit_level": rule.unit,
        "unit": f"(all {where}{plural})",
        "status": str(status),
        "required": float(needed),
        "provided": float(passing),
        "shortfall": float(max(needed - passing, 0)),
        "measure": plural,
        "detail": detail,
    }
    return pd.DataFrame([row])


def _staff(unit: UnitLevel, table: pd.DataFrame, required: np.ndarray, why: list[str]):
    given = table["staff"].to_numpy(float)
    ok = given >= required - _EPS
    status = np.where(np.isnan(given), "unknown", np.where(ok, "pass", "fail"))
    detail = [
        w + ("; staff not given (add a 'staff' column)" if np.isnan(g) else f"; has {g:.0f}")
        for w, g in zip(why, given, strict=True)
    ]
    return _frame(unit, required, given, status, "workers", detail)


def _staff_households(
    rule: Rule, facts: Facts, unit: UnitLevel, table: pd.DataFrame
) -> pd.DataFrame:
    p = rule.params
    hh = table["households"].to_numpy(float)
    required = required_staff_households(
        hh, p["base_staff"], p["base_households"], p["households_per_extra"]
    )
    why = [
        f"{h:,.0f} households need {p['base_staff']:g} + {r - p['base_staff']:.0f} workers"
        for h, r in zip(hh, required, strict=True)
    ]
    return _staff(unit, table, required, why)


def _staff_residents(
    rule: Rule, facts: Facts, unit: UnitLevel, table: pd.DataFrame
) -> pd.DataFrame:
    per = rule.params["per_10000"]
    pop = table["population"].to_numpy(float)
    required = required_staff_residents(pop, per)
    why = [
        f"{q:,.0f} residents need {r:.0f} workers ({per:g} per 10,000)"
        for q, r in zip(pop, required, strict=True)
    ]
    return _staff(unit, table, required, why)


def _unit_size(rule: Rule, facts: Facts, unit: UnitLevel, table: pd.DataFrame) -> pd.DataFrame:
    lo = rule.params["min_households"] or 0.0
    hi = rule.params["max_households"] or np.inf
    hh = table["households"].to_numpy(float)
    too_big = hh > hi + _EPS
    # below the minimum: required = the minimum; above the maximum: required = the maximum
    # and the shortfall is the excess (households to move to another community)
    required = np.where(too_big, hi, lo)
    status = np.where((hh >= lo - _EPS) & ~too_big, "pass", "fail")
    frame = _frame(unit, required, hh, status, "households", "")
    frame["shortfall"] = np.where(too_big, hh - hi, np.maximum(lo - hh, 0.0))
    frame["detail"] = [
        f"{h:,.0f} households; the norm is {lo:,.0f}-{hi:,.0f}"
        + (f" ({h - hi:,.0f} too many)" if big else f" ({lo - h:,.0f} too few)" if h < lo else "")
        for h, big in zip(hh, too_big, strict=True)
    ]
    return frame


KINDS: dict[str, Callable[[Rule, Facts, UnitLevel, pd.DataFrame], pd.DataFrame]] = {
    "floor_area": _floor_area,
    "facility_count": _facility_count,
    "staff_households": _staff_households,
    "staff_residents": _staff_residents,
    "unit_size": _unit_size,
}
