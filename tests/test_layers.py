"""The house's layers: every module imports in a fresh interpreter, and imports between packages point one way.

A package may import only packages of a lower layer (README.md, "Where things are"). Lazy imports inside
functions count too: a cycle that only bites at run time is still a cycle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import PROJECT_ROOT

PACKAGES = ("harness", "extractors", "coders", "reports")
LAYERS = [
    ["harness.core"],
    ["coders", "harness.intake", "harness.trust"],
    ["harness.sources", "extractors"],
    ["extractors.dictionary", "extractors.llm"],
    ["extractors.reference"],  # re-ranks the dictionary's candidates
    ["harness.metrics"],
    ["harness.operations"],  # the workload model reads runs' results and scores, and uses the bootstrap
    ["harness.pipeline", "harness.tracking"],
    ["reports"],
    ["harness.sweep", "harness.benchmarks"],
    ["harness.job"],
    ["harness.merge"],
    ["harness.cli"],
]
"""Lowest first. ``harness.core`` is contracts, errors, config, registry, process and atomic-file helpers, the checks on
user-given paths (``user_paths``), the installed-engine check, the leakage check and the run folder's layout
(``run_record``); ``harness.job`` is the job (``run``, ``job_config``, ``job_identity``, ``recording``,
``stop_signals``) and the Python API the package exports (``api``); ``harness.merge`` scores a sweep's shards as one
run with the job's own functions; ``harness.cli`` is
the ``harness`` command (and ``python -m harness``), thin over all of them."""
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}
CORE = {"contracts", "errors", "config", "registry", "processes", "leakage", "atomic_files", "installed_engines", "run_record",
        "user_paths"}
JOB = {"run", "job_config", "job_identity", "recording", "stop_signals", "api"}


def unit_of(module: str) -> str:
    """The layered unit a module belongs to."""
    parts = module.split(".")
    if module == "harness":  # the package exports the Python API
        return "harness.job"
    if module == "harness.__main__":
        return "harness.cli"
    if parts[0] == "harness":
        if parts[1] in CORE:
            return "harness.core"
        if parts[1] in JOB:
            return "harness.job"
        return f"harness.{parts[1]}"
    if parts[0] == "extractors" and len(parts) > 1 and parts[1] in ("llm", "dictionary", "reference"):
        return f"extractors.{parts[1]}"
    return parts[0]


def modules() -> list[tuple[str, Path]]:
    found = []
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
            found.append((name.removesuffix(".__init__"), path))
    return found


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n for n in names if n.split(".")[0] in PACKAGES}


def test_every_module_belongs_to_a_layer() -> None:
    assert {unit_of(name) for name, _ in modules()} <= set(RANK)


def test_imports_between_packages_point_down() -> None:
    upward = [
        f"{name} imports {target} ({unit_of(name)} -> {unit_of(target)})"
        for name, path in modules()
        for target in imports(path)
        if unit_of(target) != unit_of(name) and RANK[unit_of(target)] >= RANK[unit_of(name)]
    ]
    assert not upward, "\n".join(upward)


def test_every_module_imports_in_a_fresh_interpreter() -> None:
    names = [name for name, _ in modules() if not name.endswith("__main__")]
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    out = subprocess.run([sys.executable, "-c", code, *names], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]


MAX_MODULE_LINES = 400
"""A module past this holds more than one concept: split it by concern (issue 25)."""


def test_no_module_is_over_the_size_limit() -> None:
    long = [f"{path.relative_to(PROJECT_ROOT)}: {n} lines" for _, path in modules()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]
    assert not long, f"over {MAX_MODULE_LINES} lines:\n" + "\n".join(long)
