"""Planning norms as editable presets, each value citing its source.

The norms live in data tables shipped with the package (``siting/data/norms/*.yaml``), one
file per plan or standard, plus ``facility_types.yaml`` (the facility types the audit knows
and the OpenStreetMap tags read as each). A preset holds:

* ``rules``: per-unit norms (floor area per 100 households, one facility of a type per
  community or sub-district, minimum facility sizes, staffing, community size), each
  checked per community / sub-district / district by :func:`siting.audit`;
* ``levels``: life-circle levels, each a walking distance and a basket of facility types
  that must all be within it (GB 50180-2018, TD/T 1062-2021).

Every row names its source document and clause, and says whether the value was checked
against the primary text (``verified``). Copy a preset and edit it::

    import siting as st
    p = st.standards.load_preset("taizhou-2023")
    p.to_file("my-norms.yaml")                     # edit the copy in any text editor ...
    mine = st.standards.from_file("my-norms.yaml")
    mine = p.edit("floor-area-per-100-households", m2_per_100_households=25)   # ... or here

The package has one household size, :data:`PERSONS_PER_HOUSEHOLD` (2.62 persons, 7th
national census 2020), used wherever households and persons are converted.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
import yaml

from ._docstrings import shared_doc
from .errors import DataError, ParameterError
from .validation import WALK_SPEED_KMH

#: persons per household: the 7th national population census (2020) average, 2.62
PERSONS_PER_HOUSEHOLD = 2.62
PERSONS_PER_HOUSEHOLD_SOURCE = "7th national population census (2020): 2.62 persons per household"
#: m² of community facility per 100 households, national plan 2011-2015 (the default norm)
M2_PER_100_HOUSEHOLDS = 20.0
#: folder of the shipped norm tables
NORMS_DIR = Path(__file__).resolve().parent / "data" / "norms"
TYPES_FILE = NORMS_DIR / "facility_types.yaml"

#: unit levels a rule can apply to (communities 社区, sub-districts 街道/乡镇, districts 区/县)
UNIT_LEVELS = ("community", "subdistrict", "district")
#: plural of each unit level, for messages and tables
UNIT_PLURAL = {"community": "communities", "subdistrict": "sub-districts", "district": "districts"}
#: which units a rule applies to (units carry an optional boolean ``urban`` column)
WHERE = ("all", "urban", "rural")
_REQUIRED = object()
#: rule kinds and their parameters (``_REQUIRED`` or the default)
RULE_KINDS: dict[str, dict[str, Any]] = {
    "floor_area": {"types": _REQUIRED, "m2_per_100_households": _REQUIRED},
    "facility_count": {
        "types": _REQUIRED,
        "min_count": 1,
        "min_floor_area_m2": None,
        "share_of_units": 1.0,
    },
    "staff_households": {
        "base_staff": _REQUIRED,
        "base_households": _REQUIRED,
        "households_per_extra": _REQUIRED,
    },
    "staff_residents": {"per_10000": _REQUIRED},
    "unit_size": {"min_households": None, "max_households": None},
}
_CITATION_KEYS = ("source", "clause", "verified", "secondary", "note")
_RULE_KEYS = ("id", "kind", "unit", "where", *_CITATION_KEYS)
_LEVEL_KEYS = ("name", "label", "minutes", "threshold_m", "basket", "share", *_CITATION_KEYS)
_PRESET_KEYS = (
    "name",
    "title",
    "title_zh",
    "source",
    "persons_per_household",
    "levels",
    "rules",
    "notes",
    "types",
)


__all__ = [
    "M2_PER_100_HOUSEHOLDS",
    "PERSONS_PER_HOUSEHOLD",
    "RULE_KINDS",
    "UNIT_LEVELS",
    "Citation",
    "FacilityType",
    "Level",
    "Preset",
    "Rule",
    "capacity_from_floor_area",
    "check_types",
    "classify_osm",
    "describe_presets",
    "facility_types",
    "from_dict",
    "from_file",
    "households_from_floor_area",
    "households_from_population",
    "load_preset",
    "osm_filter",
    "osm_type_table",
    "presets",
    "required_floor_area_m2",
    "required_staff_households",
    "required_staff_residents",
]


# ----------------------------------------------------------------------------- arithmetic
@shared_doc
def households_from_population(
    population: np.ndarray | float, persons_per_household: float = PERSONS_PER_HOUSEHOLD
) -> np.ndarray | float:
    """Households = persons ÷ persons per household (default 2.62, census 2020).

    Parameters
    ----------
    population : float or numpy.ndarray
        Persons.
    %(persons_per_household)s

    Returns
    -------
    float or numpy.ndarray
        Households (not rounded); a float for a scalar.

    Raises
    ------
    ParameterError
        ``persons_per_household`` not > 0.
    """
    _positive("persons_per_household", persons_per_household)
    out = np.asarray(population, dtype=float) / persons_per_household
    return float(out) if out.ndim == 0 else out


@shared_doc
def required_floor_area_m2(
    households: np.ndarray | float, m2_per_100_households: float = M2_PER_100_HOUSEHOLDS
) -> np.ndarray | float:
    """Floor area (m²) a norm of ``m2_per_100_households`` asks for ``households``.

    3,000 households at 30 m² per 100 households need 900 m².

    Parameters
    ----------
    households : float or numpy.ndarray
        Households of each unit.
    %(m2_per_100_households)s

    Returns
    -------
    float or numpy.ndarray
        Required floor area, m².

    Raises
    ------
    ParameterError
        ``m2_per_100_households`` not > 0.
    """
    _positive("m2_per_100_households", m2_per_100_households)
    return np.asarray(households, dtype=float) / 100.0 * m2_per_100_households


@shared_doc
def households_from_floor_area(
    floor_area_m2: np.ndarray | float, m2_per_100_households: float = M2_PER_100_HOUSEHOLDS
) -> np.ndarray | float:
    """Households a facility of ``floor_area_m2`` serves under a per-100-households norm.

    350 m² at 20 m² per 100 households serve 1,750 households.

    Parameters
    ----------
    floor_area_m2 : float or numpy.ndarray
        Floor area of each facility, m² (>= 0).
    %(m2_per_100_households)s

    Returns
    -------
    float or numpy.ndarray
        Households served (not rounded); a float for a scalar.

    Raises
    ------
    ParameterError
        A floor area that is negative or not finite, or a norm not > 0.
    """
    _positive("m2_per_100_households", m2_per_100_households)
    area = np.asarray(floor_area_m2, dtype=float)
    if np.any(~np.isfinite(area)) or np.any(area < 0):
        msg = "floor_area_m2 must be finite and >= 0 (square metres)."
        raise ParameterError(msg)
    out = area / m2_per_100_households * 100.0
    return float(out) if out.ndim == 0 else out


@shared_doc
def capacity_from_floor_area(
    floor_area_m2: np.ndarray | float,
    m2_per_100_households: float = M2_PER_100_HOUSEHOLDS,
    persons_per_household: float = PERSONS_PER_HOUSEHOLD,
) -> np.ndarray | float:
    """Persons a facility can serve under a floor-area norm (a site capacity).

    ``persons = floor_area_m2 / m2_per_100_households × 100 × persons_per_household``:
    350 m² at 20 m² per 100 households and 2.62 persons per household serve 1,750
    households, 4,585 persons. Use it to fill a ``capacity`` column for
    ``siting.solve(..., capacity="capacity")``.

    Parameters
    ----------
    floor_area_m2 : float or numpy.ndarray
        Floor area of each facility, m² (>= 0).
    %(m2_per_100_households)s
    %(persons_per_household)s

    Returns
    -------
    float or numpy.ndarray
        Persons served; a float for a scalar.

    Raises
    ------
    ParameterError
        A floor area that is negative or not finite, or a norm or household size not > 0.

    Examples
    --------
    >>> from siting.standards import capacity_from_floor_area
    >>> round(capacity_from_floor_area(350))
    4585
    """
    _positive("persons_per_household", persons_per_household)
    return households_from_floor_area(floor_area_m2, m2_per_100_households) * persons_per_household


def required_staff_households(
    households: np.ndarray | float,
    base_staff: float = 5,
    base_households: float = 2000,
    households_per_extra: float = 400,
) -> np.ndarray:
    """Workers a community needs under a households-based staffing norm.

    ``base_staff`` plus one per full ``households_per_extra`` households above
    ``base_households`` (Zhejiang: 2,500 households -> 5 + 1 = 6).

    Parameters
    ----------
    households : float or numpy.ndarray
        Households of each community.
    base_staff : float
        Workers of a community up to ``base_households``.
    base_households : float
        Households the base staff serve.
    households_per_extra : float
        Households per additional worker above that (> 0).

    Returns
    -------
    numpy.ndarray
        Workers required (whole numbers, as floats).

    Raises
    ------
    ParameterError
        ``households_per_extra`` not > 0.
    """
    _positive("households_per_extra", households_per_extra)
    above = np.maximum(np.asarray(households, dtype=float) - base_households, 0.0)
    return base_staff + np.floor(above / households_per_extra + 1e-9)


def required_staff_residents(population: np.ndarray | float, per_10000: float = 18) -> np.ndarray:
    """Whole workers for ``per_10000`` workers per 10,000 residents (rounded up).

    Parameters
    ----------
    population : float or numpy.ndarray
        Residents (persons) of each unit.
    per_10000 : float
        Workers per 10,000 residents (> 0).

    Returns
    -------
    numpy.ndarray
        Workers required, rounded up to whole workers.

    Raises
    ------
    ParameterError
        ``per_10000`` not > 0.
    """
    _positive("per_10000", per_10000)
    return np.ceil(np.asarray(population, dtype=float) * per_10000 / 10_000.0 - 1e-9)


def _positive(name: str, value: Any) -> None:
    try:
        ok = math.isfinite(float(value)) and float(value) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        msg = f"{name}={value!r}: must be a positive finite number."
        raise ParameterError(msg)


# ----------------------------------------------------------------------------- facility types
@dataclass(frozen=True)
class FacilityType:
    """A facility type of the audit: key, English and Chinese names.

    Parameters
    ----------
    key : str
        The type's key, e.g. ``"community_service_station"`` (the ``type`` column).
    en : str
        English name.
    zh : str
        Chinese name (accepted in the ``type`` column too).
    """

    key: str
    en: str = ""
    zh: str = ""


@lru_cache(maxsize=1)
def _types_file() -> dict[str, Any]:
    return _read_yaml(TYPES_FILE)


def facility_types() -> dict[str, FacilityType]:
    """The facility types the audit knows (``facility_types.yaml``), by key.

    Returns
    -------
    dict of str to FacilityType
        Every shipped type, by key.

    Raises
    ------
    DataError
        A damaged ``facility_types.yaml``.
    """
    return _parse_types(_types_file().get("types") or {}, str(TYPES_FILE))


def _parse_types(raw: Any, source: str) -> dict[str, FacilityType]:
    if not isinstance(raw, Mapping):
        msg = f"{source}: 'types' must map a type key to {{en: ..., zh: ...}}."
        raise DataError(msg)
    out = {}
    for key, names in raw.items():
        names = names if isinstance(names, Mapping) else {"en": str(names or "")}
        out[str(key)] = FacilityType(str(key), str(names.get("en", "")), str(names.get("zh", "")))
    return out


def osm_type_table() -> pd.DataFrame:
    """The OSM tags read as each facility type.

    Returns
    -------
    pandas.DataFrame
        One row per tag: ``key``, ``value``, ``type``, ``note``; the first row that
        matches a feature decides its type.

    Raises
    ------
    DataError
        A row naming a type that ``facility_types.yaml`` does not define.
    """
    rows = _types_file().get("osm") or []
    table = pd.DataFrame(rows, columns=["key", "value", "type", "note"]).fillna("")
    unknown = sorted(set(table["type"]) - set(facility_types()))
    if unknown:
        msg = f"{TYPES_FILE}: osm rows name unknown types {unknown}; add them under 'types'."
        raise DataError(msg)
    return table


def osm_filter(types: Iterable[str] | None = None) -> dict[str, Any]:
    """Arguments for :func:`siting.facilities_from_osm` reading every mapped tag.

    Parameters
    ----------
    types : iterable of str, optional
        Only the tags of these facility types (default: every type).

    Returns
    -------
    dict
        ``{"amenity": [...], "extra_tags": {key: [values]}}``, to pass as
        ``st.facilities_from_osm(pbf, **osm_filter())``.
    """
    table = osm_type_table()
    if types is not None:
        table = table[table["type"].isin(list(types))]
    tags: dict[str, list[str]] = {}
    for key, value in zip(table["key"], table["value"], strict=True):
        tags.setdefault(key, []).append(value)
    return {"amenity": tags.pop("amenity", []), "extra_tags": tags}


def classify_osm(facilities: pd.DataFrame, table: pd.DataFrame | None = None) -> pd.Series:
    """Facility type of each OSM feature from its tags (the first matching row wins).

    Parameters
    ----------
    facilities : pandas.DataFrame
        Features with the tag columns of :func:`siting.facilities_from_osm`
        (``amenity`` and the ``extra_tags`` keys).
    table : pandas.DataFrame, optional
        Tag rows (default :func:`osm_type_table`).

    Returns
    -------
    pandas.Series
        The facility type of each feature (same index); ``None`` where no row matches.
    """
    table = osm_type_table() if table is None else table
    out = np.full(len(facilities), None, dtype=object)
    for key, value, kind in zip(table["key"], table["value"], table["type"], strict=True):
        if key not in facilities.columns:
            continue
        hit = (facilities[key].astype("string") == value).fillna(False).to_numpy(bool)
        out[hit & (out == None)] = kind  # noqa: E711 (element-wise on an object array)
    return pd.Series(out, index=facilities.index, dtype=object)


def check_types(
    values: pd.Series, known: Mapping[str, FacilityType] | None = None, *, source: str
) -> np.ndarray:
    """Facility types as known keys (a Chinese name ``zh`` is accepted for its key).

    Parameters
    ----------
    values : pandas.Series
        The ``type`` column.
    known : mapping of str to FacilityType, optional
        The types accepted (default :func:`facility_types`).
    source : str
        The file or table named in messages.

    Returns
    -------
    numpy.ndarray
        The type key of each row (object array).

    Raises
    ------
    DataError
        Unknown values: each named with its first row and a "did you mean", with the
        known types listed.
    """
    known = facility_types() if known is None else known
    by_zh = {t.zh: k for k, t in known.items() if t.zh}
    text = values.astype("string").str.strip()
    keys = text.map(lambda v: v if v in known else by_zh.get(v, v), na_action="ignore")
    bad = keys.isna() | ~keys.isin(list(known))
    if bad.any():
        first = pd.Series(np.flatnonzero(bad.to_numpy()), index=text[bad].fillna("<empty>"))
        shown = []
        for value, rows in first.groupby(level=0):
            close = difflib.get_close_matches(str(value), list(known), n=1, cutoff=0.6)
            hint = f", did you mean {close[0]!r}?" if close else ""
            shown.append(f"{value!r} ({len(rows)} rows, first row {rows.iloc[0]}{hint})")
        msg = (
            f"{source}, field 'type': unknown facility type(s) {'; '.join(shown)}. "
            f"Known types: {', '.join(known)} (or their Chinese names). Fix the values, "
            "or add the type to your preset's 'types'."
        )
        raise DataError(msg)
    return keys.to_numpy(dtype=object)


# ----------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class Citation:
    """Where a norm comes from: document, clause, and whether the primary text was read.

    Parameters
    ----------
    source : str
        The document (standard, plan, regulation).
    clause : str
        The clause or table in it.
    verified : bool
        True only when the value was checked against the primary text.
    secondary : str
        A secondary source the value was taken from, if any.
    note : str
        Anything a reader should know about the value.
    """

    source: str
    clause: str = ""
    verified: bool = False
    secondary: str = ""
    note: str = ""


@dataclass(frozen=True)
class Rule:
    """One per-unit norm (see :data:`RULE_KINDS` for the kinds and their parameters).

    Parameters
    ----------
    id : str
        The rule's id in its preset, e.g. ``"floor-area-per-100-households"``.
    kind : str
        ``"floor_area"``, ``"facility_count"``, ``"staff_households"``,
        ``"staff_residents"`` or ``"unit_size"``.
    unit : str
        The units it applies to: ``"community"``, ``"subdistrict"`` or ``"district"``.
    where : str
        ``"all"``, ``"urban"`` or ``"rural"`` units.
    params : mapping
        The kind's parameters (``m2_per_100_households``, ``types``, ``min_count``,
        ``min_floor_area_m2`` in m², ...).
    cite : Citation
        Where the norm comes from.
    """

    id: str
    kind: str
    unit: str
    where: str
    params: Mapping[str, Any]
    cite: Citation

    @property
    def types(self) -> tuple[str, ...]:
        """Facility types the rule counts (empty for staffing and size rules)."""
        return tuple(self.params.get("types") or ())

    def describe(self) -> str:
        """The norm in words.

        Returns
        -------
        str
            E.g. ``>= 20 m² per 100 households (community_service_station)``.
        """
        p = self.params
        where = "" if self.where == "all" else f"{self.where} "
        if self.kind == "floor_area":
            text = f">= {p['m2_per_100_households']:g} m² per 100 households ({_any(self.types)})"
        elif self.kind == "facility_count":
            size = f" of >= {p['min_floor_area_m2']:g} m²" if p["min_floor_area_m2"] else ""
            text = f">= {p['min_count']} {_any(self.types)}{size} per {where}{self.unit}"
            if p["share_of_units"] < 1:
                text += f" in >= {p['share_of_units']:.0%} of {where}{UNIT_PLURAL[self.unit]}"
        elif self.kind == "staff_households":
            text = (
                f">= {p['base_staff']:g} workers, +1 per {p['households_per_extra']:g} "
                f"households above {p['base_households']:,.0f}"
            )
        elif self.kind == "staff_residents":
            text = f">= {p['per_10000']:g} workers per 10,000 residents"
        else:
            lo, hi = p["min_households"], p["max_households"]
            text = f"{where}{self.unit} of {lo or 0:,.0f}-{hi or math.inf:,.0f} households"
        return text


def _any(types: tuple[str, ...]) -> str:
    return " or ".join(types)


@dataclass(frozen=True)
class Level:
    """A life-circle level: a walking distance and the basket of types due within it.

    Parameters
    ----------
    name : str
        The level's id, e.g. ``"5min"``.
    label : str
        Its name for people, e.g. ``"5-minute life circle"``.
    minutes : float or None
        The walk, minutes.
    threshold_m : float or None
        The walking distance the standard gives, metres (e.g. 300 m for 5 minutes).
    basket : tuple of tuple of str
        Requirements; each is a tuple of types of which any one satisfies it (written
        ``"a|b"`` in the file).
    share : float or None
        The target share of residents reached by the whole basket (None: reported, not
        judged).
    cite : Citation
        Where the level comes from.
    """

    name: str
    label: str
    minutes: float | None
    threshold_m: float | None
    basket: tuple[tuple[str, ...], ...]
    share: float | None
    cite: Citation

    def describe(self) -> str:
        """The level in words.

        Returns
        -------
        str
            E.g. ``within 300 m / 5 min: station, kindergarten``.
        """
        parts = [f"{self.threshold_m:g} m" if self.threshold_m is not None else ""]
        parts.append(f"{self.minutes:g} min" if self.minutes is not None else "")
        where = " / ".join(p for p in parts if p)
        return f"within {where}: {', '.join(self.requirements)}"

    @property
    def requirements(self) -> tuple[str, ...]:
        """The basket's requirement labels (``"a|b"`` for alternatives)."""
        return tuple("|".join(r) for r in self.basket)

    def distance_m(self, how: str = "standard", speed_kmh: float = WALK_SPEED_KMH) -> float:
        """The level's walking distance in metres.

        Parameters
        ----------
        how : str
            ``"standard"``: the standard's distance (``threshold_m``) when it gives one,
            else ``minutes`` at ``speed_kmh``; ``"minutes"``: ``minutes`` at
            ``speed_kmh`` when given, else ``threshold_m``.
        speed_kmh : float
            Walking speed, km/h.

        Returns
        -------
        float
            Metres.

        Raises
        ------
        ParameterError
            ``how`` is neither ``"standard"`` nor ``"minutes"``.
        """
        if how not in ("standard", "minutes"):
            msg = f"level_distance={how!r}: use 'standard' (the norm's metres) or 'minutes'."
            raise ParameterError(msg)
        walk = None if self.minutes is None else self.minutes * speed_kmh * 1000.0 / 60.0
        if how == "minutes":
            return float(walk if walk is not None else self.threshold_m)
        return float(self.threshold_m if self.threshold_m is not None else walk)


@dataclass(frozen=True)
class Preset:
    """A named set of norms (rules and life-circle levels) with their sources.

    Read one with :func:`load_preset` or :func:`from_file`; copy and change one with
    :meth:`edit` or :meth:`to_file`.

    Parameters
    ----------
    name : str
        The preset's name, e.g. ``"taizhou-2023"``.
    title : str
        Its title (English).
    source : str
        The document most rules come from.
    rules : tuple of Rule
        Per-unit norms.
    levels : tuple of Level
        Life-circle levels.
    persons_per_household : float, optional
        Household size for this place (default :data:`PERSONS_PER_HOUSEHOLD`).
    notes : tuple of str
        What a reader should know (values not verified, local choices).
    title_zh : str
        Its title in Chinese.
    types : mapping of str to FacilityType
        Facility types this preset adds to the package's.
    path : pathlib.Path, optional
        The file it was read from.
    """

    name: str
    title: str
    source: str
    rules: tuple[Rule, ...] = ()
    levels: tuple[Level, ...] = ()
    persons_per_household: float | None = None
    notes: tuple[str, ...] = ()
    title_zh: str = ""
    types: Mapping[str, FacilityType] = field(default_factory=dict)
    path: Path | None = None

    @property
    def known_types(self) -> dict[str, FacilityType]:
        """The package's facility types plus those this preset adds."""
        return {**facility_types(), **self.types}

    @property
    def household_size(self) -> float:
        """Persons per household of this preset (default :data:`PERSONS_PER_HOUSEHOLD`)."""
        return self.persons_per_household or PERSONS_PER_HOUSEHOLD

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id.

        Parameters
        ----------
        rule_id : str
            The rule's id.

        Returns
        -------
        Rule
            The rule.

        Raises
        ------
        ParameterError
            No rule with that id (with a "did you mean").
        """
        for r in self.rules:
            if r.id == rule_id:
                return r
        msg = f"Preset {self.name!r} has no rule {rule_id!r}{_did_you_mean(rule_id, self._ids())}."
        raise ParameterError(msg)

    def _ids(self) -> list[str]:
        return [r.id for r in self.rules] + [lv.name for lv in self.levels]

    def table(self) -> pd.DataFrame:
        """One row per rule and level: what it checks, its values and its citation.

        Returns
        -------
        pandas.DataFrame
            ``id``, ``kind``, ``unit``, ``norm`` (in words), ``source``, ``clause``,
            ``verified``, ``secondary``, ``note``.
        """
        rows = [
            {"id": r.id, "kind": r.kind, "unit": r.unit, "norm": r.describe(), **_cite(r.cite)}
            for r in self.rules
        ]
        rows += [
            {"id": lv.name, "kind": "life_circle", "unit": "demand", "norm": lv.describe()}
            | _cite(lv.cite)
            for lv in self.levels
        ]
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        """The preset as the mapping of its YAML file.

        Returns
        -------
        dict
            What :func:`from_dict` reads back.
        """
        out: dict[str, Any] = {"name": self.name, "title": self.title}
        if self.title_zh:
            out["title_zh"] = self.title_zh
        out["source"] = self.source
        if self.persons_per_household is not None:
            out["persons_per_household"] = self.persons_per_household
        if self.notes:
            out["notes"] = list(self.notes)
        if self.types:
            out["types"] = {k: {"en": t.en, "zh": t.zh} for k, t in self.types.items()}
        if self.levels:
            out["levels"] = [_level_dict(lv) for lv in self.levels]
        if self.rules:
            out["rules"] = [_rule_dict(r, self.source) for r in self.rules]
        return out

    @shared_doc
    def to_file(self, path: str | os.PathLike, *, force: bool = False) -> Path:
        """Write the preset as YAML, to copy and edit (atomically).

        Parameters
        ----------
        path : str or os.PathLike
            The file to write.
        force : bool
            Replace an existing file.

        %(written_file)s
        """
        from .output import atomic_write_text

        header = (
            f"# Norm preset {self.name!r}, written by siting. Edit the values, keep the "
            "citations honest\n# (verified: true only after reading the primary text), and "
            "load it with siting.standards.from_file(path).\n"
        )
        body = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)
        return atomic_write_text(path, header + body, force=force)

    def edit(self, item: str, **changes: Any) -> Preset:
        """A copy with one rule's (by id) or level's (by name) values changed, re-checked.

        Parameters
        ----------
        item : str
            A rule's id or a level's name.
        **changes
            The values to change, e.g. ``m2_per_100_households=25``.

        Returns
        -------
        Preset
            The changed copy (this preset is unchanged).

        Raises
        ------
        ParameterError
            No rule or level ``item``.
        DataError
            A changed value that is not valid (the message names the field).

        Examples
        --------
        >>> from siting import standards
        >>> p = standards.load_preset("national-2011")
        >>> mine = p.edit("floor-area-per-100-households", m2_per_100_households=25)
        >>> mine.rule("floor-area-per-100-households").params["m2_per_100_households"]
        25.0
        """
        data = self.to_dict()
        for section, key in (("rules", "id"), ("levels", "name")):
            for row in data.get(section, []):
                if row[key] == item:
                    row.update(changes)
                    return _parse_preset(data, f"preset {self.name!r} (edited)", self.path)
        msg = (
            f"Preset {self.name!r} has no rule or level {item!r}{_did_you_mean(item, self._ids())}."
        )
        raise ParameterError(msg)

    def __repr__(self) -> str:
        return (
            f"Preset({self.name!r}: {len(self.rules)} rules, {len(self.levels)} life-circle "
            f"levels; {self.title})"
        )


def _cite(c: Citation) -> dict[str, Any]:
    return {
        "source": c.source,
        "clause": c.clause,
        "verified": c.verified,
        "secondary": c.secondary,
        "note": c.note,
    }


def _cite_dict(c: Citation, default_source: str) -> dict[str, Any]:
    out = _cite(c)
    if out["source"] == default_source:
        del out["source"]
    return {k: v for k, v in out.items() if v not in ("", None) or k == "verified"}


def _rule_dict(r: Rule, default_source: str) -> dict[str, Any]:
    out: dict[str, Any] = {"id": r.id, "kind": r.kind, "unit": r.unit}
    if r.where != "all":
        out["where"] = r.where
    for k, v in r.params.items():
        if v is not None:
            out[k] = list(v) if isinstance(v, tuple) else v
    return out | _cite_dict(r.cite, default_source)


def _level_dict(lv: Level) -> dict[str, Any]:
    out: dict[str, Any] = {"name": lv.name, "label": lv.label}
    for k in ("minutes", "threshold_m", "share"):
        if getattr(lv, k) is not None:
            out[k] = getattr(lv, k)
    out["basket"] = list(lv.requirements)
    return out | _cite_dict(lv.cite, "")


# ----------------------------------------------------------------------------- loading
def presets() -> tuple[str, ...]:
    """Names of the shipped presets.

    Returns
    -------
    tuple of str
        Sorted names, e.g. ``("national-2011", ..., "taizhou-2023", ...)``.
    """
    return tuple(
        sorted(p.stem for p in NORMS_DIR.glob("*.yaml") if p.resolve() != TYPES_FILE.resolve())
    )


def load_preset(name: str | Preset) -> Preset:
    """A shipped preset by name (see :func:`presets`); a :class:`Preset` passes through.

    A name that is not a preset but an existing ``.yaml`` file is read with
    :func:`from_file`.

    Parameters
    ----------
    name : str or os.PathLike or Preset
        A shipped preset's name, a preset YAML file, or a preset.

    Returns
    -------
    Preset
        The preset.

    Raises
    ------
    ParameterError
        An unknown name (with a "did you mean" and the list of presets).
    DataError
        A preset file that is not valid.
    """
    if isinstance(name, Preset):
        return name
    if not isinstance(name, str | os.PathLike):
        msg = f"preset={name!r}: give a preset name such as 'national-2011' or a YAML path."
        raise ParameterError(msg)
    text = os.fspath(name)
    if text in presets():
        return from_file(NORMS_DIR / f"{text}.yaml")
    if text.endswith((".yaml", ".yml")) and Path(text).exists():
        return from_file(text)
    msg = (
        f"Unknown norm preset {text!r}{_did_you_mean(text, presets())}. Presets: "
        f"{', '.join(presets())}; or a path to a preset YAML file (see Preset.to_file)."
    )
    raise ParameterError(msg)


def from_file(path: str | os.PathLike) -> Preset:
    """Read a preset YAML (e.g. an edited copy of a shipped one), checking every row.

    Parameters
    ----------
    path : str or os.PathLike
        The YAML file (as :meth:`Preset.to_file` writes it).

    Returns
    -------
    Preset
        The preset, with ``path`` the file it was read from.

    Raises
    ------
    DataError
        A missing file, YAML that does not parse, or a row that is not valid (the
        message names the row and the field).
    """
    p = Path(path)
    if not p.exists():
        msg = f"{p}: no such preset file."
        raise DataError(msg)
    return _parse_preset(_read_yaml(p), str(p), p)


def from_dict(data: Mapping[str, Any], *, source: str = "preset mapping") -> Preset:
    """A preset from a mapping shaped like a preset file (see :meth:`Preset.to_dict`).

    Parameters
    ----------
    data : mapping
        The preset's keys (``name``, ``title``, ``source``, ``rules``, ``levels``, ...).
    source : str
        What to call it in messages.

    Returns
    -------
    Preset
        The preset, every row checked.

    Raises
    ------
    DataError
        Not a mapping, or a row that is not valid.
    """
    if not isinstance(data, Mapping):
        msg = f"{source}: a preset is a mapping of keys ({', '.join(_PRESET_KEYS)})."
        raise DataError(msg)
    return _parse_preset(data, source)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        msg = f"{path}: not a readable YAML file ({exc})."
        raise DataError(msg) from exc
    if not isinstance(data, dict):
        msg = f"{path}: a norm file is a mapping of keys ({', '.join(_PRESET_KEYS)})."
        raise DataError(msg)
    return data


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Reader:
    """Checks of one preset file's values, with messages naming the file and the row."""

    def __init__(self, source: str) -> None:
        self.source = source
        #: the preset's own source and its facility types (with the shipped ones), read
        #: from the top level before its rules and levels
        self.default_source = ""
        self.known: Mapping[str, FacilityType] = {}

    def fail(self, where: str, text: str) -> NoReturn:
        msg = f"{self.source}: {where}: {text}"
        raise DataError(msg)

    def keys(self, where: str, row: Mapping[str, Any], allowed: Iterable[str]) -> None:
        allowed = list(allowed)
        unknown = [str(k) for k in row if k not in allowed]
        if unknown:
            hints = "".join(_did_you_mean(k, allowed) for k in unknown)
            text = f"unknown key(s) {', '.join(unknown)}{hints}; allowed: {', '.join(allowed)}"
            self.fail(where, text)

    def text(self, where: str, value: Any, *, required: bool = True) -> str:
        if value is None and not required:
            return ""
        if not isinstance(value, str | int | float) or isinstance(value, bool) or not str(value):
            self.fail(where, f"{value!r} is not a text value")
        return str(value)

    def number(self, where: str, value: Any, *, minimum: float = 0.0, maximum=None) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or value < minimum:
            self.fail(where, f"{value!r} is not a number >= {minimum:g}")
        if maximum is not None and value > maximum:
            self.fail(where, f"{value!r} is more than {maximum:g}")
        return float(value)

    def choice(self, where: str, value: Any, choices: Iterable[str]) -> str:
        choices = list(choices)
        if value not in choices:
            hint = _did_you_mean(str(value), choices)
            self.fail(where, f"{value!r} is not one of {', '.join(choices)}{hint}")
        return value

    def types(self, where: str, value: Any) -> tuple[str, ...]:
        known = self.known
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not items:
            self.fail(where, f"{value!r} is not a list of facility types")
        out = []
        for item in items:
            for t in str(item).split("|"):
                if t not in known:
                    text = (
                        f"unknown facility type {t!r}{_did_you_mean(t, known)}; known: "
                        f"{', '.join(known)} (add new ones under the preset's 'types')"
                    )
                    self.fail(where, text)
            out.append(str(item))
        return tuple(out)

    def named(self, where: str, row: Mapping[str, Any], key: str) -> tuple[str, str]:
        """The row's name (its ``key``) and ``where`` with the name, for the messages."""
        name = self.text(f"{where}.{key}", row.get(key))
        return name, f"{where} ({name})"

    def citation(self, where: str, row: Mapping[str, Any]) -> Citation:
        verified = row.get("verified", False)
        if not isinstance(verified, bool):
            self.fail(f"{where}.verified", f"{verified!r} is not true or false")
        source = self.text(f"{where}.source", row.get("source") or self.default_source)
        return Citation(
            source=source,
            clause=self.text(f"{where}.clause", row.get("clause"), required=False),
            verified=verified,
            secondary=self.text(f"{where}.secondary", row.get("secondary"), required=False),
            note=self.text(f"{where}.note", row.get("note"), required=False),
        )


def _parse_preset(data: Mapping[str, Any], source: str, path: Path | None = None) -> Preset:
    r = _Reader(source)
    r.keys("top level", data, _PRESET_KEYS)
    name = r.text("name", data.get("name"))
    preset_source = r.text("source", data.get("source"))
    extra = _parse_types(data.get("types") or {}, source)
    r.default_source = preset_source
    r.known = {**facility_types(), **extra}
    rules = tuple(
        _parse_rule(r, f"rules[{i}]", row)
        for i, row in enumerate(_rows(r, "rules", data.get("rules")))
    )
    levels = tuple(
        _parse_level(r, f"levels[{i}]", row)
        for i, row in enumerate(_rows(r, "levels", data.get("levels")))
    )
    ids = [x.id for x in rules] + [lv.name for lv in levels]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        r.fail("rules/levels", f"ids must be unique; repeated: {', '.join(dup)}")
    if not ids:
        r.fail("top level", "a preset needs at least one rule or life-circle level")
    pph = data.get("persons_per_household")
    notes = data.get("notes") or []
    return Preset(
        name=name,
        title=r.text("title", data.get("title") or name),
        source=preset_source,
        rules=rules,
        levels=levels,
        persons_per_household=None
        if pph is None
        else r.number("persons_per_household", pph, minimum=1e-9),
        notes=tuple(r.text("notes", n) for n in (notes if isinstance(notes, list) else [notes])),
        title_zh=r.text("title_zh", data.get("title_zh"), required=False),
        types=extra,
        path=path,
    )


def _rows(r: _Reader, section: str, value: Any) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        r.fail(section, "must be a list of mappings (one per row)")
    return value


def _parse_rule(r: _Reader, where: str, row: Mapping[str, Any]) -> Rule:
    rid, where = r.named(where, row, "id")
    kind = r.choice(f"{where}.kind", row.get("kind"), RULE_KINDS)
    spec = RULE_KINDS[kind]
    r.keys(where, row, (*_RULE_KEYS, *spec))
    params: dict[str, Any] = {}
    for key, default in spec.items():
        value = row.get(key)
        if value is None:
            if default is _REQUIRED:
                r.fail(where, f"a {kind} rule needs '{key}'")
            params[key] = default
        elif key == "types":
            params[key] = r.types(f"{where}.types", value)
        elif key == "share_of_units":
            params[key] = r.number(f"{where}.{key}", value, minimum=1e-9, maximum=1.0)
        else:
            params[key] = r.number(f"{where}.{key}", value)
    if kind == "facility_count":
        params["min_count"] = int(params["min_count"])
    if (
        kind == "unit_size"
        and params["min_households"] is None
        and params["max_households"] is None
    ):
        r.fail(where, "a unit_size rule needs min_households and/or max_households")
    return Rule(
        id=rid,
        kind=kind,
        unit=r.choice(f"{where}.unit", row.get("unit", "community"), UNIT_LEVELS),
        where=r.choice(f"{where}.where", row.get("where", "all"), WHERE),
        params=params,
        cite=r.citation(where, row),
    )


def _parse_level(r: _Reader, where: str, row: Mapping[str, Any]) -> Level:
    name, where = r.named(where, row, "name")
    r.keys(where, row, _LEVEL_KEYS)
    minutes = row.get("minutes")
    metres = row.get("threshold_m")
    if minutes is None and metres is None:
        r.fail(where, "a level needs 'minutes' and/or 'threshold_m' (walking distance)")
    basket = r.types(f"{where}.basket", row.get("basket"))
    share = row.get("share")
    return Level(
        name=name,
        label=r.text(f"{where}.label", row.get("label") or name),
        minutes=None if minutes is None else r.number(f"{where}.minutes", minutes, minimum=1e-9),
        threshold_m=None
        if metres is None
        else r.number(f"{where}.threshold_m", metres, minimum=1e-9),
        basket=tuple(tuple(item.split("|")) for item in basket),
        share=None
        if share is None
        else r.number(f"{where}.share", share, minimum=0.0, maximum=1.0),
        cite=r.citation(where, row),
    )


def describe_presets() -> pd.DataFrame:
    """Every shipped preset's rules and levels with their citations (one table).

    Returns
    -------
    pandas.DataFrame
        :meth:`Preset.table` of each preset, with a first column ``preset``.
    """
    frames = [load_preset(n).table().assign(preset=n) for n in presets()]
    table = pd.concat(frames, ignore_index=True)
    return table[["preset", *[c for c in table.columns if c != "preset"]]]
