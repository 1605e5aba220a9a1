"""Typed errors: one root (:class:`SitingError`), each also a built-in exception.

Every message says what was wrong, where (file, row, field) and what to do.
"""

from __future__ import annotations


class SitingError(Exception):
    """Root of every error raised on purpose by siting."""


class DataError(ValueError, SitingError):
    """Input data is malformed: a missing column, a bad value, an unreadable file."""


class MissingColumnError(KeyError, DataError):
    """A required column (field) is absent from the input."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class CRSError(ValueError, SitingError):
    """Coordinates have no CRS, the wrong CRS, or a CRS unfit for metric distances."""


class NetworkError(ValueError, SitingError):
    """The walking network is empty, disconnected from the data, or unreadable."""


class ParameterError(ValueError, SitingError):
    """A parameter is out of its allowed range (e.g. a negative threshold or speed)."""


class InfeasibleError(ValueError, SitingError):
    """The requested target cannot be met; the message says what can be reached."""


class OutputExistsError(FileExistsError, SitingError):
    """An output file already exists and ``force`` was not given."""


class OutputPathError(OSError, SitingError):
    """An output path cannot be written: a file where a folder is needed (or the other
    way round), or a folder without write permission. Raised before any data is read."""


__all__ = [
    "CRSError",
    "DataError",
    "InfeasibleError",
    "MissingColumnError",
    "NetworkError",
    "OutputExistsError",
    "OutputPathError",
    "ParameterError",
    "SitingError",
]
