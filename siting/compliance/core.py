"""The norm audit: does each community and sub-district meet the norm, and by how much not?

:func:`audit` reads a norm preset (:mod:`siting.standards`), facilities with a ``type``
(and ``floor_area_m2`` where known), the demand (persons, optionally households) and the
units (communities, sub-districts, districts), and returns an :class:`Audit`:

* ``compliance``: one row per rule and unit: required, provided, shortfall, pass/fail;
* ``by_unit``: one row per unit: population, households, every rule's status, the
  floor-area deficit, staffing, the life-circle shares; ``units`` adds the outlines;
* ``life_circle``: the share of persons (and buildings) reaching each required type
  within its level's walk, and the complete baskets;
* ``cells``: per demand point, the walk to each type and the requirements met.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._docstrings import shared_doc
from ..bundle import CSV_ENCODING
from ..crs import WGS84
from ..errors import DataError, MissingColumnError, ParameterError
from ..io._tables import Source, numeric_values
from ..measure import DEFAULT_SPEED_KMH, Coverage, coverage, walk_metres
from ..network.graph import Network
from ..network.snap import MAX_SNAP_M
from ..standards import Preset, _positive, check_types, classify_osm, load_preset
from . import reach, rules
from .units import PLURAL, UNIT_COLUMNS, UnitLevel, prepare_level, unit_table

log = logging.getLogger(__name__)

MISSING_FLOOR_AREA = ("unknown", "error")
#: OSM tag columns that let facilities be typed without a ``type`` column
OSM_TAG_COLUMNS = ("amenity", "shop", "healthcare", "social_facility", "leisure")


@dataclass(eq=False)
class _Inputs:
    """Everything of an audit except the facilities (kept to re-run with added sites)."""

    preset: Preset
    demand: gpd.GeoDataFrame  # metric CRS
    households: np.ndarray | None
    units: dict[str, UnitLevel]
    tables: dict[str, pd.DataFrame]
    persons_per_household: float
    distance_m: dict[str, float]
    options: dict[str, Any]
    coverage: Coverage | None = None

    @property
    def population(self) -> np.ndarray:
        return self.demand["population"].to_numpy(float)


@dataclass(eq=False)
class Audit:
    """The result of :func:`siting.audit`: every rule of the norms, per unit.

    Made by :func:`siting.audit`, not by hand. The tables: :attr:`compliance` (one row
    per rule and unit), :attr:`by_unit` (one row per unit), :attr:`units` (with the
    outlines), :attr:`life_circle` and :attr:`cells` (per demand point).

    Parameters
    ----------
    inputs : object
        The demand (metric CRS), the units, the preset and the options: everything but
        the facilities, kept to audit again with added sites (:meth:`with_facilities`).
    facilities : geopandas.GeoDataFrame
        The facilities audited (metric CRS) with ``type``, ``floor_area_m2`` (m²),
        ``name`` and the unit each belongs to.
    walk : scipy.sparse.csr_matrix
        ``(n_facilities, n_demand)`` walking metres within the largest level's distance.
    compliance : pandas.DataFrame
        One row per rule and unit: ``rule``, ``unit_level``, ``unit``, ``required``,
        ``provided``, ``shortfall``, ``status`` (``pass`` / ``fail`` / ``unknown``),
        the norm's source.
    life_circle : pandas.DataFrame
        Per level, required type and unit: the share of persons (and buildings) that
        reach the type within the level's walk, and the complete baskets.
    missing_floor_area : pandas.DataFrame
        The facilities without a floor area, whose rules are ``unknown``.
    _lc : object, optional
        The life-circle reach per demand point (internal; gives :attr:`cells`).

    See Also
    --------
    siting.audit : Make one.
    siting.standards.load_preset : The norms.
    """

    inputs: _Inputs
    facilities: gpd.GeoDataFrame  # metric CRS; type, floor_area_m2, name, unit columns
    walk: sp.csr_matrix  # (n_facilities, n_demand) walking metres within the limit
    compliance: pd.DataFrame
    life_circle: pd.DataFrame
    missing_floor_area: pd.DataFrame
    _lc: reach.LifeCircles | None = field(default=None, repr=False)

    @property
    def preset(self) -> Preset:
        """The norms audited."""
        return self.inputs.preset

    @cached_property
    def by_unit(self) -> pd.DataFrame:
        """One row per unit (index ``unit_level``, ``unit``): figures and every rule's status.

        Columns: ``population``, ``demand_points``, ``households`` and
        ``households_source``, ``staff``, ``urban``, ``facilities`` (text: count per
        type), ``status`` (``fail`` if any rule fails, else ``unknown`` if any is unknown,
        else ``pass``), ``rules_failed``, ``rules_unknown``, ``failed`` (rule ids),
        ``shortfall_text``; the first floor-area rule's ``floor_area_required_m2``,
        ``floor_area_provided_m2``, ``floor_area_deficit_m2``; the first staffing rule's
        ``staff_required``; ``rule <id>`` (status of each rule) and ``complete <level>
        share`` (persons with the level's whole basket within reach).
        """
        return _by_unit(self)

    @property
    def units(self) -> gpd.GeoDataFrame:
        """:attr:`by_unit` with each unit's outline (WGS84): the compliance map layer.

        Units given as a demand column get the convex hull of their demand points.
        """
        frames = []
        for level, u in self.inputs.units.items():
            rows = self.by_unit.loc[level].reindex(u.names)
            frames.append(
                gpd.GeoDataFrame(
                    rows.reset_index().assign(unit_level=level, attribution=u.attribution),
                    geometry=np.asarray(u.geometry.values),
                    crs=WGS84,
                )
            )
        if not frames:
            return gpd.GeoDataFrame({"unit_level": [], "unit": []}, geometry=[], crs=WGS84)
        out = pd.concat(frames, ignore_index=True)
        first = ["unit_level", "unit", "status", "shortfall_text"]
        return gpd.GeoDataFrame(
            out[first + [c for c in out.columns if c not in first]], geometry="geometry", crs=WGS84
        )

    @cached_property
    def cells(self) -> gpd.GeoDataFrame:
        """Per demand point (WGS84): population, its units, walk to each basket type,
        requirements met per level and the complete baskets."""
        d = self.inputs.demand
        out = gpd.GeoDataFrame(
            {"population": d["population"].to_numpy(float)}, geometry=d.geometry.values, crs=d.crs
        )
        for level, u in self.inputs.units.items():
            out[level] = np.where(u.demand_code >= 0, u.names[u.demand_code.clip(0)], None)
        if self._lc is not None:
            extra = reach.cell_columns(self._lc, len(d))
            out = pd.concat([out, extra.set_index(out.index)], axis=1)
        return out.to_crs(WGS84)

    def summary(self) -> dict[str, Any]:
        """Key figures: preset, rule outcomes, units, life-circle shares, data gaps.

        Returns
        -------
        dict
            ``preset``, ``title``, ``persons_per_household``, ``level_distance`` and
            ``level_distance_m`` (metres per level), ``units`` (count per level),
            ``attribution``, ``facilities``, ``facilities_missing_floor_area``,
            ``rules``, ``rules_failed`` (rule ids), ``unit_rows`` (rows per status),
            ``complete_share`` (share of persons with the whole basket, per level) and
            ``population`` (persons).
        """
        c = self.compliance
        per_unit = c[~c["unit"].astype(str).str.startswith("(")]
        total = self.life_circle[self.life_circle["unit_level"] == "total"]
        complete = total[total["requirement"].isin([reach.COMPLETE, reach.COMPLETE_ALL])]
        return {
            "preset": self.preset.name,
            "title": self.preset.title,
            "persons_per_household": self.inputs.persons_per_household,
            "level_distance": self.inputs.options["level_distance"],
            "level_distance_m": self.inputs.distance_m,
            "units": {k: int(u.n) for k, u in self.inputs.units.items()},
            "attribution": {k: u.attribution for k, u in self.inputs.units.items()},
            "facilities": len(self.facilities),
            "facilities_missing_floor_area": len(self.missing_floor_area),
            "rules": len(self.preset.rules),
            "rules_failed": sorted(set(c.loc[c["status"] == "fail", "rule"])),
            "unit_rows": per_unit["status"].value_counts().to_dict(),
            "complete_share": {
                lv: float(s) for lv, s in zip(complete["level"], complete["share"], strict=True)
            },
            "population": float(self.inputs.population.sum()),
        }

    def __repr__(self) -> str:
        s = self.summary()
        rows = ", ".join(f"{v} {k}" for k, v in sorted(s["unit_rows"].items()))
        return (
            f"Audit({s['preset']}: {s['facilities']} facilities, units {s['units']}; "
            f"unit rows: {rows or 'none'}; rules failing: {len(s['rules_failed'])})"
        )

    def explore(self, *, basemap: str = "osm", lang: str = "en", **kwargs: Any):
        """Map of the audit: units coloured by the norms they meet, and the facilities.

        Each unit's shortfall is in its popup.

        Parameters
        ----------
        basemap : str
            ``"osm"``, ``"amap"``, ``"amap-satellite"``, ``"tianditu"`` or ``"none"``.
        lang : str
            ``"en"`` or ``"zh"``.
        **kwargs
            ``assets``, ``facilities``, ``title`` and :class:`folium.Map` options: see
            :func:`siting.maps.audit_map`.

        Returns
        -------
        siting.maps.SitingMap
            A :class:`folium.Map` that opens with no network.
        """
        from ..maps import audit_map

        return audit_map(self, basemap=basemap, lang=lang, **kwargs)

    # ------------------------------------------------------------------ planning / files
    def plan(self, coverage: Coverage | None = None, **kwargs: Any):
        """New stations that close the audit's deficits, then reach a coverage target.

        Parameters
        ----------
        coverage : Coverage, optional
            A coverage with candidate sites (the audit's own demand and facilities as
            existing sites).
        **kwargs
            ``station_type``, ``floor_area_m2``, ``coverage_target``, ``minutes``,
            ``unit``, ``by``, ``time_limit`` and :func:`siting.solve` options: see
            :func:`siting.compliance.plan_from_audit`.

        Returns
        -------
        siting.compliance.AuditPlan
            The new stations and the audit before → after.
        """
        from .plan import plan_from_audit

        return plan_from_audit(self, coverage, **kwargs)

    def with_facilities(self, added: gpd.GeoDataFrame, walk: sp.csr_matrix) -> Audit:
        """The same audit with more facilities (e.g. a plan's new sites).

        Parameters
        ----------
        added : geopandas.GeoDataFrame
            The new facilities (metric CRS) with ``type`` and ``floor_area_m2`` (m²).
        walk : scipy.sparse.csr_matrix
            ``(len(added), n_demand)`` walking metres from each to the demand points.

        Returns
        -------
        Audit
            The audit of the facilities and ``added`` together.
        """
        fac = pd.concat(
            [self.facilities[added.columns.intersection(self.facilities.columns)], added],
            ignore_index=True,
        )
        fac = gpd.GeoDataFrame(fac, geometry="geometry", crs=self.facilities.crs)
        return _evaluate(self.inputs, fac, sp.vstack([self.walk, walk]).tocsr(), quiet=True)

    @shared_doc
    def to_file(
        self,
        directory: str | os.PathLike,
        *,
        force: bool = False,
        cells: bool = False,
        map_html: bool = True,
        basemap: str | None = None,
        lang: str | None = None,
        assets: str | None = None,
        plan: Any = None,
    ) -> dict[str, Path]:
        """Write the audit's folder ``directory`` as a whole (like :meth:`Plan.to_file`).

        ``compliance.csv``, ``by_unit.csv``, ``life_circle.csv`` (UTF-8 with BOM, read by
        Excel on Chinese Windows), ``units.gpkg`` (layers ``units``, ``facilities`` and,
        with ``cells=True``, ``cells``), ``audit.json``, ``compliance.xlsx`` and, with
        ``map_html``, ``compliance-map.html`` and ``compliance-report.html`` (``basemap``,
        ``lang``, ``assets``); see :mod:`siting.compliance.files`. The folder is staged
        in a hidden sibling and renamed into place, so an interrupted write leaves
        nothing.

        Parameters
        ----------
        directory : str or os.PathLike
            The folder to write.
        force : bool
            Replace an existing folder.
        cells : bool
            Add the per-demand-point layer ``cells`` to ``units.gpkg`` (large).
        map_html : bool
            Also write the compliance map and report.
        basemap, lang, assets : str, optional
            Map and report options, as for :meth:`explore`.
        plan : siting.compliance.AuditPlan, optional
            A plan from this audit (:meth:`plan`), whose files and sheets are added.

        %(written_folder)s
        """
        from .files import write_audit_bundle

        options = {"basemap": basemap, "lang": lang, "assets": assets}
        return write_audit_bundle(
            self,
            directory,
            plan=plan,
            force=force,
            cells=cells,
            map_html=map_html,
            page_options=options,
        )


# ----------------------------------------------------------------------------- entry point
def audit(
    cov_or_network: Coverage | Network | None,
    demand: gpd.GeoDataFrame | None = None,
    facilities: gpd.GeoDataFrame | None = None,
    *,
    preset: str | Preset = "national-2011",
    communities: gpd.GeoDataFrame | str | None = None,
    subdistricts: gpd.GeoDataFrame | str | None = None,
    districts: gpd.GeoDataFrame | str | None = None,
    persons_per_household: float | None = None,
    level_distance: str = "standard",
    attribution: str | None = None,
    missing_floor_area: str = "unknown",
    speed_kmh: float = DEFAULT_SPEED_KMH,
    max_snap_m: float = MAX_SNAP_M,
) -> Audit:
    """Audit demand and facilities against a norm preset, per community and sub-district.

    Parameters
    ----------
    cov_or_network
        A :class:`~siting.Coverage` (its existing sites are the facilities), a walking
        :class:`~siting.Network` (distances are computed once, up to the largest level),
        or ``None`` (straight-line distances, or none when no rule needs a walk).
    demand
        Points with ``population`` (persons) and/or ``households``; optional
        ``building`` (each point a building: building shares are reported). Default:
        the coverage's demand.
    facilities
        Existing facilities with ``type`` (a key of
        :func:`siting.standards.facility_types` or its Chinese name) or OSM tags
        (``amenity``, ``shop``, ... as read by :func:`siting.facilities_from_osm`),
        and ``floor_area_m2`` where known (missing = unknown, never zero). Default: the
        coverage's existing sites.
    preset
        A preset name (:func:`siting.standards.presets`), a YAML path or a
        :class:`~siting.standards.Preset`.
    communities, subdistricts, districts
        Unit polygons (GeoDataFrame, any CRS; optional ``population``, ``households``,
        ``staff``, ``urban`` columns) or the name of a demand column.
    persons_per_household
        Household size for households = population ÷ size (default: the preset's, else
        2.62, census 2020).
    level_distance
        ``"standard"``: each life-circle level's distance in metres as the standard gives
        it (e.g. 300 m for 5 minutes); ``"minutes"``: its minutes at ``speed_kmh``.
    attribution
        How facilities join units: ``"containment"`` (default for polygons) or
        ``"walk"`` (the unit of the nearest demand point; the only way for columns).
    missing_floor_area
        ``"unknown"`` (default: rules such facilities could decide are ``unknown``,
        listed in :attr:`Audit.missing_floor_area`) or ``"error"``.
    speed_kmh, max_snap_m
        Walking speed (km/h) and the largest access walk to the network (metres), when
        the distances are computed here.

    Returns
    -------
    Audit
        The compliance table per rule and unit, the table per unit, the life circles.

    Raises
    ------
    ParameterError
        An unknown option value, no demand, or facilities that do not match the
        coverage's existing sites.
    MissingColumnError
        Demand with neither ``population`` nor ``households``; facilities with neither
        ``type`` nor OSM tags.
    DataError
        An unknown facility type or a bad value (the message names the row), or, with
        ``missing_floor_area="error"``, a facility without a floor area.
    NetworkError
        Demand or facilities away from the network.

    Examples
    --------
    >>> audit = st.audit(net, demand, facilities, preset="taizhou-2023",
    ...                  communities="community.geojson")  # doctest: +SKIP
    >>> audit.by_unit[["status", "floor_area_deficit_m2"]]  # doctest: +SKIP
    >>> audit.to_file("out/audit")  # compliance.csv, by_unit.csv, map, report  # doctest: +SKIP
    """
    preset = load_preset(preset)
    pph = _household_size(persons_per_household, preset)
    if missing_floor_area not in MISSING_FLOOR_AREA:
        msg = f"missing_floor_area={missing_floor_area!r}: use 'unknown' or 'error'."
        raise ParameterError(msg)
    distance_m = {lv.name: lv.distance_m(level_distance, speed_kmh) for lv in preset.levels}
    specs = {"community": communities, "subdistrict": subdistricts, "district": districts}
    walk_needed = bool(distance_m) or _walk_attribution(specs, attribution)
    if isinstance(cov_or_network, Coverage):
        cov = cov_or_network
        for metres in distance_m.values():
            cov.threshold_m(metres=metres)  # beyond the computed limit: a clear error
        fac, walk = _from_coverage(cov, facilities, preset)
        demand_m = cov.demand
    else:
        demand_in = _with_population(demand, pph)
        fac_in = typed_facilities(facilities, preset, "facilities")
        limit = max(distance_m.values(), default=walk_metres(15, speed_kmh))
        cov = None
        if walk_needed and len(fac_in):
            cov = _measure(cov_or_network, demand_in, fac_in, limit, speed_kmh, max_snap_m)
            fac, walk = _from_coverage(cov, None, preset)
            demand_m = cov.demand
        else:
            demand_m, fac = _metric(cov_or_network, demand_in, fac_in)
            walk = sp.csr_matrix((len(fac), len(demand_m)))
    households = _households(demand_m)
    units = {
        level: u
        for level, spec in specs.items()
        if (u := prepare_level(level, spec, demand_m, attribution)) is not None
    }
    pop = demand_m["population"].to_numpy(float)
    tables = {k: unit_table(u, pop, households, pph) for k, u in units.items()}
    options = {
        "level_distance": level_distance,
        "speed_kmh": speed_kmh,
        "missing_floor_area": missing_floor_area,
    }
    inputs = _Inputs(preset, demand_m, households, units, tables, pph, distance_m, options, cov)
    return _evaluate(inputs, fac, walk)


def _household_size(value: float | None, preset: Preset) -> float:
    pph = preset.household_size if value is None else value
    _positive("persons_per_household", pph)
    return float(pph)


def _walk_attribution(specs: dict[str, Any], attribution: str | None) -> bool:
    given = [s for s in specs.values() if s is not None]
    return attribution == "walk" or any(isinstance(s, str) for s in given)


def _with_population(demand: gpd.GeoDataFrame | None, pph: float) -> gpd.GeoDataFrame:
    """The demand with ``population``; from ``households`` × size when only that is given."""
    if not isinstance(demand, gpd.GeoDataFrame):
        msg = (
            "audit: give the demand (points with 'population' or 'households'), or a "
            "Coverage that holds it."
        )
        raise ParameterError(msg)
    if "population" in demand.columns:
        return demand
    if "households" not in demand.columns:
        msg = (
            "The demand has neither 'population' (persons) nor 'households' (it has "
            f"{', '.join(map(str, demand.columns))}): the audit needs one of them per point. "
            "Read it with siting.read_population(...) or add a column."
        )
        raise MissingColumnError(msg)
    demand = demand.copy()
    demand["population"] = pd.to_numeric(demand["households"], errors="coerce") * pph
    log.info("The demand has households only: population = households × %g.", pph)
    return demand


def _households(demand: gpd.GeoDataFrame) -> np.ndarray | None:
    if "households" not in demand.columns:
        return None
    return numeric_values(demand["households"], source=Source("demand"), field="households")


def typed_facilities(facilities: Any, preset: Preset, source: str) -> gpd.GeoDataFrame:
    """Facilities with a checked ``type`` and a numeric ``floor_area_m2`` (NaN: unknown).

    OSM features that no type row matches are left out; ``attrs["input_rows"]`` holds the
    input row of each facility kept.
    """
    if facilities is None or (len(facilities) == 0 and getattr(facilities, "crs", None) is None):
        facilities = gpd.GeoDataFrame({"type": []}, geometry=[], crs=WGS84)
    if not isinstance(facilities, gpd.GeoDataFrame):
        msg = f"{source}: expected a GeoDataFrame of points, not {type(facilities).__name__}."
        raise ParameterError(msg)
    fac = facilities.reset_index(drop=True)
    known = preset.known_types
    if "type" in fac.columns:
        fac["type"] = check_types(fac["type"], known, source=source)
    elif any(c in fac.columns for c in OSM_TAG_COLUMNS):
        fac["type"] = classify_osm(fac)
        untyped = fac["type"].isna()
        if untyped.any():
            log.info(
                "%s: %d of %d OSM features match no facility type row; they are left out.",
                source,
                int(untyped.sum()),
                len(fac),
            )
            fac = fac[~untyped]
    else:
        msg = (
            f"{source}: no 'type' column and no OSM tags ({', '.join(OSM_TAG_COLUMNS)}). Add a "
            f"'type' column with one of: {', '.join(known)}."
        )
        raise MissingColumnError(msg)
    if "floor_area_m2" in fac.columns:  # empty cells: unknown
        fac["floor_area_m2"] = numeric_values(
            fac["floor_area_m2"], source=Source(source), field="floor_area_m2", unit="m²",
            allow_missing=True,
        )  # fmt: skip
    else:
        fac["floor_area_m2"] = np.nan
    generated = pd.Series([f"facility {i + 1}" for i in range(len(fac))], index=fac.index)
    names = fac["name"].astype("string").str.strip() if "name" in fac.columns else generated
    fac["name"] = names.mask(names.isna() | (names == ""), generated).astype(str)
    rows = fac.index.to_numpy()
    fac = fac.reset_index(drop=True)
    fac.attrs["input_rows"] = rows
    return fac


def _from_coverage(
    cov: Coverage, facilities: gpd.GeoDataFrame | None, preset: Preset
) -> tuple[gpd.GeoDataFrame, sp.csr_matrix]:
    """The typed facilities and their walk rows from a coverage's existing sites."""
    rows = np.flatnonzero(cov.existing)
    sites = cov.sites.iloc[rows].reset_index(drop=True)
    if facilities is not None:
        if len(facilities) != len(rows):
            msg = (
                f"facilities: {len(facilities)} rows, but the coverage has {len(rows)} existing "
                "sites; pass the same facilities (same order) or leave facilities=None."
            )
            raise ParameterError(msg)
        extra = facilities.drop(columns=facilities.geometry.name).reset_index(drop=True)
        sites = sites.drop(columns=[c for c in extra.columns if c in sites.columns])
        sites = gpd.GeoDataFrame(pd.concat([sites, extra], axis=1), geometry="geometry")
    fac = typed_facilities(sites, preset, "facilities (the coverage's existing sites)")
    return fac, cov.distance[rows[fac.attrs["input_rows"]]].tocsr()


def _measure(network, demand, fac, limit_m, speed_kmh, max_snap_m) -> Coverage:
    mode = "circle" if network is None else "network"
    return coverage(
        network,
        demand,
        fac,
        None,
        threshold_m=limit_m,
        speed_kmh=speed_kmh,
        mode=mode,
        max_snap_m=max_snap_m,
    )


def _metric(network, demand, fac) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Demand and facilities in a metric CRS without measuring any distance."""
    from ..crs import metric_crs
    from ..measure import _points, _prepare_demand

    crs = network.crs if network is not None else metric_crs(demand)
    demand_m = _prepare_demand(demand, crs)
    fac_m = _points(fac, crs, "facilities") if len(fac) else fac.to_crs(crs)
    return demand_m, fac_m.reset_index(drop=True)


# ----------------------------------------------------------------------------- evaluation
def _evaluate(
    inputs: _Inputs, fac: gpd.GeoDataFrame, walk: sp.csr_matrix, *, quiet: bool = False
) -> Audit:
    """Every rule and level for these facilities (the units and demand stay fixed).

    ``quiet``: do not log the facilities without floor area again (a re-run).
    """
    preset = inputs.preset
    fac = fac.copy()
    fac_unit = {}
    for level, u in inputs.units.items():
        codes = u.facility_codes(fac.geometry, walk)
        fac_unit[level] = codes
        fac[level] = np.where(codes >= 0, u.names[codes.clip(0)], None)
    area_m2 = fac["floor_area_m2"].to_numpy(float)
    types = fac["type"].to_numpy(dtype=object)
    missing = _missing_floor_area(preset, fac, inputs.options["missing_floor_area"], quiet)
    facts = rules.Facts(inputs.units, inputs.tables, types, area_m2, fac_unit)
    lc, lc_table = None, pd.DataFrame(columns=list(reach.COLUMNS))
    if preset.levels:
        names = tuple(preset.known_types)
        code = pd.Series(types).map({t: i for i, t in enumerate(names)}).fillna(-1)
        lc = reach.evaluate(preset.levels, walk, code.to_numpy(np.int64), names, inputs.distance_m)
        buildings = "building" in inputs.demand.columns
        lc_table = reach.table(lc, list(inputs.units.values()), inputs.population, buildings)
    compliance = _compliance(preset, facts, lc_table)
    return Audit(inputs, fac, walk, compliance, lc_table, missing, lc)


def _missing_floor_area(
    preset: Preset, fac: gpd.GeoDataFrame, how: str, quiet: bool = False
) -> pd.DataFrame:
    """Facilities of a type some floor-area rule reads whose floor area is unknown."""
    needs = {
        t
        for r in preset.rules
        if r.kind == "floor_area" or r.params.get("min_floor_area_m2")
        for t in r.types
    }
    bad = fac["type"].isin(sorted(needs)) & fac["floor_area_m2"].isna()
    cols = ["name", "type", *[c for c in ("community", "subdistrict", "district") if c in fac]]
    missing = pd.DataFrame(fac.loc[bad, cols]).reset_index(names="facility_row")
    if len(missing):
        shown = ", ".join(
            f"{n} ({t})" for n, t in zip(missing["name"][:5], missing["type"][:5], strict=True)
        )
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        text = (
            f"{len(missing)} {'facility has' if len(missing) == 1 else 'facilities have'} no "
            f"floor area ({shown}{more}); rules they could "
            "decide are reported as 'unknown'. Add 'floor_area_m2' (m²) to the facilities."
        )
        if how == "error":
            raise DataError(text)
        (log.debug if quiet else log.warning)(text)
    return missing


_COMPLIANCE_COLUMNS = [
    "rule",
    "kind",
    *rules.COLUMNS,
    "passed",
    "attribution",
    "norm",
    "source",
    "clause",
    "verified",
]


def _compliance(preset: Preset, facts: rules.Facts, lc_table: pd.DataFrame) -> pd.DataFrame:
    """Rows of every rule, then of every life-circle level, with the norm and its source."""
    frames = []
    for rule in preset.rules:
        rows = rules.evaluate(rule, facts)
        unit = facts.units.get(rule.unit)
        rows.insert(0, "rule", rule.id)
        rows.insert(1, "kind", rule.kind)
        rows["attribution"] = unit.attribution if unit is not None else ""
        frames.append(_cited(rows, rule.describe(), rule.cite))
    level_rows = reach.compliance_rows(preset.levels, lc_table)
    for lv in preset.levels:
        rows = level_rows[level_rows["rule"] == lv.name].copy()
        rows["attribution"] = ""
        frames.append(_cited(rows, lv.describe(), lv.cite))
    if not frames:
        return pd.DataFrame(columns=_COMPLIANCE_COLUMNS)
    return pd.concat(frames, ignore_index=True)[_COMPLIANCE_COLUMNS]


def _cited(rows: pd.DataFrame, norm: str, cite) -> pd.DataFrame:
    rows["passed"] = rows["status"].map({"pass": True, "fail": False}).astype("boolean")
    rows["norm"] = norm
    rows["source"] = cite.source
    rows["clause"] = cite.clause
    rows["verified"] = cite.verified
    return rows


# ----------------------------------------------------------------------------- by unit
_SINGULAR = {
    "facilities": "facility",
    "workers": "worker",
    "households": "household",
    "communities": "community",
    "sub-districts": "sub-district",
    "districts": "district",
}


def _by_unit(a: Audit) -> pd.DataFrame:
    frames = []
    c = a.compliance
    per_unit = c[~c["unit"].astype(str).str.startswith("(")]
    for level, u in a.inputs.units.items():
        t = a.inputs.tables[level].copy()
        t["facilities"] = _type_counts(a.facilities, level, u)
        rows = per_unit[per_unit["unit_level"] == level]
        t = t.join(_rule_columns(rows), how="left")
        t = t.join(_complete_shares(a.life_circle, level), how="left")
        t.index = pd.MultiIndex.from_product([[level], t.index], names=["unit_level", "unit"])
        frames.append(t)
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames)


def _type_counts(fac: gpd.GeoDataFrame, level: str, u: UnitLevel) -> pd.Series:
    if level not in fac.columns or not len(fac):
        return pd.Series("", index=u.names)
    counts = fac.groupby([level, "type"]).size().reset_index(name="n")
    label = counts["type"].astype(str) + " " + counts["n"].astype(str)
    text = label.groupby(counts[level].to_numpy()).agg(", ".join)
    return text.reindex(u.names).fillna("")


def _rule_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """Per unit: summary status, failed rules, shortfall text, key figures, rule statuses."""
    if rows.empty:
        return pd.DataFrame()
    status = rows.pivot_table(index="unit", columns="rule", values="status", aggfunc="first")
    n_fail = (status == "fail").sum(axis=1)
    n_unknown = (status == "unknown").sum(axis=1)
    out = pd.DataFrame(index=status.index)
    out["status"] = np.where(n_fail > 0, "fail", np.where(n_unknown > 0, "unknown", "pass"))
    out["rules_failed"] = n_fail
    out["rules_unknown"] = n_unknown
    fails = rows[rows["status"] == "fail"]
    out["failed"] = fails.groupby("unit")["rule"].agg(", ".join).reindex(out.index).fillna("")
    text = pd.Series(
        [
            f"{r}: {v:,.0f} {_SINGULAR.get(m, m) if v == 1 else m} short"
            for r, v, m in zip(fails["rule"], fails["shortfall"], fails["measure"], strict=True)
        ],
        index=fails.index,
        dtype=object,
    )
    joined = text.groupby(fails["unit"].to_numpy()).agg("; ".join) if len(text) else pd.Series()
    out["shortfall_text"] = joined.reindex(out.index).fillna("")
    out = out.join(_key_figures(rows))
    status.columns = [f"rule {r}" for r in status.columns]
    return out.join(status)


def _key_figures(rows: pd.DataFrame) -> pd.DataFrame:
    """The first floor-area rule's m² and the first staffing rule's workers, per unit."""
    out = pd.DataFrame(index=rows["unit"].unique())
    area = rows[rows["kind"] == "floor_area"]
    if len(area):
        first = area[area["rule"] == area["rule"].iloc[0]].set_index("unit")
        out["floor_area_required_m2"] = first["required"]
        out["floor_area_provided_m2"] = first["provided"]
        out["floor_area_deficit_m2"] = first["shortfall"]
    staff = rows[rows["kind"].isin(["staff_households", "staff_residents"])]
    if len(staff):
        first = staff[staff["rule"] == staff["rule"].iloc[0]].set_index("unit")
        out["staff_required"] = first["required"]
    return out


def _complete_shares(lc_table: pd.DataFrame, level: str) -> pd.DataFrame:
    if lc_table.empty:
        return pd.DataFrame()
    rows = lc_table[
        (lc_table["unit_level"] == level)
        & lc_table["requirement"].isin([reach.COMPLETE, reach.COMPLETE_ALL])
    ]
    wide = rows.pivot_table(index="unit", columns="level", values="share", aggfunc="first")
    wide.columns = [
        "complete life circle share" if c == reach.ALL_LEVELS else f"complete {c} share"
        for c in wide.columns
    ]
    return wide


__all__ = ["CSV_ENCODING", "PLURAL", "UNIT_COLUMNS", "Audit", "audit"]
