"""Check that a file is a complete OSM PBF extract before pyrosm parses it.

pyrosm fails on an empty, foreign or cut-short file with its own exceptions (or a
protobuf ``DecodeError``). :func:`check_pbf` reads only the block headers (a few bytes
per block) and raises a :class:`DataError` that names the file, says what it looks like
(empty, text, HTML, XML, GeoJSON, zip, gzip, ...) and what to do.
"""

from __future__ import annotations

import struct
from pathlib import Path

from ..errors import DataError

#: the first block of every OSM PBF file: a BlobHeader whose type is "OSMHeader"
_HEADER_TYPE = b"\x0a\x09OSMHeader"
#: largest BlobHeader the format allows (64 KiB)
_MAX_HEADER = 64 * 1024
_FIX = "Pass an OpenStreetMap extract in the .osm.pbf format"


def check_pbf(path: Path) -> None:
    """Raise :class:`DataError` unless ``path`` looks like a complete OSM PBF file."""
    size = path.stat().st_size
    if size == 0:
        msg = f"{path}: the file is empty (0 bytes), not an OSM PBF extract. {_FIX}."
        raise DataError(msg)
    with path.open("rb") as f:
        head = f.read(512)
        if head[4 : 4 + len(_HEADER_TYPE)] != _HEADER_TYPE:
            msg = f"{path}: not an OSM PBF extract: it looks like {describe(head)}."
            raise DataError(msg)
        _walk_blocks(f, path, size)


def _walk_blocks(f, path: Path, size: int) -> None:
    """Follow the block headers to the end of the file; refuse a file cut short."""
    offset, block = 0, 0
    while offset < size:
        f.seek(offset)
        prefix = f.read(4)
        header_len = struct.unpack(">I", prefix)[0] if len(prefix) == 4 else -1
        header = f.read(header_len) if 0 < header_len <= _MAX_HEADER else b""
        data_size = _data_size(header) if len(header) == header_len else None
        end = offset + 4 + header_len + (data_size or 0)
        if data_size is None or end > size:
            msg = (
                f"{path}: the OSM PBF file is cut short or damaged: block {block + 1} starts "
                f"at byte {offset:,} but the file ends at byte {size:,} before the block does "
                "(an interrupted download or copy). Download the extract again."
            )
            raise DataError(msg)
        offset, block = end, block + 1


def _data_size(header: bytes) -> int | None:
    """The ``datasize`` field (3) of a BlobHeader protobuf message; None if absent or
    the header is damaged."""
    try:
        size = protobuf_fields(header).get(3, [None])[0]
    except DataError:
        return None
    return size if isinstance(size, int) and size >= 0 else None


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    """The protobuf varint at ``buf[i]`` and the position after it."""
    value, shift = 0, 0
    while i < len(buf):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            return value, i
        shift += 7
    msg = "a protobuf message ends inside a number (a damaged or cut-short file)"
    raise DataError(msg)


#: bytes of a protobuf field's value by wire type (2, length-delimited, is read apart)
_FIXED_SIZE = {1: 8, 5: 4}


def protobuf_fields(buf: bytes) -> dict[int, list[int | bytes]]:
    """The fields of a protobuf message: number -> values (ints or bytes).

    Raises :class:`DataError` on a message that is cut short or uses a wire type OSM
    PBF files do not (groups).
    """
    out: dict[int, list[int | bytes]] = {}
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2 or wire in _FIXED_SIZE:
            n, i = _varint(buf, i) if wire == 2 else (_FIXED_SIZE[wire], i)
            if i + n > len(buf):
                msg = "a protobuf field runs past the end of its message (a damaged file)"
                raise DataError(msg)
            value, i = buf[i : i + n], i + n
        else:
            msg = f"unsupported protobuf wire type {wire}"
            raise DataError(msg)
        out.setdefault(number, []).append(value)
    return out


_MAGIC = (
    (b"PK\x03\x04", "a ZIP archive: unzip it and pass the .osm.pbf file inside"),
    (b"\x1f\x8b", "a gzip-compressed file: decompress it first (gunzip)"),
    (b"BZh", "a bzip2-compressed file (an .osm.bz2 XML extract?): get the .osm.pbf version"),
    (b"SQLite format 3", f"an SQLite database or GeoPackage, not OSM data. {_FIX}"),
    (b"PAR1", f"a Parquet file, not OSM data. {_FIX}"),
    (b"%PDF", f"a PDF document. {_FIX}"),
)


def osm_errors() -> tuple[type[BaseException], ...]:
    """Exceptions pyrosm raises on files it cannot parse (besides the built-in ones)."""
    errors: list[type[BaseException]] = [ValueError, OSError, RuntimeError, EOFError]
    try:
        from pyrosm.exceptions import PBFException

        errors.append(PBFException)
    except ImportError:  # pragma: no cover - older pyrosm
        pass
    try:
        from google.protobuf.message import Error as ProtobufError

        errors.append(ProtobufError)
    except ImportError:  # pragma: no cover - pyrosm without protobuf
        pass
    return tuple(errors)


def describe(head: bytes) -> str:
    """What the first bytes of a file look like, with what to do, for a message."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    text = _as_text(head)
    if text is None:
        shown = head[:8].hex(" ")
        return f"binary data of another format (first bytes {shown}). {_FIX}"
    low = text.lower()
    if low.startswith(("<!doctype html", "<html")) or "<html" in low[:200]:
        return (
            "an HTML web page (a download that returned a web page, e.g. an error or login "
            f"page). {_FIX}"
        )
    if low.startswith(("<?xml", "<osm")) and "<osm" in low:
        return (
            "OpenStreetMap XML (.osm), not PBF. Convert it, e.g. `osmium cat in.osm -o "
            "out.osm.pbf`, or download the .osm.pbf extract"
        )
    if low.startswith("<"):
        return f"an XML file. {_FIX}"
    if low.startswith(("{", "[")):
        if '"feature' in low:  # "Feature", "FeatureCollection", "features"
            return (
                "GeoJSON. A walking network is built from OpenStreetMap PBF data (or a .npz "
                f"saved by siting, or an osmnx .graphml). {_FIX}"
            )
        return f"JSON text. {_FIX}"
    first = text.splitlines()[0][:60] if text.strip() else ""
    return f"a text file (first line: {first!r}). {_FIX}"


def _as_text(head: bytes) -> str | None:
    """The bytes as text (BOM and leading blanks stripped) if they look like text."""
    if b"\x00" in head:
        return None
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff \t\r\n")
    printable = sum(ch.isprintable() or ch in "\t\r\n" for ch in text)
    return text if text and printable >= 0.95 * len(text) else None
