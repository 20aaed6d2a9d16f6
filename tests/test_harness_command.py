"""The one ``harness`` command: its subcommands, the job as the default, and a help screen that loads nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import PROJECT_ROOT

from harness.cli import COMMANDS, main
from harness.cli.bench import BENCHES
from harness.cli.report import REPORTS


def harness(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)


def test_help_lists_every_subcommand_on_one_screen(capsys: pytest.CaptureFixture) -> None:
    assert main(["--help"]) == 0
    shown = capsys.readouterr().out
    assert len(shown.splitlines()) <= 24
    for name in ("run", "runs", "gate", "merge", "operations", "server", "audit", "rules", "report", "fit", "bench", "models",
                 "download", "sample", "metrics"):
        assert f"\n  {name} " in shown


def test_help_imports_no_heavy_library() -> None:
    code = "import sys; from harness.cli import main; main(['--help']); print(sorted(m for m in ('hydra', 'mlflow', 'torch', "
    code += "'vllm', 'transformers', 'numpy', 'pydantic') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_every_target_resolves_to_a_callable() -> None:
    import importlib

    for target in [c.target for c in COMMANDS.values()] + list(REPORTS.values()) + list(BENCHES.values()):
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), target


@pytest.mark.slow  # spawns python -m harness
def test_a_subcommand_runs_its_module() -> None:
    out = harness("rules", "list")
    assert out.returncode == 0, out.stderr
    assert "icd10cm_2026_v2" in out.stdout


def test_unknown_command_and_incomplete_group_exit_2(capsys: pytest.CaptureFixture) -> None:
    assert main(["no-such-command"]) == 2
    assert "unknown command 'no-such-command'" in capsys.readouterr().err
    assert main(["report"]) == 2
    assert "harness report {run|sweep|compare}" in capsys.readouterr().err


@pytest.mark.slow  # spawns python -m harness
def test_a_bad_override_is_a_usage_error_naming_the_key() -> None:
    out = harness("run", "pipeline.batch_size=0", "tracking.enabled=false")
    assert out.returncode == 2
    assert "pipeline.batch_size" in out.stderr


def test_a_rule_pack_path_is_taken_as_the_pack(tmp_path) -> None:
    from harness.cli.run import pack_paths

    pack = tmp_path / "my_pack.yaml"
    assert pack_paths(["rules=icd10cm_2026_v1", f"rules={pack}", "seed=1"]) == [
        "rules=icd10cm_2026_v1", f"rules.pack={pack}", "rules.name=my_pack", "seed=1"]
