"""Unreadable OSM files: a DataError naming the file, what it looks like and what to do."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

import siting as st
from siting.errors import DataError


def _zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("city.osm.pbf", b"not really")


def _truncated(path: Path, source: Path) -> None:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])


CASES = {
    "empty": (lambda p: p.write_bytes(b""), r"the file is empty \(0 bytes\)"),
    "text": (lambda p: p.write_text("hello\nworld\n"), r"a text file \(first line: 'hello'\)"),
    "geojson": (
        lambda p: p.write_text('{"type": "FeatureCollection", "features": []}'),
        "it looks like GeoJSON",
    ),
    "html": (
        lambda p: p.write_text("<!DOCTYPE html>\n<html><body>Rate limited</body></html>"),
        "an HTML web page",
    ),
    "osm-xml": (
        lambda p: p.write_text('<?xml version="1.0"?>\n<osm version="0.6"></osm>'),
        r"OpenStreetMap XML \(\.osm\), not PBF.*osmium cat",
    ),
    "zip": (_zip, "a ZIP archive: unzip it"),
    "gzip": (lambda p: p.write_bytes(gzip.compress(b"x" * 100)), "gzip-compressed"),
    "binary": (lambda p: p.write_bytes(bytes(range(256))), "binary data of another format"),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_read_network_names_what_the_file_is(tmp_path, kind):
    make, expected = CASES[kind]
    path = tmp_path / "city.osm.pbf"
    make(path)
    with pytest.raises(DataError, match=expected) as err:
        st.read_network(path)
    assert str(path) in str(err.value)
    assert "OSM PBF" in str(err.value) or "osm.pbf" in str(err.value)


def test_truncated_pbf_is_named_as_cut_short(tmp_path, helsinki_pbf):
    path = tmp_path / "helsinki.osm.pbf"
    _truncated(path, helsinki_pbf)
    with pytest.raises(DataError, match=r"cut short or damaged.*Download the extract again"):
        st.read_network(path)


@pytest.mark.parametrize(
    "reader",
    [st.read_buildings, st.facilities_from_osm],
    ids=["read_buildings", "facilities_from_osm"],
)
def test_other_osm_readers_check_the_file_too(tmp_path, reader):
    path = tmp_path / "renamed.osm.pbf"
    path.write_text('{"type": "Feature", "geometry": null, "properties": {}}')
    with pytest.raises(DataError, match=r"renamed\.osm\.pbf: not an OSM PBF extract.*GeoJSON"):
        reader(path)


def test_a_good_extract_still_reads(helsinki_network):
    assert helsinki_network.n_edges > 0
