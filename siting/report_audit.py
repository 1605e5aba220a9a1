"""The report's compliance sections: a norm audit (:func:`siting.audit`) in the report.

Three sections, each a dict for the report template (as in :mod:`siting.report`):

* ``audit``: pass rates per rule and unit level (before → after for a plan from the
  audit), the rule's overall result and its source;
* ``life-circles``: the share of all residents reaching each required facility type of
  every life-circle level, and the whole basket (a chart and a table);
* ``compliance``: the compliance table (rule, unit, required, provided, deficit,
  result, source), failing rows first, at most :data:`MAX_COMPLIANCE_ROWS` rows.

A report of an audit alone (``st.report(audit)``) also takes its headline
(:func:`audit_head`) and parameters (:func:`audit_parameters`) from here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from . import charts
from .maps import norms
from .maps import text as tx

#: most rows of the compliance table in the report (every row is in compliance.csv)
MAX_COMPLIANCE_ROWS = 400
_KEY = ["rule", "unit_level", "unit"]


def _changed(before: Any, after: Any) -> str:
    return str(after) if before is None or str(before) == str(after) else f"{before} → {after}"


def _order(preset: Any) -> dict[str, int]:
    """Rule ids and level names in the preset's order."""
    ids = [r.id for r in preset.rules] + [lv.name for lv in preset.levels]
    return {rid: k for k, rid in enumerate(ids)}


def unit_label(unit: str, t: tx.Texts) -> str:
    """A unit's name, or an aggregate (``(all urban communities)``) in words."""
    text = str(unit)
    if text == "(all residents)":
        return t["audit.all_residents"]
    if text == "(none)":
        return "–"
    if not text.startswith("(all ") or t.lang == "en":
        return text
    words = text.strip("()").split()[1:]
    where = {"urban": "城市", "rural": "农村"}.get(words[0], "") if len(words) > 1 else ""
    level = {"communities": "社区", "sub-districts": "街道", "districts": "区"}.get(words[-1], "")
    return f"全部{where}{level or words[-1]}"


def _table(
    key: str, title: str, note: str, header: list[str], rows: list, text: list, wrap: list
) -> dict[str, Any]:
    """A section with a table: ``text`` columns are left-aligned, only ``wrap`` columns
    may wrap."""
    return {
        "id": key,
        "title": title,
        "note": note,
        "header": header,
        "rows": rows,
        "text_cols": text,
        "wrap_cols": wrap,
    }


# ---------------------------------------------------------------------- pass rates
def _counts(compliance: pd.DataFrame) -> pd.DataFrame:
    """Per rule and unit level: units judged, pass / fail / unknown and the overall
    result (the aggregate row's, else derived from the units)."""
    rows = norms.per_unit_rows(compliance)
    counts = rows.pivot_table(
        index=["rule", "unit_level"], columns="status", values="unit", aggfunc="count", fill_value=0
    ).reindex(columns=["pass", "fail", "unknown", "no target"], fill_value=0)
    counts["units"] = counts.sum(axis=1)
    unit = compliance["unit"].astype(str)
    aggregate = compliance[unit.str.startswith("(all")].drop_duplicates(["rule", "unit_level"])
    overall = aggregate.set_index(["rule", "unit_level"])["status"]
    derived = np.where(
        counts["fail"] > 0, "fail", np.where(counts["unknown"] > 0, "unknown", "pass")
    )
    derived = np.where(counts["no target"] == counts["units"], "no target", derived)
    counts["overall"] = pd.Series(derived, index=counts.index)
    hit = counts.index.intersection(overall.index)
    counts.loc[hit, "overall"] = overall.loc[hit]
    judged = counts[["pass", "fail", "unknown"]].sum(axis=1)
    counts["rate"] = np.where(judged > 0, counts["pass"] / judged.clip(lower=1), np.nan)
    return counts


def _not_applicable(compliance: pd.DataFrame) -> pd.DataFrame:
    return compliance[compliance["status"] == "n/a"].drop_duplicates("rule")


def rules_section(shown: norms.Shown, t: tx.Texts) -> dict[str, Any]:
    """Pass rates per rule and unit level (``before → after`` with a plan)."""
    a = shown.audit
    after = _counts(a.compliance)
    before = _counts(shown.before.compliance) if shown.before is not None else None
    names = norms.rule_names(a.preset, t)
    source = a.compliance.drop_duplicates("rule").set_index("rule")["source"]
    order = _order(a.preset)
    keys = sorted(after.index, key=lambda k: (order.get(k[0], 1e9), _level_rank(k[1])))
    rows = []
    for rule, level in keys:
        r = after.loc[(rule, level)]
        b = (
            before.loc[(rule, level)]
            if before is not None and (rule, level) in before.index
            else None
        )

        def pick(col: str, fmt, r=r, b=b) -> str:
            return _changed(None if b is None else fmt(b[col]), fmt(r[col]))

        rows.append(
            [
                str(rule),
                names.get(rule, str(rule)),
                norms.unit_level_name(level, t),
                f"{int(r['units']):,}",
                pick("pass", lambda v: f"{int(v):,}"),
                pick("fail", lambda v: f"{int(v):,}"),
                pick("unknown", lambda v: f"{int(v):,}"),
                pick("rate", tx.share),
                pick("overall", lambda v: norms.check(str(v), t)),
                str(source.get(rule, "")),
            ]
        )
    for r in _not_applicable(a.compliance).itertuples(index=False):
        level = norms.unit_level_name(str(r.unit_level), t)
        na = norms.check("n/a", t)
        rows.append([r.rule, names.get(r.rule, r.rule), level, "0", "", "", "", "–", na, r.source])
    header = [
        t["report.rule"],
        t["report.norm"],
        t["report.unit_level"],
        t["report.units"],
        t["report.pass"],
        t["report.fail"],
        t["report.unknown"],
        t["report.pass_rate"],
        t["report.overall"],
        t["report.source"],
    ]
    note = t("report.audit_note", preset=a.preset.name)
    if shown.before is not None:
        note += " " + t["report.audit_note_plan"]
    return _table("audit", t["report.audit"], note, header, rows, [0, 1, 2, 9], [0, 1, 9])


def _level_rank(level: str) -> int:
    levels = ("total", *norms.UNIT_LEVELS)
    return levels.index(level) if level in levels else len(levels)


# ---------------------------------------------------------------------- life circles
def _totals(audit: Any) -> pd.DataFrame:
    lc = audit.life_circle
    return lc[lc["unit_level"] == "total"].set_index(["level", "requirement"])


def life_circle_section(shown: norms.Shown, t: tx.Texts) -> dict[str, Any] | None:
    """Shares of all residents per level and requirement (chart and table); None when
    the preset has no life-circle levels."""
    a = shown.audit
    if not a.preset.levels or a.life_circle.empty:
        return None
    after = _totals(a)
    before = _totals(shown.before)["share"] if shown.before is not None else None
    types = a.preset.known_types
    levels = norms.level_names(a.preset, t)
    short = {lv.name: norms.level_short(lv, t) for lv in a.preset.levels}
    labels, rows = [], []
    for (level, requirement), r in after.iterrows():
        name = norms.requirement_name(str(requirement), t, types)
        labels.append(name if level == norms.ALL_LEVELS else f"{short.get(level, level)} · {name}")
        old = None if before is None else tx.share(before.loc[(level, requirement)])
        threshold = "" if math.isnan(r["threshold_m"]) else tx.metres(r["threshold_m"], t)
        rows.append(
            [
                levels.get(level, str(level)),
                name,
                threshold,
                tx.persons(r["population_reached"], t),
                _changed(old, tx.share(r["share"])),
            ]
        )
    series = [
        (after["share"].to_numpy(float), t["report.plan" if before is not None else "report.share"])
    ]
    if before is not None:
        series.insert(0, (before.loc[after.index].to_numpy(float), t["report.today"]))
    svg = charts.share_bars("lifecircles", labels, series, None)
    header = [
        t["report.life_level"],
        t["report.requirement"],
        t["report.walk_limit"],
        t["report.reached"],
        t["report.share_reached"],
    ]
    title, note = t["report.life_circles"], t["report.life_note"]
    return {**_table("life-circles", title, note, header, rows, [0, 1], [1]), "svg": svg}


# ---------------------------------------------------------------------- the table
def _rows_failing_first(shown: norms.Shown) -> pd.DataFrame:
    """Compliance rows (with ``*_before`` columns for a plan), failing first."""
    a = shown.audit
    table = a.compliance.copy()
    if shown.before is not None:
        cols = [*_KEY, "status", "provided", "shortfall"]
        old = shown.before.compliance[cols].rename(
            columns=lambda c: c if c in _KEY else f"{c}_before"
        )
        table = table.merge(old, on=_KEY, how="left")
    order = _order(a.preset)
    table["_rank"] = norms.status_rank(table["status"])
    table["_rule"] = table["rule"].map(order).fillna(len(order))
    table["_level"] = table["unit_level"].map(_level_rank)
    table = table.sort_values(["_rank", "_rule", "_level", "unit"], kind="stable")
    return table.drop(columns=["_rank", "_rule", "_level"])


def compliance_section(
    shown: norms.Shown, t: tx.Texts, max_rows: int = MAX_COMPLIANCE_ROWS
) -> dict[str, Any]:
    """The compliance table: one row per rule and unit, failing first."""
    table = _rows_failing_first(shown)
    shown_rows = table.head(max_rows)
    names = norms.rule_names(shown.preset, t)
    plan = shown.before is not None
    rows = []
    for r in shown_rows.to_dict("records"):
        measure = str(r["measure"])

        def value(col: str, r=r, measure=measure) -> str:
            now = norms.amount(r[col], measure, t)
            old = norms.amount(r[f"{col}_before"], measure, t) if plan else None
            return _changed(old, now)

        result = norms.check(str(r["status"]), t)
        if plan and isinstance(r.get("status_before"), str):
            result = _changed(norms.check(r["status_before"], t), result)
        rows.append(
            [
                names.get(r["rule"], str(r["rule"])),
                norms.unit_level_name(str(r["unit_level"]), t),
                unit_label(r["unit"], t),
                norms.amount(r["required"], measure, t),
                value("provided"),
                value("shortfall"),
                result,
                str(r["source"]),
            ]
        )
    header = [
        t["report.norm"],
        t["report.unit_level"],
        t["report.unit"],
        t["report.required"],
        t["report.provided"],
        t["report.deficit"],
        t["report.result"],
        t["report.source"],
    ]
    note = t("report.compliance_note", shown=len(shown_rows), total=len(table))
    title = t["report.compliance"]
    return _table("compliance", title, note, header, rows, [0, 1, 2, 7], [0, 2, 7])


def audit_sections(shown: norms.Shown, t: tx.Texts) -> list[dict[str, Any]]:
    """The compliance sections, in the report's order."""
    life = life_circle_section(shown, t)
    return [rules_section(shown, t), *([life] if life else []), compliance_section(shown, t)]


# ---------------------------------------------------------------------- an audit alone
def audit_head(shown: norms.Shown, t: tx.Texts) -> dict[str, Any]:
    """The headline of a report of an audit alone (cards, rows, the norms' status)."""
    a = shown.audit
    s = a.summary()
    failing, judged = norms.failing_units(a)
    units = ", ".join(f"{norms.unit_level_name(k, t)} {v:,}" for k, v in s["units"].items())
    failing_text = t("report.of", n=failing, total=judged)
    if shown.before is not None:
        failing_text = _changed(norms.failing_units(shown.before)[0], failing) + " / " + f"{judged}"
    rows = [
        (t["report.preset"], f"{a.preset.name}: {_title(a.preset, t)}"),
        (t["report.population"], tx.persons(s["population"], t)),
        (t["report.units_assessed"], units or "–"),
        (t["report.household_size"], f"{s['persons_per_household']:g}"),
        (t["report.facilities_audited"], f"{s['facilities']:,}"),
        (t["report.missing_floor_area"], f"{s['facilities_missing_floor_area']:,}"),
        (t["report.units_failing"], failing_text),
        (t["report.rules_failing"], ", ".join(s["rules_failed"]) or "–"),
    ]
    levels = norms.level_names(a.preset, t)
    for level, share in s["complete_share"].items():
        label = levels[level] if level == norms.ALL_LEVELS else f"{levels.get(level, level)}: "
        label += "" if level == norms.ALL_LEVELS else t["audit.complete"]
        rows.append((label, tx.share(share)))
    cards = [
        (t["report.units_failing"], failing_text),
        (t["report.rules_failing"], f"{len(s['rules_failed'])}"),
    ]
    if norms.ALL_LEVELS in s["complete_share"]:
        cards.append((t["audit.complete_all"], tx.share(s["complete_share"][norms.ALL_LEVELS])))
    if shown.before is not None:
        p = shown.plan_summary
        rows += [
            (t["report.new_stations"], f"{p['new_stations']:,}"),
            (t["report.share"], f"{tx.share(p['share_before'])} → {tx.share(p['share_after'])}"),
        ]
        cards.append((t["report.new_stations"], f"{p['new_stations']:,}"))
    cards.append((t["report.population"], f"{s['population']:,.0f}"))
    unverified = sum(not r.cite.verified for r in a.preset.rules) + sum(
        not lv.cite.verified for lv in a.preset.levels
    )
    total = len(a.preset.rules) + len(a.preset.levels)
    return {
        "id": "headline",
        "title": t["report.headline"],
        "rows": rows,
        "cards": cards,
        "note": t("report.unverified", n=unverified, total=total) if unverified else "",
        "subtitle": _title(a.preset, t),
        "summary": norms.headline(shown, t),
    }


def _title(preset: Any, t: tx.Texts) -> str:
    return preset.title_zh if t.lang == "zh" and preset.title_zh else preset.title


def audit_parameters(shown: norms.Shown) -> list[list[str]]:
    """The audit's settings (and the plan's, for a plan from the audit)."""
    a = shown.audit
    s = a.summary()
    values: dict[str, Any] = {
        "preset": a.preset.name,
        "persons_per_household": s["persons_per_household"],
        "level_distance": s["level_distance"],
        **{f"distance_m {k}": v for k, v in s["level_distance_m"].items()},
        **{f"attribution {k}": v for k, v in s["attribution"].items()},
        "speed_kmh": a.inputs.options["speed_kmh"],
        "missing_floor_area": a.inputs.options["missing_floor_area"],
    }
    if shown.before is not None:
        keep = ("station_type", "floor_area_m2", "coverage_target", "threshold_m")
        values.update({f"plan {k}": v for k, v in shown.plan_summary.items() if k in keep})
    return [[k, f"{v:g}" if isinstance(v, float) else str(v)] for k, v in values.items()]
