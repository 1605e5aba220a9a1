"""Pieces written once and used in many places: ``siting._docstrings.shared_doc`` (numpydoc
sections several functions share) and ``siting.validation.reject_rows`` (the typed error
at the first bad row)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from test_docs import public_api

from siting import _docstrings
from siting.errors import CRSError, DataError
from siting.validation import reject_rows


def test_a_piece_is_put_in_at_the_indent_of_its_line(monkeypatch) -> None:
    monkeypatch.setitem(_docstrings.PIECES, "demo", "x : int\n    A number.\n\ny : int")

    class Thing:
        @_docstrings.shared_doc
        def method(self, x: int, y: int) -> None:
            """Do it.

            Parameters
            ----------
            %(demo)s
            """

    assert inspect.getdoc(Thing.method).splitlines()[4:] == [
        "x : int",
        "    A number.",
        "",
        "y : int",
    ]
    assert "            x : int\n                A number.\n\n            y : int" in (
        Thing.method.__doc__
    )


def test_every_marker_in_the_public_docstrings_is_filled() -> None:
    for qualname, obj in public_api().items():
        doc = inspect.getdoc(obj) or ""
        assert "%(" not in doc, f"{qualname}: a shared_doc marker was left unfilled"
    used = {"written_file", "written_folder", "map_raises", "sites_raises", "solve_options"}
    for name in used:
        assert name in _docstrings.PIECES


def test_reject_rows_names_the_first_bad_row_with_the_given_error() -> None:
    bad = np.array([False, False, True, True])
    seen = []

    def message(i: int) -> str:
        seen.append(i)
        return f"row {i} is bad"

    with pytest.raises(CRSError, match=r"^row 2 is bad$"):
        reject_rows(bad, CRSError, message)
    assert seen == [2]
    reject_rows(np.zeros(3, dtype=bool), DataError, message)  # nothing bad: no error
    assert seen == [2], "the message is built only for a bad row"
