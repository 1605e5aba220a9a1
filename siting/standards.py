"""Planning norms as named presets, each with its source. Every value is overridable.

Figures from GB 50180-2018 (life circles), the national and local community-service
plans (coverage targets, floor area per 100 households) and TD/T 1062-2021.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ParameterError


@dataclass(frozen=True)
class LifeCircle:
    """A GB 50180-2018 life-circle level."""

    name: str
    minutes: float
    radius_m: tuple[float, float]
    residents: tuple[int, int]
    households: tuple[int, int]
    source: str = "GB 50180-2018, Standard for urban residential area planning and design"


#: GB 50180-2018 life circles: walking time, Euclidean radius (m), residents, households
LIFE_CIRCLES: dict[str, LifeCircle] = {
    "15min": LifeCircle(
        "15-minute life circle", 15, (800, 1000), (50_000, 100_000), (17_000, 32_000)
    ),
    "10min": LifeCircle("10-minute life circle", 10, (500, 500), (15_000, 25_000), (5_000, 8_000)),
    "5min": LifeCircle("5-minute life circle", 5, (300, 300), (5_000, 12_000), (1_500, 4_000)),
    "block": LifeCircle("residential block", 3, (150, 250), (1_000, 3_000), (300, 1_000)),
}


@dataclass(frozen=True)
class CoverageTarget:
    """A coverage target from a policy document."""

    name: str
    share: float
    source: str


#: coverage targets (share of residents / communities served)
TARGETS: dict[str, CoverageTarget] = {
    "national-2015": CoverageTarget(
        "comprehensive community service facilities",
        0.90,
        "State Council community service system plan 2011-2015 (50.81% in 2010)",
    ),
    "shijiazhuang-2020-urban": CoverageTarget(
        "urban communities meeting the 300 m² standard",
        1.00,
        "Shijiazhuang community service plan 2016-2020",
    ),
    "shijiazhuang-2020-rural": CoverageTarget(
        "rural communities", 0.50, "Shijiazhuang community service plan 2016-2020"
    ),
    "taizhou-2025-child-protection": CoverageTarget(
        "townships/sub-districts with a child-protection station",
        0.90,
        "Taizhou urban-rural community service action plan 2023-2025",
    ),
    "hangzhou-rehabilitation": CoverageTarget(
        "communities with a disabled-rehabilitation station",
        0.90,
        "Hangzhou community-building opinions",
    ),
}


@dataclass(frozen=True)
class FloorAreaNorm:
    """Facility floor area per 100 households."""

    name: str
    m2_per_100_households: float
    source: str


FLOOR_AREA_NORMS: dict[str, FloorAreaNorm] = {
    "national-2015": FloorAreaNorm(
        "community facility floor area",
        20.0,
        "national community service plan 2011-2015; Shijiazhuang 2016-2020",
    ),
    "taizhou-2025": FloorAreaNorm(
        "community facility floor area", 30.0, "Taizhou action plan 2023-2025"
    ),
}

#: minimum floor areas (m²) by facility level, with sources
MIN_FLOOR_AREA_M2: dict[str, tuple[float, str]] = {
    "community-station": (300.0, "Shijiazhuang (Zhejiang: 350 m²)"),
    "sub-district-centre": (600.0, "Shijiazhuang; Taizhou"),
    "district-centre": (1000.0, "Shijiazhuang"),
}

#: persons per household used to turn household norms into persons (override per city)
PERSONS_PER_HOUSEHOLD = 2.8
#: default walking speed (km/h): 15 minutes ≈ 1125 m
WALK_SPEED_KMH = 4.5


def life_circle(name: str) -> LifeCircle:
    """A life-circle preset by key (``"15min"``, ``"10min"``, ``"5min"``, ``"block"``)."""
    try:
        return LIFE_CIRCLES[name]
    except KeyError:
        msg = f"Unknown life circle {name!r}; choose one of {', '.join(LIFE_CIRCLES)}."
        raise ParameterError(msg) from None


def target_share(name_or_share: str | float) -> float:
    """A coverage target share from a preset name or a number in (0, 1]."""
    if isinstance(name_or_share, str):
        try:
            return TARGETS[name_or_share].share
        except KeyError:
            msg = (
                f"Unknown target {name_or_share!r}; choose one of {', '.join(TARGETS)} "
                "or a share in (0, 1]."
            )
            raise ParameterError(msg) from None
    share = float(name_or_share)
    if not 0 < share <= 1:
        msg = f"target={share}: a coverage target is a share in (0, 1], e.g. 0.9 for 90%."
        raise ParameterError(msg)
    return share


def capacity_households(floor_area_m2, m2_per_100_households: float = 20.0):
    """Households a facility of ``floor_area_m2`` serves under a per-100-households norm."""
    if m2_per_100_households <= 0:
        msg = "m2_per_100_households must be > 0 (e.g. 20 or 30 m² per 100 households)."
        raise ParameterError(msg)
    return floor_area_m2 / m2_per_100_households * 100.0
