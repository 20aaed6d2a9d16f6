"""The CodiEsp manifest verifies the real data and catches a changed file."""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.cli.download import main
from harness.sources.download import load_manifest, verify


def test_manifest_matches_real_codiesp(data_dir: Path) -> None:
    assert verify(data_dir / "codiesp", load_manifest("codiesp")) == []


def test_changed_file_is_caught(data_dir: Path, tmp_path: Path, capsys) -> None:
    shutil.copytree(data_dir / "codiesp" / "dev", tmp_path / "codiesp" / "dev")
    victim = sorted((tmp_path / "codiesp" / "dev" / "text_files").glob("*.txt"))[0]
    victim.write_text(victim.read_text() + " ")
    problems = verify(tmp_path / "codiesp", {"splits": {"dev": load_manifest("codiesp")["splits"]["dev"]}})
    assert len(problems) == 1 and "expected 503 files" in problems[0]
    assert main(["codiesp", "--verify-only", "--dest", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "train: missing" in out and "dev: 503 files" in out
