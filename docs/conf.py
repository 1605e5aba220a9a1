"""Sphinx configuration: the siting user guide and API reference (``make docs``).

Built offline with warnings as errors (``sphinx-build -W --keep-going``): no intersphinx
inventories are fetched, the notebooks are rendered without running them, and numpydoc
checks every public docstring (see ``numpydoc_validation_checks``).
"""

from __future__ import annotations

import filecmp
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# document the siting of this checkout, not whatever an environment has installed
sys.path.insert(0, str(ROOT))

import siting  # noqa: E402

project = "siting"
author = "siting developers"
copyright = "siting developers; OpenStreetMap data © OpenStreetMap contributors (ODbL)"
release = siting.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_nb",  # MyST Markdown pages and the notebooks (never executed here)
    "sphinx_design",  # the cards of the front page
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "README-draft.md",  # the README proposed to the lead, not a page of the site
    "img/*.py",
    "**.ipynb_checkpoints",
]

# ------------------------------------------------------------------ the notebooks
# notebooks/ is outside the source folder: copy them in (only when they changed, so an
# incremental build does not re-read them); docs/notebooks/ is git-ignored
_nb_out = DOCS / "notebooks"
_nb_out.mkdir(exist_ok=True)
for _nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
    _copy = _nb_out / _nb.name
    if not _copy.exists() or not filecmp.cmp(_nb, _copy, shallow=False):
        shutil.copyfile(_nb, _copy)

nb_execution_mode = "off"  # rendered as committed (outputs stripped); never run
nb_merge_streams = True

# ------------------------------------------------------------------ MyST
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3  # links like [the pipeline](solver.md#the-pipeline)

# ------------------------------------------------------------------ API reference
autosummary_generate = False  # tables only: each module page documents its members
autodoc_default_options = {"member-order": "groupwise"}
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = False  # defaults shown as values: minutes=(5, 10, 15)
python_maximum_signature_line_length = 88  # long signatures: one parameter a line
add_module_names = False

numpydoc_show_class_members = False  # the class pages document their members below
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# every public docstring must pass these (a warning, so a failed build under -W):
# GL08 a docstring; SS01 a summary line; PR01 every parameter documented; PR02 no
# documented parameter that the signature lacks; PR07 each parameter described;
# RT01 a Returns section when something is returned; RT03 the return described;
# GL06/GL07 known sections in the standard order
numpydoc_validation_checks = {
    "GL06",
    "GL07",
    "GL08",
    "SS01",
    "PR01",
    "PR02",
    "PR07",
    "RT01",
    "RT03",
}
numpydoc_validation_exclude = {
    r"\.__\w+__$",  # dunder methods
    r"^siting\.errors\.\w+Error\.",  # exception classes' inherited methods
}

# ------------------------------------------------------------------ HTML
html_theme = "pydata_sphinx_theme"
html_title = f"siting {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 5,
    "show_toc_level": 2,
    "navbar_align": "left",
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_show_sourcelink = False
html_last_updated_fmt = None
