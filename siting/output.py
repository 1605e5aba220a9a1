"""Safe output: nothing the user had is overwritten unless ``force`` is given, nothing
half-written is ever left under a name the user sees.

- :func:`atomic_write` writes one file through a temporary file beside the target, then
  renames it.
- :class:`OutputFolder` writes a whole folder of outputs (a run's *bundle*) into a
  temporary sibling folder and renames it into place at the end; with ``force`` an
  existing bundle is replaced as a whole (old folder renamed aside, new one renamed in,
  old one deleted). An interrupted or failed write removes its temporary folder; the
  temporary folders of a killed run (``SIGKILL``) are removed by the next run that
  writes there.
- :func:`check_writable` / :func:`check_output_dir` check a target up front, before any
  data is read, with typed errors (:class:`~siting.errors.OutputExistsError`,
  :class:`~siting.errors.OutputPathError`).

Temporary names are hidden siblings of the target: ``.NAME.siting-tmp-PID-XXXX`` (and
``.NAME.siting-old-PID-XXXX`` for a replaced folder). The process id tells a leftover of
a dead run from the work of a running one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .errors import OutputExistsError, OutputPathError

#: marks the temporary siblings this module creates (see the module docstring)
TMP_TAG = ".siting-tmp-"
OLD_TAG = ".siting-old-"
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.siting-(?:tmp|old)-(?P<pid>\d+)-")
#: leftovers of another machine's or an unknown run are removed after this many seconds
_STALE_S = 24 * 3600.0
#: environment variable of the test hook :func:`pause_point` (see there)
PAUSE_ENV = "SITING_TEST_PAUSE"


# ----------------------------------------------------------------------------- checks
def check_writable(path: str | os.PathLike, *, force: bool) -> Path:
    """Check that ``path`` can be written as a file, before any work is done.

    Raises :class:`OutputExistsError` if ``path`` exists and ``force`` is False, and
    :class:`OutputPathError` if it is a folder or its folder cannot be created or
    written to.
    """
    path = Path(path)
    if path.is_dir():
        msg = f"{path} is a folder; the output needs a file name here (e.g. {path / 'map.html'})."
        raise OutputPathError(msg)
    if path.exists() and not force:
        msg = f"{path} already exists; pass force=True (CLI: --force) to overwrite it."
        raise OutputExistsError(msg)
    _check_parent_writable(path)
    return path


def check_output_dir(
    directory: str | os.PathLike, *, force: bool, names: Iterable[str] = ()
) -> Path:
    """Check that ``directory`` can receive a bundle of outputs, before any work is done.

    The folder may be absent or empty. If it holds files, ``force`` is needed, and even
    then only if each file is one a bundle writes (``names`` and
    :data:`BUNDLE_NAMES`): a folder holding other files is never replaced.
    Raises :class:`OutputExistsError` or :class:`OutputPathError`.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        msg = (
            f"{directory} is a file, not a folder; outputs go into a folder. "
            "Choose another output folder, or move the file."
        )
        raise OutputPathError(msg)
    clean_leftovers(directory)
    if directory.is_dir():
        entries = sorted(p.name for p in directory.iterdir())
        if entries and not force:
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            msg = (
                f"{directory} already exists and holds {shown}; pass force=True "
                "(CLI: --force) to replace it, or choose another output folder."
            )
            raise OutputExistsError(msg)
        foreign = [e for e in entries if e not in {*BUNDLE_NAMES, *names}]
        if foreign:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            msg = (
                f"{directory} holds files that siting did not write ({shown}); it is "
                "replaced as a whole, so even --force does not touch it. Move those files "
                "or choose another output folder."
            )
            raise OutputExistsError(msg)
    _check_parent_writable(directory)
    return directory


def _check_parent_writable(path: Path) -> None:
    """The nearest existing folder above ``path`` is a folder we can create entries in."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        msg = f"{path}: {parent} is a file, not a folder, so {path} cannot be created there."
        raise OutputPathError(msg)
    try:  # the real test: permissions, read-only file systems, ACLs, quotas on entries
        probe = tempfile.mkdtemp(dir=parent, prefix=f".{path.name}{TMP_TAG}{os.getpid()}-")
    except OSError as exc:
        msg = (
            f"{path}: cannot write in {parent} ({exc.strerror or exc}). Choose a folder you "
            "can write to, or fix its permissions."
        )
        raise OutputPathError(msg) from exc
    Path(probe).rmdir()


# ----------------------------------------------------------------------------- leftovers
def _pid_alive(pid: int) -> bool:
    if os.name != "posix":  # no cheap, safe probe: trust the age rule alone
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_leftovers(target: str | os.PathLike) -> list[Path]:
    """Remove the temporary siblings of ``target`` left by a killed run.

    A leftover is removed when the process that made it is gone, or when it is older
    than a day (a run on another machine sharing the folder). Returns what was removed.
    """
    target = Path(target).absolute()
    parent = target.parent
    if not parent.is_dir():
        return []
    removed = []
    for entry in parent.iterdir():
        m = _LEFTOVER.match(entry.name)
        if m is None or m["name"] != target.name:
            continue
        pid = int(m["pid"])
        try:
            age = time.time() - entry.lstat().st_mtime
        except FileNotFoundError:
            continue
        if pid != os.getpid() and (not _pid_alive(pid) or age > _STALE_S):
            _remove(entry)
            removed.append(entry)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _sibling(target: Path, tag: str, *, directory: bool) -> Path:
    """A new, hidden, process-tagged sibling of ``target`` (created empty)."""
    prefix = f".{target.name}{tag}{os.getpid()}-"
    if directory:
        return Path(tempfile.mkdtemp(dir=target.parent, prefix=prefix))
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=target.suffix)
    os.close(fd)
    return Path(name)


# ----------------------------------------------------------------------------- one file
def atomic_write(
    path: str | os.PathLike, writer: Callable[[Path], None], *, force: bool = False
) -> Path:
    """Call ``writer(tmp_path)`` then move the result to ``path`` in one step."""
    path = check_writable(path, force=force)
    clean_leftovers(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _sibling(path, TMP_TAG, directory=False)
    try:
        tmp_path.unlink()  # let the writer create it (some drivers refuse existing files)
        writer(tmp_path)
        _fix_mode(tmp_path)
        tmp_path.replace(path)
    finally:
        tmp_path.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | os.PathLike, text: str, *, force: bool = False) -> Path:
    """Write text (UTF-8) atomically."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"), force=force)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fix_mode(path: Path, *, directory: bool = False) -> None:
    """Give a temporary file (0600) or folder (0700) the mode a plain create would have."""
    if os.name == "posix":
        path.chmod((0o777 if directory else 0o666) & ~_umask())


# ----------------------------------------------------------------------------- a folder
#: the files of a plan's folder (``siting run``, :meth:`Plan.to_file`; see :mod:`siting.bundle`)
PLAN_FILES = (
    "plan.gpkg",
    "stats.csv",
    "summary.json",
    "tables.xlsx",
    "map.html",
    "report.html",
    "compliance.csv",  # with a norm audit
)
#: the files of a norm audit's folder (``siting audit``, :meth:`Audit.to_file`; see
#: :mod:`siting.compliance.files`); the last two only with a plan from the audit
AUDIT_FILES = (
    "compliance.csv",
    "by_unit.csv",
    "life_circle.csv",
    "units.gpkg",
    "audit.json",
    "compliance.xlsx",
    "compliance-map.html",
    "compliance-report.html",
    "plan_compliance.csv",
    "plan_sites.gpkg",
)
#: file names siting writes into an output folder (``check_output_dir`` replaces, with
#: ``force``, a folder that holds only these)
BUNDLE_NAMES = frozenset(PLAN_FILES + AUDIT_FILES)


class OutputFolder:
    """Write a folder of outputs as a whole: staged in a temporary sibling, then renamed.

    Use as a context manager::

        with OutputFolder("out/run1", force=False) as out:
            frame.to_csv(out.path("stats.csv"))
            extra = out.file_beside("maps/run1.html")   # a file outside the folder
            extra.write_text(html)

    On a clean exit everything is moved into place (the folder, then the extra files);
    on an exception or Ctrl-C the temporary folder and files are removed and nothing the
    user had is touched. ``SIGINT`` is held back during the few renames of the commit.
    """

    def __init__(self, directory: str | os.PathLike, *, force: bool = False) -> None:
        self.directory = Path(directory).absolute()
        self.force = force
        self.staging: Path | None = None
        self._files: list[tuple[Path, Path]] = []  # (temporary, target) outside the folder
        self._made: list[Path] = []  # parent folders this write created

    # ------------------------------------------------------------------ staging
    def __enter__(self) -> OutputFolder:
        check_output_dir(self.directory, force=self.force, names=())
        self._made = _make_parents(self.directory.parent)
        self.staging = _sibling(self.directory, TMP_TAG, directory=True)
        _fix_mode(self.staging, directory=True)
        return self

    def path(self, name: str) -> Path:
        """Where to write the bundle file ``name`` (inside the temporary folder)."""
        if self.staging is None:
            msg = "OutputFolder.path() is used inside a `with OutputFolder(...)` block"
            raise RuntimeError(msg)
        return self.staging / name

    def file_beside(self, target: str | os.PathLike) -> Path:
        """A temporary path for a file outside the folder, moved to ``target`` on commit."""
        target = check_writable(Path(target).absolute(), force=self.force)
        clean_leftovers(target)
        self._made += _make_parents(target.parent)
        tmp = _sibling(target, TMP_TAG, directory=False)
        tmp.unlink()
        self._files.append((tmp, target))
        return tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                with _sigint_held():
                    self._commit()
                return
            except BaseException:
                self._abort()
                raise
        self._abort()

    # ------------------------------------------------------------------ end
    def _commit(self) -> None:
        assert self.staging is not None
        pause_point("commit")
        for tmp, _ in self._files:
            if not tmp.exists():
                msg = f"{tmp}: the writer did not create this file"
                raise OutputPathError(msg)
        # check again: a file may have appeared while the run was working
        check_output_dir(self.directory, force=self.force, names=_names(self.staging))
        for _, target in self._files:
            check_writable(target, force=self.force)
        aside = None
        if self.directory.exists():  # empty, or a bundle to replace (force)
            aside = _sibling(self.directory, OLD_TAG, directory=True)
            aside.rmdir()
            self.directory.rename(aside)
        try:
            self.staging.rename(self.directory)
        except BaseException:
            if aside is not None:
                aside.rename(self.directory)
            raise
        self.staging = None
        for tmp, target in self._files:
            _fix_mode(tmp)
            tmp.replace(target)
        self._files = []
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)

    def _abort(self) -> None:
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        for tmp, _ in self._files:
            tmp.unlink(missing_ok=True)
        self._files = []
        for folder in reversed(self._made):  # only the folders this write created, if empty
            with contextlib.suppress(OSError):
                folder.rmdir()


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def _make_parents(folder: Path) -> list[Path]:
    """``mkdir -p folder``; returns the folders created, outermost first."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    try:
        for f in reversed(missing):
            f.mkdir()
    except OSError as exc:
        msg = f"cannot create the output folder {missing[0]} ({exc.strerror or exc})."
        raise OutputPathError(msg) from exc
    return list(reversed(missing))


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Ignore Ctrl-C while the few renames of a commit run.

    A Ctrl-C then is dropped: the outputs are complete a moment later and the run ends
    anyway (stopping half-way through the renames is what must not happen).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


# ----------------------------------------------------------------------------- test hook
def pause_point(name: str) -> None:
    """Test hook: pause here when ``SITING_TEST_PAUSE`` names this point.

    The value is ``NAME:FILE``: the run creates ``FILE`` (to tell the test it has
    arrived) and waits until the test deletes it (at most 60 s), so a test can interrupt
    it at a known point. Unset, this costs one dictionary look-up.
    """
    spec = os.environ.get(PAUSE_ENV)
    if not spec or not spec.startswith(f"{name}:"):
        return
    flag = Path(spec.split(":", 1)[1])
    flag.touch()
    deadline = time.monotonic() + 60.0
    while flag.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
