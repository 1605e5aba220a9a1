"""A self-contained HTML report of a plan, in English or Chinese.

:func:`report` gathers the plan's numbers into sections (each a small function returning
a dict for the template ``siting/assets/report.html``) and renders them with Jinja2,
autoescaping every string; the charts are inline SVG (:mod:`siting.charts`) and the map
is embedded (``iframe srcdoc``) or linked. The same plan and inputs give the same bytes:
no timestamps, no timings, fixed chart ids.

A new section is one more function that returns ``{"id", "title", ...}`` and one block
in the template.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import math
import os
import platform
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import jinja2
import numpy as np
import pandas as pd

from . import charts, maps
from . import report_audit as ra
from .errors import ParameterError
from .maps import norms
from .maps import text as tx
from .maps.tables import district_table, site_table, with_districts
from .maps.text import DEFAULT_CIRCLE_M, model_name, plan_headline, threshold_text
from .output import atomic_write_text, check_writable

if TYPE_CHECKING:
    from .measure import Coverage
    from .plan import Plan

__all__ = ["report", "report_curve"]

#: packages whose versions the report lists
PACKAGES = (
    "siting",
    "numpy",
    "scipy",
    "pandas",
    "geopandas",
    "shapely",
    "pyproj",
    "highspy",
    "numba",
    "matplotlib",
    "folium",
)
#: most new sites listed in the report's table (largest gain first)
MAX_SITE_ROWS = 50
#: most districts drawn in the bar chart (lowest share after the plan first)
MAX_DISTRICT_BARS = 40
#: the coverage curve's bound: nonzeros x points x subgradient steps it may take (about
#: 2 s at 1.2e8 nonzeros per second), at most this many steps per point, and a cap in
#: seconds (work seconds, see siting.optimize.clock)
CURVE_BOUND_WORK = 2.5e8
MAX_BOUND_STEPS = 100
CURVE_TIME_LIMIT_S = 30.0


# ---------------------------------------------------------------------- sections
def _bound_note(s: dict[str, Any], t: tx.Texts) -> str:
    bound, objective = s.get("bound"), s.get("objective")
    if bound is None or not math.isfinite(bound):
        return ""
    if s["model"] == "target":
        return t("report.bound_note.target", bound=f"{math.ceil(bound - 1e-9):,}")
    if s["model"] == "mclp":
        return t("report.bound_note.mclp", bound=f"{bound:,.0f}")
    return t("report.bound_note.other", objective=f"{objective:,.6g}", bound=f"{bound:,.6g}")


def _binding(plan: Plan, t: tx.Texts, threshold: str) -> str:
    """What fixes the plan's size: the target (overall or tightest group), p, or budget."""
    s, params = plan.summary(), plan.params
    if plan.model == "target" and params.get("by"):
        by = params["by"]
        stats = plan.stats(by)
        groups = stats.drop(index=[i for i in ("total", "(all)") if i in stats.index])
        tight = groups["share_after"].idxmin()
        return t(
            "report.binding_group",
            target=tx.share(params["target"]),
            by=by,
            group=str(tight),
            reached=tx.share(groups.loc[tight, "share_after"]),
        )
    if plan.model == "target":
        return t(
            "report.binding_target",
            target=tx.share(params.get("target", float("nan"))),
            threshold=threshold,
            reached=tx.share(s["covered_share_after"]),
        )
    if "budget" in params:
        return t("report.binding_budget", budget=f"{params['budget']:,g}")
    if params.get("p") is not None:
        return t("report.binding_p", p=params["p"])
    return t["report.binding_all"]


def headline(plan: Plan, t: tx.Texts) -> dict[str, Any]:
    """The headline numbers as ``(label, value)`` rows, and what the bound proves."""
    s = plan.summary()
    threshold = threshold_text(plan.coverage, plan.minutes, t)
    gap = s.get("gap")
    rows = [
        (t["report.population"], tx.persons(s["population"], t)),
        (
            t["report.share"],
            f"{tx.share(s['covered_share_before'])} → {tx.share(s['covered_share_after'])}",
        ),
        (
            t["report.persons_covered"],
            f"{tx.persons(s['covered_before'], t)} → {tx.persons(s['covered_after'], t)}",
        ),
        (t["report.new_sites"], f"{s['new_sites']:,}"),
        (t["report.existing_sites"], f"{s['existing_sites']:,}"),
        (t["report.binding"], _binding(plan, t, threshold)),
        (
            t["report.objective"],
            f"{_fmt(s.get('objective'))} / {_fmt(s.get('bound'))}",
        ),
        (t["report.gap"], "–" if gap is None else f"{gap:.2%}"),
        (t["report.status"], s.get("status", "")),
    ]
    cards = [
        (
            t["report.share"],
            f"{tx.share(s['covered_share_before'])} → {tx.share(s['covered_share_after'])}",
        ),
        (t["report.new_sites"], f"{s['new_sites']:,}"),
        (t["report.population"], f"{s['population']:,.0f}"),
        (t["report.gap"], "–" if gap is None else f"{gap:.2%}"),
    ]
    return {
        "id": "headline",
        "title": t["report.headline"],
        "rows": rows,
        "cards": cards,
        "note": _bound_note(s, t),
        "subtitle": t(
            "report.subtitle",
            model=model_name(plan.model, t),
            threshold=threshold,
            n=f"{s['population']:,.0f}",
        ),
        "summary": plan_headline(plan, t),
    }


def _fmt(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:,.4g}"


def curve_steps(plan: Plan) -> int:
    """New sites on the report's coverage curve: 1.5 × the plan's, at least 10."""
    return max(10, math.ceil(1.5 * plan.summary()["new_sites"]))


def bound_steps(nonzeros: int, points: int) -> int:
    """Subgradient steps per point of the curve's bound: as many as
    :data:`CURVE_BOUND_WORK` allows for ``points`` points of a ``nonzeros`` matrix,
    between 1 and :data:`MAX_BOUND_STEPS`."""
    per_step = max(1, nonzeros) * max(1, points)
    return int(np.clip(CURVE_BOUND_WORK // per_step, 1, MAX_BOUND_STEPS))


def report_curve(
    plan: Plan, max_new: int | None = None, *, steps: int | None = None
) -> pd.DataFrame:
    """The report's coverage curve: greedy coverage and a proven upper bound per new site.

    The same greedy plans as :func:`siting.coverage_curve`; its bound (a Lagrangian bound,
    :func:`siting.optimize.coverage_curve`) takes ``steps`` subgradient steps per point.
    Every bound is proven; fewer steps make it looser, never wrong.

    Parameters
    ----------
    plan : Plan
        The plan; the curve is counted at its threshold.
    max_new : int, optional
        Largest number of new sites (default 1.5 × the plan's, at least 10).
    steps : int, optional
        Subgradient steps per point of the bound (default: the full 100 on small
        cities, fewer on large ones, so that the report takes seconds).

    Returns
    -------
    pandas.DataFrame
        One row per number of new sites from 0 to ``max_new``: ``new_sites``,
        ``covered`` (persons), ``share`` (0–1), ``bound`` (persons), ``bound_share``;
        ``attrs["bound_steps"]`` holds the steps used.
    """
    from .optimize import CoverageProblem, coverage_curve

    cov = plan.coverage
    max_new = curve_steps(plan) if max_new is None else int(max_new)
    cover = cov.matrix(plan.minutes)
    steps = bound_steps(cover.nnz, max_new + 1) if steps is None else int(steps)
    problem = CoverageProblem(
        cover=cover,
        weight=cov.population,
        existing=cov.existing,
        cost=cov.sites["cost"].to_numpy(float),
    )
    raw = coverage_curve(problem, max_new, iterations=steps, time_limit=CURVE_TIME_LIMIT_S)
    total = float(cov.population.sum())
    out = pd.DataFrame(
        {
            "new_sites": raw["new_sites"].to_numpy(),
            "covered": raw["covered_weight"].to_numpy(float),
            "share": raw["covered_share"].to_numpy(float),
            "bound": raw["bound"].to_numpy(float),
        }
    )
    out["bound_share"] = out["bound"] / total if total > 0 else 1.0
    out.attrs["bound_steps"] = steps
    return out


def curve_section(
    plan: Plan, t: tx.Texts, max_new: int | None = None, steps: int | None = None
) -> dict[str, Any]:
    """The coverage curve (greedy share and bound against new sites), with the plan."""
    s = plan.summary()
    curve = report_curve(plan, max_new, steps=steps)
    labels = {
        "x": t["report.curve_x"],
        "y": t["report.curve_y"],
        "greedy": t["report.curve_greedy"],
        "bound": t["report.curve_bound"],
        "plan": t["report.curve_plan"],
    }
    target = plan.params.get("target") if plan.model == "target" else None
    svg = charts.coverage_curve(curve, (s["new_sites"], s["covered_share_after"]), labels, target)
    note = t["report.curve_note"] + " " + t("report.curve_steps", steps=curve.attrs["bound_steps"])
    return {"id": "curve", "title": t["report.curve"], "note": note, "svg": svg}


def _walk_edges(limit_m: float) -> np.ndarray:
    step = 100.0 if limit_m <= 2000 else 250.0 if limit_m <= 5000 else 1000.0
    edges = np.arange(0.0, limit_m, step)
    return np.r_[edges, limit_m]


def walk_section(plan: Plan, t: tx.Texts) -> dict[str, Any]:
    """Residents by walk to the nearest open facility, today and with the plan."""
    cov = plan.coverage
    edges = _walk_edges(cov.limit_m)
    pop = cov.population
    counts = []
    for sites in (None, plan.selected):
        walk = cov.nearest_m(sites, None)
        inside = np.isfinite(walk)
        hist, _ = np.histogram(walk[inside], bins=edges, weights=pop[inside])
        counts.append(np.r_[hist, pop[~inside].sum()])
    labels = {
        "x": t["report.walk_x"],
        "y": t["report.walk_y"],
        "today": t["report.today"],
        "plan": t["report.plan"],
        "beyond": f"{t['report.beyond']} {cov.limit_m:,.0f}",
    }
    svg = charts.walk_histogram(edges, counts[0], counts[1], labels)
    note = t("report.walk_note", limit=tx.metres(cov.limit_m, t))
    return {"id": "walk", "title": t["report.walk"], "note": note, "svg": svg}


def district_section(plan: Plan, t: tx.Texts, districts: Any = None) -> dict[str, Any]:
    """Per-district table (persons, covered before and after, new sites) and bar chart."""
    section: dict[str, Any] = {"id": "districts", "title": t["report.districts"]}
    table = district_table(plan, districts)
    if table is None:
        return {**section, "note": t["report.no_districts"]}
    header = [
        t["report.district"],
        t["report.population"],
        t["report.covered_before"],
        t["report.covered_after"],
        t["report.share_before"],
        t["report.share_after"],
        t["report.mean_walk"],
        t["report.sites"],
    ]
    rows = [
        [
            str(name),
            f"{r['population']:,.0f}",
            f"{r['covered_before']:,.0f}",
            f"{r['covered_after']:,.0f}",
            tx.share(r["share_before"]),
            tx.share(r["share_after"]),
            _fmt(r["mean_walk_m_after"]),
            f"{int(r['new_sites'])}",
        ]
        for name, r in table.iterrows()
    ]
    shown = table.sort_values(["share_after", "population"]).head(MAX_DISTRICT_BARS)
    shown = shown.sort_index()
    target = plan.params.get("target") if plan.model == "target" else None
    svg = charts.district_bars(
        list(shown.index),
        shown["share_before"].to_numpy(float),
        shown["share_after"].to_numpy(float),
        {"today": t["report.today"], "plan": t["report.plan"]},
        target,
    )
    return {**section, "header": header, "rows": rows, "svg": svg}


def sites_section(plan: Plan, t: tx.Texts) -> dict[str, Any]:
    """The new sites, largest gain first: persons newly covered, only here, mean walk."""
    table = site_table(plan)
    new = table[table["new"]].sort_values(["covered_gain", "served"], ascending=False)
    shown = new.head(MAX_SITE_ROWS)
    header = [
        t["report.site"],
        t["pop.gain"],
        t["pop.only_here"],
        t["pop.served"],
        t["report.mean_walk"],
    ]
    rows = [
        [
            r["name"] or f"#{i}",
            f"{r['covered_gain']:,.0f}",
            f"{r['covered_only_here']:,.0f}",
            f"{r['served']:,.0f}",
            _fmt(r["mean_walk_m"]),
        ]
        for i, r in shown.iterrows()
    ]
    note = t("report.sites_note", shown=len(shown), total=len(new))
    return {"id": "sites", "title": t["report.sites"], "note": note, "header": header, "rows": rows}


def _aligned(plan: Plan, circle: Coverage) -> bool:
    cov = plan.coverage
    return circle.n_demand == cov.n_demand and circle.n_sites == cov.n_sites


def compare_section(plan: Plan, circle: Coverage | None, t: tx.Texts) -> dict[str, Any]:
    """Walking network against the straight-line circle: shares and who differs."""
    section: dict[str, Any] = {"id": "compare", "title": t["report.compare"]}
    if circle is None:
        return {**section, "note": t["report.compare_none"]}
    cov = plan.coverage
    pop = cov.population
    walk_today = cov.covered(None, plan.minutes)
    rows = []
    measures = [
        (
            threshold_text(cov, plan.minutes, t),
            walk_today,
            cov.covered(plan.selected, plan.minutes),
        ),
    ]
    if _aligned(plan, circle):
        circ_today = circle.covered(None, None)
        measures.append(
            (threshold_text(circle, None, t), circ_today, circle.covered(plan.selected, None))
        )
    total = pop.sum() or 1.0
    for name, today, after in measures:
        rows.append([name, tx.share(pop[today].sum() / total), tx.share(pop[after].sum() / total)])
    cross = []
    if len(measures) == 2:
        for key, mask in (
            ("report.both", walk_today & circ_today),
            ("report.circle_only", ~walk_today & circ_today),
            ("report.walk_only", walk_today & ~circ_today),
        ):
            cross.append(
                [t[key], tx.persons(pop[mask].sum(), t), tx.share(pop[mask].sum() / total)]
            )
    header = [t["report.measure"], t["report.share_before"], t["report.share_after"]]
    return {
        **section,
        "note": t["report.compare_note"],
        "header": header,
        "rows": rows,
        "cross": cross,
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inputs_section(inputs: Mapping[str, Any] | None, t: tx.Texts) -> list[list[str]]:
    """One row per input file: role, path as given, bytes, sha256."""
    rows = []
    for role, value in (inputs or {}).items():
        paths = [value] if isinstance(value, str | os.PathLike) else list(value or [])
        for p in paths:
            path = Path(p)
            if path.is_file():
                rows.append([str(role), str(p), f"{path.stat().st_size:,}", _sha256(path)])
            else:
                rows.append([str(role), str(p), "", t["report.missing"]])
    return rows


def parameters(plan: Plan) -> list[list[str]]:
    """The plan's parameters (no timings: they change from run to run)."""
    cov = plan.coverage
    values: dict[str, Any] = {
        "model": plan.model,
        "minutes": plan.minutes,
        "threshold_m": cov.threshold_m(plan.minutes),
        "mode": cov.mode,
        "speed_kmh": cov.speed_kmh,
        "limit_m": cov.limit_m,
        "demand_points": cov.n_demand,
        "candidate_sites": int((~cov.existing).sum()),
        **plan.params,
        "method": plan.summary().get("method", ""),
    }
    return [[k, f"{v:g}" if isinstance(v, float) else str(v)] for k, v in values.items()]


def versions() -> list[list[str]]:
    """Python and the installed versions of :data:`PACKAGES`."""
    from . import __version__

    rows = [["python", platform.python_version()], ["siting", __version__]]
    for name in PACKAGES[1:]:
        try:
            rows.append([name, md.version(name)])
        except md.PackageNotFoundError:
            rows.append([name, "–"])
    from .maps.figure import LEAFLET_VERSION

    rows.append(["leaflet (map)", LEAFLET_VERSION])
    return rows


# ---------------------------------------------------------------------- the page
@cache
def _template() -> jinja2.Template:
    source = resources.files("siting").joinpath("assets", "report.html").read_text("utf-8")
    env = jinja2.Environment(
        autoescape=True,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    return env.from_string(source)


def _map_part(build: Any, map: Any) -> dict[str, Any] | None:
    """``{"srcdoc": html}`` for an embedded map (``build()`` makes it), ``{"src": link}``
    for a linked one."""
    if map is None or map is False:
        return None
    if map is True or map == "embed":
        from .maps import map_html

        return {"srcdoc": map_html(build())}
    return {"src": str(map)}


def _plan_and_audit(plan: Any, audit: Any) -> tuple[Plan | None, norms.Shown | None]:
    """The plan (None for a report of an audit alone) and the audit as shown."""
    from .plan import Plan

    if plan is not None and not isinstance(plan, Plan):  # st.report(audit, ...)
        if audit is not None:
            msg = "report: give the plan first and audit= second, or an audit alone."
            raise ParameterError(msg)
        plan, audit = None, plan
    if plan is None and audit is None:
        msg = "report: give a plan (st.solve(...)), an audit (st.audit(...)) or both."
        raise ParameterError(msg)
    return plan, None if audit is None else norms.Shown.of(audit)


def _plan_page(plan: Plan, shown: norms.Shown | None, t: tx.Texts, o: dict[str, Any]) -> dict:
    """Headline, sections, parameters and map of a report of a plan (and its audit)."""
    plan = with_districts(plan, o["districts"])
    circle = o["circle"]
    options = {
        "basemap": o["basemap"],
        "lang": t.lang,
        "assets": o["assets"],
        "districts": o["districts"],
        "circle_m": circle.limit_m if circle is not None else DEFAULT_CIRCLE_M,
        "audit": None if shown is None else (shown.plan or shown.audit),
    }
    sections = [
        curve_section(plan, t, o["curve_max_new"], o["curve_bound_steps"]),
        walk_section(plan, t),
        district_section(plan, t, o["districts"]),
        sites_section(plan, t),
        compare_section(plan, circle, t),
    ]
    if shown is not None:
        sections += ra.audit_sections(shown, t)
    return {
        "title": t["report.title"],
        "head": headline(plan, t),
        "sections": sections,
        "parameters": parameters(plan),
        "map": _map_part(lambda: maps.plan_map(plan, **options), o["map"]),
    }


def _audit_page(shown: norms.Shown, t: tx.Texts, o: dict[str, Any]) -> dict:
    """Headline, sections, parameters and map of a report of an audit alone."""
    from .maps import audit_map

    source = shown.plan or shown.audit
    options = {"basemap": o["basemap"], "lang": t.lang, "assets": o["assets"]}
    return {
        "title": t["report.audit_title"],
        "head": ra.audit_head(shown, t),
        "sections": ra.audit_sections(shown, t),
        "parameters": ra.audit_parameters(shown),
        "map": _map_part(lambda: audit_map(source, **options), o["map"]),
        "footer": "report.audit_footer",
    }


def report(
    plan: Any = None,
    path: str | os.PathLike | None = None,
    *,
    audit: Any = None,
    circle: Coverage | None = None,
    inputs: Mapping[str, str | os.PathLike | Sequence[str | os.PathLike]] | None = None,
    districts: gpd.GeoDataFrame | str | os.PathLike | None = None,
    lang: str = "en",
    map: str | os.PathLike | bool | None = "embed",
    basemap: str = "osm",
    assets: str = "inline",
    title: str | None = None,
    curve_max_new: int | None = None,
    curve_bound_steps: int | None = None,
    force: bool = False,
) -> str | Path:
    """A self-contained HTML report of ``plan`` (and of a norm audit), or of an audit.

    Parameters
    ----------
    plan
        A :class:`siting.Plan`; or an audit (``st.report(audit, ...)``: a report of the
        audit alone, titled "Norm audit").
    path
        Where to write it (atomically; refuses to overwrite without ``force``). None:
        return the HTML text.
    audit
        A norm audit (:func:`siting.audit`) or the plan from one (``audit.plan(...)``):
        adds the compliance sections (pass rates per rule, the life circles, the
        compliance table; before → after for a plan from the audit) and the compliance
        layer to the map.
    circle
        A straight-line coverage of the same demand and sites (``st.coverage(None, ...,
        mode="circle", threshold_m=1000)``) for the network/circle comparison.
    inputs
        Input files by role (``{"network": "city.osm.pbf", ...}``): listed with their
        size and sha256.
    districts
        District polygons for the map and, when the demand has no ``district`` column,
        for the per-district table.
    lang
        ``"en"`` or ``"zh"``.
    map
        ``"embed"`` or True (the map inside the report), a link such as ``"map.html"``
        (a file beside the report), or None/False for no map.
    basemap, assets
        The embedded map's options (see :func:`siting.maps.plan_map`).
    title
        The report's title (default "Siting plan", or "Norm audit").
    curve_max_new
        Largest number of new sites on the coverage curve (default 1.5 × the plan's,
        at least 10).
    curve_bound_steps
        Subgradient steps per point of the curve's proven upper bound (default: up to
        100, fewer on large cities so that the report takes seconds; see
        :func:`report_curve`).
    force
        Overwrite an existing ``path``.

    Returns
    -------
    str or pathlib.Path
        The HTML text when ``path`` is None, else the path written.

    Raises
    ------
    ParameterError
        Neither a plan nor an audit (or two audits); an unknown ``lang``, ``basemap``
        or ``assets``.
    OutputExistsError
        ``path`` exists and ``force`` is False.
    OutputPathError
        ``path`` is a folder, or its folder cannot be written.

    Examples
    --------
    >>> st.report(plan, "report.html", circle=circle_cov, lang="zh")  # doctest: +SKIP
    >>> st.report(audit, "audit.html")  # the audit alone  # doctest: +SKIP
    """
    t = tx.texts(lang)
    if path is not None:
        check_writable(path, force=force)
    plan, shown = _plan_and_audit(plan, audit)
    options = {
        "circle": circle,
        "districts": districts,
        "map": map,
        "basemap": basemap,
        "assets": assets,
        "curve_max_new": curve_max_new,
        "curve_bound_steps": curve_bound_steps,
    }
    if plan is not None:
        part = _plan_page(plan, shown, t, options)
    else:
        part = _audit_page(shown, t, options)
    page = {
        **part,
        "lang": "zh-CN" if lang == "zh" else "en",
        "title": title or part["title"],
        "t": t,
        "inputs": inputs_section(inputs, t),
        "versions": versions(),
        "footer": t(part.get("footer", "report.footer"), version=versions()[1][1]),
    }
    html = _template().render(**page)
    if path is None:
        return html
    return atomic_write_text(path, html, force=force)
