"""siting: plan community service facilities by real walking distance.

load → measure → solve → show::

    import siting as st
    net = st.read_network("city.osm.pbf")                  # walking network, metric CRS
    demand = st.read_population("worldpop.tif")            # points with population
    existing = st.read_facilities("centres.csv")
    cov = st.coverage(net, demand, existing, st.candidate_sites(net), minutes=15)
    print(cov.stats())                                     # who is covered today
    plan = st.solve(cov, model="target", target=0.90)      # fewest new sites; bound, gap
    plan.explore()                                         # map (opens offline)
    st.report(plan, "report.html")                         # self-contained report
"""

from __future__ import annotations

from . import errors, standards
from .compliance import Audit, audit
from .errors import (
    CRSError,
    DataError,
    InfeasibleError,
    MissingColumnError,
    NetworkError,
    OutputExistsError,
    OutputPathError,
    ParameterError,
    SitingError,
)
from .io import (
    convert_datum,
    facilities_from_osm,
    population_from_buildings,
    read_buildings,
    read_candidates,
    read_districts,
    read_facilities,
    read_population,
)
from .io.network import read_network
from .measure import Coverage, candidate_sites, coverage, walk_metres
from .network import Network, circles, compare_areas, service_areas
from .plan import Plan, coverage_curve, solve, solve_two_level
from .report import report
from .scenario import load_scenario, run_scenario

__version__ = "0.1.0"

__all__ = [
    "Audit",
    "CRSError",
    "Coverage",
    "DataError",
    "InfeasibleError",
    "MissingColumnError",
    "Network",
    "NetworkError",
    "OutputExistsError",
    "OutputPathError",
    "ParameterError",
    "Plan",
    "SitingError",
    "audit",
    "candidate_sites",
    "circles",
    "compare_areas",
    "convert_datum",
    "coverage",
    "coverage_curve",
    "errors",
    "facilities_from_osm",
    "load_scenario",
    "population_from_buildings",
    "read_buildings",
    "read_candidates",
    "read_districts",
    "read_facilities",
    "read_network",
    "read_population",
    "report",
    "run_scenario",
    "service_areas",
    "solve",
    "solve_two_level",
    "standards",
    "walk_metres",
]
