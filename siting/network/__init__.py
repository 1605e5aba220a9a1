"""The walking network: graph, snapping, bounded shortest paths, isochrones."""

from .graph import Network, grid_network
from .paths import Links, bounded_distances

__all__ = ["Links", "Network", "bounded_distances", "grid_network"]
