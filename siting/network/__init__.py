"""The walking network: graph, snapping, bounded shortest paths, isochrones."""

from .graph import Network, grid_network
from .isochrones import circles, compare_areas, service_areas
from .paths import Links, bounded_distances

__all__ = [
    "Links",
    "Network",
    "bounded_distances",
    "circles",
    "compare_areas",
    "grid_network",
    "service_areas",
]
