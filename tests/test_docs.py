"""The documentation: numpydoc docstrings on the public API, examples that run, a site
that builds.

* every public function, class and method (the ``__all__`` of the modules below and the
  public methods of their classes) passes the numpydoc checks the Sphinx build enforces
  (``numpydoc_validation_checks`` in ``docs/conf.py``: a docstring, a summary,
  Parameters that match the signature, a Returns section);
* the four entry points (``read_network``, ``coverage``, ``solve``, ``Plan``) have
  Examples, and every example in a public docstring runs (doctest; the ones that need
  data or write files are marked ``# doctest: +SKIP``);
* ``sphinx-build -W`` builds the site (``make docs``) and documents every public name.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: the modules whose ``__all__`` is the public API (the API reference documents them)
MODULES = (
    "siting",
    "siting.io",
    "siting.network",
    "siting.optimize",
    "siting.maps",
    "siting.report",
    "siting.standards",
    "siting.compliance",
    "siting.tiles",
    "siting.decomposed",
    "siting.batch",
)
#: the entry points a planner starts from: each has Examples that run
ENTRY_POINTS = ("read_network", "coverage", "solve", "Plan")
#: the packages ``make docs`` needs (the ``docs`` extra)
DOCS_PACKAGES = ("sphinx", "numpydoc", "myst_nb", "pydata_sphinx_theme", "sphinx_design")


def _public_functions_and_classes() -> dict[str, object]:
    """Every function and class in the ``__all__`` of :data:`MODULES`, by defining name."""
    found: dict[str, object] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        for attr in module.__all__:
            obj = getattr(module, attr)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def public_api() -> dict[str, object]:
    """The public functions and classes, and the public methods of those classes."""
    found = _public_functions_and_classes()
    for qualname, obj in list(found.items()):
        if not inspect.isclass(obj) or issubclass(obj, BaseException):
            continue
        for attr, member in vars(obj).items():
            func = member.__func__ if isinstance(member, classmethod | staticmethod) else member
            if not attr.startswith("_") and inspect.isfunction(func):
                found[f"{qualname}.{attr}"] = func
    return found


def _conf() -> dict[str, object]:
    """The Sphinx configuration (``docs/conf.py``) as a namespace."""
    pytest.importorskip("numpydoc", reason="numpydoc is in the docs extra: pip install -e .[docs]")
    return runpy.run_path(str(DOCS / "conf.py"))


def test_public_docstrings_pass_the_numpydoc_checks():
    conf = _conf()  # skips without numpydoc
    from numpydoc.validate import validate

    checks = set(conf["numpydoc_validation_checks"])
    assert {"PR01", "PR02", "RT01", "GL08"} <= checks
    api = public_api()
    assert len(api) > 150, "the public API was not found"
    failures = []
    for qualname in sorted(api):
        errors = [f"{code} {text}" for code, text in validate(qualname)["errors"] if code in checks]
        if errors:
            failures.append(f"{qualname}: {'; '.join(errors)}")
    assert not failures, "numpydoc checks failed:\n" + "\n".join(failures)


def test_entry_points_have_examples_that_run():
    import siting as st

    for name in ENTRY_POINTS:
        doc = inspect.getdoc(getattr(st, name)) or ""
        assert "\nExamples\n--------\n" in doc, f"st.{name} has no Examples section"
        tests = doctest.DocTestFinder(recurse=False).find(getattr(st, name), f"st.{name}")
        run = [e for t in tests for e in t.examples if not e.options.get(doctest.SKIP)]
        assert len(run) >= 2, f"st.{name}: every example is skipped"


def test_examples_in_public_docstrings_run(monkeypatch):
    """doctest every public docstring, from the repository's root (data/ paths)."""
    monkeypatch.chdir(ROOT)
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    ran = 0
    for qualname, obj in sorted(public_api().items()):
        for test in finder.find(obj, qualname, globs={}):
            runner.run(test)
            ran += sum(not e.options.get(doctest.SKIP) for e in test.examples)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doc examples failed"
    assert ran > 20, "too few doc examples ran"


@pytest.mark.slow  # 17-20 s: in `make test-all`; CI builds the site itself (`make docs`)
def test_sphinx_builds_the_site_with_warnings_as_errors(tmp_path):
    """``make docs`` in a temporary folder: the site builds and documents every name."""
    missing = [p for p in DOCS_PACKAGES if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(
            f"the docs tools are not installed ({', '.join(missing)}): pip install -e .[docs]"
        )
    out = tmp_path / "html"
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-E", "-q"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}  # the build's own -W decides
    proc = subprocess.run(
        [*cmd, str(DOCS), str(out)], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 0, f"sphinx-build failed:\n{proc.stderr[-6000:]}"
    for page in ("index", "getting-started", "concepts", "cli", "api/siting"):
        assert (out / f"{page}.html").is_file(), page
    assert (out / "notebooks" / "01_quickstart.html").is_file()

    from sphinx.util.inventory import InventoryFile

    with (out / "objects.inv").open("rb") as fh:
        inventory = InventoryFile.load(fh, "", lambda base, uri: uri)
    documented = {
        name for kind, items in inventory.items() if kind.startswith("py:") for name in items
    }
    undocumented = []
    for name in MODULES:
        for attr in importlib.import_module(name).__all__:
            obj = getattr(importlib.import_module(name), attr)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if f"{name}.{attr}" not in documented and f"siting.{attr}" not in documented:
                undocumented.append(f"{name}.{attr}")
    assert not undocumented, f"not in the API reference: {undocumented}"
