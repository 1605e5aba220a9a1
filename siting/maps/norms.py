"""The norm audit in words, in English or Chinese: what the map's compliance popups and the
report's compliance section say about each rule, unit and life circle.

Numbers come from an :class:`siting.Audit` (its ``compliance``, ``life_circle`` and
``by_unit`` tables); this module only turns them into text with :mod:`.text`. A plan from
an audit (:class:`siting.compliance.AuditPlan`) is shown as its audit after the plan, each
figure that changed written ``before → after``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ParameterError
from . import text as tx

#: a unit row's result as one mark (the words are ``check.<status>``)
MARKS = {"pass": "✓", "fail": "✗", "unknown": "?", "n/a": "–", "no target": "·"}
#: the order results are listed in (failing first)
STATUS_ORDER = ("fail", "unknown", "pass", "no target", "n/a")
#: unit levels, smallest first
UNIT_LEVELS = ("community", "subdistrict", "district")
#: requirement labels of the life-circle table for a whole basket and for every level
COMPLETE, COMPLETE_ALL, ALL_LEVELS = "(complete basket)", "(complete life circle)", "(all levels)"


@dataclass(frozen=True)
class Shown:
    """An audit as shown: the audit (after a plan, when there is one) and, for a plan,
    the audit before it and the new stations."""

    audit: Any  # siting.Audit
    before: Any = None  # siting.Audit before the plan, or None
    new_sites: Any = None  # GeoDataFrame of the plan's new stations, or None
    plan: Any = None  # the siting.compliance.AuditPlan, or None

    @classmethod
    def of(cls, audit: Any) -> Shown:
        """An :class:`~siting.Audit` or an :class:`~siting.compliance.AuditPlan`."""
        if hasattr(audit, "after") and hasattr(audit, "before"):
            return cls(audit.after, audit.before, audit.new_sites, audit)
        if not hasattr(audit, "compliance") or not hasattr(audit, "preset"):
            msg = (
                f"audit=: expected a siting.Audit (st.audit(...)) or the plan from one "
                f"(audit.plan(...)), not {type(audit).__name__}."
            )
            raise ParameterError(msg)
        return cls(audit)

    @property
    def preset(self):
        """The norms audited."""
        return self.audit.preset

    @property
    def plan_summary(self) -> dict[str, Any]:
        """The plan's :meth:`~siting.compliance.AuditPlan.summary` ({} without a plan)."""
        return self.plan.summary() if self.plan is not None else {}


# ---------------------------------------------------------------------- names
def type_name(key: str, t: tx.Texts, types: Mapping[str, Any]) -> str:
    """A facility type (or ``"a|b"`` alternatives) in the page's language."""
    names = []
    for part in str(key).split("|"):
        ft = types.get(part)
        name = getattr(ft, t.lang, "") if ft is not None else ""
        names.append(name or part)
    return " / ".join(names)


def level_name(level: Any, t: tx.Texts) -> str:
    """A life-circle level (``5-minute life circle`` / ``5分钟生活圈``)."""
    if t.lang == "zh" and level.minutes is not None:
        return t("level.minutes", minutes=tx.minutes(level.minutes))
    return str(level.label or level.name)


def level_short(level: Any, t: tx.Texts) -> str:
    """A life-circle level in a word or two (``5 min`` / ``5分钟``), for chart labels."""
    if level.minutes is None:
        return str(level.label or level.name)
    return t("level.short", minutes=tx.minutes(level.minutes))


def level_names(preset: Any, t: tx.Texts) -> dict[str, str]:
    """Level name -> its words, plus the complete life circle (every level)."""
    out = {lv.name: level_name(lv, t) for lv in preset.levels}
    out[ALL_LEVELS] = t["audit.complete_all"]
    return out


def requirement_name(requirement: str, t: tx.Texts, types: Mapping[str, Any]) -> str:
    """A basket requirement, the whole basket or the complete life circle."""
    if requirement == COMPLETE:
        return t["audit.complete"]
    if requirement == COMPLETE_ALL:
        return t["audit.complete_all"]
    return type_name(requirement, t, types)


def rule_name(rule: Any, t: tx.Texts, types: Mapping[str, Any]) -> str:
    """A rule in a few words (``Floor area: community service station``)."""
    names = type_name("|".join(rule.types), t, types) if rule.types else ""
    if rule.kind == "floor_area":
        return t("rule.floor_area", types=names)
    if rule.kind == "facility_count":
        size = rule.params.get("min_floor_area_m2")
        text = names + (t("rule.size", m2=f"{size:,.0f}") if size else "")
        share = rule.params.get("share_of_units", 1.0)
        return text + (t("rule.share_of_units", share=f"{share:.0%}") if share < 1 else "")
    if rule.kind in ("staff_households", "staff_residents"):
        return t["rule.staff"]
    where = rule.where if rule.where in ("urban", "rural") else ""
    return t["rule.unit_size"] + (t[f"rule.{where}"] if where else "")


def rule_names(preset: Any, t: tx.Texts) -> dict[str, str]:
    """Rule id (and life-circle level name) -> its words."""
    types = preset.known_types
    out = {r.id: rule_name(r, t, types) for r in preset.rules}
    out.update({lv.name: level_name(lv, t) for lv in preset.levels})
    return out


def unit_level_name(level: str, t: tx.Texts, *, plural: bool = False) -> str:
    """``community`` / ``Communities`` / ``社区``; ``total``: all residents."""
    if level == "total":
        return t["audit.all_residents"]
    key = f"unitlevel.{level}" + ("s" if plural else "")
    return t[key] if key in tx.STRINGS else str(level)


def check(status: str, t: tx.Texts) -> str:
    """A result in words with its mark (``✗ fail`` / ``✗ 未达标``)."""
    key = f"check.{status}"
    word = t[key] if key in tx.STRINGS else str(status)
    return f"{MARKS.get(status, '')} {word}".strip()


# ---------------------------------------------------------------------- numbers
def _number(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:,.0f}" if abs(x - round(x)) < 1e-9 or abs(x) >= 100 else f"{x:,.1f}"


#: measures of the compliance table -> their singular (for one of them)
_SINGULAR = {
    "m²": "m2",
    "workers": "worker",
    "facilities": "facility",
    "households": "household",
    "communities": "community",
    "sub-districts": "sub-district",
    "districts": "district",
}


def amount(x: float, measure: str, t: tx.Texts) -> str:
    """A required, provided or missing amount with its unit (``900 m²``, ``1 facility``,
    ``45.0%``)."""
    if measure == "share of persons":
        return tx.share(x)
    if measure not in _SINGULAR:
        return _number(x)
    one = measure != "m²" and x == 1
    key = "measure." + (_SINGULAR[measure] if one or measure == "m²" else measure)
    return t(key, n=_number(x))


def rule_value(row: Mapping[str, Any], t: tx.Texts) -> str:
    """One compliance row as text: ``✗ 660 of 900 m², 240 m² short``."""
    status, measure = str(row["status"]), str(row["measure"])
    required, provided, short = (float(row[k]) for k in ("required", "provided", "shortfall"))
    mark = MARKS.get(status, "")
    if status == "n/a":
        return check(status, t)
    if measure == "share of persons":
        if math.isnan(required):
            return f"{mark} {tx.share(provided)}"
        return f"{mark} " + t("value.share", share=tx.share(provided), target=tx.share(required))
    if math.isnan(provided):
        return f"{mark} " + t("value.not_given", required=amount(required, measure, t))
    if measure == "households":
        text = amount(provided, measure, t)
        return f"{mark} " + (t("value.range", value=text, short=_number(short)) if short else text)
    text = t(
        "value.of", provided=amount(provided, measure, t), required=amount(required, measure, t)
    )
    if short > 0:
        text = t("value.short", value=text, short=amount(short, measure, t))
    if status == "unknown":
        text = t("value.unknown", value=text)
    return f"{mark} {text}"


def per_unit_rows(compliance: pd.DataFrame) -> pd.DataFrame:
    """The compliance rows of single units (no ``(all …)`` aggregates, no ``n/a``)."""
    unit = compliance["unit"].astype(str)
    return compliance[~unit.str.startswith("(") & (compliance["status"] != "n/a")]


# ---------------------------------------------------------------------- unit cards
def _status_line(statuses: list[str], t: tx.Texts) -> tuple[str, int]:
    """``2 of 7 rules failed`` and the unit's class (see :func:`compliance_class`)."""
    judged = [s for s in statuses if s in ("pass", "fail", "unknown")]
    failed, unknown, total = judged.count("fail"), judged.count("unknown"), len(judged)
    if total == 0:
        return t["compliance.none"], compliance_class("", 0)
    if failed:
        line = f"{MARKS['fail']} " + t("audit.status_fail", n=failed, total=total)
        return line, compliance_class("fail", failed)
    if unknown:
        line = f"{MARKS['unknown']} " + t("audit.status_unknown", n=unknown, total=total)
        return line, compliance_class("unknown", 0)
    return f"{MARKS['pass']} " + t("audit.status_pass", total=total), compliance_class("pass", 0)


def compliance_class(status: str, failed: int) -> int:
    """Index into the compliance layer's colours: pass, unknown, 1 / 2 / 3+ rules failed,
    no rule applies."""
    if status == "pass":
        return 0
    if status == "unknown":
        return 1
    if status == "fail":
        return 1 + min(max(failed, 1), 3)
    return 5


def _changed(before: str, after: str) -> str:
    return after if before == after else f"{before} → {after}"


@dataclass(frozen=True)
class UnitCard:
    """One unit's popup: title, ``[label, value]`` rows, tooltip and colour class."""

    unit: str
    title: str
    rows: list[list[str]]
    tip: str
    cls: int


_RECORD = ["unit", "rule", "status", "required", "provided", "shortfall", "measure"]


def _unit_rows(audit: Any, level: str) -> dict[str, list[dict[str, Any]]]:
    """The per-unit compliance rows of ``level`` as records, by unit (in table order)."""
    if audit is None:
        return {}
    rows = per_unit_rows(audit.compliance)
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows.loc[rows["unit_level"] == level, _RECORD].to_dict("records"):
        out.setdefault(r["unit"], []).append(r)
    return out


def _rule_lines(
    mine: list[dict[str, Any]],
    old: list[dict[str, Any]] | None,
    names: Mapping[str, str],
    t: tx.Texts,
) -> list[list[str]]:
    """One ``[rule, value]`` row per rule of a unit (``before → after`` with a plan)."""
    before = {r["rule"]: r for r in old or []}
    lines = []
    for r in mine:
        if r["status"] == "no target":  # a life circle without a target: its own rows
            continue
        value = rule_value(r, t)
        if r["rule"] in before:
            value = _changed(rule_value(before[r["rule"]], t), value)
        lines.append([names.get(r["rule"], r["rule"]), value])
    return lines


def unit_cards(shown: Shown, level: str, t: tx.Texts) -> list[UnitCard]:
    """Popups of every unit of ``level`` (``community``, ``subdistrict``, ``district``)."""
    a = shown.audit
    names = rule_names(a.preset, t)
    rows = _unit_rows(a, level)
    before = _unit_rows(shown.before, level)
    circles = _life_circle_rows(shown, level, t)
    table = a.inputs.tables[level]
    cards = []
    for unit, info in zip(table.index, table.to_dict("records"), strict=True):
        mine = rows.get(unit, [])
        status, cls = _status_line([r["status"] for r in mine], t)
        old = before.get(unit, []) if shown.before is not None else None
        if old is not None:
            status = _changed(_status_line([r["status"] for r in old], t)[0], status)
        lines = [
            [t["audit.status"], status],
            [t["pop.persons"], tx.persons(info["population"], t)],
            [t["audit.households"], _households(info, t)],
            *_rule_lines(mine, old, names, t),
            *circles.get(unit, []),
        ]
        tip = f"{unit}: {status.split(' → ')[-1]}"
        cards.append(UnitCard(str(unit), str(unit), lines, tip, cls))
    return cards


def _households(info: Mapping[str, Any], t: tx.Texts) -> str:
    n = _number(float(info["households"]))
    source = str(info.get("households_source", ""))
    if source.startswith("population ÷ "):
        return t("audit.households_derived", n=n, size=source.removeprefix("population ÷ "))
    return n


def _life_circle_rows(shown: Shown, level: str, t: tx.Texts) -> dict[str, list[list[str]]]:
    """Per unit: a heading row per life-circle level, then each requirement's share."""
    lc = shown.audit.life_circle
    if lc.empty:
        return {}
    lc = lc[lc["unit_level"] == level]
    # each level's whole basket first (it heads the level's rows), then its requirements
    units = {u: k for k, u in enumerate(dict.fromkeys(lc["unit"]))}
    levels_seen = {lv: k for k, lv in enumerate(dict.fromkeys(lc["level"]))}
    lc = lc.assign(
        _unit=lc["unit"].map(units),
        _level=lc["level"].map(levels_seen),
        _part=lc["requirement"] != COMPLETE,
    ).sort_values(["_unit", "_level", "_part"], kind="stable")
    before: dict[tuple, float] = {}
    if shown.before is not None and not shown.before.life_circle.empty:
        b = shown.before.life_circle
        b = b[b["unit_level"] == level]
        keys = zip(b["unit"], b["level"], b["requirement"], strict=True)
        before = dict(zip(keys, b["share"], strict=True))
    types = shown.preset.known_types
    levels = level_names(shown.preset, t)
    names = {req: requirement_name(req, t, types) for req in lc["requirement"].unique()}
    out: dict[str, list[list[str]]] = {}
    cols = ["unit", "level", "requirement", "share"]
    for unit, level_, req, value in lc[cols].itertuples(index=False, name=None):
        share = tx.share(value)
        if (unit, level_, req) in before:
            share = _changed(tx.share(before[(unit, level_, req)]), share)
        rows = out.setdefault(str(unit), [[t["audit.life_circles"], ""]])
        if level_ == ALL_LEVELS:
            rows.append([t["audit.complete_all"], share])
        elif req == COMPLETE:
            rows.append([f"{levels.get(level_, level_)}: {t['audit.complete']}", share])
        else:
            rows.append([f"  · {names[req]}", share])
    return out


# ---------------------------------------------------------------------- headline
def headline(shown: Shown, t: tx.Texts) -> str:
    """The audit in one line: units failing a rule (before → after with a plan)."""
    name = shown.preset.name
    failing, units = failing_units(shown.audit)
    if shown.before is None:
        return t("legend.audit", preset=name, failed=failing, units=units)
    return t(
        "legend.audit_plan",
        preset=name,
        before=failing_units(shown.before)[0],
        after=failing,
        units=units,
        new=len(shown.new_sites) if shown.new_sites is not None else 0,
    )


def failing_units(audit: Any) -> tuple[int, int]:
    """Units failing at least one rule, and units with a result (every level)."""
    by_unit = audit.by_unit
    if by_unit.empty or "status" not in by_unit:
        return 0, 0
    status = by_unit["status"]
    return int((status == "fail").sum()), int(status.notna().sum())


def status_rank(status: pd.Series) -> np.ndarray:
    """Sort key of results: failing first (:data:`STATUS_ORDER`)."""
    order = {s: i for i, s in enumerate(STATUS_ORDER)}
    return status.map(order).fillna(len(order)).to_numpy(int)
