"""Check a scenario's inputs without running it (``siting validate``).

Beyond the scenario file's own checks (:func:`siting.scenario.load_scenario`: keys,
values, files exist), this opens each input far enough to find the usual mistakes:

- small inputs (districts, facility and candidate tables, population tables and vector
  files) are read with the real loaders, so their columns, CRS and values are checked
  exactly as a run would;
- large inputs are only looked at: an OSM extract's header box, a saved network's node
  box, a raster's CRS and box (never the whole network or the whole grid);
- every input's extent (longitude / latitude) must overlap the network's: an extent
  that misses it usually means the wrong file, swapped coordinates or the wrong CRS.

:func:`check_inputs` returns :class:`Finding` s; none of level ``error`` means the
inputs passed.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyproj

from .errors import DataError, SitingError
from .io._pbf import protobuf_fields
from .scenario_spec import _Input, _Spec, _spec

#: an input whose extent overlaps the network's by less than this share is flagged
MIN_OVERLAP = 0.5


@dataclass(frozen=True)
class Finding:
    """One result of a check: ``level`` is ``ok``, ``warning`` or ``error``."""

    level: str
    what: str  # e.g. "population"
    text: str


Box = tuple[float, float, float, float]  # min lon, min lat, max lon, max lat (degrees)


def check_inputs(cfg: Mapping[str, Any]) -> list[Finding]:
    """Open each input of a (loaded) scenario just enough to check it; see the module."""
    spec = _spec(cfg)
    findings: list[Finding] = []
    boxes: dict[str, Box | None] = {}
    for what, inp, look in _inputs(spec):
        try:
            box, text = look(inp)
        except SitingError as exc:
            findings.append(Finding("error", what, str(exc)))
            continue
        except Exception as exc:  # a library's own error on a malformed file
            text = f"{inp.path}: could not be read ({type(exc).__name__}: {exc})."
            findings.append(Finding("error", what, text))
            continue
        boxes[what] = box
        findings.append(Finding("ok", what, text))
    findings += _overlaps(boxes)
    findings += _output_findings(spec)
    findings += _audit_dir_findings(spec)
    return findings


def _writable_finding(what: str, where: object, check: Callable[[], None], run: str) -> Finding:
    """``check()`` as a finding: an output that exists is a warning (``run`` needs
    --force), one that cannot be written an error."""
    from .errors import OutputExistsError, OutputPathError

    try:
        check()
    except OutputExistsError as exc:
        return Finding("warning", what, f"{exc} ({run} needs --force)")
    except OutputPathError as exc:
        return Finding("error", what, str(exc))
    return Finding("ok", what, f"{where} can be written")


def _output_findings(spec: _Spec) -> list[Finding]:
    """The run's outputs (``output.dir``, ``output.map``)."""
    from .scenario import check_outputs

    if spec.output_dir is None and spec.output_map is None:
        return [Finding("warning", "output", "no output.dir or output.map: a run writes nothing")]
    where = spec.output_dir or spec.output_map
    return [_writable_finding("output", where, lambda: check_outputs(spec, force=False), "a run")]


def _audit_dir_findings(spec: _Spec) -> list[Finding]:
    """The folder ``siting audit`` writes (``audit.dir``), when the scenario has one."""
    from .output import check_output_dir

    folder = getattr(spec.audit, "dir", None)
    if folder is None:
        return []
    check = partial(check_output_dir, folder, force=False)
    return [_writable_finding("audit.dir", folder, check, "'siting audit'")]


def _inputs(spec: _Spec) -> list[tuple[str, _Input, Callable[[_Input], tuple[Box | None, str]]]]:
    out: list[tuple[str, _Input, Callable[[_Input], tuple[Box | None, str]]]] = [
        ("network", spec.network, _look_network)
    ]
    if spec.districts is not None:
        out.append(("districts", spec.districts, _load_districts))
    out.append(("population", spec.population, _look_population))
    if spec.existing is not None:
        look = _look_pbf if spec.existing.kind == "osm" else _load_sites("existing")
        out.append(("existing", spec.existing, look))
    if spec.candidates.kind == "file":
        out.append(("candidates", spec.candidates, _load_sites("candidates")))
    return out


# ----------------------------------------------------------------------------- looks
def _look_network(inp: _Input) -> tuple[Box | None, str]:
    path = inp.path
    assert path is not None
    suffix = "".join(path.suffixes[-2:]).lower()
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as z:
            import json

            meta = json.loads(z["meta"].tobytes().decode())
            x, y = z["node_x"], z["node_y"]
        if len(x) == 0:
            msg = f"{path}: the saved network has no nodes."
            raise DataError(msg)
        crs = pyproj.CRS.from_wkt(meta["crs"])
        box = _to_lonlat(crs, (x.min(), y.min(), x.max(), y.max()))
        text = f"{path.name}: saved network, {len(x):,} nodes, {crs.to_string()}, {_fmt(box)}"
        return box, text
    if suffix.endswith(".pbf"):
        return _look_pbf(inp)
    return None, f"{path.name}: read as it is at run time (its extent is not checked here)"


def _look_pbf(inp: _Input) -> tuple[Box | None, str]:
    path = inp.path
    assert path is not None
    box = pbf_bbox(path)
    if box is None:
        return None, f"{path.name}: OSM extract without a bounding box in its header"
    return box, f"{path.name}: OSM extract, {_fmt(box)}"


def _look_population(inp: _Input) -> tuple[Box | None, str]:
    path = inp.path
    assert path is not None
    if inp.kind == "buildings":
        return _look_pbf(inp)
    if path.suffix.lower() in (".tif", ".tiff", ".vrt", ".asc", ".img"):
        return _look_raster(path, inp.kwargs.get("crs"))
    from .io import read_population

    demand = read_population(path, **inp.kwargs)
    total = float(demand["population"].sum())
    box = _frame_box(demand)
    return box, f"{path.name}: {len(demand):,} points, {total:,.0f} persons, {_fmt(box)}"


def _look_raster(path: Path, crs: Any) -> tuple[Box | None, str]:
    import rasterio

    with rasterio.open(path) as src:
        src_crs = crs or src.crs
        if src_crs is None:
            msg = (
                f"{path}: the raster has no CRS; give population.crs (e.g. 'EPSG:4326') "
                "or fix the file."
            )
            raise DataError(msg)
        b = src.bounds
        text = (
            f"{path.name}: raster {src.width}×{src.height} cells, "
            f"nodata {src.nodata!r}, {pyproj.CRS.from_user_input(src_crs).to_string()}"
        )
        if src.nodata is None:
            text += " (no nodata value: check that empty cells hold 0)"
    box = _to_lonlat(pyproj.CRS.from_user_input(src_crs), (b.left, b.bottom, b.right, b.top))
    return box, f"{text}, {_fmt(box)}"


def _load_districts(inp: _Input) -> tuple[Box | None, str]:
    from .io import read_districts

    d = read_districts(inp.path, **inp.kwargs)
    box = _frame_box(d)
    names = ", ".join(map(str, d["name"].head(5))) if "name" in d else ""
    return box, f"{inp.path.name}: {len(d)} districts ({names}), {_fmt(box)}"  # type: ignore[union-attr]


def _load_sites(what: str) -> Callable[[_Input], tuple[Box | None, str]]:
    def look(inp: _Input) -> tuple[Box | None, str]:
        from .io import read_candidates, read_facilities

        read = read_facilities if what == "existing" else read_candidates
        sites = read(inp.path, **inp.kwargs)
        box = _frame_box(sites)
        return box, f"{inp.path.name}: {len(sites):,} sites, {_fmt(box)}"  # type: ignore[union-attr]

    return look


# ----------------------------------------------------------------------------- extents
def _frame_box(gdf) -> Box | None:
    if len(gdf) == 0 or gdf.crs is None:
        return None
    b = gdf.to_crs(4326).total_bounds
    return tuple(float(v) for v in b)  # type: ignore[return-value]


def _to_lonlat(crs: pyproj.CRS, box: tuple[float, ...]) -> Box:
    t = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
    return tuple(float(v) for v in t.transform_bounds(*box))  # type: ignore[return-value]


def _fmt(box: Box | None) -> str:
    if box is None:
        return "no extent"
    return f"lon {box[0]:.3f}–{box[2]:.3f}, lat {box[1]:.3f}–{box[3]:.3f}"


def _overlaps(boxes: Mapping[str, Box | None]) -> list[Finding]:
    """Every input's extent against the network's."""
    net = boxes.get("network")
    if net is None:
        return []
    out = []
    for what, box in boxes.items():
        if what == "network" or box is None:
            continue
        share = _share_inside(box, net)
        if share == 0.0:
            text = (
                f"{what} ({_fmt(box)}) does not overlap the network ({_fmt(net)}). Check "
                "that it is the right file, that x/y (lon/lat) are not swapped, and its "
                "CRS or datum."
            )
            out.append(Finding("error", what, text))
        elif share < MIN_OVERLAP:
            text = (
                f"only {share:.0%} of the {what} extent ({_fmt(box)}) lies within the "
                f"network's ({_fmt(net)}); what lies outside cannot be reached on foot."
            )
            out.append(Finding("warning", what, text))
    return out


def _share_inside(box: Box, within: Box) -> float:
    """Share of ``box``'s area inside ``within`` (a point-like box: 1 or 0)."""
    w = min(box[2], within[2]) - max(box[0], within[0])
    h = min(box[3], within[3]) - max(box[1], within[1])
    if w < 0 or h < 0:
        return 0.0
    area = (box[2] - box[0]) * (box[3] - box[1])
    return 1.0 if area <= 0 else float(w * h / area)


# ----------------------------------------------------------------------------- PBF header
def pbf_bbox(path: str | Path) -> Box | None:
    """The bounding box in an OSM PBF file's header (degrees), or None if it has none.

    Reads only the first block (the ``OSMHeader``), so it is instant on any size of file.
    """
    with Path(path).open("rb") as fh:
        head = fh.read(4)
        if len(head) < 4:
            msg = f"{path}: empty or truncated file, not an OSM PBF extract."
            raise DataError(msg)
        (size,) = struct.unpack(">I", head)
        if not 0 < size < 64 * 1024:
            msg = f"{path}: not an OSM PBF extract (no block header at its start)."
            raise DataError(msg)
        header = protobuf_fields(fh.read(size))
        if header.get(1, [b""])[0] != b"OSMHeader":
            msg = f"{path}: not an OSM PBF extract (its first block is not an OSMHeader)."
            raise DataError(msg)
        blob = protobuf_fields(fh.read(header[3][0]))
    if 1 in blob:
        data = blob[1][0]
    elif 3 in blob:
        data = zlib.decompress(blob[3][0])
    else:  # lzma and other rare compressions: no box, no error
        return None
    block = protobuf_fields(data)
    if 1 not in block:
        return None
    bbox = protobuf_fields(block[1][0])
    left, right, top, bottom = (_zigzag(bbox[k][0]) * 1e-9 for k in (1, 2, 3, 4))
    return (left, bottom, right, top)


def _zigzag(n: int) -> int:
    return (n >> 1) ^ -(n & 1)
