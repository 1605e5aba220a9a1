"""One set of checks for the API, the scenario files and the solvers (siting.validation).

Through the public API (``st.solve``, ``st.solve_two_level``, ``st.coverage_curve``,
``load_scenario``, ``siting.optimize.solve_matrix``): values the YAML takes are taken
by the API too, bad values give a ParameterError naming the option, and an option a
model does not take is refused with the same words in the API and in a scenario.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from test_plan import X0, Y0, circle, line_demand, pts
from test_scenario_validation import HEAD, write

import siting as st
from siting import validation
from siting.errors import ParameterError
from siting.optimize import CoverageProblem, SolveOptions, solve_matrix
from siting.scenario import load_scenario


@pytest.fixture(scope="module")
def cov() -> st.Coverage:
    """Ten points of 10 persons every 100 m; candidates at 0, 300, 600 and 900 m."""
    cands = pts([(X0 + x, Y0) for x in (0.0, 300.0, 600.0, 900.0)], capacity=[30.0] * 4)
    return circle(line_demand(), None, cands)


# ------------------------------------------------------------------ values
def test_a_share_as_text_is_taken_as_the_yaml_takes_it(cov) -> None:
    """It failed with a numpy TypeError."""
    as_text = st.solve(cov, target="80%")
    as_number = st.solve(cov, target=0.8)
    assert np.array_equal(as_text.selected, as_number.selected)
    assert as_text.summary()["target"] == pytest.approx(0.8)
    assert st.solve(cov, target="100 %").summary()["covered_share_after"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("seed", -1),  # a numpy ValueError before
        ("seed", 1.5),
        ("time_limit", 0),
        ("time_limit", "1 min"),
        ("mip_gap", 1.0),
        ("threads", 0),
        ("target", "90 percent"),
        ("target", 1.5),
        ("method", "fast"),
    ],
)
def test_bad_values_name_the_option(cov, option: str, value) -> None:
    with pytest.raises(ParameterError, match=rf"^{option} must be .*, got {value!r}$"):
        st.solve(cov, **{option: value})


def test_solver_options_are_checked_once_for_every_model() -> None:
    P = CoverageProblem(cover=sp.identity(3, format="csr"), weight=[1.0, 2.0, 3.0])
    with pytest.raises(ParameterError, match=r"seed must be a whole number >= 0, got -1"):
        solve_matrix(P, "mclp", p=1, options=SolveOptions(seed=-1))
    with pytest.raises(ParameterError, match=r"^p must be an integer in \[0, 3\]"):
        solve_matrix(P, "mclp", p=4)
    opts = SolveOptions(time_limit="30", seed=2.0, threads=1)
    assert (opts.time_limit, opts.seed, opts.threads) == (30.0, 2, 1)


def test_walking_defaults_live_in_one_place(cov) -> None:
    assert st.walk_metres is validation.walk_metres
    assert st.walk_metres(15) == pytest.approx(1125.0)
    assert st.Coverage.__dataclass_fields__["speed_kmh"].default == validation.WALK_SPEED_KMH
    with pytest.raises(ParameterError, match="speed_kmh must be a positive finite number"):
        st.walk_metres(15, speed_kmh=0)


# ------------------------------------------------------------------ options a model does not take
def test_an_option_the_model_does_not_take_is_refused(cov) -> None:
    """``target`` with MCLP was silently ignored in a scenario; ``p`` with target too."""
    with pytest.raises(ParameterError) as info:
        st.solve(cov, model="mclp", p=1, target=0.9)
    msg = str(info.value)
    assert "target= is not an option of model 'mclp'" in msg
    assert "target= works with model 'target' only" in msg
    assert "Options of 'mclp': p=, budget=, capacity=" in msg
    with pytest.raises(ParameterError, match=r"p= is not an option of model 'target'"):
        st.solve(cov, model="target", p=3)
    with pytest.raises(ParameterError, match=r"capacity= works with models 'mclp' and 'pmedian'"):
        st.solve(cov, model="lscp", capacity="capacity")
    with pytest.raises(ParameterError, match=r"targte= is not an option of model 'target'"):
        st.solve(cov, targte=0.9)


def test_the_scenario_refuses_it_with_the_same_words(tmp_path) -> None:
    path = write(tmp_path, HEAD + "solve: {model: mclp, p: 2, target: 0.9}\n")
    with pytest.raises(ParameterError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: ")
    assert "'solve.target' is not an option of model 'mclp'" in msg
    assert "'solve.target' works with model 'target' only" in msg
    # the API's message, with the scenario's names for the options
    api = "target= is not an option of model 'mclp' (target= works with model 'target' only)"
    assert api.replace("target=", "'solve.target'") in msg


def test_max_distance_keeps_its_old_name(cov) -> None:
    new = st.solve(cov, model="pmedian", p=4, max_distance_m=60, drop_unreachable=True)
    old = st.solve(cov, model="pmedian", p=4, max_distance=60, drop_unreachable=True)
    assert np.array_equal(new.selected, old.selected)
    assert new.summary()["max_distance_m"] == old.summary()["max_distance_m"] == 60
    assert new.solution.unreachable.size == 6  # within 60 m: only the points at the sites
    P = CoverageProblem(dist=sp.csr_matrix(np.array([[50.0, 200.0], [300.0, 20.0]])))
    with pytest.warns(DeprecationWarning, match="max_distance_m"):
        sol = solve_matrix(P, "pmedian", p=2, max_distance=100, drop_unreachable=True)
    assert sol.objective == pytest.approx(70.0)


# ------------------------------------------------------------------ one shape of answer
def test_two_level_plans_are_plans(cov) -> None:
    d = line_demand()
    d["area"] = np.where(d.geometry.x < X0 + 450, "west", "east")
    sites = pts([(X0 + x, Y0) for x in (0.0, 300.0, 600.0, 900.0)])
    c = st.coverage(None, d, None, sites, mode="circle", threshold_m=150)
    plan = st.solve_two_level(c, "area", centre_minutes=1.9, station_minutes=1.5)
    assert isinstance(plan, st.Plan) and plan.model == "two_level"
    sites = plan.sites
    assert set(sites.loc[sites["level"] == "centre", "area"]) == {"west", "east"}
    assert plan.summary()["new_sites"] == int(sites["new"].sum()) >= 2
    assert plan.solution.objective == plan.solution.centres.objective + (
        plan.solution.stations.objective
    )


def test_one_set_of_curve_columns(cov) -> None:
    from siting.optimize import coverage_curve

    plan_level = st.coverage_curve(cov, max_new=2)
    problem = CoverageProblem(cover=cov.matrix(), weight=cov.population)
    matrix_level = coverage_curve(problem, 2)
    assert [c for c in plan_level.columns if c != "bound_share"] == list(matrix_level.columns)
    np.testing.assert_allclose(plan_level["covered_weight"], matrix_level["covered_weight"])
