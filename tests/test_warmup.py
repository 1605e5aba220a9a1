"""``python -m siting._warmup`` (run by ``make install``) runs every stage on its synthetic
city without an error, and the kernels it compiles are the cached kind (``cache=True``)."""

from __future__ import annotations

from numba.core.registry import CPUDispatcher

from siting import _warmup
from siting.network import _simplify, paths
from siting.optimize import _kernels


def test_the_warmup_runs_every_stage_and_compiles_cached_kernels():
    assert _warmup.compile_kernels() > 0
    for module in (paths, _simplify, _kernels):
        kernels = [k for k in vars(module).values() if isinstance(k, CPUDispatcher)]
        compiled = [k for k in kernels if k.signatures]
        assert compiled, f"the warm-up compiled nothing in {module.__name__}"
        assert all(k._cache.__class__.__name__ == "FunctionCache" for k in compiled)
