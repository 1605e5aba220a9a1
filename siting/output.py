"""Atomic output: write to a temporary file beside the target, then rename.

Nothing the user had is overwritten unless ``force`` is given.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import OutputExistsError


def check_writable(path: str | os.PathLike, *, force: bool) -> Path:
    """Raise :class:`OutputExistsError` if ``path`` exists and ``force`` is False."""
    path = Path(path)
    if path.exists() and not force:
        msg = f"{path} already exists; pass force=True (CLI: --force) to overwrite it."
        raise OutputExistsError(msg)
    return path


def atomic_write(
    path: str | os.PathLike, writer: Callable[[Path], None], *, force: bool = False
) -> Path:
    """Call ``writer(tmp_path)`` then move the result to ``path`` in one step."""
    path = check_writable(path, force=force)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        tmp_path.unlink()  # let the writer create it (some drivers refuse existing files)
        writer(tmp_path)
        tmp_path.replace(path)
    finally:
        tmp_path.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | os.PathLike, text: str, *, force: bool = False) -> Path:
    """Write text (UTF-8) atomically."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"), force=force)
