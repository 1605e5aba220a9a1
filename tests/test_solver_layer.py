"""The shape of the solver layer: one finish for every model, settings that tests can
set, every option in a signature, and no import cycle between its modules."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from test_optimize_models import make_instance

import siting as st
import siting.optimize as so
from siting.optimize import CoverageProblem, SolveOptions, settings, solve_mclp, solve_target
from siting.optimize.pipeline import Run
from siting.plan import PLAN_OPTIONS

OPTIMIZE = Path(so.__file__).parent


# ------------------------------------------------------------------ one finish
@pytest.fixture
def problem() -> CoverageProblem:
    return CoverageProblem(cover=sp.identity(4, format="csr"), weight=[1.0, 2.0, 3.0, 4.0])


def _finish(problem, objective, bound, status, **kw):
    sel = np.array([True, True, False, False])
    return Run().finish(problem, sel, objective, bound, status, unreachable=[], **kw)


def test_a_whole_number_objective_rounds_its_bound(problem) -> None:
    s = _finish(problem, 5.0, 4.2, "feasible", integral=True)
    assert (s.bound, s.gap, s.status) == (5.0, 0.0, "optimal")  # 4.2 proves 5 sites
    s = _finish(problem, 6.0, 4.2, "time_limit", integral=True)
    assert (s.bound, s.status) == (5.0, "time_limit") and s.gap == pytest.approx(1 / 6)
    s = _finish(problem, 5.0, 4.2, "feasible")  # fractional costs: no rounding
    assert (s.bound, s.status) == (4.2, "feasible") and s.gap == pytest.approx(0.16)


def test_maximising_and_proven_runs(problem) -> None:
    s = _finish(problem, 10.0, 10.4, "feasible", sense=-1, integral=True)
    assert (s.bound, s.gap, s.status) == (10.0, 0.0, "optimal")
    s = _finish(problem, 10.0, 12.5, "feasible", sense=-1)
    assert s.bound == 12.5 and s.gap == pytest.approx(0.25)
    s = _finish(problem, 10.0, 9.0, "optimal")  # the model proved it: the bound is the plan
    assert (s.bound, s.gap) == (10.0, 0.0)
    s = _finish(problem, np.inf, 9.0, "time_limit")  # no plan: no gap to speak of
    assert s.gap == np.inf and s.status == "time_limit" and s.bound == 9.0


def test_every_model_reports_through_the_same_finish() -> None:
    """The models' bounds are rounded the same way: a whole-number objective reports a
    whole-number bound, and the gap is computed from the bound reported."""
    P = make_instance(3, n=200, m=60, n_exist=3, density=0.05)
    for sol in (
        solve_target(P, 0.8, options=SolveOptions(method="heuristic")),
        solve_mclp(P, 5, options=SolveOptions(method="heuristic")),
    ):
        assert sol.bound == round(sol.bound)
        ref = abs(sol.objective - sol.bound) / max(abs(sol.objective), 1e-9)
        assert sol.gap == pytest.approx(ref, abs=1e-12)
        assert (sol.gap == 0) == (sol.status == "optimal")


# ------------------------------------------------------------------ settings
def test_settings_can_be_set_for_a_block_and_are_restored() -> None:
    P = make_instance(300, n=40, m=12)
    assert "pdlp" not in solve_target(P, 0.7).method  # small: the simplex LP
    with settings.override(lp_nnz_limit=0):
        assert settings.lp_nnz_limit == 0
        large = solve_target(P, 0.7, options=SolveOptions(time_limit=2.0))
        assert "pdlp" in large.method.split("+")  # the path of city-scale models
    assert settings.lp_nnz_limit == 250_000
    with pytest.raises(AttributeError, match="lp_nnz_limt"), settings.override(lp_nnz_limt=0):
        pass


# ------------------------------------------------------------------ signatures
def test_every_option_is_in_a_signature() -> None:
    """No option is decided by reading globals() or a signature at run time: each
    appears, with its default, where help() shows it."""
    params = inspect.signature(st.solve).parameters
    for opts in PLAN_OPTIONS.options.values():
        assert set(opts) <= set(params)
    assert set(PLAN_OPTIONS.common) <= set(params)
    for fn in (
        so.solve_target,
        so.solve_mclp,
        so.solve_lscp,
        so.solve_pmedian,
        so.solve_capacitated_coverage,
        so.solve_two_level,
    ):
        kinds = {p.kind for p in inspect.signature(fn).parameters.values()}
        assert "options" in inspect.signature(fn).parameters, fn.__name__
        assert inspect.Parameter.VAR_KEYWORD not in kinds, fn.__name__
        assert "options : SolveOptions" in fn.__doc__, fn.__name__


# ------------------------------------------------------------------ modules
def _imports(path: Path) -> set[str]:
    """The siting.optimize modules ``path`` imports when it is loaded (module level)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "siting.optimize":
                out |= {a.name for a in node.names}
            elif node.module.startswith("siting.optimize."):
                out.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[2] for a in node.names if a.name.count(".") >= 2}
    return out


def test_the_optimize_modules_have_no_import_cycle() -> None:
    graph = {
        p.stem: {m for m in _imports(p) if (OPTIMIZE / f"{m}.py").exists()}
        for p in OPTIMIZE.glob("*.py")
        if p.stem != "__init__"
    }
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail(f"import cycle: {' -> '.join([*path, node, nxt])}")
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert graph["formulations"] == set() and "bounds" in graph["pmedian"]


def test_district_names_travel_with_the_district_index() -> None:
    """``group_names`` sits in the problem beside ``group``: the per-district message
    names the district, and names that cannot name every district are refused."""
    from siting.errors import DataError, InfeasibleError

    cover = sp.csr_matrix(np.array([[1, 0], [0, 0], [0, 1]], dtype=bool))
    group = np.array([0, 1, 1])
    named = CoverageProblem(cover=cover, group=group, group_names=["Vaduz", "Schaan"])
    assert named.group_names == ("Vaduz", "Schaan")
    with pytest.raises(InfeasibleError, match="in Schaan"):
        solve_target(named, 0.9, by_group=True)
    with pytest.raises(DataError, match="a name per district"):
        CoverageProblem(cover=cover, group=group, group_names="Vaduz")
    with pytest.raises(DataError, match="indices 0 to 1, but group_names has only 1"):
        CoverageProblem(cover=cover, group=group, group_names=["Vaduz"])
