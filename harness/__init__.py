"""Evaluation harness for medical coding automation. Kept import-free so ``python -m harness --help`` is instant.

The Python API (``harness.api``) is exported here and imported only when first used (PEP 562): ``harness.evaluate``
runs a job and returns its ``Run``, ``harness.load_run`` reads one back, ``harness.compare`` pairs two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Measure", "Run", "compare", "evaluate", "load_run"]

if TYPE_CHECKING:
    from harness.api import Measure, Run, compare, evaluate, load_run


def __getattr__(name: str) -> Any:
    if name in __all__:
        import harness.api

        return getattr(harness.api, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
