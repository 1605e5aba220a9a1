"""A uniform grid of edge segments: the nearest edge to millions of points, compiled.

Every segment of every edge geometry is filed in the square cells its extent crosses
(a CSR from cell to segment). A point's search visits its own cell, then rings of cells
around it, and stops once the ring's outer boundary is farther than the best edge found
(or than ``max_snap_m``): no unvisited segment can then be as near. Work per point is a
few cells and a few dozen segments, not a tree walk per point.

Distances are computed with the very formula GEOS uses (``Distance::pointToSegment``,
the minimum over an edge's segments), so they are bit for bit what
``shapely.STRtree.query_nearest`` returns. The search also keeps the runner-up edge:
when two edges are equally near (a point facing a street corner is equally near every
edge that meets there), GEOS keeps whichever its tree visits first, an order no rule
reproduces, so :mod:`siting.network.snap` asks the same STRtree for those points only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np
import shapely

from ..errors import NetworkError

#: two edges whose distances differ by at most this many metres count as tied
TIE_M = 1e-9
#: slack (metres) on every lower bound, for the rounding of cell arithmetic
SLACK_M = 1e-6
#: cells per segment (the grid has about this many cells for each segment)
CELLS_PER_SEGMENT = 1.0


@nb.njit(cache=True, nogil=True, inline="always")
def _point_segment(px, py, ax, ay, bx, by):
    """GEOS ``Distance::pointToSegment``, operation for operation."""
    if ax == bx and ay == by:
        dx = px - ax
        dy = py - ay
        return math.sqrt(dx * dx + dy * dy)
    len2 = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
    r = ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / len2
    if r <= 0.0:
        dx = px - ax
        dy = py - ay
        return math.sqrt(dx * dx + dy * dy)
    if r >= 1.0:
        dx = px - bx
        dy = py - by
        return math.sqrt(dx * dx + dy * dy)
    s = ((ay - py) * (bx - ax) - (ax - px) * (by - ay)) / len2
    return abs(s) * math.sqrt(len2)


@nb.njit(cache=True, nogil=True, inline="always")
def _cell_range(a, b, origin, cell, n):
    """Cells ``lo..hi`` (clamped to ``0..n-1``) spanned by the interval between a and b."""
    lo = min(max(math.floor((min(a, b) - origin) / cell), 0), n - 1)
    hi = min(max(math.floor((max(a, b) - origin) / cell), 0), n - 1)
    return lo, hi


@nb.njit(cache=True, nogil=True)
def _segment_cells(ax, ay, bx, by, x0, y0, cell, nx, ny, buf):
    """Cells crossed by segment AB, without repeats: ``(buf, count)`` (``buf`` may grow).

    A segment within a row or column of cells, or within 2 × 2 cells, takes its bounding
    rectangle of cells; a longer slanted one is cut in pieces no longer than a cell, and
    the cells of the pieces' rectangles are merged.
    """
    i0, i1 = _cell_range(ax, bx, x0, cell, nx)
    j0, j1 = _cell_range(ay, by, y0, cell, ny)
    if i0 == i1 or j0 == j1 or (i1 - i0 < 2 and j1 - j0 < 2):
        pieces = 1
    else:
        pieces = math.ceil(max(abs(bx - ax), abs(by - ay)) / cell)
    k = 0
    for p in range(pieces):
        if pieces > 1:
            t0, t1 = p / pieces, (p + 1) / pieces
            i0, i1 = _cell_range(ax + t0 * (bx - ax), ax + t1 * (bx - ax), x0, cell, nx)
            j0, j1 = _cell_range(ay + t0 * (by - ay), ay + t1 * (by - ay), y0, cell, ny)
        need = k + (i1 - i0 + 1) * (j1 - j0 + 1)
        if need > len(buf):
            grown = np.empty(2 * need, np.int64)
            grown[:k] = buf[:k]
            buf = grown
        for jj in range(j0, j1 + 1):
            for ii in range(i0, i1 + 1):
                buf[k] = jj * nx + ii
                k += 1
    if pieces == 1:  # one rectangle of cells: no repeats
        return buf, k
    if k > 32:
        buf[:k] = np.sort(buf[:k])
    for q in range(1, k):  # insertion sort: quick on a few cells (numba's sort is not)
        c = buf[q]
        r = q - 1
        while r >= 0 and buf[r] > c:
            buf[r + 1] = buf[r]
            r -= 1
        buf[r + 1] = c
    m = 0
    for q in range(k):
        if m == 0 or buf[q] != buf[m - 1]:
            buf[m] = buf[q]
            m += 1
    return buf, m


@nb.njit(cache=True, nogil=True)
def _file_segments(xy, seg, x0, y0, cell, nx, ny):
    """Cell → segment CSR (segments in increasing order within a cell)."""
    ncell = nx * ny
    counts = np.zeros(ncell + 1, np.int64)
    buf = np.empty(64, np.int64)
    for s in range(len(seg)):
        k = seg[s]
        buf, m = _segment_cells(
            xy[k, 0], xy[k, 1], xy[k + 1, 0], xy[k + 1, 1], x0, y0, cell, nx, ny, buf
        )
        for q in range(m):
            counts[buf[q] + 1] += 1
    ptr = np.cumsum(counts)
    fill = ptr[:-1].copy()
    out = np.empty(ptr[-1], np.int32)
    for s in range(len(seg)):
        k = seg[s]
        buf, m = _segment_cells(
            xy[k, 0], xy[k, 1], xy[k + 1, 0], xy[k + 1, 1], x0, y0, cell, nx, ny, buf
        )
        for q in range(m):
            c = buf[q]
            out[fill[c]] = k
            fill[c] += 1
    return ptr, out


@dataclass(frozen=True)
class EdgeIndex:
    """Edge geometries as flat segments filed in a uniform grid of square cells.

    ``xy`` holds every vertex of every edge (edge ``e`` owns ``xy[ptr[e]:ptr[e + 1]]``),
    ``vertex_edge`` the edge of each vertex; a segment is named by the index of its first
    vertex. Cell ``(i, j)`` (``i`` along x) is ``j * nx + i`` and holds the segments
    ``cell_seg[cell_ptr[c]:cell_ptr[c + 1]]``.
    """

    xy: np.ndarray
    ptr: np.ndarray
    vertex_edge: np.ndarray
    x0: float
    y0: float
    cell_m: float
    nx: int
    ny: int
    cell_ptr: np.ndarray
    cell_seg: np.ndarray

    @property
    def nbytes(self) -> int:
        """Memory held by the index's arrays (bytes)."""
        return sum(
            a.nbytes for a in (self.xy, self.ptr, self.vertex_edge, self.cell_ptr, self.cell_seg)
        )

    @classmethod
    def build(cls, geometry: np.ndarray) -> EdgeIndex:
        """Index the LineStrings of ``geometry`` (empty or missing ones are never found)."""
        xy, part = shapely.get_coordinates(geometry, return_index=True)
        xy = np.ascontiguousarray(xy, np.float64)
        if len(xy) >= 2**31:
            msg = "Networks with more than 2 billion edge vertices are not supported."
            raise NetworkError(msg)
        n_edges = len(geometry)
        ptr = np.zeros(n_edges + 1, np.int32)
        np.cumsum(np.bincount(part, minlength=n_edges), out=ptr[1:])
        vertex_edge = part.astype(np.int32)
        del part
        seg = np.flatnonzero(vertex_edge[:-1] == vertex_edge[1:]).astype(np.int32)
        if len(seg) == 0:
            x0 = y0 = 0.0
            cell, nx, ny = 1.0, 1, 1
        else:
            lo, hi = xy.min(axis=0), xy.max(axis=0)
            x0, y0 = float(lo[0]), float(lo[1])
            width, height = float(hi[0] - lo[0]), float(hi[1] - lo[1])
            cell = _cell_size(width, height, len(seg))
            nx = int(width // cell) + 1
            ny = int(height // cell) + 1
        cell_ptr, cell_seg = _file_segments(xy, seg, x0, y0, cell, nx, ny)
        if len(cell_seg) < 2**31:
            cell_ptr = cell_ptr.astype(np.int32)
        return cls(xy, ptr, vertex_edge, x0, y0, cell, nx, ny, cell_ptr, cell_seg)

    def nearest(
        self, x: np.ndarray, y: np.ndarray, max_m: float, *, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Nearest edge to each point within ``max_m`` metres.

        Returns ``(edge, distance_m, along_m, length_m, tied)``: the edge (-1 beyond
        ``max_m``), GEOS's point-to-edge distance, how far along the edge's geometry the
        nearest point lies (GEOS ``project``), the geometry's length, and whether another
        edge is within :data:`TIE_M` of the same distance (GEOS would break that tie by
        its own tree order).
        """
        n = len(x)
        edge = np.full(n, -1, np.int64)
        dist = np.full(n, np.inf)
        along = np.zeros(n)
        length = np.zeros(n)
        tied = np.zeros(n, np.bool_)
        order = self._locality_order(x, y)
        chunks = np.linspace(0, n, max(1, threads) * 4 + 1).astype(np.int64)
        args = (self.xy, self.ptr, self.vertex_edge, self.cell_ptr, self.cell_seg)
        grid = (self.x0, self.y0, self.cell_m, self.nx, self.ny)

        def run(c: int) -> None:
            _nearest_many(
                *args, *grid, x, y, order[chunks[c] : chunks[c + 1]], float(max_m),
                edge, dist, along, length, tied,
            )  # fmt: skip

        if threads <= 1 or n < 10_000:
            for c in range(len(chunks) - 1):
                run(c)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(threads) as ex:
                list(ex.map(run, range(len(chunks) - 1)))
        return edge, dist, along, length, tied

    def _locality_order(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Points ordered by cell row, then column (neighbours share cache lines)."""
        with np.errstate(invalid="ignore"):  # NaN or infinite points: never snapped
            i = np.clip(np.nan_to_num((x - self.x0) // self.cell_m), -1, self.nx)
            j = np.clip(np.nan_to_num((y - self.y0) // self.cell_m), -1, self.ny)
        return np.argsort((j * (self.nx + 2) + i).astype(np.int64))


def _cell_size(width: float, height: float, n_segments: int) -> float:
    """Side of a square cell (metres): about ``CELLS_PER_SEGMENT`` cells per segment."""
    area = max(width, 1e-9) * max(height, 1e-9)
    cell = math.sqrt(area / (CELLS_PER_SEGMENT * n_segments))
    if width < cell or height < cell:  # a long thin network: cut it along its length
        cell = max(width, height) / (CELLS_PER_SEGMENT * n_segments)
    return max(cell, 1e-6, 1e-12 * max(width, height))


@nb.njit(cache=True, nogil=True)
def _edge_distance_along(xy, ptr, e, px, py):
    """(GEOS ``project`` of P on edge ``e``'s geometry, the geometry's length)."""
    best = np.inf
    along = 0.0
    start = 0.0
    for k in range(ptr[e], ptr[e + 1] - 1):
        ax, ay, bx, by = xy[k, 0], xy[k, 1], xy[k + 1, 0], xy[k + 1, 1]
        dx = bx - ax
        dy = by - ay
        seg_len = math.sqrt(dx * dx + dy * dy)
        d = _point_segment(px, py, ax, ay, bx, by)
        if d < best:
            best = d
            if px == ax and py == ay:
                f = 0.0
            elif px == bx and py == by:
                f = 1.0
            else:
                f = ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)
            if f <= 0.0:
                along = start
            elif f <= 1.0:
                along = start + f * seg_len
            else:
                along = start + seg_len
        start += seg_len
    return along, start


@nb.njit(cache=True, nogil=True, inline="always")
def _scan_cell(xy, vertex_edge, cell_seg, lo, hi, px, py, d1, e1, d2, e2):
    """Offer the segments ``cell_seg[lo:hi]`` to the two nearest edges so far."""
    for q in range(lo, hi):
        k = cell_seg[q]
        d = _point_segment(px, py, xy[k, 0], xy[k, 1], xy[k + 1, 0], xy[k + 1, 1])
        if d > d2:
            continue
        e = vertex_edge[k]
        if e == e1:
            d1 = min(d1, d)
        elif d < d1:
            d2, e2 = d1, e1
            d1, e1 = d, e
        elif e == e2:
            d2 = min(d2, d)
        else:
            d2, e2 = d, e
    return d1, e1, d2, e2


@nb.njit(cache=True, nogil=True)
def _rect_distance(px, py, xa, ya, xb, yb):
    dx = max(xa - px, 0.0, px - xb)
    dy = max(ya - py, 0.0, py - yb)
    return math.sqrt(dx * dx + dy * dy)


@nb.njit(cache=True, nogil=True)
def _ring_bound(px, py, x0, y0, cell, nx, ny, ilo, ihi, jlo, jhi):
    """Least distance from P to any cell outside columns ilo..ihi × rows jlo..jhi."""
    lb = np.inf
    if ilo > 0:
        lb = min(lb, px - (x0 + ilo * cell))
    if ihi < nx - 1:
        lb = min(lb, x0 + (ihi + 1) * cell - px)
    if jlo > 0:
        lb = min(lb, py - (y0 + jlo * cell))
    if jhi < ny - 1:
        lb = min(lb, y0 + (jhi + 1) * cell - py)
    return lb


@nb.njit(cache=True, nogil=True)
def _nearest_one(xy, vertex_edge, cell_ptr, cell_seg, x0, y0, cell, nx, ny, px, py, max_m):
    """Ring search around P: ``(d1, e1, d2, e2)``, the two nearest edges (-1: none)."""
    d1, e1, d2, e2 = np.inf, np.int32(-1), np.inf, np.int32(-1)
    # nothing within reach of a point this far outside the grid
    if _rect_distance(px, py, x0, y0, x0 + nx * cell, y0 + ny * cell) > max_m + SLACK_M:
        return d1, e1, d2, e2
    ci = min(max(math.floor((px - x0) / cell), 0), nx - 1)
    cj = min(max(math.floor((py - y0) / cell), 0), ny - 1)
    r = 0
    while True:
        jlo, jhi = max(cj - r, 0), min(cj + r, ny - 1)
        ilo, ihi = max(ci - r, 0), min(ci + r, nx - 1)
        for j in range(jlo, jhi + 1):
            ya = y0 + j * cell
            dy = max(ya - py, 0.0, py - ya - cell)
            full_row = j == cj - r or j == cj + r
            for i in range(ilo, ihi + 1):
                if not full_row and i != ci - r and i != ci + r:
                    continue
                xa = x0 + i * cell
                dx = max(xa - px, 0.0, px - xa - cell)
                if math.sqrt(dx * dx + dy * dy) > min(d1, max_m) + TIE_M + SLACK_M:
                    continue
                c = j * nx + i
                d1, e1, d2, e2 = _scan_cell(
                    xy, vertex_edge, cell_seg, cell_ptr[c], cell_ptr[c + 1], px, py, d1, e1, d2, e2
                )
        lb = _ring_bound(px, py, x0, y0, cell, nx, ny, ilo, ihi, jlo, jhi)
        if lb == np.inf or lb - SLACK_M > min(d1, max_m) + TIE_M:
            return d1, e1, d2, e2
        r += 1


@nb.njit(cache=True, nogil=True)
def _nearest_many(
    xy, ptr, vertex_edge, cell_ptr, cell_seg, x0, y0, cell, nx, ny,
    x, y, points, max_m, edge, dist, along, length, tied,
):  # fmt: skip
    """:meth:`EdgeIndex.nearest` for the points ``points`` (writes their entries)."""
    for p in points:
        px, py = x[p], y[p]
        if not (math.isfinite(px) and math.isfinite(py)):
            continue
        d1, e, d2, _ = _nearest_one(
            xy, vertex_edge, cell_ptr, cell_seg, x0, y0, cell, nx, ny, px, py, max_m
        )
        if not d1 <= max_m:
            continue
        edge[p] = e
        dist[p] = d1
        tied[p] = d2 <= d1 + TIE_M
        along[p], length[p] = _edge_distance_along(xy, ptr, e, px, py)
