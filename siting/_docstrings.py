"""Docstring pieces that several functions share: each written once, here.

A docstring names a piece on a line of its own, ``%(written_file)s``, and the function
is decorated with :func:`shared_doc`, which puts the piece in at that line's indent. The
result is an ordinary numpydoc docstring (``help()``, Sphinx and numpydoc's checks read
the filled-in text).
"""

from __future__ import annotations

import re
from typing import TypeVar

T = TypeVar("T")

#: name -> numpydoc text (unindented)
PIECES: dict[str, str] = {
    # a function or method that writes one file atomically
    "written_file": """\
Returns
-------
pathlib.Path
    The file written.

Raises
------
OutputExistsError
    The file exists and ``force`` is False.
OutputPathError
    ``path`` is a folder, or its folder cannot be written.""",
    # a function or method that writes a folder of files as a whole
    "written_folder": """\
Returns
-------
dict of str to pathlib.Path
    The files written, by name.

Raises
------
OutputExistsError
    The folder exists and ``force`` is False.
OutputPathError
    The path is a file, or a folder that cannot be written.""",
    # a map (siting.maps.plan_map, coverage_map, audit_map)
    "map_raises": """\
Raises
------
ParameterError
    An unknown ``basemap``, ``lang`` or ``assets`` (or ``"tianditu"`` without a key).""",
    # facilities and candidate sites (siting.read_facilities, read_candidates)
    "sites_raises": """\
Raises
------
DataError
    Missing/unreadable file; a bad value (the message names file, row and field);
    a geometry that is not a point or polygon.
MissingColumnError
    A named column is absent, or no x/y columns in a table.
CRSError
    Coordinates that are not degrees and no ``crs``; unknown datum.""",
    # the network and the links of a tiled search (siting.tiles.split, tiled_distances)
    "tiled_inputs": """\
net : Network
    The whole network.
sources, targets : Links
    The sites' and the demand's links on ``net``.""",
    # the solver options every model takes (siting.optimize.solve_target, solve_mclp, ...)
    "solve_options": """\
options : SolveOptions, optional
    ``time_limit`` (seconds, a work budget), ``mip_gap``, ``method`` (``"auto"``,
    ``"exact"``, ``"heuristic"``), ``seed``, ``threads``, ``verbose``: see
    :class:`~siting.optimize.SolveOptions` (default ``SolveOptions()``).""",
    # the arithmetic of the norms (siting.standards)
    "m2_per_100_households": """\
m2_per_100_households : float
    The norm: m² of facility per 100 households (> 0); default 20 (national plan
    2011–2015).""",
    "persons_per_household": """\
persons_per_household : float
    Persons per household (> 0); default 2.62 (7th national census, 2020).""",
}

_MARKER = re.compile(r"^(?P<indent>[ ]*)%\((?P<name>\w+)\)s$", re.MULTILINE)


def shared_doc(obj: T) -> T:
    """Fill the ``%(name)s`` lines of ``obj``'s docstring with :data:`PIECES`.

    Parameters
    ----------
    obj : function or class
        Its ``__doc__`` names pieces on lines of their own.

    Returns
    -------
    function or class
        ``obj``, its docstring filled in (unchanged under ``python -OO``).
    """

    def fill(m: re.Match[str]) -> str:
        lines = PIECES[m["name"]].splitlines()
        return "\n".join(m["indent"] + line if line else "" for line in lines)

    if obj.__doc__:
        obj.__doc__ = _MARKER.sub(fill, obj.__doc__)
    return obj
