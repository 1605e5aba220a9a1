"""The report's charts as inline SVG (matplotlib), the same bytes for the same numbers.

Each chart is drawn on its own :class:`matplotlib.figure.Figure` (no pyplot state), with
a fixed ``svg.hashsalt`` per chart (so clip-path ids repeat and differ between charts),
no date in the metadata, text left as text (``svg.fonttype = "none"``, no font family:
the browser draws it with the page's fonts, Chinese included) and no math parsing of
labels (a ``$`` in a district name stays a dollar sign). matplotlib's SVG writer escapes
the labels.
"""

from __future__ import annotations

import functools
import io
import re
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: today, with the plan, bound, target: colours shared by the charts
TODAY = "#9e9e9e"
PLAN = "#2166ac"
BOUND = "#b2182b"
TARGET = "#4d4d4d"
#: matplotlib measures text in this font; the page's CSS chooses the font drawn
MEASURE_FONT = "DejaVu Sans"


@functools.cache
def _mpl() -> ModuleType:
    """matplotlib, imported with the first chart (not with ``import siting``)."""
    import matplotlib as mpl
    import matplotlib.figure
    import matplotlib.ticker  # mpl.ticker, used by the charts

    return mpl


def _rc(name: str) -> dict:
    return {
        "svg.hashsalt": f"siting-{name}",
        "svg.fonttype": "none",
        "text.parse_math": False,
        "font.family": MEASURE_FONT,
        "font.size": 9.0,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.color": "#e5e5e5",
        "grid.linewidth": 0.6,
        "axes.axisbelow": True,
    }


def to_svg(fig: Figure, name: str) -> str:
    """The figure as an ``<svg>`` element (no XML prolog), deterministic."""
    buf = io.StringIO()
    with _mpl().rc_context(_rc(name)), warnings.catch_warnings():
        # text is drawn by the browser; matplotlib's own fonts may lack CJK glyphs
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from")
        fig.savefig(
            buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight"
        )
    text = buf.getvalue()
    # the page's CSS sets the font (with Chinese fallbacks), not each <text>
    text = re.sub(r"font-family: [^;\"]*;? ?", "", text)
    return text[text.index("<svg") :].strip()


def _figure(name: str, width_in: float, height_in: float) -> Figure:
    mpl = _mpl()
    with mpl.rc_context(_rc(name)):
        return mpl.figure.Figure(figsize=(width_in, height_in), layout="constrained")


def _percent_axis(axis) -> None:
    axis.set_major_formatter(_mpl().ticker.PercentFormatter(1.0, decimals=0))


def coverage_curve(
    curve: pd.DataFrame,
    plan_point: tuple[int, float],
    labels: dict[str, str],
    target: float | None = None,
) -> str:
    """Share covered against new sites (greedy), its upper bound, the plan and target.

    ``curve``: :func:`siting.coverage_curve` output; ``labels``: ``x``, ``y``, ``greedy``,
    ``bound``, ``plan``.
    """
    with _mpl().rc_context(_rc("curve")):
        fig = _figure("curve", 6.4, 3.2)
        ax = fig.add_subplot()
        x = curve["new_sites"].to_numpy()
        ax.plot(x, curve["bound_share"], color=BOUND, ls="--", lw=1.2, label=labels["bound"])
        ax.plot(x, curve["share"], color=PLAN, lw=1.8, marker="o", ms=2.5, label=labels["greedy"])
        if target is not None:
            ax.axhline(target, color=TARGET, lw=0.8, ls=":")
        ax.plot(
            [plan_point[0]],
            [plan_point[1]],
            marker="*",
            ms=13,
            color="#f46d43",
            markeredgecolor="#222",
            ls="none",
            label=labels["plan"],
        )
        ax.set_xlabel(labels["x"])
        ax.set_ylabel(labels["y"])
        _percent_axis(ax.yaxis)
        ax.set_ylim(max(0.0, float(curve["share"].min()) - 0.05), 1.0)
        ax.set_xlim(0, max(1, int(x.max())))
        ax.xaxis.set_major_locator(_mpl().ticker.MaxNLocator(integer=True))
        ax.legend(loc="lower right", frameon=False)
        return to_svg(fig, "curve")


def walk_histogram(
    edges_m: np.ndarray, today: np.ndarray, plan: np.ndarray, labels: dict[str, str]
) -> str:
    """Residents per walk band, today and with the plan (grouped bars); the last band
    (``labels["beyond"]``) is everyone beyond the computed limit."""
    with _mpl().rc_context(_rc("walk")):
        fig = _figure("walk", 6.4, 3.0)
        ax = fig.add_subplot()
        n = len(today)
        x = np.arange(n)
        ax.bar(x - 0.2, today, width=0.4, color=TODAY, label=labels["today"])
        ax.bar(x + 0.2, plan, width=0.4, color=PLAN, label=labels["plan"])
        ticks = [f"{edges_m[i]:.0f}–{edges_m[i + 1]:.0f}" for i in range(n - 1)]
        ax.set_xticks(x, [*ticks, labels["beyond"]], rotation=45, ha="right")
        ax.set_xlabel(labels["x"])
        ax.set_ylabel(labels["y"])
        ax.yaxis.set_major_formatter(_mpl().ticker.StrMethodFormatter("{x:,.0f}"))
        ax.grid(axis="x", visible=False)
        # above the axes: the last bar (everyone beyond the limit) is often the tallest
        fig.legend(loc="outside upper right", ncols=2, frameon=False)
        return to_svg(fig, "walk")


def district_bars(
    names: Sequence[str],
    before: np.ndarray,
    after: np.ndarray,
    labels: dict[str, str],
    target: float | None = None,
) -> str:
    """Share covered per district, today and with the plan (horizontal bars)."""
    series = [(before, labels["today"]), (after, labels["plan"])]
    return share_bars("districts", names, series, target)


def share_bars(
    name: str,
    names: Sequence[str],
    series: Sequence[tuple[np.ndarray, str]],
    target: float | None = None,
) -> str:
    """Shares (0–1) per row as horizontal bars, one bar per ``(values, label)`` series
    (grey, then blue: today, with the plan), a dotted line at ``target``; ``name`` keeps
    the chart's ids apart from the others'."""
    n = len(names)
    colours = (TODAY, PLAN) if len(series) == 2 else (PLAN,) * len(series)
    height = 0.8 / len(series)
    with _mpl().rc_context(_rc(name)):
        fig = _figure(name, 6.4, 0.9 + 0.28 * n * max(1.0, len(series) / 2))
        ax = fig.add_subplot()
        y = np.arange(n)[::-1]
        for k, ((values, label), colour) in enumerate(zip(series, colours, strict=True)):
            offset = 0.4 - height * (k + 0.5)
            ax.barh(y + offset, values, height=height, color=colour, label=label)
        if target is not None:
            ax.axvline(target, color=TARGET, lw=0.8, ls=":")
        ax.set_yticks(y, [str(v) for v in names])
        _percent_axis(ax.xaxis)
        ax.set_xlim(0, 1.0)
        ax.grid(axis="y", visible=False)
        if len(series) > 1:
            fig.legend(loc="outside upper right", ncols=len(series), frameon=False)
        return to_svg(fig, name)
