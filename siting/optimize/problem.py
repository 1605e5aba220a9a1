"""Matrix-level problem and solution objects shared by every siting model.

A :class:`CoverageProblem` holds plain arrays (NumPy / SciPy sparse); all validation of
shapes and values happens here, once, so the model modules can trust their inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from siting.errors import DataError, ParameterError

__all__ = ["CoverageProblem", "Solution", "relative_gap", "rounded_bound"]


def _as_csr(matrix: Any, name: str, *, keep_zeros: bool) -> sp.csr_matrix:
    """Convert ``matrix`` to CSR; ``keep_zeros`` keeps explicitly stored zeros (distances)."""
    if sp.issparse(matrix):
        out = sp.csr_matrix(matrix, copy=True)
    else:
        arr = np.asarray(matrix)
        if arr.ndim != 2:
            msg = f"{name} must be a 2-D matrix (demand x sites), got {arr.ndim} dimension(s)"
            raise DataError(msg)
        if keep_zeros:
            msg = (
                f"{name} must be a scipy.sparse matrix whose stored entries are the reachable "
                "pairs; a dense array cannot tell 'unreachable' from a 0 m distance"
            )
            raise DataError(msg)
        out = sp.csr_matrix(arr)
    out.sum_duplicates()
    out.sort_indices()
    if not keep_zeros:
        out.eliminate_zeros()
    return out


def _check_vector(values: Any, n: int, name: str, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.shape[0] != n:
        msg = f"{name} has {arr.shape[0]} entries but there are {n} {what}"
        raise DataError(msg)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        msg = f"{name}[{bad[0]}] is {arr[bad[0]]}: every {name} must be a finite number"
        raise DataError(msg)
    neg = np.flatnonzero(arr < 0)
    if neg.size:
        msg = (
            f"{name}[{neg[0]}] = {arr[neg[0]]:g} is negative ({neg.size} negative value(s) in "
            f"total): {name} must be >= 0"
        )
        raise DataError(msg)
    return arr


def _check_dist(dist: Any) -> sp.csr_matrix:
    """Walk distances as CSR (stored entries, zeros included, are the reachable pairs)."""
    dist = _as_csr(dist, "dist", keep_zeros=True).astype(float)
    if dist.nnz and (not np.all(np.isfinite(dist.data)) or dist.data.min() < 0):
        k = int(np.flatnonzero(~(dist.data >= 0) | ~np.isfinite(dist.data))[0])
        row = int(np.searchsorted(dist.indptr, k, side="right") - 1)
        msg = (
            f"dist has a negative or non-finite distance ({dist.data[k]}) at demand "
            f"{row}, site {dist.indices[k]}: distances are metres >= 0; leave "
            "unreachable pairs out of the sparse matrix instead"
        )
        raise DataError(msg)
    return dist


def _check_existing(existing: Any, n_sites: int) -> np.ndarray:
    """The mask of existing sites (none by default); some site must be a candidate."""
    if existing is None:
        ex = np.zeros(n_sites, dtype=bool)
    else:
        ex = np.asarray(existing)
        if ex.dtype != bool:
            msg = "existing must be a boolean mask over the sites (True = already open)"
            raise DataError(msg)
        if ex.shape != (n_sites,):
            msg = f"existing has {ex.size} entries but there are {n_sites} sites"
            raise DataError(msg)
        ex = ex.copy()
    if not np.any(~ex):
        msg = (
            f"the candidate set is empty: all {n_sites} sites are existing ones; "
            "add candidate sites (existing=False) to choose from"
        )
        raise ParameterError(msg)
    return ex


def _check_group(group: Any, n_demand: int) -> np.ndarray:
    """District indices (integers >= 0), one per demand point."""
    g = np.asarray(group)
    if g.shape != (n_demand,):
        msg = f"group has {g.size} entries but there are {n_demand} demand points"
        raise DataError(msg)
    if not np.issubdtype(g.dtype, np.integer):
        msg = "group must hold integer district indices (0, 1, 2, ...)"
        raise DataError(msg)
    if g.size and g.min() < 0:
        msg = f"group[{int(np.argmin(g))}] = {int(g.min())}: district indices must be >= 0"
        raise DataError(msg)
    return g.astype(np.int64)


def _check_group_names(names: Sequence[str], group: np.ndarray | None) -> tuple[str, ...]:
    """District names as a tuple of str, one for every district index in ``group``."""
    if isinstance(names, str):
        msg = f"group_names={names!r}: give a name per district (a list of str)"
        raise DataError(msg)
    out = tuple(str(n) for n in names)
    if group is not None and group.size and int(group.max()) >= len(out):
        msg = (
            f"group uses district indices 0 to {int(group.max())}, but group_names has "
            f"only {len(out)}: give a name for every district"
        )
        raise DataError(msg)
    return out


@dataclass
class CoverageProblem:
    """Demand points, sites and who reaches whom, at matrix level.

    Parameters
    ----------
    cover : scipy.sparse matrix, shape (n_demand, n_sites), optional
        ``cover[i, j] != 0`` when site ``j`` reaches demand point ``i`` within the
        threshold. Needed by the coverage models (target, MCLP, LSCP, capacitated
        coverage). When omitted and ``dist`` is given, the stored entries of ``dist``
        are used.
    weight : array of float, shape (n_demand,)
        Population of each demand point (persons, >= 0).
    existing : array of bool, shape (n_sites,), optional
        Sites already open: fixed open at no cost and not counted as new.
    cost : array of float, shape (n_sites,), optional
        Cost of opening each candidate (default 1, so the objective counts new sites).
    dist : scipy.sparse matrix, shape (n_demand, n_sites), optional
        Walk distance in metres for reachable pairs (p-median). A stored entry means
        reachable, including a stored 0.0; a missing entry means unreachable.
    group : array of int, shape (n_demand,), optional
        District index of each demand point (for per-district targets), values >= 0.
    capacity : array of float, shape (n_sites,), optional
        Capacity of each site in persons (capacitated models).
    group_names : sequence of str, optional
        Name of each district (``group_names[g]`` for ``group == g``), for messages.
    """

    cover: Any = None
    weight: Any = None
    existing: Any = None
    cost: Any = None
    dist: Any = None
    group: Any = None
    capacity: Any = None
    group_names: Sequence[str] | None = None
    n_demand: int = field(init=False)
    n_sites: int = field(init=False)

    def __post_init__(self) -> None:
        if self.cover is None and self.dist is None:
            msg = "give a coverage matrix `cover` or a distance matrix `dist` (demand x sites)"
            raise DataError(msg)
        if self.dist is not None:
            self.dist = _check_dist(self.dist)
        if self.cover is None:
            self.cover = sp.csr_matrix(
                (np.ones(self.dist.nnz, dtype=bool), self.dist.indices, self.dist.indptr),
                shape=self.dist.shape,
            )
        else:
            self.cover = _as_csr(self.cover, "cover", keep_zeros=False).astype(bool)
        self.n_demand, self.n_sites = (int(s) for s in self.cover.shape)
        if self.dist is not None and self.dist.shape != self.cover.shape:
            msg = f"dist has shape {self.dist.shape} but cover has shape {self.cover.shape}"
            raise DataError(msg)
        if self.n_sites == 0:
            msg = "there are no sites (the matrix has 0 columns): give candidate sites"
            raise ParameterError(msg)
        if self.weight is None:
            self.weight = np.ones(self.n_demand)
        self.weight = _check_vector(self.weight, self.n_demand, "weight", "demand points")
        self.existing = _check_existing(self.existing, self.n_sites)
        if self.cost is None:
            self.cost = np.ones(self.n_sites)
        self.cost = _check_vector(self.cost, self.n_sites, "cost", "sites")
        self.cost = np.where(self.existing, 0.0, self.cost)
        if self.capacity is not None:
            self.capacity = _check_vector(self.capacity, self.n_sites, "capacity", "sites")
        if self.group is not None:
            self.group = _check_group(self.group, self.n_demand)
        if self.group_names is not None:
            self.group_names = _check_group_names(self.group_names, self.group)

    # ------------------------------------------------------------------ derived views
    @property
    def candidates(self) -> np.ndarray:
        """Indices of the candidate (not existing) sites."""
        return np.flatnonzero(~self.existing)

    @property
    def n_candidates(self) -> int:
        """Number of candidate (not existing) sites."""
        return int(np.count_nonzero(~self.existing))

    @property
    def total_weight(self) -> float:
        """Total population (persons)."""
        return float(self.weight.sum())

    @property
    def unit_cost(self) -> bool:
        """True when every candidate costs the same (objective = number of new sites)."""
        c = self.cost[~self.existing]
        return bool(np.all(c == c[0])) if c.size else True

    def covered_mask(self, selected: np.ndarray) -> np.ndarray:
        """Demand points reached by at least one selected site.

        Parameters
        ----------
        selected : numpy.ndarray
            Boolean mask of the open sites (``n_sites``).

        Returns
        -------
        numpy.ndarray
            Boolean per demand point.
        """
        sel = np.asarray(selected, dtype=bool)
        counts = self.cover @ sel.astype(np.int32)
        return np.asarray(counts).ravel() > 0

    def covered_weight(self, selected: np.ndarray) -> float:
        """Population reached by at least one selected site.

        Parameters
        ----------
        selected : numpy.ndarray
            The open sites, as for :meth:`covered_mask`.

        Returns
        -------
        float
            Persons.
        """
        return float(self.weight[self.covered_mask(selected)].sum())

    def reachable_mask(self) -> np.ndarray:
        """Demand points reached by at least one site, existing or candidate.

        Returns
        -------
        numpy.ndarray
            Boolean per demand point.
        """
        return np.diff(self.cover.indptr) > 0


@dataclass
class Solution:
    """Result of a siting model.

    Made by the models of :mod:`siting.optimize`; :class:`siting.Plan` wraps one.

    Parameters
    ----------
    selected : ndarray of bool, shape (n_sites,)
        Open sites, existing ones included.
    new : ndarray of int
        Indices of newly opened sites.
    objective : float
        Objective value (new sites / cost, covered persons, or person-metres).
    bound : float
        Best proven bound on the objective (lower bound when minimising, upper bound
        when maximising).
    gap : float
        Relative gap ``|objective - bound| / max(|objective|, 1e-9)``; 0 when proven
        optimal (also when the objective is integral and the bound rounds to it).
    status : str
        ``"optimal"``, ``"time_limit"``, ``"feasible"`` (heuristic, gap > 0) ...
    seconds : float
        Wall time of the whole solve (s).
    covered_weight : float
        Persons reached by an open site.
    covered_share : float
        ``covered_weight`` / total persons (0..1).
    assignment : ndarray of int, optional
        Site serving each demand point (-1 none) for assignment models.
    served : ndarray of float, optional
        Persons served at each demand point, when capacities can leave some of a reached
        point unserved (capacitated coverage); None when every reached person is served.
    served_before : ndarray of float, optional
        The same for the existing sites alone (what they serve within capacity today).
    history : dict
        Per-stage timings (s), bounds and sizes.
    method : str
        How the solution was obtained, e.g. ``"reduce+greedy+swap+lp"``.
    unreachable : ndarray of int
        Demand points no site (existing or candidate) can serve.
    unreachable_weight : float
        Persons at those points.
    """

    selected: np.ndarray
    new: np.ndarray
    objective: float
    bound: float
    gap: float
    status: str
    seconds: float
    covered_weight: float
    covered_share: float
    assignment: np.ndarray | None = None
    served: np.ndarray | None = None
    served_before: np.ndarray | None = None
    history: dict[str, Any] = field(default_factory=dict)
    method: str = ""
    unreachable: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    unreachable_weight: float = 0.0

    @property
    def n_new(self) -> int:
        """Number of newly opened sites."""
        return len(self.new)

    @property
    def optimal(self) -> bool:
        """True when the solution is proven optimal."""
        return self.status == "optimal"

    def __repr__(self) -> str:
        return (
            f"Solution(status={self.status!r}, new sites={self.n_new},"
            f" objective={self.objective:g},"
            f" bound={self.bound:g}, gap={self.gap:.2%}, covered={self.covered_share:.1%},"
            f" seconds={self.seconds:.2f}, method={self.method!r})"
        )


def rounded_bound(bound: float, *, integral: bool, sense: int = 1) -> float:
    """The bound as reported: rounded up (minimising) or down (maximising) to a whole
    number when the objective only takes whole values, as :func:`relative_gap` uses it."""
    if not (integral and np.isfinite(bound)):
        return float(bound)
    return float(np.ceil(bound - 1e-6) if sense > 0 else np.floor(bound + 1e-6))


def relative_gap(
    objective: float, bound: float, *, integral: bool = False, sense: int = 1
) -> float:
    """Relative gap between an objective and a bound.

    Parameters
    ----------
    objective, bound : float
        Incumbent value and proven bound.
    integral : bool
        The objective only takes integer values: a bound within 1 of the objective is
        rounded (``ceil`` when minimising, ``floor`` when maximising) before comparing.
    sense : int
        1 to minimise (bound <= objective), -1 to maximise.
    """
    if not np.isfinite(bound):
        return float("inf")
    b = bound
    if integral:
        b = np.ceil(bound - 1e-6) if sense > 0 else np.floor(bound + 1e-6)
    diff = (objective - b) * sense
    if diff <= 1e-9 * max(1.0, abs(objective)):
        return 0.0
    return float(diff / max(abs(objective), 1e-9))
