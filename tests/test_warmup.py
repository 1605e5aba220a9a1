"""``python -m siting._warmup`` (run by ``make install``) runs every stage on its synthetic
city without an error, and the kernels it compiles are the cached kind (``cache=True``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numba.core.registry import CPUDispatcher

from siting import _warmup
from siting.network import _simplify, paths
from siting.optimize import _kernels
from siting.optimize.heuristics import CoverIndex


def test_the_warmup_runs_every_stage_and_compiles_cached_kernels():
    assert _warmup.compile_kernels() > 0
    for module in (paths, _simplify, _kernels):
        kernels = [k for k in vars(module).values() if isinstance(k, CPUDispatcher)]
        compiled = [k for k in kernels if k.signatures]
        assert compiled, f"the warm-up compiled nothing in {module.__name__}"
        assert all(k._cache.__class__.__name__ == "FunctionCache" for k in compiled)


def test_read_only_weights_do_not_compile_the_kernels_again():
    """pandas' copy-on-write arrays are read-only; numba would compile every search
    kernel a second time for them unless the index holds its own copies."""
    weight = pd.Series([3.0, 4.0, 5.0]).to_numpy()
    if weight.flags.writeable:  # older pandas without copy-on-write
        weight.setflags(write=False)
    A = sp.csr_matrix(np.array([[1, 0], [1, 1], [0, 1]], dtype=bool))
    sel = np.array([True, False])
    assert CoverIndex.build(A, np.array([3.0, 4.0, 5.0])).covered(sel) == 7.0
    before = set(_kernels.coverage_of.signatures)
    idx = CoverIndex.build(A, weight, cost=weight[:2])
    assert idx.w.flags.writeable and idx.cost.flags.writeable
    assert idx.covered(sel) == 7.0
    assert set(_kernels.coverage_of.signatures) == before
