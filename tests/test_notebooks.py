"""The notebooks run top to bottom on the shipped data, offline, and are committed clean.

Each notebook is executed in a fresh kernel of this interpreter (the ``python3`` kernel
that ipykernel installs with ``pip install -e .[dev]``; no ``ipykernel install`` step),
with this checkout first on the kernel's path. A probe cell appended to the run prints
the notebook's own variables as JSON, and the tests check those numbers against each
other and against what the data must give: that the notebooks say something true, not
only that they raise nothing. Outputs are written to ``tmp_path`` (the ``OUT`` cell,
tagged ``parameters``, is replaced).

Committed notebooks must have no outputs, execution counts or run metadata:
``make strip-notebooks`` (``python notebooks/strip_outputs.py``) strips them.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="pip install -e .[dev] (nbformat)")
nbclient = pytest.importorskip("nbclient", reason="pip install -e .[dev] (nbclient)")
pytest.importorskip("ipykernel", reason="pip install -e .[dev] (ipykernel)")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
STRIP = NOTEBOOKS / "strip_outputs.py"
PBF = ROOT / "data" / "liechtenstein" / "liechtenstein-latest.osm.pbf"
POPULATION = 39_700  # persons, the notebooks' official total

pytestmark = pytest.mark.skipif(not PBF.is_file(), reason=f"{PBF} is missing")


def _execute(name: str, probe: str, monkeypatch, out_dir: Path | None = None):
    """Run notebook ``name`` with ``probe`` appended; returns (notebook, probe's JSON)."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    committed = [c.source for c in params]
    if out_dir is not None:
        assert len(params) == 1, f"{name}: expected one cell tagged 'parameters'"
        source, n = re.subn(
            r"^OUT = .*$", f"OUT = Path({str(out_dir)!r})", params[0].source, count=1, flags=re.M
        )
        assert n == 1, f"{name}: the 'parameters' cell sets no OUT"
        params[0].source = source
    nb.cells.append(nbformat.v4.new_code_cell(probe))
    # the kernel imports this checkout's siting and draws figures inline
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute()
    for cell, source in zip(params, committed, strict=True):
        cell.source = source  # as committed, for the comparison after stripping
    streams = [o for o in nb.cells[-1].outputs if o.output_type == "stream" and o.name == "stdout"]
    result = json.loads(streams[-1].text.strip().splitlines()[-1])
    assert Path(result["siting_file"]).is_relative_to(ROOT), "the kernel ran another siting"
    return nb, result


def _outputs(nb, needle: str) -> list:
    """Outputs of the code cells whose source contains ``needle``."""
    cells = [c for c in nb.cells if c.cell_type == "code" and needle in c.source]
    assert cells, f"no cell with {needle!r}"
    return [o for c in cells for o in c.outputs]


def _check_clean_run(nb, name: str, tmp_path: Path) -> None:
    """No Python warnings shown, and stripping the run gives back the committed file."""
    for cell in nb.cells[:-1]:
        for o in cell.get("outputs", []):
            if o.output_type == "stream" and o.name == "stderr":
                assert "Warning:" not in o.text, f"{name}: a warning shows: {o.text[:300]}"
    nb.cells.pop()  # the probe
    ran = tmp_path / name
    nbformat.write(nb, ran)
    subprocess.run([sys.executable, str(STRIP), str(ran)], check=True, capture_output=True)
    assert ran.read_text(encoding="utf-8") == (NOTEBOOKS / name).read_text(encoding="utf-8"), (
        f"{name}: the run, stripped, differs from the committed notebook"
    )


QUICKSTART_PROBE = """
import json, siting
s = plan.summary()
print(json.dumps({
    "siting_file": siting.__file__,
    "population": float(demand["population"].sum()),
    "municipalities": len(municipalities),
    "share_today": float(cov.stats(minutes=15)["share"].iloc[0]),
    "walk_share": walk_share,
    "circle_share": circle_share,
    "summary": {k: s[k] for k in ("new_sites", "objective", "bound", "gap",
                                  "covered_share_before", "covered_share_after", "target")},
    "new_sites_rows": len(new_sites),
    "new_sites_gain": float(new_sites["covered_gain"].sum()),
    "written": {k: str(v) for k, v in written.items()},
}, default=float))
"""


def test_quickstart_runs_and_says_true_things(tmp_path, monkeypatch):
    out = tmp_path / "out"
    nb, r = _execute("01_quickstart.ipynb", QUICKSTART_PROBE, monkeypatch, out)
    s = r["summary"]
    assert r["population"] == pytest.approx(POPULATION)
    assert r["municipalities"] == 11
    # who is covered today: the plan's "before" is today's coverage, within the walk
    assert s["covered_share_before"] == pytest.approx(r["share_today"])
    assert r["walk_share"] == pytest.approx(r["share_today"])
    assert 0 < r["walk_share"] < 1 and 0 < r["circle_share"] < 1
    # where should the next sites go: the target is reached, the table lists every site
    assert s["target"] == 0.9
    assert s["covered_share_after"] >= 0.9
    assert r["new_sites_rows"] == s["new_sites"] == s["objective"] > 0
    assert r["new_sites_gain"] > 0
    # how sure: the bound is below the plan, the gap is what they say
    assert s["bound"] <= s["objective"]
    assert s["gap"] == pytest.approx((s["objective"] - s["bound"]) / s["objective"])
    if s["gap"] == 0:  # proven optimal: this instance's optimum is 16 new sites
        assert s["new_sites"] == 16
    # the map shows inline and draws with no network (Leaflet inside, no script from a CDN)
    html = [o.data["text/html"] for o in _outputs(nb, "plan.explore(") if "data" in o]
    assert html and "leaflet" in html[0].lower()
    assert not re.search(r"&lt;script src=&quot;https?:", html[0])
    # the output folder went where the test said, with the numbers shown in the notebook
    written = {k: Path(v) for k, v in r["written"].items()}
    assert written and all(p.parent == out and p.is_file() for p in written.values())
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["covered_share_after"] == pytest.approx(s["covered_share_after"])
    assert (out / "map.html").stat().st_size > 0
    _check_clean_run(nb, "01_quickstart.ipynb", tmp_path)


SCENARIOS_PROBE = """
import json, siting
print(json.dumps({
    "siting_file": siting.__file__,
    "regions": sorted(demand["region"].dropna().unique()),
    "unassigned": float(demand.loc[demand["region"].isna(), "population"].sum()),
    "curves": {str(m): c[["new_sites", "covered_share", "bound_share"]].to_dict("list")
               for m, c in curves.items()},
    "needed": {f"{w}|{t}|{k}": v for w, row in needed.iterrows() for (t, k), v in row.items()},
    "exact": {n: {k: p.summary()[k] for k in ("new_sites", "bound", "gap",
                                               "covered_share_after")} for n, p in plans.items()},
    "reachable_15": float(cov.population[cov.coverable(15)].sum() / cov.population.sum()),
    "country": country_wide.summary(),
    "region": per_region.summary(),
    "region_shares": per_region.stats("region")["share_after"].to_dict(),
    "by_region": by_region.to_dict(),
    "by_municipality_new": by_municipality[["new sites, country-wide", "new sites, per region"]]
        .drop(index="total").sum().to_dict(),
    "audit_units": audit.by_unit.index.get_level_values(0).value_counts().to_dict(),
}, default=lambda v: v.item() if hasattr(v, "item") else str(v)))
"""


@pytest.mark.slow  # 17 s: `make test-slow` (and CI) runs it; the quickstart stays in `make test`
def test_scenarios_run_and_agree(tmp_path, monkeypatch):
    nb, r = _execute("02_scenarios.ipynb", SCENARIOS_PROBE, monkeypatch)
    assert r["regions"] == ["Oberland", "Unterland"]
    assert r["unassigned"] == 0
    curves = r["curves"]
    for c in curves.values():
        share, bound = c["covered_share"], c["bound_share"]
        assert c["new_sites"] == list(range(len(share)))
        assert all(b >= a - 1e-9 for a, b in zip(share, bound, strict=True))  # a bound
        assert all(b >= a - 1e-12 for a, b in itertools.pairwise(share))  # each site adds
    today = [curves[m]["covered_share"][0] for m in ("5", "10", "15")]
    assert today[0] < today[1] < today[2]  # a longer walk covers more people today
    needed = r["needed"]
    for minutes in ("5", "10", "15"):
        row = f"{minutes}-minute walk"
        assert needed[f"{row}||today"] == pytest.approx(curves[minutes]["covered_share"][0])
    # the exact solver's optimum lies between the curve's proven minimum and its plan
    exact = r["exact"]
    for target in ("80%", "90%"):
        least, enough = (
            needed[f"15-minute walk|{target}|at least"],
            needed[f"15-minute walk|{target}|enough"],
        )
        plan = exact[target]
        assert plan["covered_share_after"] >= float(target[:-1]) / 100
        assert plan["bound"] <= plan["new_sites"]
        assert least <= plan["bound"] and plan["new_sites"] <= enough
    assert (
        exact["80%"]["new_sites"]
        <= exact["90%"]["new_sites"]
        <= exact["all reachable"]["new_sites"]
    )
    # 100%: refused with the reason, then everyone reachable is covered
    printed = "".join(o.text for o in _outputs(nb, "InfeasibleError") if o.output_type == "stream")
    assert "unreachable" in printed
    reachable = r["reachable_15"]
    assert f"the most any plan can cover is {reachable:.1%}" in printed
    assert needed["15-minute walk|100%|reachable"] == pytest.approx(reachable)
    assert exact["all reachable"]["covered_share_after"] == pytest.approx(reachable)
    assert reachable < 1
    # per-region targets: each region reaches 90%; the country-wide plan is never larger
    assert all(v >= 0.9 - 1e-9 for v in r["region_shares"].values())
    country, region = r["country"], r["region"]
    assert country["covered_share_after"] >= 0.9 and region["covered_share_after"] >= 0.9
    if country["gap"] == 0:
        assert country["new_sites"] <= region["new_sites"]
    # the tables: every new site falls in one municipality and one region
    counts = r["by_municipality_new"]
    assert counts["new sites, country-wide"] == country["new_sites"]
    assert counts["new sites, per region"] == region["new_sites"]
    assert r["by_region"]["new sites, per region"]["total"] == region["new_sites"]
    # two figures drawn inline
    figures = [
        o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert len(figures) == 2
    assert r["audit_units"] == {"community": 11, "subdistrict": 2}
    _check_clean_run(nb, "02_scenarios.ipynb", tmp_path)


def test_committed_notebooks_have_no_outputs():
    notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert {p.name for p in notebooks} >= {"01_quickstart.ipynb", "02_scenarios.ipynb"}
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"]):
            where = f"{path.name} cell {i}: run `make strip-notebooks` before committing"
            assert "execution" not in cell["metadata"], where
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, where
    done = subprocess.run([sys.executable, str(STRIP), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
