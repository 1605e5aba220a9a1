"""Every word the maps and the report show, in English and Chinese: one table.

Look a string up with ``texts(lang)["key"]``; templates with ``{name}`` fields are filled
with :meth:`str.format`. A new label is one new row of :data:`STRINGS` (both languages;
a test checks that none is missing). Numbers are formatted by :func:`persons`,
:func:`share`, :func:`metres` and :func:`minutes`, never by hand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..errors import ParameterError

#: languages of every label, legend, popup and report text
LANGS = ("en", "zh")

#: key -> {lang: text}
STRINGS: dict[str, dict[str, str]] = {
    # ---------------------------------------------------------------- map layers
    "layer.demand": {"en": "Residents", "zh": "居民"},
    "layer.districts": {"en": "Districts: share covered", "zh": "街区覆盖率"},
    "layer.area": {"en": "{minutes}-minute walk", "zh": "步行{minutes}分钟范围"},
    "layer.area_m": {"en": "{metres} straight line", "zh": "直线{metres}范围"},
    "layer.circles": {"en": "{metres} circles", "zh": "{metres}圆形范围"},
    "layer.existing": {"en": "Existing facilities", "zh": "现有设施"},
    "layer.new": {"en": "New sites", "zh": "新增选址"},
    # ---------------------------------------------------------------- legend
    "legend.demand": {"en": "Residents (cells)", "zh": "居民（网格）"},
    "legend.sites": {"en": "Sites", "zh": "设施"},
    "legend.districts": {"en": "District share covered", "zh": "街区覆盖率"},
    "legend.areas": {"en": "Service areas", "zh": "服务范围"},
    "legend.no_districts": {
        "en": "No district polygons given: district layer not drawn.",
        "zh": "未提供街区边界：不绘制街区图层。",
    },
    "legend.plan": {
        "en": "{model}: {before} → {after} covered with {new} new sites",
        "zh": "{model}：覆盖率 {before} → {after}，新增 {new} 处",
    },
    "legend.coverage": {
        "en": "{mode}: {share} covered today ({threshold})",
        "zh": "{mode}：现状覆盖率 {share}（{threshold}）",
    },
    "legend.datum": {
        "en": "Overlays shifted to GCJ-02 to match the basemap.",
        "zh": "图层已转换为GCJ-02坐标以匹配底图。",
    },
    # ---------------------------------------------------------------- status
    "status.covered": {"en": "covered today", "zh": "现状已覆盖"},
    "status.new": {"en": "covered by new sites", "zh": "新增覆盖"},
    "status.none": {"en": "not covered", "zh": "未覆盖"},
    "status.existing": {"en": "existing facility", "zh": "现有设施"},
    "status.new_site": {"en": "new site", "zh": "新增选址"},
    # ---------------------------------------------------------------- popups
    "pop.persons": {"en": "Residents", "zh": "居民"},
    "pop.covered": {"en": "Covered before → after", "zh": "覆盖（前 → 后）"},
    "pop.share": {"en": "Share before → after", "zh": "覆盖率（前 → 后）"},
    "pop.new_sites": {"en": "New sites", "zh": "新增选址"},
    "pop.kind": {"en": "Kind", "zh": "类型"},
    "pop.amenity": {"en": "Type", "zh": "设施类型"},
    "pop.gain": {"en": "Residents newly covered", "zh": "新增覆盖居民"},
    "pop.only_here": {"en": "…of whom only this site", "zh": "其中仅由此处覆盖"},
    "pop.served": {"en": "Residents nearest this site", "zh": "最近设施为此处的居民"},
    "pop.mean_walk": {"en": "Their mean walk", "zh": "其平均步行距离"},
    "pop.mean_walk_after": {"en": "Mean walk after", "zh": "规划后平均步行距离"},
    "pop.unnamed": {"en": "(unnamed)", "zh": "（未命名）"},
    # ---------------------------------------------------------------- norm audit
    "layer.compliance": {"en": "{units}: norms met", "zh": "{units}规范达标情况"},
    "layer.facilities": {"en": "Facilities audited", "zh": "参评设施"},
    "layer.new_stations": {"en": "New stations", "zh": "新增服务站"},
    "legend.compliance": {"en": "Norms met", "zh": "规范达标情况"},
    "legend.audit": {
        "en": "{preset}: {failed} of {units} units fail a rule",
        "zh": "{preset}：{units} 个单元中 {failed} 个未达标",
    },
    "legend.audit_plan": {
        "en": "{preset}: units failing a rule {before} → {after} of {units}; new stations: {new}",
        "zh": "{preset}：未达标单元 {before} → {after}（共 {units} 个），新增服务站 {new} 处",
    },
    "compliance.pass": {"en": "every rule met", "zh": "全部达标"},
    "compliance.unknown": {"en": "unknown (a value missing)", "zh": "无法判定（数据缺失）"},
    "compliance.fail1": {"en": "1 rule failed", "zh": "1 项未达标"},
    "compliance.fail2": {"en": "2 rules failed", "zh": "2 项未达标"},
    "compliance.fail3": {"en": "3 or more rules failed", "zh": "3 项及以上未达标"},
    "compliance.none": {"en": "no rule applies", "zh": "无适用规则"},
    "check.pass": {"en": "pass", "zh": "达标"},
    "check.fail": {"en": "fail", "zh": "未达标"},
    "check.unknown": {"en": "unknown", "zh": "无法判定"},
    "check.n/a": {"en": "not applicable", "zh": "不适用"},
    "check.no target": {"en": "no target", "zh": "无目标值"},
    "unitlevel.community": {"en": "Community", "zh": "社区"},
    "unitlevel.subdistrict": {"en": "Sub-district", "zh": "街道"},
    "unitlevel.district": {"en": "District", "zh": "区"},
    "unitlevel.communitys": {"en": "Communities", "zh": "社区"},
    "unitlevel.subdistricts": {"en": "Sub-districts", "zh": "街道"},
    "unitlevel.districts": {"en": "Districts", "zh": "区"},
    "audit.all_residents": {"en": "all residents", "zh": "全部居民"},
    "audit.status": {"en": "Norms", "zh": "达标情况"},
    "audit.status_fail": {"en": "{n} of {total} rules failed", "zh": "{total} 项中 {n} 项未达标"},
    "audit.status_unknown": {
        "en": "{n} of {total} rules unknown",
        "zh": "{total} 项中 {n} 项无法判定",
    },
    "audit.status_pass": {"en": "all {total} rules met", "zh": "{total} 项全部达标"},
    "audit.households": {"en": "Households", "zh": "户数"},
    "audit.households_derived": {"en": "{n} (persons ÷ {size})", "zh": "{n}（人口 ÷ {size}）"},
    "audit.life_circles": {"en": "Life circles: share of residents", "zh": "生活圈：居民比例"},
    "audit.complete": {"en": "complete basket", "zh": "配套齐全"},
    "audit.complete_all": {
        "en": "Complete life circle (every level)",
        "zh": "完整生活圈（全部层级）",
    },
    "audit.floor_area": {"en": "Floor area", "zh": "建筑面积"},
    "audit.unknown": {"en": "unknown", "zh": "未知"},
    "audit.step": {"en": "Added for", "zh": "新增原因"},
    "audit.step.norm": {"en": "a community's deficit", "zh": "补足社区缺口"},
    "audit.step.coverage": {"en": "the coverage target", "zh": "达到覆盖率目标"},
    "status.facility": {"en": "facility audited", "zh": "参评设施"},
    "status.new_station": {"en": "new station", "zh": "新增服务站"},
    "level.short": {"en": "{minutes} min", "zh": "{minutes}分钟"},
    "level.minutes": {"en": "{minutes}-minute life circle", "zh": "{minutes}分钟生活圈"},
    "rule.floor_area": {"en": "Floor area: {types}", "zh": "{types}建筑面积"},
    "rule.size": {"en": " ≥ {m2} m²", "zh": "（≥ {m2} 平方米）"},
    "rule.share_of_units": {"en": " (in {share} of units)", "zh": "（覆盖 {share}）"},
    "rule.staff": {"en": "Staff", "zh": "工作人员"},
    "rule.unit_size": {"en": "Households in the norm's range", "zh": "户数规模"},
    "rule.urban": {"en": " (urban)", "zh": "（城市）"},
    "rule.rural": {"en": " (rural)", "zh": "（农村）"},
    "value.of": {"en": "{provided} ({required} required)", "zh": "{provided}（要求 {required}）"},
    "value.short": {"en": "{value}: {short} short", "zh": "{value}，缺 {short}"},
    "value.not_given": {"en": "{required} required; not given", "zh": "需 {required}；未提供"},
    "value.unknown": {"en": "{value}; a floor area unknown", "zh": "{value}；部分建筑面积未知"},
    "value.range": {"en": "{value}; {short} outside the range", "zh": "{value}；超出范围 {short}"},
    "value.share": {"en": "{share} (target {target})", "zh": "{share}（目标 {target}）"},
    "measure.m2": {"en": "{n} m²", "zh": "{n} 平方米"},
    "measure.workers": {"en": "{n} workers", "zh": "{n} 人"},
    "measure.facilities": {"en": "{n} facilities", "zh": "{n} 处"},
    "measure.households": {"en": "{n} households", "zh": "{n} 户"},
    "measure.facility": {"en": "{n} facility", "zh": "{n} 处"},
    "measure.worker": {"en": "{n} worker", "zh": "{n} 人"},
    "measure.household": {"en": "{n} household", "zh": "{n} 户"},
    "measure.communities": {"en": "{n} communities", "zh": "{n} 个社区"},
    "measure.sub-districts": {"en": "{n} sub-districts", "zh": "{n} 个街道"},
    "measure.districts": {"en": "{n} districts", "zh": "{n} 个区"},
    "measure.community": {"en": "{n} community", "zh": "{n} 个社区"},
    "measure.sub-district": {"en": "{n} sub-district", "zh": "{n} 个街道"},
    "measure.district": {"en": "{n} district", "zh": "{n} 个区"},
    # ---------------------------------------------------------------- units
    "unit.persons": {"en": "{n} persons", "zh": "{n} 人"},
    "unit.metres": {"en": "{n} m", "zh": "{n} 米"},
    "unit.minutes": {"en": "{n} min", "zh": "{n} 分钟"},
    "unit.walk": {"en": "{minutes}-minute walk ({metres})", "zh": "步行{minutes}分钟（{metres}）"},
    "unit.circle": {"en": "{metres} straight line", "zh": "直线{metres}"},
    # ---------------------------------------------------------------- models
    "model.target": {"en": "Fewest sites to a target", "zh": "达标最少选址"},
    "model.mclp": {"en": "Most covered with p sites", "zh": "最大覆盖"},
    "model.lscp": {"en": "Cover every coverable resident", "zh": "全覆盖"},
    "model.pmedian": {"en": "Shortest mean walk", "zh": "最短平均步行"},
    "mode.network": {"en": "Walking network", "zh": "步行路网"},
    "mode.circle": {"en": "Straight-line circle", "zh": "直线圆形"},
    # ---------------------------------------------------------------- report
    "report.title": {"en": "Siting plan", "zh": "设施选址规划"},
    "report.subtitle": {
        "en": "{model}, {threshold}, {n} residents",
        "zh": "{model}，{threshold}，居民 {n}",
    },
    "report.headline": {"en": "Headline numbers", "zh": "核心指标"},
    "report.population": {"en": "Residents", "zh": "居民总数"},
    "report.share": {"en": "Share covered, today → plan", "zh": "覆盖率（现状 → 规划）"},
    "report.persons_covered": {
        "en": "Residents covered, today → plan",
        "zh": "覆盖居民（现状 → 规划）",
    },
    "report.new_sites": {"en": "New sites", "zh": "新增选址"},
    "report.existing_sites": {"en": "Existing facilities", "zh": "现有设施"},
    "report.objective": {"en": "Objective / proven bound", "zh": "目标值 / 已证明界"},
    "report.gap": {"en": "Gap to the bound", "zh": "与界的差距"},
    "report.status": {"en": "Solver status", "zh": "求解状态"},
    "report.binding": {"en": "Binding target", "zh": "约束目标"},
    "report.binding_target": {
        "en": "{target} of residents within {threshold} (reached {reached})",
        "zh": "{threshold}内居民达到{target}（实际{reached}）",
    },
    "report.binding_group": {
        "en": "{target} in every {by}; tightest: {group} ({reached})",
        "zh": "每个{by}均达到{target}；最紧：{group}（{reached}）",
    },
    "report.binding_p": {"en": "{p} new sites", "zh": "新增 {p} 处"},
    "report.binding_budget": {"en": "budget {budget}", "zh": "预算 {budget}"},
    "report.binding_all": {"en": "every coverable resident", "zh": "全部可覆盖居民"},
    "report.bound_note.target": {
        "en": "No plan with fewer than {bound} new sites reaches the target.",
        "zh": "已证明：少于 {bound} 处新增选址无法达到目标。",
    },
    "report.bound_note.mclp": {
        "en": "No plan with these sites covers more than {bound} residents.",
        "zh": "已证明：同样数量的选址最多覆盖 {bound} 名居民。",
    },
    "report.bound_note.other": {
        "en": "Objective {objective}; proven bound {bound}.",
        "zh": "目标值 {objective}；已证明界 {bound}。",
    },
    "report.curve": {"en": "Coverage curve", "zh": "覆盖率曲线"},
    "report.curve_note": {
        "en": "Share covered as new sites are added one at a time (greedy order); "
        "the dashed line is a proven upper bound for each number of new sites.",
        "zh": "逐一增加选址（贪心顺序）时的覆盖率；虚线为每个选址数量下已证明的覆盖率上界。",
    },
    "report.curve_steps": {
        "en": "Bound effort: {steps} subgradient steps per point; every bound shown is "
        "proven, and more steps can only tighten it.",
        "zh": "上界计算：每个点 {steps} 步次梯度迭代；所示上界均已证明，增加迭代只会使其更紧。",
    },
    "report.curve_x": {"en": "new sites", "zh": "新增选址数"},
    "report.curve_y": {"en": "share covered", "zh": "覆盖率"},
    "report.curve_greedy": {"en": "greedy plan", "zh": "贪心方案"},
    "report.curve_bound": {"en": "upper bound", "zh": "上界"},
    "report.curve_plan": {"en": "this plan", "zh": "本方案"},
    "report.walk": {"en": "Walk to the nearest facility", "zh": "到最近设施的步行距离"},
    "report.walk_note": {
        "en": "Residents by walk to the nearest open facility, today and with the plan; "
        "the last bar holds those beyond {limit}.",
        "zh": "按到最近设施步行距离统计的居民（现状与规划）；最后一栏为超过{limit}的居民。",
    },
    "report.walk_x": {"en": "walk to the nearest facility (m)", "zh": "到最近设施的步行距离（米）"},
    "report.walk_y": {"en": "residents", "zh": "居民"},
    "report.beyond": {"en": "beyond", "zh": "超出"},
    "report.today": {"en": "today", "zh": "现状"},
    "report.plan": {"en": "with the plan", "zh": "规划后"},
    "report.districts": {"en": "Districts", "zh": "街区"},
    "report.no_districts": {
        "en": "The demand has no district column: no per-district table.",
        "zh": "需求数据没有街区字段：不生成分街区统计。",
    },
    "report.district": {"en": "District", "zh": "街区"},
    "report.share_before": {"en": "Share today", "zh": "现状覆盖率"},
    "report.share_after": {"en": "Share with plan", "zh": "规划后覆盖率"},
    "report.covered_before": {"en": "Covered today", "zh": "现状覆盖"},
    "report.covered_after": {"en": "Covered with plan", "zh": "规划后覆盖"},
    "report.mean_walk": {"en": "Mean walk (m)", "zh": "平均步行（米）"},
    "report.sites": {"en": "New sites", "zh": "新增选址"},
    "report.site": {"en": "Site", "zh": "选址"},
    "report.sites_note": {
        "en": "Each new site with the residents it brings within reach (newly covered) and "
        "those only it reaches; {shown} of {total} shown.",
        "zh": "每个新增选址新覆盖的居民及仅由其覆盖的居民；显示 {shown} / {total} 处。",
    },
    "report.compare": {
        "en": "Walking network and straight-line circle",
        "zh": "步行路网与直线圆形对比",
    },
    "report.compare_note": {
        "en": "The same residents and facilities, measured by walking on streets and by a "
        "straight line.",
        "zh": "相同的居民和设施，分别按沿街步行距离和直线距离计算。",
    },
    "report.compare_none": {
        "en": "No straight-line coverage given: no comparison.",
        "zh": "未提供直线覆盖：不作对比。",
    },
    "report.measure": {"en": "Measure", "zh": "度量"},
    "report.both": {"en": "Within both", "zh": "两者均覆盖"},
    "report.circle_only": {
        "en": "Within the circle but not the walk",
        "zh": "在圆内但步行不可达",
    },
    "report.walk_only": {"en": "Within the walk but not the circle", "zh": "步行可达但不在圆内"},
    "report.inputs": {"en": "Inputs, parameters and versions", "zh": "输入、参数与版本"},
    "report.file": {"en": "File", "zh": "文件"},
    "report.role": {"en": "Input", "zh": "输入"},
    "report.size": {"en": "Bytes", "zh": "字节"},
    "report.missing": {"en": "(not found)", "zh": "（未找到）"},
    "report.no_inputs": {"en": "No input files given.", "zh": "未提供输入文件。"},
    "report.parameter": {"en": "Parameter", "zh": "参数"},
    "report.value": {"en": "Value", "zh": "值"},
    "report.package": {"en": "Package", "zh": "软件包"},
    "report.version": {"en": "Version", "zh": "版本"},
    "report.map": {"en": "Map", "zh": "地图"},
    "report.map_link": {"en": "Open the map", "zh": "打开地图"},
    "report.audit_title": {"en": "Norm audit", "zh": "规范达标评估"},
    "report.audit": {"en": "Norms: pass rate per rule", "zh": "规范达标率（按规则）"},
    "report.audit_note": {
        "en": "Each rule of the norms {preset}: the units it judges, how many pass, fail or "
        "cannot be judged (a value missing), and the rule's overall result.",
        "zh": "{preset} 的每条规则：评估单元数，达标、未达标与无法判定（数据缺失）的"
        "单元数，以及总体结果。",
    },
    "report.audit_note_plan": {
        "en": "Figures that the plan changes read before → after.",
        "zh": "方案改变的数值以“规划前 → 规划后”表示。",
    },
    "report.rule": {"en": "Rule", "zh": "规则"},
    "report.norm": {"en": "Norm", "zh": "规范要求"},
    "report.unit_level": {"en": "Level", "zh": "层级"},
    "report.units": {"en": "Units", "zh": "单元数"},
    "report.pass": {"en": "Pass", "zh": "达标"},
    "report.fail": {"en": "Fail", "zh": "未达标"},
    "report.unknown": {"en": "Unknown", "zh": "无法判定"},
    "report.pass_rate": {"en": "Pass rate", "zh": "达标率"},
    "report.overall": {"en": "Overall", "zh": "总体"},
    "report.source": {"en": "Source", "zh": "依据"},
    "report.life_circles": {"en": "Life circles", "zh": "生活圈"},
    "report.life_note": {
        "en": "Share of all residents reaching each required facility type within its "
        "level's walk, the level's whole basket and every level's basket.",
        "zh": "全部居民中，在各层级步行距离内可达各类必配设施、该层级全部设施及全部层级"
        "设施的比例。",
    },
    "report.life_level": {"en": "Life circle", "zh": "生活圈"},
    "report.requirement": {"en": "Facility type", "zh": "设施类型"},
    "report.walk_limit": {"en": "Within", "zh": "距离"},
    "report.reached": {"en": "Residents reached", "zh": "可达居民"},
    "report.share_reached": {"en": "Share", "zh": "比例"},
    "report.compliance": {"en": "Compliance table", "zh": "达标明细"},
    "report.compliance_note": {
        "en": "{shown} of {total} rows, failing first; every row is in compliance.csv.",
        "zh": "共 {total} 行，显示 {shown} 行（未达标在前）；全部数据见 compliance.csv。",
    },
    "report.unit": {"en": "Unit", "zh": "单元"},
    "report.required": {"en": "Required", "zh": "要求"},
    "report.provided": {"en": "Provided", "zh": "现状"},
    "report.deficit": {"en": "Deficit", "zh": "缺口"},
    "report.result": {"en": "Result", "zh": "结果"},
    "report.of": {"en": "{n} of {total}", "zh": "{n} / {total}"},
    "report.preset": {"en": "Norms", "zh": "规范"},
    "report.units_assessed": {"en": "Units assessed", "zh": "评估单元"},
    "report.household_size": {"en": "Persons per household", "zh": "户均人口"},
    "report.facilities_audited": {"en": "Facilities audited", "zh": "参评设施"},
    "report.missing_floor_area": {
        "en": "Facilities without floor area",
        "zh": "缺少建筑面积的设施",
    },
    "report.units_failing": {"en": "Units failing a rule", "zh": "未达标单元"},
    "report.rules_failing": {"en": "Rules failing somewhere", "zh": "存在未达标的规则"},
    "report.new_stations": {"en": "New stations", "zh": "新增服务站"},
    "report.unverified": {
        "en": "{n} of the {total} norms are not yet checked against their primary text "
        "(verified: false in the preset).",
        "zh": "{total} 条规范中有 {n} 条尚未与原文核对（预设中 verified: false）。",
    },
    "report.audit_footer": {
        "en": "Made with siting {version}. Every rule with its source; unknown values are "
        "reported as unknown, never as zero.",
        "zh": "由 siting {version} 生成。每条规则均注明依据；缺失数据记为无法判定，从不按零计。",
    },
    "report.footer": {
        "en": "Made with siting {version}. Residents and distances as computed; "
        "the bound proves how far any other plan could improve on this one.",
        "zh": "由 siting {version} 生成。已证明的界说明任何其他方案最多能改进多少。",
    },
}


class Texts(Mapping[str, str]):
    """The strings of one language (a read-only mapping: ``texts("zh")["layer.new"]``)."""

    def __init__(self, lang: str) -> None:
        self.lang = check_lang(lang)

    def __getitem__(self, key: str) -> str:
        return STRINGS[key][self.lang]

    def __iter__(self):
        return iter(STRINGS)

    def __len__(self) -> int:
        return len(STRINGS)

    def __call__(self, key: str, **fields: object) -> str:
        """The string ``key`` with its ``{fields}`` filled in."""
        return self[key].format(**fields)


def check_lang(lang: str) -> str:
    """``lang`` if it is one of :data:`LANGS`, else a :class:`ParameterError`."""
    if lang not in LANGS:
        msg = f"lang={lang!r}: choose one of {', '.join(map(repr, LANGS))}."
        raise ParameterError(msg)
    return lang


def texts(lang: str) -> Texts:
    """The strings of ``lang`` (``"en"`` or ``"zh"``).

    Parameters
    ----------
    lang : str
        ``"en"`` or ``"zh"``.

    Returns
    -------
    Texts
        A read-only mapping of message keys to text, also callable to fill in
        placeholders (``t("legend.coverage", share=...)``).
    """
    return Texts(lang)


def _number(x: float, decimals: int = 0) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:,.{decimals}f}"


def persons(x: float, t: Texts) -> str:
    """``12,345 persons`` / ``12,345 人``."""
    return t("unit.persons", n=_number(x))


def share(x: float) -> str:
    """A share 0–1 as a percentage with one decimal (``90.0%``)."""
    return "–" if x is None or not math.isfinite(x) else f"{x:.1%}"


def metres(x: float, t: Texts) -> str:
    """``1,125 m`` / ``1,125 米``."""
    return t("unit.metres", n=_number(x))


def minutes(x: float) -> str:
    """Minutes without a needless decimal (``15``, ``7.5``)."""
    return f"{x:g}"
