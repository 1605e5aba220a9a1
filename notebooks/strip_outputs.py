"""Strip outputs, execution counts and run metadata from notebooks before committing.

    python notebooks/strip_outputs.py                # every notebook in notebooks/
    python notebooks/strip_outputs.py a.ipynb ...    # these notebooks
    python notebooks/strip_outputs.py --check        # list notebooks with outputs, exit 1

``make strip-notebooks`` runs the first form. Notebooks are written as nbformat writes
them (sorted keys, one-space indent), so a stripped notebook opened and saved in
Jupyter stays close to the committed text. Needs only the standard library.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: cell metadata a run adds (nbclient's timings, Jupyter extensions' timers)
RUN_METADATA = ("execution", "ExecuteTime", "collapsed", "scrolled")


def strip(notebook: dict) -> dict:
    """The notebook without outputs, execution counts and per-run metadata."""
    out = dict(notebook)
    cells = []
    for cell in notebook.get("cells", []):
        cell = dict(cell)
        cell["metadata"] = {
            k: v for k, v in cell.get("metadata", {}).items() if k not in RUN_METADATA
        }
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cells.append(cell)
    out["cells"] = cells
    meta = dict(notebook.get("metadata", {}))
    meta.pop("widgets", None)
    if "language_info" in meta:  # a run records the interpreter's version here
        meta["language_info"] = {"name": meta["language_info"].get("name", "python")}
    out["metadata"] = meta
    return out


def dumps(notebook: dict) -> str:
    """The text nbformat writes for ``notebook``."""
    return json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if dirty")
    args = parser.parse_args(argv)
    paths = args.paths or sorted(HERE.glob("*.ipynb"))
    dirty = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        clean = dumps(strip(json.loads(text)))
        if clean == text:
            continue
        dirty.append(path)
        if not args.check:  # atomically: a crash leaves the old notebook, not half of one
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(clean, encoding="utf-8")
            tmp.replace(path)
    verb = "has outputs or run metadata (run: make strip-notebooks)" if args.check else "stripped"
    for path in dirty:
        print(f"{path}: {verb}")
    return 1 if args.check and dirty else 0


if __name__ == "__main__":
    sys.exit(main())
